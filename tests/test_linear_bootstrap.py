"""The linear wild cluster restricted bootstrap against wildboottest, and the score bootstrap."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from wildboottest.wildboottest import wildboottest

from protection_eval.effects.linear_bootstrap import (
    compute_linear_wild_bootstrap,
    draw_linear_weights,
)
from protection_eval.effects.wild_bootstrap import compute_score_p_value


def make_linear_panel(
    n_areas: int, n_periods: int = 12, seed: int = 1, *, dose: bool = False
) -> pd.DataFrame:
    """Areas x periods with area and period effects, a covariate and a strategy in a third.

    With ``dose``, ``d`` is an intensity that varies in every area (patrol-hours, say).
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "area_id": np.repeat([f"a{i:02d}" for i in range(n_areas)], n_periods),
        "period_index": np.tile(np.arange(n_periods), n_areas),
    })
    area = np.repeat(np.arange(n_areas), n_periods)
    frame["d"] = ((area < n_areas // 3) & (frame["period_index"] >= 5)).astype(float)
    frame["x"] = rng.normal(size=len(frame))
    if dose:
        frame["d"] = rng.gamma(2.0, 1.0, len(frame)) + 0.2 * frame["x"]
    frame["y"] = (rng.normal(size=n_areas)[area] + 0.1 * frame["period_index"] + 0.3 * frame["x"]
                  + 0.2 * frame["d"] + rng.normal(size=len(frame)))
    return frame


def _wildboottest(frame: pd.DataFrame, weights: str, seed: int) -> tuple[float, float]:
    x = pd.get_dummies(frame[["d", "x", "area_id", "period_index"]].astype(
        {"period_index": str}), columns=["area_id", "period_index"], drop_first=True,
        dtype=float)
    model = sm.OLS(frame["y"], sm.add_constant(x))
    # wildboottest needs numeric cluster labels; sorted codes keep its cluster order.
    codes = pd.factorize(frame["area_id"], sort=True)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its note that 2^G < B turns on full enumeration
        table = wildboottest(model, B=999, cluster=codes, param="d", weights_type=weights,
                             seed=seed, show=False, parallel=False)
    return float(table["p-value"].iloc[0]), float(np.ravel(table["statistic"].iloc[0])[0])


@pytest.mark.parametrize(("n_areas", "weights", "enumerated"), [
    (20, "rademacher", False), (8, "rademacher", True), (10, "webb", False)])
def test_linear_wcr_gives_wildboottests_p_value_on_the_same_data_and_seed(
    n_areas, weights, enumerated
):
    frame = make_linear_panel(n_areas)
    p_ref, t_ref = _wildboottest(frame, weights, seed=7)
    ours = compute_linear_wild_bootstrap(frame, "y", "d", ["d", "x"],
                                         ["area_id", "period_index"], "area_id",
                                         weights=weights, n_boot=999, seed=7)
    assert ours.full_enumeration is enumerated
    assert ours.n_boot == (2**n_areas if enumerated else 999)
    assert ours.p_value == pytest.approx(p_ref, abs=1e-8)
    assert ours.t_stat == pytest.approx(t_ref, rel=1e-8)
    assert 0.01 < ours.p_value < 0.99  # a p-value that could have come out otherwise


def _linear_scores(frame: pd.DataFrame, nuisance: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each area's score and information for d at b0 = 0, nuisance partialled out by dummies."""
    parts = [np.ones((len(frame), 1))]
    for name in nuisance:
        if name == "x":
            parts.append(frame[["x"]].to_numpy(float))
        else:
            parts.append(pd.get_dummies(frame[name], drop_first=True, dtype=float).to_numpy())
    w = np.column_stack(parts)
    d, y = frame["d"].to_numpy(float), frame["y"].to_numpy(float)
    d_tilde = d - w @ np.linalg.lstsq(w, d, rcond=None)[0]
    u_restricted = y - w @ np.linalg.lstsq(w, y, rcond=None)[0]
    groups = pd.factorize(frame["area_id"], sort=True)[0]
    return (np.bincount(groups, weights=d_tilde * u_restricted),
            np.bincount(groups, weights=d_tilde**2))


def test_the_score_bootstrap_is_the_linear_wcr_only_when_area_effects_are_the_only_nuisance():
    # All 256 sign patterns of 8 areas. The score bootstrap's p-value counts the two patterns
    # that tie with the observed statistic (all plus, all minus), the WCR's does not: with area
    # effects alone the two tests agree but for those 2 / 256.
    frame = make_linear_panel(8, seed=3, dose=True)
    signs, _ = draw_linear_weights(8, 999, seed=0)
    only_areas = compute_linear_wild_bootstrap(frame, "y", "d", ["d"], ["area_id"], "area_id")
    scores, information = _linear_scores(frame, ["area_id"])
    score_p = compute_score_p_value(scores, information, signs.T, exact=True)
    assert score_p == pytest.approx(only_areas.p_value + 2 / 256, abs=1e-12)
    # Period effects and a covariate: the WCR re-estimates them in each draw, the score
    # bootstrap holds them at the restricted fit, and the p-values part.
    full = compute_linear_wild_bootstrap(frame, "y", "d", ["d", "x"],
                                         ["area_id", "period_index"], "area_id")
    scores, information = _linear_scores(frame, ["area_id", "period_index", "x"])
    score_p = compute_score_p_value(scores, information, signs.T, exact=True)
    assert abs(score_p - (full.p_value + 2 / 256)) > 0.01
