"""Wild cluster restricted bootstrap (WCR) of a linear model: the exact reference.

The headline's bootstrap (:mod:`protection_eval.effects.wild_bootstrap`) is a *score* bootstrap
(Kline and Santos 2012): it perturbs each area's score for the coefficient at a fit that holds
the coefficient at its hypothesised value, and holds every other parameter (period effects,
covariates) where that fit put them. The linear wild cluster restricted bootstrap (Cameron,
Gelbach and Miller 2008; Roodman, MacKinnon, Nielsen and Webb 2019, "WCR11") instead builds a
new outcome in each draw, ``y* = X b_r + v_g u_r`` from the null-restricted fit, and refits *all*
coefficients, so the nuisance parameters move with each draw. The two are the same test when
the only nuisance parameters are fixed effects nested in the clusters (area effects with errors
clustered by area); with period effects or a covariate they differ (the score bootstrap's
p-values are then lower by a few hundredths in the comparisons of issue 27).

This module is that linear WCR, for an evaluator who wants the exact comparison with few
clusters: a linear model of the outcome (counts, rates or their logarithm, as the evaluator
chooses) on the regressors with fixed effects as dummy columns, CRV1 errors, and the same
draws, statistic and p-value as the ``wildboottest`` package (``WildboottestCL`` with
``bootstrap_type="11"``, ``impose_null=True``): for the same data, weights type, number of
draws and seed it returns the same p-value. As in ``wildboottest``, the cluster weights are
drawn as one stream of ``G * B`` values reshaped to clusters x draws (clusters in sorted
order), and Rademacher weights are fully enumerated when ``2^G`` is smaller than the number of
draws. The p-value is the share of draws whose statistic is larger in absolute value than the
observed one (``mean(|t| < |t*|)``); a draw equal to it up to rounding (with full enumeration,
the all-plus and all-minus patterns) does not count.

The dummy columns make the design dense (rows x levels): meant for the few-cluster panels
where the comparison matters, not for a panel of thousands of areas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protection_eval.effects.fixed_effects import NotEstimable

__all__ = [
    "LINEAR_WEIGHTS",
    "LinearBootstrapResult",
    "compute_linear_wild_bootstrap",
    "draw_linear_weights",
]

#: Weight distributions, in the order ``wildboottest`` draws from them.
LINEAR_WEIGHTS: dict[str, np.ndarray] = {
    "rademacher": np.array([-1.0, 1.0]),
    "webb": np.concatenate([-np.sqrt(np.array([3.0, 2.0, 1.0]) / 2),
                            np.sqrt(np.array([1.0, 2.0, 3.0]) / 2)]),
}
#: Relative tolerance under which a draw's statistic ties with the observed one.
_TIE = 1e-9


@dataclass
class LinearBootstrapResult:
    """Linear wild cluster restricted bootstrap of one coefficient.

    Attributes
    ----------
    coef : float
        Least-squares estimate of the coefficient.
    std_err : float
        Its CRV1 standard error (small-sample factor ``G / (G - 1) (N - 1) / (N - k)``, ``k``
        counting the dummy columns, as ``wildboottest`` with explicit dummies).
    t_stat : float
        ``(coef - b0) / std_err``.
    p_value : float
        Two-sided bootstrap p-value of ``coef = b0``.
    b0 : float
        Hypothesised value.
    weights : str
        ``"rademacher"`` or ``"webb"``.
    n_boot : int
        Draws, or sign patterns when ``full_enumeration``.
    n_clusters : int
        Clusters.
    seed : int
        Seed of the draws (unused with full enumeration).
    full_enumeration : bool
        Every Rademacher sign pattern was used once.
    t_boot : numpy.ndarray
        The statistic of each draw.
    """

    coef: float
    std_err: float
    t_stat: float
    p_value: float
    b0: float
    weights: str
    n_boot: int
    n_clusters: int
    seed: int
    full_enumeration: bool
    t_boot: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def draw_linear_weights(
    n_clusters: int, n_boot: int, *, weights: str = "rademacher", seed: int,
    full_enumeration: bool | None = None,
) -> tuple[np.ndarray, bool]:
    """Cluster weights as ``wildboottest`` draws them: clusters x draws.

    Parameters
    ----------
    n_clusters : int
        Clusters (``G``).
    n_boot : int
        Draws (``B``).
    weights : {"rademacher", "webb"}
        Distribution.
    seed : int
        Seed of ``numpy.random.default_rng``.
    full_enumeration : bool, optional
        Use every Rademacher sign pattern; by default when ``2^G < B`` (Rademacher only).

    Returns
    -------
    tuple of (numpy.ndarray, bool)
        ``(G, B)`` weights (``(G, 2^G)`` when enumerated) and whether they were enumerated.
    """
    if weights not in LINEAR_WEIGHTS:
        raise ValueError(f"weights must be one of {sorted(LINEAR_WEIGHTS)}, not {weights!r}")
    if full_enumeration is None:
        full_enumeration = weights == "rademacher" and 2**n_clusters < n_boot
    if full_enumeration:
        if weights != "rademacher":
            raise ValueError("full enumeration is for Rademacher weights only")
        bits = (np.arange(2**n_clusters)[None, :] >> np.arange(n_clusters)[::-1, None]) & 1
        return 2.0 * bits - 1.0, True
    rng = np.random.default_rng(seed)
    draws = rng.choice(LINEAR_WEIGHTS[weights], size=n_clusters * n_boot, replace=True)
    return draws.reshape(n_clusters, n_boot), False


def _design(frame: pd.DataFrame, regressors: list[str], fixed_effects: list[str]) -> np.ndarray:
    """Return regressors, a constant and one dummy per fixed-effect level but the first."""
    columns = [frame[regressors].to_numpy(dtype=float), np.ones((len(frame), 1))]
    for name in fixed_effects:
        codes = pd.factorize(frame[name], sort=True)[0]
        columns.append(np.eye(codes.max() + 1)[codes][:, 1:])
    return np.column_stack(columns)


def _group_sums(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    sums = np.zeros((n_groups, values.shape[1]))
    np.add.at(sums, groups, values)
    return sums


def compute_linear_wild_bootstrap(
    data: pd.DataFrame,
    outcome: str,
    term: str,
    regressors: Sequence[str],
    fixed_effects: Sequence[str],
    cluster: str,
    *,
    b0: float = 0.0,
    weights: str = "rademacher",
    n_boot: int = 999,
    seed: int = 20261130,
    full_enumeration: bool | None = None,
) -> LinearBootstrapResult:
    """Wild cluster restricted bootstrap (WCR11) of one coefficient of a linear model.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation; rows missing a model column are left out.
    outcome : str
        Outcome column (linear model: transform it first if a log scale is wanted).
    term : str
        Regressor whose coefficient is tested.
    regressors : sequence of str
        All regressors (``term`` among them); a constant is added.
    fixed_effects : sequence of str
        Columns whose levels become dummy columns (the first level of each dropped).
    cluster : str
        Cluster column.
    b0 : float
        Hypothesised coefficient, imposed on the bootstrap's data-generating process.
    weights : {"rademacher", "webb"}
        Weight distribution.
    n_boot : int
        Draws.
    seed : int
        Seed of the draws.
    full_enumeration : bool, optional
        Enumerate every Rademacher sign pattern; by default when ``2^G < n_boot``.

    Returns
    -------
    LinearBootstrapResult
        Estimate, CRV1 standard error and t statistic, bootstrap p-value and the draws'
        statistics.

    Raises
    ------
    NotEstimable
        Fewer than two clusters, or a design whose columns are collinear.
    """
    regressors = list(regressors)
    if term not in regressors:
        raise ValueError(f"{term!r} is not among the regressors {regressors}")
    columns = list(dict.fromkeys([outcome, *regressors, *fixed_effects, cluster]))
    frame = data.loc[data[columns].notna().all(axis=1)]
    y = frame[outcome].to_numpy(dtype=float)
    x = _design(frame, regressors, list(fixed_effects))
    clusters, groups = np.unique(frame[cluster].to_numpy(), return_inverse=True)
    n_obs, k = x.shape
    n_clusters = len(clusters)
    if n_clusters < 2 or n_obs <= k:
        raise NotEstimable(f"{n_clusters} clusters and {n_obs} rows are too few for a wild "
                           "cluster bootstrap")
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < k:
        raise NotEstimable("the regressors are collinear with the fixed effects")
    xtx_inv = np.linalg.inv(xtx)
    r = np.zeros(k)
    r[regressors.index(term)] = 1.0
    beta = xtx_inv @ (x.T @ y)
    q = xtx_inv @ r
    beta_r = beta - q * (beta[r == 1][0] - b0) / (r @ q)
    # Each cluster's score at the restricted fit, and how much of each draw's re-estimated
    # coefficient (through every column, nuisance included) falls on a cluster's own score.
    scores = _group_sums(x * (y - x @ beta_r)[:, None], groups, n_clusters)
    c = scores @ q
    spread = _group_sums((x @ q)[:, None] * (x @ (scores @ xtx_inv).T), groups, n_clusters)
    ssc = (n_obs - 1) / (n_obs - k) * n_clusters / (n_clusters - 1)
    v, enumerated = draw_linear_weights(n_clusters, n_boot, weights=weights, seed=seed,
                                        full_enumeration=full_enumeration)
    numer = c @ v
    z = c[:, None] * v - spread @ v
    t_boot = numer / np.sqrt(ssc * np.sum(z**2, axis=0))
    meat = _group_sums(x * (y - x @ beta)[:, None], groups, n_clusters) @ q
    se = float(np.sqrt(ssc * meat @ meat))
    coef = float(beta[r == 1][0])
    t_stat = (coef - b0) / se
    p_value = float(np.mean(np.abs(t_boot) > abs(t_stat) * (1.0 + _TIE)))
    return LinearBootstrapResult(
        coef=coef, std_err=se, t_stat=float(t_stat), p_value=p_value, b0=b0, weights=weights,
        n_boot=v.shape[1], n_clusters=n_clusters, seed=seed, full_enumeration=enumerated,
        t_boot=t_boot,
    )
