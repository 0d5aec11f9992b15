"""What one capture partition puts into the data plane's transaction, and closing the data plane's clients."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException

from streamdrift.errors import KafkaError
from streamdrift.metrics import Metrics
from streamdrift.settings import Settings
from streamdrift.window.partials import encode_partial
from streamdrift.worker.partitions import PartitionState
from streamdrift.worker.stats import DataPlaneStats
from streamdrift.worker.transaction import Transaction

log = logging.getLogger("streamdrift.worker.dataplane")


def produce_partition(txn: Transaction, settings: Settings, n_partials: int, state: PartitionState,
                      stats: DataPlaneStats, metrics: Metrics | None, outcomes: Counter[tuple[str, str]]) -> bool:
    """The partition's pipeline output (deltas, then window-closed markers to every partials partition) and its dead
    letters into the transaction; the join's outcomes go to ``outcomes`` (to the metrics once committed). Whether
    anything was produced."""
    end_offset = state.next_offset if state.next_offset is not None else -1
    labels = state.labels
    flushed = state.pipeline.flush(end_offset, None if labels is None else labels.next_offset,
                                   None if labels is None else labels.watermark_ms)
    outcomes.update(state.pipeline.take_outcomes())
    if flushed:
        txn.begin()
    oversized = {id(part) for part in flushed.oversized}
    for delta, blob in flushed.encoded_deltas():  # each under limits.max_partial_bytes (split by features)
        if id(delta) in oversized:  # one feature's sketch alone over the limit: Kafka would refuse it and
            log.error("a partial of %s@%d cannot be cut under limits.max_partial_bytes (feature %s): not "
                      "sent; its window will be released as partial", delta.model_id,  # replay it forever
                      delta.window_start_ms, sorted(delta.profile.features)[:1])
            stats.oversized_partials += 1
            continue
        txn.send(settings.topics.partials, delta.model_id.encode(), blob)
        stats.deltas += 1
    for marker in flushed.markers:
        blob = encode_partial(marker)
        for p in range(n_partials):
            txn.send(settings.topics.partials, None, blob, partition=p)
    for _, models in flushed.closed:
        stats.windows_closed += 1
        if metrics is not None:
            for model in models:
                metrics.window_closed(model)
    for dead in state.dead:
        txn.begin()
        txn.send(settings.topics.deadletter, dead.key, dead.value, dead.headers())
    produced = bool(flushed) or bool(state.dead)
    state.dead.clear()
    return produced


def close_quietly(steps: Sequence[tuple[str, Callable[[], object] | None]]) -> None:
    """Run every step of a shutdown (None: nothing to do); a Kafka error of one (a client fenced or failed fatally
    raises from every call) is logged and the next steps still run."""
    for what, step in steps:
        if step is None:
            continue
        try:
            step()
        # the bare confluent-kafka error (raised out of a rebalance callback) is no Exception: named to be caught
        except (KafkaException, KafkaError, CKafkaError) as exc:  # type: ignore[misc]
            log.warning("%s failed while closing the data plane: %s", what, exc)
