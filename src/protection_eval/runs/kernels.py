"""Warm kernels for a mission's notebooks: one kernel shared in order, over IPC, never TCP.

Starting a kernel and importing the scientific stack and the library into it costs a few
CPU-seconds, more than most notebooks' own work on a month of data. A run therefore starts one
kernel when it starts (while the runner validates the mission), imports into it what the run's
notebooks import, and executes its notebooks in that kernel one after another, through the
papermill engine registered under the name :data:`ENGINE`
(:mod:`protection_eval.runs.papermill_engine`). Before each notebook the
kernel is given a fresh namespace and the module state of a new kernel
(:func:`protection_eval.runs.namespace.restore` says exactly what is put back). Each notebook
still comes out of papermill as an executed notebook with its injected parameters cell.

Notebooks that may run side by side (a batch's ``--jobs``) take a second kernel from the same
pool, started when first needed; a kernel is never shared by two notebooks at once, nor by two
missions.

Kernels listen on Unix sockets (ZeroMQ's ``ipc`` transport) in a folder of their own, created
with mode 0700 and removed when the pool closes: another local user can neither connect to a
kernel nor read its connection file. No kernel opens a TCP port, so ipykernel has no reason to
warn that it is "running over TCP without encryption".

papermill's own engine (:data:`REFERENCE_ENGINE`: a fresh kernel per notebook, over TCP) stays
available by name for comparison; ``tests/test_kernels.py`` checks that both give the same
notebooks and files.
"""

from __future__ import annotations

import ast
import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ENGINE", "REFERENCE_ENGINE", "KernelPool", "KernelStartError", "WarmKernel",
           "notebook_imports"]

#: The name of the warm-kernel engine in papermill's registry (``engine_name=``), registered
#: when :mod:`protection_eval.runs.papermill_engine` is imported.
ENGINE = "protection-eval"
#: papermill's own engine: a new kernel for each notebook.
REFERENCE_ENGINE = "nbclient"
#: Seconds to wait for a kernel to start and import what the notebooks import.
START_TIMEOUT_S = 120.0
#: Seconds to wait for a kernel to put its state back between two notebooks.
RESET_TIMEOUT_S = 60.0
#: Seconds a kernel is given to exit after it is asked to, before it is killed.
SHUTDOWN_WAIT_S = 5.0

logger = logging.getLogger(__name__)

_RESET = '__import__("protection_eval.runs.namespace", fromlist=["_"]).restore(get_ipython())'
_WARM = '__import__("protection_eval.runs.namespace", fromlist=["_"]).warm({imports!r})'


class KernelStartError(RuntimeError):
    """A kernel could not be started, warmed or reset; the message says which step and why."""


def notebook_imports(sources: Iterable[str]) -> str:
    """Return the import statements of notebooks' code, one per line, each once, in order.

    Parameters
    ----------
    sources : iterable of str
        Python source of the notebooks (jupytext percent ``.py`` files are Python: their
        markdown cells and magics are comments) or of their code cells. Source that does not
        parse is skipped (its notebook fails on it, with its own message).

    Returns
    -------
    str
        ``import x`` / ``from x import y`` lines, without ``from __future__`` ones.
    """
    lines: dict[str, None] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import) or (
                    isinstance(node, ast.ImportFrom) and node.module != "__future__"):
                lines[ast.unparse(node)] = None
    return "\n".join(lines)


#: The kernel module that :class:`WarmKernel` starts in place of ipykernel's launcher.
KERNEL_MODULE = "protection_eval.runs.kernel_app"


def _spec_manager() -> Any:
    """Return a kernelspec manager whose ipykernel specs start :data:`KERNEL_MODULE`.

    The kernelspec's Python and its other arguments are kept; only ``-m ipykernel_launcher``
    becomes ``-m protection_eval.runs.kernel_app`` (ipykernel with its IOPub pipe over IPC).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    class _SpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> Any:
            spec = super().get_kernel_spec(kernel_name)
            argv = list(spec.argv)
            for i in range(len(argv) - 1):
                if argv[i] == "-m" and argv[i + 1] == "ipykernel_launcher":
                    argv[i + 1] = KERNEL_MODULE
            spec.argv = argv
            return spec

    return _SpecManager()


def _private_folder(prefix: str) -> Path:
    """Return a new folder only this user can enter (``mkdtemp`` creates it with mode 0700)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


class WarmKernel:
    """One kernel over IPC, started, warmed with the notebooks' imports, reset between uses.

    Parameters
    ----------
    kernel_name : str
        The kernelspec to start (``protection-eval``, else ``python3``).
    runtime_dir : Path
        A private folder (mode 0700) for the connection file and the kernel's Unix sockets.
    imports : str
        Import statements run in the kernel once it has started (:func:`notebook_imports`).
    """

    def __init__(self, kernel_name: str, runtime_dir: Path, imports: str = "") -> None:
        from jupyter_client.manager import KernelManager

        self.kernel_name = kernel_name
        self.imports = imports
        token = secrets.token_hex(4)
        # Sockets are named after the connection file: "<folder>/kernel-<token>-ipc-<n>".
        self.manager = KernelManager(
            kernel_name=kernel_name, transport="ipc",
            connection_file=str(runtime_dir / f"kernel-{token}.json"),
            client_class="jupyter_client.asynchronous.AsyncKernelClient",
            kernel_spec_manager=_spec_manager(), shutdown_wait_time=SHUTDOWN_WAIT_S,
        )
        self._shutdown_requested = False

    def start(self, timeout: float = START_TIMEOUT_S) -> WarmKernel:
        """Start the kernel and import the notebooks' modules into it; return the kernel."""
        # The same history setting as papermill's nbclient: in memory, nothing on disk.
        self.manager.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
        try:
            self._run(_WARM.format(imports=self.imports), timeout, "import the notebooks' modules")
        except BaseException:
            self.shutdown()
            raise
        return self

    @property
    def pid(self) -> int | None:
        """The kernel's process id (None when it has not started)."""
        provisioner = self.manager.provisioner
        process = getattr(provisioner, "process", None)
        return None if process is None else process.pid

    def connection_info(self) -> dict[str, Any]:
        """Return the kernel's connection information (transport, socket paths), without its key."""
        info = dict(self.manager.get_connection_info())
        info.pop("key", None)
        return info

    def is_alive(self) -> bool:
        """Whether the kernel's process is still running."""
        return bool(self.manager.has_kernel and self.manager.is_alive())

    def reset(self, timeout: float = RESET_TIMEOUT_S) -> None:
        """Give the next notebook a fresh namespace and a new kernel's module state."""
        self._run(_RESET, timeout, "start the next notebook afresh")

    def request_shutdown(self) -> None:
        """Ask the kernel to exit, without waiting for it (:meth:`shutdown` waits)."""
        manager = self.manager
        if self._shutdown_requested or not manager.has_kernel:
            return
        self._shutdown_requested = True
        try:
            # A shutdown request alone: the manager's own shutdown interrupts the kernel first,
            # which prints a KeyboardInterrupt from a kernel that was doing nothing.
            client = manager.blocking_client()
            client.start_channels(shell=False, iopub=False, stdin=False, hb=False)
            try:
                client.shutdown()
            finally:
                client.stop_channels()
        except Exception:  # shutdown() kills what does not exit
            logger.debug("kernel %s: no shutdown request sent", self.pid, exc_info=True)

    def shutdown(self) -> None:
        """Ask the kernel to exit, kill it if it does not, and remove its connection files."""
        manager = self.manager
        if not manager.has_kernel:
            manager.cleanup_resources()
            return
        try:
            self.request_shutdown()
            manager.finish_shutdown(waittime=SHUTDOWN_WAIT_S)
        except Exception:  # whatever happened, the process must not outlive the run
            logger.debug("kernel %s: graceful shutdown failed, killing it", self.pid,
                         exc_info=True)
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
        finally:
            manager.cleanup_resources()

    def _run(self, code: str, timeout: float, what: str) -> None:
        """Execute ``code`` silently (no history, no execution count); raise if it fails."""
        client = self.manager.blocking_client()
        # No heartbeat: the manager knows whether its own process is alive.
        client.start_channels(stdin=False, hb=False)
        try:
            client.wait_for_ready(timeout=timeout)
            # Its outputs go nowhere (the code prints nothing unless it fails, and the reply
            # says how it failed).
            reply = client.execute_interactive(code, silent=True, store_history=False,
                                               allow_stdin=False, timeout=timeout,
                                               output_hook=lambda message: None)
        except (RuntimeError, TimeoutError) as exc:
            raise KernelStartError(f"the notebook kernel could not {what}: {exc}") from exc
        finally:
            client.stop_channels()
        content = reply["content"]
        if content.get("status") != "ok":
            detail = f"{content.get('ename')}: {content.get('evalue')}"
            raise KernelStartError(f"the notebook kernel could not {what}: {detail}")


class KernelPool:
    """The warm kernels of one mission's run.

    Use as a context manager: on leaving, every kernel is shut down and the private folder
    of their sockets removed. :meth:`prestart` starts the first kernel in the background;
    :meth:`kernel` lends a kernel to one notebook at a time, starting another only when every
    kernel started is busy (notebooks running side by side).

    Parameters
    ----------
    kernel_name : str
        The kernelspec to start.
    imports : str
        Import statements each kernel runs once started (:func:`notebook_imports`).
    """

    def __init__(self, kernel_name: str, imports: str = "") -> None:
        self.kernel_name = kernel_name
        self.imports = imports
        # Short: a Unix socket's path has at most 104-108 bytes.
        self.runtime_dir = _private_folder("pe-kernels-")
        self._lock = threading.Lock()
        self._idle: list[WarmKernel] = []
        self._starting: list[Future[WarmKernel]] = []
        self._kernels: list[WarmKernel] = []
        self._closed = False
        self._starter: ThreadPoolExecutor | None = None

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prestart(self) -> None:
        """Start one kernel in the background, to be ready when the first notebook is."""
        with self._lock:
            if self._starter is None:
                self._starter = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="kernel-start")
            self._starting.append(self._starter.submit(self._new_kernel))

    @contextmanager
    def kernel(self) -> Iterator[WarmKernel]:
        """Lend a warm kernel (reset before each notebook by the engine) for one notebook."""
        kernel = self._take()
        try:
            yield kernel
        finally:
            with self._lock:
                if kernel.is_alive() and not self._closed:
                    self._idle.append(kernel)
                    kernel = None
            if kernel is not None:  # died during its notebook, or the pool closed meanwhile
                kernel.shutdown()

    @property
    def kernels(self) -> list[WarmKernel]:
        """Every kernel this pool started (for inspection)."""
        return list(self._kernels)

    def release(self) -> None:
        """Ask every kernel to exit, without waiting: the notebooks are done.

        The kernels give their memory back while the run goes on; :meth:`close` waits for them.
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for kernel in idle:
            kernel.request_shutdown()

    def close(self) -> None:
        """Shut every kernel down and remove the private folder."""
        with self._lock:
            self._closed = True
            starting, self._starting = self._starting, []
        for future in starting:
            try:
                future.result()
            except Exception:  # a kernel that failed to start is gone already
                pass
        if self._starter is not None:
            self._starter.shutdown(wait=True)
        for kernel in self._kernels:
            kernel.shutdown()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _take(self) -> WarmKernel:
        while True:
            with self._lock:
                if self._closed:
                    raise KernelStartError("the run's kernels were shut down")
                kernel = self._idle.pop() if self._idle else None
                future = self._starting.pop(0) if kernel is None and self._starting else None
            if kernel is None and future is None:
                return self._new_kernel()
            if future is not None:
                kernel = future.result()  # raises KernelStartError when it could not start
            if kernel is not None and kernel.is_alive():
                return kernel
            if kernel is not None:
                kernel.shutdown()

    def _new_kernel(self) -> WarmKernel:
        kernel = WarmKernel(self.kernel_name, self.runtime_dir, self.imports)
        with self._lock:
            self._kernels.append(kernel)
        return kernel.start()
