"""brief.pdf: printed by headless Chromium from the audited brief, vouched for by the manifest."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psutil
import pytest
from test_brief import make_inputs, svg_map

from protection_eval.io.writers import file_sha256
from protection_eval.runs.layout import gate_key_path
from protection_eval.runs.pdf import PdfPrinter, chromium_path, print_pdf, print_shared_pdfs
from protection_eval.runs.publish import audit_folder
from protection_eval.sharing.audit.folder import audit_shared_folder
from protection_eval.sharing.audit.seal import load_gate_key
from protection_eval.sharing.brief import render_brief

pytestmark = pytest.mark.browser


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    if chromium_path() is None:
        if os.environ.get("PROTECTION_EVAL_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is missing and PROTECTION_EVAL_REQUIRE_BROWSER=1 (CI)")
        pytest.skip("PDF TEST SKIPPED: chromium is not installed (apt-get install -y chromium)")
    shared = tmp_path / "shared"
    shared.mkdir()
    page = render_brief(make_inputs(map_svg=svg_map(), language="fr"))
    (shared / "brief.html").write_text(page, encoding="utf-8")
    return tmp_path


def write_manifest(run_dir: Path, pdfs: dict) -> None:
    (run_dir / "manifest.json").write_text(json.dumps({"shared_pdfs": pdfs}), encoding="utf-8")


def test_the_brief_prints_on_one_a4_page_and_the_audit_accepts_it(run_dir):
    pdfs = print_shared_pdfs(run_dir / "shared")
    pdf = run_dir / "shared" / "brief.pdf"
    assert pdf.exists() and set(pdfs) == {"brief.pdf"}
    assert pdfs["brief.pdf"]["source"] == "brief.html"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 1
    write_manifest(run_dir, pdfs)
    result = audit_folder(run_dir / "shared")  # the CLI's audit: reads the gate's key
    assert result.ok, result.to_frame().to_string()
    # Without the key, no record beside the folder is trusted.
    kinds = audit_shared_folder(run_dir / "shared", k=5).to_frame()["kind"].tolist()
    assert kinds == ["unauditable_file"]


def test_a_pdf_the_run_did_not_print_from_the_audited_page_is_refused(run_dir):
    shared = run_dir / "shared"
    pdfs = print_shared_pdfs(shared)
    write_manifest(run_dir, {})  # no record
    kinds = audit_shared_folder(shared, k=5).to_frame()["kind"].tolist()
    assert kinds == ["unauditable_file"]

    write_manifest(run_dir, pdfs)
    page = (shared / "brief.html").read_text(encoding="utf-8")
    (shared / "brief.html").write_text(page.replace("</body>", "<p>changed</p></body>"),
                                       encoding="utf-8")
    kinds = audit_folder(shared).to_frame()["kind"].tolist()
    assert kinds == ["unauditable_file"]  # the page changed since it was printed


def test_a_forged_manifest_beside_the_folder_does_not_make_a_pdf_pass(run_dir):
    assert load_gate_key(gate_key_path(), create=True) is not None  # the gate has a key
    shared = run_dir / "shared"
    pdf = shared / "brief.pdf"
    pdf.write_bytes(b"%PDF-1.4 anything at all: survivor names, exact dates")
    forged = {"brief.pdf": {"file": "brief.pdf", "sha256": file_sha256(pdf),
                            "source": "brief.html",
                            "source_sha256": file_sha256(shared / "brief.html")}}
    write_manifest(run_dir, forged)
    assert audit_folder(shared).to_frame()["kind"].tolist() == ["unauditable_file"]
    forged["brief.pdf"]["seal"] = "0" * 64  # a seal made without the gate's key
    write_manifest(run_dir, forged)
    assert audit_folder(shared).to_frame()["kind"].tolist() == ["unauditable_file"]


def without_print_times(path: Path) -> bytes:
    """The PDF's bytes without its print time, nor the node numbers of its tagged structure.

    Those number the page's elements in the order the browser created them since it started,
    so a browser kept warm numbers the second page it prints on from where the first stopped.
    """
    data = re.sub(rb"/(CreationDate|ModDate) \(D:[^)]*\)", b"", path.read_bytes())
    return re.sub(rb"/ID \(node\d+\)", b"/ID (node)", data)


BACKGROUND = """<!doctype html><html><head><meta charset="utf-8"><style>
@page { size: A4; margin: 12mm } body { background: #fde; font-family: sans-serif }
.box { background: #36c; width: 80px; height: 40px }</style></head>
<body><h1>Brief</h1><div class="box"></div><a href="coverage_map.html">map</a></body></html>"""


#: A link to a file beside the page, as the brief and BACKGROUND write it.
LOCAL_LINK = re.compile(r"""<a href=(['"])(?![a-z]+://)[^'"]*\1>""")


def test_the_warm_printer_prints_what_the_command_line_printer_printed(run_dir):
    """The same bytes as ``chromium --print-to-pdf`` gives of the page without its local links."""
    shared = run_dir / "shared"
    (shared / "backgrounds.html").write_text(BACKGROUND, encoding="utf-8")
    with PdfPrinter() as printer:
        for page in ("brief.html", "backgrounds.html"):
            html = shared / page
            text = html.read_text(encoding="utf-8")
            assert LOCAL_LINK.search(text), page  # each page links to the map beside it
            # The same name in a folder of its own: a page without a title is named by its file.
            unlinked = run_dir / "unlinked" / page
            unlinked.parent.mkdir(exist_ok=True)
            unlinked.write_text(LOCAL_LINK.sub("<a>", text), encoding="utf-8")
            print_pdf(unlinked, run_dir / f"{html.stem}-cli.pdf", chromium=chromium_path())
            printer.print_pdf(html, run_dir / f"{html.stem}-warm.pdf")
            assert without_print_times(run_dir / f"{html.stem}-warm.pdf") == without_print_times(
                run_dir / f"{html.stem}-cli.pdf"), page


def test_the_pdf_holds_no_address_of_the_folder_it_was_printed_in(run_dir):
    """The brief's link to the map beside it is not printed as the printing folder's path."""
    shared = run_dir / "shared"
    assert "<a href='coverage_map.html'>" in (shared / "brief.html").read_text(encoding="utf-8")
    print_shared_pdfs(shared)
    data = (shared / "brief.pdf").read_bytes()
    assert b"file:" not in data and str(run_dir).encode() not in data
    # The command-line printer, given the same page, writes the folder's address.
    print_pdf(shared / "brief.html", run_dir / "cli.pdf", chromium=chromium_path())
    assert f"file://{shared}/coverage_map.html".encode() in (run_dir / "cli.pdf").read_bytes()


def browsers(root: psutil.Process) -> list[psutil.Process]:
    """Chromium's browser processes under ``root`` (not its renderers, GPU or zygotes)."""
    found = []
    for child in root.children(recursive=True):
        try:
            line = child.cmdline()
        except psutil.Error:
            continue
        if line and Path(line[0]).name.startswith("chrom") and not any(
                a.startswith("--type=") for a in line):
            found.append(child)
    return found


def print_in_worker(printer, html: str, pdf: str) -> int:
    printer.print_pdf(Path(html), Path(pdf))
    return os.getpid()


def test_a_batch_prints_from_many_processes_with_one_browser(run_dir):
    from concurrent.futures import ProcessPoolExecutor

    from protection_eval.runs.batch import _BatchManager, _worker_context

    context = _worker_context()
    html = run_dir / "shared" / "brief.html"
    with _BatchManager(ctx=context) as manager:
        printer = manager.PdfPrinter()
        printer.start()
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            jobs = [pool.submit(print_in_worker, printer, str(html), str(run_dir / f"{i}.pdf"))
                    for i in range(4)]
            workers = {job.result() for job in jobs}
        running = browsers(psutil.Process())
        printer.close()
    assert len(workers) == 2
    assert len(running) == 1
    first = without_print_times(run_dir / "0.pdf")
    assert all(without_print_times(run_dir / f"{i}.pdf") == first for i in range(1, 4))
