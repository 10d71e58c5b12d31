"""A small, seeded version of benchmarks/simulate_validity.py (see docs/validity.md)."""

import numpy as np
import pytest

from protection_eval.effects.validity import (
    SCENARIOS,
    Scenario,
    compute_pretrend_size,
    compute_validity_summary,
)


def _row(summary, scenario, design):
    return summary[(summary["scenario"] == scenario) & (summary["design"] == design)].iloc[0]


def test_stacked_intervals_cover_planted_and_null_effects_in_a_small_simulation():
    scenarios = [s for s in SCENARIOS if s.name in ("irr_0.7", "irr_1.0")]
    summary = compute_validity_summary(scenarios, 30, seed=7)
    for name in ("irr_0.7", "irr_1.0"):
        row = _row(summary, name, "stacked")
        assert row["n_sims"] == 30
        assert row["coverage_95"] >= 0.8  # loose: 30 runs, Monte Carlo error about 4 points
        assert abs(row["bias_log_irr"]) < 0.05


def test_growing_effects_keep_the_sign_of_the_stacked_headline():
    growing = Scenario(
        "growing", 1.0, growth=-0.06,
        panel={"n_areas": 40, "n_periods": 30, "share_treated": 1.0, "first_start": 2,
               "last_start": 27},
    )
    summary = compute_validity_summary([growing], 20, seed=3)
    stacked = _row(summary, "growing", "stacked")
    assert stacked["true_irr"] == pytest.approx(np.exp(-0.06 * 3))
    assert stacked["same_sign"] >= 0.9
    assert stacked["mean_irr"] < 1.0


def test_pre_trend_test_is_not_grossly_oversized_without_a_pre_trend():
    size = compute_pretrend_size(30, seed=11).iloc[0]
    assert size["n_sims"] == 30
    assert size["rejection_rate"] <= 0.2  # nominal 0.05; 30 runs
    assert size["rejection_rate"] <= size["rejection_rate_chi2"]
