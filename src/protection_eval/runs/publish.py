"""The gate before anything is shared: build in staging, audit, publish only on a clean audit.

Every code path that writes a ``shared/`` folder (a run, the ``coverage`` and ``effects``
commands, anything added later) goes through :func:`publish_shared`. It hands the builder an
empty staging folder, audits what the builder wrote against the mission, and only then moves it
into place. When the audit finds something, nothing appears in ``shared/``: the staged files go
to ``restricted/shared_rejected/`` and the finding values to ``restricted/audit_findings.csv``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from protection_eval.ingest.tables import MissionData
from protection_eval.io.readers import read_mission_sources
from protection_eval.runs.missions import load_mission
from protection_eval.sharing.audit.folder import AuditResult, audit_mission_folder

__all__ = ["PublishResult", "audit_folder", "publish_shared"]


def audit_folder(path: str | Path, mission: str | Path | MissionData | None = None) -> AuditResult:
    """Audit a shared folder, against a mission when one is given.

    Parameters
    ----------
    path : str or Path
        The folder (or one file) to audit.
    mission : str, Path or MissionData, optional
        The mission YAML or the mission already loaded; its sources are read again for the raw
        coordinates and identifying values that ingestion dropped.

    Returns
    -------
    AuditResult
        The findings.
    """
    if mission is None:
        return audit_mission_folder(path)
    data = mission if isinstance(mission, MissionData) else load_mission(mission)
    raw = {name: table.frame for name, table in read_mission_sources(data.config).items()}
    return audit_mission_folder(path, data, raw)


@dataclass(frozen=True)
class PublishResult:
    """What the gate did.

    Attributes
    ----------
    published : bool
        True when the audit was clean and ``shared`` now holds the files.
    shared : Path
        The shared folder (empty or absent when not published).
    audit : AuditResult
        The audit of the staged files.
    rejected : Path or None
        Where the staged files went when the audit failed (restricted).
    """

    published: bool
    shared: Path
    audit: AuditResult
    rejected: Path | None = None


def publish_shared(
    build: Callable[[Path], object],
    shared: str | Path,
    restricted: str | Path,
    mission: MissionData,
) -> PublishResult:
    """Build shared files in staging, audit them against the mission, publish on a clean audit.

    Parameters
    ----------
    build : callable
        Called with an empty staging folder; writes the shared files there.
    shared : str or Path
        The destination ``shared/`` folder; replaced as a whole on success.
    restricted : str or Path
        The restricted folder beside it: rejected files and finding values go there.
    mission : MissionData
        The mission the files were made from.

    Returns
    -------
    PublishResult
        Published or not, with the audit.
    """
    from protection_eval.runs.audit_record import reject_shared

    shared, restricted = Path(shared), Path(restricted)
    staging = shared.with_name(f".{shared.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        build(staging)
        audit = audit_folder(staging, mission)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not audit.ok:
        rejected = reject_shared(staging, restricted, audit)
        return PublishResult(False, shared, audit, rejected)
    shutil.rmtree(shared, ignore_errors=True)
    staging.rename(shared)
    return PublishResult(True, shared, audit)
