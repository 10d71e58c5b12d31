"""Writers: every file the library writes goes through here, atomically.

A file is built beside its destination and moved into place, so a reader (a notebook, the audit,
a commander's browser) never sees half a file. Formats are chosen by extension.
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
    "file_sha256",
    "read_json",
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


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically (built beside ``path``, then moved into place)."""
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
