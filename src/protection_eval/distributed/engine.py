"""The Dask engine: the heavy steps of one mission, in parts, on a ``dask.distributed`` cluster.

:class:`DaskEngine` implements :class:`protection_eval.engine.Engine`; :func:`heavy_steps_on`
is what a run calls to choose it (``None``: every step here, as without a cluster).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from protection_eval.coverage.index import Coverage, Movements
from protection_eval.distributed.client import SCHEDULER_TIMEOUT_S, connect
from protection_eval.distributed.coverage import evaluate_in_time_parts
from protection_eval.distributed.tracks import ingest_in_row_parts
from protection_eval.engine import use_engine

__all__ = ["PARTS_PER_THREAD", "RETRIES", "ROWS_PER_PART", "DaskEngine", "heavy_steps_on"]

#: Times a part that raised is submitted again. A part is a pure function of what its task
#: carries, so running it again gives the same result; a worker that dies is handled by the
#: scheduler, which runs its tasks elsewhere (``distributed.scheduler.allowed-failures``, 3 by
#: default, before the part and so the step fails with ``KilledWorker``).
RETRIES = 2
#: Most track rows per ingestion part: about 100 MB of text cells, a few seconds of checks.
ROWS_PER_PART = 250_000
#: Fewest track rows per ingestion part: a smaller table is checked here in one piece.
MIN_ROWS_PER_PART = 20_000
#: Coverage parts per worker thread: a little more than one, so a slow part does not leave
#: the other workers idle at the end.
PARTS_PER_THREAD = 2
#: Fewest queries per coverage part: below this a part costs more to send than to compute.
MIN_QUERIES_PER_PART = 2_000


@dataclass
class DaskEngine:
    """Runs the heavy steps of a mission in parts on a Dask cluster, with local results.

    Attributes
    ----------
    client : distributed.Client
        A connected client.
    parts : int or None
        Coverage parts per evaluation (default: :data:`PARTS_PER_THREAD` per worker thread,
        fewer for small sets of queries).
    rows_per_part : int or None
        Track rows per ingestion part (default: :data:`PARTS_PER_THREAD` parts per worker
        thread, between :data:`MIN_ROWS_PER_PART` and :data:`ROWS_PER_PART` rows each).
    retries : int
        Times a part that raised is run again.
    """

    client: Any
    parts: int | None = None
    rows_per_part: int | None = None
    retries: int = RETRIES

    def _threads(self) -> int:
        return sum(self.client.nthreads().values()) or 1

    def _coverage_parts(self, n: int) -> int:
        if self.parts is not None:
            return self.parts
        return max(1, min(PARTS_PER_THREAD * self._threads(), math.ceil(n / MIN_QUERIES_PER_PART)))

    def _rows_per_part(self, rows: int) -> int:
        if self.rows_per_part is not None:
            return self.rows_per_part
        wanted = math.ceil(rows / (PARTS_PER_THREAD * self._threads()))
        return min(ROWS_PER_PART, max(MIN_ROWS_PER_PART, wanted))

    def ingest_table(self, raw: Any, spec: Any, ctx: Any, *, local: Any) -> Any:
        """Check one raw table, GPS tracks in row ranges on the cluster (see ``tracks``)."""
        return ingest_in_row_parts(self.client, raw, spec, ctx, local=local,
                                   rows_per_part=self._rows_per_part(raw.rows),
                                   retries=self.retries)

    def evaluate_coverage(
        self, qx: np.ndarray, qy: np.ndarray, q_start: np.ndarray, q_end: np.ndarray,
        moves: Movements, radius: float, *, search: float | None, local: Any,
    ) -> Coverage:
        """Cover query points in blocks of time on the cluster (see ``coverage``)."""
        if len(qx) == 0 or len(moves) == 0:
            return local(qx, qy, q_start, q_end, moves, radius, search=search)
        return evaluate_in_time_parts(
            self.client, qx, qy, q_start, q_end, moves, radius, search=search, local=local,
            parts=self._coverage_parts(len(qx)), retries=self.retries,
        )


@contextmanager
def heavy_steps_on(
    scheduler: str | Any | None, *, timeout: float = SCHEDULER_TIMEOUT_S, parts: int | None = None
) -> Iterator[DaskEngine | None]:
    """Run the heavy steps of the ``with`` block on a Dask cluster, or here for None.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        The scheduler's address (``tcp://host:8786``), a connected client (kept open), or
        None to run every step in this process.
    timeout : float
        Seconds to wait for the scheduler to answer.
    parts : int, optional
        Coverage parts per evaluation (default: two per worker thread).

    Yields
    ------
    DaskEngine or None
        The engine in use.

    Raises
    ------
    SchedulerError
        When the scheduler does not answer: nothing of the block ran.
    """
    if scheduler is None:
        with use_engine(None):
            yield None
        return
    own = isinstance(scheduler, str)
    client = connect(scheduler, timeout, what="the mission's heavy steps did not run") if own \
        else scheduler
    try:
        with use_engine(DaskEngine(client, parts=parts)) as engine:
            yield engine
    finally:
        if own:
            client.close()
