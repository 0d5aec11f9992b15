"""Hostile and careless capture / label messages against the limits (:mod:`streamdrift.ingest.limits`): each
breach a dead letter with its reason, never an exception or a large allocation, and the same decision whichever
path reads the message (native reader, Python records path, simdjson and orjson columnar paths, Arrow poll and
per-message paths)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hostile import compressed_batch, empty_struct_batch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_native_records import assert_same_batches

from streamdrift import _native
from streamdrift.errors import ConfigError
from streamdrift.ingest.arrow import encode_arrow_batch
from streamdrift.ingest.arrow_ipc import ipc_extent
from streamdrift.ingest.limits import YEAR_3000_MS, CaptureLimits, Checks
from streamdrift.ingest.native import read_records
from streamdrift.ingest.records import (
    DEAD_LETTER_REASONS,
    CaptureBatch,
    DeadLetter,
    encode_capture_record,
    encode_columnar_batch,
    encode_label_record,
    parse_capture,
    parse_labels,
)
from streamdrift.settings import load_settings

T0 = 1_718_000_000_000
NOW = T0 + 60_000
KAFKA_TS = T0 + 5

# every way parse_capture can read a poll: (native reader, simdjson for columnar batches, Arrow poll path)
PATHS: list[dict[str, Any]] = [
    {"native": True, "fast_columnar": True, "arrow_poll": True},
    {"native": True, "fast_columnar": None, "arrow_poll": True},
    {"native": False, "fast_columnar": False, "arrow_poll": False},
    {"native": False, "fast_columnar": True, "arrow_poll": False},
]


def every_path(values: list[bytes], **kw: Any) -> tuple[list[CaptureBatch], list[DeadLetter]]:
    """parse_capture along every path: the same batches and dead letters (returned once)."""
    kafka = [KAFKA_TS] * len(values)
    results = [parse_capture(values, fallback_timestamps_ms=kafka, **path, **kw) for path in PATHS]
    batches, dead = results[0]
    for other_batches, other_dead in results[1:]:
        assert [(d.index, d.reason) for d in other_dead] == [(d.index, d.reason) for d in dead]
        assert_same_batches(other_batches, batches)
    assert all(d.reason in DEAD_LETTER_REASONS for d in dead)
    return batches, dead


def _row(i: int = 0, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"timestamp": T0 + i, "inference_id": f"id-{i}",
                           "features": {"x": float(i), "city": ["Oslo", "Bergen"][i % 2]},
                           "prediction": {"label": i % 2, "score": 0.5}}
    row.update(over)
    return row


def _record(model: str, row: dict[str, Any], version: str | None = None) -> bytes:
    return encode_capture_record(model, features=row["features"], prediction=row.get("prediction"),
                                 inference_id=row.get("inference_id"), timestamp_ms=row["timestamp"],
                                 model_version=version, attributions=row.get("attributions"))


def _formats(model: str, rows: list[dict[str, Any]], version: str | None = None) -> dict[str, list[bytes]]:
    """The same rows as JSON records, one JSON columnar batch and one Arrow batch."""
    arrow = encode_arrow_batch(model, rows, model_version=version)
    assert arrow is not None
    return {"records": [_record(model, r, version) for r in rows],
            "columnar": [encode_columnar_batch(model, rows, model_version=version)],
            "arrow": [arrow]}


def _good(i: int = 0) -> bytes:
    return _record("good", _row(i))


def _reasons(dead: list[DeadLetter]) -> list[str]:
    return [d.reason for d in dead]


# ------------------------------------------------------------------------------------------------ rows


@pytest.mark.parametrize("n", [50_000_000, 10**18, 2**63, 100])
def test_a_columnar_batch_cannot_declare_more_rows_than_its_bytes(n: int) -> None:
    """A 63-byte batch declaring 50M rows with empty features (1.2 GB parsed before), or 10**18 (MemoryError
    out of parse_capture before, a crash loop of the data plane)."""
    blob = json.dumps({"format": "columnar", "model_id": "m", "n": n, "features": {}}).encode()
    batches, dead = every_path([_good(), blob, _good(1)])
    assert _reasons(dead) == ["too_many_rows"] and dead[0].index == 1
    assert f"{n} rows" in dead[0].detail
    assert [b.model_id for b in batches] == ["good"] and batches[0].n_rows == 2


def test_the_row_limits_are_settings() -> None:
    rows = [_row(i) for i in range(30)]
    blob = encode_columnar_batch("m", rows)
    assert every_path([blob])[1] == []
    assert _reasons(every_path([blob], limits=CaptureLimits(max_rows_per_message=29))[1]) == ["too_many_rows"]
    assert every_path([blob], limits=CaptureLimits(rows_per_byte=1))[1] == []  # 30 rows in ~2 KB
    empty = json.dumps({"format": "columnar", "model_id": "m", "n": 100, "features": {}}).encode()
    assert len(empty) < 100 and _reasons(every_path([empty])[1]) == ["too_many_rows"]
    assert every_path([empty], limits=CaptureLimits(rows_per_byte=2))[1] == []  # 65 bytes, 2 rows a byte


def _empty_struct_batch(declared: int) -> bytes:
    return empty_struct_batch(declared)


@pytest.mark.parametrize("declared", [1 << 40, 1 << 31, 200_000])
def test_an_arrow_batch_cannot_declare_rows_it_does_not_carry(declared: int) -> None:
    blob = _empty_struct_batch(declared)
    assert len(blob) < 400 and ipc_extent(blob).rows == declared
    for path in PATHS:
        batches, dead = parse_capture([blob, blob], fallback_timestamps_ms=[T0, T0], **path)
        assert batches == [] and _reasons(dead) == ["too_many_rows"] * 2
    batches, dead = every_path([_good(), blob])
    assert _reasons(dead) == ["too_many_rows"] and batches[0].n_rows == 1


def _compressed_batch(n: int, codec: str) -> bytes:
    return compressed_batch(n, codec, T0)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_a_compressed_arrow_batch_is_judged_by_its_decompressed_size_before_it_is_decompressed(
    codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = _compressed_batch(2_000_000, codec)
    assert len(blob) < 100_000 and ipc_extent(blob).decoded_bytes > 16_000_000

    def no_read(*_: object, **__: object) -> None:
        raise AssertionError("pyarrow read a batch beyond the limits")

    monkeypatch.setattr(pa.ipc, "open_stream", no_read)
    small = CaptureLimits(max_decoded_bytes=8 << 20, max_rows_per_message=10_000_000)
    for path in PATHS:
        assert _reasons(parse_capture([blob], limits=small, **path)[1]) == ["too_large"]
        assert _reasons(parse_capture([blob], **path)[1]) == ["too_many_rows"]  # the default 100k rows


def test_a_compressed_arrow_batch_within_the_limits_reads_as_uncompressed() -> None:
    blob = _compressed_batch(1000, "zstd")
    extent = ipc_extent(blob)
    assert extent.rows == 1000 and extent.decoded_bytes >= len(blob) + 8000 - 100
    batches, dead = every_path([blob])
    assert dead == [] and batches[0].n_rows == 1000 and set(batches[0].timestamps_ms.tolist()) == {T0}


@pytest.mark.parametrize("cut", [4, 8, 50, -8, -1])
def test_a_truncated_arrow_header_is_a_bad_batch(cut: int) -> None:
    blob = _compressed_batch(100, "lz4")
    bad = blob[:cut] if cut > 0 else blob[:cut - 40]
    for path in PATHS:
        assert _reasons(parse_capture([bad], **path)[1]) == ["bad_batch"]


# ------------------------------------------------------------------------------------------------ features


def _wide(i: int, names: range | list[str]) -> dict[str, Any]:
    return _row(i, features={f"f{j}" if isinstance(j, int) else j: float(j if isinstance(j, int) else i)
                             for j in names})


@pytest.mark.parametrize("fmt", ["records", "columnar", "arrow"])
def test_more_features_than_the_limit_dead_letter_the_record_or_batch(fmt: str) -> None:
    too_many = _formats("m", [_wide(0, range(1001))])[fmt]
    at_limit = _formats("m", [_wide(1, range(1000))])[fmt]
    batches, dead = every_path([*too_many, *at_limit])
    assert _reasons(dead) == ["too_many_features"] and "1001 features > max 1000" in dead[0].detail
    assert len(batches) == 1 and len(batches[0].features.columns) == 1000


def test_too_many_attributions_dead_letter_the_record() -> None:
    row = _row(0, attributions={f"a{j}": 0.1 for j in range(1001)})
    for values in _formats("m", [row]).values():
        assert _reasons(every_path(values)[1]) == ["too_many_features"]


def test_a_model_naming_many_features_in_one_poll_comes_in_batches_of_at_most_max_features() -> None:
    """2,000 records of 60 feature names each, all distinct (1.66 MB): the columns were padded to the 120,000
    names, 4 GB of RSS. Now no record is lost, and no batch has more than max_features columns."""
    values = [_record("m", _wide(i, [f"r{i}_{j}" for j in range(60)])) for i in range(2000)]
    assert read_records(values, 1 << 24, 1 << 24) is None  # the native reader leaves it to the Python path
    batches, dead = parse_capture(values)
    assert dead == []
    assert {b.model_id for b in batches} == {"m"} and sum(b.n_rows for b in batches) == 2000
    assert max(len(b.features.columns) for b in batches) <= 1000
    assert np.concatenate([b.source_index for b in batches]).tolist() == list(range(2000))  # input order
    cells = sum(len(b.features.columns) * b.n_rows for b in batches)
    assert cells <= 1000 * 2000  # was 120,000 x 2,000
    for b in batches:  # every row keeps its own 60 features
        present = sum(int(np.count_nonzero(c.kinds)) for c in b.features.columns.values())
        assert present == 60 * b.n_rows
    python, _ = parse_capture(values, native=False)  # the same cuts (compared cheaply: 120,000 columns)
    assert [list(b.features.columns) for b in python] == [list(b.features.columns) for b in batches]
    assert [b.source_index.tolist() for b in python] == [b.source_index.tolist() for b in batches]


def test_batches_of_one_model_are_cut_where_their_names_pass_the_limit() -> None:
    limits = CaptureLimits(max_features=10)
    first = encode_columnar_batch("m", [_wide(0, range(0, 8))])
    same = _record("m", _wide(1, range(0, 8)))
    other = encode_columnar_batch("m", [_wide(2, range(8, 16))])
    arrow = encode_arrow_batch("m", [_wide(3, range(8, 16))])
    assert arrow is not None
    batches, dead = every_path([first, same, other, arrow], limits=limits)
    assert dead == []
    assert [b.n_rows for b in batches] == [2, 2]
    assert [sorted(b.features.columns) for b in batches] == [sorted(f"f{j}" for j in range(0, 8)),
                                                             sorted(f"f{j}" for j in range(8, 16))]


# ------------------------------------------------------------------------------------------------ lengths

_LONG_CASES: dict[str, Callable[[], tuple[str, list[dict[str, Any]], str | None]]] = {
    "model_id": lambda: ("m" * 1000, [_row(0)], None),
    "model_version": lambda: ("m", [_row(0)], "v" * 129),
    "inference_id": lambda: ("m", [_row(0, inference_id="i" * 257)], None),
    "feature name": lambda: ("m", [_row(0, features={"n" * 257: 1.0})], None),
    "category": lambda: ("m", [_row(0, features={"city": "é" * 1025})], None),
    "text prediction": lambda: ("m", [_row(0, prediction="p" * 1025)], None),
}


@pytest.mark.parametrize("case", list(_LONG_CASES))
@pytest.mark.parametrize("fmt", ["records", "columnar", "arrow"])
def test_a_value_longer_than_its_limit_is_too_long_in_every_format(case: str, fmt: str) -> None:
    model, rows, version = _LONG_CASES[case]()
    values = [_good(), *_formats(model, rows, version)[fmt], _good(1)]
    batches, dead = every_path(values)
    assert _reasons(dead) == ["too_long"] and dead[0].index == 1
    assert [b.model_id for b in batches] == ["good"] and batches[0].n_rows == 2


def test_lengths_count_characters_and_the_limits_are_inclusive() -> None:
    row = _row(0, inference_id="ï" * 256, features={"é" * 256: "ü" * 1024})
    for values in _formats("ø" * 128, [row], "v" * 128).values():
        batches, dead = every_path(values)
        assert dead == [] and batches[0].model_id == "ø" * 128


def test_thousands_of_long_model_ids_are_dead_letters() -> None:
    """9,000 records with 1,000-character model ids made an 8.6 MiB WindowClosed marker."""
    values = [_record(f"{i:04d}" + "m" * 996, _row(i)) for i in range(9000)]
    batches, dead = parse_capture(values)
    assert batches == [] and _reasons(dead) == ["too_long"] * 9000


# ------------------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(("stamp", "words"), [
    (1_718_000_000_000_000, "microseconds"),  # the watermark jumped to the year 56410
    (1_718_000_000_000_000_000, "microseconds"),  # nanoseconds
    (YEAR_3000_MS + 1, "year 3000"),
    (-1, "before 0"),
])
@pytest.mark.parametrize("fmt", ["records", "columnar", "arrow"])
def test_absurd_timestamps_are_bad_in_every_format(stamp: int, words: str, fmt: str) -> None:
    values = [_good(), *_formats("m", [_row(0, timestamp=stamp)])[fmt]]
    batches, dead = every_path(values)
    assert _reasons(dead) == ["bad_timestamp"] and words in dead[0].detail
    assert [b.model_id for b in batches] == ["good"]


@pytest.mark.parametrize("fmt", ["records", "columnar", "arrow"])
def test_a_timestamp_more_than_max_future_ahead_of_now_is_bad(fmt: str) -> None:
    hour = 3_600_000
    ahead = _formats("m", [_row(0, timestamp=NOW + hour + 1)])[fmt]
    edge = _formats("m", [_row(1, timestamp=NOW + hour)])[fmt]
    batches, dead = every_path([*ahead, *edge], now_ms=NOW)
    assert _reasons(dead) == ["bad_timestamp"] and "ahead of now" in dead[0].detail
    assert batches[0].timestamps_ms.tolist() == [NOW + hour]
    assert every_path([*ahead, *edge])[1] == []  # no clock given: no check
    assert _reasons(every_path(edge, now_ms=NOW, limits=CaptureLimits(max_future_ms=0))[1]) == ["bad_timestamp"]


def test_a_kafka_timestamp_taken_as_the_fallback_is_checked_too() -> None:
    record = orjson.dumps({"model_id": "m", "features": {"x": 1}})
    columnar = orjson.dumps({"format": "columnar", "model_id": "m", "n": 1, "features": {"x": [1]}})
    for path in PATHS:
        _, dead = parse_capture([record, columnar], fallback_timestamps_ms=[NOW + 7_200_000] * 2, now_ms=NOW, **path)
        assert _reasons(dead) == ["bad_timestamp"] * 2 and "Kafka timestamp" in dead[0].detail
        batches, dead = parse_capture([record, columnar], fallback_timestamps_ms=[NOW] * 2, now_ms=NOW, **path)
        assert dead == [] and batches[0].timestamps_ms.tolist() == [NOW, NOW]


# ------------------------------------------------------------------------------------------------ labels


@pytest.mark.parametrize(("record", "reason"), [
    (encode_label_record("m" * 129, "a", 1, T0), "too_long"),
    (encode_label_record("m", "a" * 257, 1, T0), "too_long"),
    (encode_label_record("m", "a", "y" * 1025, T0), "too_long"),
    (encode_label_record("m", "a", 1, 1_718_000_000_000_000), "bad_timestamp"),
    (encode_label_record("m", "a", 1, NOW + 3_600_001), "bad_timestamp"),
    (orjson.dumps({"model_id": "m", "model_version": "v" * 129, "inference_id": "a", "label": 1, "timestamp": T0}),
     "too_long"),
])
def test_label_records_beyond_the_limits_are_dead_letters_on_both_paths(record: bytes, reason: str) -> None:
    good = encode_label_record("m", "b", 0, T0)
    for native in (True, False):
        batch, dead = parse_labels([good, record, good], native=native, now_ms=NOW)
        assert [(d.index, d.reason) for d in dead] == [(1, reason)]
        assert batch.source_index.tolist() == [0, 2]


# ------------------------------------------------------------------------------------------------ settings


def test_the_limits_come_from_the_settings_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().limits.capture_limits() == CaptureLimits()
    monkeypatch.setenv("STREAMDRIFT_LIMITS__MAX_FEATURES", "500")
    monkeypatch.setenv("STREAMDRIFT_LIMITS__MAX_FUTURE", "5m")
    limits = load_settings().limits.capture_limits()
    assert limits.max_features == 500 and limits.max_future_ms == 300_000
    monkeypatch.setenv("STREAMDRIFT_LIMITS__MAX_TIMESTAMP_MS", str(1 << 53))
    with pytest.raises(ConfigError, match="max_timestamp_ms"):
        load_settings()


@pytest.mark.parametrize("bad", [{"max_features": 0}, {"rows_per_byte": -1}, {"max_timestamp_ms": 1 << 53},
                                 {"min_timestamp_ms": 5, "max_timestamp_ms": 5}, {"max_value_chars": 1.5}])
def test_capture_limits_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CaptureLimits(**bad)


# ------------------------------------------------------------------------------------------------ the text scan


def _longest_string(obj: object) -> int:
    """The longest string (key or value) of a JSON value, in UTF-8 bytes."""
    if isinstance(obj, str):
        return len(obj.encode())
    if isinstance(obj, dict):
        return max([0, *map(_longest_string, obj), *map(_longest_string, obj.values())])
    if isinstance(obj, list):
        return max([0, *map(_longest_string, obj)])
    return 0


_json_text = st.text(alphabet=st.sampled_from(['a', 'é', '"', '\\', '/', '\n', 'x', ' ', '\u2028', '😀', ':', ',']),
                     max_size=150)
_json_value = st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | _json_text,
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_json_text, inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(_json_text, _json_value, max_size=6), st.integers(0, 2), st.sampled_from([0, 3, 20, 63, 64, 70, 128]))
def test_the_native_scan_bounds_every_string_of_a_json_message(obj: dict[str, Any], style: int, limit: int) -> None:
    """json_strings_within(blob, limit) answers exactly whether every string is at most ``limit`` UTF-8 bytes when
    the message has no backslash, and never says yes when a string has more than ``limit`` characters; so
    Checks.for_json skips the per-value checks only when every string is within the smallest limit."""
    blob = orjson.dumps(obj) if style == 0 else json.dumps(obj, ensure_ascii=style == 1).encode()
    within = _native.json_strings_within(blob, limit)
    if b"\\" not in blob:
        assert within == (_longest_string(obj) <= limit)
    if within:
        assert max([0, *(len(s) for s in _strings(obj))]) <= limit
    small = Checks.of(CaptureLimits(max_model_id_chars=20, max_inference_id_chars=20, max_name_chars=20,
                                    max_value_chars=20))
    if small.for_json(blob).short_texts:
        assert max([0, *(len(s) for s in _strings(obj))]) <= 20


def _strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [*obj, *(s for v in obj.values() for s in _strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def test_the_native_scan_on_chunk_edges_and_unterminated_strings() -> None:
    for size in (0, 1, 62, 63, 64, 65, 127, 128, 129, 200):
        for pad in (0, 1, 30, 63, 64):
            blob = b" " * pad + json.dumps({"k": "a" * size, "n": [1] * 40}).encode()
            for limit in (0, 1, 40, 63, 64, 65, 128, 129):
                assert _native.json_strings_within(blob, limit) == (max(size, 1) <= limit), (size, pad, limit)
    assert not _native.json_strings_within(b'{"a": "unterminated', 1000)
    assert _native.json_strings_within(b'{"a": "x\\\\"}', 3)  # a string ending in an escaped backslash
    assert not _native.json_strings_within(b'{"a": "x\\\\"}', 2)
