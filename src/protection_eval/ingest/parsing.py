"""Parsing of text cells into dates, times and numbers, without guessing.

Each parser returns the parsed values and, for the cells it refused, a quarantine reason and a
detail sentence. ISO 8601 is always accepted; any other form needs the ``date_format`` the
mission configuration declares for that source (``"excel"`` for Excel serial day numbers).
A date the library cannot hold (before 1678 or after 2261, the range of nanosecond timestamps)
and a number that is not finite are refused with their own reasons, never raised.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    # Dates repeat (many rows per day): parse each distinct text once, then spread.
    codes, uniques = pd.factorize(cells.astype(str))
    parsed = [_parse_cell(str(u).strip(), date_format) for u in uniques]
    found = [p[0] for p in parsed]
    naive = pd.to_datetime(
        [None if v is None or v.tzinfo is not None else v for v in found]
    ).astype("datetime64[ns]")
    aware = pd.to_datetime(
        [None if v is None or v.tzinfo is None else v for v in found], utc=True
    ).astype("datetime64[ns, UTC]")
    localised = naive.tz_localize(
        timezone, ambiguous="NaT", nonexistent="shift_forward"
    ).tz_convert("UTC")
    unique_values = aware.where(aware.notna(), localised)
    values = pd.Series(unique_values[codes], index=index, dtype="datetime64[ns, UTC]")

    def spread(position: int) -> pd.Series:
        column = np.array([p[position] or None for p in parsed], dtype=object)
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
