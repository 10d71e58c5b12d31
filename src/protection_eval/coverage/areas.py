"""Area x month coverage measures: footprint, population reached, patrol-hours, women's share.

The measures are built from *presence pieces* (see
:meth:`protection_eval.coverage.models.CoverageModel.presence`): straight patrol movements,
stationary patrol positions, or bases, each with a start, an end, personnel and women.

- A piece counts in every local calendar month its time span overlaps, for the hours of the
  overlap.
- ``footprint_share``: share of the area's surface within ``radius_m`` of a piece present in
  the month. Circles around pieces are buffer polygons here (64 segments per circle, 0.16 %
  less area than the circle): this is a surface measure, unlike incident coverage, which is exact.
- ``population_share``: with only an area's total population, people are taken as spread
  evenly over it, so this is the footprint share where the area has a population, NA where not.
- ``patrol_hours``: hours patrols spent inside the area, a moving piece's hours split by the
  length of its line inside the area. NA for base presence (bases are not patrols). This is the
  project's one definition of patrol-hours (:func:`compute_patrol_hours`), also used by the
  effect panel at any period length.
- ``women_share``: women per personnel, weighted by hours present in the area (patrols or
  bases); NA without personnel counts.
- ``incidents``: reported incidents with the area's id in the month (local calendar),
  excluding those located only to a province or the country.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.coverage.presence import PresencePieces
from protection_eval.model import to_local_naive, to_local_period

#: Presence as the area measures take it: a GeoDataFrame of pieces, or the same as arrays.
Presence = gpd.GeoDataFrame | PresencePieces

AREA_MEASURE_COLUMNS: tuple[str, ...] = (
    "area_id",
    "period",
    "footprint_share",
    "population_share",
    "patrol_hours",
    "women_share",
    "incidents",
)

#: Precisions too coarse to place an incident in one area.
COARSE_PRECISIONS: tuple[str, ...] = ("admin1", "country")

_QUAD_SEGS = 16

#: Pieces given geometries at once when splitting their hours between areas: bounds the
#: shapely objects alive at a time (a few hundred bytes each) whatever the mission's size.
_BLOCK = 250_000


def _as_pieces(presence: Presence | None) -> PresencePieces | None:
    """Return presence as arrays (None or empty: None)."""
    if presence is None or len(presence) == 0:
        return None
    if isinstance(presence, PresencePieces):
        return presence
    return PresencePieces.from_frame(presence)


def month_starts(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Return the first day (naive) of every calendar month from ``start`` to ``end``."""
    first = pd.Timestamp(start).to_period("M").to_timestamp()
    return pd.date_range(first, pd.Timestamp(end), freq="MS")


def month_edges(months: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Return the month starts followed by the start of the month after the last one."""
    return months.append(pd.DatetimeIndex([months[-1] + pd.offsets.MonthBegin(1)]))


def _spans(
    presence: PresencePieces, edges: pd.DatetimeIndex, timezone: str, pick: slice
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return local start and end, first and last period and whether in any, of ``pick``."""
    n = len(edges) - 1
    start = to_local_naive(presence.start.iloc[pick], timezone)
    end = to_local_naive(presence.end.iloc[pick], timezone)
    start = start.fillna(edges[0]).to_numpy()
    end = end.fillna(edges[-1]).to_numpy()
    first = np.searchsorted(edges.to_numpy(), start, side="right") - 1
    last = np.searchsorted(edges.to_numpy(), end, side="left") - 1
    first = np.clip(first, 0, n - 1)
    last = np.clip(np.maximum(last, first), 0, n - 1)
    inside = (end >= edges[0].to_datetime64()) & (start < edges[-1].to_datetime64())
    return start, end, first, last, inside


def _split_by_period(
    presence: PresencePieces, edges: pd.DatetimeIndex, timezone: str, pick: slice
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (piece, period, hours) for every period a piece of ``pick`` overlaps.

    Pieces are positions within ``pick``, in order, each with its periods in order.
    """
    start, end, first, last, inside = _spans(presence, edges, timezone, pick)
    piece = np.flatnonzero(inside)
    count = (last - first + 1)[piece]
    rows = np.repeat(piece, count)
    period = np.repeat(first[piece], count) + (
        np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    )
    lo = np.maximum(start[rows], edges.to_numpy()[period])
    hi = np.minimum(end[rows], edges.to_numpy()[period + 1])
    hours = np.maximum((hi - lo) / np.timedelta64(1, "h"), 0.0)
    return rows, period, hours


def compute_footprints(
    presence: Presence | None,
    *,
    radius_m: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timezone: str = "UTC",
) -> gpd.GeoDataFrame:
    """Return, per local calendar month, the surface within ``radius_m`` of presence.

    Geometries are built one month at a time, so memory follows a month's pieces, not the
    mission's.

    Parameters
    ----------
    presence : geopandas.GeoDataFrame or PresencePieces
        Presence pieces in a projected CRS.
    radius_m : float
        Reach of a patrol or base.
    start, end : pandas.Timestamp
        First and last calendar day of the mission period.
    timezone : str
        Mission time zone.

    Returns
    -------
    geopandas.GeoDataFrame
        ``period`` (naive first day of the month) and a (Multi)Polygon, one row per month with
        presence, in the presence's CRS.
    """
    months = month_starts(start, end)
    periods, shapes = [], []
    pieces = _as_pieces(presence)
    if pieces is not None:
        _, _, first, last, inside = _spans(pieces, month_edges(months), timezone, slice(None))
        units = pieces.unit_codes()
        is_line = pieces.is_line()
        for month in range(len(months)):
            rows = np.flatnonzero(inside & (first <= month) & (last >= month))
            if len(rows):
                periods.append(months[month])
                shapes.append(
                    _reach(pieces.geometries(rows), units[rows], is_line[rows], radius_m)
                )
    crs = None if presence is None else presence.crs
    return gpd.GeoDataFrame(
        {"period": pd.DatetimeIndex(periods, dtype="datetime64[ns]")}, geometry=shapes, crs=crs
    )


def _reach(
    geoms: np.ndarray, units: np.ndarray, is_line: np.ndarray, radius_m: float
) -> shapely.Geometry:
    """Return the union of discs of ``radius_m`` around the pieces ``geoms``.

    A unit's line pieces are merged into one line before buffering: far fewer polygons to
    union than one per piece.
    """
    parts = []
    if is_line.any():
        codes = units[is_line]
        order = np.argsort(codes, kind="stable")
        _, dense = np.unique(codes[order], return_inverse=True)
        lines = geoms[is_line][order]
        merged = shapely.line_merge(shapely.multilinestrings(lines, indices=dense))
        parts.append(shapely.buffer(merged, radius_m, quad_segs=_QUAD_SEGS))
    if not is_line.all():
        parts.append(shapely.buffer(geoms[~is_line], radius_m, quad_segs=_QUAD_SEGS))
    return shapely.union_all(np.concatenate(parts))


def _footprint_shares(
    footprints: gpd.GeoDataFrame, months: pd.DatetimeIndex, areas: gpd.GeoDataFrame
) -> np.ndarray:
    """Return an (areas x months) array of the share of each area within reach."""
    shapes = areas.geometry.to_numpy()
    surface = shapely.area(shapes)
    safe = np.where(surface > 0, surface, 1.0)
    shares = np.zeros((len(areas), len(months)))
    position = pd.Index(months).get_indexer(pd.DatetimeIndex(footprints["period"]))
    for pos, reach in zip(position, footprints.geometry.to_numpy(), strict=True):
        if pos >= 0:
            covered = shapely.area(shapely.intersection(shapes, reach))
            shares[:, pos] = np.where(surface > 0, covered / safe, 0.0)
    return shares


def _length_inside(
    pieces: np.ndarray, shapes: np.ndarray, area_pos: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Return the length of each piece inside its area (``shapes`` prepared).

    A piece within its area (most of them) is its own intersection with it, so its length
    is taken as it is; only the pieces that cross a boundary are intersected, which is the
    costly overlay.
    """
    # Inside without touching the boundary (cheap with prepared areas) implies within; only
    # the rest needs the full test.
    within = shapely.contains_properly(shapes[area_pos], pieces)
    unsure = np.flatnonzero(~within)
    within[unsure] = shapely.within(pieces[unsure], shapes[area_pos[unsure]])
    inside = length.copy()
    cross = np.flatnonzero(~within)
    inside[cross] = shapely.length(shapely.intersection(pieces[cross], shapes[area_pos[cross]]))
    return inside


def _area_fractions(
    geoms: np.ndarray, tree: object, shapes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (piece, area position, fraction of the piece's hours in the area), by piece."""
    piece_pos, area_pos = tree.query(geoms, predicate="intersects")
    order = np.argsort(piece_pos, kind="stable")
    piece_pos, area_pos = piece_pos[order], area_pos[order]
    length = shapely.length(geoms[piece_pos])
    inside = _length_inside(geoms[piece_pos], shapes, area_pos, length)
    # A point, or a line lying along a boundary, is shared evenly by the areas it touches.
    touching = np.bincount(piece_pos, minlength=len(geoms))[piece_pos]
    fraction = np.where(length > 0, inside / np.where(length > 0, length, 1.0), 1.0 / touching)
    return piece_pos, area_pos, fraction


def _sum_hours_in_areas(
    presence: PresencePieces, edges: pd.DatetimeIndex, timezone: str, areas: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return patrol-hours, personnel-hours and women-hours per (area, period), area-major.

    Pieces are taken :data:`_BLOCK` at a time (their geometries, periods and areas), so
    memory follows the block, not the mission. Each sum adds its pieces in piece order,
    one at a time (``numpy.add.at``), whatever the blocks: the sums are those of one pass.
    """
    n_periods = len(edges) - 1
    size = len(areas) * n_periods
    sums = np.zeros((3, size))
    tree = areas.sindex
    shapes = areas.geometry.to_numpy().copy()
    shapely.prepare(shapes)
    for first in range(0, len(presence), _BLOCK):
        pick = slice(first, first + _BLOCK)
        rows, period, hours = _split_by_period(presence, edges, timezone, pick)
        if len(rows) == 0:
            continue
        piece, area, fraction = _area_fractions(presence.geometries(pick), tree, shapes)
        # Each (piece, period) row once per area of its piece, in the areas' order.
        per_piece = np.bincount(piece, minlength=pick.stop - first)
        first_of = np.cumsum(per_piece) - per_piece
        repeat = per_piece[rows]
        left = np.repeat(np.arange(len(rows)), repeat)
        right = np.repeat(first_of[rows], repeat) + (
            np.arange(repeat.sum()) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        )
        whose = rows[left] + first
        key = area[right].astype(np.int64) * n_periods + period[left]
        hours_in = hours[left] * fraction[right]
        personnel = presence.personnel[whose]
        women = presence.women[whose]
        known = np.isfinite(personnel) & np.isfinite(women) & (personnel > 0)
        patrol = presence.kind[whose] == "patrol"
        np.add.at(sums[0], key[patrol], hours_in[patrol])
        np.add.at(sums[1], key, np.where(known, personnel * hours_in, 0.0))
        np.add.at(sums[2], key, np.where(known, women * hours_in, 0.0))
    return sums[0], sums[1], sums[2]


def compute_area_measures(
    presence: Presence | None,
    areas: gpd.GeoDataFrame,
    incidents: pd.DataFrame,
    *,
    radius_m: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timezone: str = "UTC",
    footprints: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Compute the area x month coverage measures.

    Parameters
    ----------
    presence : geopandas.GeoDataFrame or PresencePieces
        Presence pieces (``kind``, ``start``, ``end`` UTC, ``personnel``, ``women``, geometry)
        in the areas' projected CRS.
    areas : geopandas.GeoDataFrame
        ``area_id``, ``population`` and polygons, in a projected CRS.
    incidents : pandas.DataFrame
        ``area_id``, ``occurred_at`` (UTC), ``location_precision``.
    radius_m : float
        Reach of a patrol or base.
    start, end : pandas.Timestamp
        First and last calendar day of the mission period.
    timezone : str
        Mission time zone, for local months.
    footprints : geopandas.GeoDataFrame, optional
        From :func:`compute_footprints` when already computed.

    Returns
    -------
    pandas.DataFrame
        One row per area and month (every pair, in area then month order), with
        ``area_id`` (str), ``period`` (naive timestamp of the month's first day),
        ``footprint_share`` and ``population_share`` (0-1, float), ``patrol_hours`` (float, NA
        for base presence), ``women_share`` (women per personnel, hour-weighted; NA without
        personnel), ``incidents`` (int64). The rules are in the module docstring.
    """
    months = month_starts(start, end)
    area_ids = areas["area_id"].astype(str).to_numpy()
    grid = pd.DataFrame(
        {
            "area_id": np.repeat(area_ids, len(months)),
            "period": np.tile(months.to_numpy(), len(area_ids)),
        }
    )
    footprint = np.zeros((len(areas), len(months)))
    pieces = _as_pieces(presence)
    if pieces is not None:
        if footprints is None:
            footprints = compute_footprints(
                pieces, radius_m=radius_m, start=start, end=end, timezone=timezone
            )
        footprint = _footprint_shares(footprints, months, areas)
    grid["footprint_share"] = footprint.ravel()
    population = pd.to_numeric(areas["population"]).astype("Float64").to_numpy(float, np.nan)
    has_people = np.repeat(np.isfinite(population) & (population > 0), len(months))
    grid["population_share"] = np.where(has_people, grid["footprint_share"], np.nan)

    grid["patrol_hours"], grid["women_share"] = _sum_hours(
        pieces, areas, month_edges(months), timezone
    )
    grid["incidents"] = _incident_counts(incidents, area_ids, months, timezone)
    return grid[list(AREA_MEASURE_COLUMNS)]


def _sum_hours(
    presence: PresencePieces | None,
    areas: gpd.GeoDataFrame,
    edges: pd.DatetimeIndex,
    timezone: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Return patrol-hours and women's share per (area, period), area-major."""
    size = len(areas) * (len(edges) - 1)
    if presence is None:
        patrol_hours, personnel_h, women_h = np.zeros(size), np.zeros(size), np.zeros(size)
    else:
        patrol_hours, personnel_h, women_h = _sum_hours_in_areas(
            presence, edges, timezone, areas
        )
        if not (presence.kind == "patrol").any():
            patrol_hours = np.full(size, np.nan)
    safe = np.where(personnel_h > 0, personnel_h, 1)
    return patrol_hours, np.where(personnel_h > 0, women_h / safe, np.nan)


def compute_patrol_hours(
    presence: Presence | None,
    areas: gpd.GeoDataFrame,
    *,
    edges: pd.DatetimeIndex,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Return patrol-hours and women's share per area and period: the one definition.

    Patrol-hours are the hours patrol presence pieces spend inside the area: a piece counts in
    every local period its time span overlaps, for the hours of the overlap, and a moving
    piece's hours are split between areas by the length of its line inside each (a point, or a
    line along a boundary, is shared evenly by the areas it touches). Base presence adds no
    patrol-hours (NA when a mission has only bases). The women's share is women per
    personnel, weighted by hours present (patrols or bases), NA without personnel counts. The
    monthly area measures (:func:`compute_area_measures`) and the effect panel at any period
    length use this definition.

    Parameters
    ----------
    presence : geopandas.GeoDataFrame, PresencePieces or None
        Presence pieces in the areas' projected CRS.
    areas : geopandas.GeoDataFrame
        ``area_id`` and polygons, in a projected CRS.
    edges : pandas.DatetimeIndex
        Naive local period boundaries: period ``i`` runs from ``edges[i]`` to ``edges[i+1]``.
    timezone : str
        Mission time zone.

    Returns
    -------
    pandas.DataFrame
        ``area_id`` (str), ``period_start`` (naive), ``patrol_hours``, ``women_share``; one row
        per area and period, area-major.
    """
    n_periods = len(edges) - 1
    area_ids = areas["area_id"].astype(str).to_numpy()
    patrol_hours, women_share = _sum_hours(_as_pieces(presence), areas, edges, timezone)
    return pd.DataFrame(
        {
            "area_id": np.repeat(area_ids, n_periods),
            "period_start": np.tile(edges[:-1].to_numpy(), len(area_ids)),
            "patrol_hours": patrol_hours,
            "women_share": women_share,
        }
    )


def _incident_counts(
    incidents: pd.DataFrame, area_ids: np.ndarray, months: pd.DatetimeIndex, timezone: str
) -> np.ndarray:
    """Return incident counts in area-major, month-minor order."""
    size = len(area_ids) * len(months)
    if len(incidents) == 0:
        return np.zeros(size, dtype=np.int64)
    placed = incidents["area_id"].notna()
    if "location_precision" in incidents:
        placed &= ~incidents["location_precision"].isin(COARSE_PRECISIONS).fillna(False)
    # One rule with the panel: a range of dates counts in its month only when inside it.
    until = incidents["occurred_until"][placed] if "occurred_until" in incidents else None
    month = to_local_period(incidents.loc[placed, "occurred_at"], until, timezone, "M")
    month = month.dt.to_timestamp().to_numpy()
    area_pos = pd.Index(area_ids).get_indexer(incidents.loc[placed, "area_id"].astype(str))
    month_pos = pd.Index(months).get_indexer(month)
    ok = (area_pos >= 0) & (month_pos >= 0)
    return np.bincount(area_pos[ok] * len(months) + month_pos[ok], minlength=size).astype(
        np.int64
    )
