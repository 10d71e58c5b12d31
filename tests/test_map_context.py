"""Places, roads and rivers a commander knows, under the shared map and in the brief (issue 29).

Places are Natural Earth's populated places (../shared/realdata/boundaries, read in place);
roads are made here, with OSM's ``highway`` classes as HOT's export tool writes them.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from realdata import REALDATA, require_realdata
from shapely.geometry import LineString, Point, box
from test_maps import _hexagon_frame, build, coverage_map

from protection_eval.config import ConfigError, MissionConfig, load_mission_config
from protection_eval.runs.missions import load_map_context
from protection_eval.sharing.context import (
    ContextSource,
    MapContext,
    context_reference,
    prepare_context_layers,
)
from protection_eval.sharing.maps import CoverageSubject, MapStyle, make_coverage_map
from protection_eval.sharing.svgmap import to_svg_map

CITIES = REALDATA / "boundaries" / "naturalearth_cities.shp"
#: Kinshasa and Brazzaville, either side of the Congo river: two areas, one on each bank.
KINSHASA = (15.2, -4.45, 15.45, -4.2)


def kinshasa_areas() -> gpd.GeoDataFrame:
    west, south, east, north = KINSHASA
    middle = (west + east) / 2
    return gpd.GeoDataFrame(
        {"area_id": ["B", "K"], "name": ["Brazzaville rive", "Kinshasa rive"]},
        geometry=[box(west, south, middle, north), box(middle, south, east, north)],
        crs="EPSG:4326",
    )


def kinshasa_hexagons() -> gpd.GeoDataFrame:
    cells = list(h3.grid_disk(h3.latlng_to_cell(-4.33, 15.31, 8), 1))
    return _hexagon_frame(cells, [12, 40, None, 7, 9, 25, 60])


def make_roads(tracks: int = 0) -> gpd.GeoDataFrame:
    """Synthetic roads as an OSM export writes them: a trunk, a primary road, tracks."""
    rng = np.random.default_rng(29)
    lines = [LineString([(15.0, -4.30), (15.25, -4.31), (15.6, -4.35)]),  # trunk, clipped
             LineString([(15.30, -4.42), (15.31, -4.33), (15.33, -4.22)]),  # primary
             LineString([(9.0, 0.0), (9.1, 0.1)])]  # far away: not in the extent
    highway = ["trunk", "primary", "primary"]
    for _ in range(tracks):
        x, y = rng.uniform(15.21, 15.44), rng.uniform(-4.44, -4.21)
        steps = rng.normal(0, 0.002, size=(30, 2)).cumsum(axis=0)
        lines.append(LineString(np.column_stack([x + steps[:, 0], y + steps[:, 1]])))
        highway.append("track")
    return gpd.GeoDataFrame({"highway": highway, "name": ["N1", "Boulevard", "Far", *[
        "" for _ in range(tracks)]]}, geometry=lines, crs="EPSG:4326")


def make_places() -> gpd.GeoDataFrame:
    """Places of an OSM export: a town, a village without a name, and a women's shelter."""
    return gpd.GeoDataFrame(
        {"name": ["Kinkole", "", "Maison d'accueil des femmes"],
         "place": ["town", "village", ""], "amenity": ["", "", "social_facility"]},
        geometry=[Point(15.40, -4.35), Point(15.42, -4.30), Point(15.35, -4.25)],
        crs="EPSG:4326",
    )


def cities() -> gpd.GeoDataFrame:
    require_realdata(CITIES)
    frame = gpd.read_file(CITIES)
    return frame.assign(name=frame["name"].astype(str))


def context(tracks: int = 0) -> MapContext:
    return MapContext((ContextSource("Villes", "places", cities(), "name"),
                       ContextSource("Quartiers", "places", make_places(), "name"),
                       ContextSource("Routes", "roads", make_roads(tracks), "name")))


def place_labels(page: str) -> list[str]:
    """The names the page's place markers show, as the browser will read their HTML."""
    icons = [json.loads(f'"{m}"') for m in re.findall(r'"html": "((?:[^"\\]|\\.)*)"', page)]
    return [html.unescape(m.group(1)) for icon in icons
            for m in [re.search(r'<span class="pe-name">(.*?)</span>', icon)] if m]


def kinshasa_map(**options: object) -> str:
    kwargs: dict[str, object] = dict(mission="KIN", period="2023-01 to 2023-06",
                                     synthetic=True, radius_m=2000, context=context())
    kwargs.update(options)
    return coverage_map(kinshasa_areas(), kinshasa_hexagons(), **kwargs).to_html()


# -- preparing the layers ----------------------------------------------------------------------


def test_layers_are_clipped_to_the_extent_ranked_and_shelters_never_drawn():
    layers = prepare_context_layers(context().sources, kinshasa_areas().total_bounds)
    towns, quarters, roads = layers
    # Of 243 capitals only the two on the river lie in the extent.
    assert sorted(towns.frame["name"]) == ["Brazzaville", "Kinshasa"] and towns.total == 243
    assert list(quarters.frame["name"]) == ["Kinkole"]
    assert quarters.dropped == {"protected": 1, "unnamed": 1}
    assert list(roads.frame["rank"]) == [0, 1]  # the far road is outside, not "left out"
    # Clipped to the extent widened by 5 %: the trunk's ends are cut at 15.1875 and 15.4625.
    xs = shapely.get_coordinates(roads.frame.geometry.iloc[0])[:, 0]
    assert xs.min() == pytest.approx(15.2 - 0.0125) and xs.max() == pytest.approx(15.45 + 0.0125)
    # Coordinates kept to 5 decimals, as the data layers'.
    coords = shapely.get_coordinates(roads.frame.geometry.to_numpy())
    assert np.array_equal(coords, np.round(coords, 5))


def test_a_budget_drops_the_least_important_roads_first_and_says_how_many():
    sources = context(tracks=300).sources
    whole = prepare_context_layers(sources, kinshasa_areas().total_bounds, budget_bytes=None)
    assert len(whole[2].frame) == 302
    small = prepare_context_layers(sources, kinshasa_areas().total_bounds, budget_bytes=20_000)
    roads = small[2]
    assert 0 < len(roads.frame) < 302
    assert roads.dropped["size"] == 302 - len(roads.frame)
    # The trunk and the primary road stay; only tracks went.
    assert {0, 1} <= set(roads.frame["rank"])
    # The places, smaller and more useful, all stay.
    assert len(small[0].frame) == 2 and "size" not in small[0].dropped


def test_the_reference_the_audit_accepts_is_every_coordinate_and_name_a_map_could_draw():
    ctx = context(tracks=50)
    reference = context_reference(ctx, kinshasa_areas().total_bounds)
    drawn = prepare_context_layers(ctx.sources, kinshasa_areas().total_bounds,
                                   budget_bytes=5_000)
    coords = shapely.get_coordinates(
        np.array([g for layer in drawn for g in layer.frame.geometry], dtype=object))
    known = {tuple(p) for p in reference.points}
    assert all(tuple(p) in known for p in coords)
    assert {"kinshasa", "brazzaville", "kinkole"} <= reference.names
    assert "maison d'accueil des femmes" not in reference.names
    assert len(reference.places) == 3


# -- the interactive map -----------------------------------------------------------------------


def test_the_map_draws_places_with_labels_and_roads_under_the_data():
    page = kinshasa_map(language="fr")
    assert sorted(place_labels(page)) == ["Brazzaville", "Kinkole", "Kinshasa"]
    assert "Maison d" not in page
    # Layer names in the control; the roads are a GeoJSON of lines without properties.
    assert '"Villes" : feature_group_' in page and '"Routes" : feature_group_' in page
    lines = [c for c in re.findall(r"_add\((\{\"features\".*?\})\);\n", page)
             if '"LineString"' in c]
    assert len(lines) == 1 and json.loads(lines[0])["features"][0]["properties"] == {}
    # Drawn before the areas and hexagons, so under them.
    assert page.index('"Routes" : feature_group_') < page.index('"Zones" : feature_group_')
    script = page[page.index("L.map("):]
    assert script.index('"LineString"') < script.index('"Brazzaville rive"')
    # Their legend rows, and no background-map note change.
    legend = re.search(r'<details class="pe-legend".*?</details>', page, re.DOTALL).group(0)
    assert "Villes" in legend and "Routes" in legend and "Quartiers" in legend


def test_what_the_budget_left_out_is_said_in_the_legend_and_the_layer_summary(monkeypatch):
    from protection_eval.sharing import map_context

    monkeypatch.setattr(map_context, "CONTEXT_BUDGET_BYTES", 20_000)
    cm = make_coverage_map(kinshasa_areas(), kinshasa_hexagons(),
                           subject=CoverageSubject(mission="KIN", period="p", synthetic=True),
                           style=MapStyle(language="fr"), context=context(tracks=300))
    page = cm.to_html()
    roads = cm.layers.set_index("layer").loc["Routes"]
    shown = int(roads["features"])
    assert 0 < shown < 302 and f"{302 - shown} size" in roads["left_out"]
    assert (f"Pour garder le fichier léger, tout n'est pas dessiné : Routes : {shown} sur 302"
            in html.unescape(page))


def test_a_mission_of_100k_incidents_with_a_large_road_network_stays_under_5_mb():
    from test_maps import make_large_mission_layers

    areas, hexagons, footprint, gaps = make_large_mission_layers()
    west, south, east, north = areas.total_bounds
    rng = np.random.default_rng(5)
    lines, highway = [], []
    for i in range(20_000):
        x, y = rng.uniform(west, east), rng.uniform(south, north)
        steps = rng.normal(0, 0.003, size=(40, 2)).cumsum(axis=0)
        lines.append(LineString(np.column_stack([x + steps[:, 0], y + steps[:, 1]])))
        highway.append(["primary", "secondary", "tertiary", "residential", "track"][i % 5])
    roads = gpd.GeoDataFrame({"highway": highway}, geometry=lines, crs="EPSG:4326")
    ctx = MapContext((ContextSource("Roads", "roads", roads, None),))
    cm = make_coverage_map(areas, hexagons, footprint, gaps,
                           subject=CoverageSubject(mission="BIG", period="p", synthetic=True),
                           context=ctx)
    page = cm.to_html()
    assert len(page.encode()) < 5_000_000
    left_out = cm.layers.set_index("layer").loc["Roads", "left_out"]
    assert re.fullmatch(r"\d+ size", left_out), left_out
    assert "To keep the file small, not everything is drawn: Roads:" in html.unescape(page)


# -- the printable map in the brief ------------------------------------------------------------


def test_the_printable_map_names_the_places_and_draws_the_main_roads():
    layers = prepare_context_layers(context(tracks=20).sources, kinshasa_areas().total_bounds,
                                    budget_bytes=None, max_places=None)
    svg = to_svg_map(kinshasa_areas(), kinshasa_hexagons(), None, None, k=5, context=layers)
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", svg)
    assert {"Kinshasa", "Brazzaville", "Kinkole"} <= set(texts)
    assert 'data-context="places roads"' in svg
    # Main roads only: two lines, each drawn twice (white casing, then grey).
    assert svg.count('stroke="#4d4d4d"') == 1
    assert svg.count('fill="none" stroke="#ffffff" stroke-width="7.5"') == 1
    road = re.search(r'<path d="([^"]+)" fill="none" stroke="#4d4d4d"', svg).group(1)
    assert road.count("M") == 2
    # Black and white: places are black dots with white halos.
    assert svg.count('<circle') == 3 and 'fill="#000000"' in svg


def test_the_brief_legend_names_what_the_printable_map_draws():
    from test_brief import make_inputs

    from protection_eval.sharing.brief import render_brief

    layers = prepare_context_layers(context().sources, kinshasa_areas().total_bounds,
                                    budget_bytes=None)
    svg = to_svg_map(kinshasa_areas(), kinshasa_hexagons(), None, None, k=5, context=layers)
    page = render_brief(make_inputs(language="fr", map_svg=svg))
    assert "Ville ou village" in page and "Route principale" in page and "Rivière" not in page
    assert ">Kinshasa</text>" in page


# -- configuration and reading -----------------------------------------------------------------


def _mission_yaml(folder: Path, sharing: str) -> Path:
    path = folder / "mission.yaml"
    path.write_text(
        "mission: KIN\nname: Kinshasa\ntimezone: Africa/Kinshasa\n"
        "period: {start: 2023-01-01, end: 2023-06-30}\n"
        "sources:\n  incidents: {path: incidents.csv}\n  areas: {path: areas.geojson}\n"
        f"sharing:\n{sharing}", encoding="utf-8")
    return path


def test_context_layers_are_read_through_the_readers_relative_to_the_mission(tmp_path):
    require_realdata(CITIES)
    make_roads().to_file(tmp_path / "roads.geojson", driver="GeoJSON")
    places = make_places().rename(columns={"name": "name:fr"}).assign(name="wrong")
    places.to_file(tmp_path / "places.gpkg", layer="places", driver="GPKG")
    places.to_file(tmp_path / "places.gpkg", layer="other", driver="GPKG")
    config = load_mission_config(_mission_yaml(tmp_path, (
        "  language: fr\n  allowed_source_dirs: []\n" if False else "  language: fr\n") + (
        "  context_layers:\n"
        "    - {path: roads.geojson, label: Routes, kind: roads}\n"
        "    - {path: places.gpkg, layer: places, label: Lieux, kind: places}\n")))
    assert config.sharing.context_layers[0].path == tmp_path / "roads.geojson"
    ctx = load_map_context(config, KINSHASA)
    roads, places = ctx.sources
    assert roads.kind == "roads" and len(roads.frame) == 3 and "highway" in roads.frame
    # The French names, as the mission's language asks.
    assert places.name_column == "name:fr"
    drawn = prepare_context_layers(ctx.sources, KINSHASA)
    assert list(drawn[1].frame["name"]) == ["Kinkole"]
    assert ctx.basemap is None


def test_a_context_layer_that_is_a_source_of_the_mission_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="never a source of the mission"):
        load_mission_config(_mission_yaml(tmp_path, (
            "  context_layers:\n    - {path: incidents.csv, label: Lieux, kind: places}\n")))


def test_a_context_layer_outside_the_mission_folders_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(ConfigError, match=r"sharing.context_layers.0.path: .* lies outside"):
        load_mission_config(_mission_yaml(tmp_path / "m", (
            "  context_layers:\n    - {path: ../roads.geojson, label: R, kind: roads}\n")))


def test_a_places_layer_without_names_is_refused_with_what_to_do(tmp_path):
    from protection_eval.io.errors import InputFileError

    make_places().drop(columns=["name"]).to_file(tmp_path / "p.geojson", driver="GeoJSON")
    config = MissionConfig.model_validate({
        "mission": "KIN", "name": "K", "timezone": "Africa/Kinshasa",
        "period": {"start": "2023-01-01", "end": "2023-06-30"},
        "sources": {"incidents": {"path": "i.csv"}, "areas": {"path": "a.geojson"}},
        "sharing": {"context_layers": [{"path": str(tmp_path / "p.geojson"), "label": "P",
                                        "kind": "places"}]}})
    with pytest.raises(InputFileError, match="no column of names .*Set `name:`"):
        load_map_context(config, KINSHASA)


# -- the audit ---------------------------------------------------------------------------------


def _audit(folder: Path, reference, identifying: tuple[str, ...], incident: tuple[float, float]):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    incidents = pd.DataFrame({"incident_id": ["INC-1"], "longitude": [incident[0]],
                              "latitude": [incident[1]]})
    return audit_shared_folder(folder, incidents=incidents, areas=kinshasa_areas(),
                               identifying_values=identifying, reference=reference)


def test_the_audit_takes_place_names_and_positions_for_public_data_not_survivors(tmp_path):
    """A village named like a survivor, an incident placed at a town: not findings on a map."""
    (tmp_path / "coverage_map.html").write_text(kinshasa_map(), encoding="utf-8")
    kinkole = (15.4, -4.35)
    reference = context_reference(context(), kinshasa_areas().total_bounds)

    without = _audit(tmp_path, None, ("Kinkole",), kinkole).to_frame()
    assert {"identifying_value", "point_layer"} <= set(without["kind"])
    audited = _audit(tmp_path, reference, ("Kinkole",), kinkole)
    assert audited.ok, audited.to_frame()[["kind", "where", "value"]].to_string()


def test_place_markers_write_no_number_pair_that_reads_as_a_coordinate(tmp_path):
    """Demo missions plant a (0, 0) incident row: a marker's ``iconSize: [0, 0]`` was found."""
    (tmp_path / "coverage_map.html").write_text(kinshasa_map(), encoding="utf-8")
    reference = context_reference(context(), kinshasa_areas().total_bounds)
    audited = _audit(tmp_path, reference, (), (0.0, 0.0))
    assert audited.ok, audited.to_frame()[["kind", "where", "what"]].to_string()


def test_the_audit_still_finds_a_place_name_written_in_other_text(tmp_path):
    reference = context_reference(context(), kinshasa_areas().total_bounds)
    (tmp_path / "notes.csv").write_text("area,remark\nK,survivor from Kinkole\n",
                                        encoding="utf-8")
    found = _audit(tmp_path, reference, ("Kinkole",), (15.0, -4.0)).to_frame()
    assert list(found["kind"]) == ["identifying_value"]


def test_the_audit_still_finds_a_marker_that_is_not_a_place_of_the_layers(tmp_path):
    reference = context_reference(context(), kinshasa_areas().total_bounds)
    page = kinshasa_map()
    assert "[-4.35,15.4]" in page
    page = page.replace("[-4.35,15.4]", "[-4.3512,15.4013]")
    (tmp_path / "coverage_map.html").write_text(page, encoding="utf-8")
    found = _audit(tmp_path, reference, (), (15.4013, -4.3512)).to_frame()
    assert "point_layer" in set(found["kind"])


def test_a_layer_label_or_place_name_with_markup_is_shown_as_text():
    places = make_places().assign(name=['Kin<img src=x onerror=alert(1)>kole', "", ""])
    ctx = MapContext((ContextSource('R<b onmouseover="x()">', "places", places, "name"),))
    page = build(context=ctx, areas=kinshasa_areas(), hexagons=kinshasa_hexagons(),
                 footprint=None, gaps=None).to_html()
    assert "<img src=x" not in page and "<b onmouseover" not in page
    # Escaped once for innerHTML: the browser shows the name's own characters.
    assert place_labels(page) == ["Kin<img src=x onerror=alert(1)>kole"]
    assert "\\u0026lt;img src=x" in page
    assert '"R\\u0026lt;b onmouseover=\\u0026quot;x()\\u0026quot;\\u0026gt;" : feature_group_' \
        in page or '"R&lt;b onmouseover=&quot;x()&quot;&gt;" : feature_group_' in page


def test_the_ledger_reads_the_same_counts_from_a_map_with_or_without_context(tmp_path):
    from protection_eval.sharing.audit.margins import read_published_margins

    counts = {}
    for name, options in (("plain", {"context": None}), ("context", {})):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "coverage_map.html").write_text(kinshasa_map(**options), encoding="utf-8")
        read = read_published_margins(folder, "2023-01..2023-06", mission="KIN")
        assert read.unread == []
        counts[name] = sorted((m.unit, m.name, m.value) for m in read.margins)
    assert counts["context"] == counts["plain"]
    # The six shown hexagons' counts (the suppressed one is not shown), and nothing else.
    assert sorted(v for _, _, v in counts["plain"]) == [7, 9, 12, 25, 40, 60]


def test_at_most_400_places_are_labelled_towns_before_hamlets():
    rng = np.random.default_rng(3)
    kinds = ["hamlet"] * 300 + ["village"] * 150 + ["town"] * 50
    places = gpd.GeoDataFrame(
        {"name": [f"P{i}" for i in range(500)], "place": kinds},
        geometry=[Point(x, y) for x, y in zip(rng.uniform(15.21, 15.44, 500),
                                               rng.uniform(-4.44, -4.21, 500), strict=True)],
        crs="EPSG:4326")
    [layer] = prepare_context_layers([ContextSource("P", "places", places, "name")],
                                     kinshasa_areas().total_bounds)
    assert len(layer.frame) == 400 and layer.dropped == {"labels": 100}
    assert (layer.frame["rank"] == 1).sum() == 50 and (layer.frame["rank"] == 2).sum() == 150
    assert (layer.frame["rank"] == 3).sum() == 200
