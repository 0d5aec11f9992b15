"""Cost of bounding ``partials`` messages (PartitionPipeline.flush(max_message_bytes)) on the data plane's path.

    .venv/bin/python benchmarks/bench_partials.py [--quick]

One partition's pipeline (window params ``ProfileParams(kll_k=1000)``, 10 s windows) is fed pre-parsed capture
batches and flushed at every "commit", as the data plane does; each variant then has the bytes it would
publish. Timed per variant (medians of interleaved rounds, fresh pipelines):

* ``unchecked``: ``max_message_bytes=None``, every delta encoded once (what the data plane did before);
* ``checked, reused``: the default 1 MiB limit; the size check's encodings published (``encoded_deltas()``);
* ``checked, re-encoded``: the limit, and the data plane encodes every delta again (until it uses
  ``encoded_deltas()``).

Loads (JSON capture records in blocks of 1,000 of one model, as the SDK batches them; 5,000-record polls): "1 model":
20 numeric + 3 categorical features (bench_worker's records), a commit every 50,000 records; "100 models": 100 models
x 25 features, a commit every 100,000 records (1,000 records per model and delta, as in bench_worker's run 2b).
Times are CPU seconds of this process (the machine is shared), parsing excluded. Also the sizes of one encoded feature and of the split of a
3,000-feature model.
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from harness import capture_records

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Column, Columns, classify_numbers, column_from_values
from streamdrift.ingest.records import parse_capture
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.partials import PartialDelta, encode_partial
from streamdrift.window.parts import DEFAULT_MAX_MESSAGE_BYTES, split_delta, value_budget
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.windows import WindowSpec, profiles_only

P = ProfileParams(kll_k=1000)
SIZE_MS = 10_000
T0 = 1_718_000_000_000


def _polls(n: int, models: int, n_numeric: int, poll: int, rng: np.random.Generator) -> list[list[CaptureBatch]]:
    """``n`` records in polls of ``poll``, in blocks of 1,000 records of one model (as the capture SDK batches
    them), round-robin over models; event time 20k records/s."""
    block = 1000
    values: list[bytes] = []
    for b in range(n // block):
        stamps = T0 + np.arange(b * block, (b + 1) * block, dtype=np.int64) // 20
        values += capture_records(f"m{b % models}", stamps.tolist(), rng, n_numeric=n_numeric)
    out = []
    for i in range(0, n, poll):
        batches, dead = parse_capture(values[i : i + poll])
        assert not dead
        out.append(batches)
    return out


def _run(polls: list[list[CaptureBatch]], commit_every: int, limit: int | None,
         publish: Callable[[PartitionPipeline, int], int]) -> tuple[float, float]:
    """(CPU seconds of the whole run, of its flushes and encodings): process time, not wall clock (the machine
    is shared)."""
    pipeline = PartitionPipeline(WindowSpec(SIZE_MS), "cap", 0, profiles_only(P), params=P, max_message_bytes=limit)
    polls_per_commit = max(1, commit_every // sum(b.n_rows for b in polls[0]))
    t0 = time.process_time()
    flushing = 0.0
    published = 0
    for i, batches in enumerate(polls, 1):
        pipeline.add_captures(batches)
        if i % polls_per_commit == 0 or i == len(polls):
            t = time.process_time()
            published += publish(pipeline, i)
            flushing += time.process_time() - t
    assert published > 0
    return time.process_time() - t0, flushing


def _unchecked(pipeline: PartitionPipeline, offset: int) -> int:
    return sum(len(encode_partial(d)) for d in pipeline.flush(offset).deltas)


def _reused(pipeline: PartitionPipeline, offset: int) -> int:
    return sum(len(b) for _, b in pipeline.flush(offset).encoded_deltas())


def _reencoded(pipeline: PartitionPipeline, offset: int) -> int:
    return sum(len(encode_partial(d)) for d in pipeline.flush(offset).deltas)


VARIANTS: dict[str, tuple[int | None, Callable[[PartitionPipeline, int], int]]] = {
    "unchecked": (None, _unchecked),
    "checked, reused": (DEFAULT_MAX_MESSAGE_BYTES, _reused),
    "checked, re-encoded": (DEFAULT_MAX_MESSAGE_BYTES, _reencoded),
}


def bench_flush(name: str, polls: list[list[CaptureBatch]], commit_every: int, rounds: int) -> None:
    n = sum(b.n_rows for batches in polls for b in batches)
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant, (limit, publish) in VARIANTS.items():
            times[variant].append(_run(polls, commit_every, limit, publish))
    base = statistics.median(t for t, _ in times["unchecked"])
    base_flush = statistics.median(f for _, f in times["unchecked"])
    commits = -(-len(polls) // max(1, commit_every // sum(b.n_rows for b in polls[0])))
    print(f"{name}: {n:,} records, {commits} commits (CPU time, medians of {rounds})")
    for variant, ts in times.items():
        t = statistics.median(total for total, _ in ts)
        f = statistics.median(flush for _, flush in ts)
        print(f"  {variant:<20} total {t * 1e3:7.1f} ms ({100 * (t / base - 1):+5.1f}%, {n / t / 1e3:5.0f}k records/s)"
              f"  flush + encode {f * 1e3 / commits:6.2f} ms a commit ({(f - base_flush) * 1e3 / commits:+6.2f})")


def _numeric(values: np.ndarray) -> Column:
    numbers, kinds = classify_numbers(values)
    return Column(numbers, kinds)


def feature_sizes() -> None:
    """Encoded bytes one feature adds to a delta, at the window params."""
    rng = np.random.default_rng(0)
    empty = len(encode_partial(PartialDelta("m", None, 0, 1, "cap", 0, 1, 0, DatasetProfile.empty(P))))
    print(f"encoded bytes per feature (ProfileParams(kll_k=1000)); an empty delta is {empty} bytes")
    for n in (1, 100, 1_000, 10_000, 100_000, 1_000_000):
        prof = DatasetProfile.empty(P)
        prof.update(Columns(n, {f"f{i}": _numeric(rng.normal(size=n)) for i in range(10)}))
        size = len(encode_partial(PartialDelta("m", None, 0, 1, "cap", 0, 1, n, prof)))
        print(f"  numeric, {n:>9,} values: {(size - empty) / 10:8,.0f}")
    for card, width in ((10, 8), (1_000, 8), (100_000, 8), (100_000, 100)):
        n = 50_000
        prof = DatasetProfile.empty(P)
        prof.update(Columns(n, {f"c{i}": column_from_values([f"{v:0{width}d}" for v in rng.integers(0, card, n)])
                                for i in range(4)}))
        size = len(encode_partial(PartialDelta("m", None, 0, 1, "cap", 0, 1, n, prof)))
        print(f"  categorical, {n:,} values of {card:,} distinct, {width}-byte values: {(size - empty) / 4:8,.0f}")


def big_split(n_features: int, n_rows: int) -> None:
    rng = np.random.default_rng(1)
    prof = DatasetProfile.empty(P)
    values = rng.normal(size=(n_features, n_rows))
    prof.update(Columns(n_rows, {f"f{i:05d}": _numeric(values[i]) for i in range(n_features)}))
    delta = PartialDelta("m", None, 0, 1, "cap", 0, 1, n_rows, prof)
    t0 = time.perf_counter()
    blob = encode_partial(delta)
    t1 = time.perf_counter()
    parts = split_delta(delta, value_budget(DEFAULT_MAX_MESSAGE_BYTES, b"m"), blob)
    t2 = time.perf_counter()
    print(f"{n_features:,} numeric features x {n_rows:,} records: {len(blob) / 2**20:.2f} MiB encoded in "
          f"{(t1 - t0) * 1e3:.0f} ms; split into {len(parts)} parts of at most "
          f"{max(len(b) for _, b in parts) / 2**20:.3f} MiB in {(t2 - t1) * 1e3:.0f} ms more")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    rounds = 3 if args.quick else 7
    n = 200_000 if args.quick else 600_000
    feature_sizes()
    big_split(3_000, 500)
    bench_flush("1 model, 23 features", _polls(n, 1, 20, 5_000, rng), 50_000, rounds)
    bench_flush("100 models x 25 features", _polls(n, 100, 22, 5_000, rng), 100_000, rounds)


if __name__ == "__main__":
    main()
