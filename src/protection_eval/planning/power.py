"""Power of the randomised comparison, by simulation on the mission's own history.

The comparison next month: in each randomised pair, the unit that got the patrol against the
one that did not, by a Poisson model of each unit's reports with a fixed effect per pair and the
unit's risk as offset, errors clustered by pair
(:func:`protection_eval.planning.evaluate.estimate_randomised_effect`, the project's
:func:`~protection_eval.effects.count_models.fit_count_model`). With one unit of each arm per
pair, that model's estimate and clustered error have a closed form in each pair's two counts
(the conditional binomial likelihood of a Poisson pair), which :func:`paired_estimates`
computes for thousands of simulated months at once; a test checks it against the model fit.

The simulation draws, for each replicate, a month of the history at random and takes the pairs'
own report counts in that month (so the counts vary as much as this mission's do, across units
and months), draws which unit of each pair gets the patrol, and thins the patrolled unit's reports
to a share ``irr``. The minimum detectable ratio is the largest ``irr`` below 1 whose reduction
the comparison finds (two-sided test at ``alpha``, estimate below 1) with the asked power; the
same random numbers serve every ``irr``, so power falls smoothly as ``irr`` rises. Stacking
months (the same design repeated) gives the ratio detectable after several months of planning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedPower", "compute_paired_mde", "paired_estimates", "paired_power"]

#: Months of repeated planning for which the detectable ratio is reported.
HORIZONS: tuple[int, ...] = (1, 3, 6, 12)
_NEWTON_STEPS = 40
_BISECTIONS = 10
_LOWEST_IRR = 0.02


def paired_estimates(y_t: np.ndarray, y_c: np.ndarray, r_t: np.ndarray,
                     r_c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log ratio, clustered standard error and clusters of pair-effect Poisson fits, at once.

    Parameters
    ----------
    y_t, y_c : numpy.ndarray
        Reports of the patrolled and the unpatrolled unit, shape ``(replicates, pairs)``.
    r_t, r_c : numpy.ndarray
        Their offsets (risk), same shape or broadcastable.

    Returns
    -------
    tuple of numpy.ndarray
        ``log_irr``, ``se`` (CRV1 with the small-sample factor of
        :func:`~protection_eval.effects.fixed_effects.fit_fixed_effects_glm`) and the number of
        pairs with a report (``clusters``), per replicate; NaN where not estimable (no report in
        one arm, or fewer than two pairs with a report).
    """
    y_t, y_c = np.asarray(y_t, dtype=float), np.asarray(y_c, dtype=float)
    total = y_t + y_c
    ratio = np.broadcast_to(np.asarray(r_t, float) / np.asarray(r_c, float), total.shape)
    share = ratio / (1.0 + ratio)  # the patrolled unit's share of the pair at a ratio of 1
    with np.errstate(divide="ignore", invalid="ignore"):
        start = np.log(y_t.sum(axis=1) / (total * share).sum(axis=1))
    beta = np.clip(np.nan_to_num(start, nan=0.0, posinf=0.0, neginf=0.0), -8, 8)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-beta)[:, None] / ratio)
        score = (y_t - total * p).sum(axis=1)
        info = (total * p * (1 - p)).sum(axis=1)
        step = np.divide(score, info, out=np.zeros_like(score), where=info > 0)
        beta = beta + np.clip(step, -3, 3)
        if np.all(np.abs(step) < 1e-10):
            break
    p = 1.0 / (1.0 + np.exp(-beta)[:, None] / ratio)
    info = (total * p * (1 - p)).sum(axis=1)
    meat = ((y_t - total * p) ** 2).sum(axis=1)
    clusters = (total > 0).sum(axis=1)
    g = clusters.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # CRV1 as the fixed-effects fit: G/(G-1) (N-1)/(N-K), N = 2G rows, K = G + 1 params.
        factor = g / (g - 1) * (2 * g - 1) / (g - 1)
        se = np.sqrt(factor * meat) / info
    bad = (y_t.sum(axis=1) == 0) | (y_c.sum(axis=1) == 0) | (clusters < 2)
    return np.where(bad, np.nan, beta), np.where(bad, np.nan, se), clusters


@dataclass(frozen=True)
class PairedPower:
    """The detectable ratio of the randomised comparison.

    Attributes
    ----------
    mde_irr : float or None
        Largest ratio below 1 detected with ``power`` in one month; None when even a ratio of
        0.02 is not.
    power : float
        The power asked for.
    power_at_mde : float
        Simulated power at ``mde_irr`` (its Monte Carlo standard error is ``mc_se``).
    mc_se : float
        Monte Carlo standard error of a simulated power near ``power``.
    mde_by_months : dict of int to float or None
        The ratio detectable after that many months of plans like this one.
    simulations : int
        Simulated months per evaluation.
    pairs : int
        Randomised pairs.
    """

    mde_irr: float | None
    power: float
    power_at_mde: float
    mc_se: float
    mde_by_months: dict[int, float | None]
    simulations: int
    pairs: int


class _Draws:
    """The random numbers of one power study, shared by every ratio tried."""

    def __init__(self, counts: np.ndarray, r: np.ndarray, months: int, n: int,
                 rng: np.random.Generator) -> None:
        pairs = counts.shape[0]
        pick = rng.integers(0, counts.shape[2], (n, months))
        flip = rng.integers(0, 2, (n, months, pairs)).astype(bool)
        y = counts[:, :, pick]  # pairs, 2, n, months
        y = np.moveaxis(y, (2, 3), (0, 1))  # n, months, pairs, 2
        first, second = y[..., 0], y[..., 1]
        self.y_t = np.where(flip, first, second).reshape(n, -1)
        self.y_c = np.where(flip, second, first).reshape(n, -1)
        rr = np.broadcast_to(r, (n, months, pairs, 2))
        self.r_t = np.where(flip, rr[..., 0], rr[..., 1]).reshape(n, -1)
        self.r_c = np.where(flip, rr[..., 1], rr[..., 0]).reshape(n, -1)
        most = int(self.y_t.max()) if self.y_t.size else 0
        self.u = rng.random((*self.y_t.shape, max(most, 1)))

    def power(self, irr: float, alpha: float) -> float:
        keep = np.arange(self.u.shape[-1]) < self.y_t[..., None]
        thinned = ((self.u < irr) & keep).sum(axis=-1)
        beta, se, clusters = paired_estimates(thinned, self.y_c, self.r_t, self.r_c)
        with np.errstate(invalid="ignore"):
            crit = stats.t.ppf(1 - alpha / 2, np.maximum(clusters - 1, 1))
            found = (beta < 0) & (np.abs(beta) / se > crit)
        return float(np.mean(np.nan_to_num(found, nan=0.0)))


def paired_power(counts: np.ndarray, risk: np.ndarray, irr: float, *, months: int = 1,
                 simulations: int = 1000, alpha: float = 0.05, seed: int = 0) -> float:
    """Simulate the power of the randomised comparison at one ratio.

    Parameters
    ----------
    counts : numpy.ndarray
        History reports of each pair's two units, shape ``(pairs, 2, history months)``.
    risk : numpy.ndarray
        Their risk (offsets), shape ``(pairs, 2)``.
    irr : float
        The ratio planted on the patrolled units.
    months : int
        Months of planning stacked.
    simulations : int
        Simulated replicates.
    alpha : float
        Two-sided level.
    seed : int
        Seed.

    Returns
    -------
    float
        Share of replicates finding a reduction.
    """
    draws = _Draws(np.asarray(counts), np.asarray(risk, float), months, simulations,
                   np.random.default_rng([seed, 101, months]))
    return draws.power(irr, alpha)


def _mde(draws: _Draws, power: float, alpha: float) -> tuple[float | None, float]:
    if draws.power(_LOWEST_IRR, alpha) < power:
        return None, float("nan")
    low, high = _LOWEST_IRR, 1.0  # power(low) >= target > power(high)
    for _ in range(_BISECTIONS):
        mid = np.sqrt(low * high)
        if draws.power(mid, alpha) >= power:
            low = mid
        else:
            high = mid
    return float(low), draws.power(low, alpha)


def compute_paired_mde(counts: np.ndarray, risk: np.ndarray, *, power: float = 0.8,
                       alpha: float = 0.05, simulations: int = 1000, seed: int = 0,
                       horizons: tuple[int, ...] = HORIZONS) -> PairedPower:
    """Minimum detectable ratio of the randomised comparison, by simulation on the history.

    Parameters
    ----------
    counts, risk
        As :func:`paired_power`.
    power, alpha : float
        Power asked for and two-sided level.
    simulations : int
        Simulated months per evaluation.
    seed : int
        Seed.
    horizons : tuple of int
        Months of repeated planning to report.

    Returns
    -------
    PairedPower
        The ratio for one month and for each horizon.
    """
    counts, risk = np.asarray(counts), np.asarray(risk, float)
    by_months: dict[int, float | None] = {}
    first, at = None, float("nan")
    for months in horizons:
        draws = _Draws(counts, risk, months, simulations,
                       np.random.default_rng([seed, 101, months]))
        found, power_at = _mde(draws, power, alpha)
        by_months[months] = found
        if months == 1:
            first, at = found, power_at
    mc_se = float(np.sqrt(power * (1 - power) / simulations))
    return PairedPower(first, power, at, mc_se, by_months, simulations, counts.shape[0])
