"""Simulation study of the capture-recapture intervals (summary in docs/validity.md).

Each simulated stratum holds ``n_true`` incidents; source ``s`` reports each with probability
``p[s]``, independently (or, in the dependent scenario, the second source reports more often
what the first reported: a referral). The capture histories go through
:func:`protection_eval.effects.capture_recapture.estimate_population` and the study counts how
often the interval of the unreported incidents covers the planted number (``n_true`` minus the
incidents some source reported). A stratum the estimator refuses (no match, or no log-linear
model with a finite estimate) is counted in ``estimated`` and left out of the other columns, as
a mission's run leaves it out of its table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from protection_eval.effects.capture_recapture import estimate_population

__all__ = ["CaptureScenario", "SCENARIOS", "compute_capture_coverage", "simulate_histories"]


@dataclass(frozen=True)
class CaptureScenario:
    """One planted truth: the incidents, each source's capture probability, any referral.

    ``referral`` multiplies the odds that source 2 reports an incident source 1 reported.
    """

    name: str
    n_true: int
    p: tuple[float, ...]
    referral: float = 1.0


SCENARIOS: tuple[CaptureScenario, ...] = (
    CaptureScenario("two sources, 300 incidents", 300, (0.5, 0.4)),
    CaptureScenario("two sources, 120 incidents", 120, (0.4, 0.35)),
    CaptureScenario("three sources, 200 incidents", 200, (0.4, 0.3, 0.35)),
    CaptureScenario("three sources, 120 incidents", 120, (0.35, 0.3, 0.3)),
    CaptureScenario("three sources, referral 1 -> 2", 200, (0.4, 0.3, 0.35), referral=3.0),
    # Area-quarter strata as most missions have them.
    CaptureScenario("two sources, 60 incidents", 60, (0.4, 0.35)),
    CaptureScenario("two sources, 40 incidents", 40, (0.4, 0.35)),
    CaptureScenario("two sources, 20 incidents", 20, (0.4, 0.35)),
    CaptureScenario("three sources, 60 incidents", 60, (0.35, 0.3, 0.3)),
    CaptureScenario("three sources, 40 incidents", 40, (0.35, 0.3, 0.3)),
    CaptureScenario("three sources, 20 incidents", 20, (0.35, 0.3, 0.3)),
)


def simulate_histories(
    scenario: CaptureScenario, rng: np.random.Generator
) -> tuple[dict[str, int], int]:
    """Draw one stratum's capture-history counts; return them and the planted unreported count."""
    n, p = scenario.n_true, np.asarray(scenario.p)
    caught = rng.random((n, len(p))) < p
    if scenario.referral != 1.0 and len(p) > 1:
        odds = p[1] / (1 - p[1]) * scenario.referral
        caught[:, 1] = np.where(caught[:, 0], rng.random(n) < odds / (1 + odds), caught[:, 1])
    seen = caught.any(axis=1)
    histories = pd.Series(["".join("1" if c else "0" for c in row) for row in caught[seen]])
    return {str(k): int(v) for k, v in histories.value_counts().items()}, int((~seen).sum())


def compute_capture_coverage(
    n_sims: int = 300, seed: int = 20261130,
    scenarios: tuple[CaptureScenario, ...] = SCENARIOS,
) -> pd.DataFrame:
    """Coverage of the 95% interval of the unreported count, per scenario.

    Parameters
    ----------
    n_sims : int
        Simulations per scenario.
    seed : int
        Seed of every draw.
    scenarios : tuple of CaptureScenario
        Planted truths.

    Returns
    -------
    pandas.DataFrame
        ``scenario, method, n_sims, estimated, coverage, mean_unreported_true, mean_estimate,
        median_estimate, median_width`` per scenario: ``estimated`` is the share of strata not
        refused; the other columns are over those.
    """
    rows = []
    for number, scenario in enumerate(scenarios):
        rng = np.random.default_rng([seed, number])
        sources = [f"source_{i + 1}" for i in range(len(scenario.p))]
        draws = []
        for _ in range(n_sims):
            counts, unseen = simulate_histories(scenario, rng)
            est = estimate_population(counts, sources)
            draws.append((est.method, not est.refused, unseen, est.unreported, est.ci_low,
                          est.ci_high))
        frame = pd.DataFrame(draws, columns=["method", "estimated", "truth", "estimate", "low",
                                             "high"])
        done = frame.loc[frame["estimated"]]
        rows.append({
            "scenario": scenario.name, "method": frame["method"].iloc[0], "n_sims": n_sims,
            "estimated": float(frame["estimated"].mean()),
            "coverage": float(((done["low"] <= done["truth"])
                               & (done["truth"] <= done["high"])).mean()),
            "mean_unreported_true": float(done["truth"].mean()),
            "mean_estimate": float(done["estimate"].mean()),
            "median_estimate": float(done["estimate"].median()),
            "median_width": float((done["high"] - done["low"]).median()),
        })
    return pd.DataFrame(rows)
