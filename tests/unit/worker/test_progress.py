"""The control plane's stall watch sees its slowest partials partition (streamdrift.worker.progress)."""

from __future__ import annotations

from streamdrift.worker.progress import CommitClock


def test_one_stuck_partition_holds_the_clock_back_while_the_others_commit() -> None:
    clock = CommitClock()
    assert clock.oldest([0, 1, 2], now=100.0) == 100.0  # newly owned: counted from when first seen
    for t in (105.0, 110.0, 115.0):
        clock.committed([0, 2], t)  # partition 1 never commits again
    assert clock.oldest([0, 1, 2], now=120.0) == 100.0
    clock.committed([1], 121.0)
    assert clock.oldest([0, 1, 2], now=122.0) == 115.0


def test_a_partition_no_longer_owned_stops_counting_and_a_new_one_starts_fresh() -> None:
    clock = CommitClock()
    clock.oldest([0, 1], now=10.0)
    clock.committed([0], 50.0)
    assert clock.oldest([0, 1], now=60.0) == 10.0
    assert clock.oldest([0, 3], now=60.0) == 50.0  # 1 moved away; 3 is new: its clock starts at 60
    clock.forget()  # a rebalance
    assert clock.oldest([0, 3], now=70.0) == 70.0


def test_nothing_owned_is_no_stall() -> None:
    assert CommitClock().oldest([], now=5.0) == 5.0
