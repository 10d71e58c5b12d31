"""Differencing: totals of one population that give a small count away by subtraction.

Two published totals of the same incidents, one a part of the other, differ by the count of
incidents in one and not in the other. When that difference is from 1 to k-1 it is a small
cell, published as surely as if it were printed, however carefully each total was checked
against k on its own (DOMAIN.md rule 2: a suppressed cell must not be recoverable from totals
shown beside it).

A published total is a :class:`Margin`: a count of incidents of one mission over a run of months,
in one aggregation unit (the whole mission, an H3 cell, an area), under one name (the column or
key that carries it). The margins of a shared folder are read from its data files by their
columns, not their names, so a folder made by hand is read the same way:

- a JSON object with an ``incidents_total`` key (``coverage_summary.json``): every
  ``incidents_*`` count is a mission-wide total over the object's ``period``;
- a CSV with an ``n_incidents`` column (``effects.csv``): each distinct (mission, strategy,
  design) sample size is a mission-wide total over the run's period;
- a CSV with an ``incidents`` column and an ``h3_cell`` or ``area_id`` column (``gaps.csv``):
  each row is the total of one unit over the row's ``period``, and with a ``covered_share``
  beside it, the covered count it implies (``incidents_covered``).

Two margins are of **the same population** when they are of the same mission and unit, over the
same months or over months one of which holds the other. Within one file (:func:`close_totals`)
the totals of one mission and unit over one period are taken as parts of one another (the
models' samples are overlapping subsets of the period's incidents; a coverage summary's total
holds each of its parts, the incidents in scope hold the covered ones), so two that differ by 1
to k-1 are a finding; the disjoint parts of a coverage summary (left out, in scope) are not
compared with one another. Across runs (:func:`recoverable_cells`, used by the
ledger of :mod:`protection_eval.runs.ledger`) margins of the same name are compared; months
subtracted from months give new margins (January-June minus January-March is April-June), until
nothing new comes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "UNKNOWN_MONTH",
    "Margin",
    "Recovered",
    "close_totals",
    "margins_of_folder",
    "month_span",
    "recoverable_cells",
]

#: The months of a total whose file does not say them and whose run was not given: such totals
#: are still compared within their file, never across runs.
UNKNOWN_MONTH = "unknown"
_MONTH_RE = re.compile(r"((?:19|20)\d{2})-(0[1-9]|1[0-2])")


def month_span(text: Any) -> tuple[str, str] | None:
    """Return the first and last month (``YYYY-MM``) of a period written as text, else None.

    Reads ``2022-01 to 2023-12``, ``2023-01..2023-06``, ``2023-04`` and ISO dates
    (``2023-01-01..2023-06-30``): the first and last month written.
    """
    months = _MONTH_RE.findall(str(text or ""))
    if not months:
        return None
    return f"{months[0][0]}-{months[0][1]}", f"{months[-1][0]}-{months[-1][1]}"


def _index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Margin:
    """One published total of incidents.

    Attributes
    ----------
    file : str
        The shared file it was read from.
    where : str
        Its place in the file (a JSON key, a CSV row and column).
    mission : str
        The mission ("" when the file does not say).
    unit : str
        The aggregation unit: ``mission``, ``h3_cell=<id>`` or ``area_id=<id>``.
    name : str
        What the total is: the JSON key, or the column and the sample it describes.
    first, last : str
        The first and last month counted (``YYYY-MM``).
    value : int
        The total.
    """

    file: str
    where: str
    mission: str
    unit: str
    name: str
    first: str
    last: str
    value: int

    @property
    def label(self) -> str:
        """The margin's name and place, without its value."""
        return f"{self.file} {self.name} [{self.unit}] {self.first}..{self.last}"

    def to_dict(self) -> dict[str, Any]:
        """Return the margin as a plain dictionary (a line of the ledger)."""
        return asdict(self)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def _fraction(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


def _json_margins(name: str, text: str, default: tuple[str, str] | None) -> list[Margin]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict) or "incidents_total" not in data:
        return []
    span = month_span(data.get("period")) or default
    if span is None:
        return []
    out = []
    for key, value in data.items():
        number = _whole(value)
        if key.startswith("incidents_") and number is not None:
            mission = str(data.get("mission") or "")
            out.append(Margin(name, f"/{key}", mission, "mission", key, *span, number))
    return out


def _csv_margins(name: str, text: str, default: tuple[str, str] | None) -> list[Margin]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return []
    columns = set(rows[0])
    out: list[Margin] = []
    if "n_incidents" in columns:
        seen: set[tuple[str, str, int]] = set()
        for line, row in enumerate(rows, start=2):
            number = _whole(row.get("n_incidents"))
            sample = " ".join(str(row.get(c) or "") for c in ("strategy_id", "design")).strip()
            key = (str(row.get("mission") or ""), sample, number)
            if number is None or key in seen:
                continue
            seen.add(key)
            label = f"n_incidents ({sample})" if sample else "n_incidents"
            out.append(Margin(name, f"row {line}, n_incidents", key[0], "mission", label,
                              *(month_span(row.get("period")) or default
                                or (UNKNOWN_MONTH, UNKNOWN_MONTH)), number))
    unit_column = next((c for c in ("h3_cell", "area_id") if c in columns), None)
    if "incidents" in columns and unit_column is not None:
        for line, row in enumerate(rows, start=2):
            number = _whole(row.get("incidents"))
            span = month_span(row.get("period")) or default
            if number is None or span is None or not row.get(unit_column):
                continue
            unit = f"{unit_column}={row[unit_column]}"
            mission = str(row.get("mission") or "")
            out.append(Margin(name, f"row {line}, incidents", mission, unit, "incidents",
                              *span, number))
            # A covered share of a shown count gives the covered count, and the rest.
            share = _fraction(row.get("covered_share"))
            if share is not None:
                out.append(Margin(name, f"row {line}, covered_share", mission, unit,
                                  "incidents_covered", *span, round(share * number)))
    return out


def margins_of_folder(
    folder: str | Path, period: str | None = None, *, mission: str = ""
) -> list[Margin]:
    """Read every published total of incidents in a shared folder.

    Parameters
    ----------
    folder : str or Path
        The shared folder (its ``.json`` and ``.csv`` files are read).
    period : str, optional
        The run's period, for files that do not write theirs (``effects.csv``). Without it, and
        without a ``coverage_summary.json``-like file whose period is used instead, such totals
        are compared within their file only (their months are :data:`UNKNOWN_MONTH`).
    mission : str
        The mission, for files that do not name theirs.

    Returns
    -------
    list of Margin
        In file order.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    texts = {}
    for path in files:
        if path.suffix.lower() in {".json", ".csv"}:
            name = path.relative_to(folder).as_posix() if folder.is_dir() else path.name
            texts[name] = path.read_bytes().decode("utf-8-sig", errors="replace")
    default = month_span(period)
    found: list[Margin] = []
    for name, text in texts.items():
        if name.lower().endswith(".json"):
            found += _json_margins(name, text, default)
    if default is None:
        default = next(((m.first, m.last) for m in found), None)
    for name, text in texts.items():
        if name.lower().endswith(".csv"):
            found += _csv_margins(name, text, default)
    return [m if m.mission else Margin(**{**m.to_dict(), "mission": mission}) for m in found]


# Parts of a coverage summary's total that do not hold one another: their difference is not a
# count of any set of incidents. Every other pair of its totals is a whole and a part.
_DISJOINT_PARTS = frozenset(
    ("incidents_left_out_by_precision", "incidents_left_out_presence_unknown",
     "incidents_left_out_other", "incidents_in_scope", "incidents_covered",
     "incidents_date_only")
)
_NESTED_PARTS = (
    frozenset(("incidents_in_scope", "incidents_covered")),
    frozenset(("incidents_in_scope", "incidents_date_only")),
)


def _may_nest(a: Margin, b: Margin) -> bool:
    names = frozenset((a.name, b.name))
    return not names <= _DISJOINT_PARTS or names in _NESTED_PARTS


def close_totals(margins: Iterable[Margin], k: int) -> list[tuple[Margin, Margin]]:
    """Pairs of totals in one file, of one mission, unit and period, differing by 1 to k-1.

    Parameters
    ----------
    margins : iterable of Margin
        From :func:`margins_of_folder`.
    k : int
        The suppression threshold.

    Returns
    -------
    list of (Margin, Margin)
        The smaller total first; each pair once.
    """
    groups: dict[tuple[str, str, str, str, str], list[Margin]] = {}
    for margin in margins:
        key = (margin.file, margin.mission, margin.unit, margin.first, margin.last)
        groups.setdefault(key, []).append(margin)
    pairs = []
    for group in groups.values():
        ordered = sorted(group, key=lambda m: m.value)
        for i, low in enumerate(ordered):
            for high in ordered[i + 1 :]:
                if 1 <= high.value - low.value < k and _may_nest(low, high):
                    pairs.append((low, high))
    return pairs


@dataclass(frozen=True)
class Recovered:
    """A count from 1 to k-1 that published margins give back by subtraction.

    Attributes
    ----------
    mission, unit, name : str
        The population, as in :class:`Margin`.
    first, last : str
        The months of the recovered cell.
    value : int
        The recovered count (restricted: never shown outside the restricted part).
    sources : tuple of str
        How it is obtained: the labels of the margins subtracted, each with its run.
    """

    mission: str
    unit: str
    name: str
    first: str
    last: str
    value: int
    sources: tuple[str, ...]

    @property
    def label(self) -> str:
        """The cell and where it comes from, without its value."""
        return (f"{self.name} [{self.unit}] {self.first}..{self.last} = "
                + " minus ".join(self.sources))


def recoverable_cells(
    published: Sequence[tuple[Margin, str]], new: Sequence[Margin], k: int
) -> list[Recovered]:
    """Small counts that ``new`` margins, beside those already ``published``, give back.

    Margins of one mission, unit and name are intervals of months with a total. Whenever one
    interval holds another and shares an end with it, their difference is the total of the
    months between: a new margin, itself subtracted in turn. A derived total (or a difference
    between two totals of the same months, a revision) from 1 to k-1 that involves at least
    one new margin is returned. Intervals that overlap without one holding the other give no
    cell alone, and are left as they are.

    Parameters
    ----------
    published : sequence of (Margin, str)
        Margins already published, each with the run that published it.
    new : sequence of Margin
        Margins about to be published.
    k : int
        The suppression threshold.

    Returns
    -------
    list of Recovered
        Each cell once.
    """
    groups: dict[tuple[str, str, str], list[tuple[int, int, int, tuple[str, ...], bool]]] = {}
    new = [m for m in new if UNKNOWN_MONTH not in (m.first, m.last)]
    for margin, run in published:
        groups.setdefault((margin.mission, margin.unit, margin.name), []).append(
            (_index(margin.first), _index(margin.last), margin.value,
             (f"{margin.label} (run {run})",), False))
    for margin in new:
        key = (margin.mission, margin.unit, margin.name)
        if key in groups or any(m is not margin and (m.mission, m.unit, m.name) == key
                                for m in new):
            groups.setdefault(key, []).append(
                (_index(margin.first), _index(margin.last), margin.value,
                 (f"{margin.label} (this run)",), True))
    found: dict[tuple[str, str, str, int, int], Recovered] = {}
    for (mission, unit, name), intervals in groups.items():
        for first, last, value, sources in _derive(intervals, k):
            cell = (mission, unit, name, first, last)
            found.setdefault(cell, Recovered(mission, unit, name, _month(first), _month(last),
                                             value, sources))
    return list(found.values())


_MAX_DERIVED = 2_000


def _derive(
    intervals: list[tuple[int, int, int, tuple[str, ...], bool]], k: int
) -> list[tuple[int, int, int, tuple[str, ...]]]:
    """Subtract nested intervals to a fixed point; return small cells that involve new ones."""
    known: dict[tuple[int, int], tuple[int, tuple[str, ...], bool]] = {}
    small: list[tuple[int, int, int, tuple[str, ...]]] = []
    queue = list(intervals)
    while queue and len(known) < _MAX_DERIVED:
        first, last, value, sources, fresh = queue.pop(0)
        before = known.get((first, last))
        if before is not None:
            # The same months twice: a revision, whose difference is a count too.
            if (fresh or before[2]) and 1 <= abs(value - before[0]) < k:
                small.append((first, last, abs(value - before[0]), (*sources, *before[1])))
            continue
        known[(first, last)] = (value, sources, fresh)
        if fresh and 1 <= value < k and len(sources) > 1:
            small.append((first, last, value, sources))
        for (a, b), (other, other_sources, other_fresh) in list(known.items()):
            if (a, b) == (first, last):
                continue
            if a <= first and last <= b:
                outer, inner = ((a, b), other, other_sources), ((first, last), value, sources)
            elif first <= a and b <= last:
                outer, inner = ((first, last), value, sources), ((a, b), other, other_sources)
            else:
                continue
            (oa, ob), ov, osrc = outer
            (ia, ib), iv, isrc = inner
            if ia != oa and ib != ob:
                continue  # the difference is two separate runs of months: not one cell
            rest = (ib + 1, ob) if ia == oa else (oa, ia - 1)
            queue.append((*rest, ov - iv, (*osrc, *isrc), fresh or other_fresh))
    return small
