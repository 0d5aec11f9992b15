"""Capture messages -> one :class:`CaptureBatch` per model (and model version), plus dead letters.

A poll of valid JSON records takes the native reader (:mod:`streamdrift.ingest.native`), a poll of Arrow
batches :func:`streamdrift.ingest.arrow.read_arrow_poll`; anything else is read message by message here, JSON
records of one model columnarized together (:mod:`streamdrift.ingest.jsonrecords`), columnar batches one by one
(:mod:`streamdrift.ingest.columnar`, :mod:`streamdrift.ingest.fastcolumnar`, :mod:`streamdrift.ingest.arrow`).
The fast paths only ever read what the message-by-message path would accept, and give the same columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from typing import Any, Final

import numpy as np
import orjson

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import paused_gc
from streamdrift.errors import BadRecordError
from streamdrift.ingest.arrow import ArrowGroup, decode_arrow_batch, is_arrow_batch, read_arrow_poll
from streamdrift.ingest.columnar import parse_columnar
from streamdrift.ingest.deadletters import DeadLetter, dead_letter
from streamdrift.ingest.fastcolumnar import fast_columnar, fast_min_bytes
from streamdrift.ingest.jsonrecords import runs_within, segments_from_records
from streamdrift.ingest.limits import DEFAULT_LIMITS, CaptureLimits, Checks
from streamdrift.ingest.native import read_records
from streamdrift.ingest.segments import Segment, batch_of
from streamdrift.ingest.values import DICTS, load_json, model_key

__all__ = ["PRELOAD_MAX_MESSAGE", "PRELOAD_MAX_TOTAL", "parse_capture"]

PRELOAD_MAX_MESSAGE: Final[int] = 1 << 16  # bytes: larger messages (columnar batches) are parsed one at a time
PRELOAD_MAX_TOTAL: Final[int] = 1 << 24  # bytes of a poll parsed in one pass

Key = tuple[str, str | None]


@dataclass
class _Group:
    """Records of one (model, version) in input order; runs of JSON records are columnarized together."""

    model_id: str
    model_version: str | None
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def flush(self, fallback: Sequence[int] | None, dead: list[DeadLetter], checks: Checks) -> None:
        if self.records:
            self.segments.extend(segments_from_records(self.records, self.sources, fallback, dead, checks))
            self.records, self.sources = [], []


def parse_capture(
    values: Sequence[bytes],
    *,
    max_bytes: int = 1 << 20,
    fallback_timestamps_ms: Sequence[int] | None = None,
    fast_columnar: bool | None = None,
    native: bool = True,
    arrow_poll: bool = True,
    limits: CaptureLimits = DEFAULT_LIMITS,
    now_ms: int | None = None,
) -> tuple[list[CaptureBatch], list[DeadLetter]]:
    """Parse capture messages into :class:`CaptureBatch` es per (model, version), plus dead letters.

    One batch per (model, version) in first-seen order, except when a model's rows in this poll name more than
    ``limits.max_features`` features (or attributions) in all: its rows then come as several consecutive batches
    of that model, in input order, each naming at most that many.
    ``fallback_timestamps_ms`` (e.g. the Kafka message timestamps, aligned with ``values``) is used for records
    without a ``timestamp``; without it such a record is dead-lettered (``missing_field``).
    ``limits``: what a message may hold (:class:`streamdrift.ingest.limits.CaptureLimits`); ``now_ms``: the
    caller's clock (epoch ms), for ``limits.max_future_ms`` (None: no check against the clock).
    ``fast_columnar``: read columnar batches with simdjson when it is installed (the same result, without a
    Python object per value): None (default) for messages of at least 4 KiB, True for every message, False never.
    ``native``: read a poll of only valid JSON records with the native reader (:mod:`streamdrift.ingest.native`;
    the same batches, about 4x faster); False always takes the Python path.
    ``arrow_poll``: read a poll of only Arrow batches one model at a time (:func:`streamdrift.ingest.arrow.
    read_arrow_poll`: the same batches); False reads every Arrow batch on its own.
    """
    dead: list[DeadLetter] = []
    checks = Checks.of(limits, now_ms)
    with paused_gc():
        if native:
            native_batches = read_records(values, min(max_bytes, PRELOAD_MAX_MESSAGE), PRELOAD_MAX_TOTAL, checks)
            if native_batches is not None:
                return native_batches, dead
        arrow = None
        if arrow_poll and values and is_arrow_batch(values[0]):
            arrow = read_arrow_poll(values, max_bytes, checks)
        if arrow is not None:
            return [_arrow_batch(g) for g in arrow if g.rows.n_rows > 0], dead
        objs = _load_all(values, max_bytes)
        groups = None if objs is None else _plain_record_groups(objs, checks)
        if groups is None:
            fast_min = fast_min_bytes(fast_columnar)
            groups = _groups_per_message(values, objs, max_bytes, fallback_timestamps_ms, dead, checks, fast_min)
        for group in groups.values():
            group.flush(fallback_timestamps_ms, dead, checks)
        batches = [b for g in _drained(groups) for b in _batches_of(g, limits.max_features)]
    dead.sort(key=lambda d: d.index)
    return [b for b in batches if b.n_rows > 0], dead


def _groups_per_message(
    values: Sequence[bytes],
    objs: list[dict[str, Any]] | None,
    max_bytes: int,
    fallback: Sequence[int] | None,
    dead: list[DeadLetter],
    checks: Checks,
    fast_min: int | None = None,
) -> dict[Key, _Group]:
    """Group messages one by one (any mix of JSON records, columnar batches and bad input)."""
    groups: dict[Key, _Group] = {}
    by_raw_key: dict[tuple[object, object], _Group] = {}  # (model_id, model_version) as sent -> group
    for index, value in enumerate(values):
        stamp = None if fallback is None else int(fallback[index])
        try:
            if is_arrow_batch(value):
                if len(value) > max_bytes:
                    raise BadRecordError("too_large", f"{len(value)} bytes > max {max_bytes}")
                batch = decode_arrow_batch(value, stamp, checks)
                _add_segment(groups, (batch.model_id, batch.model_version), fallback, dead, checks,
                             Segment(batch.rows, np.full(batch.rows.n_rows, index, dtype=np.int64)))
                continue
            fast = fast_min is not None and fast_min <= len(value) <= max_bytes
            quick = fast_columnar(value, index, stamp, checks) if fast else None
            if quick is not None:
                _add_segment(groups, quick[1], fallback, dead, checks, quick[0])
                continue
            obj = load_json(value, max_bytes) if objs is None else objs[index]
            fmt = obj.get("format")
            if fmt is None:
                raw_key = (obj.get("model_id"), obj.get("model_version"))
                group = _lookup(by_raw_key, raw_key)
                if group is None:
                    group = by_raw_key[raw_key] = _group(groups, model_key(obj, checks))
                group.records.append(obj)
                group.sources.append(index)
            elif fmt == "columnar":
                segment, key = parse_columnar(obj, index, stamp, len(value), checks.for_json(value))
                _add_segment(groups, key, fallback, dead, checks, segment)
            else:
                raise BadRecordError("bad_batch", f"unknown format {str(fmt)[:40]!r}")
        except BadRecordError as exc:
            dead.append(dead_letter(index, exc))
    return groups


def _add_segment(groups: dict[Key, _Group], key: Key, fallback: Sequence[int] | None, dead: list[DeadLetter],
                 checks: Checks, segment: Segment) -> None:
    """A columnar batch's rows after the records of its model before it."""
    group = _group(groups, key)
    group.flush(fallback, dead, checks)
    group.segments.append(segment)


def _preloadable(values: Sequence[bytes], max_bytes: int) -> bool:
    """A poll of small messages (JSON records), read in one pass; big columnar batches are parsed one at a time,
    so their Python objects never all exist at once."""
    return bool(values) and max(map(len, values)) <= min(max_bytes, PRELOAD_MAX_MESSAGE) and (
        sum(map(len, values)) <= PRELOAD_MAX_TOTAL
    )


def _load_all(values: Sequence[bytes], max_bytes: int) -> list[dict[str, Any]] | None:
    """Every message parsed (one C-level pass), or None when one is too large, not JSON or not an object."""
    if not _preloadable(values, max_bytes):
        return None
    try:
        objs = list(map(orjson.loads, values))
    except orjson.JSONDecodeError:
        return None
    return objs if DICTS.issuperset(map(type, objs)) else None


def _plain_record_groups(objs: list[dict[str, Any]], checks: Checks) -> dict[Key, _Group] | None:
    """The common poll, without a per-message Python loop: every message a JSON capture record (an object
    without ``format``) with a valid model key. Groups as the per-message loop would (same order, same rows);
    None when a message is a columnar batch or has a bad model key (the per-message loop handles those)."""
    try:
        # set() raises TypeError when a value is unhashable
        if set(map(dict.get, objs, repeat("format"))) != {None}:
            return None
        ids = list(map(dict.get, objs, repeat("model_id")))
        versions = list(map(dict.get, objs, repeat("model_version")))
        if ids.count(ids[0]) == len(ids) and versions.count(versions[0]) == len(versions):  # one model
            return _one_group(objs, (ids[0], versions[0]), checks)
        raw_keys = list(zip(ids, versions, strict=True))
        by_raw_key: dict[tuple[object, object], _Group | None] = dict.fromkeys(raw_keys)  # first-seen order
        first = dict(zip(raw_keys[::-1], objs[::-1], strict=True))  # the first record of each raw key
    except TypeError:
        return None
    groups: dict[Key, _Group] = {}
    try:
        for raw_key in by_raw_key:
            by_raw_key[raw_key] = _group(groups, model_key(first[raw_key], checks))
    except BadRecordError:
        return None
    for index, (obj, raw_key) in enumerate(zip(objs, raw_keys, strict=True)):
        found = by_raw_key[raw_key]
        if found is not None:
            found.records.append(obj)
            found.sources.append(index)
    return groups


def _one_group(objs: list[dict[str, Any]], raw_key: tuple[object, object], checks: Checks) -> dict[Key, _Group] | None:
    """Every record of the poll has the same (model_id, model_version) as sent (``==``, as a dict lookup)."""
    try:
        key = model_key({"model_id": raw_key[0], "model_version": raw_key[1]}, checks)
    except BadRecordError:
        return None
    group = _Group(key[0], key[1], objs, list(range(len(objs))))
    return {key: group}


def _drained(groups: dict[Key, _Group]) -> Iterator[_Group]:
    """Groups with segments, each released from ``groups`` as it is handed out (its segments are freed as
    soon as its batch is built: peak memory is the segments plus one model's batch, not twice everything)."""
    while groups:
        group = groups.pop(next(iter(groups)))
        if group.segments:
            yield group


def _batches_of(group: _Group, max_features: int) -> Iterator[CaptureBatch]:
    """The group's batch; several consecutive ones when its segments name more than ``max_features`` features
    or attributions in all (each segment alone names at most that many)."""
    segs = group.segments
    cuts: list[int] = []
    if len(segs) > 1:
        features = [s.rows.features.columns for s in segs]
        attributions: list[Mapping[str, object]] = [{} if s.rows.attributions is None else s.rows.attributions.columns
                                                    for s in segs]
        cuts = runs_within([features, attributions], max_features)
    edges = [0, *cuts, len(segs)]
    for a, b in pairwise(edges):
        yield batch_of(group.model_id, group.model_version, segs[a:b])


def _lookup(by_raw_key: dict[tuple[object, object], _Group], raw_key: tuple[object, object]) -> _Group | None:
    try:
        return by_raw_key.get(raw_key)
    except TypeError:  # unhashable model_id / version (a list, an object): model_key reports it
        return None


def _group(groups: dict[Key, _Group], key: Key) -> _Group:
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(key[0], key[1])
    return group


def _arrow_batch(group: ArrowGroup) -> CaptureBatch:
    rows = group.rows
    return CaptureBatch(group.model_id, group.model_version, rows.timestamps_ms, rows.inference_ids, rows.features,
                        rows.prediction, rows.score, rows.attributions, group.source_index)
