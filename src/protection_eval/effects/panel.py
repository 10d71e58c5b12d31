"""The area x period panel the effect models are fitted on.

One row per area and period (month by default, week optional) with reported incident counts (all,
and by GBVIMS type), exposure, patrol presence (patrol-hours, share of women among patrol
personnel, footprint when the coverage measures are given) and, for each strategy, the share of
the period during which it was active in the area.

Incidents are counted in the mission's local calendar, the calendar deployments are written in.
Rows located only to a province (``admin1``) or the country are not counted: they cannot be placed
in one area, and counting them where a source happened to name an area would mix precisions. Rows
placed only by their area's name or P-code (precision ``area``) are counted in that area. An
incident known only to lie in a range of dates counts in its period when the range lies inside
one period, and is left out otherwise (:func:`protection_eval.model.to_local_period`: never
apportioned, never moved to one end). The panel's ``attrs["notes"]`` says how many incidents were
left out and why.

A mission may also give monthly counts (``incident_counts``, as GBV partners share them) instead
of or beside incident rows. Their counts by type are added to the panel's months; a published
small cell ("<5") is an interval, so ``incidents`` (and ``incidents_<type>``) then hold the lower
bound and ``upper_incidents`` (and ``upper_incidents_<type>``) the upper bound; the count models
take such cells as interval-censored (:mod:`protection_eval.effects.censored`). Ingestion has
already refused counts of a source that also gives rows for the same area-month.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.labels import COARSE_PRECISIONS
from protection_eval.model import to_local_naive, to_local_period
from protection_eval.projection import area_km2

__all__ = [
    "PANEL_FREQUENCIES",
    "active_column",
    "compute_mission_panel",
    "compute_panel",
    "make_synthetic_panel",
]

#: Period lengths the panel can be built at, and their pandas period codes.
PANEL_FREQUENCIES: dict[str, str] = {"month": "M", "week": "W-SUN"}


def active_column(strategy_id: str) -> str:
    """Return the panel column holding the active share of a strategy.

    Parameters
    ----------
    strategy_id : str
        Catalogue id such as ``"firewood-escorts"``.

    Returns
    -------
    str
        ``"active_"`` followed by the id in snake case, e.g. ``"active_firewood_escorts"``.
    """
    return "active_" + re.sub(r"[^0-9a-zA-Z]+", "_", strategy_id).strip("_").lower()


def _periods(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.PeriodIndex:
    if freq not in PANEL_FREQUENCIES:
        raise ValueError(f"freq must be one of {sorted(PANEL_FREQUENCIES)}, not {freq!r}")
    return pd.period_range(start, end, freq=PANEL_FREQUENCIES[freq])


def _to_periods(values: pd.Series, code: str) -> pd.Series:
    """Periods from Period values or from timestamps of the period's first day."""
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.astype(pd.PeriodDtype(code))
    return pd.to_datetime(values).dt.to_period(code)


def _area_km2(areas: gpd.GeoDataFrame, projected_crs: object | None) -> np.ndarray:
    # Geodesic at any extent (protection_eval.projection owns it): the projected CRS is not
    # needed, and a world CRS would not keep areas.
    del projected_crs
    return area_km2(areas.geometry)


def _active_shares(
    deployments: pd.DataFrame, grid: pd.DataFrame, periods: pd.PeriodIndex, end: pd.Timestamp
) -> pd.DataFrame:
    """Share of each period's days a strategy was active, per area (NA area = mission-wide)."""
    starts = periods.start_time.to_numpy()
    stops = (periods.end_time.normalize() + pd.Timedelta(days=1)).to_numpy()
    days = (stops - starts) / np.timedelta64(1, "D")
    area_ids = grid["area_id"].drop_duplicates().tolist()
    out = {}
    for strategy_id, rows in deployments.groupby("strategy_id", sort=True):
        share = pd.DataFrame(0.0, index=area_ids, columns=range(len(periods)))
        for row in rows.itertuples(index=False):
            first = np.datetime64(pd.Timestamp(row.started_on))
            last = row.ended_on if pd.notna(row.ended_on) else end
            stop = np.datetime64(pd.Timestamp(last) + pd.Timedelta(days=1))
            overlap = np.clip(
                (np.minimum(stops, stop) - np.maximum(starts, first)) / np.timedelta64(1, "D"),
                0,
                None,
            )
            targets = area_ids if pd.isna(row.area_id) else [row.area_id]
            targets = [a for a in targets if a in share.index]
            share.loc[targets] += overlap / days
        long = share.clip(upper=1.0).stack().rename(active_column(str(strategy_id)))
        out[str(strategy_id)] = long
    if not out:
        return pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []]))
    return pd.concat(out.values(), axis=1)


def _add_counts(
    panel: pd.DataFrame, counts: pd.DataFrame, freq: str, notes: list[str]
) -> pd.DataFrame:
    """Add monthly counts by type to the panel, with upper bounds for interval cells."""
    cells = counts[counts["gbv_type"] != "total"]
    if freq != "month":
        if len(cells):
            notes.append(f"{len(cells)} monthly counts not used: a {freq}ly panel cannot place "
                         "a month's count in one of its periods")
        return panel
    cells = cells.assign(period=pd.to_datetime(cells["month"]).dt.to_period("M"),
                         area_id=cells["area_id"].astype(str),
                         low=cells["count_low"].astype("int64"),
                         high=cells["count_high"].astype("int64"))
    sums = cells.groupby(["area_id", "period", "gbv_type"])[["low", "high"]].sum()
    low = sums["low"].unstack(fill_value=0)
    high = sums["high"].unstack(fill_value=0)
    keys = pd.MultiIndex.from_frame(panel[["area_id", "period"]])
    outside = ~low.index.isin(keys)
    if outside.any():
        notes.append(f"{int(low[outside].to_numpy().sum())} counted incidents not in the "
                     "panel: their month is outside the panel's periods")
    panel = panel.copy()
    for gbv_type in low.columns:
        col = f"incidents_{gbv_type}"
        add_low = low[gbv_type].reindex(keys, fill_value=0).to_numpy()
        add_high = high[gbv_type].reindex(keys, fill_value=0).to_numpy()
        base = panel[col].to_numpy() if col in panel else np.zeros(len(panel), dtype="int64")
        panel[col] = (base + add_low).astype("int64")
        panel[f"upper_{col}"] = (base + add_high).astype("int64")
    type_cols = sorted(c for c in panel.columns if c.startswith("incidents_"))
    for col in type_cols:
        if f"upper_{col}" not in panel:
            panel[f"upper_{col}"] = panel[col]
    panel["incidents"] = panel[type_cols].sum(axis=1).astype("int64")
    panel["upper_incidents"] = panel[[f"upper_{c}" for c in type_cols]].sum(axis=1).astype(
        "int64")
    censored = int((cells["high"] > cells["low"]).sum())
    notes.append(
        f"{len(cells)} monthly counts from {cells['source'].nunique()} source(s) are in the "
        f"incident counts; {censored} of them are known only to an interval (a published "
        "\"<5\" is 1 to 4): incidents holds their lower bound, upper_incidents their upper "
        "bound, and the effect models take them as interval-censored"
    )
    return panel


def compute_panel(
    incidents: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    freq: str = "month",
    timezone: str = "UTC",
    deployments: pd.DataFrame | None = None,
    patrol_presence: pd.DataFrame | None = None,
    area_measures: pd.DataFrame | None = None,
    projected_crs: object | None = None,
    incident_counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Build the area x period panel.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents (``area_id``, ``occurred_at``, ``gbv_type``, ``location_precision``).
    areas : geopandas.GeoDataFrame
        Canonical areas; every area gets a row in every period.
    start, end : str or pandas.Timestamp
        First and last calendar day of the mission period.
    freq : {"month", "week"}
        Period length; partial periods at the edges are kept and counted by their days.
    timezone : str
        Mission time zone, for placing incidents in local calendar periods.
    deployments : pandas.DataFrame, optional
        Canonical deployments; an NA ``area_id`` means mission-wide.
    patrol_presence : pandas.DataFrame, optional
        ``area_id, period, patrol_hours, women_share`` as from
        :func:`protection_eval.coverage.mission.compute_mission_patrol_hours`.
    area_measures : pandas.DataFrame, optional
        The coverage helper's ``area_id, period, footprint_share, population_share,
        patrol_hours, women_share``; its patrol measures take precedence.
    projected_crs : object, optional
        Metric CRS for area sizes.
    incident_counts : pandas.DataFrame, optional
        Canonical monthly counts (``area_id, month, gbv_type, count_low, count_high``); total
        rows (margins) are not counted again. Only a monthly panel can hold them.

    Returns
    -------
    pandas.DataFrame
        One row per area and period: ``area_id, period`` (pandas Period), ``period_start``,
        ``period_index``, ``days``, ``incidents``, ``incidents_<gbv_type>``, ``population``,
        ``area_km2``, ``exposure`` (population, else km2: see ``attrs["exposure_unit"]``),
        ``patrol_hours``, ``women_share``, ``footprint_share``, ``population_share`` and one
        ``active_<strategy>`` share per strategy (``attrs["strategies"]`` maps ids to columns).
        With ``incident_counts``, also ``upper_incidents`` and ``upper_incidents_<type>``.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    periods = _periods(start, end, freq)
    notes: list[str] = []
    grid = _grid(areas, periods, start, end)
    counted, used = _place_incidents(incidents, start, end, timezone, freq, notes)
    panel = _add_incidents(grid, counted)
    if incident_counts is not None:
        panel = _add_counts(panel, incident_counts, freq, notes)
    reporting = _reporting_counts(incidents.loc[used], counted)
    if not reporting.empty:
        panel = panel.merge(reporting.reset_index(), on=["area_id", "period"], how="left")
        panel[list(reporting.columns)] = panel[list(reporting.columns)].fillna(0).astype("int64")
    panel, exposure_unit = _add_exposure(panel, areas, projected_crs, notes)
    panel = _add_patrol_measures(panel, area_measures, patrol_presence, freq, notes)
    panel, strategies = _add_strategies(panel, deployments, grid, periods, end)
    panel = panel.sort_values(["area_id", "period_index"], ignore_index=True)
    panel.attrs.update(
        {"freq": freq, "exposure_unit": exposure_unit, "strategies": strategies, "notes": notes,
         "reporting": list(reporting.columns)}
    )
    return panel


def _grid(
    areas: gpd.GeoDataFrame, periods: pd.PeriodIndex, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One row per area and period, with the period's first day and days inside the mission."""
    area_ids = areas["area_id"].astype(str).to_numpy()
    grid = pd.DataFrame(
        {
            "area_id": np.repeat(area_ids, len(periods)),
            "period": np.tile(periods, len(area_ids)),
            "period_index": np.tile(np.arange(len(periods)), len(area_ids)),
        }
    )
    grid["period_start"] = grid["period"].map(lambda p: max(p.start_time, start))
    period_end = grid["period"].map(lambda p: min(p.end_time.normalize(), end))
    grid["days"] = (period_end - grid["period_start"]).dt.days + 1
    return grid


def _place_incidents(
    incidents: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, timezone: str, freq: str,
    notes: list[str],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Place the countable incidents in their area and local period.

    Returns ``area_id, period, gbv_type`` of each counted incident and the mask of the
    incidents counted; ``notes`` receives how many were left out, and why.
    """
    local = to_local_naive(incidents["occurred_at"], timezone)
    coarse = incidents["location_precision"].isin(COARSE_PRECISIONS).to_numpy()
    no_area = incidents["area_id"].isna().to_numpy()
    outside = ((local < start) | (local >= end + pd.Timedelta(days=1))).to_numpy()
    period = to_local_period(incidents["occurred_at"], incidents.get("occurred_until"),
                             timezone, PANEL_FREQUENCIES[freq])
    spans = period.isna().to_numpy() & ~outside
    used = ~coarse & ~no_area & ~outside & ~spans
    for n, why in [
        (int(coarse.sum()), "located only to a province or the country"),
        (int((no_area & ~coarse).sum()), "outside every area"),
        (int((outside & ~coarse & ~no_area).sum()), "outside the mission period"),
        (int((spans & ~coarse & ~no_area).sum()),
         f"known only to a range of dates across more than one {freq}"),
    ]:
        if n:
            notes.append(f"{n} incidents not counted: {why}")
    counted = pd.DataFrame(
        {
            "area_id": incidents.loc[used, "area_id"].astype(str).to_numpy(),
            "period": period[used].to_numpy(),
            "gbv_type": incidents.loc[used, "gbv_type"].astype(str).to_numpy(),
        }
    )
    return counted, used


def _add_incidents(grid: pd.DataFrame, counted: pd.DataFrame) -> pd.DataFrame:
    """Add the counted incidents to the grid: ``incidents`` and ``incidents_<type>``."""
    by_type = counted.groupby(["area_id", "period", "gbv_type"]).size().unstack(fill_value=0)
    by_type.columns = [f"incidents_{c}" for c in by_type.columns]
    panel = grid.merge(by_type.reset_index(), on=["area_id", "period"], how="left")
    type_cols = list(by_type.columns)
    panel[type_cols] = panel[type_cols].fillna(0).astype("int64")
    panel["incidents"] = panel[type_cols].sum(axis=1).astype("int64")
    return panel


def _add_exposure(
    panel: pd.DataFrame, areas: gpd.GeoDataFrame, projected_crs: object | None, notes: list[str]
) -> tuple[pd.DataFrame, str]:
    """Add ``population``, ``area_km2`` and ``exposure``; return the panel and exposure's unit.

    Exposure is the population when every area has one, else the area in km2 (said in
    ``notes``).
    """
    sizes = pd.DataFrame(
        {
            "area_id": areas["area_id"].astype(str).to_numpy(),
            "population": pd.to_numeric(areas["population"]).astype("float64").to_numpy(),
            "area_km2": _area_km2(areas, projected_crs),
        }
    )
    panel = panel.merge(sizes, on="area_id", how="left")
    if sizes["population"].notna().all() and (sizes["population"] > 0).all():
        panel["exposure"] = panel["population"]
        return panel, "population"
    panel["exposure"] = panel["area_km2"]
    notes.append("exposure is area in km2: not every area has a population")
    return panel, "km2"


#: The patrol measures of a panel, float columns (NaN when not measured).
_PATROL_MEASURES = ["footprint_share", "population_share", "patrol_hours", "women_share"]


def _add_patrol_measures(
    panel: pd.DataFrame, area_measures: pd.DataFrame | None,
    patrol_presence: pd.DataFrame | None, freq: str, notes: list[str],
) -> pd.DataFrame:
    """Add the patrol measures, from the coverage area measures or else the patrol presence."""
    measures = None
    if area_measures is not None:
        measures = area_measures.copy()
    elif patrol_presence is not None:
        measures = patrol_presence.copy()
        notes.append("footprint not measured: no coverage area measures were given")
    if measures is not None:
        measures["period"] = _to_periods(measures["period"], PANEL_FREQUENCIES[freq])
        measures["area_id"] = measures["area_id"].astype(str)
        cols = [c for c in _PATROL_MEASURES if c in measures.columns]
        panel = panel.merge(measures[["area_id", "period", *cols]], on=["area_id", "period"],
                            how="left", indicator="_measured")
        if "patrol_hours" in panel and panel["patrol_hours"].notna().any():
            # An area-period the measures do not hold had no patrol: 0 hours. One they hold as
            # NA (a month without presence data) stays unknown, never 0 (issue 26).
            absent = panel["_measured"].eq("left_only")
            panel.loc[absent, "patrol_hours"] = panel.loc[absent, "patrol_hours"].fillna(0.0)
        panel = panel.drop(columns="_measured")
    for col in _PATROL_MEASURES:
        if col not in panel:
            panel[col] = np.nan
        panel[col] = pd.to_numeric(panel[col]).astype("float64")
    return panel


def _add_strategies(
    panel: pd.DataFrame, deployments: pd.DataFrame | None, grid: pd.DataFrame,
    periods: pd.PeriodIndex, end: pd.Timestamp,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Add one ``active_<strategy>`` share per deployed strategy; return the id-to-column map."""
    strategies: dict[str, str] = {}
    if deployments is None or not len(deployments):
        return panel, strategies
    shares = _active_shares(deployments, grid, periods, end)
    shares.index = shares.index.set_names(["area_id", "period_index"])
    panel = panel.merge(shares.reset_index(), on=["area_id", "period_index"], how="left")
    for strategy_id in sorted(deployments["strategy_id"].astype(str).unique()):
        col = active_column(strategy_id)
        panel[col] = panel[col].fillna(0.0)
        strategies[strategy_id] = col
    return panel, strategies


#: Longest delay between an incident and its report that counts as prompt (days).
PROMPT_DAYS = 7


def _reporting_counts(used: pd.DataFrame, counted: pd.DataFrame) -> pd.DataFrame:
    """Count the optional reporting columns of the counted incidents per area and period.

    ``reports_lag_known``: incidents with a report date and a known time or day;
    ``reports_within_7d``: those reported within :data:`PROMPT_DAYS` days; ``reports_mission``
    / ``reports_partner``: by the source's channel; ``incidents_at_<location type>``. Only the
    columns the data can fill are made (an empty frame when the source has none of them).
    """
    keys = counted[["area_id", "period"]]
    columns: dict[str, np.ndarray] = {}
    if "reported_at" in used and used["reported_at"].notna().any():
        # A range of dates has no one day to count the delay from.
        known = (used["reported_at"].notna()
                 & used["time_precision"].isin(["time", "day"])).to_numpy()
        lag = (used["reported_at"] - used["occurred_at"]).dt.total_seconds().to_numpy() / 86_400
        columns["reports_lag_known"] = known
        columns["reports_within_7d"] = known & (lag <= PROMPT_DAYS)
    if "channel" in used and used["channel"].notna().any():
        for channel in ("mission", "partner"):
            columns[f"reports_{channel}"] = (used["channel"] == channel).to_numpy()
    if "location_type" in used and used["location_type"].notna().any():
        for kind in sorted(used["location_type"].dropna().unique()):
            columns[f"incidents_at_{kind}"] = (used["location_type"] == kind).to_numpy()
    if not columns:
        return pd.DataFrame()
    flags = pd.DataFrame({k: v.astype("int64") for k, v in columns.items()}, index=keys.index)
    return flags.groupby([keys["area_id"], keys["period"]]).sum()


def compute_mission_panel(
    data: object,
    *,
    freq: str = "month",
    area_measures: pd.DataFrame | None = None,
    use_coverage: bool = True,
) -> pd.DataFrame:
    """Build the panel of a loaded mission.

    Patrol-hours and women's share follow the one definition of
    :func:`protection_eval.coverage.areas.compute_patrol_hours` whichever way they are obtained.

    Parameters
    ----------
    data : protection_eval.ingest.tables.MissionData
        A loaded mission (:func:`protection_eval.runs.missions.load_mission`).
    freq : {"month", "week"}
        Period length.
    area_measures : pandas.DataFrame, optional
        Coverage area measures (``CoverageResult.areas``) already computed in this run; a
        monthly panel uses them as they are, so coverage is computed once per run.
    use_coverage : bool
        When no measures are given and periods are months, compute the full coverage measures
        (footprint, population reached) with
        :func:`protection_eval.coverage.mission.compute_mission_coverage`. Otherwise only
        patrol-hours and women's share are computed
        (:func:`protection_eval.coverage.mission.compute_mission_patrol_hours`), and the
        footprint is left empty.

    Returns
    -------
    pandas.DataFrame
        See :func:`compute_panel`; ``attrs["contiguity"]`` also maps each area id to the ids of
        the areas it touches (:func:`protection_eval.effects.displacement.compute_contiguity`).
    """
    from protection_eval.coverage.mission import (
        compute_mission_coverage,
        compute_mission_patrol_hours,
    )
    from protection_eval.effects.displacement import compute_contiguity

    config = data.config
    presence = None
    if freq != "month":
        area_measures = None  # the coverage measures are monthly
    if area_measures is None and use_coverage and freq == "month":
        area_measures = compute_mission_coverage(data).areas
    if area_measures is None:
        periods = _periods(pd.Timestamp(config.period.start), pd.Timestamp(config.period.end),
                           freq)
        presence = compute_mission_patrol_hours(data, periods)
    panel = compute_panel(
        data.incidents,
        data.areas,
        start=config.period.start,
        end=config.period.end,
        freq=freq,
        timezone=config.timezone,
        deployments=getattr(data, "deployments", None),
        patrol_presence=presence,
        area_measures=area_measures,
        projected_crs=getattr(data, "projected_crs", None),
        incident_counts=getattr(data, "incident_counts", None),
    )
    if getattr(data, "coverage_source", None) == "none":
        # No presence data is not "no presence": the patrol measures are unknown, not zero.
        panel[["patrol_hours", "women_share", "footprint_share", "population_share"]] = np.nan
        panel.attrs["notes"].append(
            "coverage could not be computed: the mission has no GPS tracks, patrol routes or "
            "bases, so patrol-hours, footprint and women's share are unknown"
        )
    if presence is not None and presence.attrs.get("unplaced_patrols"):
        panel.attrs["notes"].append(
            f"{presence.attrs['unplaced_patrols']} patrols without track or route are not in "
            "patrol-hours"
        )
    panel.attrs["mission"] = config.mission
    # Which areas touch: the rings of the spill-over design (effects.displacement).
    panel.attrs["contiguity"] = compute_contiguity(
        data.areas, projected_crs=getattr(data, "projected_crs", None))
    return panel


def make_synthetic_panel(
    n_areas: int = 40,
    n_periods: int = 24,
    *,
    irr: float = 0.7,
    share_treated: float = 0.4,
    rollout: str = "staggered",
    first_start: int = 6,
    last_start: int = 18,
    growth: float = 0.0,
    base_rate: float = 4.0,
    dispersion: float = 0.0,
    dose_irr: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Make a synthetic panel with a planted strategy effect, for tests and simulations.

    Parameters
    ----------
    n_areas, n_periods : int
        Panel size (monthly periods from January 2022).
    irr : float
        Incidence-rate ratio of strategy ``"test-strategy"`` where and when active.
    share_treated : float
        Share of areas that get it (``rollout="mission_wide"`` gives it to all).
    rollout : {"staggered", "simultaneous", "mission_wide"}
        Start periods drawn in ``[first_start, last_start]``, all at ``first_start``, or every
        area at ``first_start``.
    first_start, last_start : int
        Range of start periods.
    growth : float
        Added to the log-IRR per period since start (effects that grow when negative).
    base_rate : float
        Mean incidents per area-period before area and period effects.
    dispersion : float
        NB2 ``alpha`` of a gamma frailty per area-period (0 = Poisson).
    dose_irr : float
        IRR of next-period incidents per doubling of patrol-hours.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Columns and attrs as :func:`compute_panel`, strategy column ``active_test_strategy``.
    """
    rng = np.random.default_rng(seed)
    area_ids = [f"S{i:04d}" for i in range(n_areas)]
    area_level = rng.lognormal(0.0, 0.5, n_areas)
    t = np.arange(n_periods)
    period_level = np.exp(0.2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.05, n_periods))
    starts = np.full(n_areas, np.nan)
    if rollout == "mission_wide":
        starts[:] = first_start
    else:
        chosen = rng.choice(n_areas, int(round(share_treated * n_areas)), replace=False)
        if rollout == "staggered":
            starts[chosen] = rng.integers(first_start, last_start + 1, len(chosen))
        else:
            starts[chosen] = first_start
    since = t[None, :] - starts[:, None]
    active = np.where(since >= 0, 1.0, 0.0)
    log_effect = np.where(since >= 0, np.log(irr) + growth * np.nan_to_num(since), 0.0)
    hours = rng.lognormal(3.0, 0.8, (n_areas, n_periods))
    dose = np.zeros_like(hours)
    dose[:, 1:] = np.log2(1 + hours[:, :-1]) - np.log2(1 + hours).mean()
    mu = base_rate * area_level[:, None] * period_level[None, :] * np.exp(log_effect)
    mu = mu * dose_irr ** dose
    if dispersion > 0:
        mu = mu * rng.gamma(1 / dispersion, dispersion, mu.shape)
    counts = rng.poisson(mu)
    periods = pd.period_range("2022-01", periods=n_periods, freq="M")
    panel = pd.DataFrame(
        {
            "area_id": np.repeat(area_ids, n_periods),
            "period": np.tile(periods, n_areas),
            "period_index": np.tile(t, n_areas),
            "incidents": counts.ravel(),
            "exposure": 1.0,
            "patrol_hours": hours.ravel(),
            "women_share": rng.uniform(0.0, 0.35, n_areas * n_periods),
            "footprint_share": np.nan,
            "active_test_strategy": active.ravel(),
        }
    )
    panel.attrs.update(
        {"freq": "month", "exposure_unit": "population", "notes": [], "mission": "SIM",
         "strategies": {"test-strategy": "active_test_strategy"}}
    )
    return panel
