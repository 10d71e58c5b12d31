"""A month's patrol plan on disk: made with the shared units, written, stored, evaluated.

- :func:`make_plan` plans a month with the risk built from the mission's shared units (so the
  plan may be shared) and returns :class:`~protection_eval.planning.MonthPlan`;
- :func:`write_plan` writes its shared part (``plan.csv``, ``plan_map.html``,
  ``evaluation_design.json``: call it inside :func:`protection_eval.runs.publish.publish_shared`)
  and its restricted part (``risk.parquet``, ``backtest.json``, the plan's units and the
  randomised assignments);
- the ``plan`` command stores the plan a mission adopts in ``<mission>/plans/<YYYY-MM>/``
  (:func:`protection_eval.runs.layout.plan_dir`);
- :func:`estimate_stored_plans` finds every stored month that the mission's data now cover and
  estimates the effect of its randomised patrols; :func:`append_effects` adds that row
  (``plan_randomised``) to a run's ``effects.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.effects.count_models import EffectEstimate, NotEstimable
from protection_eval.effects.mission import MissionEffects
from protection_eval.io.writers import write_json, write_table, write_text
from protection_eval.planning import (
    Backtest,
    MonthPlan,
    PlanOptions,
    count_month_reports,
    estimate_randomised_effect,
    plan_month,
    to_assignments,
    to_month,
)
from protection_eval.runs.layout import (
    RESTRICTED_FILES,
    SHARED_FILES,
    reports_root,
    stored_plan_files,
)
from protection_eval.sharing.disclosure import adaptive_cells, k_from_config
from protection_eval.sharing.forms import to_effects_table, to_shared_plan, to_shared_plan_map

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "RunPlanning",
    "StoredPlanEffect",
    "append_effects",
    "estimate_stored_plans",
    "make_plan",
    "mission_reports_dir",
    "next_month",
    "plan_for_run",
    "write_plan",
    "write_run_planning",
]


def next_month(mission: MissionData) -> str:
    """Return the month after the mission's data (``YYYY-MM``): what a run plans."""
    return str(pd.Period(mission.config.period.end, freq="M") + 1)


def make_plan(mission: MissionData, month: str | None = None,
              options: PlanOptions | None = None) -> MonthPlan:
    """Plan a month so that the plan may be shared: the risk built from the shared units.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : str, optional
        ``YYYY-MM``; by default the month after the mission's data.
    options : PlanOptions, optional
        Budget, seed and assumptions.

    Returns
    -------
    MonthPlan
        See :func:`protection_eval.planning.plan_month`.
    """
    return plan_month(mission, month or next_month(mission), options, coarsen=adaptive_cells,
                      k=k_from_config(mission.config))


def write_plan(plan: MonthPlan, mission: MissionData, *, shared_dir: str | Path | None,
               restricted_dir: str | Path | None, backtest: Backtest | None = None
               ) -> dict[str, str]:
    """Write a month's plan: the shared files, the restricted ones, or both.

    Parameters
    ----------
    plan : MonthPlan
        From :func:`make_plan`.
    mission : MissionData
        The mission (configuration and areas, for the map).
    shared_dir, restricted_dir : str or Path or None
        Folders; a part is not written when its folder is None.
    backtest : Backtest, optional
        The backtest to write when the plan has none of its own (a month after the data).

    Returns
    -------
    dict of str to str
        Written paths by role.
    """
    written: dict[str, str] = {}
    if shared_dir is not None:
        shared = Path(shared_dir)
        written["plan"] = str(write_table(to_shared_plan(plan), shared / SHARED_FILES["plan"]))
        page = to_shared_plan_map(plan, mission.config, mission.areas).to_html()
        written["plan_map"] = str(write_text(page, shared / SHARED_FILES["plan_map"]))
        if plan.design is not None:
            written["evaluation_design"] = str(write_json(
                {"mission": plan.mission, **plan.design.to_dict()},
                shared / SHARED_FILES["evaluation_design"]))
    if restricted_dir is not None:
        restricted = Path(restricted_dir)
        risk = plan.risk.to_frame()
        written["risk"] = str(write_table(risk, restricted / RESTRICTED_FILES["risk"]))
        units = plan.plan.units.assign(month=str(plan.month),
                                       priority=plan.plan.units["priority"].astype("Float64"))
        written["plan_units"] = str(write_table(units, restricted / RESTRICTED_FILES["plan_units"]))
        assignments = to_assignments(plan.plan.units, str(plan.month))
        written["plan_assignments"] = str(write_table(
            assignments, restricted / RESTRICTED_FILES["plan_assignments"]))
        tested = plan.backtest or backtest
        if tested is not None:
            written["backtest"] = str(write_json(
                {"mission": plan.mission, **tested.to_dict()},
                restricted / RESTRICTED_FILES["backtest"]))
    return written


class StoredPlanEffect:
    """The effect of the stored plans' randomised patrols, or why there is none.

    Attributes
    ----------
    estimate : EffectEstimate or None
        The ``plan_randomised`` ratio.
    months : list of str
        Planned months evaluated.
    notes : list of str
        Months waiting for data, months not estimable, and why.
    """

    def __init__(self, estimate: EffectEstimate | None, months: list[str],
                 notes: list[str]) -> None:
        self.estimate = estimate
        self.months = months
        self.notes = notes

    @property
    def estimates(self) -> list[EffectEstimate]:
        """The estimate as a list (empty without one), for :func:`append_effects`."""
        return [] if self.estimate is None else [self.estimate]

    def to_frame(self) -> pd.DataFrame:
        """Return the estimate's row (empty without one)."""
        if self.estimate is None:
            return pd.DataFrame()
        return self.estimate.to_frame()


def estimate_stored_plans(mission: MissionData, mission_dir: str | Path) -> StoredPlanEffect:
    """Estimate the effect of the randomised patrols of every stored month the data now cover.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    mission_dir : str or Path
        ``<reports>/<mission>`` (its ``plans/`` folder is read).

    Returns
    -------
    StoredPlanEffect
        The ratio over all such months, or the reason there is none.
    """
    period = mission.config.period
    first, last = pd.Period(period.start, freq="M"), pd.Period(period.end, freq="M")
    frames, notes = [], []
    for path in stored_plan_files(mission_dir):
        assignments = pd.read_parquet(path)
        month = to_month(path.parent.parent.name)
        if not first <= month <= last:
            notes.append(f"plan of {month}: not evaluated, the mission's data end in {last}")
            continue
        if len(assignments):
            frames.append(assignments.assign(month=str(month)))
    if not frames:
        return StoredPlanEffect(None, [], notes or ["no stored plan has passed"])
    assignments = pd.concat(frames, ignore_index=True)
    reports = []
    for month, rows in assignments.groupby("month", sort=True):
        counted = count_month_reports(mission, month, rows["h3_cell"])
        reports.append(pd.Series(counted.to_numpy(), index=pd.MultiIndex.from_arrays(
            [[month] * len(counted), counted.index.astype(str)])))
    months = sorted(assignments["month"].unique())
    try:
        estimate = estimate_randomised_effect(assignments, pd.concat(reports))
    except NotEstimable as exc:
        return StoredPlanEffect(None, months, notes + [f"plan_randomised not estimated: {exc}"])
    return StoredPlanEffect(estimate, months, notes)


def append_effects(estimates: list[EffectEstimate], mission: str, *,
                   shared_dir: str | Path | None, restricted_dir: str | Path | None,
                   min_count: int = MIN_K) -> dict[str, str]:
    """Add estimates to a run's ``effects.csv`` (suppressed) and ``effects_full.csv``.

    Parameters
    ----------
    estimates : list of EffectEstimate
        The rows to add.
    mission : str
        Mission code.
    shared_dir, restricted_dir : str or Path or None
        The run's folders (their files are created when absent).
    min_count : int
        Disclosure threshold ``k``.

    Returns
    -------
    dict of str to str
        Written paths by role.
    """
    added = MissionEffects(mission, estimates=list(estimates))
    written = {}
    parts = [(shared_dir, "effects", SHARED_FILES, to_effects_table(added, min_count=min_count)),
             (restricted_dir, "effects_full", RESTRICTED_FILES, added.to_frame())]
    for folder, role, files, rows in parts:
        if folder is None or not estimates:
            continue
        path = Path(folder) / files[role]
        table = rows
        if path.exists():
            table = pd.concat([pd.read_csv(path), rows], ignore_index=True)
        written[role] = str(write_table(table, path))
    return written


@dataclass
class RunPlanning:
    """What notebook ``07_plan`` does in a run: evaluate passed plans, plan the next month.

    Attributes
    ----------
    evaluated : StoredPlanEffect
        The effect of the stored plans' randomised patrols (``plan_randomised``).
    plan : MonthPlan or None
        The proposed plan for the month (None with ``reason``).
    backtest : Backtest or None
        The last month of data planned from the months before it, against the patrols flown.
    reason : str or None
        Why no plan was made (no patrol-hours to plan with, no history).
    """

    evaluated: StoredPlanEffect
    plan: MonthPlan | None
    backtest: Backtest | None
    reason: str | None = None

    def plan_frame(self) -> pd.DataFrame:
        """Return the hexagons the plan patrols or randomises (empty without a plan)."""
        return pd.DataFrame() if self.plan is None else self.plan.to_frame()

    def risk_frame(self, top: int = 20) -> pd.DataFrame:
        """Return the hexagons with the most expected reports (restricted; empty without a plan)."""
        if self.plan is None:
            return pd.DataFrame()
        return self.plan.risk.to_frame().nlargest(top, "risk").reset_index(drop=True)

    def to_dict(self) -> dict[str, object]:
        """Return the evaluation design and the backtest as plain values."""
        design = None if self.plan is None or self.plan.design is None else (
            self.plan.design.to_dict())
        return {"evaluation_design": design,
                "backtest": None if self.backtest is None else self.backtest.to_dict(),
                "reason": self.reason}

    def summary_lines(self) -> list[str]:
        """Plain lines: the effect of past plans, the plan, the backtest."""
        lines = []
        estimate = self.evaluated.estimate
        if estimate is not None:
            lines.append(f"randomised patrols of {', '.join(self.evaluated.months)}: reports x "
                         f"{estimate.irr:.2f} (95% CI {estimate.ci_low:.2f}-"
                         f"{estimate.ci_high:.2f})")
        lines += [f"note: {n}" for n in self.evaluated.notes]
        lines += self.plan.summary_lines() if self.plan is not None else [
            f"no plan: {self.reason}"]
        if self.backtest is not None and self.plan is not None and self.plan.backtest is None:
            b = self.backtest
            lines.append(f"backtest {b.month}: reports within reach "
                         f"{_percent(b.covered_share_plan)} under the plan, "
                         f"{_percent(b.covered_share_actual)} under the patrols flown")
        return lines


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def mission_reports_dir(mission: MissionData, run_dir: str | Path | None) -> Path:
    """Return ``<reports>/<mission>``: the folder holding a run (or the default reports root)."""
    if run_dir:
        return Path(run_dir).parent
    return reports_root() / mission.config.mission


def plan_for_run(mission: MissionData, run_dir: str | Path | None, *, month: str | None = None,
                 options: PlanOptions | None = None) -> RunPlanning:
    """Evaluate the stored plans whose month has passed, plan a month and backtest the last.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    run_dir : str or Path or None
        The run's folder (its parent holds the mission's ``plans/``).
    month : str, optional
        The month to plan; by default the month after the data.
    options : PlanOptions, optional
        Budget, seed and assumptions.

    Returns
    -------
    RunPlanning
        What was found and made; a mission that cannot be planned says why, it does not fail.
    """
    evaluated = estimate_stored_plans(mission, mission_reports_dir(mission, run_dir))
    try:
        plan = make_plan(mission, month, options)
    except ValueError as exc:
        return RunPlanning(evaluated, None, None, str(exc))
    backtest = plan.backtest
    last = pd.Period(mission.config.period.end, freq="M")
    if backtest is None:
        try:
            backtest = plan_month(mission, last, options, coarsen=adaptive_cells,
                                  k=k_from_config(mission.config), evaluation=False).backtest
        except ValueError:
            backtest = None
    return RunPlanning(evaluated, plan, backtest)


def write_run_planning(result: RunPlanning, mission: MissionData, *,
                       shared_dir: str | Path | None, restricted_dir: str | Path | None
                       ) -> dict[str, str]:
    """Write a run's planning: the ``plan_randomised`` row, the plan's files, the backtest.

    Parameters
    ----------
    result : RunPlanning
        From :func:`plan_for_run`.
    mission : MissionData
        The mission.
    shared_dir, restricted_dir : str or Path or None
        The run's folders.

    Returns
    -------
    dict of str to str
        Written paths by role.
    """
    written = append_effects(result.evaluated.estimates, mission.config.mission,
                             shared_dir=shared_dir, restricted_dir=restricted_dir,
                             min_count=k_from_config(mission.config))
    if result.plan is not None:
        written.update(write_plan(result.plan, mission, shared_dir=shared_dir,
                                  restricted_dir=restricted_dir, backtest=result.backtest))
    return written
