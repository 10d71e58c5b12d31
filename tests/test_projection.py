"""Projections that hold at any extent: one district, a region, the world, the antimeridian.

Expected distances and surfaces are computed here with pyproj.Geod (Karney's geodesics on the
WGS84 ellipsoid), independently of the working projection the library chooses. The world
outlines are Natural Earth 1:110m (public domain) from ../shared/realdata.
"""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from realdata import REALDATA, require_realdata

from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.effects.panel import compute_mission_panel
from protection_eval.projection import (
    MAX_SCALE_ERROR,
    choose_working_projection,
    geographic_extent,
    scale_error,
)
from protection_eval.runs.missions import load_mission

COUNTRIES = REALDATA / "boundaries" / "naturalearth_lowres.shp"
GEOD = pyproj.Geod(ellps="WGS84")


def world() -> gpd.GeoDataFrame:
    require_realdata(COUNTRIES)
    return gpd.read_file(COUNTRIES).rename(columns={"iso_a3": "area_id"})


def geodesic_km2(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def geodesic_to_outline_m(lon: float, lat: float, geom: shapely.Geometry) -> float:
    """Geodesic distance from a point to an outline, densified to 100 m steps along it."""
    best = np.inf
    for ring in [p.exterior for p in getattr(geom, "geoms", [geom])]:
        xy = np.asarray(ring.coords)
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:], strict=True):
            if abs(x0 - lon) > 20 or abs(y0 - lat) > 20:
                continue
            n = max(2, int(GEOD.inv(x0, y0, x1, y1)[2] / 100))
            line = np.array(GEOD.npts(x0, y0, x1, y1, n))
            xs = np.concatenate([[x0], line[:, 0], [x1]])
            ys = np.concatenate([[y0], line[:, 1], [y1]])
            best = min(best, GEOD.inv(np.full(len(xs), lon), np.full(len(xs), lat), xs, ys)[2]
                       .min())
    return float(best)


def test_extent_of_parts_across_the_antimeridian_is_the_short_arc():
    fiji = shapely.MultiPolygon([shapely.box(177.0, -19.0, 180.0, -16.0),
                                 shapely.box(-180.0, -17.0, -179.5, -16.5)])
    extent = geographic_extent([fiji])
    assert extent.crosses_antimeridian
    assert extent.lon_span == pytest.approx(3.5)
    assert extent.centre[0] == pytest.approx(178.75)
    chosen = choose_working_projection(gpd.GeoDataFrame({"area_id": ["FJ"]}, geometry=[fiji],
                                                        crs="EPSG:4326"))
    # The zone of 178.75 degrees east (60), not the one of the bounds' middle (0 degrees).
    assert chosen.crs == "EPSG:32760" and chosen.single


def test_a_district_keeps_its_utm_zone_and_a_region_a_projection_centred_on_it():
    district = gpd.GeoDataFrame({"area_id": ["D"]}, geometry=[shapely.box(20.0, 5.0, 20.5, 5.5)],
                                crs="EPSG:4326")
    chosen = choose_working_projection(district)
    assert chosen.kind == "utm" and chosen.crs == "EPSG:32634"
    region = gpd.GeoDataFrame({"area_id": ["R"]}, geometry=[shapely.box(11.0, 1.0, 25.0, 11.0)],
                              crs="EPSG:4326")
    centred = choose_working_projection(region)
    assert centred.kind == "aeqd" and centred.single
    corners = np.array([[11.0, 1.0], [25.0, 11.0], [11.0, 11.0], [25.0, 1.0]])
    assert scale_error(centred.crs, corners[:, 0], corners[:, 1]) <= MAX_SCALE_ERROR
    # The UTM zone of the region's middle would be off by more there.
    assert scale_error("EPSG:32633", corners[:, 0], corners[:, 1]) > MAX_SCALE_ERROR


def test_world_outlines_are_computed_in_local_frames_with_their_error_stated():
    areas = world()
    chosen = choose_working_projection(areas)
    assert not chosen.single and chosen.kind == "frames"
    held = [a for f in chosen.frames for a in f.area_ids]
    assert sorted(held) == sorted(areas["area_id"].astype(str))
    by_area = {a: f for f in chosen.frames for a in f.area_ids}
    # Each frame's stated error is the one measured here over its area's vertices: within the
    # bound for Fiji (across the antimeridian), Chile and the CAR; beyond it, and said, for
    # areas no local projection holds (Norway with Svalbard, Russia).
    for name, within in (("Fiji", True), ("Chile", True), ("Central African Rep.", True),
                         ("Norway", False), ("Russia", False)):
        area = areas[areas["name"] == name].iloc[0]
        frame = by_area[str(area["area_id"])]
        xy = shapely.get_coordinates(area.geometry)
        measured = scale_error(frame.crs, xy[:, 0], xy[:, 1])
        assert frame.scale_error == pytest.approx(measured, rel=1e-6), name
        assert (measured <= MAX_SCALE_ERROR) is within, name
    assert "which no local projection holds" in chosen.describe()
    assert "local projections" in chosen.describe()


def world_mission(tmp_path: Path, incidents: str, bases: str) -> Path:
    require_realdata(COUNTRIES)
    (tmp_path / "incidents.csv").write_text(
        "incident_id,occurred_at,gbv_type,longitude,latitude\n" + incidents, encoding="utf-8")
    (tmp_path / "bases.csv").write_text(
        "base_id,unit_type,valid_from,valid_to,longitude,latitude\n" + bases, encoding="utf-8")
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: WORLD-1\nname: World outlines\nsynthetic: true\ntimezone: UTC\n"
        "period: {start: 2024-01-01, end: 2024-03-31}\n"
        f"allowed_source_dirs: ['{REALDATA.resolve()}']\n"
        "coverage: {radius_m: 30000, window_h: 72}\n"
        "sources:\n"
        "  incidents: {path: incidents.csv}\n"
        "  bases: {path: bases.csv}\n"
        f"  areas:\n    path: '{COUNTRIES.resolve()}'\n"
        "    columns: {iso_a3: area_id, name: name, pop_est: population}\n",
        encoding="utf-8",
    )
    return path


#: Bases inside Russia at both ends of the antimeridian, in the far north of Norway and in Chile.
BASES = {"CHUKOTKA": (179.8, 66.0), "FINNMARK": (25.0, 69.5), "SANTIAGO": (-70.5, -33.4)}


def test_world_mission_covers_incidents_at_geodesic_distances(tmp_path):
    incidents, expected = [], {}
    for name, (lon, lat) in BASES.items():
        for km, azimuth in ((25, 90.0), (35, 90.0), (27, 0.0)):
            x, y, _ = GEOD.fwd(lon, lat, azimuth, km * 1000.0)
            ident = f"{name}-{km}-{int(azimuth)}"
            incidents.append(f"{ident},2024-02-10T12:00:00,rape,{x:.6f},{y:.6f}\n")
            expected[ident] = GEOD.inv(lon, lat, x, y)[2]
    bases = "".join(f"{n},military,2024-01-01,2024-03-31,{x},{y}\n" for n, (x, y) in BASES.items())
    mission = load_mission(world_mission(tmp_path, "".join(incidents), bases))
    assert mission.validation.usable, mission.validation.summary_lines()
    assert len(mission.incidents) == len(expected)
    result = compute_mission_coverage(mission)
    table = result.incidents.set_index("incident_id")
    for ident, metres in expected.items():
        row = table.loc[ident]
        assert bool(row["covered"]) is (metres <= 30_000), ident
        if metres <= 30_000:
            assert row["nearest_m"] == pytest.approx(metres, rel=2e-3), ident
    # The one across the antimeridian: 179.8 E to about 179.65 W.
    assert float(mission.incidents.set_index("incident_id").loc["CHUKOTKA-25-90",
                                                                "longitude"]) < -179


def test_world_mission_measures_areas_geodesically(tmp_path):
    incidents = "I1,2024-02-10T12:00:00,rape,25.2,69.4\n"
    bases = "B1,military,2024-01-01,2024-03-31,25.0,69.5\n"
    mission = load_mission(world_mission(tmp_path, incidents, bases))
    panel = compute_mission_panel(mission)
    area = panel.drop_duplicates("area_id").set_index("area_id")["area_km2"]
    outlines = world().set_index("area_id")
    for name in ("Norway", "Russia", "Fiji", "Chile", "Brazil", "Central African Rep."):
        code = outlines.index[outlines["name"] == name][0]
        assert area[code] == pytest.approx(geodesic_km2(outlines.loc[code, "geometry"]),
                                           rel=1e-6), name


def test_world_mission_states_point_distances_outside_the_outlines(tmp_path):
    # Off the coasts of northern Norway, central Chile, and Chukotka across the antimeridian.
    points = {"OFF-NOR": (24.0, 71.5), "OFF-CHL": (-73.0, -33.4), "OFF-RUS": (-176.0, 64.5)}
    incidents = "".join(f"{k},2024-02-10T12:00:00,rape,{x},{y}\n" for k, (x, y) in points.items())
    bases = "B1,military,2024-01-01,2024-03-31,25.0,69.5\n"
    mission = load_mission(world_mission(tmp_path, incidents, bases))
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    outlines = world().set_index("name")
    for ident, (x, y), country in zip(points, points.values(), ("Norway", "Chile", "Russia"),
                                      strict=True):
        assert rejected.loc[ident, "reason"] == "outside_areas", ident
        stated_km = float(rejected.loc[ident, "detail"].split(" km")[0].replace(",", ""))
        expected = geodesic_to_outline_m(x, y, outlines.loc[country, "geometry"]) / 1000
        assert stated_km == pytest.approx(expected, rel=5e-3, abs=0.15), ident


def test_a_configured_world_crs_no_longer_breaks_the_outlines(tmp_path):
    # EPSG:6933 makes Sudan's outline self-intersect; the areas are repaired after projecting.
    path = world_mission(tmp_path, "I1,2024-02-10T12:00:00,rape,25.2,69.4\n",
                         "B1,military,2024-01-01,2024-03-31,25.0,69.5\n")
    path.write_text(path.read_text().replace("timezone: UTC\n",
                                             "timezone: UTC\ncrs: 'EPSG:6933'\n"))
    mission = load_mission(path)
    result = compute_mission_coverage(mission)
    assert len(result.areas) and pd.notna(result.summary["covered_share"])
    # The configured CRS is used, and its error over the areas is stated.
    assert any("EPSG:6933" in n and "scale error" in n for n in mission.validation.notes)
