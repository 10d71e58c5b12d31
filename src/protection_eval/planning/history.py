"""What a plan may know: reports per hexagon and month before the planned month, and the means.

A plan for month M uses only what was recorded before M: the reports of the months before it
(never M itself), the patrol-hours flown in those months and the bases open in M. The planning
units are the H3 cells of the mission's ``sharing.h3_resolution`` whose centre lies in one of its
areas (and any cell holding a report). A report counts when a patrol could have been near it:
the coverage rule of ``docs/coverage.md`` (a point, located at least as precisely as the
coverage radius, at a moment or on a day), so that risk, plan and backtest speak of the same
reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from protection_eval.coverage.areas import month_edges, split_hours_by_period
from protection_eval.coverage.points import IncidentQueries
from protection_eval.hexgrid import cell_centres, hexagon_area_km2, polygon_cells, to_h3_cells
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.model import local_midnight_to_utc, to_local_month
from protection_eval.planning.options import PlanOptions, to_month

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "History",
    "count_history",
    "count_month_reports",
    "flown_budget",
    "history_months",
    "month_bounds",
    "report_cells",
]

#: Months of flown patrol-hours whose mean is the default budget.
BUDGET_MONTHS = 3


@dataclass(frozen=True)
class History:
    """A mission's record before a planned month (restricted: small counts).

    Attributes
    ----------
    month : pandas.Period
        The planned month.
    months : pandas.PeriodIndex
        The months of history used (before ``month``, inside the mission's period).
    cells : pandas.DataFrame
        The planning units: ``h3_cell``, ``x``, ``y`` (centre in the mission's projected CRS,
        metres), ``area_km2``.
    counts : numpy.ndarray
        Reports per cell (rows, as ``cells``) and month (columns, as ``months``).
    totals : pandas.Series
        Reports of the whole mission per month of ``months`` (the in-scope ones).
    patrol_hours : pandas.Series
        Patrol-hours flown per month of ``months`` (each patrol's hours in every local month
        its time overlaps, the one definition of patrol-hours).
    bases : pandas.DataFrame
        ``base_id``, ``x``, ``y`` of the bases open at some time in ``month`` (empty when none);
        None when the mission has no bases at all.
    resolution : int
        The H3 resolution of the units.
    notes : list of str
        What the record lacks, in words.
    """

    month: pd.Period
    months: pd.PeriodIndex
    cells: pd.DataFrame
    counts: np.ndarray = field(repr=False)
    totals: pd.Series
    patrol_hours: pd.Series
    bases: pd.DataFrame | None
    resolution: int
    notes: list[str] = field(default_factory=list)

    @property
    def cell_totals(self) -> pd.Series:
        """Reports per cell over all history months."""
        return pd.Series(self.counts.sum(axis=1), index=self.cells["h3_cell"], name="reports")

    def budget_hours(self) -> float | None:
        """Mean patrol-hours of the last three history months (None without a patrol record)."""
        return _mean_flown(self.patrol_hours)


def month_bounds(month: pd.Period, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the UTC instants of a local month's first and next month's first midnight."""
    edges = pd.DatetimeIndex([month.start_time, (month + 1).start_time])
    start, end = local_midnight_to_utc(edges, timezone)
    return start, end


def report_cells(mission: MissionData, resolution: int) -> pd.DataFrame:
    """Return each in-scope report's H3 cell and local month (restricted).

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    resolution : int
        H3 resolution.

    Returns
    -------
    pandas.DataFrame
        ``h3_cell``, ``month`` (``Period[M]``), indexed like the in-scope incidents; a report
        is in scope when the coverage rule would cover it (``IncidentQueries.in_scope``).
    """
    incidents = mission.incidents
    settings = mission.config.coverage
    projected = to_incident_points(incidents).to_crs(mission.projected_crs)
    scope = IncidentQueries(projected, settings.radius_m, settings.window_h,
                            settings.precision_uncertainty_m).in_scope
    chosen = incidents.loc[scope]
    return pd.DataFrame({
        "h3_cell": to_h3_cells(chosen["longitude"], chosen["latitude"], resolution).to_numpy(),
        "month": to_local_month(chosen["occurred_at"], mission.config.timezone).to_numpy(),
    }, index=chosen.index)


def _universe(mission: MissionData, reports: pd.DataFrame, resolution: int) -> pd.DataFrame:
    cells: set[str] = set(reports["h3_cell"].dropna().astype(str))
    for geometry in mission.areas.geometry:
        cells.update(polygon_cells(geometry, resolution))
    ordered = sorted(cells)
    centres = cell_centres(ordered).to_crs(mission.projected_crs)
    return pd.DataFrame({
        "h3_cell": ordered,
        "x": centres.x.to_numpy(),
        "y": centres.y.to_numpy(),
        "area_km2": hexagon_area_km2(resolution),
    })


def _count(reports: pd.DataFrame, cells: pd.Series, months: pd.PeriodIndex) -> np.ndarray:
    """Count reports per cell and month as a dense array (cells x months)."""
    counts = np.zeros((len(cells), len(months)), dtype=np.int64)
    if len(months) == 0 or reports.empty:
        return counts
    row = pd.Index(cells).get_indexer(reports["h3_cell"])
    col = pd.PeriodIndex(months).get_indexer(pd.PeriodIndex(reports["month"], freq="M"))
    keep = (row >= 0) & (col >= 0)
    np.add.at(counts, (row[keep], col[keep]), 1)
    return counts


def _patrol_hours(mission: MissionData, months: pd.PeriodIndex) -> pd.Series:
    patrols = mission.patrols
    if patrols is None or len(patrols) == 0:
        return pd.Series(0.0, index=months)
    # The one definition of patrol-hours: a patrol's hours count in every local month its
    # time overlaps (coverage.areas.split_hours_by_period).
    span = pd.period_range(months.min(), months.max(), freq="M")
    split = split_hours_by_period(patrols["started_at"], patrols["ended_at"],
                                  edges=month_edges(span.to_timestamp()),
                                  timezone=mission.config.timezone)
    per_month = split.groupby("period")["hours"].sum().reindex(range(len(span)), fill_value=0.0)
    flown = pd.Series(per_month.to_numpy(float), index=span)
    return flown.reindex(months, fill_value=0.0)


def _open_bases(mission: MissionData, month: pd.Period) -> pd.DataFrame | None:
    bases = mission.bases
    if bases is None:
        return None
    first, last = month.start_time, month.end_time.normalize()
    valid_from = pd.to_datetime(bases["valid_from"])
    valid_to = pd.to_datetime(bases["valid_to"])
    open_ = (valid_from.isna() | (valid_from <= last)) & (valid_to.isna() | (valid_to >= first))
    chosen = bases.loc[open_.to_numpy(dtype=bool)].to_crs(mission.projected_crs)
    return pd.DataFrame({"base_id": chosen["base_id"].astype(str).to_numpy(),
                         "x": chosen.geometry.x.to_numpy(), "y": chosen.geometry.y.to_numpy()})


def history_months(mission: MissionData, month: str | pd.Period,
                   options: PlanOptions | None = None) -> pd.PeriodIndex:
    """Return the months a plan for ``month`` may learn from (before it, inside the period).

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : str or pandas.Period
        The planned month (``YYYY-MM``).
    options : PlanOptions, optional
        ``history_months`` is read.

    Returns
    -------
    pandas.PeriodIndex
        At most ``history_months`` months, the last one before ``month``.

    Raises
    ------
    ValueError
        When no month of the mission's period lies before ``month``.
    """
    options = options or PlanOptions()
    month = to_month(month)
    period = mission.config.period
    first = max(pd.Period(period.start, freq="M"), month - options.history_months)
    last = min(pd.Period(period.end, freq="M"), month - 1)
    if last < first:
        raise ValueError(
            f"no month of the mission's data ({period.start:%Y-%m} to {period.end:%Y-%m}) lies "
            f"before {month}: a plan uses only what was recorded before its month"
        )
    return pd.period_range(first, last, freq="M")


def flown_budget(mission: MissionData, month: str | pd.Period,
                 options: PlanOptions | None = None) -> float | None:
    """Return the mean patrol-hours of the last three history months, before any cell is built.

    The same rule as :meth:`History.budget_hours`, for refusing a plan without a budget before
    the mission's hexagons are counted (a country-wide mission has millions).

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : str or pandas.Period
        The planned month (``YYYY-MM``).
    options : PlanOptions, optional
        ``history_months`` is read.

    Returns
    -------
    float or None
        The budget in patrol-hours, None when no patrol was flown in those months.
    """
    return _mean_flown(_patrol_hours(mission, history_months(mission, month, options)))


def _mean_flown(patrol_hours: pd.Series) -> float | None:
    flown = patrol_hours.iloc[-BUDGET_MONTHS:]
    return None if flown.empty or not (flown > 0).any() else float(flown.mean())


def count_history(
    mission: MissionData, month: str | pd.Period, options: PlanOptions | None = None
) -> History:
    """Gather what a plan for ``month`` may use: the record of the months before it.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    month : str or pandas.Period
        The planned month (``YYYY-MM``); it may lie after the mission's data.
    options : PlanOptions, optional
        ``history_months`` is read.

    Returns
    -------
    History
        Cells, counts, totals, patrol-hours and the bases open in the month.

    Raises
    ------
    ValueError
        When no month of the mission's period lies before ``month``.
    """
    options = options or PlanOptions()
    month = to_month(month)
    months = history_months(mission, month, options)
    last = months[-1]
    resolution = int(mission.config.sharing.h3_resolution)
    reports = report_cells(mission, resolution)
    cells = _universe(mission, reports, resolution)
    counts = _count(reports, cells["h3_cell"], months)
    notes = []
    if last < month - 1:
        notes.append(f"the mission's data end in {last}; the months from {last + 1} to "
                     f"{month - 1} are unknown, not quiet")
    bases = _open_bases(mission, month)
    if bases is None:
        notes.append("the mission has no bases: reach from a base cannot be checked, and "
                     "travel to a unit is not counted")
    elif bases.empty:
        notes.append(f"no base is open in {month}: no unit is within reach")
    return History(
        month=month, months=months, cells=cells, counts=counts,
        totals=pd.Series(counts.sum(axis=0), index=months, name="reports"),
        patrol_hours=_patrol_hours(mission, months), bases=bases, resolution=resolution,
        notes=notes,
    )


def count_month_reports(mission: MissionData, month: str | pd.Period,
                        cells: pd.Series) -> pd.Series:
    """Return the in-scope reports of one month per cell (restricted: small counts).

    Parameters
    ----------
    mission : MissionData
        A loaded mission whose data cover ``month``.
    month : str or pandas.Period
        The month.
    cells : pandas.Series
        H3 cells (of the mission's resolution) to count in.

    Returns
    -------
    pandas.Series
        Reports per cell, indexed by ``cells``, named ``reports``.
    """
    month = to_month(month)
    reports = report_cells(mission, int(mission.config.sharing.h3_resolution))
    counts = _count(reports, pd.Series(cells).astype(str), pd.PeriodIndex([month]))
    return pd.Series(counts[:, 0], index=pd.Index(pd.Series(cells).astype(str), name="h3_cell"),
                     name="reports")
