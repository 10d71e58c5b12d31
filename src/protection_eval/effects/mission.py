"""What each protection strategy and patrol presence changed in reported incidents.

Estimators on the area x period panel (:mod:`protection_eval.effects.panel`), each returning
:class:`~protection_eval.effects.count_models.EffectEstimate` objects that keep the fitted model:

- a strategy deployed to some areas: the stacked not-yet-treated design is the headline
  (:mod:`protection_eval.effects.event_study`), with plain two-way fixed effects Poisson and a
  negative binomial alongside, an overdispersion test and an event study with a joint pre-trend
  test;
- a strategy deployed everywhere at once: an interrupted time series on the panel (area fixed
  effects, trend, seasonality, a level change), since no area is left to compare with;
- patrol presence: dose-response of patrol-hours and footprint on next-period incidents, and its
  modification by the share of women in patrols (:mod:`protection_eval.effects.dose_response`), and
  the ratio of reports within reach of a patrol versus not, same area and month, against
  random space-time control points (:mod:`protection_eval.effects.within_reach`, estimand
  ``patrol_presence``; :func:`estimate_mission` only, as it needs the mission's tables).

:func:`estimate_mission_effects` runs them all for a mission;
:func:`protection_eval.sharing.forms.to_effects_table` gives the shareable ``effects.csv``
(estimates built on fewer than ``k`` incidents are suppressed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from protection_eval.effects.count_models import (
    EFFECT_COLUMNS,
    CountModelResult,
    EffectEstimate,
    NotEstimable,
    compute_overdispersion_test,
    fit_count_model,
)
from protection_eval.effects.covariance import compute_contrast_df
from protection_eval.effects.design import (
    HEADLINE_DESIGNS,
    compute_first_periods,
    few_treated_caveats,
    is_mission_wide,
    upper_column,
)
from protection_eval.effects.displacement import DisplacementResult, estimate_displacement
from protection_eval.effects.dose_response import (
    estimate_dose_response,
    estimate_women_share_modification,
)
from protection_eval.effects.event_study import (
    EventStudyResult,
    estimate_event_study,
    estimate_stacked_effect,
    plot_event_studies,
    plot_event_study,
)
from protection_eval.effects.reporting import (
    ReportingDiagnostics,
    estimate_reporting_diagnostics,
)
from protection_eval.effects.vocabulary import CAVEATS, PATROL_PRESENCE, PRESENCE_ESTIMAND
from protection_eval.effects.wild_bootstrap import add_bootstrap
from protection_eval.labels import NOT_COMPUTED, NOT_ESTIMABLE, OK

if TYPE_CHECKING:
    from protection_eval.config import Period

__all__ = [
    "EFFECTS_CSV_COLUMNS",
    "CountModelResult",
    "EffectEstimate",
    "EventStudyResult",
    "MissionEffects",
    "NotEstimated",
    "PATROL_PRESENCE",
    "estimate_dose_response",
    "estimate_interrupted_time_series",
    "estimate_mission",
    "estimate_mission_effects",
    "estimate_negbin_effect",
    "estimate_stacked_effect",
    "estimate_twfe_effect",
    "estimate_women_share_modification",
    "estimate_event_study",
    "fit_count_model",
    "plot_event_study",
    "plot_event_studies",
]

#: Columns of the shared ``effects.csv``: ``status`` is ``ok``, ``not_shown`` (suppressed),
#: ``not_computed`` or ``not_estimable`` (a row without numbers), ``reason`` says why.
EFFECTS_CSV_COLUMNS = ["mission", *EFFECT_COLUMNS, "status", "reason"]
#: Significance level for flagging overdispersion.
OVERDISPERSION_LEVEL = 0.05

def _controls(panel: pd.DataFrame, active: str, *, with_period_fe: bool = True,
              period_col: str = "period_index") -> list[str]:
    """Other strategies' active shares that vary across areas (period FE absorb the rest)."""
    others = [v for v in panel.attrs.get("strategies", {}).values() if v != active]
    others = [c for c in others if c in panel and panel[c].any()]
    if with_period_fe:
        others = [c for c in others if not is_mission_wide(panel, c, period_col=period_col)]
    return others


def _n_treated(panel: pd.DataFrame, active: str, area_col: str, period_col: str) -> int:
    first = compute_first_periods(panel, active, area_col=area_col, period_col=period_col)
    return int(first.notna().sum())


def _panel_df(panel: pd.DataFrame, active: str, area_col: str, period_col: str) -> float:
    n_treated = _n_treated(panel, active, area_col, period_col)
    return compute_contrast_df(n_treated, panel[area_col].nunique() - n_treated)


def _fit_panel(panel: pd.DataFrame, active: str, outcome: str, family: str, area_col: str,
               period_col: str) -> CountModelResult:
    """Fit the two-way fixed-effects model of a strategy, errors clustered by area."""
    return fit_count_model(
        panel, outcome, [active, *_controls(panel, active, period_col=period_col)],
        family=family, fixed_effects=(area_col, period_col), cluster=area_col,
        upper=upper_column(panel, outcome),
    )


def estimate_twfe_effect(
    panel: pd.DataFrame, strategy_id: str, active: str, *, outcome: str = "incidents",
    headline: bool = False, area_col: str = "area_id", period_col: str = "period_index",
) -> EffectEstimate:
    """Poisson with area and period fixed effects, errors clustered by area.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column; other strategies' shares enter as controls.
    outcome : str
        Count column (its ``upper_<outcome>``, when the panel has one, holds the upper bounds of
        interval-censored counts).
    headline : bool
        Mark as the headline number.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    EffectEstimate
        IRR of the strategy being active for a whole period (estimand ``deployment``).
    """
    columns = {"area_col": area_col, "period_col": period_col}
    fit = _fit_panel(panel, active, outcome, "poisson", area_col, period_col)
    est = EffectEstimate.from_fit(
        fit, active, strategy_id=strategy_id, estimand="deployment", model="poisson_fe",
        design="twfe", unit="strategy active (whole period)", headline=headline,
        df=_panel_df(panel, active, area_col, period_col), **columns,
    )
    est.caveats += few_treated_caveats(panel, active, **columns)
    if headline:
        add_bootstrap(est, _n_treated(panel, active, area_col, period_col))
    else:
        est.caveats.append(CAVEATS["twfe"])
    return est


def estimate_negbin_effect(
    panel: pd.DataFrame, strategy_id: str, active: str, *, outcome: str = "incidents",
    area_col: str = "area_id", period_col: str = "period_index",
) -> EffectEstimate:
    """Negative binomial (NB2) alternative to :func:`estimate_twfe_effect`.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column.
    outcome : str
        Count column.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    EffectEstimate
        Same estimand as the Poisson fit, model ``negbin_fe``; dispersion in ``fit.alpha``.
    """
    columns = {"area_col": area_col, "period_col": period_col}
    fit = _fit_panel(panel, active, outcome, "negbin", area_col, period_col)
    est = EffectEstimate.from_fit(
        fit, active, strategy_id=strategy_id, estimand="deployment", model="negbin_fe",
        design="twfe", unit="strategy active (whole period)",
        df=_panel_df(panel, active, area_col, period_col), **columns,
    )
    est.caveats += few_treated_caveats(panel, active, **columns)
    est.caveats.append(CAVEATS["twfe"])
    return est


def estimate_interrupted_time_series(
    panel: pd.DataFrame,
    strategy_id: str,
    active: str,
    *,
    outcome: str = "incidents",
    seasonal: bool | None = None,
    headline: bool = True,
    area_col: str = "area_id",
    period_col: str = "period_index",
) -> EffectEstimate:
    """Interrupted time series for a strategy active everywhere from the same period.

    Poisson with area fixed effects, a linear trend, annual harmonics (two pairs; by default
    when the panel spans at least 24 months) and the strategy's active share, so the IRR is
    the level change when it started. Other strategies' shares enter as controls. The error is
    the larger of the area-clustered and the Driscoll-Kraay error (common monthly shocks), with
    t on ``min(periods, areas) - 1`` degrees of freedom.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel (with ``period``, the calendar period, for the harmonics).
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column.
    outcome : str
        Count column.
    seasonal : bool, optional
        Include annual harmonics; None decides from the panel length.
    headline : bool
        Mark as the headline number.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    EffectEstimate
        Estimand ``deployment``, design ``interrupted_time_series``.
    """
    data = panel.copy()
    t = data[period_col].to_numpy(dtype=float)
    data["trend"] = (t - t.mean()) / 12.0
    regressors = [active, "trend"]
    per_year = 12.0 if panel.attrs.get("freq", "month") == "month" else 52.0
    if seasonal is None:
        seasonal = data[period_col].nunique() >= 2 * per_year
    if seasonal:
        start = pd.PeriodIndex(data["period"]).start_time
        phase = (start.day_of_year.to_numpy() - 1) / 365.25 * 2 * np.pi
        for k in (1, 2):
            data[f"sin{k}"], data[f"cos{k}"] = np.sin(k * phase), np.cos(k * phase)
            regressors += [f"sin{k}", f"cos{k}"]
    regressors += _controls(panel, active, with_period_fe=False)
    fit = fit_count_model(data, outcome, regressors, fixed_effects=(area_col,), cluster=area_col,
                          upper=upper_column(data, outcome))
    # Every area changes at once, so shocks common to all areas are not averaged away: the
    # error is the larger of the area-clustered and the Driscoll-Kraay one, on T - 1 df.
    clustered = float(np.sqrt(fit.cov_params().loc[active, active]))
    dk = float(np.sqrt(fit.vcov("DK", time=period_col).cov_params().loc[active, active]))
    n_periods = fit.data[period_col].nunique()
    n_areas = fit.data[area_col].nunique()
    est = EffectEstimate.from_fit(
        fit, active, strategy_id=strategy_id, estimand="deployment", model="poisson_fe_area",
        design="interrupted_time_series", unit="strategy active (level change)",
        headline=headline, std_err=max(clustered, dk),
        df=float(max(min(n_periods, n_areas) - 1, 1)), area_col=area_col, period_col=period_col,
    )
    est.caveats.append(CAVEATS["no_comparison"])
    return est


@dataclass(frozen=True)
class NotEstimated:
    """An estimate a mission asked for and did not get, and why.

    Attributes
    ----------
    strategy_id : str
        Strategy (``patrol-presence`` for the within-reach ratio).
    estimand : str
        The estimand that is missing (``deployment``, ``patrol_presence``).
    status : str
        ``not_computed`` (the data it needs are missing) or ``not_estimable`` (too few for
        the method): :data:`protection_eval.labels.RESULT_STATUSES`.
    reason : str
        In words, with what is missing (no count of incidents: it goes to the shared table).
    """

    strategy_id: str
    estimand: str
    status: str
    reason: str


@dataclass
class MissionEffects:
    """Every estimate for one mission.

    Attributes
    ----------
    mission : str
        Mission code.
    estimates : list of EffectEstimate
        Deployment, event-study, dose-response and women's-share estimates.
    event_studies : dict of str to EventStudyResult
        Event studies by strategy id.
    overdispersion : dict of str to tuple of (float, float)
        Cameron-Trivedi ``(alpha, p)`` of each strategy's Poisson fit.
    notes : list of str
        What could not be estimated and why, plus the panel's notes.
    panel : pandas.DataFrame or None
        The area x period panel the models were fitted on (restricted: area-month counts).
    diagnostics : dict of str to ReportingDiagnostics
        Reporting diagnostics by strategy id (:mod:`protection_eval.effects.reporting`), when
        the incidents carry report dates, channels or location types; their rows are also in
        ``estimates``.
    displacement : dict of str to DisplacementResult
        Ring design by strategy id (direct, per-ring and net ratios; the net change in reports
        and the share of the drop offset next door, restricted), when the areas' contiguity is
        known (:mod:`protection_eval.effects.displacement`).
    not_estimated : list of NotEstimated
        Headline estimates (a strategy's deployment, the within-reach ratio) that could not be
        made, with their status and reason: the shared table says them as rows
        (:func:`protection_eval.sharing.forms.to_effects_table`), so that a reader is told why.
    """

    mission: str
    estimates: list[EffectEstimate] = field(default_factory=list)
    event_studies: dict[str, EventStudyResult] = field(default_factory=dict)
    overdispersion: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    panel: pd.DataFrame | None = field(default=None, repr=False)
    diagnostics: dict[str, ReportingDiagnostics] = field(default_factory=dict)
    displacement: dict[str, DisplacementResult] = field(default_factory=dict)
    not_estimated: list[NotEstimated] = field(default_factory=list)

    def headline(self, strategy_id: str) -> EffectEstimate | None:
        """Return a strategy's headline estimate, if any."""
        for est in self.estimates:
            if est.strategy_id == strategy_id and est.headline:
                return est
        return None

    def pre_trends(self) -> pd.DataFrame:
        """Return the joint pre-trend test of each event study."""
        return pd.DataFrame(
            [
                {"strategy_id": k, "chi2": v.pre_trend_chi2, "df": v.pre_trend_df,
                 "p_value": v.pre_trend_p, "failed": v.pre_trend_failed}
                for k, v in self.event_studies.items()
            ],
            columns=["strategy_id", "chi2", "df", "p_value", "failed"],
        )

    def table(self, *estimands: str) -> pd.DataFrame:
        """Return the estimates whose estimand starts with one of ``estimands`` (all if none)."""
        frame = self.to_frame()
        if not estimands:
            return frame
        return frame[frame["estimand"].str.startswith(tuple(estimands))].reset_index(drop=True)

    def summary_lines(self) -> list[str]:
        """Return one plain line per headline estimate, then the notes."""
        lines = []
        for est in self.estimates:
            if est.headline:
                line = (f"{est.strategy_id}: reported incidents x {est.irr:.2f} (95% CI "
                        f"{est.ci_low:.2f}-{est.ci_high:.2f}, {est.design})")
                if est.boot_weights:
                    # Few areas or treated areas: the bootstrap goes next to the analytic
                    # interval, where a reader of the summary sees both.
                    line += (f"; bootstrap 95% CI {est.boot_ci_low:.2f}-"
                             f"{est.boot_ci_high:.2f}, p = {est.boot_p_value:.3f}")
                lines.append(" ".join([line, *est.caveats[1:]]))
        return lines + [f"note: {n}" for n in self.notes]

    def to_frame(self) -> pd.DataFrame:
        """Return every estimate, one row each, with ``mission`` first (not suppressed)."""
        if not self.estimates:
            return pd.DataFrame(columns=EFFECTS_CSV_COLUMNS)
        frame = pd.concat([e.to_frame() for e in self.estimates], ignore_index=True)
        frame.insert(0, "mission", self.mission)
        frame["status"] = OK
        frame["reason"] = None
        return frame


#: Reasons of :class:`NotEstimated` rows that are not an estimator's own message.
REASONS = {
    "never_active": "the strategy was not active in any area during the period",
}


def _attempt(result: MissionEffects, label: str, estimator: Callable, *args: object,
             missing: tuple[str, str] | None = None, **kwargs: object) -> object:
    """Run an estimator; when the data cannot identify it, say so in the notes.

    With ``missing`` (strategy id, estimand), a headline estimate that could not be made is
    also recorded as not estimable, with the estimator's reason.
    """
    try:
        return estimator(*args, **kwargs)
    except NotEstimable as exc:
        result.notes.append(f"{label}: not estimated: {exc}")
        if missing is not None:
            result.not_estimated.append(NotEstimated(*missing, NOT_ESTIMABLE, str(exc)))
        return None


def _estimate_strategy(
    panel: pd.DataFrame, strategy_id: str, active: str, outcome: str, design: str, result:
    MissionEffects, pre: int, post: int,
) -> None:
    first = compute_first_periods(panel, active)
    n_treated = int(first.notna().sum())
    if n_treated == 0:
        result.notes.append(f"{strategy_id}: never active in the mission period, not estimated")
        result.not_estimated.append(NotEstimated(
            strategy_id, "deployment", NOT_COMPUTED, REASONS["never_active"]))
        return
    if n_treated == len(first) and first.nunique() == 1:
        its = _attempt(result, strategy_id, estimate_interrupted_time_series, panel, strategy_id,
                       active, outcome=outcome, missing=(strategy_id, "deployment"))
        result.estimates += [its] if its is not None else []
        return
    twfe = _attempt(result, f"{strategy_id} (two-way fixed effects)", estimate_twfe_effect,
                    panel, strategy_id, active, outcome=outcome, headline=design == "twfe",
                    missing=(strategy_id, "deployment"))
    if twfe is None:
        return
    alpha, p_over = compute_overdispersion_test(twfe.fit)
    result.overdispersion[strategy_id] = (alpha, p_over)
    negbin = _attempt(result, f"{strategy_id} (negative binomial)", estimate_negbin_effect,
                      panel, strategy_id, active, outcome=outcome)
    found = [e for e in (twfe, negbin) if e is not None]
    if design == "stacked":
        stacked = _attempt(result, f"{strategy_id} (stacked)", estimate_stacked_effect, panel,
                           strategy_id, active, outcome=outcome, pre=pre, post=post)
        if stacked is None:
            result.notes.append(
                f"{strategy_id}: no cohort has a not-yet-treated comparison; the headline is the "
                "two-way fixed effects estimate"
            )
            twfe.headline = True
            twfe.caveats = [c for c in twfe.caveats if c != CAVEATS["twfe"]]
            add_bootstrap(twfe, n_treated)
        else:
            found.insert(0, stacked)
    study = _attempt(result, f"{strategy_id} (event study)", estimate_event_study, panel,
                     strategy_id, active, outcome=outcome, pre=pre, post=post)
    if p_over < OVERDISPERSION_LEVEL:
        for est in found:
            if est.model.startswith("poisson"):
                est.caveats.append(CAVEATS["overdispersion"].format(p=p_over))
    if study is not None:
        result.event_studies[strategy_id] = study
        for est in found:
            est.caveats += study.caveats()
            est.breakdown_m = study.breakdown_m
    result.estimates += found
    if found and found[0].design == "stacked_not_yet_treated":
        _estimate_displacement(panel, strategy_id, active, outcome, result, pre, post)


def _estimate_displacement(
    panel: pd.DataFrame, strategy_id: str, active: str, outcome: str, result: MissionEffects,
    pre: int, post: int,
) -> None:
    """Add the ring design's rows when the panel knows which areas touch (its contiguity)."""
    neighbours = panel.attrs.get("contiguity")
    if not neighbours:
        return
    found = _attempt(result, f"{strategy_id} (spill-over rings)", estimate_displacement, panel,
                     strategy_id, active, neighbours, outcome=outcome, pre=pre, post=post)
    if found is None:
        return
    result.displacement[strategy_id] = found
    result.notes += found.notes
    result.estimates += found.to_estimates()


def estimate_mission_effects(
    panel: pd.DataFrame,
    *,
    mission: str | None = None,
    strategies: Sequence[str] | None = None,
    outcome: str = "incidents",
    design: str = "stacked",
    pre: int = 6,
    post: int = 6,
    target_location_types: Mapping[str, Sequence[str]] | None = None,
) -> MissionEffects:
    """Estimate every strategy's effect and the patrol-presence measures of a mission.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel (:func:`protection_eval.effects.panel.compute_mission_panel`).
    mission : str, optional
        Mission code; ``panel.attrs["mission"]`` when None.
    strategies : sequence of str, optional
        Strategy ids to estimate; all in the panel when None.
    outcome : str
        Count column (``incidents`` or ``incidents_<gbv_type>``).
    design : {"stacked", "twfe"}
        Headline design for strategies rolled out to some areas. A strategy active everywhere
        from one period always gets the interrupted time series.
    pre, post : int
        Event window of the stacked design and event study.
    target_location_types : mapping of str to sequence of str, optional
        Location types each strategy acts on (the inventory's ``target_location_types``,
        :func:`protection_eval.inventory.strategies.to_target_location_types`), for the
        mechanism and placebo diagnostics.

    Returns
    -------
    MissionEffects
        Estimates, event studies, reporting diagnostics, overdispersion tests and notes.
    """
    if design not in HEADLINE_DESIGNS:
        raise ValueError(f"design must be one of {HEADLINE_DESIGNS}, not {design!r}")
    available = panel.attrs.get("strategies", {})
    wanted = list(available) if strategies is None else list(strategies)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ValueError(
            f"strategies {unknown} have no deployments in this mission; known: {sorted(available)}"
        )
    result = MissionEffects(mission or panel.attrs.get("mission", ""),
                            notes=list(panel.attrs.get("notes", [])))
    for strategy_id in wanted:
        _estimate_strategy(panel, strategy_id, available[strategy_id], outcome, design, result,
                           pre, post)
    for study in result.event_studies.values():
        result.estimates += study.to_estimates()
    if panel.attrs.get("reporting"):
        # Only strategies with a not-yet-treated comparison: a diagnostic needs one too.
        for strategy_id in result.event_studies:
            found = estimate_reporting_diagnostics(
                panel, strategy_id, available[strategy_id], pre=pre, post=post,
                target_location_types=(target_location_types or {}).get(strategy_id, ()),
            )
            result.diagnostics[strategy_id] = found
            result.estimates += list(found.estimates.values())
            result.notes += found.notes
    result.estimates += _attempt(result, "patrol dose-response", estimate_dose_response,
                                 panel, outcome=outcome) or []
    result.estimates += _attempt(result, "women's share", estimate_women_share_modification,
                                 panel, outcome=outcome) or []
    return result


def estimate_mission(
    data: object,
    *,
    freq: str = "month",
    strategies: str | Sequence[str] | None = None,
    design: str = "stacked",
    outcome: str = "incidents",
    pre: int = 6,
    post: int = 6,
    period: Period | None = None,
    presence: bool = True,
    area_measures: pd.DataFrame | None = None,
    target_location_types: Mapping[str, Sequence[str]] | None = None,
    incident_coverage: pd.DataFrame | None = None,
) -> MissionEffects:
    """Build a loaded mission's panel and estimate every effect on it.

    Parameters
    ----------
    data : protection_eval.ingest.tables.MissionData
        From :func:`protection_eval.runs.missions.load_mission`.
    freq : {"month", "week"}
        Panel period.
    strategies : str or sequence of str, optional
        One strategy id, several, or all (None).
    design, outcome, pre, post
        As :func:`estimate_mission_effects`.
    period : Period, optional
        Analysis window within the mission period (from text such as ``2022-07..2023-06`` with
        :func:`protection_eval.config.parse_period`); panel periods starting outside it are left
        out. Areas already treated when the window opens then have no pre-period and drop out
        of the stacked design.
    presence : bool
        Also estimate the within-reach ratio of reported incidents (estimand
        ``patrol_presence``, :mod:`protection_eval.effects.within_reach`; all incident types, so
        only with ``outcome="incidents"``).
    area_measures : pandas.DataFrame, optional
        The mission's coverage area measures for its whole period, when this run has computed
        them already (``CoverageResult.areas``); computed here otherwise.
    target_location_types : mapping of str to sequence of str, optional
        As :func:`estimate_mission_effects`.
    incident_coverage : pandas.DataFrame, optional
        The mission's per-incident coverage with its configured radius and window, when this
        run has computed it already (``CoverageResult.incidents``); the within-reach ratio
        covers only the incidents it lacks.

    Returns
    -------
    MissionEffects
        With ``panel`` set.
    """
    from protection_eval.coverage.mission import compute_mission_coverage, prepare_coverage
    from protection_eval.effects.panel import compute_mission_panel

    if isinstance(strategies, str):
        strategies = [strategies]
    within_reach = presence and outcome == "incidents"
    prepared = None
    if freq == "month" and area_measures is None:
        # Each result once: the coverage behind the panel's area measures also gives the
        # within-reach ratio its incident coverage and its movements.
        prepared = prepare_coverage(data)
        coverage = compute_mission_coverage(data, prepared=prepared)
        area_measures = coverage.areas
        if incident_coverage is None:
            incident_coverage = coverage.incidents
    panel = compute_mission_panel(data, freq=freq, area_measures=area_measures)
    if period is not None:
        keep = panel["period_start"].between(pd.Timestamp(period.start),
                                             pd.Timestamp(period.end))
        if not keep.any():
            raise ValueError(f"period {period.start:%Y-%m} to {period.end:%Y-%m} holds no panel "
                             "period of this mission")
        attrs = panel.attrs
        panel = panel.loc[keep].reset_index(drop=True)
        panel.attrs = attrs
    effects = estimate_mission_effects(
        panel, mission=data.config.mission, strategies=strategies, outcome=outcome,
        design=design, pre=pre, post=post, target_location_types=target_location_types,
    )
    effects.panel = panel
    if within_reach:
        _estimate_within_reach(effects, data, period, incident_coverage, prepared)
    return effects


def _estimate_within_reach(
    effects: MissionEffects, data: object, period: Period | None,
    incident_coverage: pd.DataFrame | None, prepared: object,
) -> None:
    """Add the within-reach ratio, on areas or (too few areas) on H3 cells, or say why not.

    The question behind it, "are there fewer reports near patrols?", always gets an answer:
    the estimate, or a :class:`NotEstimated` row (not computed when no presence data cover the
    window's months; not estimable when there is too little to compare).
    """
    from protection_eval.coverage.mission import prepare_coverage
    from protection_eval.coverage.presence_months import compute_presence_months
    from protection_eval.effects.cell_design import MIN_PRESENCE_AREAS
    from protection_eval.effects.within_reach import estimate_presence_effect
    from protection_eval.effects.within_reach_cells import estimate_cell_presence_effect

    label = "patrol presence (within reach)"
    if prepared is None:
        prepared = prepare_coverage(data)
    window = data.config.period if period is None else period
    known = compute_presence_months(prepared.presence_pieces(), prepared.model.name,
                                    window.start, window.end, prepared.params.timezone)
    reason = None
    if known.none_known:
        reason = f"no presence data for the period: {known.describe()}"
    elif incident_coverage is not None and not incident_coverage["in_scope"].astype(bool).any():
        reason = ("no incident could be tested for coverage: located less precisely than the "
                  "radius, or in months without presence data")
    if reason is not None:
        effects.notes.append(f"{label}: not computed: {reason}")
        effects.not_estimated.append(
            NotEstimated(PATROL_PRESENCE, PRESENCE_ESTIMAND, NOT_COMPUTED, reason))
        return
    n_areas = int((~(data.areas.geometry.isna() | data.areas.geometry.is_empty)).sum())
    cells = n_areas < MIN_PRESENCE_AREAS
    estimator = estimate_cell_presence_effect if cells else estimate_presence_effect
    if cells:
        effects.notes.append(f"{label}: {n_areas} area(s), fewer than {MIN_PRESENCE_AREAS}: "
                             "estimated on H3 cells")
    within = _attempt(effects, label, estimator, data, period=period,
                      incident_coverage=incident_coverage, prepared=prepared,
                      missing=(PATROL_PRESENCE, PRESENCE_ESTIMAND))
    if within is None:
        return
    effects.estimates.append(within.estimate)
    effects.notes += [f"{label}: {n}" for n in within.notes]
