"""The detectors behind the shared-folder audit: what counts as a leak, and how it is told.

Each rule is a small function on a string, a name or a value, so that it can be read, tested
and documented on its own (``docs/privacy.md`` restates them with their limits).
:class:`Rules` holds the mission-specific parts: allowed hosts, incident coordinates and ids,
approved hexagon and area points.
"""

from __future__ import annotations

import html as html_lib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from babel import Locale
from scipy.spatial import cKDTree

from protection_eval.config import available_languages
from protection_eval.sharing import offline
from protection_eval.sharing.audit import dates, fetches

if TYPE_CHECKING:
    from protection_eval.sharing.audit.needles import IdentifyingTimes

__all__ = [
    "COUNT_WORDS",
    "IDENTIFYING_NAMES",
    "INCIDENT_WORDS",
    "Rules",
    "as_small_count",
    "find_dates_and_times",
    "find_handler_in_code",
    "find_local_paths",
    "find_markup_in_value",
    "is_count_name",
    "is_identifying_name",
]

EARTH_RADIUS_M = 6_371_008.8

# -- names ------------------------------------------------------------------------------------

#: Column or property names that are identifying or row-level wherever they appear.
IDENTIFYING_NAMES: frozenset[str] = frozenset(
    (
        "incident_id source_row occurred_at reported_at recorded_at survivor "
        "survivor_name survivor_id survivor_code survivor_age victim_name victim_id "
        "victim_code victim_age name_of_survivor first_name last_name full_name "
        "given_name family_name surname age age_years date_of_birth dob birth_date "
        "birthdate phone phone_number telephone mobile_number narrative "
        "incident_narrative free_text incident_description case_id case_code "
        "case_number case_no caseworker caseworker_id caseworker_code caseworker_name "
        "agency_code agency_case_id address home_address perpetrator_name survivor_group "
        "matched_sources"
    ).split()
)
# A name holding one of these tokens is identifying even when not listed above.
_IDENTIFYING_TOKENS = frozenset(("caseworker dob phone telephone narrative surname").split())
#: Tokens that make a name an incident count (``incidents``, ``n_reports``, ``rape``...).
INCIDENT_WORDS: frozenset[str] = frozenset(
    (
        "incident incidents case cases report reports reported victim victims survivor "
        "survivors event events sgbv gbv rape rapes assault assaults abuse marriage "
        "denial sv sgbv_cases viol viols violation violations crsv ipv"
    ).split()
)
#: Generic count tokens: a count unless another token says what is counted is not people.
COUNT_WORDS: frozenset[str] = frozenset(
    {"count", "counts", "n", "nb", "num", "number", "total", "cnt", "ct", "tot", "freq"}
)
# Things counted in shared tables that are not survivors: model sizes, time, patrols.
_NOT_PEOPLE = frozenset(
    (
        "area areas month months period periods cell cells hexagon hexagons strategy "
        "strategies patrol patrols base bases unit units personnel women day days hour "
        "hours h obs observations row rows year years source sources deployment "
        "deployments km m share rate pct percent ratio irr rank parameters params "
        "iterations features layers files studies cluster clusters"
    ).split()
)

LAT_NAMES = ("lat", "latitude", "y")
LNG_NAMES = ("lng", "lon", "long", "longitude", "x")


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name))
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def is_identifying_name(name: str) -> bool:
    """Whether a column, property or header name is identifying or row-level."""
    tokens = _tokens(name)
    return "_".join(tokens) in IDENTIFYING_NAMES or bool(_IDENTIFYING_TOKENS & set(tokens))


_PROTECTED_PLACES = ("safe_house", "safehouse", "shelter", "service_point", "one_stop")


def is_protected_place_name(name: str) -> bool:
    """Whether a name labels service points or safe houses (never on a shared map)."""
    joined = "_".join(_tokens(name))
    return any(word in joined for word in _PROTECTED_PLACES)


_LEGEND_CLASS_RE = re.compile(
    r"^\s*(\d+)\s*(?:[-\u2013\u2014]|to)\s*(\d+)\s*$|^\s*(\d+)\s*(?:\+|or more)\s*$"
)
_INCIDENT_TEXT_RE = re.compile(
    r"\b(?:incidents?|reports?|cases?|victims?|survivors?|sgbv|gbv)\b", re.I
)


def small_legend_class(text: str, k: int) -> str | None:
    """Return ``text`` when it is a legend class (``1-4``, ``3 or more``) reaching below k.

    A class whose range includes a count from 1 to k-1 means such cells are drawn. Only
    whole text nodes are read this way, in pages that speak of incidents or reports.
    """
    match = _LEGEND_CLASS_RE.match(text)
    if match is None:
        return None
    low = int(match.group(1) or match.group(3))
    high = int(match.group(2)) if match.group(2) else k
    return text.strip() if low < k and high >= 1 and low <= high else None


def mentions_incidents(text: str) -> bool:
    """Whether a text speaks of incidents, reports, cases, victims or survivors."""
    return _INCIDENT_TEXT_RE.search(text) is not None


def is_count_name(name: str) -> bool:
    """Whether a name labels a count of incidents, victims or reports.

    True when a token is an incident word (``incidents``, ``n_reports``, ``Reports in
    period``, ``rape``), or a generic count word (``count``, ``n``, ``total``) with no token
    saying that what is counted is not people (``n_areas``, ``total_patrol_hours``).
    Shares, rates and ratios are never counts.
    """
    tokens = set(_tokens(name))
    if tokens & {"share", "rate", "ratio", "irr", "pct", "percent", "per", "mean", "ci"}:
        return False
    if tokens & INCIDENT_WORDS:
        return True
    return bool(tokens & COUNT_WORDS) and not tokens & _NOT_PEOPLE


def as_small_count(value: Any, k: int) -> int | None:
    """Return ``value`` as an int when it is a whole number from 1 to k-1, else None.

    Accepts ints, whole floats and strings such as ``"3"``; refuses booleans, fractions
    (``0.62``), ranges (``"1-4"``) and anything else.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not re.fullmatch(r"\d+(?:\.0+)?", text):
            return None
        value = float(text)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if math.isfinite(number) and number.is_integer() and 1 <= number < k:
            return int(number)
    return None


def as_number(value: Any) -> float | None:
    """Return a shown count as a float (``12``, ``"1,234"``), None when hidden or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        return float(text) if re.fullmatch(r"\d+(?:\.\d+)?", text) else None
    if isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value):
        return float(value)
    return None


_PROSE_WORDS = r"(?:incidents?|cases?|reports?|victims?|survivors?|rapes?|assaults?|events?)"
_PROSE_BEFORE = re.compile(
    rf"\b({_PROSE_WORDS}(?:\s+in\s+period)?|counts?)\s*[:=]\s*(\d[\d,]*)(?![\d.,]*\d)",
    re.IGNORECASE,
)
_PROSE_AFTER = re.compile(
    rf"(?<![\w.,])(\d[\d,]*)\s+(?:reported\s+|new\s+|sgbv\s+|gbv\s+)?{_PROSE_WORDS}\b",
    re.IGNORECASE,
)


def small_counts_in_prose(text: str, k: int) -> list[str]:
    """Find ``Incidents: 3`` and ``3 reports`` style counts from 1 to k-1 in visible text."""
    found = []
    for match in _PROSE_BEFORE.finditer(text):
        if as_small_count(match.group(2), k) is not None:
            found.append(match.group(0))
    for match in _PROSE_AFTER.finditer(text):
        if as_small_count(match.group(1), k) is not None:
            found.append(match.group(0))
    return found


_CODE_COUNT = re.compile(
    r"""["']?([A-Za-z_][\w ]{0,40}?)["']?\s*:\s*["']?(\d+)["']?(?=\s*[,}\]])"""
)


def small_counts_in_code(body: str, k: int) -> list[tuple[str, int]]:
    """Find ``incidents: 3`` / ``"n_reports": "3"`` pairs with a count name in script code."""
    found = []
    for match in _CODE_COUNT.finditer(body):
        count = as_small_count(match.group(2), k)
        if count is not None and is_count_name(match.group(1)):
            found.append((match.group(1), count))
    return found


# -- text as a reader sees it -------------------------------------------------------------------


@cache
def _format_characters() -> dict[int, None]:
    """Every format character (Unicode category Cf: zero-width spaces, joiners, marks).

    Read from planes 0, 1 and 14 only: the others hold ideographs, private use and nothing
    else (a fifth of the time of reading all 1.1 million code points).
    """
    planes = (range(0x20000), range(0xE0000, 0xF0000))
    return {c: None for plane in planes for c in plane if unicodedata.category(chr(c)) == "Cf"}


def normalise_text(text: str) -> str:
    """Return ``text`` as a reader reads it: NFKC, format characters (category Cf) removed.

    ``ＩＮＣ－００４２`` (fullwidth) reads ``INC-0042``; ``INC-\u200b00042`` (a zero-width
    space inside) reads ``INC-00042``; ``２０２３-０４-０５`` is a date. ASCII text is returned
    as it is.
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_format_characters())


_TAG_RE = re.compile(r"<[^<>]*>")


def without_markup(text: str) -> str:
    """Return ``text`` with its tags removed and nothing put in their place.

    ``INC-<b></b>00042`` reads ``INC-00042`` on the page; :func:`strip_tags`, which puts a
    space where a tag was, keeps words of different cells apart.
    """
    return html_lib.unescape(_TAG_RE.sub("", text)) if "<" in text else text


# -- dates, times, paths, tracebacks ------------------------------------------------------------

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"


def _local_month_names() -> str:
    """Month names of every language a shared page may be written in (Babel's CLDR data).

    Read from the catalogues shipped (:func:`protection_eval.config.available_languages`), so a
    language a translator adds is audited too: ``5 janvier 2023``, ``5 de enero de 2023``,
    ``5 يناير 2023`` are days, as ``5 January 2023`` is.
    """
    names: set[str] = set()
    for code in available_languages():
        months = Locale.parse(code).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                names |= {n.lower().rstrip(".") for n in months[context][width].values()}
    # English names are the first patterns' already; leave them out so a date is found once.
    names = {n for n in names if n and not re.fullmatch(_MONTHS, n)}
    ordered = sorted((re.escape(n) for n in names), key=len, reverse=True)
    return "(?:" + "|".join(ordered) + r")\.?"


_LOCAL_MONTHS = _local_month_names()
_MONTH_WORDS = (
    r"(?:january|february|march|april|(?-i:May|MAY)|june|july|august|september|october|november"
    r"|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?"
)
_DATE_PATTERNS = [
    re.compile(r"(?<![\d.-])(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)"),
    re.compile(r"(?<![\d./])(?:19|20)\d{2}/(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?!\d)"),
    # 2023.04.05, 2023.4.5
    re.compile(
        r"(?<![\d.])(?:19|20)\d{2}\.(?:0?[1-9]|1[0-2])\.(?:0?[1-9]|[12]\d|3[01])(?!\.?\d)"
    ),
    # 5 April, 5th of April, April 5, Apr 5th: a day and a month without a year is a day.
    re.compile(
        rf"(?<![\w.,/-])(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH_WORDS}"
        r"(?![\w])(?![\s,.'-]*\d)",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?<![\w]){_MONTH_WORDS}\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\w])"
        r"(?![\s,.'-]*\d)",
        re.IGNORECASE,
    ),
    re.compile(
        r"(?<![\d./])(?:0?[1-9]|[12]\d|3[01])[/.](?:0?[1-9]|1[0-2])[/.](?:19|20)\d{2}(?!\d)"
    ),
    re.compile(r"(?<![\d./])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/\d{2}(?![\d/])"),
    re.compile(rf"\b(?:0?[1-9]|[12]\d|3[01])\s+{_MONTHS}\s+(?:19|20)\d{{2}}\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTHS}\s+(?:0?[1-9]|[12]\d|3[01]),?\s+(?:19|20)\d{{2}}\b", re.IGNORECASE),
    re.compile(
        rf"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])(?:er|º|°)?\s+(?:de\s+)?{_LOCAL_MONTHS}\s+"
        rf"(?:de\s+)?(?:19|20)\d{{2}}(?!\d)",
        re.IGNORECASE,
    ),
]
_TIME_RE = re.compile(
    r"(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:\s?[ap]\.?m\.?)?(?![\d:])",
    re.IGNORECASE,
)


def find_dates_and_times(text: str) -> list[tuple[str, str]]:
    """Find day-level dates (``fine_date``) and times of day (``time_of_day``) in text.

    ``2023-04`` and ``April 2023`` are months and pass; ``2023-04-05``, ``05/04/2023``,
    ``5 April 2023``, ``2023-04-05T10:00`` and ``14:30`` do not; neither do their French,
    Spanish, Portuguese and Arabic forms (:mod:`protection_eval.sharing.audit.dates`).
    """
    found = []
    for pattern in _DATE_PATTERNS:
        found += [("fine_date", m.group(0)) for m in pattern.finditer(text)]
    found += [("time_of_day", m.group(0)) for m in _TIME_RE.finditer(text)]
    # French, Spanish, Portuguese and Arabic forms, and Arabic-Indic or Persian digits.
    localised = dates.find_localised_dates_and_times(text, find_dates_and_times)
    found += [item for item in localised if item not in found]
    return found


_LOCAL_PATH_RE = re.compile(
    r"(?<![\w.:/])(?:/(?:home|Users|tmp|work|root|mnt|var|srv|opt|private|media)/[^\s\"'<>`]+"
    r"|[A-Za-z]:\\\\?[^\s\"'<>`]+|file:/{1,3}[^\s\"'<>`]+)"
)
TRACEBACK_RE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
    r"\w+(?:Error|Exception): .*\n?.*site-packages"
)
NOTEBOOK_RE = re.compile(r"\bpapermill\b|\"nbformat(?:_minor)?\"\s*:", re.IGNORECASE)
CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
# Script comments, block and line (a ``//`` after a colon is a URL's, not a comment).
JS_COMMENT_RE = re.compile(r"/\*.*?\*/|(?<![:\\])//[^\n]*", re.DOTALL)
DATA_URI_RE = re.compile(r"data:[\w.+/-]*(?:;[\w.+-]+=[\w.+-]+)*(?:;base64)?,[^\s\"'<>)\\`]*")


# A "<" that opens a tag, an end tag, a comment or a declaration in HTML's tokenizer.
_MARKUP_RE = re.compile(r"<[A-Za-z!/?][^<>]{0,80}>?")
# An event-handler attribute with a live value: a quote, or a bare value that is not an entity
# (``onerror=&quot;`` is an escaped, inert one).
_EVENT_HANDLER_RE = re.compile(
    r"(?<![\w-])on[a-z]{2,}\s*=\s*(?:[\"'`]|[^\s\"'`&>])[^<>]{0,60}", re.IGNORECASE
)
_TAG_WITH_HANDLER_RE = re.compile(
    r"<[A-Za-z][^<>]*?\son[a-z]{2,}\s*=[^<>]{0,60}>?", re.IGNORECASE
)


def find_markup_in_value(value: str) -> str | None:
    """Return the HTML markup or event-handler attribute a data value carries, else None.

    A data value (a GeoJSON property, a JSON value, a CSV cell) is text: when a page writes it
    with ``innerHTML`` (as folium's tooltips and popups do), a tag or an ``on...=`` attribute in
    it runs as script. ``Kator"><img src=x onerror="...">`` is caught; the same name escaped
    for HTML (``Kator&quot;&gt;&lt;img ... onerror=&quot;...``) and plain text such as
    ``a < b`` or ``<5 km`` are not.
    """
    match = _MARKUP_RE.search(value) or _EVENT_HANDLER_RE.search(value)
    return None if match is None else match.group(0)


def find_handler_in_code(literal: str) -> str | None:
    """Return an HTML tag with an event-handler attribute written in a script's string literal.

    Page code builds markup in strings (folium's popups and tooltips); a tag with ``on...=`` in
    one means text reached the page as code.
    """
    match = _TAG_WITH_HANDLER_RE.search(literal)
    return None if match is None else match.group(0)


def find_local_paths(text: str) -> list[str]:
    """Find absolute local file paths (``/home/...``, Windows drive paths, ``file://...``)."""
    return [m.group(0) for m in _LOCAL_PATH_RE.finditer(text)]


# -- URLs ---------------------------------------------------------------------------------------

_URL_RE = re.compile(r"(?:https?|wss?|ftp)://[^\s\"'<>`)\]\\]+", re.IGNORECASE)
# XML namespace identifiers: never fetched, present in every SVG-drawing script.
_NAMESPACE_URIS = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
}


def _standard_url(url: str) -> str:
    """Write a URL as Chromium reads it: no tabs or line breaks, ``scheme://`` with slashes."""
    url = re.sub(r"[\t\n\r]", "", url).strip().replace("\\", "/")
    if url.startswith("//"):
        return "https:" + url
    return re.sub(r"^([A-Za-z][\w+.-]*):/*", r"\1://", url)


def _host_pattern(template: str) -> re.Pattern[str] | None:
    host = urlsplit(template.replace("{s}", "SUBDOMAIN")).hostname
    if not host:
        return None
    return re.compile(re.escape(host).replace("subdomain", r"[a-z0-9-]+") + r"\Z")


# -- embedded JSON, literals, code pairs --------------------------------------------------------

_JSON_START = re.compile(r"(?<=[(=,:\s\[])(\{\s*\"|\[\s*[\[{\-\d])")
_DECODER = json.JSONDecoder()


def embedded_json(body: str) -> Iterator[tuple[Any, int, int]]:
    """Yield JSON objects and arrays written literally in script code, with their span."""
    position = 0
    while True:
        match = _JSON_START.search(body, position)
        if match is None:
            return
        start = match.start()
        try:
            obj, end = _DECODER.raw_decode(body, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(obj, dict) or (isinstance(obj, list) and len(obj) > 0):
            yield obj, start, end
        position = end


STRING_RE = re.compile(
    r"\"((?:[^\"\\\n]|\\.)*)\"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`"
)
_STRING_RE = STRING_RE


def string_literals(body: str) -> Iterator[str]:
    """Yield the contents of JavaScript string literals (escapes kept as written)."""
    for match in _STRING_RE.finditer(body):
        text = next(g for g in match.groups() if g is not None)
        if text:
            yield text.replace("\\/", "/").replace('\\"', '"').replace("\\'", "'")


_PAIR_RE = re.compile(r"\[\s*(-?\d{1,3}\.\d+)\s*,\s*(-?\d{1,3}\.\d+)")
_LATLNG_RE = re.compile(
    r"lat\w*\"?\s*:\s*(-?\d{1,3}\.\d+)\s*,\s*\"?(?:lng|lon)\w*\"?\s*:\s*(-?\d{1,3}\.\d+)"
)
_LATLNG_CALL_RE = re.compile(r"latLng\(\s*(-?\d{1,3}\.\d+)\s*,\s*(-?\d{1,3}\.\d+)")


def coordinate_pairs_in_code(body: str) -> list[tuple[float, float]]:
    """Find ``[a, b]``, ``lat: a, lng: b`` and ``latLng(a, b)`` number pairs in code."""
    pairs = [(float(a), float(b)) for a, b in _PAIR_RE.findall(body)]
    pairs += [(float(a), float(b)) for a, b in _LATLNG_RE.findall(body)]
    pairs += [(float(a), float(b)) for a, b in _LATLNG_CALL_RE.findall(body)]
    return pairs


def strip_tags(text: str) -> str:
    """Drop HTML tags and decode entities, so ``<b>Incidents</b>: 3`` reads as prose."""
    return html_lib.unescape(re.sub(r"<[^>]*>", " ", text))


def as_pair(values: Any) -> tuple[float, float] | None:
    """Return the first two numbers of a 2- or 3-element numeric list, else None."""
    if not isinstance(values, list | tuple) or len(values) not in (2, 3):
        return None
    numbers = []
    for value in values[:2]:
        if isinstance(value, bool) or value is None:
            return None
        try:
            number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return None
        numbers.append(number)
    return numbers[0], numbers[1]


def small_ring_centres(value: Any, max_m: float) -> Iterator[tuple[float, float, list]]:
    """Yield (x, y, ring) for each polygon ring of a ``coordinates`` member spanning < max_m.

    A small polygon drawn around a point (a buffer, a tiny square) gives the point away by
    its centre even when no vertex is near it.
    """
    if not isinstance(value, list) or not value:
        return
    if all(as_pair(p) is not None and not isinstance(p[0], list) for p in value):
        ring = [as_pair(p) for p in value]
        if len(ring) < 3:
            return
        xs, ys = np.array([p[0] for p in ring]), np.array([p[1] for p in ring])
        span = math.hypot(
            (xs.max() - xs.min())
            * 111_320
            * math.cos(math.radians(float(np.clip(ys.mean(), -89, 89)))),
            (ys.max() - ys.min()) * 110_574,
        )
        if span < max_m:
            yield float(xs.mean()), float(ys.mean()), ring
        return
    for item in value:
        yield from small_ring_centres(item, max_m)


def iter_positions(value: Any) -> Iterator[tuple[float, float]]:
    """Yield every (x, y) position of a GeoJSON ``coordinates`` member, however nested."""
    pair = as_pair(value)
    if pair is not None and not any(isinstance(v, list) for v in value):
        yield pair
        return
    if isinstance(value, list):
        for item in value:
            yield from iter_positions(item)


def is_vendored_copy(attrs: dict[str, str], body: str) -> bool:
    """Whether a script or style block is, byte for byte, a vendored asset.

    Only an exact copy of a pinned file under ``protection_eval/sharing/assets`` (marked with
    ``data-vendored`` by :mod:`protection_eval.sharing.offline`) is skipped; a modified copy is
    scanned like any other code.
    """
    path = attrs.get("data-vendored")
    asset = next((a for a in offline.ASSETS if a.path == path), None)
    return asset is not None and body.strip() == _asset_text(asset.name).strip()


@cache
def _asset_text(name: str) -> str:
    return offline.load_asset(name)


# -- mission inputs -----------------------------------------------------------------------------


_SPACE_RE = re.compile(r"\s")
# What str.isspace() calls white space among the first 128 code points (and ``\s`` matches).
ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
# ``[\w./:-]`` of an ASCII text: the characters of a word of the identifying-value search.
_ASCII_WORD = r"[A-Za-z0-9_./:-]"


def _searchable(value: str) -> bool:
    if value.isdigit():
        return len(value) >= 6
    if len(value) != 3:
        return len(value) >= 4
    return any(c.isalpha() for c in value) and any(c.isdigit() for c in value)


def searchable(values: pa.Array) -> np.ndarray:
    """Whether each value is worth searching for, as a boolean array.

    Values shorter than 4 characters (3 when they mix letters and digits, like ``I01``), or
    made of digits only with fewer than 6 digits, are not: they would match ordinary numbers
    and words of any page. ASCII text is judged in bulk, any other value one by one (Python's
    rules for digits and letters), with the same answers.
    """
    if not len(values):
        return np.zeros(0, dtype=bool)
    ascii_only = _bools(pc.string_is_ascii(values))
    length = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    digits = _bools(pc.match_substring_regex(values, r"^[0-9]+$"))
    mixed = (_bools(pc.match_substring_regex(values, r"[A-Za-z]"))
             & _bools(pc.match_substring_regex(values, r"[0-9]")))
    keep = np.where(digits, length >= 6, np.where(length != 3, length >= 4, mixed))
    others = np.flatnonzero(~ascii_only)
    if len(others):
        keep[others] = [_searchable(v) for v in values.take(pa.array(others)).to_pylist()]
    return keep


def _phrase_sets(phrases: list[str], words: list[str], starts: list[bool]
                 ) -> dict[str, dict[int, set[str]]]:
    """Group the phrases that start with their first word by that word and their length."""
    keep = np.flatnonzero(np.array(starts, dtype=bool))
    if not len(keep):
        return {}
    kept = np.array(phrases, dtype=object)[keep]
    codes, distinct = pd.factorize(np.array(words, dtype=object)[keep])
    lengths = pc.utf8_length(pa.array(kept, type=pa.large_string())).to_numpy()
    order = np.lexsort((lengths, codes))
    codes, lengths, kept = codes[order], lengths[order], kept[order]
    edges = np.flatnonzero((np.diff(codes) != 0) | (np.diff(lengths) != 0)) + 1
    sets: dict[str, dict[int, set[str]]] = {}
    for begin, end in zip(np.r_[0, edges], np.r_[edges, len(kept)], strict=True):
        word = distinct[codes[begin]]
        sets.setdefault(word, {})[int(lengths[begin])] = set(kept[begin:end].tolist())
    return sets


def _bools(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(bool)


def _needle_text(values: Iterable[str]) -> pa.Array:
    """Distinct searchable values as one Arrow text array."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        text = values
    else:
        text = pa.array(list(map(str, values)), type=pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = pc.unique(text.cast(pa.large_string()).drop_null())
    return text.filter(pa.array(searchable(text)))


def _lowered_parts(values: pa.Array) -> tuple[list[str], list[str], list[str], list[bool]]:
    """Split values into lowered tokens and phrases, with each phrase's first word.

    Returns the tokens, the phrases, their first words ("" when none) and whether each
    phrase starts with its first word; ASCII text in bulk, any other value as Python does.
    """
    ascii_only = _bools(pc.string_is_ascii(values))
    plain = values.filter(pa.array(ascii_only))
    lowered = pc.ascii_lower(plain)
    spaced = _bools(pc.match_substring_regex(plain, "[" + re.escape(ASCII_SPACE) + "]"))
    phrases = lowered.filter(pa.array(spaced))
    first = pc.extract_regex(phrases, f"(?P<w>{_ASCII_WORD}+)")
    words = pc.fill_null(first.field("w"), "").to_pylist() if len(phrases) else []
    starts = (_bools(pc.match_substring_regex(phrases, f"^{_ASCII_WORD}")).tolist()
              if len(phrases) else [])
    tokens = lowered.filter(pa.array(~spaced)).to_pylist()
    phrase_list = phrases.to_pylist()
    for value in values.filter(pa.array(~ascii_only)).to_pylist():
        text = value.lower()
        if not _SPACE_RE.search(value):
            tokens.append(text)
            continue
        first_word = re.findall(r"[\w./:-]+", text)[:1]
        word = first_word[0] if first_word else ""
        phrase_list.append(text)
        words.append(word)
        starts.append(bool(word) and text.startswith(word))
    return tokens, phrase_list, words, starts


def raw_coordinates(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Longitude and latitude of every raw incident row, quarantined ones included."""
    columns = {c.lower(): c for c in frame.columns}
    lat = next((columns[n] for n in LAT_NAMES if n in columns), None)
    lng = next((columns[n] for n in LNG_NAMES if n in columns), None)
    if lat is None or lng is None:
        if "geometry" not in frame:
            return None
        points = [g for g in frame["geometry"] if g is not None and g.geom_type == "Point"]
        return pd.DataFrame({"longitude": [p.x for p in points], "latitude": [p.y for p in points]})

    def number(column: str) -> pd.Series:
        text = frame[column].astype("string").str.replace(",", ".", regex=False)
        return pd.to_numeric(text, errors="coerce")

    return pd.DataFrame({"longitude": number(lng), "latitude": number(lat)}).dropna()


# -- the mission-specific rule set --------------------------------------------------------------


def _unit_vectors(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lng), np.radians(lat)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _tolerance(value: float) -> float:
    """Half a unit of the last written decimal, capped at 5e-6 degrees (about half a metre)."""
    text = repr(float(value))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 12
    return min(0.5 * 10.0**-decimals, 5e-6) + 1e-9


class Rules:
    """Mission-specific rules: allowed hosts, incidents, identifying values, approved points.

    Parameters
    ----------
    tile_server : str, optional
        Tile URL template; its host (with ``{s}`` matching any subdomain) is allowed.
    tile_attribution : str, optional
        Attribution HTML; the hosts of its links are allowed.
    identifying_values : iterable of str
        Incident ids and raw identifying values to search for.
    areas : geopandas.GeoDataFrame, optional
        Areas whose vertices, centroids, representative points and bounds are approved.
    distance_m, vertex_distance_m : float
        Distance to an incident under which a point, or a polygon/line vertex, is a finding.
    hex_resolutions : tuple of int
        H3 resolutions whose cell centres, vertices and representative points are approved.
    identifying_times : optional
        Date-times of raw identifying columns (GPS fix times), with a ``find_in(text)``
        method returning those written in a text
        (:class:`protection_eval.sharing.audit.needles.IdentifyingTimes`).
    reference_points : numpy.ndarray, optional
        (n, 2) longitude and latitude of the map's public context layers (places, road and
        river vertices, as :func:`protection_eval.sharing.context.context_reference` gives
        them): approved coordinates, as area vertices are.
    reference_names : iterable of str
        Place names of those layers, case folded: a text that is exactly one of them is a
        place name on a map, not an identifying value (other text is searched as before).
    """

    def __init__(
        self,
        *,
        tile_server: str | None = None,
        tile_attribution: str | None = None,
        identifying_values: Iterable[str] = (),
        areas: Any = None,
        distance_m: float = 250.0,
        vertex_distance_m: float = 5.0,
        hex_resolutions: tuple[int, ...] = tuple(range(10)),
        identifying_times: IdentifyingTimes | None = None,
        reference_points: np.ndarray | None = None,
        reference_names: Iterable[str] = (),
    ) -> None:
        self.tile_server = tile_server
        self.hosts = [p for p in [_host_pattern(tile_server or "")] if p is not None]
        attribution_urls = _URL_RE.findall(tile_attribution or "")
        self.hosts += [p for p in map(_host_pattern, attribution_urls) if p is not None]
        tokens, phrases, words, starts = _lowered_parts(_needle_text(identifying_values))
        self.id_tokens = set(tokens)
        self.id_phrases = sorted(set(phrases))
        # The phrases that start with their first word, by word and length: where the word
        # occurs in a text, one slice per length says which of them start there, instead of
        # one search of the text per phrase (a mission's names often share a first word, and
        # thousands of searches per string made the audit grow with the mission). Built by
        # group, not by phrase: a large mission has a million phrases (names, dates).
        self._phrase_sets = _phrase_sets(phrases, words, starts)
        # The others (``(case) closed`` after its word ``case``) are searched for whole.
        self._other_phrases: dict[str, list[str]] = {}
        for phrase, word, start in zip(phrases, words, starts, strict=True):
            if not start:
                self._other_phrases.setdefault(word, []).append(phrase)
        self._phrase_words = set(self._phrase_sets) | set(self._other_phrases)
        self.identifying_times = identifying_times
        self.distance_m = float(distance_m)
        self.vertex_distance_m = float(vertex_distance_m)
        self.hex_resolutions = tuple(hex_resolutions)
        self._approved = self._approved_area_points(areas)
        if reference_points is not None and len(reference_points):
            reference = np.asarray(reference_points, dtype=float).reshape(-1, 2)
            self._approved = (reference if self._approved is None
                              else np.vstack([self._approved, reference]))
        self.reference_names = frozenset(reference_names)
        self._approved_tree = None if self._approved is None else cKDTree(self._approved)

    # URLs ------------------------------------------------------------------------------
    def host_allowed(self, url: str) -> bool:
        """Whether a URL is on the tile server's host, an attribution host or a namespace."""
        if url.rstrip("/") in {u.rstrip("/") for u in _NAMESPACE_URIS}:
            return True
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return False
        return any(pattern.match(host) for pattern in self.hosts)

    def third_party_urls(self, text: str) -> list[str]:
        """Absolute URLs in ``text`` whose host is not allowed."""
        return [u for u in _URL_RE.findall(text) if not self.host_allowed(u)]

    def external_requests(self, page: str) -> list[str]:
        """URLs an HTML page would fetch on opening from a host that is not allowed."""
        # The undecorated function: offline caches pages, which a long batch of audits must not.
        find = getattr(
            offline.find_external_requests, "__wrapped__", offline.find_external_requests
        )
        urls = find(page, (self.tile_server,) if self.tile_server else ())
        # And the forms Chromium follows that the offline check does not read
        # (``http:host/x``, a tab in the scheme, CSS escapes, meta refresh, SVG images...).
        urls += [u for u in fetches.find_page_fetches(page) if u not in urls]
        return [u for u in urls if not self.host_allowed(_standard_url(u))]

    # identifying values ----------------------------------------------------------------
    def identifying_values_in(self, text: str) -> list[str]:
        """Incident ids, raw identifying values and identifying times found in ``text``."""
        times = self.identifying_times
        found = []
        # A place of the map's reference layers drawn as its name alone is public data.
        is_place = bool(self.reference_names) and " ".join(
            text.split()).casefold() in self.reference_names
        if (self.id_tokens or self.id_phrases) and not is_place:
            found = self._values_in(text)
        return found + (times.find_in(text) if times is not None else [])

    def _values_in(self, text: str) -> list[str]:
        lowered = text.lower()
        tokens = re.findall(r"[\w./:-]+", lowered)
        found = [t for t in tokens if t in self.id_tokens]
        found += [
            bare for t in tokens if (bare := t.strip("./:-")) != t and bare in self.id_tokens
        ]
        words = set(tokens) | {""}
        # A set against a set: the smaller is walked, not every first word of the mission.
        for word in sorted(words.intersection(self._phrase_words)):
            present = self._phrases_at_word(lowered, word)
            present.update(p for p in self._other_phrases.get(word, ()) if p in lowered)
            # In the order of the word's phrases, sorted, as one search per phrase gave them.
            found += sorted(present)
        return found

    @cached_property
    def _phrases_by_word(self) -> dict[str, list[str]]:
        """Every phrase by its first word, sorted (a phrase is present only where it is)."""
        by_word: dict[str, list[str]] = {}
        for word, by_length in self._phrase_sets.items():
            by_word[word] = [p for phrases in by_length.values() for p in phrases]
        for word, phrases in self._other_phrases.items():
            by_word[word] = by_word.get(word, []) + phrases
        # Words in order, as identifying_values_in walks the words of a text.
        return {word: sorted(set(by_word[word])) for word in sorted(by_word)}

    def _phrases_at_word(self, lowered: str, word: str) -> set[str]:
        """Return the phrases starting with ``word`` that occur in ``lowered``, anywhere."""
        by_length = self._phrase_sets.get(word)
        present: set[str] = set()
        if not by_length:
            return present
        at = lowered.find(word)
        while at >= 0:
            for length, phrases in by_length.items():
                piece = lowered[at:at + length]
                if piece in phrases:
                    present.add(piece)
            at = lowered.find(word, at + 1)
        return present

    # coordinates -----------------------------------------------------------------------
    def _approved_area_points(self, areas: Any) -> np.ndarray | None:
        if areas is None or len(areas) == 0:
            return None
        geometry = areas.geometry.to_crs("EPSG:4326") if areas.crs else areas.geometry
        geoms = geometry.to_numpy()
        parts = [shapely.get_coordinates(geoms)]
        parts.append(shapely.get_coordinates(shapely.centroid(geoms)))
        parts.append(shapely.get_coordinates(shapely.point_on_surface(geoms)))
        bounds = np.vstack([shapely.bounds(geoms), [geometry.total_bounds]])
        for x, y in ((0, 1), (0, 3), (2, 1), (2, 3)):
            parts.append(bounds[:, [x, y]])
        parts.append(np.column_stack([bounds[:, [0, 2]].mean(1), bounds[:, [1, 3]].mean(1)]))
        union = shapely.union_all(geoms)
        parts.append(shapely.get_coordinates(shapely.centroid(union)))
        return np.vstack(parts)

    def approved(self, lng: float, lat: float) -> bool:
        """Whether a coordinate is an approved hexagon or area point, at its written precision."""
        tol_x, tol_y = _tolerance(lng), _tolerance(lat)
        if self._approved_tree is not None:
            for i in self._approved_tree.query_ball_point([lng, lat], max(tol_x, tol_y) * 1.5):
                x, y = self._approved[i]
                if abs(x - lng) <= tol_x and abs(y - lat) <= tol_y:
                    return True
        for resolution in self.hex_resolutions:
            cell = h3.latlng_to_cell(lat, lng, resolution)
            candidates = [h3.cell_to_latlng(cell), *h3.cell_to_boundary(cell)]
            polygon = shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(cell)])
            point = polygon.representative_point()
            candidates.append((point.y, point.x))
            if any(abs(y - lat) <= tol_y and abs(x - lng) <= tol_x for y, x in candidates):
                return True
        return False

    def _approved_candidate(self, x: float, y: float, coord: tuple) -> bool:
        if coord[4] == "ring_centre":
            # The centre of a small ring is fine when the ring is an approved shape.
            return all(self.approved(*v) or self.approved(v[1], v[0]) for v in coord[5])
        return self.approved(x, y)

    def near_incidents(
        self, coords: list[tuple], incidents: pd.DataFrame
    ) -> list[tuple[float, float, str, str, float]]:
        """Coordinates within the distance of an incident that are not approved.

        Each candidate is tried as (longitude, latitude) and as (latitude, longitude), since
        GeoJSON and Leaflet write them in opposite orders. Each item of ``coords`` is
        ``(a, b, file, where, kind)`` with kind ``point``, ``pair``, ``vertex`` or
        ``ring_centre`` (then a sixth item: the ring's positions).
        """
        lng = pd.to_numeric(incidents["longitude"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(incidents["latitude"], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(lng) & np.isfinite(lat)
        if not keep.any():
            return []
        tree = cKDTree(_unit_vectors(lng[keep], lat[keep]))
        a = np.array([c[0] for c in coords], dtype=float)
        b = np.array([c[1] for c in coords], dtype=float)
        out = []
        seen: set[int] = set()
        for x, y in ((a, b), (b, a)):
            valid = (np.abs(x) <= 180) & (np.abs(y) <= 90)
            index = np.flatnonzero(valid)
            if index.size == 0:
                continue
            distance, _ = tree.query(_unit_vectors(x[index], y[index]))
            metres = 2 * EARTH_RADIUS_M * np.arcsin(np.clip(distance / 2, 0, 1))
            for i, d in zip(index, metres, strict=True):
                limit = self.vertex_distance_m if coords[i][4] == "vertex" else self.distance_m
                if i in seen or d > limit or self._approved_candidate(x[i], y[i], coords[i]):
                    continue
                seen.add(i)
                out.append((float(x[i]), float(y[i]), coords[i][2], coords[i][3], float(d)))
        return out
