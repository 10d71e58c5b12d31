"""Never confidently wrong (issue 26): presence that misses the incidents' months, incidents
all too coarse for the radius, and the three words "not computed", "not estimable", "not shown".

Small hand-made missions: one square area (about 110 km a side), bases valid by calendar year,
incidents placed on a grid whose distances to the bases are worked out here, not by the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from one_area import far, month_days, near, write_mission

from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.runs.missions import load_mission
from protection_eval.runs.outputs import read_shared_outputs, write_coverage
from protection_eval.sharing.brief import BriefInputs, render_brief
from protection_eval.sharing.forms import to_shared_coverage_summary

LANGUAGES = ["en", "fr", "ar", "es", "pt"]


@pytest.fixture
def late_bases(tmp_path: Path) -> Path:
    """Bases known by year up to 2018; 24 incidents in 2020, half of them next to a base."""
    days = month_days(2020, range(1, 13), 2)
    incidents = [(d, *(near(i) if i % 2 else far(i)), "exact") for i, d in enumerate(days)]
    bases = [("B1-2017", "2017-01-01", "2017-12-31"), ("B1-2018", "2018-01-01", "2018-12-31")]
    return write_mission(tmp_path / "late", incidents=incidents, bases=bases,
                         period=("2017-01-01", "2020-12-31"))


def test_presence_that_ends_before_the_incidents_publishes_no_share_and_no_gap(late_bases):
    """Issue 26 item 1: bases known up to 2018, incidents in 2020 gave "0 %" and ranked gaps."""
    result = compute_mission_coverage(load_mission(late_bases))
    summary = result.summary
    assert summary["incidents_total"] == 24
    assert summary["covered_share"] is None and summary["incidents_covered"] is None
    assert summary["covered_share_status"] == "not_computed"
    assert summary["covered_share_cause"] == "all_presence_unknown"
    assert summary["incidents_left_out_presence_unknown"] == 24
    assert "2017-01 to 2018-12" in summary["covered_share_reason"]
    assert summary["presence"]["spans_with_data"] == [["2017-01", "2018-12"]]
    assert summary["presence"]["spans_without_data"] == [["2019-01", "2020-12"]]
    assert summary["gaps_status"] == "not_computed"
    assert len(result.gaps_overall) == 0
    # Area measures of months without presence data are unknown, never 0 %.
    months = pd.to_datetime(result.areas["period"])
    assert result.areas.loc[months >= "2019-01-01", "footprint_share"].isna().all()
    assert (result.areas.loc[months < "2019-01-01", "footprint_share"] > 0).all()


def test_a_window_with_no_month_of_presence_says_up_to_when_presence_is_known(
    late_bases, tmp_path
):
    """Done when: no coverage share, no gaps, and the brief says up to when presence is known."""
    config = yaml.safe_load(late_bases.read_text())
    config["period"] = {"start": "2020-01-01", "end": "2020-12-31"}
    late_bases.write_text(yaml.safe_dump(config), encoding="utf-8")
    mission = load_mission(late_bases)
    result = compute_mission_coverage(mission)
    assert result.summary["covered_share_cause"] == "no_presence_in_period"
    assert result.summary["presence"]["data_spans"] == [["2017-01", "2018-12"]]
    # Unknown everywhere, as without presence data: the reports stay on the map, untested.
    assert result.summary["incidents_in_scope"] == 24
    assert result.summary["incidents_covered"] is None
    assert result.incidents["covered"].isna().all()
    shared = tmp_path / "shared"
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=5, config=mission.config)
    outputs = read_shared_outputs(shared)
    assert outputs["coverage"]["covered_share"] is None
    gaps = outputs["gaps"]
    assert len(gaps) == 1 and gaps["status"].iloc[0] == "not_computed"
    assert pd.isna(gaps["h3_cell"].iloc[0]) and pd.isna(gaps["incidents"].iloc[0])
    expected = {"en": "December 2018", "fr": "décembre 2018", "es": "diciembre de 2018",
                "pt": "dezembro de 2018", "ar": "ديسمبر 2018"}
    for language in LANGUAGES:
        page = brief_text(outputs, mission, language)
        assert expected[language] in page, (language, page)
        assert not re.search(r"\d\s?%|%\s?\d|٪", page.split("Reports per hexagon")[0]
                             if language == "en" else page), (language, page)
    english = brief_text(outputs, mission, "en")
    assert "Coverage was not computed: the base locations cover January 2017 to December " \
           "2018, and no month of this period." in english
    assert "No gap was ranked" in english and "No place is a gap" not in english
    assert "No presence is drawn: coverage was not computed for this period." in english
    assert "not shown" not in english.split("Counts below")[0]


def brief_text(outputs: dict, mission, language: str, effects=None) -> str:
    page = render_brief(BriefInputs(
        mission=mission.config.mission, name=mission.config.name,
        period=(f"{mission.config.period.start:%Y-%m}", f"{mission.config.period.end:%Y-%m}"),
        synthetic=False, k=5, coverage=outputs["coverage"], gaps=outputs["gaps"],
        effects=effects if effects is not None else outputs.get("effects"),
        map_svg=outputs.get("map_svg"), language=language))
    body = page.split("<body>", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace(" .", ".").strip()


def test_months_without_presence_are_left_out_and_the_share_is_over_the_others(tmp_path):
    """Bases known for 2019 only: 2020's incidents are unknown, not uncovered."""
    near_2019 = [(d, *near(i), "exact") for i, d in enumerate(month_days(2019, range(1, 7), 1))]
    far_2019 = [(d, *far(i), "exact") for i, d in enumerate(month_days(2019, range(7, 13), 1))]
    all_2020 = [(d, *far(i), "exact") for i, d in enumerate(month_days(2020, range(1, 9), 1))]
    path = write_mission(tmp_path / "part", incidents=near_2019 + far_2019 + all_2020,
                         bases=[("B1", "2019-01-01", "2019-12-31")],
                         period=("2019-01-01", "2020-12-31"))
    summary = compute_mission_coverage(load_mission(path)).summary
    # 6 of the 12 incidents of 2019 were within 10 km of the open base; 2020 is unknown.
    assert summary["incidents_in_scope"] == 12
    assert summary["covered_share"] == pytest.approx(0.5)
    assert summary["incidents_left_out_presence_unknown"] == 8
    assert summary["covered_share_status"] == "ok"
    shared = to_shared_coverage_summary(summary, 5)
    assert shared["incidents_left_out_presence_unknown"] == 8
    page = render_brief(BriefInputs(mission="TRUTH-1", name="t", period=("2019-01", "2020-12"),
                                    synthetic=False, k=5, coverage=shared))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "For 50% of those located precisely enough, an open base was within 10 km" in text
    assert ("The base locations cover only January 2019 to December 2019 of this period: 8 "
            "reports from the other months were not tested.") in text


@pytest.fixture
def coarse(tmp_path: Path) -> Path:
    """Every incident known only to its district (50 km) against a 10 km radius."""
    days = month_days(2019, range(1, 13), 2)
    incidents = [(d, *near(i), "admin2") for i, d in enumerate(days)]
    return write_mission(tmp_path / "coarse", incidents=incidents,
                         bases=[("B1", "2019-01-01", "2019-12-31")],
                         period=("2019-01-01", "2019-12-31"))


def test_every_incident_left_out_by_precision_is_not_computed_not_hidden(coarse, tmp_path):
    """Issue 26 item 2: the brief blamed privacy ("not shown") where nothing was tested."""
    mission = load_mission(coarse)
    result = compute_mission_coverage(mission)
    assert result.summary["incidents_left_out_by_precision"] == 24
    assert result.summary["covered_share_status"] == "not_computed"
    assert result.summary["covered_share_cause"] == "all_imprecise"
    shared = tmp_path / "shared"
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=5, config=mission.config)
    outputs = read_shared_outputs(shared)
    assert outputs["coverage"]["covered_share_status"] == "not_computed"
    said = {
        "en": "every incident is located less precisely than the 10 km radius",
        "fr": "chaque incident est localisé moins précisément que le rayon de 10 km",
        "es": "cada incidente está ubicado con menos precisión que el radio de 10 km",
        "pt": "cada incidente está localizado com menos precisão do que o raio de 10 km",
        "ar": "كل حادثة محدَّد مكانها بدقة أقل من نصف القطر البالغ 10 كم",
    }
    hidden = {"en": "to protect survivors (source", "fr": "pour protéger les survivantes (source",
              "es": "para proteger a las sobrevivientes (fuente",
              "pt": "para proteger as sobreviventes (fonte", "ar": "لحماية الناجيات (المصدر"}
    no_gap = {"en": "No place is a gap", "fr": "Aucun lieu n'est une lacune",
              "es": "Ningún lugar es una brecha", "pt": "Nenhum local é uma lacuna",
              "ar": "لا يوجد مكان يُعدّ ثغرة"}
    # The bases were open all along: their reach is drawn, and the legend says nothing else.
    assert "No presence is drawn" not in brief_text(outputs, mission, "en")
    for language in LANGUAGES:
        text = brief_text(outputs, mission, language)
        assert said[language] in text, (language, text)
        assert hidden[language] not in text, language
        assert no_gap[language] not in text, language


def test_a_share_hidden_for_safety_is_not_shown_and_says_so():
    summary = {"incidents_total": 40, "incidents_in_scope": 3, "incidents_covered": 1,
               "covered_share": 1 / 3, "covered_share_status": "ok",
               "incidents_left_out_by_precision": 37, "incidents_left_out_other": 0,
               "incidents_left_out_presence_unknown": 0}
    shared = to_shared_coverage_summary(summary, 5)
    assert shared["covered_share"] is None
    assert shared["covered_share_status"] == "not_shown"
    assert "fewer than 5" in shared["covered_share_reason"]


def test_plausibility_reports_spans_presence_rules_and_requirements(late_bases):
    from protection_eval.runs.plausibility import check_plausibility

    check = check_plausibility(load_mission(late_bases))
    spans = {s.table: s for s in check.spans}
    assert (spans["incidents"].first, spans["incidents"].last) == ("2020-01-01", "2020-12-04")
    assert (spans["bases"].first, spans["bases"].last) == ("2017-01-01", "2018-12-31")
    assert check.presence.window_spans(True) == [("2017-01", "2018-12")]
    assert check.presence.window_spans(False) == [("2019-01", "2020-12")]
    rules = {r.rule: r for r in check.left_out}
    assert rules["presence_unknown"].incidents == 24 and rules["precision"].incidents == 0
    needs = {r.estimate: r for r in check.requirements}
    assert needs["coverage share"].status == "not_computed"
    assert needs["panel models (areas)"].status == "not_estimable"
    assert "needs at least 2 areas; this mission has 1" in needs["panel models (areas)"].reason
    assert needs["panel models (months)"].status == "ok"
    assert any("coverage is computed only where presence is known" in f for f in check.findings)


def test_validate_writes_the_plausibility_into_validation_json(late_bases, tmp_path):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    out = tmp_path / "validation"
    result = CliRunner().invoke(app, ["validate", str(late_bases), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "presence: base locations cover 2017-01 to 2018-12" in result.output
    data = json.loads((out / "validation.json").read_text())
    plausibility = data["plausibility"]
    assert plausibility["presence"]["months_with_data"] == 24
    assert plausibility["presence"]["months"] == 48
    assert {r["rule"] for r in plausibility["left_out"]} >= {
        "window", "outside_areas", "precision", "presence_unknown"}
    assert plausibility["findings"]


def test_a_base_closed_the_day_before_the_window_draws_no_footprint_in_it(tmp_path):
    """Bases valid to 31 December 2018 reached into January 2019 (an end taken as inclusive)."""
    days = month_days(2019, range(1, 4), 2)
    path = write_mission(tmp_path / "adjacent",
                         incidents=[(d, *near(i), "exact") for i, d in enumerate(days)],
                         bases=[("B1", "2018-01-01", "2018-12-31")],
                         period=("2019-01-01", "2019-03-31"))
    result = compute_mission_coverage(load_mission(path))
    assert len(result.footprints) == 0
    assert result.areas["footprint_share"].isna().all()
    assert result.summary["covered_share_cause"] == "no_presence_in_period"


def pieces(spans: list[tuple[str | None, str | None]]):
    from protection_eval.coverage.presence import PresencePieces

    start = pd.Series(pd.to_datetime([a for a, _ in spans], utc=True, format="ISO8601"))
    end = pd.Series(pd.to_datetime([b for _, b in spans], utc=True, format="ISO8601"))
    n = len(spans)
    return PresencePieces(kind=pd.array(["base"] * n, dtype=object).to_numpy(),
                          unit_id=pd.array([f"B{i}" for i in range(n)], dtype="string"),
                          start=start, end=end, personnel=pd.Series([1.0] * n).to_numpy(),
                          women=pd.Series([0.0] * n).to_numpy(), crs="EPSG:32636",
                          geoms=pd.Series([None] * n).to_numpy())


def test_presence_months_merge_spans_keep_open_ends_and_count_instants():
    from protection_eval.coverage.presence_months import compute_presence_months

    found = compute_presence_months(pieces([
        ("2019-01-01", "2019-04-01"),            # January to March (the end is exclusive)
        ("2019-04-01", "2019-05-01"),            # April: touches the first span, merged
        ("2019-08-01T00:00", "2019-08-01T00:00"),  # one GPS fix at midnight: August itself
        ("2020-03-15", None),                    # open from March 2020
    ]), "bases", "2019-01-01", "2020-06-30", "UTC")
    assert found.spans == ((2019 * 12, 2019 * 12 + 3), (2019 * 12 + 7, 2019 * 12 + 7),
                           (2020 * 12 + 2, None))
    assert found.window_spans(True) == [("2019-01", "2019-04"), ("2019-08", "2019-08"),
                                        ("2020-03", "2020-06")]
    assert found.window_spans(False) == [("2019-05", "2019-07"), ("2019-09", "2020-02")]
    assert found.to_dict()["data_spans"][-1] == ["2020-03", None]
    none = compute_presence_months(None, "none", "2019-01-01", "2019-12-31", "UTC")
    assert none.none_known and "no presence data" in none.describe()
