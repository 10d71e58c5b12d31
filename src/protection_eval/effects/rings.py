"""Reported incidents just beyond the reach of patrols: H3 k-ring ratios (issue 17).

The displacement question for the within-reach ratio (:mod:`.within_reach`): do reports rise
just beyond where patrols reach? Method (``docs/validity.md``):

1. Space is cut into the H3 cells whose centre lies in an area, at the resolution whose edge is
   nearest the coverage radius (:func:`protection_eval.hexgrid.resolution_for_radius`), so one
   ring of cells is about one radius. Time is cut into windows of the coverage window rounded up
   to whole days, from the local start of the analysis window (a date-only incident then falls
   in one window).
2. A cell is *within reach* in a window when a patrol was within reach of its centre at some
   moment of the window (the mission's coverage model and parameters, checked at the window's
   end and every coverage window before it). Cells not within reach at grid distance 1 (2) from
   a cell within reach form ring 1 (ring 2); the rest are *clean*.
3. Each area x month is a stratum (a cell belongs to the area holding its centre, a window to
   the local month it starts in). A Poisson model with stratum fixed effects and the log of
   cell-hours as offset, errors clustered by area, gives the ratio of the reporting rate in ring
   1 (ring 2) to the clean rate: the same inference as the within-reach ratio's Poisson form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from protection_eval.coverage.models import CoverageModel, CoverageParams, PatrolMovements
from protection_eval.effects.count_models import EffectEstimate, NotEstimable, fit_count_model
from protection_eval.effects.dose_response import PATROL_PRESENCE
from protection_eval.effects.within_reach import (
    _incident_cover,
    _month_bounds_utc,
    _presence_inputs,
)
from protection_eval.hexgrid import (
    cell_centres,
    grid_ring_cells,
    h3_polygons,
    polygon_cells,
    resolution_for_radius,
    to_h3_cells,
)
from protection_eval.model import to_local_month

if TYPE_CHECKING:
    from protection_eval.config import Period
    from protection_eval.coverage.mission import PreparedCoverage
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "RING_ESTIMANDS",
    "PresenceRings",
    "compute_presence_rings",
    "estimate_presence_rings",
]

#: Estimand of each ring's ratio in the effects table (ring 1, ring 2).
RING_ESTIMANDS = {1: "presence_ring_1", 2: "presence_ring_2"}
_CLASSES = ("reach", "ring_1", "ring_2", "clean")

_CAVEAT = (
    "Ring {k}: reports per cell-hour in H3 cells (resolution {res}) {k} cell(s) beyond the cells a "
    "patrol reached ({radius_km:g} km, within {window_h:g} h windows) versus cells further away, "
    "same area and month. Assumes reporting in the cells further away is a fair baseline and "
    "that patrols outside every area do not reach in; a ratio above 1 can be displacement or "
    "patrols going where reports are expected, not one or the other."
)


@dataclass
class PresenceRings:
    """The ring-1 and ring-2 ratios of a mission, with the cell-hours behind them.

    Attributes
    ----------
    estimates : list of EffectEstimate
        Estimands ``presence_ring_1`` and ``presence_ring_2`` (headline False).
    table : pandas.DataFrame
        Restricted, one row per area x month x class: ``area_id``, ``month``, ``ring``
        (``reach``, ``ring_1``, ``ring_2``, ``clean``), ``cell_hours``, ``incidents``.
    resolution : int
        H3 resolution of the cells.
    left_out : int
        Incidents not counted (out of scope, cell centre outside every area, outside the period).
    notes : list of str
        What was left out and why.
    """

    estimates: list[EffectEstimate]
    table: pd.DataFrame = field(repr=False)
    resolution: int = 0
    left_out: int = 0
    notes: list[str] = field(default_factory=list)


def _ring_matrix(cells: list[str], k: int) -> sparse.csr_matrix:
    """Return the cells x cells 0/1 matrix of pairs at grid distance exactly ``k``."""
    where = {c: i for i, c in enumerate(cells)}
    rows, cols = [], []
    for i, cell in enumerate(cells):
        for other in grid_ring_cells(cell, k):
            j = where.get(other)
            if j is not None:
                rows.append(i)
                cols.append(j)
    n = len(cells)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def compute_presence_rings(
    incidents: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    tables: Mapping[str, gpd.GeoDataFrame | None],
    model: CoverageModel,
    params: CoverageParams,
    months: pd.PeriodIndex,
    *,
    resolution: int | None = None,
    incident_coverage: pd.DataFrame | None = None,
    moves: PatrolMovements | None = None,
) -> PresenceRings:
    """Estimate the ring-1 and ring-2 versus clean reporting-rate ratios from projected tables.

    Parameters
    ----------
    incidents, areas, tables, model, params, months
        As :func:`protection_eval.effects.within_reach.compute_presence_effect` takes them.
    resolution : int, optional
        H3 resolution of the cells; the one whose edge is nearest the radius when None.
    incident_coverage : pandas.DataFrame, optional
        This run's per-incident coverage (for ``in_scope``), as the within-reach ratio takes it.
    moves : tuple of (Movements, pandas.Index), optional
        ``model.movements(tables, params)``, when already built.

    Returns
    -------
    PresenceRings
        One estimate per ring that has cell-hours beside clean cell-hours.

    Raises
    ------
    NotEstimable
        When no area holds a cell centre, or no ring can be compared with clean cells.
    """
    res = resolution_for_radius(params.radius_m) if resolution is None else int(resolution)
    notes: list[str] = []

    def cover_points(points: gpd.GeoDataFrame) -> pd.DataFrame:
        return model.cover(points, tables, params, **({} if moves is None else {"moves": moves}))

    # Domain: cells whose centre is in an area (the first area listed when areas overlap).
    areas_ll = areas.to_crs("EPSG:4326")
    cell_area: dict[str, str] = {}
    for area_id, geom in zip(areas_ll["area_id"], areas_ll.geometry, strict=True):
        for cell in polygon_cells(geom, res):
            cell_area.setdefault(cell, str(area_id))
    if not cell_area:
        raise NotEstimable(f"no area holds the centre of an H3 cell at resolution {res}")
    cells = sorted(cell_area)
    where = pd.Series(np.arange(len(cells)), index=cells)
    centres = cell_centres(cells).to_crs(areas.crs)
    # Reports come only from inside the areas: a cell on the edge of the mission is exposed by
    # the share of it that lies in an area (without this, edge cells, mostly clean, dilute the
    # clean rate and push every ring's ratio above 1).
    hexes = h3_polygons(cells).to_crs(areas.crs)
    inside = (hexes.intersection(areas.geometry.union_all()).area / hexes.area).to_numpy()

    # Windows: the coverage window rounded up to whole days, from the local start of the period.
    t0, t1 = _month_bounds_utc(months, params.timezone)
    start, end = float(t0[0]), float(t1[-1])
    length = math.ceil(params.window_h / 24) * 24 * 3600.0
    w_start = np.arange(start, end, length)
    w_end = np.minimum(w_start + length, end)
    hours = (w_end - w_start) / 3600.0
    checks = math.ceil(length / (params.window_h * 3600.0))
    n_w, n_c = len(w_start), len(cells)
    moments = (w_end[:, None] - np.arange(checks)[None, :] * params.window_h * 3600.0)
    moments = np.maximum(moments, w_start[:, None] + 1.0)
    epoch = pd.Timestamp(0, tz="UTC")
    points = gpd.GeoDataFrame(
        {"occurred_at": epoch + pd.to_timedelta(np.repeat(moments.ravel(), n_c), unit="s")},
        geometry=np.tile(centres.array, n_w * checks), crs=areas.crs,
    )
    covered = cover_points(points)["covered"].to_numpy(dtype=bool, na_value=False)
    reach = covered.reshape(n_w, checks, n_c).any(axis=1)

    near1 = (sparse.csr_matrix(reach.astype(float)) @ _ring_matrix(cells, 1)).toarray() > 0
    near2 = (sparse.csr_matrix(reach.astype(float)) @ _ring_matrix(cells, 2)).toarray() > 0
    ring = np.full((n_w, n_c), 3, dtype=np.int8)
    ring[near2 & ~reach] = 2
    ring[near1 & ~reach] = 1
    ring[reach] = 0

    # Incidents in scope for coverage, in a domain cell and in the period.
    cover = _incident_cover(incidents, cover_points, incident_coverage)
    ll = incidents.geometry.to_crs("EPSG:4326")
    inc_cell = to_h3_cells(ll.x.reset_index(drop=True), ll.y.reset_index(drop=True), res)
    t = ((incidents["occurred_at"] - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    if "time_precision" in incidents:
        # A date-only incident is placed at midday: windows are whole local days, so midday
        # falls in the window of its day even where daylight saving moves midnight an hour.
        day = incidents["time_precision"].astype("string").eq("day").fillna(False).to_numpy(bool)
        t = t + np.where(day, 12 * 3600.0, 0.0)
    in_domain = inc_cell.isin(cells).to_numpy()
    in_time = (t >= start) & (t < end)
    keep = cover["in_scope"].to_numpy(dtype=bool) & in_domain & in_time
    left_out = int(len(incidents) - keep.sum())
    if left_out:
        notes.append(f"{left_out} of {len(incidents)} incidents left out: location too imprecise "
                     "for the radius, centre of their cell outside every area, or outside the "
                     "analysis window")
    inc_w = ((t[keep] - start) // length).astype(int)
    inc_c = where.reindex(inc_cell[keep].to_numpy()).to_numpy(dtype=int)
    counts = np.zeros((n_w, n_c))
    np.add.at(counts, (inc_w, inc_c), 1.0)

    w_month = to_local_month(pd.Series(epoch + pd.to_timedelta(w_start, unit="s")),
                             params.timezone).astype(str).to_numpy()
    long = pd.DataFrame({
        "area_id": np.tile(np.array([cell_area[c] for c in cells]), n_w),
        "month": np.repeat(w_month, n_c),
        "ring": np.asarray(_CLASSES)[ring.ravel()],
        "cell_hours": np.outer(hours, inside).ravel(),
        "incidents": counts.ravel(),
    })
    table = long.groupby(["area_id", "month", "ring"], as_index=False, sort=True).sum()
    table["stratum"] = table["area_id"] + "|" + table["month"]
    # A stratum without an incident says nothing about a ratio inside it (its effect is -inf).
    table = table[table.groupby("stratum")["incidents"].transform("sum") > 0]
    present = [k for k in (1, 2) if (table["ring"] == f"ring_{k}").any()]
    if not (table["ring"] == "clean").any() or not present:
        raise NotEstimable("no area-month holds both cells just beyond reach and clean cells "
                           "with an incident")
    terms = [r for r in ("reach", "ring_1", "ring_2") if (table["ring"] == r).any()]
    for r in terms:
        table[r] = (table["ring"] == r).astype(float)
    table["log_exposure"] = np.log(table["cell_hours"])
    table["row"] = table["stratum"] + "|" + table["ring"]
    fit = fit_count_model(table, "incidents", terms, fixed_effects=("stratum",),
                          offset="log_exposure", cluster="area_id")
    estimates = []
    for k in present:
        est = EffectEstimate.from_fit(
            fit, f"ring_{k}", strategy_id=PATROL_PRESENCE, estimand=RING_ESTIMANDS[k],
            model="poisson_fe_offset", design="h3_rings", period_col="row",
            unit=f"ring {k} beyond reach versus clean cells, per cell-hour, same area and month",
        )
        used = fit.data
        est.n_periods = int(used["month"].nunique())
        est.n_incidents = int(used.loc[used["ring"].isin([f"ring_{k}", "clean"]),
                                       "incidents"].sum())
        est.caveats.append(_CAVEAT.format(k=k, res=res, radius_km=params.radius_m / 1000,
                                          window_h=params.window_h))
        estimates.append(est)
    out = table[["area_id", "month", "ring", "cell_hours", "incidents"]].reset_index(drop=True)
    return PresenceRings(estimates, out, res, left_out, notes)


def estimate_presence_rings(
    mission: MissionData,
    *,
    period: Period | None = None,
    resolution: int | None = None,
    incident_coverage: pd.DataFrame | None = None,
    prepared: PreparedCoverage | None = None,
) -> PresenceRings:
    """Estimate a loaded mission's ring ratios with its coverage model and parameters.

    Parameters
    ----------
    mission : MissionData
        From :func:`protection_eval.runs.missions.load_mission`.
    period : Period, optional
        Analysis window; the mission period when None.
    resolution : int, optional
        H3 resolution of the cells; the one whose edge is nearest the coverage radius when None.
    incident_coverage : pandas.DataFrame, optional
        This run's per-incident coverage, when already computed.
    prepared : PreparedCoverage, optional
        :func:`protection_eval.coverage.mission.prepare_coverage` of this mission, when built.

    Returns
    -------
    PresenceRings
        See :func:`compute_presence_rings`.

    Raises
    ------
    NotEstimable
        When the mission has no patrol or base presence, or no ring to compare.
    """
    months, crs, prepared = _presence_inputs(
        mission, period, prepared, "no ring beyond reach can be drawn")
    return compute_presence_rings(
        mission.incidents.to_crs(crs), mission.areas.to_crs(crs), prepared.tables,
        prepared.model, prepared.params, months, resolution=resolution,
        incident_coverage=incident_coverage, moves=prepared.moves,
    )
