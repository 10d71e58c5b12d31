"""Figures of a mission's coverage for the coverage notebook (restricted: raw counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from protection_eval.coverage.mission import CoverageResult


def _line_in_front(ax, twin) -> None:
    """Draw ``ax`` (the line) over its twin (the bars)."""
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)


def plot_coverage_overview(result: CoverageResult) -> Figure:
    """Plot coverage month by month, and how long before incidents patrols had passed.

    Parameters
    ----------
    result : CoverageResult
        A mission's coverage.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: the share of in-scope incidents covered per month (with the number in
        scope), the mission's patrol-hours and mean area footprint per month, and a histogram
        of ``since_patrol_h`` for covered incidents.
    """
    # A Figure not registered with pyplot is shown once, as the cell's value.
    fig = Figure(figsize=(15, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    frame = result.incidents[result.incidents["in_scope"].to_numpy(dtype=bool)]
    covered = frame["covered"].astype("float64")
    monthly = covered.groupby(frame["period"]).agg(["mean", "size"])
    ax = axes[0]
    ax.plot(monthly.index, monthly["mean"], marker="o", color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of incidents covered")
    ax.set_title(
        f"Covered: patrol within {result.params.radius_m:,.0f} m in the "
        f"{result.params.window_h:g} h before ({result.model})"
    )
    twin = ax.twinx()
    twin.bar(monthly.index, monthly["size"], width=20, alpha=0.2, color="grey")
    twin.set_ylabel("incidents in scope")
    _line_in_front(ax, twin)

    areas = result.areas.groupby("period").agg(
        patrol_hours=("patrol_hours", lambda v: v.sum(min_count=1)),
        footprint_share=("footprint_share", "mean"),
    )
    ax = axes[1]
    ax.plot(areas.index, areas["footprint_share"], color="tab:green", label="mean footprint")
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean share of area within reach")
    ax.set_title("Patrol presence per month")
    if areas["patrol_hours"].notna().any():
        twin = ax.twinx()
        twin.bar(areas.index, areas["patrol_hours"], width=20, alpha=0.2, color="tab:orange")
        twin.set_ylabel("patrol-hours")
        _line_in_front(ax, twin)

    ax = axes[2]
    since = frame.loc[frame["covered"].fillna(False).to_numpy(dtype=bool), "since_patrol_h"]
    upper = max(result.params.window_h, float(np.nanmax(since, initial=0.0))) + 1
    ax.hist(since.dropna(), bins=np.linspace(0, upper, 25), color="tab:purple")
    ax.set_xlabel("hours since a patrol was within the radius")
    ax.set_ylabel("covered incidents")
    ax.set_title("How recently patrols had passed")
    for axis in axes[:2]:
        axis.tick_params(axis="x", labelrotation=45)
    fig.suptitle(f"{result.summary.get('mission', '')} coverage, {result.summary.get('period')}"
                 + (" - SYNTHETIC DATA" if result.summary.get("synthetic") else ""))
    return fig


def monthly_coverage(result: CoverageResult) -> pd.DataFrame:
    """Return, per month, incidents in scope, covered, and the covered share (restricted)."""
    frame = result.incidents[result.incidents["in_scope"].to_numpy(dtype=bool)]
    grouped = frame["covered"].astype("float64").groupby(frame["period"])
    return pd.DataFrame(
        {"incidents_in_scope": grouped.size(), "incidents_covered": grouped.sum().astype(int),
         "covered_share": grouped.mean()}
    )
