"""Covariances of a count model's coefficients, chosen by name after the fit, and the intervals.

Every fit of :mod:`protection_eval.effects.fixed_effects` (exact or interval-censored counts)
keeps its bread (the inverse information for the coefficients, fixed effects partialled out)
and its per-row scores; a covariance is computed from them by name, as pyfixest's
``fit.vcov("CRV1")`` and linearmodels' ``cov_type`` do:

- ``"iid"``: model-based, the inverse information (statsmodels' ``nonrobust``);
- ``"CRV1"``: cluster-robust with statsmodels' small-sample factor ``G / (G - 1) (N - 1) /
  (N - K)``, ``K`` counting the absorbed fixed effects, so it equals a statsmodels GLM with the
  fixed effects as dummy columns and ``cov_type="cluster"``;
- ``"DK"``: Driscoll-Kraay, scores summed within each period and given a Newey-West (Bartlett)
  long-run variance, with the factor ``T / (T - 1)``: robust to shocks common to every area.

Each covariance carries the degrees of freedom of its reference distribution (infinite for
``iid``: normal; ``G - 1`` for ``CRV1``, as Stata, fixest, pyfixest and statsmodels with
``use_t=True`` do; ``T - 1`` for ``DK``), and every interval and p-value of the effects comes
from :func:`compute_conf_int` and :func:`compute_p_value` with those degrees of freedom, or
with a design's own (the smaller side of a contrast, :func:`compute_contrast_df`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COV_TYPES",
    "Covariance",
    "compute_conf_int",
    "compute_contrast_df",
    "compute_covariance",
    "compute_p_value",
]

#: Covariance names :func:`compute_covariance` knows.
COV_TYPES = ("iid", "CRV1", "DK")


class _TooFewClusters(ValueError):
    """Raised (and turned into ``NotEstimable`` by the fits) when clusters or rows are too few."""


@dataclass(frozen=True)
class Covariance:
    """A covariance of the coefficients and the reference distribution of its t statistics.

    Attributes
    ----------
    name : str
        One of :data:`COV_TYPES`.
    matrix : numpy.ndarray
        Coefficients x coefficients.
    df : float
        Degrees of freedom of the t reference; infinite for a normal one.
    n_groups : int
        Clusters (``CRV1``) or periods (``DK``); 0 for ``iid``.
    """

    name: str
    matrix: np.ndarray
    df: float
    n_groups: int = 0


def compute_covariance(
    name: str,
    bread: np.ndarray,
    scores: np.ndarray,
    *,
    model_bread: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    k_params: int | None = None,
    lags: int | None = None,
) -> Covariance:
    """Compute a covariance by name from a fit's bread and scores.

    Parameters
    ----------
    name : {"iid", "CRV1", "DK"}
        Which covariance.
    bread : numpy.ndarray
        Inverse of the information the sandwich uses (observed, for a non-canonical link).
    scores : numpy.ndarray
        Rows x coefficients: each row's score, with the same projection as ``bread``.
    model_bread : numpy.ndarray, optional
        Inverse information of the model-based covariance (``iid``); ``bread`` when None.
    groups : numpy.ndarray, optional
        One label per row: clusters for ``CRV1``, ordered periods for ``DK``.
    k_params : int, optional
        Coefficients plus absorbed fixed effects, for the ``CRV1`` factor.
    lags : int, optional
        Bartlett lags of ``DK``; ``floor(4 (T / 100) ^ (2 / 9))`` when None.

    Returns
    -------
    Covariance
        The matrix and its degrees of freedom.

    Raises
    ------
    ValueError
        For an unknown name, or ``CRV1`` / ``DK`` without ``groups``.
    """
    if name not in COV_TYPES:
        raise ValueError(f"covariance must be one of {COV_TYPES}, not {name!r}")
    if name == "iid":
        return Covariance("iid", bread if model_bread is None else model_bread, np.inf)
    if groups is None:
        raise ValueError(f"the {name} covariance needs a label per row (clusters or periods)")
    if name == "CRV1":
        return _cluster(bread, scores, groups, k_params)
    return _driscoll_kraay(bread, scores, groups, lags)


def _cluster(bread: np.ndarray, scores: np.ndarray, groups: np.ndarray,
             k_params: int | None) -> Covariance:
    """CRV1 with statsmodels' small-sample factor."""
    codes = _codes(groups, sort=False)
    n_clusters = int(codes.max()) + 1 if len(codes) else 0
    nobs = len(codes)
    k = scores.shape[1] if k_params is None else k_params
    if n_clusters < 2 or nobs <= k:
        raise _TooFewClusters(
            f"{n_clusters} clusters and {nobs} rows are too few for clustered errors")
    sums = np.zeros((n_clusters, scores.shape[1]))
    np.add.at(sums, codes, scores)
    factor = n_clusters / (n_clusters - 1.0) * (nobs - 1.0) / (nobs - k)
    return Covariance("CRV1", factor * bread @ (sums.T @ sums) @ bread, n_clusters - 1.0,
                      n_clusters)


def _driscoll_kraay(bread: np.ndarray, scores: np.ndarray, periods: np.ndarray,
                    lags: int | None) -> Covariance:
    """Driscoll-Kraay: period sums of the scores, Bartlett long-run variance."""
    codes = _codes(periods, sort=True)
    n_t = int(codes.max()) + 1
    sums = np.zeros((n_t, scores.shape[1]))
    np.add.at(sums, codes, scores)
    if lags is None:
        lags = int(np.floor(4 * (n_t / 100) ** (2 / 9)))
    meat = sums.T @ sums
    for lag in range(1, lags + 1):
        weight = 1 - lag / (lags + 1)
        cross = sums[lag:].T @ sums[:-lag]
        meat += weight * (cross + cross.T)
    return Covariance("DK", n_t / (n_t - 1.0) * bread @ meat @ bread, n_t - 1.0, n_t)


def _codes(labels: np.ndarray, *, sort: bool) -> np.ndarray:
    if sort:
        return np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    return pd.factorize(np.asarray(labels))[0]


def compute_conf_int(
    coef: np.ndarray | float, std_err: np.ndarray | float, df: float, level: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Return the interval ``coef -/+ t_{df} std_err`` at ``level`` (log scale).

    Parameters
    ----------
    coef, std_err : float or numpy.ndarray
        Estimates and standard errors.
    df : float
        Degrees of freedom of the t reference; normal when infinite.
    level : float
        Confidence level.

    Returns
    -------
    tuple
        ``(low, high)``, shaped like ``coef``.
    """
    crit = float(_reference(df).ppf(0.5 + level / 2))
    return coef - crit * std_err, coef + crit * std_err


def _reference(df: float) -> stats.rv_continuous:
    """Return t with ``df`` degrees of freedom, or the normal when ``df`` is infinite."""
    return stats.norm() if np.isinf(df) else stats.t(df)


def compute_p_value(coef: np.ndarray | float, std_err: np.ndarray | float,
                    df: float) -> np.ndarray | float:
    """Return the two-sided p-value of ``coef = 0`` on t with ``df`` degrees of freedom.

    Parameters
    ----------
    coef, std_err : float or numpy.ndarray
        Estimates and standard errors; NaN where a standard error is not positive.
    df : float
        Degrees of freedom; normal when infinite.

    Returns
    -------
    float or numpy.ndarray
        The p-values, shaped like ``coef``.
    """
    coef, std_err = np.asarray(coef, dtype=float), np.asarray(std_err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(std_err > 0, 2 * _reference(df).sf(np.abs(coef / std_err)), np.nan)
    return float(p) if p.ndim == 0 else p


def compute_contrast_df(n_treated: int, n_untreated: int) -> float:
    """Degrees of freedom for a treated-versus-untreated contrast with area-clustered errors.

    Cluster-robust errors are too small when few areas sit on one side of the contrast; the t
    interval then uses the smaller side's areas minus one (a conservative stand-in for the
    effective number of clusters of Imbens and Kolesar 2016). With one side empty or a single
    area, all areas minus one.

    Parameters
    ----------
    n_treated, n_untreated : int
        Areas on each side of the contrast.

    Returns
    -------
    float
        Degrees of freedom, at least 1.
    """
    smaller = min(n_treated, n_untreated)
    if smaller < 2:
        return float(max(n_treated + n_untreated - 1, 1))
    return float(smaller - 1)
