"""The one door to the disk: where files are, how to read them, how outputs are written.

Analysis modules take and return frames; only this module (and the runner, through it) opens
files. Readers are chosen by file extension: CSV, GeoJSON, GeoPackage and GeoParquet. Every
reader returns the source's cells as text (numbers and dates are parsed by ingestion, which
knows the column's meaning) plus a ``source_row`` column that points back into the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

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


def _check_utf8(path: Path) -> None:
    """Refuse a missing, empty or non-UTF-8 file, reading it in blocks (never whole)."""
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
    except FileNotFoundError:
        raise InputFileError(
            path, "file not found", "Check `sources` in the mission YAML"
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


def _read_csv(path: Path) -> pd.DataFrame:
    _check_utf8(path)
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


def mission_cache_path(config_path: str | Path) -> Path:
    """Where a run keeps the validated mission beside its configuration copy."""
    return Path(config_path).with_suffix(".ingested.pickle")


def _mission_fingerprint(config: MissionConfig) -> dict[str, str]:
    """Return what a cached mission was made from: the configuration and each input's sha256."""
    from protection_eval.strategies import load_catalogue

    prints = {"config": config.model_dump_json(exclude={"path"}),
              "strategies": ",".join(sorted(load_catalogue().ids))}
    for table in TABLES:
        path = config.source_path(table)
        if path is not None and Path(path).exists():
            prints[table] = file_sha256(path)
    return prints


def write_mission_cache(mission: MissionData, config_path: str | Path) -> Path:
    """Keep a validated mission for the notebooks of one run (restricted: row-level data).

    :func:`load_mission` uses it only while the configuration, the strategy ids and every
    input file are byte for byte what it was made from.
    """
    payload = {"fingerprint": _mission_fingerprint(mission.config), "mission": mission}
    path = mission_cache_path(config_path)
    _atomic_write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def _read_mission_cache(config: MissionConfig, config_path: Path) -> MissionData | None:
    path = mission_cache_path(config_path)
    if not path.exists():
        return None
    try:
        # Only ever a file this run's runner wrote into its own restricted folder.
        payload = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if payload.get("fingerprint") != _mission_fingerprint(config):
        return None
    mission = payload["mission"]
    mission.config = config
    return mission


def load_mission(config_path: str | Path | MissionConfig) -> MissionData:
    """Read, check and quarantine a mission's inputs.

    Inside a run, the notebooks reuse the mission the runner validated (see
    :func:`write_mission_cache`) while nothing it was made from has changed.

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
    from protection_eval.strategies import load_catalogue

    if isinstance(config_path, MissionConfig):
        config = config_path
    else:
        config = load_mission_config(config_path)
        cached = _read_mission_cache(config, Path(config_path))
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


def write_table(frame: pd.DataFrame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write a frame by the path's extension: csv, parquet, gpkg (with ``layer``) or geojson.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        The table.
    path : str or Path
        Destination; folders are created.
    layer : str, optional
        GeoPackage layer name; several layers can be written to one file.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_text(frame.to_csv(index=False, lineterminator="\n"), path)
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
    return [{"path": str(p), "sha256": file_sha256(p)} for p in paths if Path(p).exists()]


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
