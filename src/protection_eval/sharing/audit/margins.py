"""Published totals of incidents, read from every container a shared folder holds.

A published total is a :class:`Margin`: a count of incidents of one mission over a run of months,
in one aggregation unit (the whole mission, an H3 cell, an area), under one name (the column,
key or property that carries it). The margins are read from the files as they are, not from
what the code meant to write, so that a count shown in a new place is read too, and a file
whose counts cannot be read is said to be so (:attr:`PublishedMargins.unread`) rather than
passed over:

- **JSON** (``coverage_summary.json``): an object with an ``incidents_total`` key gives every
  ``incidents_*`` count as a mission-wide total over its ``period``; a list of records is read
  as a table (below); every GeoJSON FeatureCollection inside is read as a layer (below).
- **Tables** (CSV files, sheets of XLSX and ODS workbooks, HTML tables, records): a row with an
  ``incidents`` count and an ``h3_cell`` or ``area_id`` is the total of that unit over the
  row's ``period``; a ``covered_share`` beside it gives the covered count it implies
  (``incidents_covered``), and every other ``incidents_*`` column is a total under its own
  name. Each distinct (mission, strategy, design) ``n_incidents`` is a mission-wide total
  (``effects.csv``). A table with incident counts and no unit, whose rows are not the gaps of
  the same folder by their rank (the brief's table), cannot be attributed: unread.
- **Layers** (GeoJSON files, the FeatureCollections a page carries in its scripts, whether
  written into the code as folium does or in a ``<script type="application/json">``, GeoPackage
  and GeoParquet layers): each feature's properties are read as a table row.
- **HTML pages and SVG drawings**: their scripts and JSON attributes (layers, above), their
  tables (headers are column names or the brief's headers in any of the project's languages),
  elements carrying counts in ``data-*`` attributes (``data-incidents`` with ``data-h3-cell``
  or ``data-area-id``), and the brief's sentence "Reported incidents in the period: N" in any of
  the project's languages (the mission-wide ``incidents_total``). A drawing's colours are
  classes of counts at least k wide, which cannot give a count from 1 to k-1 by subtraction,
  and its numbers are gap ranks; neither is a margin.
- **Anything else** (PDF, images, plain text, files that do not open): unread. The publication
  gate refuses a folder with an unread file (:mod:`protection_eval.runs.publish`), since the
  ledger could not vouch for the counts it shows.

Numbers written for a reader are read as a reader would: grouping separators of any locale
(``1 234``, ``1,234``, ``1.234``) and Arabic-Indic digits.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from protection_eval.sharing.audit.office import (
    OFFICE_SUFFIXES,
    UnauditableOffice,
    read_office_file,
)
from protection_eval.sharing.audit.rules import embedded_json

__all__ = [
    "MARGIN_SUFFIXES",
    "UNKNOWN_MONTH",
    "Margin",
    "PublishedMargins",
    "Unread",
    "margins_of_folder",
    "month_span",
    "read_published_margins",
]

#: The months of a total whose file does not say them and whose run was not given: such totals
#: are still compared within their file, never across runs.
UNKNOWN_MONTH = "unknown"
_MONTH_RE = re.compile(r"((?:19|20)\d{2})-(0[1-9]|1[0-2])")


def month_span(text: Any) -> tuple[str, str] | None:
    """Return the first and last month (``YYYY-MM``) of a period written as text, else None.

    Reads ``2022-01 to 2023-12``, ``2023-01..2023-06``, ``2023-04`` and ISO dates
    (``2023-01-01..2023-06-30``): the first and last month written.
    """
    months = _MONTH_RE.findall(str(text or ""))
    if not months:
        return None
    return f"{months[0][0]}-{months[0][1]}", f"{months[-1][0]}-{months[-1][1]}"


@dataclass(frozen=True)
class Margin:
    """One published total of incidents.

    Attributes
    ----------
    file : str
        The shared file it was read from.
    where : str
        Its place in the file (a JSON key, a CSV row and column, a map layer's feature).
    mission : str
        The mission ("" when the file does not say).
    unit : str
        The aggregation unit: ``mission``, ``h3_cell=<id>`` or ``area_id=<id>``.
    name : str
        What the total is: the JSON key, or the column and the sample it describes.
    first, last : str
        The first and last month counted (``YYYY-MM``).
    value : int
        The total.
    """

    file: str
    where: str
    mission: str
    unit: str
    name: str
    first: str
    last: str
    value: int

    @property
    def label(self) -> str:
        """The margin's name and place, without its value."""
        return f"{self.file} {self.name} [{self.unit}] {self.first}..{self.last}"

    def to_dict(self) -> dict[str, Any]:
        """Return the margin as a plain dictionary (a line of the ledger)."""
        return asdict(self)


@dataclass(frozen=True)
class Unread:
    """A shared file, or a part of one, whose counts of incidents cannot be read as margins.

    Attributes
    ----------
    file : str
        The shared file.
    where : str
        The part ("" for the whole file).
    why : str
        What the reader could not do.
    """

    file: str
    where: str
    why: str


@dataclass(frozen=True)
class PublishedMargins:
    """Every total of incidents a shared folder shows, and what could not be read.

    Attributes
    ----------
    margins : list of Margin
        In file order.
    unread : list of Unread
        Files and parts whose counts could not be attributed to a unit and months.
    """

    margins: list[Margin] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


# -- numbers ---------------------------------------------------------------------------------

_GROUPED_RE = re.compile(r"\d{1,3}(?:([.,'\u066c])\d{3})(?:\1\d{3})*")
_SPACES_RE = re.compile(r"[\s\u00a0\u202f\u2009\u2007]+")


def _whole(value: Any) -> int | None:
    """Return a whole non-negative count, else None.

    Text is read as a reader reads it: spaces and one repeated grouping separator between
    groups of three digits are dropped, in any digits Python reads as decimal.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = _SPACES_RE.sub("", str(value))
        if _GROUPED_RE.fullmatch(text.translate(_ASCII_DIGITS)):
            text = re.sub(r"[.,'\u066c]", "", text)
        try:
            number = float(text)
        except ValueError:
            return None
    return int(number) if number.is_integer() and number >= 0 else None


_ASCII_DIGITS = {code: str(int(chr(code))) for code in (
    *range(0x0660, 0x066A), *range(0x06F0, 0x06FA))}


def _fraction(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


# -- tables: rows of named values, from any container ----------------------------------------

_UNIT_COLUMNS = ("h3_cell", "area_id")
_RANK_COLUMNS = ("rank", "gap_rank")


@dataclass
class _Table:
    """Rows of one table, layer or list of records, as read from a container."""

    file: str
    where: Callable[[int, str], str]
    rows: list[dict[str, Any]]


def _margins_of_table(
    table: _Table, default: tuple[str, str] | None, ranks: dict[int, str]
) -> tuple[list[Margin], list[Unread]]:
    """Apply the table rules (module docstring) to one table."""
    rows = table.rows
    columns = set().union(*(set(r) for r in rows)) if rows else set()
    out: list[Margin] = []
    unread: list[Unread] = []
    if "n_incidents" in columns:
        seen: set[tuple[str, str, int]] = set()
        for i, row in enumerate(rows):
            number = _whole(row.get("n_incidents"))
            sample = " ".join(str(row.get(c) or "") for c in ("strategy_id", "design")).strip()
            key = (str(row.get("mission") or ""), sample, number)
            if number is None or key in seen:
                continue
            seen.add(key)
            label = f"n_incidents ({sample})" if sample else "n_incidents"
            out.append(Margin(table.file, table.where(i, "n_incidents"), key[0], "mission",
                              label, *(month_span(row.get("period")) or default
                                       or (UNKNOWN_MONTH, UNKNOWN_MONTH)), number))
    counted = sorted(c for c in columns if c == "incidents" or c.startswith("incidents_"))
    if not counted:
        return out, unread
    for i, row in enumerate(rows):
        unit = _unit_of(row, ranks)
        span = month_span(row.get("period")) or default
        mission = str(row.get("mission") or "")
        values = {c: _whole(row.get(c)) for c in counted}
        if not any(v is not None for v in values.values()):
            continue  # every count of the row hidden
        if unit is None or span is None:
            what = "no unit (h3_cell, area_id, or a rank of the folder's gaps)" if unit is None \
                else "no months (a period column, or the run's period)"
            unread.append(Unread(table.file, table.where(i, counted[0]),
                                 f"a count of incidents with {what}"))
            continue
        for column, number in values.items():
            if number is not None:
                out.append(Margin(table.file, table.where(i, column), mission, unit, column,
                                  *span, number))
        # A covered share of a shown count gives the covered count, and the rest.
        share = _fraction(row.get("covered_share"))
        if share is not None and values.get("incidents") is not None \
                and values.get("incidents_covered") is None:
            out.append(Margin(table.file, table.where(i, "covered_share"), mission, unit,
                              "incidents_covered", *span, round(share * values["incidents"])))
    return out, unread


def _unit_of(row: dict[str, Any], ranks: dict[int, str]) -> str | None:
    for column in _UNIT_COLUMNS:
        if row.get(column) not in (None, ""):
            return f"{column}={str(row[column]).strip()}"
    for column in _RANK_COLUMNS:
        rank = _whole(row.get(column))
        if rank is not None and rank in ranks:
            return ranks[rank]
    return None


def _gap_ranks(tables: list[_Table]) -> dict[int, str]:
    """Return the folder's gap units by rank (``gaps.csv`` ``rank``, the map's ``gap_rank``)."""
    ranks: dict[int, str] = {}
    for table in tables:
        for row in table.rows:
            unit = next((f"{c}={str(row[c]).strip()}" for c in _UNIT_COLUMNS
                         if row.get(c) not in (None, "")), None)
            for column in _RANK_COLUMNS:
                rank = _whole(row.get(column))
                if unit is not None and rank is not None:
                    ranks.setdefault(rank, unit)
    return ranks


# -- containers ------------------------------------------------------------------------------


@dataclass
class _Read:
    """What the containers of one folder gave: tables, totals read directly, unread parts."""

    tables: list[_Table] = field(default_factory=list)
    summaries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sentences: list[tuple[str, str, int]] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


def _collections(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Yield every GeoJSON FeatureCollection (a lone Feature as a collection of one) in data."""
    if depth > 8:
        return
    if isinstance(data, dict):
        kind = data.get("type")
        if kind == "FeatureCollection" and isinstance(data.get("features"), list):
            yield data
            return
        if kind == "Feature" and isinstance(data.get("properties"), dict):
            yield {"type": "FeatureCollection", "features": [data]}
            return
        for value in data.values():
            yield from _collections(value, depth + 1)
    elif isinstance(data, list):
        if data and all(isinstance(d, dict) and d.get("type") == "Feature" for d in data):
            yield {"type": "FeatureCollection", "features": data}
            return
        for value in data:
            yield from _collections(value, depth + 1)


def _add_layers(read: _Read, file: str, place: str, data: Any) -> None:
    for n, collection in enumerate(_collections(data), start=1):
        rows = [f.get("properties") or {} for f in collection["features"] if isinstance(f, dict)]
        rows = [r for r in rows if isinstance(r, dict)]
        layer = f"{place}layer {n}" if place else f"layer {n}"
        read.tables.append(_Table(
            file, lambda i, c, layer=layer: f"{layer}, feature {i + 1}, {c}", rows))


def _read_json(read: _Read, file: str, text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        read.unread.append(Unread(file, "", "not JSON"))
        return
    if isinstance(data, dict) and "incidents_total" in data:
        read.summaries.append((file, data))
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data) \
            and not any(r.get("type") == "Feature" for r in data):
        read.tables.append(_Table(file, lambda i, c: f"[{i}].{c}", data))
    _add_layers(read, file, "", data)


def _read_csv(read: _Read, file: str, text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    read.tables.append(_Table(file, lambda i, c: f"row {i + 2}, {c}", rows))


def _read_office(read: _Read, file: str, path: Path) -> None:
    try:
        content = read_office_file(path)
    except UnauditableOffice as exc:
        read.unread.append(Unread(file, "", str(exc)))
        return
    for sheet, cells in content.sheets:
        header = [str(c).strip() if c is not None else "" for c in (cells[0] if cells else [])]
        rows = [{h: v for h, v in zip(header, row, strict=False) if h} for row in cells[1:]]
        read.tables.append(_Table(
            file, lambda i, c, sheet=sheet: f"{sheet} row {i + 2}, {c}", rows))
    for layer, collection in content.features:
        _add_layers(read, file, f"{layer} ", collection)


@functools.cache
def _brief_words() -> tuple[dict[str, str], list[re.Pattern[str]]]:
    """Return the brief's table headers and total sentence in every language of the project."""
    from protection_eval.config import available_languages
    from protection_eval.sharing.i18n import get_language

    headers: dict[str, str] = {}
    sentences = []
    for code in available_languages():
        lang = get_language(code)
        for message, column in (("reported incidents", "incidents"), ("rank on the map", "rank"),
                                ("in area", "place")):
            headers[_SPACES_RE.sub(" ", lang.gettext(message)).strip().casefold()] = column
        template = _SPACES_RE.sub(" ", lang.gettext("Reported incidents in the period: {total}."))
        before, _, after = template.partition("{total}")
        pattern = (re.escape(before.strip()) + r"\s*(?P<total>\d(?:[\d\s.,'\u066c]*\d)?)\s*"
                   + re.escape(after.strip()))
        sentences.append(re.compile(pattern, re.IGNORECASE))
    return headers, sentences


class _Page(HTMLParser):
    """The parts of an HTML page or SVG drawing that can carry counts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.code: list[str] = []  # the page's own scripts (not vendored libraries)
        self.attributes: list[tuple[str, str]] = []
        self.data_rows: list[dict[str, str]] = []
        self.tables: list[list[list[tuple[bool, str]]]] = []
        self.text: list[str] = []
        self._script: list[str] | None = None
        self._vendored = False
        self._skip = 0
        self._cell: list[str] | None = None
        self._cell_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if value.lstrip()[:1] in ("{", "["):
                self.attributes.append((f"<{tag} {name}>", value))
        data = {name[5:].replace("-", "_"): value for name, value in values.items()
                if name.startswith("data-")}
        if any(_counts_like(name) for name in data):
            self.data_rows.append(data)
        if tag == "script":
            self._script = []
            self._vendored = "data-vendored" in values or "src" in values
        elif tag == "style":
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self._cell, self._cell_head = [], tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            if not self._vendored:
                self.code.append(self.scripts[-1])
            self._script = None
        elif tag == "style":
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._cell is not None:
            text = _SPACES_RE.sub(" ", "".join(self._cell)).strip()
            self.tables[-1][-1].append((self._cell_head, text))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
            return
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def _counts_like(name: str) -> bool:
    return any(word in name.casefold() for word in ("incident", "count", "report", "case"))


_DRAWS_GEOJSON = re.compile(r"\.geo_?json\s*\(", re.IGNORECASE)
_LITERAL_RE = re.compile(r"\"((?:[^\"\\\n]|\\.){20,})\"|'((?:[^'\\\n]|\\.){20,})'")


def _json_in_script(body: str) -> Iterator[Any]:
    """Yield the JSON a script holds: all of it, objects in its code, JSON in its strings."""
    try:
        whole = json.loads(body)
    except ValueError:
        pass
    else:
        yield whole
        return
    for obj, _, _ in embedded_json(body):
        yield obj
    for match in _LITERAL_RE.finditer(body):
        literal = match.group(1)
        if literal is None:  # single-quoted: written again as a double-quoted JSON string
            literal = re.sub(r'(?<!\\)"', r'\\"', match.group(2).replace("\\'", "'"))
        if literal.lstrip()[:1] not in ("{", "["):
            continue
        try:
            yield json.loads(json.loads(f'"{literal}"'))
        except ValueError:
            continue


def _read_page(read: _Read, file: str, text: str) -> None:
    page = _Page()
    page.feed(text)
    page.close()
    layers = len(read.tables)
    for n, body in enumerate(page.scripts, start=1):
        for obj in _json_in_script(body):
            _add_layers(read, file, f"script {n}, ", obj)
    for place, value in page.attributes:
        try:
            _add_layers(read, file, f"{place} ", json.loads(value))
        except ValueError:
            continue
    if len(read.tables) == layers and any(_DRAWS_GEOJSON.search(c) for c in page.code):
        # A map that draws GeoJSON layers whose data could not be found: its counts would be
        # published unread. Said, so that a new way of embedding them cannot pass unseen.
        read.unread.append(Unread(file, "", "a map draws GeoJSON layers the ledger cannot find "
                                            "in the page"))
    _read_page_tables(read, file, page.tables)
    for i, row in enumerate(page.data_rows):
        odd = [k for k in row if _counts_like(k) and k != "n_incidents"
               and k != "incidents" and not k.startswith("incidents_")]
        if odd:
            read.unread.append(Unread(file, f"element {i + 1} data-{odd[0]}",
                                      "a count in a data attribute the ledger does not know"))
    if page.data_rows:
        read.tables.append(_Table(file, lambda i, c: f"element {i + 1} data-{c}",
                                  page.data_rows))
    words = _SPACES_RE.sub(" ", "".join(page.text))
    for pattern in _brief_words()[1]:
        for match in pattern.finditer(words):
            number = _whole(match.group("total"))
            if number is not None:
                read.sentences.append((file, "text, reported incidents in the period", number))


def _read_page_tables(read: _Read, file: str, tables: list[list[list[tuple[bool, str]]]]) -> None:
    headers = _brief_words()[0]
    for n, table in enumerate(tables, start=1):
        rows = [r for r in table if r]
        if not rows:
            continue
        head = rows[0] if all(is_head for is_head, _ in rows[0]) else None
        if head is None:
            continue
        names = [headers.get(text.casefold(), text.strip()) for _, text in head]
        records = [{name: text for name, (_, text) in zip(names, row, strict=False)}
                   for row in rows[1:]]
        read.tables.append(_Table(
            file, lambda i, c, n=n: f"table {n} row {i + 1}, {c}", records))


_READERS = {".json": "json", ".geojson": "json", ".csv": "csv", ".html": "page",
            ".htm": "page", ".svg": "page"}
#: File suffixes whose totals of incidents the ledger reads; every other file is unread.
MARGIN_SUFFIXES = frozenset(_READERS) | OFFICE_SUFFIXES


def _read_file(read: _Read, path: Path, name: str) -> None:
    suffix = path.suffix.lower()
    if suffix in OFFICE_SUFFIXES:
        _read_office(read, name, path)
        return
    kind = _READERS.get(suffix)
    if kind is None:
        read.unread.append(Unread(name, "", f"the ledger reads no total of incidents in a "
                                            f"{suffix or 'suffix-less'} file"))
        return
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    {"json": _read_json, "csv": _read_csv, "page": _read_page}[kind](read, name, text)


def _summary_margins(file: str, data: dict[str, Any],
                     default: tuple[str, str] | None) -> list[Margin]:
    span = month_span(data.get("period")) or default
    if span is None:
        return []
    mission = str(data.get("mission") or "")
    return [Margin(file, f"/{key}", mission, "mission", key, *span, number)
            for key, value in data.items()
            if key.startswith("incidents_") and (number := _whole(value)) is not None]


def read_published_margins(
    folder: str | Path, period: str | None = None, *, mission: str = ""
) -> PublishedMargins:
    """Read every published total of incidents in a shared folder, in every container.

    Parameters
    ----------
    folder : str or Path
        The shared folder (or one file).
    period : str, optional
        The run's period, for files that do not write theirs (``effects.csv``, the map).
        Without it, the period of a ``coverage_summary.json``-like file is used; without
        that, such totals are compared within their file only (months
        :data:`UNKNOWN_MONTH`; a count of a unit is then unread).
    mission : str
        The mission, for files that do not name theirs.

    Returns
    -------
    PublishedMargins
        The margins, and the files or parts whose counts could not be read.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    read = _Read()
    for path in files:
        _read_file(read, path, path.relative_to(folder).as_posix() if folder.is_dir()
                   else path.name)
    default = month_span(period)
    found: list[Margin] = []
    for file, data in read.summaries:
        found += _summary_margins(file, data, default)
    if default is None:
        default = next(((m.first, m.last) for m in found), None)
    ranks = _gap_ranks(read.tables)
    unread = list(read.unread)
    for table in read.tables:
        margins, missing = _margins_of_table(table, default, ranks)
        found += margins
        unread += missing
    if default is not None:
        found += [Margin(file, where, "", "mission", "incidents_total", *default, number)
                  for file, where, number in read.sentences]
    found = [m if m.mission else Margin(**{**m.to_dict(), "mission": mission}) for m in found]
    return PublishedMargins(found, unread)


def margins_of_folder(
    folder: str | Path, period: str | None = None, *, mission: str = ""
) -> list[Margin]:
    """Read every published total of incidents in a shared folder.

    The margins of :func:`read_published_margins`, without what could not be read.

    Parameters
    ----------
    folder : str or Path
        The shared folder.
    period : str, optional
        The run's period, for files that do not write theirs.
    mission : str
        The mission, for files that do not name theirs.

    Returns
    -------
    list of Margin
        In file order.
    """
    return read_published_margins(folder, period, mission=mission).margins
