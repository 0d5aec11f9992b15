"""The mergeable-state contract, checked for every state kind listed in ``state_cases.STATE_CASES``."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from state_cases import STATE_CASES, StateCase

from streamdrift.errors import (
    CorruptBlobError,
    MergeError,
    ParameterMismatchError,
    SerializationError,
    VersionMismatchError,
)
from streamdrift.profile.sketches import HEADER_SIZE

cases = pytest.mark.parametrize("case", STATE_CASES, ids=str)


def filled(case: StateCase, seed: int = 7, batches: int = 2) -> Any:
    rng = np.random.default_rng(seed)
    state = case.empty()
    for _ in range(batches):
        case.update(state, case.batch(rng))
    return state


@cases
def test_empty_state_is_empty_and_round_trips(case: StateCase) -> None:
    state = case.empty()
    assert case.is_empty(state)
    back = case.load(state.to_bytes())
    assert case.is_empty(back)
    assert back.to_bytes() == state.to_bytes()


@cases
def test_update_makes_state_non_empty(case: StateCase) -> None:
    state = filled(case)
    assert not case.is_empty(state)
    assert case.summary(state) != case.summary(case.empty())


@cases
def test_merge_with_empty_is_identity_both_ways(case: StateCase) -> None:
    state = filled(case)
    before = state.to_bytes()
    assert state.merge(case.empty()) is state
    assert state.to_bytes() == before
    target = case.empty()
    assert target.merge(state) is target
    assert case.summary(target) == case.summary(state)


@cases
def test_merge_equals_sequential_updates(case: StateCase) -> None:
    rng = np.random.default_rng(3)
    b1, b2 = case.batch(rng), case.batch(rng)
    left, right, seq = case.empty(), case.empty(), case.empty()
    case.update(left, b1)
    case.update(right, b2)
    case.update(seq, b1)
    case.update(seq, b2)
    left.merge(right)
    # Small batches (< k values, < map size distinct) keep every sketch exact, so summaries match exactly.
    assert case.summary(left) == case.summary(seq)


@cases
def test_reset_gives_empty_state_again(case: StateCase) -> None:
    state = filled(case)
    state.reset()
    assert case.is_empty(state)
    assert state.to_bytes() == case.empty().to_bytes()


@cases
def test_round_trip_keeps_state(case: StateCase) -> None:
    state = filled(case)
    blob = state.to_bytes()
    back = case.load(blob)
    # datasketches may lay out a re-read hash map differently: compare the state, not the bytes.
    assert case.summary(back) == case.summary(state)
    assert case.summary(case.load(back.to_bytes())) == case.summary(state)
    assert case.summary(case.load_expecting_default(blob)) == case.summary(state)


@cases
def test_truncated_blobs_are_corrupt(case: StateCase) -> None:
    blob = filled(case).to_bytes()
    for length in sorted({0, 1, 4, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 1, len(blob) // 2, len(blob) - 1}):
        with pytest.raises(CorruptBlobError):
            case.load(blob[:length])
    with pytest.raises(CorruptBlobError):
        case.load(blob + b"\x00")


@cases
def test_flipped_payload_byte_is_corrupt(case: StateCase) -> None:
    blob = filled(case).to_bytes()
    rng = np.random.default_rng(11)
    positions = rng.choice(np.arange(HEADER_SIZE, len(blob)), size=min(40, len(blob) - HEADER_SIZE), replace=False)
    for pos in positions:
        garbled = bytearray(blob)
        garbled[pos] ^= 0x5A
        with pytest.raises(CorruptBlobError):
            case.load(bytes(garbled))


@cases
def test_any_flipped_header_byte_raises_a_serialization_error(case: StateCase) -> None:
    blob = filled(case).to_bytes()
    for pos in range(HEADER_SIZE):
        garbled = bytearray(blob)
        garbled[pos] ^= 0xFF
        with pytest.raises(SerializationError):
            case.load(bytes(garbled))


@cases
def test_other_format_version_is_a_version_mismatch(case: StateCase) -> None:
    blob = bytearray(filled(case).to_bytes())
    struct.pack_into("<H", blob, 4, 99)
    with pytest.raises(VersionMismatchError, match="version 99"):
        case.load(bytes(blob))


@cases
def test_other_kind_is_a_parameter_mismatch(case: StateCase) -> None:
    other = next(c for c in STATE_CASES if c.name != case.name)
    with pytest.raises(ParameterMismatchError):
        case.load(other.empty().to_bytes())


@cases
def test_other_parameters_are_rejected(case: StateCase) -> None:
    other = case.empty_other_params()
    case.update(other, case.batch(np.random.default_rng(5)))
    with pytest.raises(ParameterMismatchError):
        case.load_expecting_default(other.to_bytes())
    assert case.summary(case.load(other.to_bytes())) == case.summary(other)
    with pytest.raises(MergeError):
        filled(case).merge(other)


@cases
def test_merging_another_state_kind_is_a_merge_error(case: StateCase) -> None:
    other = next(c for c in STATE_CASES if c.name != case.name)
    with pytest.raises(MergeError):
        case.empty().merge(other.empty())


@cases
def test_non_bytes_and_foreign_bytes_are_corrupt(case: StateCase) -> None:
    with pytest.raises(CorruptBlobError):
        case.load("not bytes")  # type: ignore[arg-type]
    with pytest.raises(CorruptBlobError):
        case.load(b"PK\x03\x04" + bytes(100))
