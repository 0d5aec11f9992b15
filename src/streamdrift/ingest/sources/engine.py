"""The mapping engine: a poll of a source's messages -> :class:`CaptureBatch` es per model, plus dead letters.

Each message is decoded by its source's preset (:mod:`.presets`; paired presets go through a
:class:`~.pairing.PairStore` first), then the mapping's compiled getters read the model id and version, the
feature rows, prediction, score, inference ids and event time, giving streamdrift capture records that are
columnarized and checked exactly as records on the capture topic are (:mod:`streamdrift.ingest.jsonrecords`:
the same limits and dead-letter reasons). A message that does not match its mapping is dead-lettered whole with
reason ``mapping_mismatch`` and the path that failed in the detail (``/inputs/input-0: no 'input-0'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, overload

import numpy as np
import orjson

from streamdrift.columns.chunks import CaptureBatch, CaptureColumns, LabelBatch
from streamdrift.columns.columns import paused_gc
from streamdrift.errors import BadRecordError
from streamdrift.ingest.deadletters import DeadLetter, dead_letter
from streamdrift.ingest.jsonrecords import segments_from_records
from streamdrift.ingest.labels import parse_labels
from streamdrift.ingest.limits import DEFAULT_LIMITS, CaptureLimits, Checks
from streamdrift.ingest.segments import Segment, batch_of
from streamdrift.ingest.sources.blocks import Block, fast_segment
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.mapping import CompiledMapping
from streamdrift.ingest.sources.nativepoll import NativePoll
from streamdrift.ingest.sources.pairing import PairStore
from streamdrift.ingest.sources.pollpath import Docs, PollMapping
from streamdrift.ingest.sources.presets import PRESETS, Half, Preset, RawHeaders, headers_dict

__all__ = ["CHUNK", "MappedParser", "Messages"]

CHUNK = 1024  # messages read at a time at most (see MappedParser.parse) ...
CHUNK_BYTES = 256 << 10  # ... and about this many bytes of them


@dataclass(frozen=True)
class Messages:
    """A poll's messages of one partition, as parallel sequences (values, keys, headers, Kafka timestamps)."""

    values: Sequence[bytes]
    keys: Sequence[bytes | None]
    headers: Sequence[RawHeaders]
    timestamps_ms: Sequence[int]

    def slice(self, start: int, stop: int) -> Messages:
        return Messages(self.values[start:stop], self.keys[start:stop], self.headers[start:stop],
                        self.timestamps_ms[start:stop])

    @classmethod
    def of_values(cls, values: Sequence[bytes], timestamps_ms: Sequence[int] | None = None) -> Messages:
        n = len(values)
        return cls(values, [None] * n, [None] * n, list(timestamps_ms) if timestamps_ms is not None else [0] * n)


class MappedParser:
    """A source's preset and mapping, compiled once; :meth:`parse` reads a poll of its messages."""

    def __init__(self, source: SourceSettings, *, limits: CaptureLimits = DEFAULT_LIMITS,
                 max_bytes: int = 1 << 20, poll_path: bool = True, use_native: bool = True) -> None:
        """``poll_path``: read a poll of plain numeric tensors column-wise at once (:mod:`.nativepoll` natively,
        else :mod:`.pollpath`; the same batches); False always reads document by document. ``use_native``
        False: never the native reader (tests and benchmarks compare)."""
        self.source = source
        self.poll_path = poll_path
        self.preset: Preset = PRESETS[source.preset]
        self.limits = limits
        self.max_bytes = max_bytes
        self._capture = CompiledMapping(source.mapping)
        self._poll = PollMapping(source.mapping)
        native = NativePoll(source.mapping, source.preset, self._poll)
        self._native = native if poll_path and native.usable and use_native else None
        self.use_native = use_native
        self._labels = None if source.labels_mapping is None else CompiledMapping(source.labels_mapping)

    def new_pairs(self) -> PairStore | None:
        """A fresh pair store when the preset pairs requests and responses, else None (its halves wait in the
        native table unless ``use_native`` is False)."""
        if not self.preset.paired:
            return None
        pairing = self.source.pairing
        return PairStore(round(pairing.ttl_seconds * 1000), pairing.max_pending, self._decode_half,
                         max_bytes=pairing.max_pending_bytes, native=self.use_native)

    def _decode_half(self, value: bytes, headers: dict[str, bytes]) -> Half:
        half = self.preset.decode(value, headers, self.max_bytes)
        assert isinstance(half, Half)  # it decoded as a half when it was offered
        return half

    def parse(self, messages: Messages, pairs: PairStore | None = None,
              now_ms: int | None = None) -> tuple[list[CaptureBatch], list[DeadLetter]]:
        """Batches per (model, version) in first-seen order and the dead letters (sorted by index). A paired
        preset needs ``pairs`` (its halves wait there across polls); its rows carry the index of the message that
        completed the pair. A large poll is read in chunks of at most :data:`CHUNK` messages and about
        :data:`CHUNK_BYTES` (its documents would not stay in the CPU caches: a poll of 5,000 OIP messages of 23
        named input tensors read whole measured 2-3x slower than in chunks of 64-128), a model's chunks joined
        into one batch when they name at most ``limits.max_features`` features in all."""
        checks = Checks.of(self.limits, now_ms)
        n = len(messages.values)
        sizes = np.cumsum(np.fromiter(map(len, messages.values), dtype=np.int64, count=n))
        if n <= CHUNK and (not n or sizes[-1] <= CHUNK_BYTES):
            return self._parse_chunk(messages, pairs, checks)
        if self._native is not None:  # the native reader keeps no document: the poll at once
            whole = self._parse_chunk(messages, pairs, checks, native_only=True)
            if whole is not None:
                return whole
        # chunks of at most CHUNK messages and about CHUNK_BYTES (at least one message each)
        edges = np.unique(np.concatenate([np.searchsorted(sizes, np.arange(CHUNK_BYTES, sizes[-1], CHUNK_BYTES)),
                                          np.arange(0, n, CHUNK)]))
        starts = [int(e) for e in edges if 0 < e < n]
        segments: dict[tuple[str, str | None], list[Segment]] = {}
        dead: list[DeadLetter] = []
        for start, stop in zip([0, *starts], [*starts, n], strict=True):
            batches, found = self._parse_chunk(messages.slice(start, stop), pairs, checks)
            dead.extend(DeadLetter(d.index + start, d.reason, d.detail) for d in found)
            for b in batches:
                segments.setdefault((b.model_id, b.model_version), []).append(Segment(CaptureColumns(
                    b.timestamps_ms, b.inference_ids, b.features, b.prediction, b.score, b.attributions),
                    b.source_index + start))
        out: list[CaptureBatch] = []
        for (model, version), segs in segments.items():
            names = set().union(*(s.rows.features.columns for s in segs))
            if len(names) <= self.limits.max_features:
                out.append(batch_of(model, version, segs))
            else:  # consecutive batches of the model, each within the limit (as the capture topic's polls)
                out.extend(batch_of(model, version, [seg]) for seg in segs)
        return out, dead

    @overload
    def _parse_chunk(self, messages: Messages, pairs: PairStore | None,
                     checks: Checks) -> tuple[list[CaptureBatch], list[DeadLetter]]: ...

    @overload
    def _parse_chunk(self, messages: Messages, pairs: PairStore | None, checks: Checks,
                     native_only: bool) -> tuple[list[CaptureBatch], list[DeadLetter]] | None: ...

    def _parse_chunk(self, messages: Messages, pairs: PairStore | None, checks: Checks,
                     native_only: bool = False) -> tuple[list[CaptureBatch], list[DeadLetter]] | None:
        """``native_only``: None when the native reader does not take the messages (nothing offered to
        ``pairs``)."""
        dead: list[DeadLetter] = []
        groups: dict[tuple[str, str | None], tuple[list[Block], list[int]]] = {}
        max_rows = self.limits.max_rows_per_message
        block_of = self._capture.block
        with paused_gc():
            native = self._native_chunk(messages, pairs, checks, dead)
            if isinstance(native, list):
                return native, []
            if native is None and native_only:
                return None
            docs = native if native is not None else self._documents(messages, pairs, dead)
            fast = self._poll.segments(docs, checks, max_rows) if self.poll_path else None
            if fast is not None:
                if pairs is not None:
                    pairs.expire()
                dead.sort(key=lambda d: d.index)
                return [batch_of(model, version, [seg]) for model, version, seg in fast], dead
            for index, doc, key, headers, stamp in zip(docs.indices, docs.docs, docs.keys, docs.headers, docs.stamps,
                                                       strict=True):
                try:
                    block = block_of(doc, key, headers, stamp, max_rows)
                except BadRecordError as exc:
                    dead.append(dead_letter(index, exc))
                    continue
                group = groups.get((block.model_id, block.version))
                if group is None:
                    group = groups[(block.model_id, block.version)] = ([], [])
                group[0].append(block)
                group[1].append(index)
            if pairs is not None:
                pairs.expire()
            batches = [b for (model, version), (blocks, sources) in groups.items()
                       for b in self._batches(model, version, blocks, sources, dead, checks)]
        dead = list({d.index: d for d in sorted(dead, key=lambda d: d.index)}.values())
        return batches, dead

    def _native_chunk(self, messages: Messages, pairs: PairStore | None, checks: Checks,
                      dead: list[DeadLetter]) -> list[CaptureBatch] | Docs | None:
        """The chunk's batches through the native reader (:mod:`.nativepoll`); or, when its pairs were matched but
        must be read in Python, their documents; None when it does not take the chunk (nothing was offered)."""
        native = self._native
        if native is None or not messages.values:
            return None
        stamps = list(map(int, messages.timestamps_ms))
        max_rows = self.limits.max_rows_per_message
        if pairs is None:
            fast = native.segments(messages.values, messages.keys, stamps, checks, max_rows, self.max_bytes)
            return None if fast is None else [batch_of(model, version, [seg]) for model, version, seg in fast]
        got = native.paired_segments(messages.values, messages.keys, stamps, messages.headers, pairs, checks,
                                     max_rows, self.max_bytes)
        if got is None:
            return None
        segments, matched = got
        if segments is not None:
            pairs.expire()
            return [batch_of(model, version, [seg]) for model, version, seg in segments]
        docs = Docs([], [], [], [], [])
        for m in matched.rows():  # decoded one by one: a message the reader took but the preset refuses is named
            try:
                one = native.paired_docs([m], messages.values, messages.headers, pairs, self._decode_half)
            except BadRecordError as exc:
                dead.append(dead_letter(m.index, exc))
                continue
            for field in ("indices", "docs", "keys", "headers", "stamps"):
                getattr(docs, field).extend(getattr(one, field))
        return docs

    def _batches(self, model: str, version: str | None, blocks: list[Block], block_sources: list[int],
                 dead: list[DeadLetter], checks: Checks) -> list[CaptureBatch]:
        """Columns of one model's blocks: the matrix fast path when it applies, else as capture records (a
        message with a bad row is then dead-lettered whole: no row of it counts)."""
        try:
            checks.model_key(model, version)
            segment = fast_segment(blocks, block_sources, checks)
            if segment is not None:
                return [batch_of(model, version, [segment])]
        except BadRecordError:
            pass  # the record path names the messages
        records: list[dict[str, Any]] = []
        sources: list[int] = []
        for block, index in zip(blocks, block_sources, strict=True):
            records.extend(block.records())
            sources.extend(repeat(index, block.n))
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

    def _documents(self, messages: Messages, pairs: PairStore | None, dead: list[DeadLetter]) -> Docs:
        """Every message's document (or completed pair), with its index, key, headers and Kafka timestamp."""
        n = len(messages.values)
        plain = messages.headers.count(None) == n
        if self.preset.name == "json" and n and max(map(len, messages.values)) <= self.max_bytes:
            try:  # the common poll in one C-level pass; any bad message: one by one below, naming it
                objs = list(map(orjson.loads, messages.values))
            except orjson.JSONDecodeError:
                objs = []
            if objs and set(map(type, objs)) == {dict}:
                all_headers: list[dict[str, bytes]] = [{}] * n if plain else list(map(headers_dict, messages.headers))
                return Docs(list(range(n)), objs, list(messages.keys), all_headers, list(messages.timestamps_ms))
        if pairs is not None and plain and self.poll_path and self.preset.decode_poll is not None:
            halves = self.preset.decode_poll(messages.values, self.max_bytes)
            if halves is not None:
                keys, stamps = list(messages.keys), list(map(int, messages.timestamps_ms))
                done = pairs.offer_many(halves, [{}] * n, stamps, keys, messages.values)
                return Docs([i for i, _ in done], [p.doc for _, p in done], [p.key for _, p in done],
                            [p.headers for _, p in done], [p.timestamp_ms for _, p in done])
        decode = self.preset.decode
        out = Docs([], [], [], [], [])
        for index, value in enumerate(messages.values):
            headers: dict[str, bytes] = {} if plain else headers_dict(messages.headers[index])
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
                paired = pairs.offer(doc, headers, stamp, key, value)
                if paired is None:
                    continue
                doc, key, headers, stamp = paired.doc, paired.key, paired.headers, paired.timestamp_ms
            out.indices.append(index)
            out.docs.append(doc)
            out.keys.append(key)
            out.headers.append(headers)
            out.stamps.append(stamp)
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
