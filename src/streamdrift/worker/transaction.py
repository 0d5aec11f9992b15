"""The data plane's transactional producer: one Kafka transaction at a time, begun lazily by the first send."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from streamdrift.errors import KafkaError
from streamdrift.worker.kafka_errors import txn_requires_abort, wrap

log = logging.getLogger(__name__)
T = TypeVar("T")
_COMMIT_ATTEMPTS = 4  # a retriable failure of a transactional call is retried 3 times before the abort
_SEND_OFFSETS_LIMIT_S = 45.0  # its own timeout is 30 s (see bounded)
_DELIVER_SLICE_S = 0.1  # commit: how often a delivery still outstanding is checked for a refused one


def bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """``call()`` in a helper thread, given up after ``seconds``: librdkafka's ``send_offsets_to_transaction`` can
    block far past its own timeout when the group coordinator died (confluentinc/librdkafka#5456: the coordinator
    request's timeout is never checked; #5511: a decommissioned coordinator stays cached; seen in the cluster drill
    as a data plane stuck for minutes after a kill -9). Then a fatal KafkaError: the clients are rebuilt, and the
    new producer with the same ``transactional.id`` fences the stuck one (left to its thread)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="streamdrift-txn-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise KafkaError(f"{what} did not return within {seconds:g} s (a librdkafka hang after a coordinator "
                         "failure): rebuilding the clients", fatal=True)
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


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
        refused = self._deliver(60.0)
        if refused is not None:
            return refused
        send_offsets = lambda: self.producer.send_offsets_to_transaction(offsets, group_metadata, 30)  # noqa: E731
        for call in (lambda: bounded(send_offsets, _SEND_OFFSETS_LIMIT_S, "send_offsets_to_transaction"),
                     lambda: self.producer.commit_transaction(60)):
            failed = self._retrying(call)
            if failed is not None:
                return failed
        self.open = False
        return None

    def _deliver(self, timeout: float) -> KafkaError | None:
        """Deliver what is queued, serving the delivery reports; the first message the broker refused stops it.

        A refused message leaves the transaction to abort, and the idempotent producer holds the partition's later
        messages back (out of sequence) until ``message.timeout.ms``: ``commit_transaction`` would wait that long
        (10 s and more) only to fail as it must. Then an error at once, and :meth:`abort` purges them."""
        deadline = time.monotonic() + timeout
        while not self.refused and self.producer.flush(_DELIVER_SLICE_S) > 0 and time.monotonic() < deadline:
            pass
        if not self.refused:
            return None  # all delivered (or the timeout: commit_transaction reports that)
        topic, code, size = self.refused[0]
        return KafkaError(f"commit transaction failed: the broker refused a {size}-byte message to {topic}: "
                          f"{CKafkaError(code).str()}", code=code)

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
        if self.refused:  # the messages held back behind the refused one would wait for message.timeout.ms
            self.producer.purge(in_queue=True, in_flight=True, blocking=False)
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
