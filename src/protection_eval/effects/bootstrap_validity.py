"""Simulation study of the headline's intervals when few areas had the strategy.

Missions often have 10-40 areas and roll a strategy out to a handful. This study draws synthetic
missions (:func:`protection_eval.effects.panel.make_synthetic_panel`) with 4, 8 or 16 treated areas
out of 30 (3 out of 30, below the bootstrap's reliable range, and 4 out of 10, where Webb weights
apply), fits the headline stacked design and compares
its analytic interval (cluster-robust, t on the smaller side's areas minus one) with the wild
cluster score bootstrap (:mod:`protection_eval.effects.wild_bootstrap`): coverage of the 95%
interval with a planted IRR, and the rejection rate of "no effect" when the truth is no effect.
``benchmarks/simulate_bootstrap.py`` runs it; ``docs/validity.md`` holds the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from protection_eval.effects.event_study import estimate_stacked_effect
from protection_eval.effects.fixed_effects import NotEstimable
from protection_eval.effects.panel import make_synthetic_panel
from protection_eval.effects.wild_bootstrap import compute_score_bootstrap, needs_bootstrap

__all__ = ["FEW_CLUSTER_SCENARIOS", "compute_bootstrap_validity", "simulate_few_clusters"]

_ACTIVE = "active_test_strategy"
_FE = ("stack_area", "stack_period")

#: ``(treated areas, areas)`` of ``docs/validity.md``.
FEW_CLUSTER_SCENARIOS: tuple[tuple[int, int], ...] = ((3, 30), (4, 30), (8, 30), (16, 30), (4, 10))


def simulate_few_clusters(
    n_treated: int,
    n_areas: int,
    n_sims: int,
    *,
    irr: float = 0.7,
    interval: bool = True,
    seed: int = 0,
    dispersion: float = 0.3,
) -> pd.DataFrame:
    """Fit the headline with analytic and bootstrap inference on ``n_sims`` synthetic missions.

    Parameters
    ----------
    n_treated, n_areas : int
        Treated areas and all areas (24 months, staggered starts in months 6-18).
    n_sims : int
        Simulated missions; mission ``i`` uses seed ``seed + i``.
    irr : float
        Planted IRR.
    interval : bool
        Also invert the bootstrap test for its interval (slower); p-values only when False.
    seed : int
        Seed of the first mission.
    dispersion : float
        Gamma frailty of the counts (NB2 alpha), as real incident counts are overdispersed.

    Returns
    -------
    pandas.DataFrame
        One row per mission: ``sim, log_irr, ci_low, ci_high, p_value, boot_p_value,
        boot_ci_low, boot_ci_high, boot_weights`` (intervals on the log scale).
    """
    rows = []
    for i in range(n_sims):
        panel = make_synthetic_panel(
            n_areas, 24, irr=irr, share_treated=n_treated / n_areas, dispersion=dispersion,
            seed=seed + i,
        )
        try:
            # headline=False: the bootstrap is run below for every mission, not only the few.
            est = estimate_stacked_effect(panel, "s", _ACTIVE, headline=False)
        except NotEstimable:
            continue
        if est is None:
            continue
        row = est.fit.to_frame().set_index("term").loc["dose"]
        boot = compute_score_bootstrap(
            est.fit.data, "incidents", "dose", ["dose"], _FE, "area_id", coef=float(row["coef"]),
            std_err=float(row["std_err"]), interval=interval,
        )
        with np.errstate(divide="ignore"):  # a bound of 0 is -inf on the log scale, as meant
            rows.append({
                "sim": i, "log_irr": np.log(est.irr), "ci_low": np.log(est.ci_low),
                "ci_high": np.log(est.ci_high), "p_value": est.p_value,
                "boot_p_value": boot.p_value, "boot_ci_low": np.log(boot.ci_low),
                "boot_ci_high": np.log(boot.ci_high), "boot_weights": boot.weights,
            })
    return pd.DataFrame(rows)


def compute_bootstrap_validity(
    scenarios: Sequence[tuple[int, int]] = FEW_CLUSTER_SCENARIOS,
    n_sims: int = 200,
    *,
    seed: int = 0,
    irr: float = 0.7,
) -> pd.DataFrame:
    """Coverage with a planted effect and rejection under the null, analytic against bootstrap.

    Parameters
    ----------
    scenarios : sequence of (int, int)
        ``(treated areas, areas)``.
    n_sims : int
        Simulated missions per scenario and truth.
    seed : int
        Seed of the first mission.
    irr : float
        Planted IRR of the coverage runs (the null runs plant 1).

    Returns
    -------
    pandas.DataFrame
        ``n_treated, n_areas, n_sims, bootstrap_default, boot_weights, coverage_analytic,
        coverage_bootstrap, unbounded_bootstrap, rejection_analytic, rejection_bootstrap``
        (rejection of IRR 1 at 5% when the truth is IRR 1). ``bootstrap_default`` says whether the
        headline reports the bootstrap for such a mission
        (:func:`~protection_eval.effects.wild_bootstrap.needs_bootstrap`);
        ``unbounded_bootstrap`` is the share of bootstrap intervals with a bound of 0 or infinity
        (they cover the truth on that side by default).
    """
    truth = np.log(irr)
    out = []
    for n_treated, n_areas in scenarios:
        effect = simulate_few_clusters(n_treated, n_areas, n_sims, irr=irr, seed=seed)
        null = simulate_few_clusters(n_treated, n_areas, n_sims, irr=1.0, interval=False,
                                     seed=seed + 100_000)

        def covers(low: pd.Series, high: pd.Series) -> float:
            return float(((low <= truth) & (truth <= high)).mean())

        out.append({
            "n_treated": n_treated, "n_areas": n_areas, "n_sims": len(effect),
            "bootstrap_default": needs_bootstrap(n_areas, n_treated),
            "boot_weights": effect["boot_weights"].iloc[0] if len(effect) else "",
            "coverage_analytic": covers(effect["ci_low"], effect["ci_high"]),
            "coverage_bootstrap": covers(effect["boot_ci_low"], effect["boot_ci_high"]),
            "unbounded_bootstrap": float(
                (~np.isfinite(effect[["boot_ci_low", "boot_ci_high"]]).all(axis=1)).mean()
            ),
            "rejection_analytic": float((null["p_value"] < 0.05).mean()),
            "rejection_bootstrap": float((null["boot_p_value"] < 0.05).mean()),
        })
    return pd.DataFrame(out)
