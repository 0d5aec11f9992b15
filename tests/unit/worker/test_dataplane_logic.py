"""Pure parts of the data plane: watermark in offset metadata, dead-letter headers, client configs, and the
per-partition monitors (label join, model-quality and bias states per window)."""

from __future__ import annotations

import numpy as np
import pytest

from streamdrift.columns.columns import columns_from_rows
from streamdrift.ingest.records import (
    parse_capture,
)
from streamdrift.monitors.model_quality import BinaryQualityState
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.settings import Settings
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import DATA, LABELS, PartialDelta, Stage, WindowClosed
from streamdrift.worker.deadletter import (
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    DeadLetterRecord,
    read_headers,
)
from streamdrift.worker.offsets import decode_labels_closed, decode_watermark, encode_watermark


@pytest.mark.parametrize("wm", [None, 0, 1_718_000_000_000, -5])
def test_watermark_round_trip(wm: int | None) -> None:
    assert decode_watermark(encode_watermark(wm)) == wm


@pytest.mark.parametrize("metadata", [None, "", "garbage", "[1]", '{"v": 99, "wm": 5}', '{"v": 1, "wm": true}',
                                      '{"v": 1, "wm": "5"}'])
def test_unreadable_metadata_means_no_watermark(metadata: str | None) -> None:
    assert decode_watermark(metadata) is None


def test_labels_close_travels_with_the_capture_watermark() -> None:
    metadata = encode_watermark(5000, 4000)
    assert (decode_watermark(metadata), decode_labels_closed(metadata)) == (5000, 4000)
    assert decode_labels_closed(encode_watermark(5000)) is None  # labels off, or nothing closed yet


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
    from streamdrift.worker.clients import consumer_config, producer_config, transactional_id

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


def _closed(partition: int, end: int = 1000, watermark: int | None = None, stage: Stage = DATA) -> WindowClosed:
    return WindowClosed("cap", partition, end - 1000, end, end if watermark is None else watermark, ("m",),
                        stage=stage)


def _quality_delta(partition: int, labels_offset: int, truth: list[int], pred: list[int]) -> PartialDelta:
    state = BinaryQualityState.empty()
    state.update(np.array(truth, dtype=float), np.array(pred, dtype=float), None)
    return PartialDelta("m", None, 0, 1000, f"cap#monitors@{labels_offset}", partition, 0, 0,
                        DatasetProfile.empty(ProfileParams()), {"model_quality": state.to_bytes()}, stage=LABELS)


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


def test_a_window_released_but_not_forgotten_is_released_again_after_a_restart() -> None:
    """keep_released (the control plane): a released window stays in the table until its events are out; a
    crash before forget() replays into it and releases it again, whole, instead of losing it."""
    store: dict[str, bytes] = {}
    first = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock(), keep_released=True)
    first.handle(_delta(0, 10, 30))
    first.handle(_delta(1, 7, 20, seed=1))
    first.handle(_closed(0))
    [ready] = first.handle(_closed(1))
    assert ready.n_records == 50 and [k for k in store if k.startswith("w|")] and first.open_windows() == 0
    second = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock(), keep_released=True)  # the crash
    assert second.handle(_closed(1)) == []  # replayed: nothing new in it
    [again] = second.expire()  # the next tick finds the stored window complete
    assert (again.n_records, again.partial) == (50, False)
    second.forget(again)
    assert not [k for k in store if k.startswith("w|")]
    third = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock(), keep_released=True)
    assert third.expire() == [] and third.open_windows() == 0


def test_labels_stage_is_merged_and_released_on_its_own_markers() -> None:
    store: dict[str, bytes] = {}
    merger = WindowMerger(store, 2, merge_timeout_ms=60_000, clock_ms=_Clock())
    merger.handle(_delta(0, 10, 30))
    merger.handle(_quality_delta(0, 5, [1, 0, 1], [1, 0, 0]))
    assert merger.handle(_closed(0)) == []
    [data] = merger.handle(_closed(1))  # the data stage completes; model quality waits for its labels
    assert (data.stage, data.n_records, dict(data.extras)) == ("data", 30, {})
    assert merger.open_windows() == 1
    merger.handle(_quality_delta(1, 7, [1, 1], [1, 1]))  # a label that came after the data close
    merger.handle(_quality_delta(1, 7, [1, 1], [1, 1]))  # redelivered: ignored
    assert merger.handle(_closed(0, stage=LABELS)) == []
    [labels] = merger.handle(_closed(1, watermark=2500, stage=LABELS))
    assert labels.stage == "labels" and not labels.partial and merger.duplicates == 1
    states = [BinaryQualityState.from_bytes(b) for b in labels.extras["model_quality"]]
    assert sum(s.n for s in states) == 5
    assert merger.watermark(1, LABELS) == 2500 and merger.watermark(1) == 1000
    assert not store.keys() - {"p|0", "p|1", "lp|0", "lp|1"}  # both stages left the store


def test_merge_timeout_counts_from_the_first_close_not_the_first_delta() -> None:
    clock = _Clock()
    merger = WindowMerger({}, 2, merge_timeout_ms=5000, clock_ms=clock)
    merger.handle(_quality_delta(0, 5, [1], [1]))
    clock.now = 3_600_000  # labels may take an hour: an open labels stage is not timed out
    assert merger.expire() == []
    merger.handle(_closed(0, stage=LABELS))
    clock.now += 4999
    assert merger.expire() == []
    clock.now += 1
    [ready] = merger.expire()
    assert ready.partial and ready.stage == "labels" and ready.partitions_closed == frozenset({0})


# ------------------------------------------------------------------ monitors of a partition (label join)


SIZE = 1000


def test_kafka_timestamps_fall_back_only_where_a_record_has_none() -> None:
    """The data plane hands parse_capture the messages' Kafka timestamps lazily: a record without a timestamp of
    its own lands at its message's timestamp (here in a poll that the Python path reads), the others keep theirs."""
    from confluent_kafka import Message

    from streamdrift.worker.polls import KafkaTimestamps

    own = b'{"model_id": "m", "timestamp": 5000, "features": {"x": 1}}'
    none = b'{"model_id": "m", "features": {"x": 2}}'
    msgs = [Message(topic="t", partition=0, offset=i, value=v, timestamp=(1, 7000 + i))
            for i, v in enumerate([own, none, own])]
    stamps = KafkaTimestamps(msgs)
    assert len(stamps) == 3 and stamps[1] == 7001 and stamps[1:] == [7001, 7002]
    batches, dead = parse_capture([m.value() or b"" for m in msgs], fallback_timestamps_ms=stamps)
    assert dead == []
    assert batches[0].timestamps_ms.tolist() == [5000, 7001, 5000]


def test_parsed_in_order_parses_one_ahead_in_the_executor_and_keeps_order() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from streamdrift.worker.polls import parsed_in_order

    main = threading.get_ident()
    log: list[tuple[str, int, bool]] = []
    second_started = threading.Event()

    def parse(item: int) -> int:
        if item == 2:
            second_started.set()
        if item == 1:  # the second input is parsed beside the first, not after it
            assert second_started.wait(5.0)
        log.append(("parse", item, threading.get_ident() == main))
        return item * 10

    with ThreadPoolExecutor(max_workers=1) as executor:
        for value in parsed_in_order(executor, parse, [1, 2, 3, 4]):
            log.append(("use", value // 10, True))
    assert [v for kind, v, _ in log if kind == "use"] == [1, 2, 3, 4]
    assert sorted((v, on_main) for kind, v, on_main in log if kind == "parse") == [(1, True), (2, False), (3, False),
                                                                                    (4, False)]
    # never more than one parse ahead: item i + 1 is parsed only after item i - 1 was used
    order = [(kind, v) for kind, v, _ in log]
    for i in (3, 4):
        assert order.index(("use", i - 2)) < order.index(("parse", i))
    log.clear()  # without an executor (columnar batches): one after the other, here
    assert list(parsed_in_order(None, parse, [1, 2])) == [10, 20]
    assert log == [("parse", 1, True), ("parse", 2, True)]


def test_parsed_in_order_raises_where_the_parse_failed_and_cancels_the_parse_ahead() -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from streamdrift.worker.polls import parsed_in_order

    parsed: list[int] = []

    def parse(item: int) -> int:
        if item == 2:
            raise ValueError("bad poll")
        parsed.append(item)
        return item

    with ThreadPoolExecutor(max_workers=1) as executor:
        seen: list[int] = []
        with pytest.raises(ValueError, match="bad poll"):
            for value in parsed_in_order(executor, parse, [1, 2, 3]):
                seen.append(value)
        assert seen == [1]
        parsed.clear()
        blocker = executor.submit(time.sleep, 0.2)  # the parse of 6 waits behind it
        gen = parsed_in_order(executor, parse, [5, 6])
        assert next(gen) == 5
        gen.close()  # as the data plane does when profiling partition 5 raised
        blocker.result()
        executor.submit(time.sleep, 0).result()  # the queue has run
        assert parsed == [5]  # 6 was cancelled before it started
        assert list(parsed_in_order(executor, parse, [])) == []


def test_a_failed_parse_waits_for_the_running_parse_ahead_and_logs_its_error(caplog: pytest.LogCaptureFixture) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from streamdrift.worker.polls import parsed_in_order

    ahead_started, finished = threading.Event(), threading.Event()

    def parse(item: int) -> int:
        if item == 1:  # fails here once the parse of 2 runs beside it
            assert ahead_started.wait(5.0)
            raise ValueError("first failed")
        ahead_started.set()
        time.sleep(0.2)
        finished.set()
        raise OSError("second failed too")

    with ThreadPoolExecutor(max_workers=1) as executor, pytest.raises(ValueError, match="first failed"):
        list(parsed_in_order(executor, parse, [1, 2]))
    assert finished.is_set()  # the parse ahead ended before the error reached the caller
    assert "second failed too" in caplog.text
