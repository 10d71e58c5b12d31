"""The heavy steps of one mission on a Dask cluster: track ingestion, coverage, control points.

A run chooses with :func:`heavy_steps_on` (the hook is :mod:`protection_eval.engine`); the
results are the local ones, exactly. How the steps are split, what each worker sees and what
happens when a worker dies: ``docs/scaling.md``.
"""

from protection_eval.distributed.client import SCHEDULER_TIMEOUT_S, SchedulerError, connect
from protection_eval.distributed.engine import DaskEngine, heavy_steps_on

__all__ = ["SCHEDULER_TIMEOUT_S", "DaskEngine", "SchedulerError", "connect", "heavy_steps_on"]
