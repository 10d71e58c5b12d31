"""What may leave the evaluation team: aggregates, suppressed below k, offline, audited.

The face of ``sharing``: disclosure control (k, suppression and complementary suppression), the
shared form of every table and map layer (the one place a privacy reviewer reads), the maps,
self-contained offline HTML and the commander's brief. The audit of a shared folder is
:mod:`protection_eval.sharing.audit`. Rules: ``docs/privacy.md``, ``docs/maps.md``. The names
are imported on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "brief": ["BriefInputs", "describe_reporting", "render_brief"],
        "disclosure": [
            "DisclosureError",
            "SharedTable",
            "adaptive_cells",
            "aggregate_counts",
            "check_k",
            "k_from_config",
            "month_floor",
            "suppress_counts",
        ],
        "forms": [
            "to_effects_table",
            "to_shared_coverage_gaps",
            "to_shared_coverage_map",
            "to_shared_coverage_summary",
            "to_shared_gaps",
            "to_shared_plan",
            "to_shared_plan_map",
            "to_shared_svg_map",
            "to_shared_units",
        ],
        "i18n": ["Language", "get_language"],
        "maps": [
            "CoverageMap",
            "CoverageSubject",
            "MapStyle",
            "make_coverage_map",
            "make_plan_map",
            "make_restricted_coverage_map",
        ],
        "offline": ["OfflineError", "find_external_requests", "to_offline_html"],
        "svgmap": ["to_svg_map"],
    },
)
