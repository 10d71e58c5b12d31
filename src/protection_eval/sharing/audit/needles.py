"""The audit's needles: what a mission's raw sources give it to search shared files for.

Taken once per run from the sources as read, where a large mission has hundreds of thousands
of identifying cells (incident ids, names, dates) and millions of GPS fix times, so every step
works on a column's distinct values in bulk (Arrow) and a Python call is made only for the
few values that are not plain ASCII text.

Two kinds of needle:

- **identifying values** (:func:`identifying_values_of`): the text of each raw identifying
  cell, stripped, as a reader gave it, searched for as a word or a phrase
  (:meth:`protection_eval.sharing.audit.rules.Rules.identifying_values_in`);
- **identifying times** (:class:`IdentifyingTimes`): the date-times of identifying columns
  (a GPS fix's ``recorded_at``, an incident's ISO ``occurred_at``), kept as seconds, not as
  text. A date-time is written in shared files in many ways (``2022-01-03T08:00:00+02:00``,
  ``2022-01-03 08:00:00+02:00``, ``2022-01-03 08:00:00``, ``...T06:00:00Z``); any ISO writing
  of the same wall-clock second, or of the same instant, is found. This is the same for a
  GPS table read as text (a CSV's ``2022-01-03T08:00:00+02:00``) and one whose times a typed
  reader kept as date-times, and it costs 8 bytes a value instead of a Python string.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from protection_eval.sharing.audit.rules import ASCII_SPACE, is_identifying_name, searchable

__all__ = ["IdentifyingTimes", "identifying_needles_of", "identifying_values_of"]

# Wall-clock years whose ISO text has four digits: the forms the time pattern reads.
_FOUR_DIGIT_YEARS = (int(np.datetime64("1000-01-01T00:00:00", "s").astype(np.int64)),
                     int(np.datetime64("10000-01-01T00:00:00", "s").astype(np.int64)))
_ISO_TEXT = (r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)?"
             r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})(?::?(?P<s>\d{2}))?)?$")
# Found at every position (a lookahead), so that one date-time never hides the next.
_ISO_IN_TEXT = re.compile(
    r"(?=((\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2})(?::?(\d{2}))?)?))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IdentifyingTimes:
    """Date-times of a mission's identifying columns, to the second.

    Attributes
    ----------
    wall_seconds : numpy.ndarray
        Sorted distinct wall-clock times as written (local time for a zoned value), in whole
        seconds since 1970-01-01 read as UTC.
    utc_seconds : numpy.ndarray
        Sorted distinct instants of the values that carry a zone or an offset, in whole
        seconds since the epoch.
    """

    wall_seconds: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    utc_seconds: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.wall_seconds)

    def find_in(self, text: str) -> list[str]:
        """Return the ISO date-times in ``text`` that are one of these times, as written.

        A date-time with seconds (``T`` or a space between date and time, any fraction,
        ``Z`` or an offset or none) is one of them when its wall-clock second is one of
        :attr:`wall_seconds`, or, with an offset, when its instant's second is one of
        :attr:`utc_seconds`. Fractions are cut to the second, so that a value written more
        or less precisely than it was read is still found.
        """
        if not len(self.wall_seconds) or ":" not in text:
            return []
        found, walls, instants = [], [], []
        for match in _ISO_IN_TEXT.finditer(text):
            wall = _wall_second(match)
            if wall is None:
                continue
            found.append(match.group(1))
            walls.append(wall)
            if match.group(9):
                instants.append(wall - _offset_seconds(match))
            else:  # "Z" is UTC; no offset at all is a wall-clock time only
                instants.append(wall if match.group(8) else None)
        if not found:
            return []
        hit = _among(np.array(walls, dtype=np.int64), self.wall_seconds)
        zoned = np.array([i is not None for i in instants])
        if zoned.any():
            given = np.array([i for i in instants if i is not None], dtype=np.int64)
            hit[zoned] |= _among(given, self.utc_seconds)
        return [value for value, is_hit in zip(found, hit, strict=True) if is_hit]


def _among(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    if not len(sorted_values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[at] == values


def _wall_second(match: re.Match[str]) -> int | None:
    try:
        wall = dt.datetime(*(int(match.group(i)) for i in range(2, 8)), tzinfo=dt.UTC)
    except ValueError:
        return None  # not a calendar date or time: not a date-time
    return int(wall.timestamp())


def _offset_seconds(match: re.Match[str]) -> int:
    seconds = int(match.group(10)) * 3600 + int(match.group(11)) * 60 + int(match.group(12) or 0)
    return seconds if match.group(9) == "+" else -seconds


def identifying_values_of(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """Collect the values of identifying columns of raw input tables, sorted.

    Each value is its cell's text stripped of surrounding white space (``str(v).strip()``).
    Values shorter than 4 characters (3 when they mix letters and digits, like ``I01``), or
    made of digits only with fewer than 6 digits, are left out: they would match ordinary
    numbers and words of any page. A column a reader kept as date-times gives
    :class:`IdentifyingTimes` instead (:func:`identifying_needles_of`).

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        Source tables as read, by table name.

    Returns
    -------
    list of str
        Distinct values, in code-point order.
    """
    return identifying_needles_of(frames)[0]


def identifying_needles_of(
    frames: Mapping[str, pd.DataFrame],
) -> tuple[list[str], IdentifyingTimes]:
    """Return the identifying values and the identifying times of raw input tables.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        Source tables as read, by table name.

    Returns
    -------
    tuple of (list of str, IdentifyingTimes)
        The values (see :func:`identifying_values_of`), and the date-times of columns kept
        as date-times together with those of values written as ISO date-times, such as a
        GPS table's ``recorded_at`` read from CSV.
    """
    texts: list[pa.Array] = []
    walls: list[np.ndarray] = [np.empty(0, np.int64)]
    instants: list[np.ndarray] = [np.empty(0, np.int64)]
    for frame in frames.values():
        for column in frame.columns:
            if column == "source_row" or not is_identifying_name(str(column)):
                continue
            values = frame[column].dropna()
            if pd.api.types.is_datetime64_any_dtype(values):
                text, wall, instant = _datetime_needles(values)
                walls.append(wall)
                instants.append(instant)
            else:
                text = _column_text(values)
            texts.append(text)
    if not texts:
        return [], IdentifyingTimes()
    merged = pc.unique(pa.chunked_array(texts, type=pa.large_string()).combine_chunks())
    kept = merged.filter(pa.array(searchable(merged)))
    # UTF-8 byte order is code-point order: sorted as Python sorts str.
    kept = kept.take(pc.sort_indices(kept))
    wall, instant = _iso_times(kept)
    times = IdentifyingTimes(_distinct(np.concatenate([*walls, wall])),
                             _distinct(np.concatenate([*instants, instant])))
    return kept.to_pylist(), times


def _column_text(values: pd.Series) -> pa.Array:
    """Return ``str(v).strip()`` of a column's distinct present values (one Arrow array)."""
    if not (pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values)):
        # Object, numeric and other columns are rare in raw tables (readers give text):
        # value by value, as str() prints each (1 and 1.0 are different needles).
        return pa.array(list({str(v).strip() for v in values}), type=pa.large_string())
    distinct = pc.unique(pa.array(values.array)).cast(pa.large_string())
    ascii_only = pc.string_is_ascii(distinct)
    stripped = pc.utf8_trim(distinct.filter(ascii_only), characters=ASCII_SPACE)
    others = distinct.filter(pc.invert(ascii_only)).to_pylist()
    return pa.concat_arrays([stripped, pa.array([v.strip() for v in others],
                                                type=pa.large_string())])


def _datetime_needles(values: pd.Series) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Wall-clock and UTC seconds of date-times; text (as ``str``) for years not of 4 digits."""
    zoned = isinstance(values.dtype, pd.DatetimeTZDtype)
    wall_ticks = (values.dt.tz_localize(None) if zoned else values).to_numpy("datetime64[s]")
    wall = wall_ticks.view(np.int64)
    usual = (wall >= _FOUR_DIGIT_YEARS[0]) & (wall < _FOUR_DIGIT_YEARS[1])
    # The pattern reads four-digit years only: any other stays a text needle, as printed.
    text = pa.array(list({str(v).strip() for v in values[~usual]}), type=pa.large_string())
    utc = values.dt.tz_convert(None).to_numpy("datetime64[s]").view(np.int64) if zoned else None
    instant = utc[usual] if zoned else np.empty(0, np.int64)
    return text, wall[usual], instant


def _iso_times(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and UTC seconds of the values written as ISO date-times with seconds."""
    parts = pc.extract_regex(values, _ISO_TEXT)
    present = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    if not present.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    parts = parts.filter(pa.array(present))
    stamp = pc.binary_join_element_wise(parts.field("date"), parts.field("time"),
                                        pa.scalar(" ", parts.field("date").type))
    wall = pc.strptime(stamp, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    ok = pc.is_valid(wall).to_numpy(zero_copy_only=False)
    wall_s = pc.fill_null(wall.cast(pa.int64()), 0).to_numpy()
    # A group that took no part in a match is "" in Arrow's answer.
    sign = parts.field("sign").to_numpy(zero_copy_only=False)
    zone = pc.not_equal(parts.field("z"), "").to_numpy(zero_copy_only=False)
    hours, minutes, seconds = (
        pc.cast(pc.replace_substring_regex(parts.field(name), "^$", "0"), pa.int64()).to_numpy()
        for name in ("h", "m", "s"))
    offset = np.where(sign == "-", -1, 1) * (hours * 3600 + minutes * 60 + seconds)
    has_offset = ok & ((sign != "") | zone)
    return wall_s[ok], (wall_s - offset)[has_offset]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct int64 values (a sort: numpy's hashed unique is slower on millions)."""
    values = np.sort(values.astype(np.int64, copy=False))
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values
