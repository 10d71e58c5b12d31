"""Aggregate incident counts: monthly counts per area, GBV type and source, as published.

Agencies bound by the GBVIMS information-sharing protocol share counts, not incident rows, and
publish a small count as "<5" (or "1-4"). Such a cell is kept as what it is, an interval: a
count between ``count_low`` and ``count_high`` (``"<5"`` is 1..4). It is never dropped and never
replaced by a guess; the effect models take it as interval-censored
(:mod:`protection_eval.effects.censored`).

Every row is accepted or quarantined with a reason:

- ``count_unparseable``: a count cell in none of the published forms (``12``, ``<5``, ``<=4``,
  ``≤4``, ``1-4``, ``1 to 4``), or a bound that makes no interval (``<1``, ``5-2``);
- ``count_interval_too_wide``: an interval of more than :data:`MAX_COUNT_INTERVAL` + 1 values;
- ``month_unparseable``, ``date_outside_period``, ``date_in_future``: the month;
- the place checks of :mod:`protection_eval.ingest.places` (an area by id, P-code or name);
- ``label_unmapped``: a GBV type not mapped (one type per row: a count is not multi-valued);
- ``duplicate_count``: the same area, month, type and source twice;
- ``counts_and_rows_overlap``: a source that gives both incident rows and counts for one
  area-month (each report would count twice);
- ``margin_without_cells`` and ``margin_inconsistent``: a total row (GBV type ``total``) with
  no counts by type beside it, or whose interval does not meet the sum of theirs.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from protection_eval.config import SourceSpec
from protection_eval.ingest.places import name_key, resolve_area_references
from protection_eval.ingest.quarantine import IngestContext, Quarantine, cell_text
from protection_eval.labels import LabelMapper
from protection_eval.model import to_local_period

__all__ = ["MAX_COUNT_INTERVAL", "MAX_COUNT", "TOTAL_LABEL", "parse_count", "parse_month"]

#: Widest published interval accepted (``count_high - count_low``); the likelihood sums over it.
MAX_COUNT_INTERVAL = 1000
#: Largest count accepted (far above any monthly count of one area).
MAX_COUNT = 1_000_000
#: The GBV type of a margin row: the total over the types of its area, month and source.
TOTAL_LABEL = "total"

_EXACT = re.compile(r"^\d+$")
_BELOW = re.compile(r"^<(\d+)$")
_AT_MOST = re.compile(r"^(?:<=|≤|=<)(\d+)$")
_BETWEEN = re.compile(r"^(\d+)(?:-|–|—|to)(\d+)$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
FORMS = "12, <5, <=4, ≤4, 1-4 or 1 to 4"


def parse_count(cell: str) -> tuple[int, int] | None:
    """Return the bounds of a published count cell, or None when it is in no known form.

    Parameters
    ----------
    cell : str
        ``"12"`` (exactly 12), ``"<5"`` (1..4: zero is published as 0), ``"<=4"`` or ``"≤4"``
        (1..4), ``"1-4"`` or ``"1 to 4"`` (the stated bounds). Spaces are ignored.

    Returns
    -------
    tuple of int or None
        ``(low, high)``, ``low <= high``.
    """
    text = re.sub(r"\s+", "", cell).casefold()
    if _EXACT.match(text):
        return int(text), int(text)
    if m := _BELOW.match(text):
        k = int(m.group(1))
        return (1, k - 1) if k >= 2 else None
    if m := _AT_MOST.match(text):
        k = int(m.group(1))
        return (1, k) if k >= 1 else None
    if m := _BETWEEN.match(text):
        low, high = int(m.group(1)), int(m.group(2))
        return (low, high) if low <= high else None
    return None


def parse_month(cell: str, date_format: str | None) -> pd.Timestamp | None:
    """Return the first day of the calendar month a cell names, or None.

    Parameters
    ----------
    cell : str
        ``2023-03``, an ISO date (its month), or text in the source's ``date_format``.
    date_format : str or None
        strptime format of the source (e.g. ``"%m/%Y"``, ``"%b %Y"``).

    Returns
    -------
    pandas.Timestamp or None
        Midnight of the month's first day.
    """
    if date_format:
        try:
            day = pd.Timestamp(pd.to_datetime(cell, format=date_format))
            return day.to_period("M").to_timestamp()
        except (ValueError, TypeError):
            pass
    if m := _MONTH.match(cell):
        year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
        try:
            pd.Timestamp(year=year, month=month, day=int(day) if day else 1)
        except ValueError:
            return None
        return pd.Timestamp(year=year, month=month, day=1)
    return None


def _parse_counts(frame: pd.DataFrame, q: Quarantine) -> tuple[pd.Series, pd.Series]:
    cells = cell_text(frame, "count")
    bounds = {c: parse_count(c) for c in cells.unique() if c != ""}
    low = cells.map(lambda c: bounds.get(c, (np.nan, np.nan))[0] if bounds.get(c) else np.nan)
    high = cells.map(lambda c: bounds.get(c, (np.nan, np.nan))[1] if bounds.get(c) else np.nan)
    q.reject((cells != "") & low.isna(), "count_unparseable", "count",
             lambda rows: "count " + cells[rows].map(repr)
             + f" is not a count; write it as one of {FORMS} (a suppressed cell keeps its bounds)")
    q.reject(high > MAX_COUNT, "number_out_of_range", "count",
             lambda rows: "count " + cells[rows].map(repr) + f" is above {MAX_COUNT:,}")
    q.reject(high - low > MAX_COUNT_INTERVAL, "count_interval_too_wide", "count",
             lambda rows: "count " + cells[rows].map(repr) + " spans more than "
             f"{MAX_COUNT_INTERVAL + 1} values; give narrower bounds")
    return low, high


def _parse_months(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext,
                  q: Quarantine) -> pd.Series:
    cells = cell_text(frame, "month")
    found = {c: parse_month(c, spec.date_format) for c in cells.unique() if c != ""}
    month = pd.to_datetime(cells.map(lambda c: found.get(c)), errors="coerce")
    hint = f" in date_format {spec.date_format!r}" if spec.date_format else ""
    q.reject((cells != "") & month.isna(), "month_unparseable", "month",
             lambda rows: "month " + cells[rows].map(repr) + " is not a month: write it as "
             f"2023-03{hint}, or declare the source's date_format")
    start, end = pd.Timestamp(ctx.config.period.start), pd.Timestamp(ctx.config.period.end)
    q.reject(month > pd.Timestamp(ctx.today), "date_in_future", "month",
             lambda rows: "month " + month[rows].dt.strftime("%Y-%m")
             + f" starts after today ({ctx.today})")
    # A month that overlaps the period is in it: the panel keeps partial months at the edges.
    outside = (month + pd.offsets.MonthEnd(0) < start) | (month > end)
    q.reject(outside, "date_outside_period", "month",
             lambda rows: "month " + month[rows].dt.strftime("%Y-%m")
             + f" is outside the mission period {start.date()}..{end.date()}")
    return month


def _map_types(frame: pd.DataFrame, spec: SourceSpec, q: Quarantine) -> pd.Series:
    """Map the GBV type of each row; ``total`` (or a source's own total label) marks a margin."""
    mapper = LabelMapper("gbv_type", spec.labels.get("gbv_type"))
    totals = {name_key(t) for t in (TOTAL_LABEL, *spec.total_labels)}
    cells = cell_text(frame, "gbv_type")
    mapped: dict[str, str | None] = {}
    for cell in cells.unique():
        if cell == "":
            continue
        if name_key(cell) in totals:
            mapped[cell] = TOTAL_LABEL
        else:
            outcome = mapper.map(cell)
            mapped[cell] = outcome.label
    out = cells.map(lambda c: mapped.get(c))
    q.reject((cells != "") & out.isna(), "label_unmapped", "gbv_type",
             lambda rows: "gbv_type " + cells[rows].map(repr) + " is not a model label "
             f"{list(mapper.vocabulary)} nor a total ({TOTAL_LABEL!r}); map it under "
             "sources.incident_counts.labels.gbv_type, or list a total's name under total_labels")
    return out


def _key(table: pd.DataFrame, *columns: str) -> pd.Series:
    key = table[columns[0]].map(str)
    for column in columns[1:]:
        key = key + "|" + table[column].map(str)
    return key


def _check_duplicates(frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine) -> None:
    alive = q.alive
    key = _key(table, "area_id", "month", "gbv_type", "source").where(alive)
    first_row = frame["source_row"].where(alive).groupby(key).transform("first")
    repeat = alive & key.duplicated(keep="first") & key.notna()
    q.reject(repeat, "duplicate_count", "count",
             lambda rows: "the same area, month, GBV type and source as row "
             + first_row[rows].astype("Int64").astype(str) + "; give each cell once")


def _check_overlap_with_rows(table: pd.DataFrame, ctx: IngestContext, q: Quarantine) -> None:
    """Refuse counts of a source that also gives incident rows for the same area-month."""
    incidents = ctx.incidents
    if incidents is None or incidents.empty:
        return
    rows = incidents[(incidents["source"].fillna("") != "") & incidents["area_id"].notna()]
    if rows.empty:
        return
    month = to_local_period(rows["occurred_at"], rows.get("occurred_until"),
                            ctx.config.timezone, "M")
    known = month.notna()
    given = pd.DataFrame({
        "source": rows.loc[known, "source"].astype(str),
        "area_id": rows.loc[known, "area_id"].astype(str),
        "month": month[known].dt.to_timestamp().astype(str),
        "source_row": rows.loc[known, "source_row"].astype(str),
    })
    found = given.groupby(["source", "area_id", "month"])["source_row"].agg(list)
    key = list(zip(table["source"], table["area_id"], table["month"].astype(str), strict=True))
    clash = pd.Series([k in found.index for k in key], index=table.index)

    def detail(idx: pd.Index) -> pd.Series:
        out = {}
        for i in idx:
            source, area, month_start = key[table.index.get_loc(i)]
            listed = found[(source, area, month_start)]
            shown = ", ".join(listed[:5]) + (", ..." if len(listed) > 5 else "")
            out[i] = (f"source {source!r} also gives {len(listed)} incident row(s) for area "
                      f"{area} in {month_start[:7]} (incidents rows {shown}); give a source as "
                      "rows or as counts for an area-month, not both, so that no report counts "
                      "twice")
        return pd.Series(out)

    q.reject(clash, "counts_and_rows_overlap", "source", detail)


def _check_margins(frame: pd.DataFrame, table: pd.DataFrame, spec: SourceSpec,
                   q: Quarantine) -> None:
    """Check each total row against the counts by type of its area, month and source."""
    alive = q.alive
    is_total = table["gbv_type"] == TOTAL_LABEL
    key = _key(table, "area_id", "month", "source")
    cells = table[alive & ~is_total]
    sums = cells.groupby(key[cells.index]).agg(
        low=("count_low", "sum"), high=("count_high", "sum"))
    cell_rows = frame.loc[cells.index, "source_row"].groupby(key[cells.index]).agg(
        lambda r: ", ".join(map(str, r)))
    totals = table[alive & is_total]
    lonely = totals.index[~key[totals.index].isin(sums.index)]
    q.reject(pd.Series(table.index.isin(lonely), index=table.index), "margin_without_cells",
             "gbv_type", "a total with no counts by GBV type for its area, month and source "
             "beside it; give the counts by type, or map this row's type to unspecified to "
             "use it as a count")
    checked = totals.drop(index=lonely)
    k = key[checked.index]
    low, high = sums.loc[k, "low"].to_numpy(), sums.loc[k, "high"].to_numpy()
    bad = (checked["count_high"].to_numpy() < low) | (checked["count_low"].to_numpy() > high)
    bad_keys = set(k[bad])
    name = spec.path.name
    total_row = frame.loc[checked.index, "source_row"].groupby(k).first()

    def interval(lo: float, hi: float) -> str:
        return f"{lo:.0f}" if lo == hi else f"between {lo:.0f} and {hi:.0f}"

    def detail(idx: pd.Index) -> pd.Series:
        out = {}
        for i in idx:
            g = key[i]
            t = checked.loc[checked.index[k == g][0]]
            out[i] = (f"{name} row {total_row[g]}, column count: the total for area "
                      f"{t['area_id']}, {str(t['month'])[:7]}, source {t['source']!r} is "
                      f"{interval(t['count_low'], t['count_high'])}, but its counts by type "
                      f"(rows {cell_rows[g]}) add up to "
                      f"{interval(sums.loc[g, 'low'], sums.loc[g, 'high'])}; correct the "
                      "total or the counts")
        return pd.Series(out)

    q.reject(alive & key.isin(bad_keys), "margin_inconsistent", "count", detail)


def ingest_counts(frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext,
                  q: Quarantine) -> pd.DataFrame:
    """Check the ``incident_counts`` table; return its canonical rows (refused rows marked in q).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table's cells as text, renamed to model columns.
    spec : SourceSpec
        The source's settings.
    ctx : IngestContext
        Holds the accepted areas and incidents.
    q : Quarantine
        Receives every refusal.

    Returns
    -------
    pandas.DataFrame
        ``area_id, month`` (first day), ``gbv_type`` (a model type or ``total``),
        ``count_low, count_high`` (equal for an exact count), ``source``.
    """
    low, high = _parse_counts(frame, q)
    month = _parse_months(frame, spec, ctx, q)
    gbv = _map_types(frame, spec, q)
    area, suggestions = resolve_area_references(frame, ctx, q)
    ctx.area_name_suggestions = suggestions
    q.reject(area == "", "missing_value", "area_name",
             "no area: give area_id, area_pcode or area_name")
    table = pd.DataFrame({
        "area_id": area.astype(object),
        "month": month.astype("datetime64[ns]"),
        "gbv_type": gbv.astype(object),
        "count_low": pd.array(low, dtype="Int64"),
        "count_high": pd.array(high, dtype="Int64"),
        "source": cell_text(frame, "source"),
    }, index=frame.index)
    _check_duplicates(frame, table, q)
    _check_overlap_with_rows(table, ctx, q)
    _check_margins(frame, table, spec, q)
    return table
