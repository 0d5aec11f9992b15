"""The data plane's transactional producer: one Kafka transaction at a time, begun lazily by the first send."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from streamdrift.errors import KafkaError
from streamdrift.worker.kafka_errors import txn_requires_abort, wrap

log = logging.getLogger(__name__)
_COMMIT_ATTEMPTS = 4  # a retriable failure of a transactional call is retried 3 times before the abort


class Transaction:
    """Sends go into the open transaction (begun by the first one); :meth:`commit` commits it with the
    consumer offsets, :meth:`abort` drops it. Messages the broker refused are in :attr:`refused` (topic, error
    code, size) until the next :meth:`abort`: the caller makes the replay avoid them, rather than looping."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """``config``: the transactional producer's librdkafka configuration."""
        self.open = False
        self.refused: list[tuple[str, int, int]] = []
        self.producer = Producer({**config, "on_delivery": self.delivered, "delivery.report.only.error": True})

    def delivered(self, err: CKafkaError | None, msg: Message) -> None:
        """The producer's delivery report (configured to report errors only)."""
        if err is not None:
            self.refused.append((msg.topic() or "", err.code(), len(msg.value() or b"")))

    def begin(self) -> None:
        if not self.open:
            self.producer.begin_transaction()
            self.open = True

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None,
             partition: int | None = None) -> None:
        self.begin()
        kwargs: dict[str, object] = {"key": key, "value": value}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self.producer.produce(topic, **kwargs)  # type: ignore[arg-type]
                return
            except BufferError:
                self.producer.poll(0.05)  # queue full: let deliveries drain
            except KafkaException as exc:
                raise wrap(exc, f"produce to {topic}") from exc

    def commit(self, offsets: list[TopicPartition], group_metadata: object) -> KafkaError | None:
        """Commit with ``offsets``; None when committed, else the abortable error (or a retriable one that kept
        coming) after which the caller aborts and replays. Fatal and other errors raise."""
        for call in (lambda: self.producer.send_offsets_to_transaction(offsets, group_metadata, 30),
                     lambda: self.producer.commit_transaction(60)):
            failed = self._retrying(call)
            if failed is not None:
                return failed
        self.open = False
        return None

    @staticmethod
    def _retrying(call: Callable[[], object]) -> KafkaError | None:
        """librdkafka's rule for the transactional calls: a retriable error means the same call again (the commit
        may be under way at the coordinator: an abort now is refused with INVALID_TXN_STATE, which is fatal), an
        abortable one means abort; anything else is fatal."""
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                call()
                return None
            except KafkaException as exc:
                wrapped = wrap(exc, "commit transaction")
                if wrapped.fatal or not (txn_requires_abort(exc) or wrapped.retriable):
                    raise wrapped from exc
                if txn_requires_abort(exc) or attempt == _COMMIT_ATTEMPTS:
                    log.warning("transaction failed, aborting and replaying from the last commit: %s", wrapped)
                    return wrapped
                log.warning("transaction commit: retriable error, trying again (%d/%d): %s", attempt,
                            _COMMIT_ATTEMPTS - 1, wrapped)
        return None  # pragma: no cover - the loop returns

    def abort(self) -> None:
        try:
            self.producer.abort_transaction(30)
        except KafkaException as exc:
            raise wrap(exc, "abort transaction") from exc
        finally:
            self.open = False
            self.refused = []

    def too_large(self, topic: str) -> int | None:
        """The smallest message to ``topic`` the broker refused as too large in this transaction, if any."""
        sizes = [size for t, code, size in self.refused if t == topic and code == CKafkaError.MSG_SIZE_TOO_LARGE]
        return min(sizes) if sizes else None
