"""The words effect estimates are reported in: their caveats and the ids they are filed under.

One owner for each: the count models, the designs, the mission's estimates, the shared effects
table and the brief all take them from here. A module of text only, so that what shows an
estimate (the shared forms, the brief, the run's plausibility check) does not import the
models, nor statsmodels with them.
"""

from __future__ import annotations

import math

__all__ = ["CAVEATS", "PATROL_PRESENCE", "PRESENCE_ESTIMAND", "describe_breakdown"]

#: Strategy id under which patrol-presence estimates are reported.
PATROL_PRESENCE = "patrol-presence"
#: Estimand of the within-reach ratio in the effects table.
PRESENCE_ESTIMAND = "patrol_presence"

#: Plain-words caveats, keyed by name; some take format fields.
CAVEATS: dict[str, str] = {
    "reported": (
        "Reported is not occurred: patrols and services can raise reporting while violence falls, "
        "so this ratio is about reports."
    ),
    "few_treated": (
        "Only {n} areas had the strategy: the interval rests on few areas and may be too narrow."
    ),
    "boot_few_treated": (
        "Only {n} areas had the strategy: no bootstrap is exact with so few; its interval errs "
        "wide and can miss a real effect."
    ),
    "few_incidents": (
        "Only {n} incidents in the model: too few for a stable estimate; treat it as indicative."
    ),
    "pre_trend": (
        "Pre-trend test failed (p = {p:.3f}): areas were already diverging before roll-out, so "
        "this is not a credible estimate of the strategy's effect."
    ),
    "pre_trend_untestable": (
        "Pre-trend not testable: too few areas for the number of periods before roll-out; "
        "shorten the event window."
    ),
    "overdispersion": (
        "Counts vary more than a Poisson model assumes (test p = {p:.3g}); the interval uses "
        "area-clustered errors, which allow for it. Compare with the negative binomial row."
    ),
    "no_comparison": (
        "Mission-wide strategy, no untreated areas: anything else that changed at the same time "
        "is counted as its effect."
    ),
    "not_converged": "The model did not converge: do not use this estimate.",
    "twfe": (
        "Plain two-way fixed effects can be biased when roll-out is staggered and effects change "
        "over time; the headline uses the stacked design."
    ),
    "suppressed": "Suppressed: fewer than {k} incidents in the model.",
    "censored": (
        "{n} area-months are known only to an interval (small counts published as \"<5\"): "
        "the model takes them as interval-censored, and the incident total is a lower bound."
    ),
    "rings": (
        "Spill-over design: areas up to {rings} steps from an area with the strategy (a step is "
        "a shared boundary) are compared with areas further away; it assumes reports moved no "
        "further."
    ),
    "rings_timing": (
        "Fewer than {n} areas stayed beyond the outer ring for a whole event window: spill-over "
        "is told apart from change over time mostly by when neighbouring areas started."
    ),
    "displacement_net": (
        "Net ratio over the areas with the strategy and the areas up to {rings} steps away, "
        "against the reports expected there without it (delta-method interval)."
    ),
}


def describe_breakdown(m: float) -> str:
    """Say a breakdown value in plain words.

    Parameters
    ----------
    m : float
        Breakdown value (:attr:`Breakdown.m`).

    Returns
    -------
    str
        The sentence effects tables and briefs carry; empty for NaN.
    """
    if not math.isfinite(m):
        return ""
    if m <= 0:
        return (
            "Sensitivity (Rambachan-Roth): once trends are allowed to keep differing after "
            "roll-out at all, the interval includes no change (breakdown M = 0)."
        )
    reading = (
        "a trend like the one already seen before roll-out could explain it" if m < 1
        else "a trend as large as the one seen before roll-out would not explain it"
    )
    return (
        f"Sensitivity (Rambachan-Roth): the change holds unless trends after roll-out differed "
        f"by more than {m:.2f} times the largest period-to-period difference seen before "
        f"roll-out (breakdown M = {m:.2f}: {reading})."
    )
