"""Throughput of the stream worker's pure hot path: parse_capture and PartitionWindows.add.

    .venv/bin/python benchmarks/bench_parse.py [--quick]

Rows (records/s, median of repeats, one core):
  orjson.loads            bare ``orjson.loads`` of each ~600-byte JSON record (the reference)
  loads + itemgetter      loads a poll, transposes the features with operator.itemgetter into numpy arrays,
                          no validation: the floor for any dict-based JSON columnarizer (second reference)
  parse_capture JSON      the same bytes through ``parse_capture`` (validation, grouping, columns): the native
                          reader (streamdrift._native), and the Python path (``native=False``) beside it
  parse_labels            ~90-byte label records, native and Python path, against orjson.loads of the same
  parse_capture columnar  the same records as columnar batches of 1000 rows
  PartitionWindows.add    profiling parsed batches into 1-minute windows (incl. drain every poll)
  parse + add (JSON)      the two together, i.e. what one worker core can sustain on JSON records
  columnar 100x25 ...     bench_worker's columnar load (100 models x 25 features, 1000 rows a message, polls of
                          200 messages, 10 s windows): orjson.loads alone, parse_capture, and parse + add +
                          drain + serialize every delta (the data plane's work per record, without Kafka)
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from streamdrift.ingest.records import (
    CaptureBatch,
    encode_capture_record,
    encode_columnar_batch,
    encode_label_record,
    parse_capture,
    parse_labels,
)
from streamdrift.window.windows import PartitionWindows, WindowSpec

T0 = 1_718_000_040_000
POLL = 1000  # records per consumer poll


def make_records(n: int, seed: int = 0) -> tuple[list[bytes], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    nums = rng.normal(100, 25, (n, 20))
    cats = [rng.choice(choices, n) for choices in (["web", "ios", "android"], list("ABCDEFGH"), ["eu", "us"])]
    rows: list[dict[str, Any]] = []
    values = []
    for i in range(n):
        features: dict[str, Any] = {f"num_{j:02d}": round(float(nums[i, j]), 6) for j in range(20)}
        features.update({"channel": str(cats[0][i]), "segment": str(cats[1][i]), "region": str(cats[2][i])})
        row: dict[str, Any] = {
            "inference_id": f"{i:08d}-3f1c-4d2a-9b7e-5a6c7d8e9f00",
            "timestamp": T0 + i * 10,
            "features": features,
            "prediction": {"label": int(nums[i, 0] > 100), "score": round(float(abs(nums[i, 1]) / 200), 6)},
        }
        rows.append(row)
        values.append(
            encode_capture_record(
                "credit-model", features=features, prediction=row["prediction"], inference_id=row["inference_id"],
                timestamp_ms=row["timestamp"], model_version="3",
            )
        )
    return values, rows


def make_columnar_polls(n: int, models: int = 100, features: int = 25) -> list[list[bytes]]:
    """bench_worker's columnar messages: 1000 rows each, round-robin over models, polls of 200 messages."""
    rng = np.random.default_rng(2)
    per_model = []
    for _ in range(models):
        feats: dict[str, object] = {f"f{i}": rng.normal(size=1000).round(3).tolist() for i in range(features - 3)}
        for c in ("c0", "c1", "c2"):
            feats[c] = rng.choice(np.array(["red", "green", "blue", "cyan"], dtype=object), size=1000).tolist()
        per_model.append(orjson.dumps(feats))
    step = 3_600_000 // max(1, n // 1000)
    messages = []
    for b in range(n // 1000):
        head = f'{{"format":"columnar","model_id":"m{b % models}","n":1000,"timestamp":['.encode()
        stamps = ",".join([str(T0 + b * step)] * 1000).encode()
        messages.append(head + stamps + b'],"features":' + per_model[b % models] + b"}")
    return [messages[i : i + 200] for i in range(0, len(messages), 200)]


def rate(n: int, fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def polls(values: list[bytes]) -> list[list[bytes]]:
    return [values[i : i + POLL] for i in range(0, len(values), POLL)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run (20k records, 3 repeats)")
    args = parser.parse_args()
    n, repeats = (20_000, 3) if args.quick else (200_000, 5)

    values, rows = make_records(n)
    json_polls = polls(values)
    columnar = [
        encode_columnar_batch("credit-model", rows[i : i + 1000], model_version="3") for i in range(0, n, 1000)
    ]
    parsed: list[list[CaptureBatch]] = [parse_capture(p)[0] for p in json_polls]

    def loads_only() -> None:
        for v in values:
            orjson.loads(v)

    def loads_transpose() -> None:
        for p in json_polls:
            objs = [orjson.loads(v) for v in p]
            features = [o["features"] for o in objs]
            names = list(features[0])
            for column in zip(*map(itemgetter(*names), features), strict=True):
                np.array(column, dtype=object if isinstance(column[0], str) else np.float64)
            np.array([o["timestamp"] for o in objs], dtype=np.int64)

    def parse_json() -> None:
        for p in json_polls:
            parse_capture(p)

    def parse_json_python() -> None:
        for p in json_polls:
            parse_capture(p, native=False)

    label_values = [encode_label_record("credit-model", row["inference_id"], row["prediction"]["label"],
                                        row["timestamp"] + 5_000) for row in rows]
    label_polls = polls(label_values)

    def labels_loads() -> None:
        for v in label_values:
            orjson.loads(v)

    def labels_native() -> None:
        for p in label_polls:
            parse_labels(p)

    def labels_python() -> None:
        for p in label_polls:
            parse_labels(p, native=False)

    def parse_columnar() -> None:
        for message in columnar:
            parse_capture([message])

    def add_only() -> None:
        pw = PartitionWindows(WindowSpec(60_000, lateness_ms=5_000))
        for batches in parsed:
            pw.add_many(batches)
            pw.drain_deltas()

    def parse_and_add() -> None:
        pw = PartitionWindows(WindowSpec(60_000, lateness_ms=5_000))
        for p in json_polls:
            pw.add_many(parse_capture(p)[0])
            pw.drain_deltas()

    col_polls = make_columnar_polls(n)

    def columnar_loads() -> None:
        for p in col_polls:
            for m in p:
                orjson.loads(m)

    def columnar_parse() -> None:
        for p in col_polls:
            parse_capture(p)

    def columnar_dataplane() -> None:
        pw = PartitionWindows(WindowSpec(10_000, lateness_ms=1_000))
        for p in col_polls:
            pw.add_many(parse_capture(p)[0])
            for delta in pw.drain_deltas():
                delta.profile.to_bytes()

    ref = rate(n, loads_only, repeats)
    table = [
        ("orjson.loads (reference)", ref),
        ("loads + itemgetter columns (no checks)", rate(n, loads_transpose, repeats)),
        ("parse_capture JSON (native reader)", rate(n, parse_json, repeats)),
        ("parse_capture JSON (Python path)", rate(n, parse_json_python, repeats)),
        ("parse_capture columnar (1000 rows/msg)", rate(n, parse_columnar, repeats)),
        ("PartitionWindows.add (+drain)", rate(n, add_only, repeats)),
        ("parse + add (JSON)", rate(n, parse_and_add, repeats)),
    ]
    col_ref = rate(n, columnar_loads, repeats)
    col_table = [
        ("orjson.loads (reference)", col_ref),
        ("parse_capture", rate(n, columnar_parse, repeats)),
        ("parse + add + drain + to_bytes", rate(n, columnar_dataplane, repeats)),
    ]
    label_ref = rate(n, labels_loads, repeats)
    label_table = [
        ("orjson.loads (reference)", label_ref),
        ("parse_labels (native reader)", rate(n, labels_native, repeats)),
        ("parse_labels (Python path)", rate(n, labels_python, repeats)),
    ]
    mean_bytes = sum(map(len, values)) / n
    print(f"{n} records, {mean_bytes:.0f} bytes each (20 numeric + 3 categorical), polls of {POLL}, "
          f"median of {repeats}")
    print(f"{'path':<42}{'records/s':>12}{'vs orjson.loads':>18}")
    for name, r in table:
        print(f"{name:<42}{r:>12,.0f}{r / ref:>17.2f}x")
    print(f"\nlabel records, {sum(map(len, label_values)) / n:.0f} bytes each, polls of {POLL}")
    print(f"{'path':<42}{'records/s':>12}{'vs orjson.loads':>18}")
    for name, r in label_table:
        print(f"{name:<42}{r:>12,.0f}{r / label_ref:>17.2f}x")
    print(f"\ncolumnar 100 models x 25 features, 1000 rows/message, polls of 200 messages ({n} rows)")
    print(f"{'path':<42}{'records/s':>12}{'vs orjson.loads':>18}")
    for name, r in col_table:
        print(f"{name:<42}{r:>12,.0f}{r / col_ref:>17.2f}x")


if __name__ == "__main__":
    main()
