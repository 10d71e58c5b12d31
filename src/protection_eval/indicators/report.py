"""Entry points: the indicators of a personnel file, and the indicators of one mission's run.

Each returns an :class:`IndicatorReport` (rows, trajectories, targets, sources and notes) that
:func:`protection_eval.runs.indicators.write_indicators` writes as ``indicators.csv``,
``indicators.xlsx`` and the trajectory chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from protection_eval.indicators.compute import (
    IndicatorTable,
    compute_deployment_indicators,
    compute_patrol_indicators,
    compute_personnel_indicators,
    concat_indicators,
)
from protection_eval.indicators.personnel import PersonnelTable
from protection_eval.indicators.targets import TargetTable
from protection_eval.indicators.trend import TrajectoryTable, compute_trajectories

__all__ = [
    "WOMEN_SHARE_ESTIMANDS",
    "IndicatorReport",
    "compute_cross_mission_indicators",
    "compute_mission_indicators",
    "to_women_share_evidence",
]

#: Estimands of ``effects.csv`` that the patrol indicator rows link to.
WOMEN_SHARE_ESTIMANDS = ("women_share", "women_share_modification")


@dataclass
class IndicatorReport:
    """Everything the indicator outputs hold.

    Attributes
    ----------
    indicators : IndicatorTable
        The rows.
    trajectories : TrajectoryTable or None
        Trends of the yearly ``uniformed`` series (None without personnel data).
    targets : TargetTable or None
        The targets used.
    sources : list of str
        Data citations.
    rejected : pandas.DataFrame or None
        Quarantined personnel rows (``source_row, column, reason, detail``).
    notes : list of str
        Reading notes (rows read, quarantined, suppressed...).
    """

    indicators: IndicatorTable
    trajectories: TrajectoryTable | None = None
    targets: TargetTable | None = None
    sources: list[str] = field(default_factory=list)
    rejected: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return the documented indicator table."""
        return self.indicators.to_frame()

    def summary_lines(self) -> list[str]:
        """Short lines for a command or a notebook."""
        frame = self.to_frame()
        lines = [*self.notes,
                 f"{len(frame)} indicator rows, {frame['mission'].nunique()} missions, "
                 f"families: {', '.join(self.indicators.families) or 'none'}"]
        if self.trajectories is not None:
            t = self.trajectories.to_frame()
            lines.append(f"{len(t)} trajectories: " + ", ".join(
                f"{n} {s}" for s, n in t["status"].value_counts().sort_index().items()))
        return lines + [f"note: {n}" for n in self.indicators.notes]


def compute_cross_mission_indicators(
    personnel: PersonnelTable, targets: TargetTable | None
) -> IndicatorReport:
    """Compute every mission's indicators from a personnel file, with trajectories.

    Parameters
    ----------
    personnel : PersonnelTable
        Checked personnel rows (:func:`protection_eval.runs.indicators.load_personnel`).
    targets : TargetTable or None
        Targets (:func:`protection_eval.runs.indicators.load_targets`).

    Returns
    -------
    IndicatorReport
        ``uniformed`` and ``country`` families; trajectories of ``uniformed`` series.
    """
    table = compute_personnel_indicators(personnel.rows, targets, source=personnel.source)
    yearly_ids = sorted(table.rows.loc[table.rows["family"] == "uniformed", "indicator_id"]
                        .unique())
    return IndicatorReport(
        indicators=table,
        trajectories=compute_trajectories(table.rows, yearly_ids),
        targets=targets,
        sources=[personnel.source],
        rejected=personnel.rejected,
        notes=[personnel.summary(), *personnel.notes],
    )


def compute_mission_indicators(
    mission: Any,
    *,
    targets: TargetTable | None = None,
    personnel: PersonnelTable | None = None,
) -> IndicatorReport:
    """Compute a mission's own indicators: women in patrols, gender advisers, personnel.

    Parameters
    ----------
    mission : MissionData
        The validated mission (:func:`protection_eval.runs.missions.load_mission`).
    targets : TargetTable, optional
        Targets for personnel rows.
    personnel : PersonnelTable, optional
        A personnel file; its rows for this mission's code are added.

    Returns
    -------
    IndicatorReport
        ``patrol`` rows per month (patrol counts below k suppressed), ``deployment`` rows per
        year where the deployments table has gender-adviser or women-protection-adviser
        strategies, and ``uniformed`` rows when ``personnel`` has the mission.
    """
    from protection_eval.sharing.disclosure import k_from_config

    config = mission.config
    tables = [
        compute_patrol_indicators(mission.patrols, mission=config.mission,
                                  k=k_from_config(config), timezone=config.timezone),
        compute_deployment_indicators(mission.deployments, mission.areas,
                                      mission=config.mission, start=config.period.start,
                                      end=config.period.end),
    ]
    sources = [f"{config.mission} mission tables (patrols, deployments, areas)"
               + (" - SYNTHETIC DATA" if config.synthetic else "")]
    trajectories = None
    if personnel is not None:
        own = personnel.rows[personnel.rows["mission"] == config.mission]
        table = compute_personnel_indicators(own, targets, source=personnel.source,
                                             by_country=True)
        table.rows = table.rows[table.rows["mission"] != "ALL"].reset_index(drop=True)
        tables.append(table)
        trajectories = compute_trajectories(table.rows, ["uniformed.women_share"])
        sources.append(personnel.source)
    return IndicatorReport(indicators=concat_indicators(*tables), trajectories=trajectories,
                           targets=targets, sources=sources)


def to_women_share_evidence(effects: pd.DataFrame | None) -> pd.DataFrame:
    """Return the women's-share estimates of a run's ``effects.csv`` (empty when none).

    These are the rows the ``patrol`` indicator rows point to in their ``source``: the
    indicator says how many women patrolled, the estimate what went with it.
    """
    if effects is None or "estimand" not in effects:
        return pd.DataFrame()
    keep = effects["estimand"].isin(WOMEN_SHARE_ESTIMANDS)
    return effects.loc[keep].reset_index(drop=True)
