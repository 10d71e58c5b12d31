"""Spatio-temporal coverage of SGBV incidents by patrols: the public entry points.

Were patrols there, and when, where sexual violence was reported? The rules (interpolation,
gap limit, location precision, date-only incidents, base radius) are in ``docs/coverage.md``;
the models (GPS tracks, routes, bases) are in :mod:`protection_eval.coverage.models`, the exact
space-time index in :mod:`protection_eval.coverage.index`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.coverage.areas import (
    AREA_MEASURE_COLUMNS,
    compute_area_measures,
    compute_footprints,
    compute_patrol_hours,
)
from protection_eval.coverage.frames import (
    concat_rows,
    merge_footprints,
    merge_presence,
    split_by_frame,
    split_by_zone,
)
from protection_eval.coverage.gaps import compute_gaps, summarise_gaps
from protection_eval.coverage.models import (
    COVERAGE_MODELS,
    CoverageModel,
    CoverageParams,
    PatrolMovements,
    TrackFixes,
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
from protection_eval.coverage.presence import PresencePieces
from protection_eval.coverage.presence_months import PresenceMonths, compute_presence_months
from protection_eval.hexgrid import to_hexagon_frame
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.labels import NOT_COMPUTED, OK
from protection_eval.model import to_local_day, to_local_period
from protection_eval.projection import project_geometries

if TYPE_CHECKING:
    from protection_eval.config import Period
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "AREA_MEASURE_COLUMNS",
    "COVERAGE_COLUMNS",
    "COVERAGE_MODELS",
    "CoverageParams",
    "CoverageResult",
    "PreparedCoverage",
    "PresenceMonths",
    "choose_coverage_model",
    "compute_incident_coverage",
    "compute_mission_coverage",
    "compute_mission_patrol_hours",
    "prepare_coverage",
    "register_coverage_model",
    "to_coverage_params",
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
        ``incidents_covered``, ``covered_share`` (covered / in scope; None when nothing could
        be tested), ``covered_share_status`` (``ok`` or ``not_computed``) and
        ``covered_share_cause`` (a code) and ``covered_share_reason`` (the missing data, in
        words), ``gaps_status`` and ``gaps_reason``,
        ``radius_m``, ``window_h``, ``model``, ``incidents_left_out_by_precision``,
        ``incidents_left_out_presence_unknown`` (in scope but in a month without presence
        data), ``presence`` (:meth:`PresenceMonths.to_dict`) and more.
    area_shapes : geopandas.GeoDataFrame
        The mission's areas (EPSG:4326), for the per-area layer.
    presence : PresencePieces
        Presence pieces in the projected CRS (restricted: patrol movements), as arrays;
        ``presence.to_frame()`` gives them as a GeoDataFrame.
    footprints : geopandas.GeoDataFrame
        Per month, the surface within the radius of presence (projected CRS).
    presence_months : PresenceMonths
        Which months of the window the presence data cover: coverage, area measures and gaps
        are computed only there (:mod:`protection_eval.coverage.presence_months`).
    """

    model: str
    params: CoverageParams
    incidents: pd.DataFrame
    areas: pd.DataFrame
    gaps: pd.DataFrame
    gaps_overall: pd.DataFrame
    summary: dict[str, Any]
    area_shapes: gpd.GeoDataFrame = field(repr=False)
    presence: PresencePieces = field(repr=False)
    footprints: gpd.GeoDataFrame = field(repr=False)
    presence_months: PresenceMonths | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return the per-incident coverage table (restricted)."""
        return self.incidents.copy()

    def hexagon_layer(self) -> gpd.GeoDataFrame:
        """Return the restricted gap table with hexagon polygons (EPSG:4326)."""
        return to_hexagon_frame(self.gaps)

    def area_layer(self) -> gpd.GeoDataFrame:
        """Return the area x month measures with the area polygons (EPSG:4326)."""
        shapes = self.area_shapes[["area_id", "name", "geometry"]].copy()
        shapes["area_id"] = shapes["area_id"].astype(str)
        merged = shapes.merge(self.areas, on="area_id", how="right")
        return gpd.GeoDataFrame(merged, geometry="geometry", crs=self.area_shapes.crs)


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


@dataclass(frozen=True)
class PreparedCoverage:
    """What every coverage computation of one mission shares, built once.

    Projecting the tables and cutting GPS tracks into movements grow with the number of
    fixes; the per-incident coverage, the presence pieces of the area measures and the
    control points of the within-reach ratio all start from them
    (:func:`prepare_coverage`).

    Attributes
    ----------
    model : CoverageModel
        The coverage model chosen for the mission.
    params : CoverageParams
        Radius, window, gap limit, precision uncertainties, time zone.
    tables : mapping
        ``patrols``, ``patrol_tracks``, ``bases`` in the mission's projected CRS (None when
        absent); the GPS tracks as :class:`~protection_eval.coverage.models.TrackFixes`
        (coordinate arrays), not a GeoDataFrame.
    moves : tuple of (Movements, pandas.Index) or None
        The model's patrol movements and the patrol ids of their codes; None for models
        without movements (bases, none).
    """

    model: CoverageModel
    params: CoverageParams
    tables: Mapping[str, gpd.GeoDataFrame | None] = field(repr=False)
    moves: PatrolMovements | None = field(default=None, repr=False)

    def _moves(self) -> dict[str, Any]:
        return {} if self.moves is None else {"moves": self.moves}

    def cover(self, points: gpd.GeoDataFrame) -> pd.DataFrame:
        """Return the per-point coverage table (``COVERAGE_COLUMNS``) of projected points."""
        return self.model.cover(points, self.tables, self.params, **self._moves())

    def presence(self) -> gpd.GeoDataFrame:
        """Return the model's presence pieces (projected CRS)."""
        return self.model.presence(self.tables, self.params, **self._moves())

    def presence_pieces(self) -> PresencePieces:
        """Return the model's presence pieces as arrays (geometries built on demand)."""
        return self.model.presence_pieces(self.tables, self.params, **self._moves())


def prepare_coverage(
    mission: MissionData,
    *,
    radius_m: float | None = None,
    window_h: float | None = None,
    model: str | None = None,
) -> PreparedCoverage:
    """Project a mission's presence tables and build its patrol movements, once.

    Parameters
    ----------
    mission : MissionData
        A loaded mission (EPSG:4326 tables).
    radius_m, window_h : float, optional
        Overrides of the configuration's coverage settings.
    model : str, optional
        A registered coverage model; by default the most precise one the data allow.

    Returns
    -------
    PreparedCoverage
        Model, parameters, projected tables and movements.

    Raises
    ------
    ValueError
        When ``model`` is not a registered model.
    """
    params = to_coverage_params(mission, radius_m, window_h)
    crs = mission.projected_crs
    # The mission's GPS fixes are coordinates, projected as arrays, never as a GeoDataFrame:
    # a shapely point per fix was most of a notebook kernel's memory at millions of fixes.
    tracks = mission.patrol_tracks
    tables = {
        "patrols": None if mission.patrols is None else mission.patrols.to_crs(crs),
        "patrol_tracks": None if tracks is None else TrackFixes.from_tracks(tracks, crs),
        "bases": None if mission.bases is None else mission.bases.to_crs(crs),
    }
    chosen = _choose_model(tables, model)
    return PreparedCoverage(chosen, params, tables, chosen.movements(tables, params))


def _leave_out_unknown_months(
    coverage: pd.DataFrame, month: pd.Series, known: PresenceMonths
) -> pd.DataFrame:
    """Take incidents of months without presence data out of scope (``presence_unknown``).

    Their coverage is unknown, not "no patrol": they count in no share and no gap. When no
    month of the window has presence data, coverage is unknown for every incident, as for a
    mission with no presence data at all (model ``none``): incidents keep their scope with
    ``covered`` NA, so the map still counts the reports, and nothing is covered or a gap.
    """
    if known.model == "none":
        return coverage
    if known.none_known:
        coverage = coverage.copy()
        coverage["covered"] = pd.array([pd.NA] * len(coverage), dtype="boolean")
        coverage[["nearest_m", "since_patrol_h"]] = np.nan
        return coverage
    unknown = coverage["in_scope"].to_numpy(dtype=bool) & ~known.is_known(month)
    if not unknown.any():
        return coverage
    coverage = coverage.copy()
    coverage.loc[unknown, "in_scope"] = False
    coverage["left_out_reason"] = coverage["left_out_reason"].astype("object")
    coverage.loc[unknown, "left_out_reason"] = "presence_unknown"
    coverage["covered"] = coverage["covered"].astype("boolean")
    coverage.loc[unknown, "covered"] = pd.NA
    coverage.loc[unknown, ["nearest_m", "since_patrol_h"]] = np.nan
    return coverage


def _share_status(
    model: str, counts: Mapping[str, int], known: PresenceMonths, params: CoverageParams
) -> tuple[str, str | None, str | None]:
    """Return the covered share's status, the cause (a code) and the reason in words.

    The status is ``ok`` or ``not_computed``; the cause is one of ``no_presence_data``,
    ``no_incidents``, ``no_presence_in_period``, ``all_imprecise``, ``all_presence_unknown``,
    ``none_testable`` (None when ok). The reason names the data that are missing and for which
    months; it holds no count (it goes to the shared summary, where a small count could not be
    suppressed).
    """
    radius_km = f"{params.radius_m / 1000:g} km"
    if model == "none":
        return NOT_COMPUTED, "no_presence_data", known.describe()
    if counts["total"] == 0:
        return NOT_COMPUTED, "no_incidents", "no incident was reported in the period"
    if known.none_known:
        return (NOT_COMPUTED, "no_presence_in_period",
                f"no presence data for the period: {known.describe()}")
    if counts["in_scope"] > 0:
        return OK, None, None
    if counts["precision"] == counts["total"]:
        return NOT_COMPUTED, "all_imprecise", (
            f"every incident is located less precisely than the {radius_km} radius")
    if counts["unknown"] == counts["total"]:
        return NOT_COMPUTED, "all_presence_unknown", (
            f"every incident falls in a month without presence data: {known.describe()}")
    return NOT_COMPUTED, "none_testable", (
        f"no incident is both located within the {radius_km} radius, in a month with presence "
        "data and known to a day or better")


def _summary(
    mission: MissionData,
    incidents: pd.DataFrame,
    model: str,
    params: CoverageParams,
    per_incident: pd.DataFrame,
    period: Period,
    known: PresenceMonths,
) -> dict[str, Any]:
    scope = per_incident["in_scope"].to_numpy(dtype=bool)
    reason = per_incident["left_out_reason"]
    in_scope = int(scope.sum())
    computed = model != "none" and in_scope > 0 and not known.none_known
    covered = int(per_incident["covered"].fillna(False).to_numpy(dtype=bool).sum())
    date_only = 0
    if "time_precision" in incidents:
        day = incidents["time_precision"].astype("string").eq("day").fillna(False)
        date_only = int((day.to_numpy(dtype=bool) & scope).sum())
    counts = {"total": int(len(per_incident)), "in_scope": in_scope,
              "precision": int(reason.eq("precision").fillna(False).sum()),
              "unknown": int(reason.eq("presence_unknown").fillna(False).sum())}
    status, cause, why = _share_status(model, counts, known, params)
    return {
        "mission": mission.config.mission,
        "synthetic": bool(mission.config.synthetic),
        "model": model,
        "radius_m": params.radius_m,
        "window_h": params.window_h,
        "max_gap_h": params.max_gap_h if model == "tracks" else None,
        "period": f"{period.start:%Y-%m} to {period.end:%Y-%m}",
        "incidents_total": counts["total"],
        "incidents_in_scope": in_scope,
        # Unknown, not zero, when nothing could be tested (no presence data for the months of
        # the incidents, or no incident located precisely enough).
        "incidents_covered": covered if computed else None,
        "covered_share": covered / in_scope if computed else None,
        "covered_share_status": status,
        "covered_share_cause": cause,
        "covered_share_reason": why,
        # Gaps are ranked only where coverage was computed.
        "gaps_status": OK if computed else status,
        "gaps_reason": None if computed else why,
        "coverage_note": None if model != "none" else (
            "coverage could not be computed: the mission has no GPS tracks, no patrol routes "
            "and no bases"),
        "incidents_left_out_by_precision": counts["precision"],
        "incidents_left_out_presence_unknown": counts["unknown"],
        "incidents_left_out_other": int(
            (reason.notna() & ~reason.isin(["precision", "presence_unknown"])).sum()),
        "incidents_date_only": date_only,
        "precision_uncertainty_m": dict(params.precision_uncertainty_m),
        "presence": known.to_dict(),
    }


def compute_mission_coverage(
    mission: MissionData,
    *,
    radius_m: float | None = None,
    window_h: float | None = None,
    model: str | None = None,
    period: Period | None = None,
    prepared: PreparedCoverage | None = None,
) -> CoverageResult:
    """Compute a mission's coverage: per incident, per area and month, gaps and summary.

    Parameters
    ----------
    mission : MissionData
        From :func:`protection_eval.runs.missions.load_mission`; tables in EPSG:4326 are projected
        to ``mission.projected_crs`` here.
    radius_m, window_h : float, optional
        Overrides of the configuration's ``coverage.radius_m`` and ``coverage.window_h``.
    model : str, optional
        A registered model name; by default the most precise one the data allow (tracks, then
        routes, then bases).
    period : Period, optional
        Reporting window (from text such as ``2023-01..2023-06`` with
        :func:`protection_eval.config.parse_period`): only incidents of those local days and
        only those months are reported; patrols before the window still cover incidents at its
        start. An incident known only to a range of dates is in the window when the whole range
        is (one that straddles the window's edge is in neither window, and is counted in
        ``summary["incidents_range_across_window"]``). Default: the mission's period.
    prepared : PreparedCoverage, optional
        From :func:`prepare_coverage` on this mission, when the caller also needs it (the
        within-reach ratio covers its control points with the same movements); it then
        decides the model and parameters, and ``radius_m``, ``window_h`` and ``model`` must
        be None.

    Returns
    -------
    CoverageResult
        See :class:`CoverageResult`.
    """
    if prepared is None and not mission.projection.single:
        return _compute_framed_coverage(mission, radius_m=radius_m, window_h=window_h,
                                        model=model, period=period)
    if prepared is None:
        prepared = prepare_coverage(mission, radius_m=radius_m, window_h=window_h, model=model)
    elif (radius_m, window_h, model) != (None, None, None):
        raise ValueError("give either prepared coverage or radius_m, window_h and model, "
                         "not both")
    window = mission.config.period if period is None else period
    return _compute_plane_coverage(mission, prepared, window)


def _compute_plane_coverage(
    mission: MissionData,
    prepared: PreparedCoverage,
    window: Period,
    known: PresenceMonths | None = None,
) -> CoverageResult:
    """Return the coverage of a mission that one projection holds (or of one frame of one).

    ``known`` is the mission's presence months when the mission is measured frame by frame:
    whether a month has presence data is a fact of the whole mission, not of one frame.
    """
    params, chosen = prepared.params, prepared.model
    chosen_rows, straddling = _in_window(mission.incidents, window, params.timezone)
    mission_incidents = mission.incidents[chosen_rows]
    crs = mission.projected_crs
    coverage = prepared.cover(to_incident_points(mission_incidents).to_crs(crs))
    month = to_local_period(mission_incidents["occurred_at"],
                            mission_incidents.get("occurred_until"), params.timezone)
    presence = prepared.presence_pieces()
    if known is None:
        known = compute_presence_months(presence, chosen.name, window.start, window.end,
                                        params.timezone)
    coverage = _leave_out_unknown_months(coverage, month, known)
    per_incident = pd.concat(
        [
            mission_incidents[["incident_id", "area_id"]],
            month.dt.to_timestamp().rename("period"),
            coverage,
        ],
        axis=1,
    )
    footprints = compute_footprints(
        presence,
        radius_m=params.radius_m,
        start=pd.Timestamp(window.start),
        end=pd.Timestamp(window.end),
        timezone=params.timezone,
    )
    areas = compute_area_measures(
        presence,
        _projected_areas(mission),
        mission_incidents,
        radius_m=params.radius_m,
        start=pd.Timestamp(window.start),
        end=pd.Timestamp(window.end),
        timezone=params.timezone,
        footprints=footprints,
    )
    areas = _unknown_measures(areas, known)
    gaps = compute_gaps(
        mission_incidents,
        coverage,
        resolution=mission.config.sharing.h3_resolution,
        timezone=params.timezone,
    )
    summary = _summary(mission, mission_incidents, chosen.name, params, per_incident, window,
                       known)
    summary["incidents_range_across_window"] = straddling
    return CoverageResult(
        model=chosen.name,
        params=params,
        incidents=per_incident,
        areas=areas,
        gaps=gaps,
        gaps_overall=summarise_gaps(gaps),
        summary=summary,
        area_shapes=mission.areas,
        presence=presence,
        footprints=footprints,
        presence_months=known,
    )


def _compute_framed_coverage(
    mission: MissionData,
    *,
    radius_m: float | None,
    window_h: float | None,
    model: str | None,
    period: Period | None,
) -> CoverageResult:
    """Return the coverage of a mission too wide for one plane, frame by frame (coverage.frames).

    Every frame uses the model the whole mission's data allow, so that one frame without
    tracks is not measured by its bases while the others are by tracks.
    """
    params = to_coverage_params(mission, radius_m, window_h)
    chosen = _choose_model(_unprojected_tables(mission), model).name
    window = mission.config.period if period is None else period
    frames = [(part, prepare_coverage(part, radius_m=params.radius_m, window_h=params.window_h,
                                      model=chosen))
              for part in split_by_frame(mission, params.radius_m)]
    presence = merge_presence([prepared.presence_pieces() for _, prepared in frames])
    known = compute_presence_months(presence, chosen, window.start, window.end, params.timezone)
    parts = [_compute_plane_coverage(part, prepared, window, known) for part, prepared in frames]
    chosen_rows, straddling = _in_window(mission.incidents, window, params.timezone)
    mission_incidents = mission.incidents[chosen_rows]
    # Each incident in the UTM zone of its own point: an area too large for one projection
    # (a whole country) would otherwise measure its incidents' distances in its frame's.
    covered = []
    for crs, part in split_by_zone(mission, mission_incidents, params.radius_m):
        prepared = prepare_coverage(part, radius_m=params.radius_m, window_h=params.window_h,
                                    model=chosen)
        covered.append(prepared.cover(to_incident_points(part.incidents).to_crs(crs)))
    coverage = concat_rows(covered).reindex(mission_incidents.index)
    month = to_local_period(mission_incidents["occurred_at"],
                            mission_incidents.get("occurred_until"), params.timezone)
    coverage = _leave_out_unknown_months(coverage, month, known)
    per_incident = pd.concat(
        [mission_incidents[["incident_id", "area_id"]], month.dt.to_timestamp().rename("period"),
         coverage], axis=1)
    gaps = compute_gaps(mission_incidents, coverage,
                        resolution=mission.config.sharing.h3_resolution,
                        timezone=params.timezone)
    summary = _summary(mission, mission_incidents, chosen, params, per_incident, window, known)
    summary["incidents_range_across_window"] = straddling
    return CoverageResult(
        model=chosen,
        params=params,
        incidents=per_incident,
        areas=concat_rows([p.areas for p in parts], ignore_index=True),
        gaps=gaps,
        gaps_overall=summarise_gaps(gaps),
        summary=summary,
        area_shapes=mission.areas,
        presence=presence,
        footprints=merge_footprints([p.footprints for p in parts]),
        presence_months=known,
    )


def _projected_areas(mission: MissionData) -> gpd.GeoDataFrame:
    """Return the mission's areas in its projected CRS, polygons the projection broke repaired."""
    areas = mission.areas
    return areas.set_geometry(project_geometries(areas.geometry, mission.projected_crs))


def _unprojected_tables(mission: MissionData) -> dict[str, Any]:
    """Return the presence tables as the models' availability checks take them (any CRS)."""
    tracks = mission.patrol_tracks
    return {"patrols": mission.patrols,
            "patrol_tracks": None if tracks is None else TrackFixes.from_tracks(tracks),
            "bases": mission.bases}


#: Area measures that are unknown, never 0, in a month without presence data.
_PRESENCE_MEASURES = ("footprint_share", "population_share", "patrol_hours", "women_share")


def _unknown_measures(areas: pd.DataFrame, known: PresenceMonths) -> pd.DataFrame:
    """Blank the presence measures of the months the presence data do not cover."""
    if known.model == "none" or not len(areas):
        return areas
    months = pd.to_datetime(areas["period"]).dt.to_period("M").reset_index(drop=True)
    unknown = ~known.is_known(months)
    if not unknown.any():
        return areas
    areas = areas.copy()
    for column in _PRESENCE_MEASURES:
        areas[column] = areas[column].astype("float64")
        areas.loc[unknown, column] = np.nan
    return areas


def _in_window(incidents: pd.DataFrame, window: Period, timezone: str) -> tuple[np.ndarray, int]:
    """Return which incidents lie wholly in the window, and how many ranges straddle its edge."""
    first = to_local_day(incidents["occurred_at"], timezone)
    last = first
    if "occurred_until" in incidents:
        until = incidents["occurred_until"]
        end_day = to_local_day(until - pd.Timedelta(1, "ns"), timezone)
        last = end_day.where(until.notna(), first)
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    starts_in = ((first >= start) & (first <= end)).to_numpy(dtype=bool)
    ends_in = ((last >= start) & (last <= end)).to_numpy(dtype=bool)
    overlaps = ((first <= end) & (last >= start)).to_numpy(dtype=bool)
    inside = starts_in & ends_in
    return inside, int((overlaps & ~inside).sum())


def compute_mission_patrol_hours(
    mission: MissionData,
    periods: pd.PeriodIndex,
    *,
    radius_m: float | None = None,
    window_h: float | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Return a mission's patrol-hours and women's share per area and period, without footprints.

    The same presence pieces and the same rule as the coverage area measures
    (:func:`protection_eval.coverage.areas.compute_patrol_hours`), at any period length, for
    panels that are not monthly or that do not need the footprint.

    Parameters
    ----------
    mission : MissionData
        A loaded mission.
    periods : pandas.PeriodIndex
        Consecutive local calendar periods (months or weeks).
    radius_m, window_h : float, optional
        Overrides of the configuration's coverage settings (they shape the presence pieces of
        some models).
    model : str, optional
        A registered coverage model; by default the most precise one the data allow.

    Returns
    -------
    pandas.DataFrame
        ``area_id``, ``period`` (the given periods), ``patrol_hours``, ``women_share``; and
        ``attrs["unplaced_patrols"]``: patrols that left no presence piece (no track, no route).
    """
    if not mission.projection.single:
        params = to_coverage_params(mission, radius_m, window_h)
        chosen = _choose_model(_unprojected_tables(mission), model).name
        parts = [compute_mission_patrol_hours(part, periods, radius_m=params.radius_m,
                                              window_h=params.window_h, model=chosen)
                 for part in split_by_frame(mission, params.radius_m)]
        hours = concat_rows(parts, ignore_index=True)
        placed = set().union(*(p.attrs["placed_patrols"] for p in parts))
        patrols = mission.patrols["patrol_id"].astype(str)
        hours.attrs = {"unplaced_patrols": int((~patrols.isin(placed)).sum()),
                       "placed_patrols": placed}
        return hours
    prepared = prepare_coverage(mission, radius_m=radius_m, window_h=window_h, model=model)
    params = prepared.params
    presence = prepared.presence_pieces()
    edges = periods.start_time.append(pd.DatetimeIndex([(periods[-1] + 1).start_time]))
    hours = compute_patrol_hours(presence, _projected_areas(mission), edges=edges,
                                 timezone=params.timezone)
    hours.insert(1, "period", np.tile(periods, len(mission.areas)))
    hours = hours.drop(columns="period_start")
    patrols = mission.patrols["patrol_id"].astype(str)
    units = set() if presence is None or not len(presence) else set(
        pd.Series(presence.unit_id[presence.kind == "patrol"]).astype(str)
    )
    hours.attrs["unplaced_patrols"] = int((~patrols.isin(units)).sum())
    hours.attrs["placed_patrols"] = units & set(patrols)
    return hours


def _choose_model(tables: Mapping[str, gpd.GeoDataFrame | None], model: str | None):
    if model is None:
        return choose_coverage_model(tables)
    if model in COVERAGE_MODELS:
        return COVERAGE_MODELS[model]
    raise ValueError(f"unknown coverage model {model!r}; use one of {sorted(COVERAGE_MODELS)}")
