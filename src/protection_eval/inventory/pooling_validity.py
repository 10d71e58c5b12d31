"""Simulation study of pooling across few missions: whether the intervals mean what they say.

Each replication draws ``k`` mission estimates of a log incidence-rate ratio, ``y_i = mu + u_i +
e_i`` with ``u_i ~ N(0, tau2)`` (between-mission differences) and ``e_i ~ N(0, se_i^2)``, ``se_i``
uniform on [0.08, 0.30] (the range of the demo missions' and typical mission-level standard errors),
and pools them with :mod:`protection_eval.inventory.pooling` exactly as
:mod:`protection_eval.inventory.evidence` does. It reports how often the 95% interval of the pooled
ratio holds ``mu`` for the former default (DerSimonian-Laird, normal) and the new one (REML,
Hartung-Knapp-Sidik-Jonkman), and how often the prediction interval holds the effect of a new
mission, ``mu + u_new``. ``benchmarks/simulate_pooling.py`` runs the study for ``docs/validity.md``;
the tests run a small one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from protection_eval.inventory.pooling import estimate_random_effects

__all__ = ["POOLING_METHODS", "compute_pooling_coverage"]

#: Estimators compared: label -> (tau2 method, interval).
POOLING_METHODS: dict[str, tuple[str, str]] = {
    "dl_normal": ("dl", "normal"),
    "reml_normal": ("reml", "normal"),
    "reml_hksj": ("reml", "hksj"),
}

_SE_RANGE = (0.08, 0.30)


def _replicate(
    rng: np.random.Generator, k: int, tau2: float, mu: float
) -> dict[str, float]:
    se = rng.uniform(*_SE_RANGE, k)
    y = mu + rng.normal(0.0, np.sqrt(tau2), k) + rng.normal(0.0, se)
    new_mission = mu + rng.normal(0.0, np.sqrt(tau2))
    out: dict[str, float] = {}
    for label, (tau2_method, interval) in POOLING_METHODS.items():
        pool = estimate_random_effects(y, se, tau2_method=tau2_method, interval=interval)
        out[f"covers_{label}"] = float(pool.ci_low <= mu <= pool.ci_high)
        out[f"width_{label}"] = pool.ci_high - pool.ci_low
        if label == "reml_hksj" and k >= 3:
            out["pi_covers_new_mission"] = float(pool.pi_low <= new_mission <= pool.pi_high)
    return out


def compute_pooling_coverage(
    n_missions: Sequence[int] = (2, 4, 8),
    tau2: Sequence[float] = (0.0, 0.02, 0.1),
    *,
    n_sims: int = 1000,
    mu: float = np.log(0.7),
    seed: int = 0,
) -> pd.DataFrame:
    """Coverage of the pooled intervals and of the prediction interval, by scenario.

    Parameters
    ----------
    n_missions : sequence of int
        Numbers of missions pooled.
    tau2 : sequence of float
        Between-mission variances of the log ratio (0.1 is a ratio that varies by a factor of
        about 1.9 either way across 95% of missions).
    n_sims : int
        Replications per scenario.
    mu : float
        Mean log ratio across missions.
    seed : int
        Seed; each scenario gets its own stream, so results do not depend on the order.

    Returns
    -------
    pandas.DataFrame
        One row per ``(n_missions, tau2)``: coverage of the 95% interval for each of
        :data:`POOLING_METHODS` (``coverage_<label>``), median interval width on the log scale
        (``median_width_<label>``) and coverage of the prediction interval of the default
        method for a new mission (``pi_coverage``; NaN with two missions).
    """
    rows = []
    for i, k in enumerate(n_missions):
        for j, t2 in enumerate(tau2):
            rng = np.random.default_rng([seed, i, j])
            draws = pd.DataFrame([_replicate(rng, int(k), float(t2), mu) for _ in range(n_sims)])
            row: dict[str, float] = {"n_missions": int(k), "tau2": float(t2), "n_sims": n_sims}
            for label in POOLING_METHODS:
                row[f"coverage_{label}"] = float(draws[f"covers_{label}"].mean())
            for label in POOLING_METHODS:
                row[f"median_width_{label}"] = float(draws[f"width_{label}"].median())
            row["pi_coverage"] = (
                float(draws["pi_covers_new_mission"].mean())
                if "pi_covers_new_mission" in draws else np.nan
            )
            rows.append(row)
    return pd.DataFrame(rows)
