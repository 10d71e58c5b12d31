"""Where a run's files are: the reports root, a run's folders and every file name a run writes.

The one owner of paths and file names. Nothing else in the library spells ``effects.csv`` or
``restricted``; writers, readers, the brief, the index and the notebooks ask here.

Roots never come from where the package is installed:

- the reports root is the ``--reports`` option, else ``$PROTECTION_EVAL_REPORTS``, else
  ``reports/`` in the working directory;
- mission configurations are found in ``--missions``, else ``$PROTECTION_EVAL_MISSIONS``, else
  ``data/missions/`` in the working directory;
- the notebooks are ``$PROTECTION_EVAL_NOTEBOOKS`` when set, else the ones installed with the
  package (in a source checkout, the repository's ``notebooks/``);
- the gate's key, which seals what the gate records beside a shared folder
  (:mod:`protection_eval.sharing.audit.seal`), is ``$PROTECTION_EVAL_GATE_KEY`` when set, else
  ``protection-eval/gate.key`` in the user's configuration folder (``$XDG_CONFIG_HOME`` or
  ``~/.config``): never inside the reports root, where shared folders are made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from protection_eval.io.bundled import bundled_path

__all__ = [
    "ENV_GATE_KEY",
    "ENV_MISSIONS",
    "ENV_NOTEBOOKS",
    "ENV_REPORTS",
    "LATEST",
    "MANIFEST",
    "MISSION_FILES",
    "REPORT_FILES",
    "RESTRICTED",
    "RESTRICTED_FILES",
    "SHARED",
    "SHARED_FILES",
    "SHARED_REJECTED",
    "STAGING_PREFIX",
    "RunPaths",
    "gate_key_path",
    "latest_shared_dir",
    "mission_config_paths",
    "mission_file",
    "missions_dir",
    "plan_dir",
    "stored_plan_files",
    "notebook_paths",
    "notebooks_dir",
    "reports_root",
]

ENV_REPORTS = "PROTECTION_EVAL_REPORTS"
ENV_MISSIONS = "PROTECTION_EVAL_MISSIONS"
ENV_NOTEBOOKS = "PROTECTION_EVAL_NOTEBOOKS"
ENV_GATE_KEY = "PROTECTION_EVAL_GATE_KEY"

#: A run's folder for the evaluation team only (row-level data, executed notebooks).
RESTRICTED = "restricted"
#: A run's folder of audited aggregates, the only part that may leave the team.
SHARED = "shared"
#: Link in a mission's folder to its newest successful run.
LATEST = "latest"
#: A run's record: status, timings, versions, inputs and their sha256.
MANIFEST = "manifest.json"
#: Where a failed run's shared part goes, inside ``restricted/``: a failed run shares nothing.
SHARED_REJECTED = "shared_rejected"
#: Prefix of a run's folder while it is being built (removed or renamed at the end).
STAGING_PREFIX = ".staging-"

#: Files of a run's shared part, by role.
SHARED_FILES: dict[str, str] = {
    "coverage": "coverage_summary.json",
    "effects": "effects.csv",
    "gaps": "gaps.csv",
    "map": "coverage_map.html",
    "map_svg": "coverage_map.svg",
    "brief": "brief.html",
    "indicators": "indicators.csv",
    "indicators_xlsx": "indicators.xlsx",
    # The 1325 trajectories' chart, when a personnel file gives trajectories.
    "indicators_chart": "indicators_trajectory.svg",
    "brief_pdf": "brief.pdf",
    # A month's patrol plan (the plan command, notebook 07_plan): no count of reports.
    "plan": "plan.csv",
    "plan_map": "plan_map.html",
    "evaluation_design": "evaluation_design.json",
}

#: Files of a run's restricted part, by role.
RESTRICTED_FILES: dict[str, str] = {
    "config": "mission.yaml",
    "validation": "validation.json",
    "rejected": "rejected",
    "audit_findings": "audit_findings.csv",
    "coverage_summary": "coverage_summary.json",
    "incident_coverage": "incident_coverage.csv",
    "incident_coverage_table": "incident_coverage.parquet",
    "coverage_areas": "coverage_areas.csv",
    "coverage_areas_table": "coverage_areas.parquet",
    "coverage_gpkg": "coverage.gpkg",
    "effects_full": "effects_full.csv",
    "panel": "panel.csv",
    "mission_cache": "mission_cache",
    # A month's patrol plan: expected reports per hexagon, the backtest, the whole plan and
    # the randomised units' assignments (what a later run evaluates).
    "risk": "risk.parquet",
    "backtest": "backtest.json",
    "plan_units": "plan_units.parquet",
    "plan_assignments": "plan_assignments.parquet",
}

#: Files of a mission's folder (``<reports>/<mission>/``, beside its runs), by role. Restricted:
#: never inside a run's shared part.
MISSION_FILES: dict[str, str] = {
    # Every margin the mission has published, checked before each new publication.
    "ledger": "ledger.jsonl",
    # The plans the mission adopted, one folder per month (plans/<YYYY-MM>/shared and
    # restricted), written by the plan command; every later run evaluates the months that
    # have passed (notebook 07_plan).
    "plans": "plans",
}

#: Files at the top of the reports root, by role.
REPORT_FILES: dict[str, str] = {
    "index": "index.html",
    "evidence_csv": "evidence.csv",
    "evidence_html": "evidence.html",
}


def reports_root(explicit: str | Path | None = None) -> Path:
    """Return the reports root: ``explicit``, else ``$PROTECTION_EVAL_REPORTS``, else ``./reports``.

    Parameters
    ----------
    explicit : str or Path, optional
        A folder given on the command line or by a caller.

    Returns
    -------
    Path
        The folder (not created here).
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_REPORTS)
    return Path(env) if env else Path.cwd() / "reports"


def gate_key_path() -> Path:
    """Return the gate's key file: ``$PROTECTION_EVAL_GATE_KEY``, else the user's config folder.

    Returns
    -------
    Path
        ``$PROTECTION_EVAL_GATE_KEY`` when set, else ``$XDG_CONFIG_HOME/protection-eval/gate.key``
        (``~/.config/...`` without ``XDG_CONFIG_HOME``). Not created here.
    """
    env = os.environ.get(ENV_GATE_KEY)
    if env:
        return Path(env)
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "protection-eval" / "gate.key"


def missions_dir(explicit: str | Path | None = None) -> Path:
    """Return the folder of mission YAML files.

    ``explicit`` (``--missions``), else ``$PROTECTION_EVAL_MISSIONS``, else ``./data/missions``.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_MISSIONS)
    return Path(env) if env else Path.cwd() / "data" / "missions"


def notebooks_dir() -> Path:
    """Return the folder of the jupytext notebooks (``$PROTECTION_EVAL_NOTEBOOKS`` or bundled)."""
    env = os.environ.get(ENV_NOTEBOOKS)
    return Path(env) if env else bundled_path("notebooks")


def mission_config_paths(folder: str | Path | None = None) -> list[Path]:
    """Return every mission YAML in ``folder`` (default :func:`missions_dir`), sorted."""
    folder = missions_dir(folder)
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def notebook_paths(folder: str | Path | None = None) -> list[Path]:
    """Return the jupytext notebooks in reading order (default :func:`notebooks_dir`)."""
    folder = Path(folder) if folder else notebooks_dir()
    return sorted(p for p in folder.glob("[0-9]*.py"))


def mission_file(mission_dir: str | Path, role: str) -> Path:
    """Return the path of a mission-level file by role (see :data:`MISSION_FILES`)."""
    return Path(mission_dir) / MISSION_FILES[role]


def plan_dir(mission_dir: str | Path, month: str) -> Path:
    """Return ``<mission>/plans/<YYYY-MM>``: where the plan the mission adopted for a month is."""
    return mission_file(mission_dir, "plans") / str(month)


def stored_plan_files(mission_dir: str | Path) -> list[Path]:
    """Return the randomised assignments of every plan stored for a mission, by month."""
    folder = mission_file(mission_dir, "plans")
    name = RESTRICTED_FILES["plan_assignments"]
    return sorted(folder.glob(f"[0-9][0-9][0-9][0-9]-[0-9][0-9]/{RESTRICTED}/{name}"))


def latest_shared_dir(reports: str | Path, mission: str) -> Path:
    """Return ``<reports>/<mission>/latest/shared``: the shared part of the newest ok run."""
    return Path(reports) / mission / LATEST / SHARED


@dataclass(frozen=True)
class RunPaths:
    """The folders and files of one run.

    Attributes
    ----------
    run_dir : Path
        ``<reports>/<mission>/<run_id>`` (or its staging folder while the run is built).
    """

    run_dir: Path

    @property
    def restricted(self) -> Path:
        """The restricted folder."""
        return self.run_dir / RESTRICTED

    @property
    def shared(self) -> Path:
        """The shared folder."""
        return self.run_dir / SHARED

    @property
    def manifest(self) -> Path:
        """The run's manifest."""
        return self.run_dir / MANIFEST

    def shared_file(self, role: str) -> Path:
        """Return the path of a shared file by role (see :data:`SHARED_FILES`)."""
        return self.shared / SHARED_FILES[role]

    def restricted_file(self, role: str) -> Path:
        """Return the path of a restricted file by role (see :data:`RESTRICTED_FILES`)."""
        return self.restricted / RESTRICTED_FILES[role]
