"""One poll through the data plane without a broker: messages grouped by partition, and the label join of
columnar polls run in the join thread beside the profiling (same results, errors not lost).

The clients point at a closed port and are never asked to reach it: ``_process`` gets hand-made messages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import Message
from harness import capture_records, unique_settings

from streamdrift.errors import KafkaError
from streamdrift.ingest.arrow import encode_arrow_batch
from streamdrift.ingest.records import CaptureBatch
from streamdrift.settings import LabelSettings, WindowSettings
from streamdrift.window.labels import ErrorStream, PartitionLabels
from streamdrift.window.windows import PartitionWindows
from streamdrift.worker.dataplane import PARSE_AHEAD_MAX_BYTES, DataPlane
from streamdrift.worker.polls import by_partition

SIZE_MS = 10_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % SIZE_MS


def _msg(partition: int, offset: int, value: bytes = b"{}") -> Message:
    return Message(topic="capture", partition=partition, offset=offset, value=value, timestamp=(1, T0))


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    settings = unique_settings("127.0.0.1:1", capture_partitions=2,
                               window=WindowSettings(size=SIZE_MS / 1000, lateness=0.0),
                               labels=LabelSettings(spill_dir=str(tmp_path / "join")), kafka={"log_level": "0"})
    dp = DataPlane(settings)
    for p in (0, 1):
        dp._parts[p] = dp._fresh_state(p, None, None)
    yield dp
    dp._parser.shutdown(wait=True)
    if dp._joiner is not None:
        dp._joiner.shutdown(wait=True)
    for state in dp._parts.values():
        state.close()
    dp._consumer.close()
    if dp._labels_consumer is not None:
        dp._labels_consumer.close()


def _arrow_poll(n_batches: int, rows: int = 300) -> list[bytes]:
    """Arrow batches of one window, each big enough for the join thread; unique inference ids."""
    rng = np.random.default_rng(3)
    out = []
    for b in range(n_batches):
        records = [orjson.loads(v) for v in capture_records("m", [T0 + 10 * b + i for i in range(rows)], rng)]
        for i, record in enumerate(records):
            record["inference_id"] = f"b{b}-{i}"
        blob = encode_arrow_batch("m", records)
        assert blob is not None and len(blob) >= PARSE_AHEAD_MAX_BYTES
        out.append(blob)
    return out


def test_a_poll_is_grouped_by_partition_in_order_across_interleaved_runs() -> None:
    msgs = [_msg(0, 0), _msg(0, 1), _msg(1, 0), _msg(0, 2), _msg(1, 1), _msg(1, 2), _msg(0, 3)]
    groups = by_partition(msgs, "consume")
    assert {p: [m.offset() for m in ms] for p, ms in groups.items()} == {0: [0, 1, 2, 3], 1: [0, 1, 2]}


def test_error_events_are_dropped_from_a_poll_and_a_fatal_one_raises() -> None:
    eof = Message(topic="capture", partition=1, error=CKafkaError(CKafkaError._PARTITION_EOF))
    groups = by_partition([_msg(0, 0), eof, _msg(1, 5), _msg(0, 1)], "consume")
    assert {p: [m.offset() for m in ms] for p, ms in groups.items()} == {0: [0, 1], 1: [5]}
    fatal = Message(topic="capture", partition=0, error=CKafkaError(CKafkaError._FATAL, "fenced", fatal=True))
    with pytest.raises(KafkaError) as raised:
        by_partition([_msg(0, 0), fatal], "consume")
    assert raised.value.fatal


def test_columnar_polls_join_in_the_join_thread_beside_the_profiles(plane: DataPlane,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each partition's predictions are joined in the join thread while this thread profiles them; once the poll
    returns every prediction waits in its partition's store, and the profiles hold every record."""
    main = threading.get_ident()
    profiling = threading.Event()
    join_threads: list[int] = []
    overlapped: list[bool] = []
    add_captures = PartitionLabels.add_captures

    def watched(self: PartitionLabels, batches: list[CaptureBatch]) -> list[ErrorStream]:
        join_threads.append(threading.get_ident())
        overlapped.append(profiling.wait(10.0))  # the profiles of this poll started beside the join
        return add_captures(self, batches)

    windows_add = PartitionWindows.add_many

    def add_many(self: object, batches: list[CaptureBatch]) -> object:
        profiling.set()
        return windows_add(self, batches)  # type: ignore[arg-type]

    monkeypatch.setattr(PartitionLabels, "add_captures", watched)
    monkeypatch.setattr(PartitionWindows, "add_many", add_many)
    blobs = _arrow_poll(4)
    poll = [_msg(0, 0, blobs[0]), _msg(0, 1, blobs[1]), _msg(1, 0, blobs[2]), _msg(1, 1, blobs[3])]
    plane._process(by_partition(poll, "consume"))
    assert join_threads and main not in join_threads and all(overlapped)
    assert plane.stats.consumed == 4
    for p in (0, 1):
        labels = plane._parts[p].pipeline.labels
        assert labels is not None and labels.store.pending_predictions == 600
        assert plane._parts[p].next_offset == 2
    assert sum(plane.stats.processed_by_model.values()) == 1200


def test_json_polls_join_here_and_a_failed_join_raises_from_the_poll(plane: DataPlane,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    main = threading.get_ident()
    threads: list[int] = []
    add_captures = PartitionLabels.add_captures

    def watched(self: PartitionLabels, batches: list[CaptureBatch]) -> list[ErrorStream]:
        threads.append(threading.get_ident())
        return add_captures(self, batches)

    monkeypatch.setattr(PartitionLabels, "add_captures", watched)
    values = capture_records("m", [T0 + i for i in range(4)], np.random.default_rng(1))
    plane._process(by_partition([_msg(0, i, v) for i, v in enumerate(values)], "consume"))
    assert threads == [main]  # the other core parses ahead for JSON polls

    def broken(self: PartitionLabels, batches: list[CaptureBatch]) -> list[ErrorStream]:
        raise RuntimeError("join store broke")

    monkeypatch.setattr(PartitionLabels, "add_captures", broken)
    blobs = _arrow_poll(2)
    with pytest.raises(RuntimeError, match="join store broke"):
        plane._process(by_partition([_msg(0, 10, blobs[0]), _msg(1, 0, blobs[1])], "consume"))


def _eof(partition: int) -> Message:
    return Message(topic="capture", partition=partition, error=CKafkaError(CKafkaError._PARTITION_EOF))


def test_a_poll_tells_which_partitions_it_read_to_their_end() -> None:
    at_end: dict[int, bool] = {}
    by_partition([_msg(0, 0), _eof(0), _msg(1, 5), _eof(2)], "consume", at_end)
    assert at_end == {0: True, 1: False, 2: True}
    by_partition([_eof(1), _msg(1, 6)], "consume", at_end)  # more came after the end: a backlog again
    assert at_end[1] is False
    by_partition([_msg(0, 1), _msg(2, 0)], "consume", at_end)  # no error event at all: the fast path
    assert at_end == {0: False, 1: False, 2: False}
    # the last event of each partition decides, across interleaved runs; an error other than the end tells
    # nothing and is dropped with the end events
    transport = Message(topic="capture", partition=3, error=CKafkaError(CKafkaError._TRANSPORT, "broker gone"))
    groups = by_partition([_msg(0, 2), _eof(0), _msg(1, 7), _msg(0, 3), _eof(1), transport, _msg(2, 1), _eof(2),
                           transport], "consume", at_end)
    assert at_end == {0: False, 1: True, 2: True}
    assert {p: [m.offset() for m in ms] for p, ms in groups.items()} == {0: [2, 3], 1: [7], 2: [1]}


def test_a_partition_with_a_backlog_is_never_idle(plane: DataPlane) -> None:
    """Only a partition read to its end moves its watermark by wall clock: a restarted data plane whose
    partition still has records to read (its last record long ago by the wall clock) keeps its watermark, so
    the backlog is not dropped as late."""
    now_ms = T0 + 3_600_000
    state = plane._parts[0]
    state.last_record_wall_ms = 0  # idle for an hour by the wall clock
    plane._advance_idle(now_ms)
    assert state.pipeline.watermark_ms is None  # not read to its end: not idle
    plane._note_ends({0: True}, labels=False)
    plane._advance_idle(now_ms)
    assert state.pipeline.watermark_ms == now_ms - plane.settings.window.lateness_ms
    labels = state.labels
    assert labels is not None and labels.watermark_ms is None
    labels.last_record_wall_ms = 0
    plane._advance_idle(now_ms)
    assert labels.watermark_ms is None  # the labels partition was not read to its end either
    plane._note_ends({0: True}, labels=True)
    plane._advance_idle(now_ms)
    assert labels.watermark_ms == now_ms - round(plane.settings.labels.delay * 1000)


def test_a_partition_is_not_idle_while_the_loop_was_away(plane: DataPlane) -> None:
    """A data plane blocked for a while (a commit in a rebalance callback, a slow transaction) read nothing then:
    its partitions' end-of-partition events are stale and records may wait unread, so quiet time before the loop
    polled again does not count as idle (those records would otherwise arrive late, after the watermark moved
    on by the wall clock)."""
    state = plane._parts[0]
    plane._note_ends({0: True}, labels=False)
    now_ms = T0 + 3_600_000
    state.last_record_wall_ms = now_ms - 10 * plane.settings.window.idle_timeout_ms  # quiet for long
    plane._polling_since_ms = now_ms - plane.settings.window.idle_timeout_ms // 2  # but the loop was away
    plane._advance_idle(now_ms)
    assert state.pipeline.watermark_ms is None
    plane._advance_idle(plane._polling_since_ms + plane.settings.window.idle_timeout_ms)  # polled long enough
    assert state.pipeline.watermark_ms is not None
