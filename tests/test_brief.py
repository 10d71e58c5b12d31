import datetime as dt
import re

import pandas as pd
import pytest

from protection_eval.effects.count_models import CAVEATS
from protection_eval.sharing.brief import (
    BriefInputs,
    describe_effect,
    headline_effects,
    render_brief,
)


def make_effects() -> pd.DataFrame:
    return pd.DataFrame({
        "strategy_id": ["firewood-escorts", "firewood-escorts", "firewood-escorts",
                        "night-patrols"],
        "estimand": ["deployment", "deployment", "event_time_+1", "deployment"],
        "headline": [False, True, False, True],
        "irr": [0.5, 0.62, 0.9, 0.97],
        "ci_low": [0.4, 0.55, 0.7, 0.85],
        "ci_high": [0.6, 0.70, 1.1, 1.10],
        "caveats": [CAVEATS["reported"], CAVEATS["reported"], "", CAVEATS["reported"]
                    + " Only 4 areas had the strategy: the interval rests on few areas."],
    })


def make_inputs(**changes) -> BriefInputs:
    base = dict(
        mission="T-1", name="Test mission", period=("2022-01", "2023-12"), synthetic=True, k=5,
        coverage={"incidents_total": 1234, "covered_share": 0.42, "radius_m": 2000,
                  "window_h": 72, "model": "tracks"},
        effects=make_effects(),
        gaps=pd.DataFrame({"place": ["Kator", "Munuki"], "incidents": [12, None],
                           "covered_share": [0.1, None], "rank": [1, 2]}),
        strategy_names={"firewood-escorts": "Firewood and water-point escorts"},
        map_file="coverage_map.html",
    )
    return BriefInputs(**{**base, **changes})


@pytest.mark.parametrize(
    ("irr", "low", "high", "text"),
    [
        (0.62, 0.55, 0.70, "about 38% fewer reported incidents (between 30% and 45% fewer)"),
        (1.3, 1.1, 1.5, "about 30% more reported incidents (between 10% and 50% more)"),
        (0.97, 0.85, 1.10, "no clear change in reported incidents"),
        (float("nan"), 0.1, 2.0, "no estimate could be made"),
    ],
)
def test_effects_are_said_in_plain_words(irr, low, high, text):
    assert describe_effect(irr, low, high).startswith(text)


def test_one_headline_row_per_strategy():
    rows = headline_effects(make_effects())
    assert list(rows.strategy_id) == ["firewood-escorts", "night-patrols"]
    assert list(rows.irr) == [0.62, 0.97]


def test_brief_page_reads_for_a_commander():
    page = render_brief(make_inputs(), generated=dt.date(2026, 11, 26))
    text = re.sub(r"<[^>]+>", " ", page)
    assert "SYNTHETIC DATA" in page
    assert "1,234" in text and "42%" in text and "2 km" in text
    assert "Firewood and water-point escorts" in text
    assert "about 38% fewer reported incidents" in text
    assert text.count("Reported is not occurred") == 0
    assert "Only 4 areas had the strategy" in text
    assert "fewer than 5" in text  # the suppressed gap count
    assert "November 2026" in text and "2026-11-26" not in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "href='coverage_map.html'" in page


def test_small_total_is_not_shown():
    page = render_brief(make_inputs(coverage={"incidents_total": 3, "covered_share": None}))
    assert "fewer than 5</b> incidents" in page


def test_brief_without_estimates_or_gaps_says_so():
    page = render_brief(make_inputs(effects=None, gaps=None, coverage=None, map_file=None,
                                    synthetic=False))
    assert "No strategy could be assessed" in page
    assert "No gap list" in page and "not computed" in page and "SYNTHETIC" not in page


def test_brief_passes_the_disclosure_audit(tmp_path):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    gaps = pd.DataFrame({"place": [f"Area {i}" for i in range(1, 8)],
                         "incidents": [40, 31, None, 12, 9, 7, None],
                         "covered_share": [0.0, 0.16, None, 0.5, 0.2, None, None],
                         "rank": range(1, 8)})
    (tmp_path / "brief.html").write_text(render_brief(make_inputs(gaps=gaps)))
    result = audit_shared_folder(tmp_path, k=5)
    assert result.ok, result.to_frame().to_string()


def test_brief_words_its_caution_from_the_breakdown_value():
    from protection_eval.effects.event_study import describe_breakdown

    effects = make_effects()
    sensitivity = describe_breakdown(1.75)
    effects["breakdown_m"] = [float("nan"), 1.75, float("nan"), float("nan")]
    effects.loc[1, "caveats"] = (
        f"{CAVEATS['reported']} {CAVEATS['pre_trend'].format(p=0.01)} {sensitivity}"
    )
    page = render_brief(make_inputs(effects=effects), generated=dt.date(2026, 11, 26))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "result holds unless trends differed by more than 1.75 times" in text
    assert "Rambachan" not in text  # the technical sentence is worded for the reader instead
    assert text.count("1.75") == 1


def test_brief_says_a_zero_breakdown_means_do_not_rely_on_it():
    effects = make_effects().assign(breakdown_m=[None, 0.0, None, None])
    page = render_brief(make_inputs(effects=effects), generated=dt.date(2026, 11, 26))
    assert "that alone could explain this result: do not rely on it" in page


def test_brief_without_a_breakdown_column_is_unchanged():
    old = render_brief(make_inputs(), generated=dt.date(2026, 11, 26))
    effects = make_effects().assign(breakdown_m=float("nan"))
    assert render_brief(make_inputs(effects=effects), generated=dt.date(2026, 11, 26)) == old
