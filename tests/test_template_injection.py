"""No data value is ever compiled as a template (issue 25, item 1).

folium and branca compiled the rendered map script as a Jinja template a second time, so an area
name ``{{7*7}}`` was published as ``49`` and a crafted one ran code. Each payload here goes into
every string a shared or restricted map shows (area name and code, footprint unit type, mission
code, period, tile attribution and URL, incident fields), and each test checks that the page
shows the payload's own text, that the evaluated form is absent and that no file was touched.
The invariant tests record every template Jinja compiles while pages are built from sentinel data
and assert that no compiled source holds the sentinel.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from pathlib import Path

import folium
import geopandas as gpd
import jinja2
import nbformat
import pandas as pd
import pytest
from shapely.geometry import Point
from test_maps import (
    build,
    embedded_geojson,
    make_areas,
    make_footprint,
    make_gaps,
    make_hexagons,
)

from protection_eval.sharing.brief import BriefInputs, render_brief
from protection_eval.sharing.inert import InertHtml, render_inert
from protection_eval.sharing.maps import CoverageSubject, make_restricted_coverage_map
from protection_eval.sharing.offline import to_offline_html, to_offline_notebook_html

MARKER_VARIABLE = "PE_TEMPLATE_MARKER"
#: Each payload, and what a page would show had it been evaluated as a template.
EXPRESSION = "Zone {{7*7}} end"
LOOP = "Loop {% for x in [1,2] %}x{% endfor %} end"
COMMENT = "Open {# comment"
#: Create the folder named by $PE_TEMPLATE_MARKER when evaluated, every time without error (no
#: quote needed, so HTML escaping leaves them as they are).
FILE = ("{{ lipsum.__globals__.os.makedirs(lipsum.__globals__.os.environ.PE_TEMPLATE_MARKER, "
        "exist_ok=True) }}")
FILE_CYCLER = (
    "{{ cycler.__init__.__globals__.os.makedirs(cycler.__init__.__globals__.os.environ"
    ".PE_TEMPLATE_MARKER, exist_ok=True) }}"
)
PAYLOADS = {
    "expression": EXPRESSION,
    "loop": LOOP,
    "comment": COMMENT,
    "file": FILE,
    "file_cycler": FILE_CYCLER,
}
EVALUATED = ("Zone 49 end", "Loop xx end")
TILE_URL = "https://tiles.mission.example/{z}/{x}/{y}.png"


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder a FILE payload would create if it ran."""
    path = tmp_path / "template-ran"
    monkeypatch.setenv(MARKER_VARIABLE, str(path))
    return path


def properties(page: str) -> list[str]:
    """Every property value of every FeatureCollection embedded in the page."""
    return [
        value
        for collection in embedded_geojson(page)
        for feature in collection["features"]
        for value in feature["properties"].values()
    ]


def assert_not_evaluated(page: str, marker: Path) -> None:
    for evaluated in EVALUATED:
        assert evaluated not in page
    assert not marker.exists(), "a template payload ran and created the marker folder"


def shared_map(field: str, payload: str) -> str:
    """The shared map's page with ``payload`` in one field."""
    areas = make_areas()
    footprint = make_footprint()
    options: dict[str, object] = {}
    if field == "area name":
        areas.loc[0, "name"] = payload
    elif field == "area_id":
        areas.loc[1, "area_id"] = payload
    elif field == "unit type":
        footprint.loc[0, "unit_type"] = payload
    elif field == "mission":
        options["mission"] = payload
    elif field == "period":
        options["period"] = payload
    elif field == "tile attribution":
        options.update(tile_url=TILE_URL, tile_attribution=payload)
    return build(areas=areas, footprint=footprint, **options).to_html()


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", ["area name", "area_id", "unit type"])
def test_a_payload_in_a_layer_property_is_shown_as_its_own_text(field, payload, marker):
    page = shared_map(field, payload)
    assert html.escape(payload) in properties(page)
    assert_not_evaluated(page, marker)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", ["mission", "period"])
def test_a_payload_in_the_title_is_shown_as_its_own_text(field, payload, marker):
    page = shared_map(field, payload)
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    banner = re.search(r'<div class="pe-title"[^>]*><div style="font-weight:bold">(.*?)</div>',
                       page, re.DOTALL)
    assert title is not None and html.escape(payload) in title.group(1)
    assert banner is not None and html.escape(payload) in banner.group(1)
    assert_not_evaluated(page, marker)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_payload_in_the_tile_attribution_reaches_leaflet_as_its_own_text(payload, marker):
    page = shared_map("tile attribution", payload)
    assert f'"attribution": {json.dumps(payload)}' in page
    assert_not_evaluated(page, marker)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_payload_in_restricted_incident_fields_is_shown_as_its_own_text(payload, marker):
    incidents = gpd.GeoDataFrame(
        {"incident_id": [payload], "gbv_type": [payload], "location_precision": [payload]},
        geometry=[Point(30.1, 1.6)],
        crs="EPSG:4326",
    )
    page = make_restricted_coverage_map(
        make_areas(), make_hexagons(), make_footprint(), make_gaps(), incidents,
        subject=CoverageSubject(mission="M", period="p", synthetic=True),
    ).to_html()
    assert properties(page).count(html.escape(payload)) == 3
    assert_not_evaluated(page, marker)


def test_the_notebook_display_of_a_map_carries_the_payload_as_text(marker):
    areas = make_areas().assign(name=[EXPRESSION, FILE])
    shown = build(areas=areas)._repr_html_()
    inner = html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1))
    assert {html.escape(EXPRESSION), html.escape(FILE)} <= set(properties(inner))
    assert_not_evaluated(inner, marker)


def test_folium_own_entry_points_render_a_built_map_inert(marker):
    """A user who displays or saves ``CoverageMap.folium_map`` in JupyterLab gets no evaluation."""
    areas = make_areas().assign(name=[EXPRESSION, FILE])
    fmap = build(areas=areas).folium_map
    page = fmap.get_root().render()
    assert html.escape(EXPRESSION) in properties(page)
    assert_not_evaluated(page, marker)


# --- the renderer refuses what it cannot keep inert --------------------------------------------


def test_text_compiled_as_a_template_is_refused_before_it_is_rendered(marker):
    cm = build()
    cm.folium_map.get_root().html.add_child(folium.Element(FILE))
    with pytest.raises(TypeError, match="compiled from text with template syntax"):
        cm.to_html()
    assert not marker.exists()


def test_an_element_that_renders_outside_its_macros_is_refused():
    class Rogue(folium.MacroElement):
        def render(self, **kwargs):  # never reaches MacroElement.render
            self.get_root().script.add_child(InertHtml("rogue"))

    fmap = folium.Map(tiles=None)
    Rogue().add_to(fmap)
    with pytest.raises(TypeError, match="renders its own way"):
        render_inert(fmap)


def test_inert_html_renders_its_text_with_template_syntax_untouched():
    fmap = folium.Map(tiles=None)
    fmap.get_root().html.add_child(InertHtml(f"<p>{LOOP}</p>"))
    assert f"<p>{LOOP}</p>" in render_inert(fmap)


# --- the invariant: no compiled template source holds a data value -----------------------------

SENTINEL = "sentinel-7f3a-data"


@pytest.fixture
def compiled_sources(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every template source Jinja compiles from now on (folium's, branca's, nbconvert's)."""
    sources: list[str] = []
    compile_ = jinja2.Environment.compile

    def recording(self, source, *args, **kwargs):
        if isinstance(source, str):
            sources.append(source)
        return compile_(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", recording)
    return sources


def sentinel_layers() -> dict[str, object]:
    areas = make_areas().assign(name=[f"{SENTINEL} name", "x"], area_id=[f"{SENTINEL} id", "y"])
    return {
        "areas": areas,
        "hexagons": make_hexagons(),
        "footprint": make_footprint().assign(unit_type=f"{SENTINEL} unit"),
        "gaps": make_gaps(),
    }


def test_no_template_compiled_for_a_shared_map_contains_a_data_value(compiled_sources):
    page = build(
        **sentinel_layers(),
        mission=f"{SENTINEL}-mission",
        period=f"{SENTINEL} period",
        tile_url=f"https://tiles.mission.example/{SENTINEL}/{{z}}/{{x}}/{{y}}.png",
        tile_attribution=f"{SENTINEL} attribution",
    ).to_html()
    assert page.count(SENTINEL) >= 7  # every value reached the page
    assert compiled_sources, "the instrument saw no compilation at all"
    assert not [s for s in compiled_sources if SENTINEL in s]


def test_no_template_compiled_for_a_restricted_map_contains_a_data_value(compiled_sources):
    incidents = gpd.GeoDataFrame(
        {"incident_id": [SENTINEL], "gbv_type": [SENTINEL], "location_precision": [SENTINEL]},
        geometry=[Point(30.1, 1.6)],
        crs="EPSG:4326",
    )
    layers = sentinel_layers()
    page = make_restricted_coverage_map(
        layers["areas"], layers["hexagons"], layers["footprint"], layers["gaps"], incidents,
        subject=CoverageSubject(mission=SENTINEL, period=SENTINEL, synthetic=True),
    ).to_html()
    assert SENTINEL in page
    assert not [s for s in compiled_sources if SENTINEL in s]


def test_no_template_compiled_for_a_notebook_export_contains_a_data_value(compiled_sources):
    """The restricted HTML of an executed notebook (nbconvert's Jinja templates) and its map."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"print('{SENTINEL}')")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"{SENTINEL} {EXPRESSION}\n"),
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": build(**sentinel_layers())._repr_html_(), "text/plain": "map"},
        ),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {SENTINEL}"), cell]
    page = to_offline_notebook_html(nb)
    assert SENTINEL in page and html.escape(EXPRESSION) in page
    assert not [s for s in compiled_sources if SENTINEL in s]


def test_the_brief_compiles_no_template_and_keeps_payloads_as_text(compiled_sources, marker):
    gaps = pd.DataFrame({"rank": [1, 2, 3], "place": [EXPRESSION, LOOP, FILE],
                         "incidents": [12, 9, 7], "covered_share": [0.1, 0.0, 0.2]})
    page = render_brief(
        BriefInputs(mission="DEMO-C", name=f"{SENTINEL} {COMMENT}", period=("2022-01", "2023-12"),
                    synthetic=True, k=5, gaps=gaps),
        generated=dt.date(2024, 1, 1),
    )
    for payload in (EXPRESSION, LOOP, FILE, COMMENT):
        assert html.escape(payload) in page
    assert_not_evaluated(page, marker)
    assert not [s for s in compiled_sources if SENTINEL in s]


def test_offline_placeholders_in_data_are_left_as_text():
    """Text that looks like the vendoring placeholder is data, never swapped for an asset."""
    page = to_offline_html(
        "<html><body><p>&lt;x&gt;</p><!--protection-eval-vendored:leaflet-->"
        '<script src="https://unpkg.com/leaflet@1.9.3/dist/leaflet.js"></script>'
        "<!--protection-eval-vendored:nosuch--></body></html>"
    )
    assert "<!--protection-eval-vendored:leaflet-->" in page
    assert "<!--protection-eval-vendored:nosuch-->" in page
    assert page.count('data-vendored="leaflet/leaflet.js"') == 1


def test_marker_payloads_do_run_when_compiled_so_the_tests_above_can_fail(marker):
    """The payloads are live: compiled as branca did, each would evaluate or break."""
    from branca.element import Element

    for payload in (FILE, FILE_CYCLER):
        Element(payload).render()
        assert marker.exists()
        os.rmdir(marker)
    assert Element(EXPRESSION).render() == "Zone 49 end"
    assert Element(LOOP).render() == "Loop xx end"
    with pytest.raises(jinja2.TemplateSyntaxError):
        Element(COMMENT)


def _context(field: str, payload: str):
    """Context layers (issue 29) with ``payload`` as a place name or as a layer label."""
    from shapely.geometry import LineString

    from protection_eval.sharing.context import ContextSource, MapContext

    places = gpd.GeoDataFrame({"name": [payload if field == "place name" else "Bunia"]},
                              geometry=[Point(30.1, 1.6)], crs="EPSG:4326")
    roads = gpd.GeoDataFrame({"highway": ["primary"]},
                             geometry=[LineString([(30.0, 1.55), (30.3, 1.65)])],
                             crs="EPSG:4326")
    label = payload if field == "layer label" else "Roads"
    return MapContext((ContextSource("Places", "places", places, "name"),
                       ContextSource(label, "roads", roads, None)))


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", ["place name", "layer label"])
def test_a_payload_in_a_context_layer_is_shown_as_its_own_text(field, payload, marker):
    page = build(context=_context(field, payload), language="fr").to_html()
    if field == "place name":
        icons = [json.loads(f'"{m}"') for m in re.findall(r'"html": "((?:[^"\\]|\\.)*)"', page)]
        assert f'<span class="pe-name">{html.escape(payload)}</span>' in "".join(icons)
    else:
        names = [json.loads(f'"{m}"')
                 for m in re.findall(r'"((?:[^"\\]|\\.)*)" : feature_group_', page)]
        assert html.escape(payload) in names
        legend = re.search(r'<details class="pe-legend".*?</details>', page, re.DOTALL)
        assert html.escape(payload) in legend.group(0)
    assert_not_evaluated(page, marker)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_payload_in_a_context_layer_stays_text_in_the_printable_map(payload, marker):
    from protection_eval.sharing.context import prepare_context_layers
    from protection_eval.sharing.svgmap import to_svg_map

    layers = prepare_context_layers(_context("place name", payload).sources,
                                    make_areas().total_bounds, budget_bytes=None)
    svg = to_svg_map(make_areas(), make_hexagons(), None, None, k=5, context=layers)
    assert f">{html.escape(payload)}</text>" in svg
    brief = render_brief(BriefInputs(mission="M", name="M", period=("2023-01", "2023-06"),
                                     synthetic=True, k=5, language="fr", map_svg=svg))
    assert f">{html.escape(payload)}</text>" in brief
    assert_not_evaluated(svg + brief, marker)
