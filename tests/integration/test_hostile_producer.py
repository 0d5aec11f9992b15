"""No producer can hurt the worker (issue 19), on the real broker: good records of two models interleaved with
every hostile case on the capture topic. The worker stays up (its /health answers 200 at the end), its memory
stays under the stated bound, the good models' windows hold exactly the records sent, a model with 900 features
(partials split under the message limit) and a model naming 120,000 features over 2,000 messages (at most
``limits.max_features`` kept per window, the rest dropped and counted) are profiled, and every bad message is in
the dead-letter topic with its reason."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from harness import (
    create_all_topics,
    http_status,
    produce,
    read_topic,
    unique_settings,
    wait_until,
    worker_process,
)
from hostile import compressed_batch, empty_columnar, empty_struct_batch, record

from streamdrift.dev.localkafka import find_free_port
from streamdrift.settings import LabelSettings, LimitSettings, WindowSettings
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import decode_partial
from streamdrift.worker.controlplane import TICK_KEY
from streamdrift.worker.deadletter import HEADER_REASON, read_headers

pytestmark = pytest.mark.integration

SIZE_MS = 10_000
GOOD = ("good-a", "good-b")
PER_WINDOW = 300
WINDOWS = 3
MAX_MODELS = 20
FILLERS = 50
WIDE_FEATURES = 900
WIDE_ROWS = 400
RSS_BOUND_MB = 1_200  # both planes of a role-all worker together, peak (docs/security.md)


def _rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_hostile_producer_cannot_hurt_the_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=1,
        # records come in random order: the lateness covers the whole stream's event time (no record is late)
        window=WindowSettings(size=SIZE_MS / 1000, lateness=40.0, idle_timeout=2.0),
        labels=LabelSettings(enabled=False), limits=LimitSettings(max_models=MAX_MODELS),
        commit_interval=0.5, web_host="127.0.0.1", web_port=find_free_port(span=2),
    )
    create_all_topics(settings)
    now = int(time.time() * 1000)
    t0 = (now // SIZE_MS - 10) * SIZE_MS  # windows of the past: closed by idleness at the end
    rng = np.random.default_rng(19)

    good: list[bytes] = []
    sent: Counter[tuple[str, int]] = Counter()
    for w in range(WINDOWS):
        for _ in range(PER_WINDOW):
            for model in GOOD:
                t = t0 + w * SIZE_MS + int(rng.integers(0, SIZE_MS - 100))
                good.append(record(model, t, {"x": float(rng.normal()), "c": str(rng.choice(["u", "v"]))}))
                sent[(model, t - t % SIZE_MS)] += 1
    # a legitimate wide model (its window's partial is ~7 MB: split by features under 1 MiB) and a model naming
    # 60 new features in each of 2,000 messages (120,000 names: the window keeps max_features of them)
    wide = [record("wide", t0 + i, {f"f{j}": float(j + i) for j in range(WIDE_FEATURES)}) for i in range(WIDE_ROWS)]
    sparse = [record("sparse", t0 + i, {f"s{i}_{j}": float(j) for j in range(60)}) for i in range(2000)]
    sent[("wide", t0)] += WIDE_ROWS
    sent[("sparse", t0)] += 2000

    hostile: list[tuple[bytes, str]] = [
        (empty_columnar(50_000_000), "too_many_rows"),  # 63 bytes declaring 50M rows
        (empty_columnar(10**18), "too_many_rows"),
        (empty_struct_batch(1 << 40), "too_many_rows"),  # an Arrow batch declaring 2^40 rows
        (compressed_batch(50_000_000, "zstd", t0), "too_large"),  # 12.8 KB of zstd: 400 MB decompressed
        (record("m-big", t0, {f"k{j}": 1.0 for j in range(70_000)}), "too_many_features"),  # 899 KB, 70k names
        (record("m-micro", 1_718_000_000_000_000, {"x": 1.0}), "bad_timestamp"),  # microseconds, not ms
        (record("m-future", now + 2 * 3_600_000, {"x": 1.0}), "bad_timestamp"),  # 2 h ahead of the clock
        (b"{not json", "not_json"),
        (b"[1, 2, 3]", "not_object"),
        (b'{"features": {"x": 1}}', "missing_field"),
        (b"", "not_json"),  # an empty value (a tombstone)
    ]
    hostile += [(record(f"{i:04d}" + "m" * 996, t0, {"x": 1.0}), "too_long") for i in range(50)]  # 1,000-char ids
    fillers = [record(f"filler-{i:02d}", t0 + 5, {"x": 1.0}) for i in range(FILLERS)]
    admitted_fillers = MAX_MODELS - len(GOOD) - 2  # the good, wide and sparse models come first
    hostile += [(v, "too_many_models") for v in fillers[admitted_fillers:]]
    for i in range(admitted_fillers):
        sent[(f"filler-{i:02d}", t0)] += 1

    # the topic's order: the good models first (admitted), then everything interleaved
    stream: list[bytes] = [good[0], good[1], wide[0], sparse[0]]
    rest_good, rest = good[2:], [*wide[1:], *sparse[1:], *fillers[:admitted_fillers], *(v for v, _ in hostile)]
    order = rng.permutation(len(rest_good) + len(rest))
    pool = [*rest_good, *rest]
    stream += [pool[i] for i in order if i < len(rest_good) or pool[i] not in fillers[admitted_fillers:]]
    stream += fillers[admitted_fillers:]  # the models beyond the cap, once the others are admitted
    produce(settings, settings.topics.capture, stream, key=b"k")

    base = f"http://127.0.0.1:{settings.web_port}"
    expected_dead = Counter(reason for _, reason in hostile)
    with worker_process(settings, log_path=tmp_path / "worker.log") as proc:
        wait_until(lambda: read_topic(settings, settings.topics.deadletter, until=time.monotonic() + 30, to_end=True),
                   lambda msgs: len(msgs) >= len(hostile), timeout=240, interval=1.0)
        wait_until(lambda: http_status(f"{base}/status/good-a"), lambda r: r[0] == 200 and r[1].count(b'"window_start"')
                   >= WINDOWS, timeout=120)
        assert proc.poll() is None  # the worker is up
        health = http_status(f"{base}/health")
        assert health[0] == 200, health
        rss = _rss_mb(proc.pid) + sum(_rss_mb(c) for c in _children(proc.pid))
        (tmp_path / "rss.txt").write_text(f"{rss:.0f} MB\n")
        print(f"peak RSS of the worker's processes under hostile input: {rss:.0f} MB")
        assert rss < RSS_BOUND_MB

    dead = read_topic(settings, settings.topics.deadletter, until=time.monotonic() + 30, to_end=True)  # all of it
    reasons = Counter(read_headers(m.headers())[HEADER_REASON] for m in dead)
    assert reasons == expected_dead
    assert {bytes(m.value() or b"") for m in dead} == {v for v, _ in hostile}  # the original bytes, each once

    # merged as the control plane does: one merger per partials partition (a model's deltas and the markers
    # are in order within a partition)
    merged: Counter[tuple[str, int]] = Counter()
    features: dict[str, int] = {}
    messages = read_topic(settings, settings.topics.partials, until=time.monotonic() + 60, to_end=True)
    mergers: dict[int, WindowMerger] = {}
    for message in messages:
        if message.key() == TICK_KEY:
            continue
        merger = mergers.setdefault(message.partition() or 0, WindowMerger(
            {}, 1, 10**12, lambda: 0, max_features=settings.limits.max_features))
        for window in merger.handle(decode_partial(message.value() or b"")):
            assert not window.partial, window
            merged[(window.model_id, window.window_start_ms)] += window.n_records
            features[window.model_id] = max(features.get(window.model_id, 0), len(window.profile.features))
    assert all(m.duplicates == 0 and m.open_windows() == 0 for m in mergers.values())
    assert +merged == +sent
    assert features["wide"] == WIDE_FEATURES
    assert features["sparse"] == settings.limits.max_features  # capped per window; the rest dropped, counted
