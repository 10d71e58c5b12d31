"""Footprints and the hours' split without one overlay each (issue 18 §1), against the old way.

The references below are the methods the area measures used before: the union of every part's
buffer (a unit's merged lines, a stationary piece) for the footprints, and one GEOS overlay per
(piece, area) pair for the length of a piece inside an area. The footprint may differ from the
reference only by GEOS's rounding (Hausdorff distance within the arc error of the buffer, as
``compute_footprints`` states; in fact the same surface); patrol-hours and the women's share
equal the reference's to 1e-12 relative. No timing: ``docs/performance.md`` has the figures.
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
from protection_eval.coverage.mission import prepare_coverage
from protection_eval.coverage.presence import PresencePieces
from protection_eval.runs.missions import load_mission

QUAD_SEGS = 16


def arc_error(radius_m: float) -> float:
    return radius_m * (1 - np.cos(np.pi / (4 * QUAD_SEGS)))


def reference_reach(pieces, rows, units, is_line, radius_m):
    """The footprint as it was: every unit's merged lines and every point buffered, unioned."""
    geoms = pieces.geometries(rows)
    parts = []
    if is_line.any():
        codes = units[is_line]
        order = np.argsort(codes, kind="stable")
        _, dense = np.unique(codes[order], return_inverse=True)
        merged = shapely.line_merge(shapely.multilinestrings(geoms[is_line][order],
                                                             indices=dense))
        parts.append(shapely.buffer(merged, radius_m, quad_segs=QUAD_SEGS))
    if not is_line.all():
        parts.append(shapely.buffer(geoms[~is_line], radius_m, quad_segs=QUAD_SEGS))
    return shapely.union_all(np.concatenate(parts))


def reference_fractions(geoms, where):
    """The hours' split as it was: intersecting pairs, one overlay per pair that may cross."""
    piece_pos, area_pos = where.tree.query(geoms, predicate="intersects")
    order = np.argsort(piece_pos, kind="stable")
    piece_pos, area_pos = piece_pos[order], area_pos[order]
    length = shapely.length(geoms[piece_pos])
    inside = shapely.length(shapely.intersection(geoms[piece_pos], where.shapes[area_pos]))
    touching = np.bincount(piece_pos, minlength=len(geoms))[piece_pos]
    fraction = np.where(length > 0, inside / np.where(length > 0, length, 1.0), 1.0 / touching)
    return piece_pos, area_pos, fraction


def footprints_both_ways(pieces, monkeypatch, **kwargs):
    new = compute_footprints(pieces, **kwargs)
    with monkeypatch.context() as patched:
        patched.setattr(coverage_areas, "_reach", reference_reach)
        old = compute_footprints(pieces, **kwargs)
    assert (new["period"] == old["period"]).all()
    return new.geometry.to_numpy(), old.geometry.to_numpy()


def make_patrols(seed: int, units: int, steps: int, *, step_m: float = 2_500.0,
                 still_every: int = 0, side_m: float = 60_000.0) -> PresencePieces:
    """Random-walk patrols starting in a square, one movement a step, over two months."""
    rng = np.random.default_rng(seed)
    start_xy = rng.uniform(0, side_m, (units, 2))
    walk = rng.normal(0, step_m / 1.4, (units, steps, 2))
    if still_every:
        walk[:, ::still_every] = 0.0
    path = np.concatenate([start_xy[:, None, :], start_xy[:, None, :] + walk.cumsum(axis=1)],
                          axis=1)
    x0, y0 = path[:, :-1, 0].ravel(), path[:, :-1, 1].ravel()
    x1, y1 = path[:, 1:, 0].ravel(), path[:, 1:, 1].ravel()
    begin = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.repeat(rng.uniform(0, 58, units), steps), unit="D")
    start = pd.Series(begin + pd.to_timedelta(np.tile(np.arange(steps), units), unit="h"))
    end = start + pd.Timedelta(hours=1)
    n = units * steps
    return PresencePieces.from_segments(
        (x0, y0, x1, y1), start=start.reset_index(drop=True), end=end.reset_index(drop=True),
        unit_id=pd.array(np.repeat([f"u{i}" for i in range(units)], steps), dtype="string"),
        personnel=np.full(n, 10.0), women=rng.integers(0, 5, n).astype(float), crs="EPSG:32633",
    )


def make_areas() -> gpd.GeoDataFrame:
    """Areas sharing edges, one with a hole and many vertices, one in two parts."""
    cells = [shapely.box(x, y, x + 20_000, y + 20_000)
             for x in range(0, 60_000, 20_000) for y in range(0, 60_000, 20_000)]
    ring = shapely.Point(30_000, 30_000).buffer(9_000, quad_segs=64)
    cells[4] = shapely.difference(cells[4], ring)  # the middle cell, holed
    cells[0] = shapely.union(cells[0], shapely.box(70_000, 0, 80_000, 10_000))
    cells.append(ring)
    return gpd.GeoDataFrame({"area_id": [f"a{i}" for i in range(len(cells))],
                             "population": 1_000}, geometry=cells, crs="EPSG:32633")


KWARGS = dict(start=pd.Timestamp("2024-01-01"), end=pd.Timestamp("2024-02-29"))


@pytest.mark.parametrize(("seed", "units", "steps", "radius_m"),
                         [(1, 400, 24, 2_000.0), (2, 150, 60, 800.0), (3, 40, 12, 5_000.0)])
def test_footprints_cover_what_the_union_of_every_buffer_covers(monkeypatch, seed, units, steps,
                                                                 radius_m):
    pieces = make_patrols(seed, units, steps, still_every=7)
    monkeypatch.setattr(coverage_areas, "_SAMPLE_MIN", 16)
    new, old = footprints_both_ways(pieces, monkeypatch, radius_m=radius_m, **KWARGS)
    assert len(new) == 2
    assert (shapely.hausdorff_distance(new, old) <= arc_error(radius_m)).all()
    # The same surface: what differs is rounding where buffers cross.
    assert (shapely.area(shapely.symmetric_difference(new, old))
            <= 1e-9 * shapely.area(old)).all()
    assert (shapely.hausdorff_distance(new, old) < 1e-6).all()


def test_a_dense_month_buffers_only_the_parts_that_reach_past_the_others(monkeypatch):
    # The old footprint buffered every unit's lines and unioned them all: at x64 about 1 s a
    # month. Most patrols lie deep inside the others' reach and add nothing.
    units = 2_000
    pieces = make_patrols(4, units, 12, step_m=1_000.0, side_m=20_000.0)
    buffered = []
    buffer = shapely.buffer

    def counted(geometry, distance, *args, **kwargs):
        if distance > 0:
            buffered.append(np.size(geometry))
        return buffer(geometry, distance, *args, **kwargs)

    monkeypatch.setattr(shapely, "buffer", counted)
    shapes = compute_footprints(pieces, radius_m=2_000.0, **KWARGS).geometry.to_numpy()
    monkeypatch.setattr(shapely, "buffer", buffer)
    # Every unit is a part of one month at least: the old way buffered all of them.
    assert sum(buffered) < units / 2
    old = footprints_both_ways(pieces, monkeypatch, radius_m=2_000.0, **KWARGS)[1]
    assert (shapely.hausdorff_distance(shapes, old) <= arc_error(2_000.0)).all()


def test_footprints_from_a_frame_and_from_arrays_are_the_same_polygons(monkeypatch):
    pieces = make_patrols(5, 200, 12, still_every=5)
    monkeypatch.setattr(coverage_areas, "_SAMPLE_MIN", 8)
    from_arrays = compute_footprints(pieces, radius_m=1_500.0, **KWARGS)
    from_frame = compute_footprints(pieces.to_frame(), radius_m=1_500.0, **KWARGS)
    assert [g.wkb for g in from_frame.geometry] == [g.wkb for g in from_arrays.geometry]


def test_a_month_with_few_parts_is_the_union_of_every_buffer_to_the_bit(monkeypatch):
    pieces = make_patrols(6, 30, 10)
    new, old = footprints_both_ways(pieces, monkeypatch, radius_m=2_000.0, **KWARGS)
    assert [g.wkb for g in new] == [g.wkb for g in old]


@pytest.fixture(scope="module")
def mission_a(demo_missions):
    return load_mission(demo_missions[0])


def test_demo_footprints_within_the_arc_error_of_the_union_of_every_buffer(mission_a,
                                                                           monkeypatch):
    pieces = prepare_coverage(mission_a).presence_pieces()
    period, radius_m = mission_a.config.period, mission_a.config.coverage.radius_m
    monkeypatch.setattr(coverage_areas, "_SAMPLE_MIN", 8)
    new, old = footprints_both_ways(
        pieces, monkeypatch, radius_m=radius_m, start=pd.Timestamp(period.start),
        end=pd.Timestamp(period.end), timezone=mission_a.config.timezone)
    assert len(new) == len(month_starts(pd.Timestamp(period.start), pd.Timestamp(period.end)))
    assert (shapely.hausdorff_distance(new, old) <= arc_error(radius_m)).all()
    assert (shapely.area(shapely.symmetric_difference(new, old))
            <= 1e-9 * shapely.area(old)).all()


def test_demo_area_measures_equal_one_overlay_a_piece(mission_a, monkeypatch):
    pieces = prepare_coverage(mission_a).presence_pieces()
    crs, period = mission_a.projected_crs, mission_a.config.period

    def measures():
        return compute_area_measures(
            pieces, mission_a.areas.to_crs(crs), mission_a.incidents,
            radius_m=mission_a.config.coverage.radius_m, start=pd.Timestamp(period.start),
            end=pd.Timestamp(period.end), timezone=mission_a.config.timezone)

    new = measures()
    monkeypatch.setattr(coverage_areas, "_area_fractions", reference_fractions)
    old = measures()
    assert new["patrol_hours"].gt(0).sum() > 10
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-12, atol=0)


def edge_cases() -> tuple[PresencePieces, gpd.GeoDataFrame]:
    """Movements through vertices, along shared edges, ending on a boundary, and points on them."""
    areas = make_areas()
    segments = np.array([
        [0, 0, 40_000, 40_000],            # through the corners of three cells
        [5_000, 20_000, 35_000, 20_000],   # along the edge two cells share
        [10_000, 10_000, 20_000, 10_000],  # ends on an edge
        [20_000, 5_000, 20_000, 5_000],    # a point on an edge
        [20_000, 20_000, 20_000, 20_000],  # a point on a corner of four cells
        [25_000, 30_000, 35_000, 30_000],  # across the hole and its ring
        [21_000, 30_000, 75_000, 5_000],   # across many cells and into nowhere
        [65_000, 5_000, 75_000, 5_000],    # from outside into the detached part
        [59_000, 1_000, 61_000, 1_000],    # across the mission's outer edge
        [39_000, 30_000, 39_000, 31_000],  # close to the ring, wholly in one area
        # Along an edge but for rounding (a route drawn on a boundary, as in DEMO-B).
        [20_000 + 2 ** -40, 25_000, 20_000 + 2 ** -38, 55_000],
    ], dtype=float)
    rng = np.random.default_rng(7)
    random = rng.uniform(-5_000, 80_000, (3_000, 4))
    # Short movements too, most wholly inside one area as GPS movements are.
    random[1_500:, 2:] = random[1_500:, :2] + rng.normal(0, 700, (1_500, 2))
    coords = np.concatenate([segments, random])
    n = len(coords)
    start = pd.Series(pd.Timestamp("2024-01-03", tz="UTC") + pd.to_timedelta(
        rng.uniform(0, 50, n), unit="D"))
    pieces = PresencePieces.from_segments(
        tuple(coords[:, i] for i in range(4)), start=start, end=start + pd.Timedelta(hours=2),
        unit_id=pd.array([f"u{i % 13}" for i in range(n)], dtype="string"),
        personnel=np.full(n, 8.0), women=rng.integers(0, 4, n).astype(float),
        crs="EPSG:32633")
    return pieces, areas


def test_hours_split_equals_one_overlay_a_piece_at_vertices_edges_and_holes():
    pieces, areas = edge_cases()
    where = coverage_areas._Areas.of(areas)
    geoms = pieces.geometries()
    new_piece, new_area, new_fraction = coverage_areas._area_fractions(geoms, where)
    old_piece, old_area, old_fraction = reference_fractions(geoms, where)
    new = pd.Series(new_fraction, index=pd.MultiIndex.from_arrays([new_piece, new_area]))
    old = pd.Series(old_fraction, index=pd.MultiIndex.from_arrays([old_piece, old_area]))
    # Pairs of a line with an area whose bounds only it meets add nothing.
    extra = new.index.difference(old.index)
    assert (new[extra] == 0).all()
    assert old.index.isin(new.index).all()
    np.testing.assert_allclose(new[old.index].to_numpy(), old.to_numpy(), rtol=0, atol=1e-12)
    # The crafted cases do cross, run along and touch: the cut and the overlay both happen.
    assert 0 < new[(6, 0)] < 1 and new[(0, 4)] > 0 and len(extra) > 0
    assert new[(1, 1)] == 0.5 and new[(3, 0)] == 0.5 and new[(4, 0)] == 0.25


def test_hours_split_leaves_the_overlay_to_movements_along_an_edge(monkeypatch):
    # The old split intersected every pair that might cross a boundary (about 13 CPU s at
    # x64); now only a movement running along one of its area's edges, or a line of more
    # than two vertices, goes to the overlay.
    pieces, areas = edge_cases()
    overlaid = []
    intersection = shapely.intersection

    def counted(a, b, *args, **kwargs):
        overlaid.append(np.size(a))
        return intersection(a, b, *args, **kwargs)

    monkeypatch.setattr(shapely, "intersection", counted)
    hours = compute_patrol_hours(pieces, areas, edges=pd.date_range("2024-01-01", "2024-03-01",
                                                                      freq="MS"))
    assert hours["patrol_hours"].sum() > 0
    # The two movements along shared edges, with the four areas around each; of 3,000 more.
    assert sum(overlaid) <= 8


def test_patrol_hours_equal_one_overlay_a_piece_to_1e_12(monkeypatch):
    pieces, areas = edge_cases()
    edges = pd.date_range("2024-01-01", periods=9, freq="7D")
    new = compute_patrol_hours(pieces, areas, edges=edges)
    monkeypatch.setattr(coverage_areas, "_area_fractions", reference_fractions)
    old = compute_patrol_hours(pieces, areas, edges=edges)
    assert new["patrol_hours"].gt(0).sum() > 20
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-12, atol=0)
