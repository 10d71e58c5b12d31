"""Patrol-hours per planning unit: an integer programme, randomised only among near-ties.

**The patrol model.** A unit is kept within reach of a patrol (the coverage radius, the window
before each report: ``docs/coverage.md``) all month by a pass every ``window_h`` hours; more
passes add nothing, so that is the most a unit gets (or fewer, under ``max_hours_per_unit``).
A pass sweeps the unit with the coverage radius (its area over twice the radius times
``speed_kmh``) and moves on to the next unit of its trip (the distance between neighbouring
hexagon centres); a trip leaves the nearest open base and returns to it, and each pass carries
``1 / stops_per_trip`` of the way out and back. A unit whose round trip does not fit in a day's
patrol (``day_h``) is out of reach and gets nothing. The trips themselves are drawn by
:mod:`protection_eval.planning.routes`, whose hours (not this per-pass estimate) are held to
the month's patrol-hours.

**The programme.** Each unit is patrolled for the month or not (a binary variable); patrolling
it costs its passes times its trip and brings its expected reports within reach (its risk, in
the share of the month its passes cover). The plan maximises the expected reports within reach
subject to the month's patrol-hours, solved by HiGHS through :func:`scipy.optimize.milp`.

**Randomised among near-ties.** Units whose expected reports within reach per patrol-hour lie
within ``margin`` of the last unit the optimum patrols are near-ties: among them no unit
clearly deserves a patrol more than another. Each of the optimum's marginal units is paired
with an unpatrolled near-tie of nearly the same value per hour, and the seed decides which of
the two gets the patrol. Every other unit keeps what a second programme gives it with the
pairs' hours set aside (the costlier member's), which does not depend on the seed: the same
seed gives the same plan, another seed changes only the randomised units, and every unit the
optimum patrols outside the near-ties is patrolled (equipoise: no unit is denied a patrol it
would clearly have got).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from protection_eval.planning.history import History
from protection_eval.planning.options import PlanOptions
from protection_eval.planning.risk import RiskEstimate

__all__ = ["ARMS", "PatrolPlan", "allocate_patrols", "sweep_hours"]

#: The arm of a randomised unit.
ARMS = ("patrol", "no patrol")
#: HiGHS's relative optimality gap: near exact, so that the optimum does not depend on timing.
_MIP_GAP = 1e-7


@dataclass
class PatrolPlan:
    """Patrol-hours per planning unit for one month (restricted: it holds the risk).

    Attributes
    ----------
    month : pandas.Period
        The planned month.
    units : pandas.DataFrame
        One row per unit: ``h3_cell``, ``risk``, ``distance_km`` (to the nearest open base;
        NaN without bases), ``reachable``, ``trip_h`` (one pass, travel included), ``passes``
        (when patrolled), ``cost_h``, ``benefit`` (expected reports brought within reach when
        patrolled), ``benefit_per_hour``, ``optimal`` (patrolled by the unrandomised optimum),
        ``planned`` (patrolled by this plan), ``planned_hours``, ``priority`` (1 = most
        reports within reach per hour; NA when out of reach or without risk),
        ``randomised``, ``block`` (``B01``...), ``arm`` (``patrol``/``no patrol``).
    budget_hours : float
        Patrol-hours the plan may spend.
    cutoff : float
        Value per hour of the last unit the optimum patrols (NaN when none).
    seed : int
        The randomisation's seed.
    notes : list of str
        Assumptions and what was left out, in words.
    """

    month: pd.Period
    units: pd.DataFrame
    budget_hours: float
    cutoff: float
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def hours_planned(self) -> float:
        """Patrol-hours the plan spends."""
        return float(self.units["planned_hours"].sum())

    @property
    def expected_within_reach(self) -> float:
        """Expected reports within reach of a planned patrol."""
        return float(self.units.loc[self.units["planned"], "benefit"].sum())

    def pairs(self) -> pd.DataFrame:
        """Return the randomised blocks: ``block``, ``h3_cell``, ``arm``, ``risk``."""
        chosen = self.units[self.units["randomised"]]
        return chosen[["block", "h3_cell", "arm", "risk"]].sort_values(
            ["block", "arm"]).reset_index(drop=True)


def sweep_hours(area_km2: np.ndarray, radius_m: float, speed_kmh: float) -> np.ndarray:
    """Hours to sweep a unit once: its area over the width a patrol reaches, at its speed."""
    return np.asarray(area_km2, dtype=float) / (2 * radius_m / 1000 * speed_kmh)


def _solve(benefit: np.ndarray, cost: np.ndarray, free: np.ndarray, fixed: np.ndarray,
           budget: float) -> np.ndarray | None:
    """Binary knapsack by HiGHS: the units to patrol; None when ``fixed`` units do not fit."""
    chosen = np.asarray(fixed, dtype=bool).copy()
    if cost[chosen].sum() > budget + 1e-9:
        return None
    idx = np.flatnonzero(free & ~chosen)
    left = budget - cost[chosen].sum()
    idx = idx[(cost[idx] <= left + 1e-9) & (benefit[idx] > 0)]
    if len(idx) == 0:
        return chosen
    result = milp(
        c=-benefit[idx],
        constraints=LinearConstraint(cost[idx][None, :], -np.inf, left),
        integrality=np.ones(len(idx)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": _MIP_GAP, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"HiGHS found no plan: {result.message}")
    chosen[idx] = np.round(result.x).astype(bool)
    return chosen


def _pair(value: pd.Series, inside: np.ndarray, outside: np.ndarray,
          margin: float) -> list[tuple[int, int]]:
    """Pair each marginal patrolled unit with an unpatrolled one of nearly the same value."""
    tolerance = np.log1p(margin)
    logs = np.log(value.to_numpy())
    cells = value.index.to_numpy()
    free = sorted(np.flatnonzero(outside), key=lambda i: (-logs[i], cells[i]))
    pairs = []
    for i in sorted(np.flatnonzero(inside), key=lambda i: (-logs[i], cells[i])):
        if not free:
            break
        distance = [abs(logs[i] - logs[j]) for j in free]
        best = int(np.argmin(distance))
        if distance[best] <= tolerance:
            pairs.append((i, free.pop(best)))
    return pairs


def _units(history: History, risk: RiskEstimate, options: PlanOptions, radius_m: float,
           window_h: float, month_hours: float) -> pd.DataFrame:
    cells = history.cells
    frame = cells[["h3_cell"]].copy()
    frame["risk"] = risk.cells.set_index("h3_cell")["risk"].reindex(cells["h3_cell"]).to_numpy()
    speed = options.speed_kmh
    area = cells["area_km2"].to_numpy()
    # A pass sweeps the unit with the coverage radius, then moves on to the next unit of the
    # trip (the distance between neighbouring hexagon centres), and carries its share of the
    # trip's way out and back.
    sweep_h = sweep_hours(area, radius_m, speed)
    hop_h = np.sqrt(3) * np.sqrt(2 * area / (3 * np.sqrt(3))) / speed
    if history.bases is None:
        distance = np.full(len(cells), np.nan)
        trip_h = sweep_h + hop_h
        reachable = np.ones(len(cells), dtype=bool)
    elif history.bases.empty:
        distance = np.full(len(cells), np.inf)
        trip_h = np.full(len(cells), np.inf)
        reachable = np.zeros(len(cells), dtype=bool)
    else:
        tree = cKDTree(history.bases[["x", "y"]].to_numpy())
        distance = tree.query(cells[["x", "y"]].to_numpy())[0] / 1000
        trip_h = sweep_h + hop_h + 2 * distance / speed / options.stops_per_trip
        reachable = 2 * distance / speed + sweep_h <= options.day_h
    frame["distance_km"] = distance
    frame["trip_h"] = trip_h
    frame["reachable"] = reachable
    full = int(np.ceil(month_hours / window_h))
    passes = np.full(len(cells), full)
    if options.max_hours_per_unit is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            passes = np.minimum(full, np.floor(options.max_hours_per_unit / trip_h))
    frame["passes"] = np.where(frame["reachable"], passes, 0).astype(int)
    frame["cost_h"] = np.where(frame["passes"] > 0, frame["passes"] * trip_h, 0.0)
    frame["benefit"] = frame["risk"] * frame["passes"] / full
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["benefit_per_hour"] = np.where(frame["cost_h"] > 0,
                                             frame["benefit"] / frame["cost_h"], 0.0)
    return frame


def _priority(frame: pd.DataFrame, eligible: np.ndarray) -> pd.Series:
    order = frame.loc[eligible].sort_values(["benefit_per_hour", "h3_cell"],
                                            ascending=[False, True])
    ranks = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    ranks.loc[order.index] = np.arange(1, len(order) + 1)
    return ranks


def allocate_patrols(
    history: History,
    risk: RiskEstimate,
    options: PlanOptions | None = None,
    *,
    radius_m: float,
    window_h: float,
    budget_hours: float,
) -> PatrolPlan:
    """Allocate a month's patrol-hours to planning units (see the module's docstring).

    Parameters
    ----------
    history : History
        Units (centres), and the bases open in the month.
    risk : RiskEstimate
        Expected reports per unit.
    options : PlanOptions, optional
        Speed, day's patrol, maximum per unit, near-tie margin, seed.
    radius_m, window_h : float
        The mission's coverage radius and window.
    budget_hours : float
        Patrol-hours the plan may spend.

    Returns
    -------
    PatrolPlan
        The plan, with its randomised pairs.
    """
    options = options or PlanOptions()
    start, end = history.month.start_time, (history.month + 1).start_time
    month_hours = (end - start) / pd.Timedelta(hours=1)
    frame = _units(history, risk, options, radius_m, window_h, month_hours)
    benefit, cost = frame["benefit"].to_numpy(), frame["cost_h"].to_numpy()
    eligible = (frame["passes"] > 0).to_numpy() & (benefit > 0)
    nothing = np.zeros(len(frame), dtype=bool)
    optimal = _solve(benefit, cost, eligible, nothing, budget_hours)
    value = pd.Series(frame["benefit_per_hour"].to_numpy(), index=frame["h3_cell"])
    cutoff = float(value[optimal].min()) if optimal.any() else float("nan")
    pairs: list[tuple[int, int]] = []
    clearly = optimal.copy()
    if optimal.any():
        inside = optimal & (value.to_numpy() <= cutoff * (1 + options.margin))
        clearly = optimal & ~inside
        outside = eligible & ~optimal & (value.to_numpy() >= cutoff / (1 + options.margin))
        pairs = _pair(value, inside, outside, options.margin)
    while True:
        in_pairs = np.zeros(len(frame), dtype=bool)
        for i, j in pairs:
            in_pairs[[i, j]] = True
        reserve = sum(max(cost[i], cost[j]) for i, j in pairs)
        chosen = _solve(benefit, cost, eligible & ~in_pairs, clearly, budget_hours - reserve)
        if chosen is not None:
            break
        pairs = pairs[:-1]  # the least valuable pair gives its hours back
    rng = np.random.default_rng([options.seed, 7])
    frame["optimal"] = optimal
    frame["randomised"] = in_pairs
    frame["block"] = ""
    frame["arm"] = ""
    for number, (i, j) in enumerate(pairs, start=1):
        treated, control = (i, j) if rng.integers(2) == 0 else (j, i)
        chosen[treated] = True
        frame.loc[frame.index[[treated, control]], "block"] = f"B{number:02d}"
        frame.loc[frame.index[treated], "arm"] = ARMS[0]
        frame.loc[frame.index[control], "arm"] = ARMS[1]
    frame["planned"] = chosen
    frame["planned_hours"] = np.where(chosen, cost, 0.0)
    frame.loc[~frame["planned"], "passes"] = 0
    frame["priority"] = _priority(frame, eligible)
    notes = [
        f"a pass is a trip from the nearest open base at {options.speed_kmh:g} km/h; a unit "
        f"farther than half a day's patrol ({options.day_h:g} h) gets none",
        f"near-ties: within {options.margin:.0%} of the last unit the optimum patrols, in "
        "expected reports within reach per patrol-hour",
    ]
    if pairs:
        notes.append(f"{len(pairs)} pair(s) of near-tied units: the seed chose which unit of "
                     "each gets the patrol")
    return PatrolPlan(history.month, frame, float(budget_hours), cutoff, options.seed, notes)
