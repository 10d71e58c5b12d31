"""What every effect model of the panel shares: its fixed effects and its design caveats.

One definition each of the area and period fixed effects, of when a strategy column is
mission-wide (and so absorbed by the period effects), and of the few-treated-areas caveat, used
by the deployment estimates, the event study and the dose-response models alike.
"""

from __future__ import annotations

import pandas as pd

from protection_eval.effects.count_models import CAVEATS

__all__ = [
    "HEADLINE_DESIGNS",
    "MIN_TREATED_AREAS",
    "PANEL_FIXED_EFFECTS",
    "compute_first_periods",
    "few_treated_caveats",
    "is_mission_wide",
]

#: Area and period fixed effects of every panel model.
PANEL_FIXED_EFFECTS: tuple[str, ...] = ("area_id", "period_index")

#: Headline designs for a strategy rolled out to some areas.
HEADLINE_DESIGNS: tuple[str, ...] = ("stacked", "twfe")

#: Below this many treated areas, an estimate carries the few-treated caveat.
MIN_TREATED_AREAS = 10


def is_mission_wide(panel: pd.DataFrame, column: str) -> bool:
    """Return whether a share column is the same in every area each period.

    Such a column is absorbed by the period fixed effects and cannot be estimated beside them.
    """
    return bool((panel.groupby("period_index")[column].nunique() <= 1).all())


def compute_first_periods(panel: pd.DataFrame, active: str) -> pd.Series:
    """Return each area's first period with the strategy active (NaN when never).

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    active : str
        The strategy's active-share column.

    Returns
    -------
    pandas.Series
        ``period_index`` of the first period with a positive share, indexed by ``area_id``.
    """
    on = panel.loc[panel[active] > 0]
    first = on.groupby("area_id")["period_index"].min()
    return first.reindex(panel["area_id"].unique()).astype("float64")


def few_treated_caveats(panel: pd.DataFrame, active: str) -> list[str]:
    """Return the few-treated-areas caveat when fewer than :data:`MIN_TREATED_AREAS` are treated."""
    n_treated = int(compute_first_periods(panel, active).notna().sum())
    return [CAVEATS["few_treated"].format(n=n_treated)] if n_treated < MIN_TREATED_AREAS else []
