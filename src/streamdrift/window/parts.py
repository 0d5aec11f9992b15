"""Deltas too large for one Kafka message: split by features into parts, and put back together by the merge.

A model with thousands of features (or one record naming tens of thousands) makes a ``partials`` delta larger
than the topic's ``max.message.bytes``; Kafka refuses it (``MSG_SIZE_TOO_LARGE``) and the data plane's
transaction could never commit. :func:`split_delta` cuts such a delta into ``count`` parts, each encoded under
the limit:

* every part has the delta's id ``(source topic, partition, end offset)`` plus its part header
  ``(index, count)`` (:attr:`PartialDelta.part`, an optional field of the message header);
* every part's profile has the delta's full ``n_records`` and a disjoint, contiguous range of its features in
  name order (so each feature keeps ``present + missing == n_records``), with their categorical domains;
* part 0 carries the extras (the other monitors' states) and any domain of a feature without a profile.

A single feature (or part 0's extras) larger than the limit on its own cannot be cut: it goes alone into its
part, which is then over the limit (the caller reports it): ``max_message_bytes`` must exceed the largest
single feature. Measured at the window params ``ProfileParams(kll_k=1000)`` (benchmarks/bench_partials.py): a
numeric feature encodes to 400 bytes (1 value), 8.4 KB (1,000 values, kept exactly), 17 KB (10,000) and 24 KB
(1,000,000); a categorical one to at most about ``0.75 * 2**frequent_lg_max_k`` items of its values' length plus
the HLL sketch (16 KB with 8-byte values, 58 KB with 100-byte values at ``lg_max_k=10``). 1 MiB is enough unless
category values are longer than about 1.3 KB (768 of them fill 1 MiB) or ``lg_max_k >= 16``.

Kafka limits record batches, not values: the budget of a value is the limit less the key and
:data:`KAFKA_RECORD_OVERHEAD` (:func:`value_budget`), and the producer's ``batch.size`` must not exceed the limit
(librdkafka's default, 1,000,000 bytes, is under 1 MiB) or it may put several parts in one batch over it.

The merge (:class:`~streamdrift.window.accumulator.WindowAccumulator`) keeps the parts of a delta id in its
extras under the reserved name :data:`PARTS_EXTRA` (as :func:`stored_part` blobs, so a control plane restarted
between parts completes the delta from its table) until all ``count`` arrived, then :func:`combine` gives the
unsplit delta back (the same features, profiles and extras, merged like any other delta).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import orjson

from streamdrift.errors import ConfigError, CorruptBlobError
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.partials import PartialDelta, decode_partial, encode_partial

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "KAFKA_RECORD_OVERHEAD", "MIN_MESSAGE_BYTES", "PARTS_EXTRA", "DeltaId",
           "PartKey", "combine", "part_key", "split_delta", "stored_part", "value_budget"]

#: Kafka's broker default ``message.max.bytes`` (1 MiB): the limit when none is configured.
DEFAULT_MAX_MESSAGE_BYTES: Final[int] = 1 << 20
#: Bytes of a Kafka record batch around one value (batch header 61, record header and varints, the key is
#: counted apart): the value budget is the message limit minus this and the key.
KAFKA_RECORD_OVERHEAD: Final[int] = 512
MIN_MESSAGE_BYTES: Final[int] = 4096
#: The accumulator's extras name for parts of deltas not yet complete (no monitor has a name with a ``#``).
PARTS_EXTRA: Final[str] = "#parts"

DeltaId = tuple[str, int, int]
PartKey = tuple[DeltaId, int, int]  # (delta id, index, count)

_U32: Final[struct.Struct] = struct.Struct(">I")
_CHUNK_PREFIX: Final[int] = 4  # the length prefix of each feature's chunk in a profile blob
_HEADER_SLACK: Final[int] = 64  # more digits in the part header than the estimate's "part":[1,2]


def value_budget(max_message_bytes: int, key: bytes | None) -> int:
    """The largest encoded ``partials`` value that fits a Kafka message of ``max_message_bytes`` with ``key``."""
    if max_message_bytes < MIN_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes must be >= {MIN_MESSAGE_BYTES}, not {max_message_bytes}")
    return max_message_bytes - KAFKA_RECORD_OVERHEAD - (len(key) if key else 0)


# --------------------------------------------------------------------------------------------- split


def split_delta(delta: PartialDelta, max_bytes: int, blob: bytes | None = None) -> list[tuple[PartialDelta, bytes]]:
    """``delta`` (whose encoding is ``blob`` when given) as parts encoded in at most ``max_bytes`` each, with
    their encodings: ``[(delta, blob)]`` when it fits. A part that holds one feature (or only part 0's extras)
    may still exceed ``max_bytes``: nothing smaller can be cut (see the module docstring)."""
    if blob is None:
        blob = encode_partial(delta)
    if len(blob) <= max_bytes or delta.part is not None:
        return [(delta, blob)]
    profile = delta.profile
    names = sorted(profile.features)
    costs = [_feature_cost(profile, name) for name in names]
    extras_cost = sum(len(orjson.dumps([name, len(b)])) + len(b) + 1 for name, b in delta.extras.items())
    extras_cost += sum(len(orjson.dumps({n: sorted(d)})) for n, d in profile.domains.items()  # part 0's too
                       if n not in profile.features)
    budget = max_bytes - len(encode_partial(_part_of(delta, [], 1, 2, extras=False))) - _HEADER_SLACK
    while True:
        groups = _pack(costs, budget, extras_cost)
        if len(groups) == 1:  # one feature, or only extras: nothing to cut
            return [(delta, blob)]
        parts = [_part_of(delta, names[a:b], i, len(groups), extras=i == 0) for i, (a, b) in enumerate(groups)]
        out = [(part, encode_partial(part)) for part in parts]
        if all(len(b) <= max_bytes or hi - lo <= 1 for (_, b), (lo, hi) in zip(out, groups, strict=True)):
            return out
        budget = budget * 7 // 8  # the estimate fell short (it never has): pack tighter, down to one a part


def _feature_cost(profile: DatasetProfile, name: str) -> int:
    """Bytes feature ``name`` adds to an encoded profile: its blob, chunk prefix, name (and domain) in the head."""
    quoted = len(orjson.dumps(name)) + 1
    cost = len(profile.features[name].to_bytes(nested=True)) + _CHUNK_PREFIX + quoted
    domain = profile.domains.get(name)
    if domain is not None:
        cost += quoted + len(orjson.dumps(sorted(domain))) + 1
    return cost


def _pack(costs: Sequence[int], budget: int, first: int) -> list[tuple[int, int]]:
    """Contiguous ranges of ``costs`` summing to at most ``budget`` each (the first starts at ``first``: the
    extras); a cost over the budget alone gets a range of its own."""
    groups: list[tuple[int, int]] = []
    start, used = 0, first
    for i, cost in enumerate(costs):
        if used + cost > budget and (i > start or used > 0):
            groups.append((start, i))
            start, used = i, 0
        used += cost
    groups.append((start, len(costs)))
    return groups


def _part_of(delta: PartialDelta, names: Sequence[str], index: int, count: int, *, extras: bool) -> PartialDelta:
    """Part ``index`` of ``count``: the features ``names`` (shared, not copied) and the delta's ``n_records``."""
    src = delta.profile
    wanted = set(names)
    domains = {n: d for n, d in src.domains.items() if n in wanted or (index == 0 and n not in src.features)}
    profile = DatasetProfile.empty(src.params, None, domains)
    profile.n_records = src.n_records
    for name in names:
        profile.features[name] = src.features[name]
    return dataclasses.replace(delta, profile=profile, extras=delta.extras if extras else MappingProxyType({}),
                               part=(index, count))


# --------------------------------------------------------------------------------------------- reassembly


def stored_part(part: PartialDelta) -> bytes:
    """How the accumulator keeps a part until its delta is complete: its key (JSON) then the encoded part."""
    if part.part is None:
        raise CorruptBlobError("stored_part of a delta that is not a part")
    head = orjson.dumps([*part.delta_id, *part.part])
    return b"".join([_U32.pack(len(head)), head, encode_partial(part)])


def part_key(stored: bytes) -> PartKey:
    """The (delta id, index, count) of a :func:`stored_part` blob (reads only its head)."""
    try:
        (n,) = _U32.unpack_from(stored)
        topic, partition, offset, index, count = orjson.loads(stored[_U32.size : _U32.size + n])
    except (struct.error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise CorruptBlobError(f"stored delta part is malformed: {exc!r}") from None
    if not (isinstance(topic, str) and all(type(v) is int for v in (partition, offset, index, count))):
        raise CorruptBlobError("stored delta part has a malformed key")
    return (topic, partition, offset), index, count


def stored_delta(stored: bytes) -> PartialDelta:
    """The part in a :func:`stored_part` blob."""
    (n,) = _U32.unpack_from(stored)
    part = decode_partial(stored[_U32.size + n :])
    if not isinstance(part, PartialDelta) or part.part is None:
        raise CorruptBlobError("stored delta part is not a part of a delta")
    return part


def combine(parts: Sequence[PartialDelta]) -> PartialDelta:
    """The whole delta of all its parts (any order): part 0 with the other parts' features. Parts that do not
    belong together (ids, windows, counts, record counts or params differ, features overlap, one missing) raise
    :class:`CorruptBlobError`."""
    ordered = sorted(parts, key=_index)
    first = ordered[0]
    count = _count(first)
    if [_index(p) for p in ordered] != list(range(count)):
        raise CorruptBlobError(f"delta {first.delta_id} has parts {[p.part for p in ordered]}, expected {count}")
    src = first.profile
    domains: dict[str, frozenset[str]] = {}
    for p in ordered:
        same = (p.model_id, p.window_start_ms, p.window_end_ms, p.delta_id, p.stage, _count(p), p.n_records,
                p.profile.n_records, p.profile.params) == (
            first.model_id, first.window_start_ms, first.window_end_ms, first.delta_id, first.stage, count,
            first.n_records, src.n_records, src.params)  # fmt: skip
        if not same:
            raise CorruptBlobError(f"part {p.part} of delta {first.delta_id} does not match part 0")
        domains.update(p.profile.domains)
    profile = DatasetProfile.empty(src.params, None, domains)
    profile.n_records = src.n_records
    features = profile.features
    for p in ordered:
        if not features.keys().isdisjoint(p.profile.features):
            raise CorruptBlobError(f"parts of delta {first.delta_id} repeat features")
        features.update(p.profile.features)
    return dataclasses.replace(first, profile=profile, part=None)


def _index(part: PartialDelta) -> int:
    return part.part[0] if part.part is not None else 0


def _count(part: PartialDelta) -> int:
    return part.part[1] if part.part is not None else 1


def pending_ids(stored: Mapping[str, list[bytes]]) -> set[DeltaId]:
    """Ids of deltas with parts waiting in an accumulator's extras."""
    return {part_key(blob)[0] for blob in stored.get(PARTS_EXTRA, ())}
