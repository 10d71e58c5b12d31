"""brief.pdf: the audited brief printed by headless Chromium, after the gate published it.

The audit reads text, and a PDF is compressed binary, so it cannot vouch for one. The PDF is
therefore printed only from a page the audit has already passed: the runner calls
:func:`print_shared_pdfs` after :func:`protection_eval.runs.publish.publish_shared` published the
shared folder, on the published ``brief.html``, and records in the run's manifest
(``shared_pdfs``) the PDF's sha256 and the sha256 of the HTML it was printed from, sealed with
the gate's key (:mod:`protection_eval.sharing.audit.seal`). A later audit of the folder
(:func:`protection_eval.sharing.audit.folder.audit_shared_folder`) accepts a PDF only when the
seal verifies and both hashes still match, so a PDF that was not printed from the audited page,
a page changed since, or a record the gate did not write is reported as a file the audit cannot
read. Chromium prints with the
network off (no background networking, no component updates) and prints the page as a file;
where it is not installed, no PDF is made and the manifest says so.

One Chromium prints every brief of a batch (:class:`PdfPrinter`): it is started once, in the
background, and driven through playwright over a pipe (``--remote-debugging-pipe``: no
debugging port is opened), each page in a context of its own whose requests to anything but a
file or a ``data:`` URL are aborted. It prints with the settings of ``chromium --headless
--print-to-pdf`` (the page's ``@page`` size, backgrounds, a tagged PDF, no header or footer),
after turning the page's links to files beside it into plain text (:data:`UNLINK_LOCAL_FILES`:
the command-line printer would write the folder's absolute ``file://`` address into the PDF).
The PDF is the one the command-line printer makes of the page without those links, byte for
byte but for its time stamps and the node numbers of its tagged structure, which a browser kept
warm counts on from the pages it printed before (``tests/test_brief_pdf.py`` compares them). A
run outside a batch starts its own printer when its notebooks start and closes it at its end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from protection_eval.runs.layout import SHARED_FILES, gate_key_path
from protection_eval.sharing.audit.seal import load_gate_key, seal_record

__all__ = ["CHROMIUM_FLAGS", "UNLINK_LOCAL_FILES", "PdfPrinter", "chromium_path", "print_pdf",
           "print_shared_pdfs"]

#: Flags that keep a headless Chromium from contacting any server while it prints.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
)
ENV_CHROMIUM = "PROTECTION_EVAL_CHROMIUM"

#: Run in the page before it is printed: a link to a file beside the page (the brief's
#: ``coverage_map.html``) stops being a link, its text stays. Chromium would write it into the
#: PDF as the absolute ``file://`` address of the folder it printed in: a run's staging folder,
#: gone once the run is published, and a path of the evaluator's machine in a file meant for
#: commanders. Links to web addresses are left as they are.
UNLINK_LOCAL_FILES = """() => {
  for (const a of document.querySelectorAll("a[href]")) {
    if (new URL(a.getAttribute("href"), document.baseURI).protocol === "file:") {
      a.removeAttribute("href");
    }
  }
}"""


def chromium_path() -> Path | None:
    """Return the Chromium to print with: ``$PROTECTION_EVAL_CHROMIUM``, else one on PATH."""
    configured = os.environ.get(ENV_CHROMIUM)
    if configured:
        return Path(configured) if Path(configured).exists() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def print_pdf(html: Path, pdf: Path, *, chromium: Path, timeout_s: float = 120.0) -> None:
    """Print one HTML file to PDF with ``chromium --headless --print-to-pdf`` (one process).

    The reference for :class:`PdfPrinter`, which prints from a browser kept warm the PDF this
    gives of the page with its links to local files made plain text. Not used by runs: a link
    to a file beside ``html`` is written into this PDF as the folder's absolute address.

    Raises
    ------
    RuntimeError
        When Chromium fails or writes no file; the message says which page and why.
    """
    partial = pdf.with_name(f".{pdf.name}.partial")
    command = [str(chromium), *CHROMIUM_FLAGS, f"--print-to-pdf={partial}", html.as_uri()]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"{html.name}: chromium did not print within {timeout_s:g} s") from exc
    if done.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"{html.name}: chromium could not print it (exit {done.returncode})")
    os.replace(partial, pdf)


class PdfPrinter:
    """One headless Chromium, started once and kept for every page printed until closed.

    playwright's browser objects belong to the thread that made them, so the browser lives in
    a thread of its own and each call is handed to it: a printer may be shared by the threads
    of a process, and by a batch's worker processes through a multiprocessing manager
    (:func:`protection_eval.runs.batch.run_missions`).

    Parameters
    ----------
    chromium : Path, optional
        The browser (default :func:`chromium_path`).
    """

    def __init__(self, chromium: Path | None = None) -> None:
        self.chromium = chromium or chromium_path()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-printer")
        self._lock = threading.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._closed = False

    def __enter__(self) -> PdfPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def available(self) -> bool:
        """Return whether there is a Chromium to print with."""
        return self.chromium is not None

    def start(self) -> None:
        """Start the browser in the background, to be ready when the first page is.

        Calling it again, or printing before it has finished, is harmless: there is one browser.
        """
        if self.available():
            with self._lock:
                if not self._closed:
                    self._thread.submit(self._launch)

    def print_pdf(self, html: Path, pdf: Path, *, timeout_s: float = 120.0) -> None:
        """Print ``html`` to ``pdf`` (written beside it first, then moved into place).

        Raises
        ------
        RuntimeError
            When there is no Chromium, the browser cannot start or the page cannot be printed;
            the message says which page and why.
        """
        if not self.available():
            raise RuntimeError(f"{Path(html).name}: chromium is not installed")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{Path(html).name}: the printer was closed")
            job = self._thread.submit(self._print, Path(html), Path(pdf), timeout_s)
        job.result()

    def close(self) -> None:
        """Close the browser and its thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            closing = self._thread.submit(self._shutdown)
        closing.result()
        self._thread.shutdown(wait=True)

    def _launch(self) -> Any:
        if self._browser is None:
            try:
                from playwright.sync_api import Error, sync_playwright
            except ImportError:
                raise RuntimeError("playwright is not installed: pip install playwright") from None

            # playwright adds --headless and its pipe; the rest are the command line's flags.
            flags = [f for f in CHROMIUM_FLAGS if f != "--headless"]
            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(
                    executable_path=str(self.chromium), args=flags, headless=True)
            except Error as exc:
                self._shutdown()
                raise RuntimeError(f"chromium could not start: {exc.message}") from None
        return self._browser

    def _print(self, html: Path, pdf: Path, timeout_s: float) -> None:
        from playwright.sync_api import Error

        partial = pdf.with_name(f".{pdf.name}.partial")
        context = self._launch().new_context()
        try:
            # The network cut: the page may load itself and inline data, nothing else.
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url.startswith(("file://", "data:"))
                          else route.abort())
            page = context.new_page()
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
            page.evaluate(UNLINK_LOCAL_FILES)
            # What `chromium --headless --print-to-pdf --no-pdf-header-footer` asks for.
            page.pdf(path=str(partial), prefer_css_page_size=True, print_background=True,
                     tagged=True, display_header_footer=False)
        except Error as exc:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"{html.name}: chromium could not print it: {exc.message}"
                               ) from None
        finally:
            context.close()
        if not partial.exists() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"{html.name}: chromium printed no PDF")
        os.replace(partial, pdf)

    def _shutdown(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            if self._playwright is not None:
                self._playwright.stop()
                self._playwright = None


def print_shared_pdfs(shared: str | Path, printer: PdfPrinter | None = None) -> dict[str, Any]:
    """Print the published, audited brief as ``brief.pdf`` and say what was printed from what.

    Parameters
    ----------
    shared : str or Path
        A shared folder that the gate has published (never a staging folder).
    printer : PdfPrinter, optional
        The browser to print with (a batch's); default: one started for this call.

    Returns
    -------
    dict
        For the manifest's ``shared_pdfs``: ``{"brief.pdf": {"sha256", "source",
        "source_sha256", "seal"}}`` when printed; ``{}`` with a ``"note"`` when Chromium is
        missing, the brief is absent, the gate's key cannot be made (the audit would not
        trust the record) or printing failed (the run does not fail for a missing PDF).
    """
    from protection_eval.io.writers import file_sha256

    shared = Path(shared)
    html, pdf = shared / SHARED_FILES["brief"], shared / SHARED_FILES["brief_pdf"]
    if not html.exists():
        return {"note": "no brief.html in the shared folder: no PDF printed"}
    if printer is None:
        with PdfPrinter() as own:
            return print_shared_pdfs(shared, own)
    if not printer.available():
        return {"note": "chromium is not installed: no PDF printed"}
    key = load_gate_key(gate_key_path(), create=True)
    if key is None:
        return {"note": f"the gate's key {gate_key_path()} cannot be made: no PDF printed"}
    source_sha = file_sha256(html)
    try:
        printer.print_pdf(html, pdf)
    except RuntimeError as exc:
        return {"note": str(exc)}
    if file_sha256(html) != source_sha:  # the page changed while printing: do not vouch
        pdf.unlink(missing_ok=True)
        return {"note": "brief.html changed while it was printed: no PDF kept"}
    record = {"sha256": file_sha256(pdf), "source": html.name, "source_sha256": source_sha}
    return {pdf.name: seal_record({"file": pdf.name, **record}, key)}
