"""Closing the loop: the effect of the randomised patrols, once their month has passed.

Only the randomised units enter: in each pair, the unit the seed gave the patrol against the one
it did not. Their reports in the planned month are fitted with the project's count model
(:func:`~protection_eval.effects.count_models.fit_count_model`): Poisson, a fixed effect per
pair (so each pair is compared with itself), the unit's planned risk as offset (log scale), and
errors clustered by pair. Months planned one after another stack: each month's pairs are pairs
of their own, so the estimate sharpens as a mission keeps planning. The ratio is of **reports**:
a patrol can raise reporting (a survivor meets a patrol) as well as lower violence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import EffectEstimate, fit_count_model
from protection_eval.effects.vocabulary import CAVEATS, PATROL_PRESENCE
from protection_eval.planning.allocation import ARMS

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "PLAN_DESIGN",
    "PLAN_ESTIMAND",
    "estimate_randomised_effect",
    "to_assignments",
]

#: The ``estimand`` of the row in ``effects.csv``.
PLAN_ESTIMAND = "plan_randomised"
#: The ``design`` of that row.
PLAN_DESIGN = "randomised_pairs"
#: What a stored plan keeps for its evaluation (restricted).
ASSIGNMENT_COLUMNS: tuple[str, ...] = ("month", "block", "h3_cell", "arm", "risk")
#: Plain-words caveats of the randomised estimate.
PLAN_CAVEATS = (
    "Randomised among near-ties: in each pair the seed chose which unit got the patrol, so the "
    "pairs differ only by chance and by the patrol.",
    "Patrols on their way to a unit also pass near others, some of them unpatrolled units of "
    "the pairs; that makes the ratio err towards 1.",
)


def to_assignments(units: pd.DataFrame, month: str) -> pd.DataFrame:
    """Return the randomised units of a plan as its stored assignments.

    Parameters
    ----------
    units : pandas.DataFrame
        :attr:`PatrolPlan.units <protection_eval.planning.allocation.PatrolPlan.units>`.
    month : str
        The planned month, ``YYYY-MM``.

    Returns
    -------
    pandas.DataFrame
        :data:`ASSIGNMENT_COLUMNS`, one row per randomised unit.
    """
    chosen = units.loc[units["randomised"], ["block", "h3_cell", "arm", "risk"]]
    return chosen.assign(month=month)[list(ASSIGNMENT_COLUMNS)].reset_index(drop=True)


def estimate_randomised_effect(assignments: pd.DataFrame, reports: pd.Series) -> EffectEstimate:
    """Estimate the ratio of reports in patrolled to unpatrolled randomised units.

    Parameters
    ----------
    assignments : pandas.DataFrame
        :data:`ASSIGNMENT_COLUMNS` of one or more planned months.
    reports : pandas.Series
        Reports per ``(month, h3_cell)`` (a MultiIndex) in those months; a unit missing from it
        had none.

    Returns
    -------
    EffectEstimate
        Strategy ``patrol-presence``, estimand ``plan_randomised``, design ``randomised_pairs``.

    Raises
    ------
    protection_eval.effects.count_models.NotEstimable
        When the pairs cannot identify a ratio (no report in one arm, fewer than two pairs with
        a report).
    """
    data = assignments.copy()
    key = pd.MultiIndex.from_arrays([data["month"].astype(str), data["h3_cell"].astype(str)])
    data["reports"] = reports.reindex(key).fillna(0).to_numpy(dtype=float)
    data["patrolled"] = (data["arm"] == ARMS[0]).astype(float)
    data["pair"] = data["month"].astype(str) + "/" + data["block"].astype(str)
    data["log_risk"] = np.log(data["risk"].astype(float))
    fit = fit_count_model(data, "reports", ["patrolled"], fixed_effects=("pair",),
                          offset="log_risk", cluster="pair")
    estimate = EffectEstimate.from_fit(
        fit, "patrolled", strategy_id=PATROL_PRESENCE, estimand=PLAN_ESTIMAND,
        model="poisson_fe", design=PLAN_DESIGN, area_col="h3_cell", period_col="month",
        unit="unit patrolled for the month (randomised among near-ties)",
    )
    estimate.caveats = [CAVEATS["reported"], *PLAN_CAVEATS, *estimate.caveats[1:]]
    return estimate
