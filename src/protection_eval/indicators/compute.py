"""Indicator rows: women's participation, against the targets in force.

One row per indicator, mission and period, in the documented format of ``docs/indicators.md``:
``indicator_id, mission, period, numerator, denominator, value, target, gap_to_target,
on_track, source``. Disaggregations are part of the id (``<family>.<name>:<dimension>=<value>``),
so the columns never change.

Families:

- ``uniformed``: women's share of uniformed personnel, per mission (and ``ALL``) and period;
- ``country``: the same by contributing country;
- ``patrol``: women's share of patrol personnel-hours, overall and by unit type, and the share of
  patrols with at least one woman, per month (from a mission's patrols table);
- ``deployment``: the share of area-months covered by gender-adviser or women-protection-adviser
  deployments, per year (from a mission's deployments table).

Patrol counts are suppressed below k (:func:`protection_eval.sharing.disclosure.check_k`); personnel
counts are not sensitive and are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protection_eval.coverage.areas import month_edges, month_starts, split_hours_by_period
from protection_eval.indicators.targets import TargetTable
from protection_eval.indicators.trend import MIN_YEARS_FOR_TREND
from protection_eval.model import to_local_naive
from protection_eval.sharing.disclosure import check_k

__all__ = [
    "ALL_MISSIONS",
    "FAMILIES",
    "GENDER_ADVISER_STRATEGIES",
    "INDICATOR_COLUMNS",
    "IndicatorTable",
    "compute_deployment_indicators",
    "compute_patrol_indicators",
    "compute_personnel_indicators",
    "concat_indicators",
]

#: The documented columns, in order (docs/indicators.md).
INDICATOR_COLUMNS = [
    "indicator_id", "mission", "period", "numerator", "denominator", "value", "target",
    "gap_to_target", "on_track", "source",
]

#: Indicator families: id prefix -> what the family measures (one XLSX sheet each).
FAMILIES: dict[str, str] = {
    "uniformed": "Women's share of uniformed personnel, per mission and period",
    "country": "Women's share of uniformed personnel by contributing country",
    "patrol": "Women in patrols: share of personnel-hours, share of patrols with a woman",
    "deployment": "Area-months covered by gender-adviser or women-protection-adviser deployments",
}

#: Mission label of rows that pool every mission of the file.
ALL_MISSIONS = "ALL"

#: Strategy ids (data/strategies) whose deployments count as gender-adviser coverage.
GENDER_ADVISER_STRATEGIES = ("military-gender-advisers", "women-protection-advisers")

#: Where the women's-share evidence of a mission lives (linked from patrol rows).
EVIDENCE_LINK = ("evidence: effects.csv, strategy_id patrol-presence, estimands women_share "
                 "and women_share_modification")

_DETAIL = ["family", "year", "monthly", "category", "country", "target_id", "due_year"]


@dataclass
class IndicatorTable:
    """Indicator rows with the details behind them.

    Attributes
    ----------
    rows : pandas.DataFrame
        :data:`INDICATOR_COLUMNS` plus ``family``, ``year``, ``monthly``, ``category``,
        ``country``, ``target_id`` and ``due_year``.
    notes : list of str
        What a reader must know (rows suppressed, series without target...).
    """

    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return the documented indicator table (:data:`INDICATOR_COLUMNS`), sorted."""
        frame = self.rows[INDICATOR_COLUMNS].copy()
        for c in ("numerator", "denominator"):
            frame[c] = frame[c].astype("Float64")
        frame["on_track"] = frame["on_track"].astype("boolean")
        return frame.reset_index(drop=True)

    def family(self, name: str) -> pd.DataFrame:
        """Return the documented rows of one family."""
        return self.to_frame()[self.rows["family"].to_numpy() == name].reset_index(drop=True)

    @property
    def families(self) -> list[str]:
        """Families present, in :data:`FAMILIES` order."""
        present = set(self.rows["family"])
        return [f for f in FAMILIES if f in present]


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=[*INDICATOR_COLUMNS, *_DETAIL])


def concat_indicators(*tables: IndicatorTable) -> IndicatorTable:
    """Join indicator tables (e.g. a mission's patrol and deployment rows)."""
    frames = [t.rows for t in tables if len(t.rows)]
    rows = pd.concat(frames, ignore_index=True) if frames else _empty_rows()
    return IndicatorTable(rows, [n for t in tables for n in t.notes])


def _indicator_id(base: str, **dims: str) -> str:
    parts = [f"{k}={v}" for k, v in dims.items() if v]
    return base + (":" + ",".join(parts) if parts else "")


def _on_track(series: pd.DataFrame) -> pd.Series:
    """Per row: meets the target, or its trend up to that year reaches it by the deadline.

    NA without a target, without a deadline while below it, or with fewer than
    :data:`MIN_YEARS_FOR_TREND` years so far. The trend is the least-squares line of
    :func:`protection_eval.indicators.trend.fit_trend`, fitted on the years up to the row's.
    """
    order = np.argsort(series["year"].to_numpy(), kind="stable")
    year = series["year"].to_numpy(dtype=float)[order]
    value = series["value"].to_numpy(dtype=float)[order]
    target = series["target"].to_numpy(dtype=float)[order]
    due = series["due_year"].to_numpy(dtype=float)[order]
    result = np.full(len(order), np.nan)
    known = ~np.isnan(value)
    for i in range(len(order)):
        if np.isnan(target[i]) or np.isnan(value[i]):
            continue
        if value[i] >= target[i]:
            result[i] = 1.0
        elif np.isnan(due[i]):
            continue
        elif due[i] <= year[i]:
            result[i] = 0.0
        else:
            past = known & (year <= year[i])
            x, y = year[past], value[past]
            if len(x) < MIN_YEARS_FOR_TREND or np.ptp(x) == 0:
                continue
            slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
            result[i] = float(y.mean() + slope * (due[i] - x.mean()) >= target[i])
    out = pd.Series(pd.array([pd.NA] * len(order), dtype="boolean"),
                    index=series.index[order])
    out[~np.isnan(result)] = result[~np.isnan(result)].astype(bool)
    return out.reindex(series.index)


def _with_targets(rows: pd.DataFrame, targets: TargetTable | None) -> pd.DataFrame:
    """Attach the target in force, the gap and on_track to yearly rows."""
    rows = rows.copy()
    found = [
        None if targets is None else targets.lookup(cat, int(year))
        for cat, year in zip(rows["category"], rows["year"], strict=True)
    ]
    rows["target"] = [np.nan if t is None else t.share for t in found]
    rows["target_id"] = ["" if t is None else t.id for t in found]
    rows["due_year"] = [np.nan if t is None or t.due_year is None else float(t.due_year)
                        for t in found]
    labels = ["" if t is None else f"; target {t.label()}" for t in found]
    # Element-wise: an empty list would be float64 and cannot be added to a text column.
    rows["source"] = [f"{s}{lab}" for s, lab in zip(rows["source"], labels, strict=True)]
    rows["gap_to_target"] = rows["target"] - rows["value"]
    parts = [_on_track(series)
             for _, series in rows.groupby(["indicator_id", "mission"], sort=False)]
    rows["on_track"] = (pd.concat(parts).reindex(rows.index) if parts
                        else pd.Series(pd.NA, index=rows.index, dtype="boolean"))
    return rows


def _share_rows(grouped: pd.DataFrame, *, family: str, base: str, source: str,
                dims: list[str]) -> pd.DataFrame:
    grouped = grouped[grouped["personnel"] > 0]
    columns = [grouped[d].astype(str).where(
        (d != "category") | (grouped[d] != "all_uniformed"), "") for d in dims]
    ids = [_indicator_id(base, **dict(zip(dims, values, strict=True)))
           for values in zip(*columns, strict=True)]
    return pd.DataFrame({
        "indicator_id": ids,
        "mission": grouped["mission"].to_numpy(),
        "period": grouped["period"].to_numpy(),
        "numerator": grouped["women"].to_numpy(dtype=float),
        "denominator": grouped["personnel"].to_numpy(dtype=float),
        "value": (grouped["women"] / grouped["personnel"]).to_numpy(dtype=float),
        "source": source,
        "family": family,
        "year": grouped["year"].to_numpy(dtype=int),
        "monthly": grouped["period"].str.len().to_numpy() > 4,
        "category": grouped["category"].to_numpy(),
        "country": grouped["country"].to_numpy() if "country" in grouped else "",
    })


def compute_personnel_indicators(
    personnel: pd.DataFrame,
    targets: TargetTable | None,
    *,
    source: str,
    by_country: bool = True,
) -> IndicatorTable:
    """Women's share of uniformed personnel per mission and period, against the targets.

    Parameters
    ----------
    personnel : pandas.DataFrame
        Accepted personnel rows (:data:`protection_eval.indicators.personnel.PERSONNEL_COLUMNS`).
    targets : TargetTable or None
        Targets; the one in force for each row's category and year is used.
    source : str
        Citation of the personnel data, written into every row's ``source``.
    by_country : bool
        Also compute the ``country`` family.

    Returns
    -------
    IndicatorTable
        ``uniformed.women_share`` per mission, period and category (plus mission ``ALL``,
        every mission pooled), and ``country.women_share:country=<name>`` per mission, period
        and contributing country. Mission-periods with no personnel have no row.
    """
    keys = ["mission", "period", "year", "category"]
    per_mission = personnel.groupby(keys, as_index=False)[["women", "personnel"]].sum()
    pooled = personnel.groupby(keys[1:], as_index=False)[["women", "personnel"]].sum()
    pooled.insert(0, "mission", ALL_MISSIONS)
    uniformed = _share_rows(pd.concat([per_mission, pooled], ignore_index=True),
                            family="uniformed", base="uniformed.women_share", source=source,
                            dims=["category"])
    frames = [uniformed]
    if by_country and (personnel["country"] != "").any():
        known = personnel[personnel["country"] != ""]
        grouped = known.groupby([*keys, "country"], as_index=False)[["women", "personnel"]].sum()
        frames.append(_share_rows(grouped, family="country", base="country.women_share",
                                  source=source, dims=["category", "country"]))
    rows = _with_targets(pd.concat(frames, ignore_index=True), targets)
    notes = []
    empty = per_mission[per_mission["personnel"] == 0]
    if len(empty):
        notes.append(f"{len(empty)} mission-periods with no personnel have no row")
    untargeted = rows.loc[~rows["monthly"] & rows["target"].isna(), "category"].unique()
    if len(untargeted):
        notes.append("no target in force for some years of categories: "
                     + ", ".join(sorted(map(str, untargeted))))
    return IndicatorTable(rows.sort_values(["indicator_id", "mission", "period"],
                                           ignore_index=True), notes)


def _suppress(rows: pd.DataFrame, counts: pd.Series, k: int, why: str) -> tuple[pd.DataFrame,
                                                                                 int]:
    """Blank numerator, denominator, value of rows whose ``counts`` are from 1 to k-1."""
    small = (counts >= 1) & (counts < k)
    rows.loc[small, ["numerator", "denominator", "value"]] = np.nan
    rows.loc[small, "source"] = rows.loc[small, "source"] + f"; suppressed: {why}"
    return rows, int(small.sum())


def _patrol_frame(patrols: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """One row per patrol and local month it overlaps, with its hours in that month.

    Patrol-hours have one definition (:func:`protection_eval.coverage.split_hours_by_period`,
    the time part of :func:`~protection_eval.coverage.compute_patrol_hours`): a patrol's hours
    count in every local month its time overlaps, so one across midnight at a month's end gives
    hours to both months (and counts as a patrol in both).
    """
    started = pd.to_datetime(patrols["started_at"], utc=True).reset_index(drop=True)
    ended = pd.to_datetime(patrols["ended_at"], utc=True).reset_index(drop=True)
    if not len(patrols):
        months = pd.DatetimeIndex([pd.Timestamp("2000-01-01")])
    else:
        first = to_local_naive(started, timezone).min()
        last = to_local_naive(ended, timezone).max()
        months = month_starts(first, max(first, last))
    split = split_hours_by_period(started, ended, edges=month_edges(months), timezone=timezone)
    month = months[split["period"].to_numpy()]
    rows = split["span"].to_numpy()
    return pd.DataFrame({
        "unit_type": patrols["unit_type"].astype(str).to_numpy()[rows],
        "period": month.strftime("%Y-%m"),
        "year": month.year.to_numpy(),
        "hours": split["hours"].to_numpy(dtype=float),
        "personnel": pd.to_numeric(patrols["personnel"]).astype("Float64").to_numpy()[rows],
        "women": pd.to_numeric(patrols["women"]).astype("Float64").to_numpy()[rows],
        "patrol": rows,
    })


def _monthly_cells(patrols: pd.DataFrame) -> pd.DataFrame:
    """Women-hours, personnel-hours, patrols and patrols with a woman, per month."""
    cells = patrols.groupby(["period", "year"], as_index=False).agg(
        women_h=("women_h", "sum"), personnel_h=("personnel_h", "sum"),
        patrols=("hours", "size"), with_women=("with_women", "sum"))
    return cells[cells["personnel_h"] > 0].reset_index(drop=True)


def _patrol_rows(cells: pd.DataFrame, indicator_id: str, mission: str, numerator: pd.Series,
                 denominator: pd.Series, source: str) -> pd.DataFrame:
    # Hours are shown to a tenth; the share is computed before rounding.
    return pd.DataFrame({
        "indicator_id": indicator_id, "mission": mission, "period": cells["period"],
        "numerator": numerator.astype(float).round(1),
        "denominator": denominator.astype(float).round(1),
        "value": (numerator / denominator).astype(float), "source": source,
        "family": "patrol", "year": cells["year"], "monthly": True, "category": "patrols",
        "country": "",
    })


def _hours_share_rows(cells: pd.DataFrame, unit: str | None, mission: str,
                      source: str) -> pd.DataFrame:
    return _patrol_rows(
        cells, _indicator_id("patrol.women_hours_share", unit_type=unit or ""), mission,
        cells["women_h"], cells["personnel_h"],
        f"{source}; personnel-hours = personnel x the patrol's hours in the month; "
        f"{EVIDENCE_LINK}",
    )


def _with_women_rows(cells: pd.DataFrame, mission: str, source: str) -> pd.DataFrame:
    return _patrol_rows(cells, "patrol.with_women_share", mission, cells["with_women"],
                        cells["patrols"],
                        f"{source}; patrols with at least one woman; {EVIDENCE_LINK}")


def compute_patrol_indicators(
    patrols: pd.DataFrame, *, mission: str, k: int, timezone: str = "UTC",
    source: str = "patrols table of the mission",
) -> IndicatorTable:
    """Women in a mission's patrols, per month.

    Parameters
    ----------
    patrols : pandas.DataFrame
        Canonical patrols (``unit_type``, ``started_at``, ``ended_at``, ``personnel``,
        ``women``).
    mission : str
        Mission code.
    k : int
        Suppression threshold: a row resting on 1 to k-1 patrols (or whose count of patrols
        with, or without, a woman is 1 to k-1) is blanked.
    timezone : str
        Mission time zone: a patrol's hours count in every local month its time overlaps
        (the one definition of patrol-hours), and it counts as a patrol in each.
    source : str
        Citation written into ``source``.

    Returns
    -------
    IndicatorTable
        ``patrol.women_hours_share`` (women-hours / personnel-hours, overall and
        ``:unit_type=<type>``) and ``patrol.with_women_share`` (patrols with at least one woman /
        patrols with a known count of women). Rows link to the mission's women's-share
        estimates in ``effects.csv``.
    """
    k = check_k(k)
    data = _patrol_frame(patrols, timezone)
    data = data[data["women"].notna() & data["personnel"].notna() & (data["personnel"] > 0)]
    data = data.assign(
        personnel_h=(data["personnel"] * data["hours"]).astype(float),
        women_h=(data["women"] * data["hours"]).astype(float),
        with_women=(data["women"] > 0).astype(int),
    )
    frames, suppressed = [], 0
    for unit in [None, *sorted(data["unit_type"].unique())]:
        cells = _monthly_cells(data if unit is None else data[data["unit_type"] == unit])
        rows, n = _suppress(_hours_share_rows(cells, unit, mission, source),
                            cells["patrols"], k, f"fewer than {k} patrols")
        frames.append(rows)
        suppressed += n
        if unit is None:
            # Few patrols with a woman, or few without one, is a small count of patrols.
            without = cells["patrols"] - cells["with_women"]
            small = cells["with_women"].between(1, k - 1) | without.between(1, k - 1)
            rows, n = _suppress(_with_women_rows(cells, mission, source),
                                cells["patrols"].where(~small, 1), k,
                                f"fewer than {k} patrols with, or without, a woman")
            frames.append(rows)
            suppressed += n
    rows = pd.concat(frames, ignore_index=True) if frames else _empty_rows()
    rows = _with_targets(rows, None)
    notes = [f"{suppressed} patrol indicator rows suppressed (fewer than {k} patrols)"] \
        if suppressed else []
    personnel = pd.to_numeric(patrols["personnel"]).astype("Float64")
    counted = pd.to_numeric(patrols["women"]).notna() & personnel.notna() & (personnel > 0)
    dropped = int((~counted.fillna(False).astype(bool)).sum())
    if dropped:
        notes.append(f"{dropped} patrols without a count of personnel and women left out")
    return IndicatorTable(rows, notes)


def compute_deployment_indicators(
    deployments: pd.DataFrame | None,
    areas: pd.DataFrame,
    *,
    mission: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    strategy_ids: tuple[str, ...] = GENDER_ADVISER_STRATEGIES,
    source: str = "deployments table of the mission",
) -> IndicatorTable:
    """Share of area-months covered by gender-adviser or women-protection-adviser deployments.

    Parameters
    ----------
    deployments : pandas.DataFrame or None
        Canonical deployments (``strategy_id``, ``area_id``, ``started_on``, ``ended_on``).
    areas : pandas.DataFrame
        The mission's areas (``area_id``).
    mission : str
        Mission code.
    start, end : pandas.Timestamp
        The mission period; every month from ``start`` to ``end`` counts.
    strategy_ids : tuple of str
        Strategies that count as gender-adviser coverage.
    source : str
        Citation written into ``source``.

    Returns
    -------
    IndicatorTable
        ``deployment.gender_adviser_area_months_share`` per calendar year; empty (with a note)
        when the deployments table has none of ``strategy_ids``.
    """
    if deployments is None or not deployments["strategy_id"].isin(strategy_ids).any():
        return IndicatorTable(_empty_rows(), [
            "no gender-adviser or women-protection-adviser deployment in the deployments "
            f"table ({', '.join(strategy_ids)}): no deployment indicator"])
    months = pd.period_range(pd.Timestamp(start), pd.Timestamp(end), freq="M")
    grid = pd.MultiIndex.from_product([areas["area_id"].astype(str).unique(), months],
                                      names=["area_id", "month"]).to_frame(index=False)
    covered = pd.Series(False, index=grid.index)
    chosen = deployments[deployments["strategy_id"].isin(strategy_ids)]
    month_start = grid["month"].dt.start_time
    month_end = grid["month"].dt.end_time
    for dep in chosen.itertuples():
        ended = pd.Timestamp.max if pd.isna(dep.ended_on) else pd.Timestamp(dep.ended_on)
        covered |= ((grid["area_id"] == str(dep.area_id))
                    & (month_start <= ended) & (month_end >= pd.Timestamp(dep.started_on)))
    grid["covered"] = covered.astype(int)
    grid["year"] = grid["month"].dt.year
    g = grid.groupby("year", as_index=False).agg(covered=("covered", "sum"),
                                                  total=("covered", "size"))
    rows = pd.DataFrame({
        "indicator_id": "deployment.gender_adviser_area_months_share", "mission": mission,
        "period": g["year"].astype(str).to_numpy(),
        "numerator": g["covered"].to_numpy(dtype=float),
        "denominator": g["total"].to_numpy(dtype=float),
        "value": (g["covered"] / g["total"]).to_numpy(),
        "source": f"{source}; strategies {', '.join(strategy_ids)}; area-months in the "
                  "mission period",
        "family": "deployment", "year": g["year"].to_numpy(), "monthly": False,
        "category": "deployments", "country": "",
    })
    return IndicatorTable(_with_targets(rows, None), [])
