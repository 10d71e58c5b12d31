"""The heavy steps of one mission on a Dask cluster: track ingestion, coverage, control points.

A run chooses with :func:`heavy_steps_on` (the hook is :mod:`protection_eval.engine`); the
results are the local ones, exactly. How the steps are split, what each worker sees and what
happens when a worker dies: ``docs/scaling.md``.
"""

from __future__ import annotations

from typing import Any

from protection_eval.distributed.client import SCHEDULER_TIMEOUT_S, SchedulerError, connect

__all__ = ["SCHEDULER_TIMEOUT_S", "DaskEngine", "SchedulerError", "connect", "heavy_steps_on"]


def __getattr__(name: str) -> Any:
    # The engine (numpy, the coverage index) is imported when first asked for: a batch that
    # only needs the client's names and errors does not pay for it.
    if name in {"DaskEngine", "heavy_steps_on"}:
        from protection_eval.distributed import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
