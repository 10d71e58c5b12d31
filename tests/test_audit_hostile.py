"""Hand-made shared folders that passed `audit --mission` (issue 25, item 6), built here.

Each test makes a hostile file the way an evaluator or an attacker could, in a part of the file
or a writing of a value that the audit did not read, and checks that the audit now reports it.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shapely.geometry import box

from protection_eval.sharing.audit.folder import audit_shared_folder

CASE = "INC-00042"
NAME = "Amina Odhiambo"
# One needle per part of a file: the audit reports a value once, at the first place it is found.
OTHERS = ("Wanjiru", "Zaina Kol", "GBV-7731", "Nyakuma")


def findings_of(folder: Path, **kwargs) -> list[tuple[str, str, str]]:
    """(kind, where, what) of every finding, the mission's needles given."""
    kwargs.setdefault("identifying_values", [CASE, NAME, *OTHERS])
    result = audit_shared_folder(folder, k=5, **kwargs)
    return [(f.kind, f.where, f.what) for f in result.findings]


def kinds_at(found: list[tuple[str, str, str]], where: str) -> set[str]:
    return {kind for kind, place, _ in found if where in place}


def rewrite_zip(path: Path, edits: dict[str, bytes]) -> None:
    """Replace or add members of a zip package (parts the writing library cannot make)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members.update(edits)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# -- every part of a workbook ---------------------------------------------------------------------


def clean_workbook() -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    book.active.title = "by area"
    book.active.append(["area", "incidents"])
    book.active.append(["North", 12])
    return book


def test_a_clean_workbook_passes(tmp_path):
    clean_workbook().save(tmp_path / "t.xlsx")
    assert findings_of(tmp_path) == []


def test_xlsx_header_footer_hyperlink_validation_and_properties_are_read(tmp_path):
    from openpyxl.packaging.custom import StringProperty
    from openpyxl.worksheet.datavalidation import DataValidation

    book = clean_workbook()
    sheet = book.active
    sheet.oddFooter.center.text = f"Survivor: {NAME}"
    sheet["A2"].hyperlink = "https://collector.example.net/pixel"
    validation = DataValidation(type="list", formula1=f'"{CASE},other"')
    sheet.add_data_validation(validation)
    validation.add("C2")
    book.properties.keywords = "reported on 5 April 2023"
    book.custom_doc_props.append(StringProperty(name="reference", value=OTHERS[0]))
    book.save(tmp_path / "t.xlsx")

    found = findings_of(tmp_path)
    assert "named_case" in kinds_at(found, "part xl/worksheets/sheet1.xml")  # the footer
    assert "identifying_value" in kinds_at(found, "part xl/worksheets/sheet1.xml")  # validation
    rels = kinds_at(found, "part xl/worksheets/_rels/sheet1.xml.rels")
    assert rels == {"third_party_url"}  # the hyperlink's target
    assert "fine_date" in kinds_at(found, "part docProps/core.xml")
    assert "identifying_value" in kinds_at(found, "part docProps/custom.xml")


def test_xlsx_text_box_unused_shared_string_and_custom_xml_are_read(tmp_path):
    clean_workbook().save(tmp_path / "t.xlsx")
    drawing = (
        '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"'
        ' xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><xdr:twoCellAnchor>'
        f"<xdr:sp><xdr:txBody><a:p><a:r><a:t>Case {CASE} at 22:15</a:t></a:r></a:p>"
        "</xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>"
    )
    unused = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1"'
              f' uniqueCount="1"><si><t>{NAME}</t></si></sst>')
    rewrite_zip(tmp_path / "t.xlsx", {
        "xl/drawings/drawing1.xml": drawing.encode(),
        "xl/sharedStrings.xml": unused.encode(),
        "customXml/item1.xml": f'<data><row case="{OTHERS[0]}"/></data>'.encode(),
    })

    found = findings_of(tmp_path)
    assert {"identifying_value", "named_case", "time_of_day"} <= kinds_at(
        found, "part xl/drawings/drawing1.xml")
    assert "identifying_value" in kinds_at(found, "part xl/sharedStrings.xml")
    assert "identifying_value" in kinds_at(found, "part customXml/item1.xml")


def test_xlsx_comment_in_the_xml_and_an_unknown_binary_part_are_not_passed(tmp_path):
    clean_workbook().save(tmp_path / "t.xlsx")
    with zipfile.ZipFile(tmp_path / "t.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    commented = sheet.replace("<sheetData>", f"<!-- {CASE} --><sheetData>")
    rewrite_zip(tmp_path / "t.xlsx", {
        "xl/worksheets/sheet1.xml": commented.encode(),
        "xl/blob.bin": b"\x00\x01zlib?" + bytes(range(256)),
    })
    found = findings_of(tmp_path)
    assert "identifying_value" in kinds_at(found, "part xl/worksheets/sheet1.xml")
    assert any(k == "unauditable_file" and "xl/blob.bin" in what for k, _, what in found)


def make_ods(path: Path) -> None:
    pd.DataFrame({"area": ["North"], "incidents": [12]}).to_excel(path, engine="odf",
                                                                  index=False)


def test_ods_comment_metadata_and_formula_are_read(tmp_path):
    path = tmp_path / "t.ods"
    make_ods(path)
    with zipfile.ZipFile(path) as archive:
        content = archive.read("content.xml").decode()
        meta = archive.read("meta.xml").decode()
    annotated = content.replace(
        "<text:p>North</text:p>",
        f"<office:annotation><text:p>Survivor: {NAME}</text:p></office:annotation>"
        "<text:p>North</text:p>",
    )
    assert annotated != content
    formula = annotated.replace('office:value="12"',
                                'office:value="12" table:formula="of:=WEBSERVICE(&quot;x&quot;)"')
    assert formula != annotated
    tagged = meta.replace("</office:meta>",
                          f"<meta:keyword>{OTHERS[0]}</meta:keyword></office:meta>")
    rewrite_zip(path, {"content.xml": formula.encode(), "meta.xml": tagged.encode()})

    found = findings_of(tmp_path)
    assert "named_case" in kinds_at(found, "part content.xml")
    assert "identifying_value" in kinds_at(found, "part meta.xml")
    assert any(k == "unauditable_file" and "formula" in what for k, _, what in found)


def test_a_clean_ods_passes(tmp_path):
    make_ods(tmp_path / "t.ods")
    assert findings_of(tmp_path) == []


# -- Parquet and GeoPackage metadata --------------------------------------------------------------


def test_parquet_schema_and_field_metadata_are_read(tmp_path):
    field = pa.field("incidents", pa.int64(), metadata={"note": f"Survivor: {NAME}"})
    schema = pa.schema([pa.field("area", pa.string()), field],
                       metadata={"provenance": f"exported from case {CASE}"})
    table = pa.table({"area": ["North"], "incidents": [12]}, schema=schema)
    pq.write_table(table, tmp_path / "t.parquet")
    found = findings_of(tmp_path)
    assert "identifying_value" in kinds_at(found, "provenance")
    assert "named_case" in kinds_at(found, "field incidents")


def test_parquet_column_statistics_are_read(tmp_path):
    # A writer may put in a chunk's statistics text that no row holds: here the footer's
    # minimum "North" becomes a name no row holds, the rows untouched.
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"area": ["North", "South"], "incidents": [12, 15]}), path)
    assert findings_of(tmp_path) == []
    data = path.read_bytes()
    footer_at = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    patched = data[:footer_at] + data[footer_at:].replace(b"North", b"Zaina")
    assert patched != data
    path.write_bytes(patched)
    assert pd.read_parquet(path)["area"].tolist() == ["North", "South"]
    found = findings_of(tmp_path, identifying_values=["Zaina"])
    assert "identifying_value" in kinds_at(found, "statistics of area")


def make_gpkg(path: Path) -> None:
    frame = gpd.GeoDataFrame({"area": ["North"], "incidents": [12]},
                             geometry=[box(31.4, 4.7, 31.55, 5.0)], crs="EPSG:4326")
    frame.to_file(path, layer="areas", driver="GPKG")


def test_a_clean_geopackage_passes(tmp_path):
    make_gpkg(tmp_path / "t.gpkg")
    assert findings_of(tmp_path) == []


def test_geopackage_layer_description_metadata_and_hidden_tables_are_read(tmp_path):
    path = tmp_path / "t.gpkg"
    make_gpkg(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gpkg_contents SET description = ?, identifier = ?",
                   (f"Survivor: {NAME}", "areas"))
        db.execute("CREATE TABLE gpkg_metadata (id INTEGER PRIMARY KEY, md_scope TEXT, "
                   "md_standard_uri TEXT, mime_type TEXT, metadata TEXT)")
        db.execute("INSERT INTO gpkg_metadata VALUES (1, 'dataset', 'x', 'text/plain', ?)",
                   (f"collected 2023.04.05 from {CASE}",))
        db.execute("CREATE TABLE notes (note TEXT)")  # in no layer, in no metadata table
        db.execute("INSERT INTO notes VALUES (?)", (f"see {OTHERS[1]}",))
    found = findings_of(tmp_path)
    assert "named_case" in kinds_at(found, "table gpkg_contents")
    assert "identifying_value" in kinds_at(found, "table gpkg_metadata")
    assert "identifying_value" in kinds_at(found, "notes")


# -- ids in disguise ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("zero-width.csv", "area,note\nNorth,INC-\u200b00042\n"),
        ("soft-hyphen.json", json.dumps({"note": "INC-\u00ad00042"})),
        ("fullwidth.csv", "area,note\nNorth,ＩＮＣ－０００４２\n"),
        ("markup.html", "<p>Reported as INC-<b></b>00042 in the log</p>"),
        ("split.html", "<table><tr><td>INC-<span>00042</span></td></tr></table>"),
        ("json-markup.json", json.dumps({"popup": "<i>INC-</i>00042"})),
        ("css-comment.html", "<style>p { color: red } /* INC-00042 */</style><p>x</p>"),
        ("script-comment.html", "<script>var n = 1; // INC-00042\n</script>"),
    ],
)
def test_an_id_in_disguise_is_found(tmp_path, name, body):
    (tmp_path / name).write_text(body, encoding="utf-8")
    found = findings_of(tmp_path)
    assert ("identifying_value", "inc-00042") in {(k, what) for k, _, what in found}, found


# -- dates and names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["reported on 5 April", "on the 5th of April", "seen April 5 near the market",
     "2023.04.05", "5-abr-23", "２０２３-０４-０５", "le ５ avril"],
)
def test_a_day_in_another_writing_is_a_fine_date(tmp_path, text):
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    assert {k for k, _, _ in findings_of(tmp_path)} == {"fine_date"}


@pytest.mark.parametrize("text", ["April 2023", "2023-04", "12 months", "Jan 2022 to Dec 2023",
                                  "may 5 areas differ"])
def test_a_month_or_a_number_is_not_a_fine_date(tmp_path, text):
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    assert findings_of(tmp_path) == []


def test_excel_serials_in_a_date_column_are_fine_dates(tmp_path):
    # 45021 is 2023-04-05 as Excel counts days (from 1899-12-30).
    (tmp_path / "rows.csv").write_text("area,incident_date,incidents\nNorth,45021,12\n",
                                       encoding="utf-8")
    (tmp_path / "rows.json").write_text(json.dumps([{"fecha": 45021.0, "incidents": 12}]))
    book = openpyxl.Workbook()
    book.active.append(["area", "date", "incidents"])
    book.active.append(["North", 45021, 12])  # General format: a number, not a date cell
    book.save(tmp_path / "rows.xlsx")
    result = audit_shared_folder(tmp_path, k=5)
    assert {(f.file, f.kind) for f in result.findings} == {
        ("rows.csv", "fine_date"), ("rows.json", "fine_date"), ("rows.xlsx", "fine_date")}
    assert all("2023-04-05" in f.what for f in result.findings)


def test_an_excel_serial_outside_a_date_column_is_a_number(tmp_path):
    (tmp_path / "rows.csv").write_text("area,population\nNorth,45021\n", encoding="utf-8")
    assert findings_of(tmp_path) == []


@pytest.mark.parametrize(
    "text",
    ["Cas n° 42", "victime Amina", "sobreviviente: Amina", "caso núm. 7", "vítima Maria",
     "الناجية: أمينة", "dossier n° 12"],
)
def test_a_case_or_survivor_named_in_another_language_is_a_named_case(tmp_path, text):
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    assert {k for k, _, _ in findings_of(tmp_path)} == {"named_case"}


@pytest.mark.parametrize("text", ["Survivor Mentoring", "victimes : 12", "case study",
                                  "Cas 12 et 13 du tableau"])
def test_titles_and_counts_are_not_named_cases(tmp_path, text):
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    assert findings_of(tmp_path) == []


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_utf32_without_a_byte_order_mark_is_read(tmp_path, encoding):
    text = json.dumps({"note": f"Survivor: {NAME}", "when": "2023-04-05"})
    (tmp_path / "note.json").write_bytes(text.encode(encoding))
    kinds = {k for k, _, _ in findings_of(tmp_path)}
    assert {"named_case", "fine_date", "identifying_value"} <= kinds


def test_text_that_still_holds_nul_characters_is_refused(tmp_path):
    (tmp_path / "note.txt").write_bytes(b"Survivor\x00: Amina " * 4)
    assert {k for k, _, _ in findings_of(tmp_path)} == {"unauditable_file"}


# -- places in any notation -----------------------------------------------------------------------

# A reported incident, and the mission's areas around it (a 0.3 by 0.29 degree box).
INCIDENT_LNG, INCIDENT_LAT = 31.552345, 4.851234
# Inside the areas, 5 km from the incident.
ELSEWHERE_LNG, ELSEWHERE_LAT = 31.6012, 4.8811


def mission_kwargs(lng: float = INCIDENT_LNG, lat: float = INCIDENT_LAT) -> dict:
    incidents = pd.DataFrame({"incident_id": ["INC-00042"], "longitude": [lng],
                              "latitude": [lat]})
    # Off-centre, so that no corner or centre of it is the incident (those are approved).
    areas = gpd.GeoDataFrame({"area_id": ["a"]}, crs="EPSG:4326",
                             geometry=[box(lng - 0.1, lat - 0.12, lng + 0.2, lat + 0.17)])
    # The mission shares resolution-7 hexagons (and the coarser cells they merge into).
    return {"incidents": incidents, "areas": areas, "label_resolutions": range(5, 8)}


def dms(value: float, positive: str, negative: str) -> str:
    degrees = int(abs(value))
    minutes = int((abs(value) - degrees) * 60)
    seconds = (abs(value) - degrees - minutes / 60) * 3600
    return f"{degrees}°{minutes}'{seconds:.1f}\"{positive if value >= 0 else negative}"


def utm(lng: float, lat: float) -> str:
    from pyproj import Transformer

    easting, northing = Transformer.from_crs("EPSG:4326", "EPSG:32636",
                                             always_xy=True).transform(lng, lat)
    return f"36N {easting:.0f} {northing:.0f}"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("prose.txt", f"The team met at {INCIDENT_LAT:.6f}, {INCIDENT_LNG:.6f} that week."),
        ("cell.csv", f'area,where\nNorth,"{INCIDENT_LAT:.6f}, {INCIDENT_LNG:.6f}"\n'),
        ("meta.html", f'<meta name="geo.position" content="{INCIDENT_LAT:.6f};'
                      f'{INCIDENT_LNG:.6f}"><p>Map</p>'),
        ("path.svg", f'<svg xmlns="http://www.w3.org/2000/svg"><path d="M{INCIDENT_LNG:.6f} '
                     f'{INCIDENT_LAT:.6f} l0.0001 0 l0 0.0001 z"/></svg>'),
        ("ring.svg", f'<svg xmlns="http://www.w3.org/2000/svg"><polygon points="'
                     f'{INCIDENT_LNG - 0.001},{INCIDENT_LAT - 0.001} {INCIDENT_LNG + 0.001},'
                     f'{INCIDENT_LAT - 0.001} {INCIDENT_LNG + 0.001},{INCIDENT_LAT + 0.001} '
                     f'{INCIDENT_LNG - 0.001},{INCIDENT_LAT + 0.001}"/></svg>'),
        ("dms.txt", f"Seen at {dms(INCIDENT_LAT, 'N', 'S')} {dms(INCIDENT_LNG, 'E', 'W')}."),
        ("utm.txt", f"Grid reference {utm(INCIDENT_LNG, INCIDENT_LAT)}."),
    ],
)
def test_an_incident_written_in_any_notation_is_found(tmp_path, name, body):
    (tmp_path / name).write_text(body, encoding="utf-8")
    kinds = {k for k, _, _ in findings_of(tmp_path, **mission_kwargs())}
    assert "incident_coordinate" in kinds, kinds


@pytest.mark.parametrize(
    "text",
    [
        f"{ELSEWHERE_LAT:.5f}, {ELSEWHERE_LNG:.5f}",
        f"{dms(ELSEWHERE_LAT, 'N', 'S')}, {dms(ELSEWHERE_LNG, 'E', 'W')}",
        f"N {int(ELSEWHERE_LAT)}° {(ELSEWHERE_LAT % 1) * 60:.3f}' "
        f"E {int(ELSEWHERE_LNG)}° {(ELSEWHERE_LNG % 1) * 60:.3f}'",
        utm(ELSEWHERE_LNG, ELSEWHERE_LAT),
    ],
)
def test_a_place_inside_the_mission_finer_than_a_hexagon_is_a_fine_location(tmp_path, text):
    (tmp_path / "note.txt").write_text(f"Meet at {text} tomorrow", encoding="utf-8")
    kinds = {k for k, _, _ in findings_of(tmp_path, **mission_kwargs())}
    assert kinds == {"fine_location"}


def test_an_h3_cell_finer_than_the_missions_is_a_fine_location(tmp_path):
    import h3

    fine = h3.latlng_to_cell(ELSEWHERE_LAT, ELSEWHERE_LNG, 10)
    shared = h3.latlng_to_cell(ELSEWHERE_LAT, ELSEWHERE_LNG, 7)
    (tmp_path / "cells.csv").write_text(f"h3_cell,incidents\n{shared},12\n", encoding="utf-8")
    assert findings_of(tmp_path, **mission_kwargs()) == []
    (tmp_path / "cells.csv").write_text(f"h3_cell,incidents\n{fine},12\n", encoding="utf-8")
    assert {k for k, _, _ in findings_of(tmp_path, **mission_kwargs())} == {"fine_location"}


def test_a_geohash_labelled_as_one_inside_the_mission_is_a_fine_location(tmp_path):
    # Wikipedia's example: u4pruydqqvj is 57.64911 N, 10.40744 E (Jutland).
    kwargs = mission_kwargs(lng=10.30, lat=57.60)
    (tmp_path / "note.txt").write_text("geohash u4pruydq, between the villages",
                                       encoding="utf-8")
    (tmp_path / "cells.csv").write_text("geohash,incidents\nu4pruydq,12\n", encoding="utf-8")
    found = findings_of(tmp_path, **kwargs)
    assert {(k, what.split(" (")[0]) for k, _, what in found} == {("fine_location", "u4pruydq")}
    assert all("57.649" in what and "10.407" in what for _, _, what in found)
    assert len(found) == 2  # one in each file


def test_an_unlabelled_geohash_is_a_place_only_near_an_incident(tmp_path):
    (tmp_path / "note.txt").write_text("seen at u4pruydq", encoding="utf-8")
    kinds = {k for k, _, _ in findings_of(tmp_path, **mission_kwargs(lng=10.30, lat=57.60))}
    assert kinds == set()  # 8 km from the incident: a word, as far as the audit can tell
    near = findings_of(tmp_path, **mission_kwargs(lng=10.40744, lat=57.64911))
    assert {k for k, _, _ in near} == {"incident_coordinate"}


def test_a_workbooks_part_names_are_not_places(tmp_path):
    # "sheet1" (in every workbook's relationships) decodes as a geohash to 25.94 N, 5.15 E;
    # read the other way round, 5.15 N, 25.94 E is in the Central African Republic.
    clean_workbook().save(tmp_path / "t.xlsx")
    assert findings_of(tmp_path, **mission_kwargs(lng=25.8, lat=5.1)) == []
    assert findings_of(tmp_path, **mission_kwargs(lng=5.0, lat=25.8)) == []


@pytest.mark.parametrize(
    "text",
    [
        f"{ELSEWHERE_LAT:.1f}, {ELSEWHERE_LNG:.1f}",  # 5 km: coarser than a hexagon
        "the survey between 2022 and 2023 covered 4.1, 5.2 and 6.3 per cent",
        "cells u4pruydq and s00000",  # geohashes far from the mission
    ],
)
def test_coarse_places_and_places_elsewhere_pass(tmp_path, text):
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    assert findings_of(tmp_path, **mission_kwargs()) == []


# -- requests Chromium makes, read from the source ------------------------------------------------


@pytest.mark.parametrize(
    ("page", "url"),
    [
        ('<img src="http:noslash.invalid/x">', "http:noslash.invalid/x"),
        ('<img src="http:\\\\backslash.invalid\\x">', "http:\\\\backslash.invalid\\x"),
        ('<img src="ht\ttp://tab.invalid/x">', "ht\ttp://tab.invalid/x"),
        ("<style>body { background: url(\\68 ttp://cssescape.invalid/x.png) }</style>",
         "http://cssescape.invalid/x.png"),
        ("<style>@import'http://import.invalid/a.css' screen;</style>",
         "http://import.invalid/a.css"),
        ('<style>@import/**/"http://importc.invalid/a.css";</style>',
         "http://importc.invalid/a.css"),
        ('<style>@im\\70 ort "http://importe.invalid/a.css";</style>',
         "http://importe.invalid/a.css"),
        ('<meta http-equiv="refresh" content="0; url=http://refresh.invalid/">',
         "http://refresh.invalid/"),
        ('<svg><image href="http:svgimage.invalid/i.png"/></svg>',
         "http:svgimage.invalid/i.png"),
        ('<svg><image href=" \n https:\\\\svgimage2.invalid/i.png"/></svg>',
         " \n https:\\\\svgimage2.invalid/i.png"),
    ],
)
def test_a_request_chromium_makes_is_read_from_the_source(tmp_path, page, url):
    (tmp_path / "page.html").write_text(f"<html><head></head><body>{page}</body></html>",
                                        encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5)
    requests = [f.what for f in result.findings if f.kind == "third_party_request"]
    assert url in requests, result.summary()


def test_without_chromium_the_audit_says_the_browser_check_did_not_run(tmp_path):
    (tmp_path / "page.html").write_text("<p>x</p>", encoding="utf-8")
    (tmp_path / "rows.csv").write_text("area,incidents\nNorth,12\n", encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5)
    assert result.ok and not result.browser_ran
    assert "browser check did not run" in result.summary()
    assert result.summary().endswith("audit passed (partial)")
    missing = audit_shared_folder(tmp_path, k=5, chromium=tmp_path / "no-chromium")
    assert "browser check did not run" in missing.summary() and not missing.browser_ran
    (tmp_path / "page.html").unlink()
    assert audit_shared_folder(tmp_path, k=5).browser == ""  # no page: nothing to say
