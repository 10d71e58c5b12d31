"""Covariance by name after the fit, one interval convention, panel column names (issue 27)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from protection_eval.effects.count_models import EffectEstimate, fit_count_model
from protection_eval.effects.covariance import compute_conf_int, compute_p_value
from protection_eval.effects.displacement import estimate_displacement, make_spillover_panel
from protection_eval.effects.dose_response import estimate_dose_response
from protection_eval.effects.event_study import estimate_event_study, estimate_stacked_effect
from protection_eval.effects.mission import (
    estimate_interrupted_time_series,
    estimate_negbin_effect,
    estimate_twfe_effect,
)
from protection_eval.effects.panel import make_synthetic_panel

ACTIVE = "active_test_strategy"
FE = ("area_id", "period_index")


def make_frame(seed: int = 3, n_areas: int = 24, n_periods: int = 10) -> pd.DataFrame:
    """Counts with area effects, a covariate and a binary regressor."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"area_id": np.repeat([f"a{i:02d}" for i in range(n_areas)], n_periods),
                          "period_index": np.tile(np.arange(n_periods), n_areas)})
    frame["x"] = rng.normal(size=len(frame))
    frame["d"] = (rng.random(len(frame)) < 0.3).astype(float)
    area = rng.normal(size=n_areas)[np.repeat(np.arange(n_areas), n_periods)]
    mu = np.exp(0.5 + area + 0.2 * frame["x"] - 0.3 * frame["d"])
    frame["y"] = rng.poisson(mu * rng.gamma(2.5, 0.4, len(frame)))
    return frame


def test_covariance_chosen_after_the_fit_equals_the_one_chosen_at_it():
    frame = make_frame()
    iid = fit_count_model(frame, "y", ["x", "d"], fixed_effects=FE)
    clustered = fit_count_model(frame, "y", ["x", "d"], fixed_effects=FE, cluster="area_id")
    after = iid.vcov("CRV1", cluster="area_id")
    np.testing.assert_array_equal(after.cov_params(), clustered.cov_params())
    assert after.cluster == "area_id" and after.df == clustered.df == 23
    back = clustered.vcov("iid")
    np.testing.assert_array_equal(back.cov_params(), iid.cov_params())
    assert back.cluster is None and back.df == np.inf
    dk = clustered.vcov("DK", time="period_index")
    assert dk.df == 9 and dk.model.cov_type == "DK"
    with pytest.raises(ValueError, match="cluster="):
        iid.vcov("CRV1")


def test_covariance_after_a_glm_fit_is_statsmodels_with_t_on_g_minus_one():
    frame = make_frame()
    fit = fit_count_model(frame, "y", ["x", "d"]).vcov("CRV1", cluster="area_id")
    ref = sm.GLM(frame["y"], sm.add_constant(frame[["x", "d"]]),
                 family=sm.families.Poisson()).fit(
        tol=1e-12, cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["area_id"])[0]},
        use_t=True)
    table = fit.to_frame().set_index("term")
    np.testing.assert_allclose(np.log(table[["ci_low", "ci_high"]]),
                               ref.conf_int().loc[["x", "d"]], atol=1e-8)
    np.testing.assert_allclose(table["p_value"], ref.pvalues[["x", "d"]], atol=1e-10)
    with pytest.raises(TypeError, match="absorbed fixed effects"):
        fit.vcov("DK", time="period_index")


@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_a_coefficient_has_one_interval_in_its_table_and_in_its_estimate(family):
    # Issue 27: to_frame() gave a normal interval and EffectEstimate a t(G - 1) one.
    frame = make_frame()
    fit = fit_count_model(frame, "y", ["x", "d"], family=family, fixed_effects=FE,
                          cluster="area_id")
    row = fit.to_frame().set_index("term").loc["d"]
    est = EffectEstimate.from_fit(fit, "d", strategy_id="s", estimand="deployment",
                                  model="m", design="panel_fe")
    assert (est.ci_low, est.ci_high, est.p_value) == (row["ci_low"], row["ci_high"],
                                                     row["p_value"])
    t = stats.t.ppf(0.975, 23)
    assert row["ci_low"] == pytest.approx(np.exp(row["coef"] - t * row["std_err"]), rel=1e-12)
    assert row["p_value"] == pytest.approx(
        2 * stats.t.sf(abs(row["coef"] / row["std_err"]), 23), rel=1e-12)
    low, high = fit.model.conf_int().loc["d"]
    assert (np.exp(low), np.exp(high)) == pytest.approx((row["ci_low"], row["ci_high"]))


def test_the_one_interval_is_normal_without_degrees_of_freedom_and_t_with_them():
    assert compute_conf_int(0.0, 1.0, np.inf)[1] == stats.norm.ppf(0.975)
    assert compute_conf_int(0.0, 1.0, 5)[1] == stats.t.ppf(0.975, 5)
    assert compute_p_value(1.0, 0.0, 5) != compute_p_value(1.0, 0.0, 5)  # NaN: no spread
    assert compute_p_value(2.0, 1.0, 5) == pytest.approx(2 * stats.t.sf(2.0, 5))


def test_driscoll_kraay_of_a_negative_binomial_does_not_depend_on_how_it_was_fitted():
    # It used the expected-information bread without clusters and the observed one with them.
    frame = make_frame()
    spec = {"family": "negbin", "alpha": 0.4, "fixed_effects": FE}
    plain = fit_count_model(frame, "y", ["x", "d"], **spec)
    clustered = fit_count_model(frame, "y", ["x", "d"], cluster="area_id", **spec)
    np.testing.assert_allclose(plain.vcov("DK", time="period_index").cov_params(),
                               clustered.vcov("DK", time="period_index").cov_params(),
                               rtol=1e-10)
    # The model-based covariance stays statsmodels' (expected information).
    dummies = sm.add_constant(pd.get_dummies(
        frame[["x", "d", "area_id", "period_index"]].astype({"period_index": str}),
        columns=["area_id", "period_index"], drop_first=True, dtype=float))
    ref = sm.GLM(frame["y"], dummies, family=sm.families.NegativeBinomial(alpha=0.4)).fit(
        tol=1e-12)
    np.testing.assert_allclose(plain.model.bse, ref.bse[["x", "d"]], rtol=1e-6)


def _renamed(panel: pd.DataFrame) -> pd.DataFrame:
    renamed = panel.rename(columns={"area_id": "district", "period_index": "month_no"})
    renamed.attrs = dict(panel.attrs)
    return renamed


def _numbers(est: EffectEstimate) -> tuple:
    return (est.irr, est.ci_low, est.ci_high, est.p_value, est.n_areas, est.n_periods,
            est.n_incidents, est.n_clusters, tuple(est.caveats))


def test_panel_estimators_take_the_area_and_period_columns_by_name():
    panel = make_synthetic_panel(30, 24, irr=0.7, seed=8)
    other = _renamed(panel)
    names = {"area_col": "district", "period_col": "month_no"}
    assert "area_id" not in other
    for estimator in (estimate_twfe_effect, estimate_negbin_effect, estimate_stacked_effect):
        assert _numbers(estimator(other, "s", ACTIVE, **names)) == _numbers(
            estimator(panel, "s", ACTIVE))
    study, renamed_study = (estimate_event_study(panel, "s", ACTIVE),
                            estimate_event_study(other, "s", ACTIVE, **names))
    pd.testing.assert_frame_equal(study.to_frame(), renamed_study.to_frame())
    dose = [_numbers(e) for e in estimate_dose_response(panel)]
    assert dose and dose == [_numbers(e) for e in estimate_dose_response(other, **names)]
    wide = make_synthetic_panel(30, 24, irr=0.8, rollout="mission_wide", first_start=12, seed=9)
    assert _numbers(estimate_interrupted_time_series(_renamed(wide), "s", ACTIVE, **names)) == (
        _numbers(estimate_interrupted_time_series(wide, "s", ACTIVE)))


def test_the_ring_design_takes_the_area_and_period_columns_by_name():
    panel = make_spillover_panel(seed=2)
    neighbours = panel.attrs["contiguity"]
    ours = estimate_displacement(panel, "s", ACTIVE, neighbours)
    renamed = estimate_displacement(_renamed(panel), "s", ACTIVE, neighbours,
                                    area_col="district", period_col="month_no")
    pd.testing.assert_frame_equal(ours.to_frame(), renamed.to_frame())
