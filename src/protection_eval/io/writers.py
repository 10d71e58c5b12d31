"""Writers: every file the library writes goes through here, atomically.

A file is built beside its destination and moved into place, so a reader (a notebook, the audit,
a commander's browser) never sees half a file. Formats are chosen by extension. Every CSV is made
spreadsheet-safe: a text cell that a spreadsheet would run as a formula gets a leading ``'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "CSV_BLOCK_ROWS",
    "FORMULA_TRIGGERS",
    "file_sha256",
    "neutralise_formula",
    "read_json",
    "to_spreadsheet_safe",
    "write_bytes",
    "write_geopackage",
    "write_json",
    "write_table",
    "write_text",
]


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically (built beside ``path``, then moved into place); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    path = Path(path)
    write_bytes(path, text.encode("utf-8"))
    return path


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (sorted keys, indented, dates as ISO text) atomically; returns the path."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_DIGITS = frozenset("0123456789")


def _is_plain_number(text: str) -> bool:
    """Whether ``text`` is a signed decimal such as ``-3``, ``-0.5``, ``+1,234.5`` or ``-2e-05``."""
    mantissa, marker, exponent = text.lower().partition("e")
    body = mantissa[1:] if mantissa[:1] in "+-" else mantissa
    if not body or not _DIGITS & set(body) or not set(body) <= _DIGITS | {".", ","}:
        return False
    if not marker:
        return True
    digits = exponent[1:] if exponent[:1] in "+-" else exponent
    return bool(digits) and set(digits) <= _DIGITS


def neutralise_formula(value: Any) -> Any:
    """Return a cell value that no spreadsheet will run as a formula.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading single quote
    (OWASP's advice against CSV injection), so ``-2+3+cmd|' /C notepad'!A0`` is shown as that
    text instead of being evaluated. Numbers are left alone, whether stored as numbers or as
    text (``-3``, ``-0.5``): a spreadsheet reads those as numbers, never as formulas. Every
    shared CSV or XLSX writer passes its cells through this function (through
    :func:`to_spreadsheet_safe`).

    Parameters
    ----------
    value : Any
        A cell.

    Returns
    -------
    Any
        ``value`` unchanged, or the quoted text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        if not _is_plain_number(value):
            return "'" + value
    return value


def _spreadsheet_cell(value: Any) -> Any:
    value = neutralise_formula(value)
    if isinstance(value, str) and "\r" in value:
        # Python's csv writer quotes a field only for the characters of its line terminator
        # ("\n" here), so a bare carriage return would end the row early in a spreadsheet and
        # start a new, unneutralised cell; as a line feed it stays inside a quoted cell.
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def to_spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells and headers are neutralised for spreadsheets.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table about to be written as CSV or XLSX.

    Returns
    -------
    pandas.DataFrame
        The same table with :func:`neutralise_formula` applied to every text cell and column
        name, and carriage returns inside text turned into line feeds (which a CSV writer
        quotes); numeric, date and geometry columns are untouched.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            out[column] = values.map(_spreadsheet_cell, na_action="ignore")
        elif isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.cat.rename_categories(
                [_spreadsheet_cell(c) for c in values.cat.categories]
            )
    out.columns = [_spreadsheet_cell(c) for c in out.columns]
    return out


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    layer: str | None = None,
    raw_cells: bool = False,
) -> Path:
    """Write a frame by the path's extension: csv, parquet, gpkg (with ``layer``) or geojson.

    A CSV's text cells go through :func:`to_spreadsheet_safe` first: every CSV a run writes,
    shared or restricted, is meant to be opened in a spreadsheet, so no cell may be a formula.
    A CSV is made safe and written :data:`CSV_BLOCK_ROWS` rows at a time (the same bytes as
    the whole table at once), so a large quarantine table is never held as text whole.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        The table.
    path : str or Path
        Destination; folders are created.
    layer : str, optional
        GeoPackage layer name; several layers can be written to one file.
    raw_cells : bool
        Write CSV cells exactly as they are. Only for input files that must look like a field
        export (the synthetic demo sources); never for an output.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        _write_csv(frame, path, raw_cells=raw_cells)
    elif suffix in {".parquet", ".geoparquet"}:
        frame.to_parquet(path, index=False)
    elif suffix == ".gpkg":
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    elif suffix in {".geojson", ".json"}:
        write_text(frame.to_json(drop_id=True), path)
    else:
        raise ValueError(f"cannot write {path}: unknown extension {suffix!r}")
    return path


#: Rows turned into CSV text at a time: the spreadsheet-safe copy of the cells (one Python
#: string a cell) and the text of a block, not of the table, are held at once. A quarantine
#: table of 700,000 rows cost about 200 MB more written whole (docs/performance.md).
CSV_BLOCK_ROWS = 50_000


def _csv_blocks_agree(frame: pd.DataFrame) -> bool:
    """Whether every column prints cell by cell, so that blocks print as the whole table.

    pandas chooses the text of a naive date-time or duration column from the whole column
    (dates only when every value is at midnight, the finest fraction of a second any value
    has), and the spreadsheet-safe copy of a column of Python objects takes one dtype for
    the column (numbers and empty cells become floats: ``0`` prints ``0.0`` beside an empty
    cell); a column of text, or of any dtype but those, prints each cell on its own.
    """
    for column in range(frame.shape[1]):
        values = frame.iloc[:, column]
        dtype = values.dtype
        if pd.api.types.is_timedelta64_dtype(dtype) or (
            pd.api.types.is_datetime64_dtype(dtype) and getattr(dtype, "tz", None) is None
        ):
            return False
        kind = pd.api.types.infer_dtype(values, skipna=True) if dtype == "O" else "string"
        if kind not in ("string", "empty"):
            return False
    return True


def _write_csv(
    frame: pd.DataFrame, path: Path, *, raw_cells: bool = False, block_rows: int | None = None
) -> Path:
    """Write ``frame`` as CSV ``block_rows`` rows at a time, atomically.

    The bytes are those of one ``to_csv`` of the whole (spreadsheet-safe) table: header once,
    then each block's rows. A table with a column whose text depends on the whole column
    (:func:`_csv_blocks_agree`) is written in one block.
    """
    rows = (block_rows or CSV_BLOCK_ROWS) if _csv_blocks_agree(frame) else max(len(frame), 1)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for start in range(0, max(len(frame), 1), rows):
                block = frame.iloc[start:start + rows]
                block = block if raw_cells else to_spreadsheet_safe(block)
                block.to_csv(handle, index=False, header=start == 0, lineterminator="\n")
                del block
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_geopackage(layers: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write a new GeoPackage holding ``layers`` (name -> GeoDataFrame), replacing any old one.

    The file is built beside its destination and moved into place, so a reader never sees a
    GeoPackage with some layers missing or left over from an earlier write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".gpkg")
    os.close(fd)
    Path(tmp).unlink()
    try:
        for name, frame in layers.items():
            frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
