"""Simulation study of the effect estimators: whether the intervals mean what they say.

Each scenario draws synthetic panels (:func:`protection_eval.effects.panel.make_synthetic_panel`)
with a planted incidence-rate ratio, fits the headline design (stacked, not-yet-treated) and plain
two-way fixed effects, and summarises coverage of the 95% interval, bias of the log-IRR and how
often the estimate has the sign of the truth. ``benchmarks/simulate_validity.py`` runs the full
study; the tests run a small one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protection_eval.effects.fixed_effects import NotEstimable
from protection_eval.effects.mission import (
    estimate_event_study,
    estimate_interrupted_time_series,
    estimate_stacked_effect,
    estimate_twfe_effect,
)
from protection_eval.effects.panel import make_synthetic_panel

__all__ = [
    "SCENARIOS",
    "SPILLOVER_SCENARIOS",
    "Scenario",
    "SpilloverScenario",
    "compute_its_validity",
    "compute_pretrend_size",
    "compute_spillover_validity",
    "compute_validity_summary",
    "simulate_scenario",
    "simulate_spillover",
]

_ACTIVE = "active_test_strategy"


@dataclass(frozen=True)
class Scenario:
    """A data-generating process for the simulation study.

    Attributes
    ----------
    name : str
        Label in the summary.
    irr : float
        Planted IRR at the start of the strategy.
    growth : float
        Change of the log-IRR per period since start.
    panel : dict
        Other arguments of :func:`~protection_eval.effects.panel.make_synthetic_panel`.
    """

    name: str
    irr: float
    growth: float = 0.0
    panel: dict = field(default_factory=dict)

    def truth(self, post: int = 6) -> float:
        """Return the log-IRR the stacked design targets: the mean over event times 0..post."""
        return float(np.log(self.irr) + self.growth * np.mean(np.arange(post + 1)))


#: The scenarios of ``docs/validity.md``.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("irr_0.7", 0.7, panel={"n_areas": 48, "n_periods": 24}),
    Scenario("irr_1.0", 1.0, panel={"n_areas": 48, "n_periods": 24}),
    Scenario("irr_0.7_overdispersed", 0.7,
             panel={"n_areas": 48, "n_periods": 24, "dispersion": 0.3}),
    Scenario(
        "growing_all_treated", 1.0, growth=-0.04,
        panel={"n_areas": 48, "n_periods": 36, "share_treated": 1.0, "first_start": 2,
               "last_start": 33},
    ),
)


def simulate_scenario(scenario: Scenario, n_sims: int, *, seed: int = 0) -> pd.DataFrame:
    """Fit both designs on ``n_sims`` synthetic panels.

    Parameters
    ----------
    scenario : Scenario
        The data-generating process.
    n_sims : int
        Number of simulated panels.
    seed : int
        Seed of the first panel; panel ``i`` uses ``seed + i``.

    Returns
    -------
    pandas.DataFrame
        One row per simulation and design: ``sim, design, log_irr, ci_low, ci_high`` (log
        scale).
    """
    rows = []
    for i in range(n_sims):
        panel = make_synthetic_panel(
            irr=scenario.irr, growth=scenario.growth, seed=seed + i, **scenario.panel
        )
        for design, est in (
            ("stacked", estimate_stacked_effect(panel, "s", _ACTIVE)),
            ("twfe", estimate_twfe_effect(panel, "s", _ACTIVE)),
        ):
            if est is None:
                continue
            rows.append({"sim": i, "design": design, "log_irr": np.log(est.irr),
                         "ci_low": np.log(est.ci_low), "ci_high": np.log(est.ci_high)})
    return pd.DataFrame(rows)


def compute_validity_summary(
    scenarios: Sequence[Scenario] = SCENARIOS, n_sims: int = 200, *, seed: int = 0
) -> pd.DataFrame:
    """Summarise coverage, bias and sign agreement per scenario and design.

    Parameters
    ----------
    scenarios : sequence of Scenario
        Data-generating processes.
    n_sims : int
        Simulations per scenario.
    seed : int
        Base seed.

    Returns
    -------
    pandas.DataFrame
        ``scenario, design, n_sims, true_irr, mean_irr, bias_log_irr, coverage_95,
        same_sign`` where ``true_irr`` is what the stacked design targets, and ``same_sign`` is
        the share of estimates on the truth's side of 1 (NaN for a null truth).
    """
    out = []
    for scenario in scenarios:
        sims = simulate_scenario(scenario, n_sims, seed=seed)
        truth = scenario.truth()
        for design, rows in sims.groupby("design", sort=False):
            covered = (rows["ci_low"] <= truth) & (truth <= rows["ci_high"])
            same = (
                np.nan if truth == 0 else float((np.sign(rows["log_irr"]) == np.sign(truth)).mean())
            )
            out.append(
                {
                    "scenario": scenario.name,
                    "design": design,
                    "n_sims": len(rows),
                    "true_irr": float(np.exp(truth)),
                    "mean_irr": float(np.exp(rows["log_irr"].mean())),
                    "bias_log_irr": float(rows["log_irr"].mean() - truth),
                    "coverage_95": float(covered.mean()),
                    "same_sign": same,
                }
            )
    return pd.DataFrame(out)


def compute_pretrend_size(
    n_sims: int = 200, *, seed: int = 0, level: float = 0.05, **panel: object
) -> pd.DataFrame:
    """Share of panels without any pre-trend in which the joint pre-trend test rejects.

    Parameters
    ----------
    n_sims : int
        Simulated panels (48 areas x 24 months, IRR 0.7, staggered, unless ``panel`` says).
    seed : int
        Seed of the first panel.
    level : float
        Nominal level of the test.
    **panel
        Arguments of :func:`~protection_eval.effects.panel.make_synthetic_panel`.

    Returns
    -------
    pandas.DataFrame
        One row: ``n_sims, level, rejection_rate`` (Hotelling-corrected test, what the
        estimators use) and ``rejection_rate_chi2`` (the uncorrected chi-square test).
    """
    from scipy import stats

    spec = {"n_areas": 48, "n_periods": 24, "irr": 0.7, **panel}
    corrected, plain = [], []
    for i in range(n_sims):
        study = estimate_event_study(make_synthetic_panel(seed=seed + i, **spec), "s", _ACTIVE)
        if study is None:
            continue
        corrected.append(study.pre_trend_p < level)
        plain.append(stats.chi2.sf(study.pre_trend_chi2, study.pre_trend_df) < level)
    return pd.DataFrame(
        [{"n_sims": len(corrected), "level": level,
          "rejection_rate": float(np.mean(corrected)),
          "rejection_rate_chi2": float(np.mean(plain))}]
    )


def compute_its_validity(
    n_sims: int = 200, *, seed: int = 0, irr: float = 0.85, **panel: object
) -> pd.DataFrame:
    """Coverage and bias of the interrupted time series for a mission-wide strategy.

    Parameters
    ----------
    n_sims : int
        Simulated panels: 56 areas x 24 months, every area starting in month 12, common
        monthly shocks (as :func:`~protection_eval.effects.panel.make_synthetic_panel` draws them)
        unless ``panel`` says otherwise.
    seed : int
        Seed of the first panel.
    irr : float
        Planted level change.
    **panel
        Arguments of :func:`~protection_eval.effects.panel.make_synthetic_panel`.

    Returns
    -------
    pandas.DataFrame
        One row: ``scenario, design, n_sims, true_irr, mean_irr, bias_log_irr, coverage_95``.
    """
    spec = {"n_areas": 56, "n_periods": 24, "rollout": "mission_wide", "first_start": 12,
            "base_rate": 2.0, **panel}
    logs, covered = [], []
    for i in range(n_sims):
        est = estimate_interrupted_time_series(
            make_synthetic_panel(irr=irr, seed=seed + i, **spec), "s", _ACTIVE
        )
        logs.append(np.log(est.irr))
        covered.append(est.ci_low <= irr <= est.ci_high)
    return pd.DataFrame(
        [{"scenario": f"mission_wide_irr_{irr}", "design": "interrupted_time_series",
          "n_sims": n_sims, "true_irr": irr, "mean_irr": float(np.exp(np.mean(logs))),
          "bias_log_irr": float(np.mean(logs) - np.log(irr)),
          "coverage_95": float(np.mean(covered))}]
    )


@dataclass(frozen=True)
class SpilloverScenario:
    """A planted direct and spill-over effect on a grid of areas (displacement study).

    Attributes
    ----------
    name : str
        Label in the summary.
    irr : float
        Planted direct IRR.
    ring_irrs : tuple of float
        Planted IRR per ring (contiguity distance 1, 2).
    panel : dict
        Other arguments of :func:`~protection_eval.effects.displacement.make_spillover_panel`.
    """

    name: str
    irr: float
    ring_irrs: tuple[float, ...]
    panel: dict = field(default_factory=dict)


_SPARSE = {"width": 12, "height": 10, "n_treated": 10, "first_start": 8, "last_start": 10}
_DENSE = {"width": 8, "height": 6, "n_treated": 19, "first_start": 6, "last_start": 18,
          "base_rate": 5.0}
#: The displacement scenarios of ``docs/validity.md``: 120 areas (12 x 10), 10 treated in a
#: tight roll-out (months 8-10), reports 30% higher one step away and 10% two steps away, or no
#: spill-over; and the demo missions' shape (8 x 6 areas, 19 treated in months 6-18), where
#: almost no area stays beyond the outer ring, with and without spill-over.
SPILLOVER_SCENARIOS: tuple[SpilloverScenario, ...] = (
    SpilloverScenario("displacement", 0.7, (1.3, 1.1), panel=_SPARSE),
    SpilloverScenario("no_spillover", 0.7, (1.0, 1.0), panel=_SPARSE),
    SpilloverScenario("dense_displacement", 0.7, (1.3, 1.0), panel=_DENSE),
    SpilloverScenario("dense_no_spillover", 0.7, (1.0, 1.0), panel=_DENSE),
)


def simulate_spillover(
    scenario: SpilloverScenario, n_sims: int, *, seed: int = 0
) -> pd.DataFrame:
    """Fit today's headline and the ring design on ``n_sims`` panels with planted spill-over.

    Parameters
    ----------
    scenario : SpilloverScenario
        The data-generating process.
    n_sims : int
        Simulated panels; panel ``i`` uses ``seed + i``.
    seed : int
        Seed of the first panel.

    Returns
    -------
    pandas.DataFrame
        One row per simulation and estimate: ``sim, estimate`` (``stacked`` today's headline,
        ``rings_direct``, ``ring_1``, ``ring_2``, ``net``), ``truth, log_irr, ci_low, ci_high``
        (log scale; the net's truth is the panel's planted net ratio).
    """
    from protection_eval.effects.displacement import (
        compute_true_net_ratio,
        estimate_displacement,
        make_spillover_panel,
    )

    rows = []
    for i in range(n_sims):
        panel = make_spillover_panel(irr=scenario.irr, ring_irrs=scenario.ring_irrs,
                                     seed=seed + i, **scenario.panel)
        try:
            found = estimate_displacement(panel, "s", _ACTIVE, panel.attrs["contiguity"],
                                          rings=len(scenario.ring_irrs))
        except NotEstimable:
            found = None  # counted: the ring rows then have fewer simulations than the headline
        headline = estimate_stacked_effect(panel, "s", _ACTIVE)
        truths = {"deployment": scenario.irr, "net": compute_true_net_ratio(panel)}
        truths.update({f"displacement_ring_{d}": r
                       for d, r in enumerate(scenario.ring_irrs, start=1)})
        pairs = [("stacked", headline, scenario.irr)]
        for est in found.to_estimates() if found is not None else []:
            name = {"deployment": "rings_direct", "displacement_net": "net"}.get(
                est.estimand, est.estimand.replace("displacement_", ""))
            key = "net" if est.estimand == "displacement_net" else est.estimand
            pairs.append((name, est, truths[key]))
        for name, est, truth in pairs:
            if est is None:
                continue
            rows.append({"sim": i, "estimate": name, "truth": float(np.log(truth)),
                         "log_irr": np.log(est.irr), "ci_low": np.log(est.ci_low),
                         "ci_high": np.log(est.ci_high)})
    return pd.DataFrame(rows)


def compute_spillover_validity(
    scenarios: Sequence[SpilloverScenario] = SPILLOVER_SCENARIOS, n_sims: int = 200, *,
    seed: int = 0,
) -> pd.DataFrame:
    """Bias and interval coverage of today's headline and of the ring design under spill-over.

    Parameters
    ----------
    scenarios : sequence of SpilloverScenario
        Data-generating processes.
    n_sims : int
        Simulations per scenario.
    seed : int
        Base seed.

    Returns
    -------
    pandas.DataFrame
        ``scenario, estimate, n_sims, true_irr, mean_irr, bias_log_irr, coverage_95,
        mean_ci_ratio`` (``true_irr`` of the net row is the mean planted net ratio;
        ``mean_ci_ratio`` the mean of upper over lower end, the interval's width).
    """
    out = []
    for scenario in scenarios:
        sims = simulate_spillover(scenario, n_sims, seed=seed)
        for name, rows in sims.groupby("estimate", sort=False):
            covered = (rows["ci_low"] <= rows["truth"]) & (rows["truth"] <= rows["ci_high"])
            out.append({
                "scenario": scenario.name, "estimate": name, "n_sims": len(rows),
                "true_irr": float(np.exp(rows["truth"].mean())),
                "mean_irr": float(np.exp(rows["log_irr"].mean())),
                "bias_log_irr": float((rows["log_irr"] - rows["truth"]).mean()),
                "coverage_95": float(covered.mean()),
                "mean_ci_ratio": float(np.exp(rows["ci_high"] - rows["ci_low"]).mean()),
            })
    return pd.DataFrame(out)
