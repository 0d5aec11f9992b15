"""How the data plane meets a cluster's failures without a broker: fatal poll events raise (so the runner
rebuilds the clients), closing runs every step when a client failed fatally, and the limit of rebuilds counts
failures in a row."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, Message

from streamdrift.errors import KafkaError
from streamdrift.settings import Settings
from streamdrift.worker import runner
from streamdrift.worker.polls import by_partition
from streamdrift.worker.produce import close_quietly
from streamdrift.worker.topics import topic_specs
from streamdrift.worker.transaction import Transaction


def test_a_fatal_poll_event_raises_without_the_fatal_flag() -> None:
    """librdkafka delivers a fenced static member (FENCED_INSTANCE_ID) as a _FATAL event whose own fatal flag is
    not set: it was logged as a warning and the data plane polled a dead consumer for ever."""
    fenced = Message(topic="capture", partition=0, error=CKafkaError(
        CKafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer with same group.instance.id"))
    with pytest.raises(KafkaError, match="Static consumer fenced"):
        by_partition([fenced], "consume")


def test_closing_runs_every_step_when_clients_raise() -> None:
    ran: list[str] = []

    def fail(kind: str) -> None:
        ran.append(kind)
        if kind == "exception":
            raise KafkaException(CKafkaError(CKafkaError.INVALID_TXN_STATE, "fatal", fatal=True))
        if kind == "bare":
            raise CKafkaError(CKafkaError._INVALID_ARG, "Can't subtract from empty assignment")  # type: ignore[misc]
        raise KafkaError("abort failed", fatal=True)

    close_quietly([("a", lambda: fail("exception")), ("b", None), ("c", lambda: fail("bare")),
                   ("d", lambda: fail("ours")), ("e", lambda: ran.append("last"))])
    assert ran == ["exception", "bare", "ours", "last"]
    with pytest.raises(ZeroDivisionError):  # not a Kafka error: a bug, raised
        close_quietly([("x", lambda: 1 / 0)])


def test_rebuilds_are_limited_in_a_row_not_in_total(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    runs: list[float] = []
    stop = threading.Event()

    def run_planes(*_args: object, **_kwargs: object) -> None:
        runs.append(clock[0])
        if len(runs) == 60:
            stop.set()
            return
        # every third failure comes after a long steady run, the others at once
        clock[0] += 500.0 if len(runs) % 3 == 0 else 1.0
        raise KafkaError("fenced", fatal=True)

    monkeypatch.setattr(runner, "run_planes", run_planes)
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=lambda _s: None))
    monkeypatch.setattr(runner, "tune_gc", lambda: None)
    runner.run_dataplane(Settings(), stop)
    assert len(runs) == 60  # 59 rebuilds in all, never more than 3 in a row

    runs.clear()
    stop.clear()

    def always_at_once(*_args: object, **_kwargs: object) -> None:
        runs.append(clock[0])
        clock[0] += 1.0
        raise KafkaError("fenced", fatal=True)

    monkeypatch.setattr(runner, "run_planes", always_at_once)
    with pytest.raises(KafkaError):
        runner.run_dataplane(Settings(), stop)
    assert len(runs) == 21  # the first run and 20 rebuilds in a row


def test_topics_on_a_cluster_get_min_insync_replicas_two() -> None:
    settings = Settings()
    assert all("min.insync.replicas" not in s.config for s in topic_specs(settings))  # one broker: its default
    specs = topic_specs(settings, replication_factor=3)
    assert {s.config["min.insync.replicas"] for s in specs} == {"2"} and {s.replication_factor for s in specs} == {3}
    assert {s.config["min.insync.replicas"] for s in topic_specs(settings, replication_factor=5, min_insync=3)} == {"3"}


def test_a_retriable_commit_failure_is_retried_and_an_abortable_one_aborts() -> None:
    """librdkafka's rule: after a retriable error the same transactional call again (aborting then was refused
    with INVALID_TXN_STATE, fatal, at every coordinator move), after an abortable one the abort."""
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise KafkaException(CKafkaError(CKafkaError._TIMED_OUT, "timed out", retriable=True))

    assert Transaction._retrying(flaky) is None and len(calls) == 3

    def abortable() -> None:
        calls.append(2)
        raise KafkaException(CKafkaError(CKafkaError._TIMED_OUT, "epoch bump", txn_requires_abort=True))

    calls.clear()
    failed = Transaction._retrying(abortable)
    assert failed is not None and calls == [2]

    def fatal() -> None:
        raise KafkaException(CKafkaError(CKafkaError.INVALID_TXN_STATE, "fatal", fatal=True))

    with pytest.raises(KafkaError):
        Transaction._retrying(fatal)
