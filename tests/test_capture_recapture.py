"""Capture-recapture: Chapman, log-linear models, capture histories, and interval coverage."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from protection_eval.effects.capture_recapture import (
    compute_capture_histories,
    estimate_chapman,
    estimate_log_linear,
    estimate_population,
    estimate_under_reporting,
    has_finite_mle,
)
from protection_eval.effects.capture_validity import (
    SCENARIOS,
    CaptureScenario,
    compute_capture_coverage,
    simulate_histories,
)

# Issue 27: no incident reported by sources 1 and 3 alone (cell 101 is 0).
ZERO_CELL = {"100": 18, "010": 11, "001": 9, "110": 4, "101": 0, "011": 3, "111": 1}


def test_chapman_matches_the_formula_by_hand():
    # 60 and 50 reports, 20 of them the same incidents: N = 61 * 51 / 21 - 1 = 147.14,
    # 90 seen, so 57.14 unreported; Seber's variance 61*51*40*30 / (21^2 * 22) = 384.79.
    f0, low, high, var = estimate_chapman(60, 50, 20)
    assert f0 == pytest.approx(61 * 51 / 21 - 1 - 90)
    assert var == pytest.approx(61 * 51 * 40 * 30 / (21**2 * 22))
    c = np.exp(1.959964 * np.sqrt(np.log(1 + var / f0**2)))
    assert (low, high) == pytest.approx((f0 / c, f0 * c), rel=1e-5)
    assert 0 < low < f0 < high


def test_chapman_refuses_more_matches_than_reports():
    with pytest.raises(ValueError, match="matches 30"):
        estimate_chapman(20, 40, 30)


def _expected_counts(n: int, p: tuple[float, ...], referral: float = 1.0) -> dict[str, float]:
    """Exact expected capture-history counts (no noise), source 2 referred by source 1."""
    counts = {}
    for bits in itertools.product((0, 1), repeat=len(p)):
        prob = 1.0
        for i, b in enumerate(bits):
            q = p[i]
            if i == 1 and bits[0] == 1 and referral != 1.0:
                odds = q / (1 - q) * referral
                q = odds / (1 + odds)
            prob *= q if b else 1 - q
        counts["".join(map(str, bits))] = n * prob
    return counts


def test_log_linear_recovers_the_planted_unreported_count_under_independence():
    counts = _expected_counts(20_000, (0.3, 0.4, 0.5))
    unseen = counts.pop("000")  # 20,000 * 0.7 * 0.6 * 0.5 = 4,200
    f0, low, high, model = estimate_log_linear(counts)
    assert unseen == pytest.approx(4_200)
    assert f0 == pytest.approx(4_200, rel=1e-3)
    assert model == "independence"
    assert low < 4_200 < high


def test_log_linear_recovers_a_referral_that_chapman_would_miss():
    counts = _expected_counts(20_000, (0.3, 0.4, 0.5), referral=4.0)
    unseen = counts.pop("000")
    f0, low, high, model = estimate_log_linear(counts)
    assert model == "s1:s2"
    assert f0 == pytest.approx(unseen, rel=0.01)
    # Two sources alone, dependent, under-estimate: the referral looks like completeness.
    n1 = sum(v for h, v in counts.items() if h[0] == "1")
    n2 = sum(v for h, v in counts.items() if h[1] == "1")
    m = sum(v for h, v in counts.items() if h[:2] == "11")
    chapman_total = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    assert chapman_total < 0.9 * 20_000


def test_capture_histories_come_from_source_and_matched_sources():
    incidents = pd.DataFrame({
        "area_id": ["A1"] * 4 + ["A2"],
        "occurred_at": pd.to_datetime(["2022-01-05", "2022-02-05", "2022-03-05", "2022-04-05",
                                       "2022-01-05"], utc=True),
        "source": ["hr", "hr", "ngo", "hr", "hr"],
        "matched_sources": ["ngo", None, None, "ngo; police", None],
    })
    histories = compute_capture_histories(incidents, "Africa/Juba")
    q1 = histories[(histories["area_id"] == "A1") & (histories["quarter"].astype(str) == "2022Q1")]
    assert q1["sources"].unique().tolist() == ["hr; ngo"]
    assert dict(zip(q1["history"], q1["count"], strict=True)) == {"01": 1, "10": 1, "11": 1}
    q2 = histories[histories["quarter"].astype(str) == "2022Q2"]
    assert q2[["sources", "history", "count"]].values.tolist() == [["hr; ngo; police", "111", 1]]


def test_under_reporting_estimates_each_stratum_with_a_match_and_names_the_rest():
    rng = np.random.default_rng(3)
    rows, unseen = [], {}
    for area in ("A1", "A2"):
        caught = rng.random((200, 2)) < (0.5, 0.4)
        unseen[area] = int((~caught.any(axis=1)).sum())
        for a, b in caught[caught.any(axis=1)]:
            first = "hr" if a else "ngo"
            rows.append({"area_id": area, "occurred_at": pd.Timestamp("2022-02-01", tz="UTC"),
                         "source": first, "matched_sources": "ngo" if a and b else None})
    rows.append({"area_id": "A3", "occurred_at": pd.Timestamp("2022-02-01", tz="UTC"),
                 "source": "hr", "matched_sources": None})
    result = estimate_under_reporting(pd.DataFrame(rows), "UTC")
    frame = result.to_frame().set_index("area_id")
    assert sorted(frame.index) == ["A1", "A2"]
    assert (frame["method"] == "chapman").all()
    # 200 incidents each, seen by one source or both: the planted unreported are covered.
    planted = pd.Series(unseen)
    assert ((frame["ci_low"] <= planted) & (frame["ci_high"] >= planted)).all()
    assert frame["n_observed"].tolist() == [200 - unseen["A1"], 200 - unseen["A2"]]
    assert "closed population" in frame["assumptions"].iloc[0]
    assert result.notes == ["1 strata have one source only: not estimated"]


def test_three_sources_take_the_log_linear_model():
    counts = {h: int(round(v)) for h, v in _expected_counts(500, (0.4, 0.3, 0.35)).items()
              if h != "000"}
    est = estimate_population(counts, ["a", "b", "c"])
    assert est.method == "log_linear"
    assert est.total == pytest.approx(500, rel=0.05)
    assert any("pairwise" in a for a in est.assumptions)


@pytest.mark.parametrize("number", [1, 2])
def test_intervals_cover_the_planted_count_in_92_to_98_percent_of_200_simulations(number):
    # Two sources with 120 incidents (overlaps near 17) and three sources with 200: the
    # smallest strata of the study in docs/validity.md.
    table = compute_capture_coverage(200, seed=20261130, scenarios=(SCENARIOS[number],))
    assert 0.92 <= table["coverage"].iloc[0] <= 0.98
    assert table["mean_estimate"].iloc[0] == pytest.approx(
        table["mean_unreported_true"].iloc[0], rel=0.1)


def _poisson_loglik(x: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    eta = x @ beta
    return float(y @ eta - np.exp(eta).sum())


def test_a_zero_cell_leaves_the_two_chain_model_without_a_finite_estimate():
    # Columns: const, s1, s2, s3, s1:s2, s2:s3. Along d = (1, -1, -1, -1, 1, 1), x'd is 0 on
    # every history but 101 (where it is -1): the log-likelihood rises without end while the
    # unobserved history's count exp(const) goes to infinity. Independence has no such path.
    histories = list(ZERO_CELL)
    y = np.array([ZERO_CELL[h] for h in histories], dtype=float)
    bits = np.array([[int(c) for c in h] for h in histories], dtype=float)
    chain = np.column_stack([np.ones(7), bits, bits[:, 0] * bits[:, 1], bits[:, 1] * bits[:, 2]])
    d = np.array([1.0, -1, -1, -1, 1, 1])
    assert (chain @ d).tolist() == [0, 0, 0, 0, -1, 0, 0]
    start = np.array([np.log(20), 0, 0, 0, 0, 0])
    path = [_poisson_loglik(chain, y, start + t * d) for t in (0, 5, 10, 20, 40)]
    assert np.all(np.diff(path) > 0)
    assert not has_finite_mle(chain, y)
    assert has_finite_mle(chain[:, :4], y)
    assert has_finite_mle(chain, y + 1)


def test_zero_cell_counts_give_a_finite_plausible_estimate():
    f0, low, high, model = estimate_log_linear(ZERO_CELL)
    observed = sum(ZERO_CELL.values())
    # Chapman on each pair of sources gives 33, 121 and 9 unreported: the average of the models
    # with a finite estimate lies within that range, with a finite interval around it.
    assert model != "s1:s2 + s2:s3"
    assert 9 < f0 < 121
    assert 0 < low < f0 < high < 5 * observed


def test_three_sources_with_40_incidents_do_not_run_away():
    # Issue 27: with 40 incidents per stratum, 39 of 200 estimates exceeded 10 times the truth.
    scenario = CaptureScenario("small", 40, (0.35, 0.3, 0.3))
    rng = np.random.default_rng(27)
    ratios = []
    for _ in range(200):
        counts, unseen = simulate_histories(scenario, rng)
        est = estimate_population(counts, ["a", "b", "c"])
        ratios.append(est.unreported / max(unseen, 1))
    assert np.nanmax(ratios) < 10
    assert np.nanmedian(ratios) == pytest.approx(1, abs=0.3)


def test_a_source_that_reported_nothing_leaves_no_model_and_a_clear_refusal():
    est = estimate_population({"001": 6, "010": 4, "011": 2}, ["a", "b", "c"])
    assert est.refused == "unbounded"
    assert np.isnan(est.unreported) and est.model == "none"
    two = estimate_population({"10": 6, "01": 4}, ["a", "b"])
    assert two.refused == "no_match" and np.isnan(two.unreported)
