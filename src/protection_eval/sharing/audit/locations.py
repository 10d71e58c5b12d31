"""Places written in text, in every notation a reader can turn into a point.

The shared outputs give location as hexagons and areas; a hand-made file can give it as
``13.397216, 25.533164`` in a sentence or one CSV cell, ``4°51'04.3"N 31°33'08.2"E``, a UTM
reference (``36N 340123 536789``), a geohash (``sb1x2k7``), an H3 cell finer than the mission's,
an SVG path drawn in degrees or a ``geo.position`` meta tag (``4.851;31.552``). Each function
here reads one notation and returns :class:`Located` points with the precision the writing
carries; the audit (:mod:`protection_eval.sharing.audit.scan`) checks them against the
mission: near a reported incident, or inside the mission's extent more precisely than a shared
hexagon (``fine_location``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import h3

__all__ = [
    "Located",
    "decimal_pairs",
    "dms_points",
    "geohash_points",
    "h3_cells",
    "svg_path_points",
    "utm_points",
]

_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Located:
    """A point read from text.

    Attributes
    ----------
    lng, lat : float
        The point (for a decimal pair, the first number is ``lng``: the audit tries both
        orders).
    precision_m : float
        Half the step of the last written unit, in metres: how closely the writing places it.
    text : str
        The text as written.
    ordered : bool
        Whether the notation says which number is the latitude (all but decimal pairs).
    """

    lng: float
    lat: float
    precision_m: float
    text: str
    ordered: bool = True


def _decimals(number: str) -> int:
    return len(number.split(".", 1)[1]) if "." in number else 0


# -- decimal degrees ------------------------------------------------------------------------------

_DECIMAL_PAIR = re.compile(
    r"(?<![\w.])(-?\d{1,3}\.\d+)\s*(?:[,;]\s*|\s+)(-?\d{1,3}\.\d+)(?!\w|\.\d)"
)


def decimal_pairs(text: str) -> list[Located]:
    """Two decimal numbers side by side (``13.397216, 25.533164``, ``4.85;31.55``).

    Separated by a comma, a semicolon (``geo.position``) or spaces; both within the range of
    degrees. Precision is that of the number written with fewer decimals.
    """
    out = []
    for match in _DECIMAL_PAIR.finditer(text):
        a, b = float(match.group(1)), float(match.group(2))
        if abs(a) > 180 or abs(b) > 180 or (abs(a) > 90 and abs(b) > 90):
            continue
        places = min(_decimals(match.group(1)), _decimals(match.group(2)))
        out.append(Located(a, b, 0.5 * 10.0**-places * _METRES_PER_DEGREE, match.group(0),
                           ordered=False))
    return out


# -- degrees, minutes, seconds ------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:[.,]\d+)?"
_DMS_BODY = (
    rf"(?P<d>{_NUMBER})\s*[°º˚]\s*"
    r"(?:(?P<m>\d{1,2}(?:[.,]\d+)?)\s*['′’]\s*"
    r"(?:(?P<s>\d{1,2}(?:[.,]\d+)?)\s*(?:[\"″”]|''|′′))?)?"
)
# The hemisphere before (``N 4° 51.07'``) or after (``4°51'04"N``). ``N 4° 51' E 31° 33'`` and
# ``4°51'N 31°33'E`` each read both ways; the text's first angle says which it writes: a
# hemisphere letter just before it, the first form, for every angle of the text.
_DMS_PREFIX = re.compile(rf"(?<![A-Za-z])(?P<hemisphere>[NSEWO])\s*{_DMS_BODY}")
_DMS_SUFFIX = re.compile(rf"{_DMS_BODY}\s*(?P<hemisphere>[NSEWO])(?![A-Za-z])")
_DMS_ANGLE = re.compile(_DMS_BODY)
_LETTER_BEFORE = re.compile(r"(?<![A-Za-z])[NSEWO]\s*\Z")


def _dms_value(match: re.Match[str]) -> tuple[float, str, float]:
    hemisphere = match.group("hemisphere")
    degrees = float(match.group("d").replace(",", "."))
    value, step = degrees, 10.0 ** -_decimals(match.group("d").replace(",", "."))
    if match.group("m"):
        minutes = match.group("m").replace(",", ".")
        value += float(minutes) / 60
        step = 10.0 ** -_decimals(minutes) / 60
    if match.group("s"):
        seconds = match.group("s").replace(",", ".")
        value += float(seconds) / 3600
        step = 10.0 ** -_decimals(seconds) / 3600
    sign = -1 if hemisphere in "SWO" else 1
    axis = "lat" if hemisphere in "NS" else "lng"
    return sign * value, axis, 0.5 * step * _METRES_PER_DEGREE


def dms_points(text: str) -> list[Located]:
    """Latitudes and longitudes in degrees (and minutes, seconds) with a hemisphere letter.

    ``4°51'04.3"N 31°33'08.2"E``, ``N 4° 51.07' E 31° 33.14'``, ``4.8512° N, 31.5523° E``
    (``O`` for the French *ouest*). Each latitude is paired with the next longitude, or the
    one before it.
    """
    first = _DMS_ANGLE.search(text)
    if first is None:
        return []
    prefix = _LETTER_BEFORE.search(text, 0, first.start()) is not None
    pattern = _DMS_PREFIX if prefix else _DMS_SUFFIX
    values = [(*_dms_value(m), m.start(), m.end()) for m in pattern.finditer(text)]
    out = []
    used: set[int] = set()
    for i, (lat, axis, precision, start, end) in enumerate(values):
        if axis != "lat":
            continue
        partners = [j for j in (i + 1, i - 1) if 0 <= j < len(values) and j not in used
                    and values[j][1] == "lng"]
        if not partners:
            continue
        j = partners[0]
        used.add(j)
        lng, _, other, s2, e2 = values[j]
        out.append(Located(lng, lat, max(precision, other), text[min(start, s2):max(end, e2)]))
    return out


# -- UTM -----------------------------------------------------------------------------------------

_UTM = re.compile(
    r"(?<![\w.])(?P<zone>[1-9]|[1-5]\d|60)\s?(?P<band>[C-HJ-NP-X])\s+"
    r"(?P<e>\d{6}(?:\.\d+)?)\s*(?:m\s*)?E?[\s,;]+(?P<n>\d{6,7}(?:\.\d+)?)\s*(?:m\s*)?N?"
    r"(?!\w|\.\d)",
)


@cache
def _utm_transformer(zone: int, north: bool) -> Any:
    from pyproj import Transformer

    epsg = (32600 if north else 32700) + zone
    return Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)


def utm_points(text: str) -> list[Located]:
    """UTM references: zone, latitude band, easting, northing (``36N 340123 536789``).

    A band from N to X is the northern hemisphere, C to M the southern.
    """
    out = []
    for match in _UTM.finditer(text):
        north = match.group("band") >= "N"
        transformer = _utm_transformer(int(match.group("zone")), north)
        lng, lat = transformer.transform(float(match.group("e")), float(match.group("n")))
        if abs(lat) > 90 or abs(lng) > 180:
            continue
        places = min(_decimals(match.group("e")), _decimals(match.group("n")))
        out.append(Located(lng, lat, 0.5 * 10.0**-places, match.group(0)))
    return out


# -- geohash --------------------------------------------------------------------------------------

_GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
# A digit and a letter in it: a word of the alphabet without a digit ("between", "centre")
# would land inside a country-sized mission once in a few hundred words.
_GEOHASH = re.compile(
    rf"(?<![\w-])(?=[{_GEOHASH_ALPHABET}]*\d)(?=[{_GEOHASH_ALPHABET}]*[b-z])"
    rf"[{_GEOHASH_ALPHABET}]{{6,12}}(?![\w-])"
)


def _decode_geohash(code: str) -> tuple[float, float, float]:
    """Return the centre (lng, lat) of a geohash cell and half its size in metres."""
    lat_range, lng_range = [-90.0, 90.0], [-180.0, 180.0]
    even = True
    for char in code:
        bits = _GEOHASH_ALPHABET.index(char)
        for shift in range(4, -1, -1):
            half = lng_range if even else lat_range
            middle = (half[0] + half[1]) / 2
            if bits >> shift & 1:
                half[0] = middle
            else:
                half[1] = middle
            even = not even
    lat = (lat_range[0] + lat_range[1]) / 2
    lng = (lng_range[0] + lng_range[1]) / 2
    half_m = max(lat_range[1] - lat_range[0], lng_range[1] - lng_range[0]) / 2 * _METRES_PER_DEGREE
    return lng, lat, half_m


def geohash_points(text: str) -> list[Located]:
    """Words of 6 to 12 characters of the geohash alphabet, decoded to the centre of their cell.

    A word needs a digit and a letter. Any word of the alphabet decodes to somewhere on Earth
    (``sheet1``, a workbook's part name, is in southern Algeria), so the audit takes an
    unlabelled one as a place only near a reported incident, and one labelled as a geohash
    (the word ``geohash`` in the same text, or a column or key so named) anywhere in the
    mission's extent. About one geohash in ten of 6 characters (one in twenty of 8) has no
    digit and is not read.
    """
    return [Located(*_decode_geohash(m.group(0)), m.group(0)) for m in _GEOHASH.finditer(text)]


# -- H3 cells -------------------------------------------------------------------------------------

_H3 = re.compile(r"(?<![0-9A-Za-z])8[0-9a-fA-F]{14}(?![0-9A-Za-z])")


def h3_cells(text: str) -> list[tuple[str, int, Located]]:
    """H3 cell indexes in text, with their resolution and centre (precision: the cell's edge)."""
    out = []
    for match in _H3.finditer(text):
        cell = match.group(0).lower()
        if not h3.is_valid_cell(cell):
            continue
        lat, lng = h3.cell_to_latlng(cell)
        resolution = h3.get_resolution(cell)
        edge = h3.average_hexagon_edge_length(resolution, unit="m")
        out.append((cell, resolution, Located(lng, lat, edge, match.group(0))))
    return out


# -- SVG paths ------------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtAaZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Numbers each command takes, and which of them are the point it ends on.
_PATH_ARITY = {"M": 2, "L": 2, "T": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "A": 7}


def svg_path_points(path: str) -> list[list[tuple[float, float]]]:
    """Return the points of an SVG path's ``d`` (or a ``points`` list), one list per subpath.

    Absolute and relative commands are followed; curve control points are left out, the
    points each command ends on are kept.
    """
    tokens = _PATH_TOKEN.findall(path)
    if tokens and tokens[0] not in _PATH_ARITY and tokens[0] not in "mlhvcsqtaz":
        tokens = ["M", *tokens]  # a ``points`` attribute: a polyline
    rings: list[list[tuple[float, float]]] = []
    x = y = 0.0
    start = (0.0, 0.0)
    command = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.isalpha():
            command = token
            i += 1
            if command in "Zz":
                x, y = start
                command = ""
            continue
        arity = _PATH_ARITY.get(command.upper())
        if arity is None or i + arity > len(tokens):
            break
        try:
            numbers = [float(t) for t in tokens[i:i + arity]]
        except ValueError:
            break
        i += arity
        relative = command.islower()
        upper = command.upper()
        if upper == "H":
            x = x + numbers[0] if relative else numbers[0]
        elif upper == "V":
            y = y + numbers[0] if relative else numbers[0]
        else:
            dx, dy = numbers[-2], numbers[-1]
            x, y = (x + dx, y + dy) if relative else (dx, dy)
        if upper == "M":
            start = (x, y)
            rings.append([])
            command = "l" if relative else "L"  # further pairs after M are lines
        if not rings:
            rings.append([])
        rings[-1].append((x, y))
    return [ring for ring in rings if ring]
