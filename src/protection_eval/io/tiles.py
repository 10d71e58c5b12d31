"""Offline tile archives a mission holds: PMTiles (with the ``pmtiles`` package) and MBTiles.

A mission that cannot reach a tile server may still have tiles on disk: a ``.pmtiles`` archive
(read with the ``pmtiles`` package, from a memory map) or an ``.mbtiles`` SQLite database
(read with the standard library, opened read-only). :func:`read_tile_archive` takes the tiles
that cover a bounding box:

- **raster** tiles (PNG, JPEG, WebP), zoom level by zoom level from the archive's shallowest,
  until the requested deepest level or a byte budget is reached; the levels left out are named;
- **vector** tiles (Mapbox Vector Tiles), one zoom level only: the deepest that fits the budget.
  The shared map carries no vector renderer, so :func:`decode_vector_tiles` turns them, with
  the ``mapbox-vector-tile`` package, into plain layers of features in longitude and latitude
  that the map draws as its context layers (:mod:`protection_eval.sharing.context`).
"""

from __future__ import annotations

import gzip
import math
import mmap
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.io.errors import InputFileError

__all__ = ["RASTER_FORMATS", "TileArchive", "decode_vector_tiles", "read_tile_archive",
           "tile_range"]

#: Raster tile formats the shared map can draw, by name -> MIME type.
RASTER_FORMATS: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# More tiles than this in one zoom level over the mission is past any useful embedding.
_MAX_TILES_PER_ZOOM = 4096
_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}


@dataclass(frozen=True)
class TileArchive:
    """The tiles of an archive that cover a mission, as embedded in its shared map.

    Attributes
    ----------
    name : str
        The archive's file name (never its folder).
    format : str
        ``png``, ``jpeg``, ``webp`` or ``mvt`` (vector; one zoom level, tiles decompressed).
    tiles : dict
        ``(z, x, y)`` (XYZ scheme, y from the north) -> the tile's bytes.
    attribution : str or None
        The archive's own attribution metadata, as written there.
    zooms : tuple of int
        The zoom levels embedded, shallowest first.
    dropped_zooms : tuple of int
        Levels up to the requested deepest that the byte budget left out.
    """

    name: str
    format: str
    tiles: dict[tuple[int, int, int], bytes] = field(repr=False)
    attribution: str | None
    zooms: tuple[int, ...]
    dropped_zooms: tuple[int, ...] = ()

    @property
    def mime(self) -> str:
        """The tiles' MIME type."""
        return RASTER_FORMATS.get(self.format, "application/vnd.mapbox-vector-tile")

    @property
    def vector(self) -> bool:
        """Whether the tiles are vector tiles, to decode rather than to show as images."""
        return self.format == "mvt"

    @property
    def nbytes(self) -> int:
        """Bytes of tile data held."""
        return sum(len(t) for t in self.tiles.values())


def tile_range(bounds: tuple[float, float, float, float], zoom: int) -> tuple[int, int, int, int]:
    """Return the XYZ tiles (x0, y0, x1, y1, inclusive) covering a lon/lat box at a zoom.

    Parameters
    ----------
    bounds : tuple of float
        West, south, east, north in degrees.
    zoom : int
        The zoom level.
    """
    west, south, east, north = bounds
    n = 2**zoom

    def column(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        lat = max(min(lat, 85.05112878), -85.05112878)
        y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
        return min(n - 1, max(0, math.floor(y)))

    return column(west), row(north), column(east), row(south)


def _refuse(path: Path, problem: str, action: str) -> InputFileError:
    return InputFileError(path, problem, action)


_UNKNOWN_ACTION = ("Export the basemap as raster tiles (PNG, JPEG or WebP) or as Mapbox "
                   "vector tiles into a .pmtiles or .mbtiles archive")


class _Archive:
    """What both archive formats give: tile format, zoom range, attribution, tile lookup."""

    format: str
    min_zoom: int
    max_zoom: int
    attribution: str | None

    def get(self, z: int, x: int, y: int) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""


class _PMTiles(_Archive):
    def __init__(self, path: Path) -> None:
        from pmtiles.reader import Reader
        from pmtiles.tile import Compression, TileType

        self._file = path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._reader = Reader(lambda offset, length: self._map[offset:offset + length])
        header = self._reader.header()
        kind = header["tile_type"]
        names = {TileType.PNG: "png", TileType.JPEG: "jpeg", TileType.WEBP: "webp",
                 TileType.MVT: "mvt"}
        if kind not in names:
            raise _refuse(path, f"holds tiles of type {kind.name}, not PNG, JPEG, WebP or "
                          "Mapbox vector tiles", _UNKNOWN_ACTION)
        self.format = names[kind]
        self._gzip = header["tile_compression"] == Compression.GZIP
        self.min_zoom, self.max_zoom = int(header["min_zoom"]), int(header["max_zoom"])
        metadata = self._reader.metadata()
        value = metadata.get("attribution") if isinstance(metadata, dict) else None
        self.attribution = str(value) if value else None

    def get(self, z: int, x: int, y: int) -> bytes | None:
        data = self._reader.get(z, x, y)
        if data is None:
            return None
        data = bytes(data)
        return gzip.decompress(data) if self._gzip else data

    def close(self) -> None:
        self._map.close()
        self._file.close()


class _MBTiles(_Archive):
    _FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "pbf": "mvt",
                "mvt": "mvt"}

    def __init__(self, path: Path) -> None:
        # Read-only, by URI, so that a missing file is an error rather than a new database.
        self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        metadata = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
        kind = str(metadata.get("format", "")).lower()
        if kind not in self._FORMATS:
            raise _refuse(path, f"says its tiles are {kind or 'of no format'!r}, not png, jpg, "
                          "webp or pbf", _UNKNOWN_ACTION)
        self.format = self._FORMATS[kind]
        low, high = self._db.execute(
            "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        if low is None:
            raise _refuse(path, "holds no tile", "Export the archive with its tiles")
        self.min_zoom, self.max_zoom = int(low), int(high)
        self.attribution = metadata.get("attribution") or None

    def get(self, z: int, x: int, y: int) -> bytes | None:
        # MBTiles rows count from the south (TMS); the map's y counts from the north.
        row = self._db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, 2**z - 1 - y)).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        # Vector tiles in MBTiles are gzipped by convention, raster tiles never.
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data

    def close(self) -> None:
        self._db.close()


def _open(path: Path) -> _Archive:
    if not path.is_file():
        raise _refuse(path, "does not exist or is not a file",
                      "Check sharing.basemap.path in the mission YAML")
    try:
        return _PMTiles(path) if path.suffix.lower() == ".pmtiles" else _MBTiles(path)
    except InputFileError:
        raise
    except Exception as exc:
        raise _refuse(path, f"cannot be read as a {path.suffix} tile archive "
                      f"({type(exc).__name__}: {exc})",
                      "Check that the file is complete and in the format its extension says"
                      ) from None


def read_tile_archive(
    path: str | Path,
    bounds: tuple[float, float, float, float],
    *,
    max_zoom: int,
    max_bytes: int,
) -> TileArchive:
    """Read the raster tiles of an archive that cover a bounding box, within a byte budget.

    Raster zoom levels are taken whole, from the archive's shallowest to ``max_zoom`` (or the
    archive's deepest); the first level that would pass ``max_bytes``, and every deeper one,
    is left out and named in ``dropped_zooms``. Vector tiles are taken at one level: the
    deepest up to ``max_zoom`` whose tiles fit ``max_bytes`` (decompressed); deeper levels
    are named in ``dropped_zooms``.

    Parameters
    ----------
    path : str or Path
        A ``.pmtiles`` or ``.mbtiles`` file.
    bounds : tuple of float
        West, south, east, north in degrees (the mission's extent).
    max_zoom : int
        The deepest level wanted.
    max_bytes : int
        Tile bytes taken at most.

    Returns
    -------
    TileArchive
        The tiles, their format, the archive's attribution and the levels taken.

    Raises
    ------
    InputFileError
        A missing or unreadable archive, tiles of another kind, a tile that is not of the
        archive's format.
    """
    path = Path(path)
    archive = _open(path)
    if archive.format == "mvt":
        try:
            return _read_vector(path, archive, bounds, max_zoom, max_bytes)
        finally:
            archive.close()
    try:
        tiles: dict[tuple[int, int, int], bytes] = {}
        zooms: list[int] = []
        wanted = list(range(archive.min_zoom, min(max_zoom, archive.max_zoom) + 1))
        total = 0
        for position, zoom in enumerate(wanted):
            level = _level(archive, bounds, zoom)
            if level is None:
                return _archive(path, archive, tiles, zooms, wanted[position:])
            for where, data in level.items():
                _check_tile(path, archive.format, data, where)
            size = sum(len(d) for d in level.values())
            if total + size > max_bytes:
                return _archive(path, archive, tiles, zooms, wanted[position:])
            tiles.update(level)
            zooms.append(zoom)
            total += size
        return _archive(path, archive, tiles, zooms, [])
    finally:
        archive.close()


def _level(archive: _Archive, bounds: tuple[float, float, float, float],
           zoom: int) -> dict[tuple[int, int, int], bytes] | None:
    """Return the tiles of one zoom level over ``bounds``; None when the level has too many."""
    x0, y0, x1, y1 = tile_range(bounds, zoom)
    if (x1 - x0 + 1) * (y1 - y0 + 1) > _MAX_TILES_PER_ZOOM:
        return None
    level = {}
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            data = archive.get(zoom, x, y)
            if data:
                level[(zoom, x, y)] = data
    return level


def _read_vector(path: Path, archive: _Archive, bounds: tuple[float, float, float, float],
                 max_zoom: int, max_bytes: int) -> TileArchive:
    """Take the deepest zoom level up to ``max_zoom`` whose vector tiles fit ``max_bytes``."""
    deepest = min(max_zoom, archive.max_zoom)
    for zoom in range(deepest, archive.min_zoom - 1, -1):
        level = _level(archive, bounds, zoom)
        if level is not None and sum(len(d) for d in level.values()) <= max_bytes:
            return TileArchive(path.name, "mvt", level, archive.attribution, (zoom,),
                               tuple(range(zoom + 1, deepest + 1)))
    raise _refuse(path, f"has no zoom level up to {deepest} whose vector tiles over the "
                  f"mission fit {max_bytes:,} bytes",
                  "Raise sharing.basemap.max_bytes, or lower its max_zoom")


def _tile_lonlat(coords: np.ndarray, zoom: int, x: int, y: int, extent: int) -> np.ndarray:
    """Tile pixel coordinates (y down) to longitude and latitude."""
    n = 2**zoom
    lon = (x + coords[:, 0] / extent) / n * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + coords[:, 1] / extent) / n))))
    return np.column_stack([lon, lat])


def decode_vector_tiles(archive: TileArchive) -> dict[str, gpd.GeoDataFrame]:
    """Decode an archive's vector tiles into one layer of features per tile layer.

    Parameters
    ----------
    archive : TileArchive
        A vector archive as :func:`read_tile_archive` gives it (one zoom level).

    Returns
    -------
    dict
        Tile layer name (``transportation``, ``place``, ``roads``...) -> a GeoDataFrame in
        EPSG:4326 whose columns are the features' properties as text. A line crossing tiles
        comes in one piece per tile; a point repeated in a neighbour's buffer comes once.
    """
    import mapbox_vector_tile

    rows: dict[str, list[dict]] = {}
    for (zoom, x, y), data in sorted(archive.tiles.items()):
        decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
        for name, layer in decoded.items():
            extent = int(layer.get("extent", 4096))
            for feature in layer.get("features", ()):
                shape = shapely.geometry.shape(feature["geometry"])
                shape = shapely.transform(
                    shape, lambda c, z=zoom, tx=x, ty=y, e=extent: _tile_lonlat(c, z, tx, ty, e))
                properties = {str(k): "" if v is None else str(v)
                              for k, v in feature.get("properties", {}).items()}
                rows.setdefault(name, []).append({**properties, "geometry": shape})
    layers = {}
    for name, features in rows.items():
        frame = gpd.GeoDataFrame(pd.DataFrame(features).fillna(""), geometry="geometry",
                                 crs="EPSG:4326")
        points = frame.geometry.geom_type == "Point"
        if points.any():
            key = frame.drop(columns="geometry").astype(str).agg("|".join, axis=1) + \
                frame.geometry.map(lambda g: f"|{g.x:.5f} {g.y:.5f}" if g.geom_type == "Point"
                                   else f"|{id(g)}")
            frame = frame[~key.duplicated()].reset_index(drop=True)
        layers[name] = frame
    return layers


def _check_tile(path: Path, kind: str, data: bytes, where: tuple[int, int, int]) -> None:
    if not data.startswith(_MAGIC[kind]) or (kind == "webp" and data[8:12] != b"WEBP"):
        raise _refuse(path, f"tile {where[0]}/{where[1]}/{where[2]} is not a {kind.upper()} "
                      "image as the archive says", "Export the archive again")


def _archive(path: Path, archive: _Archive, tiles: dict, zooms: list[int],
             dropped: list[int]) -> TileArchive:
    return TileArchive(path.name, archive.format, tiles, archive.attribution, tuple(zooms),
                       tuple(dropped))
