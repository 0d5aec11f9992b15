"""The profiles topic's messages: a released window (profile, monitor states, fields) comes back as it went."""

from __future__ import annotations

import pytest
from history import ready_window, rows_of

from streamdrift.errors import CorruptBlobError, VersionMismatchError
from streamdrift.monitors.base import LABELS
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.window.merger import ReadyWindow
from streamdrift.window.stored import (
    decode_stored,
    encode_stored,
    profiles_partition,
    rollup_model,
    stored_key,
    window_of_key,
)


def _labels_window() -> ReadyWindow:
    w = ready_window("m|x", 120_000, [])
    return ReadyWindow(model_id=w.model_id, model_version=None, window_start_ms=w.window_start_ms,
                       window_end_ms=w.window_end_ms, profile=w.profile, n_records=0, partial=True,
                       partitions_closed=frozenset({2}), first_seen_ms=7, extras={"model_quality": [b"a", b"bc"]},
                       stage=LABELS, closing_since_ms=9, incomplete_deltas=1)


def test_a_data_window_round_trips_with_its_profile() -> None:
    window = ready_window("credit", 60_000, rows_of(300, 1))
    back = decode_stored(encode_stored(window, "credit-b1"), offset=42)
    assert (back.baseline_id, back.offset, back.key) == ("credit-b1", 42, ("credit", 60_000, "data"))
    got = back.window
    assert (got.model_id, got.model_version, got.window_start_ms, got.window_end_ms, got.n_records, got.partial,
            got.partitions_closed, got.first_seen_ms, got.stage) == (
        "credit", "v1", 60_000, 120_000, 300, False, frozenset({0, 1}), window.first_seen_ms, "data")
    # a profile read back serializes alike (a fresh one may hold its sketches in another internal form)
    assert got.profile.to_bytes() == DatasetProfile.from_bytes(window.profile.to_bytes()).to_bytes()


def test_a_labels_window_keeps_its_states_and_flags() -> None:
    window = _labels_window()
    got = decode_stored(encode_stored(window, None)).window
    assert got.extras == {"model_quality": [b"a", b"bc"]}
    assert (got.stage, got.partial, got.incomplete_deltas, got.model_version, got.partitions_closed) == (
        LABELS, True, 1, None, frozenset({2}))


def test_damaged_or_foreign_bytes_are_refused() -> None:
    blob = encode_stored(ready_window("m", 0, rows_of(50, 2)), None)
    with pytest.raises(CorruptBlobError):
        decode_stored(blob[:-1])
    with pytest.raises(CorruptBlobError):
        decode_stored(blob[:40] + bytes([blob[40] ^ 1]) + blob[41:])
    with pytest.raises(CorruptBlobError):
        decode_stored(b"SDPM" + blob[4:])
    with pytest.raises(VersionMismatchError):
        decode_stored(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(CorruptBlobError):
        decode_stored(b"")


def test_keys_name_model_and_window_even_with_a_bar_in_the_model_id() -> None:
    assert window_of_key(stored_key("a|b", 1_700_000_000_000)) == ("a|b", 1_700_000_000_000)
    with pytest.raises(CorruptBlobError):
        window_of_key(b"no-window-start")


def test_one_model_one_partition() -> None:
    parts = {profiles_partition(f"model-{i}", 3) for i in range(50)}
    assert parts == {0, 1, 2}
    assert profiles_partition("credit", 3) == profiles_partition("credit", 3)


def test_a_rollup_window_is_stored_under_its_own_key_with_its_size() -> None:
    window = ready_window("credit", 3_600_000, rows_of(40, 3), size_ms=3_600_000)
    key = stored_key("credit", 3_600_000, 3600)
    assert window_of_key(key) == (rollup_model("credit", 3600), 3_600_000)  # readers of "credit" skip it
    assert window_of_key(key)[0] != "credit"
    back = decode_stored(encode_stored(window, "b", window_seconds=3600))
    assert (back.window_seconds, back.window.window_end_ms, back.window.n_records) == (3600, 7_200_000, 40)
    assert decode_stored(encode_stored(window, "b")).window_seconds is None
