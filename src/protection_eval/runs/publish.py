"""The gate before anything is shared: build in staging, audit, publish only on a clean audit.

Every code path that writes a ``shared/`` folder goes through :func:`publish_shared`: a run's
notebooks (:mod:`protection_eval.runs.runner`), the ``coverage`` and ``effects`` commands, and
anything added later. It hands the builder an empty staging folder, audits what the builder wrote
against the mission, and only then moves it into place. When the build fails or the audit finds
something, nothing appears in ``shared/``: the staged files go to ``restricted/shared_rejected/``
and the finding values only to ``restricted/audit_findings.csv``. Messages, manifests, the index
and standard output say what kind of finding it was and where, never its value
(:func:`describe_findings`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from protection_eval.ingest.tables import MissionData
from protection_eval.io.readers import read_mission_sources
from protection_eval.io.writers import write_table
from protection_eval.runs import ledger as ledger_lib
from protection_eval.runs.layout import (
    RESTRICTED,
    RESTRICTED_FILES,
    SHARED_REJECTED,
    gate_key_path,
)
from protection_eval.runs.missions import load_map_context, load_mission
from protection_eval.runs.pdf import chromium_path
from protection_eval.sharing.audit.differencing import DerivationCapReached, Margin
from protection_eval.sharing.audit.folder import AuditResult, RawNeedles, audit_mission_folder
from protection_eval.sharing.audit.margins import read_published_margins
from protection_eval.sharing.audit.office import reading_workbooks_once
from protection_eval.sharing.audit.seal import load_gate_key
from protection_eval.sharing.context import MapContext
from protection_eval.sharing.disclosure import k_from_config

__all__ = [
    "PublishResult",
    "audit_folder",
    "describe_findings",
    "publish_shared",
    "reject_shared",
]


def audit_folder(
    path: str | Path,
    mission: str | Path | MissionData | None = None,
    *,
    needles: RawNeedles | None = None,
) -> AuditResult:
    """Audit a shared folder, against a mission when one is given.

    Parameters
    ----------
    path : str or Path
        The folder (or one file) to audit.
    mission : str, Path or MissionData, optional
        The mission YAML or the mission already loaded; unless ``needles`` are given, its
        sources are read again for the raw coordinates and identifying values that ingestion
        dropped.
    needles : RawNeedles, optional
        Those raw coordinates and identifying values, taken when the mission was read
        (:func:`protection_eval.runs.missions.load_mission_for_audit`).

    The gate's key (:func:`protection_eval.runs.layout.gate_key_path`) is read, never made,
    so that records the gate sealed beside the folder (the PDF it printed) are trusted and
    no others; every page is opened in Chromium (:func:`protection_eval.runs.pdf.chromium_path`)
    with the network cut, and where Chromium is missing the result says the browser check
    did not run.

    Returns
    -------
    AuditResult
        The findings.
    """
    trusted = {"gate_key": load_gate_key(gate_key_path()), "chromium": chromium_path()}
    if mission is None:
        return audit_mission_folder(path, **trusted)
    data = mission if isinstance(mission, MissionData) else load_mission(mission)
    context = _map_context(data)
    if needles is not None:
        return audit_mission_folder(path, data, needles=needles, context=context, **trusted)
    raw = {name: table.frame for name, table in read_mission_sources(data.config).items()}
    return audit_mission_folder(path, data, raw, context=context, **trusted)


def _map_context(mission: MissionData) -> MapContext | None:
    """Return the mission's map context (reference layers, basemap), when it names one."""
    sharing = mission.config.sharing
    if (not sharing.context_layers and sharing.basemap is None) or mission.areas is None \
            or not len(mission.areas):
        return None
    return load_map_context(mission.config, mission.areas.total_bounds)


def describe_findings(findings: pd.DataFrame) -> list[dict[str, str]]:
    """Return each audit finding as its kind and place only, never its value.

    What a finding points at (an incident id, an exact date) stays in
    ``restricted/audit_findings.csv``. Since a file name or a place in a file (a JSON key) can
    itself hold such a value, every finding's value of four characters or more is blanked out
    of ``file`` and ``where`` as ``[value]``.

    Parameters
    ----------
    findings : pandas.DataFrame
        :meth:`protection_eval.sharing.audit.folder.AuditResult.to_frame`.

    Returns
    -------
    list of dict
        ``{"kind", "file", "where"}`` per finding, in the audit's order.
    """
    values = sorted({str(v) for v in findings["what"] if len(str(v)) >= 4}, key=len,
                    reverse=True)
    pattern = re.compile("|".join(map(re.escape, values)), re.IGNORECASE) if values else None

    def blank(text: Any) -> str:
        return pattern.sub("[value]", str(text)) if pattern else str(text)

    return [{"kind": str(row.kind), "file": blank(row.file), "where": blank(row.where)}
            for row in findings.itertuples()]


def _count_kinds(places: Sequence[dict[str, str]]) -> str:
    counts: dict[str, int] = {}
    for place in places:
        counts[place["kind"]] = counts.get(place["kind"], 0) + 1
    return ", ".join(f"{kind}: {n}" for kind, n in counts.items())


def reject_shared(staged: str | Path, restricted: str | Path) -> str | None:
    """Move staged shared files under ``restricted/shared_rejected/``; return where, if anywhere.

    An empty folder is simply removed. Nothing of it stays where a ``shared/`` folder would be.
    """
    staged, restricted = Path(staged), Path(restricted)
    if not staged.exists():
        return None
    if not any(staged.iterdir()):
        staged.rmdir()
        return None
    target = restricted / SHARED_REJECTED
    shutil.rmtree(target, ignore_errors=True)
    restricted.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    return f"{RESTRICTED}/{SHARED_REJECTED}"


@dataclass(frozen=True)
class PublishResult:
    """What the gate did.

    Attributes
    ----------
    published : bool
        True when the audit was clean and ``shared`` now holds the files.
    shared : Path
        The shared folder (absent when not published).
    audit : AuditResult
        The audit of the staged files.
    rejected : str or None
        Where the staged files went when the audit failed (inside ``restricted/``).
    places : list of dict
        Each finding's kind and place, never its value (:func:`describe_findings`).
    """

    published: bool
    shared: Path
    audit: AuditResult
    rejected: str | None = None
    places: list[dict[str, str]] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line for a person: what was published, or what kind of finding stopped it."""
        if self.published:
            browser = "" if self.audit.browser_ran else f"; {self.audit.browser}"
            return (f"published {self.shared} (audit: {len(self.audit.files)} files, no "
                    f"finding{browser})")
        places = "; ".join(f"{p['kind']} in {p['file']} [{p['where']}]" for p in self.places[:3])
        # Kinds and places first: a batch summary shows only the first 160 characters.
        return (
            f"the disclosure audit found {len(self.places)} problem(s) "
            f"({_count_kinds(self.places)}) in the shared part: {places}; the shared part was "
            f"moved to {self.rejected} and the values are only in "
            f"{RESTRICTED}/{RESTRICTED_FILES['audit_findings']}"
        )


def _mission_period(mission: MissionData, period: str | None) -> str:
    if period:
        return period
    window = mission.config.period
    return f"{window.start:%Y-%m}..{window.end:%Y-%m}"


def _check_ledger(
    staged: Path, audit: AuditResult, mission: MissionData, ledger: Path, period: str | None
) -> tuple[AuditResult, list[Margin]]:
    """Read the staged margins; return the audit with the ledger's findings, and the margins.

    A staged file whose counts the ledger cannot read, a count from 1 to k-1 given back by
    subtraction, and a ledger too long to combine in full are each a finding: the run is
    refused rather than published unchecked.
    """
    published = read_published_margins(staged, _mission_period(mission, period),
                                       mission=mission.config.mission)
    findings = ledger_lib.unread_findings(published.unread)
    try:
        recovered = ledger_lib.check_ledger(published.margins, ledger,
                                            k_from_config(mission.config))
        findings += ledger_lib.ledger_findings(recovered)
    except DerivationCapReached as exc:
        findings += ledger_lib.cap_findings(exc, published.margins)
    if findings:
        audit = AuditResult(audit.folder, audit.files, findings)
    return audit, published.margins


def publish_shared(
    build: Callable[[Path], object],
    shared: str | Path,
    restricted: str | Path,
    mission: MissionData,
    *,
    ledger: str | Path | None = None,
    period: str | None = None,
    run: str | None = None,
    ledger_wait: float = ledger_lib.LEDGER_WAIT_S,
    needles: RawNeedles | None = None,
) -> PublishResult:
    """Build shared files in staging, audit them against the mission, publish on a clean audit.

    Parameters
    ----------
    build : callable
        Called with an empty staging folder; writes the shared files there. When it raises,
        the staged files are rejected (moved under ``restricted/``) and the error goes on.
    shared : str or Path
        The destination ``shared/`` folder; replaced as a whole on success.
    restricted : str or Path
        The restricted folder beside it: rejected files and finding values go there.
    mission : MissionData
        The mission the files were made from.
    ledger : str or Path, optional
        The mission's ledger of published margins (:mod:`protection_eval.runs.ledger`). When
        given, a clean audit is followed by a check that the staged totals, beside those the
        mission already published, give no count from 1 to k-1 by subtraction: when they do,
        nothing is published (findings of kind ``differencing``); when the publication goes
        through, its margins are recorded.
    period : str, optional
        The months the staged files describe (``2023-01..2023-06``), for files that do not say
        (``effects.csv``); default the mission's period.
    run : str, optional
        The run recorded in the ledger (default: the name of the folder holding ``shared``).
    ledger_wait : float
        Seconds to wait while another run of the mission holds the ledger
        (:func:`protection_eval.runs.ledger.hold_ledger`); then
        :class:`~protection_eval.runs.ledger.LedgerBusy` is raised and nothing is published.
    needles : RawNeedles, optional
        What the audit searches for from the mission's sources as read, when taken already;
        otherwise the sources are read again (see :func:`audit_folder`).

    Returns
    -------
    PublishResult
        Published or not, with the audit and, when not, the findings' kinds and places.

    Raises
    ------
    LedgerBusy
        When another run of the mission held the ledger for longer than ``ledger_wait``; the
        staged files are rejected as when the build fails.
    """
    shared, restricted = Path(shared), Path(restricted)
    staged = shared.with_name(f".{shared.name}.staging")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        build(staged)
    except BaseException:
        reject_shared(staged, restricted)
        raise
    # The audit, its differencing check and the ledger each read the staged workbooks.
    with reading_workbooks_once():
        try:
            audit = audit_folder(staged, mission, needles=needles)
        except BaseException:
            reject_shared(staged, restricted)
            raise
        if ledger is None:
            return _publish(staged, shared, restricted, audit)
        # Check, publish and record as one step, so that a run of the same mission publishing at
        # the same time is checked against this one's totals, not against a ledger without them.
        try:
            with ledger_lib.hold_ledger(ledger, ledger_wait):
                margins: list[Margin] = []
                if audit.ok:
                    audit, margins = _check_ledger(staged, audit, mission, Path(ledger), period)
                outcome = _publish(staged, shared, restricted, audit)
                if outcome.published:
                    ledger_lib.record_margins(margins, ledger, run or shared.parent.name)
        except BaseException:
            if staged.exists():
                reject_shared(staged, restricted)
            raise
        return outcome


def _publish(staged: Path, shared: Path, restricted: Path, audit: AuditResult) -> PublishResult:
    """Move a cleanly audited staging folder into place; reject it otherwise."""
    if not audit.ok:
        findings = audit.to_frame()
        write_table(findings, restricted / RESTRICTED_FILES["audit_findings"])
        rejected = reject_shared(staged, restricted)
        return PublishResult(False, shared, audit, rejected, describe_findings(findings))
    shutil.rmtree(shared, ignore_errors=True)
    os.replace(staged, shared)
    return PublishResult(True, shared, audit)
