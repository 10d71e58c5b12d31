"""The personnel table: women and all uniformed personnel by mission, period, category, country.

Canonical columns (after :func:`to_personnel`):

``mission`` (text), ``period`` (``YYYY`` or ``YYYY-MM``), ``year`` (int), ``category`` (one of
:data:`CATEGORIES`), ``country`` (contributing country, empty when unknown), ``women`` and
``personnel`` (non-negative integers, women <= personnel) and ``source_row`` (line in the file).

A preset maps a publisher's columns to these (:data:`PERSONNEL_PRESETS`). Every input row is
accepted or quarantined with a reason; the counts reconcile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORIES",
    "PERSONNEL_COLUMNS",
    "PERSONNEL_PRESETS",
    "PersonnelInputError",
    "PersonnelPreset",
    "PersonnelTable",
    "to_personnel",
]

#: Personnel categories a row may carry; targets name the same words.
CATEGORIES = (
    "all_uniformed",
    "military",
    "military_contingents",
    "military_observers_staff_officers",
    "military_officers",
    "police",
    "formed_police_units",
    "individual_police_officers",
    "justice_corrections",
)

#: Canonical columns of an accepted personnel table.
PERSONNEL_COLUMNS = [
    "mission", "period", "year", "category", "country", "women", "personnel", "source_row",
]

_KEY = ["mission", "period", "category", "country"]


class PersonnelInputError(ValueError):
    """A personnel file that cannot be used at all; the message says what to do."""


@dataclass(frozen=True)
class PersonnelPreset:
    """How a publisher's file maps onto the canonical columns.

    Attributes
    ----------
    columns : dict
        Canonical name -> the file's column name.
    category : str or None
        The category of every row when the file has no category column.
    source : str
        Citation written into the ``source`` of every indicator built from the file.
    """

    columns: dict[str, str]
    category: str | None
    source: str


#: Presets by name (``--preset``).
PERSONNEL_PRESETS: dict[str, PersonnelPreset] = {
    "un-gender": PersonnelPreset(
        columns={"mission": "Mission", "period": "Year", "country": "Country",
                 "women": "Female", "personnel": "Total"},
        category="all_uniformed",
        source=(
            "UN Peacekeeping open data, uniformed personnel by gender, contributing country, "
            "mission and year (annual mean of monthly figures, all categories pooled), as "
            "compiled in github.com/corinnee/UN_Peacekeeping_Analytics (MIT)"
        ),
    ),
    "canonical": PersonnelPreset(
        columns={c: c for c in ("mission", "period", "category", "country", "women",
                                "personnel")},
        category=None,
        source="personnel table supplied by the mission",
    ),
}


@dataclass
class PersonnelTable:
    """Accepted and quarantined rows of one personnel file.

    Attributes
    ----------
    rows : pandas.DataFrame
        Accepted rows, :data:`PERSONNEL_COLUMNS`.
    rejected : pandas.DataFrame
        Quarantined rows: ``source_row, column, reason, detail``.
    source : str
        Citation of the data (from the preset).
    origin : str
        The file, for messages.
    notes : list of str
        What was done to the file as a whole (columns ignored...).
    """

    rows: pd.DataFrame
    rejected: pd.DataFrame
    source: str
    origin: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows in the file: accepted plus quarantined."""
        return len(self.rows) + len(self.rejected)

    def summary(self) -> str:
        """One line: rows read, accepted, quarantined by reason."""
        reasons = self.rejected["reason"].value_counts().to_dict() if len(self.rejected) else {}
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        return (f"{self.origin}: {self.rows_read} rows read, {len(self.rows)} accepted, "
                f"{len(self.rejected)} quarantined" + (f" ({detail})" if detail else ""))


def _whole_numbers(text: pd.Series) -> pd.Series:
    """Parse text cells as non-negative whole numbers; NaN where a cell is not one."""
    cleaned = text.str.strip()
    ok = cleaned.str.fullmatch(r"\d+(?:\.0*)?")
    return pd.to_numeric(cleaned.where(ok), errors="coerce")


def _periods(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (period text, year) from ``YYYY`` or ``YYYY-MM`` cells; NA where neither."""
    cleaned = text.str.strip()
    match = cleaned.str.extract(r"^(\d{4})(?:-(\d{2}))?$")
    year = pd.to_numeric(match[0], errors="coerce")
    month = pd.to_numeric(match[1], errors="coerce")
    bad_month = match[1].notna() & ~month.between(1, 12)
    valid = year.between(1990, 2100) & ~bad_month
    period = cleaned.where(valid)
    return period, year.where(valid)


def _category_labels(text: pd.Series) -> pd.Series:
    return text.str.strip().str.lower().map(lambda v: re.sub(r"[\s/-]+", "_", v))


def _check_columns(frame: pd.DataFrame, preset: PersonnelPreset, origin: str,
                   name: str) -> None:
    needed = {c: preset.columns[c] for c in ("mission", "period", "women", "personnel")}
    if preset.category is None:
        needed["category"] = preset.columns.get("category", "category")
    missing = [f"{src!r} (for {canon})" for canon, src in needed.items()
               if src not in frame.columns]
    if missing:
        raise PersonnelInputError(
            f"{origin}: column(s) {', '.join(missing)} not found with preset {name!r}; the file "
            f"has {[c for c in frame.columns if c != 'source_row']}. Rename the columns or choose "
            f"the preset that matches the file ({', '.join(PERSONNEL_PRESETS)})."
        )


def to_personnel(
    raw: pd.DataFrame, *, preset: str = "canonical", origin: str = "personnel"
) -> PersonnelTable:
    """Check a personnel file's rows: each accepted or quarantined with a reason.

    Parameters
    ----------
    raw : pandas.DataFrame
        The file's cells as text with a ``source_row`` column (as
        :func:`protection_eval.io.readers.read_raw_table` returns them).
    preset : str
        A key of :data:`PERSONNEL_PRESETS`: ``un-gender`` for the UN gender file,
        ``canonical`` for a file with the canonical column names.
    origin : str
        File name for messages.

    Returns
    -------
    PersonnelTable
        Accepted rows and quarantined rows (``source_row, column, reason, detail``).

    Raises
    ------
    PersonnelInputError
        Unknown preset, or a required column missing.
    """
    if preset not in PERSONNEL_PRESETS:
        raise PersonnelInputError(
            f"{origin}: unknown personnel preset {preset!r}; use one of "
            f"{', '.join(PERSONNEL_PRESETS)}"
        )
    spec = PERSONNEL_PRESETS[preset]
    _check_columns(raw, spec, origin, preset)
    raw = raw.reset_index(drop=True)
    cols = spec.columns
    text = {c: raw[s].astype(str) for c, s in cols.items() if s in raw.columns}
    out = pd.DataFrame({"source_row": raw["source_row"].to_numpy()}, index=raw.index)
    out["mission"] = text["mission"].str.strip()
    out["period"], out["year"] = _periods(text["period"])
    out["category"] = (_category_labels(text["category"]) if "category" in text
                       else spec.category)
    out["country"] = text["country"].str.strip() if "country" in text else ""
    out["women"] = _whole_numbers(text["women"])
    out["personnel"] = _whole_numbers(text["personnel"])
    reason = pd.Series(None, index=raw.index, dtype=object)
    column = pd.Series(None, index=raw.index, dtype=object)
    detail = pd.Series(None, index=raw.index, dtype=object)

    def refuse(mask: pd.Series, why: str, col: str, what: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool) & reason.isna()
        reason[mask], column[mask] = why, col
        detail[mask] = what[mask] if isinstance(what, pd.Series) else what

    refuse(out["mission"] == "", "missing_mission", cols["mission"], "empty cell")
    refuse(out["period"].isna(), "bad_period", cols["period"],
           "'" + text["period"] + "' is not a year (YYYY) or month (YYYY-MM) from 1990 to 2100")
    if "category" in text:
        refuse(~out["category"].isin(CATEGORIES), "unknown_category", cols["category"],
               "'" + text["category"] + f"' is not one of {', '.join(CATEGORIES)}")
    for name in ("women", "personnel"):
        refuse(out[name].isna(), f"bad_{name}", cols[name],
               "'" + text[name] + "' is not a whole number of 0 or more")
    refuse(out["women"] > out["personnel"], "women_exceed_personnel", cols["women"],
           "women " + text["women"] + " > personnel " + text["personnel"])
    alive = reason.isna()
    first_row = out.loc[alive].drop_duplicates(_KEY).set_index(_KEY)["source_row"]
    # Only accepted rows can repeat one another: a refused row already has its reason.
    dup = pd.Series(False, index=out.index)
    dup[alive] = out.loc[alive].duplicated(_KEY).to_numpy()
    if dup.any():
        keys = pd.MultiIndex.from_frame(out.loc[dup, _KEY])
        refuse(dup, "duplicate_row", "+".join(cols.get(c, c) for c in _KEY if c in cols),
               pd.Series([f"same mission, period, category and country as line {r}"
                          for r in first_row.reindex(keys).to_numpy()], index=out.index[dup]))
    accepted = out.loc[reason.isna()].copy()
    accepted["year"] = accepted["year"].astype(int)
    accepted["women"] = accepted["women"].astype(np.int64)
    accepted["personnel"] = accepted["personnel"].astype(np.int64)
    rejected = pd.DataFrame({"source_row": out["source_row"], "column": column,
                             "reason": reason, "detail": detail}).loc[reason.notna()]
    notes = []
    if spec.category is not None:
        notes.append(f"every row is category {spec.category!r} (preset {preset!r})")
    return PersonnelTable(
        rows=accepted[PERSONNEL_COLUMNS].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True),
        source=spec.source,
        origin=origin,
        notes=notes,
    )
