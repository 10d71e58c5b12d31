"""Resolution 1325 indicators: women's participation against targets, and its link to outcomes.

- :mod:`~protection_eval.indicators.targets`: the versioned targets table (``data/targets/``);
- :mod:`~protection_eval.indicators.personnel`: the personnel table and its presets;
- :mod:`~protection_eval.indicators.compute`: indicator rows in the documented format;
- :mod:`~protection_eval.indicators.trend`: trajectories and the year a target would be reached
  (an extrapolation);
- :mod:`~protection_eval.indicators.association`: women's share and reported incidents across
  missions (an association, with fixed effects);
- :mod:`~protection_eval.indicators.charts` and :mod:`~protection_eval.indicators.workbook`:
  the chart and the XLSX, built in memory;
- :mod:`~protection_eval.indicators.report`: the entry points;
- :mod:`~protection_eval.runs.indicators` (in the runs layer) reads and writes their files;
  nothing here does.

The format of ``indicators.csv`` is in ``docs/indicators.md``. The names are imported on first
use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "association": [
            "ParticipationAssociation",
            "estimate_participation_association",
            "to_participation_panel",
        ],
        "compute": [
            "FAMILIES",
            "INDICATOR_COLUMNS",
            "IndicatorTable",
            "compute_deployment_indicators",
            "compute_patrol_indicators",
            "compute_personnel_indicators",
        ],
        "personnel": ["PERSONNEL_PRESETS", "PersonnelInputError", "PersonnelTable", "to_personnel"],
        "report": [
            "IndicatorReport",
            "compute_cross_mission_indicators",
            "compute_mission_indicators",
            "to_women_share_evidence",
        ],
        "targets": ["Target", "TargetTable", "TargetsError", "to_target_table"],
        "trend": [
            "EXTRAPOLATION_NOTE",
            "Trajectory",
            "TrajectoryTable",
            "compute_trajectories",
            "fit_trend",
        ],
    },
)
