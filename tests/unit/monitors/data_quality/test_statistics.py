"""The drift statistics table: the evaluation, the settings and the CLI read it; per-statistic and per-feature
thresholds reach the decision in both paths (the worker's settings and check's flags)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.errors import ConfigError, EvaluationError
from streamdrift.monitors.data_quality import statistics
from streamdrift.monitors.data_quality.evaluation import EvaluationConfig, evaluate
from streamdrift.profile.profiles import DatasetProfile
from streamdrift.settings import EvaluationSettings, Settings, load_settings


def _table(rng: np.random.Generator, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table({"x": rng.normal(shift, 1.0, n), "y": rng.lognormal(0.0, 0.5, n)})


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline([columns_from_arrow(_table(np.random.default_rng(1), 20_000))], "m")


def _profile(table: pa.Table, baseline: Baseline) -> DatasetProfile:
    profile = DatasetProfile.empty(baseline.profile.params)
    profile.update(columns_from_arrow(table))
    return profile


def test_every_statistic_of_the_table_is_computed_and_selectable(baseline: Baseline) -> None:
    window = _profile(_table(np.random.default_rng(2), 3_000, shift=0.6), baseline)
    for name, stat in statistics.STATISTICS.items():
        ev = evaluate(window, baseline, EvaluationConfig(statistic=name))
        x = ev.result_for("x")
        assert x is not None and x.statistic == name and x.value == pytest.approx(x.secondary[name])
        assert x.drifted  # a 0.6 sigma shift at 3,000 records is drift for each of them at its default
        # a calibrated statistic's threshold is at least the KS critical value, the others' is their own
        floor = stat.default_threshold
        assert (x.threshold >= max(floor, x.secondary["ks_critical"]) - 1e-12) if stat.calibrated else (
            x.threshold == floor)


def test_per_statistic_and_per_feature_thresholds(baseline: Baseline) -> None:
    window = _profile(_table(np.random.default_rng(3), 3_000, shift=0.6), baseline)
    plain = evaluate(window, baseline, EvaluationConfig(statistic="psi")).result_for("x")
    assert plain is not None and plain.drifted
    lenient = EvaluationConfig(statistic="psi", thresholds={"psi": plain.value + 0.01})
    x = evaluate(window, baseline, lenient).result_for("x")
    assert x is not None and not x.drifted and x.threshold == pytest.approx(plain.value + 0.01)
    # a feature's threshold wins over the statistic's and over the baseline constraint's
    strict_constraint = replace(baseline, constraints=baseline.constraints.with_drift_threshold("x", 5.0))
    per_feature = EvaluationConfig(statistic="psi", thresholds={"psi": 5.0}, feature_thresholds={"x": 0.01})
    ev = evaluate(window, strict_constraint, per_feature)
    x, y = ev.result_for("x"), ev.result_for("y")
    assert x is not None and x.threshold == 0.01 and x.drifted
    assert y is not None and y.threshold == 5.0


def test_unknown_statistics_and_bad_thresholds_are_refused() -> None:
    with pytest.raises(EvaluationError, match="unknown drift statistic 'ks2'"):
        EvaluationConfig(statistic="ks2")
    with pytest.raises(EvaluationError, match="unknown drift statistic"):
        EvaluationConfig(thresholds={"nope": 0.1})
    with pytest.raises(EvaluationError):
        EvaluationConfig(thresholds={"psi": -1.0})
    with pytest.raises(ConfigError, match="unknown drift statistic 'ks2'"):
        load_settings(None, {"evaluation.statistic": "ks2"})
    with pytest.raises(ConfigError, match="unknown drift statistic 'nope'"):
        load_settings(None, {"evaluation.thresholds": {"nope": 0.2}})


def test_the_worker_settings_carry_thresholds_into_its_monitors() -> None:
    settings = Settings(evaluation=EvaluationSettings(statistic="js", thresholds={"js": 0.3, "psi": 0.4},
                                                      feature_thresholds={"income": 0.15}))
    config = settings.monitor_config().evaluation
    assert (config.statistic, config.statistic_threshold("js"), config.statistic_threshold("psi")) == ("js", 0.3, 0.4)
    assert config.statistic_threshold("wasserstein") == statistics.STATISTICS["wasserstein"].default_threshold
    assert dict(config.feature_thresholds) == {"income": 0.15}


def test_check_reads_statistics_from_the_table_and_thresholds_from_flags_or_a_worker_config(
        baseline: Baseline, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = tmp_path / "rows.csv"
    table = _table(rng, 2_000, shift=0.6)
    pacsv.write_csv(table.append_column("ts", pa.array(np.arange(2_000, dtype=np.int64) * 1000)), rows)
    path = baseline.save(tmp_path / "b.json")
    runner = CliRunner()

    def drifted(*flags: str) -> bool:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        result = runner.invoke(main, ["check", "--baseline", str(path), "--input", str(rows), "--window-records",
                                      "5000", "--output", str(out), "--quiet", "--fail-on-violation", "--exclude", "ts",
                                      *flags])
        assert result.exit_code in (0, 1), result.output
        return result.exit_code == 1

    assert drifted("--statistic", "wasserstein")
    assert not drifted("--statistic", "wasserstein", "--threshold", "wasserstein=9")
    assert not drifted("--statistic", "psi", "--feature-threshold", "x=9")
    config = tmp_path / "worker.yaml"
    config.write_text("evaluation:\n  statistic: psi\n  thresholds:\n    psi: 9\n")
    assert not drifted("--config", str(config))
    assert drifted("--config", str(config), "--threshold", "psi=0.01")  # flags win over the file
    bad = runner.invoke(main, ["check", "--baseline", str(path), "--input", str(rows), "--window-records", "10",
                               "--output", str(tmp_path / "bad"), "--statistic", "ks2"])
    assert bad.exit_code == 2 and "ks2" in bad.output
    assert set(statistics.STATISTICS) <= set(bad.output.replace("'", " ").replace(",", " ").split())
