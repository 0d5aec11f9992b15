"""Capture SDK: records/s an inference service publishes, per record (``capture``) vs as columns
(``capture_batch``), on a real local broker, in one process (ratios are the figures to read).

The JSON capture records of ``bench_worker.py`` (20 numeric + 3 categorical features, an id, a prediction and a
score). Each row times the calls (the cost the inference service pays; the SDK never blocks) and then the
flush until the broker acknowledged every message; records/s counts both.

    .venv/bin/python benchmarks/bench_capture.py [--quick] [--records 200000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import numpy as np

from streamdrift.dev.localkafka import LocalKafka, create_topics
from streamdrift.sdk.client import CaptureClient

N_NUMERIC = 20
CATEGORIES = np.array(["red", "green", "blue", "cyan"], dtype=object)


def _data(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    features: dict[str, np.ndarray] = {f"f{i}": rng.normal(size=n).round(6) for i in range(N_NUMERIC)}
    features.update({f"c{i}": rng.choice(CATEGORIES, n) for i in range(3)})
    return features, rng.integers(0, 2, n), rng.random(n)


def _per_record(client: CaptureClient, features: dict[str, np.ndarray], labels: np.ndarray, scores: np.ndarray,
                ts: int) -> None:
    names = list(features)
    columns = [features[name].tolist() for name in names]
    for i, (label, score) in enumerate(zip(labels.tolist(), scores.tolist(), strict=True)):
        client.capture({name: col[i] for name, col in zip(names, columns, strict=True)},
                       {"label": label, "score": score}, timestamp=ts)


def _batched(client: CaptureClient, features: dict[str, np.ndarray], labels: np.ndarray, scores: np.ndarray,
             ts: int, rows: int = 1000) -> None:
    for start in range(0, labels.size, rows):
        part = slice(start, start + rows)
        client.capture_batch({k: v[part] for k, v in features.items()}, labels[part], scores=scores[part],
                             timestamps=ts)


def run(bootstrap: str, fmt: str, n: int, send: Callable[..., None]) -> tuple[float, float]:
    """(records/s of the calls alone, records/s until every message was acknowledged)."""
    topic = f"bench-capture-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, {topic: 6})
    features, labels, scores = _data(n, np.random.default_rng(1))
    client = CaptureClient(bootstrap, "bench", topic=topic, batch_format=fmt,  # type: ignore[arg-type]
                           queue_size=1_000_000)
    t0 = time.perf_counter()
    send(client, features, labels, scores, int(time.time() * 1000))
    t1 = time.perf_counter()
    left = client.close(120)
    t2 = time.perf_counter()
    assert left == 0 and client.dropped == 0 and client.sent == n, (left, client.dropped_by_reason, client.sent)
    return n / (t1 - t0), n / (t2 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    args = parser.parse_args()
    if args.quick:
        args.records = 20_000
    with LocalKafka() as broker:
        broker.start(timeout=120)
        print(f"{args.records:,} records of {N_NUMERIC} numeric + 3 categorical features")
        print(f"{'format':8} {'API':22} {'calls rec/s':>12} {'acked rec/s':>12}")
        for fmt in ("json", "columnar", "arrow"):
            rates = {}
            for name, send in (("capture() per record", _per_record), ("capture_batch(1000)", _batched)):
                rates[name] = run(broker.bootstrap, fmt, args.records, send)
                calls, acked = rates[name]
                print(f"{fmt:8} {name:22} {calls:12,.0f} {acked:12,.0f}", flush=True)
            (c0, a0), (c1, a1) = rates.values()
            print(f"{fmt:8} {'batch / per record':22} {c1 / c0:11.1f}x {a1 / a0:11.1f}x", flush=True)


if __name__ == "__main__":
    main()
