"""Exact space-time coverage of points by moving patrols, through a space-time grid index.

A patrol's path is a set of *movements*: straight lines travelled at uniform speed from
``(x0, y0)`` at ``t0`` to ``(x1, y1)`` at ``t1`` (a fix with no neighbour is a movement of zero
length and zero duration). A query point ``q`` with a time window ``[start, end]`` is covered when
some movement passes within ``radius`` of ``q`` at a moment inside the window.

The index never builds buffers or polygons. Movements are cut into short pieces, each piece is
filed under the spatial grid cell of its midpoint, and the pieces are sorted by an integer key
``cell * span + start second``. A query then reads, for each of at most four cells, one
contiguous run of that sorted array (time is the continuous dimension), so pairs that time rules
out are never formed. Every candidate pair then gets the exact distance from the point to the
part of the movement inside the window (a point-to-segment distance), and the latest moment in
the window at which the patrol was within the radius (a root of a quadratic).

Queries are processed in chunks sized by their number of candidate pairs, which bounds memory.
All computations are numpy array operations; nothing loops over points or movements in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Upper bound on candidate pairs evaluated at once (about 200 bytes each; small chunks stay in
#: cache and reuse the same memory).
PAIR_BUDGET = 250_000
#: Grid cells read per axis by a query: cells are 2 (reach + half a piece) / (this - 1) wide.
CELLS_PER_AXIS = 2

#: Movements cut into pieces at a time by :func:`_split` (bounds its temporary arrays).
_SPLIT_BLOCK = 500_000


@dataclass(frozen=True)
class Movements:
    """Straight-line, uniform-speed movements in a projected CRS (metres, seconds).

    Attributes
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Start and end coordinates in metres.
    t0, t1 : numpy.ndarray
        Start and end times in seconds since an arbitrary epoch shared with the queries;
        ``t1 >= t0``.
    group : numpy.ndarray of int or None
        The patrol (as a code) each movement belongs to, when known.
    """

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    group: np.ndarray | None = None

    def __len__(self) -> int:
        """Return the number of movements."""
        return len(self.x0)

    @classmethod
    def empty(cls) -> Movements:
        """Return a set with no movement."""
        zero = np.empty(0, dtype=float)
        return cls(zero, zero, zero, zero, zero, zero)

    def take(self, index: np.ndarray) -> Movements:
        """Return the movements at positions ``index``."""
        return Movements(
            self.x0[index], self.y0[index], self.x1[index], self.y1[index],
            self.t0[index], self.t1[index],
            None if self.group is None else self.group[index],
        )


@dataclass(frozen=True)
class Coverage:
    """Per-query results of :func:`evaluate_coverage`.

    Attributes
    ----------
    covered : numpy.ndarray of bool
        Some movement came within ``radius`` during the window.
    nearest : numpy.ndarray of float
        Smallest distance (metres) between the point and a patrol position in the window, when
        it is at most ``search``; NaN otherwise.
    latest : numpy.ndarray of float
        Latest time (seconds) in the window at which a patrol was within ``radius``; NaN when
        not covered.
    pairs : int
        Candidate pairs evaluated exactly (a measure of the index's selectivity).
    """

    covered: np.ndarray
    nearest: np.ndarray
    latest: np.ndarray
    pairs: int


def movements_from_fixes(
    group: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, max_gap_s: float
) -> Movements:
    """Link consecutive fixes of each patrol into movements.

    Parameters
    ----------
    group : numpy.ndarray of int
        Patrol code of each fix (e.g. from :func:`pandas.factorize`).
    x, y : numpy.ndarray of float
        Projected coordinates in metres.
    t : numpy.ndarray of float
        Times in seconds.
    max_gap_s : float
        Two consecutive fixes further apart in time than this are not linked: nothing is
        assumed about where the patrol was in between.

    Returns
    -------
    Movements
        One movement per linked pair of fixes, plus a stationary, instantaneous movement for
        every fix linked to neither neighbour.
    """
    if len(x) == 0:
        return Movements.empty()
    same = group[1:] == group[:-1]
    in_order = bool(np.all((group[1:] > group[:-1]) | (same & (t[1:] >= t[:-1]))))
    # Fixes usually arrive sorted by patrol and time; sorting is then skipped.
    order = np.arange(len(x)) if in_order else np.lexsort((t, group))
    g, xs, ys, ts = group[order], x[order], y[order], t[order]
    linked = (g[1:] == g[:-1]) & (ts[1:] - ts[:-1] <= max_gap_s)
    has_link = np.zeros(len(xs), dtype=bool)
    has_link[:-1] |= linked
    has_link[1:] |= linked
    start = np.flatnonzero(linked)
    alone = np.flatnonzero(~has_link)
    first = np.concatenate([start, alone])
    last = np.concatenate([start + 1, alone])
    return Movements(xs[first], ys[first], xs[last], ys[last], ts[first], ts[last], g[first])


def _split(moves: Movements, max_len: float, max_dur: float) -> Movements:
    """Cut movements into pieces no longer than ``max_len`` per axis nor ``max_dur``.

    A movement's pieces depend on that movement alone, also when no movement needs cutting
    (every end is then recomputed as ``x0 + dx * 1.0`` all the same): any subset of the
    movements, such as a part sent to a worker, is cut into the same pieces, to the bit, as
    the whole set. The pieces are written :data:`_SPLIT_BLOCK` movements at a time into the
    result, so the temporary arrays follow the block, not the mission.
    """
    dx = moves.x1 - moves.x0
    dy = moves.y1 - moves.y0
    dt = moves.t1 - moves.t0
    parts = np.maximum.reduce(
        [np.abs(dx) / max_len, np.abs(dy) / max_len, dt / max_dur, np.ones_like(dx)]
    )
    parts = np.ceil(parts).astype(np.int64)
    ends = np.cumsum(parts)
    out = [np.empty(int(ends[-1]) if len(ends) else 0) for _ in range(6)]
    for a in range(0, len(parts), _SPLIT_BLOCK):
        b = min(a + _SPLIT_BLOCK, len(parts))
        count = parts[a:b]
        src = np.repeat(np.arange(a, b), count)
        offset = np.arange(len(src)) - np.repeat(ends[a:b] - count - (ends[a] - count[0]), count)
        n = parts[src]
        f0 = offset / n
        f1 = (offset + 1) / n
        x0, y0, t0 = moves.x0[src], moves.y0[src], moves.t0[src]
        ddx, ddy, ddt = dx[src], dy[src], dt[src]
        into = slice(int(ends[a] - count[0]), int(ends[b - 1]))
        out[0][into] = x0 + ddx * f0
        out[1][into] = y0 + ddy * f0
        out[2][into] = x0 + ddx * f1
        out[3][into] = y0 + ddy * f1
        out[4][into] = t0 + ddt * f0
        out[5][into] = t0 + ddt * f1
    return Movements(*out)


def _ranges(
    qx: np.ndarray,
    qy: np.ndarray,
    qs: np.ndarray,
    qe: np.ndarray,
    pieces: Movements,
    reach: float,
    max_dur: float,
    per_axis: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """File pieces in the grid index and find each query's runs of candidate pieces.

    Returns the piece order, the query order (queries sorted by their own key, which keeps the
    binary searches monotone) and, in query order, ``lo`` and ``hi`` of shape
    ``(n, per_axis**2)``: one run of the sorted pieces per cell the query may need.
    """
    half = 0.5 * np.maximum(
        np.abs(pieces.x1 - pieces.x0).max(initial=0.0),
        np.abs(pieces.y1 - pieces.y0).max(initial=0.0),
    )
    # A piece whose midpoint is farther than reach + half on an axis cannot come within reach.
    margin = reach + half
    # The query's range [q - margin, q + margin] then spans at most per_axis cells per axis.
    cell = 2.0 * margin / (per_axis - 1)
    mx = 0.5 * (pieces.x0 + pieces.x1)
    my = 0.5 * (pieces.y0 + pieces.y1)
    t_origin = np.floor(min(pieces.t0.min(initial=0.0), qs.min(initial=0.0))) - 2.0
    span = int(np.ceil(max(pieces.t1.max(initial=0.0), qe.max(initial=0.0)) - t_origin)) + 4
    x_lo, x_hi = min(mx.min(), qx.min()), max(mx.max(), qx.max())
    y_lo, y_hi = min(my.min(), qy.min()), max(my.max(), qy.max())
    # Keys are cell * span + second in int64: coarser cells (still correct, only less
    # selective) when a huge extent and a long period would overflow them.
    while ((x_hi - x_lo) / cell + 2 * per_axis + 4) * ((y_hi - y_lo) / cell + 2 * per_axis + 4) * (
        span
    ) > 2.0**62:
        cell *= 2.0
    ox = x_lo - 2 * cell
    oy = y_lo - 2 * cell
    ny = int(np.floor((y_hi - oy) / cell)) + per_axis + 2

    cx = np.floor((mx - ox) / cell).astype(np.int64)
    cy = np.floor((my - oy) / cell).astype(np.int64)
    key = (cx * ny + cy) * span + np.floor(pieces.t0 - t_origin).astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]

    qcx0 = np.floor((qx - margin - ox) / cell).astype(np.int64)
    qcy0 = np.floor((qy - margin - oy) / cell).astype(np.int64)
    # Pieces start at most max_dur before they reach the window; 1 s covers the flooring.
    t_lo = np.floor(qs - max_dur - t_origin).astype(np.int64) - 1
    t_hi = np.floor(qe - t_origin).astype(np.int64) + 1
    base = (qcx0 * ny + qcy0) * span
    qorder = np.argsort(base + t_lo, kind="stable")
    base, t_lo, t_hi = base[qorder], t_lo[qorder], t_hi[qorder]
    last_x = np.floor((qx[qorder] + margin - ox) / cell).astype(np.int64) - qcx0[qorder]
    last_y = np.floor((qy[qorder] + margin - oy) / cell).astype(np.int64) - qcy0[qorder]
    cells = per_axis * per_axis
    lo = np.empty((len(qx), cells), dtype=np.int64)
    hi = np.empty((len(qx), cells), dtype=np.int64)
    for j in range(cells):
        ddx, ddy = divmod(j, per_axis)
        offset = (ddx * ny + ddy) * span
        lo[:, j] = np.searchsorted(key, base + offset + t_lo, side="left")
        hi[:, j] = np.searchsorted(key, base + offset + t_hi, side="right")
        if ddx or ddy:
            unused = (last_x < ddx) | (last_y < ddy)
            hi[unused, j] = lo[unused, j]
    return order, qorder, lo, hi


def _evaluate_pairs(
    qi: np.ndarray,
    pi: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    qs: np.ndarray,
    qe: np.ndarray,
    p: Movements,
    radius: float,
    search: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact test of candidate pairs, sorted by query; returns per-query aggregates."""
    ta, tb = p.t0[pi], p.t1[pi]
    s0 = np.maximum(ta, qs[qi])
    s1 = np.minimum(tb, qe[qi])
    keep = s0 <= s1
    qi, pi, ta, tb, s0, s1 = qi[keep], pi[keep], ta[keep], tb[keep], s0[keep], s1[keep]
    dur = tb - ta
    moving = dur > 0
    safe = np.where(moving, dur, 1.0)
    u0 = np.where(moving, (s0 - ta) / safe, 0.0)
    # Two fixes of one patrol at the same instant: the patrol is taken to be anywhere on the
    # line between them at that instant (so both fixes count, split into pieces or not).
    u1 = np.where(moving, (s1 - ta) / safe, 1.0)
    x0, y0 = p.x0[pi], p.y0[pi]
    dx, dy = p.x1[pi] - x0, p.y1[pi] - y0
    # Coordinates relative to the query point keep full precision far from the origin.
    ax = (x0 - qx[qi]) + dx * u0
    ay = (y0 - qy[qi]) + dy * u0
    wx = dx * (u1 - u0)
    wy = dy * (u1 - u0)
    l2 = wx * wx + wy * wy
    b = ax * wx + ay * wy
    lam = np.clip(-b / np.where(l2 > 0, l2, 1.0), 0.0, 1.0)
    dist = np.hypot(ax + lam * wx, ay + lam * wy)

    near = dist <= search
    qn, dn = qi[near], dist[near]
    hit = dist <= radius
    qh = qi[hit]
    # The latest point of the window's path inside the circle: the larger root of
    # |a + lam w|^2 = r^2, capped at the end of the window.
    c = ax[hit] ** 2 + ay[hit] ** 2 - radius * radius
    disc = np.maximum(b[hit] ** 2 - l2[hit] * c, 0.0)
    root = (-b[hit] + np.sqrt(disc)) / np.where(l2[hit] > 0, l2[hit], 1.0)
    lam_last = np.where(l2[hit] > 0, np.clip(root, lam[hit], 1.0), 1.0)
    t_last = s0[hit] + lam_last * (s1[hit] - s0[hit])
    return qn, dn, qh, t_last


def _reduce(index: np.ndarray, values: np.ndarray, ufunc: np.ufunc, out: np.ndarray) -> None:
    """Write ``ufunc.reduce`` of ``values`` per run of equal sorted ``index`` into ``out``."""
    if len(index) == 0:
        return
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    out[index[starts]] = ufunc.reduceat(values, starts)


def piece_duration(q_start: np.ndarray, q_end: np.ndarray) -> float:
    """Return the longest duration (seconds) of the pieces movements are cut into.

    An eighth of the median window, at least a minute: short enough that a query's run of
    candidate pieces is not much longer than its window. The values of the pieces (and so the
    distances, to the last bit) depend on it: a query split into parts must use the whole
    query's duration, not each part's.
    """
    windows = q_end - q_start
    return max(float(np.median(windows)) / 8.0, 60.0)


def evaluate_coverage(
    qx: np.ndarray,
    qy: np.ndarray,
    q_start: np.ndarray,
    q_end: np.ndarray,
    moves: Movements,
    radius: float,
    *,
    search: float | None = None,
    pair_budget: int = PAIR_BUDGET,
    piece_duration_s: float | None = None,
) -> Coverage:
    """Cover query points with movements, exactly, in bounded memory.

    Parameters
    ----------
    qx, qy : numpy.ndarray of float
        Query points in metres, in the movements' CRS.
    q_start, q_end : numpy.ndarray of float
        Each query's window in seconds (inclusive at both ends).
    moves : Movements
        Patrol movements.
    radius : float
        Coverage radius in metres (a distance equal to the radius counts as covered).
    search : float, optional
        Largest distance reported as ``nearest``; defaults to ``radius``.
    pair_budget : int
        Most candidate pairs evaluated at once.
    piece_duration_s : float, optional
        Longest piece a movement is cut into (default :func:`piece_duration` of these
        queries); a part of a larger set of queries passes the whole set's.

    Returns
    -------
    Coverage
        Per-query ``covered``, ``nearest`` and ``latest``, in the order of the queries.
    """
    n = len(qx)
    search = radius if search is None else max(search, radius)
    covered = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    latest = np.full(n, -np.inf)
    if n == 0 or len(moves) == 0:
        return Coverage(covered, np.full(n, np.nan), np.full(n, np.nan), 0)
    max_dur = piece_duration(q_start, q_end) if piece_duration_s is None else piece_duration_s
    pieces = _split(moves, max_len=search / 2.0, max_dur=max_dur)
    max_dur = float((pieces.t1 - pieces.t0).max(initial=0.0))
    order, qorder, lo, hi = _ranges(
        qx, qy, q_start, q_end, pieces, search, max_dur, CELLS_PER_AXIS
    )
    qx, qy, qs, qe = qx[qorder], qy[qorder], q_start[qorder], q_end[qorder]
    # One array at a time: the unsorted copy of each goes before the next is sorted.
    columns = [pieces.x0, pieces.y0, pieces.x1, pieces.y1, pieces.t0, pieces.t1]
    del pieces
    for i in range(len(columns)):
        columns[i] = columns[i][order]
    pieces = Movements(*columns)
    del columns
    width = lo.shape[1]
    per_query = (hi - lo).sum(axis=1)
    bounds = np.cumsum(per_query)
    total = int(bounds[-1])
    cut = np.searchsorted(bounds, np.arange(pair_budget, total, pair_budget), side="left")
    edges = np.unique(np.r_[0, cut + 1, n].clip(0, n))
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        counts = (hi[a:b] - lo[a:b]).ravel()
        m = int(counts.sum())
        if m == 0:
            continue
        qi = np.repeat(np.repeat(np.arange(a, b), width), counts)
        first = np.repeat(lo[a:b].ravel(), counts)
        pi = first + (np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts))
        qn, dn, qh, th = _evaluate_pairs(qi, pi, qx, qy, qs, qe, pieces, radius, search)
        _reduce(qn, dn, np.minimum, nearest)
        _reduce(qh, th, np.maximum, latest)
    covered_sorted = np.isfinite(latest)
    covered[qorder] = covered_sorted
    out_nearest = np.full(n, np.nan)
    out_nearest[qorder] = np.where(np.isfinite(nearest), nearest, np.nan)
    out_latest = np.full(n, np.nan)
    out_latest[qorder] = np.where(covered_sorted, latest, np.nan)
    return Coverage(covered, out_nearest, out_latest, total)


def evaluate_coverage_brute(
    qx: np.ndarray,
    qy: np.ndarray,
    q_start: np.ndarray,
    q_end: np.ndarray,
    moves: Movements,
    radius: float,
    *,
    search: float | None = None,
) -> Coverage:
    """Cover query points by testing every query against every movement (the reference).

    Same parameters and result as :func:`evaluate_coverage`; memory grows with the product of
    the two sizes, so it is for tests and samples only.
    """
    n, m = len(qx), len(moves)
    search = radius if search is None else max(search, radius)
    if n == 0 or m == 0:
        nan = np.full(n, np.nan)
        return Coverage(np.zeros(n, dtype=bool), nan, nan.copy(), 0)
    qi = np.repeat(np.arange(n), m)
    pi = np.tile(np.arange(m), n)
    qn, dn, qh, th = _evaluate_pairs(qi, pi, qx, qy, q_start, q_end, moves, radius, search)
    nearest = np.full(n, np.inf)
    latest = np.full(n, -np.inf)
    _reduce(qn, dn, np.minimum, nearest)
    _reduce(qh, th, np.maximum, latest)
    covered = np.isfinite(latest)
    return Coverage(
        covered,
        np.where(np.isfinite(nearest), nearest, np.nan),
        np.where(covered, latest, np.nan),
        n * m,
    )
