"""Patrol presence and reported incidents: dose-response and the share of women in patrols.

Both look at next-period reported incidents (patrols are often sent after incidents, so the
same period would mix cause and response), with area and period fixed effects, the strategies
active next period as controls and errors clustered by area. Reported is not occurred: more
patrols can raise reporting while lowering violence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import EffectEstimate, fit_count_model
from protection_eval.effects.design import is_mission_wide
from protection_eval.effects.vocabulary import PATROL_PRESENCE

__all__ = ["estimate_dose_response", "estimate_women_share_modification"]


def _with_next_period(panel: pd.DataFrame, outcome: str, columns: Sequence[str],
                      area_col: str, period_col: str) -> pd.DataFrame:
    """Add ``<outcome>_next`` and ``<column>_next``: the same area's values one period later."""
    data = panel.sort_values([area_col, period_col]).copy()
    nxt = data.groupby(area_col)[[outcome, *columns]].shift(-1)
    gap = data.groupby(area_col)[period_col].shift(-1) - data[period_col]
    nxt = nxt.where(gap == 1)
    for c in [outcome, *columns]:
        data[f"{c}_next"] = nxt[c]
    return data


def _patrol_controls(panel: pd.DataFrame, period_col: str) -> list[str]:
    return [
        c for c in panel.attrs.get("strategies", {}).values()
        if c in panel and panel[c].any()
        and not is_mission_wide(panel, c, period_col=period_col)
    ]


def estimate_dose_response(
    panel: pd.DataFrame, *, outcome: str = "incidents", area_col: str = "area_id",
    period_col: str = "period_index",
) -> list[EffectEstimate]:
    """Dose-response of patrol presence on next-period reported incidents.

    Patrol-hours enter as ``log2(1 + hours)`` (IRR per doubling), footprint share per 10
    percentage points; area and period fixed effects, strategies active next period as
    controls, errors clustered by area. A measure the panel lacks is skipped.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel with ``patrol_hours`` and/or ``footprint_share``.
    outcome : str
        Count column (taken as exact: the next period's count has no upper bound column).
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    list of EffectEstimate
        Estimands ``dose_patrol_hours`` and ``dose_footprint`` (strategy ``patrol-presence``).
    """
    columns = {"area_col": area_col, "period_col": period_col}
    controls = _patrol_controls(panel, period_col)
    data = _with_next_period(panel, outcome, controls, area_col, period_col)
    data["log2_patrol_hours"] = np.log2(1.0 + data["patrol_hours"])
    data["footprint_10pp"] = data["footprint_share"] / 0.1
    out = []
    specs = [
        ("log2_patrol_hours", "patrol_hours", "dose_patrol_hours", "doubling of patrol-hours"),
        ("footprint_10pp", "footprint_share", "dose_footprint", "10 points more footprint"),
    ]
    for term, source, estimand, unit in specs:
        if data[source].notna().sum() == 0 or data[source].nunique() < 2:
            continue
        fit = fit_count_model(
            data, f"{outcome}_next", [term, *[f"{c}_next" for c in controls]],
            fixed_effects=(area_col, period_col), cluster=area_col,
        )
        out.append(
            EffectEstimate.from_fit(
                fit, term, strategy_id=PATROL_PRESENCE, estimand=estimand, model="poisson_fe",
                design="panel_fe", unit=unit, **columns,
            )
        )
    return out


def estimate_women_share_modification(
    panel: pd.DataFrame, *, outcome: str = "incidents", area_col: str = "area_id",
    period_col: str = "period_index",
) -> list[EffectEstimate]:
    """Estimate whether the share of women in patrols changes what patrol presence does.

    On area-periods with patrols, next-period incidents are regressed on centred
    ``log2(1 + patrol-hours)``, the centred women's share (per 10 points) and their product,
    with area and period fixed effects, errors clustered by area.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel with ``patrol_hours`` and ``women_share``.
    outcome : str
        Count column (taken as exact, as in :func:`estimate_dose_response`).
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    list of EffectEstimate
        ``women_share`` (IRR per 10 points more women at average patrol-hours) and
        ``women_share_modification`` (how the IRR per doubling of patrol-hours changes per 10
        points more women; above 1 means less reduction). Empty without the measures.
    """
    if panel["women_share"].notna().sum() == 0:
        return []
    controls = _patrol_controls(panel, period_col)
    data = _with_next_period(panel, outcome, controls, area_col, period_col)
    data = data[(data["patrol_hours"] > 0) & data["women_share"].notna()].copy()
    if data["women_share"].nunique() < 2:
        return []
    dose = np.log2(1.0 + data["patrol_hours"])
    data["log2_patrol_hours_c"] = dose - dose.mean()
    data["women_10pp_c"] = (data["women_share"] - data["women_share"].mean()) / 0.1
    data["hours_x_women"] = data["log2_patrol_hours_c"] * data["women_10pp_c"]
    fit = fit_count_model(
        data, f"{outcome}_next",
        ["log2_patrol_hours_c", "women_10pp_c", "hours_x_women",
         *[f"{c}_next" for c in controls]],
        fixed_effects=(area_col, period_col), cluster=area_col,
    )
    common = {"strategy_id": PATROL_PRESENCE, "model": "poisson_fe", "design": "panel_fe",
              "area_col": area_col, "period_col": period_col}
    return [
        EffectEstimate.from_fit(fit, "women_10pp_c", estimand="women_share",
                                unit="10 points more women in patrols", **common),
        EffectEstimate.from_fit(fit, "hours_x_women", estimand="women_share_modification",
                                unit="change of the patrol-hours IRR per 10 points more women",
                                **common),
    ]
