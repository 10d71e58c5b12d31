"""JSON records and JSON Lines read as tables; the one JSON parse every JSON source goes through.

API exports come as JSON: an array of objects (``[{"id": 1, ...}, ...]``), an object holding
one such array beside a few scalars (``{"count": 2, "data": [...]}``), or JSON Lines (one object
per line, ``.jsonl`` / ``.ndjson``). Each object is a row; its keys are the columns, in the order
they first appear; a key a row lacks is an empty cell. Cells are text, as every reader gives
them: a string as written, a number as Python prints it (``12``, ``0.5``), ``true`` /
``false``, and ``null`` as an empty cell. ``source_row`` is the record's position in the array
(from 1) or, in JSON Lines, its line in the file.

Nested values are flattened one level with dotted names: ``{"location": {"lat": 4.3}}`` gives a
column ``location.lat``. A value nested deeper, or a list (``"types": ["rape", "assault"]``), is
kept as its JSON text in the cell and named in the table's notes: nothing is dropped, and
nothing is guessed about how a list should be split (ingestion quarantines such a cell if the
column is one it uses).

Whether a ``.json`` file holds records or GeoJSON is decided by parsing it with the standard
library (a ``FeatureCollection`` or ``Feature`` is GeoJSON, read with the GeoJSON driver), never
by letting GDAL guess. Every JSON parse refuses a key given twice in one object (a reader would
keep one silently), ``NaN`` and ``Infinity`` (not JSON), and a GeoJSON ``crs`` that is a link
(:func:`protection_eval.io.spatial.refuse_crs_link`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from protection_eval.io.errors import InputFileError

__all__ = ["GEOJSON_TYPES", "is_geojson", "load_json_document", "read_json_lines",
           "read_json_records"]

#: Top-level ``type`` values that make a JSON document GeoJSON.
GEOJSON_TYPES = frozenset({"FeatureCollection", "Feature"})

#: GeoJSON ``crs`` names PROJ reads without a request: EPSG codes and OGC URNs or URIs.
_LOCAL_CRS_NAME = re.compile(
    r"^(EPSG:\d+|urn:ogc:def:crs:[A-Za-z0-9.:_-]+"
    r"|https?://www\.opengis\.net/def/crs/[A-Za-z0-9/._-]+)$"
)


def _refuse_crs_link(path: Path, pairs: list[tuple[str, Any]]) -> None:
    """Refuse a ``crs`` member other than a plain EPSG or OGC name, in any object.

    GDAL follows a ``crs`` of type ``link`` (or a name that is a web address) with an HTTP
    request while it reads the file.
    """
    for key, value in pairs:
        if key != "crs" or value is None:
            continue
        name = None
        if isinstance(value, dict) and value.get("type") == "name":
            properties = value.get("properties")
            name = properties.get("name") if isinstance(properties, dict) else None
        if not (isinstance(name, str) and _LOCAL_CRS_NAME.match(name.strip())):
            raise InputFileError(
                path,
                "has a `crs` member that is not a plain EPSG or OGC name (a link or an address "
                "would make the reader fetch it from the web)",
                "Remove the `crs` member (GeoJSON is longitude/latitude in WGS84), or write it "
                'as {"type": "name", "properties": {"name": "EPSG:4326"}}',
            )


def _object_hook(path: Path, where: str = "") -> Callable[[list[tuple[str, Any]]], dict]:
    def build(pairs: list[tuple[str, Any]]) -> dict:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise InputFileError(
                path,
                f"the key(s) {', '.join(repr(k) for k in twice)} appear more than once in one "
                f"object{where}",
                "Rename or delete the extra key so that every key of an object is unique",
            )
        _refuse_crs_link(path, pairs)
        return dict(pairs)

    return build


def _refuse_constant(path: Path) -> Callable[[str], Any]:
    def refuse(constant: str) -> Any:
        raise InputFileError(
            path, f"holds {constant}, which is not a JSON value",
            "Export the file again with null (or a number) in its place",
        )

    return refuse


def _decode(path: Path, data: bytes, where: str = "") -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path, f"not UTF-8 text{where} (byte {exc.start} cannot be decoded)",
            "Export the file again as UTF-8 (JSON is UTF-8)",
        ) from None


def _parse(path: Path, text: str, where: str = "") -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_hook(path, where),
                          parse_constant=_refuse_constant(path))
    except json.JSONDecodeError as exc:
        at = f"column {exc.colno}" if where else f"line {exc.lineno}, column {exc.colno}"
        raise InputFileError(
            path, f"is not valid JSON{where} ({at}: {exc.msg})",
            "Export the file again, complete, from the system it came from",
        ) from None
    except RecursionError:
        raise InputFileError(path, f"nests objects too deeply{where}",
                             "Export the table flat") from None


def load_json_document(path: Path) -> Any:
    """Parse a JSON file with the checks every JSON source gets (see the module docstring).

    Raises
    ------
    InputFileError
        Not UTF-8, not valid JSON (line and column named), a key given twice in one object,
        ``NaN`` or ``Infinity``, or a ``crs`` link.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror})",
                             "Check the file's permissions") from None
    return _parse(path, _decode(path, data))


def is_geojson(document: Any) -> bool:
    """Whether a parsed JSON document is a GeoJSON ``FeatureCollection`` or ``Feature``."""
    return isinstance(document, dict) and document.get("type") in GEOJSON_TYPES


def _cell(value: Any) -> tuple[str, bool]:
    """Return a JSON value as cell text, and whether it was a nested value kept as JSON text."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("true" if value else "false"), False
    if isinstance(value, int | float | str):
        return str(value), False
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), True


def _flatten(path: Path, record: dict, where: str, nested: set[str]) -> dict[str, str]:
    """One record as cells: objects flattened one level with dotted names."""
    row: dict[str, str] = {}
    for key, value in record.items():
        items = ([(f"{key}.{k}", v) for k, v in value.items()] if isinstance(value, dict)
                 else [(str(key), value)])
        for name, inner in items:
            if name in row:
                raise InputFileError(
                    path, f"{where} gives the column {name!r} twice (once as a dotted key, once "
                    "by flattening a nested object)", "Rename one of the two keys")
            row[name], kept = _cell(inner)
            if kept:
                nested.add(name)
    return row


def _frame(rows: list[dict[str, str]], numbers: list[int]) -> pd.DataFrame:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    frame = pd.DataFrame({name: [row.get(name, "") for row in rows] for name in columns},
                         index=range(len(rows)), dtype=object)
    frame.insert(0, "source_row", numbers)
    return frame


def _notes(nested: set[str], member: str | None, others: list[str]) -> list[str]:
    notes = []
    if member is not None:
        shown = f" (its other members, {', '.join(others)}, are not rows)" if others else ""
        notes.append(f"the records are the array under {member!r}{shown}")
    if nested:
        notes.append(
            "column(s) " + ", ".join(sorted(nested)) + " hold lists, or objects nested more "
            "than one level deep, kept as their JSON text; flatten them in the export to use "
            "them"
        )
    return notes


def _records(path: Path, document: Any) -> tuple[list, str | None, list[str]]:
    """Return the records of a JSON document, the member they came from, and the others."""
    action = ("A table in JSON is an array of objects, or an object with one member that is "
              "such an array; GeoJSON is a FeatureCollection")
    if isinstance(document, list):
        return document, None, []
    if not isinstance(document, dict):
        raise InputFileError(path, "holds a single JSON value, not records", action)
    arrays = [k for k, v in document.items()
              if isinstance(v, list) and all(isinstance(item, dict) for item in v)]
    if len(arrays) != 1:
        found = (f"{len(arrays)} members that are arrays of objects ({', '.join(arrays)})"
                 if arrays else "no member that is an array of objects")
        raise InputFileError(path, f"holds a JSON object with {found}", action)
    member = arrays[0]
    return document[member], member, [k for k in document if k != member]


def read_json_records(path: Path, document: Any) -> tuple[pd.DataFrame, list[str]]:
    """Read a parsed ``.json`` document of records as text cells with ``source_row``.

    Parameters
    ----------
    path : Path
        The file, for messages.
    document : object
        The document as :func:`load_json_document` parsed it (not GeoJSON).

    Returns
    -------
    frame : pandas.DataFrame
        ``source_row`` (the record's position in the array, from 1), then one text column per
        key (nested objects flattened one level with dotted names).
    notes : list of str
        The member the records came from, and the columns holding nested values as JSON text.

    Raises
    ------
    InputFileError
        A document that is neither an array of objects nor an object with one such array, an
        item of the array that is not an object, or a column given twice by flattening.
    """
    records, member, others = _records(path, document)
    nested: set[str] = set()
    rows = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputFileError(
                path, f"item {number} of the array is not an object (it is "
                f"{type(record).__name__} {_cell(record)[0][:40]!r})",
                "Every record must be a JSON object of key: value pairs",
            )
        rows.append(_flatten(path, record, f"record {number}", nested))
    return _frame(rows, list(range(1, len(rows) + 1))), _notes(nested, member, others)


def read_json_lines(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a JSON Lines file (one object per line) as text cells with ``source_row``.

    Blank lines are skipped; ``source_row`` is the line number in the file.

    Raises
    ------
    InputFileError
        Not UTF-8, a line that is not valid JSON or not an object (its number named), a key
        given twice in one object.
    """
    nested: set[str] = set()
    rows, numbers = [], []
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                where = f" on line {number}"
                line = _decode(path, raw, where)
                if not line.strip():
                    continue
                record = _parse(path, line, where)
                if not isinstance(record, dict):
                    raise InputFileError(
                        path, f"line {number} is not a JSON object",
                        "JSON Lines holds one object ({...}) per line",
                    )
                rows.append(_flatten(path, record, f"line {number}", nested))
                numbers.append(number)
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror})",
                             "Check the file's permissions") from None
    return _frame(rows, numbers), _notes(nested, None, [])
