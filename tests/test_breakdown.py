"""Relative-magnitudes sensitivity (Rambachan and Roth 2023) when the pre-trend test fails."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from protection_eval.effects.event_study import estimate_event_study
from protection_eval.effects.mission import estimate_mission_effects
from protection_eval.effects.panel import make_synthetic_panel
from protection_eval.effects.vocabulary import describe_breakdown
from protection_eval.sharing.forms import to_effects_table

ACTIVE = "active_test_strategy"
SLOPE = -0.04  # planted log-rate trend per period in treated areas, before and after roll-out


def make_trend_panel(log_effect, slope=SLOPE, seed=1, n_areas=80, n_periods=24, base_rate=50.0):
    """A staggered panel whose treated areas drift on a linear trend, plus a planted effect.

    The trend runs through the whole panel (it is relative to each area's start), so it keeps
    going after roll-out exactly as before: the case Delta^RM(Mbar = 1) describes.
    """
    panel = make_synthetic_panel(n_areas, n_periods, irr=1.0, share_treated=0.5, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    first = panel[panel[ACTIVE] > 0].groupby("area_id")["period_index"].min()
    start = panel["area_id"].map(first)
    trend = (slope * (panel["period_index"] - start)).fillna(0.0)
    areas = panel["area_id"].unique()
    level = panel["area_id"].map(dict(zip(areas, rng.lognormal(0, 0.5, len(areas)), strict=True)))
    mu = base_rate * level * np.exp(trend + log_effect * panel[ACTIVE])
    panel["incidents"] = rng.poisson(mu.to_numpy())
    return panel


@pytest.fixture(scope="module")
def studies():
    return {
        effect: estimate_event_study(make_trend_panel(effect), "test-strategy", ACTIVE)
        for effect in (0.0, -0.4, -0.8, -1.5)
    }


def test_planted_pre_trend_fails_the_test_and_gets_a_breakdown_value(studies):
    for study in studies.values():
        assert study.pre_trend_failed
        assert math.isfinite(study.breakdown_m)
        assert any(c.startswith("Sensitivity (Rambachan-Roth)") for c in study.caveats())


def test_breakdown_is_small_when_the_trend_explains_the_estimate(studies):
    # No effect at all: the whole estimate is the trend continuing (Mbar = 1 describes it).
    assert studies[0.0].breakdown_m < 0.5
    assert "could explain it" in describe_breakdown(studies[0.0].breakdown_m)


def test_breakdown_is_large_when_the_effect_is_big_relative_to_the_trend(studies):
    assert studies[-1.5].breakdown_m > 1.5
    assert "would not explain it" in describe_breakdown(studies[-1.5].breakdown_m)


def test_breakdown_grows_with_the_effect_size(studies):
    values = [studies[e].breakdown_m for e in (0.0, -0.4, -0.8, -1.5)]
    assert values == sorted(values) and values[0] < values[-1]


@pytest.mark.parametrize("effect", [0.0, -1.5])
def test_robust_interval_at_m_1_covers_the_planted_effect(studies, effect):
    # The planted trend changes by SLOPE each period before and after roll-out, so the
    # restriction holds at Mbar = 1 and the robust interval must hold the true average effect.
    low, high = studies[effect].breakdown.robust_interval(1.0)
    assert low <= effect <= high


def test_robust_interval_just_reaches_zero_at_the_breakdown_value(studies):
    found = studies[-0.8].breakdown
    m = found.m
    assert not found.robust_interval(m)[0] <= 0 <= found.robust_interval(m)[1]
    assert found.robust_interval(m + 0.02)[1] >= 0  # includes 0 just above it


def test_breakdown_is_zero_when_the_interval_already_includes_no_change():
    study = estimate_event_study(make_trend_panel(0.0, slope=0.0, seed=3), "s", ACTIVE)
    found = study.compute_breakdown()
    assert found.robust_interval(0.0)[0] <= 0 <= found.robust_interval(0.0)[1]
    assert found.m == 0.0
    assert "breakdown M = 0" in describe_breakdown(found.m)


def test_no_breakdown_is_shown_when_the_pre_trend_test_passes():
    study = estimate_event_study(make_trend_panel(-0.5, slope=0.0, seed=4), "s", ACTIVE)
    assert not study.pre_trend_failed
    assert math.isnan(study.breakdown_m)
    assert describe_breakdown(study.breakdown_m) == ""


def test_effects_table_carries_breakdown_and_standard_error_next_to_the_headline():
    panel = make_trend_panel(-1.5, seed=2, n_areas=60)
    effects = estimate_mission_effects(panel, strategies=["test-strategy"])
    study = effects.event_studies["test-strategy"]
    table = to_effects_table(effects)
    deployment = table[table["estimand"] == "deployment"]
    assert (deployment["breakdown_m"] == study.breakdown_m).all()
    headline = deployment[deployment["headline"]].iloc[0]
    assert headline["breakdown_m"] > 1
    assert describe_breakdown(headline["breakdown_m"]) in headline["caveats"]
    est = effects.headline("test-strategy")
    assert headline["se_log_irr"] == pytest.approx(est.se_log_irr, abs=1e-6)
    assert pd.isna(table.loc[table["estimand"].str.startswith("dose"), "breakdown_m"]).all()
    hidden = to_effects_table(effects, min_count=10**9)
    assert hidden[["se_log_irr", "breakdown_m"]].isna().all().all()


def test_breakdown_table_shows_every_study_and_marks_what_goes_to_effects_csv(studies):
    from protection_eval.effects.event_study import to_breakdown_table

    passing = estimate_event_study(make_trend_panel(-0.5, slope=0.0, seed=4), "s", ACTIVE)
    table = to_breakdown_table({"failed": studies[-1.5], "passed": passing}).set_index(
        "strategy_id"
    )
    assert table.loc["failed", "in_effects_csv"] and not table.loc["passed", "in_effects_csv"]
    assert table.loc["failed", "breakdown_m"] == studies[-1.5].breakdown_m
    assert table.loc["passed", "breakdown_m"] > 0  # computed, just not shared
    assert table.loc["failed", "reading"] == describe_breakdown(studies[-1.5].breakdown_m)
