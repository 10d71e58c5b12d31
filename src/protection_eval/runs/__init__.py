"""Runs: a mission's files on disk, its notebooks executed, and the gate before sharing.

The face of ``runs``: loading a mission (:func:`load_mission`), where a run's files are
(:class:`RunPaths`, :data:`SHARED_FILES`, the reports root), the readers and writers of a run's
results, one mission's run and a batch of them, the gate that audits a shared folder before it is
published, and the evidence, indicator and plan files. Layout: ``docs/architecture.md``;
many missions: ``docs/scaling.md``. The names are imported on first use, so a command that only
needs the layout does not import the scientific stack.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "batch": ["BatchResult", "run_missions"],
        "evidence": ["compute_run_evidence", "load_effects", "write_evidence"],
        "indicators": ["load_personnel", "load_targets", "write_indicators"],
        "layout": [
            "RESTRICTED_FILES",
            "SHARED_FILES",
            "RunPaths",
            "latest_shared_dir",
            "mission_config_paths",
            "missions_dir",
            "notebooks_dir",
            "plan_dir",
            "reports_root",
        ],
        "missions": ["load_map_context", "load_mission"],
        "outputs": [
            "read_coverage_areas",
            "read_incident_coverage",
            "read_shared_outputs",
            "read_shared_tables",
            "shared_coverage_map",
            "write_coverage",
            "write_effects",
        ],
        "plausibility": ["PlausibilityCheck", "check_plausibility"],
        "plans": ["make_plan", "plan_for_run", "write_plan", "write_run_planning"],
        "publish": ["PublishResult", "audit_folder", "publish_shared"],
        "report_index": ["write_report_index"],
        "runner": ["RunFailed", "RunResult", "run_mission"],
    },
)
