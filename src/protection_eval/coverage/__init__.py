"""Coverage: were patrols there, and when, where sexual violence was reported.

The face of coverage: what a notebook or an evaluator calls. :func:`compute_mission_coverage`
gives a mission's per-incident coverage, area x month measures and gaps in one result; the
steps are callable on their own frames (the coverage models of the registry, per-incident
coverage, area measures and the one definition of patrol-hours, ranked gaps). Frames in, result
objects out; nothing here reads or writes a file. Rules and models: ``docs/coverage.md``. The
names are imported on first use, so ``import protection_eval.coverage`` costs nothing until a
computation is asked for.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "areas": [
            "compute_area_measures",
            "compute_footprints",
            "compute_patrol_hours",
            "split_hours_by_period",
        ],
        "figures": ["monthly_coverage", "plot_coverage_overview"],
        "gaps": ["compute_gaps", "rank_gaps", "summarise_gaps"],
        "mission": [
            "CoverageResult",
            "PreparedCoverage",
            "compute_incident_coverage",
            "compute_mission_coverage",
            "compute_mission_patrol_hours",
            "prepare_coverage",
            "to_coverage_params",
        ],
        "models": [
            "CoverageModel",
            "CoverageParams",
            "choose_coverage_model",
            "register_coverage_model",
        ],
        "points": ["cover_incidents"],
    },
)
