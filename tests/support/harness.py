"""Helpers to drive a worker against a real broker: settings with unique topic names, producing capture
records, starting ``streamdrift run`` as a subprocess, reading topics read_committed. Used by the
integration tests and the worker benchmark; not used by the worker itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka import KafkaError as CKafkaError
from pydantic import SecretStr

from streamdrift.errors import KafkaError
from streamdrift.settings import Settings, TopicSettings
from streamdrift.settings.history import HistorySettings
from streamdrift.worker.topics import create_topics, topic_specs

if TYPE_CHECKING:
    from streamdrift.window.merger import ReadyWindow, WindowMerger

N_NUMERIC = 20
CATEGORIES = ("red", "green", "blue", "cyan")
T = TypeVar("T")
_UNSET_IF_NONE = frozenset({"sasl_password", "web_auth_token", "web_auth_user", "web_auth_password"})


def unique_settings(bootstrap: str, *, capture_partitions: int = 6, **fields: Any) -> Settings:
    """Settings with topic names and group unique to this run (tests share one broker)."""
    tag = uuid.uuid4().hex[:8]
    topics = TopicSettings(
        capture=f"sd-{tag}.capture",
        labels=f"sd-{tag}.labels",
        partials=f"sd-{tag}.partials",
        alerts=f"sd-{tag}.alerts",
        baselines=f"sd-{tag}.baselines",
        deadletter=f"sd-{tag}.deadletter",
        capture_partitions=capture_partitions,
    )
    fields.setdefault("history", HistorySettings(topic=f"sd-{tag}.profiles"))
    return Settings(bootstrap_servers=bootstrap, group_id=f"sd-{tag}", topics=topics, **fields)


def create_all_topics(settings: Settings) -> None:
    create_topics(settings, topic_specs(settings))


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``streamdrift run`` load exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDRIFT_")}
    data = settings.model_dump(mode="json")
    for key, value in data.items():
        secret = getattr(settings, key)
        if isinstance(secret, SecretStr):  # its dump is asterisks: pass the secret itself
            env[f"STREAMDRIFT_{key.upper()}"] = secret.get_secret_value()
            continue
        if value is None and key in _UNSET_IF_NONE:  # "None" would be taken as a value
            continue
        if isinstance(value, dict) and key != "kafka":
            for sub, v in value.items():
                if v is not None:
                    text = orjson.dumps(v).decode() if isinstance(v, dict | list) else str(v)
                    env[f"STREAMDRIFT_{key.upper()}__{sub.upper()}"] = text
        else:
            env[f"STREAMDRIFT_{key.upper()}"] = (orjson.dumps(value).decode() if isinstance(value, dict | list)
                                                 else str(value))
    return env


def capture_records(
    model_id: str, timestamps_ms: Sequence[int], rng: np.random.Generator, *, shift: float = 0.0, n_numeric: int = N_NUMERIC
) -> list[bytes]:
    """JSON capture records (``n_numeric`` normal features, 3 categoricals), about 600 bytes each."""
    n = len(timestamps_ms)
    numbers = rng.normal(size=(n, n_numeric)).round(6)
    numbers[:, 0] += shift
    cats = rng.choice(np.array(CATEGORIES, dtype=object), size=(n, 3))
    names = [f"f{i}" for i in range(n_numeric)]
    out = []
    for i in range(n):
        features: dict[str, object] = dict(zip(names, numbers[i].tolist(), strict=True))
        features.update({"c0": cats[i, 0], "c1": cats[i, 1], "c2": cats[i, 2]})
        record = {
            "model_id": model_id,
            "inference_id": f"{model_id}-{timestamps_ms[i]}-{i}",
            "timestamp": int(timestamps_ms[i]),
            "features": features,
            "prediction": {"label": int(numbers[i, 1] > 0), "score": float(abs(numbers[i, 2]) % 1)},
        }
        out.append(orjson.dumps(record))
    return out


def columnar_batch(model_id: str, timestamps_ms: Sequence[int], rng: np.random.Generator, *, n_numeric: int = N_NUMERIC) -> bytes:
    """One columnar batch (schemas/columnar_batch.schema.json) of ``len(timestamps_ms)`` records."""
    n = len(timestamps_ms)
    features: dict[str, object] = {f"f{i}": rng.normal(size=n).round(6).tolist() for i in range(n_numeric)}
    for c in ("c0", "c1", "c2"):
        features[c] = rng.choice(np.array(CATEGORIES, dtype=object), size=n).tolist()
    return orjson.dumps(
        {
            "format": "columnar",
            "model_id": model_id,
            "n": n,
            "inference_id": [f"{model_id}-{t}-{i}" for i, t in enumerate(timestamps_ms)],
            "timestamp": [int(t) for t in timestamps_ms],
            "features": features,
        }
    )


def produce(settings: Settings, topic: str, values: Iterable[bytes], *, key: bytes | None = None,
            partition: int | None = None) -> int:
    """Produce and wait for every ack; returns how many were produced. Raises when a record was not delivered
    (its delivery report carries an error) or not acknowledged in time: a test's counts would be off."""
    producer = Producer(settings.client_config({"linger.ms": 20, "enable.idempotence": True,
                                                 "message.max.bytes": 8 << 20, "queue.buffering.max.messages": 500000}))
    failed: list[CKafkaError] = []

    def delivered(err: CKafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err)

    n = 0
    for value in values:
        while True:
            try:
                if partition is None:
                    producer.produce(topic, key=key, value=value, on_delivery=delivered)
                else:
                    producer.produce(topic, key=key, value=value, partition=partition, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
    if producer.flush(120):
        raise KafkaError(f"not every record to {topic} was acknowledged")
    if failed:
        raise KafkaError(f"{len(failed)} of {n} records to {topic} were not delivered; the first: {failed[0].str()}",
                         code=failed[0].code())
    return n


def read_topic(settings: Settings, topic: str, *, until: float, stop_after: int | None = None,
               idle_s: float | None = None, to_end: bool = False) -> list[Message]:
    """Read ``topic`` from the beginning (read_committed) until the deadline, ``stop_after`` messages, or
    ``idle_s`` seconds without a message (after at least one); with ``to_end``, until every partition's end:
    all that is committed on the topic now (no group join and no idle wait; a writer still running may commit
    more afterwards)."""
    if to_end:
        return _read_to_end(settings, topic, until=until)
    consumer = Consumer(settings.client_config({
        "group.id": f"reader-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "isolation.level": "read_committed", "session.timeout.ms": 6000,
    }))
    consumer.subscribe([topic])
    out: list[Message] = []
    last = time.monotonic()
    try:
        while time.monotonic() < until:
            msgs = [m for m in consumer.consume(1000, 0.25) if m.error() is None]
            if msgs:
                out.extend(msgs)
                last = time.monotonic()
            if stop_after is not None and len(out) >= stop_after:
                break
            if idle_s is not None and out and time.monotonic() - last > idle_s:
                break
    finally:
        consumer.close()
    return out


def _read_to_end(settings: Settings, topic: str, *, until: float) -> list[Message]:
    """Every partition of ``topic`` assigned from its beginning and read (read_committed) until each reported
    its end (the last stable offset: an open transaction's records are not read); KafkaError at the deadline."""
    consumer = Consumer(settings.client_config({
        "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True,
    }))
    out: list[Message] = []
    try:
        metadata = consumer.list_topics(topic, timeout=max(1.0, until - time.monotonic()))
        partitions = sorted(metadata.topics[topic].partitions)
        if not partitions:
            raise KafkaError(f"topic {topic} has no partitions (or does not exist)")
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            if time.monotonic() >= until:
                raise KafkaError(f"{topic}: partitions {sorted(set(partitions) - at_end)} not read to their end")
            for m in consumer.consume(1000, 0.25):
                error = m.error()
                if error is None:
                    out.append(m)
                    at_end.discard(m.partition() or 0)
                elif error.code() == CKafkaError._PARTITION_EOF:
                    at_end.add(m.partition() or 0)
                else:
                    raise KafkaError(f"reading {topic} failed: {error.str()}", code=error.code())
    finally:
        consumer.close()
    return out


def merged_partials(settings: Settings, n_partitions: int, *, until: float, idle_s: float = 5.0,
                    to_end: bool = False) -> tuple[list[WindowMerger], list[ReadyWindow]]:
    """The partials topic merged as the control plane merges it: one merger per partials partition (a model's
    deltas, and the copies of every capture partition's markers, are in order within its partition; across
    partitions a marker may come before the delta it follows). The mergers (duplicates, open windows) and the
    windows they released. ``idle_s`` / ``to_end``: as :func:`read_topic`'s."""
    from streamdrift.window.merger import WindowMerger
    from streamdrift.window.partials import decode_partial

    mergers: dict[int, WindowMerger] = {}
    released: list[ReadyWindow] = []
    for m in read_topic(settings, settings.topics.partials, until=until, idle_s=idle_s, to_end=to_end):
        if m.key() == b"__streamdrift_tick__":
            continue
        merger = mergers.setdefault(m.partition() or 0, WindowMerger({}, n_partitions, 10**12, lambda: 0))
        released += merger.handle(decode_partial(m.value() or b""))
    return list(mergers.values()), released


def drift_events(messages: Iterable[Message]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value() or b"{}") for m in messages]


@contextmanager
def worker_process(settings: Settings, *, role: str = "all", log_path: Path | None = None,
                   extra_args: Sequence[str] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """``streamdrift run --role ROLE`` as a subprocess (own process group); stopped with SIGTERM at the end."""
    proc = start_worker(settings, role=role, log_path=log_path, extra_args=extra_args)
    try:
        yield proc
    finally:
        stop_worker(proc)


def start_worker(settings: Settings, *, role: str = "all", log_path: Path | None = None,
                 extra_args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "streamdrift", "run", "--role", role, "--log-level", "WARNING", *extra_args],
        env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 the worker and its children (a crash, no cleanup)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a successful GET (the worker's web endpoints); an error status raises (OSError)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status), bytes(response.read())


def http_status(url: str) -> tuple[int, bytes]:
    """Status and body of a GET, error statuses included (a refused connection still raises OSError)."""
    try:
        return http_get(url)
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def wait_until(fetch: Callable[[], T], ok: Callable[[T], bool], timeout: float, interval: float = 0.5) -> T:
    """Poll ``fetch`` until ``ok`` holds for its answer (connection errors count as not yet); AssertionError
    naming the last answer when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = fetch()
            if ok(last):
                return last
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError(f"condition never met; last answer: {str(last)[:3000]}")
