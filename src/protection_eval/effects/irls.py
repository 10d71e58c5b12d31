"""The Newton (IRLS) iteration with absorbed fixed effects, for any likelihood of counts.

One loop for every count model of the effects: a weighted least-squares step on the working
response ``eta - offset + score / curvature`` with the fixed effects swept out by weighted
alternating projections, as in Correia, Guimaraes and Zylkin (2020, "Fast Poisson estimation
with high-dimensional fixed effects"), a full step on the linear predictor halved until the
log-likelihood does not fall. What differs between counts known exactly
(:class:`~protection_eval.effects.fixed_effects.ExactCounts`) and counts known only to an
interval (:class:`~protection_eval.effects.censored.CensoredCounts`) is the likelihood, which
gives the loop its log-likelihood, score, curvature and stopping rule (:class:`CountLikelihood`).
The fit around the loop (groups without an event, the dispersion, the covariance, the result) is
:func:`~protection_eval.effects.fixed_effects.fit_fixed_effects_glm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

__all__ = ["AlphaEstimate", "CountLikelihood"]

_DEMEAN_TOL = 1e-11
_DEMEAN_MAX_ITER = 10_000
_IRLS_MAX_ITER = 200
_ETA_MAX = 700.0
_MAX_HALVINGS = 60
#: NB2 dispersion is searched over exp(-25)..exp(14): below, the Poisson limit; above, no
#: finite maximum (counts are then nearly all zero with a few huge ones).
_LOG_ALPHA_MIN = -25.0
_LOG_ALPHA_MAX = 14.0


def _group_codes(keys: list[np.ndarray]) -> list[np.ndarray]:
    return [pd.factorize(k, use_na_sentinel=False)[0] for k in keys]


def _drop_all_zero_groups(y: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    """Mask rows whose fixed-effect group has no event, repeating until stable."""
    keep = np.ones(len(y), dtype=bool)
    changed = True
    while changed:
        changed = False
        for c in codes:
            totals = np.bincount(c[keep], weights=y[keep], minlength=c.max() + 1)
            bad = keep & (totals[c] <= 0)
            if bad.any():
                keep &= ~bad
                changed = True
    return keep


def _demean(
    arr: np.ndarray, codes: list[np.ndarray], weights: np.ndarray, tol: float = _DEMEAN_TOL
) -> np.ndarray:
    """Weighted alternating projections: remove every fixed effect from each column of ``arr``."""
    if not codes:
        return arr.copy()
    out = arr.copy()
    wsum = [np.bincount(c, weights=weights) for c in codes]
    scale = np.maximum(np.abs(arr).max(axis=0), 1.0)
    for _ in range(_DEMEAN_MAX_ITER):
        biggest = 0.0
        for c, ws in zip(codes, wsum, strict=True):
            for j in range(out.shape[1]):
                means = np.bincount(c, weights=weights * out[:, j]) / ws
                out[:, j] -= means[c]
                biggest = max(biggest, np.abs(means).max() / scale[j])
        if len(codes) == 1 or biggest < tol:
            break
    return out


@dataclass
class AlphaEstimate:
    """Maximum-likelihood NB2 dispersion.

    Attributes
    ----------
    alpha : float
        Dispersion (``var = mu + alpha mu^2``); 0 at the Poisson limit.
    se : float
        Its standard error, by the delta method from ``log(alpha)`` (NaN at the Poisson limit).
    beta : numpy.ndarray
        Coefficients at the joint maximum.
    eta : numpy.ndarray
        Linear predictor at the joint maximum.
    converged : bool
        Whether the alternation between the means and ``alpha`` settled.
    note : str
        A plain-words note (e.g. the Poisson limit), empty otherwise.
    """

    alpha: float
    se: float
    beta: np.ndarray
    eta: np.ndarray
    converged: bool
    note: str = ""


class CountLikelihood(Protocol):
    """What the one Newton iteration needs from a likelihood of counts.

    Implemented by :class:`ExactCounts` and
    :class:`~protection_eval.effects.censored.CensoredCounts`.
    """

    y: np.ndarray

    def take(self, rows: np.ndarray) -> CountLikelihood:
        """Return the likelihood of the rows selected by a boolean mask."""

    def notes(self) -> list[str]:
        """Return what the fit should say about the counts (e.g. how many are censored)."""

    def start(self) -> np.ndarray:
        """Return the starting linear predictor."""

    def loglike(self, eta: np.ndarray, alpha: float) -> float:
        """Return the log-likelihood at the linear predictor ``eta``."""

    def newton(self, eta: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Return each row's score and (positive) curvature in ``eta``."""

    def stopping(self, alpha: float) -> Callable[[np.ndarray, float, float], bool]:
        """Return a fresh rule ``stop(eta, ll, ll_before)`` telling when the loop is done."""

    def estimate_alpha(self, x: np.ndarray, codes: list[np.ndarray],
                       offset: np.ndarray) -> AlphaEstimate:
        """Return the joint maximum over the coefficients and the NB2 dispersion."""

    def sandwich(self, x: np.ndarray, codes: list[np.ndarray], eta: np.ndarray, alpha: float,
                 xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(model_bread, bread, scores)`` at the fit; ``xt`` is the last projection."""

    def deviance(self, eta: np.ndarray, alpha: float) -> float:
        """Return the deviance at the fit (NaN when it has no saturated value)."""

    def llf(self, eta: np.ndarray, alpha: float) -> float:
        """Return the log-likelihood reported with the fit."""


@dataclass
class _Newton:
    """Where the Newton iteration stopped."""

    beta: np.ndarray
    eta: np.ndarray
    xt: np.ndarray
    n_iter: int
    converged: bool


def _newton(
    lik: CountLikelihood,
    x: np.ndarray,
    codes: list[np.ndarray],
    offset: np.ndarray,
    alpha: float,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Newton:
    """Maximise a count likelihood at fixed ``alpha`` by safeguarded Newton (IRLS) steps.

    Each step is a weighted least-squares fit of the working response ``eta - offset + score /
    curvature`` with the fixed effects swept out by weighted alternating projections, a full
    step on the linear predictor; when it lowers the log-likelihood (huge counts, a poor start)
    the step is halved until it does not, so the fit climbs monotonically instead of running
    into NaN. The linear predictor is capped at 700 (``exp`` overflows beyond 709). ``start`` is
    a ``(beta, eta)`` pair of an earlier fit; the default start (``lik.start()``) is not a point
    of the model, so the first step from it is taken whole.
    """
    if start is None:
        eta = lik.start()
        beta = np.zeros(x.shape[1])
        ll_old = -np.inf
    else:
        beta, eta = (np.asarray(v, dtype=float).copy() for v in start)
        ll_old = lik.loglike(eta, alpha)
    stop = lik.stopping(alpha)
    xt = x
    for it in range(1, _IRLS_MAX_ITER + 1):
        score, weight = lik.newton(eta, alpha)
        z = eta - offset + score / weight
        both = _demean(np.column_stack([z, x]), codes, weight)
        zt, xt = both[:, 0], both[:, 1:]
        if x.shape[1]:
            sw = np.sqrt(weight)
            beta_new = np.linalg.lstsq(xt * sw[:, None], zt * sw, rcond=None)[0]
            resid = zt - xt @ beta_new
        else:
            beta_new, resid = beta, zt
        step = np.minimum(offset + z - resid, _ETA_MAX) - eta
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            eta_try = eta + t * step
            ll = lik.loglike(eta_try, alpha)
            if np.isfinite(ll) and ll >= ll_old - 1e-9 * (abs(ll_old) + 1.0):
                break
            t /= 2.0
        else:
            return _Newton(beta, eta, xt, it, False)
        beta = beta + t * (beta_new - beta)
        done = stop(eta_try, ll, ll_old)
        eta, ll_old = eta_try, ll
        if done:
            return _Newton(beta, eta, xt, it, True)
    return _Newton(beta, eta, xt, _IRLS_MAX_ITER, False)
