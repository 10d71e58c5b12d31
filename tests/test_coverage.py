"""Incident coverage by GPS tracks: edges of the radius and window, gaps, CRS, precision."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protection_eval.coverage.index import (
    Movements,
    _split,
    evaluate_coverage,
    evaluate_coverage_brute,
    movements_from_fixes,
    piece_duration,
)
from protection_eval.coverage.mission import compute_incident_coverage
from protection_eval.coverage.points import cover_incidents, covered_only, movements_from_tracks

CRS = "EPSG:32633"
T0 = pd.Timestamp("2023-03-10 12:00", tz="UTC")
X0, Y0 = 500_000.0, 1_000_000.0


def make_incidents(rows, crs=CRS, index=None) -> gpd.GeoDataFrame:
    """Rows of (dx_m, dy_m, hours after T0[, location_precision[, time_precision]])."""
    full = [tuple(r) + ("exact", "time")[len(r) - 3 :] for r in rows]
    return gpd.GeoDataFrame(
        {
            "occurred_at": [T0 + pd.Timedelta(hours=h) for _, _, h, *_ in full],
            "location_precision": [r[3] for r in full],
            "time_precision": [r[4] for r in full],
        },
        geometry=gpd.points_from_xy([X0 + r[0] for r in full], [Y0 + r[1] for r in full]),
        crs=crs,
        index=index,
    )


def make_tracks(rows, crs=CRS) -> gpd.GeoDataFrame:
    """Rows of (patrol_id, dx_m, dy_m, hours after T0)."""
    return gpd.GeoDataFrame(
        {
            "patrol_id": [r[0] for r in rows],
            "recorded_at": [T0 + pd.Timedelta(hours=r[3]) for r in rows],
        },
        geometry=gpd.points_from_xy([X0 + r[1] for r in rows], [Y0 + r[2] for r in rows]),
        crs=crs,
    )


def cover(incidents, tracks, **kwargs) -> pd.DataFrame:
    return compute_incident_coverage(incidents, tracks, 2_000.0, 72.0, **kwargs)


def test_fix_at_1999_m_covers_and_at_2001_m_does_not():
    incidents = make_incidents([(1_999, 0, 0), (0, -2_001, 0), (2_000, 0, 0)])
    tracks = make_tracks([("P1", 0, 0, -1)])
    out = cover(incidents, tracks)
    assert out["covered"].tolist() == [True, False, True]
    assert out["nearest_m"].iloc[0] == pytest.approx(1_999.0)
    assert np.isnan(out["nearest_m"].iloc[1])


def test_interpolated_pass_at_1999_m_covers_where_fixes_are_far_apart():
    # Fixes 20 km apart, one hour apart: the straight line passes 1,999 m / 2,001 m away.
    tracks = make_tracks([("P1", -10_000, 0, -3), ("P1", 10_000, 0, -2)])
    incidents = make_incidents([(0, 1_999, 0), (0, 2_001, 0)])
    out = cover(incidents, tracks)
    assert out["covered"].tolist() == [True, False]
    assert out["nearest_m"].iloc[0] == pytest.approx(1_999.0)


def test_a_32_sided_buffer_would_miss_what_the_exact_distance_covers():
    # A vertex-free direction of a 32-gon reaches only r*cos(pi/32) = 1,990.4 m.
    angle = np.pi / 32
    incidents = make_incidents([(1_995 * np.cos(angle), 1_995 * np.sin(angle), 0)])
    out = cover(incidents, make_tracks([("P1", 0, 0, -1)]))
    assert bool(out["covered"].iloc[0])


def test_window_edge_fix_at_71_9_h_covers_72_1_h_and_after_the_incident_do_not():
    incidents = make_incidents([(0, 0, 0), (50_000, 0, 0), (100_000, 0, 0), (150_000, 0, 0)])
    tracks = make_tracks(
        [("P1", 0, 0, -71.9), ("P2", 50_000, 0, -72.1), ("P3", 100_000, 0, 0.1),
         ("P4", 150_000, 0, -72.0)]
    )
    out = cover(incidents, tracks)
    assert out["covered"].tolist() == [True, False, False, True]
    assert out["since_patrol_h"].iloc[0] == pytest.approx(71.9)
    assert out["since_patrol_h"].iloc[3] == pytest.approx(72.0)


def test_only_the_part_of_a_movement_inside_the_window_counts():
    # The patrol passes the incident 74 h before it, then moves 10 km away by 70 h before.
    tracks = make_tracks([("P1", -1_000, 0, -74.5), ("P1", 10_000, 0, -70)])
    out = cover(make_incidents([(0, 0, 0)]), tracks)
    assert not bool(out["covered"].iloc[0])


def test_since_patrol_h_is_the_last_moment_within_the_radius():
    # Moving east at 1 km/h through the incident: within 2 km from -12 h to -8 h.
    tracks = make_tracks([("P1", -10_000, 0, -20), ("P1", 10_000, 0, 0)])
    out = cover(make_incidents([(0, 0, 0)]), tracks, max_gap_h=24.0)
    assert out["since_patrol_h"].iloc[0] == pytest.approx(8.0)
    assert out["nearest_m"].iloc[0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("max_gap_h", "covered"), [(6.0, False), (8.0, True)])
def test_a_gap_longer_than_the_limit_is_not_interpolated(max_gap_h, covered):
    tracks = make_tracks([("P1", -10_000, 0, -10), ("P1", 10_000, 0, -3)])  # 7 h apart
    out = cover(make_incidents([(0, 0, 0)]), tracks, max_gap_h=max_gap_h)
    assert bool(out["covered"].iloc[0]) is covered


def test_two_fixes_at_the_same_instant_both_count():
    tracks = make_tracks([("P1", 0, 0, -1), ("P1", 5_000, 0, -1)])
    out = cover(make_incidents([(6_500, 0, 0)]), tracks)
    assert bool(out["covered"].iloc[0])
    assert out["nearest_m"].iloc[0] == pytest.approx(1_500.0)


def test_fixes_of_different_patrols_are_never_joined():
    tracks = make_tracks([("P1", -10_000, 0, -3), ("P2", 10_000, 0, -2)])
    out = cover(make_incidents([(0, 0, 0)]), tracks)
    assert not bool(out["covered"].iloc[0])


def test_fix_order_in_the_input_does_not_matter():
    rows = [("P1", -10_000, 0, -3), ("P2", 40_000, 0, -2), ("P1", 10_000, 0, -2)]
    forward = cover(make_incidents([(0, 0, 0)]), make_tracks(rows))
    backward = cover(make_incidents([(0, 0, 0)]), make_tracks(rows[::-1]))
    assert bool(forward["covered"].iloc[0]) and bool(backward["covered"].iloc[0])


def test_result_keeps_the_incident_index_and_column_order():
    incidents = make_incidents([(0, 0, 0), (90_000, 0, 0)], index=["b", "a"])
    out = cover(incidents, make_tracks([("P1", 0, 0, -1)]))
    assert list(out.index) == ["b", "a"]
    assert list(out.columns) == [
        "in_scope", "left_out_reason", "covered", "nearest_m", "since_patrol_h"
    ]
    assert out.loc["b", "covered"] and not out.loc["a", "covered"]


def test_geographic_crs_is_refused_with_a_message_saying_what_to_do():
    incidents = make_incidents([(0, 0, 0)]).set_crs("EPSG:4326", allow_override=True)
    tracks = make_tracks([("P1", 0, 0, -1)]).set_crs("EPSG:4326", allow_override=True)
    with pytest.raises(ValueError, match="geographic CRS.*to_crs"):
        cover(incidents, tracks)


def test_different_crs_are_refused():
    with pytest.raises(ValueError, match="different CRSs"):
        cover(make_incidents([(0, 0, 0)]), make_tracks([("P1", 0, 0, -1)], crs="EPSG:32634"))


def test_projecting_both_inputs_gives_the_same_answer():
    incidents = make_incidents([(1_500, 0, 0), (2_500, 0, 0)])
    tracks = make_tracks([("P1", 0, 0, -1)])
    out = cover(incidents.to_crs("EPSG:3857").to_crs(CRS), tracks.to_crs("EPSG:3857").to_crs(CRS))
    assert out["covered"].tolist() == [True, False]


def test_missing_track_column_is_named_in_the_error():
    tracks = make_tracks([("P1", 0, 0, -1)]).rename(columns={"recorded_at": "time"})
    with pytest.raises(ValueError, match=r"tracks lacks the column\(s\) \['recorded_at'\]"):
        cover(make_incidents([(0, 0, 0)]), tracks)


def test_naive_times_are_refused():
    incidents = make_incidents([(0, 0, 0)])
    incidents["occurred_at"] = incidents["occurred_at"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="occurred_at.*timezone-aware"):
        cover(incidents, make_tracks([("P1", 0, 0, -1)]))


def test_incident_less_precise_than_the_radius_is_left_out_and_counted_as_such():
    incidents = make_incidents(
        [(0, 0, 0, "exact"), (0, 0, 0, "settlement"), (0, 0, 0, "country"), (0, 0, 0, "odd")]
    )
    out = cover(incidents, make_tracks([("P1", 0, 0, -1)]))
    assert out["in_scope"].tolist() == [True, False, False, False]
    assert out["left_out_reason"].tolist()[1:] == ["precision"] * 3
    assert out["covered"].isna().tolist() == [False, True, True, True]
    assert out["nearest_m"].iloc[1:].isna().all()


def test_precision_uncertainty_is_configurable():
    incidents = make_incidents([(0, 0, 0, "settlement")])
    out = cover(incidents, make_tracks([("P1", 0, 0, -1)]),
                precision_uncertainty_m={"settlement": 1_500.0})
    assert bool(out["in_scope"].iloc[0]) and bool(out["covered"].iloc[0])


def test_date_only_incident_is_covered_by_a_patrol_at_any_time_of_its_day():
    # Stored as the midnight that starts the day; a patrol at 20:00 that day covers it.
    incidents = make_incidents([(0, 0, 0, "exact", "day"), (50_000, 0, 0, "exact", "day"),
                                (90_000, 0, 0, "exact", "time")])
    tracks = make_tracks([("P1", 0, 0, 20), ("P2", 50_000, 0, -72.5), ("P3", 90_000, 0, 20)])
    out = cover(incidents, tracks)
    assert out["covered"].tolist() == [True, False, False]
    # Counted from the end of the day.
    assert out["since_patrol_h"].iloc[0] == pytest.approx(4.0)


def test_date_only_window_starts_window_h_before_the_day():
    incidents = make_incidents([(0, 0, 0, "exact", "day")])
    out = cover(incidents, make_tracks([("P1", 0, 0, -71.5)]))
    assert bool(out["covered"].iloc[0])
    assert out["since_patrol_h"].iloc[0] == pytest.approx(95.5)


def test_nearest_within_m_reports_farther_positions_for_uncovered_incidents():
    out = cover(make_incidents([(3_000, 0, 0)]), make_tracks([("P1", 0, 0, -1)]),
                nearest_within_m=5_000.0)
    assert not bool(out["covered"].iloc[0])
    assert out["nearest_m"].iloc[0] == pytest.approx(3_000.0)
    assert np.isnan(out["since_patrol_h"].iloc[0])


def test_no_tracks_leaves_every_incident_uncovered():
    empty = make_tracks([]).astype({"recorded_at": "datetime64[ns, UTC]"})
    out = cover(make_incidents([(0, 0, 0)]), empty)
    assert out["covered"].tolist() == [False]


def test_chunked_evaluation_equals_one_pass():
    rng = np.random.default_rng(4)
    qx, qy = rng.uniform(0, 30_000, (2, 400))
    qe = rng.uniform(0, 400_000, 400)
    fx, fy = rng.uniform(0, 30_000, (2, 600))
    ft = rng.uniform(0, 400_000, 600)
    moves = movements_from_fixes(rng.integers(0, 30, 600), fx, fy, ft, 20_000.0)
    one = evaluate_coverage(qx, qy, qe - 259_200, qe, moves, 2_000.0)
    many = evaluate_coverage(qx, qy, qe - 259_200, qe, moves, 2_000.0, pair_budget=50)
    np.testing.assert_array_equal(one.covered, many.covered)
    np.testing.assert_allclose(one.latest, many.latest, equal_nan=True)


coordinate = st.floats(0, 20_000, allow_nan=False, allow_infinity=False)
moment = st.floats(0, 500_000, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    queries=st.lists(st.tuples(coordinate, coordinate, moment), min_size=1, max_size=25),
    fixes=st.lists(
        st.tuples(st.integers(0, 4), coordinate, coordinate, moment), min_size=1, max_size=40
    ),
    radius=st.floats(100, 5_000),
    window_h=st.floats(1, 100),
    max_gap_h=st.floats(0.5, 100),
    search_factor=st.floats(1, 3),
)
def test_fast_path_equals_brute_force(queries, fixes, radius, window_h, max_gap_h,
                                      search_factor):
    q = np.array(queries, dtype=float)
    f = np.array(fixes, dtype=float)
    moves = movements_from_fixes(f[:, 0].astype(int), f[:, 1], f[:, 2], f[:, 3],
                                 max_gap_h * 3600.0)
    start, end = q[:, 2] - window_h * 3600.0, q[:, 2]
    search = radius * search_factor
    fast = evaluate_coverage(q[:, 0], q[:, 1], start, end, moves, radius, search=search,
                             pair_budget=7)
    slow = evaluate_coverage_brute(q[:, 0], q[:, 1], start, end, moves, radius, search=search)
    # Pieces are exact sub-segments, so only a distance within rounding of the radius may
    # differ between the two.
    tie = np.abs(np.nan_to_num(slow.nearest, nan=np.inf) - radius) < 1e-6
    np.testing.assert_array_equal(fast.covered[~tie], slow.covered[~tie])
    np.testing.assert_allclose(fast.nearest, slow.nearest, atol=1e-6, equal_nan=True)
    both = fast.covered & slow.covered
    np.testing.assert_allclose(fast.latest[both], slow.latest[both], atol=1e-3)


def test_movements_keep_isolated_fixes_as_instants():
    moves = movements_from_fixes(
        np.array([0, 0, 1]), np.array([0.0, 10.0, 5.0]), np.array([0.0, 0.0, 0.0]),
        np.array([0.0, 100.0, 50.0]), 60.0,
    )
    assert isinstance(moves, Movements)
    assert len(moves) == 3  # P0's two fixes are 100 s apart (> 60 s): both stand alone
    assert np.array_equal(moves.t0, moves.t1)


@settings(max_examples=150, deadline=None)
@given(
    queries=st.lists(st.tuples(coordinate, coordinate, moment, st.booleans()), min_size=1,
                     max_size=25),
    fixes=st.lists(
        st.tuples(st.integers(0, 4), coordinate, coordinate, moment), min_size=1, max_size=40
    ),
    radius=st.floats(100, 5_000),
    window_h=st.floats(1, 100),
    max_gap_h=st.floats(0.5, 100),
    search_factor=st.floats(1, 3),
    cells=st.sampled_from([None, 2, 3, 5, 8]),
)
def test_index_equals_brute_force_on_its_own_pieces_to_the_bit(
    queries, fixes, radius, window_h, max_gap_h, search_factor, cells
):
    # Against every piece the index cuts the movements into, the brute force forms every pair
    # the grid and the time-ordered runs could have skipped: equal to the bit means no pair
    # within reach was skipped, whatever the grid. Date-only queries have longer windows.
    q = np.array(queries, dtype=float)
    f = np.array(fixes, dtype=float)
    moves = movements_from_fixes(f[:, 0].astype(int), f[:, 1], f[:, 2], f[:, 3],
                                 max_gap_h * 3600.0)
    start, end = q[:, 2] - window_h * 3600.0, q[:, 2] + q[:, 3] * 86_400.0
    search = radius * search_factor
    fast = evaluate_coverage(q[:, 0], q[:, 1], start, end, moves, radius, search=search,
                             pair_budget=7, cells_per_axis=cells)
    pieces = _split(moves, max_len=search / 2.0, max_dur=piece_duration(start, end))
    slow = evaluate_coverage_brute(q[:, 0], q[:, 1], start, end, pieces, radius, search=search)
    np.testing.assert_array_equal(fast.covered, slow.covered)
    np.testing.assert_array_equal(fast.nearest, slow.nearest)
    np.testing.assert_array_equal(fast.latest, slow.latest)
    only = evaluate_coverage(q[:, 0], q[:, 1], start, end, moves, radius, search=search,
                             pair_budget=7, cells_per_axis=cells, covered_only=True)
    np.testing.assert_array_equal(only.covered, slow.covered)
    assert np.isnan(only.nearest).all() and np.isnan(only.latest).all()


def _dense_patrols(rng: np.random.Generator, patrols: int = 150, fixes: int = 200
                   ) -> Movements:
    """Patrols crowding a 12 km square for 10 days, a fix every 5 minutes at 1 to 4 m/s."""
    group = np.repeat(np.arange(patrols), fixes)
    t = (rng.uniform(0, 8 * 86_400.0, (patrols, 1)) + np.arange(fixes) * 300.0).ravel()
    heading = rng.uniform(0, 2 * np.pi, (patrols, fixes)).cumsum(axis=1)
    step = rng.uniform(300, 1_200, (patrols, 1))
    x = (rng.uniform(0, 12_000, (patrols, 1)) + (step * np.cos(heading)).cumsum(axis=1))
    y = (rng.uniform(0, 12_000, (patrols, 1)) + (step * np.sin(heading)).cumsum(axis=1))
    return movements_from_fixes(group, x.ravel(), y.ravel(), t, 6 * 3600.0)


def test_dense_tracks_form_few_candidate_pairs_beyond_those_that_could_reach():
    # 3,000 pieces per 72-h window around a query: a 2 x 2 grid of cells as wide as the
    # reach reads about five times the pairs whose piece midpoint is within reach plus half
    # a piece (the pairs that could hit); a finer grid that skips the cells out of reach
    # reads under twice as many. The results are those of the brute force all the same.
    rng = np.random.default_rng(12)
    moves = _dense_patrols(rng)
    qx, qy = rng.uniform(-15_000, 27_000, (2, 300))
    qe = rng.uniform(3 * 86_400.0, 10 * 86_400.0, 300)
    qs = qe - 72 * 3600.0
    fast = evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0)
    pieces = _split(moves, max_len=1_000.0, max_dur=piece_duration(qs, qe))
    half = 0.5 * np.hypot(pieces.x1 - pieces.x0, pieces.y1 - pieces.y0).max()
    mx, my = 0.5 * (pieces.x0 + pieces.x1), 0.5 * (pieces.y0 + pieces.y1)
    could = ((np.hypot(mx[None, :] - qx[:, None], my[None, :] - qy[:, None]) <= 2_000 + half)
             & (pieces.t1[None, :] >= qs[:, None]) & (pieces.t0[None, :] <= qe[:, None]))
    assert fast.pairs < 2.0 * could.sum()
    slow = evaluate_coverage_brute(qx, qy, qs, qe, pieces, 2_000.0)
    assert 0 < slow.covered.sum() < len(qx)
    np.testing.assert_array_equal(fast.covered, slow.covered)
    np.testing.assert_array_equal(fast.nearest, slow.nearest)
    np.testing.assert_array_equal(fast.latest, slow.latest)


def test_covered_only_stops_at_a_point_s_first_patrol_within_reach():
    rng = np.random.default_rng(13)
    moves = _dense_patrols(rng)
    qx, qy = rng.uniform(-15_000, 27_000, (2, 300))
    qe = rng.uniform(3 * 86_400.0, 10 * 86_400.0, 300)
    full = evaluate_coverage(qx, qy, qe - 72 * 3600.0, qe, moves, 2_000.0)
    only = evaluate_coverage(qx, qy, qe - 72 * 3600.0, qe, moves, 2_000.0, covered_only=True)
    assert 0 < full.covered.sum() < len(qx)
    np.testing.assert_array_equal(only.covered, full.covered)
    # A covered point reads its nearest cells only: far fewer pairs than every candidate.
    assert only.pairs < full.pairs / 4


def test_cells_per_axis_below_two_is_refused():
    moves = movements_from_fixes(np.array([0]), np.array([0.0]), np.array([0.0]),
                                 np.array([0.0]), 60.0)
    with pytest.raises(ValueError, match="cells_per_axis must be at least 2"):
        evaluate_coverage(np.array([0.0]), np.array([0.0]), np.array([-1.0]), np.array([1.0]),
                          moves, 100.0, cells_per_axis=1)


def test_covered_only_block_keeps_scope_and_covered_and_leaves_distances_out():
    incidents = make_incidents([(0, 0, 10), (1_500, 0, 10), (9_000, 0, 10), (0, 0, -5),
                                (0, 0, 10, "admin1")])
    tracks = make_tracks([("P1", -5_000, 300, 0), ("P1", 5_000, 300, 2), ("P2", 8_000, 0, 1)])
    moves = movements_from_tracks(tracks, 6.0)
    full = cover_incidents(incidents, moves, 2_000.0, 72.0, nearest_within_m=10_000.0)
    with covered_only():
        only = cover_incidents(incidents, moves, 2_000.0, 72.0, nearest_within_m=10_000.0)
    pd.testing.assert_frame_equal(only[["in_scope", "left_out_reason", "covered"]],
                                  full[["in_scope", "left_out_reason", "covered"]])
    assert only["nearest_m"].isna().all() and only["since_patrol_h"].isna().all()
    assert full["covered"].any() and full["nearest_m"].notna().any()
