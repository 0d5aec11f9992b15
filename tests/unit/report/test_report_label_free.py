"""The report's estimated-performance and multivariate sections, through ``streamdrift baseline build`` with
``--estimate-performance --multivariate`` and ``streamdrift report`` on a CSV without labels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from click.testing import CliRunner
from estimation import DROP_SCALE, classifier_data, correlated_data

from streamdrift.cli import main

N = 4000


def _table(rng: np.random.Generator, scale: float = 1.0, rho: float = 0.8, label: bool = False) -> pa.Table:
    features, score, labels = classifier_data(N, rng, scale)
    pair = correlated_data(N, rng, rho)
    columns = {**features, "c0": pair["x0"], "c1": pair["x1"], "score": score}
    if label:
        columns["label"] = labels
    return pa.table(columns)


def test_report_shows_the_estimate_and_the_reconstruction_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    pacsv.write_csv(pa.concat_tables([_table(rng, label=True) for _ in range(10)]), tmp_path / "train.csv")
    runner = CliRunner()
    built = runner.invoke(main, ["baseline", "build", "--input", str(tmp_path / "train.csv"), "--model-id", "m",
                                 "--output", str(tmp_path / "b.json"), "--target", "label", "--score", "score",
                                 "--estimate-performance", "isotonic", "--multivariate", "0.9"])
    assert built.exit_code == 0, built.output
    pacsv.write_csv(pa.concat_tables([_table(rng), _table(rng, scale=DROP_SCALE, rho=0.0)]), tmp_path / "in.csv")
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input",
                                  str(tmp_path / "in.csv"), "--window-records", str(N), "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.count("Estimated performance (from calibrated scores, no labels)") == 2
    assert html.count("Multivariate drift (PCA reconstruction error)") == 2
    # newest window first: the shifted one flags its estimated accuracy and the reconstruction error
    drifted = re.findall(r'<tr class="drift" data-metric="([a-z0-9_]+)">', html)
    assert "accuracy" in drifted
    assert html.index('Multivariate drift (PCA reconstruction error) <span class="bad">DRIFT') < \
        html.index('Multivariate drift (PCA reconstruction error) <span class="ok">ok')
    overview = html[html.index("Estimated vs realised accuracy"):html.index('<details class="window"')]
    estimates = [float(v) for v in re.findall(r"<tr><td>[^<]+</td><td>([0-9.]+)</td>", overview)]
    assert len(estimates) == 2 and estimates[0] < estimates[1] - 0.015  # about 0.91 vs 0.94
