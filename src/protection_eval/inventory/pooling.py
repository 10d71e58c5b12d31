"""Random-effects pooling of a few estimates: tau-squared, intervals, prediction interval.

With two to eight missions, the DerSimonian-Laird estimate of the between-mission variance and a
normal interval overstate certainty: the between-mission variance is itself estimated from a
handful of points, and the normal quantile ignores that. This module computes

- the between-mission variance ``tau2`` by DerSimonian-Laird (``"dl"``), restricted maximum
  likelihood (``"reml"``, the default, as in metafor) or Paule-Mandel (``"pm"``);
- the interval of the pooled mean either normal, with ``1 / sum(w)`` as variance (``"normal"``),
  or Hartung-Knapp-Sidik-Jonkman (``"hksj"``): a weighted residual variance and t on ``k - 1``
  degrees of freedom. :data:`HKSJ_BELOW` sets when HKSJ is the default. It is used as
  published, without the ad hoc floor at the fixed-scale variance (Knapp and Hartung 2003;
  Roever et al. 2015): in a prototype of the simulation in ``docs/validity.md`` the floored
  interval covered 100% with two missions and up to 99.9% with four, the plain one 94-95%.
  The one exception is estimates that agree exactly, where the HKSJ variance is zero: the
  fixed-scale variance is used then;
- the prediction interval of Higgins, Thompson and Spiegelhalter (2009): where the effect in a
  new mission would lie, ``mu +/- t(k - 2) * sqrt(tau2 + se(mu)^2)``, which needs three or more
  missions (none with two).

The functions are plain numpy on arrays; :mod:`protection_eval.inventory.evidence` applies them to
the missions' effects tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HKSJ_BELOW",
    "INTERVAL_METHODS",
    "TAU2_METHODS",
    "RandomEffectsPool",
    "estimate_random_effects",
    "estimate_tau2",
]

#: Below this many missions the Hartung-Knapp-Sidik-Jonkman interval is the default.
HKSJ_BELOW = 10
#: Estimators of the between-mission variance.
TAU2_METHODS = ("reml", "pm", "dl")
#: Intervals of the pooled mean.
INTERVAL_METHODS = ("hksj", "normal")

_MAX_ITER = 500
_EQUAL = 1e-8


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mean = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mean) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    return max(0.0, float((q - (len(y) - 1)) / c))


def _reml_deviance(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / (v + tau2)
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - mean) ** 2))


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    # Minimise the restricted deviance directly on [0, upper]: the fixed-point iteration of the
    # score equation (Viechtbauer 2005) oscillates without converging on some 4-mission sets.
    upper = 10 * max(float(np.var(y, ddof=1)), float(np.max(v)), 1e-8)
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        _reml_deviance, bounds=(0.0, upper), args=(y, v), method="bounded",
        options={"xatol": 1e-12, "maxiter": _MAX_ITER},
    )
    if not found.success:
        raise ArithmeticError(f"REML estimate of tau2 did not converge: {found.message}")
    tau2 = float(found.x)
    # The bounded search never lands exactly on the boundary; take 0 when it is no worse.
    return 0.0 if _reml_deviance(0.0, y, v) <= _reml_deviance(tau2, y, v) else tau2


def _pm_excess(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / (v + tau2)
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mean) ** 2) - (len(y) - 1))


def _tau2_pm(y: np.ndarray, v: np.ndarray) -> float:
    # Paule-Mandel: the tau2 at which the generalised Q equals its expectation k - 1. The
    # left side decreases in tau2, so bracket the root and solve it exactly.
    if _pm_excess(0.0, y, v) <= 0:
        return 0.0
    high = max(float(np.var(y, ddof=1)), 1e-8)
    while _pm_excess(high, y, v) > 0:
        high *= 2
    from scipy.optimize import brentq

    return float(brentq(_pm_excess, 0.0, high, args=(y, v), xtol=1e-14, rtol=1e-14))


def estimate_tau2(y: np.ndarray, v: np.ndarray, method: str = "reml") -> float:
    """Estimate the between-study variance of a random-effects model.

    Parameters
    ----------
    y : array-like
        Estimates (log incidence-rate ratios).
    v : array-like
        Their sampling variances (squared standard errors).
    method : {"reml", "pm", "dl"}
        Restricted maximum likelihood, Paule-Mandel or DerSimonian-Laird.

    Returns
    -------
    float
        ``tau2``, zero or above.
    """
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    if method not in TAU2_METHODS:
        raise ValueError(f"tau2 method must be one of {TAU2_METHODS}, not {method!r}")
    return {"reml": _tau2_reml, "pm": _tau2_pm, "dl": _tau2_dl}[method](y, v)


@dataclass(frozen=True)
class RandomEffectsPool:
    """A random-effects pool of ``k`` estimates.

    Attributes
    ----------
    mean, se : float
        Pooled mean and the standard error its interval uses (HKSJ for ``"hksj"``).
    se_normal, se_hksj : float
        ``sqrt(1 / sum(w))`` and the HKSJ standard error.
    ci_low, ci_high : float
        95% interval of the pooled mean (log scale).
    df : float
        Degrees of freedom of the interval (``k - 1`` for HKSJ, infinite for normal).
    p_value : float
        Two-sided test of ``mean = 0`` on the same reference distribution.
    tau2 : float
        Between-study variance.
    pi_low, pi_high : float
        95% prediction interval (log scale); NaN with fewer than three estimates.
    weights : numpy.ndarray
        Relative random-effects weights (sum to 1).
    q, i2 : float
        Cochran's Q (fixed-effect weights) and ``max(0, (Q - (k - 1)) / Q)``.
    tau2_method, interval : str
        How ``tau2`` and the interval were computed.
    """

    mean: float
    se: float
    se_normal: float
    se_hksj: float
    ci_low: float
    ci_high: float
    df: float
    p_value: float
    tau2: float
    pi_low: float
    pi_high: float
    weights: np.ndarray
    q: float
    i2: float
    tau2_method: str
    interval: str

    @property
    def k(self) -> int:
        """Number of estimates pooled."""
        return len(self.weights)


def estimate_random_effects(
    y: np.ndarray,
    se: np.ndarray,
    *,
    tau2_method: str = "reml",
    interval: str | None = None,
    level: float = 0.95,
) -> RandomEffectsPool:
    """Pool estimates with a random-effects model.

    Parameters
    ----------
    y : array-like
        Estimates (log scale), at least two.
    se : array-like
        Their standard errors, all above zero.
    tau2_method : {"reml", "pm", "dl"}
        Estimator of the between-study variance.
    interval : {"hksj", "normal"}, optional
        Interval of the pooled mean; default ``"hksj"`` below :data:`HKSJ_BELOW` estimates,
        else ``"normal"``.
    level : float
        Confidence level of both intervals.

    Returns
    -------
    RandomEffectsPool

    Notes
    -----
    The HKSJ variance is ``sum(w (y - mu)^2) / ((k - 1) sum(w))`` with ``w = 1 / (v + tau2)``
    (Hartung and Knapp 2001; Sidik and Jonkman 2002); ``1 / sum(w)`` replaces it only when it
    is zero to rounding (every estimate equal), where it would give an interval of width zero.
    The prediction interval uses the standard error of the chosen interval:
    ``mu +/- t(level, k - 2) * sqrt(tau2 + se^2)`` (Higgins et al. 2009, eq. 12).
    """
    y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
    k = len(y)
    if k < 2:
        raise ValueError(f"pooling needs two or more estimates, got {k}")
    if not (np.all(np.isfinite(se)) and np.all(se > 0) and np.all(np.isfinite(y))):
        raise ValueError("every estimate needs a finite value and a standard error above zero")
    if interval is None:
        interval = "hksj" if k < HKSJ_BELOW else "normal"
    if interval not in INTERVAL_METHODS:
        raise ValueError(f"interval must be one of {INTERVAL_METHODS}, not {interval!r}")
    v = se**2
    tau2 = estimate_tau2(y, v, tau2_method)
    w = 1 / (v + tau2)
    mean = float(np.sum(w * y) / np.sum(w))
    se_normal = math.sqrt(1 / float(np.sum(w)))
    se_hksj = math.sqrt(float(np.sum(w * (y - mean) ** 2)) / ((k - 1) * float(np.sum(w))))
    if interval == "hksj":
        # Equal estimates (to rounding) leave no residual to scale by: not a zero-width interval.
        used = se_hksj if se_hksj > _EQUAL * se_normal else se_normal
        df = float(k - 1)
    else:
        used, df = se_normal, math.inf
    # Imported when pooling: the run's cross-mission report imports this module for every run.
    from scipy import stats

    crit = float(stats.t.ppf(0.5 + level / 2, df))
    p_value = float(2 * stats.t.sf(abs(mean) / used, df))
    if k >= 3:
        half = float(stats.t.ppf(0.5 + level / 2, k - 2)) * math.sqrt(tau2 + used**2)
        pi_low, pi_high = mean - half, mean + half
    else:
        pi_low = pi_high = math.nan
    w_fe = 1 / v
    q = float(np.sum(w_fe * (y - np.sum(w_fe * y) / np.sum(w_fe)) ** 2))
    return RandomEffectsPool(
        mean=mean,
        se=used,
        se_normal=se_normal,
        se_hksj=se_hksj,
        ci_low=mean - crit * used,
        ci_high=mean + crit * used,
        df=df,
        p_value=p_value,
        tau2=tau2,
        pi_low=pi_low,
        pi_high=pi_high,
        weights=w / np.sum(w),
        q=q,
        i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
        tau2_method=tau2_method,
        interval=interval,
    )
