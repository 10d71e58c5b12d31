"""Readers of input files: every source table enters the library here.

Analysis modules take and return frames and never open a file. Readers are chosen by file
extension: CSV, GeoJSON, GeoPackage and GeoParquet. Every
reader returns the source's cells as text (numbers and dates are parsed by ingestion, which
knows the column's meaning) plus a ``source_row`` column that points back into the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import geopandas as gpd
import pandas as pd

from protection_eval.config import TABLES, MissionConfig
from protection_eval.model import RawTable

READERS: dict[str, str] = {
    ".csv": "csv",
    ".geojson": "spatial",
    ".json": "spatial",
    ".gpkg": "spatial",
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


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(
            path, "file not found", "Check `sources` in the mission YAML"
        ) from None
    if not data.strip():
        raise InputFileError(path, "the file is empty", "Export the table again with its rows")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            f"not UTF-8 text (byte {exc.start} cannot be decoded)",
            "Re-save the file as UTF-8 (with or without BOM)",
        ) from None


def _read_csv(path: Path) -> pd.DataFrame:
    text = _decode(path)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
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
    blank = frame.drop(columns="source_row").apply(lambda c: c.str.strip() == "").all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)


def _spatial_to_text(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
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


def _read_spatial(path: Path, kind: str, layer: str | None) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError(path, "file not found", "Check `sources` in the mission YAML")
    if path.stat().st_size == 0:
        raise InputFileError(path, "the file is empty", "Export the table again with its rows")
    try:
        if kind == "geoparquet":
            try:
                gdf = gpd.read_parquet(path)
            except ValueError:
                gdf = pd.read_parquet(path)
                if not isinstance(gdf, gpd.GeoDataFrame):
                    gdf = gpd.GeoDataFrame(gdf, geometry=[None] * len(gdf))
        else:
            gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"cannot be read as {kind} ({type(exc).__name__}: {exc})",
            "Check that the file is complete and in the format its extension says",
        ) from None
    return _spatial_to_text(gdf)


def read_raw_table(table: str, path: Path, *, layer: str | None = None) -> RawTable:
    """Read one input file by its extension.

    Parameters
    ----------
    table : str
        Canonical table name, used in messages.
    path : Path
        The file.
    layer : str, optional
        GeoPackage layer.

    Returns
    -------
    RawTable
        The file's rows as text.

    Raises
    ------
    InputFileError
        Missing, empty, header-only or undecodable file, or an unknown extension.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(
            path,
            f"unknown file type {path.suffix!r}",
            f"Use one of {sorted(READERS)}",
        )
    frame = _read_csv(path) if kind == "csv" else _read_spatial(path, kind, layer)
    if frame.empty:
        raise InputFileError(path, "the file has a header but no rows", "Export it with its rows")
    return RawTable(table, path, frame)


def read_mission_sources(config: MissionConfig) -> dict[str, RawTable]:
    """Read every source table a mission configures."""
    raw: dict[str, RawTable] = {}
    for table in TABLES:
        spec = getattr(config.sources, table)
        if spec is not None:
            raw[table] = read_raw_table(table, spec.path, layer=spec.layer)
    return raw


