"""Wild cluster score bootstrap for a headline ratio when clusters are few.

Cluster-robust errors with a t reference are too optimistic when a mission has few areas, and
fall apart when a strategy reached only a handful of them (MacKinnon and Webb 2017: the
cluster-robust variance is then dominated by the few treated clusters and understates the
spread). The score bootstrap of Kline and Santos (2012) does not refit the model per draw: it
fits the model once with the coefficient of interest held at a hypothesised value ``b0`` (the
null imposed, which keeps the test's size closest to nominal with few clusters), takes each
area's summed score for the coefficient with the fixed effects partialled out, and flips the
sign of whole areas' scores at random. The p-value of ``b0`` is the share of draws whose
self-normalised score statistic is at least as extreme as the observed one; the interval is
every ``b0`` not rejected, found by inverting the test (the same draws for every ``b0``, so the
p-value function is a fixed step function and the bounds are reproducible).

Weights: Rademacher (+1 or -1) from :data:`WEBB_BELOW` clusters up; below it, Webb's six-point
weights, because ``2^G`` Rademacher sign patterns are too few to give a p-value finer than
``2^-(G-1)`` (Webb 2014).

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
from protection_eval.effects.fixed_effects import NotEstimable, _demean, fit_fixed_effects_glm

__all__ = [
    "BOOTSTRAP_DRAWS",
    "BOOTSTRAP_MAX_CLUSTERS",
    "BOOTSTRAP_MAX_TREATED",
    "BOOTSTRAP_SEED",
    "WEBB_BELOW",
    "BootstrapResult",
    "add_bootstrap",
    "compute_score_bootstrap",
    "make_bootstrap_weights",
    "needs_bootstrap",
]

#: Fewer areas than this switch the bootstrap on.
BOOTSTRAP_MAX_CLUSTERS = 30
#: Fewer treated areas than this switch the bootstrap on, whatever the total.
BOOTSTRAP_MAX_TREATED = 10
#: Fewer clusters than this use Webb's six-point weights instead of Rademacher.
WEBB_BELOW = 12
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
        Draws.
    n_clusters : int
        Clusters whose scores were perturbed.
    seed : int
        Seed of the draws.
    """

    p_value: float
    ci_low: float
    ci_high: float
    weights: str
    n_boot: int
    n_clusters: int
    seed: int


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
    """Draw cluster weights: Webb six-point below :data:`WEBB_BELOW` clusters, else Rademacher.

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
        ``(n_boot, n_clusters)`` weights and their name.
    """
    rng = np.random.default_rng(seed)
    if n_clusters < WEBB_BELOW:
        return rng.choice(_WEBB, size=(n_boot, n_clusters)), "webb"
    return rng.choice([-1.0, 1.0], size=(n_boot, n_clusters)), "rademacher"


class _ScoreTest:
    """The restricted score test of ``coef = b0``, with fixed bootstrap draws."""

    def __init__(self, y: np.ndarray, x: pd.DataFrame, term: str, fixed_effects: list[np.ndarray],
                 groups: np.ndarray, offset: np.ndarray, weights: np.ndarray) -> None:
        self.y, self.term, self.fe, self.offset = y, term, fixed_effects, offset
        self.d = x[term].to_numpy(dtype=float)
        self.others = x.drop(columns=term)
        self.groups = groups
        self.weights = weights

    def statistics(self, b0: float) -> tuple[float, np.ndarray]:
        """Observed and bootstrap self-normalised score statistics at ``b0``."""
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
        w = self.weights[:, : len(sums)]
        observed = sums.sum() / np.sqrt(np.sum(sums**2))
        drawn = (w * sums).sum(axis=1) / np.sqrt(np.sum((w * sums) ** 2, axis=1))
        return float(observed), drawn

    def p_value(self, b0: float) -> float:
        """Symmetric bootstrap p-value of ``coef = b0``."""
        try:
            observed, drawn = self.statistics(b0)
        except NotEstimable:
            return 0.0
        if not np.isfinite(observed):
            return 0.0
        return float((1 + np.sum(np.abs(drawn) >= abs(observed) - 1e-12)) / (1 + len(drawn)))


def _bound(test: _ScoreTest, b_hat: float, se: float, direction: float, size: float) -> float:
    """Walk from the estimate until the test rejects, then bisect to the crossing."""

    def rejects(b: float) -> bool:
        # The tolerance keeps p = 0.05 from 1000 draws on the "not rejected" side.
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
    test = _ScoreTest(y, data[list(regressors)].astype(float), term,
                      [data[c].to_numpy() for c in fixed_effects], groups, off, weights)
    size = 1.0 - level
    low = _bound(test, coef, std_err, -1.0, size) if interval else float("nan")
    high = _bound(test, coef, std_err, 1.0, size) if interval else float("nan")
    return BootstrapResult(
        p_value=test.p_value(0.0), ci_low=float(np.exp(low)), ci_high=float(np.exp(high)),
        weights=name, n_boot=n_boot, n_clusters=n_clusters, seed=seed,
    )


def add_bootstrap(
    estimate: EffectEstimate, n_treated: int, *, seed: int = BOOTSTRAP_SEED
) -> EffectEstimate:
    """Put the bootstrap p-value and interval beside a headline's analytic ones, if needed.

    Only when :func:`needs_bootstrap` says clusters or treated areas are few, and only for a
    Poisson fit with clustered errors (the headline designs); otherwise unchanged.

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
        The same object, with ``boot_*`` set when bootstrapped.
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
    return estimate
