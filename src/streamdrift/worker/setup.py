"""Each model's monitors, built from its current baseline (the baselines topic is followed live by
:class:`~streamdrift.worker.baselines.BaselineWatcher`) and rebuilt only when the baseline's bytes change."""

from __future__ import annotations

import hashlib
import logging

from streamdrift.baseline.baseline import Baseline
from streamdrift.errors import StreamdriftError
from streamdrift.monitors.registry import ModelMonitors, MonitorConfig, monitors_for

log = logging.getLogger(__name__)


class BaselineCache:
    """Parsed baselines and their monitors per model; a model without a (readable) baseline gets the
    monitors that need none (its profile, and model-quality metrics when labels are on)."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self._parsed: dict[str, tuple[bytes, Baseline, ModelMonitors]] = {}
        self._unbaselined = monitors_for(None, config)

    def _entry(self, model_id: str, blob: bytes | None) -> tuple[bytes, Baseline, ModelMonitors] | None:
        if blob is None:
            return None
        digest = hashlib.blake2b(blob, digest_size=16).digest()
        hit = self._parsed.get(model_id)
        if hit is not None and hit[0] == digest:
            return hit
        try:
            baseline = Baseline.from_json(blob)
        except StreamdriftError as exc:
            log.error("baseline of %s is unreadable, ignoring it: %s", model_id, exc)
            return None
        entry = (digest, baseline, monitors_for(baseline, self.config))
        self._parsed[model_id] = entry
        return entry

    def get(self, model_id: str, blob: bytes | None) -> Baseline | None:
        entry = self._entry(model_id, blob)
        return None if entry is None else entry[1]

    def all_monitors(self) -> list[ModelMonitors]:
        """Every model's monitors built so far (the models without a baseline share one set)."""
        return [self._unbaselined, *(entry[2] for entry in self._parsed.values())]

    def monitors(self, model_id: str, blob: bytes | None) -> ModelMonitors:
        entry = self._entry(model_id, blob)
        return self._unbaselined if entry is None else entry[2]
