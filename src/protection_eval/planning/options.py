"""What a patrol plan is asked for: the month, the budget and the assumptions it rests on.

Every number a plan assumes (patrol speed, a day's patrol, the near-tie margin, the smoothing)
travels in one :class:`PlanOptions`, is written beside the plan in ``evaluation_design.json``
and is explained in ``docs/planning.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd

__all__ = ["PlanOptions", "to_month"]


@dataclass(frozen=True)
class PlanOptions:
    """The choices of one patrol plan.

    Attributes
    ----------
    patrol_hours : float or None
        Patrol-hours the mission has for the month; None: the mean of the three months before
        it (:func:`protection_eval.planning.history.count_history`).
    seed : int
        Seed of the randomisation among near-ties (and of the power simulations): the same
        seed gives the same plan.
    speed_kmh : float
        Speed of a patrol going to a unit and back (15 km/h: a vehicle on rough roads).
    day_h : float
        Hours of a day's patrol: going out, sweeping the unit and coming back must fit in it,
        else the unit is out of reach of the base.
    stops_per_trip : float
        Units a trip visits on average: the way from the base and back is shared among them.
    max_hours_per_unit : float or None
        Most patrol-hours one unit may get in the month (None: as many as it takes to keep the
        unit within reach all month, which is the most that adds anything).
    margin : float
        Near-tie margin: two units whose expected reports within reach per patrol-hour differ
        by less than this share are treated as equally deserving, and the seed chooses.
    history_months : int
        Months before the planned one whose reports place the risk.
    half_life_months : float
        Half-life of the weights of past months in the mission's expected monthly total.
    bandwidth_rings : float
        Bandwidth of the spatial kernel in H3 rings (a Gaussian of grid distance).
    power : float
        Power at which the minimum detectable ratio is given.
    alpha : float
        Two-sided significance level of the planned comparison.
    simulations : int
        Simulated months per power evaluation of the randomised comparison.
    wedge_steps : int
        Steps of the stepped-wedge roll-out design (groups of areas starting one month apart).
    wedge_simulations : int
        Simulated roll-outs per effect size of the stepped-wedge power.
    strategy : str or None
        Strategy whose roll-out the stepped wedge orders (areas that have it already are left
        out); None: a new strategy, every area.
    """

    patrol_hours: float | None = None
    seed: int = 0
    speed_kmh: float = 15.0
    day_h: float = 8.0
    stops_per_trip: float = 6.0
    max_hours_per_unit: float | None = None
    margin: float = 0.25
    history_months: int = 12
    half_life_months: float = 3.0
    bandwidth_rings: float = 1.0
    power: float = 0.8
    alpha: float = 0.05
    simulations: int = 500
    wedge_steps: int = 4
    wedge_simulations: int = 40
    strategy: str | None = None

    def __post_init__(self) -> None:
        checks = {
            "speed_kmh": self.speed_kmh > 0,
            "day_h": self.day_h > 0,
            "stops_per_trip": self.stops_per_trip >= 1,
            "margin": 0 <= self.margin < 1,
            "history_months": self.history_months >= 1,
            "half_life_months": self.half_life_months > 0,
            "bandwidth_rings": self.bandwidth_rings > 0,
            "power": 0 < self.power < 1,
            "alpha": 0 < self.alpha < 0.5,
            "simulations": self.simulations >= 20,
            "wedge_steps": self.wedge_steps >= 2,
            "wedge_simulations": self.wedge_simulations >= 10,
        }
        if self.patrol_hours is not None:
            checks["patrol_hours"] = self.patrol_hours >= 0
        if self.max_hours_per_unit is not None:
            checks["max_hours_per_unit"] = self.max_hours_per_unit > 0
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"plan options out of range: {values} (see docs/planning.md)")

    @property
    def reach_km(self) -> float:
        """Farthest a unit may be from a base: half a day's patrol at ``speed_kmh``."""
        return self.speed_kmh * self.day_h / 2

    def with_changes(self, **changes: Any) -> PlanOptions:
        """Return a copy with some options changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as plain values (for ``evaluation_design.json``)."""
        return {**asdict(self), "reach_km": self.reach_km}


def to_month(month: str | pd.Period | pd.Timestamp) -> pd.Period:
    """Return a month as a ``Period[M]`` from ``YYYY-MM`` text, a period or a timestamp.

    Raises
    ------
    ValueError
        When the text is not a month of the form ``YYYY-MM``.
    """
    if isinstance(month, pd.Period):
        return month.asfreq("M")
    if isinstance(month, pd.Timestamp):
        return month.to_period("M")
    text = str(month).strip()
    if len(text) != 7 or text[4] != "-":
        raise ValueError(f"month must be written YYYY-MM (e.g. 2024-06), not {month!r}")
    try:
        return pd.Period(text, freq="M")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"month must be written YYYY-MM (e.g. 2024-06), not {month!r}") from exc
