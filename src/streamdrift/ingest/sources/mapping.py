"""A mapping compiled into getters (:class:`CompiledMapping`): document (+ key, headers, Kafka timestamp) ->
the :class:`~streamdrift.ingest.sources.blocks.Block` of rows it gives, or a label record. A miss raises
:class:`~streamdrift.ingest.sources.pointer.MappingMismatch` naming the path."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.ingest.sources.blocks import Block, numeric_matrix
from streamdrift.ingest.sources.config import FeaturesFrom, MappingSettings, ValueFrom
from streamdrift.ingest.sources.pointer import MappingMismatch, compile_pointer

__all__ = ["CompiledMapping", "flat_values"]

Getter = Callable[[Any, bytes | None, dict[str, bytes]], Any]
Features = tuple[tuple[str, ...] | None, NDArray[np.float64] | None, list[dict[str, Any]] | None]
_SCALE = {"s": 1000.0, "ms": 1.0, "us": 0.001}


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


def _path(spec: ValueFrom) -> str:
    if spec.field is not None:
        return spec.field
    if spec.header is not None:
        return f"header {spec.header}"
    return "key" if spec.key else "const"


def _text(value: Any, path: str) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise MappingMismatch(path, f"a {type(value).__name__}, not text")


def flat_values(value: Any, path: str) -> list[Any]:
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


def _tensor_data(value: Any, width: int, path: str) -> tuple[list[Any], Any]:
    """(data, shape) of a tensor: an OIP tensor ``{shape, data}`` or bare (nested) lists."""
    shape = None
    if type(value) is dict:
        if "data" not in value:
            raise MappingMismatch(path, "an object without tensor data")
        shape, value = value.get("shape"), value["data"]
    if type(value) is not list:
        raise MappingMismatch(path, f"a {type(value).__name__}, not a tensor")
    if shape is not None and value and type(value[0]) is not list:
        if type(shape) is not list or len(shape) not in (1, 2) or shape[-1] != width:
            raise MappingMismatch(path, f"shape {shape!r} does not end in the {width} feature names")
        if len(shape) == 2 and type(shape[0]) is int and shape[0] >= 0 and len(value) != shape[0] * width:
            raise MappingMismatch(path, f"{len(value)} values do not fill shape {shape}")
    return value, shape


def _tensor_rows(value: list[Any], width: int, path: str) -> list[list[Any]]:
    """A tensor's rows (nested lists, or flat row-major data of ``width`` columns)."""
    if value and type(value[0]) is list:
        rows = value
    elif len(value) % width == 0 and value:
        rows = [value[i : i + width] for i in range(0, len(value), width)]
    else:
        rows = [value]
    for r in rows:
        if type(r) is not list or len(r) != width:
            raise MappingMismatch(path, f"a row of {len(r) if type(r) is list else 1} values for {width} "
                                  "feature names")
    return rows


def _features_getter(spec: FeaturesFrom) -> Callable[[Any], Features]:
    if spec.object is not None:
        path = spec.object
        resolve = compile_pointer(path)

        def from_object(doc: Any) -> Features:
            value = resolve(doc)
            if type(value) is dict:
                return None, None, [value]
            if type(value) is list and value and all(type(v) is dict for v in value):
                return None, None, value
            raise MappingMismatch(path, f"a {type(value).__name__}, not an object (or a list of objects)")
        return from_object
    if spec.tensor is not None:
        names = tuple(spec.names or ())
        tpath = spec.tensor
        tresolve = compile_pointer(tpath)
        width = len(names)

        def from_tensor(doc: Any) -> Features:
            data, _ = _tensor_data(tresolve(doc), width, tpath)
            matrix = numeric_matrix(data, width)
            if matrix is not None:
                return names, matrix, None
            return None, None, list(map(dict, map(zip, repeat(names), _tensor_rows(data, width, tpath))))
        return from_tensor
    fields = [(name, path, compile_pointer(path)) for name, path in spec.named_fields().items()]
    field_names = tuple(name for name, _, _ in fields)

    def from_fields(doc: Any) -> Features:
        values = [resolve(doc) for _, _, resolve in fields]
        if not any(type(v) is list or type(v) is dict for v in values):
            matrix = numeric_matrix(values, len(values))
            if matrix is not None:
                return field_names, matrix, None
            return None, None, [dict(zip(field_names, values, strict=True))]
        columns = [flat_values(v, path) for v, (_, path, _) in zip(values, fields, strict=True)]
        n = len(columns[0])
        for col, (_, path, _) in zip(columns, fields, strict=True):
            if len(col) != n:
                raise MappingMismatch(path, f"{len(col)} values where {fields[0][1]} has {n}")
        block = numeric_matrix(columns, n) if n else None  # (features x rows)
        if block is not None:
            return field_names, np.ascontiguousarray(block.T), None
        return None, None, [dict(zip(field_names, row, strict=True)) for row in zip(*columns, strict=True)]
    return from_fields


class CompiledMapping:
    """One mapping's getters."""

    def __init__(self, m: MappingSettings) -> None:
        self.model_id = _value_getter(m.model_id, "model_id")
        self.model_id_path = _path(m.model_id)
        self.model_version = None if m.model_version is None else _value_getter(m.model_version, "model_version")
        self.features = None if m.features is None else _features_getter(m.features)
        self.feature_spec = m.features  # the poll-level path (pollpath.py) reads tensors and fields itself
        self.tensor_resolver = None if m.features is None or m.features.tensor is None else compile_pointer(
            m.features.tensor)
        self.field_resolvers = [] if m.features is None or m.features.fields is None else [
            (name, path, compile_pointer(path)) for name, path in m.features.named_fields().items()]
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

    def block(self, doc: Any, key: bytes | None, headers: dict[str, bytes], stamp: int, max_rows: int) -> Block:
        """The rows of one document."""
        model_id, version = self.model(doc, key, headers)
        assert self.features is not None  # capture mappings have features (settings check)
        names, matrix, rows = self.features(doc)
        n = len(rows) if rows is not None else 0 if matrix is None else int(matrix.shape[0])
        if n == 0:
            raise MappingMismatch("features", "no rows")
        if n > max_rows:
            raise MappingMismatch("features", f"{n} rows > max {max_rows} a message")
        return Block(model_id, version, n, self.timestamp(doc, stamp), self.ids(doc, key, headers, n), names,
                     matrix, rows, self._per_row(self.prediction, doc, n), self._per_row(self.score, doc, n))

    def label_record(self, doc: Any, key: bytes | None, headers: dict[str, bytes], stamp: int) -> dict[str, Any]:
        model_id, _ = self.model(doc, key, headers)
        assert self.label is not None and self.inference_id is not None  # labels mappings have both (settings)
        labels = self._per_row(self.label, doc, 1)
        assert labels is not None
        return {"model_id": model_id, "inference_id": self.ids(doc, key, headers, 1)[0], "label": labels[0],
                "timestamp": self.timestamp(doc, stamp)}

    def _per_row(self, getter: tuple[str, Callable[[Any], Any]] | None, doc: Any, n: int) -> list[Any] | None:
        if getter is None:
            return None
        path, resolve = getter
        values = flat_values(resolve(doc), path)
        if len(values) != n:
            raise MappingMismatch(path, f"{len(values)} values for {n} feature rows")
        return values

    def ids(self, doc: Any, key: bytes | None, headers: dict[str, bytes], n: int) -> list[str | None]:
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
