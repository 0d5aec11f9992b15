"""``check`` on a real-shaped table (issue 20): the baseline's detected time column is the default event time and
no extra column, the id column is skipped saying why, a 54-value and a 5,000-value categorical are tested and
raise on their shifts, and an unchanged window raises nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from houses import house_table

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.batch.check import CheckOptions, run_check
from streamdrift.ingest.files import iter_chunks


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    path = tmp_path_factory.mktemp("houses") / "train.csv"
    pacsv.write_csv(house_table(60_000, seed=1), path)
    built = build_baseline(iter_chunks(path), "houses")
    assert built.timestamp_column == "event_time"
    return built


@pytest.mark.parametrize(("shift", "drifted"), [(None, set()), ("state", {"state"}), ("product", {"product"}),
                                                 ("price", {"price"})])
def test_check_a_window_of_houses(baseline: Baseline, tmp_path: Path, shift: str | None,
                                  drifted: set[str]) -> None:
    path = tmp_path / "window.csv"
    pacsv.write_csv(house_table(20_000, seed=7, shift=shift), path)
    report = run_check(path, baseline, tmp_path / "out", CheckOptions(window_ms=400 * 86_400_000))
    [window] = report.windows  # one window over the 90 days: event time read from event_time by default
    assert window.n_records == 20_000 and report.n_bad == 0
    evaluation = window.evaluation
    assert {r.feature for r in evaluation.drifted} == drifted
    assert not [v for v in evaluation.violations if v.check == "extra_column_check"]
    assert evaluation.skipped["id"].startswith("identifier-like")
    tested = {r.feature for r in evaluation.results}
    assert {"state", "county", "product", "city", "price", "sqft"} <= tested
