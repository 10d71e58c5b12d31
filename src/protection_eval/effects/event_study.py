"""Staggered roll-out: a stacked design and an event study around each area's start.

Plain two-way fixed effects compare areas that started a strategy early with areas that started
it earlier still, and when effects grow over time those "forbidden comparisons" can bias the
estimate, even flip its sign (Goodman-Bacon 2021). The stacked design (Cengiz et al. 2019) avoids
them: for each cohort of areas that started in the same period it builds a sub-panel, a window of
``pre`` periods before and ``post`` after the start, holding that cohort and the areas not yet
treated by the end of the window (never-treated areas included). Sub-panels are stacked and fitted
with area-by-stack and period-by-stack fixed effects, errors clustered by area (an area can be a
control in several stacks). The event study fits leads and lags on the same stacked data, so its
pre-period coefficients test the comparison the headline number relies on.

When the joint pre-trend test fails, :meth:`EventStudyResult.compute_breakdown` says how large a
violation of parallel trends would explain the estimate away: the relative-magnitudes breakdown
value of Rambachan and Roth (2023), computed with a conservative Bonferroni bound (the
construction and its limits are in ``docs/validity.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from protection_eval.effects.count_models import (
    CountModelResult,
    EffectEstimate,
    compute_wald_test,
    fit_count_model,
)
from protection_eval.effects.covariance import (
    compute_conf_int,
    compute_contrast_df,
    compute_p_value,
)
from protection_eval.effects.design import (
    compute_first_periods,
    few_treated_caveats,
    upper_column,
)
from protection_eval.effects.vocabulary import CAVEATS, describe_breakdown
from protection_eval.effects.wild_bootstrap import add_bootstrap

__all__ = [
    "BREAKDOWN_LEVEL",
    "Breakdown",
    "EventStudyResult",
    "estimate_event_study",
    "estimate_stacked_effect",
    "make_stacked_panel",
    "to_breakdown_table",
    "plot_event_studies",
    "plot_event_study",
]

#: Significance level of the joint pre-trend test.
PRE_TREND_LEVEL = 0.05
#: Error rate of the robust interval behind the breakdown value, split equally between the
#: post-period average and the bound on the largest pre-period change (Bonferroni).
BREAKDOWN_LEVEL = 0.05


def make_stacked_panel(
    panel: pd.DataFrame, active: str, *, pre: int = 6, post: int = 6,
    area_col: str = "area_id", period_col: str = "period_index",
) -> pd.DataFrame:
    """Stack one clean sub-panel per roll-out cohort.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    active : str
        Active-share column of the strategy.
    pre, post : int
        Periods kept before and after a cohort's start (the start period is event time 0).
    area_col, period_col : str
        Area and (ordered, integer) period columns.

    Returns
    -------
    pandas.DataFrame
        Panel rows repeated per stack, with ``stack`` (the cohort's start period),
        ``treated`` (bool), ``event_time`` (period minus start, for every row of the stack),
        ``stack_area`` and ``stack_period`` (fixed-effect keys) and ``dose`` (the active share for
        treated areas, 0 for controls). Empty when no cohort has a clean control.
    """
    first = compute_first_periods(panel, active, area_col=area_col, period_col=period_col)
    last_period = int(panel[period_col].max())
    stacks = []
    for start in sorted(first.dropna().unique()):
        start = int(start)
        lo, hi = max(start - pre, 0), min(start + post, last_period)
        if start - lo < 1:
            continue  # no pre-period to compare with
        treated = first.index[first == start]
        controls = first.index[first.isna() | (first > hi)]
        if len(controls) == 0:
            continue
        rows = panel[
            panel[area_col].isin(treated.union(controls))
            & panel[period_col].between(lo, hi)
        ].copy()
        rows["stack"] = start
        rows["treated"] = rows[area_col].isin(treated)
        rows["event_time"] = rows[period_col] - start
        stacks.append(rows)
    if not stacks:
        return pd.DataFrame()
    stacked = pd.concat(stacks, ignore_index=True)
    stacked["stack_area"] = stacked["stack"].astype(str) + ":" + stacked[area_col].astype(str)
    stacked["stack_period"] = stacked["stack"].astype(str) + ":" + stacked[period_col].astype(
        str
    )
    stacked["dose"] = np.where(stacked["treated"], stacked[active], 0.0)
    return stacked


def _finite_offset(stacked: pd.DataFrame, offset: str | None) -> pd.DataFrame:
    """Leave out rows whose offset is not finite (a share of nothing is not a share)."""
    if offset is None:
        return stacked
    return stacked.loc[np.isfinite(stacked[offset].to_numpy(dtype=float))].reset_index(drop=True)


def _stacked_df(stacked: pd.DataFrame, area_col: str) -> float:
    treated = stacked.loc[stacked["treated"], area_col].nunique()
    controls = stacked.loc[~stacked["treated"], area_col].nunique()
    return compute_contrast_df(treated, controls)


def estimate_stacked_effect(
    panel: pd.DataFrame,
    strategy_id: str,
    active: str,
    *,
    outcome: str = "incidents",
    pre: int = 6,
    post: int = 6,
    headline: bool = True,
    offset: str | None = None,
    estimand: str = "deployment",
    area_col: str = "area_id",
    period_col: str = "period_index",
) -> EffectEstimate | None:
    """Estimate a strategy's effect with the stacked, not-yet-treated design.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    strategy_id : str
        Strategy id, for the result.
    active : str
        Its active-share column.
    outcome : str
        Count column.
    pre, post : int
        Window around each cohort's start.
    headline : bool
        Mark the estimate as the strategy's headline number.
    offset : str, optional
        Column of the log of a denominator (e.g. the reports whose delay is known): the ratio
        is then of the outcome's share of it. Rows where it is not finite are left out.
    estimand : str
        Name of the estimand in the result.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    EffectEstimate or None
        IRR of the strategy being active (estimand ``deployment``), averaged over the first
        ``post + 1`` periods; None when no cohort has a clean comparison.
    """
    columns = {"area_col": area_col, "period_col": period_col}
    stacked = make_stacked_panel(panel, active, pre=pre, post=post, **columns)
    if stacked.empty:
        return None
    stacked = _finite_offset(stacked, offset)
    fit = fit_count_model(
        stacked, outcome, ["dose"], fixed_effects=("stack_area", "stack_period"),
        cluster=area_col, offset=offset, upper=upper_column(stacked, outcome),
    )
    est = EffectEstimate.from_fit(
        fit, "dose", strategy_id=strategy_id, estimand=estimand, model="poisson_fe",
        design="stacked_not_yet_treated", unit="strategy active (whole period)",
        headline=headline, df=_stacked_df(stacked, area_col), **columns,
    )
    est.caveats += few_treated_caveats(panel, active, **columns)
    if headline:
        add_bootstrap(est, int(stacked.loc[stacked["treated"], area_col].nunique()))
    return est


@dataclass(frozen=True)
class Breakdown:
    """Relative-magnitudes sensitivity of the average post-roll-out effect.

    Attributes
    ----------
    m : float
        Breakdown value: the largest ``Mbar`` at which the robust interval of the average
        post-period log ratio still excludes 0 (IRR 1), rounded down to 2 decimals; 0 when it
        includes 0 even with parallel trends after roll-out.
    theta, se_theta : float
        Average of the event-time log ratios 0..post and its standard error.
    crit_theta : float
        t quantile of the sampling part of the robust interval (level ``1 - BREAKDOWN_LEVEL/2``).
    max_pre, max_pre_upper : float
        Largest absolute change between consecutive pre-period coefficients (the reference
        period -1 counts as 0) and its Bonferroni upper confidence bound.
    weight : float
        Mean over the post periods of ``t + 1``: a bias of at most ``Mbar * max_pre`` per period
        adds up to ``(t + 1) * Mbar * max_pre`` by event time ``t``.
    """

    m: float
    theta: float
    se_theta: float
    crit_theta: float
    max_pre: float
    max_pre_upper: float
    weight: float

    def robust_interval(self, mbar: float) -> tuple[float, float]:
        """Return the robust interval of the average post-period log ratio at ``mbar``.

        Parameters
        ----------
        mbar : float
            Relative magnitude allowed: post-period trend changes up to ``mbar`` times the
            largest pre-period one.

        Returns
        -------
        tuple of float
            Lower and upper end on the log scale; covers the true average effect with
            probability at least ``1 - BREAKDOWN_LEVEL`` when the restriction holds.
        """
        half = self.crit_theta * self.se_theta + mbar * self.max_pre_upper * self.weight
        return self.theta - half, self.theta + half


@dataclass
class EventStudyResult:
    """Leads and lags around roll-out, fitted on the stacked panel.

    Attributes
    ----------
    strategy_id : str
        Strategy.
    coefficients : pandas.DataFrame
        ``event_time, irr, ci_low, ci_high, p_value``; event time -1 is the reference (IRR 1).
    pre_trend_chi2, pre_trend_df, pre_trend_p : float, int, float
        Joint Wald test that every lead is zero (chi-square, number of leads, p-value with
        Hotelling's correction; NaN when there are too few areas to test).
    fit : CountModelResult
        The fitted model.
    df : float or None
        Degrees of freedom of every interval: the smaller side of the contrast minus one.
    area_col, period_col : str
        Area and period columns of the panel.
    """

    strategy_id: str
    coefficients: pd.DataFrame
    pre_trend_chi2: float
    pre_trend_df: int
    pre_trend_p: float
    fit: CountModelResult
    df: float | None = None
    area_col: str = "area_id"
    period_col: str = "period_index"

    @property
    def pre_trend_testable(self) -> bool:
        """Whether the pre-trend test could be computed."""
        return bool(np.isfinite(self.pre_trend_p))

    @property
    def pre_trend_failed(self) -> bool:
        """Whether the leads are jointly significant at :data:`PRE_TREND_LEVEL`."""
        return bool(self.pre_trend_p < PRE_TREND_LEVEL)

    def caveats(self) -> list[str]:
        """Return the pre-trend caveat that applies, if any, with the breakdown reading."""
        if not self.pre_trend_testable:
            return [CAVEATS["pre_trend_untestable"]]
        if self.pre_trend_failed:
            reading = describe_breakdown(self.breakdown_m)
            failed = CAVEATS["pre_trend"].format(p=self.pre_trend_p)
            return [failed, reading] if reading else [failed]
        return []

    @property
    def breakdown_m(self) -> float:
        """Breakdown value shown next to the estimate: only when the pre-trend test failed."""
        if not (self.pre_trend_testable and self.pre_trend_failed):
            return float("nan")
        found = self.breakdown
        return found.m if found is not None else float("nan")

    @cached_property
    def breakdown(self) -> Breakdown | None:
        """The relative-magnitudes breakdown (:meth:`compute_breakdown` at the default level)."""
        return self.compute_breakdown()

    def compute_breakdown(self, level: float = BREAKDOWN_LEVEL) -> Breakdown | None:
        """Largest relative violation of parallel trends the average effect survives.

        Rambachan and Roth's (2023) relative-magnitudes restriction ``Delta^RM(Mbar)``: after
        roll-out, the bias ``delta_t`` may change from one period to the next by at most
        ``Mbar`` times the largest such change among the pre-period coefficients, ``|delta_{t+1}
        - delta_t| <= Mbar * max_s |delta_{s+1} - delta_s|`` with ``delta_{-1} = 0``. So
        ``|delta_t| <= (t + 1) * Mbar * max_pre`` and the average post-period effect lies in
        ``theta +/- Mbar * max_pre * mean(t + 1)``.

        The robust interval adds sampling error at ``level / 2`` (t on the event study's degrees
        of freedom) and replaces ``max_pre`` by a Bonferroni upper bound at ``level / 2``
        (each pre-period change plus its own t quantile at ``level / (2 J)``), so it covers
        with probability at least ``1 - level`` whenever the restriction holds. The breakdown
        value solves for the ``Mbar`` at which that interval reaches 0. This is valid but more
        conservative than Rambachan and Roth's conditional / hybrid confidence sets.

        Parameters
        ----------
        level : float
            Total error rate of the robust interval.

        Returns
        -------
        Breakdown or None
            None when there is no post-period coefficient or no pre-period change to compare.
        """
        cov = self.fit.cov_params()
        names = [n for n in cov.index if n.startswith("event_")]
        times = {n: int(n.split("_")[1]) for n in names}
        post = [n for n in names if times[n] >= 0]
        leads = sorted((times[n], n) for n in names if times[n] < -1)
        pre = [*leads, (-1, None)]
        pairs = [(a, b) for a, b in zip(pre, pre[1:], strict=False) if b[0] - a[0] == 1]
        if not post or not pairs:
            return None
        beta = pd.Series(self.fit.to_frame().set_index("term")["coef"]).reindex(names)
        df = self.df if self.df is not None and np.isfinite(self.df) else np.inf
        a = pd.Series(1 / len(post), index=post).reindex(names, fill_value=0.0)
        theta = float(a @ beta)
        se_theta = float(np.sqrt(a @ cov.loc[names, names] @ a))
        changes, uppers = [], []
        crit_pre = float(stats.t.ppf(1 - level / (4 * len(pairs)), df))
        for (_, low), (_, high) in pairs:
            c = pd.Series(0.0, index=names)
            c[low] -= 1.0
            if high is not None:
                c[high] += 1.0
            change = abs(float(c @ beta))
            changes.append(change)
            uppers.append(change + crit_pre * float(np.sqrt(c @ cov.loc[names, names] @ c)))
        weight = float(np.mean([times[n] + 1 for n in post]))
        crit_theta = float(stats.t.ppf(1 - level / 4, df))
        upper = max(uppers)
        m = max(0.0, (abs(theta) - crit_theta * se_theta) / (upper * weight))
        return Breakdown(
            m=float(np.floor(m * 100) / 100), theta=theta, se_theta=se_theta,
            crit_theta=crit_theta, max_pre=max(changes), max_pre_upper=upper, weight=weight,
        )

    def to_estimates(self) -> list[EffectEstimate]:
        """Return one :class:`EffectEstimate` per event time (the reference -1 left out)."""
        rows = []
        for r in self.coefficients.itertuples(index=False):
            if r.event_time == -1:
                continue
            est = EffectEstimate.from_fit(
                self.fit, f"event_{r.event_time}", strategy_id=self.strategy_id,
                estimand=f"event_time_{r.event_time:+d}", model="poisson_fe",
                design="event_study_stacked", unit="strategy active, by period since start",
                df=self.df, area_col=self.area_col, period_col=self.period_col,
            )
            est.caveats += self.caveats()
            rows.append(est)
        return rows

    def to_frame(self) -> pd.DataFrame:
        """Return the event-time estimates as rows shaped like ``effects.csv``."""
        return pd.concat([e.to_frame() for e in self.to_estimates()], ignore_index=True)


def estimate_event_study(
    panel: pd.DataFrame,
    strategy_id: str,
    active: str,
    *,
    outcome: str = "incidents",
    pre: int = 6,
    post: int = 6,
    offset: str | None = None,
    area_col: str = "area_id",
    period_col: str = "period_index",
) -> EventStudyResult | None:
    """Fit leads and lags of roll-out on the stacked panel and test the pre-trend.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column.
    outcome : str
        Count column.
    pre, post : int
        Window around each cohort's start.
    offset : str, optional
        Column of the log of a denominator, as in :func:`estimate_stacked_effect`.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    EventStudyResult or None
        None when no cohort has a clean comparison.
    """
    stacked = make_stacked_panel(panel, active, pre=pre, post=post, area_col=area_col,
                                 period_col=period_col)
    if stacked.empty:
        return None
    stacked = _finite_offset(stacked, offset)
    times = [k for k in range(-pre, post + 1) if k != -1]
    names = []
    for k in times:
        name = f"event_{k}"
        stacked[name] = (stacked["treated"] & (stacked["event_time"] == k)).astype(float)
        if stacked[name].any():
            names.append(name)
    fit = fit_count_model(
        stacked, outcome, names, fixed_effects=("stack_area", "stack_period"), cluster=area_col,
        offset=offset, upper=upper_column(stacked, outcome),
    )
    contrast_df = _stacked_df(stacked, area_col)
    # The figure's intervals are the event-time rows' intervals: t on the contrast's df.
    coef, se = fit.params[names].to_numpy(), fit.bse[names].to_numpy()
    low, high = compute_conf_int(coef, se, contrast_df)
    coefficients = pd.concat([
        pd.DataFrame({"event_time": [-1], "irr": [1.0], "ci_low": [1.0], "ci_high": [1.0],
                      "p_value": [np.nan]}),
        pd.DataFrame({"event_time": [int(n.split("_")[1]) for n in names], "irr": np.exp(coef),
                      "ci_low": np.exp(low), "ci_high": np.exp(high),
                      "p_value": compute_p_value(coef, se, contrast_df)}),
    ], ignore_index=True).sort_values("event_time", ignore_index=True)
    leads = [n for n in names if int(n.split("_")[1]) < -1]
    chi2, q, p = compute_wald_test(fit, leads, df=contrast_df)
    return EventStudyResult(strategy_id, coefficients, chi2, q, p, fit, contrast_df,
                            area_col=area_col, period_col=period_col)


def to_breakdown_table(studies: Mapping[str, EventStudyResult]) -> pd.DataFrame:
    """Return the pre-trend test and relative-magnitudes breakdown of each event study.

    Parameters
    ----------
    studies : mapping of str to EventStudyResult
        Event studies by strategy id (``MissionEffects.event_studies``).

    Returns
    -------
    pandas.DataFrame
        ``strategy_id, pre_trend_p, pre_trend_failed, avg_post_irr, max_pre_change,
        breakdown_m, in_effects_csv, reading``: ``breakdown_m`` is computed for every study
        but goes to ``effects.csv`` only where the pre-trend test failed (``in_effects_csv``);
        ``max_pre_change`` is the largest change between consecutive pre-period log ratios.
    """
    rows = []
    for strategy_id, study in studies.items():
        found = study.breakdown
        m = found.m if found is not None else float("nan")
        rows.append({
            "strategy_id": strategy_id,
            "pre_trend_p": study.pre_trend_p,
            "pre_trend_failed": study.pre_trend_testable and study.pre_trend_failed,
            "avg_post_irr": float(np.exp(found.theta)) if found is not None else float("nan"),
            "max_pre_change": found.max_pre if found is not None else float("nan"),
            "breakdown_m": m,
            "in_effects_csv": bool(np.isfinite(study.breakdown_m)),
            "reading": describe_breakdown(m),
        })
    columns = ["strategy_id", "pre_trend_p", "pre_trend_failed", "avg_post_irr",
               "max_pre_change", "breakdown_m", "in_effects_csv", "reading"]
    return pd.DataFrame(rows, columns=columns)


def plot_event_study(result: EventStudyResult, ax: object | None = None) -> object:
    """Plot event-study IRRs with 95% intervals on a log axis.

    A figure made here (no ``ax``) is closed once drawn, so that a notebook cell ending with
    this call shows it once, as the cell's value (``plt.show()`` does not show it).

    Parameters
    ----------
    result : EventStudyResult
        The event study.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    else:
        fig = ax.figure
    c = result.coefficients
    ax.axhline(1.0, color="0.5", lw=1)
    ax.axvline(-0.5, color="0.5", lw=1, ls="--")
    ax.errorbar(
        c["event_time"], c["irr"],
        yerr=[c["irr"] - c["ci_low"], c["ci_high"] - c["irr"]],
        fmt="o", color="#1f4e79", capsize=3,
    )
    ax.set_yscale("log")
    low, high = float(c["ci_low"].min()), float(c["ci_high"].max())
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
             if low / 1.2 <= t <= high * 1.2]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("periods since the strategy started in the area (reference: -1)")
    ax.set_ylabel("ratio of reported incidents (IRR)")
    verdict = ("not testable" if not result.pre_trend_testable
               else "failed" if result.pre_trend_failed else "passed")
    ax.set_title(
        f"{result.strategy_id}: event study (pre-trend test {verdict}, "
        f"p = {result.pre_trend_p:.2f})"
    )
    if own:
        _shown_once(fig)
    return fig


def plot_event_studies(results: Sequence[EventStudyResult]) -> object | None:
    """Plot several event studies, one panel each, stacked vertically.

    The figure is closed once drawn, so that a notebook shows it once (as the cell's value).

    Parameters
    ----------
    results : sequence of EventStudyResult
        Event studies, e.g. ``MissionEffects.event_studies.values()``.

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure; None when there is nothing to plot.
    """
    import matplotlib.pyplot as plt

    results = list(results)
    if not results:
        return None
    fig, axes = plt.subplots(len(results), 1, figsize=(7, 3.6 * len(results)), squeeze=False,
                             layout="constrained")
    for result, ax in zip(results, axes[:, 0], strict=True):
        plot_event_study(result, ax=ax)
    _shown_once(fig)
    return fig


def _shown_once(fig: object) -> None:
    """Close a pyplot figure that is returned, so that a notebook shows it once.

    A cell that returns an open pyplot figure shows it twice: as the cell's value, and again
    when the inline backend draws every open figure at the end of the cell. Closed, it is only
    the value (pyplot is still what registers the inline backend's image formatter).
    """
    import matplotlib.pyplot as plt

    plt.close(fig)
