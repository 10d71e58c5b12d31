"""Country names as people write them, read by country_converter when the areas are countries.

Synthetic areas named as Natural Earth names them; incident names as field data write them.
"""

import json
from pathlib import Path

import geopandas as gpd
import shapely

from protection_eval.ingest.places import area_countries, country_code, is_mojibake
from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import write_validation

#: area_id, name (Natural Earth's short forms) of invented square "countries".
COUNTRIES = [
    ("COD", "Dem. Rep. Congo"), ("CAF", "Central African Rep."),
    ("USA", "United States of America"), ("GBR", "United Kingdom"),
    ("PNG", "Papua New Guinea"), ("SSD", "S. Sudan"), ("SWZ", "eSwatini"),
    ("CIV", "Côte d'Ivoire"), ("GRC", "Greece"), ("FRA", "France"), ("MAR", "Morocco"),
    ("PSE", "Palestine"),
]


def areas_frame(rows=COUNTRIES) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_id": [a for a, _ in rows], "name": [n for _, n in rows]},
        geometry=[shapely.box(i, 0, i + 0.9, 0.9) for i in range(len(rows))], crs="EPSG:4326")


def mission(tmp_path: Path, names: list[str], areas: gpd.GeoDataFrame | None = None,
            extra: str = "", encoding: str = "utf-8") -> Path:
    (areas if areas is not None else areas_frame()).to_file(tmp_path / "areas.geojson",
                                                           driver="GeoJSON")
    rows = "".join(f'I{i},2024-02-10,rape,"{n}"\n' for i, n in enumerate(names))
    (tmp_path / "incidents.csv").write_text("incident_id,occurred_at,gbv_type,area_name\n" + rows,
                                            encoding=encoding)
    path = tmp_path / "mission.yaml"
    path.write_text(
        "mission: NAMES-1\nname: Country names\nsynthetic: true\ntimezone: UTC\n"
        "period: {start: 2024-01-01, end: 2024-05-31}\n"
        "sources:\n  incidents: {path: incidents.csv}\n  areas: {path: areas.geojson}\n"
        + extra, encoding="utf-8")
    return path


WRITTEN = {"DRC": "COD", "CAR": "CAF", "USA": "USA", "UK": "GBR", "PNG": "PNG",
           "South Sudan": "SSD", "Swaziland": "SWZ", "OPT": "PSE"}


def test_short_forms_acronyms_and_former_names_resolve_to_the_country(tmp_path):
    loaded = load_mission(mission(tmp_path, list(WRITTEN)))
    placed = dict(zip(loaded.incidents["incident_id"], loaded.incidents["area_id"], strict=True))
    assert {f"I{i}": code for i, code in enumerate(WRITTEN.values())} == placed
    assert set(loaded.incidents["location_precision"]) == {"area"}
    # Every resolution is in validation.json, for a person to check.
    write_validation(loaded, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "validation.json").read_text(encoding="utf-8"))
    listed = written["tables"]["incidents"]["area_name_resolutions"]
    assert {name: r["area_id"] for name, r in listed.items()} == WRITTEN
    assert listed["Swaziland"]["area_name"] == "eSwatini"
    assert listed["DRC"]["country"] == "COD"


def test_an_unknown_name_is_quarantined_without_unrelated_suggestions(tmp_path):
    loaded = load_mission(mission(tmp_path, ["Atlantis", "Comoros", "DRC"]))
    rejected = loaded.validation.rejected["incidents"].set_index("incident_id")
    assert list(rejected["reason"]) == ["area_name_unmatched"] * 2
    assert "no area name is close" in rejected.loc["I0", "detail"]
    assert "Greece" not in rejected.loc["I0", "detail"]
    assert "is the country COM, which none of the mission's areas is" in (
        rejected.loc["I1", "detail"])
    assert loaded.validation.tables["incidents"].suggestions == {"Atlantis": [], "Comoros": []}


def test_drc_against_areas_that_lack_it_suggests_nothing_unrelated(tmp_path):
    few = areas_frame([("GRC", "Greece"), ("FRA", "France"), ("MAR", "Morocco")])
    loaded = load_mission(mission(tmp_path, ["DRC"], areas=few))
    detail = loaded.validation.rejected["incidents"]["detail"].iloc[0]
    assert "'DRC' is the country COD, which none of the mission's areas is" in detail
    for unrelated in ("Greece", "France", "Morocco"):
        assert unrelated not in detail


def test_mojibake_is_named_as_an_encoding_problem_with_the_fix(tmp_path):
    # An export that read UTF-8 as Windows-1252 and saved the result: the file holds mojibake.
    loaded = load_mission(mission(tmp_path, ["Côte d'Ivoire".encode().decode("cp1252")]))
    rejected = loaded.validation.rejected["incidents"]
    assert list(rejected["reason"]) == ["area_name_unmatched"]
    detail = rejected["detail"].iloc[0]
    assert "CÃ´te d'Ivoire" in detail and "mojibake" in detail
    assert "an encoding problem" in detail and "encoding: utf-8" in detail
    assert "Côte d'Ivoire" in detail
    assert is_mojibake("CÃ´te d'Ivoire") and not is_mojibake("Côte d'Ivoire")


def test_aliases_may_name_the_area_by_id_or_by_name(tmp_path):
    extra = "ingest:\n  area_aliases: {Zaire-Kivu: Dem. Rep. Congo, Bangui region: CAF}\n"
    loaded = load_mission(mission(tmp_path, ["Zaire-Kivu", "Bangui region"], extra=extra))
    assert list(loaded.incidents["area_id"]) == ["COD", "CAF"]


def test_districts_named_like_countries_are_not_read_as_countries():
    districts = areas_frame([("NG1", "Niger"), ("NG2", "Lagos"), ("NG3", "Kano"),
                             ("NG4", "Kaduna")])
    assert area_countries(districts) is None
    assert area_countries(areas_frame()) is not None
    assert country_code("Atlantis") is None
    assert country_code("Congo-Kinshasa") == "COD"
