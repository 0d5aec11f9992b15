"""Column roles of a baseline: which input columns are features and why the others are not.

Roles (``ColumnRole.role``):

- ``feature``: profiled and drift-tested. Recorded only when declared (``--feature``: kept a feature whatever it
  looks like); other features are simply the profile's features.
- ``timestamp``: the event-time column. Declared (``--timestamp-column``; the readers then take it out of the
  features) or detected: the first column whose values are ISO-8601 date-times or epoch times
  (:func:`~streamdrift.columns.typeinference.value_shape`). A detected one is **not profiled** (a time column moves
  forward window after window: tested as a feature it would always drift) and is the suggested timestamp
  (:attr:`streamdrift.baseline.document.Baseline.timestamp_column`).
- ``time``: another detected time column: not profiled either.
- ``id``: declared (``--id-column``, the row id: not profiled) or identifier-like. Identifier-like columns stay in
  the profile (their completeness and type are still checked) but are not drift-tested: their constraint's
  ``skip_drift`` holds the reason. A String column is identifier-like when its values are UUIDs, or when its
  distinct count (HLL estimate over the whole input) is at least :data:`ID_DISTINCT_SHARE` (90%) of its present
  rows and it has at least :data:`MIN_ID_ROWS` of them; an integer column when its values do not repeat although
  random values of their range would (``sequential_id`` shape). A categorical with many values that repeat (a
  54-value state, a 4,838-value zip code in 23k rows) is not identifier-like: it stays a tested feature.
- ``excluded``: declared with ``--exclude``: not read.

Shapes are read from the first chunk in which a column has values (see :class:`RoleDetector`; the counts in an
integer id's reason are that chunk's), distinct counts of String columns over the whole input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from streamdrift.columns.columns import Columns
from streamdrift.columns.typeinference import FeatureType, ValueShape, value_shape
from streamdrift.errors import BaselineError, ConfigError
from streamdrift.profile.profiles import DatasetProfile, FeatureProfile

__all__ = ["ID_DISTINCT_SHARE", "MIN_ID_ROWS", "ROLES", "ColumnRole", "Role", "RoleDetector", "RoleOptions",
           "identifier_reason"]

Role = Literal["feature", "timestamp", "time", "id", "excluded"]
ROLES: Final[tuple[str, ...]] = ("feature", "timestamp", "time", "id", "excluded")
ID_DISTINCT_SHARE: Final[float] = 0.9
MIN_ID_ROWS: Final[int] = 100


@dataclass(frozen=True)
class ColumnRole:
    """A column's role and why (``detected``: found by the rules; otherwise declared by the user)."""

    role: Role
    reason: str
    detected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "reason": self.reason, "detected": self.detected}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ColumnRole:
        try:
            role = str(data["role"])
            if role not in ROLES:
                raise ValueError(f"role must be one of {ROLES}, got {role!r}")
            return cls(role=role, reason=str(data.get("reason", "")),  # type: ignore[arg-type]  # checked above
                       detected=bool(data.get("detected", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"invalid role of column {name!r}: {exc}") from exc


@dataclass(frozen=True)
class RoleOptions:
    """Declared roles (the command line's ``--timestamp-column``, ``--id-column``, ``--exclude``, ``--feature``)
    and whether the other columns' roles are detected."""

    timestamp_column: str | None = None
    id_column: str | None = None
    exclude: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    detect: bool = True

    def __post_init__(self) -> None:
        declared = [c for c in (self.timestamp_column, self.id_column) if c is not None] + list(self.exclude)
        clash = sorted(set(self.features) & set(declared))
        if clash:
            raise ConfigError(f"column(s) {clash} declared a feature and also a timestamp / id / excluded column")
        if self.timestamp_column is not None and self.timestamp_column == self.id_column:
            raise ConfigError(f"column {self.timestamp_column!r} declared both the timestamp and the id column")

    def declared(self) -> dict[str, ColumnRole]:
        out: dict[str, ColumnRole] = {name: ColumnRole("excluded", "declared with --exclude") for name in self.exclude}
        if self.timestamp_column is not None:
            out[self.timestamp_column] = ColumnRole("timestamp", "declared with --timestamp-column")
        if self.id_column is not None:
            out[self.id_column] = ColumnRole("id", "declared with --id-column")
        return out


def identifier_reason(fp: FeatureProfile) -> str | None:
    """Why a profiled String feature is identifier-like by its distinct count (module docs), None when it is not."""
    if fp.inferred_type is not FeatureType.STRING:
        return None
    present = int(fp.categorical.count)
    distinct = float(fp.categorical.distinct.estimate) if present else 0.0
    if present >= MIN_ID_ROWS and distinct >= ID_DISTINCT_SHARE * present:
        return f"identifier-like: {min(distinct, present):,.0f} distinct of {present:,} rows"
    return None


class RoleDetector:
    """Detects the roles of one build's columns: :meth:`observe` each chunk before it is profiled (it says which
    columns to keep out of the profile), :meth:`finish` with the profile."""

    def __init__(self, options: RoleOptions | None = None) -> None:
        self._options = options or RoleOptions()
        self._shapes: dict[str, ValueShape | None] = {}
        self._time: list[str] = []  # detected time columns, in the order met

    @property
    def unprofiled(self) -> frozenset[str]:
        """Columns detected so far that must not be profiled (time columns)."""
        return frozenset(self._time)

    def observe(self, cols: Columns) -> frozenset[str]:
        """Read the shapes of columns seen with values for the first time; returns :attr:`unprofiled`."""
        if not self._options.detect:
            return frozenset()
        forced = set(self._options.features)
        for name, column in cols.columns.items():
            if name in self._shapes or name in forced:
                continue
            counts = column.kind_counts()
            if int(counts.sum() - counts[0]) == 0:
                continue  # only missing values so far: decide on a later chunk
            shape = self._shapes[name] = value_shape(column)
            if shape is not None and shape.kind in ("iso_time", "epoch_time"):
                self._time.append(name)
        return self.unprofiled

    def finish(self, profile: DatasetProfile) -> dict[str, ColumnRole]:
        """Every column's non-default role: declared ones, detected time and identifier-like columns, forced
        features. Drops the profiles of time columns detected after their first (all-missing) chunks."""
        roles = self._options.declared()
        suggested = self._options.timestamp_column
        for name in self._time:
            profile.features.pop(name, None)  # profiled in chunks before its first value (all missing there)
            detail = self._shapes[name].detail  # type: ignore[union-attr]  # time columns have a shape
            if suggested is None:
                suggested = name
                roles[name] = ColumnRole("timestamp", f"{detail}; not profiled (suggested event time: pass "
                                                      f"--timestamp-column {name})", detected=True)
            else:
                roles[name] = ColumnRole("time", f"{detail}; not profiled", detected=True)
        forced = set(self._options.features)
        for name, fp in profile.features.items() if self._options.detect else ():
            if name in roles or name in forced:
                continue
            shape = self._shapes.get(name)
            reason = self._identifier(fp, shape)
            if reason is not None:
                roles[name] = ColumnRole("id", f"{reason}; not drift-tested", detected=True)
        for name in self._options.features:
            roles[name] = ColumnRole("feature", "declared with --feature")
        return dict(sorted(roles.items()))

    @staticmethod
    def _identifier(fp: FeatureProfile, shape: ValueShape | None) -> str | None:
        if shape is not None and shape.kind == "uuid":
            present = int(fp.categorical.count)
            distinct = float(fp.categorical.distinct.estimate) if present else 0.0
            return f"identifier-like: UUIDs, {min(distinct, present):,.0f} distinct of {present:,} rows"
        if shape is not None and shape.kind == "sequential_id" and fp.inferred_type is FeatureType.INTEGRAL:
            return f"identifier-like: {shape.detail}"
        return identifier_reason(fp)
