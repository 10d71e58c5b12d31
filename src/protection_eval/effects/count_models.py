"""Count models and the result objects every effect estimate is reported in.

:func:`fit_count_model` is the generic entry point for an evaluator's own specification: a Poisson
or negative binomial (NB2) regression with log link, with fixed effects absorbed (see
:mod:`protection_eval.effects.fixed_effects`) or, without fixed effects, a statsmodels GLM (the NB2
with an estimated dispersion uses the project's own maximum likelihood, which statsmodels' fails to
reach on heavy-tailed counts). All give the same coefficients and errors as a statsmodels GLM with
dummy columns (at the same dispersion), so a reader can check any number with statsmodels.

:class:`EffectEstimate` is one incidence-rate ratio with its interval, sample sizes and the
caveats that apply to it, written in words, next to the number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from protection_eval.effects.censored import fit_censored_glm
from protection_eval.effects.covariance import (
    compute_conf_int,
    compute_contrast_df,
    compute_covariance,
    compute_p_value,
)
from protection_eval.effects.fixed_effects import (
    FixedEffectsFit,
    NotEstimable,
    fit_fixed_effects_glm,
)
from protection_eval.effects.vocabulary import CAVEATS

__all__ = [
    "EFFECT_COLUMNS",
    "MIN_INCIDENTS_FOR_MODEL",
    "CountModelResult",
    "EffectEstimate",
    "NotEstimable",
    "compute_contrast_df",
    "compute_driscoll_kraay_cov",
    "compute_overdispersion_test",
    "compute_wald_test",
    "fit_count_model",
]

#: Below this many incidents in a model's sample the estimate is flagged as not to be trusted.
MIN_INCIDENTS_FOR_MODEL = 100

#: Columns of :meth:`EffectEstimate.to_frame`.
EFFECT_COLUMNS = [
    "strategy_id",
    "estimand",
    "model",
    "design",
    "headline",
    "irr",
    "ci_low",
    "ci_high",
    "p_value",
    "se_log_irr",
    "n_areas",
    "n_periods",
    "n_incidents",
    "breakdown_m",
    "caveats",
    "n_clusters",
    "alpha",
    "theta",
    "alpha_se",
    "boot_p_value",
    "boot_ci_low",
    "boot_ci_high",
    "boot_weights",
]


@dataclass
class CountModelResult:
    """A fitted count model.

    Attributes
    ----------
    model : statsmodels GLMResults or FixedEffectsFit
        The underlying fitted model (``params``, ``bse``, ``cov_params()``, ``conf_int()``...).
    family : str
        ``"poisson"`` or ``"negbin"``.
    alpha : float
        NB2 dispersion (0 for Poisson).
    fixed_effects : tuple of str
        Absorbed fixed-effect columns.
    cluster : str or None
        Cluster column of the errors.
    data : pandas.DataFrame
        The rows used (after dropping missing values and all-zero fixed-effect groups).
    outcome : str
        Outcome column.
    fitted : numpy.ndarray
        Fitted means on ``data``.
    notes : list of str
        What was dropped and why.
    alpha_se : float
        Standard error of an estimated ``alpha`` (delta method from ``log(alpha)``); NaN for
        Poisson, a given ``alpha`` or the Poisson limit.
    upper : str or None
        Column of upper bounds when some counts are interval-censored (``outcome`` then holds
        the lower bounds); None for exact counts.
    """

    model: Any
    family: str
    alpha: float
    fixed_effects: tuple[str, ...]
    cluster: str | None
    data: pd.DataFrame
    outcome: str
    fitted: np.ndarray
    notes: list[str] = field(default_factory=list)
    alpha_se: float = float("nan")
    upper: str | None = None

    @property
    def n_censored(self) -> int:
        """Rows whose count is known only to an interval."""
        if self.upper is None:
            return 0
        return int((self.data[self.upper] > self.data[self.outcome]).sum())

    @property
    def theta(self) -> float:
        """NB2 shape ``1 / alpha`` (infinite for Poisson)."""
        return float("inf") if self.alpha == 0 else 1.0 / self.alpha

    @property
    def llf(self) -> float:
        """Log-likelihood of the fit."""
        return float(self.model.llf)

    @property
    def params(self) -> pd.Series:
        """Coefficients on the log scale."""
        return pd.Series(self.model.params)

    @property
    def converged(self) -> bool:
        """Whether the fit converged."""
        if isinstance(self.model, FixedEffectsFit):
            return self.model.converged
        return bool(getattr(self.model, "converged", True))

    @property
    def n_incidents(self) -> int:
        """Total of the outcome over the rows used."""
        return int(self.data[self.outcome].sum())

    @property
    def df(self) -> float:
        """Degrees of freedom of the t reference of the covariance (infinite: normal).

        ``G - 1`` with errors clustered in ``G`` groups, ``T - 1`` for Driscoll-Kraay, infinite
        for model-based errors (see :mod:`protection_eval.effects.covariance`).
        """
        if isinstance(self.model, FixedEffectsFit):
            return float(self.model.df)
        if getattr(self.model, "cov_type", "") == "cluster":
            return float(self.model.df_resid_inference)
        return float("inf")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the coefficients."""
        return pd.Series(self.model.bse)

    def cov_params(self) -> pd.DataFrame:
        """Return the covariance of the coefficients."""
        return pd.DataFrame(self.model.cov_params())

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Return ``ci_low, ci_high`` of each coefficient on the log scale, t with :attr:`df`.

        Parameters
        ----------
        level : float
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient (the intercept included when there is one).
        """
        low, high = compute_conf_int(self.params, self.bse, self.df, level)
        return pd.DataFrame({"ci_low": low, "ci_high": high})

    def vcov(self, name: str, *, cluster: str | None = None, time: str | None = None,
             lags: int | None = None) -> CountModelResult:
        """Return the same fit with another covariance, chosen by name (as pyfixest's ``vcov``).

        Parameters
        ----------
        name : {"iid", "CRV1", "DK"}
            Model-based, clustered by ``cluster``, or Driscoll-Kraay over the periods of
            ``time`` (:mod:`protection_eval.effects.covariance`).
        cluster : str, optional
            Cluster column of :attr:`data` (``CRV1``).
        time : str, optional
            Ordered period column of :attr:`data` (``DK``).
        lags : int, optional
            Bartlett lags of ``DK``.

        Returns
        -------
        CountModelResult
            A copy whose ``model``, ``cluster`` and degrees of freedom follow the covariance.

        Raises
        ------
        ValueError
            ``CRV1`` without ``cluster`` or ``DK`` without ``time``.
        TypeError
            ``DK`` for a fit without absorbed fixed effects (a statsmodels GLM).
        NotEstimable
            Too few clusters or rows for clustered errors.
        """
        column = {"CRV1": cluster, "DK": time}.get(name)
        if name in ("CRV1", "DK") and column is None:
            raise ValueError(f"the {name} covariance needs "
                             f"{'cluster=' if name == 'CRV1' else 'time='} a column of the data")
        groups = None if column is None else self.data[column].to_numpy()
        if isinstance(self.model, FixedEffectsFit):
            model = self.model.vcov(name, groups=groups, lags=lags)
        elif name == "DK":
            raise TypeError("Driscoll-Kraay errors need a fit with absorbed fixed effects")
        else:
            model = _fit_glm(self.model.model, groups)
        return dataclasses.replace(self, model=model, cluster=cluster if name == "CRV1" else None)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """Return one row per regressor.

        Parameters
        ----------
        level : float
            Confidence level of the intervals (t with :attr:`df` degrees of freedom: ``G - 1``
            when the errors are clustered, normal when model-based).

        Returns
        -------
        pandas.DataFrame
            ``term, coef, irr, std_err, ci_low, ci_high, p_value`` (intervals on the IRR scale),
            one row per regressor (the intercept, when there is one, is in ``model.params``).
        """
        # The intercept is not a regressor; it stays reachable in ``model.params``.
        params = self.params.drop("const", errors="ignore")
        bse = self.bse[params.index].to_numpy()
        low, high = compute_conf_int(params.to_numpy(), bse, self.df, level)
        return pd.DataFrame(
            {
                "term": params.index.astype(str),
                "coef": params.to_numpy(),
                "irr": np.exp(params.to_numpy()),
                "std_err": bse,
                "ci_low": np.exp(low),
                "ci_high": np.exp(high),
                "p_value": compute_p_value(params.to_numpy(), bse, self.df),
            }
        )


def _fit_glm(glm: Any, groups: np.ndarray | None) -> Any:
    """Fit a statsmodels GLM with model-based errors, or clustered on ``groups`` (t on G - 1)."""
    if groups is None:
        return glm.fit(tol=1e-12)
    return glm.fit(tol=1e-12, cov_type="cluster", use_t=True,
                   cov_kwds={"groups": pd.factorize(groups)[0]})


def _complete_rows(data: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in the data: {missing}; available: {list(data.columns)}")
    keep = data[columns].notna().all(axis=1)
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} rows dropped: missing values in the model columns")
    return data.loc[keep].reset_index(drop=True), notes


def _check_identified(frame: pd.DataFrame, regressors: list[str], cluster: str | None) -> None:
    """Refuse, in words, what no fit without fixed effects can identify."""
    for name in regressors:
        if frame[name].nunique() <= 1:
            raise NotEstimable(
                f"{name} has the same value in every row, so its effect cannot be told apart "
                "from the baseline; drop it from the regressors"
            )
    if cluster is not None and frame[cluster].nunique() < 2:
        raise NotEstimable(
            f"all rows are in one {cluster}: clustered errors need at least two clusters; "
            "fit without cluster= or add areas"
        )


def fit_count_model(
    data: pd.DataFrame,
    outcome: str,
    regressors: Sequence[str],
    *,
    family: str = "poisson",
    fixed_effects: Sequence[str] = (),
    offset: str | None = None,
    cluster: str | None = None,
    alpha: float | None = None,
    upper: str | None = None,
) -> CountModelResult:
    """Fit a log-link count model, absorbing fixed effects.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation (e.g. the panel).
    outcome : str
        Count column.
    regressors : sequence of str
        Numeric regressor columns. An intercept is added unless fixed effects absorb it.
    family : {"poisson", "negbin"}
        Poisson, or NB2 (``var = mu + alpha mu^2``) with ``alpha`` estimated by maximum likelihood
        unless given: a safeguarded IRLS for the coefficients alternating with a Newton update of
        ``log(alpha)``, overflow-safe for counts in the hundreds of thousands
        (:func:`~protection_eval.effects.fixed_effects.estimate_alpha`). ``alpha`` (``fit.alpha``),
        its standard error (``fit.alpha_se``), ``fit.theta`` and ``fit.llf`` are reported.
    fixed_effects : sequence of str
        Columns whose levels get a fixed effect (e.g. ``("area_id", "period_index")``).
    offset : str, optional
        Column holding the log of exposure; its coefficient is fixed at 1.
    cluster : str, optional
        Column of cluster labels for CRV1 cluster-robust errors (statsmodels' small-sample
        factor); model-based errors when None.
    alpha : float, optional
        Fixed NB2 dispersion instead of the estimate.
    upper : str, optional
        Column of upper bounds for counts known only to an interval (a published "<5" is 1..4):
        the ``outcome`` column then holds the lower bounds, and a row whose upper bound exceeds
        its lower bound enters the likelihood as ``P(lower <= Y <= upper)``
        (:mod:`protection_eval.effects.censored`). Never chosen for you: a panel from published
        counts has ``upper_<outcome>`` (:func:`~protection_eval.effects.design.upper_column`
        names it), and without ``upper=`` its lower bounds are taken as exact counts. When no
        row is censored the fit is the exact-count fit, unchanged.

    Returns
    -------
    CountModelResult
        ``to_frame()`` gives ``term, coef, irr, std_err, ci_low, ci_high, p_value`` per
        regressor; ``.model`` is the statsmodels GLM result (no fixed effects) or the
        :class:`~protection_eval.effects.fixed_effects.FixedEffectsFit`.

    Raises
    ------
    NotEstimable
        With a reason in words when the data cannot identify the model: no incident, a
        regressor that never varies or separates the zero counts, one cluster, or a dispersion
        without a finite maximum.
    """
    regressors = list(regressors)
    fixed_effects = tuple(fixed_effects)
    if upper is not None and (data[upper] > data[outcome]).any():
        return _fit_censored(data, outcome, upper, regressors, family=family,
                             fixed_effects=fixed_effects, offset=offset, cluster=cluster,
                             alpha=alpha)
    columns = [outcome, *regressors, *fixed_effects]
    columns += [c for c in (offset, cluster) if c is not None and c not in columns]
    frame, notes = _complete_rows(data, columns)
    if len(frame) == 0:
        raise NotEstimable("no rows left to fit: every row misses a model column")
    y = frame[outcome].to_numpy(dtype=float)
    if (y < 0).any():
        raise ValueError(f"outcome {outcome!r} has negative values; counts must be >= 0")
    off = None if offset is None else frame[offset].to_numpy(dtype=float)
    groups = None if cluster is None else frame[cluster].to_numpy()
    if fixed_effects:
        fit = fit_fixed_effects_glm(
            y,
            frame[regressors].astype(float),
            [frame[c].to_numpy() for c in fixed_effects],
            family=family,
            offset=off,
            cluster=groups,
            alpha=alpha,
        )
        notes += fit.notes
        used = frame.loc[fit.kept].reset_index(drop=True)
        return CountModelResult(
            model=fit, family=family, alpha=fit.alpha, fixed_effects=fixed_effects,
            cluster=cluster, data=used, outcome=outcome, fitted=fit.mu, notes=notes,
            alpha_se=fit.alpha_se,
        )
    if y.sum() == 0:
        raise NotEstimable("no incident in the model's sample")
    _check_identified(frame, regressors, cluster)
    x = sm.add_constant(frame[regressors].astype(float), has_constant="add")
    if family == "negbin" and alpha is None:
        # statsmodels' NB2 fit runs alpha to infinity or into NaN on heavy-tailed counts; the
        # project's own maximum likelihood (the intercept as a column, nothing absorbed) does
        # not, and its errors use the same formulas as a statsmodels GLM.
        fit = fit_fixed_effects_glm(y, x, [], family="negbin", offset=off, cluster=groups)
        return CountModelResult(
            model=fit, family=family, alpha=fit.alpha, fixed_effects=(), cluster=cluster,
            data=frame, outcome=outcome, fitted=fit.mu, notes=notes + fit.notes,
            alpha_se=fit.alpha_se,
        )
    if family == "poisson":
        fam, a = sm.families.Poisson(), 0.0
    elif family == "negbin":
        a = float(alpha)
        fam = sm.families.NegativeBinomial(alpha=a)
    else:
        raise ValueError(f"family must be 'poisson' or 'negbin', not {family!r}")
    res = _fit_glm(sm.GLM(frame[outcome].astype(float), x, family=fam, offset=off), groups)
    return CountModelResult(
        model=res, family=family, alpha=a, fixed_effects=(), cluster=cluster, data=frame,
        outcome=outcome, fitted=np.asarray(res.fittedvalues), notes=notes,
    )


def _fit_censored(
    data: pd.DataFrame, outcome: str, upper: str, regressors: list[str], *, family: str,
    fixed_effects: tuple[str, ...], offset: str | None, cluster: str | None,
    alpha: float | None,
) -> CountModelResult:
    """Fit :func:`fit_count_model` when some counts are known only to an interval."""
    if family not in ("poisson", "negbin"):
        raise ValueError(f"family must be 'poisson' or 'negbin', not {family!r}")
    columns = [outcome, upper, *regressors, *fixed_effects]
    columns += [c for c in (offset, cluster) if c is not None and c not in columns]
    frame, notes = _complete_rows(data, columns)
    if len(frame) == 0:
        raise NotEstimable("no rows left to fit: every row misses a model column")
    y = frame[outcome].to_numpy(dtype=float)
    hi = frame[upper].to_numpy(dtype=float)
    if (y < 0).any():
        raise ValueError(f"outcome {outcome!r} has negative values; counts must be >= 0")
    if (hi < y).any():
        raise ValueError(f"{upper!r} is below {outcome!r} in some rows; an upper bound must be "
                         "at least its lower bound")
    if fixed_effects:
        x = frame[regressors].astype(float)
    else:
        if hi.sum() == 0:
            raise NotEstimable("no incident in the model's sample")
        _check_identified(frame, regressors, cluster)
        x = sm.add_constant(frame[regressors].astype(float), has_constant="add")
    fit = fit_censored_glm(
        y, hi, x, [frame[c].to_numpy() for c in fixed_effects], family=family,
        offset=None if offset is None else frame[offset].to_numpy(dtype=float),
        cluster=None if cluster is None else frame[cluster].to_numpy(), alpha=alpha,
    )
    return CountModelResult(
        model=fit, family=family, alpha=fit.alpha, fixed_effects=fixed_effects, cluster=cluster,
        data=frame.loc[fit.kept].reset_index(drop=True), outcome=outcome, fitted=fit.mu,
        notes=notes + fit.notes, alpha_se=fit.alpha_se, upper=upper,
    )


def compute_wald_test(
    result: CountModelResult, terms: Sequence[str], *, df: float | None = None
) -> tuple[float, int, float]:
    """Jointly test that ``terms`` are all zero.

    With ``df`` (degrees of freedom of the cluster-robust covariance, e.g. clusters - 1) the
    p-value uses Hotelling's T-squared correction, ``F = (df - q + 1) / (df q) * chi2`` on
    ``(q, df - q + 1)`` degrees of freedom: the plain chi-square test of several leads with
    clustered errors rejects far too often (20% at a nominal 5% in our simulations with 19
    treated areas and 5 leads; 3% with the correction).

    Parameters
    ----------
    result : CountModelResult
        A fit holding the terms.
    terms : sequence of str
        Coefficient names.
    df : float, optional
        Degrees of freedom of the covariance; plain chi-square when None.

    Returns
    -------
    tuple of (float, int, float)
        Chi-square statistic, number of terms, p-value (NaN when ``terms`` is empty or there
        are fewer degrees of freedom than terms).
    """
    terms = list(terms)
    if not terms:
        return float("nan"), 0, float("nan")
    b = result.params[terms].to_numpy()
    v = result.cov_params().loc[terms, terms].to_numpy()
    stat = float(b @ np.linalg.pinv(v) @ b)
    q = len(terms)
    if df is None:
        return stat, q, float(stats.chi2.sf(stat, q))
    if df - q + 1 <= 0:
        return stat, q, float("nan")
    f_stat = (df - q + 1) / (df * q) * stat
    return stat, q, float(stats.f.sf(f_stat, q, df - q + 1))


def compute_driscoll_kraay_cov(
    result: CountModelResult, time: str, *, lags: int | None = None
) -> pd.DataFrame:
    """Driscoll-Kraay covariance: robust to shocks common to all areas and to autocorrelation.

    Scores are summed over areas within each period and the period sums get a Newey-West
    (Bartlett) long-run variance, so a shock that hits every area in a month counts once, not
    once per area. This is the right error for a change that happens everywhere at once. The
    same as ``result.vcov("DK", time=time).cov_params()``.

    Parameters
    ----------
    result : CountModelResult
        A fit with absorbed fixed effects.
    time : str
        Period column of ``result.data`` (ordered integers, e.g. ``period_index``).
    lags : int, optional
        Bartlett lags; ``floor(4 (T / 100) ^ (2 / 9))`` when None.

    Returns
    -------
    pandas.DataFrame
        Covariance of the coefficients, with the small-sample factor ``T / (T - 1)``.
    """
    fit = result.model
    if not isinstance(fit, FixedEffectsFit) or fit.scores is None:
        raise TypeError("Driscoll-Kraay errors need a fit with absorbed fixed effects")
    cov = compute_covariance("DK", fit.bread, fit.scores, groups=result.data[time].to_numpy(),
                             lags=lags)
    names = fit.params.index
    return pd.DataFrame(cov.matrix, index=names, columns=names)


def compute_overdispersion_test(result: CountModelResult) -> tuple[float, float]:
    """Cameron-Trivedi test of Poisson equidispersion against NB2.

    Regresses ``((y - mu)^2 - y) / mu`` on ``mu`` without a constant; a positive, significant
    slope means the variance grows faster than the mean. It needs every count exactly: for a
    fit with interval-censored counts it returns NaN (the negative binomial row, whose
    dispersion is estimated on the censored likelihood, answers the same question).

    Parameters
    ----------
    result : CountModelResult
        A Poisson fit.

    Returns
    -------
    tuple of (float, float)
        The estimated ``alpha`` and its one-sided p-value.
    """
    if result.n_censored:
        return float("nan"), float("nan")
    y = result.data[result.outcome].to_numpy(dtype=float)
    mu = np.asarray(result.fitted, dtype=float)
    aux = ((y - mu) ** 2 - y) / mu
    fit = sm.OLS(aux, mu).fit()
    return float(fit.params[0]), float(stats.norm.sf(fit.tvalues[0]))


@dataclass
class EffectEstimate:
    """One incidence-rate ratio with its interval and caveats.

    Attributes
    ----------
    strategy_id : str
        Strategy (or ``"patrol-presence"`` for dose-response).
    estimand : str
        What is estimated: ``deployment``, ``event_time_<k>``, ``dose_patrol_hours``...
    model : str
        Family and fixed effects, e.g. ``poisson_fe``.
    design : str
        Comparison design: ``stacked_not_yet_treated``, ``twfe``, ``event_study``,
        ``interrupted_time_series``, ``panel_fe``.
    headline : bool
        Whether this is the strategy's headline number.
    irr, ci_low, ci_high, p_value : float
        Ratio, 95% interval and p-value (t with G - 1 degrees of freedom when errors are
        clustered in G groups, else normal).
    se_log_irr : float
        Standard error of ``log(irr)``, as the interval used it (what pooling across missions
        needs; backing it out of the rounded interval with 1.96 would be wrong under t).
    n_areas, n_periods, n_incidents : int
        Sample of the model.
    caveats : list of str
        Plain-words caveats.
    fit : CountModelResult or None
        The fitted model behind the number.
    term : str
        Coefficient name in ``fit``.
    unit : str
        What one unit of the regressor is ("strategy active", "doubling of patrol-hours"...).
    n_clusters : int
        Clusters (areas) of the errors; 0 when the errors are not clustered.
    boot_p_value, boot_ci_low, boot_ci_high : float
        Wild cluster score bootstrap p-value and 95% interval (IRR scale), beside the analytic
        ones, when clusters or treated areas are few (see
        :mod:`protection_eval.effects.wild_bootstrap`); NaN otherwise.
    boot_weights : str
        ``"rademacher"`` or ``"webb"`` when bootstrapped, else empty.
    breakdown_m : float
        Relative-magnitudes breakdown value (Rambachan and Roth 2023) when the strategy's
        pre-trend test failed, else NaN: see :meth:`EventStudyResult.compute_breakdown
        <protection_eval.effects.event_study.EventStudyResult.compute_breakdown>`.
    """

    strategy_id: str
    estimand: str
    model: str
    design: str
    irr: float
    ci_low: float
    ci_high: float
    p_value: float
    n_areas: int
    n_periods: int
    n_incidents: int
    caveats: list[str] = field(default_factory=list)
    headline: bool = False
    fit: CountModelResult | None = None
    term: str = ""
    unit: str = ""
    n_clusters: int = 0
    boot_p_value: float = float("nan")
    boot_ci_low: float = float("nan")
    boot_ci_high: float = float("nan")
    boot_weights: str = ""

    @property
    def alpha(self) -> float:
        """NB2 dispersion of a negative binomial fit (NaN for other models)."""
        if self.fit is None or self.fit.family != "negbin":
            return float("nan")
        return float(self.fit.alpha)

    @property
    def theta(self) -> float:
        """NB2 shape ``1 / alpha`` (NaN for other models; infinite at the Poisson limit)."""
        return float("nan") if np.isnan(self.alpha) else self.fit.theta

    @property
    def alpha_se(self) -> float:
        """Standard error of ``alpha`` (NaN for other models and at the Poisson limit)."""
        return float("nan") if np.isnan(self.alpha) else float(self.fit.alpha_se)
    se_log_irr: float = float("nan")
    breakdown_m: float = float("nan")

    @classmethod
    def from_fit(
        cls,
        fit: CountModelResult,
        term: str,
        *,
        strategy_id: str,
        estimand: str,
        model: str,
        design: str,
        area_col: str = "area_id",
        period_col: str = "period_index",
        unit: str = "",
        headline: bool = False,
        df: float | None = None,
        std_err: float | None = None,
    ) -> EffectEstimate:
        """Build the estimate of ``term`` from a fit, with the caveats every estimate carries.

        The interval and p-value use t with the fit's degrees of freedom (:attr:`CountModelResult.df
        <protection_eval.effects.count_models.CountModelResult.df>`); ``df`` overrides them (see
        :func:`~protection_eval.effects.covariance.compute_contrast_df`), ``std_err`` the
        standard error of the log ratio.
        """
        coef = float(fit.params[term])
        se = float(fit.bse[term]) if std_err is None else float(std_err)
        # The fit's own degrees of freedom (G - 1 with clustered errors, as Stata and fixest:
        # the normal interval under-covers when few areas carry the contrast) unless the design
        # gives its own.
        df = fit.df if df is None else df
        low, high = compute_conf_int(coef, se, df)
        used = fit.data.drop_duplicates([area_col, period_col])
        n_incidents = int(used[fit.outcome].sum())
        caveats = [CAVEATS["reported"]]
        if n_incidents < MIN_INCIDENTS_FOR_MODEL:
            caveats.append(CAVEATS["few_incidents"].format(n=n_incidents))
        if not fit.converged:
            caveats.append(CAVEATS["not_converged"])
        if fit.n_censored:
            n_cells = int((used[fit.upper] > used[fit.outcome]).sum())
            caveats.append(CAVEATS["censored"].format(n=n_cells))
        return cls(
            strategy_id=strategy_id,
            estimand=estimand,
            model=model,
            design=design,
            irr=float(np.exp(coef)),
            ci_low=float(np.exp(low)),
            ci_high=float(np.exp(high)),
            p_value=compute_p_value(coef, se, df),
            n_areas=int(used[area_col].nunique()),
            n_periods=int(used[period_col].nunique()),
            n_incidents=n_incidents,
            caveats=caveats,
            headline=headline,
            fit=fit,
            term=term,
            unit=unit,
            n_clusters=int(fit.data[fit.cluster].nunique()) if fit.cluster else 0,
            se_log_irr=se,
        )

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row frame with :data:`EFFECT_COLUMNS` (caveats joined by spaces)."""
        row = {c: getattr(self, c) for c in EFFECT_COLUMNS if c != "caveats"}
        row["caveats"] = " ".join(self.caveats)
        return pd.DataFrame([row], columns=EFFECT_COLUMNS)
