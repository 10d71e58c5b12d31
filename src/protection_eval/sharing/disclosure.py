"""Aggregation for sharing: hexagons, months, suppression and complementary suppression.

Every shared artefact (maps, briefs, gap lists, effect tables) builds its numbers here, so that
the survivor-safety rules of DOMAIN.md hold in one place:

* places are H3 hexagons or administrative areas, never points;
* time is a calendar month (``"YYYY-MM"``), never a day or a time of day;
* a count from 1 to k-1 is suppressed (*primary* suppression), k from the mission's
  ``sharing.min_count`` and never below 5;
* when totals are shown beside the cells, further cells are suppressed (*complementary*
  suppression) until no suppressed value can be solved for from the visible cells and totals;
* a rate or share built on a suppressed count is suppressed with it
  (:func:`suppress_dependent`);
* where fine hexagons would hold fewer than k reports, they merge into their coarser H3 parents,
  place by place (:func:`adaptive_cells`), so that sparse data still show their reports: the
  shared units then form one partition of mixed resolutions, and complementary suppression
  runs over that partition.

The raw counts stay in the :class:`SharedTable` for the restricted part of a run;
:meth:`SharedTable.shared` is the only view meant for the shared part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.hexgrid import cell_resolution, to_parent_cells
from protection_eval.model import to_local_naive

__all__ = [
    "DisclosureError",
    "SharedTable",
    "adaptive_cells",
    "aggregate_counts",
    "check_k",
    "k_from_config",
    "month_floor",
    "suppress_counts",
    "suppress_dependent",
]


_PRIMARY = "primary"
_COMPLEMENTARY = "complementary"
#: Coarsest H3 resolution the adaptive aggregation merges up to (about 12,400 km2 a hexagon):
#: coarser units would no longer tell a commander where to look.
MIN_ADAPTIVE_RESOLUTION = 3
# Numerical tolerance of the "is this suppressed value solvable" test (projections are 0 or 1).
_SOLVABLE_TOL = 1e-8


class DisclosureError(ValueError):
    """A request that would make a shared output disclose more than the rules allow."""


def check_k(k: int) -> int:
    """Return ``k`` if it is an allowed suppression threshold.

    Parameters
    ----------
    k : int
        Smallest count that may be shown.

    Returns
    -------
    int
        ``k`` unchanged.

    Raises
    ------
    DisclosureError
        When ``k`` is not an integer of at least :data:`MIN_K` (5).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < MIN_K:
        raise DisclosureError(
            f"suppression threshold k={k!r} is not allowed: shared counts need k >= {MIN_K} "
            "(set sharing.min_count in the mission YAML to 5 or more)"
        )
    return int(k)


def k_from_config(config: Any) -> int:
    """Read k from a mission configuration's ``sharing.min_count``.

    Parameters
    ----------
    config : MissionConfig or mapping
        A :class:`protection_eval.config.MissionConfig`, or the parsed YAML as a dict.

    Returns
    -------
    int
        The checked threshold (5 when the configuration does not set one).

    Raises
    ------
    DisclosureError
        When the configured value is below 5.
    """
    sharing = config.get("sharing") if isinstance(config, dict) else config.sharing
    if sharing is None:
        return MIN_K
    value = sharing.get("min_count", MIN_K) if isinstance(sharing, dict) else sharing.min_count
    return check_k(value)


def month_floor(times: Iterable[Any], timezone: str | None = None) -> pd.Series:
    """Return the calendar month of each time as a ``"YYYY-MM"`` label.

    Shared outputs never carry anything finer than a month; a label (not a timestamp at the
    first of the month) keeps a reader, and the audit, from mistaking it for a day.

    Parameters
    ----------
    times : array-like of datetime-like
        Timestamps (naive, or timezone-aware such as the canonical UTC columns) or calendar
        dates.
    timezone : str, optional
        IANA zone (the mission's ``timezone``) in which to read timezone-aware times, so that
        an incident at 23:00 UTC on 30 April in Juba counts in May, as coverage does. Without
        it, aware times are read in their stored zone and naive ones as they are.

    Returns
    -------
    pandas.Series
        String labels such as ``"2023-04"``; missing where the time is missing.
    """
    index = times.index if isinstance(times, pd.Series) else None
    values = times if index is not None else pd.Series(list(times))
    values = pd.Series(pd.to_datetime(values), index=index)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = to_local_naive(values, timezone) if timezone else values.dt.tz_localize(None)
    labels = values.dt.strftime("%Y-%m").astype("string")
    return labels.rename("month")


@dataclass(frozen=True)
class SharedTable:
    """Counts ready for sharing, with what was suppressed and why.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per cell: the grouping columns, then ``<count_col>_raw`` (Int64, the true count:
        restricted, never shared), ``<count_col>`` (Int64, NA where suppressed), ``suppressed``
        (bool) and ``suppression`` (``""``, ``"primary"`` for a count from 1 to k-1 or
        ``"complementary"`` for a cell hidden so that no suppressed count can be solved for).
    totals : dict of tuple of str to pandas.DataFrame
        For each margin (the grouping columns it keeps; ``()`` is the grand total), the totals
        with the same count, ``suppressed`` and ``suppression`` columns.
    count_col : str
        Name of the display column.
    k : int
        Threshold used: counts from 1 to k-1 are suppressed.
    """

    cells: pd.DataFrame
    count_col: str
    k: int
    totals: dict[tuple[str, ...], pd.DataFrame] = field(default_factory=dict)

    @property
    def primary(self) -> pd.Index:
        """Index labels of the cells suppressed because their count is from 1 to k-1."""
        return self.cells.index[self.cells["suppression"] == _PRIMARY]

    @property
    def complementary(self) -> pd.Index:
        """Index labels of the cells suppressed to protect another suppressed cell."""
        return self.cells.index[self.cells["suppression"] == _COMPLEMENTARY]

    def shared(self) -> pd.DataFrame:
        """Return the cells as they may be shared: no raw count, no reason for suppression.

        Returns
        -------
        pandas.DataFrame
            The grouping columns, ``<count_col>`` (Int64, NA where suppressed) and ``suppressed``.
        """
        return self.cells.drop(columns=[f"{self.count_col}_raw", "suppression"])

    def shared_totals(self, margin: Sequence[str] = ()) -> pd.DataFrame:
        """Return one margin's totals as they may be shared.

        Parameters
        ----------
        margin : sequence of str
            The margin's grouping columns, as given to :func:`suppress_counts`; ``()`` is the
            grand total.

        Returns
        -------
        pandas.DataFrame
            The margin's grouping columns, ``<count_col>`` (NA where suppressed), ``suppressed``.
        """
        table = self.totals[tuple(margin)]
        return table.drop(columns=[f"{self.count_col}_raw", "suppression"])

    def to_frame(self) -> pd.DataFrame:
        """Return the cells with raw counts and reasons (restricted use only)."""
        return self.cells.copy()


def _margin_codes(table: pd.DataFrame, margin: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    if not margin:
        return np.zeros(len(table), dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1))
    missing = [c for c in margin if c not in table.columns]
    if missing:
        raise DisclosureError(f"margin {margin} names columns {missing} that the table lacks")
    grouped = table.groupby(list(margin), sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().reset_index().drop(columns=0)
    return codes, keys


def _solvable(
    n_cells: int,
    margins: list[np.ndarray],
    n_groups: list[int],
    hidden_cells: np.ndarray,
    hidden_totals: list[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which hidden values can be solved for from the visible ones and the margin equations.

    Every shown margin gives, per group, ``total - sum(cells in group) = 0``. Moving visible
    values to the right-hand side leaves a linear system in the hidden ones; a hidden value is
    determined exactly when its unit vector lies in the row space of that system.
    """
    columns = np.flatnonzero(hidden_cells).tolist()
    position = {c: i for i, c in enumerate(columns)}
    total_pos: list[dict[int, int]] = []
    for hidden in hidden_totals:
        offsets = {}
        for g in np.flatnonzero(hidden):
            offsets[int(g)] = len(position) + sum(len(p) for p in total_pos) + len(offsets)
        total_pos.append(offsets)
    n_unknown = len(position) + sum(len(p) for p in total_pos)
    solved_cells = np.zeros(n_cells, dtype=bool)
    solved_totals = [np.zeros(n, dtype=bool) for n in n_groups]
    if n_unknown == 0 or not margins:
        return solved_cells, solved_totals
    rows = []
    for m, codes in enumerate(margins):
        block = np.zeros((n_groups[m], n_unknown))
        for cell, col in position.items():
            block[codes[cell], col] = -1.0
        for g, col in total_pos[m].items():
            block[g, col] = 1.0
        rows.append(block[np.abs(block).sum(axis=1) > 0])
    system = np.vstack(rows)
    if system.size == 0:
        return solved_cells, solved_totals
    _, sing, vt = np.linalg.svd(system, full_matrices=False)
    rank = int((sing > _SOLVABLE_TOL * max(system.shape) * sing.max()).sum())
    basis = vt[:rank]
    determined = np.abs((basis**2).sum(axis=0) - 1.0) < 1e-6
    for cell, col in position.items():
        solved_cells[cell] = determined[col]
    for m, offsets in enumerate(total_pos):
        for g, col in offsets.items():
            solved_totals[m][g] = determined[col]
    return solved_cells, solved_totals


def _pick_partner(
    raw: np.ndarray,
    candidates: np.ndarray,
    hidden: np.ndarray,
    codes_list: list[np.ndarray],
    members: list[list[np.ndarray]],
    total_kind: list[np.ndarray],
) -> int | None:
    """Choose the visible cell to hide beside an exposed one.

    Prefer a cell whose other margin groups already hold a hidden cell (it closes a cycle, so
    fewer cells are lost overall), then the smallest positive count, then a zero.
    """
    if candidates.size == 0:
        return None

    def score(cell: int) -> tuple[int, int, int]:
        linked = sum(
            bool(hidden[members[m][codes[cell]]].any())
            for m, codes in enumerate(codes_list)
            if len(members[m]) > 1 and total_kind[m][codes[cell]] == ""
        )
        return (-linked, int(raw[cell] == 0), int(raw[cell]))

    return min((int(c) for c in candidates), key=score)


def _with_suppression(
    frame: pd.DataFrame, count_col: str, raw: np.ndarray, kind: np.ndarray
) -> pd.DataFrame:
    """Return ``frame`` with the raw count, the count as shown (NA where suppressed) and why."""
    out = frame.copy()
    out[f"{count_col}_raw"] = pd.array(raw, dtype="Int64")
    shown = pd.array(raw, dtype="Int64")
    shown[kind != ""] = pd.NA
    out[count_col] = shown
    out["suppressed"] = kind != ""
    out["suppression"] = pd.array(kind.tolist(), dtype="string")
    return out


@dataclass(frozen=True)
class _Margins:
    """The margins of one table, each as the group of every cell, the groups and their totals.

    Attributes
    ----------
    codes : list of numpy.ndarray
        Per margin, the group number of each cell.
    keys : list of pandas.DataFrame
        Per margin, the grouping columns' values of each group, in group order.
    totals : list of numpy.ndarray
        Per margin, the true total of each group.
    members : list of list of numpy.ndarray
        Per margin and group, the positions of the group's cells.
    n_groups : list of int
        Per margin, the number of groups.
    """

    codes: list[np.ndarray]
    keys: list[pd.DataFrame]
    totals: list[np.ndarray]
    members: list[list[np.ndarray]]
    n_groups: list[int]


def _whole_counts(table: pd.DataFrame, count_col: str) -> np.ndarray:
    """Return the count column as integers, refusing a missing column or a count not whole."""
    if count_col not in table.columns:
        raise DisclosureError(f"count column {count_col!r} is not in the table")
    raw_series = pd.to_numeric(table[count_col], errors="coerce")
    if raw_series.isna().any() or (raw_series < 0).any() or (raw_series % 1 != 0).any():
        raise DisclosureError(f"column {count_col!r} must hold non-negative whole counts")
    return raw_series.to_numpy(dtype=np.int64)


def _margins_of(
    table: pd.DataFrame, raw: np.ndarray, margin_keys: list[tuple[str, ...]]
) -> _Margins:
    """Group the cells by each margin and total the true counts per group."""
    codes_list, keys_list, totals_raw = [], [], []
    for margin in margin_keys:
        codes, keys = _margin_codes(table, margin)
        codes_list.append(codes)
        keys_list.append(keys)
        totals_raw.append(np.bincount(codes, weights=raw, minlength=len(keys)).astype(np.int64))
    n_groups = [len(t) for t in totals_raw]
    members = [
        [np.flatnonzero(c == g) for g in range(ng)]
        for c, ng in zip(codes_list, n_groups, strict=True)
    ]
    return _Margins(codes_list, keys_list, totals_raw, members, n_groups)


def _primary(counts: np.ndarray, k: int) -> np.ndarray:
    """Return each value's reason for suppression so far: primary for 1 to k-1, else none."""
    return np.where((counts >= 1) & (counts < k), _PRIMARY, "").astype(object)


def _suppress_complementary(
    raw: np.ndarray, kind: np.ndarray, total_kind: list[np.ndarray], margins: _Margins
) -> None:
    """Hide values beside the exposed ones until no hidden value can be solved for (in place)."""
    while True:
        hidden = kind != ""
        hidden_totals = [tk != "" for tk in total_kind]
        solved, solved_totals = _solvable(
            len(raw), margins.codes, margins.n_groups, hidden, hidden_totals
        )
        if not solved.any() and not any(s.any() for s in solved_totals):
            return
        exposed = _exposed_groups(solved, solved_totals, margins.codes)
        if not _hide_beside(raw, kind, total_kind, margins, exposed):
            # Nothing visible left to hide beside the exposed values: share less, hide it all.
            kind[kind == ""] = _COMPLEMENTARY
            for tk in total_kind:
                tk[tk == ""] = _COMPLEMENTARY


def _exposed_groups(
    solved: np.ndarray, solved_totals: list[np.ndarray], codes_list: list[np.ndarray]
) -> list[list[tuple[int, int]]]:
    """Return, per solvable value, the (margin, group) pairs whose equations expose it."""
    exposed = [
        [(m, int(codes_list[m][i])) for m in range(len(codes_list))]
        for i in np.flatnonzero(solved)
    ]
    exposed += [[(m, int(g))] for m, s in enumerate(solved_totals) for g in np.flatnonzero(s)]
    return exposed


def _hide_beside(
    raw: np.ndarray,
    kind: np.ndarray,
    total_kind: list[np.ndarray],
    margins: _Margins,
    exposed: list[list[tuple[int, int]]],
) -> bool:
    """Hide one more value beside each exposed one, in place; return whether any was hidden."""
    added = False
    touched: set[tuple[int, int]] = set()
    for groups in exposed:
        if touched.intersection(groups):
            continue
        order = _protecting_order(groups, kind, total_kind, margins.members)
        group = _hide_partner_cell(raw, kind, total_kind, margins, order)
        if group is None:
            group = _hide_sibling_total(total_kind, margins.totals, order)
        if group is not None:
            touched.add(group)
            added = True
    return added


def _protecting_order(
    groups: list[tuple[int, int]],
    kind: np.ndarray,
    total_kind: list[np.ndarray],
    members: list[list[np.ndarray]],
) -> list[tuple[int, int]]:
    """Order the exposing groups by where a value should be hidden first."""
    # Prefer a group whose total is shown (it is the equation that exposes), then the
    # group where the exposed value is the most alone.
    return sorted(
        groups,
        key=lambda mg: (
            total_kind[mg[0]][mg[1]] != "",
            int((kind[members[mg[0]][mg[1]]] != "").sum()),
        ),
    )


def _hide_partner_cell(
    raw: np.ndarray,
    kind: np.ndarray,
    total_kind: list[np.ndarray],
    margins: _Margins,
    order: list[tuple[int, int]],
) -> tuple[int, int] | None:
    """Hide a visible cell in the first group of ``order`` that has one; return that group."""
    for m, g in order:
        group = margins.members[m][g]
        partner = _pick_partner(
            raw, group[kind[group] == ""], kind != "", margins.codes, margins.members, total_kind
        )
        if partner is not None:
            kind[partner] = _COMPLEMENTARY
            return m, g
    return None


def _hide_sibling_total(
    total_kind: list[np.ndarray], totals_raw: list[np.ndarray], order: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """Hide the smallest visible total of the first margin in ``order`` that shows one."""
    # Every cell beside the exposed value is hidden already: hide a sibling total instead.
    for m, g in order:
        visible = np.flatnonzero(total_kind[m] == "")
        if visible.size:
            sibling = visible[np.argmin(totals_raw[m][visible])]
            total_kind[m][sibling] = _COMPLEMENTARY
            return m, g
    return None


def suppress_counts(
    table: pd.DataFrame,
    count_col: str,
    k: int,
    *,
    margins: Sequence[Sequence[str]] = (),
) -> SharedTable:
    """Suppress small counts, and enough others that the totals shown cannot reveal them.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell (e.g. area x month) with the grouping columns and a non-negative
        integer count column.
    count_col : str
        The count column. In the result it becomes the display column (NA where suppressed)
        and the true count moves to ``<count_col>_raw``.
    k : int
        Threshold: counts from 1 to k-1 are suppressed (zeros are shown). At least 5.
    margins : sequence of sequence of str
        The totals shown in the same artefact, each named by the grouping columns it keeps:
        ``[("area_id",), ("month",), ()]`` means totals per area, per month and the grand
        total. A total from 1 to k-1 is itself suppressed.

    Returns
    -------
    SharedTable
        Cells and totals with display counts and the reason for each suppression.

    Notes
    -----
    Primary suppression hides counts from 1 to k-1. Then, while any hidden value (cell or
    total) can be solved for exactly from the visible cells and the margin equations, the
    smallest positive visible cell in a margin group of that value is hidden as well
    (complementary suppression; a visible zero only when no positive cell is left). The test is
    exact linear algebra, so it also catches recovery through chains of margins (a hidden
    row total recovered from the grand total, then a hidden cell from that row).
    """
    k = check_k(k)
    raw = _whole_counts(table, count_col)
    margin_keys = [tuple(m) for m in margins]
    found = _margins_of(table, raw, margin_keys)
    kind = _primary(raw, k)
    total_kind = [_primary(totals, k) for totals in found.totals]
    _suppress_complementary(raw, kind, total_kind, found)
    cells = _with_suppression(table, count_col, raw, kind)
    totals = {
        margin: _with_suppression(keys, count_col, t_raw, t_kind)
        for margin, keys, t_raw, t_kind in zip(
            margin_keys, found.keys, found.totals, total_kind, strict=True
        )
    }
    return SharedTable(cells=cells, count_col=count_col, k=k, totals=totals)


def aggregate_counts(
    frame: pd.DataFrame,
    by: Sequence[str],
    *,
    k: int,
    margins: Sequence[Sequence[str]] = (),
    index: pd.DataFrame | None = None,
    count_col: str = "incidents",
) -> SharedTable:
    """Count rows per cell (hexagon or area, optionally month) and suppress for sharing.

    Parameters
    ----------
    frame : pandas.DataFrame
        Row-level records, e.g. incidents with ``h3_cell`` (from
        :func:`protection_eval.hexgrid.to_h3_cells`) or ``area_id``, and ``month`` (from
        :func:`month_floor`).
    by : sequence of str
        Grouping columns. A datetime column is refused: take :func:`month_floor` first.
    k : int
        Suppression threshold (see :func:`k_from_config`), at least 5.
    margins : sequence of sequence of str
        Totals shown beside the cells in the same artefact (see :func:`suppress_counts`).
    index : pandas.DataFrame, optional
        Every cell to report, as a frame of the ``by`` columns (e.g. all areas x all months),
        so that cells without records show 0 instead of being absent.
    count_col : str
        Name of the count column, ``"incidents"`` by default.

    Returns
    -------
    SharedTable
        See :class:`SharedTable`; ``cells`` has the ``by`` columns, ``<count_col>_raw``,
        ``<count_col>``, ``suppressed`` and ``suppression``.
    """
    by = list(by)
    for column in by:
        if column not in frame.columns:
            raise DisclosureError(f"grouping column {column!r} is not in the frame")
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            raise DisclosureError(
                f"grouping column {column!r} holds timestamps; shared outputs are monthly: "
                "group by month_floor(...) instead"
            )
    counts = frame.groupby(by, dropna=False, sort=True).size().rename(count_col).reset_index()
    if index is not None:
        counts = index[by].drop_duplicates().merge(counts, on=by, how="left")
        counts[count_col] = counts[count_col].fillna(0)
    counts[count_col] = counts[count_col].astype("int64")
    return suppress_counts(counts, count_col, k, margins=margins)


def suppress_dependent(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    on: str | Sequence[str] = "incidents",
) -> pd.DataFrame:
    """Blank every rate or share built on a suppressed count.

    Parameters
    ----------
    frame : pandas.DataFrame
        A shared table whose count columns are NA where suppressed (e.g.
        :meth:`SharedTable.shared` with rates added).
    columns : sequence of str
        The derived columns (rates, shares, ratios) to blank.
    on : str or sequence of str
        The count column(s) they are built on; a row is blanked when any of them is NA.

    Returns
    -------
    pandas.DataFrame
        A copy with ``columns`` set to NA where a count they depend on is suppressed.
    """
    on = [on] if isinstance(on, str) else list(on)
    out = frame.copy()
    hidden = out[on].isna().any(axis=1).to_numpy()
    for column in columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            values = values.astype("Float64")
        else:
            values = values.astype(object)
        out[column] = values.mask(hidden)
    return out


def adaptive_cells(
    cells: pd.Series,
    counts: pd.Series,
    k: int,
    *,
    min_resolution: int = MIN_ADAPTIVE_RESOLUTION,
) -> pd.Series:
    """Merge fine H3 cells holding too few reports into coarser parents, place by place.

    Going up one resolution at a time, the units holding from 1 to k-1 reports that share an
    ancestor at that resolution are pooled into one unit named by the ancestor; units that
    already reach k keep their place. A coarse unit therefore counts the reports of its
    hexagon *outside* the finer units drawn on it, so the units split the reports into disjoint
    sets (every report in exactly one unit) and no shown count is a difference of other shown
    counts. Dense places keep their fine cells, sparse places get coarse ones. Units still
    below k at ``min_resolution`` are left for suppression.

    Parameters
    ----------
    cells : pandas.Series
        H3 cell ids, all of one resolution (the gap resolution), one row per cell.
    counts : pandas.Series
        Reports per cell (non-negative whole numbers), aligned with ``cells``.
    k : int
        Suppression threshold (at least 5).
    min_resolution : int
        The coarsest resolution to merge up to.

    Returns
    -------
    pandas.Series
        The unit (the cell itself or one of its ancestors) of each cell, indexed like
        ``cells``, named ``unit``.
    """
    k = check_k(k)
    units = pd.Series(cells.astype(str).to_numpy(), index=cells.index, name="unit")
    if units.empty:
        return units
    values = pd.Series(pd.to_numeric(counts, errors="raise").to_numpy(dtype=np.int64),
                       index=cells.index)
    finest = max(cell_resolution(c) for c in units.unique())
    for level in range(finest - 1, min_resolution - 1, -1):
        per_unit = values.groupby(units.to_numpy()).sum()
        small = per_unit.index[(per_unit >= 1) & (per_unit < k)].to_list()
        if not small:
            break
        ancestor = dict(zip(small, to_parent_cells(small, level), strict=True))
        units = units.map(lambda u, a=ancestor: a.get(u, u))
    return units.rename("unit")
