"""Trajectories: the year-on-year trend of a share and the year a target would be reached.

A straight line is fitted by least squares to the yearly values of one indicator in one
mission. The year the target would be reached is where that line crosses the target; its
interval is where the line's 95% confidence band crosses it (earliest: the upper edge; latest:
the lower edge). **This is an extrapolation**: it assumes the past trend simply continues, which
nothing guarantees; a slope whose interval includes zero gives no latest year at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "EXTRAPOLATION_NOTE",
    "MIN_YEARS_FOR_TREND",
    "TRAJECTORY_COLUMNS",
    "Trajectory",
    "TrajectoryTable",
    "compute_trajectories",
    "fit_trend",
]

#: Fewer yearly values than this and no line is fitted.
MIN_YEARS_FOR_TREND = 3

#: Said next to every year-reached figure.
EXTRAPOLATION_NOTE = (
    "Extrapolation: a straight line through the yearly shares, assumed to continue unchanged; "
    "the interval is where the line's 95% confidence band meets the target. It is not a forecast "
    "of what contributing countries will deploy."
)

#: Columns of :meth:`TrajectoryTable.to_frame`.
TRAJECTORY_COLUMNS = [
    "indicator_id", "mission", "first_year", "last_year", "n_years", "latest_value",
    "slope_per_year", "slope_ci_low", "slope_ci_high", "target", "target_id", "due_year",
    "year_reached", "year_reached_low", "year_reached_high", "status", "note",
]

_HORIZON = 2200.0
_STEP = 0.01


@dataclass(frozen=True)
class Trajectory:
    """The fitted trend of one series and, with a target, when it would be reached.

    Attributes
    ----------
    indicator_id, mission : str
        The series.
    first_year, last_year, n_years : int
        The years fitted.
    latest_value : float
        The share in ``last_year``.
    slope_per_year, slope_ci_low, slope_ci_high : float
        Change of the share per year and its 95% interval (NaN when not fitted).
    intercept : float
        Fitted share at the mean year.
    mean_year : float
        Centre of the fitted years.
    residual_se : float
        Residual standard error of the line.
    target : float
        The target share (NaN without a target).
    target_id : str
        The target's id ("" without one).
    due_year : float
        The target's deadline (NaN without one).
    year_reached, year_reached_low, year_reached_high : float
        Where the line, and the upper and lower edges of its band, reach the target (NaN when
        not within the horizon, or not applicable).
    status : str
        ``met`` (latest value at or above target), ``projected`` (line reaches it),
        ``not_reached`` (flat or falling line), ``no_target`` or ``too_few_years``.
    note : str
        :data:`EXTRAPOLATION_NOTE`, and anything else a reader must know.
    """

    indicator_id: str
    mission: str
    first_year: int
    last_year: int
    n_years: int
    latest_value: float
    slope_per_year: float
    slope_ci_low: float
    slope_ci_high: float
    intercept: float
    mean_year: float
    residual_se: float
    sxx: float
    t_crit: float
    target: float
    target_id: str
    due_year: float
    year_reached: float
    year_reached_low: float
    year_reached_high: float
    status: str
    note: str

    def predict(self, years: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the fitted line and its 95% confidence band at ``years``."""
        years = np.asarray(years, dtype=float)
        centre = self.intercept + self.slope_per_year * (years - self.mean_year)
        half = self.t_crit * self.residual_se * np.sqrt(
            1.0 / self.n_years + (years - self.mean_year) ** 2 / self.sxx
        )
        return centre, centre - half, centre + half


def _first_crossing(years: np.ndarray, values: np.ndarray, target: float) -> float:
    hit = np.flatnonzero(values >= target)
    return float(years[hit[0]]) if hit.size else float("nan")


def fit_trend(
    years: np.ndarray | pd.Series,
    values: np.ndarray | pd.Series,
    *,
    target: float | None = None,
    target_id: str = "",
    due_year: int | None = None,
    indicator_id: str = "",
    mission: str = "",
    level: float = 0.95,
) -> Trajectory:
    """Fit a straight line to yearly shares and find when it reaches a target.

    Parameters
    ----------
    years, values : array-like
        One value per year (missing values dropped).
    target : float, optional
        Target share.
    target_id : str
        Target id, carried into the result.
    due_year : int, optional
        The target's deadline.
    indicator_id, mission : str
        Labels of the series.
    level : float
        Confidence level of the slope interval and the band.

    Returns
    -------
    Trajectory
        Slope with interval; year reached with interval (an extrapolation, see
        :data:`EXTRAPOLATION_NOTE`).
    """
    frame = pd.DataFrame({"x": np.asarray(years, float), "y": np.asarray(values, float)})
    frame = frame.dropna().sort_values("x")
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    n = len(x)
    nan = float("nan")
    target_value = nan if target is None or pd.isna(target) else float(target)
    base = {
        "indicator_id": indicator_id, "mission": mission,
        "first_year": int(x[0]) if n else 0, "last_year": int(x[-1]) if n else 0, "n_years": n,
        "latest_value": float(y[-1]) if n else nan, "target": target_value,
        "target_id": target_id, "due_year": nan if due_year is None else float(due_year),
    }
    if n < MIN_YEARS_FOR_TREND or np.ptp(x) == 0:
        return Trajectory(**base, slope_per_year=nan, slope_ci_low=nan, slope_ci_high=nan,
                          intercept=nan, mean_year=nan, residual_se=nan, sxx=nan, t_crit=nan,
                          year_reached=nan, year_reached_low=nan, year_reached_high=nan,
                          status="too_few_years",
                          note=f"Fewer than {MIN_YEARS_FOR_TREND} years: no trend fitted.")
    mean_year = float(x.mean())
    sxx = float(((x - mean_year) ** 2).sum())
    slope = float(((x - mean_year) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean())
    resid = y - (intercept + slope * (x - mean_year))
    df = n - 2
    residual_se = float(np.sqrt((resid**2).sum() / df)) if df > 0 else 0.0
    t_crit = float(stats.t.ppf(0.5 + level / 2, df)) if df > 0 else float("inf")
    half = t_crit * residual_se / np.sqrt(sxx)
    fitted = {"slope_per_year": slope, "slope_ci_low": slope - half,
              "slope_ci_high": slope + half, "intercept": intercept, "mean_year": mean_year,
              "residual_se": residual_se, "sxx": sxx, "t_crit": t_crit}
    draft = Trajectory(**base, **fitted, year_reached=nan, year_reached_low=nan,
                       year_reached_high=nan, status="", note="")
    if np.isnan(target_value):
        return _replace(draft, status="no_target", note="No target applies to this series.")
    if y[-1] >= target_value:
        return _replace(draft, status="met",
                        note=f"The latest value already meets the target. {EXTRAPOLATION_NOTE}")
    grid = np.arange(float(x[-1]), _HORIZON + _STEP, _STEP)
    centre, low, high = draft.predict(grid)
    reached = _first_crossing(grid, centre, target_value) if slope > 0 else nan
    note = EXTRAPOLATION_NOTE
    if np.isnan(reached):
        note = f"At the current trend the target is not reached. {EXTRAPOLATION_NOTE}"
    elif slope - half <= 0:
        note = (f"The slope's interval includes no growth: no latest year can be given. "
                f"{EXTRAPOLATION_NOTE}")
    return _replace(
        draft,
        year_reached=reached,
        year_reached_low=_first_crossing(grid, high, target_value),
        year_reached_high=_first_crossing(grid, low, target_value),
        status="not_reached" if np.isnan(reached) else "projected",
        note=note,
    )


def _replace(t: Trajectory, **changes: object) -> Trajectory:
    values = asdict(t)
    values.update(changes)
    return Trajectory(**values)


@dataclass
class TrajectoryTable:
    """Trajectories of many series.

    Attributes
    ----------
    trajectories : list of Trajectory
        One per (indicator, mission).
    """

    trajectories: list[Trajectory]

    def get(self, mission: str, indicator_id: str | None = None) -> Trajectory | None:
        """Return the trajectory of ``mission`` (and ``indicator_id``), or None."""
        for t in self.trajectories:
            if t.mission == mission and (indicator_id is None or t.indicator_id == indicator_id):
                return t
        return None

    def to_frame(self) -> pd.DataFrame:
        """Return one row per series with :data:`TRAJECTORY_COLUMNS`."""
        rows = [{c: getattr(t, c) for c in TRAJECTORY_COLUMNS} for t in self.trajectories]
        return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)


def compute_trajectories(rows: pd.DataFrame, indicator_ids: list[str] | None = None,
                         ) -> TrajectoryTable:
    """Fit the trend of every yearly series of indicator rows.

    Parameters
    ----------
    rows : pandas.DataFrame
        Indicator rows with the detail columns of
        :attr:`protection_eval.indicators.compute.IndicatorTable.rows` (``indicator_id``,
        ``mission``, ``year``, ``monthly``, ``value``, ``target``, ``target_id``,
        ``due_year``).
    indicator_ids : list of str, optional
        The indicators to fit (default: every yearly one).

    Returns
    -------
    TrajectoryTable
        Targets are those in force in each series' last year.
    """
    yearly = rows[~rows["monthly"] & rows["value"].notna()]
    if indicator_ids is not None:
        yearly = yearly[yearly["indicator_id"].isin(indicator_ids)]
    out = []
    for (indicator_id, mission), series in yearly.groupby(["indicator_id", "mission"],
                                                          sort=True):
        series = series.sort_values("year")
        last = series.iloc[-1]
        out.append(fit_trend(
            series["year"], series["value"],
            target=last["target"], target_id=str(last["target_id"] or ""),
            due_year=None if pd.isna(last["due_year"]) else int(last["due_year"]),
            indicator_id=str(indicator_id), mission=str(mission),
        ))
    return TrajectoryTable(out)
