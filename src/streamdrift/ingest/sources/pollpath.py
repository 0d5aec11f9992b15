"""The poll-level fast path of the mapping engine: every document of a poll read column-wise at once, when its
features are a tensor (or named fields) of plain numbers in flat row-major data.

Each pointer is followed for the whole poll in C (``map(itemgetter(token), level)`` step by step, after checking
that the level holds only objects, or only arrays for an index), the feature values of the poll are converted
to one float64 matrix in one pass, and each model's rows become one segment
(:func:`~streamdrift.ingest.sources.blocks.segment_of`). It gives exactly the rows the per-document path gives
(hypothesis test in tests/unit/ingest/sources/test_pollpath.py); anything it does not take (nested data,
objects, text ids that are numbers, a miss, a bad value) returns None, and the per-document path reads the poll
and names the dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import object_array
from streamdrift.errors import BadRecordError
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.sources.blocks import PerRow, segment_of
from streamdrift.ingest.sources.config import MappingSettings, ValueFrom
from streamdrift.ingest.sources.pointer import pointer_tokens
from streamdrift.ingest.values import plain_numbers

__all__ = ["Docs", "Extracted", "PollMapping"]

_LISTS = frozenset({list})
_DICTS = frozenset({dict})
_STRS = frozenset({str})
_NUMBER_TYPES = frozenset({int, float})
_SCALE = {"s": 1000.0, "us": 0.001}


@dataclass
class Docs:
    """A poll's documents (or completed pairs) and where each came from, as parallel lists."""

    indices: list[int]
    docs: list[Any]
    keys: list[bytes | None]
    headers: list[dict[str, bytes]]
    stamps: list[int]


@dataclass
class Extracted:
    """A poll's values read column-wise: per document the model id, version, inference id (None when the
    mapping has none) and event time (the Kafka timestamp without an ``event_time`` field), its feature rows in
    ``matrix`` (``counts[i]`` rows of document i), per row the prediction and score (None without them; a float64
    array when the native reader found only numbers)."""

    models: list[Any] | None
    versions: list[Any] | None
    matrix: NDArray[np.float64]
    counts: list[int]
    labels: PerRow | None
    scores: PerRow | None
    ids: list[Any] | None
    times: list[Any] | None
    indices: list[int]


class _Column:
    """One pointer, followed for every document of a poll at once; None when a step does not apply to all."""

    def __init__(self, pointer: str) -> None:
        tokens = pointer_tokens(pointer)
        self.steps = [(t, int(t) if t.isdigit() else None) for t in tokens]
        self.prefix = tuple(tokens)

    def __call__(self, docs: list[Any], cache: dict[tuple[str, ...], list[Any] | None] | None = None,
                 ) -> list[Any] | None:
        """The value of every document; ``cache`` (one per poll) shares the levels of common prefixes (the
        fields ``/inputs/x0`` .. ``/inputs/x22`` follow ``/inputs`` once)."""
        level = docs
        start = 0
        if cache is not None:
            for depth in range(len(self.steps) - 1, 0, -1):
                hit = cache.get(self.prefix[:depth], docs)
                if hit is None:
                    return None
                if hit is not docs:
                    level, start = hit, depth
                    break
        for depth, (key, index) in enumerate(self.steps[start:], start=start + 1):
            types = set(map(type, level))
            getter: itemgetter[Any]
            if types == _DICTS:
                getter = itemgetter(key)
            elif types == _LISTS and index is not None:
                getter = itemgetter(index)
            else:
                return None
            try:
                level = list(map(getter, level))
            except (KeyError, IndexError):
                if cache is not None:
                    cache[self.prefix[:depth]] = None
                return None
            if cache is not None and depth < len(self.steps):
                cache[self.prefix[:depth]] = level
        return level


def _texts(values: list[Any] | None) -> list[str] | None:
    return values if values is not None and set(map(type, values)) == _STRS else None


class PollMapping:
    """A mapping's getters for whole polls (see the module docs)."""

    def __init__(self, m: MappingSettings) -> None:
        f = m.features
        self.tensor = None if f is None or f.tensor is None else _Column(f.tensor)
        self.names = tuple(f.names or ()) if f is not None and f.tensor is not None else tuple(
            f.named_fields()) if f is not None and f.fields is not None else ()
        self.fields = [] if f is None or f.fields is None else [_Column(p) for p in f.named_fields().values()]
        self.model_id = m.model_id
        self.model_version = m.model_version
        self.inference_id = m.inference_id
        self.prediction = None if m.prediction is None else _Column(m.prediction)
        self.score = None if m.score is None else _Column(m.score)
        self.time = None if m.event_time.field is None else (_Column(m.event_time.field), m.event_time.unit or "ms")
        self._columns = {p: _Column(p) for p in (v.field for v in (m.model_id, m.model_version, m.inference_id)
                                                  if v is not None) if p is not None}
        self.usable = bool(self.names) and (self.tensor is not None or bool(self.fields))

    def _values(self, spec: ValueFrom, d: Docs) -> list[Any] | None:
        n = len(d.docs)
        if spec.const is not None:
            return [spec.const] * n
        if spec.key:
            try:
                return list(map(bytes.decode, d.keys))  # type: ignore[arg-type]  # a None key raises TypeError
            except (TypeError, UnicodeDecodeError):
                return None
        if spec.header is not None:
            try:
                return list(map(bytes.decode, map(dict.get, d.headers, repeat(spec.header))))  # type: ignore[arg-type]
            except (TypeError, UnicodeDecodeError):
                return None
        assert spec.field is not None
        return self._columns[spec.field](d.docs)

    def segments(self, d: Docs, checks: Checks, max_rows: int) -> list[tuple[str, str | None, Segment]] | None:
        """(model, version, segment) per model in first-seen order, or None (see the module docs)."""
        if not self.usable or not d.docs:
            return None
        models = self._values(self.model_id, d)
        versions = None if self.model_version is None else self._values(self.model_version, d)
        features = self._features(d.docs)
        if features is None:
            return None
        matrix, counts = features
        try:
            labels = self._per_row(self.prediction, d.docs, counts)
            scores = self._per_row(self.score, d.docs, counts)
        except BadRecordError:
            return None
        ids = None if self.inference_id is None else self._values(self.inference_id, d)
        times = None if self.time is None else self.time[0](d.docs)
        return self.assemble(Extracted(models, versions, matrix, counts, labels, scores, ids,
                                       d.stamps if self.time is None else times, d.indices), checks, max_rows)

    def assemble(self, e: Extracted, checks: Checks, max_rows: int) -> list[tuple[str, str | None, Segment]] | None:
        """The segments of a poll's values read column-wise (here or natively, :mod:`.nativepoll`), or None."""
        models = _texts(e.models)
        if models is None or "" in models:
            return None
        versions: list[str | None] = [None] * len(models)
        if self.model_version is not None:
            found = _texts(e.versions)
            if found is None:
                return None
            versions = list(found)
        counts = e.counts
        if not counts or max(counts) > max_rows or min(counts) == 0:
            return None
        ids = self._ids(e.ids, counts, checks)
        stamps = self._stamps(e.times)
        if ids is None or stamps is None:
            return None
        keys = list(zip(models, versions, strict=True))
        matrix, labels, scores = e.matrix, e.labels, e.scores
        try:
            if keys.count(keys[0]) == len(keys):
                checks.model_key(*keys[0])
                segment = segment_of(self.names, matrix, counts, stamps, ids, labels, scores, e.indices, checks)
                return None if segment is None else [(keys[0][0], keys[0][1], segment)]
            return self._per_model(keys, matrix, counts, stamps, ids, labels, scores, e.indices, checks)
        except BadRecordError:
            return None

    def _per_model(self, keys: list[tuple[str, str | None]], matrix: NDArray[np.float64], counts: list[int],
                   stamps: list[object], ids: NDArray[np.object_], labels: PerRow | None,
                   scores: PerRow | None, indices: list[int],
                   checks: Checks) -> list[tuple[str, str | None, Segment]] | None:
        out = []
        doc_of_row = np.repeat(np.arange(len(keys)), counts)
        for key in dict.fromkeys(keys):
            checks.model_key(*key)
            docs = [k == key for k in keys]
            rows = np.asarray(docs)[doc_of_row]
            row_list = rows.tolist()
            segment = segment_of(self.names, matrix[rows], list(compress(counts, docs)), list(compress(stamps, docs)),
                                 ids[rows], _rows_of(labels, rows, row_list),
                                 _rows_of(scores, rows, row_list),
                                 list(compress(indices, docs)), checks)
            if segment is None:
                return None
            out.append((key[0], key[1], segment))
        return out

    def _features(self, docs: list[Any]) -> tuple[NDArray[np.float64], list[int]] | None:
        width = len(self.names)
        if self.tensor is not None:
            raw = self.tensor(docs)
            if raw is None:
                return None
            types = set(map(type, raw))
            if types == _DICTS:
                shapes = list(map(dict.get, raw, repeat("shape")))
                try:
                    datas = list(map(itemgetter("data"), raw))
                except KeyError:
                    return None
            elif types == _LISTS:
                shapes, datas = [None] * len(raw), raw
            else:
                return None
            if set(map(type, datas)) != _LISTS or not all(datas):
                return None
            firsts = set(map(type, map(itemgetter(0), datas)))
            if firsts == _LISTS:  # nested rows (as KServe v1 "instances"): the shape is not read
                rows = list(chain.from_iterable(datas))
                if set(map(type, rows)) != _LISTS or set(map(len, rows)) != {width}:
                    return None
                flat = plain_numbers(list(chain.from_iterable(rows)))
                return None if flat is None else (flat.reshape(-1, width), list(map(len, datas)))
            if _LISTS & firsts:
                return None  # a mix: the per-document path
            lens = list(map(len, datas))
            counts = [n // width for n in lens]
            if any(n % width for n in lens):
                return None
            for shape, n in zip(shapes, counts, strict=True):
                if shape is not None and shape != [n, width] and shape != [width]:
                    return None  # a shape the per-document path checks (and names)
            flat = plain_numbers(list(chain.from_iterable(datas)))
            return None if flat is None else (flat.reshape(-1, width), counts)
        columns: list[NDArray[np.float64]] = []
        counts = []
        cache: dict[tuple[str, ...], list[Any] | None] = {}
        for j, column in enumerate(self.fields):
            per_doc = _flat(column(docs, cache))
            if per_doc is None:
                return None
            lens = list(map(len, per_doc))
            if j == 0:
                counts = lens
            elif lens != counts:
                return None
            col = plain_numbers(list(chain.from_iterable(per_doc)))
            if col is None:
                return None
            columns.append(col)
        return np.stack(columns).T, counts  # (rows x features), column-major: segment_of takes its columns as they are

    def _per_row(self, column: _Column | None, docs: list[Any], counts: list[int]) -> list[Any] | None:
        """The values of every row (None without the column); BadRecordError when the per-document path must
        judge."""
        if column is None:
            return None
        per_doc = _flat(column(docs))
        if per_doc is None or list(map(len, per_doc)) != counts:
            raise BadRecordError("mapping_mismatch", "per-row values")
        return list(chain.from_iterable(per_doc))

    def _ids(self, values: list[Any] | None, counts: list[int], checks: Checks) -> NDArray[np.object_] | None:
        """The rows' inference ids (a message's id, then ``:0``, ``:1``, ... when it has several rows), checked
        as :func:`.blocks.segment_of` checks a list of them (text or None, within the length limit); None when
        one is not text or too long."""
        if self.inference_id is None:
            return np.empty(sum(counts), dtype=object)  # (None in every row)
        if values is None:
            return None
        types = set(map(type, values))
        if not types <= {str, int}:
            return None
        texts = values if types == _STRS else [v if type(v) is str else str(v) for v in values]
        most = max(counts)
        suffixes = _suffixes(most)
        same = counts.count(most) == len(counts)  # the common case: every message has the same rows
        if not checks.short_texts:
            extra = [0, 0, *map(len, suffixes[1:most])]  # the longest suffix of a message of n rows: extra[n]
            longest = (max(map(len, texts)) + extra[most] if same else
                       max(map(int.__add__, map(len, texts), map(extra.__getitem__, counts))))
            if longest > checks.limits.max_inference_id_chars:
                return None
        if most == 1:
            return object_array(texts)
        if same:
            return np.add.outer(object_array(texts), object_array(suffixes[:most])).ravel()
        out: list[str] = []
        for t, n in zip(texts, counts, strict=True):  # per message; the rows' ids are joined in C
            if n == 1:
                out.append(t)
            else:
                out += map(t.__add__, suffixes[:n])
        return object_array(out)

    def _stamps(self, values: list[Any] | None) -> list[object] | None:
        """Event times: the Kafka timestamps without an ``event_time`` field, else the field's values."""
        if self.time is None:
            return None if values is None else list(values)
        unit = self.time[1]
        if values is None:
            return None
        types = set(map(type, values))
        if unit == "iso":
            return values if types == _STRS else None
        if not types <= _NUMBER_TYPES:
            return None
        if unit == "ms":
            return values
        return [int(v * _SCALE[unit]) for v in values]


_SUFFIXES: list[str] = []


def _suffixes(n: int) -> list[str]:
    """``[":0", ":1", ..., f":{n - 1}"]`` (at least): the row suffixes of a document's inference id."""
    if len(_SUFFIXES) < n:
        _SUFFIXES.extend(f":{i}" for i in range(len(_SUFFIXES), n))
    return _SUFFIXES


def _rows_of(values: PerRow | None, rows: NDArray[np.bool_], row_list: list[bool]) -> PerRow | None:
    if values is None or isinstance(values, np.ndarray):
        return None if values is None else values[rows]
    return list(compress(values, row_list))


def _flat(values: list[Any] | None) -> list[list[Any]] | None:
    """Per-document value lists: tensors' flat data, flat lists, or scalars (one value); None otherwise."""
    if values is None:
        return None
    types = set(map(type, values))
    if types == _DICTS:
        try:
            values = list(map(itemgetter("data"), values))
        except KeyError:
            return None
        types = set(map(type, values))
    if types == _LISTS:
        try:
            firsts = set(map(type, map(itemgetter(0), values)))
        except IndexError:  # an empty list: the per-document path names it
            return None
        return None if list in firsts or dict in firsts else values
    if types & {list, dict}:
        return None
    return [[v] for v in values]
