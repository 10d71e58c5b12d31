"""How many incidents no source reported: capture-recapture from cross-source matches.

Where two or more sources report incidents, ingestion finds the same incident reported twice
(same time, place and type from another source), keeps the first report and records the other
sources in ``matched_sources``. Each incident then has a capture history: the set of sources
that reported it. The overlap between sources says how complete they are: if the mission's
human-rights unit records half of what a partner records, and half of the partner's incidents
too, each source sees about half of all incidents, and as many again went unreported by both.

- **Two sources**: Chapman's nearly unbiased estimator ``N = (n1 + 1)(n2 + 1) / (m + 1) - 1``
  with Seber's variance.
- **Three or more**: log-linear models (Fienberg 1972), a Poisson GLM over the ``2^S - 1``
  observed capture histories with a main effect per source and, optionally, pairwise
  interactions (two sources that tend to report the same incidents, e.g. a partner that
  refers survivors to the mission). The unobserved history's count is ``exp(intercept)``.
  A zero cell can leave a model without a finite maximum-likelihood estimate (the likelihood
  keeps rising along a direction that sends the unobserved count to infinity); such a model is
  found by Haberman's (1974) existence condition, checked as a linear programme
  (:func:`has_finite_mle`), and left out. Which dependence holds is not known, so no single
  model is picked: the independence model and every model adding pairwise interactions
  (keeping a residual degree of freedom) are averaged with Akaike weights, and the variance
  is Buckland et al.'s (1997) unconditional one, which adds the spread between models to each
  model's own error. Picking the lowest-AIC model and reporting its interval as if it had been
  chosen in advance under-covered in the simulations (84-89% for a nominal 95%;
  docs/validity.md).

Intervals are Chao's (1987) log-normal intervals for the population, which stay above the
number observed and are skewed like the estimator: ``[n + f0 / C, n + f0 C]`` with
``C = exp(z sqrt(log(1 + var / f0^2)))``. ``docs/validity.md`` gives their coverage in
simulations with planted capture probabilities (``benchmarks/simulate_capture_recapture.py``).

What every estimate assumes, stated with each result (:data:`ASSUMPTIONS`): the population is
closed within the area and quarter; matches are right (two reports of one incident that
ingestion does not match, say with dates a day apart, look like two incidents, and the
estimate of the unreported rises); within a source every incident has the same chance of being
reported, or the sources' chances vary independently; for two sources, the sources report
independently of each other (positive dependence, such as referrals, makes the estimate too
low); for log-linear models, no dependence beyond the pairwise terms chosen.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from protection_eval.model import to_local_naive

__all__ = [
    "ASSUMPTIONS",
    "CaptureEstimate",
    "UnderReporting",
    "compute_capture_histories",
    "estimate_chapman",
    "estimate_log_linear",
    "estimate_population",
    "estimate_under_reporting",
    "has_finite_mle",
]

#: Separator of ``matched_sources`` (the one written by ingestion).
MATCH_SEPARATOR = "; "
#: Level of every interval.
LEVEL = 0.95
#: Why a stratum with two or more sources is not estimated (:attr:`CaptureEstimate.refused`).
REFUSALS: dict[str, str] = {
    "no_match": "no incident reported by two sources: the overlap cannot bound the unreported "
                "count",
    "unbounded": "no log-linear model has a finite estimate (a zero cell leaves the unreported "
                 "count unbounded)",
}

ASSUMPTIONS: dict[str, str] = {
    "closed": "No incident enters or leaves the count during the area and quarter (closed "
              "population).",
    "matching": "Reports of one incident from two sources are matched (same time, place and "
                "type); missed matches inflate the unreported estimate.",
    "homogeneous": "Within a source, incidents have equal chances of being reported, or the "
                   "chances vary independently between sources.",
    "independent": "The two sources report independently; referrals between them make the "
                   "estimate too low.",
    "log_linear": "No dependence between sources beyond pairwise (no three-source "
                  "interaction); the estimate averages the pairwise models by their AIC "
                  "weights.",
}


@dataclass
class CaptureEstimate:
    """Estimated incidents no source reported, in one stratum.

    Attributes
    ----------
    sources : tuple of str
        The sources of the stratum, in the order of the capture histories.
    counts : dict of str to int
        Observed count of each capture history (``"101"``: reported by sources 1 and 3).
    method : str
        ``chapman`` or ``log_linear``.
    model : str
        The log-linear model's terms (``independence`` or the pairwise terms added).
    n_observed : int
        Incidents reported by at least one source.
    unreported : float
        Estimated incidents reported by none.
    ci_low, ci_high : float
        Interval of ``unreported`` at :data:`LEVEL`.
    assumptions : list of str
        What the estimate assumes, in words.
    refused : str
        Empty when estimated; otherwise the key in :data:`REFUSALS` saying why not (the
        estimate and interval are then NaN).
    """

    sources: tuple[str, ...]
    counts: dict[str, int]
    method: str
    model: str
    n_observed: int
    unreported: float
    ci_low: float
    ci_high: float
    assumptions: list[str] = field(default_factory=list)
    refused: str = ""

    @property
    def total(self) -> float:
        """Estimated incidents: reported plus unreported."""
        return self.n_observed + self.unreported

    @property
    def reported_share(self) -> float:
        """Estimated share of incidents that some source reported."""
        return self.n_observed / self.total if self.total > 0 else float("nan")


def _chao_interval(n_obs: int, f0: float, var: float, level: float) -> tuple[float, float]:
    """Chao's log-normal interval for the unseen count, given the variance of the total."""
    if f0 <= 0 or not np.isfinite(var):
        return 0.0, float("inf") if not np.isfinite(var) else 0.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    c = float(np.exp(z * np.sqrt(np.log1p(var / f0**2))))
    return f0 / c, f0 * c


def estimate_chapman(n1: int, n2: int, m: int, *, level: float = LEVEL) -> tuple[float, ...]:
    """Chapman's estimate of the incidents two sources both missed.

    Parameters
    ----------
    n1, n2 : int
        Incidents each source reported.
    m : int
        Incidents both reported (the matches).
    level : float
        Interval level.

    Returns
    -------
    tuple of float
        ``(unreported, ci_low, ci_high, variance of the total)``.
    """
    if not 0 <= m <= min(n1, n2):
        raise ValueError(f"matches {m} must lie between 0 and the smaller source ({n1}, {n2})")
    total = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    var = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    f0 = max(total - (n1 + n2 - m), 0.0)
    low, high = _chao_interval(n1 + n2 - m, f0, var, level)
    return f0, low, high, var


def _design(histories: Sequence[str], pairs: Sequence[tuple[int, int]]) -> pd.DataFrame:
    bits = np.array([[int(c) for c in h] for h in histories], dtype=float)
    cols = {f"s{i}": bits[:, i] for i in range(bits.shape[1])}
    cols.update({f"s{i}:s{j}": bits[:, i] * bits[:, j] for i, j in pairs})
    return sm.add_constant(pd.DataFrame(cols), has_constant="add")


def has_finite_mle(design: np.ndarray, y: np.ndarray, *, tol: float = 1e-7) -> bool:
    """Whether a Poisson log-linear model has a finite maximum-likelihood estimate.

    The log-likelihood ``sum(y x'b) - sum(exp(x'b))`` keeps rising along a direction ``d``
    with ``x'd = 0`` on every cell with a positive count and ``x'd <= 0`` on the zero cells,
    one of them strictly: the fitted means of those zero cells go to 0 and the parameters to
    infinity (Haberman 1974, Theorem 2.3; Fienberg and Rinaldo 2012). The estimate is finite
    when the design has full column rank and no such direction exists. The search is a linear
    programme: minimise the sum of ``x'd`` over the zero cells, each held in ``[-1, 0]``, with
    ``x'd = 0`` on the positive cells; a minimum below 0 is such a direction.

    Parameters
    ----------
    design : numpy.ndarray
        Cells x parameters.
    y : numpy.ndarray
        Observed count of each cell.
    tol : float
        A minimum above ``-tol`` counts as 0.

    Returns
    -------
    bool
        True when the estimate exists and is finite.
    """
    x = np.asarray(design, dtype=float)
    zero = np.asarray(y, dtype=float) <= 0
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return False
    if not zero.any():
        return True
    xz, xp = x[zero], x[~zero]
    result = optimize.linprog(
        c=xz.sum(axis=0), A_ub=np.vstack([xz, -xz]),
        b_ub=np.concatenate([np.zeros(len(xz)), np.ones(len(xz))]),
        A_eq=xp if len(xp) else None, b_eq=np.zeros(len(xp)) if len(xp) else None,
        bounds=[(None, None)] * x.shape[1], method="highs",
    )
    return bool(result.status == 0 and result.fun > -tol)


def _fit_log_linear(counts: pd.Series, pairs: Sequence[tuple[int, int]]) -> object | None:
    x = _design(list(counts.index), pairs)
    if not has_finite_mle(x.to_numpy(), counts.to_numpy()):
        return None
    try:
        with warnings.catch_warnings():
            # The existence check above stands for statsmodels' separation heuristic.
            warnings.simplefilter("ignore", PerfectSeparationWarning)
            fit = sm.GLM(counts.to_numpy(dtype=float), x, family=sm.families.Poisson()).fit()
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not (fit.converged and np.all(np.isfinite(fit.bse))):
        return None
    return fit


def estimate_log_linear(
    counts: dict[str, int], *, level: float = LEVEL
) -> tuple[float, float, float, str]:
    """Log-linear estimate of the incidents three or more sources all missed.

    Parameters
    ----------
    counts : dict of str to int
        Count of every observed capture history, e.g. ``{"100": 40, "110": 9, ...}`` (all
        ``2^S - 1`` histories; a missing history counts 0).
    level : float
        Interval level.

    Returns
    -------
    tuple
        ``(unreported, ci_low, ci_high, model)``: the model-averaged estimate and interval;
        ``model`` names the pairwise terms of the model with the largest weight
        (``independence`` when none). NaN estimates when no model can be fitted.
    """
    s = len(next(iter(counts)))
    histories = ["".join(b) for b in itertools.product("01", repeat=s) if "1" in b]
    y = pd.Series({h: int(counts.get(h, 0)) for h in histories})
    all_pairs = list(itertools.combinations(range(s), 2))
    fits = []
    for k in range(len(all_pairs) + 1):
        for pairs in itertools.combinations(all_pairs, k):
            if len(histories) - (1 + s + len(pairs)) < 1:
                continue  # saturated: the unobserved cell would rest on the top interaction
            fit = _fit_log_linear(y, pairs)
            if fit is not None:
                fits.append((fit, pairs))
    if not fits:
        return float("nan"), float("nan"), float("nan"), "none"
    aic = np.array([f.aic for f, _ in fits])
    weights = np.exp(-(aic - aic.min()) / 2)
    weights /= weights.sum()
    f0s = np.array([np.exp(f.params["const"]) for f, _ in fits])
    variances = np.array([np.exp(2 * f.params["const"]) * f.bse["const"] ** 2 for f, _ in fits])
    f0 = float(weights @ f0s)
    # Buckland et al. (1997): the spread between models joins each model's own error, so the
    # interval carries the uncertainty of not knowing which dependence holds. The target is the
    # stratum's actual unreported count (a fixed number), so no Poisson term for the unobserved
    # cell is added: with it the intervals over-covered (98-99%) in the simulations.
    var = float(weights @ np.sqrt(variances + (f0s - f0) ** 2)) ** 2
    low, high = _chao_interval(int(y.sum()), f0, var, level)
    _, pairs = fits[int(np.argmax(weights))]
    model = "independence" if not pairs else " + ".join(f"s{i + 1}:s{j + 1}" for i, j in pairs)
    return f0, low, high, model


def estimate_population(
    counts: dict[str, int], sources: Sequence[str], *, level: float = LEVEL
) -> CaptureEstimate:
    """Estimate the unreported incidents from capture-history counts.

    Parameters
    ----------
    counts : dict of str to int
        Count per capture history over ``sources`` (one character per source, ``1`` when it
        reported the incident).
    sources : sequence of str
        Source names, in history order (two or more).
    level : float
        Interval level.

    Returns
    -------
    CaptureEstimate
        Chapman for two sources, a log-linear model for three or more. Refused (NaN, with
        the reason in ``refused``) when no incident was reported by two sources, or when no
        log-linear model has a finite estimate.
    """
    sources = tuple(sources)
    if len(sources) < 2:
        raise ValueError("capture-recapture needs at least two sources")
    n_obs = int(sum(counts.values()))
    nan = float("nan")
    if len(sources) == 2:
        method, model = "chapman", "independence"
        keys = ["closed", "matching", "homogeneous", "independent"]
    else:
        method, model = "log_linear", "none"
        keys = ["closed", "matching", "homogeneous", "log_linear"]
    assumptions = [ASSUMPTIONS[k] for k in keys]
    if not any(h.count("1") > 1 and v > 0 for h, v in counts.items()):
        return CaptureEstimate(sources, dict(counts), method, model, n_obs, nan, nan, nan,
                               assumptions, refused="no_match")
    if len(sources) == 2:
        n1 = counts.get("10", 0) + counts.get("11", 0)
        n2 = counts.get("01", 0) + counts.get("11", 0)
        f0, low, high, _ = estimate_chapman(n1, n2, counts.get("11", 0), level=level)
    else:
        f0, low, high, model = estimate_log_linear(counts, level=level)
    refused = "" if np.isfinite(f0) else "unbounded"
    return CaptureEstimate(sources, dict(counts), method, model, n_obs, f0, low, high,
                           assumptions, refused=refused)


def compute_capture_histories(
    incidents: pd.DataFrame, timezone: str, *, by: Sequence[str] = ("area_id", "quarter")
) -> pd.DataFrame:
    """Count incidents by capture history (which sources reported them) per stratum.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents with ``source``, ``matched_sources``, ``occurred_at`` and the
        columns of ``by``.
    timezone : str
        Mission time zone: ``quarter`` is the mission-local calendar quarter.
    by : sequence of str
        Stratum columns (``quarter`` is derived from ``occurred_at``).

    Returns
    -------
    pandas.DataFrame
        One row per stratum and history: the stratum columns, ``sources`` (the stratum's
        sources joined by ``MATCH_SEPARATOR``, in history order), ``history`` and ``count``.
        Incidents without a source are left out.
    """
    frame = incidents.loc[incidents["source"].notna()].copy()
    if "quarter" in by:
        frame["quarter"] = to_local_naive(frame["occurred_at"], timezone).dt.to_period("Q")
    matched = frame.get("matched_sources", pd.Series(None, index=frame.index))
    frame["_set"] = [
        frozenset([src, *(m.split(MATCH_SEPARATOR) if isinstance(m, str) and m else [])])
        for src, m in zip(frame["source"], matched, strict=True)
    ]
    rows = []
    for key, group in frame.groupby(list(by), observed=True, dropna=False):
        names = sorted(set().union(*group["_set"]))
        history = group["_set"].map(lambda s, names=names: "".join(
            "1" if n in s else "0" for n in names))
        key = key if isinstance(key, tuple) else (key,)
        for h, n in history.value_counts().sort_index().items():
            rows.append({**dict(zip(by, key, strict=True)),
                         "sources": MATCH_SEPARATOR.join(names), "history": h, "count": int(n)})
    return pd.DataFrame(rows, columns=[*by, "sources", "history", "count"])


@dataclass
class UnderReporting:
    """Capture-recapture estimates per stratum, and the strata that could not be estimated.

    Attributes
    ----------
    estimates : dict
        Stratum key (tuple) -> :class:`CaptureEstimate`.
    by : tuple of str
        Stratum columns.
    notes : list of str
        Strata left out and why.
    """

    estimates: dict[tuple, CaptureEstimate]
    by: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per stratum: counts, method, model, estimate, interval (restricted)."""
        rows = []
        for key, est in self.estimates.items():
            rows.append({
                **dict(zip(self.by, key, strict=True)), "sources": MATCH_SEPARATOR.join(
                    est.sources), "n_sources": len(est.sources), "n_observed": est.n_observed,
                "n_matched": sum(v for h, v in est.counts.items() if h.count("1") > 1),
                "method": est.method, "model": est.model, "unreported": est.unreported,
                "ci_low": est.ci_low, "ci_high": est.ci_high, "reported_share":
                est.reported_share, "assumptions": " ".join(est.assumptions),
            })
        columns = [*self.by, "sources", "n_sources", "n_observed", "n_matched", "method",
                   "model", "unreported", "ci_low", "ci_high", "reported_share", "assumptions"]
        return pd.DataFrame(rows, columns=columns)


def estimate_under_reporting(
    incidents: pd.DataFrame, timezone: str, *, by: Sequence[str] = ("area_id", "quarter"),
    level: float = LEVEL,
) -> UnderReporting:
    """Estimate the unreported incidents per area and quarter from cross-source matches.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents (``source``, ``matched_sources``, ``occurred_at``, ``area_id``).
    timezone : str
        Mission time zone.
    by : sequence of str
        Strata; ``("quarter",)`` gives mission-wide estimates per quarter.
    level : float
        Interval level.

    Returns
    -------
    UnderReporting
        An estimate for every stratum with two or more sources, at least one match and (three
        or more sources) a log-linear model with a finite estimate; the others are counted in
        ``notes`` with the reason (:data:`REFUSALS`).
    """
    by = tuple(by)
    histories = compute_capture_histories(incidents, timezone, by=by)
    result = UnderReporting({}, by)
    no_sources = 0
    refused = dict.fromkeys(REFUSALS, 0)
    for key, group in histories.groupby(list(by), observed=True, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        sources = group["sources"].iloc[0].split(MATCH_SEPARATOR)
        counts = dict(zip(group["history"], group["count"], strict=True))
        if len(sources) < 2:
            no_sources += 1
            continue
        estimate = estimate_population(counts, sources, level=level)
        if estimate.refused:
            refused[estimate.refused] += 1
        else:
            result.estimates[key] = estimate
    if no_sources:
        result.notes.append(f"{no_sources} strata have one source only: not estimated")
    result.notes.extend(f"{n} strata have {REFUSALS[reason]}, not estimated"
                        for reason, n in refused.items() if n)
    return result
