"""The mapping engine: a poll of a source's messages -> :class:`CaptureBatch` es per model, plus dead letters.

Each message is decoded by its source's preset (:mod:`.presets`; paired presets go through a
:class:`~.pairing.PairStore` first), then the mapping's compiled getters read the model id and version, the
feature rows, prediction, score, inference ids and event time, giving streamdrift capture records that are
columnarized and checked exactly as records on the capture topic are (:mod:`streamdrift.ingest.jsonrecords`:
the same limits and dead-letter reasons). A message that does not match its mapping is dead-lettered whole with
reason ``mapping_mismatch`` and the path that failed in the detail (``/inputs/input-0: no 'input-0'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from streamdrift.columns.chunks import CaptureBatch, LabelBatch
from streamdrift.columns.columns import paused_gc
from streamdrift.errors import BadRecordError
from streamdrift.ingest.deadletters import DeadLetter, dead_letter
from streamdrift.ingest.jsonrecords import segments_from_records
from streamdrift.ingest.labels import parse_labels
from streamdrift.ingest.limits import DEFAULT_LIMITS, CaptureLimits, Checks
from streamdrift.ingest.segments import batch_of
from streamdrift.ingest.sources.config import FeaturesFrom, MappingSettings, SourceSettings, ValueFrom
from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.ingest.sources.pointer import MappingMismatch, compile_pointer
from streamdrift.ingest.sources.presets import PRESETS, Half, Preset, RawHeaders, headers_dict

__all__ = ["MappedParser", "Messages"]

Getter = Callable[[Any, bytes | None, dict[str, bytes]], Any]
_SCALE = {"s": 1000.0, "ms": 1.0, "us": 0.001}


@dataclass(frozen=True)
class Messages:
    """A poll's messages of one partition, as parallel sequences (values, keys, headers, Kafka timestamps)."""

    values: Sequence[bytes]
    keys: Sequence[bytes | None]
    headers: Sequence[RawHeaders]
    timestamps_ms: Sequence[int]

    @classmethod
    def of_values(cls, values: Sequence[bytes], timestamps_ms: Sequence[int] | None = None) -> Messages:
        n = len(values)
        return cls(values, [None] * n, [None] * n, list(timestamps_ms) if timestamps_ms is not None else [0] * n)


def _value_getter(spec: ValueFrom, what: str) -> Getter:
    if spec.const is not None:
        const = spec.const
        return lambda doc, key, headers: const
    if spec.key:
        def from_key(doc: Any, key: bytes | None, headers: dict[str, bytes]) -> Any:
            if key is None:
                raise MappingMismatch("key", f"{what}: the message has no key")
            try:
                return key.decode()
            except UnicodeDecodeError:
                raise MappingMismatch("key", f"{what}: the key is not UTF-8") from None
        return from_key
    if spec.header is not None:
        name = spec.header

        def from_header(doc: Any, key: bytes | None, headers: dict[str, bytes]) -> Any:
            raw = headers.get(name)
            if raw is None:
                raise MappingMismatch(f"header {name}", f"{what}: absent")
            try:
                return raw.decode()
            except UnicodeDecodeError:
                raise MappingMismatch(f"header {name}", f"{what}: not UTF-8") from None
        return from_header
    assert spec.field is not None  # the settings allow exactly one
    resolve = compile_pointer(spec.field)
    return lambda doc, key, headers: resolve(doc)


def _text(value: Any, path: str) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise MappingMismatch(path, f"a {type(value).__name__}, not text")


def _flat(value: Any, path: str) -> list[Any]:
    """Per-row values: a list, an OIP tensor's data (``[n]`` or ``[n, 1]``), or one scalar (one row)."""
    if type(value) is dict:
        if "data" not in value:
            raise MappingMismatch(path, "an object, not a value, a list or a tensor")
        value = value["data"]
    if type(value) is list:
        if value and type(value[0]) is list:
            if any(type(v) is not list or len(v) != 1 for v in value):
                raise MappingMismatch(path, "a nested list that is not one value per row")
            return [v[0] for v in value]
        return value
    return [value]


def _tensor_rows(value: Any, width: int, path: str) -> list[list[Any]]:
    """A 2-D tensor's rows (nested lists, or an OIP tensor ``{shape, data}`` with flat or nested data)."""
    shape = None
    if type(value) is dict:
        if "data" not in value:
            raise MappingMismatch(path, "an object without tensor data")
        shape, value = value.get("shape"), value["data"]
    if type(value) is not list:
        raise MappingMismatch(path, f"a {type(value).__name__}, not a tensor")
    if value and type(value[0]) is list:
        rows = value
    elif shape is not None and type(shape) is list and len(shape) == 2 and shape[1] == width:
        if len(value) != width * (shape[0] if type(shape[0]) is int and shape[0] >= 0 else len(value) // width):
            raise MappingMismatch(path, f"{len(value)} values do not fill shape {shape}")
        rows = [value[i : i + width] for i in range(0, len(value), width)]
    else:
        rows = [value]
    if any(type(r) is not list or len(r) != width for r in rows):
        bad = next(r for r in rows if type(r) is not list or len(r) != width)
        n = len(bad) if type(bad) is list else 1
        raise MappingMismatch(path, f"a row of {n} values for {width} feature names")
    return rows


def _features_getter(spec: FeaturesFrom) -> Callable[[Any], list[dict[str, Any]]]:
    if spec.object is not None:
        path = spec.object
        resolve = compile_pointer(path)

        def from_object(doc: Any) -> list[dict[str, Any]]:
            value = resolve(doc)
            if type(value) is dict:
                return [value]
            if type(value) is list and value and all(type(v) is dict for v in value):
                return value
            raise MappingMismatch(path, f"a {type(value).__name__}, not an object (or a list of objects)")
        return from_object
    if spec.tensor is not None:
        names = list(spec.names or [])
        tpath = spec.tensor
        tresolve = compile_pointer(tpath)
        width = len(names)

        def from_tensor(doc: Any) -> list[dict[str, Any]]:
            return list(map(dict, map(zip, repeat(names), _tensor_rows(tresolve(doc), width, tpath))))
        return from_tensor
    fields = [(name, path, compile_pointer(path)) for name, path in spec.named_fields().items()]
    names = [name for name, _, _ in fields]

    def from_fields(doc: Any) -> list[dict[str, Any]]:
        values = [resolve(doc) for _, _, resolve in fields]
        if not any(type(v) is list or type(v) is dict for v in values):
            return [dict(zip(names, values, strict=True))]
        columns = [_flat(v, path) for v, (_, path, _) in zip(values, fields, strict=True)]
        n = len(columns[0])
        for column, (_, path, _) in zip(columns, fields, strict=True):
            if len(column) != n:
                raise MappingMismatch(path, f"{len(column)} values where {fields[0][1]} has {n}")
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    return from_fields


class MappedParser:
    """A source's preset and mapping, compiled once; :meth:`parse` reads a poll of its messages."""

    def __init__(self, source: SourceSettings, *, limits: CaptureLimits = DEFAULT_LIMITS,
                 max_bytes: int = 1 << 20) -> None:
        self.source = source
        self.preset: Preset = PRESETS[source.preset]
        self.limits = limits
        self.max_bytes = max_bytes
        self._capture = _Compiled(source.mapping)
        self._labels = None if source.labels_mapping is None else _Compiled(source.labels_mapping)

    def new_pairs(self) -> PairStore | None:
        """A fresh pair store when the preset pairs requests and responses, else None."""
        if not self.preset.paired:
            return None
        return PairStore(round(self.source.pairing.ttl_seconds * 1000), self.source.pairing.max_pending)

    def parse(self, messages: Messages, pairs: PairStore | None = None,
              now_ms: int | None = None) -> tuple[list[CaptureBatch], list[DeadLetter]]:
        """Batches per (model, version) in first-seen order and the dead letters (sorted by index). A paired
        preset needs ``pairs`` (its halves wait there across polls); its rows carry the index of the message that
        completed the pair."""
        checks = Checks.of(self.limits, now_ms)
        dead: list[DeadLetter] = []
        groups: dict[tuple[str, str | None], tuple[list[dict[str, Any]], list[int]]] = {}
        with paused_gc():
            for index, doc, key, headers, stamp in self._documents(messages, pairs, dead):
                try:
                    records = self._capture.records(doc, key, headers, stamp)
                except BadRecordError as exc:
                    dead.append(dead_letter(index, exc))
                    continue
                first = records[0]
                group = groups.get((first["model_id"], first["model_version"]))
                if group is None:
                    group = groups[(first["model_id"], first["model_version"])] = ([], [])
                group[0].extend(records)
                group[1].extend(repeat(index, len(records)))
            if pairs is not None:
                pairs.expire()
            batches = [b for (model, version), (records, sources) in groups.items()
                       for b in self._batches(model, version, records, sources, dead, checks)]
        dead = list({d.index: d for d in sorted(dead, key=lambda d: d.index)}.values())
        return batches, dead

    def _batches(self, model: str, version: str | None, records: list[dict[str, Any]], sources: list[int],
                 dead: list[DeadLetter], checks: Checks) -> list[CaptureBatch]:
        """Columns of one model's records; a message with a bad row is dead-lettered whole (no row of it counts)."""
        found: list[DeadLetter] = []
        segments = segments_from_records(records, sources, None, found, checks)
        if found:
            dead.extend(found)
            bad = {d.index for d in found}
            kept = [(r, s) for r, s in zip(records, sources, strict=True) if s not in bad]
            if not kept:
                return []
            segments = segments_from_records([r for r, _ in kept], [s for _, s in kept], None, [], checks)
        return [batch_of(model, version, [seg]) for seg in segments if seg.rows.n_rows]

    def _documents(self, messages: Messages, pairs: PairStore | None, dead: list[DeadLetter],
                   ) -> list[tuple[int, Any, bytes | None, dict[str, bytes], int]]:
        """(index, document, key, headers, Kafka timestamp) of every message (or completed pair)."""
        decode = self.preset.decode
        out: list[tuple[int, Any, bytes | None, dict[str, bytes], int]] = []
        for index, value in enumerate(messages.values):
            headers = headers_dict(messages.headers[index])
            try:
                doc = decode(value, headers, self.max_bytes)
            except BadRecordError as exc:
                dead.append(dead_letter(index, exc))
                continue
            stamp = int(messages.timestamps_ms[index])
            key = messages.keys[index]
            if isinstance(doc, Half):
                if pairs is None:
                    raise ValueError("a paired preset needs a PairStore")
                paired = pairs.offer(doc, headers, stamp, key)
                if paired is None:
                    continue
                out.append((index, paired.doc, paired.key, paired.headers, paired.timestamp_ms))
            else:
                out.append((index, doc, key, headers, stamp))
        return out

    def parse_labels(self, messages: Messages, now_ms: int | None = None) -> tuple[LabelBatch, list[DeadLetter]]:
        """Label messages through ``labels_mapping`` (the preset's decoding, no pairing): label records checked
        as on the labels topic (:func:`streamdrift.ingest.labels.parse_labels`)."""
        if self._labels is None:
            raise ValueError(f"source {self.source.name} has no labels_mapping")
        dead: list[DeadLetter] = []
        encoded: list[bytes] = []
        origin: list[int] = []
        for index, value in enumerate(messages.values):
            headers = headers_dict(messages.headers[index])
            try:
                doc = self.preset.decode(value, headers, self.max_bytes)
                if isinstance(doc, Half):
                    doc = doc.part
                encoded.append(orjson.dumps(self._labels.label_record(doc, messages.keys[index], headers,
                                                                      int(messages.timestamps_ms[index]))))
                origin.append(index)
            except BadRecordError as exc:
                dead.append(dead_letter(index, exc))
        batch, bad = parse_labels(encoded, max_bytes=max(self.max_bytes, 1 << 16), native=False,
                                  limits=self.limits, now_ms=now_ms)
        batch = LabelBatch(batch.model_ids, batch.inference_ids, batch.timestamps_ms, batch.labels,
                           np.array([origin[i] for i in batch.source_index], dtype=np.int64))
        dead.extend(DeadLetter(origin[d.index], d.reason, d.detail) for d in bad)
        dead.sort(key=lambda d: d.index)
        return batch, dead


class _Compiled:
    """One mapping's getters."""

    def __init__(self, m: MappingSettings) -> None:
        self.model_id = _value_getter(m.model_id, "model_id")
        self.model_id_path = _path(m.model_id)
        self.model_version = None if m.model_version is None else _value_getter(m.model_version, "model_version")
        self.features = None if m.features is None else _features_getter(m.features)
        self.prediction = None if m.prediction is None else (m.prediction, compile_pointer(m.prediction))
        self.score = None if m.score is None else (m.score, compile_pointer(m.score))
        self.label = None if m.label is None else (m.label, compile_pointer(m.label))
        self.inference_id = None if m.inference_id is None else _value_getter(m.inference_id, "inference_id")
        self.id_path = None if m.inference_id is None else _path(m.inference_id)
        t = m.event_time
        self.time = None if t.field is None else (t.field, compile_pointer(t.field), t.unit or "ms")

    def model(self, doc: Any, key: bytes | None, headers: dict[str, bytes]) -> tuple[str, str | None]:
        model_id = _text(self.model_id(doc, key, headers), self.model_id_path)
        if not model_id:
            raise MappingMismatch(self.model_id_path, "an empty model id")
        version = None
        if self.model_version is not None:
            version = _text(self.model_version(doc, key, headers), "model_version")
        return model_id, version

    def timestamp(self, doc: Any, fallback: int) -> object:
        if self.time is None:
            return fallback
        path, resolve, unit = self.time
        value = resolve(doc)
        if unit == "iso":
            if type(value) is not str:
                raise MappingMismatch(path, f"a {type(value).__name__}, not ISO-8601 text")
            return value
        if type(value) is not int and type(value) is not float:
            raise MappingMismatch(path, f"a {type(value).__name__}, not epoch {unit}")
        return int(value * _SCALE[unit]) if unit != "ms" else value

    def records(self, doc: Any, key: bytes | None, headers: dict[str, bytes], stamp: int) -> list[dict[str, Any]]:
        """The capture records of one document (one per feature row)."""
        model_id, version = self.model(doc, key, headers)
        assert self.features is not None  # capture mappings have features (settings check)
        rows = self.features(doc)
        n = len(rows)
        if n == 0:
            raise MappingMismatch("features", "no rows")
        labels = self._per_row(self.prediction, doc, n)
        scores = self._per_row(self.score, doc, n)
        ids = self._ids(doc, key, headers, n)
        ts = self.timestamp(doc, stamp)
        out = []
        for i, row in enumerate(rows):
            record: dict[str, Any] = {"model_id": model_id, "model_version": version, "timestamp": ts,
                                      "features": row, "inference_id": ids[i]}
            if labels is not None or scores is not None:
                record["prediction"] = {"label": None if labels is None else labels[i],
                                        "score": None if scores is None else scores[i]}
            out.append(record)
        return out

    def label_record(self, doc: Any, key: bytes | None, headers: dict[str, bytes], stamp: int) -> dict[str, Any]:
        model_id, _ = self.model(doc, key, headers)
        assert self.label is not None and self.inference_id is not None  # labels mappings have both (settings)
        labels = self._per_row(self.label, doc, 1)
        assert labels is not None
        return {"model_id": model_id, "inference_id": self._ids(doc, key, headers, 1)[0], "label": labels[0],
                "timestamp": self.timestamp(doc, stamp)}

    def _per_row(self, getter: tuple[str, Callable[[Any], Any]] | None, doc: Any, n: int) -> list[Any] | None:
        if getter is None:
            return None
        path, resolve = getter
        values = _flat(resolve(doc), path)
        if len(values) != n:
            raise MappingMismatch(path, f"{len(values)} values for {n} feature rows")
        return values

    def _ids(self, doc: Any, key: bytes | None, headers: dict[str, bytes], n: int) -> list[str | None]:
        if self.inference_id is None:
            return [None] * n
        value = self.inference_id(doc, key, headers)
        path = self.id_path or "inference_id"
        if type(value) is list:
            if len(value) != n:
                raise MappingMismatch(path, f"{len(value)} ids for {n} feature rows")
            return [_text(v, path) for v in value]
        ident = _text(value, path)
        return [ident] if n == 1 else [f"{ident}:{i}" for i in range(n)]


def _path(spec: ValueFrom) -> str:
    if spec.field is not None:
        return spec.field
    if spec.header is not None:
        return f"header {spec.header}"
    return "key" if spec.key else "const"
