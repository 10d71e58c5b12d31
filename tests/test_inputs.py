"""Input files a careless user or an attacker might hand over: each is refused clearly or read
as documented, never silently misread and never with a traceback (issue 10, items 4, 5, 10, 11).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from protection_eval.config import ConfigError, load_mission_config
from protection_eval.inventory.strategies import validate_catalogue
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import run_mission


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )


def points(ids, lon, lat):
    return gpd.GeoDataFrame({"incident_id": ids}, geometry=gpd.points_from_xy(lon, lat),
                            crs="EPSG:4326")


# --- item 4: a GeoPackage with several layers -------------------------------------------------

def write_two_layers(path: Path) -> None:
    points(["decoy"], [30.0], [5.0]).to_file(path, layer="decoy", engine="pyogrio")
    points(["r1", "r2"], [30.1, 30.2], [5.1, 5.2]).to_file(path, layer="incidents",
                                                           engine="pyogrio")


def test_several_layers_and_none_named_is_an_error_listing_them(tmp_path):
    path = tmp_path / "incidents.gpkg"
    write_two_layers(path)
    with pytest.raises(InputFileError) as err:
        read_raw_table("incidents", path)
    text = str(err.value)
    assert str(path) in text and "'decoy'" in text and "'incidents'" in text
    assert "`layer:`" in text


def test_the_named_layer_is_read_and_an_unknown_one_is_refused(tmp_path):
    path = tmp_path / "incidents.gpkg"
    write_two_layers(path)
    assert list(read_raw_table("incidents", path, layer="incidents").frame["incident_id"]) == [
        "r1", "r2"]
    with pytest.raises(InputFileError, match=r"has no layer 'incident'; its layers are"):
        read_raw_table("incidents", path, layer="incident")


def test_a_single_layer_geopackage_needs_no_layer_name(tmp_path):
    path = tmp_path / "incidents.gpkg"
    points(["a"], [30.0], [5.0]).to_file(path, engine="pyogrio")
    assert list(read_raw_table("incidents", path).frame["incident_id"]) == ["a"]


# --- item 5: duplicate column headers and duplicate YAML keys ---------------------------------

def add_decoy_type_column(incidents: Path, header: str = "Type of SV") -> None:
    frame = pd.read_csv(incidents, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    decoy = pd.DataFrame({header: ["Viol"] * len(frame)})
    pd.concat([decoy, frame], axis=1).to_csv(incidents, index=False)


@pytest.mark.parametrize("header", ["Type of SV", " Type of SV "])
def test_a_repeated_csv_header_is_an_error_naming_it(bad_mission, header):
    add_decoy_type_column(bad_mission.parent / "incidents.csv", header)
    with pytest.raises(InputFileError) as err:
        load_mission(bad_mission)
    text = str(err.value)
    assert "incidents.csv" in text and "'Type of SV'" in text and "more than once" in text


def test_a_repeated_header_stops_validate_without_a_traceback(bad_mission, tmp_path):
    add_decoy_type_column(bad_mission.parent / "incidents.csv")
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "'Type of SV'" in result.stderr and "Rename or delete" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_blank_header_cells_are_not_duplicates(tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text("incident_id,,\nI1,,\n", encoding="utf-8")
    assert list(read_raw_table("incidents", path).frame["incident_id"]) == ["I1"]


def test_a_repeated_geojson_property_is_an_error(tmp_path):
    path = tmp_path / "incidents.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"properties": {"gbv_type": "decoy", "gbv_type": "rape"}, '
        '"geometry": {"type": "Point", "coordinates": [30.0, 5.0]}}]}', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"'gbv_type' appear more than once in one object"):
        read_raw_table("incidents", path)


def test_a_repeated_parquet_column_is_an_error(tmp_path):
    path = tmp_path / "incidents.parquet"
    pq.write_table(pa.table([pa.array(["decoy"]), pa.array(["rape"])],
                            names=["gbv_type", "gbv_type"]), path)
    with pytest.raises(InputFileError, match=r"'gbv_type' appear more than once in the schema"):
        read_raw_table("incidents", path)


def test_a_repeated_yaml_key_is_refused_with_both_lines(bad_mission):
    text = bad_mission.read_text()
    text = text.replace("sources:", "sharing: {min_count: 20}\nsources:")
    bad_mission.write_text(text + "sharing: {min_count: 5}\n")
    first = text.splitlines().index("sharing: {min_count: 20}") + 1
    second = len(text.splitlines()) + 1
    with pytest.raises(ConfigError) as err:
        load_mission_config(bad_mission)
    message = str(err.value)
    assert str(bad_mission) in message and "'sharing'" in message
    assert f"'sharing' on line {second} was already given on line {first}" in message
    assert "not readable" not in message


def test_a_repeated_key_in_a_strategy_file_is_a_catalogue_problem(tmp_path):
    (tmp_path / "patrolling.yaml").write_text(
        "- id: night-patrols\n  id: other\n  name: Night patrols\n", encoding="utf-8")
    problems = validate_catalogue(tmp_path)
    assert any("'id'" in p.message and "already given" in p.message for p in problems)


# --- item 10: input edge cases ----------------------------------------------------------------

def areas_as_wkt_csv(bad_mission: Path) -> None:
    folder = bad_mission.parent
    areas = gpd.read_file(folder / "areas.geojson")
    frame = pd.DataFrame(areas.drop(columns="geometry"))
    frame["geometry"] = shapely.to_wkt(areas.geometry.to_numpy(), rounding_precision=-1)
    frame.to_csv(folder / "areas.csv", index=False)
    bad_mission.write_text(bad_mission.read_text().replace("areas.geojson", "areas.csv"))


def test_areas_as_wkt_in_a_csv_are_read_like_the_geojson(bad_mission):
    before = load_mission(bad_mission)
    areas_as_wkt_csv(bad_mission)
    after = load_mission(bad_mission)
    assert sorted(after.areas["area_id"]) == sorted(before.areas["area_id"]) == ["A1", "A2"]
    assert after.areas.geometry.geom_equals(before.areas.geometry).all()
    assert sorted(after.incidents["incident_id"]) == sorted(before.incidents["incident_id"])
    assert after.validation.tables["areas"].reasons == {}


def test_unusable_wkt_areas_are_quarantined_and_written_out(bad_mission, tmp_path):
    areas_as_wkt_csv(bad_mission)
    path = bad_mission.parent / "areas.csv"
    frame = pd.read_csv(path, dtype=str)
    frame["geometry"] = ["POLYGON EMPTY", "not wkt"][: len(frame)]
    frame.to_csv(path, index=False)
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "no area was accepted" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    rejected = pd.read_csv(tmp_path / "o" / "rejected" / "areas.csv")
    assert list(rejected["reason"]) == ["invalid_geometry"] * len(frame)
    report = json.loads((tmp_path / "o" / "validation.json").read_text())
    assert report["usable"] is False and report["tables"]["areas"]["rows_rejected"] == len(frame)


def test_a_folder_as_source_is_a_clear_error_in_validate(bad_mission, tmp_path):
    patrols = bad_mission.parent / "patrols.csv"
    patrols.unlink()
    patrols.mkdir()
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "patrols.csv: is a folder, not a file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_folder_as_source_fails_the_run_alone_with_its_message(bad_mission, tmp_path):
    areas = bad_mission.parent / "areas.geojson"
    areas.unlink()
    areas.mkdir()
    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    assert result.status == "failed"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["error"]["step"] == "ingestion"
    assert "is a folder, not a file" in manifest["error"]["message"]


def test_a_symlink_loop_as_source_is_a_clear_error_in_validate(bad_mission, tmp_path):
    folder = bad_mission.parent
    (folder / "incidents.csv").unlink()
    os.symlink(folder / "loop.csv", folder / "incidents.csv")
    os.symlink(folder / "incidents.csv", folder / "loop.csv")
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "incidents.csv: is a symbolic link that points back to itself" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("ext", [".csv", ".geojson"])
def test_a_source_column_named_source_row_is_a_clear_error(tmp_path, ext):
    path = tmp_path / f"incidents{ext}"
    frame = points(["a"], [30.0], [5.0]).assign(source_row=["7"])
    if ext == ".csv":
        pd.DataFrame(frame.drop(columns="geometry")).to_csv(path, index=False)
    else:
        frame.to_file(path)
    with pytest.raises(InputFileError, match=r"column named 'source_row'.*Rename that column"):
        read_raw_table("incidents", path)


# --- item 11: sources confined to the mission's folder ----------------------------------------

SECRET_HEADER = "secret_header_of_another_file"


@pytest.fixture
def outside_csv(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "patrols.csv"
    path.write_text(f"{SECRET_HEADER}\nx\n", encoding="utf-8")
    return path


def point_patrols_at(bad_mission: Path, target: str) -> None:
    bad_mission.write_text(bad_mission.read_text().replace("path: patrols.csv",
                                                           f"path: {target}"))


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_source_outside_the_mission_folder_is_refused_unread(bad_mission, outside_csv,
                                                                tmp_path, how):
    target = outside_csv if how == "absolute" else "../elsewhere/patrols.csv"
    point_patrols_at(bad_mission, str(target))
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "sources.patrols.path" in result.stderr and "allowed_source_dirs" in result.stderr
    assert SECRET_HEADER not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_a_link_inside_the_folder_pointing_outside_is_refused(bad_mission, outside_csv):
    os.symlink(outside_csv, bad_mission.parent / "linked.csv")
    point_patrols_at(bad_mission, "linked.csv")
    with pytest.raises(ConfigError, match=r"sources\.patrols\.path: .*linked\.csv lies outside"):
        load_mission_config(bad_mission)


def test_an_absolute_path_inside_the_mission_folder_is_read(bad_mission):
    point_patrols_at(bad_mission, str(bad_mission.parent / "patrols.csv"))
    assert load_mission_config(bad_mission).sources.patrols.path == (
        bad_mission.parent / "patrols.csv")


def test_allowed_source_dirs_admits_a_listed_folder(bad_mission, outside_csv):
    outside_csv.write_text((bad_mission.parent / "patrols.csv").read_text(encoding="utf-8-sig"),
                           encoding="utf-8")
    point_patrols_at(bad_mission, "../elsewhere/patrols.csv")
    bad_mission.write_text(bad_mission.read_text() + "allowed_source_dirs: [../elsewhere]\n")
    config = load_mission_config(bad_mission)
    assert config.allowed_source_dirs == [bad_mission.parent.resolve(),
                                          outside_csv.parent.resolve()]
    assert load_mission(bad_mission).validation.tables["patrols"].rows_read == 5


def test_a_run_reads_its_sources_through_its_restricted_copy(bad_mission, tmp_path):
    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    assert result.status == "ok", result.error
    copy = load_mission_config(result.run_dir / "restricted" / "mission.yaml")
    assert copy.sources.incidents.path == bad_mission.parent.resolve() / "incidents.csv"
    direct = load_mission(bad_mission).validation.tables["incidents"].rows_read
    assert load_mission(copy).validation.tables["incidents"].rows_read == direct > 0
