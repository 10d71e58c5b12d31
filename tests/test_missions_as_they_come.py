"""Missions as they come (issue 12, sections 2-4): optional tables, bases by year, places by
name, ranges of dates, every configuration error in the run summary, validate by mission id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from shapely.geometry import box

from protection_eval.config import ConfigError, load_mission_config
from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.coverage.points import IncidentQueries
from protection_eval.effects.panel import compute_panel
from protection_eval.runs.batch import run_missions
from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import run_mission


def edit_yaml(path: Path, change) -> Path:
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def drop_presence(config: dict) -> None:
    for table in ("patrols", "patrol_tracks", "bases"):
        config["sources"].pop(table, None)


# --- section 2: required tables, bases by year, validate, run summary ---------------------------


def test_only_incidents_and_areas_are_required(bad_mission):
    edit_yaml(bad_mission, drop_presence)
    mission = load_mission(bad_mission)
    assert mission.validation.usable
    assert mission.coverage_source == "none"
    assert len(mission.patrols) == 0 and "patrol_id" in mission.patrols
    assert any("coverage cannot be computed" in n for n in mission.validation.notes)
    with pytest.raises(ConfigError, match="sources.areas: required key is missing"):
        edit_yaml(bad_mission, lambda c: c["sources"].pop("areas"))
        load_mission_config(bad_mission)


def test_bases_published_by_calendar_year(bad_mission):
    (bad_mission.parent / "bases.csv").write_text(
        "base_id,unit_type,year,longitude,latitude\n"
        "Kator,military,2022,30.05,5.05\n"
        "Kator,military,2023,30.05,5.05\n"
        "Kator,military,2022,30.06,5.06\n"
        "Pager,police,twenty,30.15,5.05\n", encoding="utf-8")
    mission = load_mission(bad_mission)
    bases = mission.bases.sort_values("valid_from")
    assert bases["valid_from"].dt.strftime("%Y-%m-%d").tolist() == ["2022-01-01", "2023-01-01"]
    assert bases["valid_to"].dt.strftime("%Y-%m-%d").tolist() == ["2022-12-31", "2023-12-31"]
    rejected = mission.validation.rejected["bases"].set_index("source_row")
    assert rejected.loc[4, "reason"] == "duplicate_id"  # same base, same year
    assert rejected.loc[5, "reason"] == "invalid_number"
    table = mission.validation.tables["bases"]
    assert table.rows_read == 4 == table.rows_accepted + table.rows_rejected


def test_validate_writes_under_the_mission_id_not_the_file_name(bad_mission, tmp_path):
    renamed = bad_mission.rename(bad_mission.with_name("whatever-file.yaml"))
    result = subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", "validate",
         str(renamed)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PROTECTION_EVAL_REPORTS": str(tmp_path / "reports")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reports" / "BAD-1" / "validation" / "validation.json").exists()
    assert not (tmp_path / "reports" / "whatever-file").exists()


def test_run_summary_shows_every_configuration_error(bad_mission, tmp_path):
    def three_mistakes(config: dict) -> None:
        config["timezone"] = "Mars/Olympus"
        config["period"] = {"start": "2022-12-31", "end": "2022-01-01"}
        config["colour"] = "blue"

    edit_yaml(bad_mission, three_mistakes)
    batch = run_missions([bad_mission], reports_dir=tmp_path, jobs=1, notebooks=[])
    table = batch.summary_table()
    assert "timezone: 'Mars/Olympus' is not an IANA time zone" in table
    assert "period: period.end (2022-01-01) is before period.start" in table
    assert "colour: unknown key" in table
    assert str(bad_mission) in table


# --- section 3: places without coordinates ------------------------------------------------------


def test_a_name_shared_by_two_areas_is_quarantined_as_ambiguous(bad_mission):
    areas = gpd.read_file(bad_mission.parent / "areas.geojson")
    twin = areas.iloc[[0]].assign(area_id="A3", geometry=[box(30.2, 5.0, 30.3, 5.1)])
    pd.concat([areas, twin]).to_file(bad_mission.parent / "areas.geojson", driver="GeoJSON")
    incidents = bad_mission.parent / "incidents.csv"
    incidents.write_text(incidents.read_text(encoding="utf-8-sig")
                         + "I31,2022-05-07,,,,Viol,hr,1,,,,kator ,\n", encoding="utf-8")
    mission = load_mission(bad_mission)
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    assert rejected.loc["I31", "reason"] == "area_name_ambiguous"
    assert "['A1', 'A3']" in rejected.loc["I31", "detail"]
    # An alias names one area_id, so "Kator Town" stays matched to A1.
    assert mission.incidents.set_index("incident_id").loc["I29", "area_id"] == "A1"


def test_area_placed_rows_are_duplicates_only_within_one_area(bad_mission):
    incidents = bad_mission.parent / "incidents.csv"
    incidents.write_text(incidents.read_text(encoding="utf-8-sig")
                         + "I41,2022-06-01,,,,Viol,hr,1,,,,Kator,\n"
                         + "I42,2022-06-01,,,,Viol,partner,1,,,,B\u00e9linyang,\n"
                         + "I43,2022-06-01,,,,Viol,partner,1,,,,Kator,\n", encoding="utf-8")
    mission = load_mission(bad_mission)
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    accepted = set(mission.incidents["incident_id"])
    # Same day, type and no point, but another area: not the same incident.
    assert {"I41", "I42"} <= accepted
    assert rejected.loc["I43", "reason"] == "likely_duplicate"


def test_area_placed_incidents_count_in_panels_not_in_point_coverage(bad_mission):
    mission = load_mission(bad_mission)
    inc = mission.incidents.set_index("incident_id")
    queries = IncidentQueries(inc, radius_m=2000, window_h=72)
    reason = pd.Series(queries.reason, index=inc.index)
    assert reason["I25"] == "precision" and reason["I29"] == "precision"
    panel = compute_panel(mission.incidents, mission.areas, start="2022-01-01",
                          end="2022-12-31", timezone=mission.config.timezone)
    may = panel[panel["period"] == pd.Period("2022-05", "M")].set_index("area_id")
    # I25 (A2, 3 May) and I29 (A1, 5 May) by name; I30 a range inside May at a point in A1.
    assert may.loc["A2", "incidents"] == 1 and may.loc["A1", "incidents"] == 2


# --- section 4: ranges of dates -----------------------------------------------------------------


def test_a_range_across_months_is_left_out_of_monthly_panels_and_said(bad_mission):
    mission = load_mission(bad_mission)
    panel = compute_panel(mission.incidents, mission.areas, start="2022-01-01",
                          end="2022-12-31", timezone=mission.config.timezone)
    by_month = panel.groupby("period")["incidents"].sum()
    # I26 runs 28 March..3 April: counted in neither month, and the note says so.
    assert by_month[pd.Period("2022-03", "M")] == 2  # I01, I02 (5 March)
    assert by_month[pd.Period("2022-04", "M")] == 1  # I19
    assert ("1 incidents not counted: known only to a range of dates across more than one "
            "month") in panel.attrs["notes"]


def test_a_range_is_left_out_of_point_coverage_as_time_range(bad_mission):
    inc = load_mission(bad_mission).incidents.set_index("incident_id")
    reason = pd.Series(IncidentQueries(inc, radius_m=2000, window_h=72).reason, index=inc.index)
    assert reason["I26"] == "time_range" and reason["I30"] == "time_range"
    assert pd.isna(reason["I01"])


def test_the_period_filter_keeps_a_range_only_when_wholly_inside(bad_mission):
    mission = load_mission(bad_mission)
    from protection_eval.config import parse_period

    march = compute_mission_coverage(mission, period=parse_period("2022-03"))
    spring = compute_mission_coverage(mission, period=parse_period("2022-03..2022-04"))
    assert "I26" not in set(march.incidents["incident_id"])
    assert march.summary["incidents_range_across_window"] == 1
    assert "I26" in set(spring.incidents["incident_id"])
    assert spring.summary["incidents_range_across_window"] == 0


# --- a whole run without patrol data ------------------------------------------------------------


@pytest.mark.slow
def test_a_mission_without_patrol_data_still_runs_and_says_coverage_is_unknown(
    demo_missions, tmp_path
):
    source = next(p for p in demo_missions if p.stem == "DEMO-A")
    path = source.with_name("NOPATROL.yaml")
    config = yaml.safe_load(source.read_text())
    drop_presence(config)
    config["mission"] = "NOPATROL"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_mission(path, reports_dir=tmp_path)
    assert result.status == "ok", result.error
    shared = result.run_dir / "shared"
    assert {"brief.html", "coverage_map.html", "effects.csv"} <= {p.name for p in
                                                                   shared.iterdir()}
    summary = json.loads((shared / "coverage_summary.json").read_text())
    assert summary["model"] == "none" and summary["covered_share"] is None
    assert summary["incidents_covered"] is None and "could not be computed" in summary[
        "coverage_note"]
    assert "Patrol coverage could not be computed" in (shared / "brief.html").read_text()
    effects = pd.read_csv(shared / "effects.csv")
    assert effects["strategy_id"].notna().any()  # deployed strategies are still estimated
