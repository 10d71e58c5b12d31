"""DEMO-A in French with places, roads and a tile archive, run as users run it (issue 29).

The mission names Natural Earth's populated places (read in place from ../shared/realdata,
through ``allowed_source_dirs``), a roads layer made here and a PMTiles archive made here.
``protection-eval run`` executes the notebooks; the run must publish (its audit passes with
Juba drawn where incidents were placed), and the shared map and brief must carry the context.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import geopandas as gpd
import pytest
import yaml
from realdata import REALDATA, require_realdata
from shapely.geometry import LineString
from test_basemap import expected_tiles, png_tile, write_pmtiles

from protection_eval.demo import make_demo_missions

pytestmark = pytest.mark.slow
CITIES = REALDATA / "boundaries" / "naturalearth_cities.shp"
#: Around DEMO-A (near Juba): west, south, east, north.
EXTENT = (31.25, 4.55, 31.95, 5.15)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    require_realdata(CITIES)
    root = tmp_path_factory.mktemp("context-mission")
    [config] = make_demo_missions(root / "missions", seed=5, scale=0.35, missions=("DEMO-A",))
    folder = config.parent
    roads = gpd.GeoDataFrame(
        {"highway": ["trunk", "primary", "track"], "name": ["A43", "Juba road", ""]},
        geometry=[LineString([(31.3, 4.7), (31.58, 4.83), (31.9, 5.05)]),
                  LineString([(31.58, 4.6), (31.6, 4.83), (31.55, 5.1)]),
                  LineString([(31.5, 4.9), (31.52, 4.91)])], crs="EPSG:4326")
    roads.to_file(folder / "roads.geojson", driver="GeoJSON")
    tiles = {key: png_tile(*key) for zoom in range(6, 11) for key in expected_tiles(EXTENT, zoom)}
    write_pmtiles(folder / "tiles.pmtiles", tiles)
    settings = yaml.safe_load(config.read_text())
    settings["allowed_source_dirs"] = [str(CITIES.parent)]
    settings["sharing"] = {**settings.get("sharing", {}), "language": "fr",
                           "context_layers": [
                               {"path": str(CITIES), "label": "Villes", "kind": "places"},
                               {"path": "roads.geojson", "label": "Routes", "kind": "roads"}],
                           "basemap": {"path": "tiles.pmtiles", "max_zoom": 10,
                                       "attribution": "Relevé de test"}}
    config.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    reports = root / "reports"
    done = subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", "run",
         str(config), "--reports", str(reports)],
        capture_output=True, text=True, timeout=1800,
    )
    return done, reports / "DEMO-A" / "latest"


def test_the_run_publishes_with_its_context_through_the_audit(run):
    done, latest = run
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((latest / "manifest.json").read_text())["status"] == "ok"
    assert (latest / "shared" / "coverage_map.html").exists()


def test_the_published_map_draws_juba_the_roads_and_the_tiles_under_5_mb(run):
    _, latest = run
    path = latest / "shared" / "coverage_map.html"
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 5_000_000
    assert "pe-name\\\"\\u003eJuba\\u003c" in page
    assert '"Routes" : feature_group_' in page and '"LineString"' in page
    assert len(re.findall(r'"\d+_\d+_\d+": "data:image/png;base64,', page)) > 0
    assert "Relevé de test" in page and "Signalements de VSBG par hexagone" in page


def test_the_brief_prints_juba_and_the_main_roads(run):
    _, latest = run
    svg = (latest / "shared" / "coverage_map.svg").read_text(encoding="utf-8")
    assert ">Juba</text>" in svg and 'data-context="places roads"' in svg
    brief = (latest / "shared" / "brief.html").read_text(encoding="utf-8")
    assert ">Juba</text>" in brief and "Route principale" in brief
