"""Open Inference Protocol requests and responses read by the native reader
(:mod:`streamdrift.ingest.sources.nativepoll`: pairs matched in bulk, values gathered per role) give the batches,
dead letters and pair outcomes of the Python paths, however polls cut the partition (pairs across polls, halves
that wait, expire or are duplicated, bad messages among good ones)."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import ce_headers

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser, Messages

NAMES = ["a", "b", "c"]
T0 = 1_718_000_000_000
value = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)))

TENSOR = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "pairing": {"ttl_seconds": 5},
                                        "mapping": {
    "model_id": "/model_name", "model_version": "/model_version",
    "features": {"tensor": "/inputs/input-0", "names": NAMES},
    "prediction": "/outputs/label", "score": "/outputs/proba", "inference_id": "/id"}})
FIELDS = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "mapping": {
    "model_id": "/model_name", "features": {"fields": {n: f"/inputs/{n}" for n in NAMES}},
    "prediction": "/outputs/label", "inference_id": {"key": True}}})


@st.composite
def exchange(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """A request and its response (one may be missing, repeated, or broken), keyed by the request id."""
    rid = f"r{draw(st.integers(0, 30))}"
    n = draw(st.integers(1, 3))
    rows = [[draw(value) for _ in NAMES] for _ in range(n)]
    if draw(st.booleans()):
        inputs = [{"name": "input-0", "shape": [n, 3], "datatype": "FP64", "data": [v for r in rows for v in r]}]
    else:
        inputs = [{"name": name, "shape": [n], "datatype": "FP64", "data": [r[j] for r in rows]}
                  for j, name in enumerate(NAMES)]
    if draw(st.integers(0, 12)) == 0:
        data: list[object] = inputs[0]["data"]  # type: ignore[assignment]
        data[0] = draw(st.sampled_from([None, "x", True]))
    request = {"id": rid, "inputs": inputs}
    response = {"id": rid, "model_name": draw(st.sampled_from(["m1", "m2"])), "model_version": "1",
                "outputs": [{"name": "label", "shape": [n], "datatype": "INT64", "data": [1] * n},
                            {"name": "proba", "shape": [n], "datatype": "FP64", "data": [0.5] * n}]}
    halves = [request, response]
    if draw(st.booleans()):
        halves.reverse()
    halves = draw(st.sampled_from([halves, halves[:1], halves + halves[:1]]))
    out = [(rid.encode(), orjson.dumps(h)) for h in halves]
    if draw(st.integers(0, 15)) == 0:
        out.append((rid.encode(), b'{"id": "' + rid.encode() + b'", "neither": 1}'))
    return out


def _view(parser: MappedParser, values: list[tuple[bytes, bytes]] | list[tuple[bytes, bytes, Any]], cuts: list[int],
          stamps: list[int]) -> Any:
    pairs = parser.new_pairs()  # None for a preset without pairs
    out: list[Any] = []
    outcomes: Counter[str] = Counter()
    edges = sorted({0, len(values), *[c for c in cuts if c < len(values)]})
    for start, stop in pairwise(edges):
        part = values[start:stop]
        poll = Messages([m[1] for m in part], [m[0] for m in part], [m[2] if len(m) > 2 else None for m in part],
                        stamps[start:stop])
        batches, dead = parser.parse(poll, pairs, T0)
        for b in batches:
            feats = {n: (np.nan_to_num(c.numbers, nan=-7.5).tolist(), c.kinds.tolist()) for n, c in b.features.columns.items()}
            p = b.prediction
            out.append((b.model_id, b.model_version, b.timestamps_ms.tolist(), b.inference_ids.tolist(), feats,
                        None if p is None else (np.nan_to_num(p.numbers, nan=-7.5).tolist(), p.kinds.tolist(),
                                                None if p.strings is None else p.strings.tolist()),
                        None if b.score is None else np.nan_to_num(b.score, nan=-7.5).tolist(),
                        (b.source_index + start).tolist()))
        out.extend(("dead", d.index + start, d.reason) for d in dead)
        if pairs is not None:
            outcomes.update(pairs.take_outcomes())
    return sorted(out, key=repr), outcomes, 0 if pairs is None else len(pairs)


@settings(max_examples=120, deadline=None)
@given(st.lists(exchange(), min_size=1, max_size=14), st.lists(st.integers(1, 40), max_size=4),
       st.randoms(use_true_random=False), st.sampled_from([TENSOR, FIELDS]))
def test_pairs_read_natively_as_in_python(exchanges: list[list[tuple[bytes, bytes]]], cuts: list[int],
                                          rnd: Any, source: SourceSettings) -> None:
    values = [m for ex in exchanges for m in ex]
    rnd.shuffle(values)
    stamps = sorted(T0 + rnd.randint(0, 8_000) for _ in values)  # some halves wait past the 5 s TTL
    native = _view(MappedParser(source), values, cuts, stamps)
    python = _view(MappedParser(source, use_native=False), values, cuts, stamps)
    assert native == python


def test_the_native_reader_takes_plain_pairs() -> None:
    """The common poll is read natively (not left to the Python paths): its pairs complete without documents."""
    parser = MappedParser(TENSOR)
    assert parser._native is not None
    req = {"id": "a", "inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}
    resp = {"id": "a", "model_name": "m", "model_version": "1",
            "outputs": [{"name": "label", "shape": [2], "datatype": "INT64", "data": [0, 1]},
                        {"name": "proba", "shape": [2], "datatype": "FP32", "data": [0.25, 0.75]}]}
    found = parser._native.read([orjson.dumps(req), orjson.dumps(resp)], 1 << 20)
    assert found is not None
    pairs = parser.new_pairs()
    assert pairs is not None
    batches, dead = parser.parse(Messages([orjson.dumps(req), orjson.dumps(resp)], [b"a", b"a"], [None, None],
                                          [T0, T0 + 5]), pairs)
    assert not dead and len(batches) == 1
    b = batches[0]
    assert (b.model_id, b.model_version, b.inference_ids.tolist()) == ("m", "1", ["a:0", "a:1"])
    assert b.features.columns["c"].numbers.tolist() == [3.0, 6.0] and b.timestamps_ms.tolist() == [T0, T0]
    assert b.source_index.tolist() == [1, 1] and pairs.take_outcomes() == Counter({"paired": 1})


KSERVE = SourceSettings.model_validate({
    "name": "k", "topic": "t", "preset": "kserve-cloudevents", "pairing": {"ttl_seconds": 5},
    "mapping": {"model_id": {"header": "ce_inferenceservicename"},
                "features": {"tensor": "/instances", "names": NAMES}, "prediction": "/predictions",
                "inference_id": "/ce/id", "event_time": {"field": "/ce_request/time", "unit": "iso"}}})


@st.composite
def cloud_events(draw: st.DrawFn) -> list[tuple[bytes, bytes, Any]]:
    """A KServe request event and its response (v1 bodies; one may be missing, repeated or broken)."""
    eid = f"ev{draw(st.integers(0, 30))}"
    n = draw(st.integers(1, 3))
    rows = [[draw(value) for _ in NAMES] for _ in range(n)]
    service = draw(st.sampled_from(["svc-a", "svc-b"]))
    at = T0 + draw(st.integers(0, 5000))
    request = (orjson.dumps({"instances": rows}), ce_headers(eid, "request", service, time_ms=at))
    response = (orjson.dumps({"predictions": [1] * n}), ce_headers(eid, "response", service, time_ms=at + 3))
    broken = draw(st.integers(0, 14))
    if broken == 0:
        request = (request[0], [(k, v) for k, v in request[1] if k != "ce_id"])
    elif broken == 1:
        response = (response[0], [*response[1], ("ce_extra", b"\xff")])
    elif broken == 2:
        request = (orjson.dumps({"instances": rows, "predictions": [0] * n}), request[1])
    halves = draw(st.sampled_from([[request, response], [response, request], [request], [request, response,
                                                                                          response]]))
    return [(eid.encode(), v, h) for v, h in halves]


@settings(max_examples=100, deadline=None)
@given(st.lists(cloud_events(), min_size=1, max_size=12), st.lists(st.integers(1, 30), max_size=3),
       st.randoms(use_true_random=False))
def test_cloud_events_read_natively_as_in_python(events: list[list[tuple[bytes, bytes, Any]]], cuts: list[int],
                                                 rnd: Any) -> None:
    values = [m for ex in events for m in ex]
    rnd.shuffle(values)
    stamps = sorted(T0 + rnd.randint(0, 8_000) for _ in values)
    parser = MappedParser(KSERVE)
    assert parser._native is not None
    assert _view(parser, values, cuts, stamps) == _view(MappedParser(KSERVE, use_native=False), values, cuts,
                                                        stamps)


TRICKY = ["0", "-0", "1", "-1", "9007199254740993", "18446744073709551615", "-9223372036854775808", "0.1", "-0.0",
          "1e5", "1E-5", "2.0408999919891357", "1.7976931348623157e308", "5e-324", "123456789012345678901234567890",
          "0.30000000000000004", "1e400", "01", "1.", ".5", "-", "+1", "NaN", "true", "null", '"x"', '"é ☃"',
          '"a\\u00e9"', '"tab\\t"', "[1]", "{}"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=4), st.sampled_from(["", " ", "\n\t "]))
def test_the_native_parser_reads_values_as_orjson_or_leaves_them(picked: list[str], ws: str) -> None:
    """Every message's value at /v as orjson reads it (numbers of a double exactly, integers as integers), or None
    for the whole poll when one is not a plain scalar or not JSON (the Python paths then decide)."""
    from streamdrift import _native

    absent = object()
    values = [f'{{{ws}"v"{ws}:{ws}{text}{ws},"w":[{text}]}}'.encode() for text in picked]
    got = _native.read_source_poll(values, [([("v", -1, False)], 3, 0)], absent, 1 << 20, 1 << 30)
    try:
        want = [orjson.loads(v)["v"] for v in values]
    except orjson.JSONDecodeError:
        assert got is None
        return
    if got is None:  # a value the reader does not take: a nested one, or a number it leaves to Python
        assert any(isinstance(w, list | dict) or t in ("-0.0", "123456789012345678901234567890")
                   for w, t in zip(want, picked, strict=True))
        return
    assert [(type(x), x) for x in got[0]] == [(type(x), x) for x in want]


# per-row predictions and scores: numbers (ints beyond 2**53 and 2**63 too) come back from the reader as float64,
# anything else as objects; the two kinds may meet in one pair (a request carried from an earlier poll)
label = st.one_of(st.integers(-3, 3), st.sampled_from([2**53 + 1, -2**63, 2**64 - 1, 10**17 + 3]),
                  st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v != 0), st.booleans(),
                  st.sampled_from(["yes", "", None]))
SCORED = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "mapping": {
    "model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": NAMES},
    "prediction": "/outputs/label", "score": "/parameters/score", "inference_id": "/id"}})


@st.composite
def scored_exchange(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """A request (its score as a parameter: a value from the request's message) and its response."""
    rid = f"r{draw(st.integers(0, 20))}"
    n = draw(st.integers(1, 3))
    same = draw(st.booleans())  # one type for the message's rows, or each row its own
    first = draw(label)
    labels = [first if same else draw(label) for _ in range(n)]
    scores = draw(st.lists(st.one_of(st.integers(0, 1), st.floats(0.01, 1), st.none()), min_size=n, max_size=n))
    request = {"id": rid, "parameters": {"score": scores if n > 1 else scores[0]},
               "inputs": [{"name": "input-0", "shape": [n, 3], "datatype": "FP64", "data": [1.5] * (3 * n)}]}
    response = {"id": rid, "model_name": "m", "outputs": [{"name": "label", "shape": [n], "datatype": "BYTES",
                                                           "data": labels}]}
    halves = [request, response] if draw(st.booleans()) else [response, request]
    return [(rid.encode(), orjson.dumps(h)) for h in halves]


@settings(max_examples=100, deadline=None)
@given(st.lists(scored_exchange(), min_size=1, max_size=10), st.lists(st.integers(1, 20), max_size=4))
def test_per_row_values_of_every_type_read_natively_as_in_python(exchanges: list[list[tuple[bytes, bytes]]],
                                                                  cuts: list[int]) -> None:
    values = [m for ex in exchanges for m in ex]
    stamps = [T0 + i for i in range(len(values))]
    assert _view(MappedParser(SCORED), values, cuts, stamps) == _view(MappedParser(SCORED, use_native=False),
                                                                     values, cuts, stamps)


def test_per_row_numbers_come_back_as_float64() -> None:
    """A per-row path (kind 2) whose values are all numbers is float64 bytes (ints rounded to the nearest double,
    as array("d") rounds Python ints); a boolean, text or null among them gives the objects."""
    from array import array

    from streamdrift import _native

    absent = object()
    path = [([("v", -1, False)], 2, 0)]
    numbers = [b'{"v": [1, 2.5, 9007199254740993]}', b'{"v": -9223372036854775808}', b'{"v": {"data": [1e-5]}}']
    got = _native.read_source_poll(numbers, path, absent, 1 << 20, 1 << 30)
    assert got is not None
    flat, counts = got[0]
    want = [x for v in numbers for x in np.atleast_1d(orjson.loads(v)["v"] if b"data" not in v else [1e-5])]
    assert bytes(flat) == array("d", want).tobytes() and np.frombuffer(counts, np.int64).tolist() == [3, 1, 1]
    for odd in (b'{"v": [1, true]}', b'{"v": [1, "1"]}', b'{"v": [null, 2]}'):
        got = _native.read_source_poll([numbers[0], odd], path, absent, 1 << 20, 1 << 30)
        assert got is not None and got[0][0] == [1, 2.5, 9007199254740993, *orjson.loads(odd)["v"]]


JSON_TENSOR = SourceSettings.model_validate({"name": "j", "topic": "t", "preset": "json", "mapping": {
    "model_id": "/m", "features": {"tensor": "/x", "names": NAMES}, "prediction": "/p", "inference_id": "/id"}})
JSON_FIELDS = SourceSettings.model_validate({"name": "j", "topic": "t", "preset": "json", "mapping": {
    "model_id": "/m", "features": {"fields": {n: f"/f/{n}" for n in NAMES}}, "score": "/s/1"}})
SHAPES = [  # one message each: flat and nested tensors, escapes (serde_json's parse), repeated keys (the last
    # counts), nesting before and after the values read, and what the fast path leaves to Python
    b'{"m": "a", "id": "1", "x": {"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}, "p": [0, 1]}',
    b'{"m": "a", "id": "2", "x": [[1, 2, 3], [4.5, 5, 6]], "p": [1, 1], "z": {"deep": [[[{}]]]}}',
    b'{"z": [{"a": [1, {"b": null}]}], "m": "a\u00e9", "id": "3\\"", "x": [1, 2, 3], "p": 7}',
    b'{"m": "b", "m": "a", "id": "4", "x": {"data": [0, 0, 0], "data": [7, 8, 9], "shape": [3]}, "p": 0.5}',
    b'{"m": "a", "id": "5", "x": {"shape": [1, 3], "data": [[1, 2, 3]]}, "p": 1}',
    b'{"m": "a", "id": "6", "x": [[1, 2], [3, 4]], "p": [1, 2]}',
    b'{"m": "a", "id": "7", "x": [1, 2, [3]], "p": 1}',
    b'{"m": "a", "id": "8", "x": [], "p": 1}',
    b'{"m": "a", "id": "9", "x": [1, 2, 3], "p": [[1]]}',
    b'{"m": "a", "f": {"a": 1, "b": [2], "c": {"data": [3]}}, "s": [0, {"x": 1}, 0.25]}',
    b'{"m": "a", "f": {"a": [1, 2], "b": [2, 3], "c": {"shape": [2], "data": [3, 4]}}, "s": [0, [0.5, 0.75]]}',
    b'{"m": "a", "f": {"a": [1, 2], "b": [2], "c": [3, 4]}, "s": [0, 1]}',
    b'{"m": "a", "f": {"a": [1, [2]], "b": [2, 3], "c": [3, 4]}, "s": [0, [1, 2]]}',
    b'{"m": "a", "f": {"a": 1, "c": 3}, "s": [0, 1]}',
    b'{"m": "a", "s": [0, 1]}',
    b'{"m": "a", "f": {"a": [1, 2], "b": {"shape": [2], "data": [2, 3]}, "c": []}, "s": [0, [1, 2]]}',
    b'{"m": "a", "f": {"a": 1.5, "b": -2, "c": "3"}, "s": [0, 1]}',
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=6), st.sampled_from([JSON_TENSOR, JSON_FIELDS]))
def test_documents_of_every_shape_read_natively_as_in_python(picked: list[bytes], source: SourceSettings) -> None:
    """The reader's tape (the message parsed once, the paths followed by index) gives what the Python paths
    give: the same batches and dead letters, or it leaves the poll to them."""
    values = [(b"k", v) for v in picked]
    stamps = [T0] * len(values)
    assert _view(MappedParser(source), values, [], stamps) == _view(MappedParser(source, use_native=False), values,
                                                                    [], stamps)


def test_the_tape_reads_escapes_repeated_keys_and_nested_rows() -> None:
    """Messages the fast parser leaves to serde_json (escapes) and nested rows are still read natively."""
    parser = MappedParser(JSON_TENSOR)
    assert parser._native is not None
    found = parser._native.read([SHAPES[2], SHAPES[3], SHAPES[1]], 1 << 20)
    assert found is not None
    rows, counts = found[0]
    assert np.frombuffer(rows, np.float64).tolist() == [1, 2, 3, 7, 8, 9, 1, 2, 3, 4.5, 5, 6]
    assert np.frombuffer(counts, np.int64).tolist() == [1, 1, 2]
    assert found[parser._native._where["model_id"]] == ["a\u00e9", "a", "a"]


# named fields, read by the reader as one matrix (kind 5): a field missing, of another length, not numbers, a
# scalar, a tensor object; the same fields with one of them from the response (one path per field instead)
NAMED = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "mapping": {
    "model_id": "/model_name", "features": {"fields": {n: f"/inputs/{n}" for n in NAMES}}, "score": "/outputs/proba",
    "inference_id": "/id"}})
MIXED = SourceSettings.model_validate({"name": "s", "topic": "t", "preset": "oip-v2", "mapping": {
    "model_id": "/model_name", "features": {"fields": {"a": "/inputs/a", "b": "/inputs/b", "p": "/outputs/proba"}},
    "inference_id": "/id"}})


@st.composite
def field_exchange(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    rid = f"r{draw(st.integers(0, 30))}"
    n = draw(st.integers(1, 3))
    inputs: list[dict[str, Any]] = [{"name": name, "shape": [n], "datatype": "FP32",
                                     "data": [draw(value) for _ in range(n)]} for name in ["a", "b", "c"]]
    odd = draw(st.integers(0, 60))  # most polls read natively, some with an odd message
    if odd == 0:
        del inputs[draw(st.integers(0, 2))]
    elif odd == 1:
        inputs[1]["data"] = inputs[1]["data"] + [1.0]
    elif odd == 2:
        inputs[2]["data"][0] = draw(st.sampled_from([None, "x", True, [1]]))
    elif odd == 3 and n == 1:
        inputs[0]["data"] = inputs[0]["data"][0]
    elif odd == 4:
        inputs[0]["shape"] = [n + 1]
    elif odd == 5:  # a repeated name (each field then walked on its own), of a field or not
        inputs.append({**inputs[draw(st.integers(0, 2))], "name": draw(st.sampled_from(["a", "z", "z"]))})
        inputs.append({**inputs[-1]})
    elif odd == 6:
        del inputs[draw(st.integers(0, 2))]["name"]
    elif odd == 7:
        inputs.reverse()  # the fields not in the tensors' order
    request: dict[str, Any] = {"id": rid, "inputs": inputs if odd != 8 else {"a": inputs[0]}}
    response = {"id": rid, "model_name": "m", "outputs": [{"name": "proba", "shape": [n], "datatype": "FP64",
                                                           "data": [0.5] * (n + (draw(st.integers(0, 40)) == 0))}]}
    halves = [request, response] if draw(st.booleans()) else [response, request]
    return [(rid.encode(), orjson.dumps(h)) for h in halves]


@settings(max_examples=120, deadline=None)
@given(st.lists(field_exchange(), min_size=1, max_size=12), st.lists(st.integers(1, 30), max_size=4),
       st.sampled_from([NAMED, MIXED]))
def test_named_fields_read_as_one_matrix_as_in_python(exchanges: list[list[tuple[bytes, bytes]]], cuts: list[int],
                                                      source: SourceSettings) -> None:
    values = [m for ex in exchanges for m in ex]
    stamps = [T0 + i for i in range(len(values))]
    parser = MappedParser(source)
    assert parser._native is not None and ("fields" in parser._native._where) is (source is NAMED)
    assert _view(parser, values, cuts, stamps) == _view(MappedParser(source, use_native=False), values, cuts, stamps)


def test_named_fields_come_back_as_one_matrix() -> None:
    """Kind 5: the fields' values (fields x rows), and per message their rows: -1 when every field is absent, -2
    when some are (or they differ in length), that message's values left out; a key missing below the first
    leaves the poll to Python, as for one path."""
    from streamdrift import _native

    fields = [[(name, -1, False)] for name in ("a", "b")]
    values = [b'{"a": [1, 2], "b": {"data": [3, 4]}}', b'{"g": 1}', b'{"a": 5}', b'{"a": [6], "b": [7, 8]}',
              b'{"b": 9.5, "a": -1}']
    got = _native.read_source_poll(values, [([], 5, 2)], None, 1 << 20, 1 << 30, fields)
    assert got is not None
    matrix, counts = got[0]
    assert np.frombuffer(matrix, np.float64).tolist() == [1, 2, -1, 3, 4, 9.5]
    assert np.frombuffer(counts, np.int64).tolist() == [2, -1, -2, -2, 1]
    assert _native.read_source_poll(values, [([], 5, 2)], None, 1 << 20, 1 << 30) is None  # no fields given
    for bad in (b'{"a": [1, "x"], "b": [1, 2]}', b'{"a": [], "b": []}', b'{"a": {"x": [1]}, "b": 1}'):
        assert _native.read_source_poll([values[0], bad], [([], 5, 2)], None, 1 << 20, 1 << 30, fields) is None
