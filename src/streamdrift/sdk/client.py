"""The capture SDK: inference services publish predictions (and later labels) to streamdrift's Kafka topics.

    with CaptureClient("kafka:9092", "churn-v1", sample_rate=0.2) as client:
        inference_id = client.capture({"age": 41, "plan": "pro"}, {"label": 1, "score": 0.93})
        ...
        client.label(inference_id, 0)

Never blocks and never raises into the inference path. Bounding: JSON mode hands each record straight to
librdkafka's own queue (``queue.buffering.max.messages = queue_size``); when it is full, ``produce`` raises
``BufferError`` and the record is dropped and counted (``queue_full``), so there is no second queue and no
extra copy. Columnar modes pack up to ``columnar_max_rows`` records (or what arrived within ``linger_ms``) into
one message; a small daemon thread flushes the partial batch after ``linger_ms`` and serves delivery callbacks.
``batch_format="columnar"`` writes a JSON columnar batch (``schemas/columnar_batch.schema.json``);
``batch_format="arrow"`` an Apache Arrow IPC batch (:mod:`streamdrift.ingest.arrow`), which the worker reads
without a Python object per value -- a batch whose columns cannot each take one Arrow type (a feature holding
both text and numbers) goes out as a JSON columnar batch instead.

:meth:`CaptureClient.capture_batch` takes many predictions as columns (batch inference): in the columnar
formats they go out as batches without a Python object per value (:mod:`streamdrift.sdk.columns`).

Sampling is deterministic on the inference id (BLAKE2b of the id against ``sample_rate``), so the labels of
sampled-out predictions are dropped the same way by :meth:`CaptureClient.label` (in any process).

Timestamps are epoch milliseconds (``int``) or a ``datetime`` (naive = UTC); default: now. Values are encoded
with orjson (numpy scalars/arrays allowed; NaN/inf become null = missing). Feature values must be scalars.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal

import numpy as np
import orjson
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, Producer
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from streamdrift.errors import ConfigError
from streamdrift.ingest.arrow import encode_arrow_batch
from streamdrift.ingest.records import encode_capture_record, encode_columnar_batch, encode_label_record
from streamdrift.metrics import CaptureMetrics
from streamdrift.sdk.columns import (
    ColumnBatch,
    Values,
    column_batch,
    encode_arrow_columns,
    encode_columnar_columns,
)

__all__ = ["CaptureClient", "keep_sample", "new_inference_ids"]

log = logging.getLogger(__name__)
_HASH_SPACE: Final[int] = 1 << 64
Timestamp = int | datetime | None


def keep_sample(inference_id: str, sample_rate: float) -> bool:
    """Deterministic sampling decision for ``inference_id`` (same answer in every process)."""
    if sample_rate >= 1.0:
        return True
    if sample_rate <= 0.0:
        return False
    digest = hashlib.blake2b(inference_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < sample_rate * _HASH_SPACE


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])  # where the 32 hex digits go


def new_inference_ids(n: int) -> list[str]:
    """``n`` random UUID4 strings (as ``str(uuid.uuid4())``), made in numpy: about 10x faster than a loop."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = digits
    out: list[str] = text.view("S36").ravel().astype("U36").tolist()
    return out


_AUTH_CODES: Final = frozenset({CKafkaError._AUTHENTICATION, CKafkaError.SASL_AUTHENTICATION_FAILED,
                                 CKafkaError._SSL})


def _endpoint(bootstrap: str, kafka_config: Mapping[str, str]) -> str:
    protocol = str(kafka_config.get("security.protocol", "PLAINTEXT")).upper()
    mechanism = kafka_config.get("sasl.mechanism") or kafka_config.get("sasl.mechanisms") or "GSSAPI"
    user = kafka_config.get("sasl.username")
    sasl = f" (SASL mechanism {mechanism}{f', user {user!r}' if user else ''})" if protocol.startswith("SASL") else ""
    return f"listener {protocol}://{bootstrap}{sasl}"


def _epoch_ms(timestamp: Timestamp) -> int:
    if timestamp is None:
        return time.time_ns() // 1_000_000
    if isinstance(timestamp, datetime):
        ts = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
        return round(ts.timestamp() * 1000)
    return int(timestamp)


class _Counters:
    """Thread-safe sent / dropped counts, mirrored to Prometheus when a registry is given."""

    def __init__(self, metrics: CaptureMetrics | None) -> None:
        self._lock = threading.Lock()
        self._metrics = metrics
        self.sent = 0
        self.dropped: dict[str, int] = {}
        self._failing = False

    def add_sent(self, n: int) -> None:
        with self._lock:
            self.sent += n
            recovered, self._failing = self._failing, False
        if self._metrics is not None:
            self._metrics.sent.inc(n)
        if recovered:
            log.warning("streamdrift capture: deliveries succeed again")

    def add_dropped(self, reason: str, n: int, detail: str = "") -> None:
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + n
            first = not self._failing
            self._failing = True
        if self._metrics is not None:
            self._metrics.capture_dropped(reason, n)
        if first:  # log once per state change (ok -> failing), not per record
            log.warning("streamdrift capture: dropping records (%s)%s", reason, f": {detail}" if detail else "")


class CaptureClient:
    """Publishes capture records of one model (see the module docs)."""

    def __init__(
        self,
        bootstrap_servers: str,
        model_id: str,
        *,
        model_version: str | None = None,
        topic: str = "streamdrift.capture",
        labels_topic: str = "streamdrift.labels",
        sample_rate: float = 1.0,
        queue_size: int = 100_000,
        batch_format: Literal["json", "columnar", "arrow"] = "json",
        columnar_max_rows: int = 1000,
        linger_ms: int = 200,
        kafka_config: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        _validate(model_id, sample_rate, queue_size, batch_format, columnar_max_rows, linger_ms)
        self.model_id = model_id
        self.model_version = model_version
        self.topic = topic
        self.labels_topic = labels_topic
        self.sample_rate = sample_rate
        self.batch_format = batch_format
        self.columnar_max_rows = columnar_max_rows
        self.linger_ms = linger_ms
        self._key = model_id.encode()
        self._auth_failed = False
        self._endpoint = _endpoint(bootstrap_servers, kafka_config or {})
        self._counts = _Counters(CaptureMetrics(registry) if registry is not None else None)
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "queue.buffering.max.messages": queue_size,
            "linger.ms": 20 if batch_format == "json" else 5,
            "compression.type": "lz4",
            "client.id": f"streamdrift-capture-{model_id}",
        }
        config.update(kafka_config or {})
        config.setdefault("error_cb", self._on_client_error)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise ConfigError(f"invalid Kafka configuration for the capture client: {exc}") from exc
        self._lock = threading.Lock()
        self._buffer: list[dict[str, object]] = []
        self._buffer_since = 0.0
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if batch_format != "json":
            self._thread = threading.Thread(target=self._linger_loop, name="streamdrift-capture", daemon=True)
            self._thread.start()

    def _on_client_error(self, err: CKafkaError) -> None:
        """librdkafka's client-level errors: a refused login is said once, clearly (listener, mechanism, user;
        librdkafka's reason holds no secret); the records meanwhile fail delivery and are counted as dropped."""
        if err.code() in _AUTH_CODES:
            if not self._auth_failed:
                self._auth_failed = True
                log.error("streamdrift capture: %s failed on %s: %s",
                          "TLS handshake" if err.code() == CKafkaError._SSL else "authentication",
                          self._endpoint, err.str())
        elif err.fatal():
            log.error("streamdrift capture: fatal Kafka client error: %s", err.str())

    @property
    def authentication_failed(self) -> bool:
        """Whether the broker refused this client's credentials (or TLS handshake) since it started."""
        return self._auth_failed

    # ------------------------------------------------------------ counters

    @property
    def sent(self) -> int:
        """Records delivered (acknowledged by Kafka)."""
        return self._counts.sent

    @property
    def dropped(self) -> int:
        """Records dropped for any reason (see :attr:`dropped_by_reason`)."""
        return sum(self._counts.dropped.values())

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        return dict(self._counts.dropped)

    # ------------------------------------------------------------ capture / label

    def capture(
        self,
        features: Mapping[str, object],
        prediction: object,
        inference_id: str | None = None,
        timestamp: Timestamp = None,
        attributions: Mapping[str, float] | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> str | None:
        """Queue one prediction; returns its inference id, or None when sampled out. Never blocks."""
        inference_id = inference_id if inference_id is not None else str(uuid.uuid4())
        if not keep_sample(inference_id, self.sample_rate):
            return None
        if self._closed:
            self._counts.add_dropped("closed", 1)
            return inference_id
        row: dict[str, object] = {"inference_id": inference_id, "timestamp": _epoch_ms(timestamp),
                                  "features": features, "prediction": prediction}
        if attributions is not None:
            row["attributions"] = attributions
        if self.batch_format != "json":
            self._append(row)
        else:
            self._send_record(row, metadata)
        return inference_id

    def capture_batch(
        self,
        features: Mapping[str, Values],
        predictions: Values | None = None,
        *,
        scores: Values | None = None,
        inference_ids: Sequence[str | None] | None = None,
        timestamps: Values | Timestamp = None,
        attributions: Mapping[str, Values] | None = None,
    ) -> list[str | None]:
        """Queue many predictions given as columns (batch inference): one numpy array, list or pyarrow array
        per feature (anything ``numpy.asarray`` takes), ``predictions`` (labels) and / or ``scores``, one value
        each per prediction. ``timestamps``: one per prediction, or one for all (default: now). Returns the inference ids (made when
        not given), None where sampled out. Never blocks and never raises: a batch whose columns differ in length
        is dropped and counted (``encode_error``). With ``batch_format`` "arrow" or "columnar" the columns go out
        as batches of ``columnar_max_rows`` without a Python object per value; "json" sends a record per row."""
        n = _n_rows(features, predictions, scores, inference_ids)
        try:
            return self._capture_batch(n, features, predictions, scores, inference_ids, timestamps, attributions)
        except Exception as exc:  # never into the inference path: dropped and counted
            self._counts.add_dropped("encode_error", n, f"{type(exc).__name__}: {exc}")
            return [None] * n

    def _capture_batch(self, n: int, features: Mapping[str, Values], predictions: Values | None,
                       scores: Values | None, inference_ids: Sequence[str | None] | None,
                       timestamps: Values | Timestamp, attributions: Mapping[str, Values] | None,
                       ) -> list[str | None]:
        ids: list[str | None] = list(inference_ids) if inference_ids is not None else [None] * n
        missing = [at for at, inference_id in enumerate(ids) if inference_id is None]
        for at, made in zip(missing, new_inference_ids(len(missing)), strict=True):  # as capture() does
            ids[at] = made
        out: list[str | None] = [i if keep_sample(str(i), self.sample_rate) else None for i in ids]
        kept = [row for row, inference_id in enumerate(out) if inference_id is not None]
        if self._closed:
            self._counts.add_dropped("closed", len(kept))
            return out
        try:
            batch = column_batch(features, predictions, scores, ids, _epoch_ms_array(timestamps, n), attributions)
        except (ValueError, TypeError, OverflowError) as exc:
            self._counts.add_dropped("encode_error", len(kept), str(exc))
            return out
        rows = np.asarray(kept, dtype=np.intp)
        if self.batch_format == "json":
            for record in (batch if len(kept) == n else batch.take(rows)).rows():
                self._send_record(record)
        else:
            for part in batch.parts(rows, self.columnar_max_rows):  # sampled rows taken once, part by part
                self._send_columns(part)
        return out

    def label(self, inference_id: str, label: object, timestamp: Timestamp = None) -> bool:
        """Queue the ground truth of a prediction; False when its prediction was sampled out (not sent)."""
        if not keep_sample(inference_id, self.sample_rate):
            return False
        if self._closed:
            self._counts.add_dropped("closed", 1)
            return False
        try:
            value = encode_label_record(self.model_id, inference_id, label, _epoch_ms(timestamp))
        except (orjson.JSONEncodeError, TypeError) as exc:
            self._counts.add_dropped("encode_error", 1, str(exc))
            return False
        return self._produce(self.labels_topic, value, 1)

    # ------------------------------------------------------------ producing

    def _produce(self, topic: str, value: bytes, n_records: int) -> bool:
        def on_delivery(err: CKafkaError | None, _msg: object) -> None:
            if err is None:
                self._counts.add_sent(n_records)
            else:
                self._counts.add_dropped("delivery_error", n_records, err.str())

        try:
            self._producer.produce(topic, value, key=self._key, on_delivery=on_delivery)
        except BufferError:
            self._counts.add_dropped("queue_full", n_records)
            return False
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            too_large = isinstance(err, CKafkaError) and err.code() == CKafkaError.MSG_SIZE_TOO_LARGE
            self._counts.add_dropped("too_large" if too_large else "produce_error", n_records, str(exc))
            return False
        finally:
            self._producer.poll(0)  # serve delivery callbacks; never waits
        return True

    def _send_record(self, row: Mapping[str, Any], metadata: Mapping[str, object] | None = None) -> None:
        """One JSON capture record (``row`` shaped as a columnar batch's rows)."""
        try:
            value = encode_capture_record(
                self.model_id, features=row["features"], prediction=row["prediction"],
                inference_id=row["inference_id"], timestamp_ms=row["timestamp"], model_version=self.model_version,
                attributions=row.get("attributions"), metadata=metadata,
            )  # fmt: skip
        except (orjson.JSONEncodeError, TypeError) as exc:
            self._counts.add_dropped("encode_error", 1, str(exc))
            return
        self._produce(self.topic, value, 1)

    def _send_columns(self, batch: ColumnBatch) -> None:
        """One batch message of columns (Arrow, or JSON columnar when a column takes no one Arrow type)."""
        try:
            value = None
            if self.batch_format == "arrow":
                value = encode_arrow_columns(self.model_id, batch, model_version=self.model_version)
            if value is None:
                value = encode_columnar_columns(self.model_id, batch, model_version=self.model_version)
        except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
            self._counts.add_dropped("encode_error", batch.n_rows, str(exc))
            return
        self._produce(self.topic, value, batch.n_rows)

    def _append(self, row: dict[str, object]) -> None:
        with self._lock:
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.append(row)
            full = len(self._buffer) >= self.columnar_max_rows
            rows = self._take_buffer() if full else None
        if rows:
            self._send_rows(rows)

    def _take_buffer(self) -> list[dict[str, object]]:
        rows, self._buffer = self._buffer, []
        return rows

    def _send_rows(self, rows: list[dict[str, object]]) -> None:
        try:
            value = None
            if self.batch_format == "arrow":
                value = encode_arrow_batch(self.model_id, rows, model_version=self.model_version)
            if value is None:
                value = encode_columnar_batch(self.model_id, rows, model_version=self.model_version)
        except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
            self._counts.add_dropped("encode_error", len(rows), str(exc))
            return
        self._produce(self.topic, value, len(rows))

    def _flush_buffer(self, *, only_if_older_than_s: float | None = None) -> None:
        with self._lock:
            stale = only_if_older_than_s is None or time.monotonic() - self._buffer_since >= only_if_older_than_s
            rows = self._take_buffer() if self._buffer and stale else None
        if rows:
            self._send_rows(rows)

    def _linger_loop(self) -> None:
        interval = self.linger_ms / 1000.0
        while not self._stop.wait(interval / 2):
            self._flush_buffer(only_if_older_than_s=interval)
            self._producer.poll(0)

    # ------------------------------------------------------------ lifecycle

    def flush(self, timeout: float = 10.0) -> int:
        """Send what is buffered and wait up to ``timeout`` s for deliveries; returns messages still queued."""
        self._flush_buffer()
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> int:
        """Flush and stop; later captures are dropped (``closed``). Returns messages left undelivered."""
        if self._closed:
            return 0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        left = self.flush(timeout)
        self._closed = True
        if left:
            self._counts.add_dropped("close_timeout", left)
        return left

    def __enter__(self) -> CaptureClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _n_rows(features: Mapping[str, Values], predictions: Values | None, scores: Values | None,
            inference_ids: Sequence[str | None] | None) -> int:
    """The batch's row count, from the first column that has a length (0 when none has)."""
    columns = (inference_ids, predictions, scores, *(features.values() if isinstance(features, Mapping) else ()))
    for values in columns:
        try:
            return len(values)
        except TypeError:  # None, a scalar, a 0-d array: no length
            continue
    return 0


def _epoch_ms_array(timestamps: Values | Timestamp, n: int) -> NDArray[np.int64]:
    """One epoch-ms timestamp per row: from one for all (int, float, datetime, numpy datetime64; None = now) or
    from one per row. Numbers are truncated and datetimes rounded to the millisecond, as :func:`_epoch_ms`."""
    if timestamps is None or isinstance(timestamps, datetime):
        return np.full(n, _epoch_ms(timestamps), dtype=np.int64)
    arr = np.asarray(timestamps)
    if arr.dtype.kind == "M":  # numpy datetimes (naive = UTC), rounded to the millisecond
        ns = arr.astype("datetime64[ns]").astype(np.int64)
        out = (ns + 500_000) // 1_000_000
    elif arr.dtype.kind in "iuf":
        out = arr.astype(np.int64)
    else:
        out = np.array([_epoch_ms(t) for t in arr.ravel().tolist()], dtype=np.int64).reshape(arr.shape)
    return np.full(n, out, dtype=np.int64) if out.ndim == 0 else out.astype(np.int64, copy=False)


def _validate(
    model_id: str, sample_rate: float, queue_size: int, batch_format: str, columnar_max_rows: int, linger_ms: int
) -> None:
    if not isinstance(model_id, str) or not model_id:
        raise ConfigError("model_id must be a non-empty string")
    if not 0.0 <= sample_rate <= 1.0:
        raise ConfigError(f"sample_rate must be within [0, 1], not {sample_rate}")
    if queue_size < 1:
        raise ConfigError(f"queue_size must be >= 1, not {queue_size}")
    if batch_format not in ("json", "columnar", "arrow"):
        raise ConfigError(f"batch_format must be 'json', 'columnar' or 'arrow', not {batch_format!r}")
    if columnar_max_rows < 1:
        raise ConfigError(f"columnar_max_rows must be >= 1, not {columnar_max_rows}")
    if linger_ms < 1:
        raise ConfigError(f"linger_ms must be >= 1, not {linger_ms}")
