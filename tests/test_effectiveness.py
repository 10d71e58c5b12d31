import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from protection_eval.effects.count_models import (
    CAVEATS,
    compute_overdispersion_test,
    compute_wald_test,
    fit_count_model,
)
from protection_eval.effects.event_study import make_stacked_panel
from protection_eval.effects.fixed_effects import FixedEffectsFit
from protection_eval.effects.mission import (
    EFFECTS_CSV_COLUMNS,
    MissionEffects,
    estimate_dose_response,
    estimate_event_study,
    estimate_interrupted_time_series,
    estimate_mission_effects,
    estimate_stacked_effect,
    plot_event_study,
)
from protection_eval.effects.panel import make_synthetic_panel
from protection_eval.sharing.forms import to_effects_table

ACTIVE = "active_test_strategy"


def make_count_frame(n_areas=25, n_periods=10, seed=1, alpha=0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "area_id": np.repeat([f"a{i}" for i in range(n_areas)], n_periods),
            "period_index": np.tile(np.arange(n_periods), n_areas),
        }
    )
    frame["x"] = rng.normal(size=len(frame))
    frame["d"] = (rng.random(len(frame)) < 0.3).astype(float)
    frame["log_exposure"] = np.log(rng.uniform(1, 3, len(frame)))
    area = rng.normal(size=n_areas)[np.repeat(np.arange(n_areas), n_periods)]
    period = rng.normal(0, 0.3, n_periods)[frame["period_index"]]
    mu = np.exp(0.8 + area + period + 0.2 * frame["x"] - 0.3 * frame["d"] + frame["log_exposure"])
    if alpha:
        mu = mu * rng.gamma(1 / alpha, alpha, len(frame))
    frame["y"] = rng.poisson(mu)
    return frame


def _dummies(frame):
    x = pd.get_dummies(
        frame[["x", "d", "area_id", "period_index"]].astype({"period_index": str}),
        columns=["area_id", "period_index"], drop_first=True, dtype=float,
    )
    return sm.add_constant(x)


@pytest.mark.parametrize("cluster", [None, "area_id"])
def test_fit_count_model_without_fixed_effects_reproduces_statsmodels_glm(cluster):
    frame = make_count_frame()
    ours = fit_count_model(frame, "y", ["x", "d"], offset="log_exposure", cluster=cluster)
    # Clustered: statsmodels' t on G - 1 degrees of freedom (use_t), the one convention.
    kwargs = {} if cluster is None else {
        "cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(frame[cluster])[0]},
        "use_t": True,
    }
    ref = sm.GLM(frame["y"], sm.add_constant(frame[["x", "d"]]), family=sm.families.Poisson(),
                 offset=frame["log_exposure"]).fit(tol=1e-12, **kwargs)
    table = ours.to_frame().set_index("term")
    assert list(table.index) == ["x", "d"]  # one row per regressor
    np.testing.assert_allclose(table["coef"], ref.params[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(table["std_err"], ref.bse[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(table["p_value"], ref.pvalues[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(np.log(table[["ci_low", "ci_high"]]),
                               ref.conf_int().loc[["x", "d"]], atol=1e-6)
    # The statsmodels result itself, intercept included.
    np.testing.assert_allclose(ours.model.params, ref.params, atol=1e-6)


@pytest.mark.parametrize(
    ("family", "alpha", "cluster"),
    [("poisson", None, "area_id"), ("poisson", None, None), ("negbin", 0.3, "area_id"),
     ("negbin", 0.3, None)],
)
def test_fit_count_model_with_absorbed_fixed_effects_reproduces_glm_with_dummies(
    family, alpha, cluster
):
    frame = make_count_frame(alpha=0.3)
    ours = fit_count_model(
        frame, "y", ["x", "d"], family=family, alpha=alpha,
        fixed_effects=("area_id", "period_index"), offset="log_exposure", cluster=cluster,
    )
    fam = (sm.families.Poisson() if family == "poisson"
           else sm.families.NegativeBinomial(alpha=alpha))
    kwargs = {} if cluster is None else {
        "cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(frame[cluster])[0]},
        "use_t": True,
    }
    ref = sm.GLM(frame["y"], _dummies(frame), family=fam, offset=frame["log_exposure"]).fit(
        tol=1e-12, **kwargs
    )
    table = ours.to_frame().set_index("term")
    np.testing.assert_allclose(table["coef"], ref.params[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(table["std_err"], ref.bse[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(table["p_value"], ref.pvalues[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(np.log(table[["ci_low", "ci_high"]]),
                               ref.conf_int().loc[["x", "d"]], atol=1e-6)
    np.testing.assert_allclose(ours.model.conf_int(), ref.conf_int().loc[["x", "d"]], atol=1e-6)
    assert isinstance(ours.model, FixedEffectsFit)
    assert ours.model.llf == pytest.approx(ref.llf, abs=1e-6)


def test_fit_count_model_negbin_estimates_alpha_like_statsmodels():
    frame = make_count_frame(n_areas=60, alpha=0.4, seed=5)
    ours = fit_count_model(frame, "y", ["x", "d"], family="negbin", offset="log_exposure")
    model = sm.NegativeBinomial(frame["y"], sm.add_constant(frame[["x", "d"]]),
                                offset=frame["log_exposure"])
    ref = model.fit(disp=0, maxiter=500, method="newton")
    assert ours.alpha == pytest.approx(ref.params["alpha"], rel=1e-4)
    np.testing.assert_allclose(ours.params[["x", "d"]], ref.params[["x", "d"]], atol=1e-5)


def test_fit_count_model_to_frame_gives_irr_and_interval_on_ratio_scale():
    frame = make_count_frame()
    table = fit_count_model(frame, "y", ["d"], fixed_effects=("area_id",)).to_frame()
    assert list(table.columns) == ["term", "coef", "irr", "std_err", "ci_low", "ci_high",
                                   "p_value"]
    row = table.iloc[0]
    assert row["irr"] == pytest.approx(np.exp(row["coef"]))
    assert row["ci_low"] == pytest.approx(np.exp(row["coef"] - 1.959964 * row["std_err"]))


def test_fit_count_model_drops_areas_without_any_incident_and_says_so():
    frame = make_count_frame()
    frame.loc[frame["area_id"] == "a0", "y"] = 0
    fit = fit_count_model(frame, "y", ["x"], fixed_effects=("area_id", "period_index"))
    assert "a0" not in set(fit.data["area_id"])
    assert any("no incident at all" in n for n in fit.notes)


def test_fit_count_model_names_missing_columns_and_rejects_negative_counts():
    frame = make_count_frame()
    with pytest.raises(KeyError, match="patrol_hours"):
        fit_count_model(frame, "y", ["patrol_hours"])
    frame.loc[0, "y"] = -1
    with pytest.raises(ValueError, match="negative"):
        fit_count_model(frame, "y", ["x"])


def test_overdispersion_test_flags_negative_binomial_counts_only():
    spec = {"fixed_effects": ("area_id", "period_index"), "offset": "log_exposure"}
    poisson = fit_count_model(make_count_frame(seed=2), "y", ["x", "d"], **spec)
    overdispersed = fit_count_model(make_count_frame(seed=2, alpha=0.5), "y", ["x", "d"], **spec)
    assert compute_overdispersion_test(poisson)[1] > 0.05
    alpha, p = compute_overdispersion_test(overdispersed)
    assert p < 0.001
    assert 0.1 < alpha < 0.9


def test_wald_test_matches_squared_z_for_one_term():
    fit = fit_count_model(make_count_frame(), "y", ["x", "d"], fixed_effects=("area_id",),
                          cluster="area_id")
    chi2, df, p = compute_wald_test(fit, ["d"])
    assert df == 1
    assert chi2 == pytest.approx(fit.model.tvalues["d"] ** 2)
    assert p == pytest.approx(2 * stats.norm.sf(abs(fit.model.tvalues["d"])))
    # With the fit's degrees of freedom, Hotelling's F(1, G - 1) is the square of its t.
    _, _, p_t = compute_wald_test(fit, ["d"], df=fit.df)
    assert fit.df == fit.data["area_id"].nunique() - 1
    assert p_t == pytest.approx(fit.model.pvalues["d"])
    assert p_t == pytest.approx(2 * stats.t.sf(abs(fit.model.tvalues["d"]), fit.df))


def test_stacked_panel_keeps_only_not_yet_treated_controls():
    panel = make_synthetic_panel(30, 24, share_treated=1.0, first_start=6, last_start=18, seed=4)
    stacked = make_stacked_panel(panel, ACTIVE, pre=4, post=4)
    first = panel[panel[ACTIVE] > 0].groupby("area_id")["period_index"].min()
    for start, rows in stacked.groupby("stack"):
        controls = rows.loc[~rows["treated"], "area_id"].unique()
        assert (first[controls] > start + 4).all()
        assert rows["event_time"].between(-4, 4).all()
        assert (rows.loc[~rows["treated"], "dose"] == 0).all()


def test_stacked_design_recovers_a_planted_irr_within_its_interval():
    panel = make_synthetic_panel(60, 24, irr=0.7, seed=7)
    est = estimate_stacked_effect(panel, "test-strategy", ACTIVE)
    assert est.ci_low < 0.7 < est.ci_high
    assert est.ci_high < 1.0
    assert est.estimand == "deployment"
    assert est.design == "stacked_not_yet_treated"
    assert est.headline
    assert CAVEATS["reported"] in est.caveats


def test_event_study_passes_pre_trend_without_one_and_fails_with_one():
    clean = make_synthetic_panel(60, 24, irr=0.7, seed=8, base_rate=8.0)
    study = estimate_event_study(clean, "test-strategy", ACTIVE)
    assert not study.pre_trend_failed
    row = study.coefficients.set_index("event_time")
    assert row.loc[-1, "irr"] == 1.0
    assert row.loc[3, "ci_low"] < 0.7 < row.loc[3, "ci_high"]
    # Treated areas' incidents rise steadily before they get the strategy: a pre-trend.
    trended = clean.copy()
    first = trended[trended[ACTIVE] > 0].groupby("area_id")["period_index"].min()
    rel = trended["period_index"] - trended["area_id"].map(first)
    before = rel.between(-6, -1)
    rng = np.random.default_rng(0)
    trended.loc[before, "incidents"] += rng.poisson(2.0 * (7 + rel[before]))
    failing = estimate_event_study(trended, "test-strategy", ACTIVE)
    assert failing.pre_trend_failed
    assert any("Pre-trend test failed" in c for c in failing.to_estimates()[0].caveats)
    fig = plot_event_study(failing)
    assert "pre-trend test failed" in fig.axes[0].get_title()


def test_interrupted_time_series_recovers_a_mission_wide_effect():
    panel = make_synthetic_panel(60, 24, irr=0.8, rollout="mission_wide", first_start=12,
                                 seed=9, base_rate=8.0)
    est = estimate_interrupted_time_series(panel, "test-strategy", ACTIVE)
    assert est.ci_low < 0.8 < est.ci_high
    assert est.ci_high < 1.0
    assert est.design == "interrupted_time_series"
    assert CAVEATS["no_comparison"] in est.caveats


def test_mission_effects_pick_stacked_for_staggered_and_its_for_mission_wide_rollout():
    staggered = estimate_mission_effects(make_synthetic_panel(40, 24, seed=10))
    assert staggered.headline("test-strategy").design == "stacked_not_yet_treated"
    designs = {(e.design, e.model) for e in staggered.estimates if e.estimand == "deployment"}
    assert designs == {("stacked_not_yet_treated", "poisson_fe"), ("twfe", "poisson_fe"),
                       ("twfe", "negbin_fe")}
    assert "test-strategy" in staggered.event_studies
    wide = estimate_mission_effects(make_synthetic_panel(40, 24, rollout="mission_wide", seed=10))
    assert wide.headline("test-strategy").design == "interrupted_time_series"
    assert wide.event_studies == {}


def test_mission_effects_flag_overdispersion_and_few_treated_areas():
    panel = make_synthetic_panel(40, 24, share_treated=0.15, dispersion=0.5, seed=11)
    effects = estimate_mission_effects(panel)
    head = effects.headline("test-strategy")
    assert effects.overdispersion["test-strategy"][1] < 0.05
    assert any(c.startswith("Counts vary more than a Poisson") for c in head.caveats)
    assert CAVEATS["few_treated"].format(n=6) in head.caveats
    negbin = [e for e in effects.estimates if e.model == "negbin_fe"][0]
    assert not any(c.startswith("Counts vary more") for c in negbin.caveats)
    assert CAVEATS["few_treated"].format(n=6) in negbin.caveats


def test_mission_effects_reject_an_unknown_strategy_by_name():
    with pytest.raises(ValueError, match="night-patrols"):
        estimate_mission_effects(make_synthetic_panel(20, 12), strategies=["night-patrols"])


def test_dose_response_recovers_the_planted_irr_per_doubling():
    panel = make_synthetic_panel(60, 24, dose_irr=0.8, seed=12, base_rate=8.0)
    (hours,) = estimate_dose_response(panel)
    assert hours.estimand == "dose_patrol_hours"
    assert hours.ci_low < 0.8 < hours.ci_high
    assert hours.n_periods == 23  # the last period has no next period


def test_effects_table_has_the_shared_columns_and_suppresses_tiny_models():
    panel = make_synthetic_panel(20, 12, seed=13)
    effects = estimate_mission_effects(panel, mission="SIM")
    table = to_effects_table(effects)
    assert list(table.columns) == EFFECTS_CSV_COLUMNS
    assert (table["mission"] == "SIM").all()
    assert table["caveats"].str.contains("Reported is not occurred").all()
    tiny = MissionEffects("SIM", estimates=[effects.estimates[0]])
    tiny.estimates[0].n_incidents = 3
    suppressed = to_effects_table(tiny).iloc[0]
    assert pd.isna(suppressed["irr"]) and pd.isna(suppressed["ci_low"])
    assert pd.isna(suppressed["n_incidents"])
    assert suppressed["caveats"] == CAVEATS["suppressed"].format(k=5)


def test_few_incidents_caveat_is_next_to_the_number():
    panel = make_synthetic_panel(12, 12, base_rate=0.4, seed=14)
    est = estimate_mission_effects(panel).headline("test-strategy")
    assert est.n_incidents < 100
    assert any(c.startswith(f"Only {est.n_incidents} incidents") for c in est.caveats)


def test_cli_effects_writes_effects_csv_and_names_an_unknown_strategy(bad_mission, tmp_path):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["effects", str(bad_mission), "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    (run,) = [p for p in tmp_path.iterdir() if (p / "restricted").is_dir()]
    table = pd.read_csv(run / "shared" / "effects.csv")
    assert list(table.columns) == EFFECTS_CSV_COLUMNS
    assert (run / "restricted" / "panel.csv").exists()
    bad = runner.invoke(app, ["effects", str(bad_mission), "--out", str(tmp_path),
                              "--strategy", "teleportation-units"])
    assert bad.exit_code == 1
    assert "teleportation-units" in bad.output and "Traceback" not in bad.output


def test_wald_test_with_few_cluster_degrees_of_freedom_is_more_conservative_or_untestable():
    fit = fit_count_model(make_count_frame(), "y", ["x", "d"], fixed_effects=("area_id",),
                          cluster="area_id")
    _, q, p_chi2 = compute_wald_test(fit, ["x", "d"])
    _, _, p_small = compute_wald_test(fit, ["x", "d"], df=10)
    _, _, p_none = compute_wald_test(fit, ["x", "d"], df=1)
    assert q == 2
    assert p_small > p_chi2
    assert np.isnan(p_none)


def test_driscoll_kraay_without_lags_is_clustering_by_period():
    from protection_eval.effects.count_models import compute_driscoll_kraay_cov

    frame = make_count_frame()
    by_area = fit_count_model(frame, "y", ["x", "d"], fixed_effects=("area_id",),
                              cluster="area_id")
    by_period = fit_count_model(frame, "y", ["x", "d"], fixed_effects=("area_id",),
                                cluster="period_index")
    dk = compute_driscoll_kraay_cov(by_area, "period_index", lags=0)
    n, k = len(by_area.data), 2 + by_area.model.k_absorbed
    np.testing.assert_allclose(dk * (n - 1) / (n - k), by_period.cov_params(), rtol=1e-8)


def test_interrupted_time_series_error_allows_for_shocks_common_to_all_areas():
    panel = make_synthetic_panel(60, 24, irr=0.8, rollout="mission_wide", first_start=12, seed=9)
    months = panel["period_index"].to_numpy()
    shock = np.random.default_rng(1).normal(0, 0.3, 24)  # the same in every area each month
    panel["incidents"] = np.random.default_rng(2).poisson(
        panel["incidents"].to_numpy() * np.exp(shock[months]) + 0.0
    )
    from scipy import stats

    from protection_eval.effects.count_models import compute_driscoll_kraay_cov

    est = estimate_interrupted_time_series(panel, "test-strategy", ACTIVE)
    clustered = est.fit.to_frame().set_index("term").loc[ACTIVE, "std_err"]
    dk = np.sqrt(compute_driscoll_kraay_cov(est.fit, "period_index").loc[ACTIVE, ACTIVE])
    used = (np.log(est.ci_high) - np.log(est.irr)) / stats.t.ppf(0.975, 23)
    assert dk > 1.2 * clustered
    assert used == pytest.approx(dk)
