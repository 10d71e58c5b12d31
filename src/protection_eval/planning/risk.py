"""Expected reports per planning unit next month: a kernel estimate, with its uncertainty.

The estimate is **reports** expected, not incidents: it forecasts what will be recorded, and
more patrols or more trust can raise it while violence falls. It is built in three steps, each
documented in ``docs/planning.md``:

1. **Where**: the reports of the history months per unit. When a caller passes a ``coarsen``
   function (the shared units of :func:`protection_eval.sharing.disclosure.adaptive_cells`),
   units holding from 1 to k-1 reports are merged into coarser hexagons first, and each merged
   hexagon's reports are spread evenly over all the planning units inside it: the plan is then
   built only from counts a shared map may show, so no unit below k can be read back from it.
   Reports of a merged hexagon still below k at the coarsest level are left out.
2. **Smoothed in space**: a Gaussian kernel of H3 grid distance (bandwidth in rings), each
   unit's value the kernel-weighted mean of its neighbourhood; the result, divided by its sum,
   is each unit's share of the mission's reports.
3. **Smoothed in time**: the mission's expected total for the month is the exponentially
   weighted mean of its monthly totals (half-life in months), and a unit's risk is its share of
   that total.

The uncertainty is a parametric bootstrap: each unit's (or merged hexagon's) count and each
month's total redrawn as Poisson around what was seen, the estimate recomputed, and the 2.5 and
97.5 percentiles kept. It is the uncertainty of the expected value, not of next month's count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd
from scipy import sparse

from protection_eval.config import MIN_K
from protection_eval.hexgrid import cell_resolution
from protection_eval.planning.history import History
from protection_eval.planning.options import PlanOptions

__all__ = ["RISK_CAVEAT", "RiskEstimate", "estimate_risk"]

#: Said beside every risk figure.
RISK_CAVEAT = (
    "Risk is reports expected, not incidents: it forecasts what will be recorded, and more "
    "patrols or more trust can raise reports while violence falls."
)
#: Bootstrap draws of the risk's interval.
RISK_DRAWS = 200

Coarsen = Callable[[pd.Series, pd.Series, int], pd.Series]


@dataclass
class RiskEstimate:
    """Expected reports per planning unit in one month (restricted).

    Attributes
    ----------
    month : pandas.Period
        The month forecast.
    cells : pandas.DataFrame
        ``h3_cell``, ``unit`` (the hexagon whose count placed it: itself, a coarser hexagon,
        or empty where nothing was reported), ``risk`` (expected reports), ``risk_se``,
        ``risk_low``, ``risk_high`` (95 % bootstrap interval of the expected value).
    expected_total : float
        The mission's expected reports in the month (in-scope reports).
    method : str
        The estimator, in words.
    notes : list of str
        What was left out, and the caveat.
    """

    month: pd.Period
    cells: pd.DataFrame
    expected_total: float
    method: str
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return the per-unit table with the month as text."""
        return self.cells.assign(month=str(self.month))


def _assign_units(cells: pd.Series, units: pd.Index) -> np.ndarray:
    """Return, for each cell, the position in ``units`` of the finest unit containing it."""
    position = {u: i for i, u in enumerate(units)}
    levels = sorted({cell_resolution(u) for u in units}, reverse=True)
    found = np.full(len(cells), -1, dtype=np.int64)
    for i, cell in enumerate(cells):
        own = cell_resolution(cell)
        for level in levels:
            ancestor = cell if level == own else (h3.cell_to_parent(cell, level)
                                                  if level < own else None)
            if ancestor in position:
                found[i] = position[ancestor]
                break
    return found


def _spreading(
    history: History, coarsen: Coarsen | None, k: int
) -> tuple[sparse.csr_matrix, np.ndarray, pd.Series, list[str]]:
    """Return the map from unit counts to cell densities, the unit counts and each cell's unit."""
    cells = history.cells["h3_cell"].astype(str)
    totals = history.cell_totals.to_numpy()
    reported = cells[totals > 0]
    counts = pd.Series(totals[totals > 0], index=reported.index)
    notes: list[str] = []
    if coarsen is None:
        unit_of = pd.Series(reported.to_numpy(), index=reported.index)
    else:
        unit_of = coarsen(reported, counts, k)
    per_unit = counts.groupby(unit_of.to_numpy()).sum()
    below = per_unit[(per_unit >= 1) & (per_unit < k)] if coarsen is not None else per_unit[[]]
    if len(below):
        notes.append(f"{len(below)} hexagon(s) still below k={k} reports at the coarsest "
                     "level: their reports are left out of the risk")
    per_unit = per_unit.drop(below.index)
    if per_unit.empty:
        # Nothing to spread: a plan would rank places by nothing but the smoothing.
        span = (f"{history.months[0]} to {history.months[-1]}" if len(history.months)
                else "no month")
        raise ValueError(
            f"no place had {k} or more reports in the history used ({span}, "
            f"{int(totals.sum())} report(s) in all), so there is no risk to plan from; give a "
            "longer history (plan option history_months) or plan for a month with more reports "
            "behind it")
    owner = _assign_units(cells, per_unit.index)
    rows = np.flatnonzero(owner >= 0)
    members = np.bincount(owner[rows], minlength=len(per_unit)).astype(float)
    spread = sparse.csr_matrix(
        (1.0 / members[owner[rows]], (rows, owner[rows])), shape=(len(cells), len(per_unit)))
    names = np.where(owner >= 0, per_unit.index.to_numpy()[np.maximum(owner, 0)], "")
    return spread, per_unit.to_numpy(dtype=float), pd.Series(names, index=cells.index), notes


def _kernel(cells: pd.Series, bandwidth: float) -> sparse.csr_matrix:
    """Row-normalised Gaussian kernel of H3 grid distance among the cells."""
    position = {c: i for i, c in enumerate(cells)}
    reach = int(np.ceil(2 * bandwidth))
    rows, cols, weights = [], [], []
    for i, cell in enumerate(cells):
        for distance in range(reach + 1):
            for other in h3.grid_ring(cell, distance):
                j = position.get(other)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    weights.append(np.exp(-0.5 * (distance / bandwidth) ** 2))
    matrix = sparse.csr_matrix((weights, (rows, cols)), shape=(len(cells), len(cells)))
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(1.0 / sums) @ matrix


def _month_weights(n: int, half_life: float) -> np.ndarray:
    age = np.arange(n)[::-1]  # 0 for the most recent month
    weights = 0.5 ** (age / half_life)
    return weights / weights.sum()


def estimate_risk(
    history: History,
    options: PlanOptions | None = None,
    *,
    coarsen: Coarsen | None = None,
    k: int = MIN_K,
    draws: int = RISK_DRAWS,
) -> RiskEstimate:
    """Estimate the reports expected in each planning unit in the planned month.

    Parameters
    ----------
    history : History
        From :func:`protection_eval.planning.history.count_history`.
    options : PlanOptions, optional
        ``bandwidth_rings``, ``half_life_months`` and ``seed`` are read.
    coarsen : callable, optional
        ``coarsen(cells, counts, k)`` returning each reporting cell's shared unit (e.g.
        :func:`protection_eval.sharing.disclosure.adaptive_cells`); with it, the estimate uses
        only counts of 0 or at least k (see the module's docstring).
    k : int
        Suppression threshold passed to ``coarsen``.
    draws : int
        Bootstrap draws of the interval.

    Returns
    -------
    RiskEstimate
        Risk per unit, its bootstrap interval, the expected total.
    """
    options = options or PlanOptions()
    cells = history.cells["h3_cell"].astype(str)
    spread, unit_counts, unit_names, notes = _spreading(history, coarsen, k)
    kernel = _kernel(cells, options.bandwidth_rings)
    weights = _month_weights(len(history.months), options.half_life_months)
    totals = history.totals.to_numpy(dtype=float)

    def risk_of(counts: np.ndarray, month_totals: np.ndarray) -> np.ndarray:
        smoothed = kernel @ (spread @ counts)
        mass = smoothed.sum(axis=0)
        share = np.divide(smoothed, mass, out=np.zeros_like(smoothed), where=mass > 0)
        return share * (weights @ month_totals)

    risk = risk_of(unit_counts[:, None], totals[:, None])[:, 0]
    rng = np.random.default_rng([options.seed, 31])
    boot = risk_of(rng.poisson(unit_counts[:, None], (len(unit_counts), draws)).astype(float),
                   rng.poisson(totals[:, None], (len(totals), draws)).astype(float))
    table = pd.DataFrame({
        "h3_cell": cells.to_numpy(),
        "unit": unit_names.to_numpy(),
        "risk": risk,
        "risk_se": boot.std(axis=1, ddof=1),
        "risk_low": np.percentile(boot, 2.5, axis=1),
        "risk_high": np.percentile(boot, 97.5, axis=1),
    })
    method = (f"kernel estimate: reports of {history.months[0]} to {history.months[-1]} per "
              f"hexagon{' (merged where below k)' if coarsen is not None else ''}, Gaussian "
              f"kernel of {options.bandwidth_rings:g} ring(s), monthly totals weighted with a "
              f"half-life of {options.half_life_months:g} months")
    return RiskEstimate(history.month, table, float(weights @ totals), method,
                        notes + list(history.notes) + [RISK_CAVEAT])
