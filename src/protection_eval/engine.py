"""Where the heavy steps of one mission execute: in this process, or on a cluster.

This is the one hook through which a run chooses local or distributed execution. Analysis and
ingestion ask :func:`current_engine` at the two places whose cost grows with the mission:

- ``ingest.tables.ingest_mission``, for each table it checks (GPS tracks are the big one);
- ``coverage.points.cover_incidents``, for the exact space-time coverage of query points (the
  incidents, the date-only moments and the control points of the within-reach ratio all go
  through it).

With no engine set (the default) they run here, as they always did. A run installs an engine
with :func:`use_engine` for the duration of a ``with`` block; ``protection_eval.distributed``
provides the Dask one (``heavy_steps_on(scheduler)``). An engine must return exactly what the
local step returns: the same rows, reasons and counts, the same floating-point values.

Nothing here imports the rest of the package: every layer may ask.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["Engine", "current_engine", "use_engine"]


class Engine(Protocol):
    """What an engine offers; each method takes the local step it stands in for.

    An engine may run the local step itself (for a table too small to split) and must give the
    same result as calling ``local`` with the same arguments.
    """

    def ingest_table(self, raw: Any, spec: Any, ctx: Any, *, local: Any) -> Any:
        """Check one raw table: ``local(raw, spec, ctx)`` split into parts."""

    def evaluate_coverage(
        self, qx: Any, qy: Any, q_start: Any, q_end: Any, moves: Any, radius: float, *,
        search: float | None, local: Any,
    ) -> Any:
        """Cover query points: ``local(qx, qy, q_start, q_end, moves, radius, search=...)``."""


_ENGINE: ContextVar[Engine | None] = ContextVar("protection_eval_engine", default=None)


def current_engine() -> Engine | None:
    """Return the engine of the current run, or None to run every step here."""
    return _ENGINE.get()


@contextmanager
def use_engine(engine: Engine | None) -> Iterator[Engine | None]:
    """Run the heavy steps inside the ``with`` block on ``engine`` (None: here).

    Parameters
    ----------
    engine : Engine or None
        The engine; None keeps (or restores) local execution.

    Yields
    ------
    Engine or None
        The engine, for convenience.
    """
    token = _ENGINE.set(engine)
    try:
        yield engine
    finally:
        _ENGINE.reset(token)
