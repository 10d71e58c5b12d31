"""Reported incidents within reach of a patrol versus not: a space-time control comparison.

The question: for a place and a moment within reach of a patrol (the mission's coverage model:
GPS tracks, routes or bases, same radius and window), how does the rate of reported incidents
compare with places and moments out of reach, in the same area and month?

The design compares incidents with random control points (method in ``docs/validity.md``):

1. Each area x month is a stratum. Controls are drawn uniformly in the area's polygon and
   uniformly in time over the local month (seeded with the mission seed), and covered with the
   same coverage model and parameters as the incidents. Their covered share ``p_s`` estimates
   the share of the stratum's space-time that was within reach.
2. With a rate ``mu_s`` out of reach and ``theta * mu_s`` within reach, a stratum expects
   ``mu_s * p_s * theta`` covered and ``mu_s * (1 - p_s)`` uncovered incidents: a Poisson model
   with stratum fixed effects, offsets ``log p_s`` and ``log(1 - p_s)`` and a covered indicator
   whose ratio is ``theta`` (:func:`protection_eval.effects.count_models.fit_count_model`, errors
   clustered by area).
3. A date-only incident may have happened at any moment of its day. Counting it as covered when
   any moment was (the coverage table's rule) leans towards covered and pulls ``theta`` towards
   1, so here it carries ``c``, the share of its day that was within reach (on a grid of
   :data:`DAY_GRID` moments), and its stratum's expected count becomes
   ``mu_s * (1 + (theta - 1) c)``: a one-parameter conditional likelihood, maximised directly,
   that equals the Poisson model when every ``c`` is 0 or 1.

Only incidents in scope for coverage at their location precision count; the others are left
out and said so. Strata whose controls are all covered or all uncovered hold no comparison and
are skipped. Reported is not occurred: a patrol nearby can raise reporting while it deters
violence, and patrols go where incidents are expected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import optimize

from protection_eval.coverage.models import CoverageModel, CoverageParams, PatrolMovements
from protection_eval.coverage.points import covered_only
from protection_eval.effects.count_models import (
    MIN_INCIDENTS_FOR_MODEL,
    EffectEstimate,
    NotEstimable,
    fit_count_model,
)
from protection_eval.effects.covariance import compute_conf_int, compute_p_value
from protection_eval.effects.vocabulary import CAVEATS, PATROL_PRESENCE, PRESENCE_ESTIMAND
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.model import local_midnight_to_utc, to_local_month

if TYPE_CHECKING:
    from protection_eval.config import Period
    from protection_eval.coverage.mission import PreparedCoverage
    from protection_eval.ingest.tables import MissionData

__all__ = [
    "CONTROLS_PER_STRATUM",
    "DAY_GRID",
    "PresenceEffect",
    "compute_presence_effect",
    "estimate_presence_effect",
    "make_control_points",
    "reach_caveats",
]

#: Control points per area x month; the Monte-Carlo error of a stratum's covered share is at
#: most 0.5 / sqrt(n) (0.035 at 200), and the ratio's variance grows by about incidents/controls.
CONTROLS_PER_STRATUM = 200
#: Moments of a date-only incident's day at which coverage is evaluated (every hour, mid-hour).
DAY_GRID = 24

_CAVEATS = {
    "reach": (
        "Compares places and moments within reach of a patrol ({radius_km:g} km, {window_h:g} h "
        "before) with the rest of the same area and month; patrols go where incidents are "
        "expected and a patrol nearby can raise reporting, so this is an association, not the "
        "effect of sending a patrol."
    ),
    "bases": (
        "Bases only: within reach means within {radius_km:g} km of an open base; this measures "
        "presence, not patrols."
    ),
    "reach_bases": (
        "Compares places within {radius_km:g} km of an open base with the rest of the same area "
        "and month (a base is there all day: no time window); bases stand where incidents are "
        "expected and a base nearby can raise reporting, so this is an association, not the "
        "effect of the bases."
    ),
    "date_only": (
        "{which} incidents have a date only: each counts by the share of its day that was "
        "within reach, assuming incidents spread evenly over the day."
    ),
    "left_out": (
        "Incidents whose location is too imprecise for the radius, or outside every area, are "
        "left out (the restricted notes give how many)."
    ),
}


@dataclass
class PresenceEffect:
    """The within-reach incidence-rate ratio of a mission, with the strata behind it.

    Attributes
    ----------
    estimate : EffectEstimate
        Strategy ``patrol-presence``, estimand ``patrol_presence``.
    strata : pandas.DataFrame
        Restricted, one row per area x month: ``area_id``, ``period``, ``controls``,
        ``controls_covered``, ``p_covered``, ``p_covered_mc_se`` (Monte-Carlo error),
        ``incidents``, ``incidents_covered`` (sum of covered shares), ``used``.
    coverage_model : str
        ``tracks``, ``routes`` or ``bases``.
    controls_per_stratum : int
        Control points drawn per stratum.
    notes : list of str
        What was left out and why.
    """

    estimate: EffectEstimate
    strata: pd.DataFrame = field(repr=False)
    coverage_model: str = ""
    controls_per_stratum: int = CONTROLS_PER_STRATUM
    notes: list[str] = field(default_factory=list)

    @property
    def mc_error(self) -> float:
        """Mean Monte-Carlo standard error of the covered shares of the strata used."""
        used = self.strata[self.strata["used"]]
        return float(used["p_covered_mc_se"].mean()) if len(used) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Return the estimate as one row of ``EFFECT_COLUMNS`` (see ``count_models``)."""
        return self.estimate.to_frame()


def _month_bounds_utc(months: pd.PeriodIndex, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the UTC seconds at which each local month starts and ends."""
    def to_utc(stamps: pd.DatetimeIndex) -> np.ndarray:
        utc = local_midnight_to_utc(stamps, timezone)
        return (utc - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)

    start = to_utc(months.start_time)
    end = to_utc((months + 1).start_time)
    return np.asarray(start, dtype=float), np.asarray(end, dtype=float)


def make_control_points(
    areas: gpd.GeoDataFrame,
    months: pd.PeriodIndex,
    n: int,
    rng: np.random.Generator,
    *,
    timezone: str = "UTC",
) -> gpd.GeoDataFrame:
    """Draw ``n`` control points per area x month, uniform in the polygon and in time.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        ``area_id`` and polygons, in a projected CRS.
    months : pandas.PeriodIndex
        Local calendar months (freq ``M``).
    n : int
        Points per stratum.
    rng : numpy.random.Generator
        Seeded generator.
    timezone : str
        Mission time zone: months are local months.

    Returns
    -------
    geopandas.GeoDataFrame
        ``area_id``, ``period`` (local month start), ``occurred_at`` (UTC) and Point geometry.
    """
    t_start, t_end = _month_bounds_utc(months, timezone)
    frames = []
    for area_id, geom in zip(areas["area_id"], areas.geometry, strict=True):
        if geom is None or geom.is_empty or geom.area <= 0:
            continue
        need = n * len(months)
        minx, miny, maxx, maxy = geom.bounds
        xs, ys = [], []
        shapely.prepare(geom)
        while need > 0:
            # Rejection in the bounding box keeps the points uniform over the polygon itself.
            batch = max(int(need * (maxx - minx) * (maxy - miny) / geom.area * 1.2), 16)
            x = rng.uniform(minx, maxx, batch)
            y = rng.uniform(miny, maxy, batch)
            inside = shapely.contains_xy(geom, x, y)
            x, y = x[inside][:need], y[inside][:need]
            xs.append(x)
            ys.append(y)
            need -= len(x)
        which = np.repeat(np.arange(len(months)), n)
        t = t_start[which] + rng.random(len(which)) * (t_end - t_start)[which]
        frames.append(pd.DataFrame({
            "area_id": str(area_id),
            "period": months.start_time[which],
            "occurred_at": pd.Timestamp(0, tz="UTC") + pd.to_timedelta(t, unit="s"),
            "x": np.concatenate(xs),
            "y": np.concatenate(ys),
        }))
    if not frames:
        raise NotEstimable("no area has a polygon to draw control points in")
    controls = pd.concat(frames, ignore_index=True)
    geometry = gpd.points_from_xy(controls.pop("x"), controls.pop("y"))
    return gpd.GeoDataFrame(controls, geometry=geometry, crs=areas.crs)


def _day_shares(
    incidents: gpd.GeoDataFrame, cover: Callable[[gpd.GeoDataFrame], pd.DataFrame], grid: int
) -> np.ndarray:
    """Return the share of each date-only incident's day that was within reach."""
    offsets = (np.arange(grid) + 0.5) * 24.0 / grid
    rep = incidents.loc[incidents.index.repeat(grid)].reset_index(drop=True)
    rep["occurred_at"] = rep["occurred_at"] + pd.to_timedelta(np.tile(offsets, len(incidents)),
                                                             unit="h")
    rep = rep.drop(columns=["time_precision", "location_precision"], errors="ignore")
    covered = cover(gpd.GeoDataFrame(rep, geometry="geometry", crs=incidents.crs))["covered"]
    return covered.to_numpy(dtype=float, na_value=np.nan).reshape(-1, grid).mean(axis=1)


def _incident_cover(
    incidents: gpd.GeoDataFrame,
    cover: Callable[[gpd.GeoDataFrame], pd.DataFrame],
    known: pd.DataFrame | None,
) -> pd.DataFrame:
    """Return ``in_scope`` and ``covered`` per incident, reusing a coverage already computed.

    Coverage of one incident does not depend on the others, so the rows of ``known`` (by
    ``incident_id``) are taken as they are and only the incidents it lacks are covered.
    """
    if known is None or "incident_id" not in incidents:
        return cover(incidents)[["in_scope", "covered"]]
    ids = incidents["incident_id"].astype(str)
    table = known.assign(incident_id=known["incident_id"].astype(str))
    table = table.drop_duplicates("incident_id").set_index("incident_id")
    found = ids.isin(table.index).to_numpy()
    out = pd.DataFrame(
        {
            "in_scope": table["in_scope"].reindex(ids).fillna(False).astype(bool).to_numpy(),
            "covered": table["covered"].astype("boolean").reindex(ids).array,
        },
        index=incidents.index,
    )
    if not found.all():
        missing = cover(incidents.loc[~found])
        out.loc[~found, "in_scope"] = missing["in_scope"].to_numpy(dtype=bool)
        out.loc[~found, "covered"] = missing["covered"].astype("boolean").array
    return out


def _fit_mixture(
    share: np.ndarray, p: np.ndarray, clusters: np.ndarray
) -> tuple[float, float, int]:
    """Maximise the conditional likelihood of ``theta`` given each incident's covered share.

    Each incident contributes ``log(1 + (theta - 1) c) - log(1 + (theta - 1) p_s)``; the error
    is the area-clustered sandwich (G / (G - 1) small-sample factor).
    """
    def score_terms(beta: float) -> np.ndarray:
        theta = np.exp(beta)
        return theta * share / (1 + (theta - 1) * share) - theta * p / (1 + (theta - 1) * p)

    def score(beta: float) -> float:
        return float(score_terms(beta).sum())

    lo, hi = -12.0, 12.0
    if not score(lo) > 0 > score(hi):
        raise NotEstimable("every incident is on one side of reach: the ratio is not bounded")
    beta = optimize.brentq(score, lo, hi, xtol=1e-12)
    theta = np.exp(beta)
    info = float(np.sum(theta * p * (1 - p) / (1 + (theta - 1) * p) ** 2
                        - theta * share * (1 - share) / (1 + (theta - 1) * share) ** 2))
    codes, uniques = pd.factorize(clusters)
    g = len(uniques)
    u = np.bincount(codes, weights=score_terms(beta), minlength=g)
    var = g / max(g - 1, 1) * float(np.sum(u**2)) / info**2
    return float(beta), float(np.sqrt(var)), g


def _stratum_table(
    inc: pd.DataFrame, controls: pd.DataFrame, controls_covered: np.ndarray, n: int
) -> pd.DataFrame:
    keys = ["area_id", "period"]
    ctrl = controls[keys].assign(covered=controls_covered)
    strata = ctrl.groupby(keys, sort=True)["covered"].agg(["size", "sum"])
    strata.columns = ["controls", "controls_covered"]
    strata["p_covered"] = strata["controls_covered"] / strata["controls"]
    strata["p_covered_mc_se"] = np.sqrt(strata["p_covered"] * (1 - strata["p_covered"]) / n)
    counts = inc.groupby(keys)["share"].agg(["size", "sum"])
    counts.columns = ["incidents", "incidents_covered"]
    strata = strata.join(counts, how="left").fillna({"incidents": 0, "incidents_covered": 0.0})
    strata["incidents"] = strata["incidents"].astype(int)
    strata["used"] = (strata["p_covered"] > 0) & (strata["p_covered"] < 1)
    return strata.reset_index()


def compute_presence_effect(
    incidents: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    tables: Mapping[str, gpd.GeoDataFrame | None],
    model: CoverageModel,
    params: CoverageParams,
    months: pd.PeriodIndex,
    *,
    controls_per_stratum: int = CONTROLS_PER_STRATUM,
    seed: int = 0,
    day_grid: int = DAY_GRID,
    incident_coverage: pd.DataFrame | None = None,
    moves: PatrolMovements | None = None,
) -> PresenceEffect:
    """Estimate the within-reach incidence-rate ratio from projected tables.

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        Incidents (projected CRS) with ``occurred_at`` (UTC), ``area_id``, and optionally
        ``time_precision`` and ``location_precision``.
    areas : geopandas.GeoDataFrame
        ``area_id`` and polygons in the same CRS.
    tables : mapping
        ``patrols``, ``patrol_tracks``, ``bases`` in the same CRS, as the coverage models take.
    model : CoverageModel
        The coverage model (the one the mission's coverage uses).
    params : CoverageParams
        Radius, window, gap limit, precision uncertainties, time zone.
    months : pandas.PeriodIndex
        Local months of the analysis window; incidents of other months are not used.
    controls_per_stratum : int
        Control points per area x month.
    seed : int
        Seed of the control points (the mission seed).
    day_grid : int
        Moments per day at which a date-only incident's coverage is evaluated.
    incident_coverage : pandas.DataFrame, optional
        The per-incident coverage this run already computed with the same model and
        parameters (``CoverageResult.incidents``: ``incident_id``, ``in_scope``, ``covered``);
        incidents it does not hold are covered here.
    moves : tuple of (Movements, pandas.Index), optional
        ``model.movements(tables, params)``, when already built.

    Returns
    -------
    PresenceEffect
        The estimate (design ``space_time_controls``) and the strata.

    Raises
    ------
    NotEstimable
        When no stratum has both covered and uncovered controls and an incident.
    """
    rng = np.random.default_rng([int(seed), 4])
    notes: list[str] = []
    total = len(incidents)

    def cover_points(points: gpd.GeoDataFrame) -> pd.DataFrame:
        # Only in_scope and covered are read here: each point stops at its first hit.
        with covered_only():
            return model.cover(points, tables, params,
                               **({} if moves is None else {"moves": moves}))

    cover = _incident_cover(incidents, cover_points, incident_coverage)
    month = to_local_month(incidents["occurred_at"], params.timezone)
    keep = (cover["in_scope"].to_numpy(dtype=bool) & incidents["area_id"].notna().to_numpy()
            & month.isin(months).to_numpy())
    left_out = int(total - keep.sum())
    inc = incidents.loc[keep]
    share = cover.loc[keep, "covered"].to_numpy(dtype=float, na_value=np.nan)
    day = np.zeros(len(inc), dtype=bool)
    if "time_precision" in inc and model.name != "bases":
        day = inc["time_precision"].astype("string").eq("day").fillna(False).to_numpy(bool)
    if day.any():
        share[day] = _day_shares(inc.loc[day], cover_points, day_grid)
    inc_frame = pd.DataFrame({
        "area_id": inc["area_id"].astype(str).to_numpy(),
        "period": month[keep].dt.start_time.to_numpy(),
        "share": share,
    })
    controls = make_control_points(areas, months, controls_per_stratum, rng,
                                   timezone=params.timezone)
    ctrl_cover = cover_points(controls)["covered"].to_numpy(dtype=bool)
    strata = _stratum_table(inc_frame, controls, ctrl_cover, controls_per_stratum)
    inc_frame = inc_frame.merge(strata[["area_id", "period", "p_covered", "used"]],
                                on=["area_id", "period"], how="left")
    no_stratum = int(inc_frame["used"].isna().sum())
    skipped = int((inc_frame["used"].eq(False)).sum())
    if no_stratum:
        notes.append(f"{no_stratum} incidents in areas without a polygon: not used")
    if skipped:
        notes.append(f"{skipped} incidents in area-months wholly within or wholly out of reach "
                     "(no comparison inside the stratum): not used")
    used = inc_frame[inc_frame["used"].eq(True)]
    if len(used) == 0:
        raise NotEstimable("no area-month has both places within and out of reach and an "
                           "incident")
    estimate = _estimate(used, strata[strata["used"]], model.name)
    estimate.caveats += reach_caveats(model.name, params)
    # Caveats go to the shared table: no count in them, a small one could not be suppressed.
    if day.any():
        which = "All" if day.all() else "Some"
        estimate.caveats.append(_CAVEATS["date_only"].format(which=which))
        notes.append(f"{int(day.sum())} of {len(inc)} incidents in scope have a date only")
    if left_out:
        estimate.caveats.append(_CAVEATS["left_out"])
        notes.append(f"{left_out} of {total} incidents left out: location too imprecise for the "
                     "radius, outside every area, or outside the analysis window")
    return PresenceEffect(estimate, strata, model.name, controls_per_stratum, notes)


def reach_caveats(model_name: str, params: CoverageParams) -> list[str]:
    """Say what "within reach" means for a coverage model: a patrol in a window, or a base.

    A base has no time window and no patrol: its caveats say "an open base" and never "a
    patrol ... hours before" (issue 26, item 5).
    """
    radius_km = params.radius_m / 1000
    if model_name == "bases":
        return [_CAVEATS["bases"].format(radius_km=radius_km),
                _CAVEATS["reach_bases"].format(radius_km=radius_km)]
    return [_CAVEATS["reach"].format(radius_km=radius_km, window_h=params.window_h)]


def _estimate(
    used: pd.DataFrame, strata: pd.DataFrame, model_name: str, cluster: str = "area_id"
) -> EffectEstimate:
    """Fit the ratio: Poisson with stratum effects and offsets, or the date-only likelihood.

    Errors are clustered by the ``cluster`` column of ``used`` and ``strata`` (the areas; the
    coarser H3 parents of :mod:`protection_eval.effects.within_reach_cells`).
    """
    share = used["share"].to_numpy(dtype=float)
    common = {"strategy_id": PATROL_PRESENCE, "estimand": PRESENCE_ESTIMAND,
              "design": "space_time_controls",
              "unit": f"within reach ({model_name}) versus not, same area and month"}
    n_incidents = len(used)
    if np.isin(share, (0.0, 1.0)).all():
        long = pd.concat([
            strata.assign(covered=1.0, incidents_in=strata["incidents_covered"],
                          log_exposure=np.log(strata["p_covered"])),
            strata.assign(covered=0.0,
                          incidents_in=strata["incidents"] - strata["incidents_covered"],
                          log_exposure=np.log1p(-strata["p_covered"])),
        ], ignore_index=True)
        long["stratum"] = long["area_id"] + "|" + long["period"].astype(str)
        long["row"] = long["stratum"] + "|" + long["covered"].astype(str)
        fit = fit_count_model(long, "incidents_in", ["covered"], fixed_effects=("stratum",),
                              offset="log_exposure", cluster=cluster)
        # The same sandwich without counting the stratum effects, which are nested in the area
        # clusters, in the small-sample factor (as fixest does): counting them widens the
        # interval by about sqrt(2) for nothing.
        _, se, _ = _fit_mixture(share, used["p_covered"].to_numpy(float),
                                used[cluster].to_numpy())
        est = EffectEstimate.from_fit(fit, "covered", model="poisson_fe_offset",
                                      period_col="row", std_err=se, **common)
        est.n_periods = int(fit.data["period"].nunique())
        est.n_incidents = int(fit.data["incidents_in"].sum())
        return est
    beta, se, g = _fit_mixture(share, used["p_covered"].to_numpy(float),
                               used[cluster].to_numpy())
    df = max(g - 1, 1)
    low, high = compute_conf_int(beta, se, df)
    caveats = [CAVEATS["reported"]]
    if n_incidents < MIN_INCIDENTS_FOR_MODEL:
        caveats.append(CAVEATS["few_incidents"].format(n=n_incidents))
    return EffectEstimate(
        model="conditional_mixture", irr=float(np.exp(beta)),
        ci_low=float(np.exp(low)), ci_high=float(np.exp(high)),
        p_value=compute_p_value(beta, se, df),
        n_areas=int(used["area_id"].nunique()), n_periods=int(used["period"].nunique()),
        n_incidents=n_incidents, caveats=caveats, term="covered", se_log_irr=float(se),
        **common,
    )


def _presence_inputs(
    mission: MissionData, period: Period | None, prepared: PreparedCoverage | None, why: str
) -> tuple[pd.PeriodIndex, str, PreparedCoverage]:
    """Return the months, metric CRS and prepared coverage of a mission's presence estimates.

    Shared by the within-reach ratio's estimators; ``why`` ends the reason given when the
    mission has no patrol presence at all.
    """
    from protection_eval.coverage.mission import prepare_coverage

    window = mission.config.period if period is None else period
    months = pd.period_range(pd.Timestamp(window.start), pd.Timestamp(window.end), freq="M")
    if prepared is None:
        try:
            prepared = prepare_coverage(mission)
        except ValueError as exc:
            raise NotEstimable(str(exc)) from exc
    if prepared.model.name == "none":
        raise NotEstimable("no patrol presence is known (no GPS tracks, patrol routes or bases): "
                           + why)
    return months, mission.projected_crs, prepared


def estimate_presence_effect(
    mission: MissionData,
    *,
    period: Period | None = None,
    controls_per_stratum: int = CONTROLS_PER_STRATUM,
    seed: int | None = None,
    incident_coverage: pd.DataFrame | None = None,
    prepared: PreparedCoverage | None = None,
) -> PresenceEffect:
    """Estimate a loaded mission's within-reach ratio with its coverage model and parameters.

    Parameters
    ----------
    mission : MissionData
        From :func:`protection_eval.runs.missions.load_mission` (EPSG:4326 tables, projected here).
    period : Period, optional
        Analysis window (:func:`protection_eval.config.parse_period`); the mission period when
        None.
    controls_per_stratum : int
        Control points per area x month.
    seed : int, optional
        Seed of the control points; the mission configuration's ``seed`` when None.
    incident_coverage : pandas.DataFrame, optional
        The mission's per-incident coverage with its configured radius and window, when this
        run has computed it already (``CoverageResult.incidents``); computed here otherwise.
    prepared : PreparedCoverage, optional
        :func:`protection_eval.coverage.mission.prepare_coverage` of this mission with its
        configured parameters, when already built (projected tables and movements).

    Returns
    -------
    PresenceEffect
        See :func:`compute_presence_effect`.

    Raises
    ------
    NotEstimable
        When the mission has no patrol or base presence, or no area-month to compare in.
    """
    months, crs, prepared = _presence_inputs(
        mission, period, prepared, "reports within reach of a patrol cannot be compared")
    return compute_presence_effect(
        to_incident_points(mission.incidents).to_crs(crs), mission.areas.to_crs(crs),
        prepared.tables,
        prepared.model, prepared.params, months, controls_per_stratum=controls_per_stratum,
        seed=mission.config.seed if seed is None else seed,
        incident_coverage=incident_coverage, moves=prepared.moves,
    )
