"""Pure parts of the data plane: watermark in offset metadata, dead-letter headers, client configs."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.columns import columns_from_rows
from streamdrift.partials import PartialDelta, WindowClosed
from streamdrift.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import Settings
from streamdrift.worker.deadletter import (
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    DeadLetterRecord,
    read_headers,
)
from streamdrift.worker.merger import WindowMerger
from streamdrift.worker.offsets import decode_watermark, encode_watermark


@pytest.mark.parametrize("wm", [None, 0, 1_718_000_000_000, -5])
def test_watermark_round_trip(wm: int | None) -> None:
    assert decode_watermark(encode_watermark(wm)) == wm


@pytest.mark.parametrize("metadata", [None, "", "garbage", "[1]", '{"v": 99, "wm": 5}', '{"v": 1, "wm": true}',
                                      '{"v": 1, "wm": "5"}'])
def test_unreadable_metadata_means_no_watermark(metadata: str | None) -> None:
    assert decode_watermark(metadata) is None


def test_metadata_fits_kafka_default_limit() -> None:
    assert len(encode_watermark(2**62)) < 4096  # offset.metadata.max.bytes default


def test_dead_letter_headers_round_trip() -> None:
    record = DeadLetterRecord(b"k", b"{bad", "not_json", "x" * 5000, "cap", 3, 42)
    headers = read_headers(record.headers())
    assert headers[HEADER_REASON] == "not_json"
    assert headers[HEADER_PARTITION] == "3"
    assert headers[HEADER_OFFSET] == "42"
    assert all(len(v) <= 1000 for v in headers.values())


def test_client_configs() -> None:
    from streamdrift.worker.dataplane import consumer_config, producer_config, transactional_id

    named = Settings(group_id="g", instance_id="a", commit_interval=4.0)
    assert transactional_id("g", "a") == transactional_id("g", "a") == "g-dataplane-a"
    assert transactional_id("g", None) != transactional_id("g", None)
    consumer = consumer_config(named)
    assert consumer["isolation.level"] == "read_committed"
    assert consumer["enable.auto.commit"] is False
    assert consumer["group.instance.id"] == "a"
    assert "group.instance.id" not in consumer_config(Settings(group_id="g"))
    producer = producer_config(named)
    assert producer["transactional.id"] == "g-dataplane-a"
    assert producer["transaction.timeout.ms"] == 20_000  # 5 commit intervals, at least 10 s


# -- the control plane's merger (pure: state in a dict) ----------------------------------------------------


def _delta(partition: int, end_offset: int, n: int, *, start: int = 0, seed: int = 0) -> PartialDelta:
    rng = np.random.default_rng(seed)
    profile = DatasetProfile.empty(ProfileParams())
    profile.update(columns_from_rows([{"x": float(v)} for v in rng.normal(size=n)]))
    return PartialDelta("m", "1", start, start + 1000, "cap", partition, end_offset, n, profile)


def _closed(partition: int, end: int = 1000, watermark: int | None = None) -> WindowClosed:
    return WindowClosed("cap", partition, end - 1000, end, end if watermark is None else watermark, ("m",))


class _Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_merger_releases_complete_window_once_and_ignores_duplicates() -> None:
    store: dict[str, bytes] = {}
    merger = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock())
    assert merger.handle(_delta(0, 10, 30)) == []
    assert merger.handle(_delta(0, 10, 30)) == []  # at-least-once redelivery
    assert merger.handle(_delta(1, 7, 20, seed=1)) == []
    assert merger.handle(_closed(0)) == []
    [ready] = merger.handle(_closed(1))
    assert (ready.n_records, ready.partial, ready.partitions_closed) == (50, False, frozenset({0, 1}))
    assert ready.profile.n_records == 50 and ready.model_version == "1"
    assert merger.duplicates == 1
    assert not [k for k in store if k.startswith("w|")]  # released windows leave the store


def test_merger_uses_watermarks_seen_before_the_first_delta() -> None:
    merger = WindowMerger({}, 2, merge_timeout_ms=60_000, clock_ms=_Clock())
    merger.handle(_closed(1, end=3000, watermark=3500))  # partition 1 is past window [0, 1000) already
    assert merger.watermark(1) == 3500
    merger.handle(_delta(0, 4, 5))
    [ready] = merger.handle(_closed(0))
    assert ready.partitions_closed == frozenset({0, 1})


def test_merger_times_out_into_a_partial_window() -> None:
    clock = _Clock()
    merger = WindowMerger({}, 3, merge_timeout_ms=5000, clock_ms=clock)
    merger.handle(_delta(0, 4, 5))
    merger.handle(_closed(0))
    assert merger.expire() == []
    clock.now = 5000
    [ready] = merger.expire()
    assert ready.partial and ready.n_records == 5


def test_merger_state_survives_a_restart() -> None:
    store: dict[str, bytes] = {}
    first = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock())
    first.handle(_delta(0, 10, 30))
    first.handle(_closed(0))
    second = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock())  # same table, new process
    assert second.handle(_delta(0, 10, 30)) == []  # replayed delta recognised from the stored state
    [ready] = second.handle(_closed(1))
    assert ready.n_records == 30 and second.duplicates == 1
