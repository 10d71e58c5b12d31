"""The within-reach ratio (presence_effect.py) recovers a planted ratio, on hand-made missions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from protection_eval.coverage.index import evaluate_coverage
from protection_eval.coverage.models import COVERAGE_MODELS, CoverageParams
from protection_eval.effects.count_models import NotEstimable, fit_count_model
from protection_eval.effects.within_reach import (
    PRESENCE_ESTIMAND,
    _fit_mixture,
    compute_presence_effect,
    make_control_points,
)
from protection_eval.engine import use_engine

CRS = "EPSG:32636"
TZ = "Africa/Juba"
MONTHS = pd.period_range("2022-01", "2022-04", freq="M")
PARAMS = CoverageParams(radius_m=3_000.0, window_h=72.0, timezone=TZ)
TRACKS = COVERAGE_MODELS["tracks"]


def make_areas(n_side: int = 3, size_m: float = 10_000.0) -> gpd.GeoDataFrame:
    """A n_side x n_side grid of square areas."""
    boxes = [
        shapely.box(300_000 + i * size_m, 500_000 + j * size_m,
                    300_000 + (i + 1) * size_m, 500_000 + (j + 1) * size_m)
        for j in range(n_side) for i in range(n_side)
    ]
    return gpd.GeoDataFrame({"area_id": [f"A{k}" for k in range(len(boxes))]},
                            geometry=boxes, crs=CRS)


def make_tracks(areas: gpd.GeoDataFrame, rng: np.random.Generator, per_area_month: int = 10
                ) -> gpd.GeoDataFrame:
    """Patrols standing 6 hours at a random point of an area, a fix every 30 minutes."""
    controls = make_control_points(areas, MONTHS, per_area_month, rng, timezone=TZ)
    steps = np.arange(13) * pd.Timedelta(minutes=30)
    rows = controls.loc[controls.index.repeat(len(steps))].reset_index(drop=True)
    rows["recorded_at"] = rows["occurred_at"] + np.tile(steps, len(controls))
    rows["patrol_id"] = np.repeat([f"P{i}" for i in range(len(controls))], len(steps))
    return gpd.GeoDataFrame(rows[["patrol_id", "recorded_at"]], geometry=rows.geometry.array,
                            crs=CRS)


def make_incidents(
    theta: float, seed: int = 3, per_area_month: int = 100, date_only: bool = False
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict]:
    """Uniform candidate incidents, kept with probability theta when a patrol was within reach."""
    rng = np.random.default_rng(seed)
    areas = make_areas()
    tables = {"patrol_tracks": make_tracks(areas, rng), "patrols": None, "bases": None}
    cand = make_control_points(areas, MONTHS, per_area_month, rng, timezone=TZ)
    covered = TRACKS.cover(cand, tables, PARAMS)["covered"].to_numpy(dtype=bool)
    keep = ~covered | (rng.random(len(cand)) < theta)
    inc = cand.loc[keep].drop(columns="period").reset_index(drop=True)
    inc["incident_id"] = [f"I{i}" for i in range(len(inc))]
    inc["location_precision"] = "exact"
    inc["time_precision"] = "time"
    if date_only:
        local = inc["occurred_at"].dt.tz_convert(TZ).dt.normalize()
        inc["occurred_at"] = local.dt.tz_convert("UTC")
        inc["time_precision"] = "day"
    return inc, areas, tables


def estimate(inc, areas, tables, **kwargs):
    return compute_presence_effect(inc, areas, tables, TRACKS, PARAMS, MONTHS, seed=1, **kwargs)


def test_control_points_fall_inside_the_polygon_and_the_local_month():
    triangle = gpd.GeoDataFrame({"area_id": ["T"]},
                                geometry=[shapely.Polygon([(0, 0), (1000, 0), (0, 1000)])],
                                crs=CRS)
    points = make_control_points(triangle, MONTHS, 500, np.random.default_rng(0), timezone=TZ)
    assert len(points) == 500 * len(MONTHS)
    assert shapely.contains_xy(triangle.geometry.iloc[0], points.geometry.x,
                               points.geometry.y).all()
    local_month = points["occurred_at"].dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M")
    assert (local_month.dt.start_time == points["period"]).all()
    # Uniform over the triangle: the mean x is a third of the side.
    assert abs(points.geometry.x.mean() - 1000 / 3) < 15


def test_control_points_are_reproducible_from_the_seed():
    areas = make_areas(2)
    a = make_control_points(areas, MONTHS, 20, np.random.default_rng(9), timezone=TZ)
    b = make_control_points(areas, MONTHS, 20, np.random.default_rng(9), timezone=TZ)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


@pytest.mark.parametrize("theta", [0.5, 1.0])
def test_planted_ratio_is_recovered_with_exact_times(theta):
    result = estimate(*make_incidents(theta))
    est = result.estimate
    assert (est.strategy_id, est.estimand) == ("patrol-presence", PRESENCE_ESTIMAND)
    assert est.model == "poisson_fe_offset"
    assert est.ci_low <= theta <= est.ci_high, est.to_frame().T
    assert est.ci_high / est.ci_low < 2.0
    assert result.strata["used"].sum() == len(MONTHS) * 9


def test_planted_ratio_is_recovered_with_date_only_incidents():
    inc, areas, tables = make_incidents(0.5, date_only=True)
    est = estimate(inc, areas, tables).estimate
    assert est.model == "conditional_mixture"
    assert est.ci_low <= 0.5 <= est.ci_high, est.to_frame().T
    assert any("date only" in c for c in est.caveats)


def test_mixture_likelihood_equals_the_poisson_model_when_every_share_is_0_or_1():
    rng = np.random.default_rng(4)
    strata = pd.DataFrame({"area_id": np.repeat([f"A{i}" for i in range(12)], 3),
                           "stratum": np.arange(36).astype(str),
                           "p": rng.uniform(0.1, 0.6, 36)})
    n = rng.poisson(30, 36)
    cov = rng.binomial(n, 0.6 * strata["p"] / (0.6 * strata["p"] + 1 - strata["p"]))
    long = pd.concat([
        strata.assign(y=cov, x=1.0, off=np.log(strata["p"])),
        strata.assign(y=n - cov, x=0.0, off=np.log1p(-strata["p"])),
    ], ignore_index=True)
    fit = fit_count_model(long, "y", ["x"], fixed_effects=("stratum",), offset="off",
                          cluster="area_id")
    share = np.concatenate(
        [np.r_[np.ones(c), np.zeros(m - c)] for c, m in zip(cov, n, strict=True)]
    )
    p = np.repeat(strata["p"].to_numpy(), n)
    areas = np.repeat(strata["area_id"].to_numpy(), n)
    beta, se, _ = _fit_mixture(share, p, areas)
    assert beta == pytest.approx(fit.params["x"], abs=1e-6)
    # Same sandwich; fit_count_model's small-sample factor also counts the 36 stratum effects.
    nobs, k = len(long), 37
    assert se == pytest.approx(float(fit.model.bse["x"]) * np.sqrt((nobs - k) / (nobs - 1)),
                               rel=1e-4)


def test_imprecise_incidents_are_left_out_and_said_so():
    inc, areas, tables = make_incidents(0.5)
    inc.loc[inc.index[:7], "location_precision"] = "admin1"
    result = estimate(inc, areas, tables)
    assert result.estimate.n_incidents == len(inc) - 7
    assert any(n.startswith(f"7 of {len(inc)} incidents left out") for n in result.notes)
    # The shared caveat says it without the count (a count under k cannot go out).
    left_out = [c for c in result.estimate.caveats if "left out" in c]
    assert left_out and not any(ch.isdigit() for ch in left_out[0])


def test_no_incident_within_reach_is_not_estimable_rather_than_zero():
    with pytest.raises(NotEstimable, match="one side of reach"):
        estimate(*make_incidents(0.0))


def test_no_patrol_anywhere_is_not_estimable():
    inc, areas, tables = make_incidents(0.5)
    tables = {**tables, "patrol_tracks": tables["patrol_tracks"].iloc[:0]}
    with pytest.raises(NotEstimable, match="no area-month"):
        estimate(inc, areas, tables)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """The three demo missions at scale 0.4 (seed 7), with their ground truth."""
    from protection_eval.demo import make_demo_missions
    from protection_eval.io.writers import read_json

    folder = tmp_path_factory.mktemp("demo_presence")
    configs = {p.stem: p for p in make_demo_missions(folder, seed=7, scale=0.4)}
    truths = {m: read_json(folder / f"demo-{m[-1].lower()}" / "ground_truth.json")
              for m in configs}
    return configs, truths


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mission", "model", "caveat"),
    [("DEMO-A", "poisson_fe_offset", "within reach of a patrol"),
     ("DEMO-B", "conditional_mixture", "All incidents have a date only"),
     ("DEMO-C", "poisson_fe_offset", "Bases only")],
)
def test_demo_interval_contains_the_planted_presence_ratio(small_demo, mission, model, caveat):
    from protection_eval.effects.within_reach import estimate_presence_effect
    from protection_eval.runs.missions import load_mission

    configs, truths = small_demo
    planted = truths[mission]["patrol_presence"]["irr_covered"]
    est = estimate_presence_effect(load_mission(configs[mission])).estimate
    assert est.ci_low <= planted <= est.ci_high, est.to_frame().T
    assert est.model == model
    assert any(caveat in c for c in est.caveats)


@pytest.mark.slow
def test_demo_effects_table_holds_one_shareable_presence_row(small_demo):
    from protection_eval.effects.mission import EFFECTS_CSV_COLUMNS, estimate_mission
    from protection_eval.runs.missions import load_mission
    from protection_eval.sharing.forms import to_effects_table

    configs, _ = small_demo
    effects = estimate_mission(load_mission(configs["DEMO-A"]), strategies="firewood-escorts")
    table = to_effects_table(effects)
    assert list(table.columns) == EFFECTS_CSV_COLUMNS
    rows = table[(table["strategy_id"] == "patrol-presence")
                 & (table["estimand"] == PRESENCE_ESTIMAND)]
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["design"] == "space_time_controls"
    assert row["n_incidents"] >= 100
    assert row["caveats"].startswith("Reported is not occurred")
    assert len(effects.table(PRESENCE_ESTIMAND)) == 1


class _RecordingEngine:
    """Runs coverage here, recording the evaluation it was given (or the full one instead)."""

    def __init__(self, full: bool) -> None:
        self.full = full
        self.locals: list = []

    def evaluate_coverage(self, qx, qy, q_start, q_end, moves, radius, *, search, local):
        self.locals.append(local)
        run = evaluate_coverage if self.full else local
        return run(qx, qy, q_start, q_end, moves, radius, search=search)


def test_points_of_the_ratio_stop_at_their_first_hit_and_give_the_full_evaluation_s_answer():
    inc, areas, tables = make_incidents(0.5, date_only=True)
    fast, full = _RecordingEngine(full=False), _RecordingEngine(full=True)
    with use_engine(fast):
        quick = estimate(inc, areas, tables)
    with use_engine(full):
        slow = estimate(inc, areas, tables)
    # Incidents, the moments of their days and the control points: each covered-only.
    assert len(fast.locals) == 3
    assert all(local.keywords == {"covered_only": True} for local in fast.locals)
    pd.testing.assert_frame_equal(quick.strata, slow.strata, check_exact=True)
    pd.testing.assert_frame_equal(quick.estimate.to_frame(), slow.estimate.to_frame(),
                                  check_exact=True)
