"""The strategy inventory and the evidence about each strategy.

The face of the inventory: the sourced catalogue of protection strategies
(:func:`load_catalogue`, its filters and checks), its charts, and the evidence across missions
(the effects runs estimate, joined to the strategies and pooled with a random-effects model;
forest plots and the evidence page). Frames in, result objects out; the files are read and
written by :mod:`protection_eval.runs`. Format and rules: ``docs/strategies.md``. The names
are imported on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "charts": ["make_catalogue_chart", "make_deployment_timeline", "to_deployment_summary"],
        "evidence": [
            "EvidenceSynthesis",
            "PooledEffect",
            "combine_effects_tables",
            "compute_evidence",
            "estimate_pooled_effect",
            "select_deployment_effects",
        ],
        "evidence_report": ["make_forest_panel", "make_forest_plot", "to_evidence_html"],
        "pooling": ["RandomEffectsPool", "estimate_random_effects", "estimate_tau2"],
        "strategies": [
            "CatalogueError",
            "Source",
            "Strategy",
            "StrategyCatalogue",
            "default_catalogue_path",
            "load_catalogue",
            "to_strategy_table",
            "to_target_location_types",
            "validate_catalogue",
        ],
    },
)
