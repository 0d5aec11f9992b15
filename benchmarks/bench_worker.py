"""Stream worker benchmark on a real local Kafka broker (LocalKafka).

Measures, in one run (ratios are against references measured in the same run):
  1. JSON capture records (20 numeric + 3 categorical, ~600 bytes): data-plane records/s vs the raw rate of
     confluent-kafka consume + orjson.loads of the same topic (goal >= 60%);
  2. the capture SDK's columnar batches (1000 records each; Arrow IPC and JSON columnar, both written by the SDK's
     encoders): records/s of one data-plane process (goal >= 500k/s), for
     a. the same records as run 1 (one model, 20 numeric + 3 categorical features, ids, predictions), and
     b. 100 models x 25 features over an hour of event time, with the data plane's RSS along the run (goal
        <= 300 MB and flat). Here each model's window gets about one batch per partition, so each batch leaves
        as its own partial: the partials topic carries about the input's bytes again;
  3. faust per-event cost (agent reading one message at a time) vs the data plane's per-record cost;
  4. alert latency: watermark passing a window's end -> drift event readable on alerts (goal p99 <= 1 s);
  5. two data-plane processes vs one on a 6-partition topic (note: the machine has 2 cores);
  6. a mapped source (benchmarks/mapped_runs.py): Open Inference Protocol v2 JSON, 23 FP32 features as one tensor
     or as named input tensors, 1 and 32 rows per message, request and response in one message or paired by id:
     data-plane messages/s vs raw consume + orjson.loads of the same topic (goal: >= 60%, paired >= 50%).

    .venv/bin/python benchmarks/bench_worker.py [--quick] [--only-columnar] [--only-mapped]
                                                [--columnar-format arrow|json|both] [--mapped-passes N]
                                                [--mapped-run TEXT ...] [--json-passes N]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from harness import (
    capture_records,
    create_all_topics,
    produce,
    start_worker,
    stop_worker,
    unique_settings,
)
from mapped_runs import raw_rate as raw_rate_dataplane_polls
from mapped_runs import run_mapped

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import LocalKafka
from streamdrift.ingest.arrow import encode_arrow_batch, stream_bytes
from streamdrift.ingest.records import encode_columnar_batch
from streamdrift.settings import LabelSettings, Settings, WindowSettings
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.dataplane import DataPlane
from streamdrift.worker.runner import tune_gc

SIZE_S = 10.0


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _settings(bootstrap: str, kafka: dict[str, str], **fields: Any) -> Settings:
    """Unique topics; ``kafka``: librdkafka options for every client (``--kafka``)."""
    fields.setdefault("window", WindowSettings(size=SIZE_S, lateness=1.0, idle_timeout=600.0))
    return unique_settings(bootstrap, kafka=dict(kafka), **fields)


def _json_values(n: int, rng: np.random.Generator) -> list[bytes]:
    now = int(time.time() * 1000)
    ts = np.sort(rng.integers(now - 60_000, now - 30_000, n))
    out: list[bytes] = []
    for i in range(0, n, 10_000):
        out += capture_records("m1", ts[i : i + 10_000].tolist(), rng)
    return out


def _sdk_batches(n: int, rng: np.random.Generator, fmt: str, *, models: int = 1, n_numeric: int = 20,
                 span_ms: int = 100_000) -> Iterator[bytes]:
    """Capture records in the capture SDK's columnar batches of 1000, written by the SDK's own encoders
    (``encode_arrow_batch`` for "arrow", ``encode_columnar_batch`` for "json"), round-robin over ``models``.

    Rows are ``capture_records``' (``n_numeric`` normal features + 3 categoricals, an inference id and a
    prediction with a score, as the SDK always sends): one model with 20 numeric features is the JSON run's
    records. One batch per model is encoded from real rows; each message then gets its own timestamps (event time
    advancing over ``span_ms``, so windows close along the run) and unique inference ids."""
    import pyarrow as pa

    now = int(time.time() * 1000) - span_ms - 60_000
    encoded: list[bytes] = []
    for m in range(models):
        rows = [orjson.loads(v) for v in capture_records(f"m{m}", [now] * 1000, rng, n_numeric=n_numeric)]
        if fmt == "arrow":
            blob = encode_arrow_batch(f"m{m}", rows)
            assert blob is not None
            encoded.append(blob)
        else:
            encoded.append(encode_columnar_batch(f"m{m}", rows))
    n_msgs = n // 1000
    for b in range(n_msgs):
        start = now + b * span_ms // n_msgs
        stamps = start + np.arange(1000, dtype=np.int64) * (span_ms // n_msgs) // 1000
        ids = np.char.add(f"m{b % models}-{b}-", np.arange(1000).astype(str))
        if fmt == "arrow":
            batch = pa.ipc.open_stream(encoded[b % models]).read_next_batch()
            batch = batch.set_column(batch.schema.get_field_index("timestamp"), "timestamp", pa.array(stamps))
            batch = batch.set_column(batch.schema.get_field_index("inference_id"), "inference_id", pa.array(ids))
            yield stream_bytes(batch)
        else:
            obj = orjson.loads(encoded[b % models])
            obj["timestamp"], obj["inference_id"] = stamps.tolist(), ids.tolist()
            yield orjson.dumps(obj)


_LOADS = {"records": "JSON run's records", "models": "100 models x 25 features"}


def _join(labels: bool, rate: float) -> str:
    return "labels off" if not labels else "labels on" if rate >= 1.0 else f"labels on, join sample {rate:g}"


def _model_batches(n: int, rng: np.random.Generator, fmt: str) -> Iterator[bytes]:
    """100 models x 25 features (22 numeric + 3 categorical) over an hour of event time, in SDK batches."""
    return _sdk_batches(n, rng, fmt, models=100, n_numeric=22, span_ms=3_600_000)


def raw_rate(settings: Settings, n: int) -> float:
    """confluent-kafka consume + orjson.loads of every value: records/s.

    With ``fetch.queue.backoff.ms`` 10 as the data plane has it: librdkafka's default (1 s pause of fetching
    whenever the 64 MB prefetch queue is full) throttles this loop too, which made the ratio look better
    (measured: 114k/s with the default vs 336k/s with 10 ms, full run).
    """
    consumer = Consumer(settings.client_config({
        "group.id": f"raw-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 6000, "fetch.queue.backoff.ms": 10,
    }))
    consumer.subscribe([settings.topics.capture])
    seen, t0 = 0, 0.0
    while seen < n:
        msgs = consumer.consume(5000, 0.5)
        if msgs and not t0:
            t0, n0 = time.perf_counter(), len(msgs)
        for m in msgs:
            orjson.loads(m.value() or b"")
        seen += len(msgs)
    dt = time.perf_counter() - t0
    consumer.close()
    return (seen - n0) / dt


def dataplane_rate(settings: Settings, n_records: int, progress: Callable[[DataPlane], int],
                   on_tick: Callable[[float], None] | None = None) -> float:
    """In-process data plane from its first batch to the last record committed: records/s after the first batch,
    as :func:`raw_rate` counts (the first step also waits for the group join and the assignment)."""
    tune_gc()  # as ``streamdrift run`` does
    dp = DataPlane(settings)
    dp.start()
    t0, n0 = 0.0, 0
    while progress(dp) < n_records:
        dp.step(0.1)
        if not t0 and progress(dp):
            t0, n0 = time.perf_counter(), progress(dp)
        if on_tick is not None:
            on_tick(progress(dp) / n_records)
    dp.commit()
    dt = time.perf_counter() - t0
    dp.close()
    return (n_records - n0) / dt


def bench_json(bootstrap: str, n: int, kafka: dict[str, str], passes: int = 4) -> dict[str, Any]:
    """The raw reference and the data plane, alternately, ``passes`` times each over the same topic (each pass a
    new consumer group): rates swing between runs on a shared 2-core machine (a pass's ratio by +-10 points), so
    the best of each is compared, the median of the passes' ratios is given beside it, and every pair is kept.

    Each pass also measures the mapped runs' reference (``mapped_runs.raw_rate``: the data plane's consumer
    settings and polls, ``consume(batch_size, 0.1)``) in ``dp_polls``: the mapped-source goal is "the same ratio
    as streamdrift's own JSON records", which only compares when both ratios have the same reference."""
    settings = _settings(bootstrap, kafka, capture_partitions=6, commit_interval=2.0)
    create_all_topics(settings)
    produce(settings, settings.topics.capture, _json_values(n, np.random.default_rng(1)))
    pairs: list[tuple[float, float]] = []
    dp_polls: list[tuple[float, float]] = []
    for i in range(passes):
        group = settings.model_copy(update={"group_id": f"{settings.group_id}-{i}"})
        raw = raw_rate(group, n)
        raw_dp = raw_rate_dataplane_polls(group.model_copy(update={"group_id": f"{settings.group_id}-{i}-dp"}), n)[0]
        worker = dataplane_rate(group, n, lambda dp: dp.stats.consumed)
        pairs.append((raw, worker))
        dp_polls.append((raw_dp, worker))
    return {"raw": max(r for r, _ in pairs), "worker": max(w for _, w in pairs), "pairs": pairs,
            "median": float(np.median([w / r for r, w in pairs])), "dp_polls": dp_polls,
            "dp_polls_median": float(np.median([w / r for r, w in dp_polls]))}


def _pairs(js: dict[str, Any], key: str = "pairs") -> str:
    return "; ".join(f"{w:,.0f} / {r:,.0f} = {w / r:.0%}" for r, w in js[key])


def bench_columnar(bootstrap: str, n: int, kafka: dict[str, str], batch_size: int = 50,
                   fmt: str = "arrow", load: str = "models", labels: bool = True,
                   sample_rate: float = 1.0) -> dict[str, Any]:
    """A ``streamdrift run --role dataplane`` process: records/s from its first to its last commit, and its RSS.

    ``fmt``: the SDK's columnar batch format, "arrow" (``batch_format="arrow"``) or "json" (``"columnar"``).
    ``load``: "records" -- the JSON run's records in SDK batches (:func:`_sdk_batches`); "models" -- 100 models
    x 25 features over an hour of event time (the RSS scenario: each model's window gets about one batch per
    partition, so every batch leaves as its own partial and the partials topic carries about the input's bytes).
    ``labels``: the labels topic is consumed and every prediction with an id waits in the join store (default
    settings: beyond ``labels.max_memory_items`` per process it spills to disk); False: ``labels.enabled`` off.
    ``sample_rate``: ``labels.sample_rate``, the share of predictions that wait for a label.
    """
    settings = _settings(bootstrap, kafka, capture_partitions=6, commit_interval=2.0, batch_size=batch_size,
                         labels=LabelSettings(enabled=labels, sample_rate=sample_rate))
    create_all_topics(settings)
    rng = np.random.default_rng(2)
    values = _sdk_batches(n, rng, fmt) if load == "records" else _model_batches(n, rng, fmt)
    produce(settings, settings.topics.capture, values)
    log = Path(tempfile.mkdtemp(prefix="bench-dataplane-")) / "dataplane.log"
    proc = start_worker(settings, role="dataplane", log_path=log)
    rss: list[float] = []

    def diagnosis() -> str:
        state = "running" if proc.poll() is None else f"exited with {proc.returncode}"
        return f"the data plane {state}; its log ({log}) ends: {log.read_text(errors='replace')[-3000:]}"

    try:
        rate = _committed_rate(settings, n // 1000, lambda fraction: _sample_rss(proc.pid, fraction, rss),
                               diagnosis) * 1000
    finally:
        stop_worker(proc)
    return {"rate": rate, "rss": rss}


def _sample_rss(pid: int, fraction: float, out: list[float]) -> None:
    if fraction >= (len(out) + 1) / 10:
        out.append(rss_mb(pid))


def bench_faust(bootstrap: str, n: int, kafka: dict[str, str]) -> float:
    """Events/s of a faust agent reading small messages one at a time."""
    import faust

    settings = _settings(bootstrap, kafka, capture_partitions=1)
    create_all_topics(settings)
    produce(settings, settings.topics.capture, (b'{"i":%d}' % i for i in range(n)))
    app = faust.App(f"bench-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", store="memory://",
                    datadir=tempfile.mkdtemp(prefix="streamdrift-bench-faust-"),
                    web_enabled=False, topic_partitions=1, consumer_auto_offset_reset="earliest",
                    broker_session_timeout=6.0, broker_heartbeat_interval=1.0)
    topic = app.topic(settings.topics.capture, key_serializer="raw", value_serializer="raw")
    state = {"seen": 0, "t0": 0.0, "t1": 0.0}
    done = asyncio.Event()

    async def agent(stream: Any) -> None:
        async for value in stream:
            orjson.loads(value)
            if not state["seen"]:
                state["t0"] = time.perf_counter()
            state["seen"] += 1
            if state["seen"] >= n:
                state["t1"] = time.perf_counter()
                done.set()

    app.agent(topic)(agent)

    async def main() -> None:
        await app.start()
        try:
            await asyncio.wait_for(done.wait(), 300)
        finally:
            await app.stop()

    asyncio.run(main())
    return (n - 1) / (state["t1"] - state["t0"])


def bench_latency(
    bootstrap: str, seconds: float, kafka: dict[str, str], log_path: Path | None = None
) -> list[float]:
    """Worker (role all) with a baseline; windows of 1 s alternate shifted/clean so each yields an event."""
    from streamdrift.settings import EvaluationSettings

    size_ms, lateness_ms = 1000, 200
    settings = _settings(
        bootstrap, kafka, capture_partitions=6, commit_interval=0.25, merge_timeout=30.0, web_port=0,
        window=WindowSettings(size=size_ms / 1000, lateness=lateness_ms / 1000, idle_timeout=600.0),
        evaluation=EvaluationSettings(raise_after=1, clear_after=1),
    )
    create_all_topics(settings)
    rng = np.random.default_rng(3)
    rows = [orjson.loads(r)["features"] for r in capture_records("m1", [0] * 5000, rng)]
    publish_baseline(settings, build_baseline([columns_from_rows(rows)], "m1").to_json())
    proc = start_worker(settings, role="all", log_path=log_path)
    latencies: list[float] = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_alerts, args=(settings, lateness_ms, size_ms, latencies, stop))
    reader.start()
    try:
        time.sleep(8)  # worker start-up (faust joins its group)
        _feed_realtime(settings, seconds, size_ms, rng)
        time.sleep(3)
    finally:
        stop.set()
        reader.join()
        stop_worker(proc)
    return latencies


def _feed_realtime(settings: Settings, seconds: float, size_ms: int, rng: np.random.Generator) -> None:
    from confluent_kafka import Producer

    producer = Producer(settings.client_config({"linger.ms": 5}))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = int(time.time() * 1000)
        shifted = (now // size_ms) % 2 == 1
        for value in capture_records("m1", [now] * 40, rng, shift=1.5 if shifted else 0.0):
            producer.produce(settings.topics.capture, value=value)
        producer.poll(0)
        time.sleep(0.02)
    producer.flush(30)


def _read_alerts(settings: Settings, lateness_ms: int, size_ms: int, out: list[float], stop: threading.Event) -> None:
    from datetime import datetime

    consumer = Consumer(settings.client_config({
        "group.id": f"lat-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
        "isolation.level": "read_committed", "session.timeout.ms": 6000, "fetch.wait.max.ms": 10,
    }))
    consumer.subscribe([settings.topics.alerts])
    while not stop.is_set():
        for m in consumer.consume(100, 0.05):
            if m.error() is not None:
                continue
            now = time.time()
            event = orjson.loads(m.value() or b"{}")
            end = datetime.fromisoformat(event["window_end"].replace("Z", "+00:00")).timestamp()
            out.append(now - (end + lateness_ms / 1000))
    consumer.close()


def bench_scaling(bootstrap: str, n: int, kafka: dict[str, str]) -> dict[int, float]:
    rates = {}
    rng = np.random.default_rng(4)
    for workers in (1, 2):
        settings = _settings(bootstrap, kafka, capture_partitions=6, commit_interval=0.5)
        create_all_topics(settings)
        produce(settings, settings.topics.capture, _json_values(n, rng))
        procs = [start_worker(settings, role="dataplane", extra_args=["--instance-id", f"i{i}"]) for i in range(workers)]
        try:
            rates[workers] = _committed_rate(settings, n)  # one JSON record per message
        finally:
            for p in procs:
                stop_worker(p)
    return rates


def _committed_rate(settings: Settings, n: int, on_progress: Callable[[float], None] | None = None,
                    diagnosis: Callable[[], str] | None = None) -> float:
    """Messages/s from the first committed offset to all ``n`` committed (the group's transactional commits).
    Raises after 600 s with the committed and log-end offsets of each partition (and ``diagnosis()``)."""
    probe = Consumer(settings.client_config({"group.id": settings.group_id}))
    tps = [TopicPartition(settings.topics.capture, p) for p in range(settings.topics.capture_partitions)]
    t0, c0, done = 0.0, 0, 0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            try:
                done = sum(max(0, tp.offset) for tp in probe.committed(tps, timeout=10))
            except KafkaException:  # e.g. NOT_COORDINATOR while a fresh broker creates __consumer_offsets
                time.sleep(0.2)
                continue
            if done and not t0:
                t0, c0 = time.perf_counter(), done
            if on_progress is not None:
                on_progress(done / n)
            if done >= n:
                return (n - c0) / (time.perf_counter() - t0)
            time.sleep(0.05)
        committed = [tp.offset for tp in probe.committed(tps, timeout=10)]
        ends = [probe.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        raise RuntimeError(f"{settings.group_id} committed {done} of {n} messages in 600 s: committed offsets "
                           f"{committed}, log ends {ends}; {diagnosis() if diagnosis is not None else ''}")
    finally:
        probe.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--kafka", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka option for every client of the run (e.g. to measure a consumer setting)")
    parser.add_argument("--columnar-batch-size", type=int, default=50,
                        help="messages per consume() in the columnar run (1000 records each; 50 keeps the poll's "
                        "bytes and columns at ~9 MB: RSS 252-268 MB flat vs 291-352 MB at 200, same records/s)")
    parser.add_argument("--only-columnar", action="store_true", help="the columnar run(s) only")
    parser.add_argument("--only-json", action="store_true", help="the JSON records run only")
    parser.add_argument("--only-mapped", action="store_true", help="the mapped-source (OIP) runs only")
    parser.add_argument("--mapped-passes", type=int, default=None,
                        help="passes of each mapped-source run (default 2 with --quick, else 3)")
    parser.add_argument("--mapped-run", action="append", default=None, metavar="TEXT",
                        help="only the mapped-source runs whose name holds TEXT (repeatable), e.g. 'tensor, 1 "
                        "row(s)/message, paired'")
    parser.add_argument("--json-passes", type=int, default=3,
                        help="passes of the JSON records run with --only-mapped (0: none)")
    parser.add_argument("--columnar-format", choices=("arrow", "json", "both"), default="both",
                        help="columnar batch format(s) to measure (both: Arrow IPC and JSON columnar, one run each)")
    args = parser.parse_args()
    q = args.quick
    kafka = dict(kv.split("=", 1) for kv in args.kafka)
    n_json, n_col, n_faust, lat_s, n_scale = (
        (60_000, 1_000_000, 20_000, 15.0, 60_000) if q else (300_000, 10_000_000, 100_000, 40.0, 300_000)
    )
    with LocalKafka() as broker:
        broker.start(timeout=120)
        b = broker.bootstrap
        formats = ("arrow", "json") if args.columnar_format == "both" else (args.columnar_format,)
        runs = [("records", fmt, True, 1.0) for fmt in formats]
        runs += [("records", "arrow", True, 0.1), ("records", "arrow", False, 1.0)] if "arrow" in formats else []
        runs += [("models", fmt, True, 1.0) for fmt in formats]
        # the profiles' own memory: the same load without the join (with it, every prediction waits: the spill
        # keeps ~3 bytes of RAM per pending prediction until its TTL)
        runs += [("models", "arrow", False, 1.0)] if "arrow" in formats else []
        if args.only_columnar:
            for load, fmt, labels, rate in runs:
                col = bench_columnar(b, n_col, kafka, args.columnar_batch_size, fmt, load, labels, rate)
                print(f"columnar {load} ({fmt}, {_join(labels, rate)}) records/s {col['rate']:,.0f}; "
                      f"RSS MB {' '.join(f'{r:.0f}' for r in col['rss'])}", flush=True)
            return
        mapped = run_mapped(lambda **f: _settings(b, kafka, **f), q, args.mapped_passes, args.mapped_run)
        if args.only_mapped:  # streamdrift's own JSON records in the same run: the ratio to match
            if not args.json_passes:
                return
            js = bench_json(b, n_json, kafka, passes=args.json_passes)
            print(f"JSON data plane {js['worker']:,.0f} records/s; raw consume + orjson.loads {js['raw']:,.0f}; "
                  f"ratio of the best {js['worker'] / js['raw']:.0%}; median pass ratio {js['median']:.0%}; "
                  f"each pass (data plane / raw): {_pairs(js)}", flush=True)
            print(f"JSON against the mapped runs' reference (raw consume + orjson.loads with the data plane's "
                  f"consumer settings and polls): median pass ratio {js['dp_polls_median']:.0%}; each pass "
                  f"(data plane / raw): {_pairs(js, 'dp_polls')}", flush=True)
            return
        js = bench_json(b, n_json, kafka)
        print(f"JSON data plane {js['worker']:,.0f} records/s; raw consume + orjson.loads {js['raw']:,.0f}; "
              f"ratio of the best {js['worker'] / js['raw']:.0%}; median pass ratio {js['median']:.0%}", flush=True)
        if args.only_json:
            print(f"JSON data plane {js['worker']:,.0f} records/s; raw consume + orjson.loads {js['raw']:,.0f}; "
                  f"ratio of the best {js['worker'] / js['raw']:.0%}; median pass ratio {js['median']:.0%}; "
                  f"each pass (data plane / raw): {_pairs(js)}",
                  flush=True)
            print(f"JSON against the mapped runs' reference (data-plane polls): median pass ratio "
                  f"{js['dp_polls_median']:.0%}; each pass: {_pairs(js, 'dp_polls')}", flush=True)
            return
        cols = {}
        for run in runs:
            cols[run] = col = bench_columnar(b, n_col, kafka, args.columnar_batch_size, run[1], run[0], run[2], run[3])
            print(f"columnar {run[0]} ({run[1]}, {_join(run[2], run[3])}) records/s {col['rate']:,.0f}; "
                  f"RSS MB {' '.join(f'{r:.0f}' for r in col['rss'])}", flush=True)
        faust_rate = bench_faust(b, n_faust, kafka)
        print(f"faust agent events/s {faust_rate:,.0f}", flush=True)
        lat = np.array(bench_latency(b, lat_s, kafka))
        print(f"latency events: {lat.size}; p50 / p99 s "
              f"{np.percentile(lat, 50) if lat.size else float('nan'):.2f} / "
              f"{np.percentile(lat, 99) if lat.size else float('nan'):.2f}", flush=True)
        scale = bench_scaling(b, n_scale, kafka)
        print(f"scaling records/s: 1 data plane {scale[1]:,.0f}, 2 data planes {scale[2]:,.0f}", flush=True)
    n_pass = len(js["pairs"])
    rows = [
        ("JSON records/s, data plane (1 process)", f"{js['worker']:,.0f}", f"{n_json:,} records, best of {n_pass}"),
        ("JSON raw consume+orjson.loads records/s", f"{js['raw']:,.0f}", f"reference, best of {n_pass}"),
        ("  ratio data plane / raw (best of each)", f"{js['worker'] / js['raw']:.0%}", "goal >= 60%"),
        ("  median of the passes' ratios", f"{js['median']:.0%}", ""),
        ("  each pass: data plane / raw", _pairs(js), ""),
        *[row for (load, fmt, labels, rate), col in cols.items() for row in (
            (f"columnar {fmt} batches, {_LOADS[load]}, {_join(labels, rate)}: records/s",
             f"{col['rate']:,.0f}", f"{n_col:,} records; goal >= 500k"),
            ("  data-plane RSS MB at 10%..100%", " ".join(f"{r:.0f}" for r in col["rss"]), "goal <= 300 MB, flat"))],
        ("faust agent events/s (one at a time)", f"{faust_rate:,.0f}", f"{n_faust:,} small messages"),
        ("  data plane JSON records/s / faust events/s", f"{js['worker'] / faust_rate:.1f}x", ""),
        ("alert latency p50 / p99 s", f"{np.percentile(lat, 50):.2f} / {np.percentile(lat, 99):.2f}"
         if lat.size else "n/a", f"{lat.size} events; goal p99 <= 1 s"),
        ("2 data planes vs 1 (6 partitions, JSON)", f"{scale[2] / scale[1]:.2f}x" if scale[1] else "n/a",
         f"{scale[1]:,.0f} -> {scale[2]:,.0f} records/s; 2 cores"),
        *[(f"mapped OIP {name}: data plane / raw messages/s", f"{m['worker'] / m['raw']:.0%}",
           f"{m['worker'] * m['rows_per_message']:,.0f} rows/s; goal >= {'50' if 'paired' in name else '60'}%")
          for name, m in mapped.items()],
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'value':>24}  note")
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>24}  {note}")


if __name__ == "__main__":
    main()
