"""The mapped-source runs of bench_worker.py: Open Inference Protocol v2 JSON through a source mapping.

23 features (``FP32``) per row, batches of 1 and of 32 rows per message, the features as ONE tensor
(``features: {tensor: ..., names: [...]}``) or as 23 named input tensors (``features: {fields: ...}``), and:

- ``one message``: request and response logged together, ``{"id", "request": <OIP request>, "response":
  <OIP response>}`` (preset ``json``);
- ``paired``: request and response as separate messages keyed by id (preset ``oip-v2``, paired in the data plane).

Each compares the data plane's messages/s with the raw confluent-kafka consume + ``orjson.loads`` of the same
topic in the same run (passes alternate; best of each and every pass printed), and the two's messages per CPU
second of this process (a figure the other jobs of a shared machine move far less than the wall-clock ratio).
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer
from harness import create_all_topics

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.ingest.sources.engine import MappedParser
from streamdrift.settings import Settings
from streamdrift.worker.clients import consumer_config
from streamdrift.worker.dataplane import DataPlane
from streamdrift.worker.runner import tune_gc
from streamdrift.worker.sources import parser_of, source_settings
from streamdrift.worker.topics import create_topics, topic_specs

NAMES = [f"x{i}" for i in range(23)]


def _source(topic: str, layout: str, paired: bool) -> SourceSettings:
    pre = "" if paired else "/request"
    out = "" if paired else "/response"
    if layout == "tensor":
        features: dict[str, Any] = {"tensor": f"{pre}/inputs/{'input-0' if paired else '0'}", "names": NAMES}
    else:
        features = {"fields": {n: f"{pre}/inputs/{n if paired else i}" for i, n in enumerate(NAMES)}}
    return SourceSettings.model_validate({
        "name": "bench", "topic": topic, "preset": "oip-v2" if paired else "json",
        "mapping": {"model_id": f"{out}/model_name", "features": features,
                    "prediction": f"{out}/outputs/{'label' if paired else '0'}",
                    "score": f"{out}/outputs/{'proba' if paired else '1'}", "inference_id": "/id"}})


def _inputs(rows: np.ndarray, layout: str) -> list[dict[str, Any]]:
    if layout == "tensor":
        return [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]
    return [{"name": n, "shape": [rows.shape[0]], "datatype": "FP32", "data": rows[:, i].tolist()}
            for i, n in enumerate(NAMES)]


def messages(n_rows: int, batch: int, layout: str, paired: bool, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """(key, value) messages holding ``n_rows`` rows in requests of ``batch`` rows."""
    rng = np.random.default_rng(seed)
    out: list[tuple[bytes, bytes]] = []
    for start in range(0, n_rows, batch):
        rows = rng.normal(size=(batch, len(NAMES))).astype(np.float32).round(4)
        rid = f"req-{start}"
        request = {"id": rid, "inputs": _inputs(rows, layout)}
        response = {"model_name": "oip-bench", "model_version": "1", "id": rid, "outputs": [
            {"name": "label", "shape": [batch], "datatype": "INT64", "data": (rows[:, 0] > 0).astype(int).tolist()},
            {"name": "proba", "shape": [batch], "datatype": "FP32", "data": np.abs(rows[:, 1] % 1).round(4).tolist()}]}
        if paired:
            out += [(rid.encode(), orjson.dumps(request)), (rid.encode(), orjson.dumps(response))]
        else:
            out.append((rid.encode(), orjson.dumps({"id": rid, "request": request, "response": response})))
    return out


def raw_rate(settings: Settings, n: int) -> tuple[float, float]:
    """confluent-kafka consume + ``orjson.loads`` of every value, messages/s from the first poll on, with the data
    plane's consumer settings and polls (``consume(batch_size, 0.1)``, as ``DataPlane.step(0.1)``): the
    bench_worker reference (``consume(5000, 0.5)``) waits half a second whenever fewer than 5000 messages are
    queued, which for messages of several KB is most polls (it read the 32-row topics at 1-3k messages/s).
    Also messages per CPU second of this process over the same span (:func:`_cpu_rate`)."""
    consumer = Consumer({**consumer_config(settings), "group.id": f"raw-{uuid.uuid4().hex[:8]}"})
    consumer.subscribe([settings.topics.capture])
    seen, t0, n0, c0 = 0, 0.0, 0, 0.0
    while seen < n:
        msgs = [m for m in consumer.consume(settings.batch_size, 0.1) if m.error() is None]
        if msgs and not t0:
            t0, n0, c0 = time.perf_counter(), len(msgs), time.process_time()
        for m in msgs:
            orjson.loads(m.value() or b"")
        seen += len(msgs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    consumer.close()
    return ((seen - n0) / dt if dt > 0 else float("nan")), _cpu_rate(seen - n0, cpu)


def _cpu_rate(n: int, cpu_s: float) -> float:
    """Messages per CPU second of this process (every thread: librdkafka's, the data plane's parse ahead; not the
    broker's): what a pass costs, which the other jobs of a shared machine disturb far less than the wall-clock
    rate (they take CPU away, which slows the data plane's work but not the raw reference's waits)."""
    return n / cpu_s if cpu_s > 0 else float("nan")


def _dataplane_rate(settings: Settings, source: SourceSettings, n_messages: int,
                    native: bool = True) -> tuple[float, float]:
    """Messages/s of a source's data plane from its first poll to the last message committed (``native``
    False: the mapping engine's Python paths only, the figures before the native reader)."""
    tune_gc()
    parser = parser_of(settings, source)
    if not native:
        parser = MappedParser(source, limits=parser.limits, max_bytes=parser.max_bytes, use_native=False)
    dp = DataPlane(source_settings(settings, source), source=parser)
    dp.start()
    t0, n0, c0 = 0.0, 0, 0.0
    while dp.stats.consumed < n_messages:
        dp.step(0.1)
        if not t0 and dp.stats.consumed:
            t0, n0, c0 = time.perf_counter(), dp.stats.consumed, time.process_time()
    dp.commit()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    dp.close()
    return ((n_messages - n0) / dt if dt > 0 else float("nan")), _cpu_rate(n_messages - n0, cpu)


def bench_mapped(make_settings: Callable[..., Settings], n_rows: int, batch: int, layout: str, paired: bool,
                 passes: int) -> dict[str, Any]:
    """Raw consume + orjson.loads vs the source's data plane over the same topic, ``passes`` times each."""
    settings = make_settings(capture_partitions=6, commit_interval=2.0)
    create_all_topics(settings)
    topic = f"{settings.topics.capture}.oip"
    capture = next(s for s in topic_specs(settings) if s.name == settings.topics.capture)
    create_topics(settings, [replace(capture, name=topic)])  # the team's topic: 6 partitions like capture
    source = _source(topic, layout, paired)
    with_source = settings.model_copy(update={"sources": (source,)})
    msgs = messages(n_rows, batch, layout, paired)
    _produce_keyed(settings, topic, msgs)  # keyed by request id: a pair's two messages on one partition
    pairs: list[tuple[float, float]] = []
    cpu: list[float] = []  # data plane / raw messages per CPU second, each pass
    python: list[float] = []  # the Python paths' pass ratios (before the native reader), same passes
    for i in range(passes):
        group = with_source.model_copy(update={"group_id": f"{settings.group_id}-{i}"})
        raw_settings = group.model_copy(update={"topics": group.topics.model_copy(update={"capture": topic})})
        raw, raw_cpu = raw_rate(raw_settings, len(msgs))
        native, native_cpu = _dataplane_rate(group, source, len(msgs))
        python.append(_dataplane_rate(group.model_copy(update={"group_id": f"{settings.group_id}-{i}-py"}), source,
                                      len(msgs), native=False)[0] / raw)
        pairs.append((raw, native))
        cpu.append(native_cpu / raw_cpu)
    rows_per_message = batch / 2 if paired else batch
    return {"raw": max(r for r, _ in pairs), "worker": max(w for _, w in pairs), "pairs": pairs,
            "median": float(np.median([w / r for r, w in pairs])), "rows_per_message": rows_per_message,
            "messages": len(msgs), "python_median": float(np.median(python)), "cpu": cpu,
            "cpu_median": float(np.median(cpu))}


def _produce_keyed(settings: Settings, topic: str, msgs: list[tuple[bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer(settings.client_config({"linger.ms": 20, "enable.idempotence": True,
                                                 "queue.buffering.max.messages": 500000}))
    for key, value in msgs:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError(f"not every message to {topic} was acknowledged")


def run_mapped(make_settings: Callable[..., Settings], quick: bool, passes: int | None = None,
               only: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """bench_worker's mapped-source runs, each printed as soon as measured; ``only``: the runs whose name holds one
    of these texts (all without)."""
    out: dict[str, dict[str, Any]] = {}
    # messages per run (a run far shorter than a few polls measures the polls' waits, not the rates)
    n_small, n_large, default_passes = (60_000, 6_000, 2) if quick else (300_000, 30_000, 3)
    passes = passes or default_passes
    for layout in ("tensor", "fields"):
        for batch in (1, 32):
            for paired in (False, True):
                name = f"{layout}, {batch} row(s)/message, {'paired' if paired else 'one message'}"
                if only and not any(text in name for text in only):
                    continue
                rows = (n_small if batch == 1 else n_large * batch) // (2 if paired else 1)
                m = out[name] = bench_mapped(make_settings, rows, batch, layout, paired, passes)
                each = "; ".join(f"{w:,.0f} / {r:,.0f} = {w / r:.0%}" for r, w in m["pairs"])
                print(f"mapped OIP {name}: data plane {m['worker']:,.0f} messages/s "
                      f"({m['worker'] * m['rows_per_message']:,.0f} rows/s); raw consume + orjson.loads (data-plane polls) "
                      f"{m['raw']:,.0f} messages/s; ratio of the best {m['worker'] / m['raw']:.0%}; median pass "
                      f"ratio {m['median']:.0%} (Python paths, before the native reader: {m['python_median']:.0%}); each pass "
                      f"(data plane / raw): {each}; messages per CPU second, data plane / raw: median "
                      f"{m['cpu_median']:.0%}, each pass {' '.join(f'{c:.0%}' for c in m['cpu'])}", flush=True)
    return out
