"""``check_options``: a check's options from its rules, over a worker settings file; what ``streamdrift check``
and ``streamdrift.check`` both use."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdrift.batch.options import check_options
from streamdrift.errors import ConfigError


def test_flags_over_the_defaults() -> None:
    options = check_options(window="15m", method="simple", thresholds={"psi": 0.3}, raise_after=2,
                            id_column="rid", exclude=["x"])
    assert (options.window_ms, options.window_records, options.lateness_ms) == (900_000, None, None)
    assert options.spec().lateness_ms == 900_000  # default lateness: one window
    assert options.config.method == "simple" and options.config.thresholds["psi"] == 0.3
    assert options.monitors is not None and options.monitors.evaluation == options.config
    assert (options.raise_after, options.clear_after) == (2, 1)
    assert (options.id_column, options.exclude) == ("rid", ("x",))
    assert options.monitors.quality_without_baseline is False


def test_labels_judge_quality_without_a_baseline_section() -> None:
    assert check_options(window_records=10, labels="l.jsonl").monitor_config().quality_without_baseline
    assert check_options(window_records=10, has_labels=True).monitor_config().quality_without_baseline
    assert check_options(window_records=10, has_labels=True).labels is None


def test_a_settings_file_gives_the_window_and_rules(tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("window:\n  size: 600\n  lateness: 30\nevaluation:\n  raise_after: 3\n  alpha: 0.05\n")
    options = check_options(config_path=config)
    assert (options.window_ms, options.lateness_ms, options.raise_after) == (600_000, 30_000, 3)
    assert options.config.alpha == 0.05
    flagged = check_options(config_path=config, window="1h", alpha=0.001, raise_after=1)
    assert (flagged.window_ms, flagged.lateness_ms, flagged.config.alpha, flagged.raise_after) == (
        3_600_000, 30_000, 0.001, 1)


def test_one_window_kind() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        check_options(window="1h", window_records=5)
