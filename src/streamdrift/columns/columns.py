"""Records to per-feature numpy columns: a numeric value and a :class:`Kind` per row.

Classification rules (see docs/profiles.md):

- Python values (from orjson / dicts): ``None`` and NaN are MISSING (orjson cannot even hold NaN); ``bool`` is
  BOOLEAN (checked before ``int``: bool is a subclass of int) with the string form ``"true"``/``"false"``; a
  finite number equal to its floor is INTEGRAL (so JSON ``1.0`` counts as integral), other finite numbers are
  FRACTIONAL, +/-inf is NONFINITE; ``str`` is STRING (JSON strings are not parsed as numbers); any other
  object (list, dict, ...) is STRING with its ``str()`` form.
- Text (CSV cells, arrow string arrays): Deequ / SageMaker-like regexes, vectorized with ``pyarrow.compute``:
  Integral ``^\\s*[-+]?\\d+\\s*$``, Fractional ``^\\s*[-+]?(\\d+\\.\\d*|\\.\\d+|\\d+)([eE][-+]?\\d+)?\\s*$`` (so
  ``"1.0"`` stays FRACTIONAL in text), Boolean ``true``/``false`` (any case), empty / blank / null and ``nan``
  are MISSING, ``inf``/``-inf``/``infinity`` are NONFINITE, anything else is STRING. Numbers are parsed with an
  arrow cast on the matching rows only.
- Typed arrow arrays: integers INTEGRAL, floats as Python numbers, booleans BOOLEAN, nulls MISSING, other types
  (dates, ...) STRING via their arrow string cast.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import BadRecordError

if TYPE_CHECKING:
    import pyarrow as pa



class Kind(IntEnum):
    MISSING = 0
    INTEGRAL = 1
    FRACTIONAL = 2
    STRING = 3
    BOOLEAN = 4
    NONFINITE = 5


N_KINDS: Final[int] = len(Kind)
_FAST_TYPES: Final[frozenset[type]] = frozenset({float, int, type(None)})
_TEXT_TYPES: Final[frozenset[type]] = frozenset({str, type(None)})
INTEGRAL_PATTERN: Final[str] = r"^\s*[-+]?\d+\s*$"
FRACTIONAL_PATTERN: Final[str] = r"^\s*[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?\s*$"
BOOLEAN_PATTERN: Final[str] = r"^\s*(true|false)\s*$"
INFINITY_PATTERN: Final[str] = r"^\s*[-+]?(inf|infinity)\s*$"
NAN_PATTERN: Final[str] = r"^\s*[-+]?nan\s*$"
#: Text columns at least this long are dictionary-encoded first when at most half their cells are distinct.
_DICTIONARY_MIN_ROWS: Final[int] = 1024


@dataclass(frozen=True, slots=True)
class Categories:
    """A text column's rows as codes into its distinct values (an Arrow dictionary column): ``codes[i]`` is the
    index in ``values`` of row i's text, -1 where the row has none. Counting is then a ``bincount``."""

    codes: NDArray[np.intp]
    values: NDArray[np.object_]

    def counts(self) -> tuple[list[str], NDArray[np.int64]]:
        """The distinct texts present (in the order of ``values``) and their row counts."""
        present = self.codes[self.codes >= 0]
        counts = np.bincount(present, minlength=self.values.size).astype(np.int64)
        seen = np.flatnonzero(counts)
        return self.values[seen].tolist(), counts[seen]

    def take(self, rows: NDArray[np.intp] | slice) -> Categories:
        return Categories(self.codes[rows], self.values)


@dataclass(frozen=True, slots=True)
class Column:
    """One feature of a batch.

    ``numbers``: the numeric value, NaN where the row is not a finite number. ``kinds``: :class:`Kind` per row.
    ``strings``: the str form of STRING and BOOLEAN rows (``"true"``/``"false"``), None elsewhere; the whole
    field is None when the column has no such row (the fast numeric path). ``categories``: the same texts as
    codes, when the reader had them (only STRING rows; then every STRING row has its code): a profile counts
    them without hashing a string.
    """

    numbers: NDArray[np.float64]
    kinds: NDArray[np.uint8]
    strings: NDArray[np.object_] | None = None
    categories: Categories | None = None

    def __len__(self) -> int:
        return int(self.kinds.size)

    @classmethod
    def missing(cls, n_rows: int) -> Column:
        """A column of ``n_rows`` MISSING rows."""
        return cls(np.full(n_rows, np.nan), np.zeros(n_rows, dtype=np.uint8), None)

    def kind_counts(self) -> NDArray[np.int64]:
        """Rows per :class:`Kind` (length ``N_KINDS``)."""
        return np.bincount(self.kinds, minlength=N_KINDS).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Columns:
    n_rows: int
    columns: Mapping[str, Column]


# --------------------------------------------------------------------------------------------- numbers


def object_array(values: Sequence[object]) -> NDArray[np.object_]:
    """``values`` as a 1-D object array (``np.array`` would nest sequences and guess other dtypes)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def text_column(strings: NDArray[np.object_], has_missing: bool) -> Column:
    """A column of JSON strings and nulls (``strings``: str, or None where missing): STRING rows, MISSING rows."""
    n = len(strings)
    if not has_missing:  # the common case
        return Column(np.full(n, np.nan), np.full(n, Kind.STRING, dtype=np.uint8), strings)
    missing = np.equal(strings, np.full(1, None, dtype=object))
    kinds = np.where(missing, np.uint8(Kind.MISSING), np.uint8(Kind.STRING)).astype(np.uint8)
    return Column(np.full(n, np.nan), kinds, None if missing.all() else strings)


def classify_numbers(numbers: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    """Kinds of float values (NaN MISSING, inf NONFINITE, integral-valued INTEGRAL, else FRACTIONAL).

    Returns the numbers with non-finite values replaced by NaN, and the kinds.
    """
    finite = np.isfinite(numbers)
    if finite.all():  # the common case: INTEGRAL (1) where integral-valued, else FRACTIONAL (2)
        return numbers, (numbers != np.floor(numbers)).view(np.uint8) + np.uint8(Kind.INTEGRAL)
    kinds = np.full(numbers.shape, Kind.FRACTIONAL, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        kinds[finite & (numbers == np.floor(numbers))] = Kind.INTEGRAL
    kinds[np.isnan(numbers)] = Kind.MISSING
    kinds[np.isinf(numbers)] = Kind.NONFINITE
    return np.where(finite, numbers, np.nan), kinds


def column_from_values(values: Sequence[object]) -> Column:
    """Classify Python scalars (vectorized when the values are only float / int / None, or only str / None)."""
    types = set(map(type, values))
    if types <= _FAST_TYPES:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            return _column_from_mixed(values)
        numbers, kinds = classify_numbers(arr.reshape(-1))
        return Column(numbers, kinds, None)
    if types <= _TEXT_TYPES:
        return text_column(object_array(values), has_missing=True)
    return _column_from_mixed(values)


def _classify_one(value: object) -> tuple[float, int, str | None]:
    if value is None:
        return np.nan, Kind.MISSING, None
    if isinstance(value, bool | np.bool_):
        return np.nan, Kind.BOOLEAN, "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            x = float(value)
        except OverflowError:
            return np.nan, Kind.NONFINITE, None
        if x != x:
            return np.nan, Kind.MISSING, None
        if x in (np.inf, -np.inf):
            return np.nan, Kind.NONFINITE, None
        return x, Kind.INTEGRAL if x == np.floor(x) else Kind.FRACTIONAL, None
    return np.nan, Kind.STRING, value if isinstance(value, str) else str(value)


def _column_from_mixed(values: Sequence[object]) -> Column:
    """Per-value path for columns holding strings, booleans or other objects."""
    n = len(values)
    numbers = np.empty(n, dtype=np.float64)
    kinds = np.empty(n, dtype=np.uint8)
    strings = np.empty(n, dtype=object)
    for i, (x, kind, text) in enumerate(map(_classify_one, values)):
        numbers[i] = x
        kinds[i] = kind
        strings[i] = text
    has_text = bool(np.any((kinds == Kind.STRING) | (kinds == Kind.BOOLEAN)))
    return Column(numbers, kinds, strings if has_text else None)


# --------------------------------------------------------------------------------------------- arrow


def column_from_arrow(array: pa.Array | pa.ChunkedArray) -> Column:
    """Classify an arrow array: typed (numbers, booleans) or text (CSV cells, parsed with regexes)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    arr = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_dictionary(arr.type):
        values = arr.dictionary
        if pa.types.is_string_view(values.type):  # polars categoricals: no take kernel for string_view
            arr = pa.DictionaryArray.from_arrays(arr.indices, pc.cast(values, pa.string()))
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_null(t):
        return Column.missing(len(arr))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        numbers = pc.fill_null(pc.cast(arr, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        nums, kinds = classify_numbers(np.asarray(numbers, dtype=np.float64))
        return Column(nums, kinds, None)
    if pa.types.is_boolean(t):
        return _column_from_arrow_bool(arr)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = pc.cast(arr, pa.string())
    elif not pa.types.is_string(t):
        try:
            arr = pc.cast(arr, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise BadRecordError("unsupported_type", f"cannot read an arrow column of type {t}") from exc
    return _column_from_text(arr)


def _column_from_arrow_bool(arr: pa.Array) -> Column:
    import pyarrow.compute as pc
    n = len(arr)
    valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    truth = np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)
    kinds = np.where(valid, np.uint8(Kind.BOOLEAN), np.uint8(Kind.MISSING)).astype(np.uint8)
    strings = np.where(truth, "true", "false").astype(object)
    strings[~valid] = None
    return Column(np.full(n, np.nan), kinds, strings if valid.any() else None)


def _mask(arr: pa.Array, pattern: str, ignore_case: bool = False, rows: NDArray[np.intp] | None = None
          ) -> NDArray[np.bool_]:
    """Regex hits per row; with ``rows``, the regex runs on those rows only (others are False)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if rows is None:
        hits = pc.fill_null(pc.match_substring_regex(arr, pattern, ignore_case=ignore_case), False)
        return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)
    out = np.zeros(len(arr), dtype=bool)
    if rows.size:
        out[rows] = _mask(arr.take(pa.array(rows)), pattern, ignore_case)
    return out


def _column_from_text(arr: pa.Array) -> Column:
    """Text cells; low-cardinality columns are classified once per distinct value (dictionary encoding)."""
    import pyarrow.compute as pc
    if len(arr) >= _DICTIONARY_MIN_ROWS:
        encoded = pc.dictionary_encode(arr)
        n_distinct = len(encoded.dictionary)
        if n_distinct * 2 <= len(arr):
            per_value = _classify_text(encoded.dictionary)
            idx = np.asarray(pc.fill_null(encoded.indices, n_distinct).to_numpy(zero_copy_only=False), dtype=np.intp)
            kinds = np.append(per_value.kinds, np.uint8(Kind.MISSING))[idx]
            numbers = np.append(per_value.numbers, np.nan)[idx]
            if per_value.strings is None:
                return Column(numbers, kinds, None)
            strings = np.append(per_value.strings, np.array([None], dtype=object))[idx]
            return Column(numbers, kinds, strings if _has_text(kinds) else None)
    return _classify_text(arr)


def _has_text(kinds: NDArray[np.uint8]) -> bool:
    return bool(np.any((kinds == Kind.STRING) | (kinds == Kind.BOOLEAN)))


def _classify_text(arr: pa.Array) -> Column:
    import pyarrow as pa
    import pyarrow.compute as pc
    n = len(arr)
    trimmed = pc.utf8_trim_whitespace(arr)
    blank = np.asarray(pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    # Cheap anchored prefilters, so the full patterns only run on rows that can match.
    numeric_like = np.flatnonzero(_mask(arr, r"^\s*[-+.\d]"))
    word_like = np.flatnonzero(_mask(arr, r"^\s*[-+]?[tfinTFIN]\w{0,7}\s*$"))
    is_int = _mask(arr, INTEGRAL_PATTERN, rows=numeric_like)
    is_num = _mask(arr, FRACTIONAL_PATTERN, rows=numeric_like)
    is_bool = _mask(arr, BOOLEAN_PATTERN, ignore_case=True, rows=word_like)
    is_inf = _mask(arr, INFINITY_PATTERN, ignore_case=True, rows=word_like)
    is_nan = _mask(arr, NAN_PATTERN, ignore_case=True, rows=word_like)
    kinds = np.full(n, Kind.STRING, dtype=np.uint8)
    kinds[is_num] = Kind.FRACTIONAL
    kinds[is_int] = Kind.INTEGRAL
    kinds[is_bool] = Kind.BOOLEAN
    kinds[is_inf] = Kind.NONFINITE
    kinds[blank | is_nan] = Kind.MISSING
    numbers = np.full(n, np.nan)
    if is_num.any():
        idx = np.flatnonzero(is_num)
        parsed = pc.cast(trimmed.take(pa.array(idx)), pa.float64()).to_numpy(zero_copy_only=False)
        numbers[idx] = parsed
        overflow = idx[~np.isfinite(numbers[idx])]  # e.g. "1e999": a number too large for a double
        kinds[overflow] = Kind.NONFINITE
        numbers[overflow] = np.nan
    text_rows = (kinds == Kind.STRING) | (kinds == Kind.BOOLEAN)
    if not text_rows.any():
        return Column(numbers, kinds, None)
    strings = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    strings[~text_rows] = None
    if is_bool.any():
        lowered = np.asarray(pc.utf8_lower(trimmed).to_numpy(zero_copy_only=False), dtype=object)
        strings[is_bool] = lowered[is_bool]
    return Column(numbers, kinds, strings)


# --------------------------------------------------------------------------------------------- batches


def _column_names(rows: Sequence[Mapping[str, object]]) -> list[str]:
    return list(dict.fromkeys(itertools.chain.from_iterable(rows)))


def _values_of(rows: Sequence[Mapping[str, object]], name: str) -> list[object]:
    try:
        return list(map(itemgetter(name), rows))
    except KeyError:  # some row lacks the feature: slower path, absent = None = MISSING
        return [row.get(name) for row in rows]


def columns_from_rows(rows: Sequence[Mapping[str, object]], names: Sequence[str] | None = None) -> Columns:
    """Flat dicts (one per record) to columns. ``names`` defaults to every key seen, in first-seen order.

    A feature absent from a row is MISSING. Wrap large batches in :func:`paused_gc` for about 25% more speed.
    """
    wanted = _column_names(rows) if names is None else list(names)
    if not rows or not wanted:
        return Columns(len(rows), {name: Column.missing(len(rows)) for name in wanted})
    return Columns(len(rows), {name: column_from_values(_values_of(rows, name)) for name in wanted})


def columns_from_arrow(batch: pa.RecordBatch | pa.Table) -> Columns:
    """Every column of an arrow record batch or table."""
    return Columns(batch.num_rows, {name: column_from_arrow(batch.column(name)) for name in batch.schema.names})


def take(columns: Columns, index: NDArray[np.intp]) -> Columns:
    """The rows at ``index`` (e.g. one model's or one window's records) of every column."""
    idx = np.asarray(index, dtype=np.intp)
    return Columns(int(idx.size), {name: take_column(col, idx) for name, col in columns.columns.items()})


def take_column(column: Column, index: NDArray[np.intp] | slice) -> Column:
    kinds = column.kinds[index]
    if column.strings is None or not np.any((kinds == Kind.STRING) | (kinds == Kind.BOOLEAN)):
        return Column(column.numbers[index], kinds)
    categories = None if column.categories is None else column.categories.take(index)
    return Column(column.numbers[index], kinds, column.strings[index], categories)


class _GcPause:
    """The collector's pauses across threads: the first pause (of any thread) disables it, the last one ends
    and restores the state found by the first. (A per-call isenabled()/disable()/enable() races when two threads
    pause at once: one can see the other's pause as "disabled", and the collector stays off for good.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE: Final[_GcPause] = _GcPause()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around building a large batch (restores the previous state when the
    last concurrent pause ends; safe from several threads)."""
    _GC_PAUSE.enter()
    try:
        yield
    finally:
        _GC_PAUSE.exit()
