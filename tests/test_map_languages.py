"""The interactive map in the mission's language: every word, numbers, direction (issue 29)."""

from __future__ import annotations

import html
import json
import re

import pytest
from babel.messages.pofile import read_po
from test_maps import build, embedded_geojson

from protection_eval.config import LOCALE_DIR
from protection_eval.sharing.map_text import MAP_CONTEXT, MAP_MESSAGES

LANGUAGES = ["fr", "ar", "es", "pt"]
#: Words a language writes as English does: cognates, not untranslated English.
COGNATES = {"fr": {"mission", "incidents", "zoom", "code", "personnel", "population"},
            "ar": set(), "es": {"real"}, "pt": {"real"}}


def words_shown(page: str) -> set[str]:
    """Every word the page writes for a reader: title, legend, layer names, tooltip labels."""
    parts = []
    for pattern in (r'<div class="pe-title".*?</div></div>',
                    r'<details class="pe-legend".*?</details>', r"<title>.*?</title>"):
        parts += re.findall(pattern, page, re.DOTALL)
    # Layer names as the layer control is given them, tooltip labels as folium writes them.
    parts += re.findall(r'"((?:[^"\\]|\\.)*)" : feature_group_', page)
    for aliases in re.findall(r'"aliases": (\[.*?\])', page):
        parts += json.loads(aliases)
    for words in re.findall(r"var words=(\{.*?\});", page):
        parts += [v for k, v in json.loads(words).items() if k != "locale"]
    text = html.unescape(re.sub(r"<[^>]+>", " ", " ".join(parts)))
    return {w.casefold() for w in re.findall(r"[^\W\d_]{3,}", text)} - {"demo"}


def test_every_word_of_the_map_is_a_message_of_the_map_context_in_the_template():
    template = read_po((LOCALE_DIR / "protection_eval.pot").open("rb"))
    ids = {m.id for m in template if m.context == MAP_CONTEXT}
    assert set(MAP_MESSAGES) <= ids
    assert len(MAP_MESSAGES) >= 40


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_word_of_the_legend_title_or_layers_remains(language):
    english = words_shown(build().to_html())
    assert {"reports", "sgbv", "hexagon", "patrol", "legend", "layers", "gaps"} <= english
    shown = words_shown(build(language=language).to_html())
    left = (english & shown) - COGNATES[language]
    assert not left, f"{language}: English words on the map: {sorted(left)}"


def test_a_message_without_translation_would_be_caught_as_english(monkeypatch):
    """The check above can fail: an untranslated legend heading shows up as English words."""
    from protection_eval.sharing import i18n

    french = i18n.get_language("fr")

    def partial(context: str, message: str) -> str:
        return message if "SGBV per hexagon" in message else french.translations.pgettext(
            context, message)

    monkeypatch.setattr(type(french), "pgettext", lambda self, c, m: partial(c, m))
    shown = words_shown(build(language="fr").to_html())
    assert {"reports", "sgbv", "per", "hexagon"} <= shown


def test_tooltip_numbers_shares_and_sizes_follow_the_locale():
    page = build(language="fr").to_html()
    areas = next(c for c in embedded_geojson(page) if "name" in c["features"][0]["properties"])
    first, second = (f["properties"] for f in areas["features"])
    assert first["patrol_hours"] == "1\u202f234"
    assert first["footprint_share"] == "62\u00a0%"
    assert second["incidents"] == "non affiché (masqué)"
    hexagons = build(language="es").to_html()
    assert "Denuncias en el periodo" in hexagons and "Reports in period" not in hexagons


def test_title_gives_the_period_in_words_of_the_language():
    from protection_eval.sharing.map_text import MapText

    text = MapText.of("pt")
    import datetime as dt

    period = text.period(dt.date(2022, 1, 1), dt.date(2023, 12, 31))
    page = build(language="pt", period=period).to_html()
    assert "DEMO-A: cobertura das patrulhas e VSBG notificada, janeiro de 2022 a dezembro de " \
           "2023 (FICTÍCIO)" in page
    assert "DADOS FICTÍCIOS: não é uma missão real" in page


def test_arabic_words_run_right_to_left_and_the_map_is_not_mirrored():
    page = build(language="ar").to_html()
    assert '<html lang="ar">' in page
    assert '<div class="pe-title" dir="rtl">' in page
    assert '<details class="pe-legend" open dir="rtl">' in page
    assert ".leaflet-control-layers{direction:rtl" in page
    assert 'class="folium-map"' in page and 'folium-map" dir=' not in page
    # The scale bar writes kilometres in Arabic.
    assert '"km": "{n} كم"' in page


def test_english_map_keeps_its_words():
    page = build().to_html()
    assert '<html lang="en">' in page
    assert "Reports of SGBV per hexagon" in page and "Legend" in page
    assert ".leaflet-control-layers{direction:rtl" not in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_bases_only_map_and_its_coverage_notes_have_no_english_word_either(language):
    """The bases-only wording and the legend's notes on coverage come from the catalogue too."""
    from protection_eval.sharing.map_text import CoverageNote

    gaps_note = CoverageNote(months_without_data=(("2022-03", "2022-05"), ("2023-01", "2023-01")))
    english = words_shown(build(presence="bases", note=gaps_note).to_html())
    assert {"base", "presence", "known"} <= english
    for note in (gaps_note, CoverageNote(not_computed=True)):
        shown = words_shown(build(language=language, presence="bases", note=note).to_html())
        # "base" is the word in French, Spanish and Portuguese too.
        left = (english & shown) - COGNATES[language] - {"base"}
        assert not left, f"{language}: English words on the bases-only map: {sorted(left)}"


def test_months_without_presence_data_are_written_as_months_of_the_language():
    from protection_eval.sharing.map_text import CoverageNote

    note = CoverageNote(months_without_data=(("2022-03", "2022-05"), ("2023-01", "2023-01")))
    page = build(language="fr", note=note).to_html()
    legend = html.unescape(re.search(r'<details class="pe-legend".*?</details>', page,
                                     re.DOTALL).group(0))
    assert "mars 2022 à mai 2022, janvier 2023" in legend
    english = build(note=CoverageNote(not_computed=True)).to_html()
    assert "Coverage not computed for this period" in english
    assert "No presence data" not in english


def test_reports_too_imprecise_for_a_hexagon_are_said_to_be_off_the_map():
    """Found on the 2024 CRSV workbook: 37 reports, every one located to a district or worse,
    and a map of reports per hexagon that was empty without a word of why."""
    from protection_eval.sharing.forms import _map_note
    from protection_eval.sharing.map_text import CoverageNote

    summary = {"covered_share_status": "not_computed", "incidents_left_out_by_precision": 37,
               "radius_m": 2000.0, "presence": {"spans_without_data": [["2024-01", "2024-05"]]}}
    note = _map_note(summary)
    assert note == CoverageNote(not_computed=True,
                                months_without_data=(("2024-01", "2024-05"),),
                                imprecise_radius_km=2.0)
    assert _map_note({**summary, "incidents_left_out_by_precision": 0,
                      "covered_share_status": "ok", "presence": {}}) is None
    legend = html.unescape(re.search(r'<details class="pe-legend".*?</details>',
                                     build(language="fr", note=note).to_html(),
                                     re.DOTALL).group(0))
    assert "Les signalements dont le lieu n'est connu qu'à plus de 2 km près" in legend
    assert "Couverture non calculée" in legend
    english = build(note=CoverageNote(imprecise_radius_km=2.5)).to_html()
    assert "Reports located less precisely than 2.5 km are not on this map." in english
