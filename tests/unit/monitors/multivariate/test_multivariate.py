"""Multivariate drift: the PCA encoding and errors, the build's sample, the monitor's rule and its events."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from estimation import capture_rows, correlated_baseline, correlated_data, judge, numeric_columns

from streamdrift.baseline.baseline import Baseline
from streamdrift.columns.columns import Column, Columns, Kind, text_column
from streamdrift.errors import BaselineError
from streamdrift.events.events import Hysteresis, events_from_results
from streamdrift.monitors.multivariate.fit import MultivariateSampler
from streamdrift.monitors.multivariate.monitor import CHECK, METRIC
from streamdrift.monitors.multivariate.pca import Encoding, MultivariateBaseline, PcaModel, fit_pca
from streamdrift.monitors.registry import MonitorConfig, monitors_for

KIND = "multivariate"


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return Baseline.from_json(correlated_baseline(30_000, 21).to_json())


def test_fit_keeps_components_to_the_variance_share_and_errors_are_residual_norms() -> None:
    rng = np.random.default_rng(1)
    # variances 9, 4, 1, 0.25 along random orthogonal axes: 0.9 of the variance needs the first two (91.5%)
    basis = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    z = (rng.standard_normal((20_000, 4)) * [3.0, 2.0, 1.0, 0.5]) @ basis.T
    components, explained = fit_pca(z, 0.9)
    assert components.shape == (4, 2) and explained == pytest.approx(13 / 14.25, abs=0.01)
    model = PcaModel(Encoding(("a", "b", "c", "d"), np.zeros(4), np.ones(4), (), np.zeros(0)), components, explained)
    residual = z - (z @ components) @ components.T
    np.testing.assert_allclose(model.errors_of(z), (residual**2).sum(axis=1), atol=1e-9)
    assert fit_pca(z, 0.999)[0].shape[1] == 3  # never all components: a reconstruction error must remain


def test_encoding_standardises_numbers_and_frequent_categories() -> None:
    encoding = Encoding(("x",), np.array([10.0]), np.array([2.0]), (("c", ("red", "blue")),), np.array([0.5, 0.2]))
    strings = np.array(["red", "blue", None, "green"], dtype=object)
    cols = Columns(4, {"x": Column(np.array([12.0, np.nan, 8.0, 10.0]), np.array([2, 0, 2, 2], dtype=np.uint8)),
                       "c": text_column(strings, has_missing=True)})
    z = encoding.encode(cols)
    np.testing.assert_allclose(z[:, 0], [1.0, 0.0, -1.0, 0.0])  # missing: the mean
    np.testing.assert_allclose(z[:, 1], (np.array([1, 0, 0, 0]) - 0.5) / 0.5)
    np.testing.assert_allclose(z[:, 2], (np.array([0, 1, 0, 0]) - 0.2) / 0.4)
    assert encoding.encode(Columns(4, {})).shape == (4, 3)  # absent columns: every record at the baseline's centre


def test_sampler_keeps_a_uniform_sample_of_every_chunk() -> None:
    sampler = MultivariateSampler(max_rows=1000, seed=3)
    for chunk in range(10):  # 10 chunks of 500: 5x the sample size
        values = np.full(500, float(chunk)) + np.random.default_rng(chunk).normal(0, 0.01, 500)
        sampler.update(numeric_columns({"chunk": values, "noise": np.random.default_rng(50 + chunk).normal(size=500)}))
    section = sampler.finish(["chunk", "noise"])
    assert section.n == 500  # the baseline's errors: the half of the sample the PCA was not fitted on
    # each chunk holds 1/10 of the rows: its share of a uniform sample of 1000 has SD 0.0095; 5 SD of room
    assert section.model.encoding.means[0] == pytest.approx(4.5, abs=0.3)


def test_the_baseline_errors_are_those_of_rows_the_pca_was_not_fitted_on() -> None:
    # 12 independent standard normals: the PCA keeps 11 directions, and on the rows it was fitted on the one left
    # out holds the sample's smallest eigenvalue, about (1 - sqrt(12/600))^2 = 0.74 of what new rows show there
    rng = np.random.default_rng(8)
    names = [f"x{i}" for i in range(12)]
    sampler = MultivariateSampler(seed=1)
    sampler.update(numeric_columns({name: rng.normal(size=1200) for name in names}))
    section = sampler.finish(names)
    fresh = section.model.errors_of(section.model.encoding.encode(
        numeric_columns({name: rng.normal(size=200_000) for name in names})))
    se = math.sqrt(section.variance / section.n + float(fresh.var()) / fresh.size)
    assert abs(section.mean - float(fresh.mean())) < 4 * se  # in-sample errors were ~6 SE below


def test_categorical_features_enter_the_model(baseline: Baseline) -> None:
    rng = np.random.default_rng(4)
    data = correlated_data(5000, rng, 0.8)
    colour = np.where(data["x2"] > 0, "hot", "cold").astype(object)  # a category tied to a numeric feature
    cols = Columns(5000, {**numeric_columns(data).columns,
                          "colour": Column(np.full(5000, np.nan), np.full(5000, Kind.STRING, dtype=np.uint8), colour)})
    sampler = MultivariateSampler()
    sampler.update(cols)
    section = sampler.finish([*data, "colour"])
    assert section.model.encoding.categorical == (("colour", ("cold", "hot")),)
    assert section.model.components.shape[0] == 7


def test_correlation_break_is_raised_and_per_feature_tests_stay_silent(baseline: Baseline) -> None:
    monitors = monitors_for(baseline, MonitorConfig())
    assert KIND in monitors.names
    rng = np.random.default_rng(5)
    for _ in range(3):
        results = judge(monitors, capture_rows(correlated_data(5000, rng, 0.0)), KIND, "data_quality")
        drifted = results[KIND]
        assert [v.key for v in drifted.violations] == [("data_quality", CHECK, METRIC)]
        v = drifted.violations[0]
        assert v.feature is None and v.metric == METRIC and v.p_value is not None and v.p_value < 0.01
        assert drifted.summary["mean"] > drifted.summary["baseline_mean"]
        assert not [x for x in results["data_quality"].violations if x.check == "baseline_drift_check"]
    for _ in range(5):
        clean = judge(monitors, capture_rows(correlated_data(5000, rng, 0.8)), KIND)[KIND]
        assert not clean.violations and clean.checked == {("data_quality", CHECK, METRIC)}


def test_events_name_the_metric_and_no_feature_when_raised_and_cleared(baseline: Baseline) -> None:
    monitors = monitors_for(baseline, MonitorConfig())
    rng = np.random.default_rng(6)
    hysteresis = Hysteresis()
    window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC))
    events = []
    for rho in (0.0, 0.8):
        result = judge(monitors, capture_rows(correlated_data(5000, rng, rho)), KIND)[KIND]
        events += events_from_results([result], hysteresis, "m", window, baseline.baseline_id)
    assert [(e.monitor, e.check, e.feature, e.metric) for e in events] == [("data_quality", CHECK, None, METRIC)] * 2
    assert events[0].status != events[1].status


def test_section_round_trip_and_invalid_sections(baseline: Baseline) -> None:
    assert baseline.multivariate is not None
    section = MultivariateBaseline.from_dict(baseline.multivariate)
    again = MultivariateBaseline.from_dict(section.to_dict())
    assert again.model.fingerprint == section.model.fingerprint and again.n == section.n
    for bad in ({**baseline.multivariate, "version": 2}, {**baseline.multivariate, "components": [[1.0]]},
                {**baseline.multivariate, "shares": [1.5]}):
        with pytest.raises(BaselineError):
            MultivariateBaseline.from_dict(bad)
    broken = dataclasses.replace(baseline, multivariate={"version": 1})
    assert KIND in monitors_for(broken, MonitorConfig()).errors
    old = baseline.to_dict()
    del old["multivariate"]
    assert KIND not in monitors_for(Baseline.from_dict(old), MonitorConfig()).names


def test_the_encoding_is_capped_in_width() -> None:
    from streamdrift.monitors.multivariate.fit import MAX_WIDTH

    rng = np.random.default_rng(9)
    sampler = MultivariateSampler()
    names = [f"f{i:03d}" for i in range(MAX_WIDTH + 44)]
    sampler.update(numeric_columns({name: rng.standard_normal(400) for name in names}))
    section = sampler.finish(names)
    assert section.model.encoding.numeric == tuple(names[:MAX_WIDTH])
