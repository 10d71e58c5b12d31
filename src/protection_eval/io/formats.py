"""What a source file is: its declared or extension-implied format, checked against its bytes.

The format is fixed before any reader opens the file, and the reader follows it: a reader
never chooses by content. GDAL, left to itself, asks each of its drivers whether it recognises
a file, so a ``bases.geojson`` holding OGR VRT XML was read as a VRT that pulled rows from any
file on the machine or from a web server. Here the format is the source's ``format:`` key, else
the extension's; the file must then start as that format starts (a GeoPackage with the SQLite
header, a Parquet file with ``PAR1``, a zip with ``PK``, a shapefile with its file code, a JSON
file with ``{`` or ``[``), and the reader opens it with that format's driver only
(:mod:`protection_eval.io.spatial`). A file that does not start as its format says is an
:class:`~protection_eval.io.errors.InputFileError` naming what it looks like instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protection_eval.io.errors import InputFileError

__all__ = ["FORMATS", "SourceFormat", "check_signature", "source_files", "source_format"]


@dataclass(frozen=True)
class SourceFormat:
    """One input format.

    Attributes
    ----------
    name : str
        The name a source declares with ``format:``.
    reader : str
        The reader that opens it: ``csv``, ``workbook``, ``json`` (records or GeoJSON, told
        apart by parsing), ``jsonl``, ``spatial`` (GDAL with one explicit driver) or
        ``geoparquet`` (pyarrow).
    suffixes : tuple of str
        Extensions that imply it.
    title : str
        What a person calls it, for messages.
    """

    name: str
    reader: str
    suffixes: tuple[str, ...]
    title: str


FORMATS: dict[str, SourceFormat] = {f.name: f for f in (
    SourceFormat("csv", "csv", (".csv",), "CSV text"),
    SourceFormat("xlsx", "workbook", (".xlsx", ".xlsm"), "Excel workbook (.xlsx)"),
    SourceFormat("xls", "workbook", (".xls",), "Excel 97-2003 workbook (.xls)"),
    SourceFormat("ods", "workbook", (".ods",), "OpenDocument spreadsheet (.ods)"),
    SourceFormat("geojson", "spatial", (".geojson",), "GeoJSON"),
    SourceFormat("json", "json", (".json",), "JSON (records, or GeoJSON)"),
    SourceFormat("jsonl", "jsonl", (".jsonl", ".ndjson"), "JSON Lines"),
    SourceFormat("gpkg", "spatial", (".gpkg",), "GeoPackage"),
    SourceFormat("shapefile", "spatial", (".shp",), "ESRI shapefile"),
    SourceFormat("zip", "spatial", (".zip",), "zipped shapefile or GeoPackage"),
    SourceFormat("geoparquet", "geoparquet", (".parquet", ".geoparquet"), "(Geo)Parquet"),
)}

#: Formats a source may declare with ``format:`` whatever its extension: the text formats,
#: whose files come with many extensions (``.txt``, ``.tsv``, ``.ndjson``, GeoJSON as ``.json``).
DECLARABLE = ("csv", "json", "jsonl", "geojson")

_BY_SUFFIX = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SQLITE = b"SQLite format 3\x00"
_PARQUET = b"PAR1"
_SHAPEFILE = b"\x00\x00\x27\x0a"  # file code 9994, big-endian

#: The sibling files GDAL reads with a shapefile's ``.shp``.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def source_format(path: Path, declared: str | None = None) -> SourceFormat:
    """Return the format a source is read as: the one declared, else the one its extension implies.

    Raises
    ------
    InputFileError
        An extension that implies no format, and none declared.
    """
    if declared is not None:
        return FORMATS[declared]
    name = _BY_SUFFIX.get(Path(path).suffix.lower())
    if name is None:
        raise InputFileError(
            path, f"unknown file type {Path(path).suffix!r}",
            f"Use one of {sorted(_BY_SUFFIX)}, or declare a text file's format with `format:` "
            f"({', '.join(DECLARABLE)})",
        )
    return FORMATS[name]


def _head(path: Path, size: int = 64) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise InputFileError(
            path, f"cannot be read ({exc.strerror})", "Check the file's permissions"
        ) from None


def looks_like(head: bytes) -> str:
    """Name what a file's first bytes look like, for a message (never to choose a reader)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(_ZIP):
        return "a zip package (an .xlsx, .ods or .zip)"
    if head.startswith(_OLE2):
        return "an Office 97-2003 file (.xls)"
    if head.startswith(_SQLITE):
        return "an SQLite database (a GeoPackage)"
    if head.startswith(_PARQUET):
        return "a Parquet file"
    if head.startswith(_SHAPEFILE):
        return "an ESRI shapefile (.shp)"
    if text.startswith(b"<OGRVRTDataSource") or text.startswith(b"<VRTDataset"):
        return "a GDAL virtual dataset (VRT), which points at other files"
    if text.startswith(b"<"):
        return "XML or HTML"
    if text[:1] in (b"{", b"["):
        return "JSON"
    return "something else"


def starts_as(head: bytes, fmt: SourceFormat) -> bool:
    """Whether a file's first bytes are those its format starts with (CSV: always)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    checks = {
        "xlsx": head.startswith(_ZIP),
        "ods": head.startswith(_ZIP),
        "zip": head.startswith(_ZIP),
        "xls": head.startswith(_OLE2),
        "gpkg": head.startswith(_SQLITE),
        "geoparquet": head.startswith(_PARQUET),
        "shapefile": head.startswith(_SHAPEFILE),
    }
    if fmt.reader in ("json", "jsonl") or fmt.name == "geojson":
        # Parsing tells JSON apart (with the line and column of a mistake); only a file that
        # is plainly something else (XML such as a VRT, a binary format) is refused here.
        return text[:1] in (b"{", b"[") or looks_like(head) == "something else"
    return checks.get(fmt.name, True)


def check_signature(path: Path, fmt: SourceFormat) -> None:
    """Refuse a file whose first bytes are not those of its format.

    CSV has no signature; JSON formats are checked when parsed. A Parquet file must also end
    with ``PAR1`` (a file cut short does not).

    Raises
    ------
    InputFileError
        Naming the format expected and what the file looks like instead.
    """
    head = _head(path)
    ok = starts_as(head, fmt)
    if ok and fmt.name == "geoparquet" and not _parquet_tail(path):
        raise InputFileError(
            path, "is cut short: a Parquet file ends with its footer (PAR1), and this one does "
            "not (an interrupted copy or export?)", "Copy or export the file again, whole",
        )
    if not ok:
        why = "extension" if path.suffix.lower() in fmt.suffixes else "declared format"
        raise InputFileError(
            path,
            f"is read as {fmt.title} (from its {why}), but it does not start as one: it looks "
            f"like {looks_like(head)}",
            "Export the table again in the format its name says, or give it the extension of "
            "its real format",
        )


def _parquet_tail(path: Path) -> bool:
    """Whether a Parquet file also ends with its magic bytes (a cut file does not)."""
    try:
        with path.open("rb") as handle:
            if handle.seek(0, 2) < 8:
                return False
            handle.seek(-4, 2)
            return handle.read(4) == _PARQUET
    except OSError:
        return False


def source_files(path: Path) -> list[Path]:
    """Return the files a source is read from: the file, and a shapefile's sibling parts.

    A fingerprint of a source (the mission cache's) must cover every byte a reader reads: the
    attributes of a shapefile are in its ``.dbf``, its projection in its ``.prj``.
    """
    path = Path(path)
    if path.suffix.lower() != ".shp":
        return [path]
    siblings = [path.with_suffix(s) for s in SHAPEFILE_PARTS[1:]]
    siblings += [path.with_suffix(s.upper()) for s in SHAPEFILE_PARTS[1:]]
    return [path, *sorted({s for s in siblings if s.is_file()})]
