"""Parsing of text cells into dates, times and numbers, without guessing.

Each parser returns the parsed values and, for the cells it refused, a quarantine reason and a
detail sentence. ISO 8601 is always accepted; any other form needs the ``date_format`` the
mission configuration declares for that source (``"excel"`` for Excel serial day numbers).
A date the library cannot hold (before 1678 or after 2261, the range of nanosecond timestamps)
and a number that is not finite are refused with their own reasons, never raised.
"""

from __future__ import annotations

import _strptime
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from protection_eval.model import local_to_utc

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_DAY_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$")
_SERIAL = re.compile(r"^\d{4,5}(\.\d+)?$")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%X", "%c", "%T", "%R")
# Nanosecond timestamps hold 1677-09-21..2262-04-11; a day inside each end leaves room for a
# UTC offset, the mission-local midnight and a date-only end moved to the end of its day.
EARLIEST_DATE = dt.datetime(1678, 1, 1)
LATEST_DATE = dt.datetime(2261, 12, 31)
_NAN_WORDS = frozenset({"nan", "+nan", "-nan"})
#: What str.strip removes from ASCII text (str.isspace), spelled out so that a vectorised
#: strip matches it whatever string storage pandas uses.
ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
#: The strptime directives the vectorised parser reads; a format with any other is parsed
#: cell by cell.
_FAST_DIRECTIVES = frozenset("dmYyHMS%")


@dataclass(frozen=True)
class ParsedTimes:
    """Timestamps parsed from one column.

    Attributes
    ----------
    values : pandas.Series
        ``datetime64[ns, UTC]``; NaT where the cell was refused. A date-only cell is the
        mission-local midnight that starts the day.
    precision : pandas.Series
        ``"time"`` or ``"day"`` per cell (NA where refused).
    reason, detail : pandas.Series
        Quarantine reason code and sentence where the cell was refused, else NA.
    """

    values: pd.Series
    precision: pd.Series
    reason: pd.Series
    detail: pd.Series


def _parse_cell(text: str, date_format: str | None) -> tuple[object, str | None, str | None, str]:
    """Return (datetime or None, precision, reason, detail) for one non-empty cell."""
    try:
        value, precision, reason, detail = _read_cell(text, date_format)
    except OverflowError:
        value = dt.datetime.max
    if value is not None and not EARLIEST_DATE <= value.replace(tzinfo=None) <= LATEST_DATE:
        return None, None, "date_out_of_range", (
            f"{text!r} is outside the dates ingestion can hold "
            f"({EARLIEST_DATE:%Y-%m-%d}..{LATEST_DATE:%Y-%m-%d}); correct the year"
        )
    return value, precision, reason, detail


def _read_cell(text: str, date_format: str | None) -> tuple[object, str | None, str | None, str]:
    if date_format and date_format != "excel":
        # A declared format is read first: it may spell out what an ISO-looking cell means
        # (UCDP writes days as "2014-03-05T00:00:00": the format "%Y-%m-%dT00:00:00" says a day).
        declared = _read_declared(text, date_format)
        if declared is not None:
            return declared
    if _ISO_DATE.match(text):
        try:
            return dt.datetime.strptime(text, "%Y-%m-%d"), "day", None, ""
        except ValueError:
            return None, None, "date_unparseable", f"{text!r} is not a calendar date"
    if _ISO_DATETIME.match(text):
        try:
            return pd.Timestamp(text.replace(" ", "T")).to_pydatetime(), "time", None, ""
        except (ValueError, pd.errors.OutOfBoundsDatetime):
            return None, None, "date_unparseable", f"{text!r} is not a valid date-time"
    if date_format == "excel":
        if _SERIAL.match(text):
            return _EXCEL_EPOCH + dt.timedelta(days=float(text)), (
                "time" if "." in text else "day"
            ), None, ""
        return None, None, "date_unparseable", f"{text!r} is not an Excel serial day number"
    if date_format:
        try:
            value = dt.datetime.strptime(text, date_format)
        except ValueError:
            return None, None, "date_unparseable", (
                f"{text!r} matches neither ISO 8601 nor the declared date_format {date_format!r}"
            )
        has_time = any(d in date_format for d in _TIME_DIRECTIVES)
        return value, "time" if has_time else "day", None, ""
    match = _DAY_MONTH.match(text)
    if match:
        first, second = int(match.group(1)), int(match.group(2))
        if first <= 12 and second <= 12 and first != second:
            return None, None, "date_ambiguous", (
                f"{text!r} could be day {first} of month {second} or the reverse; declare "
                "date_format (e.g. '%d/%m/%Y') for this source in the mission YAML"
            )
        return None, None, "date_unparseable", (
            f"{text!r} is not ISO 8601 and the source declares no date_format; "
            "add date_format (e.g. '%d/%m/%Y') to this source in the mission YAML"
        )
    if _SERIAL.match(text):
        return None, None, "date_unparseable", (
            f"{text!r} looks like an Excel serial day number; declare date_format: excel"
        )
    return None, None, "date_unparseable", (
        f"{text!r} is not ISO 8601 and matches no declared date_format"
    )


def _read_declared(text: str, date_format: str) -> tuple[object, str, None, str] | None:
    """Return the cell read with the declared format, or None when it does not match."""
    try:
        value = dt.datetime.strptime(text, date_format)
    except ValueError:
        return None
    has_time = any(d in date_format for d in _TIME_DIRECTIVES)
    return value, "time" if has_time else "day", None, ""


@lru_cache(maxsize=64)
def _strptime_pattern(date_format: str) -> str | None:
    r"""Return the pattern ``datetime.strptime`` matches ``date_format`` with, for Arrow.

    CPython's own regular expression for the format (``_strptime``), with ``\d`` and
    ``\s`` spelled out as their ASCII members: on ASCII text (the only text the fast path
    reads) it accepts exactly the strings strptime accepts, and RE2 picks the same
    alternatives as Python's backtracking (leftmost-first). ``all`` captures the whole match,
    because strptime refuses a match that leaves text over. None when the format holds a
    directive outside :data:`_FAST_DIRECTIVES`, a directive twice, a backslash or non-ASCII.
    """
    directives = re.findall(r"%(.)", date_format)
    named = [d for d in directives if d != "%"]
    if (not date_format.isascii() or "\\" in date_format
            or not set(directives) <= _FAST_DIRECTIVES
            or len(set(named)) != len(named) or {"y", "Y"} <= set(named)):
        return None
    pattern = _strptime._TimeRE_cache.pattern(date_format)
    pattern = pattern.replace("\\d", "[0-9]").replace(
        "\\s+", "[ \\t\\n\\r\\x0b\\x0c\\x1c-\\x1f]+")
    return "(?i)^(?P<all>" + pattern + ")"


def _fast_strptime(texts: pa.Array, date_format: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse ASCII texts as ``datetime.strptime(text, date_format)`` would, in bulk.

    Returns the naive values (``datetime64[ns]``), a mask of the texts parsed and a mask of
    the texts strptime's pattern may match (all of them when the format is outside the bulk
    directives). A text is parsed only when strptime would return a valid date inside
    ``EARLIEST_DATE..LATEST_DATE``; every other text (unmatched, left-over text, 31 February,
    second 60 or 61, out of range) is left to the cell-by-cell parser, which gives its reason.
    A text outside the third mask is one strptime refuses outright (``ValueError``). The
    caller passes ASCII text only.
    """
    count = len(texts)
    pattern = _strptime_pattern(date_format)
    if pattern is None or count == 0:
        return (np.full(count, np.datetime64("NaT"), "datetime64[ns]"),
                np.zeros(count, dtype=bool), np.ones(count, dtype=bool))
    found = pc.extract_regex(texts, pattern)
    whole = pc.fill_null(pc.equal(pc.utf8_length(pc.struct_field(found, "all")),
                                  pc.utf8_length(texts)), False).to_numpy(zero_copy_only=False)

    year, month, day, hour, minute, second = _parts(found, whole, 1900)
    if "y" in _group_names(found):  # strptime's pivot: 00-68 -> 20xx, 69-99 -> 19xx
        short = _parts(found, whole, 0, ("y",))[0]
        year = np.where(short <= 68, short + 2000, short + 1900)
    values, ok = _assemble(whole, year, month, day, hour, minute, second)
    return values, ok, whole


def _group_names(found: pa.Array) -> set[str]:
    return {found.type.field(i).name for i in range(found.type.num_fields)}


def _parts(found: pa.Array, whole: np.ndarray, year: int,
           names: tuple[str, ...] = ("Y", "m", "d", "H", "M", "S")) -> list[np.ndarray]:
    """Integers of the named groups where ``whole``; strptime's defaults where absent."""
    present = _group_names(found)
    defaults = {"Y": year, "m": 1, "d": 1}
    out = []
    for name in names:
        if name not in present:
            out.append(np.full(len(whole), defaults.get(name, 0), dtype=np.int64))
            continue
        # "%d" also matches " 5" (a space-padded day), which int() reads as 5; an optional
        # group that matched nothing is empty.
        digits = pc.fill_null(pc.utf8_trim_whitespace(pc.struct_field(found, name)), "")
        digits = pc.if_else(pc.and_(pa.array(whole), pc.not_equal(digits, "")), digits, "0")
        out.append(pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False))
    return out


def _assemble(ok: np.ndarray, year: np.ndarray, month: np.ndarray, day: np.ndarray,
              hour: np.ndarray, minute: np.ndarray, second: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Naive values of valid calendar components inside EARLIEST_DATE..LATEST_DATE, and where.

    A component ``datetime.datetime`` would refuse (month 13, 31 February, hour 24, second
    60) leaves the text to the cell-by-cell parser.
    """
    ok = (ok & (year >= EARLIEST_DATE.year) & (year <= LATEST_DATE.year) & (month >= 1)
          & (month <= 12) & (hour <= 23) & (minute <= 59) & (second <= 59))
    months = ((np.where(ok, year, 1970) - 1970) * 12 + np.where(ok, month, 1) - 1).astype(
        "datetime64[M]")
    month_days = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
        np.int64)
    ok &= (day >= 1) & (day <= month_days)
    days = months.astype("datetime64[D]") + np.where(ok, day - 1, 0).astype("timedelta64[D]")
    values = (days.astype("datetime64[ns]")
              + (hour * 3600 + minute * 60 + second).astype("timedelta64[s]"))
    ok &= (values >= np.datetime64(EARLIEST_DATE, "ns")) & (values <= np.datetime64(LATEST_DATE,
                                                                                   "ns"))
    return np.where(ok, values, np.datetime64("NaT")), ok


#: ISO date-times without a fraction of a second (the second rule of _read_cell, which reads
#: them with pandas.Timestamp): the wall-clock parts and the offset, if any.
_ISO_PLAIN_TIME = (
    r"^(?P<Y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})[T ](?P<H>[0-9]{2}):(?P<M>[0-9]{2})"
    r"(?::(?P<S>[0-9]{2}))?(?P<zone>Z|(?P<sign>[+-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2}))?$"
)


def _fast_iso_times(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse ISO date-times without a fraction as ``pandas.Timestamp`` does, in bulk.

    Returns the values (naive wall-clock time, or UTC where the text gives an offset), the
    mask of the texts parsed and the mask of those with an offset. As in :func:`_read_cell`,
    the wall-clock time must lie in EARLIEST_DATE..LATEST_DATE. Offsets beyond 23:59 are
    left to the cell-by-cell parser.
    """
    found = pc.extract_regex(texts, _ISO_PLAIN_TIME)
    whole = pc.is_valid(found).to_numpy(zero_copy_only=False)
    values, ok = _assemble(whole, *_parts(found, whole, 1900))
    zone = pc.fill_null(pc.struct_field(found, "zone"), "").to_numpy(zero_copy_only=False)
    aware = zone != ""
    sign = np.where(pc.fill_null(pc.struct_field(found, "sign"), "").to_numpy(
        zero_copy_only=False) == "-", -1, 1)
    off_h, off_m = _parts(found, whole, 0, ("oh", "om"))
    ok &= (off_h <= 23) & (off_m <= 59)
    offset = (sign * (off_h * 60 + off_m)).astype("timedelta64[m]")
    values = np.where(aware, values - offset, values)
    return np.where(ok, values, np.datetime64("NaT")), ok, ok & aware


def _fast_parse(uniques: pd.Series, date_format: str | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse in bulk the distinct texts whose answer needs no per-cell judgement.

    The rules of :func:`_read_cell`, in its order, on ASCII texts: under a declared strptime
    ``date_format``, the texts it reads (first, whatever their shape); then, among the texts
    the declared pattern does not match at all, ISO calendar dates (``%Y-%m-%d``) and ISO
    date-times without a fraction of a second. A text the declared pattern matches but does
    not read (31 February, out of range) is left to :func:`_parse_cell`, as is every text
    with no bulk answer. Returns the values (naive, or UTC where the text gave an offset), a
    mask of the texts parsed, their precision (``"time"`` or ``"day"``) and a mask of those
    with an offset.
    """
    count = len(uniques)
    values = np.full(count, np.datetime64("NaT"), "datetime64[ns]")
    done = np.zeros(count, dtype=bool)
    aware = np.zeros(count, dtype=bool)
    precision = np.full(count, None, dtype=object)
    if count == 0:
        return values, done, precision, aware
    texts = pa.array(uniques.astype("str"), type=pa.string())
    ascii_text = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    texts = pc.if_else(pa.array(ascii_text), pc.utf8_trim(texts, ASCII_SPACE), "")
    # Texts the ISO rules may answer: those the declared format refuses outright.
    open_to_iso = ascii_text.copy()
    if date_format and date_format != "excel" and ascii_text.any():
        where = np.flatnonzero(ascii_text)
        parsed, ok, matched = _fast_strptime(texts.take(pa.array(where)), date_format)
        has_time = any(d in date_format for d in _TIME_DIRECTIVES)
        values[where[ok]] = parsed[ok]
        done[where[ok]] = True
        precision[where[ok]] = "time" if has_time else "day"
        open_to_iso[where[matched]] = False
    iso_date = open_to_iso & pc.match_substring_regex(
        texts, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").to_numpy(zero_copy_only=False)
    iso_time = open_to_iso & pc.match_substring_regex(
        texts, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
        r"(Z|[+-][0-9]{2}:?[0-9]{2})?$").to_numpy(zero_copy_only=False)
    if iso_date.any():
        where = np.flatnonzero(iso_date)
        parsed, ok, _ = _fast_strptime(texts.take(pa.array(where)), "%Y-%m-%d")
        values[where[ok]] = parsed[ok]
        done[where[ok]] = True
        precision[where[ok]] = "day"
    if iso_time.any():
        where = np.flatnonzero(iso_time)
        parsed, ok, offset = _fast_iso_times(texts.take(pa.array(where)))
        values[where[ok]] = parsed[ok]
        done[where[ok]] = True
        aware[where[offset]] = True
        precision[where[ok]] = "time"
    return values, done, precision, aware


def parse_times(cells: pd.Series, *, timezone: str, date_format: str | None) -> ParsedTimes:
    """Parse a column of date or date-time text into UTC timestamps.

    Parameters
    ----------
    cells : pandas.Series
        Non-empty text cells.
    timezone : str
        IANA zone of naive (offset-less) values: mission-local time.
    date_format : str, optional
        strptime format declared for non-ISO values, or ``"excel"``.

    Returns
    -------
    ParsedTimes
        Values, precision and, where refused, reason and detail.
    """
    index = cells.index
    # Dates repeat (many rows per day): parse each distinct text once, then spread. Texts a
    # plain strptime call answers are parsed in bulk (_fast_parse); the others, cell by cell.
    codes, uniques = pd.factorize(cells.astype(str))
    naive_values, done, unique_precision, fast_aware = _fast_parse(pd.Series(uniques),
                                                                   date_format)
    aware = np.full(len(uniques), np.datetime64("NaT"), "datetime64[ns]")
    aware[fast_aware] = naive_values[fast_aware]
    naive_values[fast_aware] = np.datetime64("NaT")
    slow = np.flatnonzero(~done)
    parsed = [_parse_cell(str(uniques[i]).strip(), date_format) for i in slow]
    found = [p[0] for p in parsed]
    naive_values[slow] = pd.to_datetime(
        [None if v is None or v.tzinfo is not None else v for v in found]
    ).astype("datetime64[ns]").to_numpy()
    aware[slow] = pd.to_datetime(
        [None if v is None or v.tzinfo is None else v for v in found], utc=True
    ).astype("datetime64[ns, UTC]").tz_convert(None).to_numpy()
    aware = pd.DatetimeIndex(aware).tz_localize("UTC")
    localised = local_to_utc(pd.DatetimeIndex(naive_values), timezone, ambiguous="refuse")
    unique_values = aware.where(aware.notna(), localised)
    values = pd.Series(unique_values[codes], index=index, dtype="datetime64[ns, UTC]")

    def spread(position: int) -> pd.Series:
        column = np.full(len(uniques), None, dtype=object)
        if position == 1:
            column[done] = unique_precision[done]
        column[slow] = [p[position] or None for p in parsed]
        return pd.Series(column[codes], index=index, dtype=object)

    precision, reason, detail = spread(1), spread(2), spread(3)
    lost = values.isna() & reason.isna()
    reason[lost] = "date_unparseable"
    detail[lost] = "the local time does not exist or is ambiguous at a clock change"
    return ParsedTimes(values, precision.where(reason.isna()), reason, detail)


@dataclass(frozen=True)
class ParsedNumbers:
    """Numbers parsed from one column.

    Attributes
    ----------
    values : pandas.Series
        float64; NaN where the cell was empty or refused, so a refused cell never reaches a
        later check or conversion.
    reason, detail : pandas.Series
        Where a non-empty cell was refused: ``invalid_number`` (not a number) or ``not_finite``
        (``inf``, ``nan``, or beyond the range of a 64-bit float such as ``1e400``), and a
        sentence naming the value and what to do; else NA.
    """

    values: pd.Series
    reason: pd.Series
    detail: pd.Series


def parse_numbers(cells: pd.Series, *, decimal: str = ".") -> ParsedNumbers:
    """Parse text into finite floats.

    Parameters
    ----------
    cells : pandas.Series
        Text cells ("" for empty).
    decimal : {".", ","}
        The source's decimal separator.

    Returns
    -------
    ParsedNumbers
        Values (NaN where empty or refused) and, where refused, reason and detail.
    """
    raw = cells.astype(str)
    text = raw.str.strip()
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    present = text != ""
    values = pd.to_numeric(text.where(present), errors="coerce").astype("float64")
    infinite = np.isinf(values)
    nan_word = present & values.isna() & text.str.lower().isin(_NAN_WORDS)
    unreadable = present & values.isna() & ~nan_word
    reason = pd.Series(pd.NA, index=cells.index, dtype=object)
    detail = pd.Series(pd.NA, index=cells.index, dtype=object)
    if unreadable.any():
        comma = raw[unreadable].str.contains(",", regex=False) & (decimal == ".")
        reason[unreadable] = "invalid_number"
        detail[unreadable] = [
            f"{c!r} is not a number" + (
                " (a decimal comma? declare decimal: ',' for this source)" if h else "")
            for c, h in zip(raw[unreadable], comma, strict=True)
        ]
    not_finite = infinite | nan_word
    if not_finite.any():
        reason[not_finite] = "not_finite"
        detail[not_finite] = [
            f"{c!r} is not a finite number" if t.lower().lstrip("+-") in {"inf", "infinity", "nan"}
            else f"{c!r} is too large for a 64-bit number (it reads as infinite)"
            for c, t in zip(raw[not_finite], text[not_finite], strict=True)
        ]
    return ParsedNumbers(values.where(~infinite), reason, detail)
