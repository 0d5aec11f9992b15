"""Plain counters of one data plane, read by the status API, the benchmark and the Prometheus bridge."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DataPlaneStats:
    consumed: int = 0  # capture messages (a columnar batch is one; records: processed_by_model, late, dead letters)
    late_dropped: int = 0
    deltas: int = 0
    windows_closed: int = 0
    commits: int = 0
    aborts: int = 0
    oversized_partials: int = 0  # parts over limits.max_partial_bytes that could not be cut (not sent)
    processed_by_model: Counter[str] = field(default_factory=Counter)
    late_by_model: Counter[str] = field(default_factory=Counter)
    deadlettered: Counter[str] = field(default_factory=Counter)
    pairs_by_outcome: Counter[str] = field(default_factory=Counter)  # mapped sources' request/response pairing

    def add_model(self, model_id: str, n_added: int, n_late: int) -> None:
        self.processed_by_model[model_id] += n_added
        if n_late:
            self.late_by_model[model_id] += n_late

    @property
    def processed(self) -> int:
        return sum(self.processed_by_model.values())
