"""What each protection strategy and patrol presence changed in reported incidents.

The face of the effect estimates: what a notebook or an evaluator calls. Frames in, result
objects out (each with a ``to_frame()`` tidy view); nothing here reads or writes a file. A
mission's estimates come from :func:`estimate_mission`; each design is also callable on its own
frames (the area x period panel from :func:`compute_panel`, :func:`fit_count_model` on any
panel, the stacked design and event study, dose-response, the within-reach ratio, spill-over
rings, reporting diagnostics, capture-recapture). What notebook 03 shows of them: a table with
the columns a reader needs and each caveat once (:func:`to_reading_table`), and the headline
forest plot (:func:`plot_headline_forest`). Methods, simulations and caveats:
``docs/validity.md``. The names are imported on first use, so ``import protection_eval.effects``
costs nothing until an estimator is asked for.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "capture_recapture": [
            "CaptureEstimate",
            "UnderReporting",
            "compute_capture_histories",
            "estimate_chapman",
            "estimate_log_linear",
            "estimate_population",
            "estimate_under_reporting",
        ],
        "count_models": [
            "CountModelResult",
            "EffectEstimate",
            "compute_overdispersion_test",
            "compute_wald_test",
            "fit_count_model",
        ],
        "covariance": ["Covariance", "compute_covariance"],
        "design": ["compute_first_periods"],
        "displacement": ["DisplacementResult", "estimate_displacement", "to_net_change_table"],
        "dose_response": ["estimate_dose_response", "estimate_women_share_modification"],
        "event_study": [
            "EventStudyResult",
            "estimate_event_study",
            "estimate_stacked_effect",
            "make_stacked_panel",
            "plot_event_studies",
            "plot_event_study",
            "to_breakdown_table",
        ],
        "fixed_effects": ["FixedEffectsFit", "NotEstimable", "fit_fixed_effects_glm"],
        "linear_bootstrap": ["LinearBootstrapResult", "compute_linear_wild_bootstrap"],
        "mission": ["EFFECTS_CSV_COLUMNS", "MissionEffects", "estimate_mission"],
        "panel": ["compute_mission_panel", "compute_panel", "make_synthetic_panel"],
        "reading": ["ReadingTable", "plot_headline_forest", "to_reading_table"],
        "reporting": [
            "DIAGNOSTIC_ESTIMANDS",
            "ReportingDiagnostics",
            "compute_median_lags",
            "compute_mission_median_lags",
            "estimate_reporting_diagnostics",
        ],
        "wild_bootstrap": ["BootstrapResult", "compute_score_bootstrap", "needs_bootstrap"],
        "within_reach": ["PresenceEffect", "compute_presence_effect", "estimate_presence_effect"],
    },
)
