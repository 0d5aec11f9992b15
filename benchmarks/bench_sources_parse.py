"""The mapping engine alone (no Kafka): a poll of bench_worker's mapped-source messages (benchmarks/mapped_runs.py:
Open Inference Protocol v2 JSON, 23 FP32 features as one tensor or 23 named tensors, 1 or 32 rows per message,
request and response in one message or paired) read by ``MappedParser.parse`` with the native reader and with
the Python paths only, each against ``orjson.loads`` of the same messages measured in the same run (the three
alternate, ``--passes`` times; medians of the passes' ratios). A ratio above 100% reads faster than the raw
parse. Times are the process's CPU time (``time.process_time``; everything runs in this thread), which other
jobs on a loaded machine disturb far less than wall-clock rates. ``--with-profile`` also feeds each batch to a
partition's windows (``PartitionWindows.add_many``: the profiles and their sketches), as the data plane does:
the data plane's own work on a poll apart from the consume, against ``orjson.loads``.

    .venv/bin/python benchmarks/bench_sources_parse.py [--passes 7] [--with-profile]
"""

from __future__ import annotations

import testsupport  # noqa: F401  (tests/support on sys.path: harness, clusterdrill)

# isort: split

import argparse
import gc
import statistics
import time

import orjson
from mapped_runs import _source, messages

from streamdrift.ingest.sources.engine import MappedParser, Messages
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.windows import PartitionWindows, WindowSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--with-profile", action="store_true",
                        help="also add each batch to a partition's windows (the profiles), as the data plane does")
    args = parser.parse_args()
    for layout in ("tensor", "fields"):
        for batch in (1, 32):
            for paired in (False, True):
                msgs = messages(5000 if batch == 1 else 500 * batch, batch, layout, paired)
                poll = Messages([v for _, v in msgs], [k for k, _ in msgs], [None] * len(msgs),
                                [1_800_000_000_000 + i for i in range(len(msgs))])
                source = _source("t", layout, paired)
                native, python = MappedParser(source), MappedParser(source, use_native=False)
                ratios: dict[str, list[float]] = {"native": [], "python": []}
                for _ in range(args.passes):
                    gc.collect()
                    t0 = time.process_time()
                    for value in poll.values:
                        orjson.loads(value)
                    raw = time.process_time() - t0
                    for name, p in (("native", native), ("python", python)):
                        windows = PartitionWindows(WindowSpec(10_000, 1_000), ProfileParams(kll_k=1000))
                        t0 = time.process_time()
                        batches, dead = p.parse(poll, p.new_pairs(), 1_800_000_000_000)
                        if args.with_profile:
                            windows.add_many(batches)
                        ratios[name].append(raw / (time.process_time() - t0))
                        assert not dead and sum(b.n_rows for b in batches) == len(msgs) * batch // (1 + paired)
                print(f"parse{' + profile' if args.with_profile else ''} OIP {layout}, {batch} row(s)/message, {'paired' if paired else 'one message'} "
                      f"({len(msgs)} messages): messages/s vs orjson.loads, median of {args.passes}: native "
                      f"{statistics.median(ratios['native']):.0%}, Python paths "
                      f"{statistics.median(ratios['python']):.0%}", flush=True)


if __name__ == "__main__":
    main()
