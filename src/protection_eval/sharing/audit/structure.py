"""Structural detectors of the audit: leaks told by their shape, with or without the mission.

A heat map of incident points leaks locations whatever its coordinates are compared with, so
these rules need no raw data: layers that draw individual points, popups that name a case,
raster images, dates written as epoch numbers, ISO weeks or ``5th April 2023``, counts keyed by
month, a coordinate split over two variables, and what a file's bytes say about its encoding.
:mod:`protection_eval.sharing.audit.scan` calls them on every string, script and value it opens.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
from typing import Any

__all__ = [
    "IMAGE_MAGIC",
    "decode_bytes",
    "find_named_cases",
    "find_other_date_forms",
    "excel_serial",
    "find_point_layers",
    "image_kind",
    "is_date_name",
    "is_period_key",
    "sha256_hex",
    "sniff_text",
    "split_coordinates_in_code",
]

# -- point-like layers --------------------------------------------------------------------------

# Leaflet's factories and classes (1.x lower-case factories, 0.7 ``new L.Marker``) and the
# plug-ins folium's HeatMap and MarkerCluster load. A heat layer or a cluster exists to show
# point densities: never an aggregate, so never exempt.
_POINT_LAYER_RE = re.compile(
    r"\bL\s*\.\s*(heatLayer|HeatLayer|markerClusterGroup|MarkerClusterGroup|marker|Marker"
    r"|circleMarker|CircleMarker|circle|Circle|webGLHeatmap|heatmapOverlay)\s*\(",
)
_ALWAYS_POINTS = {"heatlayer", "markerclustergroup", "webglheatmap", "heatmapoverlay"}
_FIRST_PAIR_RE = re.compile(
    r"\s*(?:\[\s*|(?:new\s+)?L\s*\.\s*latLng\s*\(\s*)(-?\d{1,3}(?:\.\d+)?)\s*,\s*"
    r"(-?\d{1,3}(?:\.\d+)?)",
    re.IGNORECASE,
)


def find_point_layers(code: str) -> list[tuple[str, tuple[float, float] | None]]:
    """Find Leaflet layers that draw individual points in page code or text.

    Parameters
    ----------
    code : str
        Script code (or any text: a layer written in a data value is a leak once opened).

    Returns
    -------
    list of (str, tuple or None)
        The call (``L.heatLayer(``...) and, for a marker, circle or circle marker, its
        position as (latitude, longitude) when written literally; None for heat layers and
        clusters, which are findings wherever they stand.
    """
    found = []
    for match in _POINT_LAYER_RE.finditer(code):
        name = match.group(1)
        if name.lower() in _ALWAYS_POINTS:
            found.append((match.group(0), None))
            continue
        pair = _FIRST_PAIR_RE.match(code, match.end())
        position = (float(pair.group(1)), float(pair.group(2))) if pair else None
        found.append((match.group(0) + ("..." if position is None else f"[{pair.group(1)}, "
                                         f"{pair.group(2)}]"), position))
    return found


# -- popups and tooltips that name a case --------------------------------------------------------

# A singular "incident", "case", "survivor" or "victim" (in English, French, Spanish, Portuguese
# or Arabic) followed by an identifier (a token with a digit, after an optional #, No., n°, núm.,
# ID or colon), or a survivor or victim followed by a name after a colon, or a lower-case
# survivor or victim word followed by a capitalised name ("victime Amina"). "Incidents: 12" (a
# plural label of a count), "case study" and "Survivor Mentoring" (title case) do not match.
_CASE_WORDS = (
    r"incident|case|cas|dossier|caso|expediente|incidente|processo|حالة|الحالة|قضية|القضية"
    r"|ملف|الملف|حادثة|الحادثة"
)
_PERSON_WORDS = (
    r"survivor|victim|survivante|survivant|victime|sobreviviente|superviviente|sobrevivente"
    r"|v[íi]ctima|v[íi]tima|ناجية|الناجية|ناجي|الناجي|ضحية|الضحية"
)
_NUMBER_MARK = (
    r"#|no\.?|n[°º]\.?|n[úu]m\.?|n[úu]mero|num[ée]ro|number|id|رقم"
)
_NAME = r"[^\W\d_]{2,}(?:[ \t][^\W\d_]{2,})?"
_NAMED_CASE_RE = re.compile(
    rf"\b(?:{_CASE_WORDS}|{_PERSON_WORDS})\b\s*(?:{_NUMBER_MARK})?"
    r"\s*[:=\-]?\s*(?=[\w-]*\d)[^\W_][\w/-]*"
    rf"|\b(?:{_PERSON_WORDS})(?:'s)?(?:\s+(?:name|nom|nombre|nome|اسم))?\s*[:=]\s*{_NAME}"
    rf"|(?-i:\b(?:{_PERSON_WORDS}))\s+(?-i:[A-ZÀ-ÞĀ-Ž][a-zß-ÿā-ž]+)",
    re.IGNORECASE,
)
_YEARISH = re.compile(r"^(?:19|20)\d\d(?:-\d\d)?$|^\d{1,2}$")
_MARKED = re.compile(rf"(?:^|\s|\b)(?:{_NUMBER_MARK})(?:\s|$|\d|:)", re.IGNORECASE)


def find_named_cases(text: str) -> list[str]:
    """Find text naming one incident, case or survivor (``Case GBV-0042``, ``Survivor: Amina``).

    In English, French, Spanish, Portuguese and Arabic: ``Cas n° 42``, ``victime Amina``,
    ``sobreviviente: Amina``, ``الناجية: أمينة``. A bare small number after the word
    (``case 2``) or a year (``reports 2023``) is not a name; with a number mark (``n° 2``,
    ``#2``) it is.
    """
    found = []
    for match in _NAMED_CASE_RE.finditer(text):
        token = re.split(r"[\s:=#\-]+", match.group(0).strip())[-1]
        if _YEARISH.match(token) and not _MARKED.search(match.group(0)):
            continue
        found.append(match.group(0))
    return found


# -- other forms of dates and times --------------------------------------------------------------

_EPOCH_FIRST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()
_EPOCH_LAST = dt.datetime(2040, 1, 1, tzinfo=dt.UTC).timestamp()
_EPOCH_RE = re.compile(r"(?<![\w.\-])(\d{10}|\d{13})(?![\w.])")
_COMPACT_DATE_RE = re.compile(
    r"(?<![\w.\-])(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:T\d{4,6})?(?![\w.])"
)
_ISO_WEEK_RE = re.compile(r"(?<![\w.])(?:19|20)\d\d-?W(?:0[1-9]|[1-4]\d|5[0-3])(?:-?[1-7])?\b")
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR_RE = re.compile(
    rf"(?<![\w.])(?:the\s+)?{_DAY}(?:\s+of)?[\s\-/.]+{_MONTHS}[\s\-/.,]+'?(?:(?:19|20)\d\d|\d\d)\b",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR_RE = re.compile(
    rf"\b{_MONTHS}[\s\-/.]+{_DAY}(?:st|nd|rd|th)?[\s,\-/.]+(?:19|20)\d\d\b", re.IGNORECASE
)
_CLOCK_RE = re.compile(
    r"(?<![\w.:])(?:1[0-2]|0?[1-9])(?:[.:h][0-5]\d)?\s?(?:[ap]\.m\.|[ap]m)(?!\w)"
    r"|\bat\s+(?:[01]?\d|2[0-3])[.h][0-5]\d\b"
    r"|(?<![\w.:])(?:[01]\d|2[0-3])[0-5]\d\s?hrs\b",
    re.IGNORECASE,
)


def _is_epoch(digits: str) -> bool:
    seconds = int(digits) / (1000 if len(digits) == 13 else 1)
    return _EPOCH_FIRST <= seconds < _EPOCH_LAST


def find_other_date_forms(text: str) -> list[tuple[str, str]]:
    """Find day-level dates and times of day in the forms the basic date rule misses.

    Epoch seconds and milliseconds (2000 to 2040), ``20230405``, ISO weeks (``2023-W14``,
    ``2023-W14-3``; a week is finer than a month), ``05-Apr-2023``, ``5th April 2023``,
    ``April 5th, 2023`` and clock times such as ``2.30pm``, ``at 14.30`` or ``1430 hrs``.

    Returns
    -------
    list of (str, str)
        (``fine_date`` or ``time_of_day``, the text found).
    """
    found = [("fine_date", m.group(0)) for m in _EPOCH_RE.finditer(text) if _is_epoch(m.group(1))]
    for pattern in (_COMPACT_DATE_RE, _ISO_WEEK_RE, _DAY_MONTH_YEAR_RE, _MONTH_DAY_YEAR_RE):
        found += [("fine_date", m.group(0)) for m in pattern.finditer(text)]
    found += [("time_of_day", m.group(0)) for m in _CLOCK_RE.finditer(text)]
    return found


def epoch_number(value: Any) -> str | None:
    """Return a JSON or cell number that reads as epoch seconds or milliseconds, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    digits = str(int(value))
    return digits if len(digits) in (10, 13) and _is_epoch(digits) else None


# Excel's day numbers (days since 1899-12-30) from 1990 to 2040: a date stored as a number.
_SERIAL_FIRST = (dt.date(1990, 1, 1) - dt.date(1899, 12, 30)).days
_SERIAL_LAST = (dt.date(2041, 1, 1) - dt.date(1899, 12, 30)).days
# Tokens that make a column or key name a date, in the missions' languages.
_DATE_NAME_TOKENS = frozenset(
    "date dates dated day dt dob occurred reported recorded when timestamp fecha fechas dia "
    "día jour datum تاريخ التاريخ".split()
)


def is_date_name(name: Any) -> bool:
    """Whether a column or key name says it holds dates (``date``, ``incident_date``, ``fecha``)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name))
    return bool(_DATE_NAME_TOKENS & set(re.split(r"[^\w]+|_", spaced.lower())))


def excel_serial(value: Any) -> str | None:
    """Return a value that reads as an Excel date serial (1990 to 2040) with its date, else None.

    ``45021`` is 2023-04-05. Only asked of values in a column or key whose name is a date
    (:func:`is_date_name`): elsewhere a number in that range is just a number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{5}(?:\.\d+)?", text):
            return None
        value = float(text)
    if not isinstance(value, int | float) or not _SERIAL_FIRST <= value < _SERIAL_LAST:
        return None
    day = dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
    return f"{value:g} (an Excel date serial: {day.isoformat()})"


_PERIOD_KEY_RE = re.compile(
    rf"^\s*(?:(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])|(?:0?[1-9]|1[0-2])[-/.](?:19|20)\d\d"
    rf"|{_MONTHS}\s*[-/ ]?\s*(?:(?:19|20)\d\d|\d\d)|(?:19|20)\d\d\s*[-/ ]?\s*{_MONTHS}"
    rf"|(?:19|20)\d\d-?(?:Q[1-4]|W\d\d)|{_MONTHS}|(?:19|20)\d\d)\s*$",
    re.IGNORECASE,
)


def is_period_key(key: str) -> bool:
    """Whether a JSON key names a period (``2023-04``, ``Apr 2023``, ``2023-Q2``, ``April``).

    A value keyed by a period is a count per period: ``{"2023-04": 3}`` is a small count.
    """
    return _PERIOD_KEY_RE.match(str(key)) is not None


# -- a coordinate split over two variables -------------------------------------------------------

_SPLIT_LAT_RE = re.compile(
    r"(?<![\w.])[\"']?(\w*lat(?:itude)?\w*)[\"']?\s*[:=]\s*[\"']?(-?\d{1,2}\.\d{3,})", re.I
)
_SPLIT_LNG_RE = re.compile(
    r"(?<![\w.])[\"']?(\w*(?:lng|lon|long|longitude)\w*)[\"']?\s*[:=]\s*[\"']?(-?\d{1,3}\.\d{3,})",
    re.I,
)
_MAX_SPLIT = 40


_LAT_TOKENS = frozenset({"lat", "latitude", "y"})
_LNG_TOKENS = frozenset({"lng", "lon", "long", "longitude", "x"})


def _named(name: str, tokens: frozenset[str]) -> bool:
    """Whether a name has a latitude (or longitude) token: ``centreLat``, not ``plateau``."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return bool(tokens & set(re.split(r"[^a-z0-9]+", spaced.lower())))


def split_coordinates_in_code(code: str) -> list[tuple[float, float]]:
    """Pair every latitude-named number with every longitude-named number of a script.

    ``var lat = 4.8512; ... var lng = 31.5823;`` writes one exact point in two statements; the
    audit cannot tell which halves belong together, so it tries them all (at most 40 of each),
    and the coordinate rule keeps those near an incident.

    Returns
    -------
    list of (float, float)
        (longitude, latitude) candidates.
    """
    lats = [
        float(m.group(2)) for m in _SPLIT_LAT_RE.finditer(code) if _named(m.group(1), _LAT_TOKENS)
    ][:_MAX_SPLIT]
    lngs = [
        float(m.group(2)) for m in _SPLIT_LNG_RE.finditer(code) if _named(m.group(1), _LNG_TOKENS)
    ][:_MAX_SPLIT]
    return [(x, y) for y in lats for x in lngs if abs(y) <= 90 and abs(x) <= 180]


# -- bytes: images and encodings -----------------------------------------------------------------

#: Signatures of raster images: PNG, JPEG, GIF, WebP, BMP, TIFF, ICO, AVIF/HEIC.
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "ICO": (b"\x00\x00\x01\x00",),
}


def image_kind(data: bytes) -> str | None:
    """Return the raster format of ``data`` from its first bytes (PNG, JPEG, WebP...), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1"):
        return "AVIF/HEIC"
    for kind, signatures in IMAGE_MAGIC.items():
        if kind == "BMP" and not (len(data) > 14 and data[:2] == b"BM" and data[6:10] == b"\0" * 4):
            continue
        if any(data.startswith(s) for s in signatures):
            return kind
    return None


def sha256_hex(data: bytes) -> str:
    """Return the sha256 of ``data`` in lower-case hex, as the run's manifest records it."""
    return hashlib.sha256(data).hexdigest()


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Declared charsets a browser honours that are not a superset of ASCII: text the audit reads as
# UTF-8 would mean something else there (UTF-7's ``+ADw-script+AD4-`` is ``<script>``).
_UNSAFE_CHARSETS = re.compile(
    rb"""(?:charset|encoding)\s*=\s*["']?\s*(utf-?7|utf-?16|utf-?32|ucs-?2|cp037|cp500|cp1026"""
    rb"""|ibm\d+|ebcdic[\w-]*|hz-gb-2312|iso-2022[\w-]*)""",
    re.IGNORECASE,
)


class UnauditableBytes(ValueError):
    """The bytes of a file cannot be decoded with certainty; the message says why."""


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a text file the way a browser or JSON reader would, or refuse it.

    A byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32); without one, strict UTF-8; a file
    of UTF-32 or UTF-16 without a mark (zero bytes in the places their code units leave empty)
    is read as such. Anything else, text that still holds NUL characters once decoded, and a
    page declaring a charset that is not ASCII-compatible (UTF-7, EBCDIC...), is refused.

    Returns
    -------
    (str, str)
        The text and the encoding used.

    Raises
    ------
    UnauditableBytes
        With the reason and what to do.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise UnauditableBytes(
                    f"starts with a {encoding} byte-order mark but is not valid {encoding} "
                    f"(byte {exc.start}); re-save it as UTF-8"
                ) from None
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) >= len(sample) // 4:
        text, encoding = _decode_wide(data, sample)
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            raise UnauditableBytes(
                f"is not UTF-8 (byte {exc.start}) and has no byte-order mark; re-save it as UTF-8"
            ) from None
    if "\x00" in text:
        raise UnauditableBytes(
            f"holds NUL characters once read as {encoding}; a binary file, or text in an "
            "encoding the audit cannot tell, cannot be audited: re-save it as UTF-8"
        )
    declared = _UNSAFE_CHARSETS.search(data[:4096])
    if declared is not None:
        raise UnauditableBytes(
            f"declares the charset {declared.group(1).decode()} that a browser would use instead "
            "of UTF-8; remove the declaration or re-save as UTF-8"
        )
    return text, encoding


def _decode_wide(data: bytes, sample: bytes) -> tuple[str, str]:
    """Decode text of UTF-32 or UTF-16 without a byte-order mark, told by its zero bytes.

    UTF-32 (little- or big-endian) has, for every character of the Basic Multilingual Plane,
    two zero bytes in the same places of every four; UTF-16 has one in every two.
    """
    quads = [sample[i::4].count(0) for i in range(4)]
    rows = max(1, len(sample) // 4)
    candidates = []
    if len(data) % 4 == 0 and quads[2] == quads[3] == rows:
        candidates.append("utf-32-le")
    if len(data) % 4 == 0 and quads[0] == quads[1] == rows:
        candidates.append("utf-32-be")
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    candidates.append("utf-16-be" if even > odd else "utf-16-le")
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnauditableBytes(
        "holds NUL bytes but is neither UTF-16 nor UTF-32; a binary file cannot be audited"
    )


def sniff_text(text: str) -> str:
    """Guess the media type of decoded text: ``html``, ``svg``, ``json`` or ``text/plain``."""
    head = text.lstrip()[:512].lower()
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith("<svg") or ("<svg" in head and head.startswith("<?xml")):
        return "svg"
    if head.startswith("<") or re.search(r"<(?:html|body|div|script|iframe|p|img|svg)\b", head):
        return "html"
    return "text/plain"
