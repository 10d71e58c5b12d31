"""Exact coverage of many query points, split by time into parts that run on Dask workers.

The queries (incidents, the moments of a date-only incident's day, the control points of the
within-reach ratio) are sorted by the end of their window and cut into parts of about the same
number of queries: consecutive blocks of time. A part is sent with the movements that overlap
its time span widened backwards by one window (the longest window of any query: ``window_h``,
plus a day for a date-only incident). Every movement that can reach a query of the part in
that query's window is therefore in the part, and the part is evaluated by the local index
(:func:`protection_eval.coverage.index.evaluate_coverage`) with the piece duration of the whole
set, so each query gets the same values, to the bit, as when every query is evaluated here (a
part may choose a finer or coarser grid than the whole set: the grid decides which pairs are
formed, never a value). ``local`` may be the covered-only evaluation, alike.

Why time and not space: a mission's patrols and incidents crowd into a few areas, while its
period is long (months to years) compared with a window (hours to days). Blocks of time hold
about the same number of queries and movements each, and a one-window overlap copies only
``window / block length`` of the movements (3 days of a 2-month block: 5 %). Tiles of space
would be as uneven as the mission's geography, and a movement can cross a tile's halo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protection_eval.coverage.index import Coverage, Movements, piece_duration

__all__ = ["evaluate_in_time_parts", "overlap_s", "time_parts"]


def overlap_s(q_start: np.ndarray, q_end: np.ndarray) -> float:
    """Return how far back a part must see: the longest query window, in seconds."""
    return float(np.max(q_end - q_start, initial=0.0))


def time_parts(q_end: np.ndarray, parts: int) -> list[np.ndarray]:
    """Return the query positions of each part: consecutive blocks of window ends.

    Parameters
    ----------
    q_end : numpy.ndarray
        End of each query's window (seconds).
    parts : int
        Number of parts wanted; fewer when there are fewer queries.

    Returns
    -------
    list of numpy.ndarray
        Positions into the queries, each block's window ends no later than the next block's.
    """
    order = np.argsort(q_end, kind="stable")
    return [block for block in np.array_split(order, max(1, min(parts, len(order)))) if len(block)]


def _part_movements(moves: Movements, first_end: float, last_end: float, back: float
                    ) -> Movements:
    """Return the movements overlapping ``[first_end - back, last_end]``, in their order."""
    keep = np.flatnonzero((moves.t1 >= first_end - back) & (moves.t0 <= last_end))
    return moves.take(keep)


def evaluate_in_time_parts(
    client: Any,
    qx: np.ndarray,
    qy: np.ndarray,
    q_start: np.ndarray,
    q_end: np.ndarray,
    moves: Movements,
    radius: float,
    *,
    search: float | None,
    local: Any,
    parts: int,
    retries: int,
) -> Coverage:
    """Cover query points on a Dask cluster, part by part, exactly as ``local`` would at once.

    Parameters
    ----------
    client : distributed.Client
        A connected client.
    qx, qy, q_start, q_end : numpy.ndarray
        Query points (metres) and windows (seconds), as for ``evaluate_coverage``.
    moves : Movements
        Patrol movements.
    radius : float
        Coverage radius (metres).
    search : float or None
        Largest distance reported as ``nearest``.
    local : callable
        ``coverage.index.evaluate_coverage``: what each part runs on its worker.
    parts : int
        Number of time blocks.
    retries : int
        Times a part that raised is run again (a part whose worker died is run again by the
        scheduler on another worker, up to ``distributed.scheduler.allowed-failures`` times).

    Returns
    -------
    Coverage
        ``covered``, ``nearest`` and ``latest`` in the order of the queries, equal to the
        local result; ``pairs`` sums the parts' candidate pairs (it measures the index, and
        differs from a single evaluation's).
    """
    n = len(qx)
    duration = piece_duration(q_start, q_end) if n else 60.0
    back = overlap_s(q_start, q_end)
    blocks = time_parts(q_end, parts)
    futures = []
    for block in blocks:
        part_moves = _part_movements(moves, float(q_end[block].min()), float(q_end[block].max()),
                                     back)
        # Each part's arrays travel inside its own task (not scattered once): when a worker
        # dies, the scheduler can run the task again elsewhere from what it holds.
        futures.append(client.submit(
            local, qx[block], qy[block], q_start[block], q_end[block], part_moves, radius,
            search=search, piece_duration_s=duration, pure=False, retries=retries,
        ))
    covered = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.nan)
    latest = np.full(n, np.nan)
    pairs = 0
    for block, result in zip(blocks, client.gather(futures), strict=True):
        covered[block] = result.covered
        nearest[block] = result.nearest
        latest[block] = result.latest
        pairs += int(result.pairs)
    return Coverage(covered, nearest, latest, pairs)
