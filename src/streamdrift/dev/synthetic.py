"""A synthetic credit-scoring model for the demo, the tests and the benchmarks.

Records have 6 numeric and 3 categorical features, a logistic model's score and predicted label, the true
label, and exact attributions (a linear model's SHAP values in logit space: coef * (x - mean)). Drift
scenarios change the generating process the way real incidents do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

NUMERIC = ("income", "age", "debt_ratio", "num_accounts", "credit_history_years", "utilization")
CATEGORICAL = ("region", "employment", "gender")
REGIONS = ("north", "south", "east", "west")
REGIONAL = "west"  # the region of the regional incident
EMPLOYMENT = ("salaried", "self_employed", "student", "retired")
_COEF = {"income": 0.9, "age": 0.2, "debt_ratio": -1.1, "num_accounts": 0.1, "credit_history_years": 0.5,
         "utilization": -0.7}


class Scenario(StrEnum):
    NORMAL = "normal"
    SHIFTED_INCOME = "shifted_income"  # a numeric feature shifts by 0.5 standard deviations
    # incomes jump in one region only (REGIONAL, a tenth of the traffic): the whole barely moves, its segment does
    REGIONAL_INCOME = "regional_income"
    NEW_REGION = "new_region"  # a category never seen in training appears at 15% share
    LABEL_FLIP = "label_flip"  # the world changes under the model: its accuracy drops
    BIAS = "bias"  # approvals for one gender drop: demographic parity changes
    # applicants crowd around the decision boundary (every numeric feature at half its spread): the model is
    # as calibrated as ever but less sure, so its accuracy drops; no label arrives to show it (the demo)
    BORDERLINE = "borderline"


@dataclass(frozen=True)
class Batch:
    features: dict[str, NDArray[np.generic]]
    score: NDArray[np.float64]
    prediction: NDArray[np.int64]
    label: NDArray[np.int64]
    attributions: dict[str, NDArray[np.float64]]

    @property
    def n(self) -> int:
        return int(self.score.size)

    def rows(self) -> list[dict[str, object]]:
        """Per-record feature dicts (Python scalars), as an inference service would capture them."""
        names = list(self.features)
        cols = [self.features[name].tolist() for name in names]
        return [dict(zip(names, values, strict=True)) for values in zip(*cols, strict=True)]


def _towards_the_centre(features: dict[str, NDArray[np.generic]], factor: float) -> None:
    """Every numeric feature moved towards its typical value (``factor`` of its spread; income in log space)."""
    centre = {"income": 10.8, "age": 42.0, "debt_ratio": 0.5, "num_accounts": 4.0, "credit_history_years": 12.0,
              "utilization": 0.35}
    for name in NUMERIC:
        x = np.asarray(features[name], dtype=np.float64)
        if name == "income":
            features[name] = np.round(np.exp(centre[name] + factor * (np.log(x) - centre[name])), 2)
        elif features[name].dtype.kind == "i":
            features[name] = np.round(centre[name] + factor * (x - centre[name])).astype(np.int64)
        else:
            features[name] = np.round(centre[name] + factor * (x - centre[name]), 4)


def _standardized(features: dict[str, NDArray[np.generic]]) -> dict[str, NDArray[np.float64]]:
    means = {"income": 10.8, "age": 42.0, "debt_ratio": 0.5, "num_accounts": 4.0, "credit_history_years": 12.0,
             "utilization": 0.35}
    scales = {"income": 0.5, "age": 12.0, "debt_ratio": 0.29, "num_accounts": 2.0, "credit_history_years": 7.0,
              "utilization": 0.2}
    out = {}
    for name in NUMERIC:
        x = np.asarray(features[name], dtype=np.float64)
        if name == "income":
            x = np.log(np.maximum(x, 1.0))
        out[name] = (x - means[name]) / scales[name]
    return out


def generate(n: int, rng: np.random.Generator, scenario: Scenario = Scenario.NORMAL) -> Batch:
    """``n`` records of the synthetic model under ``scenario``."""
    income = rng.lognormal(10.8, 0.5, n)
    if scenario is Scenario.SHIFTED_INCOME:
        income = income * np.exp(0.25)
    region_p = np.array([0.4, 0.3, 0.2, 0.1])
    region = rng.choice(np.array(REGIONS, dtype=object), size=n, p=region_p)
    if scenario is Scenario.NEW_REGION:
        region = np.where(rng.random(n) < 0.15, "overseas", region).astype(object)
    if scenario is Scenario.REGIONAL_INCOME:
        income = np.where(region == REGIONAL, income * np.exp(0.8), income)
    features: dict[str, NDArray[np.generic]] = {
        "income": np.round(income, 2),
        "age": np.clip(np.round(rng.normal(42, 12, n)), 18, 90).astype(np.int64),
        "debt_ratio": np.round(rng.uniform(0, 1, n), 4),
        "num_accounts": rng.poisson(4, n).astype(np.int64),
        "credit_history_years": np.round(rng.gamma(3.0, 4.0, n), 1),
        "utilization": np.round(np.clip(rng.normal(0.35, 0.2, n), 0, 1), 4),
        "region": region,
        "employment": rng.choice(np.array(EMPLOYMENT, dtype=object), size=n, p=[0.6, 0.2, 0.1, 0.1]),
        "gender": rng.choice(np.array(["female", "male"], dtype=object), size=n),
    }
    if scenario is Scenario.BORDERLINE:
        _towards_the_centre(features, 0.5)
    z = _standardized(features)
    logit = 0.3 + sum(_COEF[name] * z[name] for name in NUMERIC)
    if scenario is Scenario.BIAS:
        logit = logit - 1.2 * (features["gender"] == "female")
    score = 1.0 / (1.0 + np.exp(-logit))
    prediction = (score >= 0.5).astype(np.int64)
    truth_p = score if scenario is not Scenario.LABEL_FLIP else 1.0 - score * 0.6
    label = (rng.random(n) < truth_p).astype(np.int64)
    attributions = {name: np.round(_COEF[name] * z[name], 5) for name in NUMERIC}
    return Batch(features, np.round(score, 5), prediction, label, attributions)
