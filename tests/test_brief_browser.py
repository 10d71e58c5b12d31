"""The brief in a real browser: each language renders, fits one A4 page, draws its map.

Uses Debian's chromium at /usr/bin/chromium through playwright, with the network cut, as
tests/test_offline_browser.py does (same fixture, same skip and CI rules). Screenshots and the
printed PDFs are saved in the test's temporary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from test_brief import make_effects, make_inputs, svg_map
from test_offline_browser import browser  # noqa: F401 (the chromium fixture)

from protection_eval.effects.cell_design import CELL_CAVEAT, CELL_DESIGN
from protection_eval.effects.vocabulary import CAVEATS
from protection_eval.sharing.brief import render_brief

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr", "ar", "es", "pt"]


def busy_inputs(language: str):
    """A brief as full as a real mission's: six strategies with caveats, five gaps."""
    effects = make_effects()
    more = pd.DataFrame({
        "strategy_id": [f"strategy-{i}" for i in range(4)], "estimand": "deployment",
        "headline": True, "irr": [0.8, 1.2, 0.95, 0.7], "ci_low": [0.7, 1.05, 0.8, 0.5],
        "ci_high": [0.9, 1.4, 1.1, 0.95],
        "caveats": [CAVEATS["reported"] + " " + CAVEATS["few_treated"].format(n=3) + " "
                    + CAVEATS["pre_trend"].format(p=0.01)] * 4})
    gaps = pd.DataFrame({"place": ["Kator", "Munuki", "Juba town", "Rejaf", "Gudele"],
                         "incidents": [40, 31, None, 12, 9],
                         "covered_share": [0.0, 0.16, None, 0.5, 0.2], "rank": range(1, 6),
                         "resolution": [7, 7, 6, 5, 4]})
    # The patrol-presence answer on hexagons (its longest form) and presence data that miss
    # six months: the longest coverage and "what changed" paragraphs a brief can have.
    presence = pd.DataFrame([{
        "strategy_id": "patrol-presence", "estimand": "patrol_presence", "headline": False,
        "irr": 0.62, "ci_low": 0.5, "ci_high": 0.77, "design": CELL_DESIGN, "status": "ok",
        "caveats": CAVEATS["reported"] + " " + CELL_CAVEAT.format(cell_km2=1800, n_areas=1,
                                                                  parent_km2=12000)}])
    inputs = make_inputs(language=language, effects=pd.concat([effects, more, presence]),
                         gaps=gaps, map_svg=svg_map(), name="Mission de test au Soudan du Sud")
    inputs.coverage = {**inputs.coverage, "incidents_left_out_presence_unknown": 120,
                       "presence": {"source": "GPS tracks",
                                    "spans_with_data": [["2022-01", "2023-06"]],
                                    "spans_without_data": [["2023-07", "2023-12"]]}}
    return inputs


def open_brief(chromium, path: Path):
    context = chromium.new_context(viewport={"width": 900, "height": 1200})
    outside: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    return page, outside


@pytest.mark.parametrize("language", LANGUAGES)
def test_brief_renders_fits_one_a4_page_and_draws_its_map(browser, tmp_path, language):  # noqa: F811
    path = tmp_path / "brief.html"
    path.write_text(render_brief(busy_inputs(language)), encoding="utf-8")
    page, outside = open_brief(browser, path)
    assert outside == []

    svg = page.locator("svg.pe-map")
    assert svg.count() == 1
    box = svg.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert page.locator("svg.pe-map path").count() >= 4
    page.screenshot(path=str(tmp_path / f"brief_{language}.png"), full_page=True)

    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == ("rtl" if language == "ar" else "ltr")
    if language == "ar":
        # Mirrored: headings start at the right, the map sits right of its legend.
        heading = page.locator("h1").bounding_box()
        body = page.locator("body").bounding_box()
        assert heading["x"] + heading["width"] > body["x"] + body["width"] - 20
        assert page.locator(".legend").bounding_box()["x"] < box["x"]
        assert page.evaluate("getComputedStyle(document.querySelector('.map')).direction") \
            == "ltr"  # the map is geography: never mirrored

    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (tmp_path / f"brief_{language}.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == 1, f"{language}: the brief prints on {pages} A4 pages"
    page.context.close()
