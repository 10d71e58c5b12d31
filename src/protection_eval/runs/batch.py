"""Many missions in one go: local worker processes or a Dask cluster, progress, a summary.

Each mission runs alone: one mission's bad data, failing notebook or unwritable folder does not
stop the others. The batch ends with a summary table and an exit code schedulers can act on (0
when every mission is ``ok``, 1 otherwise), and rebuilds ``reports/index.html``. A batch that
cannot start at all (no Dask scheduler at the address given) raises :class:`SchedulerError`.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any, TextIO

from protection_eval.distributed.client import SCHEDULER_TIMEOUT_S, SchedulerError, connect
from protection_eval.runs.kernels import ENGINE
from protection_eval.runs.pdf import PdfPrinter
from protection_eval.runs.runner import (
    RunOptions,
    RunResult,
    remove_stale_staging,
    run_mission_with,
)

EXECUTORS = ("local", "dask")

__all__ = ["EXECUTORS", "SCHEDULER_TIMEOUT_S", "BatchResult", "ProgressDisplay",
           "SchedulerError", "run_missions"]


@dataclass
class BatchResult:
    """The outcome of a batch of mission runs.

    Attributes
    ----------
    results : list of RunResult
        One per mission, in the order the missions were given.
    seconds : float
        Wall time of the whole batch.
    errors : list of str
        Problems after the runs (the cross-mission evidence could not be written...).
    """

    results: list[RunResult] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[RunResult]:
        """The runs that did not finish ``ok``."""
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        """0 when every mission is ``ok`` and nothing failed after the runs, else 1."""
        return 1 if self.failed or self.errors else 0

    def summary_table(self) -> str:
        """Return a fixed-width table: mission, status, seconds, run folder or error."""
        width = max([14, *(len(r.mission) + 2 for r in self.results)])
        lines = [f"{'mission':<{width}}{'status':<8}{'seconds':>9}  run / reason"]
        indent = " " * (width + 8 + 9 + 2)
        for r in self.results:
            first, *more = [str(r.run_dir)] if r.ok else _reasons(r.error)
            lines.append(f"{r.mission:<{width}}{r.status:<8}{r.seconds:>9.1f}  {first}")
            lines.extend(indent + line for line in more)
            # What the data could not answer, under the mission, even when the run is ok.
            lines.extend(f"{indent}note: {finding[:160]}" for finding in r.findings)
        return "\n".join(lines)

    def one_line(self) -> str:
        """Return the one-line summary a cron mail or workflow log shows."""
        names = ", ".join(r.mission for r in self.failed)
        failed = f"{len(self.failed)} failed ({names})" if self.failed else "0 failed"
        errors = f", {len(self.errors)} error(s) after the runs" if self.errors else ""
        return (
            f"protection-eval run: {len(self.results) - len(self.failed)} ok, {failed}{errors} "
            f"in {self.seconds:.1f}s"
        )


def _reasons(error: str | None) -> list[str]:
    """Return every problem of an error, one line each: a configuration error lists them all.

    A configuration error reads ``<file>: the mission configuration is not valid:`` and then
    one line per key; each key's line is kept (the file once, at the end), so a mission with
    three mistakes shows three, not the announcement of a list.
    """
    lines = [line for line in (error or "").splitlines() if line.strip()] or [""]
    if lines[0].endswith(":") and len(lines) > 1:
        return [line.strip()[:160] for line in lines[1:]] + [f"({lines[0].rstrip(':')})"]
    return [lines[0][:160]]


class ProgressDisplay:
    """Shows mission and notebook progress: a live table on a terminal, plain lines otherwise.

    Parameters
    ----------
    missions : sequence of str
        Mission labels in display order.
    stream : file, optional
        Where to write (default standard error).
    live : bool, optional
        Force the live table on or off (default: on when ``stream`` is a terminal).
    """

    def __init__(
        self, missions: Sequence[str], stream: TextIO | None = None, live: bool | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.state = {m: "waiting" for m in missions}
        self._lock = threading.Lock()
        self._drawn = 0

    def __call__(self, event: dict[str, Any]) -> None:
        """Record one event from a run and show it."""
        mission = event["mission"]
        notebook, state = event.get("notebook"), event["state"]
        if notebook:
            text = f"{notebook} {state} ({event.get('index', 0)}/{event.get('total', 0)})"
        else:
            text = state
        with self._lock:
            self.state[mission] = text
            if self.live:
                self._redraw()
            else:
                self.stream.write(f"{time.strftime('%H:%M:%S')} {mission}: {text}\n")
                self.stream.flush()

    def _redraw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        for mission, text in self.state.items():
            self.stream.write(f"\x1b[2K{mission:<14} {text}\n")
        self._drawn = len(self.state)
        self.stream.flush()


def _label(path: Path) -> str:
    return Path(path).stem


#: One BLAS thread per kernel: missions run side by side, and numbers do not depend on how
#: many threads summed them.
THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _limit_threads() -> None:
    for name, value in THREAD_LIMITS.items():
        os.environ.setdefault(name, value)


def _run_in_worker(
    path: str, options: RunOptions, events: Any | None, slots: Any | None = None,
    printer: Any | None = None,
) -> RunResult:
    """Run one mission in a worker process, forwarding progress events to ``events``.

    ``slots`` is a semaphore shared by the batch: a notebook executes only while holding one.
    ``printer`` is the batch's :class:`~protection_eval.runs.pdf.PdfPrinter` (a proxy of the
    one the batch's manager process holds), or :data:`WORKER_PRINTER` for the printer this
    worker process keeps for every mission it runs (a Dask worker's).
    """
    _limit_threads()
    progress = events.put if events is not None else None
    if printer == WORKER_PRINTER:
        printer = _worker_printer()
    return run_mission_with(path, options, progress=progress, slot=slots, printer=printer)


#: Asks a worker process for the printer it keeps (:func:`_worker_printer`).
WORKER_PRINTER = "worker"
_printer_of_this_process: PdfPrinter | None = None
_printer_lock = threading.Lock()


def _worker_printer() -> PdfPrinter:
    """Return this process's printer: one Chromium for every mission a Dask worker runs."""
    global _printer_of_this_process
    with _printer_lock:
        if _printer_of_this_process is None:
            _printer_of_this_process = PdfPrinter()
            atexit.register(_printer_of_this_process.close)
        return _printer_of_this_process


class _BatchManager(SyncManager):
    """The batch's manager process: its semaphore, its progress queue and its one Chromium."""


_BatchManager.register("PdfPrinter", PdfPrinter,
                       exposed=("available", "start", "print_pdf", "close"))


def _worker_context() -> multiprocessing.context.BaseContext:
    """Return a context whose workers start with the library already imported.

    ``fork`` (where the platform has it): workers are forked, with the manager, before this
    process starts any thread, and inherit pandas, geopandas and the rest instead of importing
    them again. ``spawn`` elsewhere.
    """
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _input_bytes(path: Path) -> int:
    """Total size of a mission's input files: a cheap guess of how long it will run."""
    from protection_eval.config import TABLES, ConfigError, load_mission_config

    try:
        config = load_mission_config(path)
    except ConfigError:
        return 0
    total = 0
    for table in TABLES:
        path = config.source_path(table)
        try:
            total += path.stat().st_size if path is not None else 0
        except OSError:
            continue
    return total


def _failed_result(
    path: Path, reports_dir: Path, exc: BaseException,
    what: str = "the worker running this mission died",
) -> RunResult:
    return RunResult(_label(path), "-", "failed", reports_dir / _label(path),
                     f"{what}: {type(exc).__name__}: {exc}")


def _run_alone(
    path: Path, options: RunOptions, progress: Any, printer: PdfPrinter | None = None
) -> RunResult:
    """Run one mission in this process; whatever it raises fails that mission only."""
    try:
        return run_mission_with(path, options, progress=progress, printer=printer)
    except Exception as exc:
        return _failed_result(path, options.reports_dir, exc, "the run of this mission stopped")


def _drain(events: Any, progress: Callable[[dict[str, Any]], None], stop: threading.Event) -> None:
    while not stop.is_set() or not events.empty():
        try:
            progress(events.get(timeout=0.2))
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return


def _run_local(
    paths: Sequence[Path], jobs: int, options: RunOptions,
    progress: Callable[[dict[str, Any]], None] | None,
) -> list[RunResult]:
    if jobs <= 1:
        _limit_threads()
        # One Chromium prints every mission's brief.
        with PdfPrinter() as printer:
            return [_run_alone(p, options, progress, printer) for p in paths]
    context = _worker_context()
    with _BatchManager(ctx=context) as manager:
        # One Chromium for the batch, in the manager's process; workers print through it.
        printer = manager.PdfPrinter()
        # Notebooks, not missions, are the unit of parallel work: `jobs` worker processes take
        # missions largest first, and a shared semaphore lets `jobs` notebooks run at once, so
        # a mission left alone at the end runs its independent notebooks side by side.
        slots = manager.Semaphore(jobs)
        events = manager.Queue() if progress else None
        stop = threading.Event()
        drainer = None
        results: dict[int, RunResult] = {}
        order = sorted(range(len(paths)), key=lambda i: -_input_bytes(paths[i]))
        with ProcessPoolExecutor(max_workers=min(len(paths), jobs), mp_context=context) as pool:
            futures = {
                pool.submit(_run_in_worker, str(paths[i]), options, events, slots, printer): i
                for i in order
            }
            # Workers are forked at the first submit: only now may this process start a thread.
            if progress:
                drainer = threading.Thread(target=_drain, args=(events, progress, stop),
                                           daemon=True)
                drainer.start()
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:
                    results[i] = _failed_result(paths[i], options.reports_dir, exc)
        stop.set()
        if drainer is not None:
            drainer.join(timeout=5)
        printer.close()
    return [results[i] for i in range(len(paths))]


def _connect(scheduler: str, timeout: float) -> Any:
    """Return a Dask client of ``scheduler``, or raise :class:`SchedulerError` in one line."""
    return connect(scheduler, timeout)


def _run_dask(
    paths: Sequence[Path], scheduler: str, options: RunOptions,
    progress: Callable[[dict[str, Any]], None] | None, timeout: float = SCHEDULER_TIMEOUT_S,
) -> list[RunResult]:
    from dask.distributed import as_completed as dask_completed

    results: dict[int, RunResult] = {}
    with _connect(scheduler, timeout) as client:
        futures = {}
        for i, path in enumerate(paths):
            future = client.submit(_run_in_worker, str(path), options, None, None,
                                   WORKER_PRINTER, key=f"protection-eval-{_label(path)}-{i}",
                                   pure=False)
            futures[future] = i
            if progress:
                progress({"mission": _label(path), "notebook": None,
                          "state": f"submitted to {scheduler}"})
        for future in dask_completed(list(futures)):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:
                results[i] = _failed_result(paths[i], options.reports_dir, exc)
            if progress:
                progress({"mission": _label(paths[i]), "notebook": None,
                          "state": results[i].status})
    return [results[i] for i in range(len(paths))]


def run_missions(
    paths: Sequence[str | Path],
    *,
    reports_dir: str | Path,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    period: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    notebooks: Sequence[Path] | None = None,
    build_index: bool = True,
    scheduler_timeout: float = SCHEDULER_TIMEOUT_S,
    engine: str = ENGINE,
) -> BatchResult:
    """Run several missions, each alone, and rebuild the report index.

    Parameters
    ----------
    paths : sequence of str or Path
        Mission YAML files.
    reports_dir : str or Path
        Root of the reports.
    jobs : int, default 1
        Notebooks executed at once (local): ``jobs`` worker processes take missions, largest
        inputs first, and share ``jobs`` notebook slots, so a mission running alone can run
        its independent notebooks side by side.
    executor : {"local", "dask"}
        Where missions run: local processes, or an existing Dask cluster (one task per
        mission).
    scheduler : str, optional
        The Dask scheduler's address (``tcp://host:8786``); required with ``executor="dask"``.
        Workers must see the same paths (data, notebooks, reports): see docs/scaling.md.
        With ``executor="local"``, missions run here and the heavy steps of each (track
        ingestion, coverage, control points) run in parts on this cluster
        (:mod:`protection_eval.distributed`); workers then need only the package.
    period : str, optional
        Reporting period passed to every run.
    progress : callable, optional
        Receives progress events (see :class:`ProgressDisplay`).
    notebooks : sequence of Path, optional
        Notebooks to run (default: all).
    build_index : bool, default True
        At the end, pool the strategy evidence across missions (``reports/evidence.csv`` and
        ``evidence.html``) and rebuild ``reports/index.html``.
    scheduler_timeout : float, default 30
        Seconds to wait for the Dask scheduler to answer.
    engine : str, default "protection-eval"
        The papermill engine of every run (see :func:`protection_eval.runs.runner.run_mission`):
        each mission's warm kernel, or ``"nbclient"``, papermill's own, for comparison.

    Returns
    -------
    BatchResult
        Every mission's result, in the order given. A mission that could not be written (a
        read-only folder, a full disk) is a failed result like any other.

    Raises
    ------
    ValueError
        For an unknown executor, or ``dask`` without a scheduler address.
    SchedulerError
        When the Dask scheduler cannot be reached; no mission ran.
    """
    _check_executor(executor, scheduler)
    started = time.perf_counter()
    reports_dir = Path(reports_dir).resolve()
    paths = [Path(p).resolve() for p in paths]
    options = RunOptions(
        reports_dir=reports_dir,
        notebooks=None if notebooks is None else tuple(Path(n).resolve() for n in notebooks),
        period=period,
        engine=engine,
    )
    # Staging folders of dead runs hold row-level data and unaudited shared files.
    remove_stale_staging(reports_dir)
    results = _run_batch(paths, executor, max(1, jobs), options, progress,
                         scheduler=scheduler, scheduler_timeout=scheduler_timeout)
    errors = _write_across_missions(reports_dir) if build_index else []
    return BatchResult(results, round(time.perf_counter() - started, 3), errors)


def _check_executor(executor: str, scheduler: str | None) -> None:
    """Raise ValueError for an unknown executor, or ``dask`` without a scheduler address."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    if executor == "dask" and not scheduler:
        raise ValueError("executor 'dask' needs the scheduler address (--scheduler tcp://...)")


def _run_batch(
    paths: Sequence[Path], executor: str, jobs: int, options: RunOptions,
    progress: Callable[[dict[str, Any]], None] | None, *, scheduler: str | None,
    scheduler_timeout: float,
) -> list[RunResult]:
    """Run every mission where the executor says; return their results in the order given."""
    if executor == "dask":
        return _run_dask(paths, scheduler or "", options, progress, scheduler_timeout)
    if scheduler:
        # Heavy steps on the cluster: a scheduler that does not answer stops the batch before
        # any mission starts, as for executor "dask"; one lost later fails its missions alone.
        _connect(scheduler, scheduler_timeout).close()
        options = replace(options, scheduler=scheduler, scheduler_timeout=scheduler_timeout)
    return _run_local(paths, jobs, options, progress)


def _write_across_missions(reports_dir: Path) -> list[str]:
    """Pool the strategy evidence across missions and rebuild the index; return what failed."""
    from protection_eval.inventory.strategies import load_catalogue
    from protection_eval.runs.evidence import write_evidence
    from protection_eval.runs.report_index import write_report_index

    errors: list[str] = []
    try:
        write_evidence(reports_dir, load_catalogue())
    except Exception as exc:  # an unattended batch reports, and exits 1 for it
        errors.append(f"evidence across missions not written: {type(exc).__name__}: {exc}")
    try:
        write_report_index(reports_dir)
    except Exception as exc:
        errors.append(f"reports index not written: {type(exc).__name__}: {exc}")
    return errors
