"""Published totals read from every container: maps, drawings, the brief, tables, the rest."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from protection_eval.hexgrid import to_hexagon_frame
from protection_eval.sharing.audit.margins import read_published_margins
from protection_eval.sharing.brief import BriefInputs, render_brief
from protection_eval.sharing.maps import CoverageSubject, make_coverage_map

PERIOD = "2023-01..2023-06"


def _points(seed: int = 3, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"latitude": 4.85 + rng.normal(0, 0.05, n),
                         "longitude": 31.60 + rng.normal(0, 0.05, n)})


def _counts_by_h3(points: pd.DataFrame, resolution: int = 7) -> Counter:
    """Incidents per hexagon, counted directly with h3 (independent of the library)."""
    return Counter(h3.latlng_to_cell(lat, lng, resolution)
                   for lat, lng in zip(points["latitude"], points["longitude"], strict=True))


def _map_page(counts: Counter, k: int = 5) -> str:
    table = pd.DataFrame({"h3_cell": list(counts), "resolution": 7,
                          "incidents": pd.array([n if n >= k else pd.NA for n in counts.values()],
                                                dtype="Int64")})
    hexagons = to_hexagon_frame(table)
    area = gpd.GeoDataFrame({"area_id": ["A01"], "name": ["Area 01"]},
                            geometry=[shapely.box(31.3, 4.5, 31.9, 5.2)], crs="EPSG:4326")
    subject = CoverageSubject(mission="M", period="2023-01 to 2023-06", synthetic=True)
    return make_coverage_map(area, hexagons, subject=subject, k=k).to_html()


def _moved(page: str, how: str) -> str:
    """The map with its layers embedded another way: in JSON scripts, strings, or base64."""
    if how == "in JSON scripts":
        return _as_json_scripts(page)
    decoder = json.JSONDecoder()
    parts, position = [], 0
    for match in re.finditer(r"_add\(\s*", page):
        try:
            layer, end = decoder.raw_decode(page, match.end())
        except ValueError:
            continue
        if isinstance(layer, dict) and layer.get("type") == "FeatureCollection":
            text = json.dumps(layer)
            code = (f"JSON.parse({json.dumps(text)})" if how == "in a string the code parses"
                    else f"JSON.parse(atob('{base64.b64encode(text.encode()).decode()}'))")
            parts += [page[position:match.end()], code]
            position = end
    return "".join([*parts, page[position:]])


def _as_json_scripts(page: str) -> str:
    """Move every layer the map writes into its code into an inert JSON script element."""
    decoder = json.JSONDecoder()
    parts, layers, position = [], [], 0
    for match in re.finditer(r"_add\(\s*", page):
        try:
            layer, end = decoder.raw_decode(page, match.end())
        except ValueError:
            continue
        if isinstance(layer, dict) and layer.get("type") == "FeatureCollection":
            layers.append(layer)
            parts += [page[position:match.end()], "JSON.parse(document.getElementById("
                      f"'layer-{len(layers)}').textContent)"]
            position = end
    parts.append(page[position:])
    moved = "".join(parts)
    assert len(layers) >= 2, "the map should carry its areas and hexagons as layers"
    assert '"type":"FeatureCollection"}' not in moved.replace(" ", "")
    inert = "".join(f'<script type="application/json" id="layer-{i}">{json.dumps(layer)}'
                    "</script>" for i, layer in enumerate(layers, start=1))
    return moved.replace("</body>", inert + "</body>", 1)


def _hexagon_margins(folder: Path) -> dict[str, int]:
    found = read_published_margins(folder, PERIOD, mission="M")
    assert found.unread == []
    return {m.unit: m.value for m in found.margins if m.name == "incidents"}


@pytest.mark.parametrize("embedding", ["in the code, as folium writes it", "in JSON scripts",
                                       "in a string the code parses"])
def test_every_hexagon_count_of_the_map_is_read_as_a_margin(tmp_path, embedding):
    counts = _counts_by_h3(_points())
    page = _map_page(counts)
    if embedding != "in the code, as folium writes it":
        page = _moved(page, embedding)
    (tmp_path / "coverage_map.html").write_text(page, encoding="utf-8")
    expected = {f"h3_cell={cell}": n for cell, n in counts.items() if n >= 5}
    assert len(expected) >= 10
    assert _hexagon_margins(tmp_path) == expected
    months = {(m.first, m.last) for m in read_published_margins(tmp_path, PERIOD).margins}
    assert months == {("2023-01", "2023-06")}


def test_a_map_whose_layers_cannot_be_found_is_unread(tmp_path):
    page = _moved(_map_page(_counts_by_h3(_points())), "encoded")
    (tmp_path / "coverage_map.html").write_text(page, encoding="utf-8")
    found = read_published_margins(tmp_path, PERIOD)
    assert found.margins == []
    assert [(u.file, u.why) for u in found.unread] == [
        ("coverage_map.html", "a map draws GeoJSON layers the ledger cannot find in the page")]


def test_a_layer_of_features_in_a_geojson_or_an_attribute_is_read_too(tmp_path):
    cell = h3.latlng_to_cell(4.85, 31.60, 7)
    layer = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"h3_cell": cell, "incidents": "1 234"}}]}
    (tmp_path / "layer.geojson").write_text(json.dumps(layer))
    (tmp_path / "page.html").write_text(
        f"<div data-layer='{json.dumps(layer)}'></div>", encoding="utf-8")
    found = read_published_margins(tmp_path, PERIOD)
    assert sorted((m.file, m.unit, m.value) for m in found.margins) == [
        ("layer.geojson", f"h3_cell={cell}", 1234), ("page.html", f"h3_cell={cell}", 1234)]


def _gaps() -> pd.DataFrame:
    cells = [h3.latlng_to_cell(4.85 + 0.1 * i, 31.60, 7) for i in range(3)]
    return pd.DataFrame({"period": "2023-01 to 2023-06", "h3_cell": cells, "resolution": 7,
                         "place": ["Area 01", "Area 02", "Area 03"],
                         "incidents": pd.array([1234, 17, pd.NA], dtype="Int64"),
                         "covered_share": [0.25, pd.NA, pd.NA], "rank": [1, 2, 3]})


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
def test_the_brief_counts_are_read_through_the_rank_of_the_folder_gaps(tmp_path, language):
    gaps = _gaps()
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    brief = render_brief(BriefInputs(
        "M", "Mission", ("2023-01", "2023-06"), True, 5, language=language,
        # Gaps are ranked only where presence data exist (a mission with model "none" has none).
        coverage={"mission": "M", "period": "2023-01 to 2023-06", "incidents_total": 2345,
                  "model": "bases"},
        gaps=gaps))
    (tmp_path / "brief.html").write_text(brief, encoding="utf-8")
    found = read_published_margins(tmp_path, PERIOD, mission="M")
    assert found.unread == []
    from_brief = sorted((m.unit, m.name, m.value) for m in found.margins
                        if m.file == "brief.html")
    assert from_brief == sorted([
        ("mission", "incidents_total", 2345),
        (f"h3_cell={gaps.h3_cell[0]}", "incidents", 1234),
        (f"h3_cell={gaps.h3_cell[1]}", "incidents", 17),
    ])


def test_a_brief_count_that_no_gap_of_the_folder_explains_is_unread(tmp_path):
    brief = render_brief(BriefInputs("M", "Mission", ("2023-01", "2023-06"), True, 5,
                                     gaps=_gaps()))
    (tmp_path / "brief.html").write_text(brief, encoding="utf-8")
    found = read_published_margins(tmp_path, PERIOD)
    assert {(u.file, u.where) for u in found.unread} == {
        ("brief.html", "table 1 row 1, incidents"), ("brief.html", "table 1 row 2, incidents")}


def test_counts_in_data_attributes_of_a_drawing_are_read_or_said_unread(tmp_path):
    cell = h3.latlng_to_cell(4.85, 31.60, 7)
    (tmp_path / "map.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg">'
        f'<path d="M0 0" data-h3-cell="{cell}" data-incidents="12"/>'
        '<path d="M1 1" data-count="3"/><text x="1" y="1">2</text></svg>')
    found = read_published_margins(tmp_path, PERIOD)
    assert [(m.unit, m.value) for m in found.margins] == [(f"h3_cell={cell}", 12)]
    assert [(u.file, u.where) for u in found.unread] == [("map.svg", "element 2 data-count")]


def test_files_whose_counts_cannot_be_read_are_named(tmp_path):
    (tmp_path / "brief.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "notes.txt").write_text("June: 3 incidents in Area 07\n")
    (tmp_path / "broken.json").write_text("{not json")
    found = read_published_margins(tmp_path, PERIOD)
    assert sorted(u.file for u in found.unread) == ["brief.pdf", "broken.json", "notes.txt"]
    assert found.margins == []


def test_a_workbook_sheet_is_read_as_a_table(tmp_path):
    cell = h3.latlng_to_cell(4.85, 31.60, 7)
    pd.DataFrame({"h3_cell": [cell], "incidents": [41]}).to_excel(
        tmp_path / "counts.xlsx", index=False)
    found = read_published_margins(tmp_path, PERIOD)
    assert [(m.file, m.unit, m.value) for m in found.margins] == [
        ("counts.xlsx", f"h3_cell={cell}", 41)]
