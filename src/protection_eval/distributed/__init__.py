"""The heavy steps of one mission on a Dask cluster: track ingestion, coverage, control points.

A run chooses with :func:`heavy_steps_on` (the hook is :mod:`protection_eval.engine`); the
results are the local ones, exactly. How the steps are split, what each worker sees and what
happens when a worker dies: ``docs/scaling.md``. The names are imported on first use: a batch
that only needs the client's names and errors does not import the engine (numpy, the coverage
index).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "client": ["SCHEDULER_TIMEOUT_S", "SchedulerError", "connect"],
        "engine": ["DaskEngine", "heavy_steps_on"],
    },
)
