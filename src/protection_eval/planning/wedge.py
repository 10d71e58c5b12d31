"""A strategy's roll-out as a randomised stepped wedge: which areas start when, and its power.

When a mission brings in a strategy (firewood escorts, a women's patrol...) it can rarely start
everywhere at once. A stepped wedge makes that constraint an evaluation: the areas are put in a
random order (the seed decides), cut into groups, and group g starts in month ``M + g``; every
area starts by the end, none is denied the strategy, and until its start each area is the
comparison for those already started. The estimate is the project's two-way fixed-effects
Poisson (area and month effects, errors clustered by area), as for any staggered roll-out.

The power is simulated on the mission's own history: each replicate takes a window of
consecutive history months of every area's reports, draws a new random order, thins the reports
of started areas to a share ``irr``, and fits the model; the power is the share of replicates
finding a reduction (two-sided test, estimate below 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from protection_eval.effects.fixed_effects import NotEstimable, fit_fixed_effects_glm
from protection_eval.model import to_local_month
from protection_eval.planning.options import PlanOptions

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = ["SteppedWedge", "design_stepped_wedge"]

#: Ratios at which the roll-out's power is simulated.
WEDGE_IRRS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)


@dataclass
class SteppedWedge:
    """A randomised roll-out order and its power.

    Attributes
    ----------
    strategy : str or None
        The strategy rolled out (None: a new one).
    schedule : pandas.DataFrame
        ``area_id``, ``step`` (1 = first), ``start_month`` (``YYYY-MM``) (restricted only in
        that it names areas; no count).
    power_by_irr : dict of float to float
        Simulated power at each ratio (None where it could not be simulated).
    mde_irr : float or None
        Largest simulated ratio with at least the asked power (None when none has it).
    simulations : int
        Replicates per ratio.
    notes : list of str
        Assumptions and what could not be done.
    """

    strategy: str | None
    schedule: pd.DataFrame
    power_by_irr: dict[float, float | None]
    mde_irr: float | None
    simulations: int
    notes: list[str] = field(default_factory=list)


def _area_counts(mission: MissionData, months: pd.PeriodIndex, areas: list[str]) -> np.ndarray:
    incidents = mission.incidents
    month = to_local_month(incidents["occurred_at"], mission.config.timezone)
    frame = pd.DataFrame({"area_id": incidents["area_id"].astype("string").to_numpy(),
                          "month": month.to_numpy()}).dropna()
    table = frame.groupby(["area_id", "month"]).size()
    return np.array([[int(table.get((a, m), 0)) for m in months] for a in areas])


def _eligible(mission: MissionData, strategy: str | None, month: pd.Period) -> list[str]:
    areas = sorted(mission.areas["area_id"].astype(str))
    deployments = mission.deployments
    if strategy is None or deployments is None:
        return areas
    rows = deployments[deployments["strategy_id"] == strategy]
    started = pd.to_datetime(rows["started_on"]) <= month.start_time
    return [a for a in areas if a not in set(rows.loc[started.to_numpy(), "area_id"].astype(str))]


def _groups(n: int, steps: int) -> np.ndarray:
    return np.arange(n) * steps // n + 1


def _power(counts: np.ndarray, steps: int, irr: float, options: PlanOptions,
           rng: np.random.Generator) -> float:
    n_areas, n_months = counts.shape
    periods = steps + 1
    found = 0
    for _ in range(options.wedge_simulations):
        first = rng.integers(0, n_months - periods + 1)
        y = counts[:, first:first + periods].astype(float)
        step = _groups(n_areas, steps)[rng.permutation(n_areas)]
        treated = np.arange(periods)[None, :] >= step[:, None]
        y = np.where(treated, rng.binomial(y.astype(np.int64), irr), y)
        area = np.repeat(np.arange(n_areas), periods)
        period = np.tile(np.arange(periods), n_areas)
        try:
            fit = fit_fixed_effects_glm(y.ravel(), pd.DataFrame({"started": treated.ravel()
                                                                 .astype(float)}),
                                        [area, period], family="poisson", cluster=area)
        except NotEstimable:
            continue
        beta = float(fit.params["started"])
        se = float(np.sqrt(fit.cov.loc["started", "started"]))
        crit = stats.t.ppf(1 - options.alpha / 2, max(fit.n_clusters - 1, 1))
        found += int(beta < 0 and se > 0 and abs(beta) / se > crit)
    return found / options.wedge_simulations


def design_stepped_wedge(mission: MissionData, month: pd.Period, months: pd.PeriodIndex,
                         options: PlanOptions | None = None) -> SteppedWedge:
    """Order a strategy's roll-out at random in steps from ``month``, with its power.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : pandas.Period
        The first month of the design (every area still without the strategy).
    months : pandas.PeriodIndex
        History months the power is simulated on.
    options : PlanOptions, optional
        ``strategy``, ``wedge_steps``, ``wedge_simulations``, ``power``, ``alpha``, ``seed``.

    Returns
    -------
    SteppedWedge
        The schedule and its power.
    """
    options = options or PlanOptions()
    areas = _eligible(mission, options.strategy, month)
    steps = min(options.wedge_steps, len(areas))
    rng = np.random.default_rng([options.seed, 211])
    order = [areas[i] for i in rng.permutation(len(areas))]
    step = _groups(len(order), steps) if order else np.array([], dtype=int)
    schedule = pd.DataFrame({"area_id": order, "step": step,
                             "start_month": [str(month + int(s)) for s in step]})
    notes = [f"{len(order)} areas in {steps} steps of one month from {month + 1}; {month} is "
             "the month before any starts"]
    power: dict[float, float | None] = {irr: None for irr in WEDGE_IRRS}
    if steps < 2 or len(months) < steps + 1:
        notes.append(f"power not simulated: it needs at least 2 areas and {steps + 1} months of "
                     "history")
        return SteppedWedge(options.strategy, schedule, power, None, 0, notes)
    counts = _area_counts(mission, months, areas)
    for irr in WEDGE_IRRS:
        power[irr] = _power(counts, steps, irr, options, np.random.default_rng([options.seed,
                                                                                 223]))
    reached = [irr for irr, p in power.items() if p is not None and p >= options.power]
    return SteppedWedge(options.strategy, schedule.sort_values(["step", "area_id"])
                        .reset_index(drop=True), power, max(reached) if reached else None,
                        options.wedge_simulations, notes)
