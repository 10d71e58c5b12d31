"""The wild cluster score bootstrap beside the headline when areas or treated areas are few."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protection_eval.effects.mission import (
    MissionEffects,
    estimate_mission_effects,
    estimate_stacked_effect,
)
from protection_eval.effects.panel import make_synthetic_panel
from protection_eval.effects.wild_bootstrap import (
    ENUMERATE_UP_TO,
    FEWEST_RELIABLE_TREATED,
    WEBB_BELOW,
    compute_score_bootstrap,
    compute_score_p_value,
    make_bootstrap_weights,
    needs_bootstrap,
)
from protection_eval.sharing.forms import to_effects_table

ACTIVE = "active_test_strategy"
FE = ("stack_area", "stack_period")


def test_weights_are_webb_below_twelve_clusters_and_rademacher_from_twelve():
    webb, name = make_bootstrap_weights(WEBB_BELOW - 1, 4000, seed=1)
    assert name == "webb" and len(np.unique(webb)) == 6
    rade, name = make_bootstrap_weights(WEBB_BELOW, 4000, seed=1)
    assert name == "rademacher" and set(np.unique(rade)) == {-1.0, 1.0}
    for w in (webb, rade):
        assert abs(w.mean()) < 0.02 and w.var() == pytest.approx(1.0, abs=0.03)
    again, _ = make_bootstrap_weights(WEBB_BELOW - 1, 4000, seed=1)
    np.testing.assert_array_equal(webb, again)


def test_rademacher_weights_enumerate_every_sign_pattern_up_to_sixteen_clusters():
    full, name = make_bootstrap_weights(WEBB_BELOW, 999, seed=1)
    assert name == "rademacher" and full.shape == (2**WEBB_BELOW, WEBB_BELOW)
    assert len(np.unique(full, axis=0)) == 2**WEBB_BELOW
    np.testing.assert_array_equal(full, make_bootstrap_weights(WEBB_BELOW, 999, seed=2)[0])
    drawn, _ = make_bootstrap_weights(ENUMERATE_UP_TO + 1, 999, seed=1)
    assert drawn.shape == (999, ENUMERATE_UP_TO + 1)


SIGNS3 = np.array(list(itertools.product([1.0, -1.0], repeat=3)))


def test_exact_p_value_on_three_clusters_is_the_hand_computed_share_of_sign_patterns():
    # Scores (2, 1, 1), equal information: the Newton step is S / 3, each area's score at it
    # s_g - S / 3. All plus: S = 4, (2/3, -1/3, -1/3), t = 4 / sqrt(6/9) = 4.90.
    # (+, +, -): S = 2, (4/3, 1/3, -5/3), t = 2 / sqrt(42/9) = 0.93; (+, -, +) likewise;
    # (+, -, -): S = 0, t = 0. The other four are these with all signs flipped: 2 of 8 reach
    # |t| = 4.90, the observed pattern and its mirror.
    scores, info = np.array([2.0, 1.0, 1.0]), np.ones(3)
    assert compute_score_p_value(scores, info, SIGNS3, exact=True) == pytest.approx(2 / 8)
    # The same eight rows taken as random draws: the observed statistic counts once more.
    assert compute_score_p_value(scores, info, SIGNS3) == pytest.approx((1 + 2) / (1 + 8))


def test_p_value_uses_the_re_estimated_t_statistic_not_the_score_statistic():
    # Scores (1, -2, 1, 1), information (2, 1, 1, 1). Observed: S = 1, the areas' scores at the
    # one-step estimate s_g - H_g S / H = (0.6, -2.2, 0.8, 0.8), t = 1 / sqrt(6.48) = 0.393.
    # Flipping the second area: S = 5, (-1, 1, 0, 0), t = 5 / sqrt(2) = 3.54; 12 of the 16
    # patterns reach |t| >= 0.393. The score (LM) statistic S / sqrt(sum s_g^2) has the same
    # denominator sqrt(7) in every pattern and |S| is odd, so the observed |S| = 1 is the smallest
    # and the old LM form gave p = 1: the fix changes this p-value from 1 to 0.75.
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=4)))
    p = compute_score_p_value(np.array([1.0, -2.0, 1.0, 1.0]), np.array([2.0, 1, 1, 1]), signs,
                              exact=True)
    assert p == pytest.approx(0.75)


@pytest.mark.parametrize(("clusters", "treated", "expected"),
                         [(29, 12, True), (30, 9, True), (30, 10, False), (48, 19, False)])
def test_bootstrap_switches_on_below_30_areas_or_10_treated_areas(clusters, treated, expected):
    assert needs_bootstrap(clusters, treated) is expected


def test_headline_with_few_treated_areas_carries_a_reproducible_bootstrap_covering_the_truth():
    panel = make_synthetic_panel(30, 24, irr=0.6, share_treated=6 / 30, dispersion=0.3, seed=3)
    first = estimate_stacked_effect(panel, "s", ACTIVE)
    again = estimate_stacked_effect(panel, "s", ACTIVE)
    assert first.boot_weights == "rademacher" and first.n_clusters == 30
    assert first.boot_ci_low < 0.6 < first.boot_ci_high
    assert first.boot_ci_low < first.irr < first.boot_ci_high
    assert first.boot_p_value < 0.05
    assert (first.boot_p_value, first.boot_ci_low, first.boot_ci_high) == (
        again.boot_p_value, again.boot_ci_low, again.boot_ci_high)
    # beside the analytic numbers, not instead of them
    assert np.isfinite(first.ci_low) and first.ci_low != first.boot_ci_low


def _stacked_fit(n_areas, n_treated, seed, irr=0.7):
    panel = make_synthetic_panel(n_areas, 24, irr=irr, share_treated=n_treated / n_areas,
                                 dispersion=0.3, seed=seed)
    est = estimate_stacked_effect(panel, "s", ACTIVE, headline=False)
    row = est.fit.to_frame().set_index("term").loc["dose"]
    return est, float(row["coef"]), float(row["std_err"])


def test_bootstrap_of_fourteen_areas_is_exact_and_does_not_depend_on_the_seed():
    est, coef, se = _stacked_fit(14, 5, seed=21)
    results = [compute_score_bootstrap(est.fit.data, "incidents", "dose", ["dose"], FE,
                                       "area_id", coef=coef, std_err=se, seed=seed)
               for seed in (1, 2)]
    assert results[0].exact and results[0].n_boot == 2**14
    assert (results[0].p_value, results[0].ci_low, results[0].ci_high) == (
        results[1].p_value, results[1].ci_low, results[1].ci_high)
    # an exact p-value is a whole number of sign patterns
    assert (results[0].p_value * 2**14) == pytest.approx(round(results[0].p_value * 2**14))


def test_bootstrap_of_thirty_areas_is_reproducible_by_seed_and_varies_with_it():
    est, coef, se = _stacked_fit(30, 6, seed=5)

    def run(seed):
        return compute_score_bootstrap(est.fit.data, "incidents", "dose", ["dose"], FE,
                                       "area_id", coef=coef, std_err=se, seed=seed,
                                       interval=False)

    first, again, other = run(7), run(7), run(8)
    assert not first.exact and first.n_boot == 999 and first.seed == 7
    assert first.p_value == again.p_value
    assert first.p_value != other.p_value
    assert abs(first.p_value - other.p_value) < 0.05


@pytest.mark.parametrize(("n_treated", "caveated"), [(3, True), (4, False)])
def test_headline_below_four_treated_areas_says_the_bootstrap_is_not_exact(n_treated, caveated):
    panel = make_synthetic_panel(30, 24, irr=0.7, share_treated=n_treated / 30,
                                 dispersion=0.3, seed=8)
    est = estimate_stacked_effect(panel, "s", ACTIVE)
    assert est.boot_weights == "rademacher"
    text = f"Only {n_treated} areas had the strategy: no bootstrap is exact"
    assert any(c.startswith(text) for c in est.caveats) is caveated
    assert FEWEST_RELIABLE_TREATED == 4


def test_headline_with_many_areas_is_not_bootstrapped():
    panel = make_synthetic_panel(48, 24, irr=0.7, seed=4)
    est = estimate_stacked_effect(panel, "s", ACTIVE)
    assert est.boot_weights == "" and np.isnan(est.boot_p_value)


def test_bootstrap_p_values_are_roughly_uniform_under_no_effect_with_webb_weights():
    p_values = []
    for seed in range(60):
        panel = make_synthetic_panel(10, 18, irr=1.0, share_treated=0.4, first_start=6,
                                     last_start=12, seed=100 + seed)
        est = estimate_stacked_effect(panel, "s", ACTIVE, headline=False)
        row = est.fit.to_frame().set_index("term").loc["dose"]
        boot = compute_score_bootstrap(est.fit.data, "incidents", "dose", ["dose"], FE,
                                       "area_id", coef=row["coef"], std_err=row["std_err"],
                                       n_boot=199, interval=False)
        assert boot.weights == "webb"
        p_values.append(boot.p_value)
    p_values = np.array(p_values)
    assert 0.35 < p_values.mean() < 0.65
    assert (p_values < 0.1).mean() < 0.22
    assert (p_values > 0.9).mean() > 0.02


def test_shared_effects_table_blanks_bootstrap_and_dispersion_of_tiny_models():
    panel = make_synthetic_panel(20, 12, seed=13)
    effects = estimate_mission_effects(panel, mission="SIM")
    table = to_effects_table(effects)
    head = table[table["headline"]].iloc[0]
    assert head["boot_weights"] == "rademacher" and 0 <= head["boot_p_value"] <= 1
    assert head["boot_ci_low"] < head["irr"] < head["boot_ci_high"]
    negbin = table[table["model"] == "negbin_fe"].iloc[0]
    assert negbin["alpha"] >= 0 and negbin["n_clusters"] == 20
    assert pd.isna(head["alpha"])
    for est in effects.estimates:
        est.n_incidents = 3
    suppressed = to_effects_table(MissionEffects("SIM", estimates=effects.estimates))
    for column in ("boot_p_value", "boot_ci_low", "boot_ci_high", "alpha", "theta",
                   "alpha_se"):
        assert suppressed[column].isna().all(), column
    assert (suppressed["boot_weights"] == "").all()


def test_validity_table_counts_coverage_and_unbounded_intervals_per_scenario():
    from protection_eval.effects.bootstrap_validity import compute_bootstrap_validity

    table = compute_bootstrap_validity([(4, 10)], 4, seed=1)
    row = table.iloc[0]
    assert (row["n_treated"], row["n_areas"], row["n_sims"]) == (4, 10, 4)
    assert row["bootstrap_default"] and row["boot_weights"] == "webb"
    for column in ("coverage_analytic", "coverage_bootstrap", "unbounded_bootstrap",
                   "rejection_analytic", "rejection_bootstrap"):
        assert row[column] * 4 == pytest.approx(round(row[column] * 4)), column
        assert 0 <= row[column] <= 1, column


def test_bootstrap_caveat_is_a_message_of_the_translation_template():
    from babel.messages.pofile import read_po

    from protection_eval.effects.vocabulary import CAVEATS

    locale = Path(__file__).resolve().parents[1] / "src" / "protection_eval" / "sharing" / "locale"
    with (locale / "protection_eval.pot").open("rb") as handle:
        ids = {m.id for m in read_po(handle) if m.id}
    # test_brief checks that every catalogue translates every message of the template
    assert CAVEATS["boot_few_treated"] in ids


def test_p_value_is_missing_when_one_area_carries_all_the_information():
    # Scores (2, 0, 0), information (1, 0, 0): the one-step estimate explains the one area's
    # score entirely, the spread is unknown. The old score statistic gave p = 1 here.
    p = compute_score_p_value(np.array([2.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), SIGNS3,
                              exact=True)
    assert np.isnan(p)
