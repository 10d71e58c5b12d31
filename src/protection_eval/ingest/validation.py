"""The validation report: what ingestion read, accepted, quarantined and dropped, reconciled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Every quarantine reason, with the sentence shown to a person.
REASONS: dict[str, str] = {
    "missing_value": "a required cell is empty",
    "invalid_number": "a number cannot be read",
    "not_finite": "a number is infinite, not a number (nan) or too large to hold",
    "not_whole_number": "a count is not a whole number",
    "number_out_of_range": "a number is below its smallest or above its largest accepted value",
    "invalid_geometry": "the geometry is missing, empty, invalid or of the wrong type",
    "date_unparseable": "the date cannot be read as ISO 8601 or the declared date_format",
    "date_out_of_range": "the date is before 1678 or after 2261, beyond what can be held",
    "date_ambiguous": "the date could be day-first or month-first; declare date_format",
    "date_in_future": "the date is in the future",
    "date_outside_period": "the date is outside the mission period",
    "ended_before_started": "the end is before the start",
    "reported_before_occurred": "the incident was reported before it occurred",
    "coordinates_out_of_range": "longitude/latitude outside -180..180 / -90..90",
    "coordinates_zero_placeholder": "longitude and latitude are both 0 (a placeholder)",
    "coordinates_projected": "the coordinates look like projected metres, not degrees",
    "coordinates_swapped": "latitude and longitude look swapped",
    "coordinates_sign_flipped": "a coordinate looks sign-flipped",
    "outside_areas": "the point is outside the mission's areas beyond the tolerance",
    "label_unmapped": "a label is not in the model and not mapped in the configuration",
    "duplicate_id": "the id was already seen in an earlier row",
    "likely_duplicate": "same time, place and type as an earlier row from another source",
    "women_exceed_personnel": "more women than personnel",
    "unknown_patrol": "the patrol_id is not among the accepted patrols",
    "unknown_strategy": "the strategy_id is not in the strategy inventory",
    "unknown_area": "the area_id or area_pcode is not among the accepted areas",
    "area_name_unmatched": "the area_name matches no area (suggestions in validation.json)",
    "area_name_ambiguous": "the area_name is the name of several areas",
    "area_reference_conflict": "area_id, area_pcode and area_name name different areas",
    "count_unparseable": "a count is in none of the published forms (12, <5, 1-4 ...)",
    "count_interval_too_wide": "a published interval spans more than 1,001 values",
    "month_unparseable": "the month cannot be read (2023-03, or the declared date_format)",
    "duplicate_count": "the same area, month, GBV type and source as an earlier count",
    "counts_and_rows_overlap": "the source also gives incident rows for this area-month",
    "margin_without_cells": "a total row with no counts by GBV type beside it",
    "margin_inconsistent": "a total and the counts by GBV type it sums do not agree",
}


@dataclass
class TableReport:
    """Counts and reasons for one table.

    Attributes
    ----------
    table : str
        Canonical table name.
    path : str
        Source file.
    rows_read, rows_accepted, rows_rejected : int
        Data rows in the file; ``rows_read == rows_accepted + rows_rejected`` always.
    reasons : dict
        Quarantine reason -> number of rows.
    dropped_columns : list of str
        Source columns outside the model (never read into analysis tables).
    rows_excluded : int
        Rows of the file the source's ``where`` left out (not counted in ``rows_read``).
    suggestions : dict
        Incidents only: each unmatched ``area_name`` -> the closest area names, best first.
        Shown to a person; never applied.
    resolutions : dict
        Incidents only: each ``area_name`` placed by reading it as a country
        (:mod:`protection_eval.ingest.places`) -> ``area_id``, ``area_name``, ``country`` (ISO
        alpha-3) and ``by``: listed for a person to check.
    notes : list of str
        What the reader said about the file: a skipped HXL hashtag row, a column map proposed
        from hashtags (never applied), the identifying columns a preset drops and why.
    """

    table: str
    path: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    rows_excluded: int = 0
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    resolutions: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        """Whether every row read was either accepted or rejected."""
        return self.rows_read == self.rows_accepted + self.rows_rejected


@dataclass
class ValidationReport:
    """The validation of one mission's inputs.

    Attributes
    ----------
    mission : str
        Mission code.
    tables : dict
        Table name -> :class:`TableReport`.
    errors : list of str
        Problems that make the mission unusable (a file that cannot be used, a required
        table with no accepted row).
    rejected : dict
        Table name -> quarantined rows (model columns only, plus ``source_row``, ``reason``,
        ``column`` and ``detail``).
    notes : list of str
        What a reader should know that is not an error: a declared table with no rows, a
        mission whose coverage cannot be computed.
    """

    mission: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when no error stops the mission and every table reconciles."""
        return not self.errors and all(t.reconciles for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form written as ``validation.json``."""
        return {
            "mission": self.mission,
            "usable": self.usable,
            "errors": list(self.errors),
            "notes": list(self.notes),
            "reason_text": {k: REASONS[k] for t in self.tables.values() for k in t.reasons},
            "tables": {
                name: {
                    "path": t.path,
                    "rows_read": t.rows_read,
                    "rows_accepted": t.rows_accepted,
                    "rows_rejected": t.rows_rejected,
                    "reconciles": t.reconciles,
                    "reasons": dict(sorted(t.reasons.items())),
                    "dropped_columns": list(t.dropped_columns),
                    "rows_excluded": t.rows_excluded,
                    **({"area_name_suggestions": dict(t.suggestions)} if t.suggestions else {}),
                    **({"area_name_resolutions": dict(t.resolutions)} if t.resolutions else {}),
                    "notes": list(t.notes),
                }
                for name, t in self.tables.items()
            },
        }

    def to_frame(self) -> pd.DataFrame:
        """Return one row per table and reason (reason ``accepted`` for the accepted rows)."""
        rows = []
        for name, t in self.tables.items():
            rows.append({"table": name, "reason": "accepted", "rows": t.rows_accepted})
            rows.extend({"table": name, "reason": r, "rows": n} for r, n in t.reasons.items())
        return pd.DataFrame(rows, columns=["table", "reason", "rows"])

    def summary_lines(self) -> list[str]:
        """Return the lines printed by ``protection-eval validate``."""
        lines = [f"mission {self.mission}: {'usable' if self.usable else 'NOT usable'}"]
        for name, t in self.tables.items():
            lines.append(
                f"  {name:<14} read {t.rows_read:>7}  accepted {t.rows_accepted:>7}  "
                f"quarantined {t.rows_rejected:>6}"
            )
            for reason, n in sorted(t.reasons.items(), key=lambda kv: -kv[1]):
                lines.append(f"      {n:>6}  {reason}: {REASONS[reason]}")
            if t.rows_excluded:
                lines.append(f"      {t.rows_excluded} rows of the file left out by `where`")
            if t.resolutions:
                lines.append("      area names read as countries (check them): " + ", ".join(
                    f"{name!r} -> {r['area_id']} ({r['area_name']})"
                    for name, r in t.resolutions.items()))
            if t.dropped_columns:
                lines.append(f"      dropped columns: {', '.join(t.dropped_columns)}")
            lines.extend(f"      note: {note}" for note in t.notes)
        lines.extend(f"  NOTE {n}" for n in self.notes)
        lines.extend(f"  ERROR {e}" for e in self.errors)
        return lines
