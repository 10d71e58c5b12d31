"""Tests for the shared coverage map builder and the offline-HTML machinery."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import h3
import nbformat
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from protection_eval.sharing import maps, offline
from protection_eval.sharing.maps import (
    CoverageSubject,
    MapStyle,
    make_coverage_map,
    make_restricted_coverage_map,
)
from protection_eval.sharing.offline import (
    OfflineError,
    find_external_requests,
    to_offline_html,
    to_offline_notebook_html,
)

TILE_URL = "https://tiles.mission.example/{z}/{x}/{y}.png"


def make_areas(n: int = 2) -> gpd.GeoDataFrame:
    """Two side-by-side square areas near Bunia with per-area measures."""
    return gpd.GeoDataFrame(
        {
            "area_id": [f"A{i}" for i in range(n)],
            "name": [f"Secteur {i}" for i in range(n)],
            "incidents": pd.array([12, None][:n] + [7] * max(0, n - 2), dtype="Int64"),
            "footprint_share": [0.62, 0.1][:n] + [0.3] * max(0, n - 2),
            "patrol_hours": [1234.4, 80.0][:n] + [10.0] * max(0, n - 2),
        },
        geometry=[box(30.0 + 0.2 * i, 1.5, 30.2 + 0.2 * i, 1.7) for i in range(n)],
        crs="EPSG:4326",
    )


def _hexagon_frame(cells: list[str], counts: list[int | None]) -> gpd.GeoDataFrame:
    polygons = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoDataFrame(
        {"h3_cell": cells, "incidents": pd.array(counts, dtype="Int64")},
        geometry=polygons,
        crs="EPSG:4326",
    )


def make_hexagons(counts: list[int | None] | None = None) -> gpd.GeoDataFrame:
    """Hexagons around one point with display counts (NA = suppressed)."""
    counts = [40, 9, None, 0, 120] if counts is None else counts
    cells = list(h3.grid_disk(h3.latlng_to_cell(1.6, 30.1, 8), 2))[: len(counts)]
    return _hexagon_frame(cells, counts)


def make_footprint() -> gpd.GeoDataFrame:
    circles = [Point(30.05 + 0.01 * i, 1.6).buffer(0.018) for i in range(5)]
    return gpd.GeoDataFrame(
        {"unit_type": ["military"]}, geometry=[shapely.union_all(circles)], crs="EPSG:4326"
    )


def make_gaps() -> gpd.GeoDataFrame:
    gaps = make_hexagons([40, 120]).assign(gap_rank=[2, 1], covered_share=[0.05, 0.0])
    return gaps[["gap_rank", "h3_cell", "incidents", "covered_share", "geometry"]]


def coverage_map(*layers: gpd.GeoDataFrame | None, **options: object) -> maps.CoverageMap:
    """The shared map of ``layers``; an option is k, context or a subject's or style's field."""

    def take(option_class: type) -> dict[str, object]:
        names = {f.name for f in dataclasses.fields(option_class)} & set(options)
        return {name: options.pop(name) for name in names}

    subject, style = CoverageSubject(**take(CoverageSubject)), MapStyle(**take(MapStyle))
    return make_coverage_map(*layers, subject=subject, style=style, **options)


def build(**overrides: object) -> maps.CoverageMap:
    kwargs: dict[str, object] = {
        "areas": make_areas(),
        "hexagons": make_hexagons(),
        "footprint": make_footprint(),
        "gaps": make_gaps(),
        "mission": "DEMO-A",
        "period": "2022-01 to 2023-12",
        "synthetic": True,
        "radius_m": 2000,
    }
    kwargs.update(overrides)
    layers = [kwargs.pop(name) for name in ("areas", "hexagons", "footprint", "gaps")]
    return coverage_map(*layers, **kwargs)


def embedded_geojson(page: str) -> list[dict]:
    """Every FeatureCollection folium embedded in the page."""
    return [json.loads(m) for m in re.findall(r"_add\((\{\"features\".*?\})\);\n", page)]


# --- vendored assets ---------------------------------------------------------------------------


def test_every_registered_asset_exists_with_its_licence_and_is_listed_in_vendored_md():
    assets_dir = Path(offline.__file__).parent / "assets"
    vendored_md = (assets_dir / "VENDORED.md").read_text()
    for asset in offline.ASSETS:
        path = assets_dir / asset.path
        assert path.is_file(), asset.path
        folder = path.parent
        assert any(folder.glob("LICENSE*")), f"no licence beside {asset.path}"
        assert asset.path.split("/")[0] in vendored_md


def test_vendored_assets_fetch_nothing_external_once_inlined():
    for asset in offline.ASSETS:
        text = offline.load_asset(asset.name)
        tag = "script" if asset.kind == "js" else "style"
        allowed = ("https://leafletjs.com",)  # in Leaflet's licence comment, never fetched
        assert find_external_requests(f"<{tag}>{text}</{tag}>", allowed) == [], asset.name
        if asset.kind == "css":
            urls = re.findall(r"url\(\s*[\"']?([^\"')]+)", text)
            assert all(u.startswith(("data:", "#")) for u in urls), urls


# --- to_offline_html ---------------------------------------------------------------------------


def test_to_offline_html_inlines_leaflet_and_jquery_in_place_of_the_cdn_links():
    page = (
        '<html><head><script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js">'
        '</script><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"/>'
        "</head><body></body></html>"
    )
    out = to_offline_html(page)
    assert "cdn.jsdelivr" not in out and "code.jquery" not in out
    assert "Leaflet 1.9.3" in out and "jQuery v3.7.1" in out
    assert "data:image/png;base64," in out  # layers.png for the layer control
    assert find_external_requests(out) == []


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="https://cdn.example.org/lib.js"></script>',
        '<link rel="stylesheet" href="//fonts.example.org/font.css">',
        '<img src="https://tracker.example.org/pixel.gif">',
        "<style>body { background: url('https://img.example.org/bg.png') }</style>",
        "<style>@import 'https://fonts.example.org/a.css';</style>",
        "<script>fetch('https://api.example.org/beacon')</script>",
        '<div style="background-image:url(https://img.example.org/x.png)"></div>',
    ],
)
def test_to_offline_html_raises_naming_any_external_fetch(snippet):
    url = re.search(r"((?:https:)?//[\w.]+example\.org/[\w./]+)", snippet).group(1)
    with pytest.raises(OfflineError) as caught:
        to_offline_html(f"<html><head></head><body>{snippet}</body></html>")
    assert caught.value.urls == [url]
    assert url in str(caught.value)


def test_to_offline_html_allows_hyperlinks_comments_and_the_named_tile_server():
    page = (
        '<html><body><a href="https://www.un.org/">UN</a><!-- https://x.example.org/ -->'
        f"<script>var tiles = {json.dumps(TILE_URL)};</script></body></html>"
    )
    assert to_offline_html(page, allowed_urls=[TILE_URL]) == page
    with pytest.raises(OfflineError, match="tiles.mission.example"):
        to_offline_html(page)


def test_to_offline_html_drops_named_scripts_and_processes_iframe_srcdoc():
    inner = folium.Map(tiles=None)
    inner.default_js = [("leaflet", offline.ASSETS[0].urls[0])]
    inner.default_css = [("leaflet_css", offline.ASSETS[1].urls[0])]
    iframe = inner._repr_html_()
    page = f'<script src="https://cdn.example.org/require.js"></script>{iframe}'
    out = to_offline_html(page, drop_urls=["https://cdn.example.org/require.js"])
    assert "require.js" not in out
    assert "cdn.jsdelivr" not in out and "Leaflet 1.9.3" in out


def test_to_offline_notebook_html_removes_require_and_mathjax():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Brief\n\nReports by month."))
    out = to_offline_notebook_html(nb, exclude_input=True)
    assert "Reports by month." in out
    assert "require.min.js" not in out and "mathjax/2.7.7" not in out
    assert "cdnjs" not in out and "<script src" not in out
    assert find_external_requests(out) == []


# --- the shared map ----------------------------------------------------------------------------


def test_shared_map_page_is_self_contained_and_titled_with_mission_period_and_synthetic():
    page = build().to_html()
    assert find_external_requests(page) == []
    assert "DEMO-A: patrol coverage and reported SGBV, 2022-01 to 2023-12 (SYNTHETIC)" in page
    assert "SYNTHETIC DATA" in page
    assert "L.control.scale({imperial:false})" in page
    assert "L.control.layers(" in page
    assert "L.tileLayer(" not in page  # no tile server configured: plain background


def test_the_same_map_renders_to_the_same_bytes():
    first, second = build().to_html(), build().to_html()
    assert first == second
    assert re.search(r"map_0{31}0\b", first), "element ids are numbered in order"


def test_real_mission_title_does_not_say_synthetic():
    page = build(synthetic=False).to_html()
    assert "SYNTHETIC" not in page


def test_configured_tile_server_is_the_only_external_reference():
    page = build(tile_url=TILE_URL, tile_attribution="Mission GIS").to_html()
    assert "tiles.mission.example" in page
    assert find_external_requests(page) == [TILE_URL]
    assert find_external_requests(page, [TILE_URL]) == []


def test_tile_attribution_hyperlink_is_allowed_but_a_non_http_tile_url_is_refused():
    attribution = '&copy; <a href="https://www.openstreetmap.org/copyright">OSM</a>'
    page = build(tile_url=TILE_URL, tile_attribution=attribution).to_html()
    assert "openstreetmap.org/copyright" in page
    assert find_external_requests(page, [TILE_URL]) == []
    with pytest.raises(ValueError, match="http"):
        build(tile_url="ftp://tiles.mission.example/{z}/{x}/{y}.png")


def test_script_string_that_is_not_a_hyperlink_is_still_refused():
    page = '<script>var a = "<a href=\\"x\\">"; var s = document.createElement("script");'
    page += ' s.src = "https://cdn.example.org/x.js";</script>'
    assert find_external_requests(page) == ["https://cdn.example.org/x.js"]


def test_property_off_the_whitelist_is_an_error_not_silently_dropped():
    hexagons = make_hexagons().assign(incident_ids="I-1;I-2")
    with pytest.raises(ValueError, match=r"\['incident_ids'\].*whitelist"):
        build(hexagons=hexagons)
    areas = make_areas().assign(safe_house="yes")
    with pytest.raises(ValueError, match="safe_house"):
        build(areas=areas)


def test_count_between_one_and_k_minus_one_is_refused_on_the_shared_map():
    with pytest.raises(ValueError, match="between 1 and 4"):
        build(hexagons=make_hexagons([40, 3]))
    with pytest.raises(ValueError, match="between 1 and 9"):
        build(hexagons=make_hexagons([40, 7]), k=10)


def test_k_below_five_is_refused():
    with pytest.raises(ValueError, match="k >= 5"):
        build(k=3)


def test_suppressed_and_zero_hexagons_are_not_drawn_and_only_whitelisted_properties_embedded():
    cm = build()
    page = cm.to_html()
    collections = embedded_geojson(page)
    hexes = next(c for c in collections if "h3_cell" in c["features"][0]["properties"])
    shown = sorted(f["properties"]["incidents"] for f in hexes["features"])
    assert shown == ["120", "40", "9"]  # the NA (suppressed) and 0 hexagons are absent
    allowed = set().union(
        maps.AREA_PROPERTIES,
        maps.HEXAGON_PROPERTIES,
        maps.FOOTPRINT_PROPERTIES,
        maps.GAP_PROPERTIES,
    )
    for collection in collections:
        for feature in collection["features"]:
            assert set(feature["properties"]) <= allowed
    layers = cm.to_frame().set_index("layer")["features"].to_dict()
    assert layers == {"Areas": 2, "Patrol footprint": 1, "Reports per hexagon": 3, "Gaps": 2}


def test_area_tooltips_show_formatted_values_and_suppressed_counts_as_not_shown():
    collections = embedded_geojson(build().to_html())
    areas = next(c for c in collections if "name" in c["features"][0]["properties"])
    first, second = (f["properties"] for f in areas["features"])
    assert first == {
        "area_id": "A0",
        "name": "Secteur 0",
        "incidents": "12",
        "footprint_share": "62%",
        "patrol_hours": "1,234",
    }
    assert second["incidents"] == "not shown (suppressed)"


def test_coordinates_are_rounded_to_the_requested_decimals():
    page = build(decimals=4).to_html()
    for collection in embedded_geojson(page):
        for feature in collection["features"]:
            coords = np.asarray(
                shapely.get_coordinates(shapely.from_geojson(json.dumps(feature["geometry"])))
            )
            assert np.allclose(coords, np.round(coords, 4), atol=1e-12)


def test_no_incident_layer_exists_in_the_shared_builder():
    with pytest.raises(TypeError):
        make_coverage_map(  # type: ignore[call-arg]
            make_areas(),
            make_hexagons(),
            incidents=gpd.GeoDataFrame(geometry=[Point(30.1, 1.6)], crs="EPSG:4326"),
            subject=CoverageSubject(mission="X", period="p", synthetic=True),
        )


def test_restricted_map_says_restricted_and_may_show_small_counts_and_points():
    incidents = gpd.GeoDataFrame(
        {"incident_id": ["I-1"], "gbv_type": ["rape"]},
        geometry=[Point(30.1234567, 1.6)],
        crs="EPSG:4326",
    )
    cm = make_restricted_coverage_map(
        make_areas(),
        make_hexagons([40, 3]),
        incidents=incidents,
        subject=CoverageSubject(mission="DEMO-A", period="2022", synthetic=True),
    )
    page = cm.to_html()
    assert cm.restricted
    assert "RESTRICTED: evaluation team only" in page
    assert "<title>RESTRICTED DEMO-A" in page
    assert "30.12346" in page and "I-1" in page


SCRIPT_LABEL = 'Kator"><img src=x onerror="new Image().src=1">'


def test_every_tooltip_value_is_escaped_for_html_on_shared_and_restricted_maps():
    areas = make_areas().assign(name=[SCRIPT_LABEL, "Tom & Jerry's"])
    incidents = gpd.GeoDataFrame(
        {"incident_id": ["I-1"], "gbv_type": [SCRIPT_LABEL]},
        geometry=[Point(30.1, 1.6)],
        crs="EPSG:4326",
    )
    shared = build(areas=areas, footprint=make_footprint().assign(unit_type=SCRIPT_LABEL))
    restricted = make_restricted_coverage_map(
        areas, make_hexagons(), incidents=incidents,
        subject=CoverageSubject(mission="M", period="p", synthetic=True),
    )
    for cm in (shared, restricted):
        page = cm.to_html()
        collections = embedded_geojson(page)
        assert len(collections) == (4 if cm is shared else 3)  # restricted: incident points
        values = [
            value
            for collection in collections
            for feature in collection["features"]
            for value in feature["properties"].values()
        ]
        assert values and not any("<" in v or '"' in v for v in values)
        # folium writes values with innerHTML, which decodes each entity once: the reader
        # sees the label's own characters, not "&amp;".
        assert html.escape(SCRIPT_LABEL) in values
        assert "Tom &amp; Jerry&#x27;s" in values
    assert "Unit type" in shared.to_html()


def test_projected_layers_are_shown_in_degrees():
    areas = make_areas().to_crs(32735)
    collections = embedded_geojson(build(areas=areas).to_html())
    x, y = collections[0]["features"][0]["geometry"]["coordinates"][0][0]
    assert 29.9 < x < 30.5 and 1.4 < y < 1.8


# --- size of a large mission's map -------------------------------------------------------------


def make_large_mission_layers(
    n_incidents: int = 100_000, seed: int = 3
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Layers of realistic size for a 100,000-incident mission over a 400 km square.

    Incidents cluster around 150 settlements; counted per H3 resolution-8 hexagon, suppressed
    below 5; 300 areas with 400-vertex boundaries detailed at every scale; a footprint of 2 km
    circles around 2,000 patrol positions; 50 gaps.
    """
    rng = np.random.default_rng(seed)
    towns = rng.uniform([27.0, -3.0], [30.6, 0.6], size=(150, 2))
    weights = rng.pareto(1.2, 150) + 0.1
    town = rng.choice(150, n_incidents, p=weights / weights.sum())
    spread = rng.uniform(0.01, 0.08, 150)[town]
    lng = towns[town, 0] + rng.normal(0, 1, n_incidents) * spread
    lat = towns[town, 1] + rng.normal(0, 1, n_incidents) * spread
    cells = pd.Series([h3.latlng_to_cell(a, b, 8) for a, b in zip(lat, lng, strict=True)])
    counts = cells.value_counts()
    display = counts.where(counts >= 5).astype("Int64")
    hexagons = _hexagon_frame(list(display.index), list(display))

    side = 20
    areas = []
    for i in range(side * side * 3 // 4):
        x0, y0 = 27.0 + (i % side) * 0.18, -3.0 + (i // side) * 0.18
        t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
        # Boundary detail at every scale, like rivers and ridges: harmonics with amplitude 1/f.
        f = np.arange(2, 120)
        wobble = (rng.normal(0, 0.08, f.size) / f) @ np.cos(
            np.outer(f, t) + rng.uniform(0, 7, (f.size, 1))
        )
        r = 0.09 * (1 + wobble)
        ring = np.c_[x0 + 0.09 + r * np.cos(t), y0 + 0.09 + r * np.sin(t)]
        areas.append(shapely.Polygon(ring).buffer(0))
    area_frame = gpd.GeoDataFrame(
        {
            "area_id": [f"CD-{i:04d}" for i in range(len(areas))],
            "name": [f"Groupement {i}" for i in range(len(areas))],
            "incidents": pd.array(rng.integers(5, 900, len(areas)), dtype="Int64"),
            "footprint_share": rng.uniform(0, 1, len(areas)),
            "patrol_hours": rng.uniform(0, 5000, len(areas)),
            "women_share": rng.uniform(0, 0.3, len(areas)),
        },
        geometry=areas,
        crs="EPSG:4326",
    )
    positions = towns[rng.choice(150, 2000)] + rng.normal(0, 0.05, (2000, 2))
    footprint = gpd.GeoDataFrame(
        {"unit_type": ["all"]},
        geometry=[shapely.union_all(shapely.buffer(shapely.points(positions), 0.018))],
        crs="EPSG:4326",
    )
    top = display.dropna().sort_values(ascending=False).head(50)
    gaps = _hexagon_frame(list(top.index), list(top)).assign(gap_rank=range(1, 51))
    return area_frame, hexagons, footprint, gaps


@pytest.mark.slow
def test_shared_map_of_a_100k_incident_mission_stays_under_5_mb():
    areas, hexagons, footprint, gaps = make_large_mission_layers()
    assert hexagons["incidents"].notna().sum() > 3000  # a realistically busy hexagon layer
    page = make_coverage_map(
        areas, hexagons, footprint, gaps,
        subject=CoverageSubject(mission="BIG", period="2022", synthetic=True),
    ).to_html()
    size = len(page.encode("utf-8"))
    assert size < 5_000_000, f"{size:,} bytes"


def test_stock_folium_map_is_refused_naming_the_unvendored_cdn_assets():
    with pytest.raises(OfflineError) as caught:
        to_offline_html(folium.Map(tiles=None).get_root().render())
    assert any("bootstrap" in url for url in caught.value.urls)
    assert any("awesome-markers" in url for url in caught.value.urls)
    assert not any("leaflet@1.9.3" in url for url in caught.value.urls)  # vendored, inlined


def test_mission_with_no_incidents_still_gets_a_map_with_areas_and_footprint():
    empty = make_hexagons([])
    cm = build(hexagons=empty, gaps=None)
    layers = cm.to_frame().set_index("layer")["features"].to_dict()
    assert layers == {"Areas": 2, "Patrol footprint": 1, "Reports per hexagon": 0}
    assert find_external_requests(cm.to_html()) == []


def test_disclosure_suppressed_flag_is_accepted_but_not_embedded():
    hexagons = make_hexagons().assign(suppressed=[False, False, True, False, False])
    page = build(hexagons=hexagons).to_html()
    assert '"suppressed"' not in page


def test_notebook_display_and_its_html_export_stay_offline():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("cm")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": build()._repr_html_(), "text/plain": "map"}
        )
    ]
    nb.cells.append(cell)
    out = to_offline_notebook_html(nb)
    assert "srcdoc=" in out and "Leaflet 1.9.3" in out
    assert find_external_requests(out) == []


def test_find_external_requests_looks_inside_iframe_srcdoc_and_data_html():
    inner = '<script src="https://cdn.example.org/lib.js"></script>'
    escaped = inner.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert find_external_requests(f'<iframe srcdoc="{escaped}"></iframe>') == [
        "https://cdn.example.org/lib.js"
    ]
    encoded = base64.b64encode(inner.encode()).decode()
    page = f'<iframe src="data:text/html;charset=utf-8;base64,{encoded}"></iframe>'
    assert find_external_requests(page) == ["https://cdn.example.org/lib.js"]


def test_disclosure_output_goes_straight_into_the_shared_map():
    from protection_eval import hexgrid
    from protection_eval.sharing import disclosure
    rng = np.random.default_rng(5)
    lng, lat = rng.normal(30.1, 0.02, 400), rng.normal(1.6, 0.02, 400)
    incidents = pd.DataFrame({"h3_cell": hexgrid.to_h3_cells(lng, lat, 8)})
    table = disclosure.aggregate_counts(incidents, ["h3_cell"], k=5)
    hexagons = hexgrid.to_hexagon_frame(table.shared())
    cm = build(hexagons=hexagons, gaps=None)
    collections = embedded_geojson(cm.to_html())
    features = collections[-1]["features"]
    shown = [int(f["properties"]["incidents"].replace(",", "")) for f in features]
    assert len(shown) == int(hexagons["incidents"].notna().sum()) > 0
    assert min(shown) >= 5
