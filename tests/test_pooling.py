"""Random-effects pooling with few missions: tau2 estimators, HKSJ, prediction interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from protection_eval.inventory.evidence import (
    SE_FROM_INTERVAL,
    compute_evidence,
    estimate_pooled_effect,
    select_deployment_effects,
)
from protection_eval.inventory.pooling import HKSJ_BELOW, estimate_random_effects, estimate_tau2

# BCG vaccine trials (Colditz et al. 1994), metafor's dat.bcg: tpos, tneg, cpos, cneg.
BCG = np.array(
    [
        [4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
        [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619],
        [505, 87886, 499, 87892], [29, 7470, 45, 7232], [17, 1699, 65, 1600],
        [186, 50448, 141, 27197], [5, 2493, 3, 2338], [27, 16886, 29, 17825],
    ],
    dtype=float,
)
# Published values for the log risk ratios of dat.bcg (Viechtbauer 2010, J Stat Softw 36(3),
# section 3; metafor's rma() documentation): REML tau2 0.3132, estimate -0.7145; DL tau2 0.3088;
# Knapp-Hartung (test="knha") interval -1.1084 to -0.3206 on t(12).
BCG_REML_TAU2, BCG_REML_MEAN, BCG_DL_TAU2 = 0.3132, -0.7145, 0.3088
BCG_KNHA_CI = (-1.1084, -0.3206)

HETEROGENEOUS = (np.log([0.5, 0.9, 0.65, 1.2]), np.array([0.08, 0.1, 0.12, 0.09]))
HOMOGENEOUS = (np.log([0.6, 0.7, 0.65]), np.array([0.15, 0.2, 0.18]))


def bcg_log_risk_ratios():
    a, b, c, d = BCG.T
    y = np.log(a / (a + b)) - np.log(c / (c + d))
    v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return y, np.sqrt(v)


def hand_hksj(y, se, tau2):
    """Hartung-Knapp (2001) / Sidik-Jonkman (2002), from the formulas, t on k - 1 df."""
    w = 1 / (se**2 + tau2)
    mu = np.sum(w * y) / np.sum(w)
    var = np.sum(w * (y - mu) ** 2) / ((len(y) - 1) * np.sum(w))
    half = stats.t.ppf(0.975, len(y) - 1) * math.sqrt(var)
    return mu, math.sqrt(var), (mu - half, mu + half)


def test_bcg_tau2_and_mean_match_the_published_values():
    y, se = bcg_log_risk_ratios()
    reml = estimate_random_effects(y, se, tau2_method="reml")
    assert reml.tau2 == pytest.approx(BCG_REML_TAU2, abs=5e-5)
    assert reml.mean == pytest.approx(BCG_REML_MEAN, abs=5e-5)
    assert estimate_tau2(y, se**2, "dl") == pytest.approx(BCG_DL_TAU2, abs=5e-5)


def test_bcg_hksj_interval_matches_hand_formula_and_published_interval():
    y, se = bcg_log_risk_ratios()
    got = estimate_random_effects(y, se, tau2_method="reml", interval="hksj")
    mu, se_hksj, (low, high) = hand_hksj(y, se, got.tau2)
    assert got.mean == pytest.approx(mu, abs=1e-10)
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), abs=1e-10)
    assert (got.ci_low, got.ci_high) == pytest.approx(BCG_KNHA_CI, abs=5e-5)
    assert got.df == 12


def test_bcg_prediction_interval_matches_higgins_formula():
    y, se = bcg_log_risk_ratios()
    for interval in ("normal", "hksj"):
        got = estimate_random_effects(y, se, tau2_method="reml", interval=interval)
        w = 1 / (se**2 + got.tau2)
        se_mu = math.sqrt(1 / w.sum()) if interval == "normal" else hand_hksj(y, se, got.tau2)[1]
        half = stats.t.ppf(0.975, len(y) - 2) * math.sqrt(got.tau2 + se_mu**2)
        assert (got.pi_low, got.pi_high) == pytest.approx(
            (got.mean - half, got.mean + half), abs=1e-10
        )
        # the prediction interval is wider than the interval of the mean
        assert got.pi_low < got.ci_low and got.pi_high > got.ci_high


@pytest.mark.parametrize("example", ["bcg", "heterogeneous"])
def test_dersimonian_laird_matches_statsmodels(example):
    y, se = bcg_log_risk_ratios() if example == "bcg" else HETEROGENEOUS
    sm = combine_effects(y, se**2, method_re="dl")
    assert sm.tau2 > 0  # statsmodels does not truncate: compare only where it is positive
    normal = estimate_random_effects(y, se, tau2_method="dl", interval="normal")
    hksj = estimate_random_effects(y, se, tau2_method="dl", interval="hksj")
    assert normal.tau2 == pytest.approx(sm.tau2, abs=1e-6)
    assert normal.mean == pytest.approx(sm.mean_effect_re, abs=1e-6)
    assert normal.se == pytest.approx(sm.sd_eff_w_re, abs=1e-6)
    np.testing.assert_allclose([normal.ci_low, normal.ci_high], sm.conf_int(use_t=False)[1],
                               atol=1e-6)
    assert hksj.se_hksj == pytest.approx(math.sqrt(sm.var_hksj_re), abs=1e-6)
    np.testing.assert_allclose([hksj.ci_low, hksj.ci_high], sm.conf_int(use_t=True)[3],
                               atol=1e-6)
    np.testing.assert_allclose(normal.weights, sm.weights_rel_re, atol=1e-6)
    assert normal.q == pytest.approx(sm.q, abs=1e-6)


def paule_mandel_by_bisection(y, v):
    """tau2 solving the generalised Q equation Q(tau2) = k - 1, by plain bisection.

    Q decreases in tau2, so halving a bracket until it is 1e-15 wide finds the root without any
    stopping rule that rounding could trip (the reference the Paule-Mandel tests compare with).
    """

    def excess(tau2):
        w = 1 / (v + tau2)
        mu = np.sum(w * y) / np.sum(w)
        return float(np.sum(w * (y - mu) ** 2) - (len(y) - 1))

    if excess(0.0) <= 0:
        return 0.0
    low, high = 0.0, 1.0
    while excess(high) > 0:
        low, high = high, high * 2
    while high - low > 1e-15:
        mid = (low + high) / 2
        low, high = (mid, high) if excess(mid) > 0 else (low, mid)
    return (low + high) / 2


@pytest.mark.parametrize("example", ["bcg", "heterogeneous"])
def test_paule_mandel_solves_the_generalised_q_equation(example):
    y, se = bcg_log_risk_ratios() if example == "bcg" else HETEROGENEOUS
    tau2 = paule_mandel_by_bisection(y, se**2)
    got = estimate_random_effects(y, se, tau2_method="pm", interval="hksj")
    assert got.tau2 == pytest.approx(tau2, abs=1e-12)
    w = 1 / (se**2 + tau2)
    assert got.mean == pytest.approx(np.sum(w * y) / np.sum(w), abs=1e-12)
    # Paule-Mandel sets the weighted residual scale to exactly 1: HKSJ equals fixed scale.
    assert got.se_hksj == pytest.approx(got.se_normal, rel=1e-6)
    assert got.se_normal == pytest.approx(math.sqrt(1 / w.sum()), rel=1e-9)


@pytest.mark.parametrize("example", ["bcg", "heterogeneous"])
def test_paule_mandel_matches_statsmodels_iterated(example):
    # statsmodels' iteration returns tau2 = 0 whenever a step's estimating equation is below 0,
    # which rounding can cause at a tolerance near machine precision (1e-12 failed on one CPU:
    # the equation reached -4.4e-16). At 1e-8 it stops with the equation at 3e-11 (BCG) and
    # 5e-12 (heterogeneous), far above rounding, and tau2 within 1e-13 of the root.
    y, se = bcg_log_risk_ratios() if example == "bcg" else HETEROGENEOUS
    sm = combine_effects(y, se**2, method_re="iterated", atol=1e-8, maxiter=1000)
    assert sm.tau2 > 0
    got = estimate_random_effects(y, se, tau2_method="pm", interval="hksj")
    assert got.tau2 == pytest.approx(sm.tau2, abs=1e-6)
    assert got.mean == pytest.approx(sm.mean_effect_re, abs=1e-6)
    np.testing.assert_allclose([got.ci_low, got.ci_high], sm.conf_int(use_t=True)[3], atol=1e-6)


def test_hksj_is_the_default_below_ten_missions_and_normal_from_ten():
    y, se = bcg_log_risk_ratios()
    assert HKSJ_BELOW == 10
    assert estimate_random_effects(y[:9], se[:9]).interval == "hksj"
    assert estimate_random_effects(y[:10], se[:10]).interval == "normal"
    pooled = estimate_pooled_effect("s", list("ABCD"), *HETEROGENEOUS)
    assert pooled.method == "reml+hksj" and pooled.result.df == 3


def test_hksj_is_wider_than_the_normal_dl_interval_with_four_missions():
    normal = estimate_pooled_effect("s", list("ABCD"), *HETEROGENEOUS, tau2_method="dl",
                                    interval="normal")
    hksj = estimate_pooled_effect("s", list("ABCD"), *HETEROGENEOUS)
    width = math.log(hksj.ci_high / hksj.ci_low) / math.log(normal.ci_high / normal.ci_low)
    assert width > 1.4


def test_hksj_is_used_unfloored_even_when_narrower_than_fixed_scale():
    # Floored HKSJ covers 99.9-100% with 2-4 missions in the simulation: the plain one is used.
    y, se = HOMOGENEOUS
    got = estimate_random_effects(y, se)
    assert got.tau2 == 0.0
    assert got.se_hksj < got.se_normal
    assert got.se == got.se_hksj
    mu, se_hksj, (low, high) = hand_hksj(y, se, 0.0)
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_identical_estimates_fall_back_to_the_fixed_scale_error():
    got = estimate_random_effects(np.log([0.8, 0.8]), np.array([0.1, 0.1]))
    assert got.se_hksj == 0.0
    assert got.se == pytest.approx(0.1 / math.sqrt(2))
    assert got.ci_high - got.mean == pytest.approx(stats.t.ppf(0.975, 1) * 0.1 / math.sqrt(2))


def test_two_missions_have_no_prediction_interval_and_say_so():
    pooled = estimate_pooled_effect("s", ["A", "B"], np.log([0.6, 0.9]), np.array([0.1, 0.1]))
    assert math.isnan(pooled.pi_low) and math.isnan(pooled.pi_high)
    assert "no prediction interval with two missions" in pooled.to_frame()["note"].iloc[0]
    three = estimate_pooled_effect("s", list("ABC"), *HOMOGENEOUS)
    row = three.to_frame().iloc[0]
    assert row["pi_low"] < row["ci_low"] < row["irr"] < row["ci_high"] < row["pi_high"]
    assert "a new mission might see" in row["note"]


@pytest.mark.parametrize("bad", [[0.1, 0.0], [0.1, np.nan], [0.1, -0.2]])
def test_pooling_refuses_a_standard_error_that_is_not_positive(bad):
    with pytest.raises(ValueError, match="standard error above zero"):
        estimate_random_effects(np.array([0.1, 0.2]), np.array(bad))


def effect_row(mission, irr, ci_low, ci_high, **extra):
    return {"mission": mission, "strategy_id": "night-patrols", "estimand": "deployment",
            "irr": irr, "ci_low": ci_low, "ci_high": ci_high, **extra}


def test_the_runs_own_standard_error_is_used_not_one_backed_out_with_1_96():
    # A run with 6 areas: its interval used t(5), so (log hi - log lo) / 3.92 overstates se.
    se, t5 = 0.2, stats.t.ppf(0.975, 5)
    lo, hi = (round(math.exp(math.log(0.7) + sign * t5 * se), 4) for sign in (-1, 1))
    effects = pd.DataFrame([effect_row("A", 0.7, lo, hi, se_log_irr=se),
                            effect_row("B", 0.7, lo, hi)])
    selected, problems = select_deployment_effects(effects)
    assert not problems
    a, b = selected.set_index("mission").loc[["A", "B"], "se_log_irr"]
    assert a == pytest.approx(se, abs=1e-12)
    assert b == pytest.approx(se * t5 / 1.959963984540054, abs=1e-3)  # the old recovery
    notes = selected.set_index("mission")["note"]
    assert notes["A"] == "" and notes["B"] == SE_FROM_INTERVAL


def test_a_non_positive_standard_error_is_reported_by_row_and_column():
    effects = pd.DataFrame([effect_row("A", 0.7, 0.5, 0.9, se_log_irr=0.0)])
    effects["source_file"], effects["source_row"] = "A/effects.csv", 2
    selected, problems = select_deployment_effects(effects)
    assert selected.empty
    assert str(problems[0]).startswith("A/effects.csv: row 2: column 'se_log_irr'")


def test_evidence_table_carries_prediction_interval_and_method():
    effects = pd.DataFrame(
        [effect_row(m, math.exp(y), math.exp(y - 0.3), math.exp(y + 0.3), se_log_irr=s)
         for m, y, s in zip("ABC", *HOMOGENEOUS, strict=True)]
    )
    table = compute_evidence(effects).to_frame()
    pooled = table[table["mission"] == "ALL"].iloc[0]
    assert pooled["method"] == "reml+hksj"
    assert pooled["pi_low"] < pooled["ci_low"] and pooled["pi_high"] > pooled["ci_high"]


def test_forest_plot_draws_the_prediction_interval_from_three_missions():
    from protection_eval.inventory.evidence_report import make_forest_plot, to_evidence_html

    effects = pd.DataFrame(
        [effect_row(m, math.exp(y), math.exp(y - 0.3), math.exp(y + 0.3), se_log_irr=s)
         for m, y, s in zip("ABC", HETEROGENEOUS[0][:3], HETEROGENEOUS[1][:3], strict=True)]
    )
    synthesis = compute_evidence(effects)
    pooled = synthesis.pooled["night-patrols"]
    ax = make_forest_plot(synthesis, "night-patrols").axes[0]
    bars = [line for line in ax.get_lines()
            if list(line.get_xdata()) == pytest.approx([pooled.pi_low, pooled.pi_high])]
    assert bars, "no line spans the prediction interval"
    low, high = ax.get_xlim()
    assert low < pooled.pi_low and high > pooled.pi_high
    assert "new mission" in ax.get_title()
    assert f"{pooled.pi_low:.2f}" in to_evidence_html(synthesis)


def test_pooling_simulation_reports_coverage_per_scenario():
    from protection_eval.inventory.pooling_validity import compute_pooling_coverage

    table = compute_pooling_coverage((2, 4), (0.1,), n_sims=200, seed=1)
    assert table["n_missions"].tolist() == [2, 4]
    # With tau2 = 0.1 and few missions, DL with a normal interval under-covers; HKSJ does not.
    assert (table["coverage_dl_normal"] < 0.9).all()
    assert (table["coverage_reml_hksj"] > 0.9).all()
    assert np.isnan(table.loc[0, "pi_coverage"]) and table.loc[1, "pi_coverage"] > 0.85
