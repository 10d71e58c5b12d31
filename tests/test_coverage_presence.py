"""Presence pieces as arrays (issue 18): area measures in bounded memory, equal to one pass.

No timing here: the tests check that notebook 02's area measures never hold a shapely geometry
for every presence piece at once, and that building them a block or a month at a time gives
the same numbers and polygons, to the bit. Time and memory are measured by
``benchmarks/bench_scale.py`` and recorded in ``docs/performance.md``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from protection_eval.coverage import areas as coverage_areas
from protection_eval.coverage.areas import (
    compute_area_measures,
    compute_footprints,
    compute_patrol_hours,
    month_starts,
)
from protection_eval.coverage.mission import compute_mission_coverage, prepare_coverage
from protection_eval.coverage.models import TrackFixes, tracks_to_movements
from protection_eval.coverage.presence import PRESENCE_COLUMNS, PresencePieces
from protection_eval.ingest.tables import to_incident_points
from protection_eval.runs.missions import load_mission


@pytest.fixture(scope="module")
def mission_a(demo_missions):
    return load_mission(demo_missions[0])


@pytest.fixture(scope="module")
def prepared_a(mission_a):
    return prepare_coverage(mission_a)


def _measures(mission, presence, footprints=None):
    crs = mission.projected_crs
    period = mission.config.period
    return compute_area_measures(
        presence, mission.areas.to_crs(crs), mission.incidents,
        radius_m=mission.config.coverage.radius_m, start=pd.Timestamp(period.start),
        end=pd.Timestamp(period.end), timezone=mission.config.timezone, footprints=footprints,
    )


def test_mission_coverage_never_builds_a_line_for_every_movement_at_once(
    mission_a, prepared_a, monkeypatch
):
    # Before issue 18's change every movement became a shapely line in one call (3.3 M lines
    # held together at x64); now a month's pieces (footprints) or a block (hours) at most.
    batches = []
    linestrings = shapely.linestrings

    def counted(coords, *args, **kwargs):
        batches.append(len(coords))
        return linestrings(coords, *args, **kwargs)

    monkeypatch.setattr(coverage_areas, "_BLOCK", 500, raising=False)
    monkeypatch.setattr(shapely, "linestrings", counted)
    result = compute_mission_coverage(mission_a)
    moves = len(prepared_a.moves[0])
    assert moves > 5_000 and batches
    assert max(batches) < moves / 4
    assert result.areas["patrol_hours"].sum() > 0


@pytest.mark.parametrize("block", [1, 37, 1_000])
def test_area_measures_by_blocks_equal_one_pass_to_the_bit(mission_a, prepared_a, monkeypatch,
                                                          block):
    pieces = prepared_a.presence_pieces()
    if block == 1:
        # A block of one piece is a pass of its own: the first quarter's pieces (about 2,000)
        # cross block boundaries everywhere a longer table would, at a tenth of the time.
        frame = prepared_a.presence()
        pieces = PresencePieces.from_frame(
            frame[frame["start"] < pd.Timestamp("2022-04-01", tz="UTC")])
        assert len(pieces) > 1_000
    whole = _measures(mission_a, pieces)
    monkeypatch.setattr(coverage_areas, "_BLOCK", block)
    parts = _measures(mission_a, pieces, footprints=None)
    pd.testing.assert_frame_equal(parts, whole, check_exact=True)
    assert whole["patrol_hours"].gt(0).sum() > 10


def test_patrol_hours_by_blocks_equal_one_pass_at_any_period_length(mission_a, prepared_a,
                                                                    monkeypatch):
    pieces = prepared_a.presence_pieces()
    areas = mission_a.areas.to_crs(mission_a.projected_crs)
    weeks = pd.date_range("2023-01-02", periods=40, freq="7D")
    whole = compute_patrol_hours(pieces, areas, edges=weeks, timezone=mission_a.config.timezone)
    monkeypatch.setattr(coverage_areas, "_BLOCK", 53)
    parts = compute_patrol_hours(pieces, areas, edges=weeks, timezone=mission_a.config.timezone)
    pd.testing.assert_frame_equal(parts, whole, check_exact=True)


def test_pieces_as_arrays_give_what_the_geodataframe_gives(mission_a, prepared_a):
    pieces = prepared_a.presence_pieces()
    frame = prepared_a.presence()
    assert list(frame.columns) == list(PRESENCE_COLUMNS)
    pd.testing.assert_frame_equal(_measures(mission_a, frame), _measures(mission_a, pieces),
                                  check_exact=True)
    period = mission_a.config.period
    kwargs = dict(radius_m=mission_a.config.coverage.radius_m, start=pd.Timestamp(period.start),
                  end=pd.Timestamp(period.end), timezone=mission_a.config.timezone)
    from_frame = compute_footprints(frame, **kwargs)
    from_arrays = compute_footprints(pieces, **kwargs)
    assert len(from_arrays) == len(month_starts(kwargs["start"], kwargs["end"]))
    assert (from_frame["period"] == from_arrays["period"]).all()
    assert [g.wkb for g in from_frame.geometry] == [g.wkb for g in from_arrays.geometry]


def test_a_stationary_movement_is_a_point_and_a_moving_one_a_line():
    # The area rules share a point evenly between the areas it touches, a line by length.
    x = np.array([0.0, 5.0, 7.0])
    times = pd.Series(pd.to_datetime(["2023-01-01"] * 3, utc=True))
    pieces = PresencePieces.from_segments(
        (x, x, np.array([0.0, 5.0, 9.0]), np.array([0.0, 6.0, 7.0])), start=times, end=times,
        unit_id=pd.array(["p1", "p1", "p2"], dtype="string"), personnel=np.ones(3),
        women=np.zeros(3), crs="EPSG:32633",
    )
    assert list(shapely.get_type_id(pieces.geometries())) == [0, 1, 1]
    assert list(pieces.is_line()) == [False, True, True]
    assert list(shapely.get_type_id(pieces.geometries(np.array([2, 0])))) == [1, 0]
    assert list(pieces.to_frame().columns) == list(PRESENCE_COLUMNS)


def test_pieces_from_a_frame_keep_its_geometries(prepared_a):
    frame = prepared_a.presence()
    pieces = PresencePieces.from_frame(frame)
    rows = np.array([0, 3, len(frame) - 1])
    assert len(pieces) == len(frame)
    assert all(shapely.equals_exact(pieces.geometries(rows), frame.geometry.to_numpy()[rows], 0))
    back = pieces.to_frame()
    pd.testing.assert_frame_equal(back.drop(columns="geometry"),
                                  frame.drop(columns="geometry").reset_index(drop=True))


def test_movements_cut_in_blocks_equal_one_pass_to_the_bit(monkeypatch):
    from protection_eval.coverage import index

    rng = np.random.default_rng(3)
    n = 2_000
    x0, y0 = rng.uniform(0, 50_000, n), rng.uniform(0, 50_000, n)
    t0 = rng.uniform(0, 1e7, n)
    # Some movements are cut into many pieces (long or slow), most into one.
    step = np.where(rng.random(n) < 0.2, 9_000.0, 300.0)
    moves = index.Movements(x0, y0, x0 + rng.normal(0, step), y0 + rng.normal(0, step), t0,
                            t0 + rng.uniform(0, 40_000, n))
    whole = index._split(moves, max_len=1_000.0, max_dur=3_600.0)
    monkeypatch.setattr(index, "_SPLIT_BLOCK", 7)
    parts = index._split(moves, max_len=1_000.0, max_dur=3_600.0)
    assert len(whole) > 2 * n
    for name in ("x0", "y0", "x1", "y1", "t0", "t1"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name)), name


def test_prepared_tracks_hold_no_shapely_point_and_give_the_same_movements(
    mission_a, prepared_a, monkeypatch
):
    # Issue 18: prepare_coverage used to hold a projected GeoDataFrame of every GPS fix (a
    # shapely point each, 3.3 M at x64) beside the mission's own; it projects the coordinates
    # as arrays now. The movements must be bit-equal to those of the projected GeoDataFrame.
    fixes = prepared_a.tables["patrol_tracks"]
    assert isinstance(fixes, TrackFixes)
    for name in ("x", "y", "t", "codes"):
        assert getattr(fixes, name).dtype.kind in "fi", name
    # The former representation: the mission's fixes as EPSG:4326 points, as ingestion made
    # them before the fixes became coordinates, projected by GeoDataFrame.to_crs.
    tracks = mission_a.patrol_tracks
    former = gpd.GeoDataFrame(tracks, geometry=gpd.points_from_xy(
        tracks["longitude"], tracks["latitude"]), crs="EPSG:4326")
    projected = former.to_crs(mission_a.projected_crs)
    assert fixes.crs == projected.crs
    old, old_ids = tracks_to_movements(projected, prepared_a.params.max_gap_h)
    new, new_ids = prepared_a.moves
    for name in ("x0", "y0", "x1", "y1", "t0", "t1", "group"):
        assert np.array_equal(getattr(new, name), getattr(old, name), equal_nan=True), name
    assert new_ids.equals(old_ids)
    # And no GeoDataFrame of the fixes is projected on the way.
    to_crs = gpd.GeoDataFrame.to_crs

    def watched(frame, *args, **kwargs):
        assert "recorded_at" not in frame.columns, "the GPS tracks were projected as geometries"
        return to_crs(frame, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_crs", watched)
    assert len(prepare_coverage(mission_a).tables["patrol_tracks"]) == len(projected)


def test_accepted_fixes_and_coverage_equal_those_of_the_former_points(demo_missions, mission_a,
                                                                      prepared_a):
    """Issue 18: the accepted GPS fixes became coordinates instead of a shapely point each.

    Their values are the source's points, to the bit, and the per-incident coverage and the
    presence pieces computed from them equal those computed from the points as ingestion
    used to hold them (EPSG:4326 points, projected with ``to_crs``)."""
    tracks = mission_a.patrol_tracks
    source = gpd.read_parquet(demo_missions[0].parent / "demo-a" / "patrol_tracks.parquet")
    at = tracks["source_row"].to_numpy() - 1  # source_row counts a spatial file's rows from 1
    assert np.array_equal(tracks["longitude"].to_numpy(), source.geometry.x.to_numpy()[at])
    assert np.array_equal(tracks["latitude"].to_numpy(), source.geometry.y.to_numpy()[at])
    crs = mission_a.projected_crs
    former = gpd.GeoDataFrame(tracks, geometry=gpd.points_from_xy(
        tracks["longitude"], tracks["latitude"]), crs="EPSG:4326").to_crs(crs)
    tables = {**prepared_a.tables, "patrol_tracks": former}
    incidents = to_incident_points(mission_a.incidents).to_crs(crs)
    model, params = prepared_a.model, prepared_a.params
    pd.testing.assert_frame_equal(prepared_a.cover(incidents), model.cover(incidents, tables,
                                                                           params),
                                  check_exact=True)
    got, want = prepared_a.presence(), model.presence(tables, params)
    pd.testing.assert_frame_equal(got.drop(columns="geometry"), want.drop(columns="geometry"),
                                  check_exact=True)
    assert list(got.geometry.to_wkb()) == list(want.geometry.to_wkb())
    assert got.crs == want.crs
