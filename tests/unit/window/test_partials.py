from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.errors import CorruptBlobError, SerializationError, VersionMismatchError
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.partials import (
    MAGIC,
    MARKER_MAX_MODELS,
    MARKER_MODELS_BYTES,
    PartialDelta,
    WindowClosed,
    decode_partial,
    encode_partial,
    marker_models,
    partial_from_window,
)
from streamdrift.window.windows import WindowDelta


def _profile(seed: int = 1, n: int = 500) -> DatasetProfile:
    rng = np.random.default_rng(seed)
    p = DatasetProfile.empty(ProfileParams())
    p.update(
        Columns(
            n,
            {
                "x": column_from_values(rng.normal(size=n).tolist()),
                "c": column_from_values([f"k{i}" for i in rng.integers(0, 5, n)]),
            },
        )
    )
    return p


def _envelope(kind: int, header: Mapping[str, object], payload: bytes) -> bytes:
    """A version-1 partials message built by hand (as an earlier build wrote it)."""
    head = orjson.dumps(header)
    body = MAGIC + bytes([1, kind]) + struct.pack(">I", len(head)) + head + struct.pack(">I", len(payload)) + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _delta(**kw: object) -> PartialDelta:
    base: dict[str, object] = dict(
        model_id="m", model_version="v2", window_start_ms=60_000, window_end_ms=120_000,
        source_topic="cap", partition=3, end_offset=1234, n_records=500, profile=_profile(),
        extras={"mq": b"\x00\x01state", "bias": b""},
    )  # fmt: skip
    base.update(kw)
    return PartialDelta(**base)  # type: ignore[arg-type]


def test_delta_round_trip() -> None:
    d = _delta()
    back = decode_partial(encode_partial(d))
    assert isinstance(back, PartialDelta)
    assert (back.model_id, back.model_version, back.window_start_ms, back.window_end_ms) == ("m", "v2", 60_000, 120_000)
    assert back.delta_id == ("cap", 3, 1234)
    assert back.global_id == ("cap", 3, 1234, "m", 60_000)
    assert back.n_records == 500
    assert dict(back.extras) == {"mq": b"\x00\x01state", "bias": b""}
    assert back.profile.n_records == 500
    assert back.profile.to_bytes() == d.profile.to_bytes()


def test_delta_without_version_or_extras() -> None:
    back = decode_partial(encode_partial(_delta(model_version=None, extras={})))
    assert isinstance(back, PartialDelta)
    assert back.model_version is None and dict(back.extras) == {}


def test_window_closed_round_trip() -> None:
    m = WindowClosed("cap", 5, 0, 60_000, 61_000, ("a", "b"))
    assert decode_partial(encode_partial(m)) == m
    empty = WindowClosed("cap", 0, 0, 60_000, 61_000)
    assert decode_partial(encode_partial(empty)) == empty


def test_stage_round_trips_and_defaults_to_data() -> None:
    labels = WindowClosed("cap", 5, 0, 60_000, 61_000, stage="labels")
    assert decode_partial(encode_partial(labels)) == labels
    delta = decode_partial(encode_partial(_delta(stage="labels")))
    assert isinstance(delta, PartialDelta) and delta.stage == "labels"
    # a message of an earlier build has no stage field: it is a data-stage message
    old = WindowClosed("cap", 5, 0, 60_000, 61_000)
    header = {"source_topic": "cap", "partition": 5, "window_start_ms": 0, "window_end_ms": 60_000,
              "watermark_ms": 61_000, "models": []}
    assert decode_partial(_envelope(2, header, b"")) == old
    with pytest.raises(CorruptBlobError):
        decode_partial(_envelope(2, {**header, "stage": "later"}, b""))


def test_delta_of_an_earlier_build_with_a_standalone_profile_blob() -> None:
    profile = _profile().to_bytes()  # its own envelope and CRC, as earlier builds wrote it
    header: dict[str, object] = {"model_id": "m", "model_version": None, "window_start_ms": 0, "window_end_ms": 60_000,
              "source_topic": "cap", "partition": 1, "end_offset": 5, "n_records": 500,
              "profile_len": len(profile), "extras": []}
    back = decode_partial(_envelope(1, header, profile))
    assert isinstance(back, PartialDelta) and back.stage == "data"
    assert back.profile.to_bytes() == profile


def test_delta_without_part_is_encoded_byte_for_byte_as_before() -> None:
    """The part header is optional: a whole delta's message is exactly what earlier builds wrote (header fields
    in their order, nested profile, extras, CRC), and it decodes to a whole delta (part None)."""
    d = _delta()
    profile = d.profile.to_bytes(nested=True)
    header: dict[str, object] = {
        "model_id": "m", "model_version": "v2", "window_start_ms": 60_000, "window_end_ms": 120_000,
        "source_topic": "cap", "partition": 3, "end_offset": 1234, "n_records": 500, "stage": "data",
        "profile_len": len(profile), "profile_nested": True, "extras": [["mq", 7], ["bias", 0]],
    }  # fmt: skip
    earlier = _envelope(1, header, profile + b"\x00\x01state")
    assert encode_partial(d) == earlier
    back = decode_partial(earlier)
    assert isinstance(back, PartialDelta) and back.part is None
    assert back.profile.to_bytes() == d.profile.to_bytes()


def test_part_header_round_trips_and_is_checked() -> None:
    d = _delta(part=(2, 5))
    blob = encode_partial(d)
    assert b'"part":[2,5]' in blob and blob[len(MAGIC)] == 1  # format version 1 still
    back = decode_partial(blob)
    assert isinstance(back, PartialDelta) and back.part == (2, 5) and back.delta_id == d.delta_id
    whole = encode_partial(_delta())
    assert len(blob) == len(whole) + len(b',"part":[2,5]')
    profile = _profile().to_bytes(nested=True)
    header: dict[str, object] = {"model_id": "m", "model_version": None, "window_start_ms": 0, "window_end_ms": 1,
                                 "source_topic": "c", "partition": 0, "end_offset": 1, "n_records": 500,
                                 "profile_len": len(profile), "profile_nested": True, "extras": []}
    one = decode_partial(_envelope(1, {**header, "part": [0, 1]}, profile))
    assert isinstance(one, PartialDelta) and one.part == (0, 1)
    for bad in ([5, 5], [-1, 2], [1], "1/2", [True, 2], [0, 1.0]):
        with pytest.raises(CorruptBlobError, match="part"):
            decode_partial(_envelope(1, {**header, "part": bad}, profile))


def test_window_closed_is_encoded_as_before_and_may_say_its_models_were_cut() -> None:
    m = WindowClosed("cap", 2, 60_000, 120_000, 130_000, ("m", "n"))
    assert encode_partial(m).hex() == (  # as earlier builds wrote it
        "5344504d01020000008b7b22736f757263655f746f706963223a22636170222c22706172746974696f6e223a322c2277696e646f"
        "775f73746172745f6d73223a36303030302c2277696e646f775f656e645f6d73223a3132303030302c2277617465726d61726b5f"
        "6d73223a3133303030302c226d6f64656c73223a5b226d222c226e225d2c227374616765223a2264617461227d00000000b475b5c7"
    )
    assert decode_partial(encode_partial(m)) == m and not m.models_cut
    cut = WindowClosed("cap", 2, 60_000, 120_000, 130_000, ("m",), models_cut=True)
    assert decode_partial(encode_partial(cut)) == cut
    header = {"source_topic": "cap", "partition": 5, "window_start_ms": 0, "window_end_ms": 60_000,
              "watermark_ms": 61_000, "models": [], "models_cut": "yes"}
    with pytest.raises(CorruptBlobError, match="models_cut"):
        decode_partial(_envelope(2, header, b""))


def test_marker_models_are_bounded_in_number_and_bytes() -> None:
    assert marker_models(["a", "b"]) == (("a", "b"), False)
    many = [f"m{i}" for i in range(MARKER_MAX_MODELS + 5)]
    assert marker_models(many) == (tuple(many[:MARKER_MAX_MODELS]), True)
    long = ["x" * 10_000] * 20
    kept, cut = marker_models(long)
    assert cut and len(orjson.dumps(list(kept))) <= MARKER_MODELS_BYTES < len(orjson.dumps(long))
    assert marker_models(["y" * (MARKER_MODELS_BYTES + 1)]) == ((), True)


def test_partial_from_window() -> None:
    p = _profile()
    wd = WindowDelta("m", None, 0, 60_000, p, 500)
    d = partial_from_window(wd, source_topic="cap", partition=1, end_offset=99)
    assert d.delta_id == ("cap", 1, 99) and d.n_records == 500 and d.profile is p


@pytest.mark.parametrize("cut", [0, 3, 10, 40, -1])
def test_truncated_blobs_are_corrupt(cut: int) -> None:
    blob = encode_partial(_delta())
    with pytest.raises(CorruptBlobError):
        decode_partial(blob[:cut])


def test_flipped_byte_is_corrupt() -> None:
    blob = bytearray(encode_partial(_delta()))
    rng = np.random.default_rng(3)
    for pos in rng.integers(6, len(blob), 20).tolist():
        garbled = bytearray(blob)
        garbled[pos] ^= 0x5A
        with pytest.raises(CorruptBlobError):
            decode_partial(bytes(garbled))


def test_foreign_bytes_and_versions() -> None:
    with pytest.raises(CorruptBlobError):
        decode_partial(b'{"model_id": "m"}' * 3)
    blob = bytearray(encode_partial(WindowClosed("cap", 0, 0, 1, 1)))
    blob[len(MAGIC)] = 99
    with pytest.raises(VersionMismatchError):
        decode_partial(bytes(blob))


def test_well_formed_envelope_with_bad_header_is_corrupt() -> None:
    head = b'{"source_topic": 5}'
    body = MAGIC + bytes([1, 2]) + struct.pack(">I", len(head)) + head + struct.pack(">I", 0)
    blob = body + struct.pack(">I", zlib.crc32(body))
    with pytest.raises(CorruptBlobError):
        decode_partial(blob)
    # a profile payload that is not a profile
    good = encode_partial(_delta(extras={}))
    assert isinstance(decode_partial(good), PartialDelta)
    head2 = (
        b'{"model_id":"m","model_version":null,"window_start_ms":0,"window_end_ms":1,"source_topic":"c",'
        b'"partition":0,"end_offset":1,"n_records":1,"profile_len":4,"extras":[]}'
    )
    body2 = MAGIC + bytes([1, 1]) + struct.pack(">I", len(head2)) + head2 + struct.pack(">I", 4) + b"junk"
    with pytest.raises(SerializationError):
        decode_partial(body2 + struct.pack(">I", zlib.crc32(body2)))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.binary(max_size=60).map(lambda b: MAGIC + bytes([1]) + b))
def test_arbitrary_bytes_raise_only_serialization_errors(blob: bytes) -> None:
    with pytest.raises(SerializationError):
        decode_partial(blob)
