"""Windows as the control plane releases them, made from synthetic rows: for the history, roll-up and
re-evaluation tests."""

from __future__ import annotations

import numpy as np

from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.synthetic import Scenario, generate
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.merger import ReadyWindow

MINUTE_MS = 60_000


def rows_of(n: int, seed: int, scenario: Scenario = Scenario.NORMAL) -> list[dict[str, object]]:
    return generate(n, np.random.default_rng(seed), scenario).rows()


def ready_window(model: str, start_ms: int, rows: list[dict[str, object]], *, size_ms: int = MINUTE_MS,
                 kll_k: int = 1000, partial: bool = False) -> ReadyWindow:
    profile = DatasetProfile.empty(ProfileParams(kll_k=kll_k))
    profile.update(columns_from_rows(rows))
    return ReadyWindow(model_id=model, model_version="v1", window_start_ms=start_ms, window_end_ms=start_ms + size_ms,
                       profile=profile, n_records=len(rows), partial=partial, partitions_closed=frozenset({0, 1}),
                       first_seen_ms=start_ms + size_ms + 5)


def flat(data: object, prefix: str = "") -> dict[str, object]:
    """A nested summary (dicts, lists) as one level of ``a.b.0.c`` keys: comparable with ``pytest.approx``."""
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in flat(value, f"{prefix}{key}.").items()}
    if isinstance(data, list):
        return {k: v for i, value in enumerate(data) for k, v in flat(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): data}
