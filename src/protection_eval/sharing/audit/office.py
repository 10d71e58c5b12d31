"""Office and data files in a shared folder: XLSX, ODS, GeoPackage and Parquet, cell by cell.

A spreadsheet or a columnar file is not text, but a reader opens it as easily as a CSV: the
audit reads every sheet (hidden ones too), every cell (formulas as written and their cached
values, cell comments), every layer and every column, and hands them to the same rules as a CSV
or a GeoJSON. Every other part of the file (each XML part of the zip, all Parquet metadata,
every GeoPackage table that is not a layer) is read as text by
:mod:`protection_eval.sharing.audit.containers`, so a part no reader here knows cannot hide
text. What cannot be read with certainty (macros, embedded objects, encrypted or broken
files, binary columns that are not geometry) is refused as unauditable, never waved through.

This module only reads; the scanner (:mod:`protection_eval.sharing.audit.scan`) applies the
rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OFFICE_SUFFIXES", "OfficeContent", "read_office_file", "reading_workbooks_once"]

#: File suffixes read by :func:`read_office_file`.
OFFICE_SUFFIXES = frozenset({".xlsx", ".xlsm", ".ods", ".gpkg", ".parquet", ".geoparquet"})

_MACRO_PARTS = ("vbaproject.bin", "basic/", "scripts/", "activex", "macrosheets/")
_OBJECT_PARTS = ("embeddings/", "object ", "externallinks/")
_IMAGE_PARTS = ("xl/media/", "pictures/", "media/")


@dataclass
class OfficeContent:
    """What one office or data file holds, ready for the rules.

    Attributes
    ----------
    sheets : list of (str, list of list)
        Each sheet's name (``[hidden]`` marked) and its rows of cell values, the first row the
        header. Formula cells appear as their formula text and, after it, their cached value.
    features : list of (str, dict)
        Each layer or table of a GeoPackage or Parquet file as a GeoJSON FeatureCollection
        (rows without geometry are features with ``geometry`` None).
    notes : list of (str, str)
        Cell comments and other free text, with where they are.
    parts : list of (str, str)
        The text of every part of the container (each XML part of a zip, Parquet metadata,
        GeoPackage tables that are not layers), with where it is
        (:mod:`protection_eval.sharing.audit.containers`).
    images : list of (str, bytes)
        Raster images embedded in the file, with their part name.
    refused : list of str
        Why parts of the file cannot be audited (macros, embedded objects, binary columns).
    """

    sheets: list[tuple[str, list[list[Any]]]] = field(default_factory=list)
    features: list[tuple[str, dict]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    parts: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class UnauditableOffice(ValueError):
    """The file cannot be opened; the message says why and what to do."""


#: Workbooks read inside :func:`reading_workbooks_once`, by kind and the sha256 of their bytes.
_READ_ONCE: ContextVar[dict[tuple[str, str], OfficeContent] | None] = ContextVar(
    "_READ_ONCE", default=None)


@contextmanager
def reading_workbooks_once() -> Iterator[None]:
    """Within the block, read each workbook (XLSX, ODS) once, however often it is asked for.

    The gate reads a shared folder's workbooks for the audit's rules, again for the totals
    they publish (differencing) and again for the ledger, each time in a new child process
    (:func:`protection_eval.io.workbooks.read_guarded`). Inside the block, a workbook whose
    bytes were read already gives back the same :class:`OfficeContent` (which callers only
    read); one whose bytes changed while it was read is not remembered, and a workbook that
    cannot be read is tried again. Outside the block every call reads the file.
    """
    token = _READ_ONCE.set({})
    try:
        yield
    finally:
        _READ_ONCE.reset(token)


def read_office_file(path: Path) -> OfficeContent:
    """Read an XLSX, ODS, GeoPackage or Parquet file for the audit.

    Parameters
    ----------
    path : Path
        The file; its suffix picks the reader.

    Returns
    -------
    OfficeContent
        Sheets, layers, notes, images and the parts refused.

    Raises
    ------
    UnauditableOffice
        When the file cannot be opened at all (corrupt, encrypted, wrong format).
    """
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_guarded(path, "xlsx")
        if suffix == ".ods":
            return _read_guarded(path, "ods")
        if suffix == ".gpkg":
            return _read_gpkg(path)
        if suffix in (".parquet", ".geoparquet"):
            return _read_parquet(path)
    except UnauditableOffice:
        raise
    except Exception as exc:
        raise UnauditableOffice(
            f"cannot be opened as {suffix[1:].upper()} ({type(exc).__name__}: {exc}); "
            "share it as CSV instead"
        ) from None
    raise UnauditableOffice(f"{suffix} is not an office or data format the audit reads")


def _read_guarded(path: Path, kind: str) -> OfficeContent:
    """Read a workbook in a child process, once per content in :func:`reading_workbooks_once`."""
    read = _READ_ONCE.get()
    if read is None:
        return _read_in_child(path, kind)
    key = (kind, _sha256(path))
    if key not in read:
        content = _read_in_child(path, kind)
        if _sha256(path) != key[1]:  # changed while the child read it: not this content's
            return content
        read[key] = content
    return read[key]


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_in_child(path: Path, kind: str) -> OfficeContent:
    """Read a workbook measured first, then in a child process with memory and time limits.

    The readers' guard (:func:`protection_eval.io.workbooks.read_guarded`): a sheet spanning
    more cells than the limit, or a reader out of memory or time, is unauditable.
    """
    import base64

    from protection_eval.io.errors import InputFileError
    from protection_eval.io.workbooks import WorkbookReaderError, read_guarded

    try:
        data = read_guarded(_content_as_json, path, kind)
    except InputFileError as exc:
        raise UnauditableOffice(f"{exc.problem}; share it as CSV instead") from None
    except WorkbookReaderError as exc:
        if exc.kind == UnauditableOffice.__name__:
            raise UnauditableOffice(str(exc).removeprefix(f"{exc.kind}: ")) from None
        raise
    return OfficeContent(
        sheets=[(name, rows) for name, rows in data["sheets"]],
        notes=[(where, text) for where, text in data["notes"]],
        parts=[(where, text) for where, text in data["parts"]],
        images=[(where, base64.b64decode(blob)) for where, blob in data["images"]],
        refused=list(data["refused"]),
    )


def _content_as_json(path: Path, kind: str) -> dict[str, Any]:
    """Read a workbook (in the guard's child process) and return its content as JSON."""
    import base64

    content = _read_xlsx(path) if kind == "xlsx" else _read_ods(path)
    return {"sheets": content.sheets, "notes": content.notes, "parts": content.parts,
            "refused": content.refused,
            "images": [(where, base64.b64encode(blob).decode("ascii"))
                       for where, blob in content.images]}


def _zip_parts(path: Path, content: OfficeContent) -> None:
    """Refuse macros and embedded objects; collect embedded images; read every other part."""
    from protection_eval.sharing.audit.containers import zip_parts_text
    from protection_eval.sharing.audit.structure import image_kind

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UnauditableOffice(
            "is not a valid zip package (encrypted or corrupt); share it as CSV instead"
        ) from None
    with archive:
        handled = []
        for name in archive.namelist():
            lowered = name.lower()
            if any(part in lowered for part in _MACRO_PARTS):
                content.refused.append(f"holds macros ({name})")
            elif any(part in lowered for part in _OBJECT_PARTS):
                content.refused.append(f"holds an embedded object or external link ({name})")
            elif any(lowered.startswith(part) or f"/{part}" in lowered for part in _IMAGE_PARTS):
                data = archive.read(name)
                if image_kind(data) is not None:
                    content.images.append((name, data))
                else:
                    content.refused.append(f"holds an embedded file that is not an image ({name})")
            else:
                continue
            handled.append(name)
        # Every other part, whatever its name: text boxes, headers, properties, custom XML...
        _add_parts(content, zip_parts_text(archive, handled, image_kind=image_kind))


def _add_parts(content: OfficeContent, parts: Any) -> None:
    content.parts += parts.texts
    content.refused += parts.refused
    content.images += parts.images


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_xlsx(path: Path) -> OfficeContent:
    import openpyxl

    content = OfficeContent()
    _zip_parts(path, content)
    formulas = openpyxl.load_workbook(path, data_only=False)
    cached = openpyxl.load_workbook(path, data_only=True)
    for sheet in formulas.worksheets:
        values = cached[sheet.title]
        label = sheet.title if sheet.sheet_state == "visible" else f"{sheet.title} [hidden]"
        rows = []
        for row in sheet.iter_rows():
            out = []
            for cell in row:
                value = _cell(cell.value)
                if isinstance(value, str) and value.startswith("="):
                    # A formula is text a reader sees; its cached value is what it shows. It
                    # is also computed again when opened (it may fetch, or derive a hidden
                    # value), so the audit cannot vouch for it: the project writes none.
                    content.notes.append((f"{label}!{cell.coordinate} formula", value))
                    content.refused.append(f"{label}!{cell.coordinate} holds a formula")
                    value = _cell(values[cell.coordinate].value)
                if cell.comment is not None:
                    content.notes.append((f"{label}!{cell.coordinate} comment", cell.comment.text))
                out.append(value)
            rows.append(out)
        content.sheets.append((label, rows))
    for name, defined in formulas.defined_names.items():
        content.notes.append((f"defined name {name}", str(defined.value)))
    return content


def _read_ods(path: Path) -> OfficeContent:
    import pandas as pd

    content = OfficeContent()
    _zip_parts(path, content)
    sheets = pd.read_excel(path, engine="odf", sheet_name=None, header=None, dtype=object)
    for name, frame in sheets.items():
        rows = [[_cell(None if pd.isna(v) else v) for v in row] for row in frame.itertuples(
            index=False)]
        content.sheets.append((str(name), rows))
    return content


def _features(frame: Any, geometries: list | None) -> dict:
    """Return a table as a GeoJSON FeatureCollection, values made JSON-like."""
    import shapely.geometry

    records = frame.to_dict(orient="records")
    features = []
    for i, record in enumerate(records):
        geometry = None
        if geometries is not None and geometries[i] is not None and not geometries[i].is_empty:
            geometry = shapely.geometry.mapping(geometries[i])
            geometry = _listify(geometry)
        properties = {str(k): _cell(_plain(v)) for k, v in record.items()}
        features.append({"type": "Feature", "properties": properties, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple | dict | bytes | np.ndarray)
                         and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _refuse_binary(content: OfficeContent, where: str, frame: Any) -> Any:
    from protection_eval.sharing.audit.structure import image_kind

    for column in list(frame.columns):
        blobs = [v for v in frame[column] if isinstance(v, bytes | bytearray | memoryview)]
        if not blobs:
            continue
        for j, blob in enumerate(blobs):
            if image_kind(bytes(blob)) is not None:
                content.images.append((f"{where} column {column} value {j + 1}", bytes(blob)))
            else:
                content.refused.append(f"{where} column {column} holds binary values")
                break
        frame = frame.drop(columns=column)
    return frame


def _read_gpkg(path: Path) -> OfficeContent:
    from protection_eval.io.spatial import read_spatial_layers
    from protection_eval.sharing.audit.containers import gpkg_tables_text
    from protection_eval.sharing.audit.structure import image_kind

    content = OfficeContent()
    # The GeoPackage driver only, GDAL's network off (a VRT named .gpkg is refused).
    layers = []
    for name, frame in read_spatial_layers(path, "gpkg"):
        layers.append(str(name))
        geometries = list(frame.geometry) if "geometry" in frame else None
        table = frame.drop(columns="geometry") if "geometry" in frame else frame
        table = _refuse_binary(content, f"layer {name}", table)
        content.features.append((f"layer {name}", _features(table, geometries)))
    # Layer descriptions, metadata, unregistered tables, triggers: every table not read above.
    _add_parts(content, gpkg_tables_text(path, layers, image_kind=image_kind))
    return content


def _read_parquet(path: Path) -> OfficeContent:
    import json

    import pyarrow.parquet as pq
    import shapely

    from protection_eval.sharing.audit.containers import parquet_metadata_text

    content = OfficeContent()
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    geo = json.loads(metadata.get(b"geo", b"{}") or b"{}")
    geo_columns = list(geo.get("columns", {}))
    frame = table.to_pandas()
    geometries = None
    if geo_columns:
        column = geo.get("primary_column", geo_columns[0])
        geometries = [None if v is None else shapely.from_wkb(bytes(v)) for v in frame[column]]
        frame = frame.drop(columns=geo_columns)
    frame = _refuse_binary(content, "table", frame)
    content.features.append(("table", _features(frame, geometries)))
    _add_parts(content, parquet_metadata_text(path))
    return content
