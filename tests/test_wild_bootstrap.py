"""The wild cluster score bootstrap beside the headline when areas or treated areas are few."""

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
    WEBB_BELOW,
    compute_score_bootstrap,
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
