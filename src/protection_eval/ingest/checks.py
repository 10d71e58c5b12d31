"""The checks of each table: cells parsed and checked, the canonical table built, refusals kept.

One builder per table (areas, patrols, GPS tracks, bases, incidents, deployments; the monthly
counts are :mod:`protection_eval.ingest.counts`) turns renamed text cells into the table's typed
columns, quarantining each row that fails with its reason in a
:class:`~protection_eval.ingest.quarantine.Quarantine`. :func:`_checked` runs one table (or one
block of it) through the checks and :func:`_split` parts the accepted rows from the quarantined
ones, shown as the text a reader gave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.config import SourceSpec
from protection_eval.ingest.columns import _geometry_points, _require_columns
from protection_eval.ingest.counts import ingest_counts
from protection_eval.ingest.duplicates import (
    _check_ids,
    _check_likely_duplicates,
    _likely_duplicate_parts,
)
from protection_eval.ingest.locations import assign_areas, check_points
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
from protection_eval.ingest.table_models import NUMBER_BOUNDS, WGS84, TableModel
from protection_eval.model import RawTable, to_iso_text, to_local_day


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
    # Coordinates only, as the GPS fixes: no shapely point per incident (most of the accepted
    # table's memory at millions of rows); analyses build points with to_incident_points.
    table = pd.DataFrame(
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
            "longitude": lon,
            "latitude": lat,
        },
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


def _split(frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine, model: TableModel, *,
           give: Callable[[pd.DataFrame], None] | None = None,
           start: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Return the accepted rows, the quarantined rows and their reasons.

    With ``give``, the quarantined rows are handed to it, labelled by their positions (the
    frame's first row at ``start``), and none are returned (the columns only).
    """
    accepted = _text_columns(table.loc[q.alive].reset_index(drop=True))
    rejected = _shown_cells(frame.loc[~q.alive, _shown(frame, model)]).assign(
        reason=q.reason[~q.alive], column=q.column[~q.alive], detail=q.detail[~q.alive]
    )
    if give is not None:
        give(rejected.set_axis(frame.index.get_indexer(rejected.index) + start))
        rejected = rejected.iloc[:0].copy()  # not a view keeping the rows given
    return accepted, rejected.reset_index(drop=True), q.reason.dropna()
