"""Tampered profile blobs and baselines: fixed-seed mutation fuzz, and the crashes it found.

Each mutation alters bytes of a serialized DatasetProfile (anywhere, or inside one nested blob: a KLL,
frequent-items or HLL sketch, a numeric / categorical / feature profile) and then recomputes the outer CRC, as a
deliberate tamperer would. The loaded profile is then used the way ``baseline show``, ``check`` and ``report``
use a baseline (summaries, quantiles, CDFs, frequencies, distinct counts, merges, serialization). Only
StreamdriftError subclasses may escape, never a native exception (nor a crash of the process).
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections import Counter
from collections.abc import Callable

import numpy as np
import orjson
import pytest

from streamdrift.baseline.baseline import Baseline, build_baseline, feature_summary
from streamdrift.columns.columns import columns_from_rows
from streamdrift.columns.typeinference import FeatureType
from streamdrift.errors import CorruptBlobError, StreamdriftError
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.profile.sketches import HEADER_SIZE, MAGIC, BlobKind, KllSketch

SEED = 20240611
PARAMS = ProfileParams(kll_k=64, frequent_lg_max_k=4, hll_lg_k=8)
_HEADER = struct.Struct("<4sHB3sIIIQI")
_U32 = (0, 1, 2, 3, 7, 8, 15, 63, 64, 255, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
_U64 = (0, 1, 2, 1 << 31, 1 << 53, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
_F64 = (float("nan"), float("inf"), float("-inf"), -0.0, 1e308, -1e308, 5e-324)


def _rows(rng: np.random.Generator, n: int, offset: int) -> list[dict[str, object]]:
    return [{"x": float(v), "i": int(rng.integers(0, 50)), "c": f"v{int(rng.zipf(1.3)) % 60}",
             "b": bool(rng.random() < 0.3), "h": f"id{offset + j}", "late": None if j % 7 else 2.5}
            for j, v in enumerate(rng.normal(size=n))]


def sample_profile() -> DatasetProfile:
    """Every kind of nested state: a KLL past its first compaction and pending values, frequent items that
    purged (lost error), HLL sketches in list, set and array modes (HLL_8, and HLL_4 from a union), a domain."""
    rng = np.random.default_rng(7)
    first = DatasetProfile.empty(PARAMS, schema={"s": FeatureType.STRING}, domains={"s": ["a", "b"]})
    for start in (0, 400):
        cols = columns_from_rows(_rows(rng, 400, start))
        first.update(cols)
    first.update(columns_from_rows([{"s": "a", "solo": "only"}, {"s": "zz", "few": "p"}, {"few": "q"}]))
    second = DatasetProfile.empty(PARAMS, schema={"s": FeatureType.STRING}, domains={"s": ["a", "b"]})
    second.update(columns_from_rows([{**r, "h": f"other{j}"} for j, r in enumerate(_rows(rng, 300, 0))]))
    return first.merge(second)


def nested_regions(blob: bytes) -> list[tuple[int, int, int]]:
    """(kind, payload start, payload end) of the blob and of every blob nested in it."""
    out = []
    at = blob.find(MAGIC)
    while at >= 0:
        if at + HEADER_SIZE <= len(blob):
            _, _, kind, _, _, _, _, length, _ = _HEADER.unpack_from(blob, at)
            if at + HEADER_SIZE + length <= len(blob):
                out.append((kind, at + HEADER_SIZE, at + HEADER_SIZE + length))
        at = blob.find(MAGIC, at + 1)
    return out


def mutate(blob: bytes, regions: list[tuple[int, int, int]], rng: random.Random) -> bytes:
    """One tampering: bytes, bits, integer or float fields, or a splice, inside one region; outer CRC fixed."""
    data = bytearray(blob)
    _, start, end = rng.choice(regions)
    if end - start < 16:
        start, end = HEADER_SIZE, len(blob)
    op = rng.randrange(6)
    at = rng.randrange(start, end - 8)
    if op == 0:
        for _ in range(rng.choice((1, 1, 2, 3))):
            data[rng.randrange(start, end)] = rng.randrange(256)
    elif op == 1:
        data[at] ^= 1 << rng.randrange(8)
    elif op == 2:
        at -= (at - start) % 4
        old = struct.unpack_from("<I", data, at)[0]
        struct.pack_into("<I", data, at, rng.choice((*_U32, (old + 1) & 0xFFFFFFFF, (old - 1) & 0xFFFFFFFF)))
    elif op == 3:
        at -= (at - start) % 8
        old = struct.unpack_from("<Q", data, at)[0]
        struct.pack_into("<Q", data, at, rng.choice((*_U64, (old + 1) % (1 << 64), (old - 1) % (1 << 64))))
    elif op == 4:
        at -= (at - start) % 8
        struct.pack_into("<d", data, at, rng.choice(_F64))
    else:
        size = rng.randrange(1, 16)
        source = rng.randrange(HEADER_SIZE, len(blob) - size)
        data[at:at + size] = blob[source:source + size]
    if len(data) != len(blob):
        del data[len(blob):]
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(bytes(data[HEADER_SIZE:])))
    return bytes(data)


def use_profile(profile: DatasetProfile) -> None:
    """What baseline show / check / report do with a baseline's profile."""
    for fp in profile.features.values():
        feature_summary(fp)
        num = fp.numeric
        _ = (fp.inferred_type, fp.completeness, num.min, num.max, num.variance, num.std_dev)
        if num.count and not num.kll.is_empty:
            kll = num.kll
            kll.quantiles(np.linspace(0.0, 1.0, 11))
            items, _weights = kll.retained()
            kll.cdf(np.unique(items))
            _ = (kll.min, kll.max, kll.rank_error())
        cat = fp.categorical
        cat.frequencies()
        cat.frequent.top(no_false_positives=True)
        _ = (cat.frequent.max_error, cat.distinct.estimate, cat.distinct.upper_bound(2), cat.distinct.lower_bound(1))
    merged = DatasetProfile.empty(profile.params).merge(profile).merge(profile.copy())
    DatasetProfile.from_bytes(merged.to_bytes())


def run_fuzz(blobs: list[bytes], n: int, load: Callable[[bytes], object], use: Callable[[object], None],
             seed: int) -> Counter[str]:
    """Outcome counts of ``n`` mutations; any other exception than a StreamdriftError fails the test."""
    rng = random.Random(seed)
    regions = [nested_regions(blob) for blob in blobs]
    seen: Counter[str] = Counter()
    for i in range(n):
        which = i % len(blobs)
        tampered = mutate(blobs[which], regions[which], rng)
        try:
            loaded = load(tampered)
        except StreamdriftError as exc:
            seen[f"load: {type(exc).__name__}"] += 1
            continue
        try:
            use(loaded)
            seen["loaded and used"] += 1
        except StreamdriftError as exc:
            seen[f"use: {type(exc).__name__}"] += 1
    return seen


def test_tampered_dataset_profiles_raise_only_streamdrift_errors() -> None:
    blob = sample_profile().to_bytes()
    kinds = {kind for kind, _, _ in nested_regions(blob)}
    assert {BlobKind.KLL, BlobKind.FREQUENT_ITEMS, BlobKind.DISTINCT_COUNT, BlobKind.NUMERIC_PROFILE,
            BlobKind.CATEGORICAL_PROFILE, BlobKind.FEATURE_PROFILE, BlobKind.DATASET_PROFILE} <= kinds
    seen = run_fuzz([blob], 2500, DatasetProfile.from_bytes, lambda p: use_profile(p), SEED)  # type: ignore[arg-type]
    print("dataset profile mutations:", dict(seen))
    assert sum(seen.values()) == 2500
    assert seen["loaded and used"] > 400  # many tamperings are plausible values: the use path really runs
    assert seen["load: CorruptBlobError"] > 1000


def test_tampered_baselines_raise_only_streamdrift_errors() -> None:
    rng = np.random.default_rng(3)
    base = build_baseline([columns_from_rows(_rows(rng, 500, 0))], "m", params=PARAMS)
    document = base.to_dict()
    blob = base.profile.to_bytes()
    regions = nested_regions(blob)
    mutator = random.Random(SEED + 1)
    texts = []
    for i in range(900):
        if i % 3 == 0:  # a tampered profile blob inside an otherwise intact document
            texts.append(orjson.dumps({**document, "profile": base64.b64encode(mutate(blob, regions, mutator)).decode()}))
        elif i % 3 == 1:  # a field of the document replaced by a value of another type
            key = mutator.choice(sorted(document))
            value: object = mutator.choice([None, -1, 2**63 - 1, "x", [], {}, 1.5, {"a": [1]}, True])
            texts.append(orjson.dumps({**document, key: value}))
        else:  # bytes of the JSON text
            raw = bytearray(base.to_json())
            for _ in range(mutator.choice((1, 2, 4))):
                raw[mutator.randrange(len(raw))] = mutator.randrange(32, 127)
            texts.append(bytes(raw))
    seen: Counter[str] = Counter()
    for text in texts:
        try:
            loaded = Baseline.from_json(text)
        except StreamdriftError as exc:
            seen[f"load: {type(exc).__name__}"] += 1
            continue
        try:
            use_profile(loaded.profile)
            loaded.to_json()
            seen["loaded and used"] += 1
        except StreamdriftError as exc:
            seen[f"use: {type(exc).__name__}"] += 1
    print("baseline mutations:", dict(seen))
    assert sum(seen.values()) == 900
    assert seen["loaded and used"] > 100


def _tamper_first(blob: bytes, kind: BlobKind, edit: Callable[[bytearray, int, int], None]) -> bytes:
    """``blob`` with ``edit(data, start, end)`` applied to the payload of its first nested blob of ``kind``
    that ``edit`` accepts, outer CRC fixed."""
    data = bytearray(blob)
    _, start, end = next(r for r in nested_regions(blob) if r[0] == kind and r[2] - r[1] > 64)
    edit(data, start, end)
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(bytes(data[HEADER_SIZE:])))
    return bytes(data)


def test_kll_level_offsets_out_of_order_are_corrupt_not_a_crash() -> None:
    """Found by the fuzz: reversed level offsets of a KLL (valid CRC) loaded fine and then crashed the
    process with a segmentation fault in get_quantiles."""
    sketch = KllSketch(64)
    sketch.update(np.random.default_rng(1).normal(size=5000))
    payload_at = HEADER_SIZE
    blob = bytearray(sketch.to_bytes())
    n_levels = blob[payload_at + 18]
    assert n_levels >= 3
    third = struct.unpack_from("<I", blob, payload_at + 28)[0]
    struct.pack_into("<I", blob, payload_at + 24, third + 5)  # level 1 now ends past level 2: same length
    struct.pack_into("<I", blob, HEADER_SIZE - 4, zlib.crc32(bytes(blob[HEADER_SIZE:])))
    with pytest.raises(CorruptBlobError, match="KLL payload level offsets"):
        KllSketch.from_bytes(bytes(blob))


def test_non_utf8_frequent_item_names_its_feature() -> None:
    """Found by the fuzz: an item's bytes altered into invalid UTF-8 loaded fine, then ``top()`` raised a raw
    ``RuntimeError: std::bad_cast`` (what ``baseline show`` printed as a traceback)."""
    profile = DatasetProfile.empty(PARAMS)
    profile.update(columns_from_rows([{"colour": c} for c in ["red"] * 5 + ["green"] * 3]))
    blob = profile.to_bytes()

    def break_utf8(data: bytearray, start: int, end: int) -> None:
        at = data.index(b"green", start, end)
        data[at] = 0xC3  # a lead byte followed by ASCII: not UTF-8

    with pytest.raises(CorruptBlobError, match=r"feature 'colour'.*frequent-items.*not UTF-8"):
        DatasetProfile.from_bytes(_tamper_first(blob, BlobKind.FREQUENT_ITEMS, break_utf8))


def test_hll_exception_table_without_hll4_type_is_corrupt() -> None:
    """An HLL_8 array that declares exceptions (datasketches would cast it to HLL_4) is refused up front."""
    profile = DatasetProfile.empty(PARAMS)
    profile.update(columns_from_rows([{"id": f"user{i}"} for i in range(3000)]))
    blob = profile.to_bytes()

    def add_exceptions(data: bytearray, start: int, end: int) -> None:
        assert data[start + 7] >> 2 & 3 == 2  # HLL_8
        struct.pack_into("<I", data, start + 36, 1)

    with pytest.raises(CorruptBlobError, match=r"feature 'id'.*HLL"):
        DatasetProfile.from_bytes(_tamper_first(blob, BlobKind.DISTINCT_COUNT, add_exceptions))


def test_counts_beyond_2_53_are_corrupt() -> None:
    """A count near 2^63 loaded and overflowed into a raw struct.error when the merged profile was written."""
    profile = DatasetProfile.empty(PARAMS)
    profile.update(columns_from_rows([{"colour": "red"}, {"colour": "blue"}]))
    blob = profile.to_bytes()

    def huge_count(data: bytearray, start: int, end: int) -> None:
        struct.pack_into("<q", data, start, (1 << 62) + 2)  # the categorical profile's count

    with pytest.raises(CorruptBlobError, match="outside"):
        DatasetProfile.from_bytes(_tamper_first(blob, BlobKind.CATEGORICAL_PROFILE, huge_count))
