"""Women's participation and reported incidents across missions: an association, not an effect.

A panel of units (missions, or areas inside a mission) by period, with the share of women and
the count of reported incidents. A Poisson (or negative binomial) count model with unit and
period fixed effects, errors clustered by unit, gives the ratio of reported incidents per 10
points more women: the project's count models (:func:`protection_eval.effects.count_models.
fit_count_model`) and their caveats, with one more: missions with more women differ in many
other ways, and fixed effects remove only what does not change over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import (
    EFFECT_COLUMNS,
    CountModelResult,
    EffectEstimate,
    fit_count_model,
)
from protection_eval.effects.design import upper_column

__all__ = [
    "ASSOCIATION_CAVEAT",
    "PARTICIPATION",
    "ParticipationAssociation",
    "estimate_participation_association",
    "to_participation_panel",
]

#: Strategy id of the estimates.
PARTICIPATION = "women-participation"

#: Said next to every association estimate.
ASSOCIATION_CAVEAT = (
    "An association across units and periods, not the effect of deploying more women: units "
    "with more women differ in other ways, and fixed effects remove only what does not change "
    "over time. More women can also raise reporting."
)


@dataclass
class ParticipationAssociation:
    """The association of women's share with reported incidents.

    Attributes
    ----------
    estimate : EffectEstimate
        IRR per 10 points more women, with its interval and caveats.
    fit : CountModelResult
        The fitted model (``fit.model`` is the fixed-effects fit).
    unit : str
        Column of the units (``mission`` or ``area_id``).
    notes : list of str
        Rows left out and why.
    """

    estimate: EffectEstimate
    fit: CountModelResult
    unit: str
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Return one row with :data:`protection_eval.effects.count_models.EFFECT_COLUMNS`."""
        return self.estimate.to_frame()[EFFECT_COLUMNS]


def to_participation_panel(
    indicators: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    indicator_id: str = "uniformed.women_share",
) -> pd.DataFrame:
    """Join one indicator's values to reported incidents by mission and period.

    Parameters
    ----------
    indicators : pandas.DataFrame
        Indicator rows (the documented columns are enough).
    outcomes : pandas.DataFrame
        ``mission, period, incidents`` and optionally ``exposure`` (e.g. population; its log
        becomes the offset).
    indicator_id : str
        The share used.

    Returns
    -------
    pandas.DataFrame
        ``mission, period, women_share, incidents`` (and ``exposure``), one row per
        mission-period present in both; the ``ALL`` rows are left out.
    """
    shares = indicators.loc[
        (indicators["indicator_id"] == indicator_id) & (indicators["mission"] != "ALL"),
        ["mission", "period", "value"],
    ].rename(columns={"value": "women_share"})
    outcomes = outcomes.assign(period=outcomes["period"].astype(str))
    return shares.merge(outcomes, on=["mission", "period"], how="inner")


def estimate_participation_association(
    panel: pd.DataFrame,
    *,
    unit: str = "mission",
    period: str = "period",
    share: str = "women_share",
    outcome: str = "incidents",
    exposure: str | None = None,
    family: str = "poisson",
) -> ParticipationAssociation:
    """Estimate the association of women's share with reported incidents.

    Parameters
    ----------
    panel : pandas.DataFrame
        One row per unit and period with ``share`` (0-1) and ``outcome`` (a count).
    unit, period : str
        Columns of the fixed effects; errors are clustered by ``unit``.
    share : str
        Column of the share of women.
    outcome : str
        Count of reported incidents.
    exposure : str, optional
        Column of exposure (population, personnel...); ``log(exposure)`` is the offset.
    family : {"poisson", "negbin"}
        Count model family.

    Returns
    -------
    ParticipationAssociation
        ``estimate.irr`` is the ratio of reported incidents per 10 points more women.

    Raises
    ------
    protection_eval.effects.count_models.NotEstimable
        When nothing is left to fit (no incident, or no variation).
    """
    data = panel.copy()
    data["women_10pp"] = data[share].astype(float) / 0.1
    notes = []
    offset = None
    if exposure is not None:
        bad = ~(data[exposure].astype(float) > 0)
        if bad.any():
            notes.append(f"{int(bad.sum())} rows without a positive {exposure} left out")
        data = data[~bad].copy()
        data["log_exposure"] = np.log(data[exposure].astype(float))
        offset = "log_exposure"
    fit = fit_count_model(data, outcome, ["women_10pp"], family=family,
                          fixed_effects=(unit, period), offset=offset, cluster=unit,
                          upper=upper_column(data, outcome))
    model = "poisson_fe" if family == "poisson" else "negbin_fe"
    estimate = EffectEstimate.from_fit(
        fit, "women_10pp", strategy_id=PARTICIPATION, estimand="women_share_association",
        model=model, design="panel_fe", area_col=unit, period_col=period,
        unit="10 points more women",
    )
    estimate.caveats.append(ASSOCIATION_CAVEAT)
    if fit.data[unit].nunique() < 10:
        estimate.caveats.append(
            f"Only {fit.data[unit].nunique()} {unit} clusters: clustered errors rest on few "
            "units and may be too narrow.")
    return ParticipationAssociation(estimate, fit, unit, notes + list(fit.notes))
