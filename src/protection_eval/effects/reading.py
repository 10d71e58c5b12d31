"""What an evaluator reads in the effects notebook: estimates as a table and as a forest plot.

:func:`to_reading_table` keeps the columns a reader needs (which estimate, the ratio and its
interval, the p-value, how much data it rests on), writes numbers as a reader reads them
(ratios to two decimals, p-values as ``0.003`` or ``<0.001``, never in scientific notation),
lists each caveat once as a numbered note that the rows refer to, leaves out columns with no
value in any row, and keeps every column one click away (a collapsed *All columns* table).
:func:`plot_headline_forest` draws the headline ratios with their intervals on one log axis.
Both read a mission's estimates and compute nothing new; ``MissionEffects.table`` is still the
whole frame.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import EFFECT_COLUMNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from protection_eval.effects.count_models import EffectEstimate
    from protection_eval.effects.mission import MissionEffects

__all__ = [
    "READING_COLUMNS",
    "ReadingTable",
    "format_p_value",
    "plot_headline_forest",
    "to_reading_table",
]

#: The columns a reader needs, in order: which estimate (and whether it is the headline), the
#: ratio, its interval and p-value, how much data it rests on, and the numbers of its notes.
READING_COLUMNS: tuple[str, ...] = (
    "strategy_id", "estimand", "design", "model", "headline", "irr", "ci_low", "ci_high",
    "p_value", "n_areas", "n_incidents", "notes",
)

#: Ratios and their interval bounds: two decimals.
_RATIO_COLUMNS = ("irr", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high")
#: p-values: as :func:`format_p_value` writes them.
_P_COLUMNS = ("p_value", "boot_p_value")


def format_p_value(p: float | None) -> str:
    """Write a p-value as a reader reads it: three decimals, ``<0.001`` below, blank when NaN.

    Parameters
    ----------
    p : float or None
        The p-value.

    Returns
    -------
    str
        ``"0.042"``, ``"<0.001"`` or ``""`` (None or NaN).
    """
    if p is None or not math.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _format_number(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def _formatter(column: str, values: pd.Series) -> Callable[[object], str] | None:
    """Return how a column is written, or None to leave it as it is (text)."""
    if column in _P_COLUMNS:
        return format_p_value
    if column in _RATIO_COLUMNS:
        return lambda v: _format_number(v, 2)
    if column == "headline":
        return lambda v: "yes" if v is True or v == 1 else ""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return None
    if column.startswith("n_"):
        return lambda v: _format_number(v, 0)  # counts, float where a row has none
    return lambda v: _format_number(v, 3)  # never scientific notation


def _written(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every number written as a reader reads it (text)."""
    shown = frame.copy()
    for column in shown.columns:
        write = _formatter(column, shown[column])
        if write is not None:
            shown[column] = shown[column].map(write).astype(object)
    return shown


@dataclass
class ReadingTable:
    """Estimates as a reader reads them, each caveat once.

    In a notebook it shows as an HTML table (every value escaped), the numbered notes under it
    and a collapsed *All columns* table; as text, the table and the notes.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`READING_COLUMNS` (and the ``columns`` asked for that have a value), one row per
        estimate, numbers unrounded; ``notes`` holds the numbers of the row's caveats
        (``"1, 3"``).
    caveats : list of str
        Every caveat of the rows, once, in order of first appearance: note ``i`` is
        ``caveats[i - 1]``.
    full : pandas.DataFrame
        Every column of the estimates that has a value in some row (columns empty in every row
        are left out; the caveats are the notes), one row per estimate, in the rows' order.
    """

    table: pd.DataFrame
    caveats: list[str] = field(default_factory=list)
    full: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_frame(self) -> pd.DataFrame:
        """Return the reader's table, numbers unrounded.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`.
        """
        return self.table.copy()

    def to_html(self) -> str:
        """Return the table, its notes and the collapsed *All columns* table as HTML.

        Every value, column name and caveat is escaped: no data value becomes markup.

        Returns
        -------
        str
            An HTML fragment.
        """
        parts = [_written(self.table).to_html(index=False, na_rep="", escape=True)]
        if self.caveats:
            items = "".join(f"<li>{html.escape(c)}</li>" for c in self.caveats)
            parts.append(f"<p>Notes (the <code>notes</code> column):</p>\n<ol>{items}</ol>")
        if len(self.full.columns):
            parts.append("<details><summary>All columns</summary>\n"
                         + _written(self.full).to_html(index=False, na_rep="", escape=True)
                         + "\n</details>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [_written(self.table).to_string(index=False)]
        lines += [f"[{i}] {c}" for i, c in enumerate(self.caveats, start=1)]
        return "\n".join(lines)


def _selected(effects: MissionEffects, estimands: Sequence[str],
              designs: Sequence[str]) -> list[EffectEstimate]:
    chosen = tuple(estimands)
    return [e for e in effects.estimates
            if (not chosen or e.estimand.startswith(chosen))
            and (not designs or e.design in designs)]


def _numbered(estimates: Sequence[EffectEstimate]) -> tuple[list[str], list[str]]:
    """Return every caveat once, and each estimate's note numbers (``"1, 2"``)."""
    caveats: list[str] = []
    numbers = []
    for estimate in estimates:
        for caveat in estimate.caveats:
            if caveat not in caveats:
                caveats.append(caveat)
        numbers.append(", ".join(str(caveats.index(c) + 1) for c in estimate.caveats))
    return caveats, numbers


def _has_value(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and not (present.astype(str) == "").all()


def to_reading_table(
    effects: MissionEffects,
    *estimands: str,
    columns: Sequence[str] = (),
    designs: Sequence[str] = (),
) -> ReadingTable:
    """Return a mission's estimates as a reader reads them: few columns, each caveat once.

    Parameters
    ----------
    effects : MissionEffects
        A mission's estimates (:func:`~protection_eval.effects.estimate_mission`).
    *estimands : str
        Keep the estimates whose estimand starts with one of these (all when none), as
        ``MissionEffects.table`` does.
    columns : sequence of str, optional
        Columns of ``effects.csv`` to show beside :data:`READING_COLUMNS` (``n_clusters``,
        ``boot_p_value``...); one with no value in any row is left out.
    designs : sequence of str, optional
        Keep only the estimates of these designs (``stacked_rings``...); all when empty.

    Returns
    -------
    ReadingTable
        The table, its numbered notes and every column with a value.

    Raises
    ------
    ValueError
        A name in ``columns`` that is not a column of the estimates.
    """
    unknown = [c for c in columns if c not in EFFECT_COLUMNS]
    if unknown:
        raise ValueError(f"not columns of the estimates: {unknown}; known: {EFFECT_COLUMNS}")
    chosen = _selected(effects, estimands, designs)
    caveats, numbers = _numbered(chosen)
    every = (pd.concat([e.to_frame() for e in chosen], ignore_index=True)
             if chosen else pd.DataFrame(columns=EFFECT_COLUMNS))
    every = every.drop(columns="caveats")
    every["notes"] = numbers
    wanted = [c for c in READING_COLUMNS if c != "notes"]
    wanted += [c for c in columns if c not in wanted and _has_value(every[c])]
    full = every[[c for c in every.columns if c in READING_COLUMNS or _has_value(every[c])]]
    return ReadingTable(every[[*wanted, "notes"]].copy(), caveats, full.copy())


def plot_headline_forest(effects: MissionEffects) -> Figure | None:
    """Draw each headline ratio with its 95% interval on one log axis (a forest plot).

    The figure is made with pyplot (which gives a notebook the image of a figure) and closed at
    once, so that a notebook cell ending with this call shows it once, as the cell's value;
    ``figure.savefig`` still writes it, ``plt.show()`` does not show it.

    Parameters
    ----------
    effects : MissionEffects
        A mission's estimates.

    Returns
    -------
    matplotlib.figure.Figure or None
        One row per headline estimate with a finite ratio and interval, labelled by strategy,
        estimand and design, top to bottom in the estimates' order; None when there is none.
    """
    rows = [e for e in effects.estimates
            if e.headline and np.isfinite([e.irr, e.ci_low, e.ci_high]).all()]
    if not rows:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.6 * len(rows)), layout="constrained")
    plt.close(fig)
    y = np.arange(len(rows))[::-1]
    irr = np.array([e.irr for e in rows])
    low = np.array([e.ci_low for e in rows])
    high = np.array([e.ci_high for e in rows])
    ax.axvline(1.0, color="0.5", lw=1)
    ax.errorbar(irr, y, xerr=[irr - low, high - irr], fmt="s", color="#1f4e79", capsize=3)
    ax.set_xscale("log")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(y, [f"{e.strategy_id}\n{e.estimand}, {e.design}" for e in rows],
                  fontsize=8, parse_math=False)
    _set_ratio_ticks(ax, min(low.min(), 1.0), max(high.max(), 1.0))
    ax.set_xlabel("ratio of reported incidents (IRR) and 95% interval")
    ax.set_title(f"{effects.mission}: headline estimates (below 1: fewer reports)",
                 parse_math=False)
    return fig


def _set_ratio_ticks(ax: object, low: float, high: float) -> None:
    """Label a log x axis with plain ratios (0.5, 1, 2): one below ``low`` to one above ``high``."""
    from matplotlib.ticker import NullFormatter

    steps = [(m, float(f"{m}e{e}")) for e in range(-3, 4) for m in (1, 2, 3, 5, 7)]
    first = max((t for _, t in steps if t <= low), default=steps[0][1])
    last = min((t for _, t in steps if t >= high), default=steps[-1][1])
    inside = [(m, t) for m, t in steps if first <= t <= last]
    if len(inside) > 9:  # a wide range: 1, 2 and 5 of each power of ten are enough
        inside = [(m, t) for m, t in inside if m in (1, 2, 5) or t in (first, last)]
    ticks = [t for _, t in inside]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(first / 1.15, last * 1.15)
