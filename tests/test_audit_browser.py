"""The audit's browser check: every shared page opened in headless Chromium, network cut.

Needs Debian's chromium (CI installs it; PROTECTION_EVAL_REQUIRE_BROWSER=1 makes a missing one a
failure, not a skip). Every URL here is on the reserved `.invalid` domain and every request is
failed before it is sent: nothing leaves the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protection_eval.runs.pdf import chromium_path
from protection_eval.sharing.audit import browser
from protection_eval.sharing.audit.folder import BROWSER_NOT_RUN, audit_shared_folder

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Path:
    found = chromium_path()
    if found is None:
        if os.environ.get("PROTECTION_EVAL_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is missing and PROTECTION_EVAL_REQUIRE_BROWSER=1 (CI)")
        pytest.skip("BROWSER TEST SKIPPED: chromium is not installed (apt-get install chromium)")
    return found


def requests_of(folder: Path, chromium: Path) -> list[tuple[str, str, str]]:
    result = audit_shared_folder(folder, k=5, chromium=chromium)
    assert not result.browser.startswith(BROWSER_NOT_RUN), result.browser
    return [(f.kind, f.where, f.what) for f in result.findings]


# Requests no static reading of the source sees: built by code, late, from a worker or a socket.
DYNAMIC = {
    "built.html": ("<script>var h = 'ht' + 'tp:' + '//built.invalid/x'; "
                   "fetch(h).catch(function () {});</script>", "http://built.invalid/x"),
    "late.html": ("<script>setTimeout(function () { new Image().src = ['http:', '', "
                  "'late.invalid', 'p.png'].join('/'); }, 20000);</script>",
                  "http://late.invalid/p.png"),
    "worker.html": ("<script>new Worker(URL.createObjectURL(new Blob(["
                    "\"fetch('http://' + 'worker.invalid/')\"])));</script>",
                    "http://worker.invalid/"),
    "socket.html": ("<script>try { new WebSocket('ws://' + 'sock.invalid/'); } "
                    "catch (e) {}</script>", "ws://sock.invalid/"),
    "escaped.html": ("<script>document.write(unescape('%3Cimg src=%22http://esc.invalid/i"
                     "%22%3E'));</script>", "http://esc.invalid/i"),
}


@pytest.mark.parametrize("name", sorted(DYNAMIC))
def test_a_request_a_script_makes_is_caught_in_the_browser(tmp_path, chromium, name):
    page, url = DYNAMIC[name]
    (tmp_path / name).write_text(f"<html><body>{page}</body></html>", encoding="utf-8")
    found = requests_of(tmp_path, chromium)
    assert ("third_party_request", "opened in Chromium", url) in found, found


def test_a_file_outside_the_shared_folder_is_a_request_that_leaves(tmp_path, chromium):
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "restricted.js").write_text("var rows = [];", encoding="utf-8")
    (shared / "page.html").write_text('<script src="../restricted.js"></script><p>x</p>',
                                      encoding="utf-8")
    found = requests_of(shared, chromium)
    assert [(k, w) for k, w, what in found if "outside" in what] == [
        ("third_party_request", "opened in Chromium")]


def test_a_page_that_never_finishes_is_not_passed(tmp_path, chromium, monkeypatch):
    # A few real seconds are enough to tell a page that never yields; the default's 20 would
    # keep one core busy for nothing.
    monkeypatch.setattr(browser, "PAGE_TIMEOUT_S", 4.0)
    (tmp_path / "loop.html").write_text("<script>for (;;) {}</script>", encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5, chromium=chromium)
    assert [(f.kind, f.where) for f in result.findings] == [
        ("unauditable_file", "opened in Chromium")]


def test_a_self_contained_page_and_its_local_parts_pass(tmp_path, chromium):
    (tmp_path / "chart.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>',
        encoding="utf-8")
    (tmp_path / "page.html").write_text(
        '<html><body><img src="chart.svg"><iframe srcdoc="<p>inner</p>"></iframe>'
        '<img src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9'
        'zdmciLz4=">'
        "<script>setTimeout(function () { document.title = 'done'; }, 5000);</script>"
        "</body></html>", encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5, chromium=chromium)
    assert result.ok, result.summary()
    assert result.browser.startswith("browser check: 2 page(s) opened in Chromium")


def test_the_tile_server_of_the_mission_is_allowed(tmp_path, chromium):
    page = ("<script>var s = 'https:' + '//';"
            "new Image().src = s + 'tiles.mission.invalid/1/2/3.png';"
            "new Image().src = s + 'other.invalid/1/2/3.png';</script>")
    (tmp_path / "map.html").write_text(page, encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5, chromium=chromium,
                                 tile_server="https://tiles.mission.invalid/{z}/{x}/{y}.png")
    assert [f.what for f in result.findings if f.where == "opened in Chromium"] == [
        "https://other.invalid/1/2/3.png"]


def test_the_audit_command_opens_pages_in_the_browser(tmp_path, chromium):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    name, (page, url) = "built.html", DYNAMIC["built.html"]
    (tmp_path / name).write_text(page, encoding="utf-8")
    outcome = CliRunner().invoke(app, ["audit", str(tmp_path)])
    assert outcome.exit_code == 1
    assert url in outcome.output and "opened in Chromium" in outcome.output
