import json
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest

from protection_eval.ingest.tables import INCIDENTS_CRS, MissionInputError, to_incident_points
from protection_eval.ingest.validation import REASONS
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.runs.missions import load_mission

EXPECTED = {
    "incidents": {
        "date_ambiguous": 1, "date_unparseable": 1, "date_in_future": 1,
        "date_outside_period": 1, "coordinates_out_of_range": 1,
        "coordinates_zero_placeholder": 1, "coordinates_projected": 1,
        "coordinates_swapped": 1, "coordinates_sign_flipped": 1, "outside_areas": 1,
        "label_unmapped": 1, "duplicate_id": 1, "likely_duplicate": 1, "missing_value": 1,
        "invalid_number": 2, "unknown_area": 1, "not_whole_number": 1,
        "number_out_of_range": 1, "not_finite": 1, "date_out_of_range": 1,
        "area_name_unmatched": 1, "area_reference_conflict": 1, "ended_before_started": 1,
    },
    "patrols": {"ended_before_started": 1, "women_exceed_personnel": 1, "duplicate_id": 1,
                "label_unmapped": 1},
    "patrol_tracks": {"unknown_patrol": 1},
    "bases": {"ended_before_started": 1},
    "deployments": {"unknown_strategy": 1, "unknown_area": 1},
    "areas": {},
    "incident_counts": {
        "margin_inconsistent": 3, "area_name_unmatched": 1, "count_unparseable": 1,
        "count_interval_too_wide": 1, "month_unparseable": 1, "date_outside_period": 1,
        "duplicate_count": 1, "counts_and_rows_overlap": 1, "margin_without_cells": 1,
        "label_unmapped": 1, "missing_value": 1, "unknown_area": 1, "date_in_future": 1,
    },
}


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_validate_names_every_quarantine_reason_and_reconciles(bad_mission, tmp_path):
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "validation.json").read_text())
    for table, reasons in EXPECTED.items():
        got = report["tables"][table]
        assert got["reasons"] == reasons, table
        assert got["rows_read"] == got["rows_accepted"] + got["rows_rejected"]
        assert got["reconciles"] is True
    seen = {r for t in report["tables"].values() for r in t["reasons"]}
    # Two areas of one name would change the fixture's areas for every other test: the
    # ambiguous name is tested in tests/test_places.py, a report dated before its incident in
    # tests/test_reporting_ingest.py.
    assert seen == set(REASONS) - {"invalid_geometry", "area_name_ambiguous",
                                   "reported_before_occurred"}
    for reason in seen:
        assert reason in result.stdout


def test_rejected_rows_carry_source_row_reason_and_detail(bad_mission):
    rejected = load_mission(bad_mission).validation.rejected["incidents"]
    by_id = rejected.set_index("incident_id")
    assert by_id.loc["I03", "reason"] == "date_ambiguous"
    assert by_id.loc["I03", "source_row"] == 4  # header is line 1
    assert "03/09/2022" in by_id.loc["I03", "detail"]
    assert "swapped" in by_id.loc["I10", "detail"]
    assert by_id.loc["I14", "reason"] == "likely_duplicate"
    assert "row 2" in by_id.loc["I14", "detail"]


def test_identifying_columns_never_reach_any_table(bad_mission):
    mission = load_mission(bad_mission)
    assert mission.validation.tables["incidents"].dropped_columns == ["Survivor Name",
                                                                       "Narrative"]
    for frame in (mission.incidents, mission.validation.rejected["incidents"]):
        assert "Survivor Name" not in frame and "Narrative" not in frame
        assert not frame.astype(str).apply(lambda c: c.str.contains("INVENTED")).any().any()


def test_accepted_rows_are_canonical(bad_mission):
    mission = load_mission(bad_mission)
    inc = mission.incidents.set_index("incident_id")
    assert sorted(inc.index) == ["I01", "I02", "I19", "I25", "I26", "I29", "I30"]
    assert inc.loc["I02", "gbv_type"] == "rape"  # most severe of a multi-valued cell
    assert inc.loc["I02", "time_precision"] == "day"
    assert inc.loc["I01", "area_id"] == "A1"  # from the point
    assert inc.loc["I19", "area_id"] == "A2"  # from the source
    assert str(inc["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert mission.areas.set_index("area_id").loc["A2", "name"] == "B\u00e9linyang"  # NFC
    assert mission.projected_crs == "EPSG:32636"
    assert mission.coverage_source == "tracks"


def test_incidents_placed_by_area_name_have_area_precision_and_no_point(bad_mission):
    inc = load_mission(bad_mission).incidents.set_index("incident_id")
    # NFD, upper case, padded: matched after NFC, case folding and trimming.
    assert inc.loc["I25", "area_id"] == "A2"
    assert inc.loc["I29", "area_id"] == "A1"  # through ingest.area_aliases
    points = to_incident_points(inc)
    for row in ("I25", "I29"):
        assert inc.loc[row, "location_precision"] == "area"
        assert pd.isna(inc.loc[row, "longitude"]) and points.loc[row, "geometry"] is None
    assert inc.loc["I01", "location_precision"] == "exact"


def test_accepted_incidents_hold_coordinates_as_floats_not_a_point_per_row(bad_mission):
    incidents = load_mission(bad_mission).incidents
    # As the GPS fixes: two float64 columns, no object column of shapely points (at millions
    # of incidents the points were the largest part of ingestion's memory).
    assert type(incidents) is pd.DataFrame and "geometry" not in incidents
    assert str(incidents["longitude"].dtype) == str(incidents["latitude"].dtype) == "float64"
    # Points are built on demand from those coordinates, in EPSG:4326, none where there is no
    # coordinate (rows located by their area).
    points = to_incident_points(incidents)
    assert points.crs == INCIDENTS_CRS == "EPSG:4326"
    assert points.index.equals(incidents.index)
    located = incidents["longitude"].notna().to_numpy()
    assert located.any() and not located.all()
    assert (points.geometry.x[located] == incidents["longitude"][located]).all()
    assert (points.geometry.y[located] == incidents["latitude"][located]).all()
    assert points.geometry[~located].isna().all()
    assert to_incident_points(points) is points


def test_unmatched_area_name_is_quarantined_with_close_suggestions_never_applied(
    bad_mission, tmp_path
):
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "validation.json").read_text())
    suggestions = report["tables"]["incidents"]["area_name_suggestions"]
    # Only names close to it: Bélinyang, the other area, is not suggested for "Katr".
    assert suggestions == {"Katr": ["Kator"]}
    rejected = pd.read_csv(tmp_path / "out" / "rejected" / "incidents.csv", dtype=str)
    row = rejected.set_index("incident_id").loc["I24"]
    assert row["reason"] == "area_name_unmatched" and "'Kator'" in row["detail"]
    assert "area_name_unmatched" in result.stdout


def test_date_ranges_keep_their_interval(bad_mission):
    mission = load_mission(bad_mission)
    inc = mission.incidents.set_index("incident_id")
    assert inc.loc["I26", "time_precision"] == "range"
    # The end is exclusive: the local midnight (Africa/Juba, UTC+2) that ends 3 April.
    assert inc.loc["I26", "occurred_until"] == pd.Timestamp("2022-04-03T22:00", tz="UTC")
    assert inc.loc["I30", "time_precision"] == "range"
    assert inc.loc["I01", "time_precision"] == "time" and pd.isna(inc.loc["I01", "occurred_until"])
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    assert rejected.loc["I27", "reason"] == "ended_before_started"
    assert rejected.loc["I27", "column"] == "occurred_until"


def test_header_only_optional_table_is_fine_and_reported(bad_mission, tmp_path):
    for name in ("patrols.csv", "tracks.csv"):
        header = (bad_mission.parent / name).read_text(encoding="utf-8-sig").splitlines()[0]
        (bad_mission.parent / name).write_text(header + "\n", encoding="utf-8")
    mission = load_mission(bad_mission)
    assert len(mission.patrols) == 0 and list(mission.patrols.columns) == [
        "patrol_id", "unit_type", "patrol_type", "started_at", "ended_at", "personnel",
        "women", "source_row", "geometry"]
    assert mission.validation.tables["patrols"].rows_read == 0
    assert mission.validation.usable
    assert any("patrols.csv is declared and has no rows" in n for n in mission.validation.notes)
    assert mission.coverage_source == "bases"


def test_header_only_incidents_stop_the_mission(bad_mission, tmp_path):
    # Without monthly counts to stand in for them (tests/test_incident_counts.py has those).
    text = bad_mission.read_text()
    bad_mission.write_text(text[:text.index("  incident_counts:")]
                           + text[text.index("ingest:"):])
    assert "incident_counts" not in bad_mission.read_text()
    (bad_mission.parent / "incidents.csv").write_text("incident_id,Date,longitude,latitude\n")
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "incidents.csv" in result.stderr and "header but no rows" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "the file is empty"),
        ("patrol_id,unit_type\nP1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files_stop_the_mission_with_one_clear_message(
    bad_mission, tmp_path, content, message
):
    patrols = bad_mission.parent / "patrols.csv"
    patrols.unlink()
    if content is not None:
        patrols.write_bytes(content)
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "patrols.csv" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    report = json.loads((tmp_path / "o" / "validation.json").read_text())
    assert report["usable"] is False


def test_absent_required_column_names_file_column_and_fix(bad_mission):
    patrols = bad_mission.parent / "patrols.csv"
    frame = pd.read_csv(patrols, dtype=str).drop(columns="ended_at")
    frame.to_csv(patrols, index=False)
    with pytest.raises(MissionInputError) as err:
        load_mission(bad_mission)
    text = str(err.value)
    assert "patrols.csv" in text and "['ended_at']" in text and "sources.patrols.columns" in text


def test_a_mission_whose_incidents_are_all_quarantined_is_not_usable(bad_mission, tmp_path):
    incidents = bad_mission.parent / "incidents.csv"
    lines = incidents.read_text(encoding="utf-8-sig").splitlines()
    accepted = ("I01", "I02", "I14", "I19", "I25", "I26", "I29", "I30")
    keep = [lines[0]] + [ln for ln in lines[1:] if not ln.startswith(accepted)]
    incidents.write_text("\n".join(keep) + "\n", encoding="utf-8")
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "no incidents row was accepted" in result.stdout


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".parquet"])
def test_spatial_readers_give_text_cells_source_rows_and_points(tmp_path, ext):
    frame = gpd.GeoDataFrame(
        {"incident_id": ["a", "b"], "victims": [1, 2]},
        geometry=gpd.points_from_xy([30.05, 30.06], [5.05, 5.06]), crs="EPSG:4326",
    )
    path = tmp_path / f"incidents{ext}"
    if ext == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    raw = read_raw_table("incidents", path)
    assert list(raw.frame["source_row"]) == [1, 2]
    assert list(raw.frame["victims"]) == ["1", "2"]
    assert raw.frame["geometry"].iloc[1].x == pytest.approx(30.06)


def test_projected_spatial_file_is_read_back_in_wgs84(tmp_path):
    frame = gpd.GeoDataFrame({"incident_id": ["a"]},
                             geometry=gpd.points_from_xy([30.05], [5.05]), crs="EPSG:4326")
    path = tmp_path / "incidents.gpkg"
    frame.to_crs("EPSG:32636").to_file(path)
    geom = read_raw_table("incidents", path).frame["geometry"].iloc[0]
    assert (geom.x, geom.y) == pytest.approx((30.05, 5.05))


def test_unknown_extension_is_a_clear_error(tmp_path):
    path = tmp_path / "incidents.docx"
    path.write_bytes(b"x")
    with pytest.raises(InputFileError, match="unknown file type '.docx'"):
        read_raw_table("incidents", path)


def test_spatial_incidents_take_coordinates_from_their_geometry(bad_mission):
    folder = bad_mission.parent
    frame = pd.read_csv(folder / "incidents.csv", dtype=str, encoding="utf-8-sig").head(2)
    gdf = gpd.GeoDataFrame(
        frame.drop(columns=["longitude", "latitude"]),
        geometry=gpd.points_from_xy(frame.longitude.astype(float), frame.latitude.astype(float)),
        crs="EPSG:4326",
    )
    gdf.to_file(folder / "incidents.geojson")
    text = bad_mission.read_text().replace("path: incidents.csv", "path: incidents.geojson")
    bad_mission.write_text(text)
    mission = load_mission(bad_mission)
    assert list(mission.incidents.incident_id) == ["I01", "I02"]
    assert mission.incidents.longitude.iloc[0] == pytest.approx(30.05)




def test_acled_style_export_loads_through_configuration_alone(bad_mission):
    folder = bad_mission.parent
    (folder / "acled.csv").write_text(
        "event_id_cnty,event_date,year,sub_event_type,actor1,geo_precision,longitude,latitude,notes\n"
        "SSD1001,05 March 2022,2022,Sexual violence,Unidentified Armed Group,1,30.05,5.05,text\n"
        "SSD1002,17 April 2022,2022,Sexual violence,Unidentified Armed Group,2,30.15,5.02,text\n"
        "SSD1003,17 April 2022,2022,Abduction/forced disappearance,Militia,1,30.15,5.02,x\n",
        encoding="utf-8",
    )
    text = bad_mission.read_text().split("  patrols:")[0].split("  incidents:")[0]
    text += (
        "  incidents:\n"
        "    path: acled.csv\n"
        "    columns: {event_id_cnty: incident_id, event_date: occurred_at,\n"
        "              sub_event_type: gbv_type, geo_precision: location_precision}\n"
        "    labels:\n"
        "      gbv_type: {'Sexual violence': unspecified}\n"
        "      location_precision: {'1': exact, '2': settlement, '3': admin2}\n"
        "    date_format: '%d %B %Y'\n"
        + "  patrols:" + bad_mission.read_text().split("  patrols:")[1]
    )
    bad_mission.write_text(text)
    mission = load_mission(bad_mission)
    report = mission.validation.tables["incidents"]
    assert list(mission.incidents.incident_id) == ["SSD1001", "SSD1002"]
    assert list(mission.incidents.location_precision) == ["exact", "settlement"]
    assert report.reasons == {"label_unmapped": 1}
    assert report.dropped_columns == ["year", "actor1", "notes"]


def test_cp1252_patrols_stop_the_mission_at_their_byte_until_the_encoding_is_declared(
    bad_mission, tmp_path
):
    # patrols-cp1252.csv is patrols.csv saved in cp1252, plus one patrol named with an é.
    text = bad_mission.read_text()
    bad_mission.write_text(text.replace("{path: patrols.csv}", "{path: patrols-cp1252.csv}"))
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "patrols-cp1252.csv: not UTF-8 text (byte 385 cannot be decoded)" in result.stderr
    assert "`encoding:`" in result.stderr
    bad_mission.write_text(text.replace(
        "{path: patrols.csv}", "{path: patrols-cp1252.csv, encoding: cp1252}"
    ))
    mission = load_mission(bad_mission)
    assert "P-Bélinyang-5" in set(mission.patrols["patrol_id"])
    assert mission.validation.tables["patrols"].reasons == EXPECTED["patrols"]
