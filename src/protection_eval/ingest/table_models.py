"""What ingestion keeps of each table, and the mission's accepted tables.

:data:`MODELS` says, table by table, which columns ingestion keeps (required first), which column
holds a unique id and whether rows are points; :data:`NUMBER_BOUNDS` bounds the numeric columns
and :data:`ORDER` is the order tables are ingested in. :class:`MissionData` is what
:func:`protection_eval.ingest.tables.ingest_mission` returns: the accepted tables in the
canonical model (docs/architecture.md) with the validation report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.config import MissionConfig
from protection_eval.ingest.validation import ValidationReport
from protection_eval.projection import WorkingProjection, choose_working_projection

WGS84 = "EPSG:4326"


#: The CRS of the accepted GPS fixes' ``longitude`` and ``latitude`` columns
#: (:attr:`MissionData.patrol_tracks` holds coordinates, not point geometries).
TRACKS_CRS = WGS84


#: The CRS of the accepted incidents' ``longitude`` and ``latitude`` columns
#: (``MissionData.incidents`` holds coordinates, not point geometries).
INCIDENTS_CRS = WGS84


def to_incident_points(incidents: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return incidents as a GeoDataFrame of points, built from their coordinates.

    The canonical incidents table holds ``longitude`` and ``latitude`` (EPSG:4326,
    :data:`INCIDENTS_CRS`), not a shapely point per row: at millions of incidents the points
    were the largest part of ingestion's memory. Analyses that need geometries (a projection,
    a nearest area) build them here, for the rows they use, when they use them.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Incidents with ``longitude`` and ``latitude``; a GeoDataFrame that already has a
        geometry is returned as it is.

    Returns
    -------
    geopandas.GeoDataFrame
        The same rows, index and columns, with a ``geometry`` column of points in
        EPSG:4326; no point (None) where a row has no coordinates (located by its area).
    """
    if getattr(incidents, "active_geometry_name", None) is not None:
        return incidents
    lon = incidents["longitude"].to_numpy(dtype="float64", na_value=np.nan)
    lat = incidents["latitude"].to_numpy(dtype="float64", na_value=np.nan)
    points = gpd.points_from_xy(lon, lat)
    points[np.isnan(lon) | np.isnan(lat)] = None
    return gpd.GeoDataFrame(incidents, geometry=points, crs=INCIDENTS_CRS)


@dataclass(frozen=True)
class TableModel:
    """What ingestion keeps of one table.

    Attributes
    ----------
    required : tuple of str
        Columns that must exist and hold a value in every accepted row.
    optional : tuple of str
        Columns kept when present.
    id_column : str or None
        Column whose values must be unique.
    points : bool
        Whether rows are points given by ``longitude``/``latitude`` (or a Point geometry).
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    id_column: str | None = None
    points: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Every model column, required first."""
        return self.required + self.optional


MODELS: dict[str, TableModel] = {
    "areas": TableModel(("area_id", "name", "geometry"), ("population",), "area_id"),
    "patrols": TableModel(
        ("patrol_id", "unit_type", "patrol_type", "started_at", "ended_at"),
        ("personnel", "women", "geometry"),
        "patrol_id",
    ),
    "patrol_tracks": TableModel(
        ("patrol_id", "recorded_at", "longitude", "latitude"), (), None, points=True
    ),
    # valid_from is required unless the source gives a calendar ``year`` instead (_year_bases).
    "bases": TableModel(
        ("base_id", "longitude", "latitude", "valid_from", "unit_type"),
        ("valid_to", "year", "personnel", "women"),
        "base_id",
        points=True,
    ),
    # A row is placed by its coordinates, or by area_name / area_pcode (_incident_place).
    "incidents": TableModel(
        ("incident_id", "occurred_at", "gbv_type"),
        ("occurred_until", "longitude", "latitude", "location_precision", "area_id",
         "area_name", "area_pcode", "source", "perpetrator_type", "victims", "reported_at",
         "location_type", "survivor_group", "location_uncertainty_m"),
        "incident_id",
        points=True,
    ),
    "deployments": TableModel(("strategy_id", "area_id", "started_on"), ("ended_on",)),
    # Monthly counts as published; a row's area is given by id, P-code or name.
    "incident_counts": TableModel(
        ("month", "gbv_type", "count", "source"), ("area_id", "area_pcode", "area_name"),
    ),
}


#: Smallest and largest value of each numeric column other than coordinates; a value outside
#: is quarantined as ``number_out_of_range``. The ceilings are far above any field value (no
#: peace operation has had 100,000 personnel, no area more people than the world has) and keep
#: slips such as ``1e19`` out of the analysis tables.
NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "victims": (1, 10_000),
    # A stated location uncertainty: from 1 m to half the Earth's circumference.
    "location_uncertainty_m": (1, 20_000_000),
    "personnel": (1, 100_000),
    "women": (0, 100_000),
    "population": (0, 10_000_000_000),
}


#: Order of ingestion: areas first (points are checked against them), patrols before tracks.
ORDER: tuple[str, ...] = (
    "areas",
    "patrols",
    "patrol_tracks",
    "bases",
    "incidents",
    "incident_counts",
    "deployments",
)


@dataclass
class MissionData:
    """A mission's accepted tables, in the canonical model.

    Attributes
    ----------
    config : MissionConfig
        The mission configuration.
    incidents : pandas.DataFrame
        Always present. The accepted incidents with their ``longitude`` and ``latitude``
        (float64, EPSG:4326, :data:`INCIDENTS_CRS`; NaN for rows located by their area
        only), as the GPS fixes are: no shapely point per incident. Analyses that need
        point geometries build them with :func:`to_incident_points`.
    patrols, areas : geopandas.GeoDataFrame
        Always present (EPSG:4326). ``patrols`` has no rows when the mission has no patrol
        records (none configured, or a declared file with a header only): never None, so
        every consumer handles one case, the empty table.
    patrol_tracks : pandas.DataFrame or None
        The accepted GPS fixes, when the mission configures them: ``patrol_id``,
        ``recorded_at`` (UTC), ``longitude`` and ``latitude`` (float64, EPSG:4326,
        :data:`TRACKS_CRS`) and ``source_row``. Coordinates, not a shapely point per fix:
        at millions of fixes the points were most of a process's memory; the coverage
        models take the fixes as arrays
        (:meth:`protection_eval.coverage.models.TrackFixes.from_tracks`).
    bases : geopandas.GeoDataFrame or None
        Present when the mission configures them.
    deployments : pandas.DataFrame or None
        Strategy deployments, when configured.
    projected_crs : str
        Metric CRS for distance work (:attr:`projection`'s ``crs``): the configuration's
        ``crs``, else one the areas' extent holds (their UTM zone, an azimuthal equidistant
        projection centred on them), else an equal-area world CRS beside per-area frames.
    validation : ValidationReport
        Counts, reasons, quarantined rows and dropped columns.
    incident_counts : pandas.DataFrame or None
        Monthly counts per area, GBV type and source (:mod:`protection_eval.ingest.counts`),
        when configured: restricted input, like the incident rows.
    """

    config: MissionConfig
    incidents: pd.DataFrame
    patrols: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    patrol_tracks: pd.DataFrame | None
    bases: gpd.GeoDataFrame | None
    deployments: pd.DataFrame | None
    projected_crs: str
    validation: ValidationReport = field(repr=False)
    incident_counts: pd.DataFrame | None = None

    @property
    def projection(self) -> WorkingProjection:
        """Where this mission's distances and areas are computed (one frame or several).

        Chosen from the areas' extent and the configuration's ``crs`` by
        :func:`protection_eval.projection.choose_working_projection`, the one owner of that
        choice; its ``crs`` is :attr:`projected_crs`.
        """
        cached = self.__dict__.get("_projection")
        if cached is None:
            cached = choose_working_projection(self.areas, self.config.crs)
            self.__dict__["_projection"] = cached
        return cached

    @property
    def coverage_source(self) -> str:
        """Which coverage model the data allow: ``tracks``, ``routes``, ``bases`` or ``none``."""
        if self.patrol_tracks is not None and len(self.patrol_tracks):
            return "tracks"
        if self.patrols.geometry.notna().any():
            return "routes"
        if self.bases is not None and len(self.bases):
            return "bases"
        return "none"
