"""Workbooks opened safely: measured before reading, read in a child process with limits.

A workbook is a zip of XML that says how big its sheets are only by the cells it holds. A 5 KB
.xlsx with one cell at ``XFD1048576`` made python-calamine ask for 512 GiB and abort the whole
process (exit 134, no summary, a staging folder left); a 1.5 KB .ods whose rows repeat expanded
to 5 million cells and 930 MB. So every workbook is read by :func:`read_guarded`:

1. **measured first** (:func:`measure_workbook`), streaming its XML without building it: for
   an .xlsx, the cells of each sheet (a cell's ``r`` reference, styled empty cells included,
   since some readers allocate them); for an .ods, the rows and columns that
   ``table:number-rows-repeated`` and ``table:number-columns-repeated`` make, up to the last
   non-empty cell (trailing empty repeats, which LibreOffice writes, are what readers skip). A
   sheet whose used range (last row x last column) exceeds :data:`WORKBOOK_CELL_LIMIT` cells
   is refused, naming the sheet and its size. An .xls (binary BIFF, at most 65,536 x 256 cells)
   is not measured: the limits below bound it;
2. **read in a child process** (a new interpreter) whose address space may grow by at most
   :data:`WORKBOOK_MEMORY_BYTES` (``resource.setrlimit(RLIMIT_AS)``) and which is stopped after
   :data:`WORKBOOK_SECONDS`; it hands back JSON, never a pickle. A reader that runs out of
   memory, aborts or overruns is an :class:`~protection_eval.io.errors.InputFileError` naming
   the file; the process that asked (a run, a batch, the audit) carries on.

The mission readers (:mod:`protection_eval.io.sheets`) and the audit of shared folders
(``sharing.audit.office``) both open workbooks through :func:`read_guarded`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, XMLPullParser

from protection_eval.io.errors import InputFileError

__all__ = [
    "WORKBOOK_CELL_LIMIT",
    "WORKBOOK_MEMORY_BYTES",
    "WORKBOOK_SECONDS",
    "SheetExtent",
    "WorkbookReaderError",
    "cell_to_text",
    "check_workbook_size",
    "measure_workbook",
    "read_guarded",
    "workbook_rows",
]

#: Most cells a sheet's used range (last row x last column) may span. A reader holds a sheet
#: as a grid of that many cells; a larger table is a CSV export, read in blocks of rows.
WORKBOOK_CELL_LIMIT = 4_000_000

#: How much a workbook reader's address space may grow beyond what the child process had
#: when it started reading.
WORKBOOK_MEMORY_BYTES = 2 * 2**30

#: Longest a workbook may take to be measured and read.
WORKBOOK_SECONDS = 300

_CHUNK = 1 << 20
_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_REFERENCE = re.compile(r"([A-Za-z]{1,3})(\d+)")
_MODULE = "protection_eval.io.workbooks"

T = TypeVar("T")


@dataclass(frozen=True)
class SheetExtent:
    """The used range of one sheet, as its XML declares it by the cells it holds.

    Attributes
    ----------
    name : str
        The sheet's name (or its part name when the workbook does not name it).
    rows, columns : int
        The last row and the last column holding a cell, from 1 (0: no cell).
    """

    name: str
    rows: int
    columns: int

    @property
    def cells(self) -> int:
        """Cells in the used range: what a reader holding the sheet as a grid allocates."""
        return self.rows * self.columns


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _stream(archive: zipfile.ZipFile, part: str, tags: set[str]) -> Iterator[tuple[str, Element]]:
    """Yield (event, element) for the named tags of one XML part, never holding it whole.

    Elements are cleared once their end is seen; their attributes are read at their start.
    """
    parser = XMLPullParser(events=("start", "end"))
    with archive.open(part) as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            parser.feed(chunk)
            for event, element in parser.read_events():
                local = element.tag.rpartition("}")[2]
                if local in tags:
                    yield event, element
                if event == "end":
                    element.clear()
    parser.close()


def _xlsx_sheets(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """Return (sheet name, part) for each worksheet of an .xlsx, in workbook order."""
    names = {i.filename for i in archive.infolist()}
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for event, rel in _stream(archive, "xl/_rels/workbook.xml.rels", {"Relationship"}):
            if event == "start":
                target = rel.get("Target", "")
                part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                targets[rel.get("Id", "")] = str(PurePosixPath(part))
    sheets: list[tuple[str, str]] = []
    if "xl/workbook.xml" in names:
        for event, sheet in _stream(archive, "xl/workbook.xml", {"sheet"}):
            part = targets.get(sheet.get(f"{{{_REL_NS}}}id", ""), "")
            if event == "start" and part in names:
                sheets.append((sheet.get("name", part), part))
    listed = {part for _, part in sheets}
    # A worksheet part the workbook does not list is measured too: a reader may still open it.
    sheets += [(n, n) for n in sorted(names)
               if n.startswith("xl/worksheets/") and n.endswith(".xml") and n not in listed]
    return sheets


def _xlsx_extent(archive: zipfile.ZipFile, name: str, part: str) -> SheetExtent:
    last_row = last_column = row = column = 0
    for event, element in _stream(archive, part, {"row", "c"}):
        if event != "start":
            continue
        reference = element.get("r")
        if element.tag.endswith("row"):
            row = int(reference) if reference and reference.isdigit() else row + 1
            column = 0
            continue
        match = _REFERENCE.fullmatch(reference or "")
        if match:
            column, row = _column_number(match.group(1)), int(match.group(2))
        else:
            column += 1
        last_row, last_column = max(last_row, row), max(last_column, column)
    return SheetExtent(name, last_row, last_column)


def _repeat(element: Element, attribute: str) -> int:
    value = element.get(f"{{{_TABLE_NS}}}{attribute}", "1")
    return int(value) if value.isdigit() else 1


def _ods_extents(archive: zipfile.ZipFile) -> list[SheetExtent]:
    """Measure every table of an .ods up to its last non-empty cell, repeats counted."""
    extents: list[SheetExtent] = []
    tags = {"table", "table-row", "table-cell", "covered-table-cell", "p"}
    name, row, column, repeat_rows = "", 0, 0, 1
    last_row = last_column = 0
    cell_filled, row_last = False, 0
    for event, element in _stream(archive, "content.xml", tags):
        local = element.tag.rpartition("}")[2]
        if local == "table" and event == "start":
            name = element.get(f"{{{_TABLE_NS}}}name", f"table {len(extents) + 1}")
            row = last_row = last_column = 0
        elif local == "table" and event == "end":
            extents.append(SheetExtent(name, last_row, last_column))
        elif local == "table-row" and event == "start":
            repeat_rows, column, row_last = _repeat(element, "number-rows-repeated"), 0, 0
        elif local == "table-row" and event == "end":
            if row_last:
                last_row, last_column = row + repeat_rows, max(last_column, row_last)
            row += repeat_rows
        elif local in ("table-cell", "covered-table-cell") and event == "start":
            repeat_columns = _repeat(element, "number-columns-repeated")
            cell_filled = element.get(f"{{{_OFFICE_NS}}}value-type") is not None
            column += repeat_columns
            if cell_filled:
                row_last = column
        elif local == "p" and event == "start":
            row_last = column  # a cell with text is not empty, whatever its value type
    return extents


def measure_workbook(path: Path) -> list[SheetExtent] | None:
    """Measure each sheet of an .xlsx, .xlsm or .ods without reading its cells.

    Parameters
    ----------
    path : Path
        The workbook.

    Returns
    -------
    list of SheetExtent or None
        One per sheet; None for an .xls (not measured: its format caps it at 65,536 x 256).

    Raises
    ------
    InputFileError
        A file that is not a readable zip of XML.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".xls":
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if suffix == ".ods":
                return _ods_extents(archive)
            return [_xlsx_extent(archive, name, part) for name, part in _xlsx_sheets(archive)]
    except (zipfile.BadZipFile, KeyError, OSError, SyntaxError, ValueError,
            RuntimeError, NotImplementedError) as exc:
        raise InputFileError(
            path, f"cannot be read as a workbook ({type(exc).__name__}: {exc})",
            "Check that the file is complete, not password-protected, and saved as .xlsx, "
            ".xls or .ods",
        ) from None


def check_workbook_size(path: Path, limit: int = WORKBOOK_CELL_LIMIT) -> None:
    """Refuse a workbook one of whose sheets spans more than ``limit`` cells.

    Raises
    ------
    InputFileError
        Naming the sheet, its used range and the limit.
    """
    for extent in measure_workbook(path) or []:
        if extent.cells > limit:
            raise InputFileError(
                path,
                f"sheet {extent.name!r} spans {extent.rows:,} rows x {extent.columns:,} columns "
                f"({extent.cells:,} cells), more than the {limit:,} cells a workbook sheet may "
                "span",
                "Delete the stray cells far from the table (Excel: select the empty rows and "
                "columns after it, Delete), or export the table as CSV",
            )


def _address_space() -> int:
    """Bytes of address space this process holds now (Linux; 0 where it cannot be told)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child_main(argv: list[str]) -> int:
    """Run as the child process: cap memory and CPU, measure, read, print the outcome as JSON.

    Arguments: the reader's module and name, the path, the JSON of its other arguments, the
    memory, CPU seconds and cell limits. The outcome, on the standard output the child started
    with (anything a library prints goes nowhere), is ``{"ok": value}`` or ``{"error": ...}``.
    """
    import importlib
    import resource

    module, name, path, args, memory, seconds, limit = argv
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)  # a reader's dying words (a Rust stack on a failed allocation) clutter
    ceiling = _address_space() + int(memory)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    cpu = int(float(seconds)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))  # holds even if the parent is gone
    try:
        reader = getattr(importlib.import_module(module), name)
        check_workbook_size(Path(path), int(limit))
        outcome: dict[str, Any] = {"ok": reader(Path(path), *json.loads(args))}
    except MemoryError:
        outcome = {"memory": True}
    except InputFileError as exc:
        outcome = {"error": "InputFileError", "problem": exc.problem, "action": exc.action}
    except Exception as exc:  # raised again in the parent, as its type's name and message
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    try:
        text = json.dumps(outcome, ensure_ascii=False, default=str)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"error": type(exc).__name__, "message": str(exc)})
    result.write(text)
    result.close()
    return 0


class WorkbookReaderError(RuntimeError):
    """An error a guarded reader raised in its child process, other than an InputFileError.

    Attributes
    ----------
    kind : str
        The name of the exception's type in the child (``UnauditableOffice``, ``KeyError``...).
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}" if message else kind)


def _child_command(reader: Callable[..., Any], path: Path, args: tuple, memory: int,
                   seconds: float, limit: int) -> list[str]:
    return [sys.executable, "-m", _MODULE,
            reader.__module__, reader.__qualname__, str(path), json.dumps(list(args)),
            str(memory), str(seconds), str(limit)]


def read_guarded(reader: Callable[..., T], path: Path, *args: Any,
                 memory: int = WORKBOOK_MEMORY_BYTES, seconds: float = WORKBOOK_SECONDS,
                 limit: int = WORKBOOK_CELL_LIMIT) -> T:
    """Measure a workbook, then run ``reader(path, *args)`` in a child process with limits.

    The child is a new Python interpreter (``python -m protection_eval.io.workbooks``), so it
    works under any parent (a batch worker, a Dask worker, a notebook kernel). It measures the
    workbook (:func:`check_workbook_size`), caps its address space (``RLIMIT_AS``) and CPU
    time (``RLIMIT_CPU``), and runs the reader. What comes back is JSON, never a pickle: a
    reader that a hostile file took over could send data, not code.

    Parameters
    ----------
    reader : callable
        A module-level function ``reader(path, *args)`` whose result is JSON (lists, dicts,
        text, numbers, booleans, None; other values come back as their text).
    path : Path
        The workbook.
    *args
        JSON values passed to ``reader`` after the path.
    memory : int
        Bytes the child's address space may grow by while it measures and reads.
    seconds : float
        Longest the child may take.
    limit : int
        Most cells a sheet's used range may span.

    Returns
    -------
    object
        What ``reader`` returned, as JSON gives it back (tuples become lists).

    Raises
    ------
    InputFileError
        A sheet beyond the cell limit, a reader that ran out of memory, aborted, was killed or
        took too long, each naming the file; an InputFileError the reader raised.
    WorkbookReaderError
        Any other error the reader raised (its type's name and its message).
    """
    path = Path(path)
    env = {**os.environ, "RUST_BACKTRACE": "0", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)}
    try:
        done = subprocess.run(
            _child_command(reader, path, args, memory, seconds, limit), env=env,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds, check=False,
        )
        outcome = json.loads(done.stdout) if done.stdout else {"died": done.returncode}
        if done.returncode == -signal.SIGXCPU:  # its CPU seconds ran out: it took too long
            outcome = {"timeout": True}
        if not done.stdout and done.returncode > 0:  # it could not start (not a signal)
            raise WorkbookReaderError("ChildProcessError", done.stderr.decode(
                "utf-8", "replace").strip()[-1000:])
    except subprocess.TimeoutExpired:
        outcome = {"timeout": True}
    except json.JSONDecodeError:
        outcome = {"died": "its output was cut"}
    if "ok" in outcome:
        return outcome["ok"]
    if outcome.get("error") == "InputFileError":
        raise InputFileError(path, outcome["problem"], outcome["action"])
    if "error" in outcome:
        raise WorkbookReaderError(outcome["error"], outcome.get("message", ""))
    if "timeout" in outcome:
        why = f"took longer than {seconds:g} seconds to read, and was stopped"
    elif "memory" in outcome:
        why = f"needs more than {memory / 2**30:g} GiB of memory to read"
    else:
        why = (f"stopped its reader (exit {outcome['died']}): reading it needs more than "
               f"{memory / 2**30:g} GiB of memory or {seconds:g} seconds, or the file is "
               "malformed")
    raise InputFileError(
        path, why, "Export the table as CSV, or remove what makes the workbook large "
        "(stray cells far from the table, repeated empty rows)",
    )


def cell_to_text(value: object) -> str:
    """Return one workbook cell as the text a person would type for it.

    Parameters
    ----------
    value : object
        A value as python-calamine returns it (str, float, int, bool, date, datetime, time,
        timedelta or None).

    Returns
    -------
    str
        ``""`` for an empty cell; ISO 8601 for dates and times; a whole float without ``.0``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _pick_sheet(names: list[str], path: Path, sheet: str | int | None) -> str:
    action = "Set `sheet:` of this source in the mission YAML to a name or a position from 1"
    if sheet is None:
        if len(names) != 1:
            raise InputFileError(
                path, f"holds {len(names)} sheets {names} and the mission YAML names none", action
            )
        return names[0]
    if isinstance(sheet, int):
        if not 1 <= sheet <= len(names):
            raise InputFileError(
                path, f"has no sheet {sheet}; it has {len(names)}: {names}", action
            )
        return names[sheet - 1]
    if sheet not in names:
        raise InputFileError(path, f"has no sheet {sheet!r}; its sheets are {names}", action)
    return sheet


def workbook_rows(path: Path, sheet: str | int | None) -> tuple[str, list[list[str]]]:
    """Read one sheet's cells as text with python-calamine (run it through :func:`read_guarded`).

    Returns
    -------
    name : str
        The sheet read.
    rows : list of list of str
        Every row of the sheet from row 1, each cell as :func:`cell_to_text` gives it.

    Raises
    ------
    InputFileError
        A file that is not a readable workbook, or a sheet that does not exist (or several
        sheets and none named).
    """
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        name = _pick_sheet(list(workbook.sheet_names), path, sheet)
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except InputFileError:
        raise
    except Exception as exc:  # calamine raises its own types for a broken or locked file
        raise InputFileError(
            path, f"cannot be read as a workbook ({type(exc).__name__}: {exc})",
            "Check that the file is complete, not password-protected, and saved as .xlsx, "
            ".xls or .ods",
        ) from None
    return name, [[cell_to_text(v) for v in row] for row in rows]


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
