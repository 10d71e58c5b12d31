"""The plausibility check: whether a mission's data can answer its questions, before a figure.

A run can be "ok" and still say something untrue: bases known up to 2018 against incidents
from 2020 gave "0 % covered" and eighteen gaps; incidents all located to a district gave a share
"not shown, to protect survivors" where nothing had been tested. This check runs after
ingestion, in ``protection-eval validate`` and at the start of every run, and says plainly:

- each table's date span (accepted rows);
- for every month of the period, whether presence data (GPS tracks, patrol routes, bases by
  year) cover it (:mod:`protection_eval.coverage.presence_months`, the one owner of that fact:
  coverage is computed only in those months);
- the share of incidents left out by each rule: outside the period (the window), outside the
  areas, located less precisely than the radius, in a month without presence data;
- what each estimator needs and what the mission has (areas, treated areas, months), with the
  status each will end in: ``ok``, ``not_computed`` (data missing) or ``not_estimable`` (too
  little).

It is written into ``validation.json`` (key ``plausibility``), shown in notebook 01 and in the
run summary. It changes no figure: coverage and the estimators apply the same rules themselves;
this is where a person reads them before the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from protection_eval.coverage.mission import prepare_coverage, to_coverage_params
from protection_eval.coverage.points import IncidentQueries
from protection_eval.coverage.presence_months import PresenceMonths, compute_presence_months
from protection_eval.effects.cell_design import (
    MIN_CELL_CLUSTERS,
    MIN_PRESENCE_AREAS,
    candidate_resolutions,
)
from protection_eval.effects.design import MIN_TREATED_AREAS
from protection_eval.hexgrid import hexagon_area_km2, to_h3_cells, to_parent_cells
from protection_eval.labels import NOT_COMPUTED, NOT_ESTIMABLE, OK
from protection_eval.model import to_local_day, to_local_month

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "DateSpan",
    "LeftOut",
    "PlausibilityCheck",
    "Requirement",
    "check_plausibility",
]

#: The date columns of each table whose span is reported: (first column, last column).
DATE_COLUMNS: dict[str, tuple[str, str]] = {
    "incidents": ("occurred_at", "occurred_at"),
    "patrols": ("started_at", "ended_at"),
    "patrol_tracks": ("recorded_at", "recorded_at"),
    "bases": ("valid_from", "valid_to"),
    "deployments": ("started_on", "ended_on"),
    "incident_counts": ("month", "month"),
}
#: Tables whose empty end date means "still open" (not "unknown").
_OPEN_ENDED = {"bases", "deployments"}
#: Fewest areas the panel models' clustered errors accept.
MIN_AREAS = 2
#: Fewest months the panel models accept (the dose-response needs a next month).
MIN_MONTHS = 2
#: Above this share of incidents left out by one rule, the rule is a finding of its own.
NOTABLE_SHARE = 0.25


@dataclass(frozen=True)
class DateSpan:
    """The dates of one table's accepted rows.

    Attributes
    ----------
    table : str
        Canonical table name.
    first, last : str or None
        First and last local day (``YYYY-MM-DD``); ``last`` None with ``open`` for a table
        whose rows may stay open (a base without ``valid_to``), or when no row has a date.
    open : bool
        Whether some row has no end date (still open).
    rows : int
        Accepted rows.
    """

    table: str
    first: str | None
    last: str | None
    open: bool
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"table": self.table, "first": self.first, "last": self.last,
                "open": self.open, "rows": self.rows}


@dataclass(frozen=True)
class LeftOut:
    """Incidents left out by one rule.

    Attributes
    ----------
    rule : str
        ``window`` (outside the mission period), ``outside_areas``, ``precision`` (less
        precise than the radius), ``presence_unknown`` (a month without presence data),
        ``time_range`` (known only to a range of dates), ``other_quarantine``.
    incidents : int
        How many.
    of : int
        Incident rows read (the denominator of ``share``).
    what : str
        The rule in words.
    """

    rule: str
    incidents: int
    of: int
    what: str

    @property
    def share(self) -> float:
        """Share of the incident rows read."""
        return self.incidents / self.of if self.of else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"rule": self.rule, "incidents": self.incidents, "of": self.of,
                "share": round(self.share, 4), "what": self.what}


@dataclass(frozen=True)
class Requirement:
    """What one estimate needs, what the mission has, and the status it will end in.

    Attributes
    ----------
    estimate : str
        ``coverage share``, ``patrol presence (within reach)``, ``panel models (areas)``,
        ``panel models (months)``, ``strategy <id>``.
    needs : str
        The requirement in words.
    needed, found : int
        The minimum and what the mission has.
    status : str
        ``ok``, ``not_computed`` or ``not_estimable``.
    reason : str or None
        Why, when not ok (or how it is estimated instead).
    """

    estimate: str
    needs: str
    needed: int
    found: int
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"estimate": self.estimate, "needs": self.needs, "needed": self.needed,
                "found": self.found, "status": self.status, "reason": self.reason}


@dataclass
class PlausibilityCheck:
    """The plausibility of one mission's data for its period.

    Attributes
    ----------
    mission : str
        Mission code.
    period : tuple of str
        First and last day of the period.
    spans : list of DateSpan
        Each table's date span.
    presence : PresenceMonths
        Which months of the period presence data cover.
    left_out : list of LeftOut
        Incidents left out, by rule.
    requirements : list of Requirement
        What each estimate needs and has.
    radius_m : float
        The coverage radius the precision rule used.
    """

    mission: str
    period: tuple[str, str]
    spans: list[DateSpan] = field(default_factory=list)
    presence: PresenceMonths | None = None
    left_out: list[LeftOut] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    radius_m: float = 0.0

    @property
    def findings(self) -> list[str]:
        """Plain sentences a person should read before any figure (empty when all is well)."""
        found = []
        presence = self.presence
        if presence is not None and not presence.all_known:
            found.append(f"coverage is computed only where presence is known: "
                         f"{presence.describe()}")
        for rule in self.left_out:
            if rule.share >= NOTABLE_SHARE and rule.incidents:
                found.append(f"{rule.share:.0%} of incident rows ({rule.incidents} of "
                             f"{rule.of}) left out: {rule.what}")
        for need in self.requirements:
            if need.status != OK or need.reason:
                word = need.status.replace("_", " ")
                found.append(f"{need.estimate}: {word}: {need.reason or need.needs}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form written into ``validation.json`` under ``plausibility``."""
        return {
            "mission": self.mission,
            "period": list(self.period),
            "radius_m": self.radius_m,
            "date_spans": [s.to_dict() for s in self.spans],
            "presence": None if self.presence is None else self.presence.to_dict(),
            "left_out": [r.to_dict() for r in self.left_out],
            "requirements": [r.to_dict() for r in self.requirements],
            "findings": self.findings,
        }

    def summary_lines(self) -> list[str]:
        """Return the lines printed by ``validate`` and notebook 01."""
        lines = [f"plausibility of {self.mission} for {self.period[0]} to {self.period[1]}:"]
        for span in self.spans:
            last = "open" if span.open and span.last is None else span.last
            lines.append(f"  {span.table:<16} {span.first} to {last}  ({span.rows} rows)")
        if self.presence is not None:
            lines.append(f"  presence: {self.presence.describe()}")
        for rule in self.left_out:
            lines.append(f"  left out {rule.incidents:>6} of {rule.of} ({rule.share:.0%}): "
                         f"{rule.what}")
        for need in self.requirements:
            extra = f" - {need.reason}" if need.reason else ""
            lines.append(f"  {need.estimate}: {need.status} (needs {need.needs}; has "
                         f"{need.found}){extra}")
        lines.extend(f"  FINDING {f}" for f in self.findings)
        return lines


def _day_text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _local(values: pd.Series, timezone: str) -> pd.Series:
    values = pd.to_datetime(values)
    return to_local_day(values, timezone) if isinstance(values.dtype,
                                                         pd.DatetimeTZDtype) else values


def _date_spans(mission: MissionData) -> list[DateSpan]:
    spans = []
    timezone = mission.config.timezone
    for table, (start, end) in DATE_COLUMNS.items():
        frame = getattr(mission, table, None)
        if frame is None or start not in frame or not len(frame):
            continue
        first = _local(frame[start], timezone)
        last = _local(frame[end], timezone) if end in frame else first
        still_open = table in _OPEN_ENDED and bool(last.isna().any()) and len(frame) > 0
        spans.append(DateSpan(table, _day_text(first.min()),
                              None if still_open else _day_text(last.max()), still_open,
                              len(frame)))
    return spans


def _left_out(mission: MissionData, presence: PresenceMonths) -> list[LeftOut]:
    report = mission.validation.tables.get("incidents")
    read = report.rows_read if report is not None else len(mission.incidents)
    reasons = dict(report.reasons) if report is not None else {}
    params = to_coverage_params(mission)
    incidents = mission.incidents
    scope = IncidentQueries(incidents, params.radius_m, params.window_h,
                            params.precision_uncertainty_m)
    reason = pd.Series(scope.reason, index=incidents.index, dtype="object")
    month = to_local_month(incidents["occurred_at"], mission.config.timezone)
    unknown = (reason.isna().to_numpy()
               & ~presence.is_known(month.reset_index(drop=True)))
    if presence.model == "none":
        unknown[:] = False
    radius = f"{params.radius_m / 1000:g} km"
    window = mission.config.period
    quarantined_other = sum(n for r, n in reasons.items()
                            if r not in {"date_outside_period", "outside_areas"})
    rules = [
        LeftOut("window", int(reasons.get("date_outside_period", 0)), read,
                f"dated outside the mission period {window.start:%Y-%m-%d} to "
                f"{window.end:%Y-%m-%d} (quarantined)"),
        LeftOut("outside_areas", int(reasons.get("outside_areas", 0)), read,
                "outside the mission's areas beyond the tolerance (quarantined)"),
        LeftOut("precision", int((reason == "precision").sum()), read,
                f"located less precisely than the {radius} coverage radius (kept in area "
                "counts, left out of coverage)"),
        LeftOut("presence_unknown", int(unknown.sum()), read,
                "in a month without presence data (coverage unknown, left out of coverage)"),
        LeftOut("time_range", int((reason == "time_range").sum()), read,
                "known only to a range of dates (left out of coverage)"),
        LeftOut("other_quarantine", int(quarantined_other), read,
                "quarantined for another reason (see the reasons above)"),
    ]
    return rules


def _presence_requirements(
    mission: MissionData, presence: PresenceMonths, left_out: list[LeftOut]
) -> list[Requirement]:
    """Whether the coverage share and the within-reach ratio can be computed, and how."""
    params = to_coverage_params(mission)
    incidents = mission.incidents
    scope = IncidentQueries(incidents, params.radius_m, params.window_h,
                            params.precision_uncertainty_m).in_scope
    month = to_local_month(incidents["occurred_at"], mission.config.timezone)
    testable = scope & presence.is_known(month.reset_index(drop=True))
    n_testable = int(testable.sum())
    needs = []
    if presence.model == "none" or presence.none_known:
        why = presence.describe()
        status, reason = NOT_COMPUTED, why
    elif n_testable == 0:
        imprecise = next(r for r in left_out if r.rule == "precision").incidents
        status, reason = NOT_COMPUTED, (
            "every incident is located less precisely than the radius"
            if imprecise and imprecise == len(incidents) else
            "no incident is both precise enough and in a month with presence data")
    else:
        status, reason = OK, None
    needs.append(Requirement("coverage share", "an incident located within the radius in a "
                             "month with presence data", 1, n_testable, status, reason))
    n_areas = int((~(mission.areas.geometry.isna() | mission.areas.geometry.is_empty)).sum())
    within = "patrol presence (within reach)"
    if status != OK:
        needs.append(Requirement(within, f"at least {MIN_PRESENCE_AREAS} areas, or incidents "
                                 f"in at least {MIN_CELL_CLUSTERS} groups of hexagons", 1,
                                 n_testable, status, reason))
        return needs
    if n_areas >= MIN_PRESENCE_AREAS:
        needs.append(Requirement(within, f"at least {MIN_PRESENCE_AREAS} areas",
                                 MIN_PRESENCE_AREAS, n_areas, OK))
        return needs
    chosen = incidents.loc[testable]
    groups, parent = 0, None
    for resolution in candidate_resolutions(params.radius_m):
        cells = to_h3_cells(chosen["longitude"], chosen["latitude"], resolution).dropna()
        parent = resolution - 1
        groups = len(set(to_parent_cells(cells, parent)))
        if groups >= MIN_CELL_CLUSTERS:
            break
    size = f"{float(f'{hexagon_area_km2(parent):.2g}'):g} km2"
    if groups >= MIN_CELL_CLUSTERS:
        # A forecast: the estimator decides on the strata it can use (docs/validity.md).
        needs.append(Requirement(
            within, f"at least {MIN_PRESENCE_AREAS} areas, or incidents in at least "
            f"{MIN_CELL_CLUSTERS} groups of hexagons", MIN_CELL_CLUSTERS, groups, OK,
            f"{n_areas} area(s), fewer than {MIN_PRESENCE_AREAS}: estimated on H3 hexagons "
            "instead of areas, errors grouped by larger hexagons"))
    else:
        needs.append(Requirement(
            within, f"incidents in at least {MIN_CELL_CLUSTERS} groups of hexagons",
            MIN_CELL_CLUSTERS, groups, NOT_ESTIMABLE,
            f"needs at least {MIN_PRESENCE_AREAS} areas or incidents in at least "
            f"{MIN_CELL_CLUSTERS} groups of hexagons (about {size} each); this mission has "
            f"{n_areas} area(s) and incidents in {groups} group(s)"))
    return needs


def _panel_requirements(mission: MissionData) -> list[Requirement]:
    """Say what the panel models (strategies, dose-response) need: areas, months, treated areas."""
    window = mission.config.period
    months = len(pd.period_range(pd.Timestamp(window.start), pd.Timestamp(window.end), freq="M"))
    n_areas = len(mission.areas)
    needs = [
        Requirement("panel models (areas)", f"at least {MIN_AREAS} areas", MIN_AREAS, n_areas,
                    OK if n_areas >= MIN_AREAS else NOT_ESTIMABLE,
                    None if n_areas >= MIN_AREAS else
                    f"needs at least {MIN_AREAS} areas; this mission has {n_areas}"),
        Requirement("panel models (months)", f"at least {MIN_MONTHS} months", MIN_MONTHS,
                    months,
                    OK if months >= MIN_MONTHS else NOT_ESTIMABLE,
                    None if months >= MIN_MONTHS else
                    f"needs at least {MIN_MONTHS} months; this period has {months}"),
    ]
    deployments = mission.deployments
    if deployments is None or not len(deployments):
        return needs
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    for strategy_id, rows in deployments.groupby("strategy_id", sort=True):
        began = pd.to_datetime(rows["started_on"])
        ended = pd.to_datetime(rows["ended_on"])
        active = (began <= end) & (ended.isna() | (ended >= start))
        treated = int(rows.loc[active, "area_id"].astype(str).nunique())
        label = f"strategy {strategy_id}"
        if treated == 0:
            needs.append(Requirement(label, "an area where it was active in the period", 1, 0,
                                     NOT_COMPUTED, "not active in any area during the period"))
        elif n_areas < MIN_AREAS:
            needs.append(Requirement(label, f"at least {MIN_AREAS} areas", MIN_AREAS, n_areas,
                                     NOT_ESTIMABLE, f"needs at least {MIN_AREAS} areas; this "
                                     f"mission has {n_areas}"))
        else:
            few = (f"only {treated} treated area(s), fewer than {MIN_TREATED_AREAS}: the "
                   "interval rests on few areas") if treated < MIN_TREATED_AREAS else None
            needs.append(Requirement(label, f"at least {MIN_TREATED_AREAS} treated areas for "
                                     "a reliable interval", MIN_TREATED_AREAS, treated, OK, few))
    return needs


def check_plausibility(mission: MissionData) -> PlausibilityCheck:
    """Check whether a mission's data can answer its questions for its period.

    Parameters
    ----------
    mission : MissionData
        A loaded mission (:func:`protection_eval.runs.missions.load_mission`); its
        configuration's period is the period checked.

    Returns
    -------
    PlausibilityCheck
        Date spans, presence months, incidents left out by rule, requirements, findings.
    """
    window = mission.config.period
    prepared = prepare_coverage(mission)
    presence = compute_presence_months(prepared.presence_pieces(), prepared.model.name,
                                       window.start, window.end, mission.config.timezone)
    left_out = _left_out(mission, presence)
    check = PlausibilityCheck(
        mission=mission.config.mission,
        period=(f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}"),
        spans=_date_spans(mission),
        presence=presence,
        left_out=left_out,
        radius_m=float(prepared.params.radius_m),
    )
    check.requirements = [*_presence_requirements(mission, presence, left_out),
                          *_panel_requirements(mission)]
    return check
