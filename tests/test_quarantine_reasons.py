"""Quarantine reasons that are true: a swap or a sign flip only when it explains the point.

A point outside the areas is called swapped or sign-flipped only when the corrected point lies in
an area and the given one is far from all of them; a point near the areas (a capital across a
border, a coastal point outside a coarse outline) is outside_areas, with its distance. Expected
distances come from pyproj.Geod, computed here.
"""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from realdata import REALDATA, require_realdata
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.runs.missions import load_mission

COUNTRIES = REALDATA / "boundaries" / "naturalearth_lowres.shp"
GEOD = pyproj.Geod(ellps="WGS84")


def mission(tmp_path: Path, areas: gpd.GeoDataFrame, incidents: str, extra: str = "") -> Path:
    areas.to_file(tmp_path / "areas.geojson", driver="GeoJSON")
    (tmp_path / "incidents.csv").write_text(
        "incident_id,occurred_at,gbv_type,longitude,latitude\n" + incidents, encoding="utf-8")
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: REASONS-1\nname: Quarantine reasons\nsynthetic: true\ntimezone: UTC\n"
        "period: {start: 2024-01-01, end: 2024-05-31}\n"
        "sources:\n  incidents: {path: incidents.csv}\n  areas: {path: areas.geojson}\n"
        + extra, encoding="utf-8")
    return path


def rejected(path: Path):
    return load_mission(path).validation.rejected["incidents"].set_index("incident_id")


def km(detail: str) -> float:
    return float(detail.split(" km")[0].replace(",", ""))


#: A DRC-like area with a north-eastern arm, so that Kigali's latitude flipped (30.06, 1.95)
#: falls inside it while Kigali itself lies some 85 km east of the main block.
ARMED = gpd.GeoDataFrame(
    {"area_id": ["MAIN", "ARM"], "name": ["Main", "Arm"]},
    geometry=[shapely.box(12.0, -5.0, 29.3, 5.0), shapely.box(29.3, 0.5, 31.0, 5.0)],
    crs="EPSG:4326",
)


def test_a_capital_near_the_areas_is_outside_them_not_sign_flipped(tmp_path):
    table = rejected(mission(tmp_path, ARMED, (
        "KIGALI,2024-02-10,rape,30.06,-1.95\n"
        # Far away, and inside once flipped or swapped: those corrections are believed.
        "FLIPPED,2024-02-10,rape,-20.0,2.0\n"
        "SWAPPED,2024-02-10,rape,2.0,20.0\n"
    )))
    assert table.loc["KIGALI", "reason"] == "outside_areas"
    expected = GEOD.inv(30.06, -1.95, 29.3, -1.95)[2] / 1000
    assert km(table.loc["KIGALI", "detail"]) == pytest.approx(expected, rel=5e-3)
    assert table.loc["FLIPPED", "reason"] == "coordinates_sign_flipped"
    assert table.loc["SWAPPED", "reason"] == "coordinates_swapped"


def test_near_misses_get_their_distances_and_a_tolerance_in_the_notes(tmp_path):
    box = gpd.GeoDataFrame({"area_id": ["A"], "name": ["A"]},
                           geometry=[shapely.box(20.0, 2.0, 22.0, 4.0)], crs="EPSG:4326")
    # Points 6 to 9 km east of the box, as coastal points outside a coarse outline are.
    rows, metres = [], []
    for i, dist in enumerate((6_000, 7_000, 8_000, 9_000)):
        x, y, _ = GEOD.fwd(22.0, 3.0 + 0.1 * i, 90.0, dist)
        rows.append(f"N{i},2024-02-10,rape,{x:.6f},{y:.6f}\n")
        metres.append(dist)
    loaded = load_mission(mission(tmp_path, box, "".join(rows)))
    report = loaded.validation.tables["incidents"]
    assert report.reasons == {"outside_areas": 4}
    notes = [n for n in report.notes if "just outside the areas" in n]
    assert len(notes) == 1
    assert "6.0 to 9.0 km" in notes[0]
    # Nine in ten of them, rounded up to the km: the 90th percentile of 6..9 km is 8.7 km.
    p90 = float(np.quantile(metres, 0.9))
    assert f"outside_tolerance_m: {int(np.ceil(p90 / 1000) * 1000)}" in notes[0]


def test_kigali_against_the_drc_and_car_outlines_is_outside_them(tmp_path):
    require_realdata(COUNTRIES)
    outlines = gpd.read_file(COUNTRIES)
    areas = outlines[outlines["iso_a3"].isin(["COD", "CAF"])].rename(
        columns={"iso_a3": "area_id"})[["area_id", "name", "geometry"]]
    table = rejected(mission(tmp_path, areas, "KIGALI,2024-02-10,rape,30.06,-1.95\n"))
    assert table.loc["KIGALI", "reason"] == "outside_areas"
    drc = areas.set_index("area_id").loc["COD", "geometry"]
    # Independent: the geodesic distance to the outline densified every 100 m.
    xy = shapely.get_coordinates(shapely.segmentize(drc.exterior if drc.geom_type == "Polygon"
                                                    else drc, 0.001))
    expected = GEOD.inv(np.full(len(xy), 30.06), np.full(len(xy), -1.95),
                        xy[:, 0], xy[:, 1])[2].min() / 1000
    assert km(table.loc["KIGALI", "detail"]) == pytest.approx(expected, rel=5e-3)


def test_validation_json_names_the_mission_code_when_a_source_is_refused(tmp_path):
    path = mission(tmp_path, ARMED, "I1,2024-02-10,rape,20.0,0.0\n")
    path.write_text(path.read_text().replace("incidents.csv", "absent.csv"))
    renamed = path.with_name("some-file-name.yaml")
    path.rename(renamed)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["validate", str(renamed), "--out", str(out)])
    assert result.exit_code != 0
    written = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    assert written["mission"] == "REASONS-1"
    assert written["usable"] is False
