"""Ingestion that loses nothing: every row read is accepted or quarantined with a reason.

:func:`ingest_mission` takes the raw tables read by :mod:`protection_eval.io.readers` and returns
:class:`MissionData`: the accepted rows in the canonical model (docs/architecture.md), the
quarantined rows with their reasons, and a
:class:`~protection_eval.ingest.validation.ValidationReport` whose counts reconcile. Columns outside
the model are dropped and listed, so identifying fields never reach an analysis table. Nothing is
guessed: an ambiguous date, an unmapped label or a point that would fit only if its coordinates were
swapped is quarantined, and the reason says so.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from protection_eval.config import MissionConfig, SourceSpec
from protection_eval.engine import current_engine
from protection_eval.ingest.counts import ingest_counts
from protection_eval.ingest.errors import MissionInputError
from protection_eval.ingest.locations import assign_areas, check_points, near_miss_note
from protection_eval.ingest.places import resolve_area_references
from protection_eval.ingest.quarantine import (
    IngestContext,
    Quarantine,
    cell_text,
    check_dates_in_period,
    check_reference,
    map_labels,
    parse_date_range,
    parse_number_column,
    parse_time_column,
    parse_time_interval,
)
from protection_eval.ingest.schemas import validate_table
from protection_eval.ingest.validation import TableReport, ValidationReport
from protection_eval.model import RawTable, to_iso_text, to_local_day
from protection_eval.projection import WorkingProjection, choose_working_projection

WGS84 = "EPSG:4326"

#: The CRS of the accepted GPS fixes' ``longitude`` and ``latitude`` columns
#: (:attr:`MissionData.patrol_tracks` holds coordinates, not point geometries).
TRACKS_CRS = WGS84

#: Separator of the sources in ``matched_sources`` (the other sources that reported an incident).
MATCH_SEPARATOR = "; "


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
    incidents, patrols, areas : geopandas.GeoDataFrame
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
    incidents: gpd.GeoDataFrame
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


def _fatal(path: object, message: str) -> MissionInputError:
    return MissionInputError(f"{path}: {message}")


def _rename(raw: RawTable, spec: SourceSpec, model: TableModel) -> tuple[pd.DataFrame, list[str]]:
    frame = raw.frame.rename(columns={k: v for k, v in spec.columns.items() if k in raw.frame})
    unknown_targets = sorted(set(spec.columns.values()) - set(model.columns) - {"geometry"})
    if unknown_targets:
        raise _fatal(
            raw.path,
            f"sources.{raw.table}.columns maps onto {unknown_targets}, which the {raw.table} "
            f"table does not have; model columns are {list(model.columns)}",
        )
    keep = {"source_row", "geometry", *model.columns}
    dropped = [c for c in frame.columns if c not in keep]
    frame = frame.drop(columns=dropped)
    if frame.columns.duplicated().any():
        twice = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise _fatal(raw.path, f"columns {twice} appear twice after renaming; map only one")
    return frame, dropped


def _geometry_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill longitude/latitude from Point geometries where the file gave no such columns."""
    if "geometry" not in frame or ("longitude" in frame and "latitude" in frame):
        return frame
    if isinstance(frame["geometry"].dtype, pd.ArrowDtype):
        # Points the reader kept as (x, y) pairs: typed coordinates, NaN where none.
        pairs = frame["geometry"].array._pa_array.combine_chunks()
        frame = frame.drop(columns="geometry")
        for column, field_name in (("longitude", "x"), ("latitude", "y")):
            frame[column] = pd.Series(pairs.field(field_name).to_numpy(zero_copy_only=False),
                                      index=frame.index, dtype="float64")
        return frame
    geoms = gpd.GeoSeries(frame["geometry"].to_numpy(), index=frame.index)
    # Another shape, an empty point or a missing geometry gives no coordinates (quarantined
    # as missing); a NaN coordinate gives none either.
    is_point = ((geoms.geom_type == "Point") & ~geoms.is_empty).to_numpy()
    shapes = geoms.to_numpy()[is_point]
    frame = frame.drop(columns="geometry")
    for column, coordinate in (("longitude", shapely.get_x), ("latitude", shapely.get_y)):
        values = np.full(len(frame), np.nan)
        values[is_point] = coordinate(shapes)
        frame[column] = pd.Series(values, index=frame.index).astype(str).where(
            ~np.isnan(values), "")
    return frame


def _require_columns(frame: pd.DataFrame, raw: RawTable, model: TableModel,
                     spec: SourceSpec) -> None:
    required = list(model.required)
    if raw.table == "bases" and "year" in frame and "valid_from" not in frame:
        required.remove("valid_from")
    if raw.table == "bases" and "year" in frame and {"valid_from", "valid_to"} & set(frame):
        raise _fatal(raw.path, "bases give both a calendar year and valid_from/valid_to; map "
                     "one of them in sources.bases.columns")
    if raw.table == "incidents" and not (
        {"longitude", "latitude"} <= set(frame) or {"area_name", "area_pcode"} & set(frame)
    ):
        required += ["longitude", "latitude"]
    if raw.table == "incident_counts" and not {"area_id", "area_pcode", "area_name"} & set(frame):
        required += ["area_id"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = [c for c in raw.frame.columns if c not in {"source_row", "geometry"}]
        hints = [_expected_header(column, spec, found) for column in missing]
        place_columns = {"longitude", "latitude", "area_id", "valid_from"}
        alternative = {"incidents": " (or area_name / area_pcode instead of coordinates)",
                       "incident_counts": " (or area_pcode / area_name)",
                       "bases": " (or year instead of valid_from)"}.get(raw.table, "")
        raise _fatal(
            raw.path,
            f"required column(s) {missing}"
            f"{alternative if place_columns & set(missing) else ''} absent: "
            + "; ".join(hints) + f" (found {found}). Rename the source's own column with "
            f"sources.{raw.table}.columns in the mission YAML",
        )


def _expected_header(column: str, spec: SourceSpec, found: list[str]) -> str:
    """Say which header stands for a model column, and the closest header the file has."""
    expected = [src for src, target in spec.columns.items() if target == column]
    by = f"preset {spec.preset!r}" if spec.preset else "sources.columns"
    wanted = (f"{column} is read from {' or '.join(repr(e) for e in expected)} ({by})"
              if expected else f"{column} has no column of its own in the file")
    close = difflib.get_close_matches(expected[0] if expected else column, found, n=1,
                                      cutoff=0.5)
    return wanted + (f", closest header present: {close[0]!r}" if close else "")


def _check_required_cells(frame: pd.DataFrame, model: TableModel, q: Quarantine) -> None:
    for column in model.required:
        if column not in frame:
            continue  # an alternative column stands in for it (_require_columns)
        if _typed(frame[column]):
            empty = frame[column].isna()
        elif column == "geometry":
            # A CSV holds WKT text, parsed (and checked for emptiness) by _geometry_column.
            empty = frame[column].map(
                lambda g: not g.strip() if isinstance(g, str)
                else g is None or getattr(g, "is_empty", True)
            )
        else:
            empty = cell_text(frame, column) == ""
        q.reject(empty, "missing_value", column, f"{column} is empty")


def _typed(values: pd.Series) -> bool:
    """Whether a column holds values a reader kept typed (times, coordinates), not text."""
    return (pd.api.types.is_datetime64_any_dtype(values)
            or pd.api.types.is_float_dtype(values))


def _shown_cells(rows: pd.DataFrame) -> pd.DataFrame:
    """Return quarantined rows' cells as the text a reader gives (typed columns printed)."""
    for column in rows.columns:
        values = rows[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            rows[column] = to_iso_text(values)
        elif pd.api.types.is_float_dtype(values):
            rows[column] = values.astype(str).where(values.notna(), "")
    return rows


def _duplicate_ids(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Return which rows repeat an earlier row's id, and for those rows the sentence saying so.

    Computed once over the whole table: a table checked in blocks takes its rows' answers
    from here, since an id may first appear in an earlier block.
    """
    ids = cell_text(frame, column)
    if column == "base_id" and "year" in frame:
        # Bases published by calendar year: one row per base and year.
        ids = ids + " in year " + cell_text(frame, "year")
    duplicated = ids.duplicated(keep="first") & (ids != "")
    if not duplicated.any():
        return duplicated, pd.Series(dtype=object)
    first_row = frame.groupby(ids)["source_row"].transform("first")
    detail = ("the id " + ids[duplicated] + " was already used in row "
              + first_row[duplicated].astype(str))
    return duplicated, detail


def _check_ids(frame: pd.DataFrame, column: str, q: Quarantine,
               duplicates: tuple[pd.Series, pd.Series] | None = None) -> None:
    duplicated, detail = duplicates or _duplicate_ids(frame, column)
    q.reject(duplicated.loc[frame.index], "duplicate_id", column, lambda rows: detail)


class _SeenIds:
    """The ids of the blocks checked so far, with the row each was first used in.

    Kept compact (a 64-bit hash, the row number and the id as Arrow text, sorted by hash), so
    that a block's repeated ids, of an earlier block or of its own, get the answers of
    :func:`_duplicate_ids` over the whole table without the whole id column being held or
    hashed at once. A hash only finds candidates: an id repeats an earlier one when their
    texts are equal.
    """

    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.uint64)  # sorted
        self.rows = np.empty(0, dtype=np.int64)  # in the order of ``hashes``
        self.ids = pa.array([], type=pa.large_string())  # in the order of ``hashes``

    def _earlier(self, values: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Position in the kept ids of each value's earlier use, or -1."""
        earlier = np.full(len(values), -1, dtype=np.int64)
        if not len(self.hashes) or not len(values):
            return earlier
        low = np.searchsorted(self.hashes, hashes, side="left")
        high = np.searchsorted(self.hashes, hashes, side="right")
        for row in np.flatnonzero(high > low):
            # Nearly always one candidate; equal hashes of different ids are compared too.
            for position in range(low[row], high[row]):
                if self.ids[position].as_py() == values[row]:
                    earlier[row] = position
                    break
        return earlier

    def check(self, frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
        """Return which rows of ``frame`` repeat an id, and their sentences; remember the rest."""
        ids = cell_text(frame, column)
        values = ids.to_numpy(dtype=object)
        hashes = pd.util.hash_array(values)
        earlier = self._earlier(values, hashes)
        codes = pd.factorize(values)[0]
        rows = frame["source_row"].to_numpy().astype(np.int64)
        within = pd.Series(codes).duplicated(keep="first").to_numpy()
        given = (ids != "").to_numpy(dtype=bool)
        seen = earlier >= 0
        first_row = np.where(seen, self.rows[np.maximum(earlier, 0)] if len(self.rows) else 0,
                             pd.Series(rows).groupby(codes).transform("first").to_numpy())
        self._remember(values, hashes, rows, ~seen & ~within & given)
        duplicated = pd.Series((seen | within) & given, index=frame.index)
        if not duplicated.any():
            return duplicated, pd.Series(dtype=object)
        first = pd.Series(first_row, index=frame.index)
        return duplicated, ("the id " + ids[duplicated] + " was already used in row "
                            + first[duplicated].astype(str))

    def _remember(self, values: np.ndarray, hashes: np.ndarray, rows: np.ndarray,
                  new: np.ndarray) -> None:
        hashes = np.concatenate([self.hashes, hashes[new]])
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.rows = np.concatenate([self.rows, rows[new]])[order]
        text = pa.concat_arrays([self.ids, pa.array(values[new], type=pa.large_string())])
        self.ids = text.take(pa.array(order))


def _check_women(frame: pd.DataFrame, spec: SourceSpec, q: Quarantine) -> tuple:
    personnel = parse_number_column(frame, "personnel", spec, q, integer=True,
                                    bounds=NUMBER_BOUNDS["personnel"])
    women = parse_number_column(frame, "women", spec, q, integer=True,
                                bounds=NUMBER_BOUNDS["women"])
    excess = women.notna() & personnel.notna() & (women > personnel)
    q.reject(excess, "women_exceed_personnel", "women",
             lambda rows: "women " + women[rows].astype("Int64").astype(str)
             + " > personnel " + personnel[rows].astype("Int64").astype(str))
    return personnel.astype("Int64"), women.astype("Int64")


def _geometry_column(frame: pd.DataFrame, column: str, kinds: set[str], q: Quarantine) -> list:
    def to_geom(value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            try:
                return shapely.from_wkt(value)
            except shapely.errors.GEOSException:
                return "bad"
        return value

    geoms = frame[column].map(to_geom) if column in frame else pd.Series(None, index=frame.index)
    def bad(g: object) -> bool:
        if g is None or (isinstance(g, float) and np.isnan(g)):
            return False
        return g == "bad" or g.is_empty or g.geom_type not in kinds or not g.is_valid
    q.reject(geoms.map(bad), "invalid_geometry", column,
             f"{column} must be a valid {' or '.join(sorted(kinds))}")
    return [g if isinstance(g, shapely.Geometry) else None for g in geoms]


def _ingest_areas(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine):
    geometry = _geometry_column(frame, "geometry", {"Polygon", "MultiPolygon"}, q)
    population = parse_number_column(frame, "population", spec, q,
                                     bounds=NUMBER_BOUNDS["population"])
    return gpd.GeoDataFrame(
        {
            "area_id": cell_text(frame, "area_id"),
            "name": cell_text(frame, "name"),
            "population": population.astype("Float64"),
        },
        geometry=geometry,
        crs=WGS84,
        index=frame.index,
    )


def _ingest_patrols(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine):
    unit = map_labels(frame, "unit_type", spec, q, default=None)
    kind = map_labels(frame, "patrol_type", spec, q, default=None)
    started, _ = parse_time_column(frame, "started_at", spec, ctx, q)
    ended, ended_precision = parse_time_column(frame, "ended_at", spec, ctx, q)
    # A date-only end means the patrol ran until the end of that day.
    ended = ended.where(ended_precision != "day", ended + pd.Timedelta(days=1))
    check_dates_in_period(started, "started_at", ctx, q)
    q.reject(ended < started, "ended_before_started", "ended_at",
             lambda rows: "ended_at " + ended[rows].astype(str) + " is before started_at "
             + started[rows].astype(str))
    personnel, women = _check_women(frame, spec, q)
    route = _geometry_column(frame, "geometry", {"LineString", "MultiLineString"}, q)
    return gpd.GeoDataFrame(
        {
            "patrol_id": cell_text(frame, "patrol_id"),
            "unit_type": unit,
            "patrol_type": kind,
            "started_at": started,
            "ended_at": ended,
            "personnel": personnel,
            "women": women,
        },
        geometry=route,
        crs=WGS84,
        index=frame.index,
    )


def _points_frame(columns: dict, lon: pd.Series, lat: pd.Series) -> gpd.GeoDataFrame:
    columns = {**columns, "longitude": lon, "latitude": lat}
    points = gpd.points_from_xy(lon, lat)
    # No point where there are no coordinates (rows located by their area only).
    points[(lon.isna() | lat.isna()).to_numpy()] = None
    return gpd.GeoDataFrame(columns, geometry=points, crs=WGS84)


def _ingest_tracks(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine):
    # Coordinates only, no shapely point per fix (some 200 bytes each, most of a table of
    # millions of fixes): the points are checked against the areas by check_points as every
    # other table's are, and the coverage models take the fixes as arrays (TrackFixes).
    patrol_id = check_reference(frame, "patrol_id", ctx.patrol_ids, "unknown_patrol",
                                 "among the accepted patrols", q)
    recorded, _ = parse_time_column(frame, "recorded_at", spec, ctx, q)
    check_dates_in_period(recorded, "recorded_at", ctx, q)
    lon, lat = check_points(frame, spec, ctx, q)
    return pd.DataFrame({"patrol_id": patrol_id, "recorded_at": recorded,
                         "longitude": lon, "latitude": lat})


def _ingest_bases(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine):
    unit = map_labels(frame, "unit_type", spec, q, default=None)
    if "year" in frame:
        valid_from, valid_to = _year_validity(frame, spec, q)
    else:
        valid_from, valid_to = parse_date_range(frame, "valid_from", "valid_to", spec, ctx, q)
    personnel, women = _check_women(frame, spec, q)
    lon, lat = check_points(frame, spec, ctx, q)
    return _points_frame(
        {"base_id": cell_text(frame, "base_id"), "unit_type": unit, "valid_from": valid_from,
         "valid_to": valid_to, "personnel": personnel, "women": women},
        lon, lat,
    )


def _year_validity(frame: pd.DataFrame, spec: SourceSpec, q: Quarantine) -> tuple:
    """Return the validity of bases published by calendar year: 1 January to 31 December."""
    year = parse_number_column(frame, "year", spec, q, integer=True, bounds=(1900, 2200))
    first = pd.to_datetime(year.astype("Int64").astype(str) + "-01-01", errors="coerce")
    last = pd.to_datetime(year.astype("Int64").astype(str) + "-12-31", errors="coerce")
    return first.astype("datetime64[ns]"), last.astype("datetime64[ns]")


@dataclass
class _IncidentBlocks:
    """What the checks of an incidents table in blocks keep of the whole table."""

    #: Mask of rows repeating an earlier id, and their detail sentences (_duplicate_ids).
    duplicates: tuple[pd.Series, pd.Series]
    #: Each block's likely-duplicate key parts (_likely_duplicate_parts).
    parts: list[pd.DataFrame] = field(default_factory=list)
    #: Sources with no channel, over all blocks (one note for the table).
    unclassified: set = field(default_factory=set)


def _instant_key(values: pd.Series) -> np.ndarray:
    """Return each instant's integer ticks; NaT is one value, as its text "NaT" is."""
    return pd.DatetimeIndex(values).asi8


def _float_key(values: pd.Series) -> np.ndarray:
    """Return each float's bits: equal exactly when the floats' ``str()`` is.

    0.0 and -0.0 print apart; every NaN prints "nan" and gets one key.
    """
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(numbers), np.int64(-1), numbers.view(np.int64))


def _shared_text(values: pd.Series) -> np.ndarray:
    """Return the values as text, each distinct text one object (a few, not one per row)."""
    codes, uniques = pd.factorize(values.astype(str).to_numpy(dtype=object),
                                   use_na_sentinel=False)
    return np.asarray(uniques, dtype=object)[codes]


def _likely_duplicate_parts(frame: pd.DataFrame, table: pd.DataFrame,
                            q: Quarantine) -> pd.DataFrame:
    """Return, for the rows still alive that name a source, the parts of their match key.

    One integer or shared text per part (time, place to 4 decimals, type, the area of rows
    placed by area), the source and the row number: a few columns that can be kept for a
    whole table checked in blocks, where a repeat may be in another block than its first.
    """
    live = (q.alive & (table["source"] != "")).to_numpy(dtype=bool)
    source_rows = frame["source_row"].to_numpy()[live]
    return pd.DataFrame(
        {
            # Codes equal exactly when the text each part prints as is equal.
            "time": _instant_key(table["occurred_at"])[live],
            "lon": _float_key(table["longitude"].round(4))[live],
            "lat": _float_key(table["latitude"].round(4))[live],
            "type": _shared_text(table["gbv_type"][live]),
            # Rows placed by their area have no point: their area is their place.
            "area": _shared_text(table["area_id"].where(table["longitude"].isna(), "")[live]),
            "source": _shared_text(table["source"][live]),
            "source_row": pd.Series(source_rows).astype("int64").to_numpy(),
        },
        index=table.index[live],
    )


def _likely_duplicates(parts: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Find repeats among the rows of :func:`_likely_duplicate_parts`, in row order.

    Returns the mask of repeats (an earlier row has the same key from another source),
    their detail sentences, and the ``matched_sources`` of each first row that has repeats.
    """
    # The parts' codes folded into one group code, pair by pair (each fold stays below the
    # square of the row count): a multi-column groupby cost about 200 MB on 1.4 M rows.
    combined = np.zeros(len(parts), dtype=np.int64)
    for column in ("time", "lon", "lat", "type", "area"):
        codes = pd.factorize(parts[column].to_numpy())[0].astype(np.int64) + 1
        combined = pd.factorize(combined * (int(codes.max()) + 1) + codes)[0].astype(np.int64)
    key = pd.Series(combined, index=parts.index)
    first_source = parts["source"].groupby(key).transform("first")
    first_row = parts["source_row"].groupby(key).transform("first")
    repeat = key.duplicated(keep="first") & (parts["source"] != first_source)
    detail = ("same time, place and type as row " + first_row[repeat].astype(str)
              + " from source " + first_source[repeat].astype(str))
    matched = pd.Series(dtype=object)
    if repeat.any():
        others = parts.loc[repeat, "source"].groupby(key[repeat]).agg(
            lambda values: MATCH_SEPARATOR.join(sorted(set(values))))
        firsts = ~key.duplicated(keep="first") & key.isin(others.index)
        matched = key[firsts].map(others).astype(object)
    return repeat, detail, matched


def _check_likely_duplicates(
    frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine
) -> pd.Series:
    """Quarantine repeats of an incident from another source; return who else reported it.

    The repeat leaves the analysis tables (one incident, one row), but the match is what
    capture-recapture needs: the first row keeps, in ``matched_sources``, the other sources
    that reported the same incident (docs/validity.md, under-reporting).
    """
    matched = pd.Series(None, index=table.index, dtype=object)
    parts = _likely_duplicate_parts(frame, table, q)
    if parts.empty:
        return matched
    repeat, detail, firsts = _likely_duplicates(parts)
    q.reject(repeat.reindex(table.index, fill_value=False), "likely_duplicate", "incident_id",
             lambda rows: detail)
    matched[firsts.index] = firsts.to_numpy()
    return matched


def _check_reported_at(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext,
                       q: Quarantine, occurred: pd.Series) -> pd.Series:
    """Parse the optional report date; refuse one in the future or before the incident."""
    reported, precision = parse_time_column(frame, "reported_at", spec, ctx, q)
    tz = ctx.config.timezone
    local = to_local_day(reported, tz)
    q.reject(local > pd.Timestamp(ctx.today), "date_in_future", "reported_at",
             lambda rows: "reported_at " + local[rows].dt.strftime("%Y-%m-%d")
             + f" is after today ({ctx.today})")
    # A date-only report is before the incident only when its whole day is.
    before = reported.notna() & occurred.notna() & (
        (local < to_local_day(occurred, tz))
        | ((precision == "time") & (reported < occurred))
    )
    q.reject(before, "reported_before_occurred", "reported_at",
             lambda rows: "reported_at " + frame.loc[rows, "reported_at"].astype(str)
             + " is before occurred_at " + frame.loc[rows, "occurred_at"].astype(str)
             + "; correct one of the two dates or leave reported_at empty")
    return reported


def _channels(source: pd.Series, spec: SourceSpec, ctx: IngestContext,
              blocks: _IncidentBlocks | None = None) -> pd.Series:
    """Class each row's source as a mission or partner channel, from the configuration."""
    channel = source.map(spec.channels).astype(object)
    unclassified = set(source[(source != "") & channel.isna()])
    if blocks is not None:
        blocks.unclassified |= unclassified  # one note for the whole table, after its blocks
    else:
        _note_unclassified(unclassified, spec, ctx)
    return channel.where(channel.notna(), None)


def _note_unclassified(unclassified: set, spec: SourceSpec, ctx: IngestContext) -> None:
    if spec.channels and unclassified:
        ctx.table_notes.append(
            f"sources {sorted(unclassified)} have no channel in sources.incidents.channels: "
            "their reports count in neither share of the source-mix diagnostic"
        )


def _ingest_incidents(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine,
                      blocks: _IncidentBlocks | None = None):
    gbv = map_labels(frame, "gbv_type", spec, q, default=None)
    precision = map_labels(frame, "location_precision", spec, q, default="exact")
    occurred, until, time_precision = parse_time_interval(frame, spec, ctx, q)
    victims = parse_number_column(frame, "victims", spec, q, integer=True,
                                  bounds=NUMBER_BOUNDS["victims"])
    uncertainty = parse_number_column(frame, "location_uncertainty_m", spec, q,
                                      bounds=NUMBER_BOUNDS["location_uncertainty_m"])
    area_ref, suggestions = resolve_area_references(frame, ctx, q, spec.encoding)
    ctx.area_name_suggestions = suggestions
    lon_given, lat_given = cell_text(frame, "longitude") != "", cell_text(frame, "latitude") != ""
    has_point = lon_given | lat_given
    for column, given in (("longitude", lon_given), ("latitude", lat_given)):
        q.reject(has_point & ~given, "missing_value", column, f"{column} is empty")
    q.reject(~has_point & (area_ref == ""), "missing_value", "longitude",
             "no coordinates and no area_name or area_pcode: give one of them")
    # A row with no coordinates is known only as its area, whatever precision the source says.
    precision = precision.where(has_point, "area")
    lon, lat = check_points(frame, spec, ctx, q)
    location_type = map_labels(frame, "location_type", spec, q, default=None)
    survivor_group = map_labels(frame, "survivor_group", spec, q, default=None)
    reported = _check_reported_at(frame, spec, ctx, q, occurred)
    source = cell_text(frame, "source")
    table = _points_frame(
        {
            "incident_id": cell_text(frame, "incident_id"),
            "occurred_at": occurred,
            "occurred_until": until,
            "time_precision": time_precision,
            "location_precision": precision,
            "gbv_type": gbv,
            "area_id": area_ref,
            "source": source,
            "perpetrator_type": cell_text(frame, "perpetrator_type"),
            "victims": victims.astype("Int64"),
            "location_uncertainty_m": uncertainty.astype("float64"),
            "reported_at": reported,
            "location_type": location_type,
            "survivor_group": survivor_group,
            "channel": _channels(source, spec, ctx, blocks),
        },
        lon,
        lat,
    )
    if blocks is None:
        matched = _check_likely_duplicates(frame, table, q)
    else:
        # Repeats may span blocks: found once all blocks are checked (_incidents_in_blocks).
        blocks.parts.append(_likely_duplicate_parts(frame, table, q))
        matched = pd.Series(None, index=table.index, dtype=object)
    table.insert(table.columns.get_loc("channel") + 1, "matched_sources", matched)
    return table


def _ingest_deployments(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine):
    strategy = check_reference(frame, "strategy_id", ctx.strategy_ids, "unknown_strategy",
                                "in the strategy inventory (data/strategies)", q)
    known_areas = set(ctx.areas["area_id"]) if ctx.areas is not None else set()
    area = check_reference(frame, "area_id", known_areas, "unknown_area",
                            "among the accepted areas", q)
    started, ended = parse_date_range(frame, "started_on", "ended_on", spec, ctx, q)
    return pd.DataFrame(
        {"strategy_id": strategy, "area_id": area, "started_on": started, "ended_on": ended},
        index=frame.index,
    )


_BUILDERS = {
    "areas": _ingest_areas,
    "patrols": _ingest_patrols,
    "patrol_tracks": _ingest_tracks,
    "bases": _ingest_bases,
    "incidents": _ingest_incidents,
    "deployments": _ingest_deployments,
    "incident_counts": ingest_counts,
}


def _empty_to_na(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = frame[column].replace("", None)
    return frame


def _where_mask(raw: RawTable, spec: SourceSpec) -> pd.Series:
    """Return which rows the source's ``where`` selects (source column names, values as text)."""
    frame = raw.frame
    keep = pd.Series(True, index=frame.index)
    for column, wanted in spec.where.items():
        if column not in frame:
            found = [c for c in frame.columns if c not in {"source_row", "geometry"}]
            raise _fatal(raw.path, f"sources.{raw.table}.where names the column {column!r}, "
                         f"which the file does not have (found {found}); use the file's own "
                         "column name")
        values = wanted if isinstance(wanted, list) else [wanted]
        keep &= cell_text(frame, column).isin({str(v).strip() for v in values})
    return keep


def _apply_where(raw: RawTable, spec: SourceSpec) -> RawTable:
    """Keep the rows the source's ``where`` selects."""
    if not spec.where:
        return raw
    keep = _where_mask(raw, spec)
    return RawTable(raw.table, raw.path, raw.frame.loc[keep].reset_index(drop=True))


#: Rows of a GPS table checked at a time. Each fix is checked on its own (no id, no
#: duplicate key spans rows), so blocks of consecutive rows give the answers the whole table
#: gives, while the checks' intermediate columns (coordinates as text, parsed times, masks,
#: reasons) never span more than a block. Exports list fixes patrol by patrol in time order,
#: so a block is a run of whole patrols and their times.
TRACK_BLOCK_ROWS = 500_000

#: Rows of an incidents table checked at a time. The two checks that span rows are done on
#: the whole table: duplicate ids over the id column before the blocks, likely duplicates
#: over compact keys of the rows the blocks accept (_incidents_in_blocks).
INCIDENT_BLOCK_ROWS = 200_000


def ingest_table(
    raw: RawTable, spec: SourceSpec, ctx: IngestContext, *, block_rows: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    """Check one table; return accepted rows, quarantined rows and the table's report.

    Rows the source's ``where`` leaves out are counted in ``rows_excluded`` and not read:
    ``rows_read`` (the rows selected) is always ``rows_accepted + rows_rejected``. GPS
    tracks and incidents are checked ``block_rows`` rows at a time (default
    :data:`TRACK_BLOCK_ROWS` and :data:`INCIDENT_BLOCK_ROWS`), with the same outcome for
    every row as one pass over the whole table. Incidents a reader hands over in blocks (a
    ``blocks()`` method, as :class:`protection_eval.io.readers.RawTableBlocks` has) are
    checked in those blocks, the whole table never held.
    """
    model = MODELS[raw.table]
    notes = raw.notes if not spec.where else ()  # a selection is a new table, as one pass has it
    ctx.outside_m = []
    ctx.area_name_resolutions = {}
    if raw.table == "incidents" and callable(getattr(raw, "blocks", None)):
        tally = _Tally()
        accepted, rejected, reasons = _incidents_in_blocks(
            raw, partial(_selected_blocks, raw, spec, model, tally), model, spec, ctx)
        in_file, selected, dropped = tally.in_file, tally.selected, tally.dropped
    else:
        in_file = raw.rows
        raw = _apply_where(raw, spec)
        frame, dropped = _rename(raw, spec, model)
        selected = raw.rows
        rows = block_rows or (TRACK_BLOCK_ROWS if raw.table == "patrol_tracks"
                              else INCIDENT_BLOCK_ROWS)
        if raw.table == "patrol_tracks" and len(frame) > rows:
            parts = [_split(*_checked(raw, frame.iloc[i:i + rows], model, spec, ctx), model)
                     for i in range(0, len(frame), rows)]
            accepted, rejected, reasons = (_concat([p[k] for p in parts]) for k in range(3))
            del parts
        elif raw.table == "incidents" and len(frame) > rows:
            accepted, rejected, reasons = _incidents_in_blocks(
                raw, partial(_slices, raw, frame, rows), model, spec, ctx)
        else:
            accepted, rejected, reasons = _split(*_checked(raw, frame, model, spec, ctx), model)
    counts = reasons.value_counts()
    report = TableReport(
        table=raw.table,
        path=str(raw.path),
        rows_read=selected,
        rows_accepted=len(accepted),
        rows_rejected=len(rejected),
        reasons={str(k): int(v) for k, v in counts.items()},
        dropped_columns=dropped,
        rows_excluded=in_file - selected,
        suggestions=(dict(ctx.area_name_suggestions)
                     if raw.table in ("incidents", "incident_counts") else {}),
        resolutions=(dict(ctx.area_name_resolutions)
                     if raw.table in ("incidents", "incident_counts") else {}),
        notes=list(notes) + (list(ctx.table_notes) if raw.table == "incidents" else []),
    )
    near = near_miss_note(ctx.outside_m, ctx.config.ingest.outside_tolerance_m)
    if near:
        report.notes.append(near)
    return accepted, rejected, report


@dataclass
class _Tally:
    """What a pass over a table handed over in blocks counts.

    Rows in the file, rows selected by ``where``, and the source columns ingestion drops.
    """

    in_file: int = 0
    selected: int = 0
    dropped: list[str] = field(default_factory=list)


def _selected_blocks(raw: RawTable, spec: SourceSpec, model: TableModel,
                     tally: _Tally | None = None) -> Iterator[tuple[RawTable, pd.DataFrame]]:
    """Yield each block of a reader's blocks as it was read and as selected and renamed.

    The block's row labels (positions in the whole table) are kept, so that blocks sort
    and join as the rows of one pass do.
    """
    if tally is not None:  # each pass counts afresh (the repeats' cells take a second pass)
        tally.in_file = tally.selected = 0
    for block in raw.blocks():
        source = RawTable(raw.table, raw.path, block)
        if spec.where:
            source = RawTable(raw.table, raw.path, block.loc[_where_mask(source, spec)])
        frame, dropped = _rename(source, spec, model)
        if tally is not None:
            tally.in_file += len(block)
            tally.selected += len(frame)
            tally.dropped = dropped
        yield source, frame


def _slices(raw: RawTable, frame: pd.DataFrame,
            rows: int) -> Iterator[tuple[RawTable, pd.DataFrame]]:
    """Yield a table held whole in blocks of ``rows`` consecutive rows."""
    for start in range(0, len(frame), rows):
        yield raw, frame.iloc[start:start + rows]


def _concat(frames: list) -> pd.DataFrame | pd.Series:
    """Join the blocks' frames in order (the empty ones only when all are)."""
    kept = [f for f in frames if len(f)] or frames[:1]
    joined = pd.concat(kept, ignore_index=not isinstance(kept[0], pd.Series))
    return joined if len(kept) > 1 else kept[0]


def _checked(raw: RawTable, frame: pd.DataFrame, model: TableModel, spec: SourceSpec,
             ctx: IngestContext, blocks: _IncidentBlocks | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame, Quarantine]:
    """Check the rows of ``frame``: the cells checked, the table built and the refusals."""
    if model.points:
        frame = _geometry_points(frame)
    _require_columns(frame, raw, model, spec)
    q = Quarantine(frame.index)
    _check_required_cells(frame, model, q)
    if model.id_column:
        _check_ids(frame, model.id_column, q, blocks.duplicates if blocks else None)
    if blocks is not None:
        table = _ingest_incidents(frame, spec, ctx, q, blocks)
    else:
        table = _BUILDERS[raw.table](frame, spec, ctx, q)
    table.index = frame.index
    table.insert(len(table.columns) - (1 if "geometry" in table else 0), "source_row",
                 frame["source_row"].astype("int64"))
    if raw.table == "incidents":
        table["area_id"] = assign_areas(table, ctx, q.alive)
        table = _empty_to_na(table, ["source", "perpetrator_type"])
    return frame, table, q


def _shown(frame: pd.DataFrame, model: TableModel) -> list[str]:
    """Return the columns a quarantined row shows: its row number and its model cells."""
    return [c for c in ("source_row", *model.columns) if c in frame and c != "geometry"]


def _text_columns(accepted: pd.DataFrame) -> pd.DataFrame:
    for column in accepted.columns:
        if accepted[column].dtype == object and column != "geometry":
            accepted[column] = accepted[column].astype("str")
    return accepted


def _split(frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine,
           model: TableModel) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Return the accepted rows, the quarantined rows and their reasons."""
    accepted = _text_columns(table.loc[q.alive].reset_index(drop=True))
    rejected = _shown_cells(frame.loc[~q.alive, _shown(frame, model)]).assign(
        reason=q.reason[~q.alive], column=q.column[~q.alive], detail=q.detail[~q.alive]
    ).reset_index(drop=True)
    return accepted, rejected, q.reason.dropna()


def _incidents_in_blocks(raw: RawTable,
                         blocks: Callable[[], Iterator[tuple[RawTable, pd.DataFrame]]],
                         model: TableModel, spec: SourceSpec, ctx: IngestContext
                         ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Check incidents block by block, with the answers of one pass.

    ``blocks()`` gives a fresh pass over the blocks (each as read and as renamed, labelled by
    its rows' positions). Every check but two looks at one row. Duplicate ids are found as
    the blocks come (:class:`_SeenIds`); likely duplicates over the compact keys the blocks
    keep of the rows they accept, after the last block: the repeats then leave the accepted
    rows for the quarantined ones (in row order, as one pass orders them; their cells taken
    in a second pass over the blocks) and their first rows get ``matched_sources``.
    """
    seen = _SeenIds()
    state = _IncidentBlocks((pd.Series(dtype=bool), pd.Series(dtype=object)))
    suggestions: dict[str, list[str]] = {}
    alive, refused, reasons = [], [], []
    for source, block in blocks():
        # Point geometries become coordinate cells once, so that a likely duplicate found
        # after its block shows the cells its block checked.
        block = _geometry_points(block)
        _require_columns(block, source, model, spec)
        state.duplicates = seen.check(block, model.id_column)
        block, table, q = _checked(source, block, model, spec, ctx, state)
        for name, near in ctx.area_name_suggestions.items():
            suggestions.setdefault(name, near)  # first seen first, as one pass lists them
        # Text columns become str blocks here: the Python objects of a block go with it.
        alive.append(_text_columns(table.loc[q.alive]))
        refused.append(block.loc[~q.alive, _shown(block, model)].assign(
            reason=q.reason[~q.alive], column=q.column[~q.alive], detail=q.detail[~q.alive]))
        reasons.append(q.reason.dropna())
        del source, block, table, q
    del seen
    ctx.area_name_suggestions = suggestions
    _note_unclassified(state.unclassified, spec, ctx)
    accepted = pd.concat([a for a in alive if len(a)] or alive[:1])
    del alive
    parts = pd.concat(state.parts)
    state.parts.clear()
    if len(parts):
        repeat, detail, matched = _likely_duplicates(parts)
        repeats = parts.index[repeat.to_numpy()]
        if len(matched):
            accepted.loc[matched.index, "matched_sources"] = matched.to_numpy()
        if len(repeats):
            accepted = accepted.drop(index=repeats)
            likely = pd.Series("likely_duplicate", index=repeats, dtype=object)
            refused.append(_rows_shown(blocks, repeats, model).assign(
                reason=likely, column=pd.Series("incident_id", index=repeats, dtype=object),
                detail=detail.reindex(repeats).astype(object)))
            reasons.append(likely)
    accepted = accepted.reset_index(drop=True)
    rejected = pd.concat([r for r in refused if len(r)] or refused[:1]).sort_index()
    return (accepted, rejected.reset_index(drop=True),
            pd.concat([r for r in reasons if len(r)] or reasons[:1]).sort_index())


def _rows_shown(blocks: Callable[[], Iterator[tuple[RawTable, pd.DataFrame]]],
                labels: pd.Index, model: TableModel) -> pd.DataFrame:
    """Return the cells a quarantined row shows for the rows ``labels``, from the blocks."""
    found = []
    for _, block in blocks():
        taken = block.index.isin(labels)
        if taken.any():
            block = _geometry_points(block.loc[taken])
            found.append(block[_shown(block, model)])
    return pd.concat(found)


def ingest_mission(
    config: MissionConfig,
    raw: dict[str, RawTable],
    *,
    strategy_ids: Iterable[str] = (),
    today: dt.date | None = None,
) -> MissionData:
    """Check every table of a mission, quarantining rows that fail with their reasons.

    Parameters
    ----------
    config : MissionConfig
        The mission configuration.
    raw : dict
        Table name -> :class:`~protection_eval.io.readers.RawTable`, as read by the catalog.
    strategy_ids : iterable of str
        Ids of the strategy inventory; deployments of other ids are quarantined.
    today : datetime.date, optional
        The date after which a date is "in the future" (default: today in UTC).

    Returns
    -------
    MissionData
        Accepted tables and the validation report (which lists any error that makes the
        mission unusable, such as a required table with no accepted row).

    Raises
    ------
    MissionInputError
        A required column is absent or the column mapping is inconsistent: the message names
        the file and the column.
    """
    ctx = IngestContext(config, frozenset(strategy_ids), today or dt.datetime.now(dt.UTC).date())
    report = ValidationReport(mission=config.mission)
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(ORDER)
    # HOOK (protection_eval.engine): each table checked here, or in parts on the run's cluster.
    engine = current_engine()
    check = ingest_table if engine is None else partial(engine.ingest_table, local=ingest_table)
    for name in ORDER:
        if name not in raw:
            continue
        accepted, rejected, table_report = check(raw[name], getattr(config.sources, name), ctx)
        report.tables[name] = table_report
        report.rejected[name] = rejected
        tables[name] = validate_table(name, accepted)
        if name == "areas":
            if accepted.empty:
                message = (f"{raw[name].path}: no area was accepted; every row was quarantined "
                           "(see rejected/areas.csv), and points cannot be checked without areas")
                report.errors.append(message)
                raise MissionInputError(message, report)
            ctx.areas = tables[name]
            ctx.projection = choose_working_projection(ctx.areas, config.crs)
            ctx.projected_crs = ctx.projection.crs
            report.notes.append(ctx.projection.describe())
        elif name == "patrols":
            # From one object array: iterating Arrow text is a Python call per patrol.
            ctx.patrol_ids = frozenset(accepted["patrol_id"].to_numpy(dtype=object))
        elif name == "incidents":
            ctx.incidents = accepted
    for name in ORDER:
        if name in raw and report.tables[name].rows_read == 0:
            report.notes.append(f"{name}: {raw[name].path} is declared and has no rows")
    for name in ("incidents", "patrols"):
        if tables[name] is not None and tables[name].empty and report.tables[name].rows_read:
            report.errors.append(
                f"{raw[name].path}: no {name} row was accepted "
                f"({report.tables[name].rows_rejected} quarantined); see rejected/{name}.csv"
            )
    counts = tables["incident_counts"]
    if tables["incidents"] is not None and report.tables["incidents"].rows_read == 0:
        if counts is not None and len(counts):
            report.notes.append("incidents: no incident rows; the monthly incident counts stand "
                                "in for them in the panels and the effects")
        else:
            report.errors.append(f"{raw['incidents'].path}: the incidents table has no rows")
    patrols = tables["patrols"] if tables["patrols"] is not None else _no_patrols(ctx)
    data = MissionData(
        config=config,
        incidents=tables["incidents"],
        patrols=patrols,
        areas=tables["areas"],
        patrol_tracks=tables["patrol_tracks"],
        bases=tables["bases"],
        deployments=tables["deployments"],
        projected_crs=ctx.projected_crs,
        validation=report,
        incident_counts=tables["incident_counts"],
    )
    if data.coverage_source == "none":
        report.notes.append(
            "coverage cannot be computed: the mission has no GPS tracks, no patrol routes and "
            "no bases; incidents, areas, panels and strategy effects are still analysed"
        )
    return data


def _no_patrols(ctx: IngestContext) -> gpd.GeoDataFrame:
    """Return the canonical patrols table with no rows, for a mission without patrols."""
    header = pd.DataFrame({"source_row": pd.Series(dtype=str),
                           **{c: pd.Series(dtype=str) for c in MODELS["patrols"].required}})
    raw = RawTable("patrols", Path("(no patrols source)"), header)
    accepted, _, _ = ingest_table(raw, SourceSpec(path=raw.path), ctx)
    return validate_table("patrols", accepted)
