"""The generated leak corpus: every detector in every container, nested twice, must be caught.

Each case writes one leak (a detector's payload, an HTML fragment) into one container (a plain
page, an iframe ``srcdoc``, a base64 or percent-encoded ``data:`` URI, a JSON or GeoJSON value,
a CSV cell, an SVG, an XLSX cell, and two containers nested twice) and audits the folder with
and without the mission, as ``protection-eval audit`` does. Detectors that compare with the
mission's raw data (an incident id, an exact coordinate) run with the small demo mission only.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from protection_eval.sharing.audit.folder import audit_mission_folder, audit_shared_folder

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5Er"
    "kJggg=="
)

# name -> (payload, kinds of which at least one must be found, needs the mission)
DETECTORS: dict[str, tuple[str, set[str], bool]] = {
    "heat_layer": (
        "<script>L.heatLayer([[4.85, 31.58, 1]], {radius: 25}).addTo(map);</script>",
        {"point_layer"},
        False,
    ),
    "marker_cluster": (
        "<script>var c = L.markerClusterGroup(); map.addLayer(c);</script>",
        {"point_layer"},
        False,
    ),
    "marker": (
        "<script>L.marker([4.851234, 31.582345]).addTo(map);</script>",
        {"point_layer"},
        False,
    ),
    "circle_marker_leaflet07": (
        "<script>new L.CircleMarker(new L.LatLng(4.8523, 31.5817), {radius: 3}).addTo(map);"
        "</script>",
        {"point_layer"},
        False,
    ),
    "circle": (
        "<script>L.circle([4.861234, 31.571234], {radius: 50}).addTo(map);</script>",
        {"point_layer"},
        False,
    ),
    "geojson_point": (
        '<script>L.geoJson({"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"geometry": {"type": "MultiPoint", "coordinates": [[31.581234, 4.851234]]}, '
        '"properties": {}}]}).addTo(map);</script>',
        {"point_layer"},
        False,
    ),
    "popup_naming_a_case": (
        '<script>layer.bindPopup("Case GBV-0042");</script>',
        {"named_case"},
        False,
    ),
    "epoch_seconds": ("<p>Reported at 1680690600</p>", {"fine_date"}, False),
    "epoch_milliseconds": ("<p>t=1680690600000</p>", {"fine_date"}, False),
    "compact_date": ("<p>Day 20230405</p>", {"fine_date"}, False),
    "iso_week_date": ("<p>Week 2023-W14-3</p>", {"fine_date"}, False),
    "day_mon_year": ("<p>Seen 05-Apr-2023</p>", {"fine_date"}, False),
    "ordinal_date_and_clock": ("<p>5th April 2023 at 2.30pm</p>", {"time_of_day"}, False),
    "count_cnt_sv": ('<script>var d = {"cnt_sv": 3};</script>', {"small_count"}, False),
    "count_viols": (
        "<table><tr><th>area</th><th>viols</th></tr><tr><td>North</td><td>2</td></tr></table>",
        {"small_count"},
        False,
    ),
    "count_keyed_by_month": (
        '<script>var byMonth = {"2023-04": 3, "2023-05": 12};</script>',
        {"small_count"},
        False,
    ),
    "raster_image": (f'<img alt="map" src="data:image/png;base64,{PNG_1PX}">', {"raster_image"},
                     False),
    "processing_instruction": (
        '<?xml-stylesheet note="2023-04-05"?><p>x</p>',
        {"fine_date"},
        False,
    ),
    "doctype_internal_subset": (
        '<!DOCTYPE html [<!ENTITY when "at 14:30">]><p>x</p>',
        {"time_of_day"},
        False,
    ),
    "identifying_field": (
        '<script>var rows = [{"survivor_name": "x", "share": 0.5}];</script>',
        {"identifying_field"},
        False,
    ),
    "split_coordinate": ("<script>var lat = {lat};\nvar zoom = 9;\nvar lng = {lng};</script>",
                         {"incident_coordinate"}, True),
    "incident_id": ("<p>See {incident_id} for details</p>", {"identifying_value"}, True),
}


def _page(fragment: str) -> str:
    return f"<html><body>{fragment}</body></html>"


def _srcdoc(fragment: str) -> str:
    return f'<iframe srcdoc="{html.escape(_page(fragment), quote=True)}"></iframe>'


def _b64(fragment: str) -> str:
    payload = base64.b64encode(_page(fragment).encode()).decode()
    return f'<iframe src="data:text/html;base64,{payload}"></iframe>'


def _pct(fragment: str) -> str:
    return f'<a href="data:text/html,{quote(_page(fragment), safe="")}">open</a>'


def _js_string(fragment: str) -> str:
    literal = json.dumps(_page(fragment)).replace("</", "<\\/")
    return f"<script>var page = {literal}; document.write(page);</script>"


def _csv_text(fragment: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([["label", "content"], ["x", fragment]])
    return buffer.getvalue()


def _xlsx(path: Path, fragment: str) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["label", "content"])
    sheet.append(["x", fragment])
    book.save(path)


def _geojson(fragment: str) -> str:
    square = [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": square},
        "properties": {"name": "North", "popup": fragment},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]})


def _svg(fragment: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><foreignObject '
        'width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">'
        f"{fragment}</div></foreignObject></svg>"
    )


def _text_file(name: str, make: Callable[[str], str]) -> Callable[[Path, str], None]:
    def write(folder: Path, fragment: str) -> None:
        (folder / name).write_text(make(fragment), encoding="utf-8")

    return write


# container name -> writer of the folder
CONTAINERS: dict[str, Callable[[Path, str], None]] = {
    "html": _text_file("page.html", _page),
    "srcdoc": _text_file("page.html", lambda f: _page(_srcdoc(f))),
    "data_uri_base64": _text_file("page.html", lambda f: _page(_b64(f))),
    "data_uri_percent": _text_file("page.html", lambda f: _page(_pct(f))),
    "json": _text_file("data.json", lambda f: json.dumps({"content": f})),
    "geojson": _text_file("areas.geojson", _geojson),
    "csv": _text_file("table.csv", _csv_text),
    "svg": _text_file("figure.svg", _svg),
    "xlsx": lambda folder, fragment: _xlsx(folder / "table.xlsx", fragment),
    "nested_srcdoc_in_base64": _text_file("page.html", lambda f: _page(_b64(_srcdoc(f)))),
    "nested_js_string_in_json": _text_file(
        "data.json", lambda f: json.dumps({"page": _page(_js_string(f))})
    ),
}


def _cases() -> list:
    cases = []
    for detector, (_, _, needs_mission) in DETECTORS.items():
        for container in CONTAINERS:
            modes = ("with_mission",) if needs_mission else ("with_mission", "without_mission")
            for mode in modes:
                cases.append(pytest.param(detector, container, mode,
                                          id=f"{detector}-{container}-{mode}"))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def demo_mission(demo_missions):
    """The small demo mission loaded once, with its raw sources (what ``--mission`` reads)."""
    from protection_eval.io.readers import read_mission_sources
    from protection_eval.runs.missions import load_mission

    data = load_mission(demo_missions[0])
    raw = {name: table.frame for name, table in read_mission_sources(data.config).items()}
    return data, raw


def _fill(payload: str, mission) -> str:
    if "{" not in payload or mission is None:
        return payload
    first = mission.incidents.iloc[0]
    return (
        payload.replace("{lat}", f"{first['latitude']:.6f}")
        .replace("{lng}", f"{first['longitude']:.6f}")
        .replace("{incident_id}", str(first["incident_id"]))
    )


def test_the_corpus_has_at_least_sixty_named_cases():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("detector", "container", "mode"), CASES)
def test_every_detector_is_caught_in_every_container(
    tmp_path, demo_mission, detector, container, mode
):
    payload, kinds, _ = DETECTORS[detector]
    data, raw = demo_mission
    CONTAINERS[container](tmp_path, _fill(payload, data))
    if mode == "with_mission":
        result = audit_mission_folder(tmp_path, data, raw)
    else:
        result = audit_shared_folder(tmp_path)
        assert result.not_run, "an audit without the mission must say what it could not check"
    found = {f.kind for f in result.findings}
    assert found & kinds, f"{detector} in {container} ({mode}) not caught:\n{result.summary()}"
    assert "passed" not in result.summary()
