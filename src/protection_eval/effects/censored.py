"""Count models for interval-censored counts: published small cells such as "<5".

Agencies bound by the GBVIMS information-sharing protocol publish monthly counts per area with
the small ones suppressed: "<5" means one of 1, 2, 3 or 4. Dropping such a cell biases the rate
down where reports are rare (the cells dropped are the small ones); replacing it by a guess (2,
2.5, 4) biases it whichever way the guess errs. Here a cell known only to lie in ``[lo, hi]``
contributes what is known about it to the likelihood::

    log P(lo <= Y <= hi | mu, alpha) = log sum_{y = lo}^{hi} p(y | mu, alpha)

with ``p`` the Poisson or NB2 probability, and an exact count contributes ``log p(y)`` as usual.

Derivatives in the linear predictor ``eta = log(mu)`` are analytic. With ``s(y) = (y - mu) /
(1 + alpha mu)`` the score of an exact count, a censored cell's score is ``E[s(Y) | lo <= Y <=
hi]``: the exact score at the conditional mean ``m = E[Y | interval]``. Its curvature is
``Var(s(Y) | interval) + E[ds/deta | interval]``, that is

    -d2/deta2 log P = (mu (1 + alpha m) - Var(Y | interval)) / (1 + alpha mu)^2.

So the fit is the one Newton iteration of :mod:`protection_eval.effects.fixed_effects` (IRLS
with fixed effects absorbed by weighted alternating projections) given another likelihood,
:class:`CensoredCounts`: each censored cell's count is replaced by its conditional mean at the
current fit and its weight by the curvature above; steps are halved until the censored
log-likelihood does not fall. NB2's ``log(alpha)`` is maximised with the means held fixed (a
bounded one-dimensional search) in alternation with the means, as for exact counts. Errors use
the observed information of the censored likelihood, and the covariance is chosen by name as
for exact counts (:mod:`protection_eval.effects.covariance`).

Only censored fits come here: a fit whose every count is exact goes through
:func:`~protection_eval.effects.fixed_effects.fit_fixed_effects_glm` with the exact likelihood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from protection_eval.effects.fixed_effects import (
    FixedEffectsFit,
    NotEstimable,
    fit_fixed_effects_glm,
    negbin_loglike_eta,
)
from protection_eval.effects.irls import (
    _LOG_ALPHA_MAX,
    _LOG_ALPHA_MIN,
    AlphaEstimate,
    _demean,
    _newton,
)

__all__ = [
    "MAX_INTERVAL_WIDTH",
    "CensoredCounts",
    "censored_loglike_eta",
    "compute_interval_moments",
    "fit_censored_glm",
    "negbin_logpmf_eta",
]

#: Widest interval a censored cell may span (``hi - lo``); the likelihood sums over it.
MAX_INTERVAL_WIDTH = 1000

_TOL = 1e-11
_ALPHA_ROUNDS = 100


def negbin_logpmf_eta(y: np.ndarray, eta: np.ndarray, alpha: float) -> np.ndarray:
    """Return the NB2 log-probability of each count (Poisson when ``alpha <= 0``), elementwise.

    The same overflow-safe terms as
    :func:`~protection_eval.effects.fixed_effects.negbin_loglike_eta`, one value per element.

    Parameters
    ----------
    y : numpy.ndarray
        Non-negative whole counts.
    eta : numpy.ndarray
        Log of the means, broadcastable against ``y``.
    alpha : float
        NB2 dispersion (``var = mu + alpha mu^2``).

    Returns
    -------
    numpy.ndarray
        ``log p(y | exp(eta), alpha)``.
    """
    y, eta = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(eta, dtype=float))
    pos = y > 0
    if alpha <= 0:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(pos, y * eta, 0.0) - np.exp(eta) - special.gammaln(y + 1)
    log_a, r = np.log(alpha), 1.0 / alpha
    ycount = np.where(pos, y, 1.0)
    norm = np.where(pos, -special.betaln(ycount, r) - np.log(ycount), 0.0)
    with np.errstate(invalid="ignore"):
        return norm + np.where(pos, y * (log_a + eta), 0.0) - (y + r) * np.logaddexp(
            0.0, log_a + eta
        )


def compute_interval_moments(
    lo: np.ndarray, hi: np.ndarray, eta: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``log P(lo <= Y <= hi)``, ``E[Y | interval]`` and ``Var(Y | interval)`` per cell.

    Parameters
    ----------
    lo, hi : numpy.ndarray
        Whole bounds, ``0 <= lo <= hi`` and ``hi - lo <= MAX_INTERVAL_WIDTH``.
    eta : numpy.ndarray
        Log of the means.
    alpha : float
        NB2 dispersion; Poisson when 0.

    Returns
    -------
    tuple of numpy.ndarray
        Log-probability of the interval, conditional mean and conditional variance.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    width = int(np.max(hi - lo, initial=0))
    if width > MAX_INTERVAL_WIDTH:
        raise ValueError(f"a censored count spans {width + 1} values; at most "
                         f"{MAX_INTERVAL_WIDTH + 1} are summed")
    ys = lo[:, None] + np.arange(width + 1)[None, :]
    inside = ys <= hi[:, None]
    logp = np.where(inside, negbin_logpmf_eta(ys, np.asarray(eta)[:, None], alpha), -np.inf)
    log_prob = special.logsumexp(logp, axis=1)
    with np.errstate(invalid="ignore"):
        share = np.where(inside, np.exp(logp - log_prob[:, None]), 0.0)
    mean = np.sum(share * ys, axis=1)
    var = np.sum(share * (ys - mean[:, None]) ** 2, axis=1)
    return log_prob, mean, var


def censored_loglike_eta(
    y: np.ndarray, hi: np.ndarray, eta: np.ndarray, alpha: float
) -> float:
    """Return the log-likelihood of counts some of which are known only to an interval.

    Parameters
    ----------
    y : numpy.ndarray
        Exact counts, or the lower bound of a censored cell.
    hi : numpy.ndarray
        Upper bounds; ``hi == y`` for an exact count.
    eta : numpy.ndarray
        Log of the means.
    alpha : float
        NB2 dispersion; Poisson when 0.

    Returns
    -------
    float
        ``sum log p(y)`` over exact counts plus ``sum log P(y <= Y <= hi)`` over censored ones.
    """
    y, hi, eta = (np.asarray(v, dtype=float) for v in (y, hi, eta))
    cens = hi > y
    exact = negbin_loglike_eta(y[~cens], eta[~cens], alpha)
    if not cens.any():
        return exact
    log_prob, _, _ = compute_interval_moments(y[cens], hi[cens], eta[cens], alpha)
    return float(exact + np.sum(log_prob))


def _score_and_weight(
    y: np.ndarray, hi: np.ndarray, cens: np.ndarray, eta: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the score and the observed curvature of the log-likelihood in ``eta``, per row."""
    mu = np.exp(eta)
    y_eff = y.copy()
    var = np.zeros_like(y)
    if cens.any():
        _, mean, var_c = compute_interval_moments(y[cens], hi[cens], eta[cens], alpha)
        y_eff[cens], var[cens] = mean, var_c
    with np.errstate(over="ignore"):
        denom = 1.0 + alpha * mu
    score = (y_eff - mu) / denom
    weight = (mu * (1.0 + alpha * y_eff) - var) / denom**2
    # The curvature of a censored cell is positive for a Poisson count (truncating a
    # log-concave law shrinks its variance) but not provably so for every NB2 cell; a floor
    # keeps the Newton direction uphill, and the step halving keeps every step from falling.
    floor = 1e-8 * mu / denom
    return score, np.maximum(weight, floor)


def _best_log_alpha(y: np.ndarray, hi: np.ndarray, eta: np.ndarray) -> float:
    """Return ``log(alpha)`` maximising the censored log-likelihood with the means fixed."""
    found = optimize.minimize_scalar(
        lambda s: -censored_loglike_eta(y, hi, eta, float(np.exp(s))),
        bounds=(_LOG_ALPHA_MIN, _LOG_ALPHA_MAX), method="bounded",
        options={"xatol": 1e-9},
    )
    return float(found.x)


def _log_alpha_curvature(y: np.ndarray, hi: np.ndarray, eta: np.ndarray, s: float) -> float:
    """Second derivative in ``log(alpha)`` by central differences (checked in the tests)."""
    h = 1e-4
    f = [censored_loglike_eta(y, hi, eta, float(np.exp(s + d))) for d in (-h, 0.0, h)]
    return (f[0] - 2 * f[1] + f[2]) / h**2


def _fit_alpha(
    y: np.ndarray, hi: np.ndarray, x: np.ndarray, codes: list[np.ndarray], offset: np.ndarray
) -> tuple[float, float, tuple[np.ndarray, np.ndarray], str]:
    """Jointly maximise over the means and ``log(alpha)``; return alpha, its se, start, note."""
    lik = CensoredCounts(y, hi)
    found = _newton(lik, x, codes, offset, 0.0, None)
    beta, eta = found.beta, found.eta
    s = 0.0
    for _ in range(_ALPHA_ROUNDS):
        s_new = _best_log_alpha(y, hi, eta)
        found = _newton(lik, x, codes, offset, float(np.exp(s_new)), (beta, eta))
        beta, eta = found.beta, found.eta
        moved, s = abs(s_new - s), s_new
        if moved < 1e-7:
            break
    if s >= _LOG_ALPHA_MAX - 1e-3:
        raise NotEstimable(
            "the negative binomial has no finite maximum: its dispersion grows without limit; "
            "use the Poisson model with clustered errors"
        )
    if s <= _LOG_ALPHA_MIN + 1e-3:
        note = ("dispersion at the Poisson limit (alpha -> 0): counts vary no more than a "
                "Poisson model assumes, so the negative binomial is the Poisson fit")
        found = _newton(lik, x, codes, offset, 0.0, (beta, eta))
        return 0.0, float("nan"), (found.beta, found.eta), note
    curvature = _log_alpha_curvature(y, hi, eta, s)
    se_log = float(np.sqrt(-1.0 / curvature)) if curvature < 0 else float("nan")
    alpha = float(np.exp(s))
    return alpha, alpha * se_log, (beta, eta), ""


@dataclass
class CensoredCounts:
    """The Poisson / NB2 likelihood of counts some of which are known only to an interval.

    Attributes
    ----------
    y : numpy.ndarray
        Exact counts, and the lower bound of each censored cell.
    hi : numpy.ndarray
        Upper bounds (``hi == y`` for an exact count).
    """

    y: np.ndarray
    hi: np.ndarray

    @property
    def censored(self) -> np.ndarray:
        """Rows known only to an interval."""
        return self.hi > self.y

    def take(self, rows: np.ndarray) -> CensoredCounts:
        """Return the likelihood of the rows selected by a boolean mask."""
        return CensoredCounts(self.y[rows], self.hi[rows])

    def notes(self) -> list[str]:
        """Say how many counts enter as interval-censored."""
        return [f"{int(self.censored.sum())} counts known only to an interval (small cells such "
                "as \"<5\") enter the likelihood as interval-censored"]

    def start(self) -> np.ndarray:
        """Return ``log((m + mean) / 2)``, ``m`` the count or the interval's middle."""
        mid = np.where(self.censored, (self.y + self.hi) / 2.0, self.y)
        return np.log((mid + mid.mean()) / 2.0)

    def loglike(self, eta: np.ndarray, alpha: float) -> float:
        """Return the censored log-likelihood."""
        return censored_loglike_eta(self.y, self.hi, eta, alpha)

    def newton(self, eta: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the score and observed curvature in ``eta`` (see the module docstring)."""
        return _score_and_weight(self.y, self.hi, self.censored, eta, alpha)

    def stopping(self, alpha: float) -> Callable[[np.ndarray, float, float], bool]:
        """Stop when the log-likelihood settles (a deviance needs saturated values)."""

        def stop(eta: np.ndarray, ll: float, ll_before: float) -> bool:
            return bool(np.isfinite(ll_before) and abs(ll - ll_before) < _TOL * (abs(ll) + 0.1))

        return stop

    def estimate_alpha(self, x: np.ndarray, codes: list[np.ndarray],
                       offset: np.ndarray) -> AlphaEstimate:
        """Return the joint maximum over the coefficients and ``alpha``."""
        alpha, se, (beta, eta), note = _fit_alpha(self.y, self.hi, x, codes, offset)
        return AlphaEstimate(alpha, se, beta, eta, True, note)

    def sandwich(self, x: np.ndarray, codes: list[np.ndarray], eta: np.ndarray, alpha: float,
                 xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the bread (observed information, for both covariances) and the scores."""
        score, weight = _score_and_weight(self.y, self.hi, self.censored, eta, alpha)
        xt = _demean(x, codes, weight) if codes else x
        bread = np.linalg.pinv((xt * weight[:, None]).T @ xt) if x.shape[1] else np.zeros((0, 0))
        return bread, bread, xt * score[:, None]

    def deviance(self, eta: np.ndarray, alpha: float) -> float:
        """Return NaN: a censored cell has no saturated value."""
        return float("nan")

    def llf(self, eta: np.ndarray, alpha: float) -> float:
        """Return the censored log-likelihood."""
        return censored_loglike_eta(self.y, self.hi, eta, alpha)


def fit_censored_glm(
    y: np.ndarray,
    hi: np.ndarray,
    x: pd.DataFrame,
    fixed_effects: list[np.ndarray],
    *,
    family: str = "poisson",
    offset: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    alpha: float | None = None,
) -> FixedEffectsFit:
    """Fit a log-link Poisson or NB2 model to counts some of which are interval-censored.

    Parameters
    ----------
    y : numpy.ndarray
        Exact counts, and the lower bound of each censored cell.
    hi : numpy.ndarray
        Upper bounds (``hi == y`` for an exact count, ``hi > y`` for a censored cell).
    x : pandas.DataFrame
        Regressors; with no fixed effects ``x`` must hold the intercept.
    fixed_effects : list of numpy.ndarray
        Group labels per absorbed fixed effect.
    family : {"poisson", "negbin"}
        Poisson, or NB2 with ``alpha`` estimated jointly unless given.
    offset : numpy.ndarray, optional
        Log exposure.
    cluster : numpy.ndarray, optional
        Cluster labels for CRV1 errors (same small-sample factor as exact fits).
    alpha : float, optional
        Fixed NB2 dispersion.

    Returns
    -------
    FixedEffectsFit
        As for exact counts; ``llf`` is the censored log-likelihood, ``deviance`` is NaN (a
        censored cell has no saturated value), ``mu`` the fitted means. Rows whose fixed-effect
        group has no event for sure (every lower bound 0) are dropped, as for exact counts.
    """
    y, hi = np.asarray(y, dtype=float), np.asarray(hi, dtype=float)
    if (hi < y).any():
        raise ValueError("an upper bound is below its lower bound")
    return fit_fixed_effects_glm(y, x, fixed_effects, family=family, offset=offset,
                                 cluster=cluster, alpha=alpha, likelihood=CensoredCounts(y, hi))
