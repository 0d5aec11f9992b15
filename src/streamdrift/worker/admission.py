"""Which models a data-plane process monitors: the first ``limits.max_models`` it meets. The records of any
further model become dead letters (``too_many_models``), so neither the profiles nor the metrics grow with the
model ids producers invent. The set only grows, so a replay after an aborted transaction decides alike; a
restarted process meets the models again in the order of its replay."""

from __future__ import annotations

import numpy as np

from streamdrift.columns.chunks import CaptureBatch
from streamdrift.ingest.deadletters import DeadLetter


class ModelAdmission:
    def __init__(self, max_models: int) -> None:
        self.max_models = max_models
        self.models: set[str] = set()

    def admit(self, batches: list[CaptureBatch], dead: list[DeadLetter]) -> list[CaptureBatch]:
        """The batches of admitted models; the other batches' messages are appended to ``dead``."""
        kept = []
        for batch in batches:
            if batch.model_id in self.models or len(self.models) < self.max_models:
                self.models.add(batch.model_id)
                kept.append(batch)
                continue
            detail = (f"model {batch.model_id[:64]!r} is beyond the {self.max_models} models this worker monitors "
                      "(limits.max_models)")
            dead += [DeadLetter(int(i), "too_many_models", detail) for i in np.unique(batch.source_index).tolist()]
        return kept
