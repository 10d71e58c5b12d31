"""From measuring to planning: next month's patrols, allocated so that they can be evaluated.

A plan for month M uses only what was recorded before M. It estimates the reports expected in
each H3 hexagon (:mod:`.risk`), allocates the month's patrol-hours to maximise the reports within
reach of a patrol with an integer programme (:mod:`.allocation`), randomises only among near-ties
so that the plan is itself an evaluation, draws the trips that carry it out (:mod:`.routes`),
writes down the comparison and its power (:mod:`.design`, :mod:`.power`, :mod:`.wedge`), and,
when the month is in the data, backtests it against the patrols flown (:mod:`.backtest`). When
the month has passed, :func:`estimate_randomised_effect` closes the loop. Frames in, result
objects out: nothing here reads or writes a file. Method and ethics: ``docs/planning.md``. The
names are imported on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "allocation": ["ARMS", "PatrolPlan", "allocate_patrols"],
        "backtest": ["Backtest", "backtest_plan"],
        "design": ["EQUIPOISE", "EvaluationDesign", "design_evaluation"],
        "evaluate": [
            "ASSIGNMENT_COLUMNS",
            "PLAN_DESIGN",
            "PLAN_ESTIMAND",
            "estimate_randomised_effect",
            "to_assignments",
        ],
        "history": ["History", "count_history", "count_month_reports", "month_bounds"],
        "month": ["MonthPlan", "backtest_months", "plan_month"],
        "options": ["PlanOptions", "to_month"],
        "power": ["PairedPower", "compute_paired_mde", "paired_estimates", "paired_power"],
        "risk": ["RISK_CAVEAT", "RiskEstimate", "estimate_risk"],
        "routes": ["PlanRoutes", "route_plan"],
        "wedge": ["SteppedWedge", "design_stepped_wedge"],
    },
)
