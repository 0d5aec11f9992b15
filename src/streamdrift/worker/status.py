"""What the status API serves: per model, the last windows, per-feature statistics and alert state."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

_KEEP_WINDOWS = 20


@dataclass
class ModelStatus:
    model_id: str
    baseline_id: str | None = None
    label_sample_rate: float = 1.0  # labels.sample_rate: model quality is measured on this share of predictions
    windows: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_KEEP_WINDOWS))
    # model quality of windows whose data-quality entry already left ``windows`` (labels take their time)
    quality_windows: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_KEEP_WINDOWS))
    raised: list[dict[str, Any]] = field(default_factory=list)
    # the last judged roll-up window per size and stage ("3600s", "3600s labels"): window.rollups
    rollups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "baseline_id": self.baseline_id,
            "state": "no baseline" if self.baseline_id is None else ("drifting" if self.raised else "ok"),
            "windows": list(self.windows),
            "model_quality_windows": list(self.quality_windows),
            "label_join_sample_rate": self.label_sample_rate,
            "alerts_raised": self.raised,
            **({"rollups": dict(sorted(self.rollups.items()))} if self.rollups else {}),
        }


class StatusStore:
    """In-memory status of every model this control plane evaluated (newest windows last)."""

    def __init__(self, label_sample_rate: float = 1.0) -> None:
        self._models: dict[str, ModelStatus] = {}
        self._label_sample_rate = label_sample_rate

    def model(self, model_id: str) -> ModelStatus:
        status = self._models.get(model_id)
        if status is None:
            status = self._models[model_id] = ModelStatus(model_id, label_sample_rate=self._label_sample_rate)
        return status

    def get(self, model_id: str) -> dict[str, Any] | None:
        status = self._models.get(model_id)
        return None if status is None else status.to_dict()

    def summary(self) -> dict[str, Any]:
        return {"models": {m: s.to_dict()["state"] for m, s in sorted(self._models.items())}}
