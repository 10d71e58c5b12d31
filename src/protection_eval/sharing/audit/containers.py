"""Every part of a container as text: what a reader of an XLSX, ODS, GeoPackage or Parquet sees.

:mod:`protection_eval.sharing.audit.office` reads the cells and features of these files. A
reader sees more than cells: an XLSX or ODS file is a zip of XML parts (text boxes, headers and
footers, hyperlink targets, data-validation lists, comments, document properties, custom XML,
shared strings no cell uses...), a Parquet file carries key-value metadata for the file and for
each field, and a GeoPackage is a SQLite database whose metadata tables describe each layer. So
the audit reads **every** part, not a list of known ones, so that a part the audit has never
heard of cannot hide text:

- every member of the zip that parses as XML gives its text nodes, comments, processing
  instructions and attribute values (cell references, numbers and namespace identifiers left
  out); a member that is neither XML nor an image is refused (except Excel's printer settings,
  whose strings are read); an XML part with a DOCTYPE (which neither format uses) is refused;
- every key and value of a Parquet file's metadata, the serialized Arrow schema's metadata and
  field metadata, and the text statistics of each column chunk;
- every table of a GeoPackage that is not a layer read feature by feature (``gpkg_contents``,
  ``gpkg_metadata``, ``gpkg_data_columns``, extensions, and any table no layer names), and the
  SQL of every table, view and trigger.

The time a file was written (``dcterms:created``, ``meta:creation-date``, a GeoPackage's
``last_change``...) is left out when it is only a timestamp: it says when the file was saved,
not when anything happened, and every tool writes it.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

__all__ = ["MAX_PART_BYTES", "gpkg_tables_text", "parquet_metadata_text", "zip_parts_text"]

#: The largest part (uncompressed) read from a zip; a larger one is refused.
MAX_PART_BYTES = 64 * 1024 * 1024
# A separator between the pieces of one part that no rule reads across (a day in one cell and
# a month in the next are not a date).
_JOIN = "\n|\n"
# Values that are structure, not text: short integers, decimal numbers, cell references and
# ranges (``A1``, ``$B$2:D12``), booleans, ARGB colours and GUIDs. An integer of six digits or
# more is read (it could be a case number), and so is any other value.
_STRUCTURAL_TOKEN = re.compile(
    r"[-+]?\d{1,5}|[-+]?\d*\.\d+(?:[eE][-+]?\d+)?%?|[-+]?\d{1,5}%"
    r"|\$?[A-Z]{1,3}\$?[1-9]\d*(?::\$?[A-Z]{1,3}\$?[1-9]\d*)?"
    r"|true|false|[0-9A-F]{8}|\{[0-9A-Fa-f-]{36}\}"
)
# Row spans and whole-row or whole-column ranges (``1:12``, ``A:C``) in the attributes that hold
# them; elsewhere ``14:30`` is read as the time it may be.
_RANGE_ATTRIBUTES = frozenset({"spans", "ref", "sqref", "activeCell", "topLeftCell"})
_RANGE = re.compile(r"\$?[A-Z]{0,3}\$?\d*:\$?[A-Z]{0,3}\$?\d*")
# Attribute values that are namespace or schema identifiers (a relationship's type, markup
# compatibility), never fetched nor shown.
_SCHEMA_ATTRIBUTES = frozenset({"Type", "Requires", "Ignorable", "uri", "schemaLocation"})
_SCHEMA_URI = re.compile(
    r"(?:https?://(?:schemas\.openxmlformats\.org|schemas\.microsoft\.com|purl\.org"
    r"|www\.w3\.org|docs\.oasis-open\.org|www\.geopackage\.org|www\.opengis\.net)/\S*"
    r"|urn:[\w.:-]+)\Z"
)
# GeoPackage columns that name a specification (an extension's definition, a metadata
# standard): identifiers, never fetched nor shown.
_SCHEMA_COLUMNS = frozenset({"definition", "md_standard_uri"})
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?\Z"
)
# Elements and columns holding when a file was written.
_SAVED_AT = frozenset({"created", "modified", "creation-date", "date", "print-date",
                       "lastPrinted", "last_change", "timestamp"})
# Excel's header and footer codes (``&C`` centre, ``&P`` page, ``&"Arial,Bold"``, ``&12``)
# stand before the text without a space: read as spaces, so ``&CSurvivor`` reads ``Survivor``.
_HEADER_PARTS = frozenset({"oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader",
                           "firstFooter"})
_HEADER_CODE = re.compile(r'&(?:"[^"]*"|\d+|[A-Za-z]|&)')
_ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_PRINTER_SETTINGS = re.compile(r"(?:^|/)printerSettings\d*\.bin\Z", re.IGNORECASE)


class PartsText:
    """What every part of a container gave: text by where it is, refusals, images."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.images: list[tuple[str, bytes]] = []


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _is_structural(value: str, attribute: str = "") -> bool:
    ranges = attribute in _RANGE_ATTRIBUTES
    return all(_STRUCTURAL_TOKEN.fullmatch(t) or (ranges and _RANGE.fullmatch(t))
               for t in value.split())


def _xml_pieces(data: bytes, name: str, out: PartsText) -> list[str] | None:
    """Text nodes, comments, PIs and attribute values of one XML part; None when not XML."""
    head = data[:2048].lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if not head.startswith(b"<"):
        return None
    if re.search(rb"<!DOCTYPE", data, re.IGNORECASE):
        out.refused.append(f"part {name} declares a DOCTYPE, which the audit does not read")
        return []
    builder = ElementTree.TreeBuilder(insert_comments=True, insert_pis=True)
    parser = ElementTree.XMLParser(target=builder)
    try:
        parser.feed(data)
        root = parser.close()
    except ElementTree.ParseError:
        return None
    pieces: list[str] = []
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        local = _local(tag)
        text = element.text or ""
        if local in _HEADER_PARTS:
            text = _HEADER_CODE.sub(" ", text)
        if not (local in _SAVED_AT and _TIMESTAMP.match(text.strip())):
            pieces.append(text)
        if element.tail:
            pieces.append(element.tail)
        for key, value in element.attrib.items():
            attribute = _local(key)
            if key.startswith("{" + _ODF_TABLE) and attribute == "formula":
                # As for XLSX, a formula is computed again when the file opens.
                out.refused.append(f"part {name} holds a formula ({value[:60]})")
            if _is_structural(value, attribute) or (
                attribute in _SCHEMA_ATTRIBUTES and _SCHEMA_URI.match(value)
            ):
                continue
            pieces.append(value)
    return [p for p in pieces if p.strip()]


def _binary_strings(data: bytes) -> str:
    """Printable runs of a binary part: ASCII and UTF-16 (little-endian) of 4 or more."""
    ascii_runs = re.findall(rb"[\x20-\x7e]{4,}", data)
    wide_runs = re.findall(rb"(?:[\x20-\x7e]\x00){4,}", data)
    texts = [r.decode("ascii") for r in ascii_runs]
    texts += [r.decode("utf-16-le") for r in wide_runs]
    return _JOIN.join(texts)


def zip_parts_text(
    archive: zipfile.ZipFile, skip: Iterable[str] = (), *, image_kind: Any
) -> PartsText:
    """Read every member of an XLSX or ODS zip as text, or refuse it.

    Parameters
    ----------
    archive : zipfile.ZipFile
        The open package.
    skip : iterable of str
        Members already refused or read as images (macros, embedded objects, media).
    image_kind : callable
        ``bytes -> str | None``, the audit's image sniffer.

    Returns
    -------
    PartsText
        Each part's text (``part NAME``), refusals and images found among the parts.
    """
    out = PartsText()
    skipped = set(skip)
    for info in archive.infolist():
        name = info.filename
        if name in skipped or info.is_dir():
            continue
        if info.file_size > MAX_PART_BYTES:
            out.refused.append(f"part {name} expands to {info.file_size} bytes, past the "
                               f"{MAX_PART_BYTES} the audit reads")
            continue
        with archive.open(info) as handle:
            data = handle.read(MAX_PART_BYTES + 1)
        if len(data) > MAX_PART_BYTES:
            out.refused.append(f"part {name} expands past the {MAX_PART_BYTES} bytes the "
                               "audit reads")
            continue
        if image_kind(data) is not None:
            out.images.append((name, data))
            continue
        pieces = _xml_pieces(data, name, out)
        if pieces is not None:
            if pieces:
                out.texts.append((f"part {name}", _JOIN.join(pieces)))
        elif _PRINTER_SETTINGS.search(name):
            out.texts.append((f"part {name}", _binary_strings(data)))
        elif name == "mimetype" and data.strip().isascii() and len(data) < 128:
            out.texts.append((f"part {name}", data.decode("ascii")))
        else:
            out.refused.append(f"holds a part that is neither XML nor an image ({name})")
    return out


# -- Parquet -------------------------------------------------------------------------------------


def _decoded(value: bytes, where: str, out: PartsText) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        out.refused.append(f"{where} is binary")
        return None


def _schema_texts(schema: Any, where: str, out: PartsText) -> None:
    """Metadata of an Arrow schema and of its fields (nested ones too), as text."""
    for key, value in (schema.metadata or {}).items():
        if key == b"ARROW:schema":
            continue
        label = f"{where} key {key.decode('utf-8', 'replace')}"
        texts = [_decoded(key, label, out), _decoded(value, label, out)]
        out.texts += [(label, t) for t in texts if t]
    pending = [(f"{where} field {f.name}", f) for f in schema]
    while pending:
        label, field = pending.pop()
        for key, value in (field.metadata or {}).items():
            texts = [_decoded(key, label, out), _decoded(value, label, out)]
            out.texts += [(f"{label} metadata", t) for t in texts if t]
        children = [field.type.field(i) for i in range(getattr(field.type, "num_fields", 0))]
        pending += [(f"{label}.{child.name}", child) for child in children]


def parquet_metadata_text(path: Path) -> PartsText:
    """Read every key and value of a Parquet file's metadata, and its text statistics.

    The file's key-value metadata (``pandas``, ``geo`` and any other key), the Arrow schema
    serialized in it (``ARROW:schema``: its metadata and each field's), ``created_by``, and the
    minimum and maximum of each text column chunk (a writer may put there text no row holds).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = PartsText()
    metadata = pq.ParquetFile(path).metadata
    if metadata.created_by:
        out.texts.append(("metadata created_by", metadata.created_by))
    raw = metadata.metadata or {}
    for key, value in raw.items():
        label = f"metadata key {key.decode('utf-8', 'replace')}"
        if key == b"ARROW:schema":
            try:
                schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(value)))
            except (ValueError, pa.ArrowInvalid):
                out.refused.append(f"{label} cannot be read")
                continue
            _schema_texts(schema, "metadata ARROW:schema", out)
            continue
        texts = [_decoded(key, label, out), _decoded(value, label, out)]
        out.texts += [(label, t) for t in texts if t]
    _schema_texts(pq.read_schema(path), "schema", out)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            stats = chunk.statistics
            if stats is None or not stats.has_min_max or chunk.physical_type != "BYTE_ARRAY":
                continue
            label = f"statistics of {chunk.path_in_schema} (row group {group})"
            for value in (stats.min, stats.max):
                text = value if isinstance(value, str) else _decoded(bytes(value), label, out)
                if text:
                    out.texts.append((label, text))
    return out


# -- GeoPackage ----------------------------------------------------------------------------------


def gpkg_tables_text(path: Path, layers: Iterable[str], *, image_kind: Any) -> PartsText:
    """Read every GeoPackage table that is not a layer, and the SQL of the schema, as text.

    Parameters
    ----------
    path : Path
        The GeoPackage (opened read-only and immutable; views are not queried).
    layers : iterable of str
        Layers already read feature by feature.
    image_kind : callable
        ``bytes -> str | None``: a tile or a blob that is an image goes to ``images``; any
        other blob is refused.

    Returns
    -------
    PartsText
        Each table's text (``table NAME``), refusals and images.
    """
    out = PartsText()
    read = {name.lower() for name in layers}
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute("PRAGMA trusted_schema = OFF")
        entries = connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        schema_sql = [str(sql) for _, _, sql in entries if sql]
        if schema_sql:
            out.texts.append(("schema SQL", _JOIN.join(schema_sql)))
        for kind, name, _ in entries:
            if kind != "table" or name.lower() in read or name.startswith(("rtree_", "sqlite_")):
                continue
            _table_text(connection, name, out, image_kind)
    finally:
        connection.close()
    return out


def _table_text(connection: sqlite3.Connection, name: str, out: PartsText,
                image_kind: Any) -> None:
    quoted = '"' + name.replace('"', '""') + '"'
    cursor = connection.execute(f"SELECT * FROM {quoted}")
    columns = [d[0] for d in cursor.description]
    pieces = list(columns)
    for number, row in enumerate(cursor, start=1):
        for column, value in zip(columns, row, strict=True):
            if isinstance(value, bytes):
                where = f"table {name} row {number} column {column}"
                if image_kind(value) is not None:
                    out.images.append((where, value))
                elif column.lower() not in ("geom", "geometry"):
                    out.refused.append(f"{where} holds binary values")
                continue
            if value is None:
                continue
            text = str(value)
            if column in _SAVED_AT and _TIMESTAMP.match(text):
                continue
            if column in _SCHEMA_COLUMNS and _SCHEMA_URI.match(text) and "://" in text:
                continue
            if not _is_structural(text):
                pieces.append(text)
    if pieces:
        out.texts.append((f"table {name}", _JOIN.join(pieces)))
