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

The format of ``indicators.csv`` is in ``docs/indicators.md``.
"""

from protection_eval.indicators.association import (
    ParticipationAssociation,
    estimate_participation_association,
    to_participation_panel,
)
from protection_eval.indicators.compute import (
    FAMILIES,
    INDICATOR_COLUMNS,
    IndicatorTable,
    compute_deployment_indicators,
    compute_patrol_indicators,
    compute_personnel_indicators,
)
from protection_eval.indicators.personnel import (
    PERSONNEL_PRESETS,
    PersonnelInputError,
    PersonnelTable,
    to_personnel,
)
from protection_eval.indicators.report import (
    IndicatorReport,
    compute_cross_mission_indicators,
    compute_mission_indicators,
)
from protection_eval.indicators.targets import Target, TargetsError, TargetTable, to_target_table
from protection_eval.indicators.trend import (
    EXTRAPOLATION_NOTE,
    Trajectory,
    TrajectoryTable,
    compute_trajectories,
    fit_trend,
)

__all__ = [
    "EXTRAPOLATION_NOTE",
    "FAMILIES",
    "INDICATOR_COLUMNS",
    "PERSONNEL_PRESETS",
    "IndicatorReport",
    "IndicatorTable",
    "ParticipationAssociation",
    "PersonnelInputError",
    "PersonnelTable",
    "Target",
    "TargetTable",
    "TargetsError",
    "Trajectory",
    "TrajectoryTable",
    "compute_cross_mission_indicators",
    "compute_deployment_indicators",
    "compute_mission_indicators",
    "compute_patrol_indicators",
    "compute_personnel_indicators",
    "compute_trajectories",
    "estimate_participation_association",
    "fit_trend",
    "to_participation_panel",
    "to_personnel",
    "to_target_table",
]
