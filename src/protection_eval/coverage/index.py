"""Exact space-time coverage of points by moving patrols, through a space-time grid index.

A patrol's path is a set of *movements*: straight lines travelled at uniform speed from
``(x0, y0)`` at ``t0`` to ``(x1, y1)`` at ``t1`` (a fix with no neighbour is a movement of zero
length and zero duration). A query point ``q`` with a time window ``[start, end]`` is covered when
some movement passes within ``radius`` of ``q`` at a moment inside the window.

The index never builds buffers or polygons. Movements are cut into short pieces, each piece is
filed under the spatial grid cell of its midpoint, and the pieces are sorted by an integer key
``cell * span + start second``. A query reads the cells of the square around it, each as one
contiguous run of that sorted array (time is the continuous dimension), so pairs that time rules
out are never formed. The grid is as fine as the density of the pieces around the queries pays
for: two cells per axis where pieces are sparse, up to eight where patrols crowd (more binary
searches, fewer candidates), and a cell farther than reach from the query is not read. A look
at each candidate piece's midpoint drops the pairs out of reach; the others get the exact
distance from the point to the part of the movement inside the window (a point-to-segment
distance), and the latest moment in the window at which the patrol was within the radius (a
root of a quadratic). When only ``covered`` is wanted, a query reads its cells nearest first
and stops at its first hit.

Queries are processed in blocks and chunks sized by their number of candidate pairs, which
bounds memory. All computations are numpy array operations; nothing loops over points or
movements in Python. The grid decides only which pairs are formed, never a value: every pair
within reach is formed whatever the grid, and minimum and maximum do not depend on order, so
the results are the same to the bit as the brute force over the same pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Upper bound on candidate pairs evaluated at once (about 200 bytes each; small chunks stay in
#: cache and reuse the same memory).
PAIR_BUDGET = 250_000

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
        Candidate pairs the index formed (a measure of its selectivity); with ``covered_only``,
        those read before each query's first hit.
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


@dataclass(frozen=True)
class _Grid:
    """The space-time grid index: piece keys sorted, and how a query's keys are formed.

    A piece is filed under the cell of its midpoint; its key is ``cell * span + start second``.
    """

    key: np.ndarray
    ox: float
    oy: float
    cell: float
    ny: int
    span: int
    t_origin: float
    per_axis: int
    margin: float
    disk: float
    slack: float


#: Cost (relative) of one binary search and of one candidate pair evaluated exactly, measured
#: on the project machine (about 85 and 67 ns); they weigh finer cells (more binary searches)
#: against fewer candidates.
_SEARCH_COST = 85.0
_PAIR_COST = 67.0
#: Finest grid tried: ``per_axis`` cells per axis of a query's square.
_MAX_PER_AXIS = 8
#: Query-cells whose candidate runs are found at once: small blocks keep the temporary arrays
#: in reused memory (a fresh large array costs the kernel a page fault per 4 kB).
_QUERY_BLOCK_CELLS = 1 << 18


def _expected_pairs(
    mx: np.ndarray, my: np.ndarray, qx: np.ndarray, qy: np.ndarray, window: float,
    t_range: float, margin: float,
) -> float:
    """Estimate the candidate pairs per query of a 2 x 2 grid (cells ``2 * margin`` wide).

    Piece midpoints are counted per cell of that size (coarser when the extent would need too
    many), read around a sample of the queries, and scaled by the share of the period a query's
    run of pieces covers. Only the choice of the grid depends on it, never a result.
    """
    if len(mx) == 0 or len(qx) == 0 or not margin > 0:
        return 0.0
    # A regular sample of the pieces is plenty for a density (they are many, and in order).
    step = max(1, len(mx) // 250_000)
    mx, my = mx[::step], my[::step]
    side = 2.0 * margin
    x_lo, y_lo = float(mx.min()), float(my.min())
    while ((float(mx.max()) - x_lo) / side + 2) * ((float(my.max()) - y_lo) / side + 2) > 4e6:
        side *= 2.0
    nx = int((float(mx.max()) - x_lo) // side) + 3
    ny = int((float(my.max()) - y_lo) // side) + 3
    cx = ((mx - x_lo) // side).astype(np.int64) + 1
    cy = ((my - y_lo) // side).astype(np.int64) + 1
    counts = np.bincount(cx * ny + cy, minlength=nx * ny).reshape(nx, ny)
    # Sum of each 2 x 2 block, indexed by its lower-left cell.
    blocks = counts[:-1, :-1] + counts[1:, :-1] + counts[:-1, 1:] + counts[1:, 1:]
    sample = np.linspace(0, len(qx) - 1, min(len(qx), 4096)).astype(np.int64)
    sx = ((qx[sample] - margin - x_lo) // side).astype(np.int64) + 1
    sy = ((qy[sample] - margin - y_lo) // side).astype(np.int64) + 1
    inside = (sx >= 0) & (sx < nx - 1) & (sy >= 0) & (sy < ny - 1)
    around = np.zeros(len(sample))
    around[inside] = blocks[sx[inside], sy[inside]]
    scale = (side / (2.0 * margin)) ** 2
    return float(around.mean()) * step / scale * min(1.0, window / max(t_range, 1.0))


def _cells_per_axis(expected_2x2: float, margin: float, disk: float) -> int:
    """Return the cells per axis of a query's square that minimise the modelled cost.

    With ``k`` cells per axis a cell is ``2 * margin / (k - 1)`` wide; a query makes two binary
    searches per cell and reads the cells that reach its disk, about
    ``min((k c)^2, pi (disk + 0.71 c)^2)`` of area against ``16 margin^2`` for ``k = 2``.
    """
    best, best_cost = 2, np.inf
    for k in range(2, _MAX_PER_AXIS + 1):
        c = 2.0 * margin / (k - 1)
        area = min((k * c) ** 2, np.pi * (disk + 0.71 * c) ** 2)
        cost = 2 * k * k * _SEARCH_COST + expected_2x2 * area / (16 * margin**2) * _PAIR_COST
        if cost < best_cost:
            best, best_cost = k, cost
    return best


def _build_grid(
    pieces: Movements,
    qx: np.ndarray,
    qy: np.ndarray,
    qs: np.ndarray,
    qe: np.ndarray,
    reach: float,
    max_dur: float,
    per_axis: int | None,
) -> tuple[_Grid, np.ndarray]:
    """File the pieces in the grid index; return the grid and the pieces' sorted order."""
    dx = np.abs(pieces.x1 - pieces.x0)
    dy = np.abs(pieces.y1 - pieces.y0)
    half = 0.5 * max(dx.max(initial=0.0), dy.max(initial=0.0))
    half_e = 0.5 * float(np.hypot(dx, dy).max(initial=0.0))
    del dx, dy
    # A piece whose midpoint is farther than reach + half on an axis cannot come within reach,
    # nor one whose midpoint is farther than reach + half its length.
    margin = reach + half
    disk = reach + half_e
    mx = 0.5 * (pieces.x0 + pieces.x1)
    my = 0.5 * (pieces.y0 + pieces.y1)
    t_origin = np.floor(min(pieces.t0.min(initial=0.0), qs.min(initial=0.0))) - 2.0
    span = int(np.ceil(max(pieces.t1.max(initial=0.0), qe.max(initial=0.0)) - t_origin)) + 4
    if per_axis is None:
        t_range = float(pieces.t1.max() - pieces.t0.min()) + max_dur
        window = float(np.mean(qe - qs)) + max_dur
        expected = _expected_pairs(mx, my, qx, qy, window, t_range, margin)
        per_axis = _cells_per_axis(expected, margin, disk)
    # The query's range [q - margin, q + margin] then spans at most per_axis cells per axis.
    cell = 2.0 * margin / (per_axis - 1)
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
    del mx, my
    key = (cx * ny + cy) * span + np.floor(pieces.t0 - t_origin).astype(np.int64)
    del cx, cy
    order = np.argsort(key, kind="stable")
    key = key[order]
    # A cell is skipped when its rectangle is farther than the disk from the query; the slack
    # covers the rounding of the midpoints' cells.
    slack = 1.0 + 1e-9 * max(abs(x_lo), abs(x_hi), abs(y_lo), abs(y_hi), cell)
    grid = _Grid(key, float(ox), float(oy), float(cell), ny, span, float(t_origin), per_axis,
                 float(margin), float(disk), float(slack))
    return grid, order


def _query_keys(
    grid: _Grid, qx: np.ndarray, qy: np.ndarray, qs: np.ndarray, qe: np.ndarray, max_dur: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return each query's key range in its first cell and its offset from that cell's corner.

    ``lo_key`` and ``hi_key`` bound the keys of the pieces of the query's first cell that may
    reach its window; another cell's run is found with the same range moved by that cell's
    offset.
    """
    qcx0 = np.floor((qx - grid.margin - grid.ox) / grid.cell).astype(np.int64)
    qcy0 = np.floor((qy - grid.margin - grid.oy) / grid.cell).astype(np.int64)
    base = (qcx0 * grid.ny + qcy0) * grid.span
    # Pieces start at most max_dur before they reach the window; 1 s covers the flooring.
    lo_key = base + (np.floor(qs - max_dur - grid.t_origin).astype(np.int64) - 1)
    hi_key = base + (np.floor(qe - grid.t_origin).astype(np.int64) + 1)
    fx = qx - (grid.ox + qcx0 * grid.cell)
    fy = qy - (grid.oy + qcy0 * grid.cell)
    return lo_key, hi_key, fx, fy


def _query_order(
    grid: _Grid, qx: np.ndarray, qy: np.ndarray, qs: np.ndarray, max_dur: float
) -> np.ndarray:
    """Return the queries sorted by their first key (keeps the binary searches monotone).

    Any order gives the same results, so the fastest sort, not a stable one.
    """
    qcx0 = np.floor((qx - grid.margin - grid.ox) / grid.cell).astype(np.int64)
    qcy0 = np.floor((qy - grid.margin - grid.oy) / grid.cell).astype(np.int64)
    key = (qcx0 * grid.ny + qcy0) * grid.span
    del qcx0, qcy0
    key += np.floor(qs - max_dur - grid.t_origin).astype(np.int64) - 1
    return np.argsort(key)


def _ranges(
    grid: _Grid, q: tuple[np.ndarray, ...], max_dur: float, with_gap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Find the runs of candidate pieces of the queries ``q`` (x, y, start, end).

    Returns ``lo`` and ``hi`` of shape ``(n, per_axis**2)``, one run of the sorted pieces per
    cell of the query's square (empty for a cell the query does not need: farther than the
    margin on an axis or than the disk), and, when ``with_gap``, the squared distance from the
    query to each cell (a hit is likeliest in the nearest cells).
    """
    per_axis, cell = grid.per_axis, grid.cell
    lo_key, hi_key, fx, fy = _query_keys(grid, *q, max_dur)
    n = len(lo_key)
    if per_axis == 2 and not with_gap:
        # Cells as wide as the query's square: each of the four overlaps it, and the disk
        # rarely misses one; testing would cost more than the few pairs it saves.
        lo = np.empty((n, 4), dtype=np.int64)
        hi = np.empty((n, 4), dtype=np.int64)
        for j, offset in enumerate((0, grid.span, grid.ny * grid.span, (grid.ny + 1) * grid.span)):
            lo[:, j] = np.searchsorted(grid.key, lo_key + offset, side="left")
            hi[:, j] = np.searchsorted(grid.key, hi_key + offset, side="right")
        return lo, hi, None
    gx = [np.maximum(np.maximum(d * cell - fx, fx - (d + 1) * cell), 0.0)
          for d in range(per_axis)]
    gy = [np.maximum(np.maximum(d * cell - fy, fy - (d + 1) * cell), 0.0)
          for d in range(per_axis)]
    far_x = [g > grid.margin + grid.slack for g in gx]
    far_y = [g > grid.margin + grid.slack for g in gy]
    gx = [g * g for g in gx]
    gy = [g * g for g in gy]
    disk2 = (grid.disk + grid.slack) ** 2
    cells = per_axis * per_axis
    lo = np.empty((n, cells), dtype=np.int64)
    hi = np.empty((n, cells), dtype=np.int64)
    gap = np.empty((n, cells)) if with_gap else None
    for j in range(cells):
        ddx, ddy = divmod(j, per_axis)
        offset = (ddx * grid.ny + ddy) * grid.span
        lo[:, j] = np.searchsorted(grid.key, lo_key + offset, side="left")
        hi[:, j] = np.searchsorted(grid.key, hi_key + offset, side="right")
        g2 = gx[ddx] + gy[ddy]
        if gap is not None:
            gap[:, j] = g2
        unused = (g2 > disk2) | far_x[ddx] | far_y[ddy]
        hi[unused, j] = lo[unused, j]
    return lo, hi, gap


def _pair_distances(
    qi: np.ndarray,
    pi: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    qs: np.ndarray,
    qe: np.ndarray,
    p: Movements,
) -> tuple[np.ndarray, ...]:
    """Distance from each pair's query to the part of its piece inside the query's window.

    Pairs whose piece does not overlap the window are dropped. Returns ``qi``, the distance,
    and what the latest moment within reach is computed from (``s0``, ``s1``, ``ax``, ``ay``,
    ``b``, ``l2``, ``lam``). Both the full and the covered-only evaluation use it, so their
    ``covered`` agree to the bit.
    """
    ta, tb = p.t0[pi], p.t1[pi]
    s0 = np.maximum(ta, qs[qi])
    s1 = np.minimum(tb, qe[qi])
    keep = s0 <= s1
    if not keep.all():
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
    return qi, dist, s0, s1, ax, ay, b, l2, lam


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
    qi, dist, s0, s1, ax, ay, b, l2, lam = _pair_distances(qi, pi, qx, qy, qs, qe, p)
    # Hits are few among the candidates: positions, then small arrays.
    hit = np.flatnonzero(dist <= radius)
    near = hit if search == radius else np.flatnonzero(dist <= search)
    qn, dn = qi[near], dist[near]
    qh = qi[hit]
    ax, ay, b, l2, lam, s0, s1 = (v[hit] for v in (ax, ay, b, l2, lam, s0, s1))
    # The latest point of the window's path inside the circle: the larger root of
    # |a + lam w|^2 = r^2, capped at the end of the window.
    c = ax**2 + ay**2 - radius * radius
    disc = np.maximum(b**2 - l2 * c, 0.0)
    root = (-b + np.sqrt(disc)) / np.where(l2 > 0, l2, 1.0)
    lam_last = np.where(l2 > 0, np.clip(root, lam, 1.0), 1.0)
    t_last = s0 + lam_last * (s1 - s0)
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


def _pairs_of(lo: np.ndarray, hi: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (query, piece) of every candidate pair of the runs ``lo[k]:hi[k]``, by run."""
    counts = hi - lo
    m = int(counts.sum())
    qi = np.repeat(rows, counts)
    # The k-th pair of a run is piece lo + k: the pair's position minus the run's first.
    pi = np.arange(m) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
    return qi, pi


def _chunks(per_row: np.ndarray, pair_budget: int) -> list[tuple[int, int]]:
    """Cut rows into consecutive chunks of about ``pair_budget`` candidate pairs."""
    n = len(per_row)
    bounds = np.cumsum(per_row)
    total = int(bounds[-1]) if n else 0
    cut = np.searchsorted(bounds, np.arange(pair_budget, total, pair_budget), side="left")
    edges = np.unique(np.r_[0, cut + 1, n].clip(0, n))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _near_midpoints(
    qi: np.ndarray, pi: np.ndarray, q: tuple[np.ndarray, ...], pieces: Movements, grid: _Grid
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the pairs whose piece's midpoint is within the grid's disk of the query."""
    mx = 0.5 * (pieces.x0[pi] + pieces.x1[pi]) - q[0][qi]
    my = 0.5 * (pieces.y0[pi] + pieces.y1[pi]) - q[1][qi]
    keep = np.flatnonzero(mx * mx + my * my <= (grid.disk + grid.slack) ** 2)
    return qi[keep], pi[keep]


def _full_block(
    lo: np.ndarray, hi: np.ndarray, a: int, q: tuple[np.ndarray, ...], pieces: Movements,
    grid: _Grid, radius: float, search: float, pair_budget: int, nearest: np.ndarray,
    latest: np.ndarray,
) -> None:
    """Evaluate every candidate pair of the queries ``a:a+len(lo)`` into nearest and latest."""
    width = lo.shape[1]
    for ca, cb in _chunks((hi - lo).sum(axis=1), pair_budget):
        rows = np.repeat(np.arange(a + ca, a + cb), width)
        qi, pi = _pairs_of(lo[ca:cb].ravel(), hi[ca:cb].ravel(), rows)
        # The cells read are wider than the disk (five times its area on a 2 x 2 grid): a
        # look at the midpoints first spares the exact test of the pairs outside it.
        qi, pi = _near_midpoints(qi, pi, q, pieces, grid)
        if len(qi) == 0:
            continue
        qn, dn, qh, th = _evaluate_pairs(qi, pi, *q, pieces, radius, search)
        _reduce(qn, dn, np.minimum, nearest)
        _reduce(qh, th, np.maximum, latest)


def _covered_block(
    lo: np.ndarray, hi: np.ndarray, gap: np.ndarray, a: int, q: tuple[np.ndarray, ...],
    pieces: Movements, radius: float, pair_budget: int, covered: np.ndarray,
) -> int:
    """Find which queries ``a:a+len(lo)`` are covered, cell by cell, nearest cell first.

    A query leaves the search at the first cell holding a hit: only the queries not yet
    covered read the next cell. Returns the candidate pairs evaluated.
    """
    # Each query's cells from the nearest to the farthest (a hit is likeliest near).
    rank = np.argsort(gap, axis=1, kind="stable")
    lo = np.take_along_axis(lo, rank, axis=1)
    hi = np.take_along_axis(hi, rank, axis=1)
    open_rows = np.arange(len(lo))
    pairs = 0
    for j in range(lo.shape[1]):
        counts = hi[open_rows, j] - lo[open_rows, j]
        for ca, cb in _chunks(counts, pair_budget):
            rows = open_rows[ca:cb]
            qi, pi = _pairs_of(lo[rows, j], hi[rows, j], rows + a)
            if len(qi) == 0:
                continue
            pairs += len(qi)
            qi, dist, *_ = _pair_distances(qi, pi, *q, pieces)
            covered[qi[dist <= radius]] = True
        open_rows = open_rows[~covered[open_rows + a]]
        if len(open_rows) == 0:
            break
    return pairs


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
    covered_only: bool = False,
    cells_per_axis: int | None = None,
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
    covered_only : bool
        Compute ``covered`` alone (``nearest`` and ``latest`` are then all NaN): a query stops
        at its first hit, and a hit needs only the distance. ``covered`` is the same, to the
        bit, as without it. For points whose distance and last moment nobody reads, such as
        the control points of the within-reach ratio.
    cells_per_axis : int, optional
        Grid cells per axis of a query's square (at least 2); by default the number that the
        density of the pieces around the queries makes cheapest. Results do not depend on it.

    Returns
    -------
    Coverage
        Per-query ``covered``, ``nearest`` and ``latest``, in the order of the queries;
        ``pairs`` counts the candidate pairs evaluated.
    """
    n = len(qx)
    search = radius if search is None else max(search, radius)
    if n == 0 or len(moves) == 0:
        return Coverage(np.zeros(n, dtype=bool), np.full(n, np.nan), np.full(n, np.nan), 0)
    if cells_per_axis is not None and cells_per_axis < 2:
        raise ValueError(f"cells_per_axis must be at least 2, got {cells_per_axis}")
    max_dur = piece_duration(q_start, q_end) if piece_duration_s is None else piece_duration_s
    pieces = _split(moves, max_len=search / 2.0, max_dur=max_dur)
    max_dur = float((pieces.t1 - pieces.t0).max(initial=0.0))
    # Covered-only needs pieces within the radius alone: a smaller disk, fewer candidates.
    reach = radius if covered_only else search
    grid, order = _build_grid(pieces, qx, qy, q_start, q_end, reach, max_dur, cells_per_axis)
    qorder = _query_order(grid, qx, qy, q_start, max_dur)
    q = (qx[qorder], qy[qorder], q_start[qorder], q_end[qorder])
    # One array at a time: the unsorted copy of each goes before the next is sorted.
    columns = [pieces.x0, pieces.y0, pieces.x1, pieces.y1, pieces.t0, pieces.t1]
    del pieces
    for i in range(len(columns)):
        columns[i] = columns[i][order]
    pieces = Movements(*columns)
    del columns, order
    covered_sorted = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    latest = np.full(n, -np.inf)
    total = 0
    block = max(1, _QUERY_BLOCK_CELLS // (grid.per_axis * grid.per_axis))
    for a in range(0, n, block):
        b = min(a + block, n)
        lo, hi, gap = _ranges(grid, tuple(v[a:b] for v in q), max_dur, with_gap=covered_only)
        if covered_only:
            total += _covered_block(lo, hi, gap, a, q, pieces, radius, pair_budget,
                                    covered_sorted)
        else:
            total += int((hi - lo).sum())
            _full_block(lo, hi, a, q, pieces, grid, radius, search, pair_budget, nearest,
                        latest)
    covered = np.zeros(n, dtype=bool)
    out_nearest = np.full(n, np.nan)
    out_latest = np.full(n, np.nan)
    if covered_only:
        covered[qorder] = covered_sorted
        return Coverage(covered, out_nearest, out_latest, total)
    covered_sorted = np.isfinite(latest)
    covered[qorder] = covered_sorted
    out_nearest[qorder] = np.where(np.isfinite(nearest), nearest, np.nan)
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
