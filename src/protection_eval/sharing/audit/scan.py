"""How the audit reads a shared folder: HTML, JSON, CSV and what hides inside them.

Internal to :mod:`protection_eval.sharing.audit.folder`: the walker that opens every container
(entities, iframe ``srcdoc``, ``data:`` URIs, JSON in scripts), hands strings, names and numbers to
the detectors of :mod:`protection_eval.sharing.audit.rules`, and gathers :class:`Finding` objects.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pandas as pd

from protection_eval.sharing.audit import locations, structure
from protection_eval.sharing.audit import rules as rules

#: Every kind of finding the audit reports, with the reason printed beside it.
FINDING_KINDS: dict[str, str] = {
    "incident_coordinate": "it lies near a reported incident and is not an approved hexagon or "
    "area point, so it can locate a survivor (DOMAIN.md rule 1)",
    "small_count": "a count from 1 to k-1 must be suppressed (DOMAIN.md rule 2)",
    "recoverable_count": "a hidden count can be solved for from a total shown in the same "
    "folder; hide another value beside it (complementary suppression, DOMAIN.md rule 2)",
    "close_totals": "two totals of the same incidents differ by 1 to k-1, so subtracting one "
    "from the other gives a small cell (DOMAIN.md rule 2); suppress one of them or publish "
    "only one",
    "identifying_field": "identifying or row-level fields never leave the restricted part "
    "(DOMAIN.md rules 1 and 3)",
    "identifying_value": "an incident id or a raw identifying value points at one survivor "
    "(DOMAIN.md rules 1 and 3)",
    "fine_date": "shared time is monthly at the finest (DOMAIN.md rule 1)",
    "time_of_day": "no time of day in shared outputs (DOMAIN.md rule 1)",
    "fine_location": "a place written more precisely than a shared hexagon, inside the "
    "mission's extent, in any notation (decimal degrees in text, degrees-minutes-seconds, UTM, "
    "geohash, an H3 cell finer than the mission's) locates a survivor better than the shared "
    "aggregates do (DOMAIN.md rule 1)",
    "third_party_request": "opening the file would contact a third-party server (DOMAIN.md rule 4)",
    "third_party_url": "a third-party address that is not the mission's tile server "
    "(DOMAIN.md rule 4)",
    "notebook_file": "executed notebooks hold row-level data and stay restricted "
    "(DOMAIN.md rule 5)",
    "notebook_metadata": "notebook or papermill metadata means restricted material leaked "
    "(DOMAIN.md rule 5)",
    "traceback": "a traceback exposes code, paths and sometimes data (DOMAIN.md rule 5)",
    "local_path": "a local file path exposes the restricted layout (DOMAIN.md rule 5)",
    "protected_place": "service points and safe houses are never shared (DOMAIN.md rule 6)",
    "markup_in_data": "HTML markup or an event-handler attribute in a data value runs as script "
    "where a page writes the value as HTML (folium's tooltips do); escape it for HTML before it "
    "reaches the page, or correct the source (DOMAIN.md rule 4)",
    "unauditable_file": "the audit cannot read this file type, so it cannot vouch for it",
    "point_layer": "a layer that draws individual points (heat map, markers, clusters, circles, "
    "GeoJSON points) shows where incidents happened; only a label exactly at the centre of an "
    "approved hexagon or area may be a point (DOMAIN.md rule 1)",
    "named_case": "a popup, tooltip or text naming one incident, case or survivor points at a "
    "person (DOMAIN.md rules 1 and 3)",
    "raster_image": "a raster image cannot be read by the audit; only an image the project made "
    "from audited aggregates and recorded with its sha256 in the run's manifest may be shared",
    "special_file": "a symbolic link or a special file (FIFO, socket, device) in a shared folder "
    "points outside it or cannot be read as a file",
}

_MAX_PER_KIND = 20
_MAX_DEPTH = 12
_TEXT_MIMES = (
    "text/",
    "application/json",
    "application/geo+json",
    "image/svg+xml",
    "application/javascript",
    "application/xhtml",
)


@dataclass(frozen=True)
class Finding:
    """One thing in a shared folder that must not be there.

    Attributes
    ----------
    file : str
        Path relative to the audited folder.
    where : str
        Where in the file (line, JSON path, CSV row and column, decoded container...).
    kind : str
        One of :data:`FINDING_KINDS`.
    what : str
        The offending value, shortened.
    why : str
        The rule it breaks.
    """

    file: str
    where: str
    kind: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.file} [{self.where}] {self.kind}: {self.what} -- {self.why}"


@dataclass
class Context:
    """What one audit knows (k, rules) and gathers (coordinates, counts, findings)."""

    k: int
    rules: rules.Rules
    coords: list[tuple] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requested: set[tuple[str, str]] = field(default_factory=set)
    # Columns of counts (one value per row or feature, None where hidden) and every labelled
    # count seen, for the check that a hidden count cannot be recovered from a shown total.
    count_groups: list[tuple[str, str, str, list[float | None]]] = field(default_factory=list)
    totals: list[tuple[str, str, float]] = field(default_factory=list)
    # Where a point label may stand: H3 resolutions of the run and the areas' centres.
    label_resolutions: tuple[int, ...] = tuple(range(10))
    unit_centres: Any = None
    # sha256 of images the run's manifest records as made from audited aggregates.
    allowed_images: frozenset[str] = frozenset()
    # Places read from text in any notation, checked against the mission's extent at the end;
    # the extent (lng/lat bounds) and the shared hexagons' edge, when the mission is known.
    located: list[tuple[locations.Located, str, str, int | None]] = field(default_factory=list)
    extent: tuple[float, float, float, float] | None = None
    share_resolution: int = 9

    def is_unit_centre(self, lng: float, lat: float) -> bool:
        """Whether a point is exactly an H3 cell centre (or its label point) or an area centre."""
        tol_x, tol_y = rules._tolerance(lng), rules._tolerance(lat)
        if self.unit_centres is not None:
            for x, y in self.unit_centres:
                if abs(x - lng) <= tol_x and abs(y - lat) <= tol_y:
                    return True
        if not (abs(lat) <= 90 and abs(lng) <= 180):
            return False
        for resolution in self.label_resolutions:
            cell = rules.h3.latlng_to_cell(lat, lng, resolution)
            y, x = rules.h3.cell_to_latlng(cell)
            boundary = rules.h3.cell_to_boundary(cell)
            label = rules.shapely.Polygon([(b, a) for a, b in boundary]).representative_point()
            for cx, cy in ((x, y), (label.x, label.y)):
                if abs(cx - lng) <= tol_x and abs(cy - lat) <= tol_y:
                    return True
        return False

    def add(self, file: str, where: str, kind: str, what: Any) -> None:
        """Record a finding, with the offending value shortened to 120 characters."""
        text = str(what)
        text = text if len(text) <= 120 else text[:117] + "..."
        self.findings.append(Finding(file, where, kind, text, FINDING_KINDS[kind]))


class _HtmlWalker(HTMLParser):
    """Collect text, attributes, scripts and tables with their line numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[tuple[int, str]] = []
        self.attributes: list[tuple[int, str, str, str]] = []
        self.scripts: list[tuple[int, dict[str, str], str]] = []
        self.tables: list[tuple[int, list[list[tuple[bool, str]]]]] = []
        self.points: list[tuple[int, str, str, str]] = []
        self._script: tuple[int, dict[str, str]] | None = None
        self._buffer: list[str] = []
        self._style: tuple[int, dict[str, str]] | None = None
        self.styles: list[tuple[int, dict[str, str], str]] = []
        self._tables: list[tuple[int, list[list[tuple[bool, str]]]]] = []
        self._cell: list[str] | None = None
        self._cell_is_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            self.attributes.append((line, tag, name, value))
        if "cx" in values and "cy" in values:
            self.points.append((line, tag, values["cx"], values["cy"]))
        if tag == "script":
            self._script, self._buffer = (line, values), []
        elif tag == "style":
            self._style, self._buffer = (line, values), []
        elif tag == "table":
            self._tables.append((line, []))
        elif tag == "tr" and self._tables:
            self._tables[-1][1].append([])
        elif tag in ("td", "th") and self._tables:
            self._cell, self._cell_is_header = [], tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((*self._script, "".join(self._buffer)))
            self._script = None
        elif tag == "style" and self._style is not None:
            self.styles.append((*self._style, "".join(self._buffer)))
            self._style = None
        elif tag in ("td", "th") and self._cell is not None and self._tables:
            rows = self._tables[-1][1]
            if not rows:
                rows.append([])
            rows[-1].append((self._cell_is_header, " ".join(self._cell).strip()))
            self._cell = None
        elif tag == "table" and self._tables:
            self.tables.append(self._tables.pop())

    def handle_comment(self, data: str) -> None:
        # Not displayed, but in the file: a reader of the source sees it.
        self.texts.append((self.getpos()[0], data))

    def unknown_decl(self, data: str) -> None:
        self.texts.append((self.getpos()[0], data))

    def handle_decl(self, decl: str) -> None:
        # A DOCTYPE's internal subset (``<!ENTITY d "...">``) is text in the file.
        self.texts.append((self.getpos()[0], decl))

    def handle_pi(self, data: str) -> None:
        # A processing instruction (``<?xml-stylesheet ...?>``) is text in the file.
        self.texts.append((self.getpos()[0], data))

    def handle_data(self, data: str) -> None:
        if self._script is not None or self._style is not None:
            self._buffer.append(data)
            return
        self.texts.append((self.getpos()[0], data))
        if self._cell is not None:
            self._cell.append(data)


def _decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    """Return (mime, bytes) of a ``data:`` URI of any media type, None for a malformed one."""
    match = re.match(r"data:([\w.+/-]*)((?:;[\w.+-]+=[\w.+-]+)*)(;base64)?,(.*)", uri, re.S)
    if match is None:
        return None
    mime = match.group(1).lower() or "text/plain"
    payload = match.group(4)
    if match.group(3):
        try:
            raw = base64.b64decode(re.sub(r"\s+", "", payload), validate=False)
        except (binascii.Error, ValueError):
            return None
    else:
        from urllib.parse import unquote_to_bytes

        raw = unquote_to_bytes(payload)
    return mime, raw


class Scanner:
    """Open every container of a file and apply the rules to what is inside."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- dispatch -----------------------------------------------------------------------
    def scan_content(self, text: str, mime: str, file: str, where: str, depth: int) -> None:
        """Scan ``text`` according to its media type (HTML, SVG, JSON, CSV, JavaScript, text)."""
        if depth > _MAX_DEPTH:
            self.ctx.add(file, where, "unauditable_file", "content nested too deeply to audit")
            return
        if "html" in mime or "svg" in mime:
            self.scan_html(text, file, where, depth)
        elif "json" in mime:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                self.scan_text(text, file, where, depth)
                return
            self.scan_json(obj, file, where, depth, data=True)
        elif "csv" in mime:
            self.scan_csv(text, file, where, depth)
        elif "javascript" in mime:
            self.scan_script(text, file, where, depth)
        else:
            self.scan_text(text, file, where, depth)

    # -- strings ------------------------------------------------------------------------
    def scan_text(
        self, text: str, file: str, where: str, depth: int, *, prose: bool = True
    ) -> None:
        """Every string-level rule: URLs, dates, times, ids, paths, tracebacks, data: URIs."""
        ctx, r = self.ctx, self.ctx.rules
        # A string that is itself a document is opened whole (its data: URIs with it).
        if self._scan_nested(text, file, where, depth):
            return
        for uri in rules.DATA_URI_RE.findall(text):
            decoded = _decode_data_uri(uri)
            if decoded is not None:
                self.scan_bytes(decoded[1], decoded[0], file, f"{where} > data: URI", depth + 1)
        # As a reader reads it: fullwidth forms folded, zero-width and other format characters
        # gone (NFKC, category Cf).
        plain = rules.normalise_text(rules.DATA_URI_RE.sub(" ", text).replace("\\/", "/"))
        for url in r.third_party_urls(plain):
            if (file, url) not in ctx.requested:
                ctx.add(file, where, "third_party_url", url)
        for kind, value in rules.find_dates_and_times(plain):
            ctx.add(file, where, kind, value)
        for kind, value in structure.find_other_date_forms(plain):
            ctx.add(file, where, kind, value)
        for value in structure.find_named_cases(plain):
            ctx.add(file, where, "named_case", value)
        self.check_point_layers(plain, file, where)
        for value in rules.find_local_paths(plain):
            ctx.add(file, where, "local_path", value)
        if rules.TRACEBACK_RE.search(plain):
            ctx.add(file, where, "traceback", rules.TRACEBACK_RE.search(plain).group(0))
        if rules.NOTEBOOK_RE.search(plain):
            ctx.add(file, where, "notebook_metadata", rules.NOTEBOOK_RE.search(plain).group(0))
        for value in r.identifying_values_in(plain):
            ctx.add(file, where, "identifying_value", value)
        self.collect_places(plain, file, where)
        if "<" in plain and (joined := rules.without_markup(plain)) != plain:
            self.check_hidden_text(joined, file, where, dates=False)
        if prose:
            for value in rules.small_counts_in_prose(plain, ctx.k):
                ctx.add(file, where, "small_count", value)

    def _scan_nested(self, text: str, file: str, where: str, depth: int) -> bool:
        """Open a string that is itself a document (HTML, SVG or JSON); True when opened."""
        head = text.lstrip()
        if not head or head[0] not in "<{[":
            return False
        kind = structure.sniff_text(head)
        obj: Any = None
        if kind in ("html", "svg") and not re.search(r"<[A-Za-z!?][^<>]*>", head):
            return False
        if kind == "json":
            try:
                obj = json.loads(head)
            except (json.JSONDecodeError, RecursionError):
                return False
            if not isinstance(obj, dict | list):
                return False
        elif kind not in ("html", "svg"):
            return False
        if depth >= _MAX_DEPTH:
            self.ctx.add(file, where, "unauditable_file", "content nested too deeply to audit")
        elif obj is not None:
            self.scan_json(obj, file, f"{where} > JSON", depth + 1, data=True)
        else:
            self.scan_html(head, file, f"{where} > {kind}", depth + 1)
        return True

    def scan_bytes(self, data: bytes, mime: str, file: str, where: str, depth: int) -> None:
        """Scan the bytes of a ``data:`` URI or an embedded part: image, text or refusal."""
        if self.check_image(data, file, where):
            return
        try:
            text, _ = structure.decode_bytes(data)
        except structure.UnauditableBytes as exc:
            self.ctx.add(file, where, "unauditable_file", f"{mime} content {exc}")
            return
        if not mime.startswith(_TEXT_MIMES) or mime == "text/plain":
            mime = structure.sniff_text(text)
        self.scan_content(text, mime, file, where, depth)

    def check_image(self, data: bytes, file: str, where: str) -> bool:
        """Record a raster image unless its sha256 is recorded; True when ``data`` is an image."""
        kind = structure.image_kind(data)
        if kind is None:
            return False
        digest = structure.sha256_hex(data)
        if digest not in self.ctx.allowed_images:
            self.ctx.add(file, where, "raster_image", f"{kind} image, sha256 {digest[:16]}...")
        return True

    def collect_places(self, text: str, file: str, where: str, *,
                       geohash: bool = False) -> None:
        """Gather the places ``text`` writes in any notation, for the coordinate rules.

        Decimal pairs, degrees-minutes-seconds, UTM references and geohashes go to the
        incident rule (near a reported incident); all but geohashes, and H3 cells, also to the
        extent rule (:func:`check_fine_locations`). A geohash goes there too when it is
        labelled as one: ``geohash`` in ``text``, or ``geohash`` True (a column or key so
        named), since ordinary words can read as geohashes.
        """
        ctx = self.ctx
        if not any(c.isdigit() for c in text):
            return
        labelled = geohash or "geohash" in text.lower()
        for place in locations.decimal_pairs(text):
            ctx.coords.append((place.lng, place.lat, file, where, "pair"))
            ctx.located.append((place, file, where, None))
        for place in [*locations.dms_points(text), *locations.utm_points(text)]:
            ctx.coords.append((place.lng, place.lat, file, where, "point"))
            ctx.located.append((place, file, where, None))
        for place in locations.geohash_points(text):
            ctx.coords.append((place.lng, place.lat, file, where, "point"))
            if labelled:
                ctx.located.append((place, file, where, None))
        for _, resolution, place in locations.h3_cells(text):
            ctx.located.append((place, file, where, resolution))

    def collect_svg_shape(self, value: str, file: str, where: str) -> None:
        """Gather the points of an SVG path or polyline as vertices (and small rings' centres)."""
        rings = locations.svg_path_points(value)
        for ring in rings:
            for x, y in ring:
                self.ctx.coords.append((x, y, file, where, "vertex"))
        limit = 4 * self.ctx.rules.distance_m
        closed = [[list(p) for p in ring] for ring in rings if len(ring) >= 3]
        for x, y, ring in rules.small_ring_centres(closed, limit):
            self.ctx.coords.append((x, y, file, where, "ring_centre", ring))

    def check_hidden_text(self, text: str, file: str, where: str, *, dates: bool = True) -> None:
        """Search text no other rule reads as a whole for what points at a case.

        Identifying values and named cases, and with ``dates`` dates and times of day: a
        comment, or the text of a page or string with its tags removed (``INC-<b></b>00042``
        reads ``INC-00042``), where dates are not searched (a count in one cell and a month
        in the next are not a date).
        """
        ctx = self.ctx
        text = rules.normalise_text(text)
        for value in ctx.rules.identifying_values_in(text):
            ctx.add(file, where, "identifying_value", value)
        for value in structure.find_named_cases(text):
            ctx.add(file, where, "named_case", value)
        if not dates:
            return
        for kind, value in rules.find_dates_and_times(text):
            ctx.add(file, where, kind, value)
        for kind, value in structure.find_other_date_forms(text):
            ctx.add(file, where, kind, value)

    def check_point_layers(self, code: str, file: str, where: str) -> None:
        """Record layers that draw points, except labels exactly at an approved unit's centre."""
        for call, position in structure.find_point_layers(code):
            if position is not None and self.ctx.is_unit_centre(position[1], position[0]):
                continue
            self.ctx.add(file, where, "point_layer", call)

    def check_markup(self, value: str, file: str, where: str) -> None:
        """Apply the markup rule to a data value (JSON value, GeoJSON property, CSV cell)."""
        found = rules.find_markup_in_value(value)
        if found is not None:
            self.ctx.add(file, where, "markup_in_data", found)

    def check_name(self, name: str, file: str, where: str) -> None:
        """Apply the identifying and protected-place rules to a column, key or header name."""
        if rules.is_identifying_name(name):
            self.ctx.add(file, where, "identifying_field", name)
        if rules.is_protected_place_name(name):
            self.ctx.add(file, where, "protected_place", name)

    # -- JSON ---------------------------------------------------------------------------
    def scan_json(
        self, obj: Any, file: str, where: str, depth: int, *, data: bool = False
    ) -> None:
        """Walk parsed JSON: names, labelled counts, coordinates, strings, count columns.

        ``data`` is True inside data values (a JSON document or data island, GeoJSON feature
        properties), where markup is a finding; it is False for objects written in page code
        (Leaflet options, whose ``html`` and ``attribution`` members are markup by design).
        """
        ctx = self.ctx
        if isinstance(obj, dict):
            if "nbformat" in obj and "cells" in obj:
                ctx.add(file, where or "/", "notebook_metadata", "a Jupyter notebook document")
            self._collect_lat_lng(obj, file, where)
            geometry_type = obj.get("type") if isinstance(obj.get("type"), str) else None
            if geometry_type in ("Point", "MultiPoint"):
                self._check_point_geometry(obj.get("coordinates"), file, where, geometry_type)
            for key, value in obj.items():
                path = f"{where}/{key}"
                name = str(key)
                self.check_name(name, file, path)
                if data:
                    self.check_markup(name, file, path)
                inner = data or (geometry_type == "Feature" and name == "properties")
                if name in ("papermill", "nbformat", "kernelspec"):
                    ctx.add(file, path, "notebook_metadata", name)
                self.scan_text(name, file, path, depth, prose=False)
                if "geohash" in name.lower() and isinstance(value, str):
                    self.collect_places(value, file, path, geohash=True)
                if structure.is_date_name(name) and not isinstance(value, dict | list):
                    serial = structure.excel_serial(value)
                    if serial is not None:
                        ctx.add(file, path, "fine_date", serial)
                if structure.is_period_key(name) and not isinstance(value, dict | list):
                    count = rules.as_small_count(value, ctx.k)
                    if count is not None:
                        ctx.add(file, path, "small_count", f"{name}: {count} (a count per period)")
                if rules.is_count_name(name):
                    count = rules.as_small_count(value, ctx.k)
                    if count is not None:
                        ctx.add(file, path, "small_count", f"{name} = {count}")
                    number = rules.as_number(value)
                    if number is not None:
                        ctx.totals.append((file, path, number))
                if name == "coordinates":
                    kind = "vertex" if geometry_type not in ("Point", "MultiPoint") else "point"
                    for lng, lat in rules.iter_positions(value):
                        ctx.coords.append((lng, lat, file, path, kind))
                    if geometry_type in ("Polygon", "MultiPolygon"):
                        limit = 4 * ctx.rules.distance_m
                        for x, y, ring in rules.small_ring_centres(value, limit):
                            ctx.coords.append((x, y, file, path, "ring_centre", ring))
                    continue
                self.scan_json(value, file, path, depth, data=inner)
        elif isinstance(obj, list):
            pair = rules.as_pair(obj)
            if pair is not None:
                ctx.coords.append((*pair, file, where, "pair"))
                return
            self._collect_count_columns(obj, file, where)
            for i, value in enumerate(obj):
                self.scan_json(value, file, f"{where}/{i}", depth, data=data)
        elif isinstance(obj, str):
            if data:
                self.check_markup(obj, file, where)
            self.scan_text(obj, file, where, depth)
        else:
            epoch = structure.epoch_number(obj)
            if epoch is not None:
                ctx.add(file, where, "fine_date", f"{epoch} (epoch time)")

    def _check_point_geometry(self, coordinates: Any, file: str, where: str, kind: str) -> None:
        positions = list(rules.iter_positions(coordinates))
        if positions and all(self.ctx.is_unit_centre(x, y) for x, y in positions):
            return
        first = positions[0] if positions else ("?", "?")
        self.ctx.add(file, where or "/", "point_layer", f"GeoJSON {kind} at {first}")

    def _collect_count_columns(self, items: list, file: str, where: str) -> None:
        """Record the count columns of a list of records or GeoJSON features."""
        if len(items) < 2 or not all(isinstance(item, dict) for item in items):
            return
        records = [
            item.get("properties") or {} if item.get("type") == "Feature" else item
            for item in items
        ]
        names = {str(key) for record in records for key in record if rules.is_count_name(key)}
        for name in sorted(names):
            values = [rules.as_number(record.get(name)) for record in records]
            self.ctx.count_groups.append((file, where, name, values))

    def _collect_lat_lng(self, obj: dict, file: str, where: str) -> None:
        keys = {str(k).lower(): v for k, v in obj.items()}
        lat = next((keys[k] for k in rules.LAT_NAMES if k in keys), None)
        lng = next((keys[k] for k in rules.LNG_NAMES if k in keys), None)
        pair = rules.as_pair([lng, lat]) if lat is not None and lng is not None else None
        if pair is not None:
            self.ctx.coords.append((*pair, file, where, "point"))
            return
        # ``centre_lat`` / ``centre_lon`` and the like: one point split over two members.
        if not any("lat" in k for k in keys) or not any("lon" in k or "lng" in k for k in keys):
            return
        text = " ".join(f"{k}: {v}," for k, v in keys.items() if isinstance(v, int | float | str))
        for x, y in structure.split_coordinates_in_code(text):
            self.ctx.coords.append((x, y, file, where, "point"))

    # -- CSV ----------------------------------------------------------------------------
    def scan_csv(self, text: str, file: str, where: str, depth: int) -> None:
        """Scan a CSV: header names, every cell, count columns and coordinate columns."""
        self.scan_rows(list(csv.reader(io.StringIO(text.lstrip("\ufeff")))), file, where, depth)

    def scan_rows(self, rows: list[list[Any]], file: str, where: str, depth: int) -> None:
        """Scan a table of cells (a CSV, a sheet), the first row its header.

        Cells are text or, from a spreadsheet, numbers, booleans or None; a number that reads
        as epoch time is a date.
        """
        ctx = self.ctx
        if not rows:
            return
        header = ["" if name is None else str(name) for name in rows[0]]
        for name in header:
            self.check_name(name, file, f"{where}header")
            self.check_markup(name, file, f"{where}header")
            self.scan_text(name, file, f"{where}header", depth, prose=False)
        count_cols = [i for i, name in enumerate(header) if rules.is_count_name(name)]
        date_cols = {i for i, name in enumerate(header) if structure.is_date_name(name)}
        geohash_cols = {i for i, name in enumerate(header) if "geohash" in name.lower()}
        lat_col = next((i for i, n in enumerate(header) if n.lower() in rules.LAT_NAMES), None)
        lng_col = next((i for i, n in enumerate(header) if n.lower() in rules.LNG_NAMES), None)
        for i in count_cols:
            values = [rules.as_number(row[i]) if i < len(row) else None for row in rows[1:]]
            ctx.count_groups.append((file, f"{where}column {header[i]}", header[i], values))
            spot = f"{where}column {header[i]}"
            ctx.totals += [(file, spot, v) for v in values if v is not None]
        for number, row in enumerate(rows[1:], start=2):
            for i, value in enumerate(row):
                column = header[i] if i < len(header) else f"#{i + 1}"
                spot = f"{where}row {number}, column {column}"
                serial = structure.excel_serial(value) if i in date_cols else None
                if serial is not None:
                    ctx.add(file, spot, "fine_date", serial)
                if not isinstance(value, str):
                    epoch = structure.epoch_number(value)
                    if epoch is not None:
                        ctx.add(file, spot, "fine_date", f"{epoch} (epoch time)")
                    value = "" if value is None else str(value)
                self.check_markup(value, file, spot)
                self.scan_text(value, file, spot, depth)
                if i in geohash_cols:
                    self.collect_places(value, file, spot, geohash=True)
                if i in count_cols:
                    count = rules.as_small_count(value, ctx.k)
                    if count is not None:
                        ctx.add(file, spot, "small_count", count)
            if lat_col is not None and lng_col is not None and max(lat_col, lng_col) < len(row):
                pair = rules.as_pair([row[lng_col], row[lat_col]])
                if pair is not None:
                    ctx.coords.append((*pair, file, f"{where}row {number}", "point"))

    # -- HTML ---------------------------------------------------------------------------
    def scan_html(self, text: str, file: str, where: str, depth: int) -> None:
        """Scan a page: requests, attributes, srcdoc, text, comments, scripts, styles, tables."""
        ctx = self.ctx
        if depth > _MAX_DEPTH:
            ctx.add(file, where, "unauditable_file", "content nested too deeply to audit")
            return
        prefix = f"{where} > " if where else ""
        walker = _HtmlWalker()
        walker.feed(text)
        walker.close()
        for url in ctx.rules.external_requests(text):
            ctx.requested.add((file, url))
            ctx.add(file, f"{prefix}page", "third_party_request", url)
        for line, tag, name, value in walker.attributes:
            spot = f"{prefix}line {line} <{tag} {name}>"
            if name == "srcdoc":
                self.scan_html(value, file, f"{spot} srcdoc", depth + 1)
            elif name in ("d", "points"):
                self.collect_svg_shape(value, file, spot)
            elif name.startswith("on") or name == "style":
                self.scan_script(value, file, spot, depth)
            else:
                prose = name not in ("href", "src", "class", "id", "srcset")
                self.scan_text(value, file, spot, depth, prose=prose)
        speaks_of_incidents = rules.mentions_incidents(" ".join(t for _, t in walker.texts))
        # The page's text as it reads with the tags gone: a value split by markup is whole.
        self.check_hidden_text("".join(t for _, t in walker.texts), file, f"{prefix}text",
                               dates=False)
        for line, data in walker.texts:
            if data.strip():
                self.scan_text(data, file, f"{prefix}line {line}", depth)
                legend = rules.small_legend_class(data, ctx.k) if speaks_of_incidents else None
                if legend is not None:
                    ctx.add(file, f"{prefix}line {line}", "small_count", f"legend class {legend}")
        for line, attrs, body in walker.scripts:
            spot = f"{prefix}line {line} <script>"
            if rules.is_vendored_copy(attrs, body):
                continue
            kind = attrs.get("type", "").lower()
            if "json" in kind:
                self.scan_content(body, "application/json", file, spot, depth)
            else:
                self.scan_script(body, file, spot, depth)
        for line, attrs, body in walker.styles:
            if not rules.is_vendored_copy(attrs, body):
                # A CSS comment can neither fetch nor show anything; stylesheets carry
                # licence and credit URLs there (nbconvert's theme does).
                css = rules.CSS_COMMENT_RE.sub(" ", body)
                self.scan_text(css, file, f"{prefix}line {line} <style>", depth, prose=False)
                # A comment is still text in the file: what names a case is read there too.
                for comment in rules.CSS_COMMENT_RE.findall(body):
                    self.check_hidden_text(comment, file, f"{prefix}line {line} <style> comment")
        for line, rows in walker.tables:
            self._scan_table(rows, file, f"{prefix}line {line} <table>")
        for line, tag, x, y in walker.points:
            pair = rules.as_pair([x, y])
            if pair is not None:
                ctx.coords.append((*pair, file, f"{prefix}line {line} <{tag} cx cy>", "point"))

    def _scan_table(self, rows: list[list[tuple[bool, str]]], file: str, where: str) -> None:
        ctx = self.ctx
        header: list[str] = []
        columns: dict[str, list[float | None]] = {}
        for row in rows:
            if row and all(is_header for is_header, _ in row):
                header = [value for _, value in row]
                for name in header:
                    self.check_name(name, file, f"{where} header")
                continue
            for i, (_, value) in enumerate(row):
                name = header[i] if i < len(header) else ""
                if name and rules.is_count_name(name):
                    spot = f"{where} column {name}"
                    count = rules.as_small_count(value, ctx.k)
                    if count is not None:
                        ctx.add(file, spot, "small_count", count)
                    number = rules.as_number(value)
                    columns.setdefault(name, []).append(number)
                    if number is not None:
                        ctx.totals.append((file, spot, number))
        for name, values in columns.items():
            ctx.count_groups.append((file, f"{where} column {name}", name, values))

    @staticmethod
    def _literals(body: str, spans: list[tuple[int, int]]) -> list[str]:
        """Return the string literals of ``body`` that do not lie inside JSON already scanned.

        Read from the code as written, not from the code with its JSON blanked: a JSON-looking
        part inside a string (``"<script>L.geoJson([[...]])"``) must not cut the string open.
        """
        out = []
        for match in rules.STRING_RE.finditer(body):
            start, end = match.span()
            if any(a <= start and end <= b for a, b in spans):
                continue
            out += list(rules.string_literals(match.group(0)))
        return out

    def scan_script(self, body: str, file: str, where: str, depth: int) -> None:
        """Scan script code: embedded JSON first, then pairs, counts and string literals."""
        ctx = self.ctx
        rest = list(body)
        spans = []
        for obj, start, end in rules.embedded_json(body):
            line = body.count("\n", 0, start) + 1
            self.scan_json(obj, file, f"{where} +{line} embedded JSON", depth)
            rest[start:end] = " " * (end - start)
            spans.append((start, end))
        code = "".join(rest)
        # Comments and code are text in the file too: an id there is as shared as in a string.
        self.check_hidden_text(rules.JS_COMMENT_RE.sub(" ", code), file, where, dates=False)
        for comment in rules.JS_COMMENT_RE.findall(code):
            self.check_hidden_text(comment, file, f"{where} comment")
        self.check_point_layers(body, file, where)
        for a, b in rules.coordinate_pairs_in_code(code):
            ctx.coords.append((b, a, file, where, "pair"))
        for x, y in structure.split_coordinates_in_code(code):
            ctx.coords.append((x, y, file, where, "point"))
        for name, count in rules.small_counts_in_code(code, ctx.k):
            ctx.add(file, where, "small_count", f"{name}: {count}")
        for literal in self._literals(body, spans):
            handler = rules.find_handler_in_code(literal)
            if handler is not None:
                ctx.add(file, where, "markup_in_data", handler)
            text = _unescape_js(literal)
            # A string that is a document (HTML, JSON) is opened as one, every rule inside.
            if not self._scan_nested(text, file, f"{where} string", depth):
                self.scan_text(rules.strip_tags(text), file, where, depth)


_JS_ESCAPE_RE = re.compile(
    r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[nrtbfv0'\"\\/`])"
)
_JS_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unescape_js(literal: str) -> str:
    """Decode a JavaScript string literal's escapes (unicode, hex, newlines...)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u{"):
            return chr(int(code[2:-1], 16)) if int(code[2:-1], 16) < 0x110000 else ""
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _JS_SIMPLE.get(code, code)

    return _JS_ESCAPE_RE.sub(one, literal) if "\\" in literal else literal


def check_coordinates(ctx: Context, incidents: pd.DataFrame | None) -> None:
    """Turn gathered coordinates near an incident, and not approved, into findings."""
    if incidents is None or not ctx.coords or incidents.empty:
        return
    near = ctx.rules.near_incidents(ctx.coords, incidents)
    for lng, lat, file, where, distance in near:
        ctx.add(
            file,
            where,
            "incident_coordinate",
            f"({lat:.6f}, {lng:.6f}) is {distance:.0f} m from a reported incident",
        )


def check_fine_locations(ctx: Context) -> None:
    """Flag places written inside the mission's extent more precisely than a shared hexagon.

    A place read from text (:meth:`Scanner.collect_places`) is a ``fine_location`` when it lies
    inside the mission's extent (its areas' bounds, widened by a hexagon's edge) and its
    writing places it more closely than the edge of a hexagon at the mission's resolution (an
    H3 cell: when it is finer than the mission's resolution), unless it is an approved hexagon
    or area point. A decimal pair is tried in both orders (the other notations say which is the
    latitude). Without the mission's extent, this rule does not run.
    """
    if ctx.extent is None:
        return
    edge = rules.h3.average_hexagon_edge_length(ctx.share_resolution, unit="m")
    widen = edge / 111_320
    x0, y0, x1, y1 = ctx.extent
    for place, file, where, resolution in ctx.located:
        if resolution is not None:
            fine = resolution > ctx.share_resolution
        else:
            fine = place.precision_m < edge
        if not fine:
            continue
        orders = [(place.lng, place.lat)]
        if not place.ordered:
            orders.append((place.lat, place.lng))
        for lng, lat in orders:
            inside = x0 - widen <= lng <= x1 + widen and y0 - widen <= lat <= y1 + widen
            if inside and (resolution is not None or not ctx.rules.approved(lng, lat)):
                ctx.add(file, where, "fine_location",
                        f"{place.text} ({lat:.5f}, {lng:.5f}, to {place.precision_m:.0f} m)")
                break


def check_recoverable(ctx: Context) -> None:
    """Flag a column with one hidden count that a total shown in the folder gives back.

    When exactly one value of a count column is hidden, any shown total T of the same
    folder with ``1 <= T - sum(visible) < k`` recovers it exactly (the classic leak that
    complementary suppression prevents). Totals are every labelled count of the folder.
    """
    totals = sorted({value for _, _, value in ctx.totals})
    for file, where, name, values in ctx.count_groups:
        hidden = [v for v in values if v is None]
        if len(hidden) != 1:
            continue
        visible = sum(v for v in values if v is not None)
        for total in totals:
            if 1 <= total - visible < ctx.k:
                source = next(f"{f} {w}" for f, w, v in ctx.totals if v == total)
                ctx.add(
                    file,
                    where,
                    "recoverable_count",
                    f"{name}: the one hidden value is {total:g} ({source}) minus the "
                    f"{visible:g} shown = {total - visible:g}",
                )
                break


def cap_findings(findings: list[Finding]) -> list[Finding]:
    """Merge repeats of one value and keep the first findings of each (file, kind).

    The same leaked value found in several places of a file is one finding whose ``where``
    names the first place and how many others; beyond :data:`_MAX_PER_KIND` values of one kind
    in one file, the rest are summarised in a single line.
    """
    places: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        places.setdefault((finding.file, finding.kind, finding.what), []).append(finding)
    seen: dict[tuple[str, str], int] = {}
    out = []
    for (file, kind, _), group in places.items():
        seen[(file, kind)] = seen.get((file, kind), 0) + 1
        if seen[(file, kind)] > _MAX_PER_KIND:
            continue
        first = group[0]
        others = len({f.where for f in group}) - 1
        where = first.where if not others else f"{first.where} (and {others} more places)"
        out.append(Finding(file, where, kind, first.what, first.why))
    for (file, kind), n in seen.items():
        if n > _MAX_PER_KIND:
            what = f"{n - _MAX_PER_KIND} more values like these"
            out.append(Finding(file, "(summary)", kind, what, FINDING_KINDS[kind]))
    return out
