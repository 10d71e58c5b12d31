"""Differencing: totals of one population that give a small count away by subtraction.

Two published totals of the same incidents, one a part of the other, differ by the count of
incidents in one and not in the other. When that difference is from 1 to k-1 it is a small
cell, published as surely as if it were printed, however carefully each total was checked
against k on its own (DOMAIN.md rule 2: a suppressed cell must not be recoverable from totals
shown beside it).

The totals are :class:`Margin` objects read from every container of a shared folder by
:mod:`protection_eval.sharing.audit.margins` (tables, map layers, the brief; re-exported here).
Two margins are of **the same population** when they are of the same mission, unit and name.

- **Within one file** (:func:`close_totals`, every audit) the totals of one mission and unit
  over one period are taken as parts of one another (the models' samples are overlapping
  subsets of the period's incidents; a coverage summary's total holds each of its parts, the
  incidents in scope hold the covered ones), so two that differ by 1 to k-1 are a finding; the
  disjoint parts of a coverage summary (left out, in scope) are not compared with one another.
- **Across runs** (:func:`recoverable_cells`, used by the ledger of
  :mod:`protection_eval.runs.ledger`) each new margin is first compared with each other margin
  of its population (the same months revised, one window inside another), then every single run
  of months whose total the windows make known, by sums and differences, is computed. Neither
  step passes silently when it cannot finish: a population too long to combine raises
  :class:`DerivationCapReached`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protection_eval.sharing.audit.margins import (
    UNKNOWN_MONTH,
    Margin,
    margins_of_folder,
    month_span,
)

__all__ = [
    "UNKNOWN_MONTH",
    "DerivationCapReached",
    "Margin",
    "Recovered",
    "close_totals",
    "margins_of_folder",
    "month_span",
    "recoverable_cells",
]


def _index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


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
        How it is obtained: the labels of the margins combined, each with its run.
    outside : str
        When the cell is the months ``first..last`` outside a window inside them (a year
        minus its second quarter), that window; "" for a single run of months.
    """

    mission: str
    unit: str
    name: str
    first: str
    last: str
    value: int
    sources: tuple[str, ...]
    outside: str = ""

    @property
    def label(self) -> str:
        """The cell and where it comes from, without its value."""
        outside = f" outside {self.outside}" if self.outside else ""
        return (f"{self.name} [{self.unit}] {self.first}..{self.last}{outside} from "
                + " and ".join(self.sources))


class DerivationCapReached(ValueError):
    """A population has more published windows than the ledger combines; nothing may pass.

    Attributes
    ----------
    mission, unit, name : str
        The population.
    windows : int
        How many published windows it has, the new ones included.
    """

    def __init__(self, mission: str, unit: str, name: str, windows: int) -> None:
        self.mission, self.unit, self.name, self.windows = mission, unit, name, windows
        super().__init__(
            f"{name} [{unit}]: {windows} published windows give more combinations than the "
            f"ledger checks ({_MAX_PAIRS:,} pairs of month boundaries); the run was not "
            "checked against all of them, so it is refused. Withdraw old publications from "
            "circulation and from the ledger, or publish a coarser unit"
        )


#: Pairs of month boundaries the ledger examines for one population before it refuses.
_MAX_PAIRS = 2_000_000

_Window = tuple[int, int, int, str]  # first, last (month indices), value, label


def recoverable_cells(
    published: Sequence[tuple[Margin, str]], new: Sequence[Margin], k: int
) -> list[Recovered]:
    """Small counts that ``new`` margins, beside those already ``published``, give back.

    Margins of one mission, unit and name are windows of months with a total. Two checks run,
    in this order, and every count from 1 to k-1 that involves a new margin is returned:

    1. **Each new margin against each other margin** of its population, published or new:
       the same months with another total (a revision: the difference is the late reports), or
       one window inside the other (the difference is the months of the outer one outside the
       inner one: a single run of months when they share an end, else two).
    2. **Every combination.** A window's total is the difference of the cumulative count at its
       two month boundaries, so the windows form a graph on the boundaries, and the total of a
       single run of months is known as soon as its two boundaries are connected. Each new
       margin that connects two groups of boundaries makes every run of months between the two
       groups known (January-June and April-September beside a new January-September give
       April-June); one that closes a loop is compared with the total the loop gives.

    The first check is linear in the ledger and runs first; the second examines pairs of
    boundaries and stops at :data:`_MAX_PAIRS` for one population by raising, never by passing.

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

    Raises
    ------
    DerivationCapReached
        When a population's windows would need more than :data:`_MAX_PAIRS` pairs.
    """
    groups: dict[tuple[str, str, str], tuple[list[_Window], list[_Window]]] = {}
    for margin, run in published:
        groups.setdefault((margin.mission, margin.unit, margin.name), ([], []))[0].append(
            (_index(margin.first), _index(margin.last), margin.value,
             f"{margin.label} (run {run})"))
    for margin in new:
        if UNKNOWN_MONTH in (margin.first, margin.last):
            continue
        groups.setdefault((margin.mission, margin.unit, margin.name), ([], []))[1].append(
            (_index(margin.first), _index(margin.last), margin.value,
             f"{margin.label} (this run)"))
    found: dict[tuple[str, ...], Recovered] = {}
    for (mission, unit, name), (old, fresh) in groups.items():
        if not fresh:
            continue
        cells = _against_each(old, fresh, k)
        cells += _combined(old, fresh, k, (mission, unit, name))
        for first, last, value, sources, outside in cells:
            key = (mission, unit, name, _month(first), _month(last), outside)
            found.setdefault(key, Recovered(mission, unit, name, _month(first), _month(last),
                                            value, sources, outside))
    return list(found.values())


_Cell = tuple[int, int, int, tuple[str, ...], str]


def _against_each(old: list[_Window], fresh: list[_Window], k: int) -> list[_Cell]:
    """Each new window against each other window: revisions and nested windows."""
    cells: list[_Cell] = []
    for i, (a, b, value, label) in enumerate(fresh):
        for c, d, other, other_label in [*old, *fresh[:i]]:
            if (a, b) == (c, d):
                outer, inner = (a, b), None
            elif c <= a and b <= d:
                outer, inner = (c, d), (a, b)
            elif a <= c and d <= b:
                outer, inner = (a, b), (c, d)
            else:
                continue  # overlapping without holding: their difference counts no set
            difference = abs(value - other)
            if not 1 <= difference < k:
                continue
            sources = (label, other_label)
            if inner is None:
                cells.append((a, b, difference, sources, ""))
            elif inner[0] == outer[0]:
                cells.append((inner[1] + 1, outer[1], difference, sources, ""))
            elif inner[1] == outer[1]:
                cells.append((outer[0], inner[0] - 1, difference, sources, ""))
            else:
                cells.append((*outer, difference, sources,
                              f"{_month(inner[0])}..{_month(inner[1])}"))
    return cells


class _Boundaries:
    """Month boundaries joined by published windows (a weighted union-find with its forest).

    Boundary ``n`` is the start of month ``n``; a window of months ``a..b`` with total ``v``
    says that the cumulative count rises by ``v`` from boundary ``a`` to boundary ``b + 1``.
    """

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.rise: dict[int, int] = {}  # cumulative count at n minus at parent[n]
        self.members: dict[int, list[int]] = {}
        self.links: dict[int, list[tuple[int, str]]] = {}

    def find(self, node: int) -> tuple[int, int]:
        """Return the root of ``node`` and the cumulative count at node minus at the root."""
        if node not in self.parent:
            self.parent[node], self.rise[node], self.members[node] = node, 0, [node]
            self.links[node] = []
        path = []
        while self.parent[node] != node:
            path.append(node)
            node = self.parent[node]
        root, total = node, 0
        for step in reversed(path):
            total += self.rise[step]
            self.parent[step], self.rise[step] = root, total
        return root, (self.rise[path[0]] if path else 0)

    def join(self, start: int, end: int, value: int, label: str) -> None:
        (root_a, at_a), (root_b, at_b) = self.find(start), self.find(end)
        self.parent[root_b] = root_a
        self.rise[root_b] = value + at_a - at_b
        self.members[root_a] += self.members.pop(root_b)
        self.links[start].append((end, label))
        self.links[end].append((start, label))

    def route(self, start: int, end: int) -> tuple[str, ...]:
        """Return the labels of the windows joining two boundaries (one path of the forest)."""
        previous: dict[int, tuple[int, str] | None] = {start: None}
        queue = [start]
        while queue and end not in previous:
            node = queue.pop(0)
            for other, label in self.links[node]:
                if other not in previous:
                    previous[other] = (node, label)
                    queue.append(other)
        labels = []
        node = end
        while previous.get(node) is not None:
            node, label = previous[node]
            labels.append(label)
        return tuple(reversed(labels))


def _combined(
    old: list[_Window], fresh: list[_Window], k: int, population: tuple[str, str, str]
) -> list[_Cell]:
    """Every single run of months that the new windows make known, beside the old ones."""
    graph = _Boundaries()
    for first, last, value, label in old:
        if graph.find(first)[0] != graph.find(last + 1)[0]:
            graph.join(first, last + 1, value, label)
    cells: list[_Cell] = []
    pairs = 0
    for first, last, value, label in fresh:
        start, end = first, last + 1
        (root_a, at_a), (root_b, at_b) = graph.find(start), graph.find(end)
        if root_a == root_b:
            # A loop: the total the other windows give for these months, and this one.
            difference = abs(value - (at_b - at_a))
            if 1 <= difference < k:
                cells.append((first, last, difference, (label, *graph.route(start, end)), ""))
            continue
        left = [(x, graph.find(x)[1]) for x in graph.members[root_a]]
        right = [(y, graph.find(y)[1]) for y in graph.members[root_b]]
        pairs += len(left) * len(right)
        if pairs > _MAX_PAIRS:
            raise DerivationCapReached(*population, len(old) + len(fresh))
        # Cumulative count at y minus at x, for x joined to start and y joined to end.
        shift = value + at_a - at_b
        small = [(x, y) for x, at_x in left for y, at_y in right
                 if (x, y) != (start, end) and 1 <= abs(at_y + shift - at_x) < k]
        graph.join(start, end, value, label)
        for x, y in small:
            count = abs(graph.find(y)[1] - graph.find(x)[1])
            low, high = min(x, y), max(x, y)
            cells.append((low, high - 1, count, graph.route(low, high), ""))
    return cells
