"""The one door to the disk: where files are, how to read them, how outputs are written.

Analysis modules take and return frames; only this module (and the runner, through it) opens
files. Readers are chosen by file extension: CSV, GeoJSON, GeoPackage and GeoParquet. Every
reader returns the source's cells as text (numbers and dates are parsed by ingestion, which
knows the column's meaning) plus a ``source_row`` column that points back into the file.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from protection_eval.config import TABLES, MissionConfig, load_mission_config

if TYPE_CHECKING:
    from protection_eval.ingest import MissionData

READERS: dict[str, str] = {
    ".csv": "csv",
    ".geojson": "spatial",
    ".json": "spatial",
    ".gpkg": "spatial",
    ".parquet": "geoparquet",
    ".geoparquet": "geoparquet",
}

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class InputFileError(ValueError):
    """An input file that cannot be used at all; the message names the file and what to do."""

    def __init__(self, path: Path, problem: str, action: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.action = action
        super().__init__(f"{path}: {problem}. {action}")


@dataclass(frozen=True)
class RawTable:
    """One input file as read, before any check.

    Attributes
    ----------
    table : str
        Canonical table name (``incidents``, ``patrols`` ...).
    path : Path
        The file read.
    frame : pandas.DataFrame
        All source columns as text (empty string for an empty cell), a ``source_row`` column
        (CSV: the line number in the file, header = 1; spatial files: feature number from 1) and,
        for spatial files, a ``geometry`` column of shapely objects.
    """

    table: str
    path: Path
    frame: pd.DataFrame

    @property
    def rows(self) -> int:
        """Number of data rows read."""
        return len(self.frame)


def project_path(*parts: str) -> Path:
    """Return a path inside the project checkout (``data/``, ``notebooks/``, ``reports/``)."""
    return PROJECT_ROOT.joinpath(*parts)


def strategies_dir() -> Path:
    """Return the folder of the strategy catalogue (``PROTECTION_EVAL_STRATEGIES`` overrides)."""
    override = os.environ.get("PROTECTION_EVAL_STRATEGIES")
    return Path(override) if override else project_path("data", "strategies")


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


def load_mission(config_path: str | Path | MissionConfig) -> MissionData:
    """Read, check and quarantine a mission's inputs.

    Inside a run, the notebooks reuse the mission the runner validated (see
    :mod:`protection_eval.mission_cache`) while nothing it was made from has changed and its
    integrity checks pass; any other cache is ignored with a warning. No file is ever loaded
    as code.

    Parameters
    ----------
    config_path : str, Path or MissionConfig
        The mission YAML file, or a configuration already loaded.

    Returns
    -------
    MissionData
        Accepted rows of every table plus the validation report.
    """
    from protection_eval.ingest import ingest_mission
    from protection_eval.mission_cache import read_mission_cache
    from protection_eval.strategies import load_catalogue

    if isinstance(config_path, MissionConfig):
        config = config_path
    else:
        config = load_mission_config(config_path)
        cached = read_mission_cache(config, Path(config_path))
        if cached is not None:
            return cached
    raw = read_mission_sources(config)
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids)


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
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


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    path = Path(path)
    _atomic_write_bytes(path, text.encode("utf-8"))
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
        table = frame if raw_cells else to_spreadsheet_safe(frame)
        write_text(table.to_csv(index=False, lineterminator="\n"), path)
    elif suffix in {".parquet", ".geoparquet"}:
        frame.to_parquet(path, index=False)
    elif suffix == ".gpkg":
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    elif suffix in {".geojson", ".json"}:
        write_text(frame.to_json(drop_id=True), path)
    else:
        raise ValueError(f"cannot write {path}: unknown extension {suffix!r}")
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


def mission_config_paths(folder: str | Path | None = None) -> list[Path]:
    """Return every mission YAML in ``folder`` (default ``data/missions``), sorted."""
    folder = Path(folder) if folder else project_path("data", "missions")
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def notebook_paths(folder: str | Path | None = None) -> list[Path]:
    """Return the jupytext notebooks in reading order (default ``notebooks/``)."""
    folder = Path(folder) if folder else project_path("notebooks")
    return sorted(p for p in folder.glob("[0-9]*.py"))


def input_fingerprints(paths: Iterable[Path]) -> list[dict[str, str]]:
    """Return path and sha256 of each existing input file."""
    return [{"path": str(p), "sha256": file_sha256(p)} for p in paths if Path(p).is_file()]


def read_shared_tables(reports_dir: str | Path, name: str) -> dict[str, RawTable]:
    """Read ``<reports_dir>/<mission>/latest/shared/<name>`` of every mission that has one.

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder (``reports/``).
    name : str
        File name inside ``shared/``, e.g. ``effects.csv``.

    Returns
    -------
    dict
        Mission folder name -> :class:`RawTable` (cells as text, ``source_row`` added), sorted.
    """
    found = sorted(Path(reports_dir).glob(f"*/latest/shared/{name}"))
    return {p.parents[2].name: RawTable(Path(name).stem, p, _read_csv(p)) for p in found}


#: Files of a run's shared part that the brief and the index read, by role.
SHARED_FILES: dict[str, str] = {
    "coverage": "coverage_summary.json",
    "effects": "effects.csv",
    "gaps": "gaps.csv",
    "map": "coverage_map.html",
}


def read_shared_outputs(folder: str | Path) -> dict[str, Any]:
    """Read what a run's shared part holds so far (missing parts are None).

    Parameters
    ----------
    folder : str or Path
        The run's ``shared/`` folder.

    Returns
    -------
    dict
        ``coverage`` (dict), ``effects`` and ``gaps`` (DataFrames), ``map`` (file name).
    """
    folder = Path(folder)
    out: dict[str, Any] = dict.fromkeys(SHARED_FILES)
    if (folder / SHARED_FILES["coverage"]).exists():
        out["coverage"] = read_json(folder / SHARED_FILES["coverage"])
    for role in ("effects", "gaps"):
        path = folder / SHARED_FILES[role]
        if path.exists() and path.stat().st_size:
            out[role] = pd.read_csv(path)
    if (folder / SHARED_FILES["map"]).exists():
        out["map"] = SHARED_FILES["map"]
    return out
