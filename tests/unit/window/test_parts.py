"""Deltas too large for one Kafka message: split by features (window/parts.py), put back together by the merge."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import orjson
import pytest

from streamdrift.columns.columns import Column, Columns, classify_numbers, column_from_values
from streamdrift.errors import ConfigError, CorruptBlobError
from streamdrift.ingest.limits import CaptureLimits
from streamdrift.ingest.records import parse_capture
from streamdrift.profile.profiles import CategoricalProfile, DatasetProfile, ProfileParams
from streamdrift.profile.sketches import FrequentItem
from streamdrift.window.accumulator import WindowAccumulator
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import (
    MARKER_MAX_MODELS,
    PartialDelta,
    WindowClosed,
    decode_partial,
    encode_partial,
)
from streamdrift.window.parts import (
    DEFAULT_MAX_MESSAGE_BYTES,
    PARTS_EXTRA,
    combine,
    split_delta,
    value_budget,
)
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.windows import WindowSpec, profiles_only

P = ProfileParams(kll_k=1000)  # the worker's window params
MIB = 1 << 20
LIMIT = value_budget(DEFAULT_MAX_MESSAGE_BYTES, b"m")
SIZE = 60_000
T0 = 1_718_000_040_000


def _numeric(values: np.ndarray) -> Column:
    numbers, kinds = classify_numbers(np.asarray(values, dtype=np.float64))
    return Column(numbers, kinds)


def _profile(rng: np.random.Generator, n_numeric: int, n_rows: int, n_categorical: int = 0,
             domains: dict[str, list[str]] | None = None) -> DatasetProfile:
    """``n_numeric`` numeric features (every 7th with missing rows) and ``n_categorical`` text ones."""
    values = rng.normal(size=(n_numeric, n_rows))
    values[::7, ::5] = np.nan  # absent rows: MISSING counts
    cols = {f"num{i:05d}": _numeric(values[i]) for i in range(n_numeric)}
    for j in range(n_categorical):
        cols[f"cat{j:03d}"] = column_from_values([f"v{k}" for k in rng.integers(0, 40, n_rows)])
    profile = DatasetProfile.empty(P, None, domains)
    profile.update(Columns(n_rows, cols))
    return profile


def _delta(profile: DatasetProfile, partition: int = 0, end_offset: int = 100,
           extras: dict[str, bytes] | None = None) -> PartialDelta:
    return PartialDelta("m", "v1", 0, SIZE, "cap", partition, end_offset, profile.n_records, profile,
                        extras or {})


def _wire(messages: Sequence[PartialDelta]) -> list[PartialDelta]:
    out = []
    for m in messages:
        back = decode_partial(encode_partial(m))
        assert isinstance(back, PartialDelta)
        out.append(back)
    return out


def _assert_same_profile(got: DatasetProfile, want: DatasetProfile) -> None:
    """n_records and every feature's counts, moments, quantiles, frequencies and distinct count: exactly equal.
    (Frequent-items and HLL sketches read back from bytes serialize their entries in another order: their
    bytes may differ while every answer is the same, so they are compared by their answers.)"""
    assert got.n_records == want.n_records
    assert set(got.features) == set(want.features) and got.domains == want.domains
    ranks = np.linspace(0.0, 1.0, 21)
    for name, w in want.features.items():
        g = got.features[name]
        assert g.type_counts.tolist() == w.type_counts.tolist(), name
        assert g.n_present + g.n_missing == got.n_records and g.declared == w.declared, name
        gn, wn = g.numeric, w.numeric
        assert gn.to_bytes() == wn.to_bytes(), name  # first: reading the sketch feeds it the buffered values
        assert (gn.count, gn.missing, gn.non_finite, gn.wrong_type, gn.sum, gn.mean, gn.m2) == (
            wn.count, wn.missing, wn.non_finite, wn.wrong_type, wn.sum, wn.mean, wn.m2), name  # fmt: skip
        if wn.count:
            assert (gn.min, gn.max, gn.kll.n) == (wn.min, wn.max, wn.kll.n), name
            assert gn.kll.quantiles(ranks).tolist() == wn.kll.quantiles(ranks).tolist(), name
        gc, wc = g.categorical, w.categorical
        assert (gc.count, gc.missing, gc.out_of_domain) == (wc.count, wc.missing, wc.out_of_domain), name
        assert gc.frequencies() == wc.frequencies() and _top(gc) == _top(wc), name
        assert gc.frequent.total_weight == wc.frequent.total_weight, name
        assert gc.distinct.estimate == wc.distinct.estimate, name


def _top(profile: CategoricalProfile) -> list[FrequentItem]:
    return sorted(profile.frequent.top(), key=lambda item: item.item)  # items of equal estimates in any order


# ------------------------------------------------------------------------------------------- split


def test_small_delta_is_not_split_and_keeps_its_encoding() -> None:
    d = _delta(_profile(np.random.default_rng(1), 20, 300, 3))
    [(part, blob)] = split_delta(d, LIMIT)
    assert part is d and part.part is None and blob == encode_partial(d)


def test_3000_feature_delta_splits_under_1_mib_and_merges_back_exactly() -> None:
    """3,000 numeric features (the issue's 9.35 MiB partial) and 20 categorical ones, two partitions: one
    accumulator merges the deltas whole, another the first split, shuffled, duplicated and through a restart."""
    rng = np.random.default_rng(3)
    big = _delta(_profile(rng, 3000, 350, 20), extras={"bias": b"state-of-bias"})
    other = _delta(_profile(rng, 3000, 200, 20), partition=1, end_offset=7)
    whole_blob = encode_partial(big)
    assert len(whole_blob) > 8 * MIB  # over even the 8 MiB the topic is created with

    parts = split_delta(big, LIMIT, whole_blob)
    assert len(parts) >= 9
    for i, (part, blob) in enumerate(parts):
        assert len(blob) <= LIMIT and blob == encode_partial(part)
        assert part.delta_id == big.delta_id and part.part == (i, len(parts))
        assert part.profile.n_records == part.n_records == big.n_records
        assert dict(part.extras) == ({"bias": b"state-of-bias"} if i == 0 else {})
    names = [n for part, _ in parts for n in part.profile.features]
    assert names == sorted(big.profile.features)  # disjoint, contiguous, all of them

    unsplit = WindowAccumulator.for_delta(big, now_ms=0)
    for d in _wire([big, other]):
        assert unsplit.add_delta(d)

    wire = _wire([p for p, _ in parts])
    order = np.random.default_rng(5).permutation(len(wire)).tolist()
    delivered = [wire[i] for i in order]
    delivered.insert(3, wire[order[1]])  # at least once: a part twice
    split = WindowAccumulator.for_delta(wire[0], now_ms=0)
    added = []
    for k, d in enumerate(delivered):
        added.append(split.add_delta(d))
        if k == len(delivered) // 2:  # the control plane restarts between parts: state from the table
            split = WindowAccumulator.from_bytes(split.to_bytes())
            assert split.incomplete_deltas() == 1
        if k < len(delivered) - 1:
            assert split.n_records == 0 and split.profile.n_records == 0
    assert added.count(False) == 1 and split.incomplete_deltas() == 0 and PARTS_EXTRA not in split.extras
    assert not split.add_delta(wire[2])  # a part of a delta merged already
    assert split.add_delta(_wire([other])[0])

    assert split.n_records == unsplit.n_records == 550
    assert split.seen_delta_ids == unsplit.seen_delta_ids
    assert split.extras == unsplit.extras == {"bias": [b"state-of-bias"]}
    _assert_same_profile(split.profile, unsplit.profile)


@pytest.mark.slow
def test_70000_feature_record_splits_and_merges_back_exactly() -> None:
    """One record naming 70,000 features (the issue's 27 MiB partial)."""
    row = np.arange(70_000, dtype=np.float64)
    profile = DatasetProfile.empty(P)
    profile.update(Columns(1, {f"{i:x}": _numeric(row[i : i + 1]) for i in range(70_000)}))
    big = _delta(profile)
    parts = split_delta(big, LIMIT)
    assert len(parts) >= 25 and all(len(blob) <= LIMIT for _, blob in parts)
    assert sum(len(p.profile.features) for p, _ in parts) == 70_000

    unsplit = WindowAccumulator.for_delta(big, now_ms=0)
    unsplit.add_delta(big)
    split = WindowAccumulator.for_delta(big, now_ms=0)
    for part, _ in reversed(parts):  # out of order
        assert split.add_delta(part)
    assert split.n_records == unsplit.n_records == 1
    assert split.profile.to_bytes() == unsplit.profile.to_bytes()  # numeric only: the bytes are stable too


def test_domains_and_declared_types_follow_their_features() -> None:
    rng = np.random.default_rng(8)
    domains = {"cat000": [f"v{k}" for k in range(30)], "never_seen": ["x", "y"]}
    big = _delta(_profile(rng, 60, 400, 4, domains=domains))
    parts = split_delta(big, 64 << 10)
    assert len(parts) > 2
    wire = _wire([p for p, _ in parts])
    assert wire[0].profile.domains.keys() == {"never_seen"} | ({"cat000"} & wire[0].profile.features.keys())
    whole = combine(wire)
    assert whole.part is None and whole.profile.domains == big.profile.domains
    _assert_same_profile(whole.profile, _wire([big])[0].profile)


def test_a_feature_too_large_alone_gets_a_part_of_its_own() -> None:
    """Frequent items of long category values (768 kept of 1,500 distinct values of 2,000 bytes): one feature
    over 1 MiB. It cannot be cut; it goes alone into its part, over the limit, and the rest stay under it."""
    rng = np.random.default_rng(9)
    profile = _profile(rng, 200, 600)  # at most k values a feature: quantiles read without compaction
    long_values = [f"{k:04d}" + "x" * 2000 for k in range(1500)]
    profile.update(Columns(1500, {"long": column_from_values(long_values)}))
    big = _delta(profile)
    parts = split_delta(big, LIMIT)
    over = [(p, b) for p, b in parts if len(b) > LIMIT]
    assert [list(p.profile.features) for p, _ in over] == [["long"]]
    assert all(len(b) <= LIMIT for p, b in parts if "long" not in p.profile.features)
    _assert_same_profile(combine(_wire([p for p, _ in parts])).profile, _wire([big])[0].profile)


def test_extras_too_large_for_part_0_leave_it_without_features() -> None:
    rng = np.random.default_rng(10)
    state = bytes(64_000)
    big = _delta(_profile(rng, 100, 300), extras={"attribution": state})
    parts = split_delta(big, 64 << 10)
    assert parts[0][0].profile.features == {} and dict(parts[0][0].extras) == {"attribution": state}
    assert all(len(b) <= 64 << 10 for _, b in parts)
    assert combine(_wire([p for p, _ in parts])).extras == {"attribution": state}


# ------------------------------------------------------------------------------------------- merge


def _parts(seed: int = 11, limit: int = 64 << 10) -> tuple[PartialDelta, list[PartialDelta]]:
    big = _delta(_profile(np.random.default_rng(seed), 80, 300, 2), extras={"bias": b"b"})
    parts = _wire([p for p, _ in split_delta(big, limit)])
    assert len(parts) >= 3
    return big, parts


def test_parts_that_do_not_belong_together_are_refused_without_change() -> None:
    big, parts = _parts()
    acc = WindowAccumulator.for_delta(big, now_ms=0)
    assert acc.add_delta(parts[0])
    before = acc.to_bytes()
    with pytest.raises(CorruptBlobError, match="earlier part said"):
        acc.add_delta(dataclasses.replace(parts[1], part=(1, len(parts) + 1)))
    with pytest.raises(CorruptBlobError, match="reserved"):
        acc.add_delta(dataclasses.replace(big, end_offset=5, extras={PARTS_EXTRA: b""}))
    assert acc.to_bytes() == before
    for p in parts[1:-1]:
        assert acc.add_delta(p)
    waiting = acc.to_bytes()
    with pytest.raises(CorruptBlobError, match="repeat features"):
        acc.add_delta(dataclasses.replace(parts[-1], profile=parts[0].profile))
    with pytest.raises(CorruptBlobError, match="does not match"):
        acc.add_delta(dataclasses.replace(parts[-1], n_records=big.n_records + 1))
    assert acc.to_bytes() == waiting and acc.n_records == 0 and acc.incomplete_deltas() == 1
    assert acc.add_delta(parts[-1]) and acc.n_records == big.n_records and acc.incomplete_deltas() == 0


def test_accumulator_blob_keeps_its_format_with_parts_waiting() -> None:
    big, parts = _parts()
    acc = WindowAccumulator.for_delta(big, now_ms=0)
    acc.add_delta(parts[1])
    blob = acc.to_bytes()
    assert blob[:5] == b"SDWA\x01"  # magic and version 1, as before
    head_len = int.from_bytes(blob[5:9], "big")
    header = orjson.loads(blob[9 : 9 + head_len])
    assert sorted(header) == sorted(["model_id", "model_version", "window_start_ms", "window_end_ms",
                                     "first_seen_ms", "closing_since_ms", "n_records", "partitions_closed", "seen",
                                     "profile_len", "extras"])
    assert [name for name, _ in header["extras"]] == [PARTS_EXTRA]
    back = WindowAccumulator.from_bytes(blob)
    assert back.incomplete_deltas() == 1 and not back.add_delta(parts[1])
    for p in [parts[0], *parts[2:]]:
        assert back.add_delta(p)
    assert back.incomplete_deltas() == 0 and back.n_records == big.n_records


def test_merger_releases_a_timed_out_window_without_its_incomplete_delta() -> None:
    _, parts = _parts()
    small = _delta(_profile(np.random.default_rng(12), 5, 50), partition=1, end_offset=3)
    now = [1000]
    store: dict[str, bytes] = {}
    merger = WindowMerger(store, 2, 5_000, lambda: now[0])
    for message in [parts[0], parts[2], parts[0], small]:
        assert merger.handle(message) == []
    assert merger.duplicates == 1
    merger.handle(WindowClosed("cap", 1, 0, SIZE, SIZE))
    now[0] += 6_000
    [ready] = merger.expire()
    assert ready.partial and ready.incomplete_deltas == 1 and merger.incomplete_deltas == 1
    assert ready.n_records == small.n_records and PARTS_EXTRA not in ready.extras
    assert ready.extras == {}  # part 0's extras left out with its delta
    _assert_same_profile(ready.profile, _wire([small])[0].profile)


def test_merger_completes_a_split_delta_across_a_restart() -> None:
    big, parts = _parts()
    store: dict[str, bytes] = {}
    merger = WindowMerger(store, 1, 5_000, lambda: 0)
    for p in parts[:2]:
        merger.handle(p)
    restarted = WindowMerger(store, 1, 5_000, lambda: 0)  # the table, recovered
    for p in parts[1:]:
        restarted.handle(p)
    assert restarted.duplicates == 1
    [ready] = restarted.handle(WindowClosed("cap", 0, 0, SIZE, SIZE))
    assert not ready.partial and ready.incomplete_deltas == 0 and ready.n_records == big.n_records
    assert ready.extras == {"bias": [b"b"]}
    _assert_same_profile(ready.profile, _wire([big])[0].profile)


# ------------------------------------------------------------------------------------------- pipeline


def _records(rng: np.random.Generator, n: int, n_features: int, models: Sequence[str] = ("m",)) -> list[bytes]:
    out = []
    for i in range(n):
        feats: dict[str, object] = {f"f{j:03d}": float(v) for j, v in enumerate(rng.normal(size=n_features))}
        feats["c"] = f"k{i % 9}"
        out.append(orjson.dumps({"model_id": models[i % len(models)], "timestamp": T0 + i, "features": feats}))
    return out


def _flush_all(pipeline: PartitionPipeline, values: list[bytes]) -> list[PartialDelta | WindowClosed]:
    batches, dead = parse_capture(values)
    assert dead == []
    pipeline.add_captures(batches)
    pipeline.advance_idle(T0 + 3 * SIZE)
    flushed = pipeline.flush(len(values))
    for d, blob in flushed.encoded_deltas():
        assert blob == encode_partial(d)
    return [*flushed.deltas, *flushed.markers]


def test_flush_bounds_every_delta_and_the_merge_equals_the_unsplit_one() -> None:
    values = _records(np.random.default_rng(13), 400, 150)
    spec = WindowSpec(SIZE)
    limit = 64 << 10
    bounded = PartitionPipeline(spec, "cap", 0, profiles_only(P), params=P, max_message_bytes=limit)
    batches, _ = parse_capture(values)
    bounded.add_captures(batches)
    bounded.advance_idle(T0 + 3 * SIZE)
    flushed = bounded.flush(len(values))
    assert len(flushed.deltas) > 3 and flushed.oversized == []
    assert len(flushed.blobs) == len(flushed.deltas)
    assert all(len(b) <= value_budget(limit, d.model_id.encode()) for d, b in flushed.encoded_deltas())

    unchecked = PartitionPipeline(spec, "cap", 0, profiles_only(P), params=P, max_message_bytes=None)
    whole = _flush_all(unchecked, values)
    [d] = [m for m in whole if isinstance(m, PartialDelta)]
    assert d.part is None and len(encode_partial(d)) > limit

    merged = []
    split: list[PartialDelta | WindowClosed] = [*flushed.deltas, *flushed.markers]
    for messages in (split, whole):
        merger = WindowMerger({}, 1, 5_000, lambda: 0)
        ready = [w for m in _wire_all(messages) for w in merger.handle(m)]
        assert [w.partial for w in ready] == [False]
        merged.append(ready[0])
    assert merged[0].n_records == merged[1].n_records == 400
    _assert_same_profile(merged[0].profile, merged[1].profile)


def _wire_all(messages: Sequence[PartialDelta | WindowClosed]) -> list[PartialDelta | WindowClosed]:
    return [decode_partial(encode_partial(m)) for m in messages]


def test_flush_reports_a_part_it_could_not_bring_under_the_limit() -> None:
    """One categorical feature of 1,500 distinct 2,000-byte values: its sketch alone is over 1 MiB."""
    values = [orjson.dumps({"model_id": "m", "timestamp": T0 + i,
                            "features": {"x": float(i), "long": f"{i:04d}" + "x" * 2000}}) for i in range(1500)]
    values += _records(np.random.default_rng(15), 500, 60)
    pipeline = PartitionPipeline(WindowSpec(SIZE), "cap", 0, profiles_only(P), params=P)
    batches, dead = parse_capture(values, limits=CaptureLimits(max_value_chars=4096))  # values of 2,004 chars
    assert not dead
    pipeline.add_captures(batches)
    pipeline.advance_idle(T0 + 3 * SIZE)
    flushed = pipeline.flush(len(values))
    [over] = flushed.oversized
    assert list(over.profile.features) == ["long"] and over.part is not None
    sizes = {d.part: len(b) for d, b in flushed.encoded_deltas()}
    assert sizes[over.part] > LIMIT and sum(size > LIMIT for size in sizes.values()) == 1
    merger = WindowMerger({}, 1, 5_000, lambda: 0)
    [ready] = [w for m in _wire_all([*flushed.deltas, *flushed.markers]) for w in merger.handle(m)]
    assert ready.n_records == 2000 and not ready.partial and len(ready.profile.features) == 63


def test_flush_default_limit_and_too_small_limits() -> None:
    pipeline = PartitionPipeline(WindowSpec(SIZE), "cap", 0, profiles_only(P), params=P)
    assert pipeline.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == MIB
    with pytest.raises(ConfigError, match="max_message_bytes"):
        PartitionPipeline(WindowSpec(SIZE), "cap", 0, profiles_only(P), max_message_bytes=1000)


def test_markers_list_a_bounded_number_of_models() -> None:
    """9,000 records of 1,000-character model ids made an 8.6 MiB marker: now it lists a bounded share."""
    models = [f"{i:04d}" + "m" * 996 for i in range(1500)]
    values = _records(np.random.default_rng(14), 1500, 1, models)
    pipeline = PartitionPipeline(WindowSpec(SIZE), "cap", 0, profiles_only(P), params=P)
    batches, dead = parse_capture(values, limits=CaptureLimits(max_model_id_chars=1000))  # over the default
    assert not dead
    pipeline.add_captures(batches)
    pipeline.advance_idle(T0 + 3 * SIZE)
    flushed = pipeline.flush(len(values))
    marker = flushed.markers[0]
    assert marker.models_cut and 0 < len(marker.models) < len(models)
    assert len(marker.models) <= MARKER_MAX_MODELS and len(encode_partial(marker)) < 70_000
    assert sorted(flushed.closed[0][1]) == sorted(models)  # the data plane's own count keeps them all
    assert decode_partial(encode_partial(marker)) == marker
