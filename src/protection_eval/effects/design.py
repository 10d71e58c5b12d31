"""What every effect model of the panel shares: its fixed effects and its design caveats.

The panel's area and period columns are ``area_id`` and ``period_index`` by default; every
panel estimator takes others as ``area_col`` and ``period_col`` (as pyfixest's formulas and
linearmodels' entity and time index do). One definition each of the area and period fixed
effects, of when a strategy column is mission-wide (and so absorbed by the period effects), and
of the few-treated-areas caveat, used by the deployment estimates, the event study and the
dose-response models alike.
"""

from __future__ import annotations

import pandas as pd

from protection_eval.effects.vocabulary import CAVEATS

__all__ = [
    "HEADLINE_DESIGNS",
    "MIN_TREATED_AREAS",
    "PANEL_FIXED_EFFECTS",
    "compute_first_periods",
    "few_treated_caveats",
    "is_mission_wide",
    "upper_column",
]

#: Area and period fixed effects of every panel model.
PANEL_FIXED_EFFECTS: tuple[str, ...] = ("area_id", "period_index")

#: Headline designs for a strategy rolled out to some areas.
HEADLINE_DESIGNS: tuple[str, ...] = ("stacked", "twfe")

#: Below this many treated areas, an estimate carries the few-treated caveat.
MIN_TREATED_AREAS = 10


def is_mission_wide(panel: pd.DataFrame, column: str, *,
                    period_col: str = "period_index") -> bool:
    """Return whether a share column is the same in every area each period.

    Such a column is absorbed by the period fixed effects and cannot be estimated beside them.
    """
    return bool((panel.groupby(period_col)[column].nunique() <= 1).all())


def compute_first_periods(
    panel: pd.DataFrame, active: str, *, area_col: str = "area_id",
    period_col: str = "period_index",
) -> pd.Series:
    """Return each area's first period with the strategy active (NaN when never).

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    active : str
        The strategy's active-share column.
    area_col, period_col : str
        Area and (ordered, integer) period columns.

    Returns
    -------
    pandas.Series
        The period of the first positive share, indexed by area.
    """
    on = panel.loc[panel[active] > 0]
    first = on.groupby(area_col)[period_col].min()
    return first.reindex(panel[area_col].unique()).astype("float64")


def few_treated_caveats(
    panel: pd.DataFrame, active: str, *, area_col: str = "area_id",
    period_col: str = "period_index",
) -> list[str]:
    """Return the few-treated-areas caveat when fewer than :data:`MIN_TREATED_AREAS` are treated."""
    n_treated = int(compute_first_periods(panel, active, area_col=area_col,
                                          period_col=period_col).notna().sum())
    return [CAVEATS["few_treated"].format(n=n_treated)] if n_treated < MIN_TREATED_AREAS else []


def upper_column(panel: pd.DataFrame, outcome: str) -> str | None:
    """Return the column of upper bounds of a count, when the panel has one.

    A panel with published counts (``incident_counts``) holds the lower bound of each count in
    ``outcome`` and the upper bound in ``upper_<outcome>``
    (:func:`~protection_eval.effects.panel.compute_panel`); the panel estimators pass the name
    as ``upper=`` to :func:`~protection_eval.effects.count_models.fit_count_model`, which never
    looks for it itself.

    Parameters
    ----------
    panel : pandas.DataFrame
        A panel (or a frame built from one).
    outcome : str
        Count column.

    Returns
    -------
    str or None
        ``upper_<outcome>`` when present, else None.
    """
    name = f"upper_{outcome}"
    return name if name in panel.columns else None
