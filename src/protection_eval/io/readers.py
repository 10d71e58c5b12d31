"""Readers of input files: every source table enters the library here.

Analysis modules take and return frames and never open a file. Readers are chosen by file
extension: CSV, GeoJSON, GeoPackage and GeoParquet. Every reader returns the source's cells as
text (numbers and dates are parsed by ingestion, which knows the column's meaning) plus a
``source_row`` column that points back into the file. A file that cannot be used at all (missing,
a folder, a link loop, empty, not UTF-8, a column named twice, several layers and none named) is
an :class:`InputFileError` that names the file and what to do.
"""

from __future__ import annotations

import codecs
import csv
import errno
import json
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from protection_eval.config import REQUIRED_TABLES, TABLES, MissionConfig
from protection_eval.model import RawTable

__all__ = ["READERS", "InputFileError", "read_csv_table", "read_mission_sources", "read_raw_table"]

READERS: dict[str, str] = {
    ".csv": "csv",
    ".geojson": "spatial",
    ".json": "spatial",
    ".gpkg": "spatial",
    ".shp": "spatial",
    ".parquet": "geoparquet",
    ".geoparquet": "geoparquet",
}

class InputFileError(ValueError):
    """An input file that cannot be used at all; the message names the file and what to do."""

    def __init__(self, path: Path, problem: str, action: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.action = action
        super().__init__(f"{path}: {problem}. {action}")


def _check_source_file(path: Path) -> None:
    """Refuse a source that is not one readable regular file, before any reader opens it."""
    where = "Check `sources` in the mission YAML"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(path, "file not found", where) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(
                path, "is a symbolic link that points back to itself (a link loop)",
                "Point `sources` at the real file, or repair the link",
            ) from None
        raise InputFileError(path, f"cannot be opened ({exc.strerror})", where) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(
            path, "is a folder, not a file", "Point `sources` at the table's file inside it"
        )
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(path, "is not a regular file (a device, pipe or socket)", where)
    if info.st_size == 0:
        raise InputFileError(path, "the file is empty", "Export the table again with its rows")


def _check_utf8(path: Path) -> None:
    """Refuse an empty or non-UTF-8 file, reading it in blocks (never whole)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset, content = 0, False
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content = content or bool(block.strip())
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise InputFileError(
                        path,
                        f"not UTF-8 text (byte {offset + exc.start} cannot be decoded)",
                        "Re-save the file as UTF-8 (with or without BOM)",
                    ) from None
                offset += len(block)
            decoder.decode(b"", final=True)
    except OSError as exc:
        raise InputFileError(
            path, f"cannot be read ({exc.strerror})", "Check the file's permissions"
        ) from None
    except UnicodeDecodeError as exc:
        if not content:
            raise InputFileError(
                path, "the file is empty", "Export the table again with its rows"
            ) from None
        raise InputFileError(
            path,
            f"not UTF-8 text (byte {offset - len(exc.object) + exc.start} cannot be decoded)",
            "Re-save the file as UTF-8 (with or without BOM)",
        ) from None
    if not content:
        raise InputFileError(path, "the file is empty", "Export the table again with its rows")


def _refuse_duplicate_columns(
    path: Path, names: Iterable[str], where: str = "in the header"
) -> None:
    """Refuse a name given twice: one column would silently stand in for the other."""
    seen: set[str] = set()
    twice: list[str] = []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    if twice:
        raise InputFileError(
            path,
            f"the column name(s) {', '.join(repr(n) for n in twice)} appear more than once {where}",
            "Rename or delete the extra column so that every column name is unique",
        )


def _refuse_reserved_columns(path: Path, names: Iterable[str]) -> None:
    if "source_row" in names:
        raise InputFileError(
            path,
            "has a column named 'source_row', the name the reader gives the row number in the "
            "file",
            "Rename that column in the file (or delete it) and read it again",
        )


def _csv_header(path: Path) -> list[str]:
    """Return the first record as written (pandas renames a repeated ``X`` to ``X.1``)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (csv.Error, UnicodeDecodeError):
        return []


def _read_csv(path: Path) -> pd.DataFrame:
    _check_utf8(path)
    header = _csv_header(path)
    _refuse_duplicate_columns(path, [n for n in header if n])
    _refuse_reserved_columns(path, header)
    try:
        # Read from the file itself: a decoded copy in memory (as io.StringIO, four bytes a
        # character) cost several times the file's size on a large export.
        frame = pd.read_csv(
            path,
            encoding="utf-8-sig",
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputFileError(
            path, f"not a readable CSV ({exc})", "Check quoting and delimiters"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns[1:]:
        blank &= (frame[column].str.strip() == "").to_numpy()
    if not blank.any():
        return frame
    return frame.loc[~blank].reset_index(drop=True)


def _spatial_to_text(gdf: gpd.GeoDataFrame, path: Path) -> pd.DataFrame:
    names = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    _refuse_duplicate_columns(path, names, "among the attributes")
    _refuse_reserved_columns(path, names)
    frame = pd.DataFrame(index=range(len(gdf)))
    frame["source_row"] = range(1, len(gdf) + 1)
    for column in gdf.columns:
        if column == gdf.geometry.name:
            continue
        values = gdf[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.map(lambda v: "" if pd.isna(v) else v.isoformat())
        else:
            text = values.map(lambda v: "" if v is None or (v != v) else str(v))
        frame[str(column)] = text.astype(str)
    frame["geometry"] = list(gdf.geometry.reset_index(drop=True))
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") and len(gdf):
        frame["geometry"] = list(gdf.geometry.to_crs("EPSG:4326").reset_index(drop=True))
    return frame


def _refuse_duplicate_json_keys(path: Path) -> None:
    """Refuse a GeoJSON with two equal keys in one object (GDAL would keep the last).

    Each object is dropped once checked, so the check holds one feature at a time besides the
    file's text. A file that is not JSON is left to the spatial reader to report.
    """

    def check(pairs: list[tuple[str, Any]]) -> None:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            _refuse_duplicate_columns(path, keys, "in one object")

    try:
        json.loads(path.read_bytes().decode("utf-8-sig"), object_pairs_hook=check)
    except InputFileError:
        raise
    except (ValueError, RecursionError):
        return


def _read_layer_name(path: Path, layer: str | None) -> str | None:
    """Return the layer to read: the one named, or the only one (several, none named: error)."""
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # an unreadable file is reported by the reader itself
        return layer
    if layer is not None and layer not in layers:
        raise InputFileError(
            path, f"has no layer {layer!r}; its layers are {layers}",
            "Set `layer:` of this source in the mission YAML to one of them",
        )
    if layer is None and len(layers) > 1:
        raise InputFileError(
            path, f"holds {len(layers)} layers {layers} and the mission YAML names none",
            "Set `layer:` of this source in the mission YAML to the layer that holds the table",
        )
    return layer


def _read_spatial(path: Path, kind: str, layer: str | None) -> pd.DataFrame:
    try:
        if kind == "geoparquet":
            _refuse_duplicate_columns(path, pq.read_schema(path).names, "in the schema")
            try:
                gdf = gpd.read_parquet(path)
            except ValueError:
                gdf = pd.read_parquet(path)
                if not isinstance(gdf, gpd.GeoDataFrame):
                    gdf = gpd.GeoDataFrame(gdf, geometry=[None] * len(gdf))
        else:
            if path.suffix.lower() in {".geojson", ".json"}:
                _refuse_duplicate_json_keys(path)
            layer = _read_layer_name(path, layer)
            gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"cannot be read as {kind} ({type(exc).__name__}: {exc})",
            "Check that the file is complete and in the format its extension says",
        ) from None
    return _spatial_to_text(gdf, path)


def read_raw_table(
    table: str, path: Path, *, layer: str | None = None, header_only_ok: bool = False
) -> RawTable:
    """Read one input file by its extension.

    Parameters
    ----------
    table : str
        Canonical table name, used in messages.
    path : Path
        The file.
    layer : str, optional
        GeoPackage layer.
    header_only_ok : bool
        Whether a file with a header and no rows is a table with no rows (an optional table,
        declared and empty) rather than an error.

    Returns
    -------
    RawTable
        The file's rows as text.

    Raises
    ------
    InputFileError
        Missing, empty, header-only or undecodable file, an unknown extension, a folder or
        link loop instead of a file, a column name given twice or reserved (``source_row``),
        or a GeoPackage with several layers and no ``layer`` named.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            path,
            f"unknown file type {path.suffix!r}",
            f"Use one of {sorted(READERS)}",
        )
    _check_source_file(path)
    frame = _read_csv(path) if kind == "csv" else _read_spatial(path, kind, layer)
    if frame.empty and not header_only_ok:
        raise InputFileError(path, "the file has a header but no rows", "Export it with its rows")
    return RawTable(table, path, frame)


def read_mission_sources(config: MissionConfig) -> dict[str, RawTable]:
    """Read every source table a mission configures.

    An optional table (not in :data:`~protection_eval.config.REQUIRED_TABLES`) may be a header
    with no rows; ingestion reports it as declared and empty.
    """
    raw: dict[str, RawTable] = {}
    for table in TABLES:
        spec = getattr(config.sources, table)
        if spec is not None:
            raw[table] = read_raw_table(table, spec.path, layer=spec.layer,
                                        header_only_ok=table not in REQUIRED_TABLES)
    return raw


def read_csv_table(table: str, path: str | Path) -> RawTable:
    """Read a CSV the project wrote itself (cells as text, ``source_row`` added)."""
    path = Path(path)
    return RawTable(table, path, _read_csv(path))
