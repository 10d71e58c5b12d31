"""Presets that fit what publishers release: stated distances, header variants, label tables,
both Geo-PKO versions, and messages that name the header a preset expected.

Synthetic files with the publishers' headers (none of their rows); the real 2024 workbook and the
world outlines from ../shared/realdata where the shape exists there.
"""

import json
from pathlib import Path

import pandas as pd
import pytest
from realdata import REALDATA, require_realdata
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.io.errors import InputFileError
from protection_eval.runs.missions import load_mission

CRSV = REALDATA / "crsv-2024" / "crsv-2024-insecurity-insight.xlsx"
COUNTRIES = REALDATA / "boundaries" / "naturalearth_lowres.shp"
AREAS = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
         '{"area_id": "A1", "name": "Kator"}, "geometry": {"type": "Polygon", "coordinates": '
         '[[[29.5, 4.5], [30.5, 4.5], [30.5, 5.5], [29.5, 5.5], [29.5, 4.5]]]}}]}')

#: The 2020-2023 workbook's headers (synthetic rows): `Type` where 2024 says `Type of SV`.
II_2020 = ("Date,Country,Country ISO,Latitude,Longitude,Geo Precision,Type,"
           "Reported Perpetrator,Number of Reported Victims,SIND Event ID,Event Description\n")


def mission(tmp_path: Path, incidents: str, extra_sources: str = "", radius_m: int = 30_000,
            incidents_block: str = "  incidents: {path: incidents.csv, "
                                   "preset: insecurity-insight-crsv}\n") -> Path:
    (tmp_path / "areas.geojson").write_text(AREAS, encoding="utf-8")
    (tmp_path / "incidents.csv").write_text(incidents, encoding="utf-8")
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: PRESETS-1\nname: Publisher presets\nsynthetic: true\ntimezone: UTC\n"
        "period: {start: 2020-01-01, end: 2024-12-31}\n"
        f"coverage: {{radius_m: {radius_m}, window_h: 72}}\n"
        "sources:\n" + incidents_block + "  areas: {path: areas.geojson}\n" + extra_sources,
        encoding="utf-8")
    return path


def ii_rows(precision: str, types: list[str]) -> str:
    return "".join(
        f'2022-03-0{i + 1},South Sudan,SSD,5.0{i},30.0{i},"{precision}",{t},Armed Group,1,'
        f"S{i},invented narrative never to be read\n" for i, t in enumerate(types))


def test_the_2020_2023_workbook_headers_and_labels_read_with_the_preset(tmp_path):
    loaded = load_mission(mission(tmp_path, II_2020 + ii_rows(
        "(2) 25 km Precision", ["UnwantedSexualTouching", "TransactionalSex", "Rape"])))
    report = loaded.validation.tables["incidents"]
    assert report.rows_accepted == 3, report.reasons
    assert list(loaded.incidents["gbv_type"]) == ["sexual_assault", "unspecified", "rape"]
    assert "Event Description" in report.dropped_columns


def test_a_25_km_precision_carries_25_km_and_enters_a_30_km_coverage(tmp_path):
    bases = tmp_path / "bases.csv"
    bases.write_text("base_id,unit_type,valid_from,valid_to,longitude,latitude\n"
                     "B1,military,2020-01-01,2024-12-31,30.0,5.0\n", encoding="utf-8")
    rows = ii_rows("(2) 25 km Precision", ["Rape"]) + ii_rows(
        "(3) District, Communicipality or Commune", ["Rape"]).replace("S0", "S9")
    loaded = load_mission(mission(tmp_path, II_2020 + rows,
                                  extra_sources="  bases: {path: bases.csv}\n"))
    stated = loaded.incidents.set_index("incident_id")["location_uncertainty_m"]
    assert stated["S0"] == 25_000 and pd.isna(stated["S9"])
    result = compute_mission_coverage(loaded)
    table = result.incidents.set_index("incident_id")
    # 25 km < 30 km: in scope. A district (nominal 50 km) is still left out.
    assert bool(table.loc["S0", "in_scope"]) and table.loc["S0", "covered"]
    assert table.loc["S9", "left_out_reason"] == "precision"
    assert result.summary["incidents_left_out_by_precision"] == 1
    # With a 20 km radius, 25 km is too coarse.
    narrow = compute_mission_coverage(loaded, radius_m=20_000)
    assert narrow.incidents.set_index("incident_id").loc["S0", "left_out_reason"] == "precision"


def test_a_missing_column_names_the_header_the_preset_expected_and_the_closest(tmp_path):
    headers = II_2020.replace(",Type,", ",Type of Violence,")
    path = mission(tmp_path, headers + ii_rows("(2) 25 km Precision", ["Rape"]))
    with pytest.raises(Exception) as caught:
        load_mission(path)
    message = str(caught.value)
    assert "'Type of SV' or 'Type'" in message and "insecurity-insight-crsv" in message
    assert "closest header present: 'Type of Violence'" in message
    assert "area_name" not in message


GEOPKO_V1 = (
    "Source,Mission,year,month,location,country,latitude,longitude,No.troops,RPF,RES,FP,"
    "No.TCC,name.of.TCC1,No.troops.per.TCC1\n"
    "map 1,UNMISS,2022,1,Kator,South Sudan,5.05,30.05,100,0,0,0,1,Invented,100\n"
    "map 2,UNMISS,2022,6,Kator,South Sudan,5.05,30.05,300,0,0,0,1,Invented,300\n"
    "map 3,UNMISS,2022,11,Kator,South Sudan,5.05,30.05,0,0,0,0,0,,\n"
    "map 2,UNMISS,2022,6,Juba Rd,South Sudan,5.20,30.20,,0,0,0,0,,\n"
    "map 4,UNMISS,2023,2,Kator,South Sudan,5.05,30.05,250,0,0,0,1,Invented,250\n"
)


def test_geopko_v1_maps_become_one_base_per_location_and_year(tmp_path):
    (tmp_path / "geopko_v1.csv").write_text(GEOPKO_V1, encoding="utf-8")
    loaded = load_mission(mission(
        tmp_path, II_2020 + ii_rows("(2) 25 km Precision", ["Rape"]),
        extra_sources="  bases: {path: geopko_v1.csv, preset: geo-pko}\n"))
    report = loaded.validation.tables["bases"]
    assert report.rows_read == 5 and report.rows_accepted == 3
    assert report.reasons == {"duplicate_id": 2}
    bases = loaded.bases.set_index("base_id")
    # The mean of the maps with troops in 2022: (100 + 300) / 2; 2023 has one map.
    assert bases.loc["Kator 2022", "personnel"] == 200
    assert bases.loc["Kator 2023", "personnel"] == 250
    assert pd.isna(bases.loc["Juba Rd 2022", "personnel"])
    assert bases.loc["Kator 2022", "valid_from"] == pd.Timestamp("2022-01-01")
    assert bases.loc["Kator 2022", "valid_to"] == pd.Timestamp("2022-12-31")
    assert set(bases["unit_type"]) == {"military"}


def test_a_file_of_neither_geopko_version_names_the_preset_not_derive(tmp_path):
    (tmp_path / "bases.csv").write_text("Mission,year,location,latitude,longitude,troops\n"
                                        "UNMISS,2022,Kator,5.05,30.05,100\n", encoding="utf-8")
    path = mission(tmp_path, II_2020 + ii_rows("(2) 25 km Precision", ["Rape"]),
                   extra_sources="  bases: {path: bases.csv, preset: geo-pko}\n")
    with pytest.raises(InputFileError) as caught:
        load_mission(path)
    message = str(caught.value)
    assert "preset 'geo-pko'" in message and "v1" in message and "v2" in message
    assert "Correct `derive`" not in message


def world_yaml(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(
        "mission: CRSV-WORLD\nname: CRSV 2024 against the world's outlines\ntimezone: UTC\n"
        "period: {start: 2024-01-01, end: 2024-05-31}\n"
        f"allowed_source_dirs: ['{REALDATA.resolve()}']\n"
        "sources:\n"
        f"  areas:\n    path: '{COUNTRIES.resolve()}'\n"
        "    columns: {iso_a3: area_id, name: name, pop_est: population}\n"
        f"  incidents:\n    path: '{CRSV.resolve()}'\n    preset: insecurity-insight-crsv\n"
        + block, encoding="utf-8")
    return path


@pytest.mark.parametrize("block", ["", "    columns: {Country: area_name}\n"],
                         ids=["by-coordinates", "by-country-name"])
def test_the_2024_workbook_validates_against_the_world_outlines(tmp_path, block):
    require_realdata(CRSV, COUNTRIES)
    path = world_yaml(tmp_path, block)
    result = CliRunner().invoke(app, ["validate", str(path), "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.stdout
    written = json.loads((tmp_path / "v" / "validation.json").read_text(encoding="utf-8"))
    incidents = written["tables"]["incidents"]
    assert written["mission"] == "CRSV-WORLD" and written["usable"]
    assert incidents["rows_read"] == 128
    # Comoros is not among Natural Earth's 1:110m outlines: quarantined either way, with a
    # reason that says so, never as a sign flip.
    assert set(incidents["reasons"]) <= {"missing_value", "outside_areas",
                                         "area_name_unmatched"}
    if block:
        assert incidents["rows_accepted"] == 127
        resolved = incidents["area_name_resolutions"]
        assert {n: r["area_id"] for n, r in resolved.items() if n in {"DRC", "CAR", "PNG"}} == {
            "DRC": "COD", "CAR": "CAF", "PNG": "PNG"}
    loaded = load_mission(path)
    stated = loaded.incidents["location_uncertainty_m"]
    # The workbook's 64 rows of "(2) 25 km Precision" carry 25 km.
    assert int((stated == 25_000).sum()) == 64


@pytest.mark.slow
def test_the_2024_workbook_runs_against_the_world_outlines_by_country_name(tmp_path):
    """Issue 26: validate *and run*: every notebook, the gate, nothing computed that cannot be."""
    from protection_eval.runs.runner import run_mission

    require_realdata(CRSV, COUNTRIES)
    result = run_mission(world_yaml(tmp_path, "    columns: {Country: area_name}\n"),
                         reports_dir=tmp_path / "reports")
    assert result.status == "ok", result.error
    run = result.run_dir
    validation = json.loads((run / "restricted" / "validation.json").read_text("utf-8"))
    for name, table in validation["tables"].items():
        assert table["rows_read"] == table["rows_accepted"] + table["rows_rejected"], name
    summary = json.loads((run / "shared" / "coverage_summary.json").read_text("utf-8"))
    # No presence data at all: no share, no gap, and the brief's map says why it is empty.
    assert summary["covered_share"] is None and summary["gaps_status"] == "not_computed"
    assert summary["incidents_total"] == 127
    brief = (run / "shared" / "brief.html").read_text("utf-8")
    assert "No gap was ranked" in brief
    assert "are not on this map" in brief
