"""Label join against a real local Kafka broker: labels/s through the data plane.

One in-process data plane on a 3-partition capture topic and its co-partitioned labels topic. Run A consumes
N capture records with predictions (labels disabled) as the reference; run B consumes the same capture records
plus N labels (90% matching a prediction, 5% duplicates, 5% never matched) with the join, model-quality state
and transactions. Figures: capture records/s (A), wall time until every label is accounted (B), the labels'
marginal cost (N labels / (time B - time A)) and the end-to-end labels/s of B. The broker shares the 2 cores.

    .venv/bin/python benchmarks/bench_join_kafka.py [--quick]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import time

import numpy as np
import orjson
from harness import create_all_topics, produce, unique_settings
from prometheus_client import CollectorRegistry

from streamdrift.dev.localkafka import LocalKafka
from streamdrift.ingest.records import encode_label_record
from streamdrift.metrics import Metrics
from streamdrift.settings import LabelSettings, Settings, WindowSettings
from streamdrift.worker.dataplane import DataPlane

MODELS = 6


def _capture(n: int, t0: int, rng: np.random.Generator) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {f"m{k}": [] for k in range(MODELS)}
    x = rng.normal(size=(n, 4)).round(4)
    score = rng.random(n).round(4)
    for i in range(n):
        model = f"m{i % MODELS}"
        out[model].append(orjson.dumps({
            "model_id": model, "inference_id": f"i{i}", "timestamp": t0 + i // 10,
            "features": dict(zip("abcd", x[i].tolist(), strict=True)),
            "prediction": {"label": int(score[i] >= 0.5), "score": float(score[i])},
        }))
    return out


def _labels(n: int, t0: int, rng: np.random.Generator) -> tuple[dict[str, list[bytes]], int]:
    out: dict[str, list[bytes]] = {f"m{k}": [] for k in range(MODELS)}
    matched = 0
    for i in rng.permutation(n).tolist():
        model, ts = f"m{i % MODELS}", t0 + i // 10 + 500
        r = i % 20
        if r == 0:  # never matched
            out[model].append(encode_label_record(model, f"ghost{i}", 1, ts))
            continue
        out[model].append(encode_label_record(model, f"i{i}", int(rng.random() < 0.5), ts))
        matched += 1
        if r == 1:
            out[model].append(encode_label_record(model, f"i{i}", 1, ts))
    return out, matched


def _settings(bootstrap: str, labels: bool) -> Settings:
    return unique_settings(
        bootstrap, capture_partitions=3, commit_interval=1.0,
        window=WindowSettings(size=60.0, lateness=1.0, idle_timeout=600.0),
        labels=LabelSettings(enabled=labels, delay=1.0),
    )


def _produce(settings: Settings, topic: str, by_model: dict[str, list[bytes]]) -> None:
    for model, values in by_model.items():
        produce(settings, topic, values, key=model.encode())


def _run(settings: Settings, done: object) -> float:
    metrics = Metrics(CollectorRegistry())
    dp = DataPlane(settings, metrics=metrics)
    dp.start()
    t0 = 0.0
    try:
        while not done(dp, metrics):  # type: ignore[operator]
            before = time.perf_counter()
            dp.step(0.1)
            if not t0 and dp.stats.consumed:
                t0 = before
        return time.perf_counter() - t0
    finally:
        dp.close()


def _matched(metrics: Metrics) -> float:
    get = metrics.registry.get_sample_value
    return sum(get("streamdrift_label_join_total", {"model": f"m{k}", "outcome": "matched"}) or 0.0
               for k in range(MODELS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    n = 20_000 if parser.parse_args().quick else 100_000
    rng = np.random.default_rng(3)
    t0 = int(time.time() * 1000) - 3_600_000
    capture = _capture(n, t0, rng)
    labels, n_matched = _labels(n, t0, rng)
    n_labels = sum(len(v) for v in labels.values())
    with LocalKafka() as broker:
        broker.start(timeout=120)
        ref = _settings(broker.bootstrap, labels=False)
        create_all_topics(ref)
        _produce(ref, ref.topics.capture, capture)
        time_a = _run(ref, lambda dp, m: dp.stats.consumed >= n)
        joined = _settings(broker.bootstrap, labels=True)
        create_all_topics(joined)
        _produce(joined, joined.topics.capture, capture)
        _produce(joined, joined.topics.labels, labels)
        time_b = _run(joined, lambda dp, m: dp.stats.consumed >= n and _matched(m) >= n_matched)
    print(f"{'figure':<48} {'value':>14}")
    print(f"{'capture records (with predictions)':<48} {n:>14,}")
    print(f"{'label records (5% duplicates, 5% unmatched)':<48} {n_labels:>14,}")
    print(f"{'A: capture only, labels disabled (records/s)':<48} {n / time_a:>14,.0f}")
    print(f"{'B: capture + labels joined, wall time (s)':<48} {time_b:>14.2f}")
    print(f"{'B: labels/s end to end':<48} {n_labels / time_b:>14,.0f}")
    extra = time_b - time_a
    marginal = f"{n_labels / extra:,.0f}" if extra > 0 else "n/a (within noise)"
    print(f"{'labels/s marginal (N labels / (B - A))':<48} {marginal:>14}")
    print(f"{'B / A time ratio':<48} {time_b / time_a:>14.2f}")


if __name__ == "__main__":
    main()
