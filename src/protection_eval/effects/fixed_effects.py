"""Count models with absorbed fixed effects.

A Poisson (or negative binomial, NB2) regression with log link whose fixed effects are swept out
by weighted alternating projections inside iteratively reweighted least squares, as in Correia,
Guimarães and Zylkin (2020, "Fast Poisson estimation with high-dimensional fixed effects").
Dummy columns for 2,000 areas x 60 months would need a dense 120,000 x 2,060 design; here the
fixed effects never become columns, so memory stays proportional to the panel.

One fit, two likelihoods: the Newton iteration (:mod:`protection_eval.effects.irls`), the
dropping of groups without an event, the dispersion search and the result are the same for
counts known exactly (:class:`ExactCounts`, here) and for counts some of which are known only
to an interval (the censored likelihood of :mod:`protection_eval.effects.censored`); a
likelihood gives the loop its log-likelihood, its score and curvature in the linear predictor,
its stopping rule and the pieces of the sandwich.

The fit keeps its bread and per-row scores, and its covariance is chosen by name, at the fit
(``cluster=``) or after it (:meth:`FixedEffectsFit.vcov`), from
:mod:`protection_eval.effects.covariance`. Cluster-robust errors use the same CRV1 formula and
small-sample factor as statsmodels' ``cov_type="cluster"`` for a GLM with the fixed effects as
dummies, so both agree to rounding; intervals and p-values use t with the covariance's degrees
of freedom (``G - 1`` when clustered, normal when model-based).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from protection_eval.effects.covariance import (
    Covariance,
    _TooFewClusters,
    compute_conf_int,
    compute_covariance,
    compute_p_value,
)
from protection_eval.effects.irls import (
    _LOG_ALPHA_MAX,
    _LOG_ALPHA_MIN,
    AlphaEstimate,
    CountLikelihood,
    _demean,
    _drop_all_zero_groups,
    _group_codes,
    _newton,
)

__all__ = [
    "AlphaEstimate",
    "CountLikelihood",
    "ExactCounts",
    "FixedEffectsFit",
    "NotEstimable",
    "check_separation",
    "estimate_alpha",
    "fit_fixed_effects_glm",
    "negbin_loglike",
    "negbin_loglike_eta",
]

_IRLS_TOL = 1e-11
_STALL_STEPS = 5
_ALPHA_MAX_ITER = 200


class NotEstimable(ValueError):
    """The data cannot identify the model (no incident, no variation, too few clusters)."""


@dataclass
class FixedEffectsFit:
    """A fitted count model with absorbed fixed effects, shaped like a statsmodels result.

    Attributes
    ----------
    params, bse, pvalues, tvalues : pandas.Series
        Coefficients (log scale), standard errors, two-sided p-values (t with ``df`` degrees of
        freedom, normal when ``df`` is infinite) and t statistics.
    cov : pandas.DataFrame
        Covariance of ``params``, of the kind ``cov_type`` names.
    cov_type : str
        ``"iid"`` (model-based), ``"CRV1"`` (clustered) or ``"DK"`` (Driscoll-Kraay); see
        :mod:`protection_eval.effects.covariance`.
    df : float
        Degrees of freedom of the t reference of ``cov`` (``G - 1`` for ``CRV1``, ``T - 1`` for
        ``DK``, infinite for ``iid``).
    family : str
        ``"poisson"`` or ``"negbin"``.
    alpha : float
        NB2 dispersion (``var = mu + alpha mu^2``); 0 for Poisson.
    alpha_se : float
        Standard error of an estimated ``alpha`` (delta method from ``log(alpha)``); NaN when
        ``alpha`` was given or is at the Poisson limit.
    mu : numpy.ndarray
        Fitted means for the rows kept in the fit.
    kept : numpy.ndarray
        Boolean mask over the input rows: False for rows dropped because their fixed-effect
        group had no event at all (their fixed effect would be minus infinity).
    nobs, n_clusters, n_iter : int
        Rows used, clusters of a ``CRV1`` covariance (else 0), Newton iterations.
    deviance, llf : float
        Deviance (NaN with interval-censored counts) and log-likelihood of the fitted model.
    converged : bool
        Whether the iteration met its tolerance.
    scores, bread : numpy.ndarray
        Each row's score and the inverse information of the sandwich (observed information,
        fixed effects partialled out): what every robust covariance is built from.
    model_bread : numpy.ndarray
        Inverse information of the model-based covariance (expected information for NB2 with
        exact counts, as statsmodels' GLM).
    """

    params: pd.Series
    cov: pd.DataFrame
    cov_type: str
    family: str
    alpha: float
    mu: np.ndarray
    kept: np.ndarray
    nobs: int
    n_clusters: int
    n_iter: int
    deviance: float
    llf: float
    converged: bool
    k_absorbed: int = 0
    alpha_se: float = float("nan")
    notes: list[str] = field(default_factory=list)
    scores: np.ndarray | None = field(default=None, repr=False)
    bread: np.ndarray | None = field(default=None, repr=False)
    model_bread: np.ndarray | None = field(default=None, repr=False)
    df: float = float("inf")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params``."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        """Return the t statistics of ``params``."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``params`` (t with :attr:`df` degrees of freedom)."""
        return pd.Series(compute_p_value(self.params.to_numpy(), self.bse.to_numpy(), self.df),
                         index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        """Return the covariance matrix of the coefficients."""
        return self.cov

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Return confidence intervals for ``params`` at level ``1 - alpha`` (t with ``df``)."""
        low, high = compute_conf_int(self.params, self.bse, self.df, 1 - alpha)
        return pd.DataFrame({0: low, 1: high}, index=self.params.index)

    def vcov(self, name: str, *, groups: np.ndarray | None = None,
             lags: int | None = None) -> FixedEffectsFit:
        """Return the same fit with another covariance, chosen by name.

        Parameters
        ----------
        name : {"iid", "CRV1", "DK"}
            Model-based, clustered or Driscoll-Kraay
            (:func:`~protection_eval.effects.covariance.compute_covariance`).
        groups : numpy.ndarray, optional
            One label per row of the fit (the kept rows): clusters for ``CRV1``, ordered
            periods for ``DK``.
        lags : int, optional
            Bartlett lags of ``DK``.

        Returns
        -------
        FixedEffectsFit
            A copy with ``cov``, ``cov_type``, ``df`` and ``n_clusters`` replaced.

        Raises
        ------
        NotEstimable
            Too few clusters or rows for clustered errors.
        """
        try:
            cov = compute_covariance(
                name, self.bread, self.scores, model_bread=self.model_bread, groups=groups,
                k_params=len(self.params) + self.k_absorbed, lags=lags)
        except _TooFewClusters as err:
            raise NotEstimable(str(err)) from None
        return self._with_cov(cov)

    def _with_cov(self, cov: Covariance) -> FixedEffectsFit:
        names = self.params.index
        return dataclasses.replace(
            self, cov=pd.DataFrame(cov.matrix, index=names, columns=names), cov_type=cov.name,
            df=cov.df, n_clusters=cov.n_groups if cov.name == "CRV1" else 0)


def negbin_loglike(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Return the NB2 log-likelihood (Poisson when ``alpha == 0``)."""
    mu = np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore"):
        eta = np.log(mu)
    return negbin_loglike_eta(np.asarray(y, dtype=float), eta, alpha)


def negbin_loglike_eta(y: np.ndarray, eta: np.ndarray, alpha: float) -> float:
    """Return the NB2 log-likelihood from the linear predictor ``eta = log(mu)``.

    Written so that nothing overflows: ``log(1 + alpha mu)`` is ``logaddexp(0, log(alpha) +
    eta)`` and ``lgamma(y + 1/alpha) - lgamma(1/alpha) - lgamma(y + 1)`` is
    ``-betaln(y, 1/alpha) - log(y)``, which stays accurate when ``1/alpha`` is huge (near the
    Poisson limit) and when counts run to hundreds of thousands.

    Parameters
    ----------
    y : numpy.ndarray
        Non-negative counts.
    eta : numpy.ndarray
        Log of the means.
    alpha : float
        NB2 dispersion (``var = mu + alpha mu^2``); Poisson when ``alpha <= 0``.

    Returns
    -------
    float
        The log-likelihood (minus infinity when a mean is zero where a count is positive).
    """
    pos = y > 0
    if alpha <= 0:
        with np.errstate(over="ignore", invalid="ignore"):
            terms = np.where(pos, y * eta, 0.0) - np.exp(eta) - special.gammaln(y + 1)
        return float(np.sum(terms))
    log_a = np.log(alpha)
    r = 1.0 / alpha
    ycount = np.where(pos, y, 1.0)
    norm = np.where(pos, -special.betaln(ycount, r) - np.log(ycount), 0.0)
    with np.errstate(invalid="ignore"):
        terms = norm + np.where(pos, y * (log_a + eta), 0.0) - (y + r) * np.logaddexp(
            0.0, log_a + eta
        )
    return float(np.sum(terms))


def _deviance(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    if alpha <= 0:
        return float(2 * np.sum(ylogy - (y - mu)))
    inv = 1.0 / alpha
    return float(2 * np.sum(ylogy - (y + inv) * np.log((1 + alpha * y) / (1 + alpha * mu))))


@dataclass
class ExactCounts:
    """The Poisson / NB2 likelihood of counts known exactly.

    Attributes
    ----------
    y : numpy.ndarray
        Non-negative counts.
    """

    y: np.ndarray

    def take(self, rows: np.ndarray) -> ExactCounts:
        """Return the likelihood of the rows selected by a boolean mask."""
        return ExactCounts(self.y[rows])

    def notes(self) -> list[str]:
        """Return nothing: exact counts need no note."""
        return []

    def start(self) -> np.ndarray:
        """Return ``log((y + mean) / 2)``, finite for zero counts."""
        return np.log((self.y + self.y.mean()) / 2.0)

    def loglike(self, eta: np.ndarray, alpha: float) -> float:
        """Return the NB2 (Poisson when ``alpha`` is 0) log-likelihood."""
        return negbin_loglike_eta(self.y, eta, alpha)

    def newton(self, eta: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the score and the observed information in ``eta``.

        Newton-Raphson: the observed-information weights (Fisher's for Poisson) make the NB2
        fit converge quadratically; they stay positive for any count.
        """
        y, mu = self.y, np.exp(eta)
        w = _working_weights(eta, alpha)
        weight = w * (1.0 + alpha * y) / (1.0 + alpha * mu) if alpha > 0 else w
        return (y - mu) / (1.0 + alpha * mu), weight

    def stopping(self, alpha: float) -> Callable[[np.ndarray, float, float], bool]:
        """Stop when the deviance settles, or stalls for several steps.

        With weights spread over many orders of magnitude the projections leave rounding noise
        of about 1e-9 in the deviance: no gain over the best for several steps is convergence
        too.
        """
        state = {"dev_old": np.inf, "best": np.inf, "stalled": 0}

        def stop(eta: np.ndarray, ll: float, ll_before: float) -> bool:
            dev = _deviance(self.y, np.exp(eta), alpha)
            best = state["best"]
            state["stalled"] = (state["stalled"] + 1
                                if dev > best - _IRLS_TOL * (abs(best) + 0.1) else 0)
            state["best"] = min(best, dev)
            if (abs(dev - state["dev_old"]) / (abs(dev) + 0.1) < _IRLS_TOL
                    or state["stalled"] >= _STALL_STEPS):
                return True
            state["dev_old"] = dev
            return False

        return stop

    def estimate_alpha(self, x: np.ndarray, codes: list[np.ndarray],
                       offset: np.ndarray) -> AlphaEstimate:
        """Return the joint maximum over the coefficients and ``alpha``."""
        return estimate_alpha(self.y, x, codes, offset)

    def sandwich(self, x: np.ndarray, codes: list[np.ndarray], eta: np.ndarray, alpha: float,
                 xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the model bread (expected information), the sandwich's bread and scores.

        The log link is not canonical for NB2: the sandwich uses the observed information, as
        statsmodels does, so X is projected again with the observed-Hessian weights; the
        model-based covariance uses the expected information, as statsmodels' GLM.
        """
        y, mu = self.y, np.exp(eta)
        w = _working_weights(eta, alpha)
        if alpha > 0 and x.shape[1]:
            xt = _demean(x, codes, w)
        model_bread = np.linalg.pinv((xt * w[:, None]).T @ xt) if x.shape[1] else np.zeros((0, 0))
        if not (alpha > 0 and x.shape[1]):
            return model_bread, model_bread, xt * (w * (y - mu) / mu)[:, None]
        w_obs = w * (1.0 + alpha * y) / (1.0 + alpha * mu)
        xt_obs = _demean(x, codes, w_obs)
        bread = np.linalg.pinv((xt_obs * w_obs[:, None]).T @ xt_obs)
        return model_bread, bread, xt_obs * (w * (y - mu) / mu)[:, None]

    def deviance(self, eta: np.ndarray, alpha: float) -> float:
        """Return the NB2 (or Poisson) deviance."""
        return _deviance(self.y, np.exp(eta), alpha)

    def llf(self, eta: np.ndarray, alpha: float) -> float:
        """Return the log-likelihood at the fitted means."""
        return negbin_loglike(self.y, np.exp(eta), alpha)


def _working_weights(eta: np.ndarray, alpha: float) -> np.ndarray:
    """Return ``mu / (1 + alpha mu)`` without forming ``alpha mu`` (which can overflow)."""
    if alpha <= 0:
        return np.exp(eta)
    return np.exp(-np.logaddexp(-eta, np.log(alpha)))


def _alpha_derivatives(y: np.ndarray, eta: np.ndarray, log_alpha: float) -> tuple[float, float]:
    """First and second derivative of the NB2 log-likelihood in ``log(alpha)``, means held fixed."""
    a = np.exp(log_alpha)
    r = 1.0 / a
    mu = np.exp(eta)
    # log(1 + alpha mu) and mu / (r + mu) = alpha mu / (1 + alpha mu), both overflow-safe.
    l1 = np.logaddexp(0.0, log_alpha + eta)
    share = np.exp(log_alpha + eta - l1)
    d_r = special.digamma(y + r) - special.digamma(r) - l1 + (mu - y) / (r + mu)
    with np.errstate(over="ignore"):
        d2_r = (
            special.polygamma(1, y + r) - special.polygamma(1, r) + a * share
            + (y - mu) / (r + mu) ** 2
        )
    g_r, h_r = float(np.sum(d_r)), float(np.sum(d2_r))
    # r = exp(-log_alpha): dr/ds = -r, d2r/ds2 = r.
    return -r * g_r, r * r * h_r + r * g_r


def _update_log_alpha(y: np.ndarray, eta: np.ndarray, log_alpha: float) -> float:
    """Maximise the NB2 log-likelihood over ``log(alpha)`` with the means fixed.

    Safeguarded Newton: steps are capped at 2 on the log scale and halved until the
    log-likelihood does not fall; a step that is not uphill is replaced by a gradient step.
    """
    s = float(np.clip(log_alpha, _LOG_ALPHA_MIN, _LOG_ALPHA_MAX))
    ll = negbin_loglike_eta(y, eta, np.exp(s))
    for _ in range(100):
        g, h = _alpha_derivatives(y, eta, s)
        step = -g / h if h < 0 else np.sign(g)
        step = float(np.clip(step, -2.0, 2.0))
        t = 1.0
        while t > 1e-10:
            s_try = float(np.clip(s + t * step, _LOG_ALPHA_MIN, _LOG_ALPHA_MAX))
            ll_try = negbin_loglike_eta(y, eta, np.exp(s_try))
            if ll_try >= ll - 1e-12 * (abs(ll) + 1.0):
                break
            t /= 2.0
        else:
            return s
        moved = abs(s_try - s)
        s, ll = s_try, ll_try
        if moved < 1e-10 or s in (_LOG_ALPHA_MIN, _LOG_ALPHA_MAX):
            return s
    return s



def estimate_alpha(
    y: np.ndarray, x: np.ndarray, codes: list[np.ndarray], offset: np.ndarray
) -> AlphaEstimate:
    """Jointly maximise the NB2 likelihood over the coefficients and ``log(alpha)``.

    Starts from the Poisson fit (robust on the log scale: the IRLS start is ``log((y + mean) /
    2)``) and a moment estimate of ``alpha``, then alternates a safeguarded IRLS fit of the
    means (warm-started) with a safeguarded Newton update of ``log(alpha)`` until both settle,
    as R's ``MASS::glm.nb`` does. In expected information the coefficients and ``alpha`` are
    orthogonal, so the alternation converges quickly to the joint maximum.

    Parameters
    ----------
    y, x, codes, offset
        Counts, regressors, fixed-effect codes (none when ``x`` holds the intercept) and log
        exposure.

    Returns
    -------
    AlphaEstimate
        The dispersion, its standard error, the coefficients and the linear predictor at the
        maximum.

    Raises
    ------
    NotEstimable
        When the dispersion runs to its upper limit (no finite maximum).
    """
    exact = ExactCounts(y)
    poisson = _newton(exact, x, codes, offset, 0.0)
    beta, mu = poisson.beta, np.exp(poisson.eta)
    eta = np.log(mu)
    moment = float(np.sum((y - mu) ** 2 - y) / np.sum(mu**2)) if np.all(np.isfinite(mu)) else 1.0
    s = float(np.log(np.clip(moment, 1e-4, 1e4)))
    ll = -np.inf
    converged = False
    for _ in range(_ALPHA_MAX_ITER):
        s_new = _update_log_alpha(y, eta, s)
        fit = _newton(exact, x, codes, offset, float(np.exp(s_new)), start=(beta, eta))
        beta, eta = fit.beta, np.log(np.exp(fit.eta))
        ll_new = negbin_loglike_eta(y, eta, float(np.exp(s_new)))
        done = abs(s_new - s) < 1e-9 or (
            abs(s_new - s) < 1e-7 and abs(ll_new - ll) < 1e-10 * (abs(ll_new) + 1.0)
        )
        s, ll = s_new, ll_new
        if done:
            converged = fit.converged
            break
    if s >= _LOG_ALPHA_MAX - 1e-6:
        raise NotEstimable(
            "the negative binomial has no finite maximum: its dispersion grows without limit "
            f"(alpha > {np.exp(_LOG_ALPHA_MAX):.0e}), as happens when nearly every count is zero "
            "and a few are huge; use the Poisson model with clustered errors"
        )
    if s <= _LOG_ALPHA_MIN + 1e-6:
        return AlphaEstimate(
            0.0, float("nan"), poisson.beta, np.log(np.exp(poisson.eta)), poisson.converged,
            "dispersion at the Poisson limit (alpha -> 0): counts vary no more than a Poisson "
            "model assumes, so the negative binomial is the Poisson fit",
        )
    _, h = _alpha_derivatives(y, eta, s)
    se_log = float(np.sqrt(-1.0 / h)) if h < 0 else float("nan")
    alpha = float(np.exp(s))
    return AlphaEstimate(alpha, alpha * se_log, beta, eta, converged)


def _checked_alpha(alpha: float) -> float:
    a = float(alpha)
    if not np.isfinite(a) or a < 0:
        raise ValueError(f"alpha must be a finite number >= 0, not {alpha!r}")
    return a


def check_separation(y: np.ndarray, x: np.ndarray, names: list[str]) -> None:
    """Refuse a regressor that perfectly separates zero counts from the rest.

    If a regressor takes one value on every row with a count and only values on one side of it
    on rows without, the likelihood keeps rising as its coefficient runs to plus or minus
    infinity: the ratio is zero or infinite and no finite estimate exists (Santos Silva and
    Tenreyro 2010).

    Parameters
    ----------
    y : numpy.ndarray
        Counts.
    x : numpy.ndarray
        Regressors, one column per name.
    names : list of str
        Regressor names, for the message.

    Raises
    ------
    NotEstimable
        Naming the regressor and what it separates.
    """
    pos = y > 0
    if pos.all() or not pos.any():
        return
    for j, name in enumerate(names):
        on_pos = x[pos, j]
        if np.ptp(on_pos) > 0:
            continue
        value, rest = on_pos[0], x[~pos, j]
        if (rest != value).any() and ((rest >= value).all() or (rest <= value).all()):
            raise NotEstimable(
                f"{name} separates the data: every row with an incident has {name} = {value:g} "
                "and the rows where it differs have no incident at all, so its ratio is zero or "
                "infinite and no finite estimate exists; drop or merge that regressor"
            )


def fit_fixed_effects_glm(
    y: np.ndarray,
    x: pd.DataFrame,
    fixed_effects: list[np.ndarray],
    *,
    family: str = "poisson",
    offset: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    alpha: float | None = None,
    likelihood: CountLikelihood | None = None,
) -> FixedEffectsFit:
    """Fit a log-link Poisson or NB2 model with absorbed fixed effects.

    Parameters
    ----------
    y : numpy.ndarray
        Non-negative counts (the lower bounds, with an interval-censored ``likelihood``).
    x : pandas.DataFrame
        Regressors, no constant (the fixed effects absorb it).
    fixed_effects : list of numpy.ndarray
        One array of group labels per fixed effect; with none, ``x`` must hold the intercept.
    family : {"poisson", "negbin"}
        Variance function; NB2 with ``alpha`` (estimated jointly by maximum likelihood when
        None, see :func:`estimate_alpha`).
    offset : numpy.ndarray, optional
        Log exposure, coefficient fixed at 1.
    cluster : numpy.ndarray, optional
        Cluster labels for CRV1 errors; model-based errors when None. Another covariance can
        be chosen after the fit with :meth:`FixedEffectsFit.vcov`.
    alpha : float, optional
        Fixed NB2 dispersion.
    likelihood : CountLikelihood, optional
        The likelihood of the counts over the same rows as ``y``; :class:`ExactCounts` of ``y``
        when None (:func:`~protection_eval.effects.censored.fit_censored_glm` passes the
        interval-censored one).

    Returns
    -------
    FixedEffectsFit
        The fit, on the rows whose fixed-effect groups have at least one event.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    codes_all = _group_codes(fixed_effects)
    kept = _drop_all_zero_groups(y, codes_all)
    notes = []
    if not kept.all():
        notes.append(
            f"{int((~kept).sum())} rows dropped: their area or period had no incident at all"
        )
    lik = (ExactCounts(y) if likelihood is None else likelihood).take(kept)
    xk, offk = x.to_numpy(dtype=float)[kept], off[kept]
    if len(lik.y) == 0:
        raise NotEstimable("no incident in the model's sample")
    notes += lik.notes()
    codes = _group_codes([c[kept] for c in codes_all])
    _check_variation(xk, codes, list(x.columns))
    a, alpha_se, start = _dispersion(lik, xk, codes, offk, family, alpha, list(x.columns), notes)
    found = _newton(lik, xk, codes, offk, a, start)
    model_bread, bread, scores = lik.sandwich(xk, codes, found.eta, a, found.xt)
    k_absorbed = sum(int(c.max()) + 1 for c in codes) - len(codes) + 1 if codes else 0
    names = list(x.columns)
    fit = FixedEffectsFit(
        params=pd.Series(found.beta, index=names),
        cov=pd.DataFrame(model_bread, index=names, columns=names),
        cov_type="iid",
        family=family,
        alpha=a,
        alpha_se=alpha_se,
        mu=np.exp(found.eta),
        kept=kept,
        nobs=len(lik.y),
        n_clusters=0,
        n_iter=found.n_iter,
        deviance=lik.deviance(found.eta, a),
        llf=lik.llf(found.eta, a),
        converged=found.converged,
        k_absorbed=k_absorbed,
        notes=notes,
        scores=scores,
        bread=bread,
        model_bread=model_bread,
    )
    if cluster is None:
        return fit
    return fit.vcov("CRV1", groups=np.asarray(cluster)[kept])


def _check_variation(x: np.ndarray, codes: list[np.ndarray], names: list[str]) -> None:
    """Refuse a regressor that is constant once the fixed effects are removed."""
    flat = _demean(x, codes, np.ones(len(x)))
    for j, name in enumerate(names):
        if np.abs(flat[:, j]).max() <= 1e-9 * max(np.abs(x[:, j]).max(), 1.0):
            raise NotEstimable(f"{name} does not vary once area and period effects are removed")


def _dispersion(
    lik: CountLikelihood, x: np.ndarray, codes: list[np.ndarray], offset: np.ndarray,
    family: str, alpha: float | None, names: list[str], notes: list[str],
) -> tuple[float, float, tuple[np.ndarray, np.ndarray] | None]:
    """Return the dispersion, its standard error and a start for the final fit."""
    if family == "poisson":
        return 0.0, float("nan"), None
    if family != "negbin":
        raise ValueError(f"family must be 'poisson' or 'negbin', not {family!r}")
    check_separation(lik.y, x, names)
    if alpha is not None:
        return _checked_alpha(alpha), float("nan"), None
    found = lik.estimate_alpha(x, codes, offset)
    notes += [found.note] if found.note else []
    return found.alpha, found.se, (found.beta, found.eta)
