"""Readers of input files: every source table enters the library here.

Analysis modules take and return frames and never open a file. A source is read in the format
its ``format:`` key declares or its extension implies, and in that one only: its first bytes
are checked against that format before anything opens it (:mod:`protection_eval.io.formats`),
and GDAL reads it with that format's driver alone, its network access off
(:mod:`protection_eval.io.spatial`). Formats: CSV (any separator, any declared encoding),
workbooks (.xlsx, .xls, .ods, read in a child process with limits; see
:mod:`protection_eval.io.sheets`), JSON records and JSON Lines
(:mod:`protection_eval.io.records`), GeoJSON, GeoPackage, ESRI shapefiles (plain or zipped)
and GeoParquet. Every reader returns the source's cells as text (numbers and dates are parsed
by ingestion, which knows the column's meaning) plus a ``source_row`` column that points back
into the file; an HXL hashtag row under the header is taken out and reported. A file that
cannot be used at all (missing, a folder, a link loop, empty, not in its declared encoding or
format, a separator that cannot be told, a column named twice, several layers or sheets and
none named) is an :class:`InputFileError` that names the file and what to do.
"""

from __future__ import annotations

import codecs
import csv
import errno
import json
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj

from protection_eval.config import REQUIRED_TABLES, TABLES, MissionConfig, SourceSpec
from protection_eval.io.errors import InputFileError
from protection_eval.io.exports import apply_export_shape
from protection_eval.io.formats import check_signature, source_format
from protection_eval.io.records import (
    is_geojson,
    load_json_document,
    read_json_lines,
    read_json_records,
)
from protection_eval.io.sheets import read_workbook, skip_hxl_row
from protection_eval.io.spatial import offline, read_spatial_file
from protection_eval.model import RawTable, to_iso_text
from protection_eval.presets import load_preset

__all__ = [
    "CSV_BLOCK_BYTES",
    "InputFileError",
    "RawTableBlocks",
    "read_csv_table",
    "read_mission_sources",
    "read_raw_table",
]

#: Separators a CSV is sniffed for when its source declares none.
SNIFFED_SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")

_DEFAULT_SOURCE = SourceSpec(path=Path("."))


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


def _encoding_name(encoding: str | None) -> str:
    return "UTF-8" if encoding is None else encoding


def _undecodable(path: Path, encoding: str | None, offset: int) -> InputFileError:
    if encoding is None:
        action = ("Re-save the file as UTF-8 (with or without BOM), or declare its encoding "
                  "with `encoding:` (e.g. cp1252) for this source in the mission YAML")
    else:
        action = (f"Declare the file's real encoding with `encoding:` for this source, or "
                  f"re-save it as {encoding}")
    return InputFileError(
        path, f"not {_encoding_name(encoding)} text (byte {offset} cannot be decoded)", action
    )


def _is_single_byte(encoding: str) -> bool:
    """Whether every byte decodes to some character: a wrong guess would pass unnoticed."""
    try:
        bytes(range(256)).decode(encoding)
    except UnicodeDecodeError:
        return encoding.lower().replace("-", "").replace("_", "") in {"cp1252", "windows1252"}
    return True


def _check_encoding(path: Path, encoding: str | None = None) -> None:
    """Refuse an empty file or one not in its encoding, reading it in blocks (never whole).

    A file declared in a single-byte encoding (cp1252, latin-1), in which any byte decodes,
    is refused when it is also valid UTF-8 with characters beyond ASCII: decoding it as
    declared would silently turn every accented letter into two wrong ones.
    """
    decoder = codecs.getincrementaldecoder(encoding or "utf-8-sig")()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    watch = encoding is not None and _is_single_byte(encoding)
    offset, content, wide, utf8_ok = 0, False, False, True
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content = content or bool(block.strip())
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise _undecodable(path, encoding, offset + exc.start) from None
                if watch and utf8_ok:
                    wide = wide or not block.isascii()
                    try:
                        utf8.decode(block)
                    except UnicodeDecodeError:
                        utf8_ok = False
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
        raise _undecodable(path, encoding, offset - len(exc.object) + exc.start) from None
    if not content:
        raise InputFileError(path, "the file is empty", "Export the table again with its rows")
    if watch and wide and utf8_ok:
        raise InputFileError(
            path,
            f"declared {encoding}, but it is valid UTF-8 with characters beyond ASCII: read as "
            f"{encoding} its accented letters would be garbled",
            "Remove `encoding:` from this source (the file is UTF-8)",
        )


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


def _csv_sample(path: Path, encoding: str | None, header_row: int) -> list[str]:
    """Return up to 64 KiB of the file's lines from the header on (a last partial line cut)."""
    with path.open(encoding=encoding or "utf-8-sig", newline="") as handle:
        text = handle.read(1 << 16)
        complete = not handle.read(1)
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    return lines[header_row - 1:]


def _sniff_separator(path: Path, lines: list[str]) -> str:
    """Tell a CSV's separator from its header and first lines, or refuse when unsure.

    A separator is a candidate when it splits the header into several columns; among several
    candidates, the one that splits every sampled record into as many fields as the header
    wins, and only when it is the only such one.
    """
    splits = {
        sep: [len(r) for r in csv.reader(lines, delimiter=sep) if r]
        for sep in SNIFFED_SEPARATORS
    }
    plausible = [sep for sep, counts in splits.items() if counts and counts[0] > 1]
    if not plausible:
        return ","
    if len(plausible) == 1:
        return plausible[0]
    regular = [sep for sep in plausible if len(set(splits[sep])) == 1]
    if len(regular) == 1:
        return regular[0]
    shown = " or ".join(repr(s) for s in (regular or plausible))
    raise InputFileError(
        path,
        f"the separator cannot be told for sure: the first lines split into columns on {shown}",
        'Declare it with `sep:` for this source in the mission YAML (e.g. sep: ";")',
    )


def _csv_header(path: Path, encoding: str | None, sep: str, header_row: int) -> list[str]:
    """Return the header record as written (pandas renames a repeated ``X`` to ``X.1``)."""
    try:
        with path.open(encoding=encoding or "utf-8-sig", newline="") as handle:
            records = csv.reader(handle, delimiter=sep)
            for _ in range(header_row - 1):
                next(records, None)
            return [name.strip() for name in next(records, [])]
    except (csv.Error, UnicodeDecodeError):
        return []


#: Rows parsed at a time: the parser holds each chunk as Python strings before it becomes
#: compact Arrow text, so the chunk, not the file, sets that transient cost.
_CSV_CHUNK_ROWS = 100_000


def _csv_options(path: Path, spec: SourceSpec) -> dict[str, Any]:
    """Check a CSV's encoding and header; return the options that read its cells as text."""
    encoding, header_row = spec.encoding, spec.header_row
    _check_encoding(path, encoding)
    sep = spec.sep or _sniff_separator(path, _csv_sample(path, encoding, header_row))
    header = _csv_header(path, encoding, sep, header_row)
    _refuse_duplicate_columns(path, [n for n in header if n])
    _refuse_reserved_columns(path, header)
    return {"encoding": encoding or "utf-8-sig", "sep": sep, "skiprows": header_row - 1,
            "dtype": str, "keep_default_na": False, "skip_blank_lines": False}


def _csv_chunks(path: Path, options: dict[str, Any], header_row: int) -> Iterator[pd.DataFrame]:
    """Yield a CSV's cells as text, ``_CSV_CHUNK_ROWS`` rows at a time, with ``source_row``.

    Read from the file itself: a decoded copy in memory (as io.StringIO, four bytes a
    character) cost several times the file's size on a large export. Chunks bound the
    parser's per-row Python strings (about 60 bytes a cell). A file with a header and no rows
    gives one chunk with the named, empty columns.
    """
    first_row, any_chunk = header_row + 1, False
    try:
        with pd.read_csv(path, chunksize=_CSV_CHUNK_ROWS, **options) as reader:
            for chunk in reader:
                any_chunk = True
                yield _numbered(chunk, first_row)
                first_row += len(chunk)
        if not any_chunk:  # a header and no rows: one plain read gives the named columns
            yield _numbered(pd.read_csv(path, **options), first_row)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputFileError(
            path, f"not a readable CSV ({exc})",
            f"Check quoting and the separator ({options['sep']!r}; declare another with `sep:`)",
        ) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(
            path, f"has no header on line {header_row}",
            "Set `header_row:` of this source to the line that holds the column names",
        ) from None


def _numbered(chunk: pd.DataFrame, first_row: int) -> pd.DataFrame:
    chunk.columns = [str(c).strip() for c in chunk.columns]
    chunk.insert(0, "source_row", range(first_row, first_row + len(chunk)))
    return chunk


def _read_csv(path: Path, spec: SourceSpec = _DEFAULT_SOURCE) -> pd.DataFrame:
    """Read a whole CSV's cells as text; the chunks joined give the frame of one read.

    Freeing Arrow's unused pages afterwards leaves room for the checks that follow
    (measured in docs/performance.md).
    """
    chunks = list(_csv_chunks(path, _csv_options(path, spec), spec.header_row))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    del chunks
    pa.default_memory_pool().release_unused()
    return frame


def _drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        if column in ("source_row", "geometry"):
            continue
        blank &= (frame[column].astype(str).str.strip() == "").to_numpy()
    if not blank.any() or "geometry" in frame.columns:
        return frame
    return frame.loc[~blank].reset_index(drop=True)


def _attribute_text(values: pd.Series) -> pd.Series:
    """Return an attribute column's cells as text: ``str()`` of each value, "" where missing.

    Text, whole numbers, floats and booleans are converted in one step (pandas prints a
    float as ``str`` does); dates as :func:`~protection_eval.model.to_iso_text`; any other
    column cell by cell.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return to_iso_text(values)
    kind = values.dtype.kind
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return values.fillna("").astype(str)
    if kind in "iub" and isinstance(values.dtype, np.dtype):
        return values.astype(str)
    if values.dtype == np.float64:
        return values.astype(str).where(values.notna(), "")
    return values.map(lambda v: "" if v is None or (v != v) else str(v)).astype(str)


def _spatial_to_text(gdf: gpd.GeoDataFrame, path: Path) -> pd.DataFrame:
    names = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    _refuse_duplicate_columns(path, names, "among the attributes")
    _refuse_reserved_columns(path, names)
    frame = pd.DataFrame(index=range(len(gdf)))
    frame["source_row"] = range(1, len(gdf) + 1)
    for column in gdf.columns:
        if column == gdf.geometry.name:
            continue
        frame[str(column)] = _attribute_text(gdf[column].reset_index(drop=True))
    geometry = gdf.geometry
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") and len(gdf):
        geometry = geometry.to_crs("EPSG:4326")
    # The shapely objects as one array: a list is built by one Python call per geometry.
    frame["geometry"] = geometry.to_numpy()
    return frame


def _read_spatial(path: Path, fmt: str, layer: str | None) -> pd.DataFrame:
    """Read a GeoParquet file (pyarrow) or a GDAL format (one explicit driver) as text.

    ``fmt`` is the format's name (:data:`protection_eval.io.formats.FORMATS`).
    """
    if fmt != "geoparquet":
        gdf = read_spatial_file(path, fmt, layer)
        with offline():  # a reprojection may not fetch grids
            return _spatial_to_text(gdf, path)
    try:
        _refuse_duplicate_columns(path, pq.read_schema(path).names, "in the schema")
        try:
            gdf = gpd.read_parquet(path)
        except ValueError:
            gdf = pd.read_parquet(path)
            if not isinstance(gdf, gpd.GeoDataFrame):
                gdf = gpd.GeoDataFrame(gdf, geometry=[None] * len(gdf))
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path, f"cannot be read as GeoParquet ({type(exc).__name__}: {exc})",
            "Check that the file is complete and in the format its extension says",
        ) from None
    with offline():  # a reprojection may not fetch grids
        return _spatial_to_text(gdf, path)


#: Arrow type of the point column of a typed GPS table: GeoArrow's native point layout.
POINT_TYPE = pa.struct([("x", pa.float64()), ("y", pa.float64())])

#: A little-endian 2D WKB point: byte order 1, geometry type 1, then x and y (21 bytes).
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
_WKB_POINT_BYTES = _WKB_POINT.itemsize

#: Rows of a GPS file decoded at a time.
_POINT_BATCH_ROWS = 1 << 20


def _typed_tracks(path: Path, spec: SourceSpec) -> pd.DataFrame | None:
    """Read a GeoParquet of GPS fixes keeping its times and points typed, or None.

    Text would be printed here and parsed back by ingestion for every fix; instead the
    time column (the one mapped onto ``recorded_at``) stays a datetime column and the points
    become one ``geometry`` column of (x, y) pairs (:data:`POINT_TYPE`), which ingestion
    checks as values and prints only for the rows it quarantines. The other attributes are
    text as :func:`_spatial_to_text` makes them. None (read as text by the spatial reader)
    for any file whose typed reading might answer differently: another reader's concern
    (duplicate or reserved names, a source ``where`` or export shape), another shape, byte
    order, encoding or CRS of the geometry than little-endian 2D WKB points in WGS84, a
    non-finite coordinate, or several geometry columns. A time column is kept typed only
    when the text of each value would be read back to the same instant by ISO rules alone
    (no declared ``date_format``, whole seconds, offsets in whole minutes, wall-clock years
    1678..2261); otherwise it is text.
    """
    if (spec.where or spec.geopoint or spec.select_multiple or spec.calendar_year
            or spec.dates_only or spec.derive):
        return None
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    meta = file.schema_arrow.metadata or {}
    if len(set(names)) != len(names) or "source_row" in names or b"geo" not in meta:
        return None
    geo = json.loads(meta[b"geo"])
    pandas_meta = json.loads(meta.get(b"pandas", b"{}"))
    column = geo.get("primary_column")
    described = geo.get("columns", {}).get(column, {})
    if (len(geo.get("columns", {})) != 1 or column not in names
            or described.get("encoding") != "WKB" or file.metadata.num_rows == 0
            or "geometry" in set(names) - {column}
            or any(not isinstance(i, dict) for i in pandas_meta.get("index_columns", []))):
        return None
    crs = described.get("crs", "OGC:CRS84")
    if crs is not None and not pyproj.CRS.from_user_input(crs).equals("EPSG:4326"):
        return None
    renamed = {spec.columns.get(n, n) for n in names if n != column}
    if {"longitude", "latitude"} & renamed:
        return None  # coordinate columns of the file stand in for the points
    # The points first, a batch at a time: the WKB is never held whole.
    points = _wkb_points(file.iter_batches(columns=[column], batch_size=_POINT_BATCH_ROWS,
                                           use_threads=False), file.metadata.num_rows)
    if points is None:
        return None
    time_name = next((k for k, v in spec.columns.items() if v == "recorded_at"),
                     None if "recorded_at" in spec.columns else "recorded_at")
    attributes = file.read(columns=[n for n in names if n != column], use_threads=False,
                           use_pandas_metadata=True).to_pandas()
    frame = pd.DataFrame(index=range(len(attributes)))
    frame["source_row"] = range(1, len(attributes) + 1)
    for name in attributes.columns:
        values = attributes[name].reset_index(drop=True)
        keep = name == time_name and spec.date_format is None and _iso_readable(values)
        frame[str(name)] = values if keep else _attribute_text(values)
    frame["geometry"] = pd.Series(pd.arrays.ArrowExtensionArray(points), index=frame.index)
    del attributes
    pa.default_memory_pool().release_unused()
    return frame


def _wkb_points(batches: Iterable[pa.RecordBatch], rows: int) -> pa.StructArray | None:
    """Decode WKB 2D points (little-endian) in bulk; None for any other geometry.

    A missing geometry and an empty point give NaN coordinates, which ingestion reads as
    no coordinates, as it does for them from shapely.
    """
    x = np.full(rows, np.nan)
    y = np.full(rows, np.nan)
    start = 0
    for batch in batches:
        wkb = batch.column(0)
        if not (pa.types.is_binary(wkb.type) or pa.types.is_large_binary(wkb.type)):
            return None
        width = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
        offsets = np.frombuffer(wkb.buffers()[1], dtype=width)[
            wkb.offset:wkb.offset + len(wkb) + 1]
        valid = ~wkb.is_null().to_numpy(zero_copy_only=False)
        lengths = np.diff(offsets)
        if (lengths[valid] != _WKB_POINT_BYTES).any() or (lengths[~valid] != 0).any():
            return None
        records = np.frombuffer(wkb.buffers()[2], dtype=_WKB_POINT, offset=int(offsets[0]),
                                count=int(valid.sum()))
        if not ((records["order"] == 1) & (records["type"] == 1)).all():
            return None
        where = start + np.flatnonzero(valid)
        x[where] = records["x"]
        y[where] = records["y"]
        start += len(wkb)
    if start != rows or np.isinf(x).any() or np.isinf(y).any():
        return None
    return pa.StructArray.from_arrays([pa.array(x), pa.array(y)], fields=list(POINT_TYPE))


def _iso_readable(values: pd.Series) -> bool:
    """Whether ISO rules alone read every value's text back to the same instant."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        return False
    for start in range(0, len(values), _POINT_BATCH_ROWS):  # temporaries a batch long
        if not _iso_readable_part(values.iloc[start:start + _POINT_BATCH_ROWS]):
            return False
    return True


def _iso_readable_part(values: pd.Series) -> bool:
    values = values.dt.as_unit("ns")
    present = values.notna().to_numpy()
    if not present.any():
        return True
    # Zoned values are stored as UTC ticks; their text shows the wall-clock time.
    utc = values.array.asi8[present]
    wall = (values.dt.tz_localize(None).array.asi8[present] if values.dt.tz is not None
            else utc)
    if (wall % 1_000_000_000 != 0).any():
        return False  # a fraction of a second goes to the cell-by-cell parser
    earliest, latest = (pd.Timestamp(d).as_unit("ns").value for d in ("1678-01-01", "2261-12-31"))
    if wall.min() < earliest or wall.max() > latest:
        return False
    offsets = wall - utc
    return not ((offsets % 60_000_000_000 != 0).any()
                or (np.abs(offsets) >= 86_400 * 10**9).any())


def _preset_notes(spec: SourceSpec, frame: pd.DataFrame) -> list[str]:
    if spec.preset is None:
        return []
    preset = load_preset(spec.preset)
    present = [f"{c} ({why})" for c, why in preset.dropped.items() if c in frame.columns]
    if not present:
        return []
    return [f"preset {preset.name} drops identifying and free-text columns: "
            + "; ".join(present)]


#: An incidents CSV larger than this is handed to ingestion in blocks of rows
#: (:class:`RawTableBlocks`) rather than read whole: a 200 MB export took about 650 MB as a
#: whole table of text, held for all of ingestion (docs/performance.md).
CSV_BLOCK_BYTES = 32 * 2**20


class RawTableBlocks(RawTable):
    """A large CSV handed over in blocks of consecutive rows, never held whole.

    :meth:`blocks` yields the rows :func:`read_raw_table` would give as one frame (hashtag row
    and blank rows taken out, export shape applied), ``_CSV_CHUNK_ROWS`` lines of the file at
    a time, each block labelled by its rows' positions in that frame. Ingestion checks the
    blocks one by one. ``frame`` still gives the whole table (read again, not kept) to a
    reader that needs it whole, and ``rows`` counts the rows with one pass over the file.

    Attributes
    ----------
    spec : SourceSpec
        The source's reader keys.
    """

    def __init__(self, table: str, path: Path, spec: SourceSpec, options: dict[str, Any],
                 notes: tuple[str, ...] = ()) -> None:
        for name, value in (("table", table), ("path", path), ("notes", notes), ("spec", spec),
                            ("_options", options), ("_count", [])):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"RawTableBlocks(table={self.table!r}, path={str(self.path)!r})"

    def blocks(self, notes: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """Yield the table's rows in blocks, from the file; at least one block, maybe empty.

        Parameters
        ----------
        notes : list of str, optional
            Receives what the reader took out of the first block (an HXL hashtag row).
        """
        kept, first = 0, True
        for chunk in _csv_chunks(self.path, self._options, self.spec.header_row):
            if first:
                chunk, taken = skip_hxl_row(chunk, self.table, propose=self.spec.hxl)
                (notes if notes is not None else []).extend(taken)
                first = False
            chunk = _drop_blank_rows(chunk)
            chunk.index = pd.RangeIndex(kept, kept + len(chunk))
            kept += len(chunk)
            yield apply_export_shape(chunk, self.path, self.spec)

    @property
    def frame(self) -> pd.DataFrame:  # type: ignore[override]
        """The whole table, read from the file (not kept)."""
        blocks = list(self.blocks())
        return blocks[0] if len(blocks) == 1 else pd.concat(blocks)

    @property
    def rows(self) -> int:
        """Number of data rows, counted once over the file."""
        if not self._count:
            self._count.append(sum(len(block) for block in self.blocks()))
        return self._count[0]


def _read_csv_blocks(table: str, path: Path, spec: SourceSpec,
                     header_only_ok: bool) -> RawTableBlocks:
    """Check a large CSV's header and first rows now; hand over its rows in blocks later."""
    raw = RawTableBlocks(table, path, spec, _csv_options(path, spec))
    notes: list[str] = []
    blocks = raw.blocks(notes)
    first = next(blocks)
    # Blank lines may fill whole chunks: a table with no rows is known at its first row.
    empty = first.empty and all(block.empty for block in blocks)
    blocks.close()
    if empty and not header_only_ok:
        raise InputFileError(path, "the file has a header but no rows", "Export it with its rows")
    object.__setattr__(raw, "notes", tuple(notes + _preset_notes(spec, first)))
    return raw


def read_raw_table(
    table: str,
    path: Path,
    *,
    layer: str | None = None,
    spec: SourceSpec | None = None,
    header_only_ok: bool = False,
) -> RawTable:
    """Read one input file in its declared or extension-implied format, and in that one only.

    Parameters
    ----------
    table : str
        Canonical table name, used in messages.
    path : Path
        The file.
    layer : str, optional
        Layer of a GeoPackage or zipped shapefile with several (``spec.layer`` when a spec is
        given and this is None).
    spec : SourceSpec, optional
        The source's reader keys: ``sheet``, ``header_row``, ``sep``, ``encoding``, ``hxl`` and
        the export shape (``geopoint``, ``select_multiple``, ``calendar_year``,
        ``dates_only``, ``derive``); defaults when None.
    header_only_ok : bool
        Whether a file with a header and no rows is a table with no rows (an optional table,
        declared and empty) rather than an error.

    Returns
    -------
    RawTable
        The file's rows as text; its ``notes`` say what the reader took out (an HXL hashtag
        row), proposed (a column map from hashtags) or what a preset drops. GPS tracks from
        a GeoParquet file may keep their time column and points typed (``_typed_tracks``). An
        incidents CSV larger than :data:`CSV_BLOCK_BYTES` is a :class:`RawTableBlocks`, whose
        rows ingestion reads in blocks.

    Raises
    ------
    InputFileError
        Missing, empty, header-only or undecodable file, an unknown extension, a file that does
        not start as its format (:func:`~protection_eval.io.formats.check_signature`), a folder or
        link loop instead of a file, a separator that cannot be told, a column name given twice
        or reserved (``source_row``), a GeoPackage, zip or workbook with several layers or
        sheets and none named, or an export-shape key naming a column the file lacks.
    """
    path = Path(path)
    spec = spec or _DEFAULT_SOURCE
    layer = layer if layer is not None else spec.layer
    fmt = source_format(path, spec.format)
    _check_source_file(path)
    check_signature(path, fmt)
    kind = fmt.reader
    if kind == "csv" and table == "incidents" and path.stat().st_size > CSV_BLOCK_BYTES:
        return _read_csv_blocks(table, path, spec, header_only_ok)
    notes: list[str] = []
    if kind in ("csv", "workbook"):
        if kind == "csv":
            frame = _read_csv(path, spec)
        else:
            frame = read_workbook(path, sheet=spec.sheet, header_row=spec.header_row)
            _refuse_duplicate_columns(path, [c for c in frame.columns if c != "source_row"])
            _refuse_reserved_columns(path, list(frame.columns)[1:])
        frame, notes = skip_hxl_row(frame, table, propose=spec.hxl)
        frame = _drop_blank_rows(frame)
    elif kind in ("json", "jsonl"):
        frame, notes = _read_json(path, fmt.name, layer)
    else:
        frame = None
        if table == "patrol_tracks" and kind == "geoparquet":
            try:
                frame = _typed_tracks(path, spec)
            except Exception:  # the spatial reader then reports what is wrong
                frame = None
        if frame is None:
            frame = _read_spatial(path, fmt.name, layer)
    if frame.empty and not header_only_ok:
        problem = ("holds no records" if kind in ("json", "jsonl") and "geometry" not in frame
                   else "the file has a header but no rows")
        raise InputFileError(path, problem, "Export it with its rows")
    frame = apply_export_shape(frame, path, spec)
    return RawTable(table, path, frame, tuple(notes + _preset_notes(spec, frame)))


def _read_json(path: Path, fmt: str, layer: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Read JSON records, JSON Lines, or GeoJSON in a ``.json`` file (told apart by parsing)."""
    if fmt == "jsonl":
        frame, notes = read_json_lines(path)
    else:
        document = load_json_document(path)
        if is_geojson(document):
            del document
            return _read_spatial(path, "json", layer), []
        frame, notes = read_json_records(path, document)
    _refuse_reserved_columns(path, list(frame.columns)[1:])
    return frame, notes


def read_mission_sources(config: MissionConfig) -> dict[str, RawTable]:
    """Read every source table a mission configures.

    An optional table (not in :data:`~protection_eval.config.REQUIRED_TABLES`) may be a header
    with no rows; ingestion reports it as declared and empty.

    Raises
    ------
    InputFileError
        A file that cannot be used, or a source whose preset is for another table.
    """
    raw: dict[str, RawTable] = {}
    for table in TABLES:
        spec = getattr(config.sources, table)
        if spec is None:
            continue
        if spec.preset is not None and load_preset(spec.preset).table != table:
            preset = load_preset(spec.preset)
            raise InputFileError(
                spec.path, f"sources.{table} takes preset {preset.name!r}, which is for the "
                f"{preset.table} table", f"Move it under sources.{preset.table}, or remove it",
            )
        # Incidents may be a header only when monthly counts stand in for the rows.
        optional = table not in REQUIRED_TABLES or (
            table == "incidents" and config.sources.incident_counts is not None)
        raw[table] = read_raw_table(table, spec.path, spec=spec, header_only_ok=optional)
    return raw


def read_csv_table(table: str, path: str | Path) -> RawTable:
    """Read a CSV the project wrote itself (cells as text, ``source_row`` added)."""
    path = Path(path)
    return RawTable(table, path, _drop_blank_rows(_read_csv(path, SourceSpec(path=path, sep=","))))
