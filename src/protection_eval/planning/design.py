"""The evaluation design written beside a plan: what will be compared, how, and with what power.

Two designs: the randomised patrols of this month's plan (pairs of near-tied units, the seed
choosing which gets the patrol; :mod:`protection_eval.planning.power`), and a randomised
stepped-wedge roll-out of a strategy over the mission's areas
(:mod:`protection_eval.planning.wedge`). Both powers come from simulations on the mission's own
history. The shared form (:meth:`EvaluationDesign.to_dict`) holds no count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from protection_eval.planning.allocation import PatrolPlan
from protection_eval.planning.evaluate import PLAN_DESIGN, PLAN_ESTIMAND
from protection_eval.planning.history import History
from protection_eval.planning.options import PlanOptions
from protection_eval.planning.power import PairedPower, compute_paired_mde
from protection_eval.planning.risk import RISK_CAVEAT, RiskEstimate
from protection_eval.planning.wedge import SteppedWedge, design_stepped_wedge

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = ["EQUIPOISE", "EvaluationDesign", "design_evaluation"]

#: The ethical basis of the randomisation, said wherever the plan goes.
EQUIPOISE = (
    "Equipoise: the seed chooses only between units whose expected reports within reach per "
    "patrol-hour are within the stated margin of each other; no unit is denied a patrol it "
    "would clearly have got, and every unit the plan would patrol anyway is patrolled."
)


@dataclass
class EvaluationDesign:
    """How next month will tell whether the plan's patrols changed reports.

    Attributes
    ----------
    month : str
        The planned month.
    pairs : int
        Randomised pairs.
    paired : PairedPower or None
        Power of the randomised comparison (None without at least two pairs).
    wedge : SteppedWedge
        The stepped-wedge roll-out order and its power.
    options : PlanOptions
        The plan's options (its assumptions).
    notes : list of str
        Why something was not computed.
    """

    month: str
    pairs: int
    paired: PairedPower | None
    wedge: SteppedWedge
    options: PlanOptions
    notes: list[str] = field(default_factory=list)

    @property
    def mde_irr(self) -> float | None:
        """Minimum detectable rate ratio of one month's randomised comparison."""
        return None if self.paired is None else self.paired.mde_irr

    def summary_line(self) -> str:
        """One line: pairs and the detectable ratio."""
        if self.paired is None:
            return f"evaluation: {self.pairs} randomised pair(s), power not computed"
        months = {m: v for m, v in self.paired.mde_by_months.items() if v is not None}
        later = ", ".join(f"{v:.2f} after {m} months" for m, v in months.items() if m > 1)
        first = "none below 1 in one month" if self.mde_irr is None else f"{self.mde_irr:.2f}"
        return (f"evaluation: {self.pairs} randomised pairs; detectable ratio at "
                f"{self.paired.power:.0%} power: {first}" + (f" ({later})" if later else ""))

    def to_dict(self) -> dict[str, Any]:
        """Return the design as ``evaluation_design.json`` holds it (no count of reports)."""
        paired = self.paired
        wedge = self.wedge
        return {
            "month": self.month,
            "design": PLAN_DESIGN,
            "estimand": PLAN_ESTIMAND,
            "comparison": (
                "In each randomised pair (the same block in plan.csv), the unit that gets the "
                "patrol against the one that does not: reports in the planned month."),
            "estimator": (
                "Next month's run fits the project's count model to the randomised units only: "
                "Poisson with a fixed effect per pair, the unit's expected reports as offset, "
                "errors clustered by pair (t with pairs - 1 degrees of freedom); the ratio goes "
                "to effects.csv as estimand plan_randomised, and months stack as the mission "
                "keeps planning."),
            "pairs": self.pairs,
            "mde_irr": None if paired is None else paired.mde_irr,
            "power": self.options.power,
            "alpha": self.options.alpha,
            "power_at_mde": None if paired is None or paired.mde_irr is None
            else round(paired.power_at_mde, 3),
            "power_mc_se": None if paired is None else round(paired.mc_se, 4),
            "mde_irr_by_months": {} if paired is None else {
                str(m): None if v is None else round(v, 3)
                for m, v in paired.mde_by_months.items()},
            "simulations": None if paired is None else paired.simulations,
            "power_method": (
                "Simulation on the mission's own history: a past month's reports of the paired "
                "units, a new random choice in each pair, the patrolled unit's reports thinned "
                "to the ratio, the model above fitted (closed form); the detectable ratio is the "
                "largest below 1 found with the asked power (two-sided test, estimate below 1)."),
            "stepped_wedge": {
                "strategy": wedge.strategy,
                "steps": int(wedge.schedule["step"].max()) if len(wedge.schedule) else 0,
                "schedule": wedge.schedule.to_dict(orient="records"),
                "estimator": "Poisson with area and month fixed effects, errors clustered by "
                             "area, on the areas' reports",
                "power_by_irr": {f"{irr:g}": None if p is None else round(p, 3)
                                 for irr, p in wedge.power_by_irr.items()},
                "mde_irr": wedge.mde_irr,
                "simulations": wedge.simulations,
                "notes": list(wedge.notes),
            },
            "assumptions": self.options.to_dict(),
            "equipoise": EQUIPOISE,
            "reported_not_occurred": RISK_CAVEAT,
            "notes": list(self.notes),
        }


def _pair_arrays(history: History, plan: PatrolPlan) -> tuple[np.ndarray, np.ndarray]:
    units = plan.units
    rows = {cell: i for i, cell in enumerate(history.cells["h3_cell"])}
    pairs = units[units["randomised"]].sort_values(["block", "h3_cell"])
    counts, risk = [], []
    for _, pair in pairs.groupby("block", sort=True):
        index = [rows[c] for c in pair["h3_cell"]]
        counts.append(history.counts[index])
        risk.append(pair["risk"].to_numpy(dtype=float))
    return np.asarray(counts), np.asarray(risk)


def design_evaluation(mission: MissionData, history: History, risk: RiskEstimate,
                      plan: PatrolPlan, options: PlanOptions | None = None) -> EvaluationDesign:
    """Write down the plan's evaluation: the comparison, its estimator and its power.

    Parameters
    ----------
    mission : MissionData
        A loaded mission (areas and deployments for the stepped wedge).
    history : History
        The record before the month.
    risk : RiskEstimate
        Expected reports per unit (the offsets).
    plan : PatrolPlan
        The plan and its randomised pairs.
    options : PlanOptions, optional
        Power, level, simulations, seed, stepped-wedge settings.

    Returns
    -------
    EvaluationDesign
        Both designs with their power.
    """
    options = options or PlanOptions()
    counts, offsets = _pair_arrays(history, plan)
    pairs = len(counts)
    notes = []
    paired = None
    if pairs >= 2:
        paired = compute_paired_mde(counts, offsets, power=options.power, alpha=options.alpha,
                                    simulations=options.simulations, seed=options.seed)
    else:
        notes.append(f"{pairs} randomised pair(s): too few to compare (at least 2 are needed)")
    wedge = design_stepped_wedge(mission, history.month, history.months, options)
    return EvaluationDesign(str(history.month), pairs, paired, wedge, options, notes)
