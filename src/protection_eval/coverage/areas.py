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

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.coverage.presence import PresencePieces
from protection_eval.labels import COARSE_PRECISIONS
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

_QUAD_SEGS = 16

#: Footprints: a month with at least this many parts (units' lines, stationary pieces) unions
#: a sample of them first, one in every :data:`_SAMPLE_STEP`, and skips the parts inside it.
_SAMPLE_MIN = 256
_SAMPLE_STEP = 8

#: Relative slack on where along an area's edge a movement meets it (see _clipped_lengths).
_SLACK = 1e-9

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
    # A piece's end is exclusive: one that ends at the first edge (a base closed the day
    # before the window opens) is not inside it; an instant is, from the first edge on.
    first_edge, last_edge = edges[0].to_datetime64(), edges[-1].to_datetime64()
    instant = end == start
    inside = (start < last_edge) & ((end > first_edge) | (instant & (start >= first_edge)))
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


@dataclass(frozen=True)
class _TimeSpans:
    """Time spans alone (what :func:`_spans` reads of presence pieces)."""

    start: pd.Series
    end: pd.Series


def split_hours_by_period(
    started_at: pd.Series, ended_at: pd.Series, *, edges: pd.DatetimeIndex, timezone: str
) -> pd.DataFrame:
    """Return the hours of each time span in every local period it overlaps.

    The time part of the one definition of patrol-hours (:func:`compute_patrol_hours`): a span
    counts in every local period its time overlaps, for the hours of the overlap, so a patrol
    from 22:00 on 31 March to 04:00 on 1 April gives two hours to March and four to April. The
    1325 patrol indicators use it for patrols with or without a position.

    Parameters
    ----------
    started_at, ended_at : pandas.Series
        Timezone-aware (UTC) starts and ends, one pair per span.
    edges : pandas.DatetimeIndex
        Naive local period boundaries: period ``i`` runs from ``edges[i]`` to ``edges[i+1]``.
    timezone : str
        Mission time zone.

    Returns
    -------
    pandas.DataFrame
        ``span`` (position in the input), ``period`` (position in ``edges``) and ``hours``,
        one row per span and period it overlaps, spans in order. Spans outside every period
        have no row.
    """
    spans = _TimeSpans(started_at.reset_index(drop=True), ended_at.reset_index(drop=True))
    rows, period, hours = _split_by_period(spans, edges, timezone, slice(None))
    return pd.DataFrame({"span": rows, "period": period, "hours": hours})


def compute_footprints(
    presence: Presence | None,
    *,
    radius_m: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    timezone: str = "UTC",
) -> gpd.GeoDataFrame:
    """Return, per local calendar month, the surface within ``radius_m`` of presence.

    A month's footprint is the union of the buffers (:data:`_QUAD_SEGS` segments a quarter
    circle) of each unit's line pieces, merged into lines, and of each stationary piece. A
    unit whose lines lie deeper than the radius inside the union of a sample of the others
    adds nothing to it, so it is neither buffered nor merged into it (:func:`_reach`): the
    footprint is the same surface as the union of every buffer, and its polygon differs
    from that union's only by how GEOS rounds the vertices where buffers cross, far below
    the arc approximation error ``radius_m * (1 - cos(pi / (4 * _QUAD_SEGS)))`` (Hausdorff
    distance, 0.12 % of the radius) that bounds any difference between two buffers.

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
                shapes.append(_reach(pieces, rows, units[rows], is_line[rows], radius_m))
    crs = None if presence is None else presence.crs
    return gpd.GeoDataFrame(
        {"period": pd.DatetimeIndex(periods, dtype="datetime64[ns]")}, geometry=shapes, crs=crs
    )


def _reach(
    pieces: PresencePieces,
    rows: np.ndarray,
    units: np.ndarray,
    is_line: np.ndarray,
    radius_m: float,
) -> shapely.Geometry:
    """Return the union of discs of ``radius_m`` around the pieces ``rows``.

    A unit's line pieces are merged into one line before buffering (far fewer polygons to
    union than one per piece); each stationary piece is buffered alone. These *parts* are
    the union's inputs. From :data:`_SAMPLE_MIN` parts, every :data:`_SAMPLE_STEP`-th is
    unioned first (the same way, recursively); a part lying inside that union shrunk by more
    than the radius (:func:`_shrunk`) adds nothing, so only the others are buffered and merged
    into it. Under a mission's dense patrolling that is most of them (9 in 10 at x64), and a
    union's cost follows its input's vertices. The parts buffered are buffered as before, so
    the result is the same surface as the union of every part's buffer; fewer parts: that
    union itself, to the bit.
    """
    lines, points = rows[is_line], rows[~is_line]
    codes = units[is_line]
    order = np.argsort(codes, kind="stable")
    lines = lines[order]
    _, unit_of = np.unique(codes[order], return_inverse=True)
    n_units = int(unit_of.max()) + 1 if len(lines) else 0

    def union(parts: np.ndarray) -> shapely.Geometry:
        pick = np.zeros(n_units + len(points), dtype=bool)
        if len(parts) < _SAMPLE_MIN:
            pick[parts] = True
            return shapely.union_all(_buffers(pieces, lines, unit_of, points, radius_m, pick))
        # The sample's union is itself built the same way, so no level unions many parts.
        covered = union(parts[::_SAMPLE_STEP])
        rest = np.delete(parts, np.s_[::_SAMPLE_STEP])
        outlines = _outlines(pieces, lines, unit_of, points, n_units, rest)
        pick[rest[~shapely.contains_properly(_shrunk(covered, radius_m), outlines)]] = True
        adds = _buffers(pieces, lines, unit_of, points, radius_m, pick)
        return shapely.union_all(np.concatenate([[covered], adds]))

    return union(np.arange(n_units + len(points)))


def _shrunk(covered: shapely.Geometry, radius_m: float) -> shapely.Geometry:
    """Return a prepared part of ``covered`` whose every point is over ``radius_m`` inside it.

    A negative buffer cuts its arcs as chords, which lie up to the arc error closer to the
    boundary than the exact offset: shrinking by ``radius_m / cos(step / 2)`` plus that error
    leaves every point at least ``radius_m`` (plus a margin for rounding) from the outside,
    so any disc of ``radius_m`` centred in it lies in ``covered``. (GEOS's simplification of
    the buffer's input only cuts corners off ``covered`` here: it can only shrink the result.)
    """
    half_step = np.pi / (4 * _QUAD_SEGS)
    depth = (radius_m + radius_m * (1 - np.cos(half_step))) / np.cos(half_step)
    core = shapely.buffer(covered, -depth, quad_segs=_QUAD_SEGS)
    shapely.prepare(core)
    return core


def _buffers(
    pieces: PresencePieces,
    lines: np.ndarray,
    unit_of: np.ndarray,
    points: np.ndarray,
    radius_m: float,
    pick: np.ndarray,
) -> np.ndarray:
    """Return the buffer of each part (unit's merged lines, then stationary pieces) in ``pick``.

    ``lines`` are the line pieces' rows sorted by unit, ``unit_of`` their unit's position;
    parts are the units in that order, then ``points``; ``pick`` marks the parts wanted.
    """
    n_units = int(unit_of.max()) + 1 if len(lines) else 0
    parts = []
    chosen = pick[:n_units][unit_of] if n_units else np.zeros(0, dtype=bool)
    if chosen.any():
        _, dense = np.unique(unit_of[chosen], return_inverse=True)
        merged = shapely.line_merge(
            shapely.multilinestrings(pieces.geometries(lines[chosen]), indices=dense)
        )
        parts.append(shapely.buffer(merged, radius_m, quad_segs=_QUAD_SEGS))
    still = points[pick[n_units:]]
    if len(still):
        parts.append(shapely.buffer(pieces.geometries(still), radius_m, quad_segs=_QUAD_SEGS))
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _outlines(
    pieces: PresencePieces,
    lines: np.ndarray,
    unit_of: np.ndarray,
    points: np.ndarray,
    n_units: int,
    parts: np.ndarray,
) -> np.ndarray:
    """Return, for each position in ``parts``, a geometry covering the same points as the part.

    Only whether a part lies inside a surface is asked of these, so a unit's consecutive
    movements (end of one at the start of the next) are chained into one line straight from
    their coordinates, without a shapely line a piece or merging them.
    """
    out = np.empty(len(parts), dtype=object)
    is_unit = parts < n_units
    units = parts[is_unit]
    out[~is_unit] = pieces.geometries(points[parts[~is_unit] - n_units])
    if not len(units):
        return out
    wanted = np.zeros(n_units, dtype=bool)
    wanted[units] = True
    keep = wanted[unit_of]
    rows, owner = lines[keep], unit_of[keep]
    if pieces.coords is None:
        _, dense = np.unique(owner, return_inverse=True)
        shapes = shapely.multilinestrings(pieces.geometries(rows), indices=dense)
    else:
        shapes = _chains(pieces, rows, owner)
    position = np.searchsorted(np.unique(owner), units)
    out[is_unit] = shapes[position]
    return out


def _chains(pieces: PresencePieces, rows: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Return one (Multi)LineString per unit of the movements ``rows`` (sorted by ``owner``)."""
    x0, y0, x1, y1 = (values[rows] for values in pieces.coords)
    # A movement continues the previous one's line when it is the same unit's and starts
    # where that one ended.
    joined = np.zeros(len(rows), dtype=bool)
    joined[1:] = (owner[1:] == owner[:-1]) & (x0[1:] == x1[:-1]) & (y0[1:] == y1[:-1])
    chain = np.cumsum(~joined) - 1
    starts = np.flatnonzero(~joined)
    # Each chain's first start, then every movement's end.
    xs = np.insert(x1, starts, x0[starts])
    ys = np.insert(y1, starts, y0[starts])
    line_of = np.insert(chain, starts, chain[starts])
    lines = shapely.linestrings(xs, ys, indices=line_of)
    _, dense = np.unique(owner[starts], return_inverse=True)
    return shapely.multilinestrings(lines, indices=dense)


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


@dataclass(frozen=True)
class _Areas:
    """The areas as the hours' split needs them: prepared polygons, their edges, two trees."""

    shapes: np.ndarray
    tree: shapely.STRtree
    edges: np.ndarray
    edge_area: np.ndarray
    edge_tree: shapely.STRtree

    @classmethod
    def of(cls, areas: gpd.GeoDataFrame) -> _Areas:
        """Return the areas' prepared polygons and every boundary edge with its area."""
        shapes = areas.geometry.to_numpy().copy()
        shapely.prepare(shapes)
        rings, owner = shapely.get_parts(shapely.boundary(shapes), return_index=True)
        coords, ring = shapely.get_coordinates(rings, return_index=True)
        # An edge joins consecutive vertices of one ring; a repeated vertex is no edge.
        joined = np.flatnonzero((ring[1:] == ring[:-1]) & (coords[1:] != coords[:-1]).any(axis=1))
        edges = np.hstack([coords[joined], coords[joined + 1]])
        return cls(
            shapes=shapes,
            tree=shapely.STRtree(shapes),
            edges=edges,
            edge_area=owner[ring[joined]],
            edge_tree=shapely.STRtree(shapely.linestrings(edges.reshape(-1, 2, 2))),
        )


def _length_inside(
    pieces: np.ndarray, where: _Areas, area_pos: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Return the length of each piece inside its area (0 for points).

    A piece within its area (most of them) is its own intersection with it, so its length
    is taken as it is. A straight movement (two vertices) that may cross a boundary is cut
    where it meets its area's edges and each stretch between cuts is inside or outside as
    its middle is (:func:`_clipped_lengths`): the overlay's length without an overlay per
    piece. Other lines, and movements running along an edge, are intersected by GEOS.
    """
    inside = length.copy()
    inside[length == 0] = 0.0
    within = shapely.contains_properly(where.shapes[area_pos], pieces)
    rest = np.flatnonzero(~within & (length > 0))
    straight = shapely.get_num_coordinates(pieces[rest]) == 2
    cut = rest[straight]
    inside[cut], along = _clipped_lengths(
        pieces[cut], shapely.get_coordinates(pieces[cut]).reshape(-1, 4), area_pos[cut], where
    )
    overlay = np.concatenate([rest[~straight], cut[along]])
    inside[overlay] = shapely.length(
        shapely.intersection(pieces[overlay], where.shapes[area_pos[overlay]])
    )
    return inside


def _clipped_lengths(
    segments: np.ndarray, coords: np.ndarray, area_pos: np.ndarray, where: _Areas
) -> tuple[np.ndarray, np.ndarray]:
    """Return the length of each segment inside its area, and which run along one of its edges.

    ``coords`` holds each segment's x0, y0, x1, y1. The segment is cut where it meets its
    area's edges; a stretch between cuts is inside or outside as its middle is. The cut
    points and lengths are computed as GEOS's overlay computes them (:func:`_meeting_points`,
    ``sqrt(dx * dx + dy * dy)``), so the lengths are the overlay's to rounding. A segment
    parallel to and on the line of one of its area's edges gets ``along`` True (its length
    is then not meaningful), as does one lying within rounding of such a line.
    """
    pair, edge = where.edge_tree.query(segments)
    mine = where.edge_area[edge] == area_pos[pair]
    pair, edge = pair[mine], edge[mine]
    px, py = coords[pair, 0], coords[pair, 1]
    dx, dy = coords[pair, 2] - px, coords[pair, 3] - py
    ex, ey = where.edges[edge, 0], where.edges[edge, 1]
    fx, fy = where.edges[edge, 2] - ex, where.edges[edge, 3] - ey
    wx, wy = ex - px, ey - py
    # Segment p + t d meets edge e + u f where t = (w x f) / (d x f), u = (w x d) / (d x f).
    den = dx * fy - dy * fx
    t_num, u_num = wx * fy - wy * fx, wx * dy - wy * dx
    n = len(coords)
    # Along an edge, or so near it that rounding decides the side (parallel within 1e-9 rad,
    # within 1e-9 of the lengths apart): the overlay's robust arithmetic decides, as before.
    d_len, f_len = np.hypot(dx, dy), np.hypot(fx, fy)
    near = (np.abs(den) <= _SLACK * d_len * f_len) & (
        np.abs(u_num) <= _SLACK * d_len * (d_len + f_len)
    )
    along = np.zeros(n, dtype=bool)
    along[pair[near]] = True
    crossing = np.flatnonzero(den != 0)
    t = t_num[crossing] / den[crossing]
    u = u_num[crossing] / den[crossing]
    # A cut too many only splits a stretch in two that lie on the same side; a cut missed
    # where a segment passes through a vertex would not, hence the slack on u.
    hit = crossing[(u >= -_SLACK) & (u <= 1 + _SLACK) & (t > 0) & (t < 1)]
    cut_x, cut_y = _meeting_points(coords[pair[hit]], where.edges[edge[hit]])
    owner = np.concatenate([np.arange(n), np.arange(n), pair[hit]])
    at = np.concatenate([np.zeros(n), np.ones(n), t_num[hit] / den[hit]])
    x = np.concatenate([coords[:, 0], coords[:, 2], cut_x])
    y = np.concatenate([coords[:, 1], coords[:, 3], cut_y])
    order = np.lexsort((at, owner))
    owner, at, x, y = owner[order], at[order], x[order], y[order]
    stretch = np.flatnonzero((owner[1:] == owner[:-1]) & (at[1:] > at[:-1]))
    seg = owner[stretch]
    middle = (at[stretch] + at[stretch + 1]) / 2
    mid_x = coords[seg, 0] + middle * (coords[seg, 2] - coords[seg, 0])
    mid_y = coords[seg, 1] + middle * (coords[seg, 3] - coords[seg, 1])
    inner = shapely.intersects_xy(where.shapes[area_pos[seg]], mid_x, mid_y)
    step_x, step_y = x[stretch + 1] - x[stretch], y[stretch + 1] - y[stretch]
    size = np.sqrt(step_x * step_x + step_y * step_y)
    return np.bincount(seg, weights=np.where(inner, size, 0.0), minlength=n), along


def _meeting_points(segments: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return where each segment meets its edge (both x0, y0, x1, y1), as GEOS computes it.

    GEOS's ``Intersection::intersection``: coordinates centred on the middle of the two
    segments' common bounds, homogeneous line equations, then back; an edge end lying on the
    segment is that end itself. Where that fails (lines too near parallel: GEOS turns to
    double-double arithmetic) the point along the segment stands in: a rounding apart.
    """
    p1x, p1y, p2x, p2y = segments.T
    q1x, q1y, q2x, q2y = edges.T
    mid_x = (np.maximum(np.minimum(p1x, p2x), np.minimum(q1x, q2x))
             + np.minimum(np.maximum(p1x, p2x), np.maximum(q1x, q2x))) / 2.0
    mid_y = (np.maximum(np.minimum(p1y, p2y), np.minimum(q1y, q2y))
             + np.minimum(np.maximum(p1y, p2y), np.maximum(q1y, q2y))) / 2.0
    a1x, a1y, a2x, a2y = p1x - mid_x, p1y - mid_y, p2x - mid_x, p2y - mid_y
    b1x, b1y, b2x, b2y = q1x - mid_x, q1y - mid_y, q2x - mid_x, q2y - mid_y
    px, py, pw = a1y - a2y, a2x - a1x, a1x * a2y - a2x * a1y
    qx, qy, qw = b1y - b2y, b2x - b1x, b1x * b2y - b2x * b1y
    w = px * qy - qx * py
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (py * qw - qy * pw) / w + mid_x
        y = (qx * pw - px * qw) / w + mid_y
        t = ((q1x - p1x) * (q2y - q1y) - (q1y - p1y) * (q2x - q1x)) / (
            (p2x - p1x) * (q2y - q1y) - (p2y - p1y) * (q2x - q1x))
    failed = ~(np.isfinite(x) & np.isfinite(y))
    x = np.where(failed, p1x + t * (p2x - p1x), x)
    y = np.where(failed, p1y + t * (p2y - p1y), y)
    # An edge end on the segment (GEOS tests it exactly) is the meeting point itself.
    for ex, ey in ((q1x, q1y), (q2x, q2y)):
        on = (p2x - p1x) * (ey - p1y) - (p2y - p1y) * (ex - p1x) == 0
        x, y = np.where(on, ex, x), np.where(on, ey, y)
    return x, y


def _area_fractions(
    geoms: np.ndarray, where: _Areas
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (piece, area position, fraction of the piece's hours in the area), by piece.

    Pairs are the areas whose bounds a piece meets; a line's pair with an area it does not
    reach gets fraction 0 (adds nothing), while a point's pairs are the areas it touches.
    """
    piece_pos, area_pos = where.tree.query(geoms)
    order = np.argsort(piece_pos, kind="stable")
    piece_pos, area_pos = piece_pos[order], area_pos[order]
    length = shapely.length(geoms[piece_pos])
    point = np.flatnonzero(length == 0)
    keep = np.ones(len(piece_pos), dtype=bool)
    keep[point] = shapely.intersects(geoms[piece_pos[point]], where.shapes[area_pos[point]])
    piece_pos, area_pos, length = piece_pos[keep], area_pos[keep], length[keep]
    inside = _length_inside(geoms[piece_pos], where, area_pos, length)
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
    where = _Areas.of(areas)
    for first in range(0, len(presence), _BLOCK):
        pick = slice(first, first + _BLOCK)
        rows, period, hours = _split_by_period(presence, edges, timezone, pick)
        if len(rows) == 0:
            continue
        piece, area, fraction = _area_fractions(presence.geometries(pick), where)
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
