"""Charts and summaries of the strategy inventory for readers who are not analysts.

Two pictures: what the catalogue holds (strategies by category and actor), and when and where a
mission deployed its strategies (one row per area, one bar per deployment). Both return a
matplotlib :class:`~matplotlib.figure.Figure` built without pyplot, so they draw the same in a
notebook, a script or a test.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from protection_eval.inventory.strategies import ACTORS, CATEGORIES, StrategyCatalogue

__all__ = [
    "ACTOR_COLOURS",
    "make_catalogue_chart",
    "make_deployment_timeline",
    "to_deployment_summary",
]

#: One colour per actor, distinguishable in greyscale print and by colour-blind readers.
ACTOR_COLOURS = {
    "military": "#33506e",
    "police": "#6a9fcf",
    "civilian": "#b3541e",
    "joint": "#e0b34c",
}

_STRATEGY_COLOURS = [
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
]


def _category_label(category: str) -> str:
    return category.replace("_", " ").capitalize()


def make_catalogue_chart(catalogue: StrategyCatalogue) -> Figure:
    """Bar chart: how many strategies of each category, split by who carries them out.

    Parameters
    ----------
    catalogue : StrategyCatalogue
        The (possibly filtered) catalogue.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = catalogue.to_frame()
    counts = (
        pd.crosstab(table["category"], table["actor"])
        .reindex(index=list(CATEGORIES), columns=list(ACTORS), fill_value=0)
        .iloc[::-1]
    )
    fig = Figure(figsize=(10, 5.5))
    ax = fig.subplots()
    left = pd.Series(0, index=counts.index)
    for actor in ACTORS:
        values = counts[actor]
        ax.barh(
            [_category_label(c) for c in counts.index],
            values,
            left=left,
            color=ACTOR_COLOURS[actor],
            label=actor,
        )
        left = left + values
    for y, total in enumerate(left):
        if total:
            ax.text(total + 0.1, y, str(int(total)), va="center", fontsize=9)
    ax.set_xlim(0, max(1, int(left.max())) + 1)
    ax.set_xlabel("Number of strategies in the inventory")
    ax.set_title(f"{len(table)} protection strategies, by kind and by who carries them out")
    ax.legend(title="Carried out by", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.xaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def to_deployment_summary(
    deployments: pd.DataFrame | None, catalogue: StrategyCatalogue | None = None
) -> pd.DataFrame:
    """Summarise a mission's deployments per strategy.

    Parameters
    ----------
    deployments : pandas.DataFrame or None
        Canonical deployments table (``strategy_id``, ``area_id``, ``started_on``, ``ended_on``).
    catalogue : StrategyCatalogue, optional
        Adds the strategy name and actor.

    Returns
    -------
    pandas.DataFrame
        One row per strategy: ``strategy_id``, ``name``, ``actor``, ``n_areas``,
        ``n_deployments``, ``first_started_on``, ``last_ended_on``, ``n_still_active``.
    """
    columns = [
        "strategy_id",
        "name",
        "actor",
        "n_areas",
        "n_deployments",
        "first_started_on",
        "last_ended_on",
        "n_still_active",
    ]
    if deployments is None or deployments.empty:
        return pd.DataFrame(columns=columns)
    grouped = deployments.groupby("strategy_id", sort=True)
    summary = pd.DataFrame(
        {
            "n_areas": grouped["area_id"].nunique(),
            "n_deployments": grouped.size(),
            "first_started_on": grouped["started_on"].min(),
            "last_ended_on": grouped["ended_on"].max(),
            "n_still_active": grouped["ended_on"].apply(lambda s: int(s.isna().sum())),
        }
    ).reset_index()
    names = {s.id: s.name for s in catalogue} if catalogue is not None else {}
    actors = {s.id: s.actor for s in catalogue} if catalogue is not None else {}
    summary["name"] = summary["strategy_id"].map(names)
    summary["actor"] = summary["strategy_id"].map(actors)
    return summary.reindex(columns=columns)


def make_deployment_timeline(
    deployments: pd.DataFrame | None,
    catalogue: StrategyCatalogue | None = None,
    period_start: pd.Timestamp | str | None = None,
    period_end: pd.Timestamp | str | None = None,
) -> Figure:
    """Timeline: one row per area, one coloured bar per strategy deployment.

    A deployment without an end date is drawn to the end of the period with an arrow ("still
    active").

    Parameters
    ----------
    deployments : pandas.DataFrame or None
        Canonical deployments table.
    catalogue : StrategyCatalogue, optional
        Gives the strategies' names for the legend.
    period_start, period_end : Timestamp or str, optional
        The mission period (default: the span of the deployments).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if deployments is None or deployments.empty:
        fig = Figure(figsize=(8, 1.5))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "No strategy deployments recorded for this mission", ha="center")
        return fig
    frame = deployments.copy()
    start = pd.Timestamp(period_start) if period_start is not None else frame["started_on"].min()
    end = pd.Timestamp(period_end) if period_end is not None else None
    if end is None:
        ends = frame["ended_on"].dropna()
        last_start = frame["started_on"].max()
        end = max(last_start, ends.max()) if len(ends) else last_start + pd.Timedelta(days=30)
    frame["drawn_end"] = frame["ended_on"].fillna(end).clip(upper=end)
    frame["drawn_start"] = frame["started_on"].clip(lower=start)
    order = frame.groupby("area_id")["started_on"].min().sort_values(kind="stable").index.tolist()
    rows = {area: i for i, area in enumerate(reversed(order))}
    strategies = sorted(frame["strategy_id"].unique())
    colours = {s: _STRATEGY_COLOURS[i % len(_STRATEGY_COLOURS)] for i, s in enumerate(strategies)}
    offsets = {
        s: (i - (len(strategies) - 1) / 2) * 0.8 / len(strategies) for i, s in enumerate(strategies)
    }
    height = 0.8 / len(strategies)
    names = {s.id: s.name for s in catalogue} if catalogue is not None else {}
    fig = Figure(figsize=(10, 1.8 + 0.22 * len(order)))
    ax = fig.subplots()
    for strategy in strategies:
        part = frame[frame["strategy_id"] == strategy]
        ys = [rows[a] + offsets[strategy] for a in part["area_id"]]
        widths = (part["drawn_end"] - part["drawn_start"]).dt.days.clip(lower=1)
        ax.barh(
            ys,
            widths,
            left=part["drawn_start"],
            height=height,
            color=colours[strategy],
            label=names.get(strategy, strategy),
        )
        active = part["ended_on"].isna()
        if active.any():
            ax.plot(
                part.loc[active, "drawn_end"],
                [y for y, a in zip(ys, active, strict=True) if a],
                ">",
                color=colours[strategy],
                markersize=4,
            )
    ax.set_yticks(list(rows.values()), list(rows.keys()), fontsize=7)
    ax.set_xlim(start, end)
    ax.set_ylabel("Area")
    ax.set_title("When and where each strategy was deployed (arrow: still active)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig
