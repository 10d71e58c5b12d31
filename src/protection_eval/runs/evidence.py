"""Evidence files: reading every run's shared effects, writing the evidence synthesis.

The pooling itself (:mod:`protection_eval.inventory.evidence`) takes frames; this module finds
the runs' ``effects.csv`` files under the reports root and writes ``evidence.csv`` and
``evidence.html`` at its top.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from protection_eval.inventory.evidence import (
    EvidenceProblem,
    EvidenceSynthesis,
    combine_effects_tables,
    compute_evidence,
)
from protection_eval.inventory.evidence_report import to_evidence_html
from protection_eval.inventory.strategies import StrategyCatalogue
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.io.writers import write_table, write_text
from protection_eval.model import RawTable
from protection_eval.runs.layout import REPORT_FILES, SHARED_FILES, reports_root

__all__ = ["compute_run_evidence", "load_effects", "load_run_effects", "write_evidence"]


def _read_shared_tables(reports_dir: str | Path, name: str) -> dict[str, RawTable]:
    """Return :func:`protection_eval.runs.outputs.read_shared_tables`.

    Imported when called: the outputs module brings the shared forms and their map library,
    which the run's cross-mission report does not use.
    """
    from protection_eval.runs.outputs import read_shared_tables

    return read_shared_tables(reports_dir, name)


def load_effects(reports_dir: str | Path) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Read every run's shared ``effects.csv`` under ``reports_dir``.

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder; files are found at ``<mission>/latest/shared/effects.csv``.

    Returns
    -------
    effects, problems
        As :func:`protection_eval.inventory.evidence.combine_effects_tables`.
    """
    raws = _read_shared_tables(reports_dir, SHARED_FILES["effects"])
    return combine_effects_tables(list(raws.items()))


def load_run_effects(
    reports_dir: str | Path | None,
    mission: str,
    shared_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Effects of every mission's latest run, with this run's own table for ``mission``.

    A notebook runs before its run becomes ``latest``; this puts the current run's
    ``shared_dir/effects.csv`` (when it exists) in place of the mission's previous one.

    Parameters
    ----------
    reports_dir : str or Path or None
        The reports folder; default the folder two levels above ``run_dir``
        (``reports/<mission>/<run>``), else the project's ``reports/``.
    mission : str
        The mission of the current run.
    shared_dir : str or Path, optional
        The current run's shared folder.
    run_dir : str or Path, optional
        The current run's folder.

    Returns
    -------
    effects, problems
        As :func:`load_effects`.
    """
    if reports_dir is None:
        reports_dir = (
            Path(run_dir).resolve().parents[1] if run_dir else reports_root()
        )
    raws = [
        (name, raw)
        for name, raw in _read_shared_tables(reports_dir, SHARED_FILES["effects"]).items()
        if name != mission
    ]
    problems: list[EvidenceProblem] = []
    current = Path(shared_dir) / SHARED_FILES["effects"] if shared_dir else None
    if current is not None and current.exists():
        try:
            raws.append((mission, read_raw_table("effects", current)))
        except InputFileError as exc:
            problems.append(EvidenceProblem(str(current), None, "-", str(exc)))
    effects, more = combine_effects_tables(raws)
    return effects, problems + more


def compute_run_evidence(
    mission: str,
    strategies: StrategyCatalogue | None = None,
    *,
    shared_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
    reports_dir: str | Path | None = None,
) -> EvidenceSynthesis:
    """Evidence as a mission run sees it: other missions' latest runs plus this run.

    Parameters
    ----------
    mission : str
        The mission of the current run.
    strategies : StrategyCatalogue, optional
        Catalogue to join.
    shared_dir, run_dir, reports_dir : str or Path, optional
        See :func:`load_run_effects`.

    Returns
    -------
    EvidenceSynthesis
        With the files that could not be used among its ``problems``.
    """
    effects, problems = load_run_effects(reports_dir, mission, shared_dir, run_dir)
    synthesis = compute_evidence(effects, strategies)
    synthesis.problems[:0] = problems
    return synthesis


def write_evidence(
    reports_dir: str | Path, strategies: StrategyCatalogue | None = None
) -> tuple[EvidenceSynthesis, Path, Path]:
    """Read all runs' effects, synthesise, and write ``evidence.csv`` and ``evidence.html``.

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder; outputs are written at its top.
    strategies : StrategyCatalogue, optional
        Catalogue to join; default none (ids only).

    Returns
    -------
    synthesis : EvidenceSynthesis
    csv_path, html_path : Path
    """
    effects, problems = load_effects(reports_dir)
    synthesis = compute_evidence(effects, strategies)
    synthesis.problems[:0] = problems
    reports_dir = Path(reports_dir)
    csv_path = write_table(synthesis.to_frame(), reports_dir / REPORT_FILES["evidence_csv"])
    html_path = write_text(to_evidence_html(synthesis),
                           reports_dir / REPORT_FILES["evidence_html"])
    return synthesis, csv_path, html_path
