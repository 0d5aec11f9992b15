"""Where a mapped source's data plane spends its CPU, stage by stage (no Kafka): bench_worker's mapped-source
messages (benchmarks/mapped_runs.py) cut into chunks of ``--chunk`` messages (what one partition's part of a poll
holds: ~500 messages of 16.6 KB a poll over 6 partitions for 23 named tensors of 32 rows), each read by
``MappedParser.parse`` and added to a partition's windows (``PartitionWindows.add_many``) as the data plane does,
against ``orjson.loads`` of the same messages. Process CPU time (``time.process_time``) per message, medians and
every pass, of:

- ``read``: the native reader (``_native.read_source_poll``; runs without the GIL, so in the parse-ahead thread);
- ``parse glue``: the rest of ``MappedParser.parse`` (gathering the columns, ids, checks; holds the GIL);
- ``sort``: ``_native.sorted_floats`` before each KLL update (without the GIL);
- ``kll update``: the rest of ``KllSketch.update``, mostly datasketches' ``update``, which holds the GIL;
- ``add_many glue``: the rest of ``add_many`` (moments, kinds, windows; holds the GIL).

The native calls are wrapped with timers for the run (module attributes replaced in this process only).

    .venv/bin/python benchmarks/bench_sources_stages.py [--layout fields] [--batch 32] [--passes 7]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path)

# isort: split

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from mapped_runs import _source, messages

import streamdrift._native as native
from streamdrift.ingest.sources import nativepoll
from streamdrift.ingest.sources.engine import MappedParser, Messages
from streamdrift.profile import kll
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.windows import PartitionWindows, WindowSpec
from streamdrift.worker.runner import tune_gc

SPENT: dict[str, float] = {"read": 0.0, "sort": 0.0, "kll": 0.0}


def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return call(*args, **kwargs)
        finally:
            SPENT[name] += time.process_time() - t0
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("tensor", "fields"), default="fields")
    parser.add_argument("--batch", type=int, default=32, help="rows per message")
    parser.add_argument("--chunk", type=int, default=80, help="messages per parse (one partition's part of a poll)")
    parser.add_argument("--messages", type=int, default=3200)
    parser.add_argument("--passes", type=int, default=7)
    args = parser.parse_args()
    msgs = messages(args.messages * args.batch, args.batch, args.layout, False)
    polls = [Messages([v for _, v in part], [k for k, _ in part], [None] * len(part),
                      [1_800_000_000_000 + i for i in range(len(part))])
             for part in (msgs[i:i + args.chunk] for i in range(0, len(msgs), args.chunk))]
    mapped = MappedParser(_source("t", args.layout, False))
    nativepoll._native.read_source_poll = timed("read", native.read_source_poll)  # type: ignore[attr-defined]
    kll.sorted_floats = timed("sort", native.sorted_floats)  # type: ignore[attr-defined]
    kll.KllSketch.update = timed("kll", kll.KllSketch.update)  # type: ignore[method-assign]
    tune_gc()  # as the data plane does
    stages: dict[str, list[float]] = {k: [] for k in ("orjson.loads", "read", "parse glue", "sort", "kll update",
                                                      "add_many glue", "data plane total")}
    for _ in range(args.passes):
        windows = PartitionWindows(WindowSpec(10_000, 1_000), ProfileParams())
        for key in SPENT:
            SPENT[key] = 0.0
        t0 = time.process_time()
        for poll in polls:
            for value in poll.values:
                orjson.loads(value)
        stages["orjson.loads"].append(time.process_time() - t0)
        parse_s = add_s = 0.0
        for poll in polls:
            t0 = time.process_time()
            batches, _ = mapped.parse(poll, mapped.new_pairs(), 1_800_000_000_000)
            t1 = time.process_time()
            windows.add_many(batches)
            parse_s, add_s = parse_s + t1 - t0, add_s + time.process_time() - t1
        stages["read"].append(SPENT["read"])
        stages["parse glue"].append(parse_s - SPENT["read"])
        stages["sort"].append(SPENT["sort"])
        stages["kll update"].append(SPENT["kll"] - SPENT["sort"])
        stages["add_many glue"].append(add_s - SPENT["kll"])
        stages["data plane total"].append(parse_s + add_s)
    n = len(msgs)
    total = statistics.median(stages["data plane total"])
    print(f"OIP {args.layout}, {args.batch} row(s)/message, {args.chunk} messages a parse, {n} messages; CPU us a "
          f"message, median of {args.passes} (share of the data plane total), then each pass:")
    for name, spent in stages.items():
        med = statistics.median(spent)
        print(f"  {name:16s} {med * 1e6 / n:6.1f} ({med / total:4.0%})  " + " ".join(f"{s * 1e6 / n:.1f}" for s in spent))


if __name__ == "__main__":
    main()
