import datetime as dt
import html
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from babel.messages.pofile import read_po

from protection_eval.effects.vocabulary import CAVEATS
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
        # A ratio of at least 2 throughout reads as times, not as "1,163% more".
        (12.6324, 5.6654, 28.1667,
         "about 13 times as many reported incidents (between 5.7 and 28 times as many)"),
        (1.9, 1.2, 3.0, "about 90% more reported incidents (between 20% and 200% more)"),
        (0.97, 0.85, 1.10, "no clear change in reported incidents"),
        (float("nan"), 0.1, 2.0, "no estimate could be made"),
    ],
)
def test_effects_are_said_in_plain_words(irr, low, high, text):
    assert describe_effect(irr, low, high).startswith(text)


def test_a_large_ratio_is_said_as_times_in_french():
    from protection_eval.sharing.i18n import get_language

    said = describe_effect(12.6324, 5.6654, 28.1667, language=get_language("fr"))
    assert said == "environ 13 fois plus d'incidents signalés (entre 5,7 et 28 fois plus)"


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
    assert "Reported incidents in the period: <b>fewer than 5</b>" in page
    assert "is not shown, to protect survivors" in page


def test_brief_without_estimates_or_gaps_says_so():
    page = render_brief(make_inputs(effects=None, gaps=None, coverage=None, map_file=None,
                                    synthetic=False))
    assert "No strategy was assessed: this run has no estimates." in page
    assert "No gap list" in page and "not computed" in page and "SYNTHETIC" not in page


def test_brief_without_any_strategy_deployment_says_none_was_recorded_not_unassessable():
    """Estimates exist (patrol presence) but no strategy was in place: say that, not "could not"."""
    effects = pd.DataFrame([{"strategy_id": "patrol-presence", "estimand": "patrol_presence",
                             "irr": 0.8, "ci_low": 0.6, "ci_high": 1.1, "status": "ok"}])
    page = render_brief(make_inputs(effects=effects))
    assert ("No strategy deployment is recorded for this period, so no strategy was assessed."
            in page)
    assert "could not be assessed" not in page and "could be assessed" not in page
    french = render_brief(make_inputs(effects=effects, language="fr"))
    assert "Aucun déploiement de stratégie n'est enregistré pour cette période" in french


def test_brief_map_legend_says_imprecise_reports_are_not_on_the_map():
    base = make_inputs().coverage
    assert "not on this map" not in render_brief(make_inputs(map_svg=svg_map()))
    page = render_brief(make_inputs(coverage={**base, "incidents_left_out_by_precision": 3},
                                    map_svg=svg_map()))
    assert "Reports located less precisely than 2 km are not on this map." in page
    arabic = render_brief(make_inputs(coverage={**base, "incidents_left_out_by_precision": 3},
                                      language="ar", map_svg=svg_map()))
    assert "ليست على هذه الخريطة" in arabic


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
    from protection_eval.effects.vocabulary import describe_breakdown

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


# --- languages ----------------------------------------------------------------------------------

LANGUAGES = ["en", "fr", "ar", "es", "pt"]
LOCALE = Path(__file__).resolve().parents[1] / "src" / "protection_eval" / "sharing" / "locale"


def visible_text(page: str) -> str:
    body = page.split("<body>", 1)[1]
    # Collapse ordinary white space only: locales put no-break spaces in numbers.
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html.unescape(body))).strip()


@pytest.mark.parametrize("language", ["fr", "ar", "es", "pt"])
def test_every_catalogue_translates_every_message_with_its_placeholders(language):
    template = read_po((LOCALE / "protection_eval.pot").open("rb"))
    catalogue = read_po((LOCALE / language / "LC_MESSAGES" / "protection_eval.po").open("rb"),
                        locale=language)
    # The map's words are messages of the context "map" (sharing/map_text.py).
    ids = [(m.id, m.context) for m in template if m.id]
    assert len(ids) > 50
    for msgid, context in ids:
        message = catalogue.get(msgid, context=context)
        assert message is not None and message.string, f"{language}: {msgid!r} untranslated"
        assert not message.fuzzy
        assert sorted(re.findall(r"\{[^}]*\}", msgid)) == sorted(
            re.findall(r"\{[^}]*\}", message.string)), f"{language}: {msgid!r}"


def test_every_sentence_of_the_brief_is_in_the_template():
    """A sentence added to the brief without a catalogue entry would stay English."""
    template = {m.id for m in read_po((LOCALE / "protection_eval.pot").open("rb")) if m.id}
    effects = make_effects().assign(caveats=CAVEATS["few_treated"].format(n=7))
    english = visible_text(render_brief(make_inputs(effects=effects, map_svg=svg_map())))
    french = visible_text(render_brief(make_inputs(language="fr", effects=effects,
                                                   map_svg=svg_map())))
    for sentence in ("Where patrols were", "What changed", "Where to look first",
                     "Reports per hexagon", "SYNTHETIC DATA"):
        assert sentence in english and sentence not in french
        assert any(sentence in msgid for msgid in template)


@pytest.mark.parametrize("language", LANGUAGES)
def test_brief_renders_in_each_language_with_direction_numbers_and_months(language):
    inputs = make_inputs(language=language, coverage={
        "incidents_total": 1234, "covered_share": 0.42, "radius_m": 1500, "window_h": 72,
        "model": "tracks"})
    page = render_brief(inputs, generated=dt.date(2026, 11, 26))
    text = visible_text(page)
    expected = {
        "en": ("ltr", "1,234", "42%", "1.5 km", "November 2026", "Where to look first"),
        "fr": ("ltr", "1\u202f234", "42\u00a0%", "1,5 km", "novembre 2026",
               "Où regarder en premier"),
        "ar": ("rtl", "1,234", "42", "1.5 كم", "نوفمبر 2026", "أين يجب النظر أولًا"),
        "es": ("ltr", "1.234", "42\u00a0%", "1,5 km", "noviembre de 2026",
               "Dónde mirar primero"),
        "pt": ("ltr", "1.234", "42%", "1,5 km", "novembro de 2026", "Onde olhar primeiro"),
    }[language]
    direction, total, share, radius, month, heading = expected
    assert f'<html lang="{language}" dir="{direction}">' in page
    for part in (total, share, radius, month, heading):
        assert part in text, (language, part)
    assert "2026-11-26" not in page


def test_caveats_of_an_estimate_are_translated_with_their_values():
    effects = make_effects().assign(
        caveats=CAVEATS["reported"] + " " + CAVEATS["few_treated"].format(n=4) + " "
        + CAVEATS["pre_trend"].format(p=0.012))
    text = visible_text(render_brief(make_inputs(language="fr", effects=effects)))
    assert "Seules 4 zones avaient la stratégie" in text
    assert "(p = 0.012)" in text and "Pre-trend" not in text and "Only 4" not in text
    assert "Reported is not occurred" not in text


def test_a_translator_adds_a_language_by_adding_a_catalogue(tmp_path, monkeypatch):
    from protection_eval import config
    from protection_eval.sharing import i18n

    shutil.copytree(LOCALE, tmp_path / "locale")
    sw = tmp_path / "locale" / "sw" / "LC_MESSAGES"
    sw.mkdir(parents=True)
    heading = 'msgid "Where to look first"\nmsgstr '
    po = (LOCALE / "protection_eval.pot").read_text(encoding="utf-8").replace(
        heading + '""', heading + '"Angalia kwanza"')
    (sw / "protection_eval.po").write_text(po, encoding="utf-8")
    monkeypatch.setattr(config, "LOCALE_DIR", tmp_path / "locale")
    i18n.get_language.cache_clear()
    try:
        assert "sw" in config.available_languages()
        text = visible_text(render_brief(make_inputs(language="sw")))
        assert "Angalia kwanza" in text and "What changed" in text  # untranslated: English
        with pytest.raises(ValueError, match="no catalogue for language 'xx'"):
            render_brief(make_inputs(language="xx"))
    finally:
        i18n.get_language.cache_clear()


def test_config_refuses_a_language_without_catalogue():
    from protection_eval.config import SharingSettings

    assert SharingSettings().language == "en"
    assert SharingSettings(language="ar").language == "ar"
    with pytest.raises(ValueError, match="no catalogue for language 'de'"):
        SharingSettings(language="de")


def test_gap_table_follows_its_rank_column():
    gaps = pd.DataFrame({"place": ["Third", "First", "Second"], "incidents": [9, 30, 12],
                         "covered_share": [0.1, 0.0, 0.2], "rank": [3, 1, 2]})
    page = render_brief(make_inputs(gaps=gaps))
    assert page.index("First") < page.index("Second") < page.index("Third")


def test_an_empty_gap_list_says_no_place_is_a_gap():
    page = render_brief(make_inputs(gaps=make_inputs().gaps.iloc[0:0]))
    assert "No place is a gap" in page


def svg_map() -> str:
    import geopandas as gpd
    from shapely.geometry import box

    from protection_eval.hexgrid import to_h3_cells, to_hexagon_frame
    from protection_eval.sharing.svgmap import to_svg_map

    cells = to_h3_cells([31.58, 31.62, 31.70], [4.85, 4.86, 4.90], 7)
    parent = to_h3_cells([31.9], [4.7], 5)
    hexagons = to_hexagon_frame(pd.DataFrame({
        "h3_cell": [*cells, *parent], "resolution": [7, 7, 7, 5],
        "incidents": pd.array([12, None, 40, 7], dtype="Int64")}))
    gaps = hexagons.iloc[[2]].assign(gap_rank=1)[["gap_rank", "h3_cell", "incidents", "geometry"]]
    areas = gpd.GeoDataFrame({"name": ["Juba"]}, geometry=[box(31.5, 4.6, 32.0, 5.0)],
                             crs="EPSG:4326")
    return to_svg_map(areas, hexagons, None, gaps, k=5)


def test_brief_draws_the_map_inline_and_says_the_hexagon_sizes():
    page = render_brief(make_inputs(map_svg=svg_map(), language="fr"))
    assert page.count("<svg") == 1 and 'data-resolutions="7 5"' in page
    assert "4.85" not in page and "31.58" not in page  # screen units, never degrees
    assert "environ 5,2 km²" in page and "environ 250 km²" in page
    assert "href='coverage_map.html'" in page


def test_svg_map_refuses_a_small_count():
    import geopandas as gpd
    from shapely.geometry import box

    from protection_eval.hexgrid import to_h3_cells, to_hexagon_frame
    from protection_eval.sharing.svgmap import to_svg_map

    hexagons = to_hexagon_frame(pd.DataFrame({
        "h3_cell": to_h3_cells([31.6], [4.85], 7), "incidents": [3]}))
    areas = gpd.GeoDataFrame({"name": ["Juba"]}, geometry=[box(31.5, 4.6, 32.0, 5.0)],
                             crs="EPSG:4326")
    with pytest.raises(ValueError, match="between 1 and 4"):
        to_svg_map(areas, hexagons, None, None, k=5)


@pytest.mark.parametrize("language", LANGUAGES)
def test_brief_with_its_map_passes_the_audit_in_each_language(tmp_path, language):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    gaps = pd.DataFrame({"place": [f"Area {i}" for i in range(1, 8)],
                         "incidents": [40, 31, None, 12, 9, 7, None],
                         "covered_share": [0.0, 0.16, None, 0.5, 0.2, None, None],
                         "rank": range(1, 8), "resolution": [7, 7, 6, 5, 5, 4, 4]})
    page = render_brief(make_inputs(gaps=gaps, map_svg=svg_map(), language=language))
    (tmp_path / "brief.html").write_text(page, encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5)
    assert result.ok, result.to_frame().to_string()


@pytest.mark.parametrize("day", ["le 5 janvier 2023", "5 de enero de 2023",
                                 "12 de março de 2024", "5 يناير 2023", "1er févr. 2023"])
def test_audit_catches_a_day_date_in_each_language(tmp_path, day):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    (tmp_path / "brief.html").write_text(f"<p>Rapport du {day}.</p>", encoding="utf-8")
    kinds = audit_shared_folder(tmp_path, k=5).to_frame()["kind"].tolist()
    # The brief's month names and the date detectors of each language may both see it.
    assert kinds and set(kinds) == {"fine_date"}


def test_audit_lets_a_month_pass_in_each_language(tmp_path):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    text = "janvier 2023, enero de 2023, março de 2024, يناير 2023, January 2023"
    (tmp_path / "brief.html").write_text(f"<p>{text}</p>", encoding="utf-8")
    assert audit_shared_folder(tmp_path, k=5).ok
