"""The worker side of mapped sources without a broker: each source's settings (its topic as capture, its own
group, labels only with a labels topic), the partials layout the control plane counts, and a poll of a paired
source parsed with its partition's pair store (outcomes to the stats and the metrics)."""

from __future__ import annotations

from collections import Counter

from confluent_kafka import Message
from prometheus_client import CollectorRegistry
from servers import oip_request, oip_response, oip_tensor

from streamdrift.ingest.sources.config import SourceSettings
from streamdrift.metrics import Metrics
from streamdrift.settings import Settings
from streamdrift.worker.sources import (
    capture_layout,
    flush_outcomes,
    parse_source,
    parser_of,
    source_settings,
)
from streamdrift.worker.stats import DataPlaneStats

T0 = 1_718_000_000_000


def _sources() -> tuple[SourceSettings, ...]:
    mapping = {"model_id": "/model_name", "features": {"tensor": "/inputs/input-0", "names": ["a", "b"]},
               "prediction": "/outputs/out", "inference_id": "/id"}
    return (SourceSettings.model_validate({"name": "oip", "topic": "team.oip", "preset": "oip-v2", "mapping": mapping,
                                           "labels_topic": "team.labels", "labels_mapping": {
                                               "model_id": "/m", "inference_id": "/id", "label": "/y"}}),
            SourceSettings.model_validate({"name": "raw", "topic": "team.raw", "mapping": {
                "model_id": {"const": "r"}, "features": {"object": "/f"}}}))


def test_each_source_has_its_topic_group_and_labels() -> None:
    settings = Settings(group_id="sd", sources=_sources())
    oip, raw = (source_settings(settings, s) for s in settings.sources)
    assert (oip.topics.capture, oip.topics.labels, oip.group_id, oip.labels.enabled) == (
        "team.oip", "team.labels", "sd.oip", True)
    assert (raw.topics.capture, raw.group_id, raw.labels.enabled) == ("team.raw", "sd.raw", False)
    assert oip.topics.partials == settings.topics.partials and oip.topics.deadletter == settings.topics.deadletter


def test_partials_layout_puts_sources_after_the_capture_topic() -> None:
    settings = Settings(sources=_sources())
    counts = {settings.topics.capture: 6, "team.oip": 3, "team.raw": 2}
    assert capture_layout(settings, counts.__getitem__) == ({None: 0, "oip": 6, "raw": 9}, 11)
    assert capture_layout(Settings(), counts.__getitem__) == ({None: 0}, 6)


class _State:
    def __init__(self, pairs: object) -> None:
        self.pairs = pairs
        self.pair_outcomes: Counter[str] = Counter()


def test_a_poll_of_a_paired_source_counts_its_pairing() -> None:
    settings = Settings(sources=_sources())
    parser = parser_of(settings, settings.sources[0])
    state = _State(parser.new_pairs())
    values = [oip_request("x", [oip_tensor("input-0", [[1.0, 2.0]])]),
              oip_response("x", "m", [oip_tensor("out", [1], "INT64")]),
              oip_request("y", [oip_tensor("input-0", [[1.0, 2.0]])])]
    msgs = [Message(topic="team.oip", partition=0, offset=i, key=b"k", value=v, timestamp=(1, T0 + i))
            for i, v in enumerate(values)]
    stats = DataPlaneStats()
    metrics = Metrics(CollectorRegistry(), 10)
    batches, dead = parse_source(parser, state, msgs, stats, T0, metrics)  # type: ignore[arg-type]
    assert dead == [] and [(b.model_id, b.n_rows, b.source_index.tolist()) for b in batches] == [("m", 1, [1])]
    assert not stats.pairs_by_outcome and state.pair_outcomes == {"paired": 1}  # counted once committed
    flush_outcomes(Counter(), [state], parser, stats, metrics)  # type: ignore[list-item]
    assert stats.pairs_by_outcome == {"paired": 1} and not state.pair_outcomes
    assert metrics.registry.get_sample_value("streamdrift_source_pairs_total",
                                             {"source": "oip", "outcome": "paired"}) == 1
