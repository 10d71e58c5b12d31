"""Workbooks (.xlsx, .xls, .ods) and HXL hashtag rows, read as text like a CSV.

python-calamine reads all three workbook formats without Excel. A cell is returned as the text a
person would type for it: a date cell as ``2024-05-28``, a date-time as ``2024-05-28T14:30:00``,
a whole number without ``.0``. Nothing is parsed here: ingestion knows what each column means.
A workbook is measured before it is read, and read in a child process with memory and time
limits (:mod:`protection_eval.io.workbooks`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from protection_eval.io.errors import InputFileError
from protection_eval.io.workbooks import cell_to_text, read_guarded, workbook_rows
from protection_eval.presets import HXL_TAG, propose_hxl_columns

__all__ = ["cell_to_text", "read_workbook", "skip_hxl_row"]

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


def read_workbook(path: Path, *, sheet: str | int | None, header_row: int) -> pd.DataFrame:
    """Read one worksheet as text cells with a ``source_row`` (the sheet's row number).

    Parameters
    ----------
    path : Path
        An .xlsx, .xlsm, .xls or .ods file.
    sheet : str or int or None
        Sheet name, or position from 1; None when the workbook has one sheet.
    header_row : int
        Row holding the column names, from 1.

    Returns
    -------
    pandas.DataFrame
        ``source_row`` then one text column per header cell. Columns with neither a name nor a
        value are left out; a column with values and no name is called ``Unnamed: <n>``
        (n from 0, as pandas names them in a CSV).

    Raises
    ------
    InputFileError
        A file that is not a readable workbook, a sheet that does not exist (or several sheets
        and none named), a header row beyond the sheet's last row, or a workbook beyond the
        limits of :func:`~protection_eval.io.workbooks.read_guarded` (a sheet spanning more
        than :data:`~protection_eval.io.workbooks.WORKBOOK_CELL_LIMIT` cells, a reader out of
        memory or time).
    """
    name, rows = read_guarded(workbook_rows, path, sheet)
    if len(rows) < header_row:
        raise InputFileError(
            path, f"sheet {name!r} has {len(rows)} rows, so no header on row {header_row}",
            "Set `header_row:` of this source to the row that holds the column names",
        )
    width = max(len(r) for r in rows)
    text = [r + [""] * (width - len(r)) for r in rows[header_row - 1:]]
    header = [h.strip() for h in text[0]]
    body = text[1:]
    keep = [
        i for i in range(width)
        if header[i] or any(row[i].strip() for row in body)
    ]
    names = [header[i] or f"Unnamed: {i}" for i in keep]
    frame = pd.DataFrame([[row[i] for i in keep] for row in body], columns=names, dtype=object)
    if not body:
        frame = pd.DataFrame(columns=names, dtype=object)
    frame.insert(0, "source_row", range(header_row + 1, header_row + 1 + len(body)))
    return frame


def skip_hxl_row(
    frame: pd.DataFrame, table: str, *, propose: bool
) -> tuple[pd.DataFrame, list[str]]:
    """Take out an HXL hashtag row under the header, and say so.

    A row is an HXL hashtag row when it is the first row under the header and every non-empty
    cell in it is a hashtag (``#date``, ``#geo+lat``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Text cells with ``source_row``, as a reader returns them.
    table : str
        Canonical table name, for the proposal.
    propose : bool
        Whether to propose a column map from the hashtags (``hxl: true``).

    Returns
    -------
    frame : pandas.DataFrame
        Without the hashtag row.
    notes : list of str
        What was skipped, and the proposal when asked for (never applied).
    """
    columns = [c for c in frame.columns if c not in ("source_row", "geometry")]
    if frame.empty or not columns:
        return frame, (["hxl: true, but the file has no row under its header"] if propose else [])
    first = frame.iloc[0]
    cells = {c: str(first[c]).strip() for c in columns if str(first[c]).strip()}
    is_hxl = bool(cells) and all(HXL_TAG.match(v) for v in cells.values())
    row = int(first["source_row"])
    if not is_hxl:
        note = f"hxl: true, but row {row} under the header holds no HXL hashtags"
        return frame, ([note] if propose else [])
    notes = [
        f"row {row} holds HXL hashtags ({', '.join(cells.values())}) and was skipped: it is "
        "not a data row"
    ]
    if propose:
        proposal = propose_hxl_columns(table, cells)
        if proposal:
            mapped = ", ".join(f"{k!r}: {v}" for k, v in proposal.items())
            notes.append(
                f"the hashtags propose sources.{table}.columns: {{{mapped}}}. This is a "
                "proposal only: copy it into the mission YAML to use it"
            )
        else:
            notes.append(f"no hashtag names a column of the {table} table")
    return frame.iloc[1:].reset_index(drop=True), notes
