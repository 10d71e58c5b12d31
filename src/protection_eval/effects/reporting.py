"""Less violence, or less reporting? Reporting diagnostics of each strategy.

A strategy that lowers reported incidents may have lowered violence, or only reporting. The
optional incident columns (``reported_at``, ``location_type``, the source's ``channel``) give
three checks, each fitted like the headline: the stacked not-yet-treated design around roll-out
on the same area x period panel (:mod:`protection_eval.effects.event_study`), with its event
study's pre-trend test as a caveat.

- **Reporting delay** (estimand ``reporting_within_7d``): the ratio of the share of reports made
  within 7 days of the incident, after versus before roll-out, against not-yet-treated areas
  (Poisson on the prompt reports with the reports whose delay is known as the offset). Below 1:
  slower reporting, which would make a drop in recent reports look larger than it is. The median
  delay before and after, in treated and comparison areas, is tabulated beside it
  (:func:`compute_median_lags`, descriptive).
- **Source mix** (``source_mission_share``): the ratio of the share of reports that came through
  the mission's own channels (``sources.incidents.channels`` classes each source as ``mission``
  or ``partner``). A strategy that brings patrols to people can move reports from partners to the
  mission without changing how many incidents happen.
- **Mechanism and placebo** (``target_locations``, ``placebo_home``): incidents at the location
  types the strategy acts on (declared in the inventory as ``target_location_types``: firewood
  and water-point escorts act on fields, bush and water points; market-day patrols on markets),
  and incidents at home, which the strategy does not reach. A drop at the targets and none at
  home is what an effect on violence would look like; a drop everywhere points to reporting or
  to something else that changed.

Every row is about reports, never occurrences (DOMAIN.md), and is suppressed in the shared table
like any estimate built on fewer than k incidents
(:func:`protection_eval.sharing.forms.to_effects_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import EffectEstimate, NotEstimable
from protection_eval.effects.design import compute_first_periods
from protection_eval.effects.event_study import estimate_event_study, estimate_stacked_effect
from protection_eval.effects.panel import PROMPT_DAYS
from protection_eval.model import to_local_period

__all__ = [
    "DIAGNOSTIC_CAVEATS",
    "DIAGNOSTIC_ESTIMANDS",
    "PLACEBO_LOCATION_TYPES",
    "ReportingDiagnostics",
    "compute_median_lags",
    "compute_mission_median_lags",
    "estimate_reporting_diagnostics",
]

#: Estimands of the diagnostic rows of ``effects.csv``.
DIAGNOSTIC_ESTIMANDS: tuple[str, ...] = (
    "reporting_within_7d", "source_mission_share", "target_locations", "placebo_home",
)
#: The placebo outcome: where no protection strategy of the inventory acts.
PLACEBO_LOCATION_TYPES: tuple[str, ...] = ("home",)

DIAGNOSTIC_CAVEATS: dict[str, str] = {
    "reporting_within_7d": (
        f"Diagnostic: ratio of the share of reports made within {PROMPT_DAYS} days of the "
        "incident, after versus before roll-out (1 = no change in reporting speed); only "
        "incidents with a report date and a known day."
    ),
    "source_mission_share": (
        "Diagnostic: ratio of the share of reports through the mission's own channels (sources "
        "classed in sources.incidents.channels), after versus before roll-out (1 = same mix)."
    ),
    "target_locations": (
        "Diagnostic: reported incidents at the places the strategy acts on ({types}); compare "
        "with the placebo row (incidents at home)."
    ),
    "placebo_home": (
        "Diagnostic (placebo): reported incidents at home, which the strategy does not reach; "
        "a drop here as large as at its targets points to reporting, not violence."
    ),
}


@dataclass
class ReportingDiagnostics:
    """The reporting diagnostics of one strategy.

    Attributes
    ----------
    strategy_id : str
        Strategy.
    estimates : dict of str to EffectEstimate
        By estimand (:data:`DIAGNOSTIC_ESTIMANDS`); absent when the data lack the column.
    target_location_types : tuple of str
        The location types the strategy acts on (from the inventory).
    notes : list of str
        What could not be estimated and why.
    """

    strategy_id: str
    estimates: dict[str, EffectEstimate] = field(default_factory=dict)
    target_location_types: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return the diagnostic rows shaped like ``effects.csv`` (not suppressed)."""
        if not self.estimates:
            return pd.DataFrame()
        return pd.concat([e.to_frame() for e in self.estimates.values()], ignore_index=True)


def _diagnostic(
    panel: pd.DataFrame, strategy_id: str, active: str, estimand: str, outcome: str,
    offset: str | None, caveat: str, pre: int, post: int, result: ReportingDiagnostics,
    columns: dict[str, str],
) -> None:
    try:
        est = estimate_stacked_effect(panel, strategy_id, active, outcome=outcome, pre=pre,
                                      post=post, headline=False, offset=offset,
                                      estimand=estimand, **columns)
        study = estimate_event_study(panel, strategy_id, active, outcome=outcome, pre=pre,
                                     post=post, offset=offset, **columns)
    except NotEstimable as exc:
        result.notes.append(f"{strategy_id} ({estimand}): not estimated: {exc}")
        return
    if est is None:
        result.notes.append(f"{strategy_id} ({estimand}): no cohort has a not-yet-treated "
                            "comparison")
        return
    est.unit = "strategy active (whole period)"
    est.caveats.insert(1, caveat)
    if study is not None:
        est.caveats += study.caveats()
        est.breakdown_m = study.breakdown_m
    result.estimates[estimand] = est


def estimate_reporting_diagnostics(
    panel: pd.DataFrame,
    strategy_id: str,
    active: str,
    *,
    target_location_types: Sequence[str] = (),
    pre: int = 6,
    post: int = 6,
    area_col: str = "area_id",
    period_col: str = "period_index",
) -> ReportingDiagnostics:
    """Estimate a strategy's reporting diagnostics on the panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel with the reporting counts
        (:func:`protection_eval.effects.panel.compute_panel` makes them when the incidents
        carry ``reported_at``, ``channel`` or ``location_type``).
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column.
    target_location_types : sequence of str
        Location types the strategy acts on (the inventory's ``target_location_types``);
        none: no mechanism or placebo rows.
    pre, post : int
        Event window, as for the headline.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    ReportingDiagnostics
        The diagnostics the data allow; ``notes`` says which could not be estimated and why.
    """
    result = ReportingDiagnostics(strategy_id, target_location_types=tuple(target_location_types))
    window = {"area_col": area_col, "period_col": period_col}
    frame = panel.copy()
    columns = set(panel.attrs.get("reporting", []))
    with np.errstate(divide="ignore"):
        if {"reports_within_7d", "reports_lag_known"} <= columns:
            frame["_log_lag_known"] = np.log(frame["reports_lag_known"].astype(float))
            _diagnostic(frame, strategy_id, active, "reporting_within_7d", "reports_within_7d",
                        "_log_lag_known", DIAGNOSTIC_CAVEATS["reporting_within_7d"], pre, post,
                        result, window)
        else:
            result.notes.append(f"{strategy_id}: no report dates, reporting delay not estimated")
        if {"reports_mission", "reports_partner"} <= columns:
            classed = frame["reports_mission"] + frame["reports_partner"]
            frame["_log_classed"] = np.log(classed.astype(float))
            _diagnostic(frame, strategy_id, active, "source_mission_share", "reports_mission",
                        "_log_classed", DIAGNOSTIC_CAVEATS["source_mission_share"], pre, post,
                        result, window)
        else:
            result.notes.append(f"{strategy_id}: sources not classed as mission or partner "
                                "channels, source mix not estimated")
    located = [c for c in columns if c.startswith("incidents_at_")]
    if not located:
        result.notes.append(f"{strategy_id}: no location types, mechanism and placebo not "
                            "estimated")
        return result
    if not target_location_types:
        result.notes.append(f"{strategy_id}: the inventory declares no target location types, "
                            "mechanism and placebo not estimated")
        return result
    targets = [f"incidents_at_{t}" for t in target_location_types if f"incidents_at_{t}" in frame]
    frame["_at_targets"] = frame[targets].sum(axis=1) if targets else 0
    _diagnostic(frame, strategy_id, active, "target_locations", "_at_targets", None,
                DIAGNOSTIC_CAVEATS["target_locations"].format(
                    types=", ".join(t.replace("_", " ") for t in target_location_types)),
                pre, post, result, window)
    placebo = [f"incidents_at_{t}" for t in PLACEBO_LOCATION_TYPES
               if f"incidents_at_{t}" in frame and t not in target_location_types]
    frame["_at_home"] = frame[placebo].sum(axis=1) if placebo else 0
    _diagnostic(frame, strategy_id, active, "placebo_home", "_at_home", None,
                DIAGNOSTIC_CAVEATS["placebo_home"], pre, post, result, window)
    return result


def compute_median_lags(
    incidents: pd.DataFrame, panel: pd.DataFrame, active: str, *, timezone: str,
    pre: int = 6, post: int = 6,
) -> pd.DataFrame:
    """Median reporting delay before and after roll-out, in treated and comparison areas.

    Descriptive, beside the ``reporting_within_7d`` ratio: for each treated area the ``pre``
    periods before its first active period and the ``post + 1`` from it; comparison areas
    (never treated) over the same calendar periods. Incidents counted as the panel counts them
    (a range of dates, a province-level place: left out).

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents with ``reported_at``.
    panel : pandas.DataFrame
        The panel the diagnostics were fitted on.
    active : str
        Active-share column of the strategy.
    timezone : str
        Mission time zone.
    pre, post : int
        Event window.

    Returns
    -------
    pandas.DataFrame
        ``group`` (``treated`` / ``comparison``), ``window`` (``before`` / ``after``),
        ``n_reports`` and ``median_lag_days`` (restricted: counts may be small).
    """
    code = {"month": "M", "week": "W-SUN"}[panel.attrs.get("freq", "month")]
    inc = incidents.loc[incidents["reported_at"].notna()
                        & incidents["time_precision"].isin(["time", "day"])
                        & incidents["area_id"].notna()]
    period = to_local_period(inc["occurred_at"], inc.get("occurred_until"), timezone, code)
    index = panel.drop_duplicates("period").set_index("period")["period_index"]
    frame = pd.DataFrame({
        "area_id": inc["area_id"].astype(str).to_numpy(),
        "period_index": period.map(index).to_numpy(),
        "lag_days": ((inc["reported_at"] - inc["occurred_at"]).dt.total_seconds() / 86_400)
        .to_numpy(),
    }).dropna(subset=["period_index"])
    first = compute_first_periods(panel, active)
    starts = first.dropna()
    rows = []
    for group, areas in (("treated", starts.index), ("comparison", first.index[first.isna()])):
        sub = frame[frame["area_id"].isin(areas)]
        if group == "treated":
            # Looked up as numbers: mapping text ids through no treated area at all gives
            # text back (pandas' string dtype), and a period minus text fails.
            first_index = starts.reindex(sub["area_id"].to_numpy()).to_numpy(dtype=float)
            event = sub["period_index"] - first_index
            before, after = event.between(-pre, -1), event.between(0, post)
        else:
            # The calendar periods the treated areas' windows cover.
            lo, hi = (starts.min() - pre, starts.max() + post) if len(starts) else (0, -1)
            mid = starts.median() if len(starts) else 0
            before = sub["period_index"].between(lo, mid - 1)
            after = sub["period_index"].between(mid, hi)
        for window, mask in (("before", before), ("after", after)):
            lags = sub.loc[mask, "lag_days"]
            rows.append({"group": group, "window": window, "n_reports": int(len(lags)),
                         "median_lag_days": float(lags.median()) if len(lags) else np.nan})
    return pd.DataFrame(rows)


def compute_mission_median_lags(
    incidents: pd.DataFrame, panel: pd.DataFrame, *, timezone: str, pre: int = 6, post: int = 6,
) -> pd.DataFrame:
    """:func:`compute_median_lags` for every strategy of the panel, one table.

    Returns
    -------
    pandas.DataFrame
        ``strategy_id`` then the columns of :func:`compute_median_lags`; empty when the
        incidents have no report dates.
    """
    columns = ["strategy_id", "group", "window", "n_reports", "median_lag_days"]
    if "reported_at" not in incidents or incidents["reported_at"].isna().all():
        return pd.DataFrame(columns=columns)
    tables = [
        compute_median_lags(incidents, panel, active, timezone=timezone, pre=pre, post=post)
        .assign(strategy_id=strategy_id)
        for strategy_id, active in panel.attrs.get("strategies", {}).items()
    ]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(
        columns=columns)
