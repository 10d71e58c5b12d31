"""The commander's map in a real browser: its language, and on a phone (issue 29).

Headless Chromium at /usr/bin/chromium with the network cut, as in
tests/test_offline_browser.py (same fixture, same skip and CI rules). Screenshots go to the
test's temporary folder or $PROTECTION_EVAL_SCREENSHOT_DIR.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_maps import build
from test_offline_browser import browser, screenshot_path  # noqa: F401 (the chromium fixture)

pytestmark = pytest.mark.browser

#: Words a language writes as English does (see tests/test_map_languages.py).
COGNATES = {"fr": {"mission", "incidents", "zoom", "code", "personnel", "population"},
            "ar": set(), "es": {"real"}, "pt": {"real"}, "en": set()}

#: The share of the map's box where a tap reaches the map, not a title, legend or control.
VISIBLE_SHARE = """() => {
    const box = document.querySelector('.leaflet-container').getBoundingClientRect();
    const cover = '.leaflet-control, .pe-title, .pe-legend';
    let seen = 0, all = 0;
    for (let i = 0; i < 39; i++) {
        for (let j = 0; j < 84; j++) {
            const x = box.left + (i + 0.5) * box.width / 39;
            const y = box.top + (j + 0.5) * box.height / 84;
            if (x >= innerWidth || y >= innerHeight) continue;
            all++;
            const el = document.elementFromPoint(x, y);
            if (el && el.closest('.leaflet-container') && !el.closest(cover)) seen++;
        }
    }
    return seen / all;
}"""

#: Whether an element can be seen whole: inside the window and on top at its corners and centre.
SEEN_WHOLE = """(el) => {
    const r = el.getBoundingClientRect();
    if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) return false;
    const points = [[0.5, 0.5], [0.05, 0.1], [0.95, 0.1], [0.05, 0.9], [0.95, 0.9]];
    return points.every(([fx, fy]) => {
        const hit = document.elementFromPoint(r.left + fx * r.width, r.top + fy * r.height);
        return hit !== null && el.contains(hit);
    });
}"""


def open_page(chromium, path: Path, width: int = 1280, height: int = 800):
    context = chromium.new_context(viewport={"width": width, "height": height})
    outside: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(".leaflet-interactive", state="attached", timeout=30_000)
    page.wait_for_selector(".leaflet-control-scale-line", state="attached", timeout=5_000)
    return page, outside, errors


def words_on_screen(page, data: set[str] = frozenset()) -> set[str]:
    """Every word a reader sees or hovers: title, legend, layers, scale, controls, a tooltip.

    Words of ``data`` (area names, as the mission spells them) are data, not the map's words.
    """
    texts = [page.locator(".pe-title").inner_text(),
             page.locator(".pe-legend").inner_text(),
             page.locator(".leaflet-control-layers").inner_text(),
             page.locator(".leaflet-control-scale").inner_text()]
    for selector in (".leaflet-control-zoom-in", ".leaflet-control-zoom-out",
                     ".leaflet-control-layers-toggle"):
        texts.append(page.locator(selector).get_attribute("title") or "")
    texts.append(page.title())
    area = page.locator("path.leaflet-interactive").first
    area.dispatch_event("mouseover")
    tooltip = page.locator(".leaflet-tooltip").last
    tooltip.wait_for(state="visible", timeout=5_000)
    texts.append(tooltip.inner_text())
    words = {w.casefold() for w in re.findall(r"[^\W\d_]{3,}", " ".join(texts)) if w.isalpha()}
    return words - {"demo", "leaflet"} - {w.casefold() for w in data}


@pytest.fixture(scope="module")
def demo_a(demo_missions):
    """DEMO-A's coverage, computed once for the module."""
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.missions import load_mission

    path = next(p for p in demo_missions if p.stem == "DEMO-A")
    mission = load_mission(path)
    return mission.config, compute_mission_coverage(mission)


def demo_a_map(demo_a, language: str, folder: Path) -> Path:
    from protection_eval.sharing.forms import to_shared_coverage_map

    config, result = demo_a
    sharing = config.sharing.model_copy(update={"language": language})
    page = to_shared_coverage_map(result, config.model_copy(update={"sharing": sharing}))
    path = folder / f"coverage_map_{language}.html"
    path.write_text(page.to_html(), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("language", ["fr", "ar"])
def test_demo_a_map_shows_no_english_word_of_its_legend(browser, tmp_path, demo_a, language):  # noqa: F811
    english_page, outside, errors = open_page(browser, demo_a_map(demo_a, "en", tmp_path))
    config, result = demo_a
    names = set(re.findall(r"\w+", " ".join(result.area_shapes["name"].astype(str))))
    english = words_on_screen(english_page, names)
    english_page.context.close()
    assert {"reports", "sgbv", "hexagon", "patrol", "legend", "areas", "gaps"} <= english

    page, outside, errors = open_page(browser, demo_a_map(demo_a, language, tmp_path))
    shown = words_on_screen(page, names)
    page.screenshot(path=str(screenshot_path(tmp_path, f"demo_a_map_{language}.png")))
    left = (english & shown) - COGNATES[language]
    assert not left, f"{language}: English words on DEMO-A's map: {sorted(left)}"
    assert outside == [] and errors == []
    assert page.evaluate("document.documentElement.lang") == language
    direction = page.evaluate("getComputedStyle(document.querySelector('.pe-legend')).direction")
    assert direction == ("rtl" if language == "ar" else "ltr")
    # The geography is not mirrored.
    assert page.evaluate("getComputedStyle(document.querySelector('.folium-map')).direction") \
        == "ltr"
    scale = page.locator(".leaflet-control-scale").inner_text()
    assert (" كم" in scale or " م" in scale) if language == "ar" else re.search(r"\d k?m", scale)
    page.context.close()


@pytest.mark.slow
@pytest.mark.parametrize("language", ["fr", "ar"])
def test_demo_a_map_on_a_phone_keeps_its_title_and_three_quarters_in_view(
    browser, tmp_path, demo_a, language  # noqa: F811
):
    page, outside, errors = open_page(browser, demo_a_map(demo_a, language, tmp_path), 390, 844)
    page.screenshot(path=str(screenshot_path(tmp_path, f"demo_a_phone_{language}.png")))
    assert page.locator(".pe-title").evaluate(SEEN_WHOLE)
    share = page.evaluate(VISIBLE_SHARE)
    assert share >= 0.75, f"only {share:.0%} of DEMO-A's map can be seen on a phone"
    assert outside == [] and errors == []
    page.context.close()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_on_a_phone_the_title_shows_and_three_quarters_of_the_map_stay_in_view(
    browser, tmp_path, language  # noqa: F811
):
    path = tmp_path / "coverage_map.html"
    path.write_text(build(language=language).to_html(), encoding="utf-8")
    page, outside, errors = open_page(browser, path, 390, 844)
    page.screenshot(path=str(screenshot_path(tmp_path, f"map_phone_{language}.png")))

    title = page.locator(".pe-title")
    assert title.evaluate(SEEN_WHOLE), "the title is cut off or covered"
    share = page.evaluate(VISIBLE_SHARE)
    assert share >= 0.75, f"only {share:.0%} of the map can be seen on a phone"
    # The legend and the layer control wait closed, and open on a tap.
    legend = page.locator(".pe-legend")
    assert legend.evaluate("(e) => e.open") is False
    page.locator(".pe-legend > summary").click()
    assert legend.evaluate("(e) => e.open") is True
    assert "5" in legend.inner_text()
    control = page.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" not in (control.get_attribute("class") or "")
    page.locator(".leaflet-control-layers-toggle").click()
    assert "leaflet-control-layers-expanded" in (control.get_attribute("class") or "")
    assert outside == [] and errors == []
    page.context.close()


def test_on_a_desktop_legend_and_layer_control_are_open(browser, tmp_path):  # noqa: F811
    path = tmp_path / "coverage_map.html"
    path.write_text(build(language="fr").to_html(), encoding="utf-8")
    page, outside, errors = open_page(browser, path)
    assert page.locator(".pe-legend").evaluate("(e) => e.open") is True
    control = page.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" in (control.get_attribute("class") or "")
    assert page.locator(".pe-title").evaluate(SEEN_WHOLE)
    assert outside == [] and errors == []
    page.context.close()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_on_a_phone_the_briefs_map_fills_the_width(browser, tmp_path, language):  # noqa: F811
    from test_brief import make_inputs, svg_map

    from protection_eval.sharing.brief import render_brief

    path = tmp_path / "brief.html"
    path.write_text(render_brief(make_inputs(language=language, map_svg=svg_map())),
                    encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    page.screenshot(path=str(screenshot_path(tmp_path, f"brief_phone_{language}.png")),
                    full_page=True)
    svg = page.locator("svg.pe-map").bounding_box()
    body = page.evaluate("document.body.clientWidth")
    assert svg["width"] >= 0.9 * body, (svg["width"], body)
    # The legend follows under the map rather than squeezing it.
    legend = page.locator(".legend").bounding_box()
    assert legend["y"] >= svg["y"] + svg["height"] - 1
    context.close()


def test_places_and_roads_show_offline_on_the_map_and_in_the_brief(browser, tmp_path):  # noqa: F811
    from test_brief import make_inputs
    from test_map_context import context, kinshasa_areas, kinshasa_hexagons, kinshasa_map

    from protection_eval.sharing.brief import render_brief
    from protection_eval.sharing.context import prepare_context_layers
    from protection_eval.sharing.svgmap import to_svg_map

    path = tmp_path / "coverage_map.html"
    path.write_text(kinshasa_map(language="fr"), encoding="utf-8")
    assert path.stat().st_size < 5_000_000
    page, outside, errors = open_page(browser, path)
    page.screenshot(path=str(screenshot_path(tmp_path, "map_context.png")))
    labels = page.locator(".pe-place .pe-name")
    shown = {labels.nth(i).inner_text() for i in range(labels.count())
             if labels.nth(i).is_visible()}
    assert {"Kinshasa", "Brazzaville", "Kinkole"} <= shown
    assert page.locator('path.leaflet-interactive[stroke="#555555"]').count() == 2
    assert "Routes" in page.locator(".leaflet-control-layers").inner_text()
    assert outside == [] and errors == []
    page.context.close()

    layers = prepare_context_layers(context().sources, kinshasa_areas().total_bounds,
                                    budget_bytes=None)
    svg = to_svg_map(kinshasa_areas(), kinshasa_hexagons(), None, None, k=5, context=layers)
    brief = tmp_path / "brief.html"
    brief.write_text(render_brief(make_inputs(language="fr", map_svg=svg)), encoding="utf-8")
    context_ = browser.new_context(viewport={"width": 900, "height": 1200})
    page = context_.new_page()
    page.goto(brief.as_uri(), wait_until="load")
    page.screenshot(path=str(screenshot_path(tmp_path, "brief_context.png")), full_page=True)
    names = page.locator("svg.pe-map text")
    seen = {names.nth(i).text_content() for i in range(names.count())}
    assert {"Kinshasa", "Brazzaville"} <= seen
    assert page.locator("svg.pe-map circle").first.is_visible()
    assert "Route principale" in page.locator(".legend").inner_text()
    context_.close()
