"""confluent-kafka errors -> :class:`streamdrift.errors.KafkaError` (code, retriable, fatal kept), retry with backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException

from streamdrift.errors import KafkaError

T = TypeVar("T")
log = logging.getLogger(__name__)


def wrap(exc: KafkaException, action: str) -> KafkaError:
    """Our KafkaError for a confluent-kafka exception, keeping librdkafka's code and flags."""
    err = exc.args[0] if exc.args else None
    if isinstance(err, CKafkaError):
        return KafkaError(
            f"{action} failed: {err.str()}",
            code=err.code(),
            retriable=bool(err.retriable()),
            fatal=bool(err.fatal()),
        )
    return KafkaError(f"{action} failed: {exc}")


def from_error(err: CKafkaError, action: str) -> KafkaError:
    """Our KafkaError for a confluent-kafka error object (as found on messages and futures)."""
    return KafkaError(
        f"{action} failed: {err.str()}", code=err.code(), retriable=bool(err.retriable()), fatal=bool(err.fatal())
    )


def txn_requires_abort(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, CKafkaError) and bool(err.txn_requires_abort())


def call_with_retry(
    fn: Callable[[], T], action: str, *, attempts: int = 8, backoff_s: float = 0.1, max_backoff_s: float = 5.0
) -> T:
    """Call ``fn``; retry retriable Kafka errors with exponential backoff; raise KafkaError otherwise."""
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except KafkaException as exc:
            wrapped = wrap(exc, action)
            if not wrapped.retriable or attempt == attempts:
                raise wrapped from exc
            if attempt == 1:
                log.warning("%s: retriable error, retrying: %s", action, wrapped)
            time.sleep(delay)
            delay = min(delay * 2, max_backoff_s)
    raise KafkaError(f"{action} failed after {attempts} attempts")  # pragma: no cover - loop always returns/raises
