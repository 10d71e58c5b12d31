"""JSON records and JSON Lines read as tables (issue 26: "JSON records and JSON Lines read as
tables"); GeoJSON in a ``.json`` file still read as GeoJSON, decided by parsing, not by GDAL."""

import csv
import json
import math
import re
from pathlib import Path

import pytest
import shapely
from realdata import REALDATA, require_realdata

from protection_eval.config import SourceSpec
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.runs.missions import load_mission


def read(path: Path, table: str = "incidents", **keys):
    return read_raw_table(table, path, spec=SourceSpec(path=path, **keys))


def _typed(value: str):
    """A CSV cell as an API would export it: numbers as numbers, empty as null."""
    if value == "":
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def _csv_records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [{k: _typed(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_an_array_of_records_reads_as_text_cells_with_source_row(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([
        {"id": "X1", "victims": 2, "share": 0.25, "confirmed": True, "note": None},
        {"id": "X2", "victims": 10, "late": "yes"},
    ]), encoding="utf-8")
    raw = read(path)
    assert list(raw.frame.columns) == ["source_row", "id", "victims", "share", "confirmed",
                                       "note", "late"]
    assert raw.frame.to_dict("records") == [
        {"source_row": 1, "id": "X1", "victims": "2", "share": "0.25", "confirmed": "true",
         "note": "", "late": ""},
        {"source_row": 2, "id": "X2", "victims": "10", "share": "", "confirmed": "",
         "note": "", "late": "yes"},
    ]
    assert raw.notes == ()


def test_an_object_with_one_array_of_records_names_the_member_it_read(tmp_path):
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"count": 1, "next": None, "results": [{"id": "X1"}]}),
                    encoding="utf-8")
    raw = read(path)
    assert raw.frame["id"].tolist() == ["X1"]
    assert raw.notes[0] == ("the records are the array under 'results' (its other members, "
                            "count, next, are not rows)")


def test_nested_objects_are_flattened_one_level_and_deeper_values_kept_as_json_text(tmp_path):
    path = tmp_path / "nested.json"
    path.write_text(json.dumps([
        {"id": "X1", "location": {"lat": 4.35, "lon": 18.55, "admin": {"adm1": "Bangui"}},
         "types": ["Rape", "Sexual assault"]},
    ]), encoding="utf-8")
    raw = read(path)
    row = raw.frame.iloc[0].to_dict()
    assert row["location.lat"] == "4.35" and row["location.lon"] == "18.55"
    assert json.loads(row["location.admin"]) == {"adm1": "Bangui"}
    assert json.loads(row["types"]) == ["Rape", "Sexual assault"]
    assert "location.admin, types" in raw.notes[0]


def test_a_dotted_key_and_a_flattened_one_of_the_same_name_are_refused(tmp_path):
    path = tmp_path / "clash.json"
    path.write_text('[{"location.lat": 1, "location": {"lat": 2}}]', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"record 1 gives the column 'location.lat' twice"):
        read(path)


def test_json_lines_read_one_object_per_line_numbered_by_line(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"id": "X1", "victims": 1}\n\n{"id": "X2", "area": "Kator"}\n',
                    encoding="utf-8")
    raw = read(path)
    assert raw.frame.to_dict("records") == [
        {"source_row": 1, "id": "X1", "victims": "1", "area": ""},
        {"source_row": 3, "id": "X2", "victims": "", "area": "Kator"},
    ]


def test_a_declared_format_reads_a_file_whatever_its_extension(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text('{"id": "X1"}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match="unknown file type '.txt'"):
        read(path)
    assert read(path, format="jsonl").frame["id"].tolist() == ["X1"]


def test_geojson_in_a_json_file_is_still_read_as_geojson(tmp_path):
    path = tmp_path / "areas.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"area_id": "A1"},
         "geometry": {"type": "Point", "coordinates": [18.55, 4.35]}}]}), encoding="utf-8")
    frame = read(path, "areas").frame
    assert frame["area_id"].tolist() == ["A1"]
    assert frame["geometry"].iloc[0].equals(shapely.Point(18.55, 4.35))


def test_records_in_a_geojson_file_are_refused_with_what_to_do(tmp_path):
    path = tmp_path / "areas.geojson"
    path.write_text('[{"area_id": "A1"}]', encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read(path, "areas")
    assert "not a FeatureCollection or a Feature" in str(err.value)
    assert ".json file" in str(err.value)


@pytest.mark.parametrize(("text", "problem"), [
    ('{"a": [{"x": 1}], "b": [{"y": 2}]}',
     "holds a JSON object with 2 members that are arrays of objects (a, b)"),
    ('{"a": 1, "b": "two"}', "holds a JSON object with no member that is an array of objects"),
    ("42", "holds a single JSON value, not records"),
    ('[{"x": 1}, [1, 2]]', "item 2 of the array is not an object (it is list '[1,2]')"),
    ('[{"x": 1, "x": 2}]', "the key(s) 'x' appear more than once in one object"),
    ('[{"x": NaN}]', "holds NaN, which is not a JSON value"),
    ('[{"x": 1},\n {"x": 2,}]', "is not valid JSON (line 2, column 10"),
])
def test_json_that_is_not_a_table_gives_a_clear_message(tmp_path, text, problem):
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("text", "problem"), [
    ('{"x": 1}\n{"x": \n', "is not valid JSON on line 2 (column"),
    ('{"x": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
])
def test_a_bad_json_line_is_named_by_its_number(tmp_path, text, problem):
    path = tmp_path / "export.ndjson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=problem.replace("(", r"\(")):
        read(path)


def test_an_empty_array_is_a_table_with_no_records(tmp_path):
    path = tmp_path / "export.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(InputFileError, match="holds no records"):
        read(path)
    assert read_raw_table("patrols", path, header_only_ok=True).frame.empty


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_mission_reads_its_incidents_from_json_as_from_the_csv(bad_mission, suffix):
    folder = bad_mission.parent
    records = _csv_records(folder / "incidents.csv")
    assert isinstance(records[0]["longitude"], float) and isinstance(records[0]["victims"], int)
    assert not any(isinstance(v, float) and math.isnan(v) for r in records for v in r.values())
    path = folder / f"incidents{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"data": records}), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    from_csv = load_mission(bad_mission)
    bad_mission.write_text(bad_mission.read_text().replace("path: incidents.csv",
                                                           f"path: incidents{suffix}"))
    from_json = load_mission(bad_mission)
    assert sorted(from_json.incidents["incident_id"]) == sorted(from_csv.incidents["incident_id"])
    csv_report = from_csv.validation.tables["incidents"]
    json_report = from_json.validation.tables["incidents"]
    assert json_report.reasons == csv_report.reasons
    assert json_report.rows_read == csv_report.rows_read == len(records)
    assert json_report.dropped_columns == ["Survivor Name", "Narrative"]


def test_a_real_export_reads_the_same_from_json_records_as_from_its_csv(tmp_path):
    """UCDP GED (CAR, 1,848 events, multi-line text fields) as an API would give it: each cell
    that is a number written as JSON prints it back the same, so the JSON read must equal the
    CSV read cell for cell."""
    source = REALDATA / "car" / "ucdp-ged-23.1-car.csv"
    require_realdata(source)
    from_csv = read(source).frame

    def typed(value: str):
        for kind in (int, float):
            try:
                number = kind(value)
            except ValueError:
                continue
            return number if str(number) == value and math.isfinite(number) else value
        return value if value != "" else None

    records = [{k: typed(v) for k, v in row.items() if k != "source_row"}
               for row in from_csv.to_dict("records")]
    assert sum(isinstance(v, float) for v in records[0].values()) >= 2  # latitude, longitude
    path = tmp_path / "ucdp.json"
    path.write_text(json.dumps({"Result": records, "TotalCount": len(records)}),
                    encoding="utf-8")
    from_json = read(path).frame
    assert len(from_json) == len(from_csv) == 1848
    assert list(from_json.columns) == list(from_csv.columns)
    cells = from_json.drop(columns="source_row").to_numpy(dtype=object)
    assert (cells == from_csv.drop(columns="source_row").to_numpy(dtype=object)).all()
