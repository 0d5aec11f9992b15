"""streamdrift from Python: build a baseline from a DataFrame, check a drifted DataFrame, write the report.

    python examples/quickstart.py [--report report.html] [--fail-on-drift]

With ``--fail-on-drift`` the script is a release gate: it exits with an error (``streamdrift.DriftDetected``)
when a window violated a check, like ``streamdrift check --fail-on-violation``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import streamdrift as sd


def loans(n: int, seed: int, income_shift: float = 0.0) -> pd.DataFrame:
    """A loan model's inputs, its prediction and score, and the true outcome."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8 + income_shift, 0.45, n)
    debt_ratio = rng.beta(2.0, 5.0, n)
    logit = 1.2 * (np.log(income) - 10.8) / 0.45 - 2.5 * (debt_ratio - 0.28) / 0.16
    score = 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame({
        "income": income.round(2),
        "age": rng.integers(21, 75, n),
        "debt_ratio": debt_ratio.round(4),
        "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "score": score.round(4),
        "approved": (score >= 0.5).astype(int),
        "repaid": (rng.random(n) < score).astype(int),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("streamdrift-report.html"))
    parser.add_argument("--fail-on-drift", action="store_true", help="exit with an error on drift")
    args = parser.parse_args()
    pd.set_option("display.width", 160)

    reference = loans(20_000, seed=1)
    baseline = sd.Baseline.build(reference, model_id="loans", target="repaid", prediction="approved",
                                 score="score")
    print(baseline)

    # three windows of 5,000 rows: the second one's incomes are 30% lower
    current = pd.concat([loans(5_000, seed=2), loans(5_000, seed=3, income_shift=-0.35), loans(5_000, seed=4)])
    result = sd.check(current, baseline, window_records=5_000)
    print(result)
    print(result.windows.to_pandas()[["window", "records", "violations", "drifted_features", "passed"]])
    drifted = result.statistics.to_pandas().query("drifted")
    print(drifted[["window_start", "feature", "statistic", "value", "threshold", "p_value"]])
    print(f"report: {result.save_html(args.report)}")
    if args.fail_on_drift:
        result.raise_for_drift()


if __name__ == "__main__":
    main()
