"""Inside a warm kernel: what a notebook leaves behind, put back before the next one runs.

A mission's notebooks share one kernel (:mod:`protection_eval.runs.kernels`), so that the
scientific stack and the library are imported once per run rather than once per notebook. The
imports are the only thing meant to carry over. Before each notebook the runner calls
:func:`restore` in the kernel, which gives the notebook the state a fresh kernel would have:

- the user namespace is emptied (IPython's ``reset``: every name, ``In``/``Out``/``_``, the
  execution count back to 1, so cells are numbered as in a fresh kernel), and the last
  exception's traceback (``sys.last_*``, which holds the frames of a failed cell) is dropped;
- warnings: the filters as they were, and the "already shown" registries of every module
  forgotten, so a warning a notebook showed is shown again by the next one;
- ``os.environ``, the working directory and ``sys.path`` as they were;
- matplotlib: every figure closed, the backend and ``rcParams`` as they were; pandas' options
  as they were;
- the root logger's level and handlers, and ``logging.disable``, as they were;
- the module globals of the library (``protection_eval.*``) as they were: a notebook that
  rebinds one (``protection_eval.config.MIN_K = 3``) does not change the next notebook's;
- the legacy global random generators (``random``, ``numpy.random``) seeded afresh from the
  operating system, as in a new process (the library takes its seeds as parameters);
- freed memory collected and handed back to the system (glibc), so a long run's kernel holds
  no more than its largest notebook needs. What :func:`warm` imported is moved out of the
  collector's sight (``gc.freeze``): the modules stay for the whole run, and each collection,
  between notebooks and within them, then walks only what the notebooks made rather than the
  stack's few hundred thousand objects again.

"As they were" means as :func:`warm` found them, after the kernel started and imported what
the run's notebooks import. What is not put back, and is documented as shared within one
mission's run: modules stay imported (their in-place mutable state, such as a dict a notebook
changed inside a library module, and the library's read-only caches of files installed with
the package); IPython configuration changed with ``%config`` and display formatters a notebook
registers; threads or processes a notebook started and left running. The notebooks of this
project do none of these.

This module imports only the standard library at import time: it runs inside the kernel,
before and between notebooks.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import sys
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from protection_eval.memory import return_freed_memory

__all__ = ["restore", "warm"]

#: The library's package: its modules' globals are put back between notebooks.
LIBRARY = "protection_eval"
#: rcParams never put back: switching the backend is not a value to restore.
_RC_KEPT = frozenset({"backend", "backend_fallback"})


@dataclass
class _Snapshot:
    """The interpreter state a notebook starts from."""

    warning_filters: list[Any]
    showwarning: Any
    formatwarning: Any
    environ: dict[str, str]
    cwd: str
    path: list[str]
    logging_level: int
    logging_handlers: list[logging.Handler]
    logging_disabled: int
    backend: str | None = None
    rc_params: dict[str, Any] | None = None
    pandas_options: dict[str, Any] | None = None
    module_globals: dict[str, dict[str, Any]] = field(default_factory=dict)


_snapshot: _Snapshot | None = None


def warm(imports: str = "") -> None:
    """Run the notebooks' import statements, then record the state every notebook starts from.

    Parameters
    ----------
    imports : str
        Python source made of import statements (the run's notebooks' own, see
        :func:`protection_eval.runs.kernels.notebook_imports`). Each runs in a scratch
        namespace; one that fails is left for the notebook to fail on, with its own message.
    """
    global _snapshot
    for statement in imports.splitlines():
        if statement.strip():
            try:
                exec(statement, {})  # the notebooks' own import lines, nothing else
            except Exception:  # the notebook that needs it raises the same error in its cell
                continue
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        # pyplot loads its backend with the first figure, and the inline backend then switches
        # interactive mode on and sets rcParams: load it now (no figure is open), so that the
        # state recorded is the one a notebook's first figure meets in a new kernel.
        pyplot.switch_backend(sys.modules["matplotlib"].get_backend())
    _snapshot = _settle()


def restore(shell: Any) -> None:
    """Give the next notebook the state of a fresh kernel (see the module's docstring).

    Parameters
    ----------
    shell : IPython.core.interactiveshell.InteractiveShell
        The kernel's shell (``get_ipython()``).
    """
    global _snapshot
    if _snapshot is None:
        _snapshot = _settle()
    shell.reset(new_session=True)
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    _restore_warnings(_snapshot)
    _restore_process(_snapshot)
    _restore_plotting(_snapshot)
    _restore_library(_snapshot)
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    gc.collect()
    return_freed_memory()


def _settle() -> _Snapshot:
    """Collect garbage, record the state notebooks start from and freeze what is alive."""
    gc.collect()
    snapshot = _take_snapshot()
    # Everything alive now (the imported stack, the snapshot) lives as long as the kernel: a
    # full collection would walk it again every time, a third of a second with the stack.
    gc.freeze()
    return snapshot


def _take_snapshot() -> _Snapshot:
    root = logging.getLogger()
    snapshot = _Snapshot(
        warning_filters=list(warnings.filters),
        showwarning=warnings.showwarning,
        formatwarning=warnings.formatwarning,
        environ=dict(os.environ),
        cwd=os.getcwd(),
        path=list(sys.path),
        logging_level=root.level,
        logging_handlers=list(root.handlers),
        logging_disabled=logging.root.manager.disable,
    )
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        snapshot.rc_params = {k: v for k, v in dict.items(matplotlib.rcParams)
                              if k not in _RC_KEPT}
        if "matplotlib.pyplot" in sys.modules:
            snapshot.backend = matplotlib.get_backend()
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        snapshot.pandas_options = _pandas_options(pandas)
    _snapshot_library(snapshot)
    return snapshot


def _library_modules() -> dict[str, ModuleType]:
    # This module's own state is the snapshot: never put back.
    return {name: module for name, module in list(sys.modules.items())
            if module is not None and name != __name__
            and (name == LIBRARY or name.startswith(LIBRARY + "."))}


def _snapshot_library(snapshot: _Snapshot) -> None:
    """Record the globals of library modules not yet recorded (imported since)."""
    for name, module in _library_modules().items():
        if name not in snapshot.module_globals:
            snapshot.module_globals[name] = dict(vars(module))


def _restore_library(snapshot: _Snapshot) -> None:
    for name, saved in snapshot.module_globals.items():
        module = sys.modules.get(name)
        if module is None:
            continue
        current = vars(module)
        # A submodule imported since is bound on its package: that binding stays.
        for key in [k for k, v in current.items()
                    if k not in saved and not isinstance(v, ModuleType)]:
            del current[key]
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value
    # A module first imported by the notebook that just ran: its state now is the best known.
    _snapshot_library(snapshot)


_MISSING = object()


def _restore_warnings(snapshot: _Snapshot) -> None:
    warnings.filters[:] = snapshot.warning_filters
    warnings.showwarning = snapshot.showwarning
    warnings.formatwarning = snapshot.formatwarning
    warnings.onceregistry.clear()
    # Entering and leaving catch_warnings marks the filters as changed, which is how Python
    # tells every module's ``__warningregistry__`` to forget the warnings it has shown.
    with warnings.catch_warnings():
        pass


def _restore_process(snapshot: _Snapshot) -> None:
    for key in [k for k in os.environ if k not in snapshot.environ]:
        del os.environ[key]
    for key, value in snapshot.environ.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    if os.getcwd() != snapshot.cwd:
        os.chdir(snapshot.cwd)
    sys.path[:] = snapshot.path
    root = logging.getLogger()
    root.setLevel(snapshot.logging_level)
    root.handlers[:] = snapshot.logging_handlers
    logging.disable(snapshot.logging_disabled)


def _restore_plotting(snapshot: _Snapshot) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
        # A notebook that chose another backend (matplotlib.use, %matplotlib) chose it for
        # itself: the next one draws inline, as in a new kernel.
        if snapshot.backend is not None and sys.modules["matplotlib"].get_backend() != (
                snapshot.backend):
            pyplot.switch_backend(snapshot.backend)
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        if snapshot.rc_params is None:
            # Imported by a notebook, not by the warm-up: its state after that notebook is kept
            # as the state to return to.
            snapshot.rc_params = {k: v for k, v in dict.items(matplotlib.rcParams)
                                  if k not in _RC_KEPT}
        else:
            changed = {k: v for k, v in snapshot.rc_params.items()
                       if dict.get(matplotlib.rcParams, k, _MISSING) != v}
            if changed:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # deprecated keys set back as they were
                    matplotlib.rcParams.update(changed)
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        if snapshot.pandas_options is None:
            snapshot.pandas_options = _pandas_options(pandas)
        else:
            current = _pandas_options(pandas)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for key, value in snapshot.pandas_options.items():
                    if current.get(key, _MISSING) != value:
                        pandas.set_option(key, value)


def _pandas_options(pandas: ModuleType) -> dict[str, Any]:
    """Every pandas option's value, by its full key (``display.max_rows``)."""
    values: dict[str, Any] = {}

    def walk(prefix: str, options: Any) -> None:
        for name in dir(options):
            key = f"{prefix}{name}"
            value = getattr(options, name)
            if type(value) is type(options):  # a group of options (pandas' DictWrapper)
                walk(key + ".", value)
            else:
                values[key] = value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated options warn when read
        walk("", pandas.options)
    return values
