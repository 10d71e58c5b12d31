"""The patrol-presence question answered with too few areas (issue 26, item 4): the within-reach
ratio on H3 cells, its recovery of a planted ratio, and the brief's answer in every status.

The planted ratio comes from the simulation (:mod:`protection_eval.effects.cell_validity`):
incidents within reach of an open base are kept with probability ``theta``, so the true ratio is
``theta`` by construction, not by the estimator.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from protection_eval.effects.cell_design import CELL_CAVEAT, CELL_DESIGN, CELL_REASONS
from protection_eval.effects.cell_validity import CellScenario, compute_cell_validity
from protection_eval.effects.vocabulary import CAVEATS
from protection_eval.sharing.brief import BriefInputs, render_brief

LANGUAGES = ["en", "fr", "ar", "es", "pt"]


def test_cell_design_recovers_a_planted_ratio_on_a_one_area_country():
    """One area of 600 km a side, 25 bases opening and closing, about 300 incidents, planted 0.5."""
    table = compute_cell_validity(CellScenario(theta=0.5), [3, 4])
    assert table["irr"].notna().all(), table["note"].tolist()
    assert table["covers"].all(), table[["irr", "ci_low", "ci_high"]]
    # Errors are grouped by parent hexagons: at least ten groups, and a t interval on them.
    assert (table["n_clusters"] >= 10).all()
    assert (table["ci_high"] / table["ci_low"] > 1.5).all()


def test_cell_design_says_what_is_missing_when_places_are_too_few():
    """Twenty incidents in one corner: too few groups of hexagons, said with the numbers."""
    scenario = CellScenario(theta=0.5, incidents=20, side_km=60, bases=2)
    table = compute_cell_validity(scenario, [1])
    note = table["note"].iloc[0]
    assert np.isnan(table["irr"].iloc[0])
    pattern = CELL_REASONS["clusters"].replace("{needed}", "10").split("{parent_km2:g}")[0]
    assert note.startswith(pattern), note
    assert re.search(r"lie in \d$", note)


def presence_row(**values) -> dict:
    row = {"mission": "T-1", "strategy_id": "patrol-presence", "estimand": "patrol_presence",
           "design": "space_time_controls", "headline": False, "irr": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "caveats": CAVEATS["reported"], "status": "ok", "reason": None}
    return {**row, **values}


def brief(rows: list[dict] | None, language: str = "en", model: str = "tracks") -> str:
    coverage = {"incidents_total": 400, "covered_share": 0.4, "covered_share_status": "ok",
                "radius_m": 2000 if model == "tracks" else 30000, "window_h": 72,
                "model": model}
    effects = None if rows is None else pd.DataFrame(rows)
    page = render_brief(BriefInputs(mission="T-1", name="Test", period=("2022-01", "2022-12"),
                                    synthetic=False, k=5, coverage=coverage, effects=effects,
                                    language=language))
    body = re.sub(r"</?b>", "", page.split("<body>", 1)[1])
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_brief_gives_the_association_with_its_caveat():
    text = brief([presence_row(irr=0.62, ci_low=0.5, ci_high=0.77)])
    assert ("Fewer reports near patrols? Where and when a patrol had been within 2 km in the 72 "
            "hours before: about 38% fewer reported incidents (between 23% and 50% fewer), "
            "compared with nearby places and moments without one.") in text
    assert "This is an association, not the effect of sending patrols" in text


def test_brief_says_when_the_comparison_was_made_on_hexagons():
    caveat = CELL_CAVEAT.format(cell_km2=1800, n_areas=1, parent_km2=12000)
    text = brief([presence_row(irr=2.96, ci_low=1.33, ci_high=6.56, design=CELL_DESIGN,
                               caveats=f"{CAVEATS['reported']} {caveat}")], model="bases")
    assert "Fewer reports near bases? Within 30 km of an open base: about 196% more" in text
    assert ("Nearby means the same hexagon of about 1,800 km² and month: the mission has 1 "
            "area(s), too few to compare within areas.") in text
    assert "This is an association, not the effect of the bases" in text
    assert "patrol had been" not in text and "hours before" not in text


@pytest.mark.parametrize(("row", "said", "unsaid"), [
    (presence_row(status="not_estimable",
                  reason=CELL_REASONS["clusters"].format(needed=10, parent_km2=12000, found=3)),
     "Not estimable: it needs reports in at least 10 groups of hexagons (about 12,000 km² "
     "each); the reports that could be tested here lie in 3.", "to protect survivors: the"),
    (presence_row(status="not_estimable", reason="something an estimator said"),
     "Not estimable with this data", "to protect survivors: the"),
    (presence_row(status="not_computed", reason="no presence data for the period"),
     "Not computed: no report could be tested against patrol or base presence",
     "to protect survivors: the"),
    (presence_row(status="not_shown", reason="hidden"),
     "Not shown, to protect survivors: the comparison rests on fewer than 5 incidents.",
     "Not estimable"),
])
def test_brief_says_why_the_association_is_missing_in_the_right_word(row, said, unsaid):
    text = brief([row])
    assert "Fewer reports near patrols?" in text
    assert said in text and unsaid not in text


def test_brief_answers_the_patrol_question_even_without_a_row():
    assert "Fewer reports near patrols? Not assessed in this run." in brief([])
    assert "Fewer reports near patrols? Not assessed in this run." in brief(None)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_patrol_question_and_its_caveat_are_said_in_every_language(language):
    question = {"en": "Fewer reports near bases?", "fr": "Moins de signalements près des bases ?",
                "es": "¿Menos denuncias cerca de las bases?",
                "pt": "Menos notificações perto das bases?", "ar": "هل البلاغات أقل قرب القواعد؟"}
    caveat = {"en": "not the effect of the bases", "fr": "pas l'effet des bases",
              "es": "no el efecto de las bases", "pt": "não o efeito das bases",
              "ar": "وليس أثر القواعد"}
    text = brief([presence_row(irr=0.62, ci_low=0.5, ci_high=0.77)], language, model="bases")
    assert question[language] in text and caveat[language] in text


def test_strategies_without_a_number_are_said_in_their_own_word():
    rows = [
        {"strategy_id": "night-patrols", "estimand": "deployment", "headline": True,
         "status": "not_computed", "reason": "the strategy was not active in any area"},
        {"strategy_id": "firewood-escorts", "estimand": "deployment", "headline": True,
         "status": "not_shown", "reason": "hidden"},
        {"strategy_id": "market-day-patrols", "estimand": "deployment", "headline": True,
         "status": "not_estimable", "reason": "1 clusters and 82 rows are too few"},
    ]
    rows = [{**presence_row(), **r, "irr": np.nan} for r in rows]
    text = brief(rows)
    assert "Night patrols: not assessed, the strategy was not active in any area" in text
    assert "Firewood escorts: not shown, to protect survivors" in text
    assert "Market day patrols: not estimable with this data" in text
    assert "no estimate could be made" not in text


def scattered_mission(folder, language: str = "en"):
    """One square area, six bases open through 2019, 600 incidents spread over it (seeded)."""
    from one_area import write_mission

    rng = np.random.default_rng(26)
    days = pd.to_datetime("2019-01-01") + pd.to_timedelta(rng.uniform(0, 364, 600), "D")
    incidents = [(f"{d:%Y-%m-%dT%H:%M:%S}", float(x), float(y), "exact")
                 for d, x, y in zip(days, rng.uniform(30.02, 30.98, 600),
                                    rng.uniform(5.02, 5.98, 600), strict=True)]
    sites = {f"B{i}": (30.2 + 0.3 * (i % 3), 5.3 + 0.4 * (i // 3)) for i in range(6)}
    return write_mission(folder, incidents=incidents,
                         bases=[(b, "2019-01-01", "2019-12-31") for b in sites],
                         period=("2019-01-01", "2019-12-31"), base_sites=sites,
                         language=language)


def test_a_one_area_mission_answers_the_patrol_question_on_hexagons(tmp_path):
    """Issue 26 item 4: with one area the estimate was skipped ("1 clusters ... too few")."""
    from protection_eval.effects.mission import estimate_mission
    from protection_eval.runs.missions import load_mission
    from protection_eval.sharing.forms import to_effects_table

    effects = estimate_mission(load_mission(scattered_mission(tmp_path / "m")))
    table = to_effects_table(effects)
    rows = table[table["estimand"] == "patrol_presence"]
    assert len(rows) == 1, effects.notes
    row = rows.iloc[0]
    assert row["design"] == CELL_DESIGN and row["status"] == "ok"
    assert row["ci_low"] < row["irr"] < row["ci_high"] and row["n_clusters"] >= 10
    assert "Bases only" in row["caveats"] and "h before" not in row["caveats"]
    assert not any("1 clusters" in n for n in effects.notes)


def test_a_bases_only_map_legend_says_bases_and_no_time_window(tmp_path):
    """Issue 26 item 5: "Patrol footprint" on a mission with bases and no patrols."""
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.missions import load_mission
    from protection_eval.sharing.forms import to_shared_coverage_map

    mission = load_mission(scattered_mission(tmp_path / "m"))
    page = to_shared_coverage_map(compute_mission_coverage(mission), mission.config).to_html()
    assert "Within 10 km of an open base" in page
    assert "Patrol footprint" not in page and "of a patrol" not in page
    assert "Gap: many reports, few near a base" in page
