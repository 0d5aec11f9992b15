"""Feature-attribution drift: mean |attribution| per feature and SageMaker's NDCG ranking check."""

from streamdrift.monitors.attribution.ranking import (
    AttributionBaseline,
    AttributionDriftConfig,
    AttributionResult,
    AttributionState,
    evaluate_attribution,
    ndcg,
    ranking,
)

__all__ = ["AttributionBaseline", "AttributionDriftConfig", "AttributionResult", "AttributionState", "evaluate_attribution", "ndcg", "ranking"]
