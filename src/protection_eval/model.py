"""The pure base of the library: raw tables as read, and the mission-local calendar.

Nothing here reads or writes a file. :class:`RawTable` is what the readers of
:mod:`protection_eval.io` hand to ingestion. The time functions are the one definition of how a
UTC instant maps to the mission's local calendar (DOMAIN.md: deployments and reporting periods
are written in local days and months), used by ingestion, coverage, the panel and sharing alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "RawTable",
    "local_midnight_to_utc",
    "local_to_utc",
    "to_local_day",
    "to_local_month",
    "to_local_naive",
    "to_iso_text",
    "to_local_period",
]


@dataclass(frozen=True)
class RawTable:
    """One input file as read, before any check.

    Attributes
    ----------
    table : str
        Canonical table name (``incidents``, ``patrols`` ...).
    path : Path
        The file read.
    frame : pandas.DataFrame
        All source columns as text (empty string for an empty cell), a ``source_row`` column
        (CSV: the line number in the file, header = 1; spatial files: feature number from 1) and,
        for spatial files, a ``geometry`` column of shapely objects. One exception, for
        speed on millions of rows: GPS tracks read from GeoParquet may keep the time column
        as datetime values and hold their points as (x, y) pairs (an Arrow struct column
        ``geometry``); ingestion checks those as values and shows a quarantined row's cells
        as the text the spatial reader would have given.
    notes : tuple of str
        What the reader did that the validation report should say: a skipped HXL hashtag row,
        a proposed column map, the columns a preset drops as identifying.
    """

    table: str
    path: Path
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Number of data rows read."""
        return len(self.frame)


def to_local_naive(values: pd.Series, timezone: str) -> pd.Series:
    """Return UTC timestamps as naive wall-clock times of the mission's time zone.

    Parameters
    ----------
    values : pandas.Series
        Timezone-aware timestamps (the canonical UTC columns). Naive values are taken as local
        already and returned unchanged.
    timezone : str
        IANA zone of the mission (``config.timezone``).

    Returns
    -------
    pandas.Series
        Naive ``datetime64`` local times, same index.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(timezone).dt.tz_localize(None)
    return values


def to_local_day(values: pd.Series, timezone: str) -> pd.Series:
    """Return the mission-local calendar day (naive midnight) of each UTC timestamp."""
    return to_local_naive(values, timezone).dt.normalize()


def to_local_month(values: pd.Series, timezone: str) -> pd.Series:
    """Return the mission-local calendar month (``Period[M]``) of each UTC timestamp."""
    return to_local_naive(values, timezone).dt.to_period("M")


def local_to_utc(
    local: pd.Series | pd.DatetimeIndex, timezone: str, *, ambiguous: str = "refuse"
) -> pd.Series | pd.DatetimeIndex:
    """Return naive local wall-clock times as the UTC instants they stand for: the one rule.

    A local time that does not exist (the hour skipped when clocks go forward) moves to the
    first instant after the gap, as a clock set at that time would show. A local time that
    exists twice (the hour repeated when clocks go back) is:

    - ``"refuse"``: missing (NaT). A time read from a source is one of two instants, and which
      one is a guess: ingestion quarantines it (``date_unparseable``, "ambiguous at a clock
      change").
    - ``"standard"``: read as standard time. For calendar boundaries the library makes itself
      (a local midnight starting a day, a month or a period), which must fall somewhere.

    Parameters
    ----------
    local : pandas.Series or pandas.DatetimeIndex
        Naive local wall-clock times.
    timezone : str
        IANA zone of the mission.
    ambiguous : {"refuse", "standard"}
        What a repeated local time becomes.

    Returns
    -------
    pandas.Series or pandas.DatetimeIndex
        The same values as UTC-aware timestamps (NaT where refused).
    """
    if ambiguous == "refuse":
        rule: str | np.ndarray = "NaT"
    elif ambiguous == "standard":
        rule = np.zeros(len(local), dtype=bool)
    else:
        raise ValueError(f"ambiguous must be 'refuse' or 'standard', not {ambiguous!r}")
    if isinstance(local, pd.DatetimeIndex):
        return local.tz_localize(timezone, ambiguous=rule,
                                 nonexistent="shift_forward").tz_convert("UTC")
    zoned = local.dt.tz_localize(timezone, ambiguous=rule, nonexistent="shift_forward")
    return zoned.dt.tz_convert("UTC")


def local_midnight_to_utc(
    days: pd.Series | pd.DatetimeIndex, timezone: str
) -> pd.Series | pd.DatetimeIndex:
    """Return naive local calendar days (or instants) as the UTC instants they fall on.

    A calendar boundary the library makes: :func:`local_to_utc` with ``ambiguous="standard"``
    (a repeated local time is read as standard time; one that does not exist moves to the first
    instant after the gap).

    Parameters
    ----------
    days : pandas.Series or pandas.DatetimeIndex
        Naive local times, typically midnights.
    timezone : str
        IANA zone of the mission.

    Returns
    -------
    pandas.Series or pandas.DatetimeIndex
        The same values as UTC-aware timestamps.
    """
    return local_to_utc(days, timezone, ambiguous="standard")


def to_local_period(
    occurred_at: pd.Series, occurred_until: pd.Series | None, timezone: str, code: str = "M"
) -> pd.Series:
    """Return the local calendar period of each incident, NaT when its interval spans two.

    The one rule for incidents known only to lie in an interval (``time_precision`` ``range``):
    an interval inside one period (a month, a week) belongs to that period; an interval that
    crosses a period boundary belongs to none, and the caller counts it aside and says so. It is
    never apportioned (a fraction of a report is not a count) nor moved to its first or last
    period (a guess).

    Parameters
    ----------
    occurred_at : pandas.Series
        UTC start of each incident.
    occurred_until : pandas.Series or None
        UTC exclusive end of the interval, NaT when the incident is not a range (then its
        period is the period of ``occurred_at``).
    timezone : str
        IANA zone of the mission.
    code : str
        pandas period code (``"M"``, ``"W-SUN"``).

    Returns
    -------
    pandas.Series
        ``Period[code]``, NaT where the interval crosses a period boundary.
    """
    first = to_local_naive(occurred_at, timezone).dt.to_period(code)
    if occurred_until is None:
        return first
    last_instant = occurred_until - pd.Timedelta(1, "ns")
    last = to_local_naive(last_instant, timezone).dt.to_period(code)
    crosses = occurred_until.notna() & (last != first)
    return first.where(~crosses.to_numpy(dtype=bool))


def to_iso_text(values: pd.Series) -> pd.Series:
    """Return each instant as ``Timestamp.isoformat()`` writes it ("" for NaT), in bulk.

    How the readers show a typed date-time cell as text (a quarantined row shows its cells
    as text, whichever reader read them).

    The wall-clock time to the second (local time for a zoned column), then the fraction
    as isoformat gives it (none, six digits, or nine when there are nanoseconds), then the
    UTC offset (``+HH:MM``, with ``:SS`` when the zone's offset has seconds, as local mean
    time has). A Python call per cell took most of the reading time of a large GPS table.

    Parameters
    ----------
    values : pandas.Series
        datetime64 values, naive or zoned.

    Returns
    -------
    pandas.Series
        ``str`` text, "" where the value is NaT.
    """
    values = values.dt.as_unit("ns")
    zoned = values.dt.tz is not None
    wall = (values.dt.tz_localize(None) if zoned else values).to_numpy("datetime64[ns]")
    missing = np.isnat(wall)
    ticks = wall.view(np.int64)
    text = pa.array(np.datetime_as_string(wall.astype("datetime64[s]"), unit="s"))
    fraction = ticks % 1_000_000_000
    parts = [text]
    if (fraction[~missing] != 0).any():
        micro = pc.utf8_lpad(pc.cast(pa.array(fraction // 1000), pa.string()), 6, "0")
        nano = pc.utf8_lpad(pc.cast(pa.array(fraction), pa.string()), 9, "0")
        parts.append(pc.if_else(pa.array(fraction == 0), "", pc.binary_join_element_wise(
            ".", pc.if_else(pa.array(fraction % 1000 == 0), micro, nano), "")))
    if zoned:
        offsets = (ticks - values.dt.tz_convert(None).to_numpy("datetime64[ns]").view(
            np.int64)) // 1_000_000_000
        codes, distinct = pd.factorize(offsets)
        parts.append(pa.array(np.array([_offset_text(int(o)) for o in distinct],
                                       dtype=object)[codes], type=pa.string()))
    joined = pc.binary_join_element_wise(*parts, "")
    return pd.Series(pc.if_else(pa.array(missing), "", joined), index=values.index, dtype="str")


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
