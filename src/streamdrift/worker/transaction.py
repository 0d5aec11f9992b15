"""The data plane's transactional producer: one Kafka transaction at a time, begun lazily by the first send."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from streamdrift.errors import KafkaError
from streamdrift.worker.kafka_errors import txn_requires_abort, wrap

log = logging.getLogger(__name__)


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
        """Commit with ``offsets``; None when committed, else the (retriable or abortable) error after which the
        caller aborts and replays. Fatal and other errors raise."""
        try:
            self.producer.send_offsets_to_transaction(offsets, group_metadata, 30)
            self.producer.commit_transaction(60)
        except KafkaException as exc:
            wrapped = wrap(exc, "commit transaction")
            if wrapped.fatal or not (txn_requires_abort(exc) or wrapped.retriable):
                raise wrapped from exc
            log.warning("transaction failed, aborting and replaying from the last commit: %s", wrapped)
            return wrapped
        self.open = False
        return None

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
