"""Structural audit rules without the mission: point layers, encodings, links, images, office.

Issue 14: a folder audited without ``--mission`` must still never pass a heat map of incident
points, a UTF-16 page, a symlinked sub-folder, a FIFO, an unrecorded image or a spreadsheet; and
the summary must say which checks could not run.
"""

from __future__ import annotations

import base64
import json
import os
import zipfile

import folium
import geopandas as gpd
import h3
import pandas as pd
import pytest
from folium.plugins import HeatMap, MarkerCluster
from shapely.geometry import Point, box
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.sharing.audit.folder import audit_shared_folder
from protection_eval.sharing.audit.structure import (
    find_named_cases,
    find_other_date_forms,
    sha256_hex,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5Er"
    "kJggg=="
)
POINTS = [(4.851234, 31.582345), (4.861234, 31.571234)]


def kinds(result) -> set[str]:
    return {f.kind for f in result.findings}


def _folium_page(add) -> str:
    fmap = folium.Map(location=[4.85, 31.58], zoom_start=10, tiles=None)
    add(fmap)
    return fmap.get_root().render()


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(lambda m: HeatMap([[*p, 1] for p in POINTS]).add_to(m), id="HeatMap"),
        pytest.param(
            lambda m: MarkerCluster(locations=POINTS).add_to(m), id="MarkerCluster"
        ),
        pytest.param(lambda m: folium.Marker(POINTS[0]).add_to(m), id="Marker"),
        pytest.param(lambda m: folium.CircleMarker(POINTS[0]).add_to(m), id="CircleMarker"),
        pytest.param(lambda m: folium.Circle(POINTS[0], radius=30).add_to(m), id="Circle"),
        pytest.param(
            lambda m: folium.GeoJson(
                gpd.GeoDataFrame(geometry=[Point(p[1], p[0]) for p in POINTS], crs=4326)
            ).add_to(m),
            id="GeoJson-points",
        ),
    ],
)
def test_folium_point_layers_fail_without_the_mission(tmp_path, layer):
    (tmp_path / "map.html").write_text(_folium_page(layer), encoding="utf-8")
    result = audit_shared_folder(tmp_path)
    assert "point_layer" in kinds(result), result.summary()
    assert "passed" not in result.summary()


def test_a_label_exactly_at_a_cell_centre_of_the_run_resolution_passes(tmp_path):
    lat, lng = h3.cell_to_latlng(h3.latlng_to_cell(4.85, 31.58, 7))
    page = f"<script>L.marker([{lat:.6f}, {lng:.6f}], {{icon: L.divIcon({{}})}});</script>"
    (tmp_path / "map.html").write_text(page, encoding="utf-8")
    assert audit_shared_folder(tmp_path, label_resolutions=(7,)).ok
    # The same point off the centre by 50 m, or at the centre of a finer cell, is a finding.
    off = page.replace(f"{lat:.6f}", f"{lat + 0.00045:.6f}")
    (tmp_path / "map.html").write_text(off, encoding="utf-8")
    assert "point_layer" in kinds(audit_shared_folder(tmp_path, label_resolutions=(7,)))
    lat9, lng9 = h3.cell_to_latlng(h3.latlng_to_cell(4.85, 31.58, 9))
    (tmp_path / "map.html").write_text(
        f"<script>L.marker([{lat9:.6f}, {lng9:.6f}]);</script>", encoding="utf-8"
    )
    assert "point_layer" in kinds(audit_shared_folder(tmp_path, label_resolutions=(7,)))


def test_an_area_centroid_label_passes_when_the_areas_are_known(tmp_path):
    areas = gpd.GeoDataFrame({"area_id": ["a"]}, geometry=[box(31.4, 4.7, 31.55, 5.0)], crs=4326)
    centre = areas.geometry.iloc[0].centroid
    (tmp_path / "map.html").write_text(
        f"<script>L.marker([{centre.y:.6f}, {centre.x:.6f}]);</script>", encoding="utf-8"
    )
    assert audit_shared_folder(tmp_path, areas=areas, label_resolutions=(7,)).ok
    assert not audit_shared_folder(tmp_path, label_resolutions=(7,)).ok


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("page.html", "<html><body><p>Seen 2023-04-05</p></body></html>"),
        ("data.json", json.dumps({"when": "2023-04-05"})),
        ("table.csv", "period,note\n2023-04,2023-04-05\n"),
    ],
)
def test_utf16_and_bom_files_are_decoded_and_audited(tmp_path, encoding, name, text):
    (tmp_path / name).write_bytes(text.encode(encoding))
    assert "fine_date" in kinds(audit_shared_folder(tmp_path))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("<p>caf\xe9 2023-04</p>".encode("latin-1"), "is not UTF-8"),
        (b'<meta charset="utf-7"><p>+ADw-script+AD4-</p>', "utf-7"),
        (b"\xff\xfe" + b"\x00\xd8", "byte-order mark"),
    ],
)
def test_undecidable_encodings_are_refused(tmp_path, data, reason):
    (tmp_path / "page.html").write_bytes(data)
    result = audit_shared_folder(tmp_path)
    refused = [f for f in result.findings if f.kind == "unauditable_file"]
    assert refused and reason in refused[0].what, result.summary()


def test_symlinks_and_fifos_are_findings_not_skipped(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "rows.csv").write_text("incident_id\nI-1\n", encoding="utf-8")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "more").symlink_to(outside, target_is_directory=True)
    (shared / "rows.csv").symlink_to(outside / "rows.csv")
    os.mkfifo(shared / "pipe.csv")
    result = audit_shared_folder(shared)
    special = {f.file: f.what for f in result.findings if f.kind == "special_file"}
    assert set(special) == {"more", "rows.csv", "pipe.csv"}, result.summary()
    assert "folder" in special["more"] and special["pipe.csv"] == "FIFO"
    assert not result.ok


def test_images_pass_only_when_the_caller_records_their_sha256(tmp_path):
    run = tmp_path / "run"
    shared = run / "shared"
    shared.mkdir(parents=True)
    (shared / "chart.png").write_bytes(PNG)
    (shared / "page.html").write_text(
        f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}">', encoding="utf-8"
    )
    assert {f.file for f in audit_shared_folder(shared).findings} == {"chart.png", "page.html"}
    recorded = {"chart.png": sha256_hex(PNG)}
    assert audit_shared_folder(shared, shared_images=recorded).ok
    # A manifest beside the folder is written by whoever made the folder: never trusted.
    (run / "manifest.json").write_text(json.dumps({"shared_images": recorded}), encoding="utf-8")
    assert {f.file for f in audit_shared_folder(shared).findings} == {"chart.png", "page.html"}
    wrong = {"chart.png": sha256_hex(PNG + b"x")}
    findings = audit_shared_folder(shared, shared_images=wrong).findings
    assert {f.kind for f in findings} == {"raster_image"}
    (shared / "photo.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 ")
    assert "photo.webp" in {f.file for f in audit_shared_folder(shared).findings}


def test_xlsx_is_audited_cell_by_cell_hidden_sheets_and_comments_too(tmp_path):
    import openpyxl
    from openpyxl.comments import Comment

    book = openpyxl.Workbook()
    book.active.append(["area", "incidents"])
    book.active.append(["North", 12])
    hidden = book.create_sheet("rows")
    hidden.sheet_state = "hidden"
    hidden.append(["area", "cnt_sv"])
    hidden.append(["North", 3])
    book.active["A2"].comment = Comment("seen 05-Apr-2023", "x")
    book.save(tmp_path / "table.xlsx")
    found = {(f.kind, f.where.split("!")[0]) for f in audit_shared_folder(tmp_path).findings}
    assert ("small_count", "sheet rows [hidden] row 2, column cnt_sv") in found, found
    assert ("fine_date", "Sheet") in found, found


def test_xlsm_with_macros_and_a_broken_xlsx_are_refused(tmp_path):
    import openpyxl

    openpyxl.Workbook().save(tmp_path / "book.xlsx")
    with zipfile.ZipFile(tmp_path / "book.xlsx", "a") as archive:
        archive.writestr("xl/vbaProject.bin", b"\x00macro")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    refused = {f.file: f.what for f in audit_shared_folder(tmp_path).findings}
    assert "macros" in refused["book.xlsx"] and "zip" in refused["broken.xlsx"]


def test_ods_gpkg_and_parquet_are_opened(tmp_path):
    frame = pd.DataFrame({"area": ["North", "South"], "incidents": [12, 2]})
    frame.to_excel(tmp_path / "table.ods", engine="odf", index=False)
    points = gpd.GeoDataFrame(
        {"occurred_at": ["2023-04-05", "2023-04-06"]},
        geometry=[Point(31.58, 4.85), Point(31.57, 4.86)],
        crs=4326,
    )
    points.to_file(tmp_path / "layers.gpkg", layer="points")
    frame.assign(seen=[1680690600, 1680690700]).to_parquet(tmp_path / "table.parquet")
    points.to_parquet(tmp_path / "points.parquet")
    found: dict[str, set[str]] = {}
    for finding in audit_shared_folder(tmp_path).findings:
        found.setdefault(finding.file, set()).add(finding.kind)
    assert "small_count" in found["table.ods"]
    assert {"point_layer", "identifying_field", "fine_date"} <= found["layers.gpkg"]
    assert {"small_count", "fine_date"} <= found["table.parquet"]
    assert {"point_layer", "identifying_field"} <= found["points.parquet"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1680690600", "fine_date"),
        ("1680690600000", "fine_date"),
        ("20230405", "fine_date"),
        ("2023-W14-3", "fine_date"),
        ("2023W14", "fine_date"),
        ("05-Apr-2023", "fine_date"),
        ("5th April 2023", "fine_date"),
        ("April 5th, 2023", "fine_date"),
        ("at 2.30pm", "time_of_day"),
        ("1430 hrs", "time_of_day"),
    ],
)
def test_other_date_forms_are_caught(text, expected):
    assert expected in {kind for kind, _ in find_other_date_forms(f"seen {text} here")}


@pytest.mark.parametrize(
    "text",
    ["2023-04", "April 2023", "2023-Q2", "12345", "876a50630ffffff", "31.582345", "n = 20231",
     "a" * 10 + "1680690600" + "b", "2022-01 to 2023-12"],
)
def test_months_and_ordinary_numbers_are_not_dates(text):
    assert find_other_date_forms(text) == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Case GBV-0042", True),
        ("Incident #17", True),
        ("incident 1042", True),
        ("Survivor: Amina", True),
        ("Incidents: 12", False),
        ("a case study", False),
        ("Cases in 2023", False),
        ("in case 2 strategies", False),
    ],
)
def test_named_cases(text, named):
    assert bool(find_named_cases(text)) is named


def test_without_the_mission_the_summary_is_partial_and_names_the_checks(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"incidents": 12}), encoding="utf-8")
    out = CliRunner().invoke(app, ["audit", str(tmp_path)])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[-1] == "audit passed (partial)"
    assert "raw coordinates, identifying values, incident ids" in out.output
    incidents = pd.DataFrame({"incident_id": ["I-1"], "longitude": [31.0], "latitude": [4.0]})
    result = audit_shared_folder(tmp_path, incidents=incidents)
    assert result.summary().startswith("audit passed:") and not result.not_run


def test_a_symlinked_folder_given_to_the_audit_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert "special_file" in kinds(audit_shared_folder(tmp_path / "link"))


def test_nesting_past_the_depth_limit_is_a_finding_not_a_pass(tmp_path):
    page = "<p>clean</p>"
    for _ in range(20):
        escaped = page.replace("&", "&amp;").replace('"', "&quot;")
        page = f'<iframe srcdoc="{escaped}"></iframe>'
    (tmp_path / "deep.html").write_text(page, encoding="utf-8")
    found = [f.what for f in audit_shared_folder(tmp_path).findings]
    assert "content nested too deeply to audit" in found


@pytest.mark.parametrize(
    "page",
    [
        '<pre>{"cnt_sv": 3}</pre>',
        "<div data-series='{\"2023-04\": 2, \"2023-05\": 40}'></div>",
        "<iframe src=\"data:application/octet-stream;base64,"
        + base64.b64encode(b'<script>L.heatLayer([]);</script>').decode()
        + '"></iframe>',
        '<script>var p = "\\u003cscript\\u003eL.marker([4.851234, 31.582345])'
        '\\u003c/script\\u003e";</script>',
    ],
    ids=["json-in-text-node", "json-in-attribute", "octet-stream-data-uri", "js-escaped-html"],
)
def test_json_and_html_hidden_in_other_shapes_are_opened(tmp_path, page):
    (tmp_path / "page.html").write_text(f"<html><body>{page}</body></html>", encoding="utf-8")
    result = audit_shared_folder(tmp_path)
    assert kinds(result) & {"small_count", "point_layer"}, result.summary()
