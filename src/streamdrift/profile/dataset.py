"""Profiles of every feature of a stream of records (blob kind DATASET_PROFILE)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Self

import orjson

from streamdrift.columns.columns import Columns, paused_gc
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import BadRecordError, CorruptBlobError, MergeError, SerializationError
from streamdrift.profile.envelope import BlobKind, unpack_envelope
from streamdrift.profile.feature import FeatureProfile, finite_block
from streamdrift.profile.payload import (
    DEFAULT_PARAMS,
    MAX_COUNT,
    PayloadReader,
    ProfileParams,
    chunked,
    profile_blob,
)

Schema = Mapping[str, FeatureType]


class DatasetProfile:
    """Profiles of every feature of a stream of records (mergeable; see the module docstring)."""

    __slots__ = ("domains", "features", "n_records", "params")

    def __init__(self, params: ProfileParams = DEFAULT_PARAMS,
                 schema: Schema | None = None, domains: Mapping[str, Iterable[str]] | None = None) -> None:
        self.params = params
        self.n_records = 0
        self.domains: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (domains or {}).items()}
        self.features: dict[str, FeatureProfile] = {}
        for name, ftype in (schema or {}).items():
            self.features[name] = FeatureProfile(params, FeatureType(ftype), self.domains.get(name))

    @classmethod
    def empty(cls, params: ProfileParams = DEFAULT_PARAMS,
              schema: Schema | None = None, domains: Mapping[str, Iterable[str]] | None = None) -> Self:
        """An empty profile; ``schema`` declares feature types (String/Boolean => categorical), ``domains``
        known categorical domains (counted in ``out_of_domain``)."""
        return cls(params, schema, domains)

    @property
    def is_empty(self) -> bool:
        return self.n_records == 0

    def declared_schema(self) -> dict[str, FeatureType]:
        return {n: f.declared for n, f in self.features.items() if f.declared is not None}

    def schema(self) -> dict[str, FeatureType]:
        """Feature names and their inferred types."""
        return {name: fp.inferred_type for name, fp in self.features.items()}

    def _new_feature(self, name: str) -> FeatureProfile:
        fp = FeatureProfile(self.params, None, self.domains.get(name))
        if self.n_records:
            fp.add_missing(self.n_records)
        self.features[name] = fp
        return fp

    def update(self, columns: Columns) -> None:
        """Add a batch; features absent from it count as missing for its ``n_rows`` records."""
        for name, col in columns.columns.items():
            if len(col) != columns.n_rows:
                raise BadRecordError("column_length", f"column {name!r} has {len(col)} rows, batch {columns.n_rows}")
        done = self._update_finite_block(columns)
        for name, col in columns.columns.items():
            if name not in done:
                fp = self.features.get(name) or self._new_feature(name)
                fp.update(col)
        for name, fp in self.features.items():
            if name not in columns.columns:
                fp.add_missing(columns.n_rows)
        self.n_records += columns.n_rows

    def _update_finite_block(self, columns: Columns) -> frozenset[str]:
        """Columns in which every row is a finite number (the common case), added together: their moments come
        from a few 2-D numpy reductions instead of several per column. Returns their names."""
        names = [name for name, col in columns.columns.items() if col.strings is None and not self._declared_text(name)]
        block = finite_block([columns.columns[n] for n in names]) if len(names) > 1 else None
        if block is None:
            return frozenset()
        done = [names[i] for i in block.rows]
        for i, name in enumerate(done):
            fp = self.features.get(name) or self._new_feature(name)
            fp.add_finite_row(block, i)
        return frozenset(done)

    def _declared_text(self, name: str) -> bool:
        fp = self.features.get(name)
        return fp is not None and fp.declared is not None and fp.declared.is_categorical

    def merge(self, other: DatasetProfile) -> Self:
        """Merge ``other`` into this profile (in place) and return self."""
        if not isinstance(other, DatasetProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a DatasetProfile")
        self._check_mergeable(other)
        self._merge(other, other.features.keys() - self.features.keys())
        return self

    def merge_capped(self, other: DatasetProfile, max_features: int, reserved: AbstractSet[str] = frozenset()) -> int:
        """Merge ``other`` while this profile holds at most ``max_features`` features (or the ones it has): its
        names, then ``reserved`` ones (a baseline's), then the rest in name order while there is room. Returns
        how many of ``other``'s features were left out (their values are not merged: they count as missing)."""
        if not isinstance(other, DatasetProfile):
            raise MergeError(f"cannot merge {type(other).__name__} into a DatasetProfile")
        new = other.features.keys() - self.features.keys()
        room = max(max_features - len(self.features), 0)
        if len(new) <= room:
            self.merge(other)
            return 0
        self._check_mergeable(other)
        self._merge(other, (sorted(new & reserved) + sorted(new - reserved))[:room])
        return len(new) - room

    def _check_mergeable(self, other: DatasetProfile) -> None:
        if other.params != self.params:
            raise MergeError(f"cannot merge profiles with params {self.params} vs {other.params}")
        for name in self.domains.keys() & other.domains.keys():
            if self.domains[name] != other.domains[name]:
                raise MergeError(f"cannot merge profiles with different domains for feature {name!r}")

    def _merge(self, other: DatasetProfile, new: Iterable[str]) -> None:
        """Add the ``new`` names, merge ``other``'s features of those this profile has, count its records."""
        source = other.copy() if other is self else other
        for name in new:
            if name in source.domains:
                self.domains[name] = source.domains[name]
            self._new_feature(name)
        for name, fp in self.features.items():
            if name in source.features:
                fp.merge(source.features[name])
            else:
                fp.add_missing(source.n_records)
        self.n_records += source.n_records

    def reset(self) -> None:
        self.__init__(self.params, self.declared_schema(), self.domains)  # type: ignore[misc]

    def copy(self) -> DatasetProfile:
        return DatasetProfile.from_bytes(self.to_bytes())

    def to_bytes(self, *, nested: bool = False) -> bytes:
        """Format 2 (as 1, with nested feature blobs). ``nested``: without a CRC of its own, for a caller that
        wraps it in its own checksummed message (read it back with ``from_bytes(..., nested=True)``)."""
        names = sorted(self.features)
        head = orjson.dumps({"n_records": self.n_records, "features": names,
                             "domains": {k: sorted(v) for k, v in sorted(self.domains.items())}})
        with paused_gc():  # a few hundred short-lived lists, no cycles
            payload = chunked([head], *(self.features[n]._parts() for n in names))
            return profile_blob(BlobKind.DATASET_PROFILE, self.params.as_tuple(), payload, nested)

    @classmethod
    def from_bytes(cls, blob: bytes, params: ProfileParams | None = None, *, nested: bool = False) -> Self:
        """``nested``: the blob comes from a message whose own checksum was verified (no CRC of its own)."""
        expected = None if params is None else params.as_tuple()
        env = unpack_envelope(blob, BlobKind.DATASET_PROFILE, expected, nested=nested)
        p = ProfileParams(*env.params)
        r = PayloadReader(env.payload, "dataset profile")
        n_records, names, domains = _decode_head(r.chunk())
        out = cls(p, None, domains)
        out.n_records = n_records
        for name in names:
            try:
                fp = FeatureProfile.from_bytes(r.chunk(), params=p, nested=True)
            except SerializationError as exc:  # the same error, naming the feature
                raise type(exc)(f"feature {name!r}: {exc}") from exc
            if fp.n_records != n_records:
                raise CorruptBlobError(f"feature {name!r} covers {fp.n_records} records, profile {n_records}")
            out.features[name] = fp
        r.finish()
        return out

    def __repr__(self) -> str:
        return f"DatasetProfile(n_records={self.n_records}, features={len(self.features)})"


def _decode_head(raw: bytes) -> tuple[int, list[str], dict[str, list[str]]]:
    try:
        head = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptBlobError(f"dataset profile header is not valid JSON: {exc}") from exc
    ok = (isinstance(head, dict) and isinstance(head.get("n_records"), int) and 0 <= head["n_records"] <= MAX_COUNT
          and isinstance(head.get("features"), list) and all(isinstance(n, str) for n in head["features"])
          and len(set(head["features"])) == len(head["features"]) and isinstance(head.get("domains"), dict)
          and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in head["domains"].values()))
    if not ok:
        raise CorruptBlobError("dataset profile header lacks n_records / features / domains (or they are malformed)")
    return int(head["n_records"]), list(head["features"]), dict(head["domains"])
