"""Spatio-temporal coverage of SGBV incidents by patrols: the public entry points.

Were patrols there, and when, where sexual violence was reported? The rules (interpolation,
gap limit, location precision, date-only incidents, base radius) are in ``docs/coverage.md``;
the models (GPS tracks, routes, bases) are in :mod:`protection_eval.coverage.models`, the exact
space-time index in :mod:`protection_eval.coverage.index`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from protection_eval.config import parse_period
from protection_eval.coverage.areas import (
    AREA_MEASURE_COLUMNS,
    compute_area_measures,
    compute_footprints,
    local_naive,
)
from protection_eval.coverage.gaps import (
    compute_gaps,
    summarise_gaps,
    to_gap_layer,
    to_shared_gaps,
)
from protection_eval.coverage.models import (
    COVERAGE_MODELS,
    CoverageParams,
    choose_coverage_model,
    register_coverage_model,
)
from protection_eval.coverage.points import (
    COVERAGE_COLUMNS,
    check_columns,
    check_projected,
    cover_incidents,
    movements_from_tracks,
)

if TYPE_CHECKING:
    from protection_eval.config import MissionConfig, Period
    from protection_eval.ingest.tables import MissionData
    from protection_eval.sharing.maps import CoverageMap

__all__ = [
    "AREA_MEASURE_COLUMNS",
    "COVERAGE_COLUMNS",
    "COVERAGE_MODELS",
    "CoverageParams",
    "CoverageResult",
    "choose_coverage_model",
    "compute_incident_coverage",
    "compute_mission_coverage",
    "make_shared_coverage_map",
    "register_coverage_model",
    "to_coverage_params",
    "write_coverage",
]


def compute_incident_coverage(
    incidents: gpd.GeoDataFrame,
    tracks: gpd.GeoDataFrame,
    radius_m: float,
    window_h: float,
    *,
    max_gap_h: float = 6.0,
    precision_uncertainty_m: Mapping[str, float] | None = None,
    nearest_within_m: float | None = None,
) -> pd.DataFrame:
    """Decide, for each incident, whether a GPS-tracked patrol was within reach before it.

    Positions between two fixes of a patrol are interpolated along the straight line at uniform
    speed, unless the fixes are more than ``max_gap_h`` apart. Distances are exact (no buffer
    polygons).

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        Points with ``occurred_at`` (UTC); optional ``time_precision`` (``time``/``day``) and
        ``location_precision``.
    tracks : geopandas.GeoDataFrame
        GPS fixes: Point geometry, ``patrol_id``, ``recorded_at`` (UTC), in the incidents' CRS.
    radius_m : float
        Coverage radius in metres; a patrol at exactly this distance covers.
    window_h : float
        Hours before the incident during which a patrol counts.
    max_gap_h : float
        Longest gap between two fixes that is interpolated.
    precision_uncertainty_m : mapping, optional
        Nominal location uncertainty per ``location_precision``; defaults to the configuration's
        (exact 100 m, settlement 5 km, admin2 50 km, admin1 200 km, country 1,000 km). An
        incident whose uncertainty exceeds ``radius_m`` is left out.
    nearest_within_m : float, optional
        Largest distance reported in ``nearest_m`` (default ``radius_m``).

    Returns
    -------
    pandas.DataFrame
        Same index as ``incidents``; columns ``in_scope`` (bool), ``left_out_reason``
        (``precision``, ``no_location``, ``no_time`` or NA), ``covered`` (boolean, NA when left
        out), ``nearest_m`` (nearest patrol position in the window, NaN when none within
        ``nearest_within_m``), ``since_patrol_h`` (hours from the last moment a patrol was within
        the radius to the incident, NaN when not covered).

    Raises
    ------
    ValueError
        When an input is in a geographic CRS, the CRSs differ, or times are not UTC-aware.
    """
    check_projected({"incidents": incidents, "tracks": tracks})
    check_columns(incidents, "incidents", ("occurred_at", "geometry"))
    check_columns(tracks, "tracks", ("patrol_id", "recorded_at", "geometry"))
    moves = movements_from_tracks(tracks, max_gap_h)
    return cover_incidents(
        incidents,
        moves,
        radius_m,
        window_h,
        precision_uncertainty_m=precision_uncertainty_m,
        nearest_within_m=nearest_within_m,
    )


#: Counts of the summary that are suppressed in the shared form when from 1 to k-1.
_SUMMARY_COUNTS: tuple[str, ...] = (
    "incidents_total",
    "incidents_in_scope",
    "incidents_covered",
    "incidents_left_out_by_precision",
    "incidents_left_out_other",
    "incidents_date_only",
)


@dataclass(frozen=True)
class CoverageResult:
    """A mission's coverage: per incident, per area and month, gaps, and a summary.

    Attributes
    ----------
    model : str
        The coverage model used: ``tracks``, ``routes`` or ``bases``.
    params : CoverageParams
        Radius, window, gap limit, precision uncertainties, time zone.
    incidents : pandas.DataFrame
        Restricted, one row per incident (the mission's incident index): ``incident_id``,
        ``area_id``, ``period`` (local month start), then :data:`COVERAGE_COLUMNS`.
    areas : pandas.DataFrame
        Area x month measures, :data:`AREA_MEASURE_COLUMNS` (see
        :func:`protection_eval.coverage.areas.compute_area_measures`).
    gaps : pandas.DataFrame
        Restricted hexagon x month gap list (see
        :func:`protection_eval.coverage.gaps.compute_gaps`).
    gaps_overall : pandas.DataFrame
        The same over the whole period (``period`` NaT), one row per hexagon.
    summary : dict
        Mission-level figures, raw counts: ``incidents_total``, ``incidents_in_scope``,
        ``incidents_covered``, ``covered_share`` (covered / in scope), ``radius_m``,
        ``window_h``, ``model``, ``incidents_left_out_by_precision`` and more.
    area_shapes : geopandas.GeoDataFrame
        The mission's areas (EPSG:4326), for the per-area layer.
    presence : geopandas.GeoDataFrame
        Presence pieces in the projected CRS (restricted: patrol movements).
    footprints : geopandas.GeoDataFrame
        Per month, the surface within the radius of presence (projected CRS).
    """

    model: str
    params: CoverageParams
    incidents: pd.DataFrame
    areas: pd.DataFrame
    gaps: pd.DataFrame
    gaps_overall: pd.DataFrame
    summary: dict[str, Any]
    area_shapes: gpd.GeoDataFrame = field(repr=False)
    presence: gpd.GeoDataFrame = field(repr=False)
    footprints: gpd.GeoDataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return the per-incident coverage table (restricted)."""
        return self.incidents.copy()

    def shared_summary(self, k: int) -> dict[str, Any]:
        """Return the summary as it may be shared.

        A count from 1 to k-1 becomes None, and so does anything that would let it be solved
        for: the in-scope and left-out counts (which add up to the total) are hidden together,
        the covered count when the uncovered count is small, and the covered share with either.
        """
        from protection_eval.sharing.disclosure import check_k

        k = check_k(k)
        out = dict(self.summary)

        def small(value: Any) -> bool:
            return value is not None and 1 <= int(value) < k

        hide = {key for key in _SUMMARY_COUNTS if small(out.get(key))}
        parts = {"incidents_in_scope", "incidents_left_out_by_precision",
                 "incidents_left_out_other"}
        if hide & parts:
            hide |= parts
        uncovered = int(out["incidents_in_scope"]) - int(out["incidents_covered"])
        if small(uncovered):
            hide.add("incidents_covered")
        if hide & {"incidents_covered", "incidents_in_scope"}:
            out["covered_share"] = None
        for key in hide:
            out[key] = None
        out["suppression_k"] = k
        return out

    def shared_gaps(self, k: int, *, top: int | None = 20) -> pd.DataFrame:
        """Return the shared gap list over the whole period (see ``to_shared_gaps``).

        ``place`` names the area holding each hexagon's centre. Monthly gap lists stay in the
        restricted part (:attr:`gaps`).
        """
        return to_shared_gaps(self.gaps_overall, k, top=top, areas=self.area_shapes,
                              label=str(self.summary.get("period", "")))

    def to_map_layers(
        self, k: int, *, top: int = 20, resolution: int = 8
    ) -> dict[str, gpd.GeoDataFrame]:
        """Return the shared layers of the coverage map, aggregated and suppressed.

        Parameters
        ----------
        k : int
            Suppression threshold (at least 5).
        top : int
            Gap hexagons kept.
        resolution : int
            H3 resolution of the footprint outline (8: hexagons of about 0.7 km2).

        Returns
        -------
        dict
            ``areas`` (name, mean monthly footprint and population shares, patrol-hours,
            women's share; no incident count), ``hexagons`` (incidents in scope per H3 cell,
            suppressed with the grand total as margin), ``footprint`` (the H3 cells whose
            centre was within reach at some time in the period, as one outline: only hexagon
            vertices, never a point derived from a patrol position) and ``gaps``
            (``gap_rank``, incidents, covered share): keyword arguments of
            :func:`protection_eval.sharing.maps.make_coverage_map`, all in EPSG:4326.
        """
        from protection_eval.sharing.disclosure import suppress_counts

        # No incident count on areas: with hexagon counts beside them, an area's count minus
        # its visible hexagons could give back a suppressed hexagon.
        measures = self.areas.groupby("area_id", sort=False)
        hours = self.areas["patrol_hours"].fillna(0.0)
        weighted = (self.areas["women_share"] * hours).groupby(self.areas["area_id"]).sum()
        total_hours = hours.groupby(self.areas["area_id"]).sum()
        per_area = pd.DataFrame(
            {
                "footprint_share": measures["footprint_share"].mean(),
                "population_footprint_share": measures["population_share"].mean(),
                "patrol_hours": measures["patrol_hours"].sum(min_count=1),
                # Hour-weighted over patrols; a plain monthly mean for bases (no patrol-hours).
                "women_share": (weighted / total_hours.where(total_hours > 0)).fillna(
                    measures["women_share"].mean()
                ),
            }
        ).reset_index()
        shapes = self.area_shapes[["area_id", "name", "geometry"]].copy()
        shapes["area_id"] = shapes["area_id"].astype(str)
        areas = shapes.merge(per_area, on="area_id", how="left")

        every = to_shared_gaps(self.gaps_overall, k, top=None)
        counts = suppress_counts(
            self.gaps_overall[["h3_cell", "incidents"]].reset_index(drop=True), "incidents", k,
            margins=[()],
        ).shared()
        hexagons = to_gap_layer(counts[["h3_cell", "incidents"]])
        gaps = every[every["rank"] <= top].rename(columns={"rank": "gap_rank"})
        gaps = to_gap_layer(gaps[["gap_rank", "h3_cell", "incidents", "covered_share"]])

        footprint = to_hexagon_footprint(self.footprints, resolution)
        return {"areas": areas, "hexagons": hexagons, "footprint": footprint, "gaps": gaps}

    def hexagon_layer(self) -> gpd.GeoDataFrame:
        """Return the restricted gap table with hexagon polygons (EPSG:4326)."""
        return to_gap_layer(self.gaps)

    def area_layer(self) -> gpd.GeoDataFrame:
        """Return the area x month measures with the area polygons (EPSG:4326)."""
        shapes = self.area_shapes[["area_id", "name", "geometry"]].copy()
        shapes["area_id"] = shapes["area_id"].astype(str)
        merged = shapes.merge(self.areas, on="area_id", how="right")
        return gpd.GeoDataFrame(merged, geometry="geometry", crs=self.area_shapes.crs)


def to_hexagon_footprint(footprints: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    """Return the union of monthly footprints as an outline of H3 cells, in EPSG:4326.

    A cell is in when its centre is within reach. The outline's vertices are hexagon vertices
    only, so a shared map never carries a circle drawn around a patrol position.
    """
    import h3
    from shapely.geometry import shape

    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    if len(footprints) == 0:
        return empty
    reach = gpd.GeoSeries([footprints.geometry.union_all()], crs=footprints.crs)
    reach = reach.to_crs("EPSG:4326").iloc[0]
    if reach.is_empty:
        return empty
    cells = h3.geo_to_cells(reach.__geo_interface__, resolution)
    if not cells:
        return empty
    outline = shape(h3.cells_to_h3shape(cells).__geo_interface__)
    return gpd.GeoDataFrame(geometry=[outline], crs="EPSG:4326")


def to_coverage_params(
    mission: MissionData, radius_m: float | None = None, window_h: float | None = None
) -> CoverageParams:
    """Return the coverage parameters of a mission, with optional radius and window overrides.

    Parameters
    ----------
    mission : MissionData
        The mission; its configuration's ``coverage`` settings are the defaults.
    radius_m, window_h : float, optional
        Overrides of the radius and window.

    Returns
    -------
    CoverageParams
        What every coverage model of this mission uses.
    """
    settings = mission.config.coverage
    return CoverageParams(
        radius_m=float(radius_m if radius_m is not None else settings.radius_m),
        window_h=float(window_h if window_h is not None else settings.window_h),
        max_gap_h=float(settings.max_gap_h),
        precision_uncertainty_m=dict(settings.precision_uncertainty_m),
        timezone=mission.config.timezone,
    )


def _summary(
    mission: MissionData,
    incidents: pd.DataFrame,
    model: str,
    params: CoverageParams,
    per_incident: pd.DataFrame,
    period: Period,
) -> dict[str, Any]:
    scope = per_incident["in_scope"].to_numpy(dtype=bool)
    reason = per_incident["left_out_reason"]
    in_scope = int(scope.sum())
    covered = int(per_incident["covered"].fillna(False).to_numpy(dtype=bool).sum())
    date_only = 0
    if "time_precision" in incidents:
        day = incidents["time_precision"].astype("string").eq("day").fillna(False)
        date_only = int((day.to_numpy(dtype=bool) & scope).sum())
    return {
        "mission": mission.config.mission,
        "synthetic": bool(mission.config.synthetic),
        "model": model,
        "radius_m": params.radius_m,
        "window_h": params.window_h,
        "max_gap_h": params.max_gap_h if model == "tracks" else None,
        "period": f"{period.start:%Y-%m} to {period.end:%Y-%m}",
        "incidents_total": int(len(per_incident)),
        "incidents_in_scope": in_scope,
        "incidents_covered": covered,
        "covered_share": covered / in_scope if in_scope else None,
        "incidents_left_out_by_precision": int(reason.eq("precision").fillna(False).sum()),
        "incidents_left_out_other": int((reason.notna() & reason.ne("precision")).sum()),
        "incidents_date_only": date_only,
        "precision_uncertainty_m": dict(params.precision_uncertainty_m),
    }


def compute_mission_coverage(
    mission: MissionData,
    *,
    radius_m: float | None = None,
    window_h: float | None = None,
    model: str | None = None,
    period: str | None = None,
) -> CoverageResult:
    """Compute a mission's coverage: per incident, per area and month, gaps and summary.

    Parameters
    ----------
    mission : MissionData
        From :func:`protection_eval.io.readers.load_mission`; tables in EPSG:4326 are projected to
        ``mission.projected_crs`` here.
    radius_m, window_h : float, optional
        Overrides of the configuration's ``coverage.radius_m`` and ``coverage.window_h``.
    model : str, optional
        A registered model name; by default the most precise one the data allow (tracks, then
        routes, then bases).
    period : str, optional
        Reporting window such as ``2023-06`` or ``2023-01..2023-06`` (see
        :func:`protection_eval.config.parse_period`): only incidents of those local days and
        only those months are reported; patrols before the window still cover incidents at its
        start. Default: the mission's period.

    Returns
    -------
    CoverageResult
        See :class:`CoverageResult`.
    """
    params = to_coverage_params(mission, radius_m, window_h)
    window = mission.config.period if period is None else parse_period(period)
    local_day = local_naive(mission.incidents["occurred_at"], params.timezone).dt.normalize()
    chosen_rows = (local_day >= pd.Timestamp(window.start)) & (
        local_day <= pd.Timestamp(window.end)
    )
    mission_incidents = mission.incidents[chosen_rows.to_numpy(dtype=bool)]
    crs = mission.projected_crs

    def project(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
        return None if frame is None else frame.to_crs(crs)

    tables = {
        "patrols": project(mission.patrols),
        "patrol_tracks": project(mission.patrol_tracks),
        "bases": project(mission.bases),
    }
    if model is None:
        chosen = choose_coverage_model(tables)
    elif model in COVERAGE_MODELS:
        chosen = COVERAGE_MODELS[model]
    else:
        raise ValueError(f"unknown coverage model {model!r}; use one of {sorted(COVERAGE_MODELS)}")
    incidents = project(mission_incidents)
    coverage = chosen.cover(incidents, tables, params)
    month = local_naive(mission_incidents["occurred_at"], params.timezone).dt.to_period("M")
    per_incident = pd.concat(
        [
            mission_incidents[["incident_id", "area_id"]],
            month.dt.to_timestamp().rename("period"),
            coverage,
        ],
        axis=1,
    )
    presence = chosen.presence(tables, params)
    footprints = compute_footprints(
        presence,
        radius_m=params.radius_m,
        start=pd.Timestamp(window.start),
        end=pd.Timestamp(window.end),
        timezone=params.timezone,
    )
    areas = compute_area_measures(
        presence,
        project(mission.areas),
        mission_incidents,
        radius_m=params.radius_m,
        start=pd.Timestamp(window.start),
        end=pd.Timestamp(window.end),
        timezone=params.timezone,
        footprints=footprints,
    )
    gaps = compute_gaps(
        mission_incidents,
        coverage,
        resolution=mission.config.sharing.h3_resolution,
        timezone=params.timezone,
    )
    return CoverageResult(
        model=chosen.name,
        params=params,
        incidents=per_incident,
        areas=areas,
        gaps=gaps,
        gaps_overall=summarise_gaps(gaps),
        summary=_summary(mission, mission_incidents, chosen.name, params, per_incident, window),
        area_shapes=mission.areas,
        presence=presence,
        footprints=footprints,
    )


def make_shared_coverage_map(result: CoverageResult, config: MissionConfig) -> CoverageMap:
    """Build the shared coverage map of a mission with :mod:`protection_eval.sharing.maps`.

    Parameters
    ----------
    result : CoverageResult
        The mission's coverage.
    config : MissionConfig
        For the mission code, period, SYNTHETIC flag, ``k`` and the tile server (if any).

    Returns
    -------
    protection_eval.sharing.maps.CoverageMap
        Call ``to_html()`` for the offline page.
    """
    from protection_eval.sharing.maps import make_coverage_map

    k = config.sharing.min_count
    tiles = config.sharing.tile_server
    return make_coverage_map(
        **result.to_map_layers(k),
        mission=config.mission,
        period=f"{config.period.start:%Y-%m} to {config.period.end:%Y-%m}",
        synthetic=config.synthetic,
        k=k,
        radius_m=result.params.radius_m,
        tile_url=None if tiles is None else tiles.url,
        tile_attribution=None if tiles is None else tiles.attribution,
    )


def write_coverage(
    result: CoverageResult,
    *,
    restricted_dir: str | Path | None,
    shared_dir: str | Path | None,
    k: int,
    config: MissionConfig | None = None,
) -> dict[str, Path]:
    """Write a mission's coverage outputs through the catalog.

    Shared: ``coverage_summary.json`` and ``gaps.csv`` (suppressed with ``k``). Restricted:
    ``coverage_summary.json`` (raw counts), ``incident_coverage.csv`` (per incident),
    ``coverage_areas.csv`` and ``coverage.gpkg`` with layers ``hexagons`` (gaps per month),
    ``areas`` (measures per month) and ``footprint`` (surface reached per month). With
    ``config``, also the shared ``coverage_map.html`` (:func:`make_shared_coverage_map`).
    A part whose folder is None is not written.

    Returns
    -------
    dict
        Output name -> path written.
    """
    from protection_eval.io.readers import write_geopackage, write_json, write_table, write_text

    written: dict[str, Path] = {}
    if shared_dir is not None:
        shared = Path(shared_dir)
        written["shared_summary"] = write_json(
            result.shared_summary(k), shared / "coverage_summary.json"
        )
        written["shared_gaps"] = write_table(result.shared_gaps(k), shared / "gaps.csv")
        if config is not None:
            page = make_shared_coverage_map(result, config).to_html()
            written["map"] = write_text(page, shared / "coverage_map.html")
    if restricted_dir is not None:
        restricted = Path(restricted_dir)
        incidents = result.to_frame()
        incidents["covered"] = incidents["covered"].astype("object")
        written["summary"] = write_json(result.summary, restricted / "coverage_summary.json")
        written["incidents"] = write_table(incidents, restricted / "incident_coverage.csv")
        written["areas"] = write_table(result.areas, restricted / "coverage_areas.csv")
        written["gpkg"] = write_geopackage(
            {"hexagons": result.hexagon_layer(), "areas": result.area_layer(),
             "footprint": result.footprints},
            restricted / "coverage.gpkg",
        )
    return written
