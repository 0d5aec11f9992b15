"""What a source's mapping finds in a sample of messages (``streamdrift sources check``): per model the rows,
each feature's kinds and range or most common values, the predictions, scores, inference ids and event times;
the messages that would be dead-lettered and why; the request/response pairing's outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Column, Kind
from streamdrift.errors import InputFileError
from streamdrift.ingest.sources.engine import MappedParser, Messages

__all__ = ["SourceReport", "inspect_messages", "read_sample"]

_SHOW = 3  # example values per list


@dataclass
class _Model:
    rows: int = 0
    features: dict[str, list[Column]] = field(default_factory=dict)
    predictions: list[object] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ids: list[object] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None
    versions: set[str | None] = field(default_factory=set)


@dataclass
class SourceReport:
    """The findings over every message given (see :func:`inspect_messages`)."""

    source: str
    messages: int = 0
    models: dict[str, _Model] = field(default_factory=dict)
    dead: list[tuple[int, str, str]] = field(default_factory=list)  # (message number, reason, detail)
    pairs: Counter[str] = field(default_factory=Counter)
    waiting: int = 0

    def render(self) -> str:
        lines = [f"source {self.source}: {self.messages} messages, {sum(m.rows for m in self.models.values())} "
                 f"rows for {len(self.models)} model(s), {len(self.dead)} would be dead-lettered"]
        if self.pairs or self.waiting:
            lines.append(f"  pairs: {self.pairs.get('paired', 0)} paired, {self.waiting} waiting for their other "
                         f"half, {self.pairs.get('expired', 0)} expired, {self.pairs.get('duplicate', 0)} duplicate")
        for model_id, m in self.models.items():
            versions = ", ".join(sorted(str(v) for v in m.versions))
            lines.append(f"model {model_id} (version {versions}): {m.rows} rows")
            if m.first_ms is not None and m.last_ms is not None:
                lines.append(f"  event time   {_iso(m.first_ms)} .. {_iso(m.last_ms)}")
            lines.append(f"  inference id {_examples(m.ids)}")
            lines.append(f"  prediction   {_examples(m.predictions)}")
            lines.append(f"  score        {_examples(m.scores)}")
            lines.append(f"  features     {len(m.features)}")
            for name, cols in m.features.items():
                lines.append(f"    {name:24s} {_describe(cols)}")
        if self.dead:
            lines.append("dead letters (message number: reason: detail):")
            reasons = Counter((r, d) for _, r, d in self.dead)
            for (reason, detail), n in reasons.most_common():
                where = [str(i) for i, r, d in self.dead if (r, d) == (reason, detail)][:_SHOW]
                lines.append(f"  {', '.join(where)}{' ...' if n > _SHOW else ''}: {reason}: {detail}"
                             f"{f' (x{n})' if n > 1 else ''}")
        return "\n".join(lines)


def inspect_messages(parser: MappedParser, polls: Iterable[Messages], now_ms: int | None = None) -> SourceReport:
    """Apply ``parser`` to each poll (pairs wait across polls) and collect what it found."""
    report = SourceReport(parser.source.name)
    pairs = parser.new_pairs()
    offset = 0
    for poll in polls:
        batches, dead = parser.parse(poll, pairs, now_ms)
        for batch in batches:
            _add(report.models.setdefault(batch.model_id, _Model()), batch)
        report.dead.extend((offset + d.index + 1, d.reason, d.detail) for d in dead)
        offset += len(poll.values)
    report.messages = offset
    if pairs is not None:
        report.pairs = pairs.take_outcomes()
        report.waiting = len(pairs)
    return report


def _add(m: _Model, b: CaptureBatch) -> None:
    m.rows += b.n_rows
    m.versions.add(b.model_version)
    for name, col in b.features.columns.items():
        m.features.setdefault(name, []).append(col)
    if b.prediction is not None:
        m.predictions.extend(_values(b.prediction)[: _SHOW - len(m.predictions)])
    if b.score is not None:
        m.scores.extend(b.score[: _SHOW - len(m.scores)].tolist())
    m.ids.extend(b.inference_ids[: _SHOW - len(m.ids)].tolist())
    lo, hi = int(b.timestamps_ms.min()), int(b.timestamps_ms.max())
    m.first_ms = lo if m.first_ms is None else min(m.first_ms, lo)
    m.last_ms = hi if m.last_ms is None else max(m.last_ms, hi)


def _values(col: Column) -> list[object]:
    strings = col.strings
    return [strings[i] if strings is not None and strings[i] is not None else float(col.numbers[i])
            for i in range(min(len(col), _SHOW))]


def _describe(cols: Sequence[Column]) -> str:
    kinds = np.sum([c.kind_counts() for c in cols], axis=0)
    parts = [f"{Kind(k).name.lower()} {int(n)}" for k, n in enumerate(kinds) if n]
    numbers = np.concatenate([c.numbers for c in cols])
    finite = numbers[np.isfinite(numbers)]
    if finite.size:
        parts.append(f"range {finite.min():.6g} .. {finite.max():.6g}")
    texts = Counter(s for c in cols if c.strings is not None for s in c.strings if s is not None)
    if texts:
        parts.append("top " + ", ".join(f"{t!r} {n}" for t, n in texts.most_common(_SHOW)))
    return "; ".join(parts)


def _examples(values: Sequence[object]) -> str:
    return "none" if not values else ", ".join(repr(v) for v in values[:_SHOW]) + (" ..." if len(values) >= _SHOW
                                                                                  else "")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_sample(lines: Iterable[bytes], *, envelope: bool, start_ms: int) -> Messages:
    """A sample file's lines as messages: each line one message value, or (``envelope``) one JSON object
    ``{"value": <JSON or text>, "key"?: text, "headers"?: {name: text}, "timestamp"?: epoch ms}``. Lines without
    a timestamp get ``start_ms`` + their line number."""
    values: list[bytes] = []
    keys: list[bytes | None] = []
    headers: list[Any] = []
    stamps: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not envelope:
            values.append(line.rstrip(b"\r\n"))
            keys.append(None)
            headers.append(None)
            stamps.append(start_ms + number)
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(f"not a JSON envelope: {exc}", line=number) from None
        if not isinstance(obj, dict) or "value" not in obj:
            raise InputFileError('an envelope is an object with a "value"', line=number)
        value = obj["value"]
        values.append(value.encode() if isinstance(value, str) else orjson.dumps(value))
        keys.append(obj["key"].encode() if isinstance(obj.get("key"), str) else None)
        hdrs = obj.get("headers") or {}
        if not isinstance(hdrs, dict):
            raise InputFileError("envelope headers are an object of name: text", line=number)
        headers.append([(str(k), str(v).encode()) for k, v in hdrs.items()])
        stamp = obj.get("timestamp")
        stamps.append(stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else start_ms + number)
    return Messages(values, keys, headers, stamps)
