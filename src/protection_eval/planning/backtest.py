"""The backtest: a month's reports within reach under the plan and under the patrols flown.

A month M of the mission's data is planned from the months before it, and its reports (those a
patrol could have been near: ``docs/coverage.md``) are covered twice with the project's coverage
code: by the patrols flown (the mission's coverage model, tracks, routes or bases) and by the
plan's trips (:mod:`protection_eval.planning.routes`). Both use the mission's radius and window.
The plan's trips start on the first of the month; the patrols flown in the last days of the
month before still count for the first reports of M, so the comparison is, if anything, unfair to
the plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from protection_eval.coverage.mission import PreparedCoverage, prepare_coverage
from protection_eval.coverage.points import cover_incidents
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.model import to_local_month
from protection_eval.planning.options import to_month
from protection_eval.planning.routes import PlanRoutes

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = ["Backtest", "backtest_plan"]


@dataclass(frozen=True)
class Backtest:
    """The share of a month's reports within reach under the plan and under the patrols flown.

    Attributes
    ----------
    month : str
        ``YYYY-MM``.
    covered_share_plan, covered_share_actual : float or None
        Shares of the month's in-scope reports with a patrol within reach (None without
        reports, or, for the patrols flown, without presence data).
    reports : int
        The month's in-scope reports (restricted: may be small).
    plan_hours, flown_hours : float
        Hours of the plan's trips and of the patrols flown in the month.
    notes : list of str
        How the comparison was made.
    """

    month: str
    covered_share_plan: float | None
    covered_share_actual: float | None
    reports: int
    plan_hours: float
    flown_hours: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the backtest as plain values (``backtest.json``)."""
        return asdict(self)


def backtest_plan(
    mission: MissionData,
    month: str | pd.Period,
    routes: PlanRoutes,
    *,
    flown_hours: float,
    prepared: PreparedCoverage | None = None,
) -> Backtest:
    """Cover a month's reports with the plan's trips and with the patrols flown.

    Parameters
    ----------
    mission : MissionData
        A loaded mission whose data cover ``month``.
    month : str or pandas.Period
        The planned month.
    routes : PlanRoutes
        The plan's trips (:func:`protection_eval.planning.routes.route_plan`).
    flown_hours : float
        Patrol-hours flown in the month (reported beside the plan's).
    prepared : PreparedCoverage, optional
        The mission's coverage, prepared once (:func:`prepare_coverage`).

    Returns
    -------
    Backtest
        Both covered shares.
    """
    month = to_month(month)
    prepared = prepared or prepare_coverage(mission)
    params = prepared.params
    incidents = mission.incidents
    in_month = (to_local_month(incidents["occurred_at"], params.timezone) == month).to_numpy()
    chosen = to_incident_points(incidents.loc[in_month]).to_crs(mission.projected_crs)
    planned = cover_incidents(chosen, routes.movements, params.radius_m, params.window_h,
                              precision_uncertainty_m=params.precision_uncertainty_m)
    actual = prepared.cover(chosen)
    scope = planned["in_scope"].to_numpy(dtype=bool)
    n = int(scope.sum())

    def share(frame: pd.DataFrame) -> float | None:
        covered = frame.loc[scope, "covered"]
        if n == 0 or covered.isna().any():
            return None
        return float(np.mean(covered.to_numpy(dtype=bool)))

    notes = [
        f"reports of {month} a patrol could have been near ({params.radius_m:g} m, "
        f"{params.window_h:g} h before), covered by the plan's trips and by the patrols flown "
        f"({prepared.model.name})",
    ]
    return Backtest(str(month), share(planned), share(actual), n, float(routes.hours),
                    float(flown_hours), notes)
