"""Which months the presence data cover: coverage is known there, and only there.

A mission's presence data (GPS tracks, patrol routes, bases by year) may stop before its
incidents start, or start after: bases known up to 2018 say nothing about 2020. A month whose
presence data hold no record is *unknown*, never "no patrol": its incidents are left out of
coverage (``left_out_reason`` ``presence_unknown``), its area measures are unknown (NA, never
0 %), and no gap is ranked in it (``docs/coverage.md``).

A month is known when a presence piece of the mission's coverage model (a movement between two
GPS fixes, a patrol route's span, a base's validity) touches at least one of its local days. A
base without ``valid_from`` is known from the start of time; one without ``valid_to`` stays
open. The one owner of this fact is :func:`compute_presence_months`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from protection_eval.coverage.presence import PresencePieces
from protection_eval.model import to_local_naive

__all__ = ["PRESENCE_SOURCES", "PresenceMonths", "compute_presence_months"]

#: What each coverage model's presence data are, said for a reader (the brief translates them).
PRESENCE_SOURCES: dict[str, str | None] = {
    "tracks": "GPS tracks",
    "routes": "patrol routes",
    "bases": "base locations",
    "none": None,
}


def _month_number(period: pd.Period) -> int:
    return int(period.year) * 12 + int(period.month) - 1


def _to_period(number: int) -> pd.Period:
    return pd.Period(year=number // 12, month=number % 12 + 1, freq="M")


def _text(number: int | None) -> str | None:
    return None if number is None else f"{_to_period(number):%Y-%m}"


@dataclass(frozen=True)
class PresenceMonths:
    """The months of a window that a mission's presence data cover.

    Attributes
    ----------
    model : str
        The coverage model (``tracks``, ``routes``, ``bases`` or ``none``).
    spans : tuple of (int or None, int or None)
        The months the presence data touch, merged into spans (month numbers
        ``year * 12 + month - 1``, first and last included; None: open, for a base with no
        ``valid_from`` or no ``valid_to``), in order, over all the data, not only the window.
    start, end : pandas.Period
        First and last month of the analysed window (monthly periods).
    """

    model: str
    spans: tuple[tuple[int | None, int | None], ...]
    start: pd.Period
    end: pd.Period

    @property
    def source(self) -> str | None:
        """The presence data, in words (``base locations``...); None without any."""
        return PRESENCE_SOURCES.get(self.model, self.model)

    @property
    def months(self) -> pd.PeriodIndex:
        """Every month of the window."""
        return pd.period_range(self.start, self.end, freq="M")

    @property
    def known(self) -> np.ndarray:
        """Per month of the window, whether the presence data cover it."""
        return self.is_known(pd.Series(self.months))

    def is_known(self, months: pd.Series) -> np.ndarray:
        """Return, for each month (``Period[M]``, NaT allowed), whether presence covers it.

        Parameters
        ----------
        months : pandas.Series
            Monthly periods; NaT is never known.

        Returns
        -------
        numpy.ndarray
            Boolean, one per value.
        """
        valid = months.notna().to_numpy(dtype=bool)
        numbers = np.full(len(months), -1, dtype=np.int64)
        if valid.any():
            picked = months[valid]
            numbers[valid] = (picked.dt.year * 12 + picked.dt.month - 1).to_numpy(np.int64)
        known = np.zeros(len(months), dtype=bool)
        for first, last in self.spans:
            inside = np.ones(len(months), dtype=bool)
            if first is not None:
                inside &= numbers >= first
            if last is not None:
                inside &= numbers <= last
            known |= inside
        return known & valid

    @property
    def all_known(self) -> bool:
        """Whether every month of the window is covered."""
        return bool(self.known.all())

    @property
    def none_known(self) -> bool:
        """Whether no month of the window is covered."""
        return not bool(self.known.any())

    def window_spans(self, known: bool = True) -> list[tuple[str, str]]:
        """Return the runs of known (or unknown) months of the window as ``(YYYY-MM, YYYY-MM)``."""
        flags = self.known == known
        months = self.months
        runs, begin = [], None
        for i, flag in enumerate(flags):
            if flag and begin is None:
                begin = i
            if begin is not None and (not flag or i == len(flags) - 1):
                last = i if flag else i - 1
                runs.append((f"{months[begin]:%Y-%m}", f"{months[last]:%Y-%m}"))
                begin = None
        return runs

    @property
    def data_first(self) -> str | None:
        """The first month of presence data (None: open, or no data)."""
        return _text(self.spans[0][0]) if self.spans else None

    @property
    def data_last(self) -> str | None:
        """The last month of presence data (None: open, or no data)."""
        return _text(self.spans[-1][1]) if self.spans else None

    def describe(self) -> str:
        """One sentence: what presence data there are, and which months of the window lack it."""
        if not self.spans:
            return ("no presence data: the mission has no GPS tracks, patrol routes or base "
                    "locations")
        data = ", ".join(f"{_text(a) or 'any earlier month'} to {_text(b) or 'open'}"
                         for a, b in self.spans)
        window = f"{self.start:%Y-%m} to {self.end:%Y-%m}"
        if self.all_known:
            return f"{self.source} cover every month of {window} (data: {data})"
        if self.none_known:
            return f"{self.source} cover {data}, none of {window}"
        missing = ", ".join(f"{a} to {b}" if a != b else a for a, b in self.window_spans(False))
        return f"{self.source} cover {data}; of {window}, not {missing}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: the model, its source, the data's spans and the window's months.

        Spans are ``[YYYY-MM, YYYY-MM]`` (None: open); ``spans_with_data`` and
        ``spans_without_data`` cut the window by whether presence data cover each month.
        """
        return {
            "model": self.model,
            "source": self.source,
            "data_spans": [[_text(a), _text(b)] for a, b in self.spans],
            "window": [f"{self.start:%Y-%m}", f"{self.end:%Y-%m}"],
            "spans_with_data": [list(s) for s in self.window_spans(True)],
            "spans_without_data": [list(s) for s in self.window_spans(False)],
            "months_with_data": int(self.known.sum()),
            "months": len(self.months),
        }


def _month_numbers(stamps: pd.Series, timezone: str, *, end: bool) -> np.ndarray:
    """Local month numbers of UTC instants (an exclusive end: the month of its last instant)."""
    values = pd.Series(stamps).reset_index(drop=True)
    if end:
        values = values - pd.Timedelta(1, "ns")
    local = to_local_naive(values, timezone)
    numbers = (local.dt.year * 12 + local.dt.month - 1).astype("Float64")
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def _merge(first: np.ndarray, last: np.ndarray) -> tuple[tuple[int | None, int | None], ...]:
    """Merge month intervals (NaN: open) into ordered, disjoint spans of touching months."""
    lo = np.where(np.isnan(first), -np.inf, first)
    hi = np.where(np.isnan(last), np.inf, last)
    keep = hi >= lo
    lo, hi = lo[keep], hi[keep]
    if not len(lo):
        return ()
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    new = np.r_[True, lo[1:] > reach[:-1] + 1]
    begins = np.flatnonzero(new)
    ends = np.r_[begins[1:] - 1, len(lo) - 1]

    def whole(value: float) -> int | None:
        return None if not np.isfinite(value) else int(value)

    return tuple((whole(lo[b]), whole(reach[e])) for b, e in zip(begins, ends, strict=True))


def compute_presence_months(
    presence: PresencePieces | None,
    model: str,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    timezone: str,
) -> PresenceMonths:
    """Return the months of a window that a coverage model's presence pieces cover.

    Parameters
    ----------
    presence : PresencePieces or None
        The model's presence pieces (``PreparedCoverage.presence_pieces()``): each has a UTC
        ``start`` and exclusive ``end`` (NaT: open).
    model : str
        The coverage model's name; ``none`` has no presence.
    start, end : pandas.Timestamp or str
        First and last day of the analysed window (local calendar days).
    timezone : str
        Mission time zone: months are local months.

    Returns
    -------
    PresenceMonths
        Spans of presence data and, per month of the window, whether it is known.
    """
    first_month = pd.Timestamp(start).to_period("M")
    last_month = pd.Timestamp(end).to_period("M")
    if presence is None or not len(presence) or model == "none":
        return PresenceMonths(model, (), first_month, last_month)
    first = _month_numbers(presence.start, timezone, end=False)
    last = _month_numbers(presence.end, timezone, end=True)
    # An instant (a lone GPS fix) has no exclusive end to step back from: its month is its own.
    instant = (pd.Series(presence.start).reset_index(drop=True)
               == pd.Series(presence.end).reset_index(drop=True)).to_numpy(dtype=bool)
    last = np.where(instant, first, last)
    return PresenceMonths(model, _merge(first, last), first_month, last_month)
