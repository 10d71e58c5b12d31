"""From measuring to planning: next month's patrols, allocated so that they can be evaluated.

A plan for month M uses only what was recorded before M. It estimates the reports expected in
each H3 hexagon (:mod:`.risk`), allocates the month's patrol-hours to maximise the reports within
reach of a patrol with an integer programme (:mod:`.allocation`), randomises only among near-ties
so that the plan is itself an evaluation, draws the trips that carry it out (:mod:`.routes`),
writes down the comparison and its power (:mod:`.design`, :mod:`.power`, :mod:`.wedge`), and,
when the month is in the data, backtests it against the patrols flown (:mod:`.backtest`). When
the month has passed, :func:`estimate_randomised_effect` closes the loop. Frames in, result
objects out: nothing here reads or writes a file. Method and ethics: ``docs/planning.md``.
"""

from protection_eval.planning.allocation import ARMS, PatrolPlan, allocate_patrols
from protection_eval.planning.backtest import Backtest, backtest_plan
from protection_eval.planning.design import EQUIPOISE, EvaluationDesign, design_evaluation
from protection_eval.planning.evaluate import (
    ASSIGNMENT_COLUMNS,
    PLAN_DESIGN,
    PLAN_ESTIMAND,
    estimate_randomised_effect,
    to_assignments,
)
from protection_eval.planning.history import (
    History,
    count_history,
    count_month_reports,
    month_bounds,
)
from protection_eval.planning.month import MonthPlan, backtest_months, plan_month
from protection_eval.planning.options import PlanOptions, to_month
from protection_eval.planning.power import (
    PairedPower,
    compute_paired_mde,
    paired_estimates,
    paired_power,
)
from protection_eval.planning.risk import RISK_CAVEAT, RiskEstimate, estimate_risk
from protection_eval.planning.routes import PlanRoutes, route_plan
from protection_eval.planning.wedge import SteppedWedge, design_stepped_wedge

__all__ = [
    "ARMS",
    "ASSIGNMENT_COLUMNS",
    "EQUIPOISE",
    "PLAN_DESIGN",
    "PLAN_ESTIMAND",
    "RISK_CAVEAT",
    "Backtest",
    "EvaluationDesign",
    "History",
    "MonthPlan",
    "PairedPower",
    "PatrolPlan",
    "PlanOptions",
    "PlanRoutes",
    "RiskEstimate",
    "SteppedWedge",
    "allocate_patrols",
    "backtest_months",
    "backtest_plan",
    "compute_paired_mde",
    "count_history",
    "count_month_reports",
    "design_evaluation",
    "design_stepped_wedge",
    "estimate_randomised_effect",
    "estimate_risk",
    "month_bounds",
    "paired_estimates",
    "paired_power",
    "plan_month",
    "route_plan",
    "to_assignments",
    "to_month",
]
