"""Trajectory charts: each mission's yearly share of women against its target.

Built without pyplot (as :mod:`protection_eval.inventory.charts`), so they draw the same in a
notebook, a script or a test. Shared as SVG text (:func:`to_svg`): a vector file the audit can
read, with no date or software stamp in it.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from protection_eval.indicators.trend import TrajectoryTable

__all__ = ["make_trajectory_chart", "to_svg"]

_VALUE = "#33506e"
_TARGET = "#b3541e"
_TREND = "#6a9fcf"


def make_trajectory_chart(
    rows: pd.DataFrame,
    trajectories: TrajectoryTable,
    *,
    indicator_id: str = "uniformed.women_share",
    missions: list[str] | None = None,
    columns: int = 4,
) -> Figure:
    """Small multiples: one panel per mission, the share of women by year against the target.

    Parameters
    ----------
    rows : pandas.DataFrame
        Indicator rows with details (:attr:`IndicatorTable.rows`).
    trajectories : TrajectoryTable
        Fitted trends; the dotted line and band extend them to the target's deadline (an
        extrapolation, labelled as such).
    indicator_id : str
        The series drawn.
    missions : list of str, optional
        Missions to draw (default: every mission with at least two yearly values).
    columns : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = rows[(rows["indicator_id"] == indicator_id) & ~rows["monthly"]
                & rows["value"].notna()]
    if missions is None:
        sizes = data.groupby("mission").size()
        missions = sorted(sizes[sizes >= 2].index)
    n = max(len(missions), 1)
    cols = min(columns, n)
    lines = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * lines + 0.8), layout="constrained")
    axes = fig.subplots(lines, cols, squeeze=False)
    for ax in axes.flat[len(missions):]:
        ax.set_visible(False)
    for ax, mission in zip(axes.flat, missions, strict=False):
        series = data[data["mission"] == mission].sort_values("year")
        ax.plot(series["year"], series["value"], "o-", color=_VALUE, ms=3, lw=1.4,
                label="share of women")
        targets = series[series["target"].notna()]
        if len(targets):
            ax.step(targets["year"], targets["target"], where="mid", color=_TARGET, ls="--",
                    lw=1.2, label="target in force")
        trend = trajectories.get(mission, indicator_id)
        if trend is not None and not np.isnan(trend.slope_per_year):
            end = trend.last_year + 5
            if not np.isnan(trend.due_year):
                end = max(end, trend.due_year)
            years = np.linspace(trend.first_year, end, 60)
            centre, low, high = trend.predict(years)
            ax.plot(years, centre, ":", color=_TREND, lw=1.2, label="trend (extrapolated)")
            ax.fill_between(years, low, high, color=_TREND, alpha=0.18, lw=0)
            if not np.isnan(trend.target):
                ax.axhline(trend.target, color=_TARGET, lw=0.6, alpha=0.5)
        ax.set_title(mission, fontsize=9)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        highest = max(series["value"].max(), series["target"].max(skipna=True)
                      if series["target"].notna().any() else 0.0)
        ax.set_ylim(0, max(highest * 1.3, 0.05))
        ax.grid(alpha=0.3, lw=0.5)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8,
                   frameon=False)
    fig.suptitle("Women's share of uniformed personnel against the target (dotted: "
                 "extrapolated trend with its 95% band)", fontsize=10)
    return fig


def to_svg(fig: Figure) -> str:
    """Return a figure as SVG text without date or software stamps (reproducible, auditable)."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "protection-eval", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg",
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    # No DOCTYPE: its DTD address is a third-party URL, and a shared page fetches nothing.
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", buffer.getvalue(), count=1)
