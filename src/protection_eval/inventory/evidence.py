"""Evidence across missions: join the effects that runs estimate, pool them, draw them.

Every mission run writes ``reports/<mission>/latest/shared/effects.csv`` (one row per strategy,
estimand and model). This module takes the ``deployment`` rows with the standard error of each
log incidence-rate ratio (the run's ``se_log_irr`` column; for runs written before it existed,
recovered from the rounded 95% interval with a note saying so) and, for every strategy estimated
in two or more missions, pools the log ratios with a random-effects model
(:mod:`protection_eval.inventory.pooling`: REML between-mission variance, the
Hartung-Knapp-Sidik-Jonkman interval below ten missions, and a prediction interval for a new
mission from three missions on). A strategy estimated in a single mission is reported as that
mission's estimate, never as a pooled one.

The functions here take and return frames; the runs' files are read and the outputs written
by :mod:`protection_eval.runs.evidence`. Forest plots and the evidence page are in
:mod:`protection_eval.inventory.evidence_report`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from protection_eval.inventory.pooling import RandomEffectsPool, estimate_random_effects
from protection_eval.inventory.strategies import StrategyCatalogue
from protection_eval.model import RawTable

__all__ = [
    "EFFECTS_REQUIRED",
    "EVIDENCE_COLUMNS",
    "EvidenceProblem",
    "EvidenceSynthesis",
    "PooledEffect",
    "combine_effects_tables",
    "compute_evidence",
    "estimate_pooled_effect",
    "select_deployment_effects",
]

#: Columns an ``effects.csv`` must have for the evidence synthesis.
EFFECTS_REQUIRED = ("strategy_id", "estimand", "irr", "ci_low", "ci_high")

#: Columns of :meth:`EvidenceSynthesis.to_frame` (``evidence.csv``), in order.
EVIDENCE_COLUMNS = [
    "strategy_id",
    "strategy_name",
    "mission",
    "row_type",
    "irr",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "log_irr",
    "se_log_irr",
    "p_value",
    "n_missions",
    "method",
    "tau2",
    "i2",
    "q",
    "p_heterogeneity",
    "weight_pct",
    "model",
    "design",
    "n_incidents",
    "evidence_level",
    "note",
    "caveats",
]

#: Mission label of pooled rows.
POOLED = "ALL"

_Z95 = float(special.ndtri(0.975))  # stats.norm.ppf's own function, without scipy.stats
_NUMERIC = ("irr", "ci_low", "ci_high", "p_value", "se_log_irr")
#: Note on a mission row whose standard error had to be recovered from its rounded interval.
SE_FROM_INTERVAL = (
    "standard error recovered from the rounded 95% interval with 1.96 (run older than the "
    "se_log_irr column; too small where the run used a t interval): re-run the mission"
)
_COUNTS = ("n_areas", "n_periods", "n_incidents")


@dataclass(frozen=True)
class EvidenceProblem:
    """A row of an effects table that could not be used, and why."""

    file: str
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        return f"{self.file}: {where}: column '{self.column}': {self.message}"


@dataclass
class PooledEffect:
    """Random-effects pooling of one strategy's log incidence-rate ratios.

    Attributes
    ----------
    strategy_id : str
    missions : list of str
        Missions pooled, in the order of ``log_irr_by_mission``.
    log_irr_by_mission, se_by_mission : numpy.ndarray
        Inputs: each mission's log ratio and its standard error.
    log_irr, se_log_irr : float
        Pooled log ratio and the standard error its interval uses.
    irr, ci_low, ci_high : float
        Pooled ratio and 95% interval (Hartung-Knapp-Sidik-Jonkman, t on ``k - 1`` degrees of
        freedom, below ten missions; normal from ten on).
    pi_low, pi_high : float
        95% prediction interval: the range of ratios a new mission might see (NaN with two
        missions, where it cannot be computed).
    p_value : float
        Two-sided test of ``log_irr = 0`` on the interval's reference distribution.
    tau2 : float
        Between-mission variance of the log ratio (REML by default, zero or above).
    i2 : float
        Share of the variation due to heterogeneity, between 0 and 1.
    q, p_heterogeneity : float
        Cochran's Q and its chi-square p-value on ``k - 1`` degrees of freedom.
    weights : numpy.ndarray
        Relative random-effects weights (sum to 1).
    result : RandomEffectsPool
        The pool the numbers come from (log scale).
    """

    strategy_id: str
    missions: list[str]
    log_irr_by_mission: np.ndarray
    se_by_mission: np.ndarray
    log_irr: float
    se_log_irr: float
    irr: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    p_value: float
    tau2: float
    i2: float
    q: float
    p_heterogeneity: float
    weights: np.ndarray
    result: RandomEffectsPool = field(repr=False)

    @property
    def n_missions(self) -> int:
        """Number of missions pooled."""
        return len(self.missions)

    @property
    def method(self) -> str:
        """Short label of the estimator, e.g. ``reml+hksj``."""
        return f"{self.result.tau2_method}+{self.result.interval}"

    def describe(self) -> str:
        """Say in words how the missions were pooled and what the prediction interval means."""
        names = {"reml": "REML", "pm": "Paule-Mandel", "dl": "DerSimonian-Laird"}
        interval = (
            "Hartung-Knapp-Sidik-Jonkman interval" if self.result.interval == "hksj"
            else "normal interval"
        )
        text = (
            f"random-effects pool of {self.n_missions} missions "
            f"({names[self.result.tau2_method]} between-mission variance, {interval})"
        )
        if math.isfinite(self.pi_low):
            text += (
                f"; a new mission might see a ratio between {self.pi_low:.2f} and "
                f"{self.pi_high:.2f} (95% prediction interval)"
            )
        else:
            text += "; no prediction interval with two missions"
        return text

    def to_frame(self) -> pd.DataFrame:
        """Return one row: the pooled estimate with ``mission = "ALL"``."""
        row = {
            "strategy_id": self.strategy_id,
            "mission": POOLED,
            "row_type": "pooled",
            "irr": self.irr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "log_irr": self.log_irr,
            "se_log_irr": self.se_log_irr,
            "p_value": self.p_value,
            "n_missions": self.n_missions,
            "method": self.method,
            "tau2": self.tau2,
            "i2": self.i2,
            "q": self.q,
            "p_heterogeneity": self.p_heterogeneity,
            "weight_pct": 100.0,
            "note": self.describe(),
        }
        return pd.DataFrame([row])


@dataclass
class EvidenceSynthesis:
    """Mission estimates and pooled estimates of every strategy.

    Attributes
    ----------
    mission_effects : pandas.DataFrame
        One row per strategy and mission used (columns of :data:`EVIDENCE_COLUMNS`).
    pooled : dict
        Strategy id -> :class:`PooledEffect`, for strategies with two or more missions.
    problems : list of EvidenceProblem
        Rows left out, with the reason.
    """

    mission_effects: pd.DataFrame
    pooled: dict[str, PooledEffect]
    problems: list[EvidenceProblem] = field(default_factory=list)

    @property
    def strategy_ids(self) -> list[str]:
        """Strategies with at least one usable mission estimate, sorted."""
        return sorted(self.mission_effects["strategy_id"].unique())

    def to_frame(self) -> pd.DataFrame:
        """Return the evidence table: mission rows, then a pooled row after each pooled strategy."""
        parts = []
        for strategy_id in self.strategy_ids:
            rows = self.mission_effects[self.mission_effects["strategy_id"] == strategy_id]
            parts.append(rows)
            if strategy_id in self.pooled:
                pooled = self.pooled[strategy_id].to_frame()
                for column in ("strategy_name", "evidence_level"):
                    pooled[column] = rows[column].iloc[0]
                parts.append(pooled)
        if not parts:
            return pd.DataFrame(columns=EVIDENCE_COLUMNS)
        frame = pd.concat(parts, ignore_index=True)
        return frame.reindex(columns=EVIDENCE_COLUMNS)


def _chi2_sf(q: float, df: int) -> float:
    """Return the chi-squared survival function; scipy.stats is imported when a pool is made."""
    from scipy import stats

    return float(stats.chi2.sf(q, df))


def combine_effects_tables(
    raws: list[tuple[str, RawTable]],
) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Stack runs' ``effects.csv`` tables (cells as text) into one typed frame.

    Parameters
    ----------
    raws : list of (str, RawTable)
        Mission (folder) name and the table as read.

    Returns
    -------
    effects : pandas.DataFrame
        All rows, typed: ratios as float, counts as Int64, plus ``source_file`` and
        ``source_row``. ``mission`` is the folder name where the file has no mission column.
    problems : list of EvidenceProblem
        Files without a required column (their rows are left out).
    """
    frames, problems = [], []
    for mission, raw in raws:
        frame = raw.frame.copy()
        missing = [c for c in EFFECTS_REQUIRED if c not in frame.columns]
        if missing:
            problems.append(
                EvidenceProblem(
                    str(raw.path),
                    None,
                    ",".join(missing),
                    "required column missing; re-run the mission so effects.csv is rewritten",
                )
            )
            continue
        if "mission" not in frame.columns or (frame["mission"].str.strip() == "").all():
            frame["mission"] = mission
        frame["source_file"] = str(raw.path)
        frames.append(frame)
    if not frames:
        columns = [*EFFECTS_REQUIRED, "mission", "source_file", "source_row"]
        return pd.DataFrame(columns=columns), problems
    effects = pd.concat(frames, ignore_index=True)
    for column in _NUMERIC:
        if column in effects.columns:
            effects[column] = pd.to_numeric(effects[column], errors="coerce").astype("float64")
    for column in _COUNTS:
        if column in effects.columns:
            effects[column] = pd.to_numeric(effects[column], errors="coerce").astype("Int64")
    return effects, problems


def select_deployment_effects(
    effects: pd.DataFrame, estimand: str = "deployment"
) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Keep one usable estimate per strategy and mission, with its log ratio and standard error.

    Where a mission reports several ``deployment`` rows for a strategy (several models), the
    row with ``headline`` true is used, else the first row in file order. The standard error of
    the log ratio is the run's own ``se_log_irr``. A run written before that column existed
    (or a hand-made table without it) falls back to ``(log(ci_high) - log(ci_low)) / (2 *
    1.959964)`` and the row's ``note`` says so: that recovery is off when the run's interval
    used a t quantile (few areas), and the rounding of the interval to 4 decimals adds to it.

    Parameters
    ----------
    effects : pandas.DataFrame
        Rows as read by :func:`~protection_eval.runs.load_effects` (or built by hand with the
        same columns).
    estimand : str
        Which estimand to keep.

    Returns
    -------
    selected : pandas.DataFrame
        Columns ``strategy_id, mission, irr, ci_low, ci_high, log_irr, se_log_irr, note`` and
        whatever else the input carries (``model``, ``design``, ``p_value``, ``n_incidents``,
        ``caveats``).
    problems : list of EvidenceProblem
        Rows that were left out (missing or inconsistent numbers), naming file, row and column.
    """
    problems: list[EvidenceProblem] = []
    rows = effects[effects["estimand"].astype("string").str.strip() == estimand].copy()
    if "source_file" not in rows.columns:
        rows["source_file"] = "effects"
    if "source_row" not in rows.columns:
        rows["source_row"] = range(2, len(rows) + 2)
    keep = pd.Series(True, index=rows.index)
    for index, row in rows.iterrows():
        reason = _check_interval(row)
        if reason is not None:
            column, message = reason
            problems.append(
                EvidenceProblem(
                    str(row["source_file"]), _as_int(row["source_row"]), column, message
                )
            )
            keep[index] = False
    rows = rows[keep]
    if "headline" in rows.columns:
        headline = rows["headline"].astype("string").str.strip().str.lower().isin(["true", "1"])
        rows = rows.assign(_rank=np.where(headline, 0, 1)).sort_values(
            ["strategy_id", "mission", "_rank"], kind="stable"
        )
        rows = rows.drop(columns="_rank")
    rows = rows.drop_duplicates(["strategy_id", "mission"], keep="first")
    rows["log_irr"] = np.log(rows["irr"].astype(float))
    rows["se_log_irr"], rows["note"] = _standard_errors(rows)
    return rows.sort_values(["strategy_id", "mission"]).reset_index(drop=True), problems


def estimate_pooled_effect(
    strategy_id: str,
    missions: list[str],
    log_irr: np.ndarray,
    se: np.ndarray,
    *,
    tau2_method: str = "reml",
    interval: str | None = None,
) -> PooledEffect:
    """Pool log incidence-rate ratios with a random-effects model.

    Parameters
    ----------
    strategy_id : str
    missions : list of str
        One label per estimate.
    log_irr, se : array-like
        Log ratios and their standard errors (at least two).
    tau2_method : {"reml", "pm", "dl"}
        Between-mission variance: restricted maximum likelihood (default), Paule-Mandel or
        DerSimonian-Laird.
    interval : {"hksj", "normal"}, optional
        Interval of the pooled ratio; default Hartung-Knapp-Sidik-Jonkman below
        :data:`protection_eval.inventory.pooling.HKSJ_BELOW` missions, normal from there on.

    Returns
    -------
    PooledEffect

    Notes
    -----
    With two to eight missions a normal interval around a DerSimonian-Laird pool covers the
    pooled effect far less often than 95% (``docs/validity.md``, pooling section); the HKSJ
    interval on t with ``k - 1`` degrees of freedom does, at the price of width: with two
    missions the t quantile is 12.7, which is what two estimates can honestly say.
    """
    log_irr = np.asarray(log_irr, dtype=float)
    se = np.asarray(se, dtype=float)
    if len(log_irr) < 2:
        raise ValueError(f"{strategy_id}: pooling needs two or more missions, got {len(log_irr)}")
    pool = estimate_random_effects(log_irr, se, tau2_method=tau2_method, interval=interval)
    return PooledEffect(
        strategy_id=strategy_id,
        missions=list(missions),
        log_irr_by_mission=log_irr,
        se_by_mission=se,
        log_irr=pool.mean,
        se_log_irr=pool.se,
        irr=math.exp(pool.mean),
        ci_low=math.exp(pool.ci_low),
        ci_high=math.exp(pool.ci_high),
        pi_low=math.exp(pool.pi_low),
        pi_high=math.exp(pool.pi_high),
        p_value=pool.p_value,
        tau2=pool.tau2,
        i2=pool.i2,
        q=pool.q,
        p_heterogeneity=float(_chi2_sf(pool.q, pool.k - 1)),
        weights=pool.weights,
        result=pool,
    )


def compute_evidence(
    effects: pd.DataFrame,
    strategies: StrategyCatalogue | None = None,
    estimand: str = "deployment",
) -> EvidenceSynthesis:
    """Join mission estimates to the catalogue and pool strategies estimated in >= 2 missions.

    Parameters
    ----------
    effects : pandas.DataFrame
        Effects rows (see :func:`~protection_eval.runs.load_effects`).
    strategies : StrategyCatalogue, optional
        Adds ``strategy_name`` and ``evidence_level``; ids not in it are noted.
    estimand : str
        Estimand to synthesise.

    Returns
    -------
    EvidenceSynthesis
    """
    selected, problems = select_deployment_effects(effects, estimand)
    pooled: dict[str, PooledEffect] = {}
    for strategy_id, rows in selected.groupby("strategy_id", sort=True):
        if len(rows) >= 2:
            pooled[strategy_id] = estimate_pooled_effect(
                strategy_id,
                rows["mission"].tolist(),
                rows["log_irr"].to_numpy(),
                rows["se_log_irr"].to_numpy(),
            )
    selected = selected.assign(row_type="mission", n_missions=1)
    weight = pd.Series(np.nan, index=selected.index)
    note = selected["note"].astype("object")
    for index, row in selected.iterrows():
        found = pooled.get(row["strategy_id"])
        if found is None:
            note[index] = "; ".join(
                n for n in ("estimated in one mission only: not pooled", note[index]) if n
            )
        else:
            weight[index] = 100 * found.weights[found.missions.index(row["mission"])]
    selected["weight_pct"] = weight
    names = {s.id: s.name for s in strategies} if strategies is not None else {}
    levels = {s.id: s.evidence_level for s in strategies} if strategies is not None else {}
    selected["strategy_name"] = selected["strategy_id"].map(names)
    selected["evidence_level"] = selected["strategy_id"].map(levels)
    if strategies is not None:
        unknown = ~selected["strategy_id"].isin(list(strategies.ids))
        note[unknown] = (note[unknown] + "; not in the strategy catalogue").str.strip("; ")
    selected["note"] = note
    mission_effects = selected.reindex(columns=EVIDENCE_COLUMNS)
    return EvidenceSynthesis(mission_effects, pooled, problems)


def _standard_errors(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's own standard error, else the one recovered from its interval, with a note."""
    from_interval = (
        np.log(rows["ci_high"].astype(float)) - np.log(rows["ci_low"].astype(float))
    ) / (2 * _Z95)
    own = (
        pd.to_numeric(rows["se_log_irr"], errors="coerce").astype("float64")
        if "se_log_irr" in rows.columns
        else pd.Series(np.nan, index=rows.index)
    )
    recovered = own.isna()
    note = pd.Series(np.where(recovered, SE_FROM_INTERVAL, ""), index=rows.index, dtype="object")
    return own.where(~recovered, from_interval), note


def _check_interval(row: pd.Series) -> tuple[str, str] | None:
    for column in ("irr", "ci_low", "ci_high"):
        value = row[column]
        if pd.isna(value):
            return column, "no number (suppressed or not estimated): left out of the synthesis"
        if value <= 0:
            return column, f"must be above 0, got {value}"
    if not row["ci_low"] <= row["irr"] <= row["ci_high"]:
        return "irr", "not inside its interval (ci_low <= irr <= ci_high); check the run"
    if row["ci_low"] == row["ci_high"]:
        return "ci_high", "interval of width zero gives no standard error"
    se = pd.to_numeric(pd.Series([row.get("se_log_irr")]), errors="coerce").iloc[0]
    if pd.notna(se) and not (math.isfinite(se) and se > 0):
        return "se_log_irr", f"standard error must be a positive number, got {se}"
    if not str(row.get("strategy_id", "")).strip():
        return "strategy_id", "empty strategy id"
    return None


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
