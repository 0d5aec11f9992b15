"""Tables of the synthetic credit model for the Python API's tests: features, the model's label, prediction and
score, a row id and an ISO-8601 event time; hours of rows with a scenario each (drifted income, flipped labels)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from streamdrift.dev.synthetic import Scenario, generate

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def credit_table(n: int, seed: int, scenario: Scenario = Scenario.NORMAL, *, hour: int = 0,
                 id_prefix: str = "r") -> pa.Table:
    """``n`` rows of one scenario, their event times spread over hour ``hour`` after :data:`T0`."""
    rng = np.random.default_rng(seed)
    batch = generate(n, rng, scenario)
    start = T0 + timedelta(hours=hour)
    offsets = np.sort(rng.integers(0, 3_600_000, n))
    stamps = [(start + timedelta(milliseconds=int(ms))).isoformat().replace("+00:00", "Z") for ms in offsets]
    columns: dict[str, object] = {
        "id": [f"{id_prefix}{hour}-{i}" for i in range(n)], "ts": stamps,
        **{name: values for name, values in batch.features.items()},
        "label": batch.label, "prediction": batch.prediction, "score": np.round(batch.score, 6),
    }
    return pa.table(columns)


def credit_hours(scenarios: Sequence[Scenario], rows_per_hour: int, seed: int) -> pa.Table:
    """One hour of rows per scenario, in time order."""
    return pa.concat_tables([credit_table(rows_per_hour, seed + h, s, hour=h) for h, s in enumerate(scenarios)])


def labels_of(table: pa.Table) -> pa.Table:
    """The ground truth of ``table`` as a label table (id, label), as a labelling job delivers it."""
    return table.select(["id", "label"])
