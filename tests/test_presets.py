"""Presets for known exports: real public files through a mission YAML alone, synthetic ones for
exports that cannot be redistributed (ACLED, GBVIMS Incident Recorder)."""

from pathlib import Path

import pandas as pd
import pytest
from realdata import REALDATA, require_realdata

from protection_eval.config import ConfigError, SourceSpec, load_mission_config
from protection_eval.io.readers import InputFileError
from protection_eval.labels import VOCABULARIES, LabelMapper
from protection_eval.presets import load_preset, preset_names
from protection_eval.runs.missions import load_mission

FORMATS = Path(__file__).parent / "fixtures" / "formats"
CRSV = REALDATA / "crsv-2024" / "crsv-2024-insecurity-insight.xlsx"
UCDP = REALDATA / "car" / "ucdp-ged-23.1-car.csv"
GEOPKO = REALDATA / "car" / "geopko-2.3-frontmap-minusca.csv"
COUNTRIES = REALDATA / "boundaries" / "naturalearth_lowres.shp"


def need(*paths: Path) -> None:
    require_realdata(*paths)


def world_mission(tmp_path: Path, period: str, sources: str) -> Path:
    """A mission YAML in tmp_path whose sources are read from ../shared/realdata."""
    (tmp_path / "patrols.csv").write_text(
        "patrol_id,unit_type,patrol_type,started_at,ended_at\n"
        "P1,military,routine,2022-01-02T08:00,2022-01-02T10:00\n", encoding="utf-8")
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: REAL-1\nname: Real files through presets\ntimezone: UTC\n"
        # The world's outlines do not fit one UTM zone: a world metric CRS.
        "crs: 'EPSG:6933'\n"
        f"period: {period}\n"
        f"allowed_source_dirs: ['{REALDATA.resolve()}']\n"
        "sources:\n"
        "  patrols: {path: patrols.csv}\n"
        f"  areas:\n    path: '{COUNTRIES.resolve()}'\n"
        "    columns: {iso_a3: area_id, name: name, pop_est: population}\n"
        + sources,
        encoding="utf-8",
    )
    return path


def every_cell(mission) -> set[str]:
    cells: set[str] = set()
    for name in ("incidents", "patrols", "areas", "bases"):
        table = getattr(mission, name)
        if table is not None:
            cells |= {str(v) for v in table.drop(columns="geometry", errors="ignore")
                      .to_numpy().ravel()}
    return cells


def test_crsv_2024_workbook_loads_with_its_preset_through_a_mission_yaml(tmp_path):
    need(CRSV, COUNTRIES)
    config = world_mission(tmp_path, "{start: 2024-01-01, end: 2024-05-31}", (
        f"  incidents:\n    path: '{CRSV.resolve()}'\n    preset: insecurity-insight-crsv\n"
    ))
    mission = load_mission(config)
    report = mission.validation
    for name, table in report.tables.items():
        assert table.rows_read == table.rows_accepted + table.rows_rejected, name
    incidents = report.tables["incidents"]
    assert incidents.rows_read == 128
    # Every label of the workbook is mapped, trailing spaces and all.
    assert "label_unmapped" not in incidents.reasons
    # The 13 rows whose location the publisher censored have no coordinates.
    assert incidents.reasons["missing_value"] == 13
    preset = load_preset("insecurity-insight-crsv")
    assert set(preset.dropped) <= set(incidents.dropped_columns)
    assert any("Survivor Or Victim Sex (survivor attribute)" in n for n in incidents.notes)
    accepted = mission.incidents
    assert incidents.rows_accepted == len(accepted) > 100
    assert set(accepted["gbv_type"]) <= set(VOCABULARIES["gbv_type"])
    assert set(accepted["location_precision"]) <= {"admin2", "admin1", "country"}
    assert accepted["time_precision"].eq("day").all()
    raw = pd.read_excel(CRSV, engine="calamine", dtype=str)
    narratives = set(raw["Event Description"].dropna())
    assert len(narratives) > 100 and not narratives & every_cell(mission)
    for column in preset.dropped:
        assert column not in accepted.columns
    gbv = LabelMapper("gbv_type", preset.labels["gbv_type"], multi_valued=True)
    for cell in raw["Type of SV"].dropna().unique():
        assert gbv.map(cell).label is not None, cell
    # The workbook's one two-valued cell (a censored row) takes the more severe type.
    assert gbv.map("ForcedToWitnessSexualViolence, Rape").label == "rape"
    where = LabelMapper("location_precision", preset.labels["location_precision"])
    assert where.map("(2) 25 km Precision ").label == "admin2"


def test_ucdp_and_geopko_presets_load_the_car_files(tmp_path):
    need(UCDP, GEOPKO, COUNTRIES)
    config = world_mission(tmp_path, "{start: 1989-01-01, end: 2024-12-31}", (
        f"  incidents:\n    path: '{UCDP.resolve()}'\n    preset: ucdp-ged\n"
        f"  bases:\n    path: '{GEOPKO.resolve()}'\n    preset: geo-pko\n"
    ))
    mission = load_mission(config)
    raw = pd.read_csv(UCDP, dtype=str)
    incidents = mission.validation.tables["incidents"]
    assert incidents.rows_read == len(raw) == incidents.rows_accepted + incidents.rows_rejected
    # Only one-sided violence (type 3) is taken; conflict events wait for a mapping.
    not_one_sided = int((raw["type_of_violence"] != "3").sum())
    assert incidents.reasons["label_unmapped"] == not_one_sided
    assert set(mission.incidents["gbv_type"]) == {"unspecified"}
    # 2009-02-20T00:00:00 is a day, not a midnight.
    assert mission.incidents["time_precision"].eq("day").all()
    assert set(mission.incidents["location_precision"]) <= {"exact", "admin2", "admin1",
                                                             "country"}
    assert "source_original" in incidents.dropped_columns

    bases = mission.validation.tables["bases"]
    pko = pd.read_csv(GEOPKO, dtype=str)
    repeats = int(pko.duplicated(["location", "year"]).sum())
    assert bases.rows_read == len(pko) == bases.rows_accepted + bases.rows_rejected
    assert bases.reasons == {"duplicate_id": repeats}
    accepted = mission.bases.set_index("base_id")
    assert accepted.loc["Bangui 2014", "valid_from"] == pd.Timestamp("2014-01-01")
    assert accepted.loc["Bangui 2014", "valid_to"] == pd.Timestamp("2014-12-31")
    assert set(accepted["unit_type"]) == {"military", "police", "joint"}


ACLED = (
    "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,"
    "actor1,assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,"
    "iso,region,country,admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,"
    "source_scale,notes,fatalities,tags,timestamp\n"
    "SSD1001,05 March 2022,2022,1,Political violence,Violence against civilians,"
    "Sexual violence,Invented Militia,,3,Civilians (South Sudan),Women (South Sudan),7,37,"
    "Civilian targeting,728,Eastern Africa,South Sudan,Central Equatoria,Juba,,Kator,5.05,"
    "30.05,1,Invented Radio,National,invented narrative never to be read,0,,1650000000\n"
    "SSD1002,17 April 2022,2022,1,Political violence,Violence against civilians,"
    "Sexual violence,Invented Militia,,3,Civilians (South Sudan),,7,37,Civilian targeting,728,"
    "Eastern Africa,South Sudan,Central Equatoria,Juba,,Kator,5.02,30.15,2,Invented Radio,"
    "National,invented narrative never to be read,0,,1650000000\n"
    "SSD1003,18 April 2022,2022,1,Political violence,Violence against civilians,"
    "Abduction/forced disappearance,Invented Militia,,3,Civilians (South Sudan),,7,37,"
    "Civilian targeting,728,Eastern Africa,South Sudan,Central Equatoria,Juba,,Kator,5.02,"
    "30.15,1,Invented Radio,National,invented,0,,1650000000\n"
)


def use_incidents(mission_yaml: Path, block: str) -> None:
    """Replace the bad-mission fixture's incidents source by ``block``."""
    text = mission_yaml.read_text()
    head, rest = text.split("  incidents:\n")
    rest = rest[rest.index("  patrols:"):]
    mission_yaml.write_text(head + "  incidents:\n" + block + rest)


def test_acled_preset_takes_sexual_violence_and_drops_notes_and_actors(bad_mission):
    # No ACLED file may be redistributed: a synthetic export with ACLED's documented columns.
    (bad_mission.parent / "acled.csv").write_text(ACLED, encoding="utf-8")
    use_incidents(bad_mission, "    path: acled.csv\n    preset: acled\n")
    mission = load_mission(bad_mission)
    report = mission.validation.tables["incidents"]
    assert list(mission.incidents["incident_id"]) == ["SSD1001", "SSD1002"]
    assert list(mission.incidents["gbv_type"]) == ["unspecified", "unspecified"]
    assert list(mission.incidents["location_precision"]) == ["settlement", "admin2"]
    assert list(mission.incidents["source"]) == ["Invented Radio", "Invented Radio"]
    assert report.reasons == {"label_unmapped": 1}
    assert {"notes", "actor1", "actor2", "assoc_actor_2"} <= set(report.dropped_columns)
    assert "invented narrative never to be read" not in every_cell(mission)


def test_gbvims_ir_preset_reads_the_workbook_and_drops_survivor_fields(bad_mission):
    target = bad_mission.parent / "ir.xls"
    target.write_bytes((FORMATS / "gbvims-ir-synthetic.xls").read_bytes())
    use_incidents(bad_mission, "    path: ir.xls\n    preset: gbvims-ir\n    header_row: 3\n")
    mission = load_mission(bad_mission)
    report = mission.validation.tables["incidents"]
    assert report.rows_read == 2 == report.rows_accepted
    assert list(mission.incidents["gbv_type"]) == ["rape", "sexual_assault"]
    assert {"Survivor Code", "Age"} <= set(report.dropped_columns)
    assert any("Survivor Code (survivor code" in n for n in report.notes)
    cells = every_cell(mission)
    assert not {"SC-INVENTED-1", "SC-INVENTED-2", "24", "31"} & cells


def test_own_columns_and_labels_override_the_preset():
    spec = SourceSpec(
        path=Path("x.xlsx"), preset="insecurity-insight-crsv",
        columns={"Event Date": "occurred_at", "Country ISO": "area_id"},
        labels={"gbv_type": {"Rape": "sexual_assault"}}, sheet=2,
    )
    assert spec.columns["Event Date"] == "occurred_at" and "Date" not in spec.columns
    assert spec.columns["Country ISO"] == "area_id"
    assert spec.columns["SIND Event ID"] == "incident_id"
    assert spec.labels["gbv_type"]["Rape"] == "sexual_assault"
    assert spec.labels["gbv_type"]["SexualAssault"] == "sexual_assault"
    assert spec.sheet == 2
    geo = SourceSpec(path=Path("x.csv"), preset="geo-pko", calendar_year="yr")
    assert geo.calendar_year == "yr" and geo.derive == "geopko-bases"


def write_config(tmp_path: Path, incidents: str) -> Path:
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: P-1\nname: p\ntimezone: UTC\nperiod: {start: 2024-01-01, end: 2024-12-31}\n"
        f"sources:\n  incidents: {incidents}\n  patrols: {{path: p.csv}}\n"
        "  areas: {path: a.geojson}\n", encoding="utf-8")
    return path


def test_identifying_column_of_a_preset_cannot_be_mapped(tmp_path):
    path = write_config(tmp_path, "{path: i.xlsx, preset: gbvims-ir, "
                                  "columns: {Survivor Code: incident_id}}")
    with pytest.raises(ConfigError) as err:
        load_mission_config(path)
    text = str(err.value)
    assert "sources.incidents" in text and "Survivor Code" in text and "identifying" in text


def test_unknown_preset_is_a_configuration_error_listing_the_presets(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_mission_config(write_config(tmp_path, "{path: i.csv, preset: acled-2}"))
    assert "there is no preset 'acled-2'" in str(err.value)
    assert str(preset_names()) in str(err.value)


def test_preset_for_another_table_is_refused(bad_mission):
    use_incidents(bad_mission, "    path: incidents.csv\n    preset: geo-pko\n")
    with pytest.raises(InputFileError, match="which is for the bases table"):
        load_mission(bad_mission)


@pytest.mark.parametrize("name", ["acled", "gbvims-ir", "geo-pko", "insecurity-insight-crsv",
                                  "ucdp-ged"])
def test_every_preset_is_installed_and_maps_onto_model_labels(name):
    preset = load_preset(name)
    spec = SourceSpec(path=Path("x.csv"), preset=name)  # validates its labels
    assert spec.preset == name and preset.title
    assert not set(preset.dropped) & set(preset.columns)


@pytest.mark.parametrize("name", ["acled", "gbvims-ir", "geo-pko", "insecurity-insight-crsv",
                                  "ucdp-ged"])
def test_a_run_copy_of_a_preset_source_loads_back_the_same(name):
    # The runner writes the validated configuration (preset merged) to restricted/mission.yaml
    # and the notebooks load it again: taking the preset twice must change nothing.
    spec = SourceSpec(path=Path("x.csv"), preset=name, columns={"Own": "source"})
    again = SourceSpec.model_validate(spec.model_dump(mode="json", exclude_none=True))
    assert again == spec
