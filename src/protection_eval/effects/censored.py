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

So the fit is the same Newton iteration (IRLS with fixed effects absorbed by weighted
alternating projections) as :mod:`protection_eval.effects.fixed_effects`, with each censored
cell's count replaced by its conditional mean at the current fit and its weight by the curvature
above; steps are halved until the censored log-likelihood does not fall. NB2's ``log(alpha)``
is maximised with the means held fixed (a bounded one-dimensional search) in alternation with
the means, as for exact counts. Errors use the observed information of the censored likelihood.

Only censored fits come here: a fit whose every count is exact goes through
:func:`~protection_eval.effects.fixed_effects.fit_fixed_effects_glm` unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special

from protection_eval.effects.fixed_effects import (
    _ETA_MAX,
    _LOG_ALPHA_MAX,
    _LOG_ALPHA_MIN,
    _MAX_HALVINGS,
    FixedEffectsFit,
    NotEstimable,
    _demean,
    _drop_all_zero_groups,
    _group_codes,
    check_separation,
    negbin_loglike_eta,
)

__all__ = [
    "MAX_INTERVAL_WIDTH",
    "censored_loglike_eta",
    "compute_interval_moments",
    "fit_censored_glm",
    "negbin_logpmf_eta",
]

#: Widest interval a censored cell may span (``hi - lo``); the likelihood sums over it.
MAX_INTERVAL_WIDTH = 1000

_TOL = 1e-11
_MAX_ITER = 200
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


def _newton(
    y: np.ndarray, hi: np.ndarray, x: np.ndarray, codes: list[np.ndarray], offset: np.ndarray,
    alpha: float, start: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Maximise the censored log-likelihood at fixed ``alpha``: beta, eta, converged, steps."""
    cens = hi > y
    if start is None:
        mid = np.where(cens, (y + hi) / 2.0, y)
        eta = np.log((mid + mid.mean()) / 2.0)
        beta = np.zeros(x.shape[1])
        ll_old = -np.inf
    else:
        beta, eta = (np.asarray(v, dtype=float).copy() for v in start)
        ll_old = censored_loglike_eta(y, hi, eta, alpha)
    for it in range(1, _MAX_ITER + 1):
        score, weight = _score_and_weight(y, hi, cens, eta, alpha)
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
            ll = censored_loglike_eta(y, hi, eta_try, alpha)
            if np.isfinite(ll) and ll >= ll_old - 1e-9 * (abs(ll_old) + 1.0):
                break
            t /= 2.0
        else:
            return beta, eta, False, it
        beta = beta + t * (beta_new - beta)
        eta = eta_try
        done = np.isfinite(ll_old) and abs(ll - ll_old) < _TOL * (abs(ll) + 0.1)
        ll_old = ll
        if done:
            return beta, eta, True, it
    return beta, eta, False, _MAX_ITER


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
    beta, eta, _, _ = _newton(y, hi, x, codes, offset, 0.0, None)
    s = 0.0
    for _ in range(_ALPHA_ROUNDS):
        s_new = _best_log_alpha(y, hi, eta)
        beta, eta, _, _ = _newton(y, hi, x, codes, offset, float(np.exp(s_new)), (beta, eta))
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
        beta, eta, _, _ = _newton(y, hi, x, codes, offset, 0.0, (beta, eta))
        return 0.0, float("nan"), (beta, eta), note
    curvature = _log_alpha_curvature(y, hi, eta, s)
    se_log = float(np.sqrt(-1.0 / curvature)) if curvature < 0 else float("nan")
    alpha = float(np.exp(s))
    return alpha, alpha * se_log, (beta, eta), ""


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
    n = len(y)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    codes_all = _group_codes(fixed_effects)
    kept = _drop_all_zero_groups(y, codes_all)
    notes = []
    if not kept.all():
        notes.append(
            f"{int((~kept).sum())} rows dropped: their area or period had no incident at all"
        )
    yk, hik, xk, offk = y[kept], hi[kept], x.to_numpy(dtype=float)[kept], off[kept]
    if len(yk) == 0:
        raise NotEstimable("no incident in the model's sample")
    n_cens = int((hik > yk).sum())
    notes.append(f"{n_cens} counts known only to an interval (small cells such as \"<5\") enter "
                 "the likelihood as interval-censored")
    codes = _group_codes([c[kept] for c in codes_all])
    flat = _demean(xk, codes, np.ones(len(yk))) if codes else xk
    if codes:
        for j, name in enumerate(x.columns):
            if np.abs(flat[:, j]).max() <= 1e-9 * max(np.abs(xk[:, j]).max(), 1.0):
                raise NotEstimable(
                    f"{name} does not vary once area and period effects are removed"
                )
    alpha_se, start = float("nan"), None
    if family == "poisson":
        a = 0.0
    elif family == "negbin":
        check_separation(yk, xk, list(x.columns))
        if alpha is None:
            a, alpha_se, start, note = _fit_alpha(yk, hik, xk, codes, offk)
            notes += [note] if note else []
        else:
            a = float(alpha)
            if not np.isfinite(a) or a < 0:
                raise ValueError(f"alpha must be a finite number >= 0, not {alpha!r}")
    else:
        raise ValueError(f"family must be 'poisson' or 'negbin', not {family!r}")
    beta, eta, converged, n_iter = _newton(yk, hik, xk, codes, offk, a, start)
    score, weight = _score_and_weight(yk, hik, hik > yk, eta, a)
    xt = _demean(xk, codes, weight) if codes else xk
    bread = np.linalg.pinv((xt * weight[:, None]).T @ xt) if xk.shape[1] else np.zeros((0, 0))
    scores = xt * score[:, None]
    k_absorbed = sum(int(c.max()) + 1 for c in codes) - len(codes) + 1 if codes else 0
    n_clusters = 0
    if cluster is None:
        cov, cov_type = bread, "nonrobust"
    else:
        groups = pd.factorize(np.asarray(cluster)[kept])[0]
        n_clusters = int(groups.max()) + 1
        if n_clusters < 2 or len(yk) <= xk.shape[1] + k_absorbed:
            raise NotEstimable(
                f"{n_clusters} clusters and {len(yk)} rows are too few for clustered errors"
            )
        sums = np.zeros((n_clusters, xk.shape[1]))
        np.add.at(sums, groups, scores)
        nobs, k_params = len(yk), xk.shape[1] + k_absorbed
        factor = n_clusters / (n_clusters - 1.0) * (nobs - 1.0) / (nobs - k_params)
        cov, cov_type = factor * bread @ (sums.T @ sums) @ bread, "cluster"
    names = list(x.columns)
    return FixedEffectsFit(
        params=pd.Series(beta, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        cov_type=cov_type,
        family=family,
        alpha=a,
        alpha_se=alpha_se,
        mu=np.exp(eta),
        kept=kept,
        nobs=len(yk),
        n_clusters=n_clusters,
        n_iter=n_iter,
        deviance=float("nan"),
        llf=censored_loglike_eta(yk, hik, eta, a),
        converged=converged,
        k_absorbed=k_absorbed,
        notes=notes,
        scores=scores,
        bread=bread,
    )
