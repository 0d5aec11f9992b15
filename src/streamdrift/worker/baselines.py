"""Every model's current baseline, followed live from the compacted ``baselines`` topic.

A daemon thread with its own confluent-kafka consumer (no consumer group: it assigns every partition from
the beginning) keeps ``model id -> baseline JSON bytes``; a tombstone (empty value) removes the model's
baseline. Every control-plane instance sees every baseline, whatever partitions of ``partials`` it owns.
(faust's GlobalTable with the baselines topic as its changelog never finished recovery in faust-streaming
0.15.3 on our broker, so the control plane does not use it.)
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from streamdrift.settings import Settings

log = logging.getLogger(__name__)


class BaselineWatcher:
    def __init__(self, settings: Settings, n_partitions: int) -> None:
        self._topic = settings.topics.baselines
        self._lock = threading.Lock()
        self._blobs: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            settings.client_config(
                {
                    "group.id": f"{settings.group_id}-baselines-unused",  # required; offsets never committed
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.message.max.bytes": 8 << 20,
                }
            )
        )
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in range(n_partitions)])
        self._thread = threading.Thread(target=self._run, name="baselines", daemon=True)
        self._n_partitions = n_partitions
        self._caught_up = threading.Event()
        self._ends: dict[int, int] | None = None  # log end offsets at start: caught up once read to there
        self.updated_at = 0.0

    def wait_caught_up(self, timeout: float) -> bool:
        """Block until every baseline published before the start has been read (False on timeout)."""
        return self._caught_up.wait(timeout)

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set():
            return
        try:
            if self._ends is None:
                self._ends = {p: self._consumer.get_watermark_offsets(TopicPartition(self._topic, p), timeout=10)[1]
                              for p in range(self._n_partitions)}
            positions = self._consumer.position([TopicPartition(self._topic, p) for p in self._ends])
        except KafkaException as exc:
            log.warning("cannot tell whether the baselines are read: %s", exc)
            return
        if all(self._ends[tp.partition] <= max(tp.offset, 0) for tp in positions):
            self._caught_up.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def get(self, model_id: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(model_id)

    def models(self) -> list[str]:
        with self._lock:
            return sorted(self._blobs)

    def _run(self) -> None:
        try:
            self._check_caught_up()  # an empty topic: at once
            while not self._stop.is_set():
                try:
                    # short polls while reading to the known ends: a control plane waits for that before it starts
                    catching_up = self._ends is not None and not self._caught_up.is_set()
                    messages = self._consumer.consume(100, 0.05 if catching_up else 0.5)
                except KafkaException as exc:
                    log.warning("reading baselines failed, retrying: %s", exc)
                    time.sleep(1.0)
                    continue
                self._apply(messages)
                self._check_caught_up()
        finally:
            self._consumer.close()

    def _apply(self, messages: list[Message]) -> None:
        for msg in messages:
            key = msg.key()
            if msg.error() is not None or not isinstance(key, bytes):
                continue
            model_id = key.decode("utf-8", "replace")
            value = msg.value()
            with self._lock:
                if value:
                    self._blobs[model_id] = value
                else:
                    self._blobs.pop(model_id, None)
            self.updated_at = time.time()
            log.info("baseline of model %s %s", model_id, "updated" if value else "removed")


def publish_baseline(settings: Settings, blob: bytes, timeout: float = 30.0) -> tuple[str, str]:
    """Validate ``blob`` as a baseline and produce it (idempotent producer, waits for the ack)."""
    from confluent_kafka import KafkaException, Producer

    from streamdrift.baseline.baseline import Baseline
    from streamdrift.errors import KafkaError
    from streamdrift.worker.access import connect
    from streamdrift.worker.kafka_errors import from_error, wrap

    baseline = Baseline.from_json(blob)
    connect(settings)  # a refused password is an error naming listener and mechanism, not an unacknowledged send
    producer = Producer(settings.client_config({"enable.idempotence": True, "message.max.bytes": 8 << 20}))
    errors: list[KafkaError] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            errors.append(from_error(err, "publish baseline"))  # type: ignore[arg-type]

    try:
        producer.produce(settings.topics.baselines, key=baseline.model_id.encode(), value=blob, on_delivery=delivered)
        remaining = producer.flush(timeout)
    except KafkaException as exc:
        raise wrap(exc, "publish baseline") from exc
    if errors:
        raise errors[0]
    if remaining:
        raise KafkaError(f"baseline not acknowledged within {timeout:.0f}s")
    return baseline.model_id, baseline.baseline_id
