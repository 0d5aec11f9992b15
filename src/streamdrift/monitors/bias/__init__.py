"""Bias drift: SageMaker Clarify bias metrics from mergeable per-window confusion counts.

Groups follow Clarify's convention: the *sensitive facet* selected by :class:`FacetSpec` (its value(s), or
``value >= threshold`` for a numeric facet) is group **d** (disfavoured), every other row is group **a**.
So ``DPPL = q_a - q_d`` is positive when the sensitive group receives fewer positive predictions.

Per facet and group the state keeps six counts (cells): TP, FP, TN, FN for rows whose label is known and
UP / UN (predicted positive / negative) for rows without a label. Every metric is a function of these
counts, so windows merge exactly (integer sums) and the bootstrap resamples the counts themselves
(multinomial per group), fully vectorized.

Metrics (post-training): DPPL, DI, DCA, DCR, DAR, DRR, AD, RD, SD, TE; (pre-training, need labels): CI, DPL.
CDDPL (needs a group variable) and FT (needs the feature matrix and a k-NN model) are out of scope.
Divisions follow Clarify: 0/0 = 0, x/0 = +-inf, and a difference of two equal infinities is 0.
"""

from streamdrift.monitors.bias.drift import (
    BiasBaseline,
    BiasDriftConfig,
    BiasMetricResult,
    FacetBaseline,
    MetricBaseline,
    Status,
    allowed_range,
    bootstrap_intervals,
    evaluate_bias,
    json_float,
    read_float,
)
from streamdrift.monitors.bias.spec import (
    ALL_METRICS,
    DEFAULT_DRIFT_METRICS,
    FAIR_VALUE,
    FN,
    FP,
    GROUP_A,
    GROUP_D,
    METRIC_DESCRIPTIONS,
    N_CELLS,
    POST_TRAINING_METRICS,
    PRE_TRAINING_METRICS,
    PREDICTION_ONLY_METRICS,
    TN,
    TP,
    UN,
    UP,
    BiasConfig,
    FacetSpec,
    OutcomeSpec,
    Scalar,
)
from streamdrift.monitors.bias.state import BiasState, group_sizes, metrics_from_counts

__all__ = ["ALL_METRICS", "DEFAULT_DRIFT_METRICS", "FAIR_VALUE", "FN", "FP", "GROUP_A", "GROUP_D", "METRIC_DESCRIPTIONS", "N_CELLS", "POST_TRAINING_METRICS", "PREDICTION_ONLY_METRICS", "PRE_TRAINING_METRICS", "TN", "TP", "UN", "UP", "BiasBaseline", "BiasConfig", "BiasDriftConfig", "BiasMetricResult", "BiasState", "FacetBaseline", "FacetSpec", "MetricBaseline", "OutcomeSpec", "Scalar", "Status", "allowed_range", "bootstrap_intervals", "evaluate_bias", "group_sizes", "json_float", "metrics_from_counts", "read_float"]
