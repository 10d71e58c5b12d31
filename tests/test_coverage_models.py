"""Coverage models (routes, bases, registry), area measures, gaps and the mission result."""

from __future__ import annotations

import json

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, Point, box

from protection_eval.config import parse_period
from protection_eval.coverage.areas import compute_area_measures
from protection_eval.coverage.gaps import compute_gaps, is_gap, summarise_gaps
from protection_eval.coverage.models import (
    BasesModel,
    CoverageParams,
    NoPresenceModel,
    RoutesModel,
    TrackFixes,
    TracksModel,
    choose_coverage_model,
    tracks_to_movements,
)
from protection_eval.sharing.forms import to_shared_coverage_summary, to_shared_gaps

CRS = "EPSG:32633"
T0 = pd.Timestamp("2023-03-10 00:00", tz="UTC")
X0, Y0 = 500_000.0, 1_000_000.0


def make_incidents(rows, crs=CRS) -> gpd.GeoDataFrame:
    """Rows of (dx_m, dy_m, time after T0 as hours or an ISO string[, area_id])."""
    def when(value):
        return T0 + pd.Timedelta(hours=value) if not isinstance(value, str) else pd.Timestamp(
            value, tz="UTC")

    return gpd.GeoDataFrame(
        {
            "occurred_at": pd.Series([when(r[2]) for r in rows], dtype="datetime64[ns, UTC]"),
            "location_precision": "exact",
            "time_precision": "time",
            "area_id": [r[3] if len(r) > 3 else None for r in rows],
        },
        geometry=gpd.points_from_xy([X0 + r[0] for r in rows], [Y0 + r[1] for r in rows]),
        crs=crs,
    )


def make_patrols(rows, crs=CRS) -> gpd.GeoDataFrame:
    """Rows of (patrol_id, route vertices as [(dx, dy)...] or None, start h, end h[, women])."""
    return gpd.GeoDataFrame(
        {
            "patrol_id": [r[0] for r in rows],
            "started_at": pd.Series([T0 + pd.Timedelta(hours=r[2]) for r in rows],
                                    dtype="datetime64[ns, UTC]"),
            "ended_at": pd.Series([T0 + pd.Timedelta(hours=r[3]) for r in rows],
                                  dtype="datetime64[ns, UTC]"),
            "personnel": pd.array([10] * len(rows), dtype="Int64"),
            "women": pd.array([r[4] if len(r) > 4 else 2 for r in rows], dtype="Int64"),
        },
        geometry=[
            None if r[1] is None else LineString([(X0 + x, Y0 + y) for x, y in r[1]])
            for r in rows
        ],
        crs=crs,
    )


def make_bases(rows, crs=CRS) -> gpd.GeoDataFrame:
    """Rows of (base_id, dx, dy, valid_from, valid_to or None)."""
    return gpd.GeoDataFrame(
        {
            "base_id": [r[0] for r in rows],
            "valid_from": pd.to_datetime([r[3] for r in rows]),
            "valid_to": pd.to_datetime([r[4] for r in rows]),
            "personnel": pd.array([100] * len(rows), dtype="Int64"),
            "women": pd.array([20] * len(rows), dtype="Int64"),
        },
        geometry=gpd.points_from_xy([X0 + r[1] for r in rows], [Y0 + r[2] for r in rows]),
        crs=crs,
    )


def make_areas(population=(1_000.0, None)) -> gpd.GeoDataFrame:
    """Two 10 km squares side by side: A west of X0, B east of it."""
    return gpd.GeoDataFrame(
        {
            "area_id": ["A", "B"],
            "name": ["Area A", "Area B"],
            "population": pd.array(list(population), dtype="Float64"),
        },
        geometry=[box(X0 - 10_000, Y0 - 5_000, X0, Y0 + 5_000),
                  box(X0, Y0 - 5_000, X0 + 10_000, Y0 + 5_000)],
        crs=CRS,
    )


PARAMS = CoverageParams(radius_m=2_000.0, window_h=72.0)


# --- routes -------------------------------------------------------------------------------------


def test_route_positions_move_at_uniform_speed_from_start_to_end():
    # 10 km east in 10 h: at x=5 km at +5 h, at x=9 km at +9 h.
    patrols = make_patrols([("P1", [(0, 0), (10_000, 0)], 0, 10)])
    incidents = make_incidents([(5_000, 1_999, 6), (5_000, 2_001, 6), (9_000, 0, 5)])
    out = RoutesModel().cover(incidents, {"patrols": patrols}, PARAMS)
    assert out["covered"].tolist() == [True, False, False]
    # Within 2 km of (5000, 1999) while |x - 5000| <= 63.2 m, which ends at +5.0632 h.
    assert out["since_patrol_h"].iloc[0] == pytest.approx(6 - 5 - np.sqrt(2000**2 - 1999**2)
                                                          / 1000)


def test_route_with_several_vertices_shares_time_by_length():
    # 3 km north then 9 km east over 12 h: the corner is reached at +3 h.
    patrols = make_patrols([("P1", [(0, 0), (0, 3_000), (9_000, 3_000)], 0, 12)])
    incidents = make_incidents([(0, 3_000, 8.0), (0, 3_000, 0.9)])
    out = RoutesModel().cover(incidents, {"patrols": patrols}, PARAMS)
    # Within 2 km of the corner from +1 h (y = 1 km) to +5 h (x = 2 km).
    assert out["covered"].tolist() == [True, False]
    assert out["since_patrol_h"].iloc[0] == pytest.approx(3.0)


def test_patrol_without_route_is_ignored_by_the_routes_model():
    patrols = make_patrols([("P1", None, 0, 10), ("P2", [(50_000, 0), (50_001, 0)], 0, 1)])
    out = RoutesModel().cover(make_incidents([(0, 0, 5)]), {"patrols": patrols}, PARAMS)
    assert out["covered"].tolist() == [False]


def test_zero_length_route_is_presence_for_the_whole_patrol():
    patrols = make_patrols([("P1", [(0, 0), (0, 0)], 0, 10)])
    out = RoutesModel().cover(make_incidents([(1_000, 0, 12)]), {"patrols": patrols}, PARAMS)
    assert bool(out["covered"].iloc[0])
    assert out["since_patrol_h"].iloc[0] == pytest.approx(2.0)


# --- bases --------------------------------------------------------------------------------------


def test_base_covers_within_radius_on_valid_days_only():
    bases = make_bases([("B1", 0, 0, "2023-03-01", "2023-03-31")])
    incidents = make_incidents(
        [(1_999, 0, "2023-03-15T10:00"), (2_001, 0, "2023-03-15T10:00"),
         (0, 0, "2023-03-31T20:00"), (0, 0, "2023-04-01T01:00"), (0, 0, "2023-02-28T23:00")]
    )
    out = BasesModel().cover(incidents, {"bases": bases}, PARAMS)
    assert out["covered"].tolist() == [True, False, True, False, False]
    assert out["since_patrol_h"].iloc[0] == 0.0
    assert np.isnan(out["since_patrol_h"].iloc[1])


def test_base_validity_is_read_in_the_mission_time_zone():
    # 23:30 UTC on 31 March is 1 April in Juba (UTC+2): the base has closed.
    bases = make_bases([("B1", 0, 0, "2023-03-01", "2023-03-31")])
    incidents = make_incidents([(0, 0, "2023-03-31T23:30")])
    utc = BasesModel().cover(incidents, {"bases": bases}, PARAMS)
    juba = BasesModel().cover(incidents, {"bases": bases},
                              CoverageParams(timezone="Africa/Juba"))
    assert utc["covered"].tolist() == [True]
    assert juba["covered"].tolist() == [False]


def test_open_base_covers_after_its_start():
    bases = make_bases([("B1", 0, 0, "2023-03-01", None)])
    out = BasesModel().cover(make_incidents([(500, 0, "2024-06-01T12:00")]), {"bases": bases},
                             PARAMS)
    assert bool(out["covered"].iloc[0])
    assert out["nearest_m"].iloc[0] == pytest.approx(500.0)


# --- registry -----------------------------------------------------------------------------------


def test_model_is_chosen_by_what_the_mission_has():
    tracks = gpd.GeoDataFrame({"patrol_id": ["P1"], "recorded_at": [T0]},
                              geometry=[Point(X0, Y0)], crs=CRS)
    routed = make_patrols([("P1", [(0, 0), (1, 1)], 0, 1)])
    unrouted = make_patrols([("P1", None, 0, 1)])
    bases = make_bases([("B1", 0, 0, "2023-03-01", None)])
    assert isinstance(choose_coverage_model(
        {"patrols": routed, "patrol_tracks": tracks, "bases": bases}), TracksModel)
    assert isinstance(choose_coverage_model(
        {"patrols": routed, "patrol_tracks": None, "bases": bases}), RoutesModel)
    assert isinstance(choose_coverage_model(
        {"patrols": unrouted, "patrol_tracks": None, "bases": bases}), BasesModel)
    # No presence at all: coverage is unknown, never "not covered".
    none = choose_coverage_model({"patrols": unrouted, "patrol_tracks": None, "bases": None})
    assert isinstance(none, NoPresenceModel)
    incidents = gpd.GeoDataFrame({"occurred_at": [T0]}, geometry=[Point(X0, Y0)], crs=CRS)
    cover = none.cover(incidents, {"patrols": unrouted}, CoverageParams())
    assert cover["in_scope"].tolist() == [True] and cover["covered"].isna().all()
    assert len(none.presence({"patrols": unrouted}, CoverageParams())) == 0


# --- area measures ------------------------------------------------------------------------------


def area_measures(presence, incidents=None, areas=None):
    incidents = make_incidents([]) if incidents is None else incidents
    return compute_area_measures(
        presence, make_areas() if areas is None else areas, incidents, radius_m=2_000.0,
        start=pd.Timestamp("2023-03-01"), end=pd.Timestamp("2023-04-30"),
    ).set_index(["area_id", "period"])


def test_stationary_patrol_footprint_is_a_circle_share_of_the_area():
    patrols = make_patrols([("P1", [(-5_000, 0), (-5_000, 0)], 0, 10, 3)])
    presence = RoutesModel().presence({"patrols": patrols}, PARAMS)
    out = area_measures(presence)
    march = pd.Timestamp("2023-03-01")
    assert out.loc[("A", march), "footprint_share"] == pytest.approx(np.pi * 4 / 100, rel=2e-3)
    assert out.loc[("B", march), "footprint_share"] == 0.0
    assert out.loc[("A", pd.Timestamp("2023-04-01")), "footprint_share"] == 0.0
    assert out.loc[("A", march), "patrol_hours"] == pytest.approx(10.0)
    assert out.loc[("A", march), "women_share"] == pytest.approx(0.3)
    # Population given for A only: its share equals the footprint (uniform density).
    assert out.loc[("A", march), "population_share"] == pytest.approx(np.pi * 4 / 100, rel=2e-3)
    assert np.isnan(out.loc[("B", march), "population_share"])


def test_patrol_hours_are_split_by_the_length_of_the_route_inside_each_area():
    # 8 km, of which 2 km in A and 6 km in B, over 8 h.
    patrols = make_patrols([("P1", [(-2_000, 0), (6_000, 0)], 0, 8)])
    out = area_measures(RoutesModel().presence({"patrols": patrols}, PARAMS))
    march = pd.Timestamp("2023-03-01")
    assert out.loc[("A", march), "patrol_hours"] == pytest.approx(2.0)
    assert out.loc[("B", march), "patrol_hours"] == pytest.approx(6.0)


def test_patrol_crossing_midnight_at_month_end_splits_hours_between_months():
    start = (pd.Timestamp("2023-03-31 22:00", tz="UTC") - T0) / pd.Timedelta(hours=1)
    patrols = make_patrols([("P1", [(-5_000, 0), (-5_000, 0)], start, start + 4)])
    out = area_measures(RoutesModel().presence({"patrols": patrols}, PARAMS))
    assert out.loc[("A", pd.Timestamp("2023-03-01")), "patrol_hours"] == pytest.approx(2.0)
    assert out.loc[("A", pd.Timestamp("2023-04-01")), "patrol_hours"] == pytest.approx(2.0)


def test_bases_give_footprint_and_women_share_but_no_patrol_hours():
    bases = make_bases([("B1", 5_000, 0, "2023-04-01", None)])
    out = area_measures(BasesModel().presence({"bases": bases}, PARAMS))
    april = pd.Timestamp("2023-04-01")
    assert out.loc[("B", april), "footprint_share"] == pytest.approx(np.pi * 4 / 100, rel=2e-3)
    assert out.loc[("B", pd.Timestamp("2023-03-01")), "footprint_share"] == 0.0
    assert out["patrol_hours"].isna().all()
    assert out.loc[("B", april), "women_share"] == pytest.approx(0.2)


def test_incidents_are_counted_per_area_and_local_month_without_coarse_ones():
    incidents = make_incidents([(-1, 0, "2023-03-05T10:00", "A"), (-1, 0, "2023-03-06T10:00", "A"),
                                (1, 0, "2023-04-06T10:00", "B"), (1, 0, "2023-04-07T10:00", None)])
    incidents.loc[1, "location_precision"] = "admin1"
    out = area_measures(None, incidents)
    assert out["incidents"].to_dict() == {
        ("A", pd.Timestamp("2023-03-01")): 1, ("A", pd.Timestamp("2023-04-01")): 0,
        ("B", pd.Timestamp("2023-03-01")): 0, ("B", pd.Timestamp("2023-04-01")): 1,
    }
    assert list(out.reset_index().columns) == [
        "area_id", "period", "footprint_share", "population_share", "patrol_hours",
        "women_share", "incidents",
    ]


# --- gaps ---------------------------------------------------------------------------------------


def make_gap_inputs(cells_counts):
    """Incidents at H3 cell centres: {(lat, lng): (n_incidents, n_covered)}."""
    rows, covered = [], []
    for (lat, lng), (n, c) in cells_counts.items():
        rows += [{"longitude": lng, "latitude": lat,
                  "occurred_at": pd.Timestamp("2023-03-05", tz="UTC")}] * n
        covered += [True] * c + [False] * (n - c)
    incidents = pd.DataFrame(rows)
    coverage = pd.DataFrame({"in_scope": True, "covered": pd.array(covered, dtype="boolean")})
    return incidents, coverage


def test_gaps_rank_most_uncovered_first():
    incidents, coverage = make_gap_inputs(
        {(1.0, 30.0): (10, 9), (1.1, 30.0): (6, 0), (1.2, 30.0): (8, 1)}
    )
    gaps = compute_gaps(incidents, coverage, resolution=7)
    assert gaps["incidents_uncovered"].tolist() == [7, 6, 1]
    assert gaps["rank"].tolist() == [1, 2, 3]
    assert gaps["covered_share"].tolist() == pytest.approx([1 / 8, 0.0, 0.9])


def test_shared_gaps_hide_small_counts_and_shares_that_reveal_them():
    incidents, coverage = make_gap_inputs(
        {(1.0, 30.0): (10, 4), (1.1, 30.0): (6, 0), (1.2, 30.0): (8, 1), (1.3, 30.0): (3, 0),
         (1.4, 30.0): (20, 10), (1.5, 30.0): (30, 15)}
    )
    gaps = summarise_gaps(compute_gaps(incidents, coverage, resolution=7))
    shared = to_shared_gaps(gaps, 5, label="2023-03 to 2023-03", adaptive=False)
    assert shared["period"].unique().tolist() == ["2023-03 to 2023-03"]
    # The 3 is suppressed, and with the grand total shown so is the smallest other count (6).
    assert sorted(shared["incidents"].tolist()) == [8, 10, 20, 30]
    by_count = shared.set_index("incidents")["covered_share"]
    # 1 and 4 covered: shares that would give away a count below k are hidden.
    assert pd.isna(by_count[8]) and pd.isna(by_count[10])
    assert by_count[20] == 0.5 and by_count[30] == 0.5
    assert not {"incidents_covered", "incidents_uncovered"} & set(shared.columns)
    with pytest.raises(ValueError, match="one period"):
        to_shared_gaps(compute_gaps(*make_gap_inputs({(1.0, 30.0): (10, 9)}), resolution=7)
                       .pipe(lambda g: pd.concat([g, g.assign(period=pd.NaT)])), 5)


def test_a_place_whose_reports_mostly_had_a_patrol_near_is_not_a_gap():
    """The field trial listed a place with 100% of its reports covered as the only gap."""
    incidents, coverage = make_gap_inputs(
        {(1.0, 30.0): (40, 40), (1.1, 30.0): (12, 7), (1.2, 30.0): (9, 6), (1.3, 30.0): (6, 3),
         (1.4, 30.0): (8, 0), (1.5, 30.0): (25, 10)}
    )
    gaps = summarise_gaps(compute_gaps(incidents, coverage, resolution=7))
    flags = dict(zip(gaps["incidents"], is_gap(gaps, 5), strict=True))
    assert flags == {25: True, 8: True, 6: True, 12: False, 9: False, 40: False}
    shared = to_shared_gaps(gaps, 5, adaptive=False)
    # 40/40, 7/12 and 6/9 covered are not gaps, whatever their counts; 3/6 covered is.
    assert shared["incidents"].tolist() == [25, 8, 6]
    assert shared["rank"].tolist() == [1, 2, 3]
    assert (shared["covered_share"].dropna() <= 0.5).all()


def test_shared_gaps_on_sparse_hexagons_list_merged_places():
    # Eight reports without a patrol, in hexagons of one or two each: no hexagon reaches k.
    parent = h3.latlng_to_cell(1.0, 30.0, 6)
    children = sorted(h3.cell_to_children(parent, 7))[:5]
    cells = {h3.cell_to_latlng(c): (1 if i % 2 else 2, 0) for i, c in enumerate(children)}
    incidents, coverage = make_gap_inputs(cells)
    gaps = summarise_gaps(compute_gaps(incidents, coverage, resolution=7))
    assert to_shared_gaps(gaps, 5, adaptive=False).empty
    shared = to_shared_gaps(gaps, 5)
    assert shared["incidents"].tolist() == [8]
    assert shared["h3_cell"].tolist() == [parent] and shared["resolution"].tolist() == [6]


# --- the mission result -------------------------------------------------------------------------


@pytest.mark.slow
def test_mission_coverage_on_demo_missions_writes_shared_and_restricted_outputs(
    demo_missions, tmp_path
):
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.missions import load_mission
    from protection_eval.runs.outputs import write_coverage
    from protection_eval.sharing.audit.folder import audit_shared_folder

    for path, model in zip(sorted(demo_missions), ["tracks", "routes", "bases"], strict=True):
        mission = load_mission(path)
        result = compute_mission_coverage(mission)
        summary = result.summary
        assert summary["model"] == model
        assert summary["incidents_total"] == len(mission.incidents)
        assert summary["incidents_in_scope"] + summary["incidents_left_out_by_precision"] == len(
            mission.incidents)
        assert summary["incidents_covered"] == int(result.to_frame()["covered"].sum())
        assert 0 < summary["covered_share"] < 1
        assert len(result.areas) == len(mission.areas) * 24
        written = write_coverage(result, restricted_dir=tmp_path / model / "restricted",
                                 shared_dir=tmp_path / model / "shared", k=5,
                                 config=mission.config)
        assert written["map"].name == "coverage_map.html"
        hexagons = gpd.read_file(written["gpkg"], layer="hexagons")
        assert hexagons["incidents"].sum() == summary["incidents_in_scope"]
        shared = json.loads(written["shared_summary"].read_text())
        for key in ("incidents_total", "incidents_in_scope", "incidents_covered",
                    "covered_share", "radius_m", "window_h", "model"):
            assert key in shared
        layers = {name for name, _ in pyogrio.list_layers(written["gpkg"])}
        assert {"hexagons", "areas", "footprint"} <= layers
        audit = audit_shared_folder(tmp_path / model / "shared", incidents=mission.incidents,
                                    areas=mission.areas)
        assert audit.findings == []

    quarter = compute_mission_coverage(mission, period=parse_period("2023-01..2023-03"))
    assert len(quarter.areas) == len(mission.areas) * 3
    assert quarter.summary["period"] == "2023-01 to 2023-03"
    months = quarter.to_frame()["period"].dt.strftime("%Y-%m")
    assert set(months) <= {"2023-01", "2023-02", "2023-03"}
    full = result.to_frame().loc[quarter.to_frame().index, "covered"]
    assert full.equals(quarter.to_frame()["covered"])  # earlier patrols still count


def test_shared_summary_hides_small_counts_and_what_reveals_them():
    from protection_eval.coverage.mission import CoverageResult

    summary = {"incidents_total": 40, "incidents_in_scope": 37, "incidents_covered": 35,
               "covered_share": 35 / 37, "incidents_left_out_by_precision": 3,
               "incidents_left_out_other": 0, "incidents_date_only": 0, "radius_m": 2000.0}
    empty = pd.DataFrame()
    result = CoverageResult("tracks", PARAMS, empty, empty, empty, empty, summary,
                            gpd.GeoDataFrame(), gpd.GeoDataFrame(), gpd.GeoDataFrame())
    shared = to_shared_coverage_summary(result.summary, 5)
    assert shared["incidents_total"] == 40
    assert shared["incidents_left_out_by_precision"] is None
    assert shared["incidents_in_scope"] is None  # else 40 - 37 gives the 3 back
    assert shared["incidents_covered"] is None  # 2 uncovered
    assert shared["covered_share"] is None
    assert result.summary["incidents_in_scope"] == 37


def test_cli_coverage_reports_a_missing_configuration_as_one_message(tmp_path):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    result = CliRunner().invoke(app, ["coverage", str(tmp_path / "nowhere.yaml")])
    assert result.exit_code == 1
    assert "no such mission configuration file" in result.output
    assert "Traceback" not in result.output


def test_track_fixes_project_like_to_crs_and_keep_missing_positions_and_times():
    # Issue 18: the tracks model takes the fixes as projected arrays; the projection must be
    # the one GeoDataFrame.to_crs applies (bit-equal), and a missing position or a
    # missing time must stay missing (NaN), so the fix is left out of the movements as before.
    tracks = gpd.GeoDataFrame(
        {
            "patrol_id": ["P1", "P1", "P2", "P2", None],
            "recorded_at": [T0, T0 + pd.Timedelta(minutes=5), pd.NaT, T0, T0],
        },
        geometry=[Point(31.5, 4.85), Point(31.51, 4.86), Point(31.6, 4.9), None, Point(31.7, 5.0)],
        crs="EPSG:4326",
    )
    fixes = TrackFixes.from_tracks(tracks, "EPSG:32636")
    expected = tracks.to_crs("EPSG:32636")
    assert fixes.crs == expected.crs
    assert np.array_equal(fixes.x, expected.geometry.x.to_numpy(), equal_nan=True)
    assert np.array_equal(fixes.y, expected.geometry.y.to_numpy(), equal_nan=True)
    assert np.isnan(fixes.x[3]) and np.isnan(fixes.y[3]) and np.isfinite(fixes.x[4])
    assert np.isnan(fixes.t[2]) and list(fixes.codes) == [0, 0, 1, 1, -1]
    moves, ids = tracks_to_movements(fixes, max_gap_h=2.0)
    old, old_ids = tracks_to_movements(expected, max_gap_h=2.0)
    assert list(ids) == list(old_ids) == ["P1", "P2"]
    for name in ("x0", "y0", "x1", "y1", "t0", "t1", "group"):
        assert np.array_equal(getattr(moves, name), getattr(old, name)), name
    # P1's two fixes make its one movement; P2's fixes lack a time or a position.
    assert (moves.x0[0], moves.x1[0]) == (fixes.x[0], fixes.x[1])
    assert 1 not in moves.group
    with pytest.raises(ValueError, match="no CRS"):
        TrackFixes.from_tracks(tracks.set_crs(None, allow_override=True), "EPSG:32636")
