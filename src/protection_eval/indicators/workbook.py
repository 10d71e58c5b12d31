"""The indicators workbook (openpyxl): one sheet per indicator family, trajectories, notes.

Built in memory; :func:`protection_eval.runs.indicators.write_indicators` writes it. Text cells
that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a carriage
return) are neutralised with a leading single quote.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from protection_eval.indicators.compute import FAMILIES, IndicatorTable
from protection_eval.indicators.targets import TargetTable
from protection_eval.indicators.trend import EXTRAPOLATION_NOTE, TrajectoryTable
from protection_eval.io.writers import neutralise_formula

__all__ = ["to_workbook", "to_xlsx_bytes"]

def _cell(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, str):
        return neutralise_formula(value)
    return neutralise_formula(str(value))


def _add_sheet(book: Workbook, title: str, frame: pd.DataFrame) -> None:
    sheet = book.create_sheet(title=title[:31])
    sheet.append([_cell(c) for c in frame.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in frame.itertuples(index=False):
        sheet.append([_cell(v) for v in row])
    sheet.freeze_panes = "A2"


def _notes_frame(indicators: IndicatorTable, targets: TargetTable | None,
                 sources: list[str]) -> pd.DataFrame:
    lines: list[tuple[str, str]] = [
        ("format", "Columns and indicator ids are documented in docs/indicators.md."),
        ("reading", "value = numerator / denominator; gap_to_target = target - value (above "
                    "0: short of the target); on_track = meets the target in force, or its "
                    "straight-line trend up to that period reaches it by the deadline."),
        ("trajectory", EXTRAPOLATION_NOTE),
    ]
    lines += [(f"family {name}", text) for name, text in FAMILIES.items()
              if name in indicators.families]
    lines += [("data source", s) for s in sources]
    lines += [("note", n) for n in indicators.notes]
    if targets is not None:
        lines.append(("targets", f"{targets.origin}, version {targets.version}"))
        for t in targets.targets:
            due = t.due_year if t.due_year is not None else "no deadline"
            lines.append((
                f"target {t.id}",
                f"{t.category}: {t.share:.0%} women, due {due}, in force "
                f"{t.in_force[0]} to {t.in_force[1]}; {t.kind}"
                f"{'' if t.confirmed else ', UNCONFIRMED'}. Source: {t.source}",
            ))
    return pd.DataFrame(lines, columns=["topic", "text"])


def to_workbook(
    indicators: IndicatorTable,
    *,
    trajectories: TrajectoryTable | None = None,
    targets: TargetTable | None = None,
    sources: list[str] | None = None,
) -> Workbook:
    """Build the indicators workbook.

    Parameters
    ----------
    indicators : IndicatorTable
        The rows; one sheet per family present.
    trajectories : TrajectoryTable, optional
        A ``trajectory`` sheet when given.
    targets : TargetTable, optional
        Listed on the ``notes`` sheet with their sources.
    sources : list of str, optional
        Citations of the data, listed on the ``notes`` sheet.

    Returns
    -------
    openpyxl.Workbook
    """
    book = Workbook()
    book.remove(book.active)
    for family in indicators.families:
        _add_sheet(book, family, indicators.family(family))
    if trajectories is not None and trajectories.trajectories:
        _add_sheet(book, "trajectory", trajectories.to_frame())
    _add_sheet(book, "notes", _notes_frame(indicators, targets, sources or []))
    return book


def to_xlsx_bytes(book: Workbook) -> bytes:
    """Return the workbook as the bytes of an ``.xlsx`` file."""
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
