"""The within-reach ratio on H3 cells, for missions with too few areas to compare within.

The within-reach ratio (:mod:`.within_reach`) compares incidents with random space-time
control points inside each area x month and clusters its errors by area. With one area (a
whole country as one polygon) or a handful, there is no cluster to speak of: the fit stops at
"1 clusters ... are too few", and the evaluator's question, *are there fewer reports near
patrols?*, goes unanswered. Here space is cut into H3 cells instead (method in
``docs/validity.md``):

1. The cell resolution is chosen from the data: cells one resolution coarser than the one whose
   edge is nearest the coverage radius (:func:`protection_eval.hexgrid.resolution_for_radius`),
   so a cell is about six times the reach of a patrol at its centre and can hold places within
   and out of reach; one resolution finer, then two, while the incidents that can be compared
   lie in fewer than :data:`MIN_CELL_CLUSTERS` parents.
2. Each cell x local month with an incident in scope is a stratum. Control points are drawn
   uniformly in the part of the cell inside the mission's areas and uniformly in time over the
   month, and covered with the mission's coverage model, exactly as the area design does.
3. The same likelihood as the area design (Poisson with stratum effects and offsets, or the
   date-only mixture), with errors clustered by the cells' parents one resolution coarser (t
   with G - 1 degrees of freedom): neighbouring cells share reporting conditions, so they are
   not counted as independent.

:func:`estimate_cell_presence_effect` is what
:func:`protection_eval.effects.mission.estimate_mission` calls when the mission has fewer than
:data:`MIN_PRESENCE_AREAS` areas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.coverage.models import CoverageModel, CoverageParams, PatrolMovements
from protection_eval.coverage.points import covered_only
from protection_eval.effects.cell_design import (
    CELL_CAVEAT,
    CELL_DESIGN,
    CELL_REASONS,
    MIN_CELL_CLUSTERS,
    MIN_PRESENCE_AREAS,
    candidate_resolutions,
)
from protection_eval.effects.count_models import NotEstimable
from protection_eval.effects.within_reach import (
    _CAVEATS,
    CONTROLS_PER_STRATUM,
    DAY_GRID,
    PresenceEffect,
    _day_shares,
    _estimate,
    _incident_cover,
    _presence_inputs,
    _stratum_table,
    make_control_points,
    reach_caveats,
)
from protection_eval.hexgrid import (
    h3_polygons,
    hexagon_area_km2,
    to_h3_cells,
    to_parent_cells,
)
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.model import to_local_month

if TYPE_CHECKING:
    from protection_eval.config import Period
    from protection_eval.coverage.mission import PreparedCoverage
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "CELL_CAVEAT",
    "CELL_DESIGN",
    "CELL_REASONS",
    "MIN_CELL_CLUSTERS",
    "MIN_PRESENCE_AREAS",
    "candidate_resolutions",
    "compute_cell_presence_effect",
    "estimate_cell_presence_effect",
]



def _round2(value: float) -> float:
    return float(f"{value:.2g}")


def _cell_shapes(cells: pd.Index, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return each cell's part inside the mission's areas, in the areas' (projected) CRS."""
    polygons = h3_polygons(pd.Series(cells.astype(str), index=cells)).to_crs(areas.crs)
    inside = polygons.intersection(areas.geometry.union_all())
    return gpd.GeoDataFrame({"area_id": cells.astype(str)}, geometry=inside.to_numpy(),
                            crs=areas.crs)


def _draw_controls(
    shapes: gpd.GeoDataFrame, strata: pd.DataFrame, n: int, rng: np.random.Generator,
    timezone: str,
) -> gpd.GeoDataFrame:
    """Draw ``n`` control points in every cell x month stratum that holds an incident."""
    frames = []
    for month, group in strata.groupby("period", sort=True):
        chosen = shapes[shapes["area_id"].isin(group["area_id"])]
        months = pd.PeriodIndex([pd.Timestamp(month).to_period("M")])
        frames.append(make_control_points(chosen, months, n, rng, timezone=timezone))
    if not frames:
        raise NotEstimable(CELL_REASONS["strata"])
    return pd.concat(frames, ignore_index=True)


def _cell_strata(
    inc: gpd.GeoDataFrame, share: np.ndarray, month: pd.Series, resolution: int,
    areas: gpd.GeoDataFrame, cover_points: Callable[[gpd.GeoDataFrame], pd.DataFrame],
    n: int, rng: np.random.Generator, timezone: str,
) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """Return the cell x month strata at one resolution and the incidents they can use."""
    cells = to_h3_cells(inc["longitude"], inc["latitude"], resolution)
    inc_frame = pd.DataFrame({"area_id": cells.astype(str).to_numpy(),
                              "period": month.dt.start_time.to_numpy(), "share": share})
    wanted = inc_frame[["area_id", "period"]].drop_duplicates()
    shapes = _cell_shapes(pd.Index(sorted(wanted["area_id"].unique())), areas)
    controls = _draw_controls(shapes, wanted, n, rng, timezone)
    covered = cover_points(controls)["covered"].to_numpy(dtype=bool)
    strata = _stratum_table(inc_frame, controls, covered, n)
    strata["cluster"] = to_parent_cells(strata["area_id"], resolution - 1)
    inc_frame = inc_frame.merge(strata[["area_id", "period", "p_covered", "used", "cluster"]],
                                on=["area_id", "period"], how="left")
    return resolution, strata, inc_frame[inc_frame["used"].eq(True)]


def compute_cell_presence_effect(
    incidents: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    tables: Mapping[str, gpd.GeoDataFrame | None],
    model: CoverageModel,
    params: CoverageParams,
    months: pd.PeriodIndex,
    *,
    controls_per_stratum: int = CONTROLS_PER_STRATUM,
    seed: int = 0,
    day_grid: int = DAY_GRID,
    incident_coverage: pd.DataFrame | None = None,
    moves: PatrolMovements | None = None,
    resolution: int | None = None,
) -> PresenceEffect:
    """Estimate the within-reach ratio on H3 cell x month strata, clustered by parent cells.

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        Incidents in a projected CRS, with ``occurred_at`` (UTC), ``longitude`` and
        ``latitude`` (EPSG:4326, for the cells), and optionally ``time_precision`` and
        ``location_precision``.
    areas : geopandas.GeoDataFrame
        The mission's areas, same CRS: controls are drawn only inside them.
    tables, model, params, months, controls_per_stratum, seed, day_grid, incident_coverage, moves
        As :func:`protection_eval.effects.within_reach.compute_presence_effect`.
    resolution : int, optional
        Cell resolution (the parents are one coarser); chosen by
        :func:`candidate_resolutions`, the coarsest whose used strata fall in at least
        :data:`MIN_CELL_CLUSTERS` parents, when None.

    Returns
    -------
    PresenceEffect
        Design :data:`CELL_DESIGN`; ``strata`` has one row per cell x month (``area_id`` is the
        cell) and ``cluster``.

    Raises
    ------
    NotEstimable
        When the incidents lie in fewer than :data:`MIN_CELL_CLUSTERS` parents, or no stratum
        has both covered and uncovered controls.
    """
    rng = np.random.default_rng([int(seed), 5])
    notes: list[str] = []

    def cover_points(points: gpd.GeoDataFrame) -> pd.DataFrame:
        with covered_only():
            return model.cover(points, tables, params,
                               **({} if moves is None else {"moves": moves}))

    cover = _incident_cover(incidents, cover_points, incident_coverage)
    month = to_local_month(incidents["occurred_at"], params.timezone)
    keep = (cover["in_scope"].to_numpy(dtype=bool) & month.isin(months).to_numpy()
            & incidents["longitude"].notna().to_numpy())
    inc = incidents.loc[keep]
    share = cover.loc[keep, "covered"].to_numpy(dtype=float, na_value=np.nan)
    day = np.zeros(len(inc), dtype=bool)
    if "time_precision" in inc and model.name != "bases":
        day = inc["time_precision"].astype("string").eq("day").fillna(False).to_numpy(bool)
    if day.any():
        share[day] = _day_shares(inc.loc[day], cover_points, day_grid)
    tried = candidate_resolutions(params.radius_m) if resolution is None else (resolution,)
    found = None
    for cell_resolution in tried:
        found = _cell_strata(inc, share, month[keep], cell_resolution, areas, cover_points,
                             controls_per_stratum, rng, params.timezone)
        if found[2]["cluster"].nunique() >= MIN_CELL_CLUSTERS:
            break
    resolution, strata, used = found
    parent = resolution - 1
    parent_km2 = _round2(hexagon_area_km2(parent))
    if used["cluster"].nunique() < MIN_CELL_CLUSTERS:
        raise NotEstimable(CELL_REASONS["clusters"].format(
            needed=MIN_CELL_CLUSTERS, parent_km2=parent_km2,
            found=int(used["cluster"].nunique())))
    skipped = int(strata.loc[~strata["used"], "incidents"].sum())
    if skipped:
        notes.append(f"{skipped} incidents in hexagon-months wholly within or wholly out of "
                     "reach (no comparison inside the stratum): not used")
    estimate = _estimate(used, strata[strata["used"]], model.name, cluster="cluster")
    estimate.design = CELL_DESIGN
    estimate.unit = (f"within reach ({model.name}) versus not, same H3 cell (resolution "
                     f"{resolution}) and month")
    estimate.n_areas = int(used["area_id"].nunique())
    estimate.n_periods = int(used["period"].nunique())
    estimate.n_clusters = int(used["cluster"].nunique())
    estimate.caveats += reach_caveats(model.name, params)
    estimate.caveats.append(CELL_CAVEAT.format(
        cell_km2=_round2(hexagon_area_km2(resolution)), n_areas=len(areas),
        parent_km2=parent_km2))
    if day.any():
        estimate.caveats.append(_CAVEATS["date_only"].format(
            which="All" if day.all() else "Some"))
    left_out = int(len(incidents) - keep.sum())
    if left_out:
        estimate.caveats.append(_CAVEATS["left_out"])
        notes.append(f"{left_out} of {len(incidents)} incidents left out: location too "
                     "imprecise for the radius, month without presence data, or outside the "
                     "analysis window")
    notes.append(f"estimated on H3 cells of resolution {resolution}, errors clustered by "
                 f"{estimate.n_clusters} parent cells of resolution {parent}")
    return PresenceEffect(estimate, strata, model.name, controls_per_stratum, notes)


def estimate_cell_presence_effect(
    mission: MissionData,
    *,
    period: Period | None = None,
    controls_per_stratum: int = CONTROLS_PER_STRATUM,
    seed: int | None = None,
    incident_coverage: pd.DataFrame | None = None,
    prepared: PreparedCoverage | None = None,
    resolution: int | None = None,
) -> PresenceEffect:
    """Estimate a loaded mission's within-reach ratio on H3 cells.

    Parameters
    ----------
    mission : MissionData
        From :func:`protection_eval.runs.missions.load_mission`.
    period, controls_per_stratum, seed, incident_coverage, prepared
        As :func:`protection_eval.effects.within_reach.estimate_presence_effect`.
    resolution : int, optional
        Cell resolution; chosen from the data when None.

    Returns
    -------
    PresenceEffect
        See :func:`compute_cell_presence_effect`.

    Raises
    ------
    NotEstimable
        When the mission has no presence data, or too few places to compare.
    """
    months, crs, prepared = _presence_inputs(
        mission, period, prepared, "reports within reach of a patrol cannot be compared")
    return compute_cell_presence_effect(
        to_incident_points(mission.incidents).to_crs(crs), mission.areas.to_crs(crs),
        prepared.tables,
        prepared.model, prepared.params, months, controls_per_stratum=controls_per_stratum,
        seed=mission.config.seed if seed is None else seed,
        incident_coverage=incident_coverage, moves=prepared.moves, resolution=resolution,
    )
