"""Evidence across missions: join the effects that runs estimate, pool them, draw them.

Every mission run writes ``reports/<mission>/latest/shared/effects.csv`` (one row per strategy,
estimand and model). This module takes the ``deployment`` rows, recovers the standard error of
each log incidence-rate ratio from its 95% interval, and, for every strategy estimated in two or
more missions, pools the log ratios with a DerSimonian-Laird random-effects meta-analysis
(:func:`statsmodels.stats.meta_analysis.combine_effects`). A strategy estimated in a single
mission is reported as that mission's estimate, never as a pooled one.

Reading goes through :mod:`protection_eval.io.readers`; the computing functions take and return
frames. Forest plots and the ``evidence.csv`` / ``evidence.html`` outputs are in
:mod:`protection_eval.inventory.evidence_report`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from protection_eval.inventory.strategies import StrategyCatalogue
from protection_eval.io import readers as catalog

__all__ = [
    "EFFECTS_REQUIRED",
    "EVIDENCE_COLUMNS",
    "EvidenceProblem",
    "EvidenceSynthesis",
    "PooledEffect",
    "compute_evidence",
    "compute_run_evidence",
    "estimate_pooled_effect",
    "load_effects",
    "load_run_effects",
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
    "log_irr",
    "se_log_irr",
    "p_value",
    "n_missions",
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

_Z95 = float(stats.norm.ppf(0.975))
_NUMERIC = ("irr", "ci_low", "ci_high", "p_value")
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
    """DerSimonian-Laird random-effects pooling of one strategy's log incidence-rate ratios.

    Attributes
    ----------
    strategy_id : str
    missions : list of str
        Missions pooled, in the order of ``log_irr_by_mission``.
    log_irr_by_mission, se_by_mission : numpy.ndarray
        Inputs: each mission's log ratio and its standard error.
    log_irr, se_log_irr : float
        Pooled log ratio and its standard error.
    irr, ci_low, ci_high : float
        Pooled ratio and 95% interval.
    p_value : float
        Two-sided z-test of ``log_irr = 0``.
    tau2 : float
        Between-mission variance of the log ratio (DerSimonian-Laird, truncated at 0).
    i2 : float
        Share of the variation due to heterogeneity, between 0 and 1.
    q, p_heterogeneity : float
        Cochran's Q and its chi-square p-value on ``k - 1`` degrees of freedom.
    weights : numpy.ndarray
        Relative random-effects weights (sum to 1).
    result : statsmodels CombineResults
        The statsmodels result the numbers come from.
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
    p_value: float
    tau2: float
    i2: float
    q: float
    p_heterogeneity: float
    weights: np.ndarray
    result: object = field(repr=False)

    @property
    def n_missions(self) -> int:
        """Number of missions pooled."""
        return len(self.missions)

    def to_frame(self) -> pd.DataFrame:
        """Return one row: the pooled estimate with ``mission = "ALL"``."""
        row = {
            "strategy_id": self.strategy_id,
            "mission": POOLED,
            "row_type": "pooled",
            "irr": self.irr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "log_irr": self.log_irr,
            "se_log_irr": self.se_log_irr,
            "p_value": self.p_value,
            "n_missions": self.n_missions,
            "tau2": self.tau2,
            "i2": self.i2,
            "q": self.q,
            "p_heterogeneity": self.p_heterogeneity,
            "weight_pct": 100.0,
            "note": f"random-effects pool of {self.n_missions} missions (DerSimonian-Laird)",
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


def load_effects(reports_dir: str | Path) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Read every run's shared ``effects.csv`` under ``reports_dir``.

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder; files are found at ``<mission>/latest/shared/effects.csv``.

    Returns
    -------
    effects : pandas.DataFrame
        All rows, typed: ratios as float, counts as Int64, plus ``source_file`` and
        ``source_row``. ``mission`` is the folder name where the file has no mission column.
    problems : list of EvidenceProblem
        Files without a required column (their rows are left out).
    """
    raws = catalog.read_shared_tables(reports_dir, "effects.csv")
    return _combine_effects_files(list(raws.items()))


def load_run_effects(
    reports_dir: str | Path | None,
    mission: str,
    shared_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
    """Effects of every mission's latest run, with this run's own table for ``mission``.

    A notebook runs before its run becomes ``latest``; this puts the current run's
    ``shared_dir/effects.csv`` (when it exists) in place of the mission's previous one.

    Parameters
    ----------
    reports_dir : str or Path or None
        The reports folder; default the folder two levels above ``run_dir``
        (``reports/<mission>/<run>``), else the project's ``reports/``.
    mission : str
        The mission of the current run.
    shared_dir : str or Path, optional
        The current run's shared folder.
    run_dir : str or Path, optional
        The current run's folder.

    Returns
    -------
    effects, problems
        As :func:`load_effects`.
    """
    if reports_dir is None:
        reports_dir = (
            Path(run_dir).resolve().parents[1] if run_dir else catalog.project_path("reports")
        )
    raws = [
        (name, raw)
        for name, raw in catalog.read_shared_tables(reports_dir, "effects.csv").items()
        if name != mission
    ]
    problems: list[EvidenceProblem] = []
    current = Path(shared_dir) / "effects.csv" if shared_dir else None
    if current is not None and current.exists():
        try:
            raws.append((mission, catalog.read_raw_table("effects", current)))
        except catalog.InputFileError as exc:
            problems.append(EvidenceProblem(str(current), None, "-", str(exc)))
    effects, more = _combine_effects_files(raws)
    return effects, problems + more


def compute_run_evidence(
    mission: str,
    strategies: StrategyCatalogue | None = None,
    *,
    shared_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
    reports_dir: str | Path | None = None,
) -> EvidenceSynthesis:
    """Evidence as a mission run sees it: other missions' latest runs plus this run.

    Parameters
    ----------
    mission : str
        The mission of the current run.
    strategies : StrategyCatalogue, optional
        Catalogue to join.
    shared_dir, run_dir, reports_dir : str or Path, optional
        See :func:`load_run_effects`.

    Returns
    -------
    EvidenceSynthesis
        With the files that could not be used among its ``problems``.
    """
    effects, problems = load_run_effects(reports_dir, mission, shared_dir, run_dir)
    synthesis = compute_evidence(effects, strategies)
    synthesis.problems[:0] = problems
    return synthesis


def _combine_effects_files(
    raws: list[tuple[str, catalog.RawTable]],
) -> tuple[pd.DataFrame, list[EvidenceProblem]]:
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
    the log ratio is ``(log(ci_high) - log(ci_low)) / (2 * 1.959964)``.

    Parameters
    ----------
    effects : pandas.DataFrame
        Rows as read by :func:`load_effects` (or built by hand with the same columns).
    estimand : str
        Which estimand to keep.

    Returns
    -------
    selected : pandas.DataFrame
        Columns ``strategy_id, mission, irr, ci_low, ci_high, log_irr, se_log_irr`` and whatever
        else the input carries (``model``, ``design``, ``p_value``, ``n_incidents``, ``caveats``).
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
    rows["se_log_irr"] = (
        np.log(rows["ci_high"].astype(float)) - np.log(rows["ci_low"].astype(float))
    ) / (2 * _Z95)
    return rows.sort_values(["strategy_id", "mission"]).reset_index(drop=True), problems


def estimate_pooled_effect(
    strategy_id: str, missions: list[str], log_irr: np.ndarray, se: np.ndarray
) -> PooledEffect:
    """Pool log incidence-rate ratios with DerSimonian-Laird random effects.

    Parameters
    ----------
    strategy_id : str
    missions : list of str
        One label per estimate.
    log_irr, se : array-like
        Log ratios and their standard errors (at least two).

    Returns
    -------
    PooledEffect

    Notes
    -----
    statsmodels' ``combine_effects(method_re="dl")`` returns the untruncated moment estimate
    ``(Q - df) / C``, which is negative when the missions agree more than chance would allow.
    DerSimonian and Laird truncate it at zero; the random-effects estimate is then the
    fixed-effect one, which this function takes from the same statsmodels result.
    """
    log_irr = np.asarray(log_irr, dtype=float)
    se = np.asarray(se, dtype=float)
    if len(log_irr) < 2:
        raise ValueError(f"{strategy_id}: pooling needs two or more missions, got {len(log_irr)}")
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = combine_effects(log_irr, se**2, method_re="dl", row_names=list(missions))
    q = float(result.q)
    df = len(log_irr) - 1
    if result.tau2 > 0:
        tau2, mean, variance = float(result.tau2), result.mean_effect_re, result.var_eff_w_re
        weights = np.asarray(result.weights_rel_re, dtype=float)
    else:
        tau2, mean, variance = 0.0, result.mean_effect_fe, result.var_eff_w_fe
        weights = np.asarray(result.weights_rel_fe, dtype=float)
    se_pooled = math.sqrt(float(variance))
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return PooledEffect(
        strategy_id=strategy_id,
        missions=list(missions),
        log_irr_by_mission=log_irr,
        se_by_mission=se,
        log_irr=float(mean),
        se_log_irr=se_pooled,
        irr=math.exp(mean),
        ci_low=math.exp(mean - _Z95 * se_pooled),
        ci_high=math.exp(mean + _Z95 * se_pooled),
        p_value=float(2 * stats.norm.sf(abs(mean) / se_pooled)),
        tau2=tau2,
        i2=i2,
        q=q,
        p_heterogeneity=float(stats.chi2.sf(q, df)),
        weights=weights,
        result=result,
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
        Effects rows (see :func:`load_effects`).
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
    note = pd.Series("", index=selected.index, dtype="object")
    for index, row in selected.iterrows():
        found = pooled.get(row["strategy_id"])
        if found is None:
            note[index] = "estimated in one mission only: not pooled"
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
    if not str(row.get("strategy_id", "")).strip():
        return "strategy_id", "empty strategy id"
    return None


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
