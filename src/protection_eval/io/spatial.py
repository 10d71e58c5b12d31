"""Spatial files through GDAL: one explicit driver per format, no virtual path, network off.

GDAL opens GeoJSON with its GeoJSON driver only (``GeoJSON:`` before the path), GeoPackages
with the GeoPackage driver only (``GPKG:``), and shapefiles by their ``.shp`` path once its first
bytes are a shapefile's (:func:`protection_eval.io.formats.check_signature`; the OGR VRT driver
recognises only XML). A zip is opened with Python's :mod:`zipfile` first: only its shapefiles
and GeoPackages are read, each member checked like a plain file and opened by its own path
inside the archive (``/vsizip/``, the one virtual path the project makes itself). No other
``/vsi`` prefix and no URL ever reaches GDAL: sources are files on disk.

Every read runs inside :func:`offline`: GDAL's HTTP client and its ``/vsicurl/`` family are
pointed at nothing (:data:`GDAL_OFFLINE_OPTIONS`), and PROJ's network (grid downloads) is off.
A GeoJSON file is parsed with the standard library first
(:func:`protection_eval.io.records.load_json_document`): it must be a ``FeatureCollection`` or a
``Feature``, with no key twice in one object and no ``crs`` that GDAL would follow to a web
address (``"type": "link"``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pyogrio
import pyproj.network

from protection_eval.io.errors import InputFileError
from protection_eval.io.formats import FORMATS, check_signature, looks_like, starts_as
from protection_eval.io.records import is_geojson, load_json_document

__all__ = ["GDAL_OFFLINE_OPTIONS", "offline", "read_spatial_file", "read_spatial_layers"]

#: GDAL configuration options set for every read (and put back afterwards).
GDAL_OFFLINE_OPTIONS: dict[str, str] = {
    # /vsicurl/ and the handlers built on it (/vsis3/, /vsigs/, /vsiaz/ ...) open only this
    # file name and these extensions: no address is either, so every network file is refused.
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/protection-eval/network-off",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".protection-eval-network-off",
    # GDAL's HTTP client (a GeoJSON "link" CRS, a WFS ...) goes through a proxy of a scheme
    # curl refuses before it connects anywhere.
    "GDAL_HTTP_PROXY": "network-off://protection-eval",
    "GDAL_HTTPS_PROXY": "network-off://protection-eval",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    # A folder's listing is never read to find a dataset's siblings (they are opened by name).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # A GeoPackage's views and triggers may not open other datasets or call OGR SQL functions.
    "ALLOW_VIRTUAL_OGR_FROM_TRIGGER_AND_VIEW": "NO",
    "ALLOW_OGR_SQL_FUNCTIONS_FROM_TRIGGER_AND_VIEW": "NO",
}

#: The driver prefix each GDAL-read format is opened with (a shapefile has none: see above).
_DRIVER_PREFIX = {"geojson": "GeoJSON:", "json": "GeoJSON:", "gpkg": "GPKG:"}

#: Members of a zip that are read: shapefiles and GeoPackages (their sidecars come with them).
_ZIP_TABLES = {".shp": "shapefile", ".gpkg": "gpkg"}


@contextmanager
def offline() -> Iterator[None]:
    """Run GDAL and PROJ with their network access off; put the previous settings back after."""
    previous = {name: pyogrio.get_gdal_config_option(name) for name in GDAL_OFFLINE_OPTIONS}
    proj_network = pyproj.network.is_network_enabled()
    pyogrio.set_gdal_config_options(GDAL_OFFLINE_OPTIONS)
    pyproj.network.set_network_enabled(False)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(previous)
        pyproj.network.set_network_enabled(proj_network)


def _safe_member(path: Path, name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not (name.startswith("/") or "\\" in name or ".." in parts or "\x00" in name
                or any(p.lower().startswith("vsi") for p in parts))


def _zip_tables(path: Path) -> dict[str, tuple[str, str]]:
    """Return the shapefiles and GeoPackages of a zip: member path -> (format, GDAL source).

    Each member is checked as a plain file would be; anything else in the archive (a README,
    a VRT, a GeoJSON) is not read.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(path, f"is not a readable zip archive ({exc})",
                             "Zip the shapefile's parts (or the GeoPackage) again") from None
    tables: dict[str, tuple[str, str]] = {}
    with archive:
        for info in archive.infolist():
            suffix = PurePosixPath(info.filename).suffix.lower()
            if info.is_dir() or suffix not in _ZIP_TABLES or "__MACOSX/" in info.filename:
                continue
            if not _safe_member(path, info.filename):
                raise InputFileError(
                    path, f"holds a member named {info.filename!r}, which points outside the "
                    "archive or at a virtual file system", "Zip the table's files again, "
                    "without folders named '..' or absolute paths")
            fmt = FORMATS[_ZIP_TABLES[suffix]]
            try:
                with archive.open(info) as member:
                    head = member.read(64)
            except (RuntimeError, zipfile.BadZipFile, OSError, NotImplementedError) as exc:
                raise InputFileError(path, f"its member {info.filename!r} cannot be read "
                                     f"({exc})", "Zip it again without a password") from None
            _check_member(path, info.filename, head, fmt.name)
            tables[info.filename] = (fmt.name, f"/vsizip/{path}/{info.filename}")
    if not tables:
        raise InputFileError(
            path, "holds no shapefile (.shp) and no GeoPackage (.gpkg)",
            "Zip a shapefile's parts (.shp, .shx, .dbf, .prj) or a GeoPackage",
        )
    return tables


def _check_member(path: Path, name: str, head: bytes, fmt: str) -> None:
    if not starts_as(head, FORMATS[fmt]):
        raise InputFileError(
            path, f"its member {name!r} is read as {FORMATS[fmt].title}, but it does not start "
            f"as one: it looks like {looks_like(head)}",
            "Zip the table's real files again",
        )


def _layers(source: str) -> list[str]:
    return [str(name) for name, _ in pyogrio.list_layers(source)]


def _sources(path: Path, fmt: str) -> dict[str, tuple[str, str | None]]:
    """Return every layer of the file: layer name -> (GDAL source, layer within it)."""
    text = str(path)
    if text.startswith("/vsi") or "://" in text or text[:1] in ("<", "{"):
        raise InputFileError(path, "is a virtual, network or inline dataset name, not a file",
                             "Point `sources` at a file in the mission's folder")
    if fmt == "shapefile":
        return {path.stem: (str(path), None)}
    if fmt in _DRIVER_PREFIX and fmt != "gpkg":
        return {path.stem: (f"{_DRIVER_PREFIX[fmt]}{path}", None)}
    if fmt == "gpkg":
        source = f"GPKG:{path}"
        return {name: (source, name) for name in _layers(source)}
    layers: dict[str, tuple[str, str | None]] = {}
    for member, (kind, vsi) in _zip_tables(path).items():
        found = ({PurePosixPath(member).stem: (vsi, None)} if kind == "shapefile"
                 else {name: (f"GPKG:{vsi}", name) for name in _layers(f"GPKG:{vsi}")})
        twice = sorted(set(found) & set(layers))
        if twice:
            raise InputFileError(
                path, f"holds two layers named {twice[0]!r}",
                "Zip one table of each name (rename one of the files)")
        layers.update(found)
    return layers


def _pick_layer(path: Path, layers: list[str], layer: str | None) -> str:
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
    return layer if layer is not None else layers[0]


def read_spatial_file(path: Path, fmt: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer of a GeoJSON, GeoPackage, shapefile or zip with its format's driver only.

    Parameters
    ----------
    path : Path
        The file, a regular file on disk.
    fmt : str
        Its format (:data:`protection_eval.io.formats.FORMATS`): ``geojson`` (or ``json``
        holding GeoJSON), ``gpkg``, ``shapefile`` or ``zip``.
    layer : str, optional
        The layer to read; required when the file holds several.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer as GDAL reads it (attribute types as the driver gives them).

    Raises
    ------
    InputFileError
        A file (or zip member) that does not start as its format, a zip without a shapefile or
        GeoPackage, a layer that does not exist or several and none named, or a file the
        driver cannot read.
    """
    check_signature(path, FORMATS[fmt])
    if fmt in ("geojson", "json") and not is_geojson(load_json_document(path)):
        raise InputFileError(
            path, "is read as GeoJSON, but it is not a FeatureCollection or a Feature",
            "Export the layer as GeoJSON; a table of records belongs in a .json file",
        )
    try:
        with offline():
            layers = _sources(path, fmt)
            name = _pick_layer(path, sorted(layers) if len(layers) > 1 else list(layers), layer)
            source, inner = layers[name]
            return pyogrio.read_dataframe(source, layer=inner)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"cannot be read as {FORMATS[fmt].title} ({type(exc).__name__}: {exc})",
            "Check that the file is complete and in the format its extension says",
        ) from None


def read_spatial_layers(path: Path, fmt: str) -> list[tuple[str, gpd.GeoDataFrame]]:
    """Read every layer of a GeoJSON, GeoPackage, shapefile or zip, each with its own driver.

    The same checks and the same network-off settings as :func:`read_spatial_file`, for a
    reader that must see every layer (the audit of a shared folder).

    Returns
    -------
    list of (str, geopandas.GeoDataFrame)
        Each layer's name and its features, in the file's order.

    Raises
    ------
    InputFileError
        As :func:`read_spatial_file`.
    """
    check_signature(path, FORMATS[fmt])
    try:
        with offline():
            return [(name, pyogrio.read_dataframe(source, layer=inner))
                    for name, (source, inner) in _sources(path, fmt).items()]
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"cannot be read as {FORMATS[fmt].title} ({type(exc).__name__}: {exc})",
            "Check that the file is complete and in the format its extension says",
        ) from None
