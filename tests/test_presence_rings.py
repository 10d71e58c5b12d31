"""The H3 k-ring ratios (effects/rings.py) recover reports planted just beyond patrols' reach."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from protection_eval.coverage.models import COVERAGE_MODELS, CoverageParams
from protection_eval.effects.count_models import NotEstimable
from protection_eval.effects.rings import RING_ESTIMANDS, compute_presence_rings
from protection_eval.effects.within_reach import make_control_points
from protection_eval.hexgrid import resolution_for_radius

CRS = "EPSG:32636"
TZ = "Africa/Juba"
MONTHS = pd.period_range("2022-01", "2022-04", freq="M")
PARAMS = CoverageParams(radius_m=3_000.0, window_h=72.0, timezone=TZ)
TRACKS = COVERAGE_MODELS["tracks"]
RES = resolution_for_radius(PARAMS.radius_m)


def make_areas(n_side: int = 3, size_m: float = 20_000.0) -> gpd.GeoDataFrame:
    boxes = [shapely.box(300_000 + i * size_m, 500_000 + j * size_m,
                         300_000 + (i + 1) * size_m, 500_000 + (j + 1) * size_m)
             for j in range(n_side) for i in range(n_side)]
    return gpd.GeoDataFrame({"area_id": [f"A{k}" for k in range(len(boxes))]},
                            geometry=boxes, crs=CRS)


def make_tracks(areas, rng) -> gpd.GeoDataFrame:
    """One patrol per area and month standing 6 hours at a random point, a fix every 30 min."""
    stops = make_control_points(areas, MONTHS, 1, rng, timezone=TZ)
    steps = np.arange(13) * pd.Timedelta(minutes=30)
    rows = stops.loc[stops.index.repeat(len(steps))].reset_index(drop=True)
    rows["recorded_at"] = rows["occurred_at"] + np.tile(steps, len(stops))
    rows["patrol_id"] = np.repeat([f"P{i}" for i in range(len(stops))], len(steps))
    return gpd.GeoDataFrame(rows[["patrol_id", "recorded_at"]], geometry=rows.geometry.array,
                            crs=CRS)


def ring_one(points: gpd.GeoDataFrame, tracks: gpd.GeoDataFrame) -> np.ndarray:
    """Whether each point is in ring 1, worked out here from the fixes, not by the module."""
    start = pd.Timestamp("2022-01-01", tz=TZ).tz_convert("UTC")
    length = pd.Timedelta(hours=72)
    fix_w = ((tracks["recorded_at"] - start) // length).to_numpy()
    fixes_ll = tracks.geometry.to_crs("EPSG:4326")
    reach: dict[int, set[str]] = {}
    for w, fx, fy, pt in zip(fix_w, fixes_ll.x, fixes_ll.y, tracks.geometry, strict=True):
        # Cells whose centre is within the radius of the fix.
        for cell in h3.grid_disk(h3.latlng_to_cell(fy, fx, RES), 2):
            lat, lng = h3.cell_to_latlng(cell)
            centre = gpd.GeoSeries(gpd.points_from_xy([lng], [lat]), crs="EPSG:4326")
            if centre.to_crs(CRS).iloc[0].distance(pt) <= PARAMS.radius_m:
                reach.setdefault(int(w), set()).add(cell)
    ring1 = {w: {n for c in cs for n in h3.grid_ring(c, 1)} - cs for w, cs in reach.items()}
    ll = points.geometry.to_crs("EPSG:4326")
    pw = ((points["occurred_at"] - start) // length).to_numpy()
    return np.array([h3.latlng_to_cell(y, x, RES) in ring1.get(int(w), set())
                     for w, x, y in zip(pw, ll.x, ll.y, strict=True)])


@pytest.fixture(scope="module")
def mission():
    rng = np.random.default_rng(1)
    areas = make_areas()
    tracks = make_tracks(areas, rng)
    cand = make_control_points(areas, MONTHS, 300, rng, timezone=TZ)
    cand = cand.drop(columns="period").reset_index(drop=True)
    cand["incident_id"] = [f"I{i}" for i in range(len(cand))]
    cand["location_precision"] = "exact"
    cand["time_precision"] = "time"
    in_ring = ring_one(cand, tracks)
    return areas, {"patrol_tracks": tracks, "patrols": None, "bases": None}, cand, in_ring, rng


def rings(inc, areas, tables):
    out = compute_presence_rings(inc, areas, tables, TRACKS, PARAMS, MONTHS)
    return {e.estimand: e for e in out.estimates}, out


def test_planted_reports_in_ring_one_are_recovered(mission):
    areas, tables, cand, in_ring, rng = mission
    # Every candidate in ring 1 is kept, half of the others: ring 1 reports at twice the rate.
    keep = in_ring | (rng.random(len(cand)) < 0.5)
    est, out = rings(cand.loc[keep], areas, tables)
    ring1 = est[RING_ESTIMANDS[1]]
    assert in_ring.sum() > 200
    assert ring1.ci_low < 2.0 < ring1.ci_high
    assert ring1.ci_low > 1.3
    # Ring 2 had nothing planted in it.
    assert est[RING_ESTIMANDS[2]].ci_low < 1.0 < est[RING_ESTIMANDS[2]].ci_high
    assert out.resolution == RES == 6
    assert not ring1.headline and any("Ring 1" in c for c in ring1.caveats)


def test_no_planted_reports_gives_ratios_near_one(mission):
    areas, tables, cand, _, _ = mission
    est, out = rings(cand, areas, tables)
    for k in (1, 2):
        e = est[RING_ESTIMANDS[k]]
        assert e.ci_low < 1.0 < e.ci_high
        assert 0.8 < e.irr < 1.25
    # Every incident is counted once, in one class of one stratum, or left out and said so.
    assert 0 < out.left_out < len(cand) / 10
    assert out.table["incidents"].sum() + out.left_out == len(cand)


def test_no_patrol_anywhere_is_not_estimable(mission):
    areas, tables, cand, _, _ = mission
    empty = tables["patrol_tracks"].iloc[:0]
    with pytest.raises(NotEstimable):
        rings(cand, areas, {**tables, "patrol_tracks": empty})
