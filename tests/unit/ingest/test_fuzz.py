"""Fuzzing the capture and label parsers with mutated valid messages (hypothesis, derandomized, bounded): JSON
records, JSON columnar batches and Arrow batches (plain and compressed) with bytes flipped, cut or appended,
numbers replaced by huge or absurd ones, values nested or of the wrong type, and Arrow headers patched.

Whatever the input, parsing raises nothing, every message ends up either in a batch's rows or dead-lettered
(exactly once), and every parse path reaches the same decisions."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_limits import PATHS, every_path

from streamdrift.ingest.arrow import encode_arrow_batch
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

T0 = 1_718_000_000_000
def fuzz(examples: int) -> settings:
    """Fixed examples (derandomized, no example database), bounded: the file runs in well under a minute."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{"timestamp": T0 + i, "inference_id": f"id-{seed}-{i}",
             "features": {"x": float(rng.normal()), "k": int(rng.integers(0, 9)),
                          "city": ["Oslo", "Bergen", "Tromsø"][i % 3], "flag": bool(i % 2)},
             "prediction": {"label": int(i % 2), "score": 0.25},
             "attributions": {"x": 0.5, "k": -0.25}} for i in range(n)]


def _arrow(rows: list[dict[str, Any]], codec: str | None) -> bytes:
    blob = encode_arrow_batch("m", rows, model_version="2")
    assert blob is not None
    if codec is None:
        return blob
    table = pa.ipc.open_stream(blob).read_all()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _seed_messages() -> list[bytes]:
    rows = _rows(6, 1)
    return [
        *(encode_capture_record("m", features=r["features"], prediction=r["prediction"], inference_id=r["inference_id"],
                                timestamp_ms=r["timestamp"], attributions=r["attributions"]) for r in rows[:3]),
        encode_columnar_batch("m", rows, model_version="2"),
        encode_columnar_batch("other", _rows(40, 2)),  # over 4 KiB: the simdjson path by default
        _arrow(rows, None),
        _arrow(_rows(30, 3), "zstd"),
        _arrow(_rows(30, 4), "lz4"),
    ]


SEEDS = _seed_messages()
_HOSTILE_NUMBERS = ["1e999", "-1e999", "18446744073709551616", "1" + "0" * 400, "-1", "-0", "1e308", "0.5",
                    "1718000000000000", "1718000000000000000", "32503680000001", "50000000", "1e-400", "NaN",
                    "Infinity", "9007199254740993", "true", "null", '"1"', "[]", "{}", "[[[[1]]]]"]
_HOSTILE_VALUES: list[Any] = [None, True, [], {}, [[[[1]]]], {"a": {"b": [1]}}, "x" * 2000, 10**30, -1, 1.5e308,
                              "2024-06-10T08:00:00+14:00", "not a time", 1_718_000_000_000_000, [1, 2, 3] * 50,
                              {"label": [1]}, "\u2028", "é" * 300]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """One seed message, mutated at the byte level or (for JSON) at the value level."""
    seed = draw(st.sampled_from(SEEDS))
    kind = draw(st.sampled_from(["bytes", "cut", "extend", "number", "value", "arrow_int", "same"]))
    blob = bytearray(seed)
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(blob) - 1))
            blob[at] = draw(st.integers(0, 255))
    elif kind == "cut":
        blob = blob[:draw(st.integers(0, len(blob) - 1))]
    elif kind == "extend":
        blob += draw(st.binary(min_size=1, max_size=64))
    elif kind == "number" and seed[:1] == b"{":
        text = seed.decode()
        digits = [i for i, c in enumerate(text) if c.isdigit() and (i == 0 or not text[i - 1].isdigit())]
        at = draw(st.sampled_from(digits))
        end = at
        while end < len(text) and (text[end].isdigit() or text[end] in ".eE+-"):
            end += 1
        blob = bytearray((text[:at] + draw(st.sampled_from(_HOSTILE_NUMBERS)) + text[end:]).encode())
    elif kind == "value" and seed[:1] == b"{":
        obj = json.loads(seed)
        _replace_somewhere(obj, draw)
        blob = bytearray(json.dumps(obj).encode())
    elif kind == "arrow_int" and seed[:1] == b"\xff":
        # patch an aligned int64 of the stream (lengths, offsets, counts live there) with a hostile value
        at = 8 * draw(st.integers(0, len(blob) // 8 - 1))
        value = draw(st.sampled_from([0, 1, -1, 2**31, 2**40, 2**62, -(2**63), 1000, 999_999]))
        blob[at:at + 8] = value.to_bytes(8, "little", signed=True)
    return bytes(blob)


def _replace_somewhere(obj: Any, draw: st.DrawFn) -> None:
    """Replace one value (at any depth) of a JSON object with a hostile one, or add or drop a key."""
    node = obj
    for _ in range(draw(st.integers(0, 3))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(
            node, list) else []
        containers = [v for _, v in children if isinstance(v, dict | list) and v]
        if not containers:
            break
        node = draw(st.sampled_from(containers))
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "drop":
            del node[key]
        elif action == "add":
            node[draw(st.sampled_from(["format", "n", "model_id", "extra", "x" * 300]))] = draw(
                st.sampled_from(_HOSTILE_VALUES))
        else:
            node[key] = draw(st.sampled_from(_HOSTILE_VALUES))
    elif isinstance(node, list) and node:
        node[draw(st.integers(0, len(node) - 1))] = draw(st.sampled_from(_HOSTILE_VALUES))


def _accounted(values: list[bytes], batches: list[CaptureBatch], dead: list[DeadLetter]) -> None:
    """Each message is dead-lettered, or has rows in the batches, or is a valid batch of no rows."""
    dead_at = [d.index for d in dead]
    assert len(dead_at) == len(set(dead_at)), "a message dead-lettered twice"
    assert all(d.reason in DEAD_LETTER_REASONS for d in dead)
    with_rows = set(np.concatenate([b.source_index for b in batches]).tolist()) if batches else set()
    assert not with_rows & set(dead_at), "a message both read and dead-lettered"
    for index in set(range(len(values))) - with_rows - set(dead_at):
        assert parse_capture([values[index]], fallback_timestamps_ms=[T0]) == ([], []), "a message lost"


@fuzz(400)
@given(st.lists(_mutated(), min_size=1, max_size=4), st.lists(st.sampled_from(SEEDS), max_size=3))
def test_mutated_capture_messages_are_read_or_dead_lettered_alike_on_every_path(
    mutated: list[bytes], clean: list[bytes]
) -> None:
    values = [*mutated, *clean]
    batches, dead = every_path(values, now_ms=T0 + 3_600_000)
    _accounted(values, batches, dead)


@fuzz(100)
@given(st.lists(st.sampled_from(SEEDS[:3]), min_size=1, max_size=5), st.lists(_mutated(), min_size=1, max_size=3))
def test_a_poll_of_records_with_mutants_gives_every_good_record_its_row(clean: list[bytes], mutated: list[bytes]) -> None:
    values = [*clean, *mutated]
    batches, dead = every_path(values)
    _accounted(values, batches, dead)
    rows = set(np.concatenate([b.source_index for b in batches]).tolist()) if batches else set()
    assert set(range(len(clean))) <= rows


_LABEL_SEEDS = [encode_label_record("m", f"id-{i}", label, T0 + i) for i, label in enumerate([1, 0.5, "yes", 0])]


@st.composite
def _mutated_label(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(_LABEL_SEEDS))
    kind = draw(st.sampled_from(["bytes", "cut", "value", "same"]))
    if kind == "bytes":
        blob = bytearray(seed)
        blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
        return bytes(blob)
    if kind == "cut":
        return seed[:draw(st.integers(0, len(seed) - 1))]
    if kind == "value":
        obj = json.loads(seed)
        _replace_somewhere(obj, draw)
        return json.dumps(obj).encode()
    return seed


@fuzz(200)
@given(st.lists(_mutated_label(), min_size=1, max_size=6))
def test_mutated_label_messages_are_read_or_dead_lettered_alike_on_both_paths(values: list[bytes]) -> None:
    native, native_dead = parse_labels(values, fallback_timestamps_ms=[T0] * len(values), now_ms=T0)
    python, python_dead = parse_labels(values, fallback_timestamps_ms=[T0] * len(values), now_ms=T0, native=False)
    assert [(d.index, d.reason) for d in native_dead] == [(d.index, d.reason) for d in python_dead]
    assert native.source_index.tolist() == python.source_index.tolist()
    assert sorted([*native.source_index.tolist(), *(d.index for d in native_dead)]) == list(range(len(values)))


def _columnar_with(**fields: object) -> bytes:
    obj = json.loads(SEEDS[4])  # 40 rows: the simdjson path reads it by default
    obj.update(fields)
    return json.dumps(obj).encode()


def test_what_the_fuzzer_found() -> None:
    """A nested list among a columnar batch's timestamps raised ValueError out of parse_capture; attributions
    that are not an object were read by the simdjson path (no attributions) and dead-lettered by the orjson
    path."""
    stamps = [[], *range(T0 + 1, T0 + 40)]
    for bad, reason in [(_columnar_with(timestamp=stamps), "bad_timestamp"),
                        (_columnar_with(timestamp=[[T0 + i] for i in range(40)]), "bad_timestamp"),
                        (_columnar_with(attributions=True), "bad_batch"),
                        (_columnar_with(attributions=[1, 2]), "bad_batch")]:
        batches, dead = every_path([bad, SEEDS[0]])
        assert [(d.index, d.reason) for d in dead] == [(0, reason)] and batches[0].n_rows == 1


def test_the_fuzz_seeds_are_valid_and_take_every_path() -> None:
    batches, dead = every_path(SEEDS)
    assert dead == [] and sum(b.n_rows for b in batches) == 3 + 6 + 40 + 6 + 30 + 30
    assert len(PATHS) == 4


# -- mapped sources (streamdrift.ingest.sources): the presets' messages, mutated

def _source_seeds() -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    from servers import (
        ce_headers,
        kserve_v1_request,
        kserve_v1_response,
        oip_request,
        oip_response,
        oip_tensor,
        sagemaker_csv_record,
    )

    rows = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]
    return [
        ("oip-v2", oip_request("r1", [oip_tensor("input-0", rows)]), []),
        ("oip-v2", oip_response("r1", "m", [oip_tensor("out", [1, 0], "INT64")]), []),
        ("kserve-cloudevents", kserve_v1_request(rows), ce_headers("e1", "request", "m")),
        ("kserve-cloudevents", kserve_v1_response([1, 0]), ce_headers("e1", "response", "m")),
        ("sagemaker-capture", sagemaker_csv_record([1, 2, 3], 0.5, event_id="e", inference_id="i", time_ms=T0), []),
    ]


_SOURCE_SEEDS = _source_seeds()
_MAPPINGS = {
    "oip-v2": {"model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b", "c"]},
               "prediction": "/outputs/out", "inference_id": "/id"},
    "kserve-cloudevents": {"model_id": {"header": "ce_inferenceservicename"}, "prediction": "/predictions",
                           "features": {"tensor": "/instances", "names": ["a", "b", "c"]}, "inference_id": "/ce/id"},
    "sagemaker-capture": {"model_id": {"const": "m"}, "features": {"tensor": "/input", "names": ["a", "b", "c"]},
                          "score": "/output", "inference_id": "/eventMetadata/inferenceId",
                          "event_time": {"field": "/eventMetadata/inferenceTime", "unit": "iso"}},
}


@st.composite
def _mutated_source_message(draw: st.DrawFn, preset: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    seeds = [(v, h) for p, v, h in _SOURCE_SEEDS if p == preset]
    value, headers = draw(st.sampled_from(seeds))
    kind = draw(st.sampled_from(["bytes", "cut", "value", "header", "same"]))
    if kind == "bytes":
        blob = bytearray(value)
        blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
        value = bytes(blob)
    elif kind == "cut":
        value = value[:draw(st.integers(0, len(value) - 1))]
    elif kind == "value":
        obj = json.loads(value)
        _replace_somewhere(obj, draw)
        value = json.dumps(obj).encode()
    elif kind == "header" and headers:
        at = draw(st.integers(0, len(headers) - 1))
        headers = [*headers[:at], *([] if draw(st.booleans()) else [(headers[at][0], b"\xff\xfe")]),
                   *headers[at + 1:]]
    return value, headers


@fuzz(150)
@given(st.sampled_from(sorted(_MAPPINGS)).flatmap(
    lambda preset: st.tuples(st.just(preset), st.lists(_mutated_source_message(preset), min_size=1, max_size=6))))
def test_mutated_source_messages_are_read_waiting_or_dead_lettered_alike_on_every_path(
    case: tuple[str, list[tuple[bytes, list[tuple[str, bytes]]]]]
) -> None:
    from streamdrift.ingest.sources.config import SourceSettings
    from streamdrift.ingest.sources.engine import MappedParser, Messages

    preset, messages = case
    source = SourceSettings.model_validate({"name": "f", "topic": "t", "preset": preset,
                                            "mapping": _MAPPINGS[preset]})
    poll = Messages([v for v, _ in messages], [None] * len(messages), [h for _, h in messages],
                    [T0 + i for i in range(len(messages))])
    results = []
    for poll_path in (True, False):
        parser = MappedParser(source, poll_path=poll_path)
        pairs = parser.new_pairs()
        batches, dead = parser.parse(poll, pairs, now_ms=T0 + 3_600_000)
        assert all(d.reason in DEAD_LETTER_REASONS for d in dead)
        dead_at = [d.index for d in dead]
        assert len(dead_at) == len(set(dead_at)), "a message dead-lettered twice"
        read = set(np.concatenate([b.source_index for b in batches]).tolist()) if batches else set()
        assert not read & set(dead_at)
        results.append(([(b.model_id, b.n_rows, b.source_index.tolist()) for b in batches],
                         [(d.index, d.reason) for d in dead], None if pairs is None else len(pairs)))
        if pairs is None:  # unpaired presets: every message is read or dead-lettered
            assert read | set(dead_at) == set(range(len(messages)))
    assert results[0] == results[1]
