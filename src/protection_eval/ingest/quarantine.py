"""Cell-level checks of ingestion: each refuses a row into quarantine with a reason.

A :class:`Quarantine` keeps, per row, the first reason it failed for (and the column and a
sentence a person can act on); the checks here parse dates, numbers and labels and look up
references, and never guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from protection_eval.config import MissionConfig, SourceSpec
from protection_eval.ingest.parsing import ASCII_SPACE as _ASCII_SPACE
from protection_eval.ingest.parsing import parse_numbers, parse_times
from protection_eval.labels import LabelMapper, normalise_text
from protection_eval.model import local_midnight_to_utc, local_to_utc, to_local_day
from protection_eval.projection import WorkingProjection


class Quarantine:
    """Collects, per row, the first reason it was refused for."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(None, index=index, dtype=object)
        self.column = pd.Series(None, index=index, dtype=object)
        self.detail = pd.Series(None, index=index, dtype=object)

    @property
    def alive(self) -> pd.Series:
        """Rows not refused so far."""
        return self.reason.isna()

    def reject(
        self,
        mask: pd.Series,
        reason: str,
        column: str,
        detail: str | pd.Series | Callable[[pd.Index], pd.Series],
    ) -> None:
        """Refuse the rows of ``mask`` still alive, with a reason, column and detail.

        ``detail`` is one sentence, a sentence per row, or a function of the refused rows'
        index labels returning their sentences: written only when a row is refused, it costs
        nothing on a large table where every row passes.
        """
        mask = mask.fillna(False).astype(bool)
        if not mask.any():  # most checks refuse no row: skip the look at the live rows
            return
        mask = mask & self.alive
        if not mask.any():
            return
        self.reason[mask] = reason
        self.column[mask] = column
        if callable(detail):
            rows = mask.index[mask.to_numpy()]
            self.detail[mask] = detail(rows).reindex(rows).to_numpy(dtype=object)
        else:
            self.detail[mask] = detail[mask] if isinstance(detail, pd.Series) else detail


class RejectedSink(Protocol):
    """Where a table's quarantined rows go as they are found, instead of being held.

    Ingestion may not reach the disk; a caller that may (the ``validate`` command) hands one
    to :func:`~protection_eval.ingest.tables.ingest_mission`, which calls it with each
    block's quarantined rows as the block is checked. The rows are indexed by their
    positions among the table's rows read (increasing within a call); the calls of a table
    need not come in that order (likely duplicates are found after the last block), and
    whoever keeps the rows lists them by position, as the quarantined rows of one pass are.
    Each call has the same columns; a table with no quarantined row still gets one call,
    with no rows.
    """

    def __call__(self, table: str, rows: pd.DataFrame) -> None:
        """Take ``rows``, quarantined rows of ``table`` indexed by their positions."""


@dataclass
class IngestContext:
    """What the checks of one mission share: configuration, areas, known ids, today."""

    config: MissionConfig
    strategy_ids: frozenset[str]
    today: dt.date
    projected_crs: str | None = None
    projection: WorkingProjection | None = None
    areas: gpd.GeoDataFrame | None = None
    #: The areas prepared for point distances (ingest.locations.AreaDistances), built once.
    area_distances: Any = None
    #: Distances (m) of the points of the table being checked that were quarantined as
    #: outside_areas, for the table's note on points just outside the outlines.
    outside_m: list[float] = field(default_factory=list)
    patrol_ids: frozenset[str] = frozenset()
    incidents: pd.DataFrame | None = None
    area_name_suggestions: dict[str, list[str]] = field(default_factory=dict)
    #: Area names read as countries (ingest.places): name -> area, country code, by what.
    area_name_resolutions: dict[str, dict[str, str]] = field(default_factory=dict)
    table_notes: list[str] = field(default_factory=list)


def cell_text(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a column's cells as NFC text (empty string where the column is absent)."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    text = frame[column].astype(str)
    # ASCII text is its own NFC form and carries no byte-order mark: stripping it in one
    # vectorised step gives what normalise_text would, without a Python call per cell.
    ascii_only = text.str.isascii()
    out = text.str.strip(_ASCII_SPACE)
    if ascii_only.all():
        return out
    out[~ascii_only] = text[~ascii_only].map(normalise_text)
    return out


def map_labels(
    frame: pd.DataFrame, column: str, spec: SourceSpec, q: Quarantine, *, default: str | None
) -> pd.Series:
    """Map a labelled column onto its vocabulary; quarantine unmapped labels."""
    mapper = LabelMapper(column, spec.labels.get(column), multi_valued=column == "gbv_type")
    cells = cell_text(frame, column)
    # A column holds few distinct labels: map each once (in the order they first appear),
    # then spread the answers by each cell's code among them, not a Python call per cell.
    codes, distinct = pd.factorize(cells, use_na_sentinel=False)
    labels: list[str | None] = []
    details: list[str | None] = []
    for cell in distinct:
        if cell == "":
            labels.append(default)
            details.append(None)
            continue
        outcome = mapper.map(cell)
        labels.append(outcome.label)
        details.append(None if outcome.label is not None else (
            f"{column} label(s) {list(outcome.unmapped)} are not model labels "
            f"{list(mapper.vocabulary)}; map them under sources.<table>.labels.{column}"
        ))
    out = pd.Series(_spread(labels, codes), index=frame.index, dtype=object)
    refused = pd.Series(_spread(details, codes), index=frame.index, dtype=object)
    q.reject(refused.notna(), "label_unmapped", column, refused)
    return out


def _spread(answers: list, codes: np.ndarray) -> np.ndarray:
    """Each cell's answer from its code among the distinct cells (an object array)."""
    table = np.empty(len(answers), dtype=object)
    table[:] = answers
    return table[codes]


def parse_time_column(
    frame: pd.DataFrame, column: str, spec: SourceSpec, ctx: IngestContext, q: Quarantine
) -> tuple[pd.Series, pd.Series]:
    """Parse a date/time column to UTC; quarantine ambiguous or unreadable cells.

    A column a reader kept as date-times (GPS times from GeoParquet, only when the text of
    each value would be read back to the same instant) is taken as it is: zoned values are
    instants; naive ones are mission-local wall-clock times, as their text would be.
    """
    if column in frame and pd.api.types.is_datetime64_any_dtype(frame[column]):
        return _typed_times(frame[column], column, ctx, q)
    cells = cell_text(frame, column)
    present = cells != ""
    parsed = parse_times(
        cells[present], timezone=ctx.config.timezone, date_format=spec.date_format
    )
    values = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    values[present] = parsed.values
    precision = pd.Series(None, index=frame.index, dtype=object)
    precision[present] = parsed.precision
    reason = parsed.reason.reindex(frame.index)
    detail = parsed.detail.reindex(frame.index)
    for code in ("date_ambiguous", "date_unparseable"):
        q.reject(reason == code, code, column, detail)
    q.reject(reason == "date_out_of_range", "date_out_of_range", column,
             lambda rows: column + " " + detail[rows].astype(str))
    return values, precision


def _typed_times(values: pd.Series, column: str, ctx: IngestContext, q: Quarantine
                 ) -> tuple[pd.Series, pd.Series]:
    """Return typed date-times in UTC with the precision ``time`` (see parse_time_column)."""
    values = values.dt.as_unit("ns")
    if values.dt.tz is not None:
        utc = values.dt.tz_convert("UTC")
    else:
        utc = local_to_utc(values, ctx.config.timezone, ambiguous="refuse")
    utc = utc.astype("datetime64[ns, UTC]")
    lost = utc.isna() & values.notna()
    q.reject(lost, "date_unparseable", column,
             "the local time does not exist or is ambiguous at a clock change")
    precision = pd.Series("time", index=values.index, dtype=object).where(utc.notna(), None)
    return utc, precision


def check_dates_in_period(
    values: pd.Series, column: str, ctx: IngestContext, q: Quarantine
) -> None:
    """Quarantine dates in the future or outside the mission period."""
    local = to_local_day(values, ctx.config.timezone)
    start = pd.Timestamp(ctx.config.period.start)
    end = pd.Timestamp(ctx.config.period.end)
    future = local > pd.Timestamp(ctx.today)
    q.reject(future, "date_in_future", column,
             lambda rows: column + " " + local[rows].dt.strftime("%Y-%m-%d")
             + f" is after today ({ctx.today})")
    outside = (local < start) | (local > end)
    q.reject(
        outside,
        "date_outside_period",
        column,
        lambda rows: column + " " + local[rows].dt.strftime("%Y-%m-%d")
        + f" is outside the mission period {start.date()}..{end.date()}",
    )


def parse_number_column(
    frame: pd.DataFrame,
    column: str,
    spec: SourceSpec,
    q: Quarantine,
    *,
    integer: bool = False,
    bounds: tuple[float, float] | None = None,
) -> pd.Series:
    """Parse a numeric column; quarantine unreadable, infinite, fractional or out-of-range cells.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table's cells as text.
    column : str
        Model column name.
    spec : SourceSpec
        The source's settings (its decimal separator).
    q : Quarantine
        Receives ``invalid_number``, ``not_finite``, ``not_whole_number`` (``integer``) and
        ``number_out_of_range`` (outside ``bounds``, both ends included).
    integer : bool
        Whether the column is a count.
    bounds : tuple of float, optional
        Smallest and largest value accepted.

    Returns
    -------
    pandas.Series
        float64; NaN where the cell is empty or was refused for any of these reasons, so a
        refused cell never breaks a later conversion (e.g. to ``Int64``).
    """
    cells = cell_text(frame, column)
    parsed = parse_numbers(cells, decimal=spec.decimal)
    q.reject(parsed.reason == "invalid_number", "invalid_number", column, parsed.detail)
    q.reject(parsed.reason == "not_finite", "not_finite", column,
             lambda rows: column + " " + parsed.detail[rows].astype(str)
             + "; correct it or leave the cell empty")
    values = parsed.values
    refused = pd.Series(False, index=frame.index)
    if integer:
        refused |= values.notna() & (values != np.floor(values))
        q.reject(refused, "not_whole_number", column,
                 lambda rows: column + " " + cells[rows].map(repr)
                 + " is not a whole number; give the count")
    if bounds is not None:
        low, high = bounds
        outside = values.notna() & ~refused & ((values < low) | (values > high))
        q.reject(outside, "number_out_of_range", column,
                 lambda rows: column + " " + cells[rows].map(repr)
                 + f" is outside {low:,.0f}..{high:,.0f}; correct it or leave the cell empty")
        refused |= outside
    return values.where(~refused)


def check_reference(
    frame: pd.DataFrame, column: str, known: Iterable[str], reason: str, what: str,
    q: Quarantine,
) -> pd.Series:
    """Quarantine values that are not among the known ids."""
    values = cell_text(frame, column)
    unknown = (values != "") & ~_is_in(values, known)
    q.reject(unknown, reason, column, lambda rows: values[rows] + f" is not {what}")
    return values


def _is_in(values: pd.Series, known: Iterable[str]) -> pd.Series:
    """``values.isin(set(known))`` for text cells, in one Arrow step.

    pandas' ``isin`` on Arrow text first turns every known value into an Arrow scalar in
    Python, once per call (per block of a GPS table); Arrow's own look-up does not.
    """
    if not pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values):
        return values.isin(set(known))
    value_set = pa.array([k for k in set(known) if isinstance(k, str)], type=pa.large_string())
    cells = pa.chunked_array([pa.array(values.array)]).cast(pa.large_string())
    found = pc.is_in(cells, value_set=value_set).to_numpy(zero_copy_only=False)
    return pd.Series(found.astype(bool), index=values.index)


def parse_date_range(
    frame: pd.DataFrame,
    start: str,
    end: str,
    spec: SourceSpec,
    ctx: IngestContext,
    q: Quarantine,
) -> tuple[pd.Series, pd.Series]:
    """Parse a start and an optional end column as local calendar dates.

    Quarantines unreadable dates and an end before its start; an empty end stays NaT (still
    open).
    """
    tz = ctx.config.timezone
    first, _ = parse_time_column(frame, start, spec, ctx, q)
    last, _ = parse_time_column(frame, end, spec, ctx, q)
    first, last = to_local_day(first, tz), to_local_day(last, tz)
    q.reject(last < first, "ended_before_started", end, f"{end} is before {start}")
    return first, last


def parse_time_interval(
    frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse ``occurred_at`` and the optional ``occurred_until`` of incidents.

    An incident known only to lie between two moments keeps its interval. ``occurred_until`` is
    stored as the end of the interval, exclusive: a date-only value is the local midnight that
    ends that day. An interval that is one instant or exactly one local day is not a range: it
    keeps the precision ``time`` or ``day`` and ``occurred_until`` stays NaT. Every other
    interval has the precision ``range``. The whole interval must lie in the mission period and
    before today; an end before its start is quarantined.

    Returns
    -------
    tuple of pandas.Series
        ``occurred_at`` (UTC), ``occurred_until`` (UTC, NaT unless a range) and
        ``time_precision`` (``time``, ``day`` or ``range``).
    """
    tz = ctx.config.timezone
    occurred, precision = parse_time_column(frame, "occurred_at", spec, ctx, q)
    check_dates_in_period(occurred, "occurred_at", ctx, q)
    until = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if "occurred_until" not in frame:
        return occurred, until, precision
    end, end_precision = parse_time_column(frame, "occurred_until", spec, ctx, q)
    next_day = local_midnight_to_utc(to_local_day(end, tz) + pd.Timedelta(days=1), tz)
    # A date-only end holds its whole day: it is before the start only when that day ends by it.
    before = (end < occurred) | ((end_precision == "day") & (next_day <= occurred))
    end = end.where(end_precision != "day", next_day)
    start_end = occurred.where(
        precision != "day",
        local_midnight_to_utc(to_local_day(occurred, tz) + pd.Timedelta(days=1), tz),
    )
    given = end.notna() & occurred.notna()
    q.reject(given & before, "ended_before_started", "occurred_until",
             lambda rows: "occurred_until " + frame.loc[rows, "occurred_until"].astype(str)
             + " is before occurred_at " + frame.loc[rows, "occurred_at"].astype(str))
    is_range = given & (end > start_end)
    last = end - pd.Timedelta(1, "ns")
    check_dates_in_period(last.where(is_range), "occurred_until", ctx, q)
    until = until.where(~is_range, end)
    precision = precision.where(~is_range, "range")
    return occurred, until, precision
