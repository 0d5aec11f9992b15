"""Large segment states leave a partition in deltas of their own, each under the message size, and the merge
puts them back together."""

from __future__ import annotations

import numpy as np
from segmented_traffic import segmented

from streamdrift.baseline.baseline import build_baseline
from streamdrift.columns.chunks import CaptureBatch
from streamdrift.columns.columns import Columns, column_from_values
from streamdrift.monitors.registry import MonitorConfig, monitors_for
from streamdrift.monitors.segments.section import SegmentProfiler
from streamdrift.monitors.segments.spec import SegmentSpec
from streamdrift.monitors.segments.state import SegmentStates
from streamdrift.profile.profiles import ProfileParams
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import decode_partial, encode_partial
from streamdrift.window.pipeline import PartitionPipeline
from streamdrift.window.windows import WindowSpec

LIMIT = 256 * 1024


def _columns(data: dict[str, np.ndarray]) -> Columns:
    return Columns(len(data["region"]), {k: column_from_values(v.tolist()) for k, v in data.items()})


def test_segment_states_travel_in_deltas_under_the_limit_and_merge_back() -> None:
    baseline = build_baseline(iter([_columns(segmented(np.random.default_rng(1), 20_000, 30))]), "m",
                              segments=SegmentProfiler(SegmentSpec.parse("region"), ProfileParams(kll_k=2048)))
    monitors = monitors_for(baseline, MonitorConfig(profile=ProfileParams(kll_k=1000)))
    pipeline = PartitionPipeline(WindowSpec(60_000), "capture", 0, lambda _m: monitors, max_message_bytes=LIMIT)
    n = 30_000
    cols = _columns(segmented(np.random.default_rng(2), n, 30))
    pipeline.add_captures([CaptureBatch("m", None, np.full(n, 1_000, dtype=np.int64), np.full(n, None, dtype=object),
                                        cols, None, None, None, np.arange(n, dtype=np.int64))])
    pipeline.advance_idle(200_000)
    flushed = pipeline.flush(1)
    sources = [d.source_topic for d in flushed.deltas]
    assert sum(s.startswith("capture#segments") for s in sources) >= 2, sources
    assert not flushed.oversized and all(len(blob) <= LIMIT for _, blob in flushed.encoded_deltas())
    merger = WindowMerger({}, 1, 60_000, lambda: 0)
    ready = []
    for _, blob in flushed.encoded_deltas():
        ready += merger.handle(decode_partial(blob))
    for marker in flushed.markers:
        ready += merger.handle(decode_partial(encode_partial(marker)))
    assert len(ready) == 1 and ready[0].n_records == n
    (blob,) = ready[0].extras["segments"]
    state = SegmentStates.from_bytes(blob)
    assert len(state.named) == 30 and sum(p.n_records for p in state.profiles.values()) == n
