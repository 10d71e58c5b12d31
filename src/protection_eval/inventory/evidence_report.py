"""Forest plots and the evidence report (``reports/evidence.csv`` and ``evidence.html``).

The numbers come from :mod:`protection_eval.inventory.evidence`; this module only draws and writes
them. Figures are built without pyplot (a bare :class:`~matplotlib.figure.Figure`), so they draw the
same in a notebook, a script or a test and are never kept open. The HTML page embeds its images as
base64 PNG and loads nothing from any server.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from protection_eval.inventory.evidence import EvidenceSynthesis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# matplotlib is imported where a figure is drawn: the run's cross-mission report imports this
# module, and a report without an estimate draws nothing.

__all__ = [
    "make_forest_panel",
    "make_forest_plot",
    "to_evidence_html",
]

_NICE_TICKS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3, 4, 5, 10)
_SHORT_XLABEL = "Ratio of reported incidents, deployed vs not (1 = no change)"
_XLABEL = (
    "Reported incidents where deployed, relative to without (1 = no change)\n"
    "left of the line: fewer reports    right of the line: more reports"
)


def _forest_rows(synthesis: EvidenceSynthesis, strategy_id: str) -> pd.DataFrame:
    rows = synthesis.mission_effects[synthesis.mission_effects["strategy_id"] == strategy_id]
    if rows.empty:
        raise KeyError(f"no estimate for strategy '{strategy_id}'")
    return rows


def _forest_height(synthesis: EvidenceSynthesis, strategy_id: str) -> float:
    n = len(_forest_rows(synthesis, strategy_id))
    return 1.2 + 0.45 * (n + (2 if strategy_id in synthesis.pooled else 0))


def _draw_forest(
    ax: Axes, synthesis: EvidenceSynthesis, strategy_id: str, *, long_label: bool = True
) -> None:
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

    rows = _forest_rows(synthesis, strategy_id)
    pooled = synthesis.pooled.get(strategy_id)
    ys = np.arange(len(rows), 0, -1) + (1.5 if pooled else 0)
    sizes = rows["weight_pct"].fillna(100).to_numpy() / 100
    for y, (_, row), size in zip(ys, rows.iterrows(), sizes, strict=True):
        ax.plot([row["ci_low"], row["ci_high"]], [y, y], color="#33506e", lw=1.6)
        ax.plot(row["irr"], y, "s", color="#33506e", markersize=6 + 10 * size)
    labels = [
        f"{m}  {i:.2f} ({lo:.2f}-{hi:.2f})"
        for m, i, lo, hi in zip(
            rows["mission"], rows["irr"], rows["ci_low"], rows["ci_high"], strict=True
        )
    ]
    ticks = list(ys)
    lows, highs = [*rows["ci_low"], 1.0], [*rows["ci_high"], 1.0]
    if pooled:
        y = 0.6
        label = f"All missions  {pooled.irr:.2f} ({pooled.ci_low:.2f}-{pooled.ci_high:.2f})"
        if np.isfinite(pooled.pi_low):
            # The prediction interval: where a new mission's ratio might fall; drawn as a
            # thin bar through the diamond, as Higgins et al. (2009) and IntHout et al. (2016).
            ax.plot([pooled.pi_low, pooled.pi_high], [y, y], color="#b3541e", lw=1.2)
            ax.plot([pooled.pi_low, pooled.pi_high], [y, y], "|", color="#b3541e", ms=10)
            label += f"\nnew mission: {pooled.pi_low:.2f}-{pooled.pi_high:.2f}"
            lows.append(pooled.pi_low)
            highs.append(pooled.pi_high)
        diamond_x = [pooled.ci_low, pooled.irr, pooled.ci_high, pooled.irr]
        ax.fill(diamond_x, [y, y + 0.3, y, y - 0.3], color="#b3541e")
        labels.append(label)
        ticks.append(y)
        lows.append(pooled.ci_low)
        highs.append(pooled.ci_high)
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(min(lows) / 1.15, max(highs) * 1.15)
    low, high = ax.get_xlim()
    ax.xaxis.set_major_locator(FixedLocator([t for t in _NICE_TICKS if low <= t <= high]))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    ax.xaxis.set_minor_locator(NullLocator())
    # Mission codes and strategy names are data: drawn as typed, never parsed as mathtext
    # (a "$...$" pair would be typeset, or stop the page when it is not valid TeX).
    ax.set_yticks(ticks, labels, parse_math=False)
    ax.set_ylim(0, max(ys) + 0.8)
    ax.set_xlabel(_XLABEL if long_label else _SHORT_XLABEL, fontsize=9)
    name = rows["strategy_name"].dropna()
    title = name.iloc[0] if len(name) else strategy_id
    if pooled:
        subtitle = (
            f"{pooled.n_missions} missions pooled; "
            f"between-mission differences I\u00b2 = {100 * pooled.i2:.0f}%"
        )
        if np.isfinite(pooled.pi_low):
            subtitle += "\nthin bar: range of ratios a new mission might see"
    else:
        subtitle = "one mission only: not a pooled result"
    ax.set_title(f"{title}\n{subtitle}", fontsize=11, parse_math=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def make_forest_plot(synthesis: EvidenceSynthesis, strategy_id: str) -> Figure:
    """Draw one strategy's mission estimates and, when pooled, the pooled diamond.

    The x axis is the incidence-rate ratio on a log scale with a line at 1 (no change); the
    label says in words which side means fewer reported incidents. Square size follows the
    mission's weight in the pool. With three or more missions a thin bar through the diamond
    shows the 95% prediction interval: the range of ratios a new mission might see.

    Parameters
    ----------
    synthesis : EvidenceSynthesis
    strategy_id : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, _forest_height(synthesis, strategy_id) + 0.4))
    _draw_forest(fig.subplots(), synthesis, strategy_id)
    fig.tight_layout()
    return fig


def make_forest_panel(synthesis: EvidenceSynthesis) -> Figure:
    """Draw the forest plots of every strategy with an estimate, one under the other.

    Parameters
    ----------
    synthesis : EvidenceSynthesis

    Returns
    -------
    matplotlib.figure.Figure
        A single figure; a short note when there is no estimate at all.
    """
    from matplotlib.figure import Figure

    ids = synthesis.strategy_ids
    if not ids:
        fig = Figure(figsize=(8, 1.2))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "No effect estimates yet for any mission", ha="center")
        return fig
    heights = [_forest_height(synthesis, i) + 0.4 for i in ids]
    fig = Figure(figsize=(8, sum(heights)))
    axes = fig.subplots(len(ids), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, strategy_id in zip(axes[:, 0], ids, strict=True):
        _draw_forest(ax, synthesis, strategy_id, long_label=strategy_id == ids[-1])
    fig.tight_layout()
    return fig


def to_evidence_html(synthesis: EvidenceSynthesis, title: str = "Evidence across missions") -> str:
    """Render the evidence table and forest plots as one self-contained HTML page.

    Plots are embedded as base64 PNG; the page loads nothing from any server.

    Parameters
    ----------
    synthesis : EvidenceSynthesis
    title : str

    Returns
    -------
    str
    """
    table = synthesis.to_frame()
    shown = table[
        ["strategy_id", "strategy_name", "mission", "irr", "ci_low", "ci_high", "pi_low",
         "pi_high", "i2", "note"]
    ].copy()
    for column in ("irr", "ci_low", "ci_high", "pi_low", "pi_high"):
        shown[column] = shown[column].map(lambda v: f"{v:.2f}" if pd.notna(v) else "")
    shown["i2"] = shown["i2"].map(lambda v: f"{100 * v:.0f}%" if pd.notna(v) else "")
    shown = shown.astype(object).fillna("")
    header = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    figures = []
    for strategy_id in synthesis.strategy_ids:
        fig = make_forest_plot(synthesis, strategy_id)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = html.escape(f"Forest plot for {strategy_id}")
        figures.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{encoded}"></figure>')
    problems = "".join(f"<li>{html.escape(str(p))}</li>" for p in synthesis.problems)
    problem_block = f"<h2>Rows left out</h2><ul>{problems}</ul>" if problems else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 62rem; margin: 1rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each row is a ratio of reported incidents where a strategy was deployed to where it was not
(below 1: fewer reports). Reported is not occurred: a strategy can raise reporting while violence
falls. Strategies estimated in two or more missions are pooled (row "ALL", random effects; with
fewer than ten missions the interval is the wider Hartung-Knapp-Sidik-Jonkman one, which keeps
its 95% promise with few missions); pi_low-pi_high is the range of ratios a new mission might
see (three or more missions). A strategy estimated in one mission is shown as that mission's
estimate only.</p>
<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>
{"".join(figures)}
{problem_block}
</body></html>
"""
