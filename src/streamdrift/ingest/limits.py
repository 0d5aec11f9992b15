"""What a capture or label message may hold: the limits (:class:`CaptureLimits`, one frozen set of values with
defaults, built from the ``limits`` settings by :meth:`streamdrift.settings.LimitSettings.capture_limits`) and
the checks every parse path applies with them (:class:`Checks`).

A breach is never an exception out of the parser, a stall or a large allocation: the message becomes a dead
letter (:mod:`streamdrift.ingest.deadletters`) with the reason and a detail naming the value and the limit. Sizes
are checked against what a message declares before anything proportional to the declaration is allocated.

Choices (documented in ``docs/security.md`` by the lead):

- every length limit rejects (dead letter ``too_long``), it never truncates: a truncated model id or inference id
  would merge models or break the label join, and a truncated category would be counted as another value;
- a record with more than ``max_features`` features (or attributions) is dead-lettered whole
  (``too_many_features``), as is a columnar batch: nothing is dropped silently. When the records of one model in
  one poll name more than ``max_features`` features in all, their rows are split into several batches of that
  model (consecutive, in input order), each with at most ``max_features`` columns: a poll's memory is then bounded
  by ``max_features`` x rows, not by distinct names x rows, and whether a record is read never depends on the
  other records of its poll (the label-join rebuild re-reads messages cut into other polls);
- the rows a batch declares may not exceed ``max_rows_per_message`` nor ``rows_per_byte`` per byte of the message
  (of its decompressed size for an Arrow batch);
- timestamps must lie in [``min_timestamp_ms``, ``max_timestamp_ms``] (default: 1970 to the year 3000, which a
  microsecond or nanosecond timestamp sent as milliseconds exceeds) and, when the caller passes its clock
  (``now_ms``), at most ``max_future_ms`` ahead of it. A Kafka timestamp taken as the fallback is checked too.

Lengths count characters (code points), as Python's ``len``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from streamdrift import _native
from streamdrift.errors import BadRecordError, ConfigError

__all__ = ["DEFAULT_CHECKS", "DEFAULT_LIMITS", "YEAR_3000_MS", "CaptureLimits", "Checks"]

YEAR_3000_MS: Final[int] = 32_503_680_000_000  # 3000-01-01T00:00:00Z
_TIMESTAMP_CEILING: Final[int] = (1 << 53) - 1  # float64 holds every integer millisecond up to here


@dataclass(frozen=True, slots=True)
class CaptureLimits:
    """The limits of one capture or label message (and of a model's features in one poll)."""

    max_rows_per_message: int = 100_000
    rows_per_byte: int = 1  # a batch declares at most this many rows per byte of its (decoded) size
    max_decoded_bytes: int = 64 << 20  # an Arrow batch's size with its buffers decompressed
    max_features: int = 1_000  # per record, per batch and per model in one poll (features; attributions alike)
    max_model_id_chars: int = 128  # model_id and model_version
    max_inference_id_chars: int = 256
    max_name_chars: int = 256  # feature and attribution names
    max_value_chars: int = 1_024  # text values: categories, text predictions, text labels
    min_timestamp_ms: int = 0
    max_timestamp_ms: int = YEAR_3000_MS
    max_future_ms: int = 3_600_000  # ahead of the caller's clock (parse_capture's ``now_ms``), when it gives one

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < (0 if f.name in ("min_timestamp_ms", "max_future_ms") else 1):
                raise ConfigError(f"capture limit {f.name} must be a positive integer, not {value!r}")
        if not self.min_timestamp_ms < self.max_timestamp_ms <= _TIMESTAMP_CEILING:
            raise ConfigError(f"capture limits: need min_timestamp_ms < max_timestamp_ms <= {_TIMESTAMP_CEILING}")


DEFAULT_LIMITS: Final[CaptureLimits] = CaptureLimits()


@dataclass(frozen=True, slots=True)
class Checks:
    """The limits applied to one parse call: :class:`CaptureLimits` and the timestamp range of that moment."""

    limits: CaptureLimits
    min_ts: int
    max_ts: int  # inclusive: the limit's ceiling, or now + max_future when that is lower
    now_ms: int | None = None
    short_texts: bool = False  # every text of the message is within every length limit (see for_json)

    @classmethod
    def of(cls, limits: CaptureLimits, now_ms: int | None = None) -> Checks:
        ceiling = limits.max_timestamp_ms
        if now_ms is not None:
            ceiling = min(ceiling, int(now_ms) + limits.max_future_ms)
        return cls(limits, limits.min_timestamp_ms, ceiling, None if now_ms is None else int(now_ms))

    def for_json(self, value: bytes) -> Checks:
        """These checks for one JSON message: without the per-value length checks when no string in it (counted
        in bytes, never fewer than its characters) can pass the smallest length limit. One native pass over the
        message's quotes instead of one Python pass per text column."""
        limit = min(self.limits.max_model_id_chars, self.limits.max_inference_id_chars, self.limits.max_name_chars,
                    self.limits.max_value_chars)
        if len(value) <= limit + 2 or _native.json_strings_within(value, limit):
            return replace(self, short_texts=True)
        return self

    # -- sizes

    def max_rows(self, size_bytes: int) -> int:
        """Rows a batch of ``size_bytes`` (decoded) bytes may declare."""
        return min(self.limits.max_rows_per_message, self.limits.rows_per_byte * max(size_bytes, 0))

    def rows(self, n: int, size_bytes: int, what: str = "the batch") -> None:
        if n > self.limits.max_rows_per_message:
            raise BadRecordError("too_many_rows", f"{what} declares {n} rows > max {self.limits.max_rows_per_message}")
        if n > self.limits.rows_per_byte * size_bytes:
            raise BadRecordError(
                "too_many_rows", f"{what} declares {n} rows in {size_bytes} bytes (max {self.limits.rows_per_byte} a byte)")

    # -- text

    def model_key(self, model_id: str, version: str | None) -> None:
        if self.short_texts:
            return
        limit = self.limits.max_model_id_chars
        if len(model_id) > limit:
            raise BadRecordError("too_long", f"model_id of {len(model_id)} characters > max {limit}: {model_id[:40]!r}")
        if version is not None and len(version) > limit:
            raise BadRecordError("too_long", f"model_version of {len(version)} characters > max {limit}")

    def inference_ids(self, ids: Iterable[str | None]) -> None:
        if self.short_texts:
            return
        limit = self.limits.max_inference_id_chars
        longest = max(map(len, filter(None, ids)), default=0)
        if longest > limit:
            raise BadRecordError("too_long", f"an inference_id of {longest} characters > max {limit}")

    def names(self, names: Collection[str], what: str) -> None:
        """A record's or batch's feature (or attribution) names: how many, how long."""
        if len(names) > self.limits.max_features:
            raise BadRecordError("too_many_features", f"{len(names)} {what} > max {self.limits.max_features}")
        limit = self.limits.max_name_chars
        if not self.short_texts and names and max(map(len, names)) > limit:
            name = next(n for n in names if len(n) > limit)
            raise BadRecordError("too_long", f"a name in {what} of {len(name)} characters > max {limit}: {name[:40]!r}")

    def texts(self, strings: Iterable[object], what: str) -> None:
        """Text values (None and non-text skipped): each at most ``max_value_chars`` long. Distinct values are
        measured (a category repeats)."""
        if self.short_texts:
            return
        distinct = set(strings)
        distinct.discard(None)
        limit = self.limits.max_value_chars
        if distinct and max(map(_length, distinct)) > limit:
            longest = max(map(_length, distinct))
            raise BadRecordError("too_long", f"{what}: a text value of {longest} characters > max {limit}")

    def text(self, value: object, what: str, limit: int | None = None) -> None:
        """One value: at most ``limit`` (default ``max_value_chars``) characters when it is text."""
        limit = self.limits.max_value_chars if limit is None else limit
        if type(value) is str and len(value) > limit and not self.short_texts:
            raise BadRecordError("too_long", f"{what}: a text value of {len(value)} characters > max {limit}")

    # -- time

    def timestamp(self, value: float, what: str = "timestamp") -> None:
        """One epoch-millisecond value (int or float, compared before truncation)."""
        if not self.min_ts <= value <= self.max_ts:
            raise BadRecordError("bad_timestamp", self._out_of_range(value, what))

    def timestamps(self, values: NDArray[np.float64] | NDArray[np.int64], what: str = "timestamp") -> None:
        """Epoch-millisecond values (any real dtype), compared before truncation."""
        if values.size and not (self.min_ts <= values.min() and values.max() <= self.max_ts):  # False for NaN
            bad = values[(values < self.min_ts) | (values > self.max_ts) | np.isnan(values)]
            first = bad[0] if bad.size else values[0]
            raise BadRecordError("bad_timestamp", self._out_of_range(first.item(), what))

    def _out_of_range(self, value: float, what: str) -> str:
        if value != value:  # NaN
            return f"{what} is NaN"
        if value < self.min_ts:
            return f"{what} {value} is before {self.min_ts} (epoch milliseconds)"
        if value > self.limits.max_timestamp_ms:
            return (f"{what} {value} is after {self.limits.max_timestamp_ms} ms (the year 3000 by default): "
                    "microseconds or nanoseconds sent as milliseconds?")
        return f"{what} {value} is more than {self.limits.max_future_ms} ms ahead of now ({self.now_ms})"


DEFAULT_CHECKS: Final[Checks] = Checks.of(DEFAULT_LIMITS)


def _length(value: object) -> int:
    return len(value) if isinstance(value, str) else 0
