"""Planning next month's patrols (issue 30): allocation, randomisation, power, closing the loop."""

from __future__ import annotations

import dataclasses
import html
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.effects.count_models import fit_count_model
from protection_eval.effects.mission import EFFECTS_CSV_COLUMNS
from protection_eval.hexgrid import cell_centres
from protection_eval.model import to_local_month
from protection_eval.planning import (
    PLAN_ESTIMAND,
    PlanOptions,
    allocate_patrols,
    count_history,
    estimate_randomised_effect,
    estimate_risk,
    paired_estimates,
    plan_month,
)
from protection_eval.planning.power import compute_paired_mde
from protection_eval.runs.layout import RESTRICTED, plan_dir
from protection_eval.runs.missions import load_mission
from protection_eval.runs.plans import (
    append_effects,
    estimate_stored_plans,
    make_plan,
    write_plan,
)
from protection_eval.sharing.disclosure import DisclosureError, adaptive_cells
from protection_eval.sharing.forms import PLAN_CSV_COLUMNS, to_shared_plan, to_shared_plan_map
from protection_eval.sharing.offline import find_external_requests

MONTH = "2023-06"
FAST = PlanOptions(simulations=200, wedge_simulations=10)


@pytest.fixture(scope="module")
def demo_a(demo_missions):
    return load_mission(demo_missions[0])


@pytest.fixture(scope="module")
def plan_a(demo_a):
    return make_plan(demo_a, MONTH, FAST)


@pytest.fixture(scope="module")
def history_a(demo_a):
    return count_history(demo_a, MONTH, FAST)


def _allocate(history, seed, budget=None):
    risk = estimate_risk(history, FAST, coarsen=adaptive_cells, k=5)
    return allocate_patrols(history, risk, FAST.with_changes(seed=seed), radius_m=2000.0,
                            window_h=72.0, budget_hours=budget or history.budget_hours())


# --- allocation and randomisation ---------------------------------------------------------------

def test_the_history_gives_each_patrols_hours_to_every_local_month_it_overlaps(
        demo_a, history_a):
    # The one definition of patrol-hours, worked out here patrol by patrol with wall-clock
    # times: a patrol across a month's end counts in both months.
    zone = demo_a.config.timezone
    start = demo_a.patrols["started_at"].dt.tz_convert(zone).dt.tz_localize(None)
    end = demo_a.patrols["ended_at"].dt.tz_convert(zone).dt.tz_localize(None)
    for month, flown in history_a.patrol_hours.items():
        first, after = month.start_time, (month + 1).start_time
        overlap = (end.clip(upper=after) - start.clip(lower=first)).dt.total_seconds()
        assert flown == pytest.approx(overlap.clip(lower=0).sum() / 3600, rel=1e-12)
    across = (start.dt.to_period("M") != (end - pd.Timedelta("1ns")).dt.to_period("M")).sum()
    assert across > 0  # the demo has patrols across a month's end: the test can tell


def test_a_history_with_no_place_at_k_reports_is_refused_in_words_not_a_traceback(history_a):
    """Found on CAR (UCDP, real data): too few reports anywhere crashed the risk estimate."""
    total = int(history_a.cell_totals.sum())
    with pytest.raises(ValueError, match=r"no place had \d+ or more reports .*history_months"):
        estimate_risk(history_a, FAST, coarsen=adaptive_cells, k=total + 1)


def test_same_seed_gives_the_same_plan(history_a):
    first, again = _allocate(history_a, 3), _allocate(history_a, 3)
    pd.testing.assert_frame_equal(first.units, again.units)


def test_another_seed_changes_only_randomised_units(history_a):
    plans = [_allocate(history_a, seed) for seed in range(6)]
    base = plans[0].units
    assert base["randomised"].sum() >= 4
    changed = np.zeros(len(base), dtype=bool)
    for other in plans[1:]:
        pd.testing.assert_series_equal(other.units["randomised"], base["randomised"])
        diff = (other.units["planned"] != base["planned"]).to_numpy()
        assert not (diff & ~base["randomised"].to_numpy()).any()
        changed |= diff
    # the seed does choose: some randomised unit is patrolled under one seed and not another
    assert changed.any()


def test_each_pair_patrols_exactly_one_unit_of_near_tied_value(history_a):
    plan = _allocate(history_a, 1)
    units = plan.units[plan.units["randomised"]]
    for _, pair in units.groupby("block"):
        assert sorted(pair["arm"]) == ["no patrol", "patrol"]
        assert pair["planned"].sum() == 1
        low, high = sorted(pair["benefit_per_hour"])
        assert high / low <= 1 + FAST.margin + 1e-9


def test_no_unit_clearly_above_the_near_ties_is_denied_a_patrol(history_a):
    plan = _allocate(history_a, 2)
    units = plan.units
    clearly = units["optimal"] & (units["benefit_per_hour"] > plan.cutoff * (1 + FAST.margin))
    assert clearly.sum() >= 3
    assert units.loc[clearly, "planned"].all()
    assert units["planned_hours"].sum() <= plan.budget_hours + 1e-6


def test_unreachable_units_get_no_hours(history_a):
    far = dataclasses.replace(history_a, bases=history_a.bases.assign(
        x=history_a.bases["x"] - 200_000.0))  # every base moved 200 km west
    plan = _allocate(far, 0)
    assert not plan.units["reachable"].any()
    assert plan.units["planned_hours"].sum() == 0


def test_integer_programme_matches_enumeration_of_a_small_knapsack(history_a):
    # 12 units with the largest risk, a budget that fits about a third of them: every subset
    # enumerated (an independent computation) gives the same best value as HiGHS.
    risk = estimate_risk(history_a, FAST)
    top = risk.cells.nlargest(12, "risk")["h3_cell"]
    keep = history_a.cells["h3_cell"].isin(top).to_numpy()
    small = dataclasses.replace(history_a, cells=history_a.cells[keep].reset_index(drop=True),
                                counts=history_a.counts[keep])
    risk_small = dataclasses.replace(risk, cells=risk.cells[keep].reset_index(drop=True))
    plan = allocate_patrols(small, risk_small, FAST.with_changes(margin=0.0), radius_m=2000.0,
                            window_h=72.0, budget_hours=1.0)
    units = plan.units
    cost, value = units["cost_h"].to_numpy(), units["benefit"].to_numpy()
    budget = cost.sum() / 3
    plan = allocate_patrols(small, risk_small, FAST.with_changes(margin=0.0), radius_m=2000.0,
                            window_h=72.0, budget_hours=budget)
    best = max(value[list(s)].sum() for r in range(13) for s in itertools.combinations(range(12), r)
               if cost[list(s)].sum() <= budget)
    assert plan.units.loc[plan.units["optimal"], "benefit"].sum() == pytest.approx(best)


# --- disclosure ------------------------------------------------------------------------------

def test_plan_depends_only_on_counts_of_the_shared_units(history_a):
    # Move one report between two hexagons that are merged into one shared unit (each holding
    # from 1 to k-1): every shown count is the same, so the plan must be too.
    totals = history_a.cell_totals
    reported = totals[totals > 0]
    units = adaptive_cells(pd.Series(reported.index), pd.Series(reported.to_numpy()), 5)
    merged = units[units.str.len() > 0].groupby(units.to_numpy()).filter(lambda g: len(g) >= 2)
    pooled = merged.groupby(merged.to_numpy()).head(2)
    pairs = pooled.groupby(pooled.to_numpy())
    donor_cell, taker_cell = next(
        (reported.index[g.index[0]], reported.index[g.index[1]]) for _, g in pairs
        if reported.iloc[g.index[0]] >= 2 and reported.iloc[g.index[1]] + 1 < 5
        and g.iloc[0] != reported.index[g.index[0]])
    counts = history_a.counts.copy()
    rows = {c: i for i, c in enumerate(history_a.cells["h3_cell"])}
    month = int(np.flatnonzero(counts[rows[donor_cell]])[0])
    counts[rows[donor_cell], month] -= 1
    counts[rows[taker_cell], month] += 1
    moved = dataclasses.replace(history_a, counts=counts)
    a, b = _allocate(history_a, 0), _allocate(moved, 0)
    pd.testing.assert_frame_equal(a.units, b.units)
    # without the shared units the same move changes the risk
    raw_a, raw_b = estimate_risk(history_a, FAST), estimate_risk(moved, FAST)
    assert not np.allclose(raw_a.cells["risk"], raw_b.cells["risk"])


def test_a_plan_made_from_unmerged_counts_cannot_be_shared(demo_a):
    plan = plan_month(demo_a, MONTH, FAST, evaluation=False)
    with pytest.raises(DisclosureError, match="shared units"):
        to_shared_plan(plan)


# --- power ---------------------------------------------------------------------------------------

def _pair_frame(y_t, y_c, r_t, r_c):
    n = len(y_t)
    return pd.DataFrame({
        "block": np.repeat(np.arange(n), 2).astype(str), "h3_cell": np.arange(2 * n).astype(str),
        "month": "2023-06", "patrolled": np.tile([1.0, 0.0], n),
        "reports": np.column_stack([y_t, y_c]).ravel().astype(float),
        "log_risk": np.log(np.column_stack([r_t, r_c]).ravel()),
    })


def test_closed_form_pair_estimate_equals_the_count_model_fit():
    rng = np.random.default_rng(4)
    y_t, y_c = rng.poisson(3, 14), rng.poisson(4, 14)
    r_t, r_c = rng.uniform(0.5, 2, 14), rng.uniform(0.5, 2, 14)
    beta, se, clusters = paired_estimates(y_t[None], y_c[None], r_t[None], r_c[None])
    data = _pair_frame(y_t, y_c, r_t, r_c)
    fit = fit_count_model(data, "reports", ["patrolled"], fixed_effects=("block",),
                          offset="log_risk", cluster="block")
    row = fit.to_frame().set_index("term").loc["patrolled"]
    assert beta[0] == pytest.approx(row["coef"], abs=1e-8)
    assert se[0] == pytest.approx(row["std_err"], rel=1e-6)
    assert clusters[0] == int(((y_t + y_c) > 0).sum())


def test_minimum_detectable_ratio_agrees_with_brute_force_simulation(history_a):
    plan = _allocate(history_a, 0)
    pairs = plan.units[plan.units["randomised"]].sort_values(["block", "h3_cell"])
    risk = np.asarray([g["risk"].to_numpy() for _, g in pairs.groupby("block")])
    # A busier history than the small demo's: overdispersed counts, 12 months per unit.
    gen = np.random.default_rng(12)
    counts = gen.poisson(gen.gamma(2.0, 3.0, (len(risk), 2, 12)))
    found = compute_paired_mde(counts, risk, simulations=600, seed=1, horizons=(1,))
    assert found.mde_irr is not None and 0.2 < found.mde_irr < 1
    # Brute force: simulate months as the design says and fit the project's estimator on each.
    rng = np.random.default_rng(99)
    n, hits = 300, 0
    for _ in range(n):
        month = rng.integers(counts.shape[2])
        flip = rng.integers(0, 2, len(counts)).astype(bool)
        y = counts[:, :, month]
        y_t, y_c = np.where(flip, y[:, 0], y[:, 1]), np.where(flip, y[:, 1], y[:, 0])
        r_t, r_c = np.where(flip, risk[:, 0], risk[:, 1]), np.where(flip, risk[:, 1], risk[:, 0])
        y_t = rng.binomial(y_t, found.mde_irr)
        assignments = pd.DataFrame({
            "month": "2023-06", "block": np.repeat(np.arange(len(y)), 2).astype(str),
            "h3_cell": np.arange(2 * len(y)).astype(str),
            "arm": np.tile(["patrol", "no patrol"], len(y)),
            "risk": np.column_stack([r_t, r_c]).ravel()})
        reports = pd.Series(np.column_stack([y_t, y_c]).ravel(), index=pd.MultiIndex.from_arrays(
            [assignments["month"], assignments["h3_cell"]]))
        try:
            est = estimate_randomised_effect(assignments, reports)
        except Exception:
            continue
        hits += int(est.irr < 1 and est.p_value < 0.05)
    brute = hits / n
    error = np.sqrt(0.8 * 0.2 / n + found.mc_se ** 2)
    assert abs(brute - found.power) < 3 * error, (brute, found.mde_irr)


# --- closing the loop ---------------------------------------------------------------------------

def _simulate_month(mission, plan, irr, seed, per_unit=12.0):
    """Replace the planned month's reports in the randomised units by Poisson draws."""
    rng = np.random.default_rng(seed)
    units = plan.plan.units[plan.plan.units["randomised"]]
    mean = per_unit * units["risk"] / units["risk"].mean()
    counts = rng.poisson(mean * np.where(units["arm"] == "patrol", irr, 1.0))
    centres = cell_centres(units["h3_cell"])
    start = pd.Period(MONTH, freq="M").start_time.tz_localize("UTC")
    rows = []
    for (cell, n), point in zip(zip(units["h3_cell"], counts, strict=True), centres,
                                strict=True):
        for i in range(n):
            rows.append({"incident_id": f"SIM-{cell}-{i}", "longitude": point.x,
                         "latitude": point.y, "occurred_at": start + pd.Timedelta(
                             hours=float(rng.uniform(24, 24 * 28))),
                         "location_precision": "exact", "time_precision": "time"})
    sim = pd.DataFrame(rows)
    incidents = mission.incidents
    local = to_local_month(incidents["occurred_at"], mission.config.timezone)
    kept = incidents[(local != pd.Period(MONTH, freq="M")).to_numpy()]
    # Canonical incidents are coordinates (no geometry column): the simulated rows too.
    merged = pd.concat([kept, sim], ignore_index=True)
    return dataclasses.replace(mission, incidents=merged)


def test_planted_patrol_effect_is_recovered_from_the_randomised_units(demo_a, tmp_path):
    plan = make_plan(demo_a, MONTH, FAST.with_changes(seed=4))
    assert plan.plan.units["randomised"].sum() >= 10
    folder = plan_dir(tmp_path / demo_a.config.mission, MONTH)
    write_plan(plan, demo_a, shared_dir=None, restricted_dir=folder / RESTRICTED)
    # One simulated month is one draw: with a dozen randomised pairs its interval excludes 1
    # about half the time. Eight months show the halving recovered: intervals that hold it and
    # ratios centred on it (their geometric mean near 0.5, far from 1).
    ratios, covered = [], 0
    for seed in range(8):
        simulated = _simulate_month(demo_a, plan, 0.5, seed=seed)
        found = estimate_stored_plans(simulated, tmp_path / demo_a.config.mission)
        est = found.estimate
        assert found.months == [MONTH]
        assert est.estimand == PLAN_ESTIMAND
        covered += est.ci_low <= 0.5 <= est.ci_high
        ratios.append(est.irr)
    assert covered >= 7
    assert 0.35 <= np.exp(np.mean(np.log(ratios))) <= 0.7


def test_no_stored_plan_means_no_row_and_says_why(demo_a, tmp_path):
    found = estimate_stored_plans(demo_a, tmp_path / "nowhere")
    assert found.estimate is None and found.estimates == []
    assert found.notes == ["no stored plan has passed"]


# --- backtest -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_a_full(tmp_path_factory):
    """DEMO-A at full size, as docs/validity.md backtests it (the small demo flies one patrol
    a day: too few hours for a plan's trips, see docs/planning.md)."""
    from protection_eval.demo import make_demo_missions

    folder = tmp_path_factory.mktemp("demo-full")
    return load_mission(make_demo_missions(folder, seed=11, missions=("DEMO-A",))[0])


@pytest.mark.slow
def test_backtest_on_demo_a_plan_covers_at_least_the_reports_the_patrols_flown_did(demo_a_full):
    plan = make_plan(demo_a_full, MONTH, FAST)
    b = plan.backtest
    assert b is not None and b.month == MONTH and b.reports > 0
    assert b.covered_share_plan >= b.covered_share_actual
    assert plan.routes.hours <= plan.budget_hours * 1.001


def test_evaluation_design_holds_power_and_no_count(demo_a, plan_a):
    plan = plan_a
    design = plan.design.to_dict()
    text = json.dumps(design)
    assert design["pairs"] == plan.plan.units["randomised"].sum() // 2
    assert set(design["mde_irr_by_months"]) == {"1", "3", "6", "12"}
    assert "no unit is denied a patrol it would clearly have got" in design["equipoise"]
    assert "incidents_total" not in text and "n_incidents" not in text
    schedule = pd.DataFrame(design["stepped_wedge"]["schedule"])
    assert sorted(schedule["area_id"]) == sorted(demo_a.areas["area_id"])
    assert schedule.groupby("step").size().max() - schedule.groupby("step").size().min() <= 1
    powers = [v for v in design["stepped_wedge"]["power_by_irr"].values() if v is not None]
    assert powers and all(0 <= v <= 1 for v in powers)


# --- the shared part -----------------------------------------------------------------------------

def test_plan_map_is_offline_and_in_the_missions_language(demo_a, plan_a):
    sharing = demo_a.config.sharing.model_copy(update={"language": "fr"})
    config = demo_a.config.model_copy(update={"sharing": sharing})
    page = to_shared_plan_map(plan_a, config, demo_a.areas).to_html()
    assert "Heures de patrouille prévues par hexagone" in page
    assert "juin 2023" in page
    assert "aucune unité n'est privée d'une patrouille" in html.unescape(page)
    assert find_external_requests(page) == []


def test_shared_plan_lists_patrolled_and_randomised_hexagons_only(plan_a):
    table = to_shared_plan(plan_a)
    units = plan_a.plan.units
    assert list(table.columns) == PLAN_CSV_COLUMNS
    assert len(table) == int((units["planned"] | units["randomised"]).sum())
    assert list(table["priority"]) == list(range(1, len(table) + 1))
    assert table["randomised"].sum() == units["randomised"].sum()
    assert table.loc[~table["randomised"], "planned_hours"].gt(0).all()


@pytest.mark.slow
def test_plan_command_writes_audited_files(demo_missions, tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(app, ["plan", str(demo_missions[2]), "--month", MONTH,
                                      "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no finding" in result.output
    assert sorted(p.name for p in (out / "shared").iterdir()) == [
        "evaluation_design.json", "plan.csv", "plan_map.html"]
    backtest = json.loads((out / "restricted" / "backtest.json").read_text())
    assert backtest["month"] == MONTH
    assert {"covered_share_plan", "covered_share_actual"} <= set(backtest)
    for name in ("risk.parquet", "plan_assignments.parquet", "plan_units.parquet"):
        assert (out / "restricted" / name).exists()


def test_the_randomised_ratio_is_added_to_a_runs_effects_tables(tmp_path):
    rng = np.random.default_rng(2)
    n = 20
    assignments = pd.DataFrame({
        "month": "2023-06", "block": np.repeat(np.arange(n), 2).astype(str),
        "h3_cell": np.arange(2 * n).astype(str), "arm": np.tile(["patrol", "no patrol"], n),
        "risk": 1.0})
    counts = rng.poisson(np.tile([3.0, 6.0], n))
    reports = pd.Series(counts, index=pd.MultiIndex.from_arrays(
        [assignments["month"], assignments["h3_cell"]]))
    estimate = estimate_randomised_effect(assignments, reports)
    assert estimate.irr == pytest.approx(counts[::2].sum() / counts[1::2].sum())
    shared, restricted = tmp_path / "shared", tmp_path / "restricted"
    shared.mkdir()
    before = pd.DataFrame({c: ["x"] for c in EFFECTS_CSV_COLUMNS})
    before.to_csv(shared / "effects.csv", index=False)
    append_effects([estimate], "DEMO-A", shared_dir=shared, restricted_dir=restricted)
    after = pd.read_csv(shared / "effects.csv")
    assert list(after.columns) == EFFECTS_CSV_COLUMNS
    assert list(after["estimand"]) == ["x", PLAN_ESTIMAND]
    full = pd.read_csv(restricted / "effects_full.csv")
    assert full.loc[0, "n_incidents"] == counts.sum()


def test_a_mission_without_patrols_is_refused_before_its_hexagons_are_counted(tmp_path,
                                                                             monkeypatch):
    """Found on the 2024 CRSV workbook against the world: notebook 07 spent 317 s counting
    millions of hexagons to then say that no patrol-hours were flown."""
    from test_realdata_car import car_mission

    from protection_eval.planning import history as history_module
    from protection_eval.planning import month as month_module

    mission = load_mission(car_mission(tmp_path))

    def counted(*args, **kwargs):
        raise AssertionError("the hexagons were counted before the budget was checked")

    monkeypatch.setattr(month_module, "count_history", counted)
    with pytest.raises(ValueError, match="no patrol-hours were flown in the three months "
                                         "before 2020-06"):
        month_module.plan_month(mission, "2020-06", FAST)
    assert history_module.flown_budget(mission, "2020-06", FAST) is None
