"""A plan as patrols would fly it: trips from the bases through the planned units.

The month is cut into rounds of ``window_h`` hours or less (one pass of a fully patrolled unit
in each, so that it stays within reach all month); a unit with fewer passes joins as many
rounds, spread evenly. In each round, the units nearest to each open base are visited in
nearest-neighbour order, starting and ending at the base, and a trip closes when the next unit
and the way back would not fit in a day's patrol; at each unit the patrol sweeps it (stationary
at its centre, for the sweep time). The trips of a round are spread evenly over it.

These trips are what the plan's patrol-hours buy: their hours are held to the month's budget
(:func:`protection_eval.planning.month.plan_month`), and their movements are what the backtest
covers reports with, through the project's coverage index
(:func:`protection_eval.coverage.points.cover_incidents`). A real commander routes patrols
better than nearest-neighbour; the plan's coverage is then a floor, not a promise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from protection_eval.coverage.index import Movements
from protection_eval.coverage.points import EPOCH
from protection_eval.planning.allocation import PatrolPlan, sweep_hours
from protection_eval.planning.history import History, month_bounds

__all__ = ["PlanRoutes", "route_plan"]

_HOUR_S = 3600.0


@dataclass(frozen=True)
class PlanRoutes:
    """The trips that carry out a plan.

    Attributes
    ----------
    movements : Movements
        Straight legs and stationary sweeps, metres in the mission's projected CRS, seconds
        since :data:`protection_eval.coverage.points.EPOCH`.
    hours : float
        Patrol-hours of all trips (travel and sweeps).
    trips : int
        Trips in the month.
    """

    movements: Movements
    hours: float
    trips: int


def _rounds(passes: np.ndarray, n_rounds: int) -> list[np.ndarray]:
    """Units taking part in each round: a unit with p passes joins p rounds, spread evenly."""
    r = np.arange(n_rounds)[:, None]
    joins = np.floor((r + 1) * passes[None, :] / n_rounds) > np.floor(r * passes[None, :]
                                                                     / n_rounds)
    return [np.flatnonzero(row) for row in joins]


def _tours(start: np.ndarray | None, points: np.ndarray, sweep: np.ndarray, speed_m_h: float,
           day_h: float) -> list[list[int]]:
    """Split points into nearest-neighbour trips from ``start`` that fit in ``day_h`` hours."""
    left = list(range(len(points)))
    trips: list[list[int]] = []
    while left:
        here = start if start is not None else points[left[0]]
        used, trip = 0.0, []
        while left:
            gaps = np.hypot(*(points[left] - here).T)
            pick = int(np.argmin(gaps))
            j = left[pick]
            back = 0.0 if start is None else np.hypot(*(points[j] - start)) / speed_m_h
            need = gaps[pick] / speed_m_h + sweep[j]
            if trip and used + need + back > day_h:
                break
            trip.append(j)
            used += need
            here = points[j]
            left.pop(pick)
        trips.append(trip)
    return trips


def route_plan(plan: PatrolPlan, history: History, *, radius_m: float, window_h: float,
               timezone: str, speed_kmh: float, day_h: float,
               planned: np.ndarray | None = None) -> PlanRoutes:
    """Draw the trips that carry out a plan (see the module's docstring).

    Parameters
    ----------
    plan : PatrolPlan
        The plan (its ``passes`` per unit).
    history : History
        Unit centres and the bases open in the month.
    radius_m, window_h : float
        Coverage radius and window.
    timezone : str
        Mission time zone (the month's local bounds).
    speed_kmh, day_h : float
        Patrol speed and a day's patrol.
    planned : numpy.ndarray of bool, optional
        Units to route instead of the plan's (e.g. the unrandomised optimum's).

    Returns
    -------
    PlanRoutes
        Movements, hours and trips.
    """
    units = plan.units
    chosen = units["planned"].to_numpy() if planned is None else np.asarray(planned, dtype=bool)
    start, end = month_bounds(history.month, timezone)
    month_h = (end - start) / pd.Timedelta(hours=1)
    n_rounds = int(np.ceil(month_h / window_h))
    full = n_rounds
    passes = np.where(chosen, np.where(units["passes"] > 0, units["passes"], full), 0)
    passes = np.minimum(passes, full)
    xy = history.cells[["x", "y"]].to_numpy()
    sweep = sweep_hours(history.cells["area_km2"].to_numpy(), radius_m, speed_kmh)
    bases = None if history.bases is None or history.bases.empty else (
        history.bases[["x", "y"]].to_numpy())
    owner = (np.zeros(len(xy), dtype=int) if bases is None
             else cKDTree(bases).query(xy)[1])
    speed = speed_kmh * 1000.0
    legs: list[tuple[float, float, float, float, float, float]] = []
    hours, trips = 0.0, 0
    t0 = (start - EPOCH) / pd.Timedelta(seconds=1)
    round_s = month_h * _HOUR_S / n_rounds
    for r, members in enumerate(_rounds(passes, n_rounds)):
        tours = []
        for b in np.unique(owner[members]):
            group = members[owner[members] == b]
            home = None if bases is None else bases[b]
            tours += [(home, group[trip]) for trip in _tours(home, xy[group], sweep[group],
                                                             speed, day_h)]
        for j, (home, stops) in enumerate(tours):
            t = t0 + r * round_s + j * round_s / len(tours)
            here = xy[stops[0]] if home is None else home
            for stop in stops:
                moved = np.hypot(*(xy[stop] - here)) / speed * _HOUR_S
                legs.append((*here, *xy[stop], t, t + moved))
                t += moved
                legs.append((*xy[stop], *xy[stop], t, t + sweep[stop] * _HOUR_S))
                t += sweep[stop] * _HOUR_S
                here = xy[stop]
            if home is not None:
                moved = np.hypot(*(home - here)) / speed * _HOUR_S
                legs.append((*here, *home, t, t + moved))
                t += moved
            hours += (t - (t0 + r * round_s + j * round_s / len(tours))) / _HOUR_S
            trips += 1
    if not legs:
        return PlanRoutes(Movements.empty(), 0.0, 0)
    a = np.asarray(legs, dtype=float)
    moves = Movements(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5])
    return PlanRoutes(moves, float(hours), trips)
