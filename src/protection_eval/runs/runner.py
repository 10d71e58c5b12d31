"""Per-mission report runs: every notebook, executed with papermill, into one run folder.

A run is written into a staging folder beside its final place and moved there when it has
finished, so nothing half-written ever looks like a run; a live run holds a lock on its staging
folder, and staging folders of dead runs are removed when a run starts. ``latest`` moves only
when a run is ``ok``; a failed run's shared part is moved under ``restricted/``. Each run leaves
``manifest.json``: what ran, on which inputs (with sha256), how long it took, and, for a failed
run, the error and the notebook cell that raised it (never an audit finding's value).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import secrets
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import protection_eval
from protection_eval.config import (
    MISSION_CODE_MAX_LENGTH,
    ConfigError,
    MissionConfig,
    load_mission_config,
    parse_period,
)
from protection_eval.distributed.client import SCHEDULER_TIMEOUT_S, SchedulerError
from protection_eval.io.errors import InputFileError
from protection_eval.memory import return_freed_memory
from protection_eval.runs.kernels import (
    ENGINE,
    REFERENCE_ENGINE,
    KernelPool,
    KernelStartError,
    WarmKernel,
    notebook_imports,
)
from protection_eval.runs.layout import (
    LATEST,
    MANIFEST,
    RESTRICTED,
    RESTRICTED_FILES,
    SHARED,
    SHARED_REJECTED,
    STAGING_PREFIX,
    mission_file,
    notebook_paths,
    reports_root,
)
from protection_eval.runs.ledger import LedgerError

try:
    import fcntl
except ImportError:  # not on Windows: stale staging folders are then never removed for you
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData
    from protection_eval.ingest.validation import ValidationReport
    from protection_eval.runs.pdf import PdfPrinter
    from protection_eval.runs.plausibility import PlausibilityCheck

# The scientific stack (pandas, geopandas, pandera...) and papermill are imported where they are
# used, not here: a run starts its notebook kernel first, so that the kernel imports them while
# this process does (runs.kernels).

#: Where a failed run's shared part goes, inside ``restricted/``: a failed run shares nothing.
KERNEL_NAME = "protection-eval"
#: Held (``flock``) by a live run on ``.lock`` in its staging folder, and on ``.lock`` in the
#: mission folder while a staging folder is created or stale ones are removed.
LOCK_FILE = ".lock"


class RunFailed(RuntimeError):
    """A step of a run failed; the message is what the manifest and the summary show."""

    def __init__(
        self, message: str, *, notebook: str | None = None, cell: dict | None = None,
        findings: list[dict[str, str]] | None = None, rejected: str | None = None,
    ):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.findings = findings
        self.rejected = rejected


@dataclass
class NotebookRecord:
    """One notebook's execution in a run."""

    notebook: str
    status: str
    seconds: float
    output: str | None = None
    html: str | None = None


@dataclass
class RunResult:
    """The outcome of one mission's run.

    Attributes
    ----------
    mission : str
        Mission code (or the configuration file's stem when the file could not be read).
    run_id : str
        Time-stamped id, also the run folder's name.
    status : str
        ``ok`` or ``failed``.
    run_dir : Path
        The run's folder under ``reports/<mission>/``.
    error : str or None
        What went wrong, for a failed run.
    seconds : float
        Wall time of the whole run.
    notebooks : list of NotebookRecord
        Per-notebook timings and outputs.
    findings : list of str
        The plausibility check's findings (:mod:`protection_eval.runs.plausibility`): what
        the data could not answer, shown under the mission in the run summary.
    """

    mission: str
    run_id: str
    status: str
    run_dir: Path
    error: str | None = None
    seconds: float = 0.0
    notebooks: list[NotebookRecord] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run finished and passed every check."""
        return self.status == "ok"


@dataclass(frozen=True)
class RunOptions:
    """What a run is asked to do: the same for every mission of a batch.

    :func:`run_mission` makes one from its keywords, which it documents; a batch
    (:func:`protection_eval.runs.batch.run_missions`) makes one and sends it to every mission
    it runs (:func:`run_mission_with`).

    Attributes
    ----------
    reports_dir : Path
        Root of the reports.
    notebooks : tuple of Path or None
        Notebooks to run, in order; None for every numbered notebook.
    seed : int or None
        Random seed passed to the notebooks; None for the mission's own.
    extra_parameters : mapping or None
        More papermill parameters for every notebook.
    period : str or None
        Reporting period the mission is analysed over.
    export_html : bool
        Whether each executed notebook is rendered to offline HTML in the restricted part.
    scheduler : str or None
        A Dask scheduler the heavy steps run on.
    scheduler_timeout : float
        Seconds to wait for the scheduler to answer.
    engine : str
        The papermill engine that executes the notebooks, by its name in papermill's registry.
    """

    reports_dir: Path
    notebooks: tuple[Path, ...] | None = None
    seed: int | None = None
    extra_parameters: Mapping[str, Any] | None = None
    period: str | None = None
    export_html: bool = True
    scheduler: str | None = None
    scheduler_timeout: float = SCHEDULER_TIMEOUT_S
    engine: str = ENGINE


def new_run_id(now: dt.datetime | None = None) -> str:
    """Return a sortable, unique run id such as ``20261126T201502Z-3f9a``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def git_commit() -> str | None:
    """Return the commit of the checkout the package runs from, or None when installed."""
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def _input_records(config: MissionConfig, mission: MissionData | None) -> list[dict[str, Any]]:
    from protection_eval.runs.mission_cache import input_sha256

    records = []
    for table in ("incidents", "patrols", "patrol_tracks", "bases", "areas", "deployments",
                  "incident_counts"):
        path = config.source_path(table)
        if path is None:
            continue
        record: dict[str, Any] = {"table": table, "path": str(path)}
        if Path(path).is_file():
            record["sha256"] = input_sha256(path)
        if mission is not None and table in mission.validation.tables:
            report = mission.validation.tables[table]
            record.update(rows_read=report.rows_read, rows_accepted=report.rows_accepted,
                          rows_rejected=report.rows_rejected)
        records.append(record)
    return records


def write_validation(
    mission: MissionData, folder: Path, plausibility: PlausibilityCheck | None = None
) -> Path:
    """Write ``validation.json`` and ``rejected/<table>.csv`` into ``folder``.

    With ``plausibility`` (:func:`protection_eval.runs.plausibility.check_plausibility`), the
    check goes into ``validation.json`` under ``plausibility``.
    """
    return write_validation_report(mission.validation, folder, plausibility)


def write_validation_report(
    report: ValidationReport, folder: Path, plausibility: PlausibilityCheck | None = None
) -> Path:
    """Write a validation report (possibly of a mission that stopped) into ``folder``."""
    from protection_eval.io.writers import write_json, write_table

    for table, rejected in report.rejected.items():
        write_table(rejected, folder / RESTRICTED_FILES["rejected"] / f"{table}.csv")
    data = report.to_dict()
    if plausibility is not None:
        data["plausibility"] = plausibility.to_dict()
    return write_json(data, folder / RESTRICTED_FILES["validation"])


def _execute_notebook(
    node: Any, name: str, output: Path, parameters: dict[str, Any], cwd: Path | None,
    *, engine: str = ENGINE, kernel: WarmKernel | None = None,
) -> Any:
    """Execute one notebook with papermill's engine ``engine``; return the executed notebook.

    With the warm-kernel engine, ``kernel`` is the mission's kernel lent for this notebook.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    import protection_eval.runs.papermill_engine  # noqa: F401 - registers the warm engine

    # Kernels of either engine draw with matplotlib's inline backend from their start (the
    # warm kernel loads it with the notebooks' modules), so that a figure a cell returns is an
    # image whether or not pyplot drew one before it in the same kernel.
    engine_kwargs: dict[str, Any] = (
        {"kernel": kernel} if engine == ENGINE
        else {"extra_arguments": ["--matplotlib=inline"]} if engine == REFERENCE_ENGINE else {})
    try:
        # Saved when it starts and when it ends (or fails), not after every cell: each save
        # serialises and validates the whole notebook, maps and figures included.
        return papermill.execute_notebook(
            node, str(output), parameters=parameters, kernel_name=_kernel_name(),
            language="python", progress_bar=False, log_output=False,
            cwd=None if cwd is None else str(cwd), engine_name=engine,
            request_save_on_cell_execute=False,
            # One stream output per cell and stream, however the kernel's flushes fell: a
            # notebook's outputs must not depend on timing (nbclient's coalesce_streams).
            coalesce_streams=True, **engine_kwargs,
        )
    except PapermillExecutionError as exc:
        cell = {"index": exc.cell_index, "execution_count": exc.exec_count,
                "source": exc.source, "error": f"{exc.ename}: {exc.evalue}"}
        raise RunFailed(
            f"{name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}",
            notebook=name, cell=cell,
        ) from None
    except KernelStartError as exc:
        raise RunFailed(f"{name}: {exc}", notebook=name) from None


def _export_html(executed: Any, output: Path, parameters: dict[str, Any]) -> Path:
    """Render an executed notebook to a self-contained HTML page beside it (restricted).

    A map the notebook displays may fetch tiles from the mission's own tile server, the one
    server the page may name.
    """
    from protection_eval.io.writers import write_text
    from protection_eval.sharing.offline import to_offline_notebook_html

    tiles = load_mission_config(parameters["mission_config"]).sharing.tile_server
    html = to_offline_notebook_html(executed, allowed_urls=() if tiles is None else (tiles.url,))
    return write_text(html, output.with_suffix(".html"))


def _derived_config(config: MissionConfig, period: str | None, folder: Path) -> Path:
    """Write the run's copy of the mission configuration, with absolute source paths.

    With a reporting ``period``, the copy's period is that window. The notebooks read this copy,
    and the validated mission cached beside it (``mission_cache/``, checked against the run's
    key, see :mod:`protection_eval.runs.mission_cache`).
    """
    import yaml

    from protection_eval.io.writers import write_text

    data = config.model_dump(mode="json", exclude={"path"}, exclude_none=True)
    header = f"# {config.mission}: the configuration this run used"
    if period is not None:
        window = parse_period(period)
        data["period"] = {"start": window.start.isoformat(), "end": window.end.isoformat()}
        header += f", restricted to the reporting period {period}"
    return write_text(
        header + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        folder / RESTRICTED_FILES["config"],
    )


def notebook_needs(node: Any, earlier: Sequence[str]) -> list[str]:
    """Return the notebooks (stems) a notebook must wait for.

    A notebook declares them in its jupytext header as ``protection_eval: {needs: [...]}``; one
    that declares nothing waits for every notebook before it, so order alone stays safe.
    """
    declared = node.metadata.get("protection_eval", {}).get("needs")
    return list(earlier) if declared is None else [n for n in declared if n in earlier]


@dataclass(frozen=True)
class _Run:
    """One mission's run as it goes: who it is, where it goes, what its caller lends it.

    Fixed when the run starts, but for ``records`` (one per notebook, appended as the notebooks
    are read) and ``findings`` (the plausibility check's, for the summary and the manifest).
    """

    config_path: Path
    mission_code: str
    run_id: str
    final: Path
    started: float
    started_at: dt.datetime
    options: RunOptions
    progress: Callable[[dict[str, Any]], None] | None
    slot: AbstractContextManager[Any] | None
    printer: PdfPrinter
    records: list[NotebookRecord] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def emit(self, notebook: str | None, state: str, index: int = 0, total: int = 0) -> None:
        """Send one progress event to the caller, if it listens."""
        if self.progress is not None:
            self.progress({"mission": self.mission_code, "notebook": notebook, "state": state,
                           "index": index, "total": total})


@dataclass(frozen=True)
class _Notebooks:
    """The notebooks a run executes, their text, and what executes them and prints the brief.

    ``kernels`` is the mission's warm-kernel pool (None with another engine or no notebook);
    ``printer`` is started with the notebooks when the run prints the brief, else None.
    """

    todo: list[Path]
    sources: dict[Path, str]
    kernels: KernelPool | None
    printer: PdfPrinter | None


@dataclass(frozen=True)
class _Execution:
    """What the threads executing a run's notebooks share: one record per notebook, in order."""

    run: _Run
    notebooks: _Notebooks
    nodes: list[Any]
    records: list[NotebookRecord]
    parameters: dict[str, Any]
    restricted: Path
    slot: AbstractContextManager[Any]
    failures: dict[str, RunFailed] = field(default_factory=dict)


def _execute_notebooks(
    run: _Run, notebooks: _Notebooks, parameters: dict[str, Any], restricted: Path
) -> None:
    """Execute notebooks, each once what it needs has succeeded, holding the run's slot meanwhile.

    Notebooks that need nothing of each other run at the same time when the slot allows (a
    batch's ``--jobs``); without a slot they run one at a time. With the warm-kernel engine,
    each notebook borrows a kernel of the pool while it runs (the mission's one kernel, or a
    second one for a notebook running beside another). One record per notebook is appended to
    the run's records first. Raises :class:`RunFailed` for the first notebook, in order, that
    failed.
    """
    import jupytext

    todo, texts = notebooks.todo, notebooks.sources
    nodes = [jupytext.reads(texts[nb], fmt={"extension": nb.suffix}) if nb in texts
             else jupytext.read(nb) for nb in todo]
    records = [NotebookRecord(nb.name, "waiting", 0.0, f"{RESTRICTED}/{nb.stem}.ipynb")
               for nb in todo]
    run.records.extend(records)
    slot = run.slot if run.slot is not None else threading.Semaphore(1)
    execution = _Execution(run, notebooks, nodes, records, parameters, restricted, slot)
    stems = [nb.stem for nb in todo]
    # One thread per notebook: each waits for what it needs, all of which started before it.
    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        futures: list[Future] = []
        for index, node in enumerate(nodes):
            needs = [futures[stems.index(n)] for n in notebook_needs(node, stems[:index])]
            futures.append(pool.submit(_run_notebook, execution, index, needs))
        for future in futures:
            future.result()
    for record in records:
        if record.notebook in execution.failures:
            raise execution.failures[record.notebook]


def _run_notebook(execution: _Execution, index: int, needs: list[Future]) -> bool:
    """Execute notebook ``index`` once its ``needs`` succeeded; return whether it is ``ok``."""
    run, todo = execution.run, execution.notebooks.todo
    notebook, record = todo[index], execution.records[index]
    if not all(need.result() for need in needs):
        record.status = "skipped"
        return False
    output = execution.restricted / f"{notebook.stem}.ipynb"
    executed = None
    with execution.slot:
        run.emit(notebook.name, "running", index + 1, len(todo))
        t0 = time.perf_counter()
        try:
            # No working directory per run: papermill changes the process's own, which
            # missions running side by side in one process share.
            executed = _execute_on_kernel(execution, index, output)
            record.status = "ok"
        except RunFailed as exc:
            record.status = "failed"
            execution.failures[notebook.name] = exc
        finally:
            record.seconds = round(time.perf_counter() - t0, 3)
    if run.options.export_html and output.exists():
        import nbformat

        # The notebook as executed, or as papermill saved it when a cell failed.
        page = executed if executed is not None else nbformat.read(output, as_version=4)
        record.html = f"{RESTRICTED}/{_export_html(page, output, execution.parameters).name}"
    run.emit(notebook.name, record.status, index + 1, len(todo))
    return record.status == "ok"


def _execute_on_kernel(execution: _Execution, index: int, output: Path) -> Any:
    """Execute notebook ``index`` into ``output`` with the run's engine; return it executed."""
    notebook, node = execution.notebooks.todo[index], execution.nodes[index]
    engine, kernels = execution.run.options.engine, execution.notebooks.kernels
    if engine != ENGINE:
        return _execute_notebook(node, notebook.name, output, execution.parameters, None,
                                 engine=engine)
    pool = kernels if kernels is not None else _one_off_pool()
    try:
        with pool.kernel() as kernel:
            return _execute_notebook(node, notebook.name, output, execution.parameters, None,
                                     engine=engine, kernel=kernel)
    except KernelStartError as exc:
        raise RunFailed(f"{notebook.name}: {exc}", notebook=notebook.name) from None
    finally:
        if kernels is None:
            pool.close()


def _one_off_pool() -> KernelPool:
    return KernelPool(_kernel_name())


def _link_latest(mission_dir: Path, run_id: str) -> None:
    link = mission_dir / LATEST
    tmp = mission_dir / f".latest-{secrets.token_hex(3)}"
    tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp, link)


def run_mission(
    config_path: str | Path,
    *,
    reports_dir: str | Path | None = None,
    notebooks: Sequence[Path] | None = None,
    seed: int | None = None,
    run_id: str | None = None,
    extra_parameters: dict[str, Any] | None = None,
    period: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    export_html: bool = True,
    slot: AbstractContextManager[Any] | None = None,
    scheduler: str | None = None,
    scheduler_timeout: float = SCHEDULER_TIMEOUT_S,
    engine: str = ENGINE,
    printer: PdfPrinter | None = None,
) -> RunResult:
    """Run every notebook for one mission into ``reports/<mission>/<run_id>/``.

    Parameters
    ----------
    config_path : str or Path
        The mission YAML.
    reports_dir : str or Path, optional
        Root of the reports (default ``reports/`` in the project).
    notebooks : sequence of Path, optional
        Notebooks to run, in order (default: every numbered notebook in ``notebooks/``).
    seed : int, optional
        Random seed passed to the notebooks (default: the mission's ``seed``).
    run_id : str, optional
        Run id (default: :func:`new_run_id`).
    extra_parameters : dict, optional
        More papermill parameters for every notebook (e.g. a reporting period).
    period : str, optional
        Reporting period (``2024-06``, ``2024-01..2024-06``): the mission is analysed as if its
        period were this window; rows outside it are quarantined as ``date_outside_period``.
    progress : callable, optional
        Receives events ``{"mission", "notebook", "state", "index", "total"}`` as the run goes.
    export_html : bool, default True
        Render each executed notebook to offline HTML in the restricted part.
    slot : context manager, optional
        Held while a notebook executes: a semaphore shared by the missions of a batch, so that
        at most ``--jobs`` notebooks run at once whatever the number of missions.
    scheduler : str, optional
        A Dask scheduler (``tcp://host:8786``): the heavy steps (track ingestion, coverage,
        control points) run there in parts, with the same results
        (:mod:`protection_eval.distributed`). One that does not answer fails this run, with
        step ``scheduler``.
    scheduler_timeout : float
        Seconds to wait for the scheduler to answer.
    engine : str, default "protection-eval"
        The papermill engine that executes the notebooks, by its name in papermill's registry:
        the mission's warm kernel over IPC (:mod:`protection_eval.runs.kernels`), or
        ``"nbclient"``, papermill's own (a new kernel for each notebook, over TCP), kept for
        comparison. Kernels of both draw with matplotlib's inline backend from their start.
    printer : PdfPrinter, optional
        The browser that prints ``brief.pdf`` (a batch's, shared by its missions); default:
        one for this run, started when a full run's notebooks start and closed at its end.

    Returns
    -------
    RunResult
        The outcome; the run never raises for a mission's own problem.

    See Also
    --------
    run_mission_with : The same run, its options already made once (a :class:`RunOptions`).
    """
    options = RunOptions(
        reports_dir=reports_root(reports_dir),
        notebooks=None if notebooks is None else tuple(notebooks),
        seed=seed,
        extra_parameters=extra_parameters,
        period=period,
        export_html=export_html,
        scheduler=scheduler,
        scheduler_timeout=scheduler_timeout,
        engine=engine,
    )
    return run_mission_with(config_path, options, run_id=run_id, progress=progress, slot=slot,
                            printer=printer)


def run_mission_with(
    config_path: str | Path,
    options: RunOptions,
    *,
    run_id: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    slot: AbstractContextManager[Any] | None = None,
    printer: PdfPrinter | None = None,
) -> RunResult:
    """Run every notebook for one mission, with options made once (as a batch's workers do).

    Parameters
    ----------
    config_path : str or Path
        The mission YAML.
    options : RunOptions
        What the run is asked to do: the keywords of :func:`run_mission`, which documents them.
    run_id : str, optional
        Run id (default: :func:`new_run_id`).
    progress : callable, optional
        Receives the run's progress events (see :func:`run_mission`).
    slot : context manager, optional
        Held while a notebook executes (a batch's semaphore).
    printer : PdfPrinter, optional
        The browser that prints ``brief.pdf``; default: one for this run, closed at its end.

    Returns
    -------
    RunResult
        The outcome; the run never raises for a mission's own problem.
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    config_path = Path(config_path).resolve()
    run_id = run_id or new_run_id(started_at)
    config, error, mission_code = _load_config(config_path)
    lent = nullcontext(printer) if printer is not None else _own_printer()
    with lent as run_printer:
        run = _Run(config_path, mission_code, run_id, options.reports_dir / mission_code / run_id,
                   started, started_at, options, progress, slot, run_printer)
        return _run_in_staging(run, config, error)


def _own_printer() -> PdfPrinter:
    """Return a printer for one run (closed when its ``with`` block ends)."""
    from protection_eval.runs.pdf import PdfPrinter

    return PdfPrinter()


def _load_config(config_path: Path) -> tuple[MissionConfig | None, dict[str, Any] | None, str]:
    """Return the mission's configuration, the error that stopped reading it, its folder's name.

    A configuration that cannot be read still gets a run folder, under a safe label of the
    file's name (:func:`folder_label`), whose manifest says why.
    """
    try:
        config = load_mission_config(config_path)
    except ConfigError as exc:
        error = {"message": str(exc), "step": "configuration"}
        return None, error, folder_label(config_path.stem)
    return config, None, config.mission


def _run_in_staging(
    run: _Run, config: MissionConfig | None, error: dict[str, Any] | None
) -> RunResult:
    """Run the mission in its staging folder, then move the folder to its final place."""
    mission_dir = run.final.parent
    try:
        staging, lock = _open_staging(mission_dir, run.run_id)
    except OSError as exc:
        return _unwritten(run, exc, error, f"cannot create the run folder under {mission_dir}")
    try:
        parameters: dict[str, Any] = {}
        mission: MissionData | None = None
        if config is not None:
            config, mission, parameters, error = _run_steps(run, config, staging)
        seconds = _close_staging(run, staging, config, mission, parameters, error)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return _unwritten(run, exc, error, f"cannot write the run under {mission_dir}")
    finally:
        lock.close()
    return _finish(run, error, seconds)


def _close_staging(
    run: _Run, staging: Path, config: MissionConfig | None, mission: MissionData | None,
    parameters: dict[str, Any], error: dict[str, Any] | None,
) -> float:
    """Print the shared PDFs or reject the shared part, write the manifest, move the folder.

    Returns the run's wall time, as the manifest has it.
    """
    from protection_eval.io.writers import write_json
    from protection_eval.runs.pdf import print_shared_pdfs
    from protection_eval.runs.publish import reject_shared

    # Printed only now, from the brief the gate audited and published (see runs.pdf).
    shared_pdfs = (print_shared_pdfs(staging / SHARED, run.printer) if not error and config
                   else {})
    run.emit(None, "failed" if error else "ok")
    if error:
        # The gate has moved what the notebooks staged under restricted/; a shared folder
        # written any other way goes the same way.
        reject_shared(staging / SHARED, staging / RESTRICTED)
        rejected = staging / RESTRICTED / SHARED_REJECTED
        error["shared_rejected"] = (f"{RESTRICTED}/{SHARED_REJECTED}" if rejected.exists()
                                    else None)
    seconds = round(time.perf_counter() - run.started, 3)
    manifest = _manifest(run, config, mission, parameters, error, shared_pdfs, seconds)
    write_json(manifest, staging / MANIFEST)
    os.replace(staging, run.final)
    return seconds


def _manifest(
    run: _Run, config: MissionConfig | None, mission: MissionData | None,
    parameters: dict[str, Any], error: dict[str, Any] | None, shared_pdfs: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """Return the run's ``manifest.json``: what ran, on which inputs, how long, how it ended."""
    return {
        "mission": run.mission_code,
        "run_id": run.run_id,
        "status": "failed" if error else "ok",
        "started_at": run.started_at.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "seconds": seconds,
        "error": error,
        "synthetic": bool(config and config.synthetic),
        "notebooks": [asdict(r) for r in run.records],
        "parameters": {k: v for k, v in parameters.items() if not k.endswith("_dir")
                       and k != "run_dir"},
        "inputs": _input_records(config, mission) if config else [],
        "versions": {"protection_eval": protection_eval.__version__,
                     "python": platform.python_version()},
        "git_commit": git_commit(),
        "config_path": str(run.config_path),
        "period": run.options.period,
        "seed": parameters.get("seed"),
        "shared_pdfs": shared_pdfs,
        "plausibility_findings": run.findings,
    }


def _finish(run: _Run, error: dict[str, Any] | None, seconds: float) -> RunResult:
    """Return the result of a run now in its final place; ``latest`` moves to an ok run."""
    status = "failed" if error else "ok"
    message = error["message"] if error else None
    try:
        (run.final / LOCK_FILE).unlink(missing_ok=True)
        if status == "ok":
            _link_latest(run.final.parent, run.run_id)
    except OSError as exc:
        status, message = "failed", f"the run finished but `latest` was not moved to it: {exc}"
    return RunResult(run.mission_code, run.run_id, status, run.final, message, seconds,
                     run.records, run.findings)


def _run_steps(
    run: _Run, config: MissionConfig, staging: Path
) -> tuple[MissionConfig | None, MissionData | None, dict[str, Any], dict[str, Any] | None]:
    """Validate, execute the notebooks and check a run in ``staging``.

    Returns the run's configuration (None when its copy is unusable), the validated mission,
    the notebooks' parameters and the error (None when every step passed); the run's
    ``findings`` receive the plausibility check's findings.
    """
    chosen = run.options.notebooks
    try:
        todo = list(chosen if chosen is not None else notebook_paths())
        # Read once: the kernel imports what they import, papermill runs them.
        sources = {nb: nb.read_text(encoding="utf-8") for nb in todo}
    except OSError as exc:
        return config, None, {}, {"message": f"{type(exc).__name__}: {exc}",
                                  "step": "environment"}
    kernels = None
    if run.options.engine == ENGINE and todo:
        # Started now, the kernel imports the stack while this process validates the mission.
        kernels = KernelPool(_kernel_name(), notebook_imports(sources.values()))
        kernels.prestart()
    try:
        # A full run prints the brief: its printer starts with the notebooks, off the path.
        printer = run.printer if chosen is None else None
        return _validate_and_execute(run, config, staging,
                                     _Notebooks(todo, sources, kernels, printer))
    finally:
        if kernels is not None:
            kernels.close()


def _validate_and_execute(
    run: _Run, config: MissionConfig, staging: Path, notebooks: _Notebooks
) -> tuple[MissionConfig | None, MissionData | None, dict[str, Any], dict[str, Any] | None]:
    """Ingest and check the mission, execute the notebooks and publish what the gate passes.

    Returns as :func:`_run_steps`; the mission returned is the one the run held last (as
    ingested when it stopped before the cache was written).
    """
    from protection_eval.distributed import heavy_steps_on
    from protection_eval.runs.missions import load_mission, load_mission_for_audit

    restricted = staging / RESTRICTED
    try:
        run_config = _derived_config(config, run.options.period, restricted)
        config = load_mission_config(run_config)
    except ConfigError as exc:
        return None, None, {}, {"message": str(exc), "step": "configuration"}
    except OSError as exc:
        return None, None, {}, {"message": f"{type(exc).__name__}: {exc}",
                                "step": "environment"}
    parameters = _notebook_parameters(run.options, config, run_config, staging)
    mission: MissionData | None = None
    error: dict[str, Any] | None = None
    try:
        # The audit's needles are taken while the sources are read: the gate never reads them
        # again. HOOK: local or Dask. Track ingestion here, coverage and control points in
        # notebooks.
        with heavy_steps_on(run.options.scheduler, timeout=run.options.scheduler_timeout):
            mission, needles = load_mission_for_audit(config)
        _check_mission(mission, run_config, restricted, run.findings)
        # From here on the runner holds the mission as cached, each table read when first used
        # (the audit reads the incidents and areas): the mission as ingested, GPS tracks
        # included, is no longer held while the notebooks run.
        mission = load_mission(run_config)
        return_freed_memory()
        _execute_and_publish(run, staging, mission, needles, notebooks, parameters)
    except Exception as exc:
        error = _step_error(exc, restricted)
    return config, mission, parameters, error


def _notebook_parameters(
    options: RunOptions, config: MissionConfig, run_config: Path, staging: Path
) -> dict[str, Any]:
    """Return the papermill parameters every notebook of the run receives."""
    parameters = {
        "mission_config": str(run_config),
        "run_dir": str(staging),
        "restricted_dir": str(staging / RESTRICTED),
        "shared_dir": str(staging / SHARED),
        "seed": config.seed if options.seed is None else options.seed,
        **(options.extra_parameters or {}),
    }
    if options.scheduler:
        # The notebooks send their heavy steps to the same cluster (heavy_steps_on).
        parameters |= {"scheduler": options.scheduler,
                       "scheduler_timeout": options.scheduler_timeout}
    return parameters


def _check_mission(
    mission: MissionData, run_config: Path, restricted: Path, findings: list[str]
) -> None:
    """Refuse an unusable mission; write its validation and plausibility check, and cache it.

    ``findings`` receives the plausibility check's findings. Raises :class:`RunFailed` when
    validation left the mission unusable.
    """
    from protection_eval.runs.mission_cache import write_mission_cache
    from protection_eval.runs.plausibility import check_plausibility

    if not mission.validation.usable:
        write_validation(mission, restricted)
        raise RunFailed("; ".join(mission.validation.errors))
    # Before any figure: what the data can and cannot answer (validation.json, summary).
    check = check_plausibility(mission)
    write_validation(mission, restricted, check)
    findings[:] = check.findings
    write_mission_cache(mission, run_config)


def _execute_and_publish(
    run: _Run, staging: Path, mission: MissionData, needles: Any, notebooks: _Notebooks,
    parameters: dict[str, Any],
) -> None:
    """Execute the notebooks into the gate's staging folder; publish what its audit passes.

    Raises :class:`RunFailed` when the gate refuses the shared folder.
    """
    from protection_eval.runs.publish import publish_shared

    restricted, shared = staging / RESTRICTED, staging / SHARED

    def build(staged: Path) -> None:
        # The notebooks write their shared part into the gate's staging folder.
        parameters["shared_dir"] = str(staged)
        if notebooks.printer is not None:
            notebooks.printer.start()
        try:
            _execute_notebooks(run, notebooks, parameters, restricted)
        finally:
            if notebooks.kernels is not None:  # the kernels exit (and free their memory)
                notebooks.kernels.release()
        run.emit(None, "auditing")

    # The mission's ledger: this run's totals must not be subtracted from earlier runs'.
    outcome = publish_shared(build, shared, restricted, mission,
                             ledger=mission_file(staging.parent, "ledger"),
                             run=staging.name.removeprefix(STAGING_PREFIX), needles=needles)
    parameters["shared_dir"] = str(shared)
    if not outcome.published:
        raise RunFailed(outcome.message, findings=outcome.places, rejected=outcome.rejected)


def _step_error(exc: Exception, restricted: Path) -> dict[str, Any]:
    """Return the manifest's error for what stopped a run's steps, naming the step.

    Called while ``exc`` is being handled: an unexpected error keeps its traceback. An
    ingestion error's validation report is written into ``restricted``.
    """
    from protection_eval.ingest.tables import MissionInputError

    if isinstance(exc, SchedulerError):
        return {"message": str(exc), "step": "scheduler"}
    if isinstance(exc, RunFailed):
        error = {"message": str(exc), "step": exc.notebook or "run",
                 "notebook": exc.notebook, "cell": exc.cell}
        if exc.findings is not None:
            error["findings"] = exc.findings
        return error
    if isinstance(exc, LedgerError):
        return {"message": str(exc), "step": "ledger"}
    if isinstance(exc, InputFileError | MissionInputError):
        if getattr(exc, "report", None) is not None:
            write_validation_report(exc.report, restricted)
        return {"message": str(exc), "step": "ingestion"}
    if isinstance(exc, OSError):
        # A full disk, a read-only folder: the environment, not the mission, and no traceback.
        return {"message": f"{type(exc).__name__}: {exc}", "step": "environment"}
    return {"message": f"{type(exc).__name__}: {exc}", "step": "run",
            "traceback": traceback.format_exc(limit=8)}


def _unwritten(
    run: _Run, exc: OSError, error: dict[str, Any] | None, what: str
) -> RunResult:
    """Return the result of a run that could not be written: one clear line, no manifest."""
    # The reason first: a batch summary shows the first 160 characters.
    message = f"{type(exc).__name__}: {exc.strerror or exc}, no manifest written: {what}"
    if error:
        message += f"; the run had failed: {error['message']}"
    return RunResult(run.mission_code, run.run_id, "failed", run.final, message,
                     round(time.perf_counter() - run.started, 3), run.records)


def folder_label(stem: str) -> str:
    """Return a safe report folder name for a configuration file whose mission code is unknown.

    Characters other than letters, digits, ``-`` and ``_`` become ``_`` and the label is cut to
    :data:`~protection_eval.config.MISSION_CODE_MAX_LENGTH` characters, the limit of a mission
    code, so that the folder can always be created.
    """
    label = re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:MISSION_CODE_MAX_LENGTH]
    return label or "_"


def _take_lock(path: Path, *, wait: bool) -> IO[bytes] | None:
    """Open ``path`` and hold an exclusive ``flock`` on it; None when held elsewhere.

    The lock lasts as long as the returned file stays open, and ends with its process, so a
    killed run leaves no lock behind.
    """
    handle = open(path, "a+b")  # the open file is the lock
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    except OSError:
        handle.close()
        raise
    return handle


def _open_staging(mission_dir: Path, run_id: str) -> tuple[Path, IO[bytes]]:
    """Create a run's staging folder, holding its lock, after removing stale ones.

    The mission folder's lock is held meanwhile, so a cleaner never sees a staging folder
    between its creation and its lock.
    """
    mission_dir.mkdir(parents=True, exist_ok=True)
    staging = mission_dir / f"{STAGING_PREFIX}{run_id}"
    guard = _take_lock(mission_dir / LOCK_FILE, wait=True)
    try:
        _remove_stale_in(mission_dir)
        (staging / RESTRICTED).mkdir(parents=True)
        lock = _take_lock(staging / LOCK_FILE, wait=False)
    finally:
        if guard is not None:
            guard.close()
    if lock is None:  # the folder is new: nobody else can hold its lock
        raise OSError(f"{staging}: locked by another process")
    return staging, lock


def _remove_stale_in(mission_dir: Path) -> list[Path]:
    """Remove a mission folder's unlocked staging folders; its own lock must be held."""
    if fcntl is None:  # without flock a live run cannot be told from a dead one
        return []
    removed = []
    for staging in sorted(mission_dir.glob(f"{STAGING_PREFIX}*")):
        try:
            lock = _take_lock(staging / LOCK_FILE, wait=False)
        except OSError:
            continue
        if lock is None:
            continue  # a live run holds it
        try:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            lock.close()
        removed.append(staging)
    return removed


def remove_stale_staging(reports_dir: str | Path) -> list[Path]:
    """Delete the staging folders of interrupted runs; return what was removed.

    A run holds an exclusive ``flock`` on ``.lock`` in its staging folder for as long as it
    lives, and the lock dies with its process. A staging folder whose lock can be taken belongs
    to a dead run (it holds row-level data and unaudited shared files) and is removed; one whose
    lock is held is a live run and is left alone. :func:`run_mission` calls this for its mission
    folder on start, and :func:`protection_eval.runs.batch.run_missions` for every mission folder.
    Folders that cannot be locked or removed (read-only reports) are left, silently.

    Parameters
    ----------
    reports_dir : str or Path
        Root of the reports.

    Returns
    -------
    list of Path
        The staging folders removed.
    """
    removed: list[Path] = []
    root = Path(reports_dir)
    if not root.is_dir():
        return removed
    for mission_dir in sorted({s.parent for s in root.glob(f"*/{STAGING_PREFIX}*")}):
        try:
            guard = _take_lock(mission_dir / LOCK_FILE, wait=True)
        except OSError:
            continue
        try:
            removed += _remove_stale_in(mission_dir)
        finally:
            if guard is not None:
                guard.close()
    return removed
