"""The fast paths give the batches the record path gives: a poll read natively
(:mod:`streamdrift.ingest.sources.nativepoll`) or column-wise at once in Python
(:mod:`streamdrift.ingest.sources.pollpath`), documents as numeric matrices (:func:`blocks.fast_segment`) and
every row as a capture record (:mod:`streamdrift.ingest.jsonrecords`), on generated polls mixing good and bad
messages, several models, flat and nested tensors, shapes, text and nulls."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.ingest.deadletters import DeadLetter
from streamdrift.ingest.sources import engine
from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser, Messages

NAMES = ["a", "b", "c"]
T0 = 1_718_000_000_000
value = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 3)))
odd = st.one_of(value, st.sampled_from([None, True, "x", [1.0]]))


@st.composite
def oip_doc(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    cell = odd if draw(st.integers(0, 9)) == 0 else value
    rows = [[draw(cell) for _ in NAMES] for _ in range(n)]
    nested = draw(st.booleans())
    tensor: dict[str, Any] = {"name": "input-0", "datatype": "FP32",
                              "data": rows if nested else [v for r in rows for v in r]}
    shape = draw(st.sampled_from(["right", "none", "wrong"]))
    if shape != "none":
        tensor["shape"] = [n, len(NAMES)] if shape == "right" else [n + 1, len(NAMES)]
    n_pred = n if draw(st.integers(0, 15)) else n + 1
    rid = f"r{draw(st.integers(0, 10**6))}"
    if draw(st.integers(0, 9)) == 0:  # about the limit (256 characters) with the rows' suffixes (":0" ..) or without
        rid = rid.ljust(draw(st.integers(252, 257)), "x")
    return {"id": rid, "model_name": draw(st.sampled_from(["m1", "m2"])),
            "ts": T0 + draw(st.integers(0, 10**6)), "inputs": {"input-0": tensor},
            "outputs": {"label": {"data": [draw(st.integers(0, 1)) for _ in range(n_pred)]},
                        "proba": {"data": [draw(st.floats(0, 1)) for _ in range(n_pred)]}}}


SOURCE = SourceSettings.model_validate({"name": "s", "topic": "t", "mapping": {
    "model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": NAMES},
    "prediction": "/outputs/label", "score": "/outputs/proba", "inference_id": "/id",
    "event_time": {"field": "/ts", "unit": "ms"}}})
FIELDS = SourceSettings.model_validate({"name": "s", "topic": "t", "mapping": {
    "model_id": "/model_name", "features": {"fields": {"a": "/a", "b": "/b"}}, "prediction": "/p"}})


def _view(result: tuple[list[CaptureBatch], list[DeadLetter]]) -> Any:
    batches, dead = result
    out = []
    for b in batches:
        feats = {name: (np.nan_to_num(c.numbers, nan=-7.5).tolist(), c.kinds.tolist(),
                        None if c.strings is None else c.strings.tolist()) for name, c in b.features.columns.items()}
        pred = None if b.prediction is None else (np.nan_to_num(b.prediction.numbers, nan=-7.5).tolist(),
                                                  b.prediction.kinds.tolist())
        out.append((b.model_id, b.model_version, b.timestamps_ms.tolist(), b.inference_ids.tolist(), feats, pred,
                    None if b.score is None else b.score.tolist(), b.source_index.tolist()))
    return sorted(out, key=lambda x: (x[0], x[7])), [(d.index, d.reason) for d in dead]


def _three_ways(source: SourceSettings, docs: list[Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    poll = Messages([orjson.dumps(d) for d in docs], [None] * len(docs), [None] * len(docs), [T0] * len(docs))
    fast = _view(MappedParser(source).parse(poll))  # the native reader when it takes the poll
    python_poll = _view(MappedParser(source, use_native=False).parse(poll))
    assert python_poll == fast
    per_document = _view(MappedParser(source, poll_path=False).parse(poll))
    with monkeypatch.context() as m:
        m.setattr(engine, "fast_segment", lambda *a, **k: None)
        records = _view(MappedParser(source, poll_path=False).parse(poll))
    return [fast, per_document, records]


@settings(max_examples=150, deadline=None)
@given(st.lists(oip_doc(), min_size=1, max_size=12))
def test_tensor_polls_read_the_same_three_ways(docs: list[dict[str, Any]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        fast, per_document, records = _three_ways(SOURCE, docs, mp)
    assert fast == per_document == records


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "model_name": st.sampled_from(["m1", "m2"]),
    "a": st.one_of(value, st.lists(value, min_size=1, max_size=3)),
    "b": st.one_of(odd, st.lists(value, min_size=1, max_size=3)),
    "p": st.one_of(st.integers(0, 1), st.lists(st.integers(0, 1), min_size=1, max_size=3))}), min_size=1, max_size=10))
def test_field_polls_read_the_same_three_ways(docs: list[dict[str, Any]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        fast, per_document, records = _three_ways(FIELDS, docs, mp)
    assert fast == per_document == records


@settings(max_examples=80, deadline=None)
@given(st.lists(oip_doc(), min_size=1, max_size=20), st.integers(1, 5), st.integers(50, 2000))
def test_a_poll_read_in_chunks_gives_the_batches_of_one_read(docs: list[dict[str, Any]], chunk: int,
                                                            chunk_bytes: int) -> None:
    poll = Messages([orjson.dumps(d) for d in docs], [None] * len(docs), [None] * len(docs), [T0] * len(docs))
    whole = _view(MappedParser(SOURCE).parse(poll))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "CHUNK", chunk)
        mp.setattr(engine, "CHUNK_BYTES", chunk_bytes)
        chunked = _view(MappedParser(SOURCE).parse(poll))
    assert chunked == whole
