"""Input formats read through configuration alone: workbooks, HXL rows, CSV separators and
encodings, zipped shapefiles and KoBo export shapes."""

import datetime as dt
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from realdata import REALDATA, require_realdata

from protection_eval.config import SourceSpec
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.runs.missions import load_mission

FORMATS = Path(__file__).parent / "fixtures" / "formats"
BOUNDARIES = REALDATA / "boundaries"


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )


def read(path: Path, table: str = "incidents", **keys):
    return read_raw_table(table, path, spec=SourceSpec(path=path, **keys))


def write_xlsx(path: Path) -> Path:
    """A workbook with a title row above the header, two sheets, dates and whole numbers."""
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes["A1"] = "invented"
    sheet = book.create_sheet("Incidents")
    sheet["A1"] = "Synthetic incidents, invented"
    sheet.append([])
    sheet.append(["id", "date", "when", "victims", "share", "note"])
    sheet.append(["X1", dt.date(2022, 3, 5), dt.datetime(2022, 3, 5, 14, 30), 2, 0.25, None])
    sheet.append([])
    sheet.append(["X2", dt.date(2022, 4, 17), dt.datetime(2022, 4, 17, 0, 0), 1, 1.5, "text"])
    book.save(path)
    return path


@pytest.mark.parametrize("sheet", ["Incidents", 2])
def test_xlsx_sheet_by_name_or_position_with_header_row_gives_text_and_sheet_rows(
    tmp_path, sheet
):
    raw = read(write_xlsx(tmp_path / "incidents.xlsx"), sheet=sheet, header_row=3)
    frame = raw.frame
    assert list(frame.columns) == ["source_row", "id", "date", "when", "victims", "share", "note"]
    # Row 5 is blank and left out; source_row is the row a spreadsheet shows.
    assert frame["source_row"].tolist() == [4, 6]
    assert frame["date"].tolist() == ["2022-03-05", "2022-04-17"]
    # python-calamine gives a date-time cell at midnight as its day.
    assert frame["when"].tolist() == ["2022-03-05T14:30:00", "2022-04-17"]
    assert frame["victims"].tolist() == ["2", "1"]
    assert frame["share"].tolist() == ["0.25", "1.5"]
    assert frame["note"].tolist() == ["", "text"]


def test_workbook_with_several_sheets_and_none_named_is_refused_with_their_names(tmp_path):
    path = write_xlsx(tmp_path / "incidents.xlsx")
    with pytest.raises(InputFileError, match=r"2 sheets \['Notes', 'Incidents'\]") as err:
        read(path)
    assert "incidents.xlsx" in str(err.value) and "`sheet:`" in str(err.value)
    with pytest.raises(InputFileError, match="has no sheet 'Data'"):
        read(path, sheet="Data")
    with pytest.raises(InputFileError, match="has no sheet 3"):
        read(path, sheet=3)


def test_ods_reads_like_xlsx(tmp_path):
    path = tmp_path / "incidents.ods"
    pd.DataFrame({"id": ["X1", "X2"], "victims": [2, 3], "place": ["Bélinyang", "Kator"]}).to_excel(
        path, engine="odf", index=False
    )
    frame = read(path).frame
    assert frame.to_dict("list") == {
        "source_row": [2, 3], "id": ["X1", "X2"], "victims": ["2", "3"],
        "place": ["Bélinyang", "Kator"],
    }


def test_xls_reads_through_the_same_reader():
    # .xls cannot be written by any maintained library: a two-row synthetic workbook was made
    # once with xlwt 1.3 (see fixtures/formats/README.md).
    frame = read(FORMATS / "gbvims-ir-synthetic.xls", sheet="Incident Data", header_row=3).frame
    assert frame["Incident ID"].tolist() == ["IR-001", "IR-002"]
    assert frame["Date of Incident"].tolist() == ["2022-03-05", "2022-04-17"]
    assert frame["Age"].tolist() == ["24", "31"]
    assert frame["source_row"].tolist() == [4, 5]


def test_broken_workbook_is_a_clear_error(tmp_path):
    path = tmp_path / "incidents.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="does not start as one: it looks like something"):
        read(path)
    write_xlsx(path)
    path.write_bytes(path.read_bytes()[:200])  # a zip cut short
    with pytest.raises(InputFileError, match="cannot be read as a workbook"):
        read(path)


HXL_CSV = (
    "Event,Date,Lat,Lon,Killed\n"
    "#event+id,#date+occurred,#geo+lat,#geo+lon,#affected+killed\n"
    "E1,2022-03-05,5.05,30.05,1\n"
)


def test_hxl_row_is_skipped_and_said_and_its_proposal_is_only_a_note(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text(HXL_CSV, encoding="utf-8")
    plain = read(path)
    assert plain.frame["Event"].tolist() == ["E1"] and plain.frame["source_row"].tolist() == [3]
    assert len(plain.notes) == 1 and "row 2 holds HXL hashtags" in plain.notes[0]
    proposed = read(path, hxl=True)
    assert "'Event': incident_id" in proposed.notes[1]
    assert "'Date': occurred_at" in proposed.notes[1] and "'Lat': latitude" in proposed.notes[1]
    assert "proposal only" in proposed.notes[1]
    # Never applied: the columns keep the file's names.
    assert "incident_id" not in proposed.frame.columns


def test_validate_reports_the_skipped_hxl_row_and_prints_the_proposal(bad_mission, tmp_path):
    folder = bad_mission.parent
    (folder / "hxl.csv").write_text(HXL_CSV, encoding="utf-8")
    text = bad_mission.read_text().replace(
        "    path: incidents.csv\n",
        "    path: hxl.csv\n    hxl: true\n",
    ).replace('columns: {"Type of SV": gbv_type, "Date": occurred_at, "Until": occurred_until}',
              "columns: {Event: incident_id, Date: occurred_at, Lat: latitude, Lon: longitude,"
              " Killed: gbv_type}")
    bad_mission.write_text(text)
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert "note: row 2 holds HXL hashtags" in result.stdout
    assert "propose sources.incidents.columns" in result.stdout
    report = json.loads((tmp_path / "o" / "validation.json").read_text())
    incidents = report["tables"]["incidents"]
    assert incidents["rows_read"] == 1 == incidents["rows_accepted"] + incidents["rows_rejected"]
    assert any("HXL" in n for n in incidents["notes"])


def test_semicolon_csv_is_sniffed(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text("id;date;victims\nX1;2022-03-05;2\nX2;2022-03-06;1\n", encoding="utf-8")
    assert read(path).frame["victims"].tolist() == ["2", "1"]


def test_unsure_separator_is_refused_naming_the_file_and_sep(tmp_path):
    path = tmp_path / "incidents.csv"
    # Decimal commas in a semicolon file: both split every line into two fields.
    path.write_text("id;value,unit\nX1;2,5\nX2;3,5\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="separator cannot be told") as err:
        read(path)
    assert "incidents.csv" in str(err.value) and "`sep:`" in str(err.value)
    assert read(path, sep=";").frame["value,unit"].tolist() == ["2,5", "3,5"]


def test_cp1252_declared_loads_and_undeclared_names_the_byte(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_bytes("id,place\nX1,Bélinyang\n".encode("cp1252"))
    with pytest.raises(InputFileError, match=r"not UTF-8 text \(byte 13 cannot be decoded\)"):
        read(path)
    assert read(path, encoding="cp1252").frame["place"].tolist() == ["Bélinyang"]
    assert read(path, encoding="latin-1").frame["place"].tolist() == ["Bélinyang"]


def test_byte_undefined_in_the_declared_encoding_names_its_offset(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_bytes(b"id,place\nX1,A\x81B\n")
    with pytest.raises(InputFileError, match=r"not cp1252 text \(byte 13 cannot be decoded\)"):
        read(path, encoding="cp1252")


def test_utf8_file_declared_latin1_is_refused_rather_than_garbled(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text("id,place\nX1,Bélinyang\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="valid UTF-8") as err:
        read(path, encoding="latin-1")
    assert "Remove `encoding:`" in str(err.value)


def test_unknown_encoding_is_a_configuration_error():
    with pytest.raises(ValueError, match="not a text encoding"):
        SourceSpec(path=Path("x.csv"), encoding="klingon")


def _natural_earth() -> list[Path]:
    require_realdata(BOUNDARIES / "naturalearth_lowres.shp")
    return sorted(BOUNDARIES.glob("naturalearth_lowres.*"))


def test_plain_and_zipped_shapefiles_read_alike(tmp_path):
    files = _natural_earth()
    archive = tmp_path / "countries.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for f in files:
            zipped.write(f, f.name)
    plain = read(BOUNDARIES / "naturalearth_lowres.shp", "areas").frame
    inside = read(archive, "areas").frame
    assert len(plain) == len(inside) == 177
    assert inside["name"].tolist() == plain["name"].tolist()
    assert inside["source_row"].tolist() == list(range(1, 178))
    assert inside.loc[inside["iso_a3"] == "CAF", "geometry"].iloc[0].geom_type == "Polygon"


def test_zip_with_two_shapefiles_needs_a_layer(tmp_path):
    files = _natural_earth()
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for f in files:
            zipped.write(f, f.name)
            zipped.write(f, f.name.replace("naturalearth_lowres", "copy"))
    with pytest.raises(InputFileError, match="layers") as err:
        read(archive, "areas")
    assert "`layer:`" in str(err.value)
    assert len(read(archive, "areas", layer="copy").frame) == 177


def test_kobo_geopoint_and_select_multiple_through_a_mission(bad_mission):
    folder = bad_mission.parent
    (folder / "kobo.csv").write_text(
        "_uuid,today,gbv/types,where/gps,_submitted_by\n"
        "k1,2022-03-05,rape sexual_assault,5.05 30.05 412 5.0,enumerator1\n"
        "k2,2022-03-06,psychological_abuse,5.02 30.15 400 3.5,enumerator1\n"
        "k3,2022-03-07,theft,5.02 30.15 400 3.5,enumerator1\n"
        "k4,2022-03-08,rape,5.02,enumerator1\n",
        encoding="utf-8",
    )
    text = bad_mission.read_text().replace("    path: incidents.csv\n", (
        "    path: kobo.csv\n    geopoint: where/gps\n    select_multiple: [gbv/types]\n"
    )).replace('columns: {"Type of SV": gbv_type, "Date": occurred_at, "Until": occurred_until}',
               "columns: {_uuid: incident_id, today: occurred_at, gbv/types: gbv_type}")
    bad_mission.write_text(text)
    mission = load_mission(bad_mission)
    incidents = mission.incidents.set_index("incident_id")
    assert incidents.loc["k1", "gbv_type"] == "rape"
    assert (incidents.loc["k1", "latitude"], incidents.loc["k1", "longitude"]) == (5.05, 30.05)
    assert incidents.loc["k2", "gbv_type"] == "psychological_abuse"
    report = mission.validation.tables["incidents"]
    assert report.reasons == {"label_unmapped": 1, "missing_value": 1}
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    assert "theft" in rejected.loc["k3", "detail"]
    assert rejected.loc["k4", "column"] == "longitude"
    assert report.rows_read == report.rows_accepted + report.rows_rejected == 4
    assert "_submitted_by" in report.dropped_columns


def test_export_key_naming_an_absent_column_is_a_clear_error(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text("id,gps\nX1,5 30\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"geopoint names column\(s\) \['where'\]"):
        read(path, geopoint="where")
    path.write_text("id,latitude,gps\nX1,5,5 30\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="already has"):
        read(path, geopoint="gps")


def test_fixture_folder_holds_only_synthetic_files():
    # Real exports never enter the repository; the one binary here says it is invented.
    assert sorted(p.name for p in FORMATS.iterdir()) == ["README.md", "gbvims-ir-synthetic.xls"]
