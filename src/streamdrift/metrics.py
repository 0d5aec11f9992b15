"""Every Prometheus metric streamdrift exposes, declared in one place that takes a registry.

Metric and label names are a contract for ``deploy/prometheus/rules.yml`` and the Grafana dashboard. Use a
private :class:`prometheus_client.CollectorRegistry` per worker (and per test): registering a name twice in one
registry raises.

Label cardinality: a model gets at most ``max_features_per_model`` distinct ``feature`` label values (the first
ones seen). Later features are aggregated under ``feature="_other"`` (gauges show the maximum over those
features, so a drifting overflow feature still shows as ``drift_state == 1``) and each overflow feature is
counted once in ``streamdrift_metric_features_capped_total{model}``. ``.labels()`` children are cached (a cached
``.set()`` is about 1 µs, a lookup 3-5 µs). The class is meant for one thread (the worker's event loop); the
capture SDK uses its own :class:`CaptureMetrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from streamdrift.errors import ConfigError

__all__ = ["OTHER_FEATURE", "CaptureMetrics", "Metrics"]

OTHER_FEATURE: Final[str] = "_other"
_LATENCY_BUCKETS: Final[tuple[float, ...]] = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

M = TypeVar("M", bound=MetricWrapperBase)


class _Family(Generic[M]):
    """A labelled metric with cached children, tracking the series of each model so they can be removed."""

    def __init__(self, metric: M, model_label: bool) -> None:
        self.metric = metric
        self.name: str = metric._name
        self._children: dict[tuple[str, ...], M] = {}
        self._model_label = model_label  # the first label value is the model id

    def child(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child

    def remove_model(self, model: str) -> None:
        if not self._model_label:
            return
        for values in [v for v in self._children if v[0] == model]:
            del self._children[values]
            self.metric.remove(*values)

    def series(self) -> list[tuple[str, ...]]:
        return list(self._children)


class CaptureMetrics:
    """The capture SDK's counters (records sent / dropped by reason)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.dropped = _Family(
            Counter(
                "streamdrift_capture_dropped_total",
                "Capture records the SDK dropped (queue_full, encode_error, delivery_error, too_large, closed)",
                ["reason"],
                registry=registry,
            ),
            model_label=False,
        )
        self.sent = Counter(
            "streamdrift_capture_sent_total", "Capture and label records delivered to Kafka", registry=registry
        )

    def capture_dropped(self, reason: str, n: int = 1) -> None:
        self.dropped.child(reason).inc(n)


class _FeatureCap:
    """Admits at most ``limit`` feature label values per model; overflow features map to ``_other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: dict[str, set[str]] = {}
        self._capped: dict[str, set[str]] = {}

    def label(self, model: str, feature: str) -> tuple[str, bool]:
        """(label value, newly capped) for ``feature`` of ``model``."""
        admitted = self._admitted.setdefault(model, set())
        if feature in admitted:
            return feature, False
        if len(admitted) < self.limit:
            admitted.add(feature)
            return feature, False
        capped = self._capped.setdefault(model, set())
        new = feature not in capped
        capped.add(feature)
        return OTHER_FEATURE, new

    def remove_model(self, model: str) -> None:
        self._admitted.pop(model, None)
        self._capped.pop(model, None)


class Metrics:
    """The worker's and control plane's metrics in ``registry`` (see the module docs for the label cap)."""

    def __init__(self, registry: CollectorRegistry, max_features_per_model: int = 200,
                 max_segments_per_model: int = 50) -> None:
        if max_features_per_model < 1 or max_segments_per_model < 1:
            raise ConfigError(f"max_features_per_model / max_segments_per_model must be >= 1, not "
                              f"{max_features_per_model} / {max_segments_per_model}")
        self.registry = registry
        self._cap = _FeatureCap(max_features_per_model)
        self._segment_cap = _FeatureCap(max_segments_per_model)  # segment label values per model, as features
        # (family name, model, other labels...) -> {overflow feature: value}; the _other gauge shows the max.
        self._overflow: dict[tuple[str, ...], dict[str, float]] = {}
        r = registry
        self.records_consumed = _counter(r, "records_consumed", "Capture records consumed", ["model"])
        self.records_processed = _counter(r, "records_processed", "Capture records profiled into windows", ["model"])
        self.records_late = _counter(r, "records_late", "Records behind the watermark", ["model", "policy"])
        self.records_deadlettered = _family(
            Counter(
                "streamdrift_records_deadlettered_total", "Records sent to the dead-letter topic", ["reason"],
                registry=r,
            ),
            model_label=False,
        )
        self.windows_closed = _counter(r, "windows_closed", "Windows closed by the watermark", ["model"])
        self.transactions = Counter(
            "streamdrift_dataplane_transactions_total",
            "Data-plane transactions by outcome (aborted: replayed from the last commit)", ["outcome"], registry=r,
        )
        self.rebuilds = Counter(
            "streamdrift_dataplane_rebuilds_total",
            "Data-plane client rebuilds after a fatal Kafka error (fenced producer or consumer, ...)", registry=r,
        )
        self.features_dropped = Counter(
            "streamdrift_features_dropped_total",
            "Feature columns left out of window profiles: names beyond limits.max_features in one window",
            registry=r,
        )
        self._features_dropped = 0
        self.windows_evaluated = _counter(
            r, "windows_evaluated", "Windows evaluated against the baseline (partial: merge timed out)",
            ["model", "partial"],
        )
        self.drift_statistic = _gauge(
            r, "drift_statistic", "Drift statistic of the last window", ["model", "feature", "statistic"]
        )
        self.drift_threshold = _gauge(
            r, "drift_threshold", "Threshold the drift statistic is compared with", ["model", "feature", "statistic"]
        )
        self.drift_state = _gauge(
            r, "drift_state", "1 when the check is violated (drifting), else 0", ["model", "monitor", "feature"]
        )
        self.segment_drift_statistic = _gauge(
            r, "segment_drift_statistic", "Drift statistic of one segment's feature in the last window (segments "
            "beyond the cap under segment=\"_other\", the maximum)", ["model", "segment", "feature", "statistic"],
        )
        self.segment_drift_state = _gauge(
            r, "segment_drift_state", "1 when a segment's feature drifts, else 0", ["model", "segment", "feature"]
        )
        self.alerts = _counter(r, "alerts", "Drift events published", ["model", "monitor", "check", "status"])
        self.last_window_end = _gauge(
            r, "last_window_end_timestamp_seconds", "End (event time) of the last evaluated window", ["model"]
        )
        self.baseline_age = _gauge(r, "baseline_age_seconds", "Age of the baseline in use", ["model"])
        self.consumer_lag = _family(
            Gauge("streamdrift_consumer_lag", "Records behind the log end", ["topic", "partition"], registry=r),
            model_label=False,
        )
        self.partial_merge_wait = Histogram(
            "streamdrift_partial_merge_wait_seconds",
            "Wall time from a window's first delta to its evaluation",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.alert_latency = Histogram(
            "streamdrift_alert_latency_seconds",
            "Wall time from a window's end to its drift event",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.watermark_lag = _family(
            Gauge(
                "streamdrift_watermark_lag_seconds",
                "Wall clock minus the partition's watermark (source: a mapped source's name, _capture for the "
                "capture topic)", ["source", "partition"],
                registry=r,
            ),
            model_label=False,
        )
        self.model_quality_metric = _gauge(
            r, "model_quality_metric", "Model quality metric of the last window", ["model", "metric"]
        )
        self.label_join = _counter(
            r, "label_join", "Labels joined to captured predictions (joined, unmatched, expired)",
            ["model", "outcome"],
        )
        self.source_pairs = _counter(r, "source_pairs", "Request/response pairing of mapped sources (paired, "
                                     "expired, duplicate)", ["source", "outcome"])
        self.bias_metric = _gauge(r, "bias_metric", "Bias metric of the last window", ["model", "facet", "metric"])
        self.attribution_ndcg = _gauge(r, "attribution_ndcg", "NDCG of attribution ranking vs baseline", ["model"])
        self.estimated_performance = _gauge(
            r, "estimated_performance", "Metric estimated from calibrated scores without labels (CBPE) of the last "
            "window", ["model", "metric"],
        )
        self.reconstruction_error = _gauge(
            r, "reconstruction_error", "Quantile of the last window's PCA reconstruction error (multivariate drift)",
            ["model", "quantile"],
        )
        # roll-up windows (window.rollups): their own series, so a day's statistic never overwrites a minute's
        self.rollups_evaluated = _counter(
            r, "rollups_evaluated", "Roll-up windows (window.rollups) judged (partial: a base window was partial, "
            "or window.max_open_rollups released it early)", ["model", "window_seconds", "partial"],
        )
        self.rollup_records = _gauge(
            r, "rollup_records", "Records of the last judged roll-up window", ["model", "window_seconds"]
        )
        self.rollup_drifted_features = _gauge(
            r, "rollup_drifted_features", "Features whose drift test the last judged roll-up window violated",
            ["model", "window_seconds"],
        )
        self.rollup_last_window_end = _gauge(
            r, "rollup_last_window_end_timestamp_seconds", "End (event time) of the last judged roll-up window",
            ["model", "window_seconds"],
        )
        self.rollup_windows_open = Gauge(
            "streamdrift_rollup_windows_open", "Roll-up windows being merged from base windows (in this control "
            "plane)", registry=r,
        )
        self.rollup_late = Counter(
            "streamdrift_rollup_late_windows", "Base windows of a roll-up window released before (a replay, or "
            "one pushed out by window.max_open_rollups): not merged again", registry=r,
        )
        self.features_capped = _counter(
            r, "metric_features_capped", "Features aggregated under feature=\"_other\" (label cap)", ["model"]
        )
        self.capture = CaptureMetrics(r)

    # ------------------------------------------------------------ counters

    def record_consumed(self, model: str, n: int = 1) -> None:
        self.records_consumed.child(model).inc(n)

    def record_processed(self, model: str, n: int = 1) -> None:
        self.records_processed.child(model).inc(n)

    def record_late(self, model: str, policy: str, n: int = 1) -> None:
        self.records_late.child(model, policy).inc(n)

    def features_dropped_to(self, total: int) -> None:
        """The data plane's count of dropped feature columns so far (the counter follows it up)."""
        if total > self._features_dropped:
            self.features_dropped.inc(total - self._features_dropped)
            self._features_dropped = total

    def record_deadlettered(self, reason: str, n: int = 1) -> None:
        self.records_deadlettered.child(reason).inc(n)

    def transaction(self, outcome: str) -> None:
        """A data-plane transaction ``committed`` or ``aborted``."""
        self.transactions.labels(outcome).inc()

    def window_closed(self, model: str) -> None:
        self.windows_closed.child(model).inc()

    def window_evaluated(self, model: str, *, partial: bool) -> None:
        self.windows_evaluated.child(model, "true" if partial else "false").inc()

    def rollup_evaluated(self, model: str, window_seconds: int, *, partial: bool, n_records: int,
                         drifted_features: int, window_end_ms: int) -> None:
        size = str(window_seconds)
        self.rollups_evaluated.child(model, size, "true" if partial else "false").inc()
        self.rollup_records.child(model, size).set(n_records)
        self.rollup_drifted_features.child(model, size).set(drifted_features)
        self.rollup_last_window_end.child(model, size).set(window_end_ms / 1000)

    def alert(self, model: str, monitor: str, check: str, status: str) -> None:
        self.alerts.child(model, monitor, check, status).inc()

    def label_joined(self, model: str, outcome: str, n: int = 1) -> None:
        self.label_join.child(model, outcome).inc(n)

    def source_paired(self, source: str, outcome: str, n: int = 1) -> None:
        self.source_pairs.child(source, outcome).inc(n)

    def capture_dropped(self, reason: str, n: int = 1) -> None:
        self.capture.capture_dropped(reason, n)

    # ------------------------------------------------------------ gauges with a feature label (capped)

    def set_drift(self, model: str, feature: str, statistic: str, value: float, threshold: float) -> None:
        self._set_feature(self.drift_statistic, model, feature, (statistic,), value)
        self._set_feature(self.drift_threshold, model, feature, (statistic,), threshold)

    def set_drift_state(self, model: str, monitor: str, feature: str, drifting: bool) -> None:
        self._set_feature(self.drift_state, model, feature, (monitor,), 1.0 if drifting else 0.0, feature_last=True)

    def set_segment_drift(self, model: str, segment: str, feature: str, statistic: str, value: float,
                          drifting: bool) -> None:
        """One segment's drift statistic and state; segment values beyond the cap share ``segment="_other"``
        (the maximum over them), features beyond the feature cap ``feature="_other"``."""
        seg, _ = self._segment_cap.label(model, segment)
        feat, newly_capped = self._cap.label(model, feature)
        if newly_capped:
            self.features_capped.child(model).inc()
        for family, others, v in ((self.segment_drift_statistic, (statistic,), value),
                                  (self.segment_drift_state, (), 1.0 if drifting else 0.0)):
            if OTHER_FEATURE in (seg, feat):
                values = self._overflow.setdefault((family.name, model, seg, feat, *others), {})
                values[f"{segment}\x1f{feature}"] = v
                v = max(values.values())
            family.child(model, seg, feat, *others).set(v)

    def _set_feature(
        self,
        family: _Family[Gauge],
        model: str,
        feature: str,
        others: tuple[str, ...],
        value: float,
        *,
        feature_last: bool = False,
    ) -> None:
        label, newly_capped = self._cap.label(model, feature)
        if newly_capped:
            self.features_capped.child(model).inc()
        if label == OTHER_FEATURE:
            values = self._overflow.setdefault((family.name, model, *others), {})
            values[feature] = value
            value = max(values.values())
        labels = (model, *others, label) if feature_last else (model, label, *others)
        family.child(*labels).set(value)

    # ------------------------------------------------------------ other gauges and histograms

    def set_last_window_end(self, model: str, window_end_ms: int) -> None:
        self.last_window_end.child(model).set(window_end_ms / 1000.0)

    def set_baseline_age(self, model: str, seconds: float) -> None:
        self.baseline_age.child(model).set(seconds)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.child(topic, str(partition)).set(lag)

    def set_watermark_lag(self, partition: int, seconds: float, source: str = "_capture") -> None:
        self.watermark_lag.child(source, str(partition)).set(seconds)

    def set_model_quality(self, model: str, metric: str, value: float) -> None:
        self.model_quality_metric.child(model, metric).set(value)

    def set_bias(self, model: str, facet: str, metric: str, value: float) -> None:
        self.bias_metric.child(model, facet, metric).set(value)

    def set_attribution_ndcg(self, model: str, value: float) -> None:
        self.attribution_ndcg.child(model).set(value)

    def set_estimated_performance(self, model: str, metric: str, value: float) -> None:
        self.estimated_performance.child(model, metric).set(value)

    def set_reconstruction_error(self, model: str, quantile: str, value: float) -> None:
        self.reconstruction_error.child(model, quantile).set(value)

    def observe_merge_wait(self, seconds: float) -> None:
        self.partial_merge_wait.observe(seconds)

    def observe_alert_latency(self, seconds: float) -> None:
        self.alert_latency.observe(seconds)

    # ------------------------------------------------------------ lifecycle

    def remove_model(self, model: str) -> None:
        """Drop every series labelled with ``model`` (a model that was deleted or went away)."""
        for family in self._model_families():
            family.remove_model(model)
        self._cap.remove_model(model)
        self._segment_cap.remove_model(model)
        for key in [k for k in self._overflow if k[1] == model]:
            del self._overflow[key]

    def _model_families(self) -> Sequence[_Family[Counter] | _Family[Gauge]]:
        return (
            self.records_consumed, self.records_processed, self.records_late, self.windows_closed,
            self.windows_evaluated, self.drift_statistic, self.drift_threshold, self.drift_state, self.alerts,
            self.segment_drift_statistic, self.segment_drift_state,
            self.last_window_end, self.baseline_age, self.model_quality_metric, self.label_join, self.bias_metric,
            self.attribution_ndcg, self.estimated_performance, self.reconstruction_error, self.features_capped,
            self.rollups_evaluated, self.rollup_records, self.rollup_drifted_features, self.rollup_last_window_end,
        )  # fmt: skip


def _family(metric: M, *, model_label: bool) -> _Family[M]:
    return _Family(metric, model_label)


def _counter(registry: CollectorRegistry, name: str, doc: str, labels: list[str]) -> _Family[Counter]:
    # prometheus_client appends _total to counters on exposition; declare without it.
    return _Family(Counter(f"streamdrift_{name}", doc, labels, registry=registry), model_label=labels[0] == "model")


def _gauge(registry: CollectorRegistry, name: str, doc: str, labels: list[str]) -> _Family[Gauge]:
    return _Family(Gauge(f"streamdrift_{name}", doc, labels, registry=registry), model_label=labels[0] == "model")
