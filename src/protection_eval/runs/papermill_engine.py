"""The papermill engine of the warm kernels: a notebook executed in the mission's kernel.

Registered in papermill's engine registry under :data:`~protection_eval.runs.kernels.ENGINE`
(``"protection-eval"``) when this module is imported; the runner imports it before it executes
a notebook. It is not declared as a ``papermill.engine`` entry point: papermill loads its entry
points while it is itself being imported, so a module that subclasses papermill's ``Engine``
and is imported before papermill would be loaded again, half-made, from inside that import.

The engine does what papermill's own (``papermill.engines.NBClientEngine``) does, with the
kernel given: it resets the kernel (:func:`protection_eval.runs.namespace.restore`) and hands
its manager to papermill's notebook client, which then neither starts nor stops a kernel.
"""

from __future__ import annotations

import logging
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import Engine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

from protection_eval.runs.kernels import ENGINE, KernelPool, WarmKernel

__all__ = ["WarmKernelEngine"]

logger = logging.getLogger("papermill")


class WarmKernelEngine(Engine):
    """papermill engine: execute a notebook in a warm kernel, after resetting it.

    Called through ``papermill.execute_notebook(..., engine_name="protection-eval",
    kernel=warm_kernel)``. Without ``kernel``, a kernel is started over IPC for this notebook
    alone and shut down after it.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        kernel: WarmKernel | None = None,
        **kwargs: Any,
    ) -> Any:
        """Execute the notebook of ``nb_man`` in ``kernel`` (papermill's engine interface)."""
        if kernel is None:
            with KernelPool(kernel_name) as pool, pool.kernel() as own:
                return cls.execute_managed_notebook(
                    nb_man, kernel_name, log_output=log_output, stdout_file=stdout_file,
                    stderr_file=stderr_file, start_timeout=start_timeout,
                    execution_timeout=execution_timeout, kernel=own, **kwargs)
        kernel.reset()
        # As papermill's own engine does with its arguments (papermill.engines.NBClientEngine).
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = PapermillNotebookClient(nb_man, km=kernel.manager, **final_kwargs)
        try:
            return client.execute()
        finally:
            if client.kc is not None:  # the kernel stays; this notebook's client goes
                client.kc.stop_channels()
                client.kc = None


papermill_engines.register(ENGINE, WarmKernelEngine)
