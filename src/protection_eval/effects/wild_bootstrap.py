"""Wild cluster score bootstrap for a headline ratio when clusters are few.

Cluster-robust errors with a t reference are too optimistic when a mission has few areas, and
fall apart when a strategy reached only a handful of them (MacKinnon and Webb 2017: the
cluster-robust variance is then dominated by the few treated clusters and understates the
spread). The score bootstrap of Kline and Santos (2012) does not refit the model per draw: it
fits the model once with the coefficient of interest held at a hypothesised value ``b0`` (the
null imposed, "WCR"), takes each area's summed score ``s_g`` and information ``H_g`` for the
coefficient with the fixed effects partialled out, and flips the sign of whole areas' scores.

The statistic is the bootstrap analogue of the cluster-robust t statistic, not the score (LM)
statistic. One Newton step from ``b0`` gives the estimate ``b0 + S / H`` (``S``, ``H`` the sums
over areas) and each area's score at that estimate ``s_g - H_g S / H``, so
``t = S / sqrt(sum_g (s_g - H_g S / H)^2)``; each draw recomputes the same with the perturbed
scores ``w_g s_g`` (its own re-estimated coefficient and variance).

What it is not: the linear wild cluster restricted bootstrap (WCR). A draw here re-estimates the
tested coefficient only; every other parameter (period effects, covariates) stays where the
restricted fit put it, as Kline and Santos (2012) design it. The linear WCR builds a new outcome
in each draw and refits every coefficient. The two are the same test only when the nuisance
parameters are fixed effects nested in the clusters (area effects, errors clustered by area);
with period effects or a covariate the score bootstrap's p-values come out lower (by up to 0.043
in the comparison with ``wildboottest`` of issue 27). For the exact linear comparison with few
clusters see :mod:`protection_eval.effects.linear_bootstrap`.

The LM form ``S / sqrt(sum_g s_g^2)`` used before keeps the null's variance in every draw; with
four treated areas of 30 its 95% interval covered 99.5% of simulated truths (docs/validity.md).
With only a few treated areas no version is exact: the null-imposed bootstrap then errs on the
wide side (MacKinnon and Webb 2018), the unrestricted one ("WCU") over-rejects badly, so this
module keeps the null imposed. With about 10 areas in all, the re-estimated t rejects a true
"no effect" somewhat too often (7-8% at 5% in simulation, the LM form 5.5%): there, a p-value
near 0.05 is borderline.

The p-value of ``b0`` is the share of draws whose statistic is at least as extreme (in absolute
value) as the observed one; the interval is every ``b0`` not rejected, found by inverting the
test with the same draws for every ``b0``, so the bounds are reproducible.

Weights: below :data:`WEBB_BELOW` clusters, Webb's six-point weights (999 seeded draws), because
``2^G`` Rademacher sign patterns are then too few for a fine p-value (Webb 2014). From
:data:`WEBB_BELOW` to :data:`ENUMERATE_UP_TO` clusters, every one of the ``2^G`` Rademacher sign
patterns is used: the p-value is then exact for the randomisation distribution and does not
depend on the seed. Above, :data:`BOOTSTRAP_DRAWS` seeded Rademacher draws. The Webb switch counts
all clusters, not treated ones: in simulation (4 treated of 30) Webb weights over-rejected
more than Rademacher.

The bootstrap switches on (:func:`needs_bootstrap`) below :data:`BOOTSTRAP_MAX_CLUSTERS` areas or
below :data:`BOOTSTRAP_MAX_TREATED` treated areas: Cameron, Gelbach and Miller (2008) and MacKinnon
and Webb (2017) find cluster-robust t tests over-reject materially below about 30 clusters, and
whatever the total when fewer than about 10 clusters are treated; 10 is also the project's "few
treated areas" caveat (:data:`protection_eval.effects.design.MIN_TREATED_AREAS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import EffectEstimate
from protection_eval.effects.fixed_effects import NotEstimable, fit_fixed_effects_glm
from protection_eval.effects.irls import _demean
from protection_eval.effects.vocabulary import CAVEATS

__all__ = [
    "BOOTSTRAP_DRAWS",
    "BOOTSTRAP_MAX_CLUSTERS",
    "BOOTSTRAP_MAX_TREATED",
    "BOOTSTRAP_SEED",
    "ENUMERATE_UP_TO",
    "FEWEST_RELIABLE_TREATED",
    "WEBB_BELOW",
    "BootstrapResult",
    "add_bootstrap",
    "compute_cluster_scores",
    "compute_score_bootstrap",
    "compute_score_p_value",
    "make_bootstrap_weights",
    "needs_bootstrap",
]

#: Fewer areas than this switch the bootstrap on.
BOOTSTRAP_MAX_CLUSTERS = 30
#: Fewer treated areas than this switch the bootstrap on, whatever the total.
BOOTSTRAP_MAX_TREATED = 10
#: Fewer clusters than this use Webb's six-point weights instead of Rademacher.
WEBB_BELOW = 12
#: Up to this many clusters (from :data:`WEBB_BELOW`), all ``2^G`` Rademacher patterns are used.
ENUMERATE_UP_TO = 16
#: Fewer treated areas than this: the bootstrap interval is known to be too wide (caveat).
FEWEST_RELIABLE_TREATED = 4
#: Bootstrap draws (odd-sized so that ``(B + 1) * 0.05`` is whole).
BOOTSTRAP_DRAWS = 999
#: Default seed: the same data always gives the same bootstrap p-value and interval.
BOOTSTRAP_SEED = 20261130

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


@dataclass
class BootstrapResult:
    """Wild cluster score bootstrap of one coefficient.

    Attributes
    ----------
    p_value : float
        Bootstrap p-value of "no effect" (IRR 1).
    ci_low, ci_high : float
        Bootstrap interval on the IRR scale; 0 or infinity when the test does not reject
        within 20 analytic standard errors of the estimate (the data do not bound the ratio on
        that side); NaN when not computed.
    weights : str
        ``"rademacher"`` or ``"webb"``.
    n_boot : int
        Draws, or sign patterns when ``exact``.
    n_clusters : int
        Clusters whose scores were perturbed.
    seed : int
        Seed of the draws (unused when ``exact``).
    exact : bool
        Every Rademacher sign pattern was used (no sampling).
    """

    p_value: float
    ci_low: float
    ci_high: float
    weights: str
    n_boot: int
    n_clusters: int
    seed: int
    exact: bool = False


def needs_bootstrap(n_clusters: int, n_treated: int) -> bool:
    """Whether the headline needs the bootstrap beside its analytic interval.

    Parameters
    ----------
    n_clusters : int
        Areas (clusters) in the model.
    n_treated : int
        Areas that had the strategy.

    Returns
    -------
    bool
        True below :data:`BOOTSTRAP_MAX_CLUSTERS` areas or :data:`BOOTSTRAP_MAX_TREATED`
        treated areas.
    """
    return n_clusters < BOOTSTRAP_MAX_CLUSTERS or n_treated < BOOTSTRAP_MAX_TREATED


def make_bootstrap_weights(
    n_clusters: int, n_boot: int = BOOTSTRAP_DRAWS, *, seed: int = BOOTSTRAP_SEED
) -> tuple[np.ndarray, str]:
    """Cluster weights: Webb six-point below :data:`WEBB_BELOW` clusters, else Rademacher.

    From :data:`WEBB_BELOW` to :data:`ENUMERATE_UP_TO` clusters the Rademacher weights are not
    drawn but enumerated: all ``2^G`` sign patterns, once each (``n_boot`` and ``seed`` unused),
    so the p-value is the exact randomisation p-value.

    Parameters
    ----------
    n_clusters : int
        Clusters.
    n_boot : int
        Draws.
    seed : int
        Seed.

    Returns
    -------
    tuple of (numpy.ndarray, str)
        ``(n_boot, n_clusters)`` weights (``(2^G, G)`` when enumerated) and their name.
    """
    rng = np.random.default_rng(seed)
    if n_clusters < WEBB_BELOW:
        return rng.choice(_WEBB, size=(n_boot, n_clusters)), "webb"
    if n_clusters <= ENUMERATE_UP_TO:
        return _enumerate_signs(n_clusters), "rademacher"
    return rng.choice([-1.0, 1.0], size=(n_boot, n_clusters)), "rademacher"


def _enumerate_signs(n_clusters: int) -> np.ndarray:
    """Return all ``2^G`` Rademacher sign patterns, the all-plus pattern first."""
    bits = (np.arange(2**n_clusters)[:, None] >> np.arange(n_clusters)[None, :]) & 1
    return 1.0 - 2.0 * bits


def _t_statistics(scores: np.ndarray, information: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    """One-step cluster-robust t statistic of each row of weights (see the module docstring)."""
    perturbed = weights * scores
    total = perturbed.sum(axis=1)
    # Each draw's own estimate moves by total / H; its areas' scores at that estimate drop the
    # part it explains, H_g * total / H, as the linear bootstrap-t re-estimates its residuals.
    at_estimate = perturbed - np.outer(total, information / information.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / np.sqrt(np.sum(at_estimate**2, axis=1))


def compute_score_p_value(
    scores: np.ndarray, information: np.ndarray, weights: np.ndarray, *, exact: bool = False
) -> float:
    """Two-sided wild score bootstrap p-value from the areas' scores at the null.

    Parameters
    ----------
    scores : numpy.ndarray
        Each cluster's summed score ``s_g`` for the coefficient at the hypothesised value, fixed
        effects partialled out.
    information : numpy.ndarray
        Each cluster's information ``H_g`` for the coefficient (``sum mu * d~^2`` for Poisson).
    weights : numpy.ndarray
        ``(B, G)`` cluster weights.
    exact : bool
        ``weights`` enumerate every sign pattern (the observed pattern among them): the p-value
        is the share of patterns at least as extreme. Otherwise the observed statistic counts as
        one more draw: ``(1 + #{|t*| >= |t|}) / (B + 1)``.

    Returns
    -------
    float
        The p-value; NaN when the observed statistic is not finite: every area's score at the
        one-step estimate is zero (one area carries all the information), so the data say
        nothing about the spread. Inverting the test then leaves the interval unbounded.
    """
    scores = np.asarray(scores, dtype=float)
    information = np.asarray(information, dtype=float)
    observed = _t_statistics(scores, information, np.ones((1, len(scores))))[0]
    if not np.isfinite(observed):
        return float("nan")
    drawn = np.abs(_t_statistics(scores, information, weights))
    # Relative tolerance: sign patterns that give the observed statistic up to rounding are
    # ties, and ties count as extreme. A draw without a finite statistic counts as extreme too.
    extreme = ~(drawn < abs(observed) * (1.0 - 1e-9))
    if exact:
        return float(extreme.mean())
    return float((1 + extreme.sum()) / (1 + len(drawn)))


class _ScoreTest:
    """The restricted score test of ``coef = b0``, with fixed bootstrap draws."""

    def __init__(self, y: np.ndarray, x: pd.DataFrame, term: str, fixed_effects: list[np.ndarray],
                 groups: np.ndarray, offset: np.ndarray, weights: np.ndarray,
                 exact: bool) -> None:
        self.y, self.term, self.fe, self.offset = y, term, fixed_effects, offset
        self.d = x[term].to_numpy(dtype=float)
        self.others = x.drop(columns=term)
        self.groups = groups
        self.weights, self.exact = weights, exact

    def scores(self, b0: float) -> tuple[np.ndarray, np.ndarray]:
        """Each cluster's score and information for the coefficient, at the fit holding ``b0``."""
        fit = fit_fixed_effects_glm(self.y, self.others, self.fe,
                                    offset=self.offset + b0 * self.d)
        kept, mu = fit.kept, fit.mu
        codes = [pd.factorize(f[kept])[0] for f in self.fe]
        # The efficient score of the coefficient: the regressor with the fixed effects (and any
        # other regressors) partialled out on the restricted fit's weights.
        cols = np.column_stack([self.d[kept], self.others.to_numpy(dtype=float)[kept]])
        flat = _demean(cols, codes, mu)
        dt = flat[:, 0]
        if flat.shape[1] > 1:
            xo = flat[:, 1:]
            gamma = np.linalg.lstsq(xo * np.sqrt(mu)[:, None], dt * np.sqrt(mu), rcond=None)[0]
            dt = dt - xo @ gamma
        g = pd.factorize(self.groups[kept])[0]
        sums = np.bincount(g, weights=dt * (self.y[kept] - mu))
        information = np.bincount(g, weights=mu * dt**2)
        return sums, information

    def p_value(self, b0: float) -> float:
        """Symmetric bootstrap p-value of ``coef = b0``."""
        try:
            sums, information = self.scores(b0)
        except NotEstimable:
            return 0.0
        # Clusters dropped with all-zero counts leave fewer columns; a column slice of the full
        # enumeration still holds every pattern of the rest equally often.
        return compute_score_p_value(sums, information, self.weights[:, : len(sums)],
                                     exact=self.exact)


def compute_cluster_scores(
    data: pd.DataFrame,
    outcome: str,
    term: str,
    regressors: Sequence[str],
    fixed_effects: Sequence[str],
    cluster: str,
    *,
    b0: float,
    offset: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's score and information for one Poisson coefficient held at ``b0``.

    The inputs of :func:`compute_score_p_value`; exposed so that other bootstrap variants can be
    compared on the same scores (``benchmarks/screen_bootstrap_variants.py``).

    Parameters
    ----------
    data, outcome, term, regressors, fixed_effects, cluster, offset
        As :func:`compute_score_bootstrap`.
    b0 : float
        Hypothesised coefficient (log scale).

    Returns
    -------
    tuple of numpy.ndarray
        ``(scores, information)``, one value per cluster with data, in order of appearance.
    """
    y = data[outcome].to_numpy(dtype=float)
    off = np.zeros(len(y)) if offset is None else data[offset].to_numpy(dtype=float)
    test = _ScoreTest(y, data[list(regressors)].astype(float), term,
                      [data[c].to_numpy() for c in fixed_effects], data[cluster].to_numpy(), off,
                      np.ones((1, 1)), exact=False)
    return test.scores(b0)


def _bound(test: _ScoreTest, b_hat: float, se: float, direction: float, size: float) -> float:
    """Walk from the estimate until the test rejects, then bisect to the crossing."""

    def rejects(b: float) -> bool:
        # The tolerance keeps p = 0.05 from 1000 draws on the "not rejected" side; a NaN
        # p-value (spread unknown) does not reject, so such a bound stays open.
        return test.p_value(b) < size - 1e-9

    inside = b_hat
    for k in (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0):
        outside = b_hat + direction * k * se
        if rejects(outside):
            # The p-value is a step function of b0: bisect rather than root-find.
            while abs(outside - inside) > 1e-3 * se:
                middle = (inside + outside) / 2.0
                if rejects(middle):
                    outside = middle
                else:
                    inside = middle
            return float((inside + outside) / 2.0)
        inside = outside
    return float(direction * np.inf)


def compute_score_bootstrap(
    data: pd.DataFrame,
    outcome: str,
    term: str,
    regressors: Sequence[str],
    fixed_effects: Sequence[str],
    cluster: str,
    *,
    coef: float,
    std_err: float,
    level: float = 0.95,
    n_boot: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
    offset: str | None = None,
    interval: bool = True,
) -> BootstrapResult:
    """Wild cluster score bootstrap (Kline and Santos 2012) of a Poisson coefficient.

    Parameters
    ----------
    data : pandas.DataFrame
        The rows the model was fitted on.
    outcome : str
        Count column.
    term : str
        Regressor whose coefficient is tested.
    regressors : sequence of str
        All regressors of the model (``term`` among them).
    fixed_effects : sequence of str
        Absorbed fixed-effect columns.
    cluster : str
        Cluster column (areas).
    coef, std_err : float
        The analytic estimate and standard error of ``term`` (log scale); they only start the
        search for the interval's bounds.
    level : float
        Confidence level of the interval.
    n_boot : int
        Draws.
    seed : int
        Seed: the same data and seed give the same p-value and interval.
    offset : str, optional
        Log-exposure column.
    interval : bool
        Invert the test for the interval (about 20 more restricted fits); p-value only when
        False.

    Returns
    -------
    BootstrapResult
        p-value of IRR 1 and the interval (IRR scale) by test inversion.
    """
    y = data[outcome].to_numpy(dtype=float)
    off = np.zeros(len(y)) if offset is None else data[offset].to_numpy(dtype=float)
    groups = data[cluster].to_numpy()
    n_clusters = int(pd.Series(groups).nunique())
    weights, name = make_bootstrap_weights(n_clusters, n_boot, seed=seed)
    exact = WEBB_BELOW <= n_clusters <= ENUMERATE_UP_TO
    test = _ScoreTest(y, data[list(regressors)].astype(float), term,
                      [data[c].to_numpy() for c in fixed_effects], groups, off, weights, exact)
    size = 1.0 - level
    low = _bound(test, coef, std_err, -1.0, size) if interval else float("nan")
    high = _bound(test, coef, std_err, 1.0, size) if interval else float("nan")
    return BootstrapResult(
        p_value=test.p_value(0.0), ci_low=float(np.exp(low)), ci_high=float(np.exp(high)),
        weights=name, n_boot=len(weights), n_clusters=n_clusters, seed=seed, exact=exact,
    )


def add_bootstrap(
    estimate: EffectEstimate, n_treated: int, *, seed: int = BOOTSTRAP_SEED
) -> EffectEstimate:
    """Put the bootstrap p-value and interval beside a headline's analytic ones, if needed.

    Only when :func:`needs_bootstrap` says clusters or treated areas are few, and only for a
    Poisson fit with clustered errors (the headline designs); otherwise unchanged. Below
    :data:`FEWEST_RELIABLE_TREATED` treated areas the estimate also gets the
    ``boot_few_treated`` caveat: in simulation (docs/validity.md, 3 treated of 30) the bootstrap
    then never rejected a true "no effect" and two in five of its intervals were unbounded on one
    side; no variant tried was exact with so few.

    Parameters
    ----------
    estimate : EffectEstimate
        A headline estimate with its fit.
    n_treated : int
        Areas that had the strategy.
    seed : int
        Seed of the draws.

    Returns
    -------
    EffectEstimate
        The same object, with ``boot_*`` set (and perhaps a caveat added) when bootstrapped.
    """
    fit = estimate.fit
    if fit is None or fit.cluster is None or fit.family != "poisson":
        return estimate
    if not needs_bootstrap(estimate.n_clusters, n_treated):
        return estimate
    if fit.n_censored:
        # The score bootstrap refits exact Poisson counts; it has no censored form here.
        estimate.caveats.append(
            "No wild bootstrap: some counts are known only to an interval; read the analytic "
            "interval with the few-areas caveat in mind."
        )
        return estimate
    row = fit.to_frame().set_index("term").loc[estimate.term]
    regressors = list(fit.params.index.drop("const", errors="ignore"))
    result = compute_score_bootstrap(
        fit.data, fit.outcome, estimate.term, regressors, fit.fixed_effects, fit.cluster,
        coef=float(row["coef"]), std_err=float(row["std_err"]), seed=seed,
    )
    estimate.boot_p_value = result.p_value
    estimate.boot_ci_low, estimate.boot_ci_high = result.ci_low, result.ci_high
    estimate.boot_weights = result.weights
    if n_treated < FEWEST_RELIABLE_TREATED:
        estimate.caveats.append(CAVEATS["boot_few_treated"].format(n=n_treated))
    return estimate
