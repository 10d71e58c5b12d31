"""Issue 26 on real public files: presence that misses the incidents' years, incidents all too
coarse for the radius, and the patrol-presence question with one area (the whole country).

Incidents are UCDP GED 23.1 one-sided violence in the Central African Republic; bases are
MINUSCA's Geo-PKO 2.3 locations by calendar year; the one area is the Natural Earth outline.
UCDP records lethal violence, not SGBV: these tests are about the **shape** of real data, never
about conclusions. Sources (read from ``../shared/realdata``, never copied into the repository):
UCDP GED 23.1 (CC BY 4.0; Davies, Pettersson & Oberg 2023; Sundberg & Melander 2013); Geo-PKO
v2.3 (Cil, Fjelde, Hultman & Nilsson 2020); Natural Earth (public domain).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from realdata import REALDATA, require_realdata

from protection_eval.coverage.gaps import is_gap
from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.runs.missions import load_mission
from protection_eval.runs.outputs import read_shared_outputs, write_coverage
from protection_eval.sharing.brief import BriefInputs, render_brief

pytestmark = pytest.mark.slow

WHERE_PREC = {"1": "exact", "2": "settlement", "3": "admin2", "4": "admin1", "5": "admin1",
              "6": "country", "7": "country"}


def car_mission(folder: Path, code: str, period: tuple[str, str], base_years: range,
                where_prec: list[str] | None = None, language: str = "en") -> Path:
    """A CAR mission: UCDP incidents of ``period``, Geo-PKO bases of ``base_years`` only."""
    require_realdata(REALDATA / "car", REALDATA / "boundaries")
    where = {"type_of_violence": "3", **({"where_prec": where_prec} if where_prec else {})}
    config = {
        "mission": code, "name": f"CAR {code} (shape test, not SGBV)",
        "timezone": "Africa/Bangui", "period": {"start": period[0], "end": period[1]},
        "allowed_source_dirs": [str(REALDATA)],
        "coverage": {"radius_m": 30000, "window_h": 72},
        "sharing": {"language": language},
        "sources": {
            "incidents": {
                "path": str(REALDATA / "car" / "ucdp-ged-23.1-car.csv"), "where": where,
                "columns": {"id": "incident_id", "date_start": "occurred_at",
                            "date_end": "occurred_until", "type_of_violence": "gbv_type",
                            "where_prec": "location_precision"},
                "date_format": "%Y-%m-%dT00:00:00",
                "labels": {"gbv_type": {"3": "physical_assault"},
                           "location_precision": WHERE_PREC}},
            "bases": {
                "path": str(REALDATA / "car" / "geopko-2.3-frontmap-minusca.csv"),
                "where": {"year": [str(y) for y in base_years]},
                "columns": {"location": "base_id", "mission": "unit_type"},
                "labels": {"unit_type": {"MINUSCA": "military"}}},
            "areas": {
                "path": str(REALDATA / "boundaries" / "naturalearth_lowres.shp"),
                "where": {"iso_a3": "CAF"},
                "columns": {"iso_a3": "area_id", "pop_est": "population"}},
        },
    }
    path = folder / f"{code}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def shared_brief(mission, tmp_path: Path, language: str) -> str:
    result = compute_mission_coverage(mission)
    shared = tmp_path / f"shared-{language}"
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=5, config=mission.config)
    outputs = read_shared_outputs(shared)
    page = render_brief(BriefInputs(
        mission=mission.config.mission, name=mission.config.name,
        period=(f"{mission.config.period.start:%Y-%m}", f"{mission.config.period.end:%Y-%m}"),
        synthetic=False, k=5, coverage=outputs["coverage"], gaps=outputs["gaps"],
        language=language))
    body = page.split("<body>", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_bases_known_up_to_2018_give_no_share_and_no_gap_for_2019_to_2022(tmp_path):
    """Issue 26 item 1 as reported: "0 %" and ranked gaps from bases that had ended."""
    mission = load_mission(car_mission(tmp_path, "CAR-LATE", ("2019-01-01", "2022-12-31"),
                                       range(2014, 2019)))
    result = compute_mission_coverage(mission)
    summary = result.summary
    assert summary["incidents_total"] == 135
    assert summary["covered_share"] is None and summary["incidents_covered"] is None
    assert summary["covered_share_status"] == "not_computed"
    assert summary["presence"]["data_spans"] == [["2014-01", "2018-12"]]
    assert summary["presence"]["months_with_data"] == 0
    # The restricted per-hexagon counts stay (the map's report layer needs them), with their
    # coverage unknown, never 0 %, so no hexagon is a gap.
    assert result.gaps_overall["covered_share"].isna().all()
    assert result.gaps_overall["incidents"].sum() == summary["incidents_in_scope"]
    assert not is_gap(result.gaps_overall, 5).any()
    text = shared_brief(mission, tmp_path, "en")
    # What is published: one row that says why, no place, no rank.
    gaps = pd.read_csv(tmp_path / "shared-en" / "gaps.csv")
    assert len(gaps) == 1 and gaps["status"].iloc[0] == "not_computed"
    assert gaps[["h3_cell", "place", "rank", "covered_share"]].isna().all(axis=None)
    assert ("the base locations cover January 2014 to December 2018, and no month of this "
            "period") in text
    assert not re.search(r"\d%", text.split("Map")[0])


@pytest.mark.parametrize("language", ["en", "fr", "ar", "es", "pt"])
def test_incidents_all_located_to_a_province_or_coarser_are_said_not_tested(tmp_path, language):
    """Issue 26 item 2: every incident too coarse for the radius; the brief blamed privacy."""
    mission = load_mission(car_mission(tmp_path, "CAR-COARSE", ("2014-01-01", "2022-12-31"),
                                       range(2014, 2023), where_prec=["3", "4", "5", "6"],
                                       language=language))
    result = compute_mission_coverage(mission)
    assert result.summary["incidents_left_out_by_precision"] == result.summary[
        "incidents_total"] > 0
    assert result.summary["covered_share_cause"] == "all_imprecise"
    said = {"en": "every incident is located less precisely than the 30 km radius",
            "fr": "chaque incident est localisé moins précisément que le rayon de 30 km",
            "es": "cada incidente está ubicado con menos precisión que el radio de 30 km",
            "pt": "cada incidente está localizado com menos precisão do que o raio de 30 km",
            "ar": "كل حادثة محدَّد مكانها بدقة أقل من نصف القطر البالغ 30 كم"}[language]
    text = shared_brief(mission, tmp_path, language)
    assert said in text


def test_the_whole_country_as_one_area_answers_the_patrol_question_on_hexagons(tmp_path):
    """Issue 26 item 4: one area gave "1 clusters ... too few" and no answer in the brief."""
    from protection_eval.effects.mission import estimate_mission
    from protection_eval.sharing.forms import to_effects_table

    mission = load_mission(car_mission(tmp_path, "CAR-ALL", ("2014-01-01", "2022-12-31"),
                                       range(2014, 2023)))
    table = to_effects_table(estimate_mission(mission))
    row = table[table["estimand"] == "patrol_presence"].iloc[0]
    assert row["status"] == "ok" and row["design"] == "space_time_controls_h3"
    assert row["n_clusters"] >= 10 and row["ci_low"] < row["irr"] < row["ci_high"]
    assert "open base" in row["caveats"] and " h before" not in row["caveats"]
