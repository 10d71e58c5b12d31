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
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from protection_eval.io.writers import file_sha256
from protection_eval.runs.layout import SHARED_FILES, gate_key_path
from protection_eval.sharing.audit.seal import load_gate_key, seal_record

__all__ = ["CHROMIUM_FLAGS", "chromium_path", "print_pdf", "print_shared_pdfs"]

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


def chromium_path() -> Path | None:
    """Return the Chromium to print with: ``$PROTECTION_EVAL_CHROMIUM``, else one on PATH."""
    configured = os.environ.get(ENV_CHROMIUM)
    if configured:
        return Path(configured) if Path(configured).exists() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def print_pdf(html: Path, pdf: Path, *, chromium: Path, timeout_s: float = 120.0) -> None:
    """Print one HTML file to PDF with headless Chromium (A4 from the page's ``@page`` CSS).

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


def print_shared_pdfs(shared: str | Path) -> dict[str, Any]:
    """Print the published, audited brief as ``brief.pdf`` and say what was printed from what.

    Parameters
    ----------
    shared : str or Path
        A shared folder that the gate has published (never a staging folder).

    Returns
    -------
    dict
        For the manifest's ``shared_pdfs``: ``{"brief.pdf": {"sha256", "source",
        "source_sha256", "seal"}}`` when printed; ``{}`` with a ``"note"`` when Chromium is
        missing, the brief is absent, the gate's key cannot be made (the audit would not
        trust the record) or printing failed (the run does not fail for a missing PDF).
    """
    shared = Path(shared)
    html, pdf = shared / SHARED_FILES["brief"], shared / SHARED_FILES["brief_pdf"]
    if not html.exists():
        return {"note": "no brief.html in the shared folder: no PDF printed"}
    chromium = chromium_path()
    if chromium is None:
        return {"note": "chromium is not installed: no PDF printed"}
    key = load_gate_key(gate_key_path(), create=True)
    if key is None:
        return {"note": f"the gate's key {gate_key_path()} cannot be made: no PDF printed"}
    source_sha = file_sha256(html)
    try:
        print_pdf(html, pdf, chromium=chromium)
    except RuntimeError as exc:
        return {"note": str(exc)}
    if file_sha256(html) != source_sha:  # the page changed while printing: do not vouch
        pdf.unlink(missing_ok=True)
        return {"note": "brief.html changed while it was printed: no PDF kept"}
    record = {"sha256": file_sha256(pdf), "source": html.name, "source_sha256": source_sha}
    return {pdf.name: seal_record({"file": pdf.name, **record}, key)}
