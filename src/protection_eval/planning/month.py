"""One month's plan, end to end: history, risk, allocation, trips, design and backtest.

:func:`plan_month` is what the ``plan`` command and notebook ``07_plan`` call. It takes a loaded
mission and returns a :class:`MonthPlan` result object; writing it (the shared ``plan.csv``,
map and evaluation design, the restricted risk and backtest) is :mod:`protection_eval.runs.plans`'
job, through the audit gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.planning.allocation import PatrolPlan, allocate_patrols
from protection_eval.planning.backtest import Backtest, backtest_plan
from protection_eval.planning.design import EvaluationDesign, design_evaluation
from protection_eval.planning.history import History, count_history, flown_budget
from protection_eval.planning.options import PlanOptions, to_month
from protection_eval.planning.risk import Coarsen, RiskEstimate, estimate_risk
from protection_eval.planning.routes import PlanRoutes, route_plan

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = ["MonthPlan", "backtest_months", "plan_month"]

#: Times the budget of the per-pass estimate is rescaled until the trips fit in the hours.
_CALIBRATION_ROUNDS = 8


@dataclass
class MonthPlan:
    """A month's patrol plan with everything it rests on (restricted as a whole).

    Attributes
    ----------
    mission : str
        Mission code.
    month : pandas.Period
        The planned month.
    options : PlanOptions
        The choices the plan was made with.
    history : History
        The record before the month.
    risk : RiskEstimate
        Expected reports per unit.
    plan : PatrolPlan
        Patrol-hours per unit and the randomised pairs.
    routes : PlanRoutes
        The trips that carry it out.
    design : EvaluationDesign or None
        The planned comparison, its power, and the stepped-wedge roll-out (None when not asked).
    backtest : Backtest or None
        When the mission's data cover the month: the plan against the patrols flown.
    budget_hours : float
        The month's patrol-hours.
    notes : list of str
        Assumptions and what the record lacks.
    k : int or None
        The suppression threshold the risk was coarsened with (None: not coarsened, and the
        plan may not be shared).
    """

    mission: str
    month: pd.Period
    options: PlanOptions
    history: History = field(repr=False)
    risk: RiskEstimate = field(repr=False)
    plan: PatrolPlan = field(repr=False)
    routes: PlanRoutes = field(repr=False)
    design: EvaluationDesign | None = field(repr=False)
    backtest: Backtest | None
    budget_hours: float
    notes: list[str] = field(default_factory=list)
    k: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """Return the units the plan patrols or randomises, most valuable first (restricted)."""
        units = self.plan.units
        chosen = units[units["planned"] | units["randomised"]]
        return chosen.sort_values(["priority", "h3_cell"]).reset_index(drop=True)

    def summary_lines(self) -> list[str]:
        """Return a few plain lines: hours, units, pairs, power, backtest."""
        units = self.plan.units
        lines = [
            f"{self.mission} plan for {self.month}: {int(units['planned'].sum())} units patrolled "
            f"with {self.routes.hours:,.0f} of {self.budget_hours:,.0f} patrol-hours "
            f"({self.routes.trips} trips); {int(units['randomised'].sum()) // 2} randomised pairs",
        ]
        if self.design is not None:
            lines.append(self.design.summary_line())
        if self.backtest is not None:
            b = self.backtest

            def pct(v: float | None) -> str:
                return "n/a" if v is None else f"{v:.0%}"

            lines.append(f"backtest {b.month}: reports within reach {pct(b.covered_share_plan)} "
                         f"under the plan, {pct(b.covered_share_actual)} under the patrols flown")
        return lines + [f"note: {n}" for n in self.notes]


def _no_budget(month: pd.Period) -> str:
    return (f"no patrol-hours were flown in the three months before {month}, so the plan has "
            "no budget: give one with --patrol-hours (plan option patrol_hours)")


def _budget(history: History, options: PlanOptions) -> tuple[float, list[str]]:
    if options.patrol_hours is not None:
        return float(options.patrol_hours), [f"patrol-hours given: {options.patrol_hours:g}"]
    budget = history.budget_hours()
    if budget is None:
        raise ValueError(_no_budget(history.month))
    months = history.patrol_hours.index[-3:]
    return budget, [f"patrol-hours: the mean flown in {months[0]} to {months[-1]} "
                    f"({budget:,.0f} a month)"]


def _calibrated(history: History, risk: RiskEstimate, options: PlanOptions, budget: float,
                reach: dict[str, float], timezone: str) -> tuple[PatrolPlan, PlanRoutes]:
    """Allocate with the per-pass estimate, rescaled until the trips fit the budget.

    The trips checked are those of every unit the plan patrols whatever the seed plus both
    units of every pair, which no seed's plan exceeds: the rescaling does not depend on the seed.
    """
    scaled = budget
    route = {"radius_m": reach["radius_m"], "window_h": reach["window_h"],
             "timezone": timezone, "speed_kmh": options.speed_kmh, "day_h": options.day_h}
    for _ in range(_CALIBRATION_ROUNDS):
        plan = allocate_patrols(history, risk, options, budget_hours=scaled, **reach)
        units = plan.units
        widest = route_plan(plan, history, planned=(units["planned"] | units["randomised"])
                            .to_numpy(), **route)
        if widest.hours <= budget * 1.001 or widest.hours == 0:
            break
        scaled *= budget / widest.hours * 0.99
    plan.budget_hours = budget
    routes = route_plan(plan, history, **route)
    if routes.hours > budget * 1.001:
        plan.notes.append(f"the trips of this plan take {routes.hours:,.0f} patrol-hours, more "
                          f"than the {budget:,.0f} available")
    return plan, routes


def plan_month(
    mission: MissionData,
    month: str | pd.Period,
    options: PlanOptions | None = None,
    *,
    coarsen: Coarsen | None = None,
    k: int = MIN_K,
    backtest: bool = True,
    evaluation: bool = True,
) -> MonthPlan:
    """Plan a month's patrols from the record before it, so that the plan can be evaluated.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : str or pandas.Period
        The month to plan (``YYYY-MM``), inside the mission's data (a backtest) or after it.
    options : PlanOptions, optional
        Budget, seed and assumptions (defaults documented on :class:`PlanOptions`).
    coarsen : callable, optional
        The shared units of the mission's maps (``adaptive_cells``): the risk is then built
        only from counts of 0 or at least k (:func:`protection_eval.planning.risk.estimate_risk`).
    k : int
        The mission's suppression threshold.
    backtest : bool
        Compare with the patrols flown when the mission's data cover the month.
    evaluation : bool
        Write down the evaluation design with its power (the simulations take a few seconds).

    Returns
    -------
    MonthPlan
        Risk, plan, trips, evaluation design and (when possible) the backtest.

    Raises
    ------
    ValueError
        When nothing before the month is recorded, or no budget is given or can be read.
    """
    options = options or PlanOptions()
    month = to_month(month)
    if options.patrol_hours is None and flown_budget(mission, month, options) is None:
        # Said before the hexagons are counted: a country-wide mission has millions of them.
        raise ValueError(_no_budget(month))
    history = count_history(mission, month, options)
    budget, notes = _budget(history, options)
    risk = estimate_risk(history, options, coarsen=coarsen, k=k)
    settings = mission.config.coverage
    reach = {"radius_m": float(settings.radius_m), "window_h": float(settings.window_h)}
    plan, routes = _calibrated(history, risk, options, budget, reach, mission.config.timezone)
    design = design_evaluation(mission, history, risk, plan, options) if evaluation else None
    result = None
    last = pd.Period(mission.config.period.end, freq="M")
    if backtest and month <= last:
        flown = count_history(mission, month + 1, options.with_changes(history_months=1))
        result = backtest_plan(mission, month, routes,
                               flown_hours=float(flown.patrol_hours.iloc[-1]))
    return MonthPlan(mission.config.mission, month, options, history, risk, plan, routes,
                     design, result, budget, notes + plan.notes + risk.notes,
                     k=None if coarsen is None else k)


def backtest_months(
    mission: MissionData,
    months: list[str] | pd.PeriodIndex,
    options: PlanOptions | None = None,
    *,
    coarsen: Coarsen | None = None,
    k: int = MIN_K,
) -> pd.DataFrame:
    """Plan each month from the months before it and compare it with the patrols flown.

    The study behind the backtest table of ``docs/validity.md``.

    Parameters
    ----------
    mission : MissionData
        A loaded mission whose data cover ``months``.
    months : list of str or pandas.PeriodIndex
        Months to backtest.
    options : PlanOptions, optional
        As :func:`plan_month`.
    coarsen, k
        As :func:`plan_month`.

    Returns
    -------
    pandas.DataFrame
        One row per month: ``month``, ``covered_share_plan``, ``covered_share_actual``,
        ``reports``, ``plan_hours``, ``flown_hours``, ``units``, ``pairs``.
    """
    rows = []
    for month in months:
        found = plan_month(mission, month, options, coarsen=coarsen, k=k, evaluation=False)
        units = found.plan.units
        rows.append({**{key: value for key, value in found.backtest.to_dict().items()
                        if key != "notes"},
                     "units": int(units["planned"].sum()),
                     "pairs": int(units["randomised"].sum()) // 2})
    return pd.DataFrame(rows)
