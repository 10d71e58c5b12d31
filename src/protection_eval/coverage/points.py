"""Incident coverage by patrol positions: from GeoDataFrames to the per-incident table.

This module turns incidents and patrol tables (already in one projected CRS) into the arrays of
:mod:`protection_eval.coverage.index` and back into one row per incident. The rules it applies
are written out in ``docs/coverage.md``:

- an incident at time ``t`` is covered when a patrol position was within the radius at some
  moment of ``[t - window_h, t]`` (both ends included, a distance equal to the radius counts);
- a date-only incident (``time_precision == "day"``, stored as the local midnight that starts
  the day) may have happened at any moment of that day, so its window is
  ``[day start - window_h, day start + 24 h]`` and ``since_patrol_h`` is counted from the end of
  the day;
- an incident whose location uncertainty (the distance its source states,
  ``location_uncertainty_m``, else the nominal one of its ``location_precision``) exceeds the
  radius is not
  a point a patrol could have been near: it is left out of point coverage (``in_scope`` False,
  ``left_out_reason`` "precision") and counted, never treated as a point; so is an incident
  placed only by its area (precision ``area``, no coordinates);
- an incident known only to lie in an interval longer than a day (``time_precision == "range"``)
  is left out too (``left_out_reason`` "time_range") and counted: whether a patrol was within
  reach depends on when in the interval it happened, which the data do not say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.config import DEFAULT_PRECISION_UNCERTAINTY_M
from protection_eval.coverage.index import (
    Coverage,
    Movements,
    evaluate_coverage,
    movements_from_fixes,
)
from protection_eval.engine import current_engine

#: Times are handled as float seconds since this instant (precise to well under a millisecond).
EPOCH = pd.Timestamp("2000-01-01", tz="UTC")
DAY_S = 86_400.0
HOUR_S = 3_600.0

#: Columns of the per-incident coverage table, in order.
COVERAGE_COLUMNS: tuple[str, ...] = (
    "in_scope",
    "left_out_reason",
    "covered",
    "nearest_m",
    "since_patrol_h",
)


_COVERED_ONLY: ContextVar[bool] = ContextVar("protection_eval_covered_only", default=False)


@contextmanager
def covered_only() -> Iterator[None]:
    """Inside the ``with`` block, :func:`cover_incidents` computes ``covered`` alone.

    For points of which only ``covered`` is read (the control points and the date-only moments
    of the within-reach ratio): each point stops at its first patrol within reach, and neither
    the nearest distance nor the last moment is computed, so ``nearest_m`` and
    ``since_patrol_h`` are NaN. ``in_scope``, ``left_out_reason`` and ``covered`` are the same,
    to the bit, as without it. Coverage models reach :func:`cover_incidents` through their own
    ``cover``; the block reaches it without a parameter on every model.
    """
    token = _COVERED_ONLY.set(True)
    try:
        yield
    finally:
        _COVERED_ONLY.reset(token)


def check_projected(frames: Mapping[str, gpd.GeoDataFrame | None]) -> None:
    """Raise a clear error unless every frame is in the same projected (metric) CRS.

    Parameters
    ----------
    frames : mapping of str to GeoDataFrame or None
        Named frames; None entries are skipped. Frames without any CRS are accepted only when
        none of the frames has one (hand-made frames in metres).

    Raises
    ------
    ValueError
        When a frame is in a geographic CRS or the frames' CRSs differ.
    """
    present = {name: f.crs for name, f in frames.items() if f is not None}
    for name, crs in present.items():
        if crs is not None and not crs.is_projected:
            raise ValueError(
                f"{name} is in {crs.to_string()}, a geographic CRS (degrees); coverage needs "
                "metres: project every input with .to_crs(mission.projected_crs) first"
            )
    distinct = {None if crs is None else crs.to_wkt() for crs in present.values()}
    if len(distinct) > 1:
        listing = ", ".join(
            f"{name}: {crs.to_string() if crs is not None else 'no CRS'}"
            for name, crs in present.items()
        )
        raise ValueError(
            f"coverage inputs are in different CRSs ({listing}); project them all to the "
            "mission's projected CRS first"
        )


def check_columns(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise a clear error naming the table and the missing columns, if any."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks the column(s) {missing} that coverage needs (it has "
            f"{list(frame.columns)}); load the mission with catalog.load_mission, or rename them"
        )


def to_seconds(values: pd.Series, column: str) -> np.ndarray:
    """Return UTC timestamps as float seconds since :data:`EPOCH` (NaN for missing).

    Raises
    ------
    ValueError
        When the column is not timezone-aware (canonical tables hold UTC times).
    """
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"column {column!r} must hold timezone-aware UTC timestamps (got {values.dtype}); "
            "ingestion produces them, or use pandas.to_datetime(..., utc=True)"
        )
    seconds = (values - EPOCH) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=float, na_value=np.nan)


def point_xy(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y of point geometries (NaN for missing or empty ones)."""
    geoms = geometry.to_numpy()
    x = shapely.get_x(geoms)
    y = shapely.get_y(geoms)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    return np.where(bad, np.nan, x), np.where(bad, np.nan, y)


def _incident_xy(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return incidents' positions: their points, else their ``longitude``/``latitude``."""
    if getattr(incidents, "active_geometry_name", None) is not None:
        return point_xy(incidents.geometry)
    return (incidents["longitude"].to_numpy(dtype="float64", na_value=np.nan),
            incidents["latitude"].to_numpy(dtype="float64", na_value=np.nan))


def movements_from_tracks(tracks: gpd.GeoDataFrame, max_gap_h: float) -> Movements:
    """Build movements from GPS fixes (``patrol_id``, ``recorded_at``, Point geometry).

    Fixes without a time or a position are ignored.
    """
    if tracks is None or len(tracks) == 0:
        return Movements.empty()
    x, y = point_xy(tracks.geometry)
    t = to_seconds(tracks["recorded_at"], "recorded_at")
    codes, _ = pd.factorize(tracks["patrol_id"])
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    return movements_from_fixes(codes[ok], x[ok], y[ok], t[ok], max_gap_h * HOUR_S)


class IncidentQueries:
    """Incidents as coverage queries: positions, windows and the reason each is left out.

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame or pandas.DataFrame
        Points with ``occurred_at`` (UTC) and optionally ``time_precision`` (``time`` or
        ``day``) and ``location_precision``; without the latter every point counts as exact.
        A frame with no geometry gives its positions as ``longitude`` and ``latitude`` (the
        canonical incidents table: degrees, enough to say which incidents are in scope).
    radius_m, window_h : float
        Coverage radius and window.
    precision_uncertainty_m : mapping, optional
        Nominal uncertainty per location precision; unknown labels count as unbounded.

    Attributes
    ----------
    x, y, start, end : numpy.ndarray
        Position and window (seconds) of every incident.
    reason : numpy.ndarray of object
        ``None`` for incidents in scope, else ``"precision"``, ``"no_location"``,
        ``"time_range"`` or ``"no_time"``.
    """

    def __init__(
        self,
        incidents: gpd.GeoDataFrame,
        radius_m: float,
        window_h: float,
        precision_uncertainty_m: Mapping[str, float] | None = None,
    ) -> None:
        uncertainty = {**DEFAULT_PRECISION_UNCERTAINTY_M, **(precision_uncertainty_m or {})}
        self.x, self.y = _incident_xy(incidents)
        t = to_seconds(incidents["occurred_at"], "occurred_at")
        if "time_precision" in incidents:
            day = incidents["time_precision"].astype("string").eq("day").fillna(False)
            day = day.to_numpy(dtype=bool)
        else:
            day = np.zeros(len(incidents), dtype=bool)
        self.date_only = day
        self.end = np.where(day, t + DAY_S, t)
        self.start = t - window_h * HOUR_S
        reason = np.full(len(incidents), None, dtype=object)
        no_location = ~(np.isfinite(self.x) & np.isfinite(self.y))
        reason[no_location] = "no_location"
        nominal = np.zeros(len(incidents))
        if "location_precision" in incidents:
            # After no_location: a row placed by its area has no point *because* of its
            # precision, and is counted with the other imprecise rows.
            # Few distinct labels: look each up once, not once per row.
            codes, labels = pd.factorize(incidents["location_precision"].astype("string"))
            per_label = pd.Series(labels).map(uncertainty).astype(float).fillna(np.inf)
            nominal = np.append(per_label.to_numpy(), np.inf)[codes]
        if "location_uncertainty_m" in incidents:
            # A distance the source states ("25 km precision") is the row's own uncertainty.
            stated = pd.to_numeric(incidents["location_uncertainty_m"]).to_numpy(
                dtype=float, na_value=np.nan)
            given = np.isfinite(stated) & (reason != "no_location")
            nominal = np.where(given, stated, nominal)
        reason[nominal > radius_m] = "precision"
        if "time_precision" in incidents:
            ranged = incidents["time_precision"].astype("string").eq("range").fillna(False)
            reason[ranged.to_numpy(dtype=bool) & pd.isna(reason)] = "time_range"
        reason[~np.isfinite(t)] = "no_time"
        self.reason = reason
        self.in_scope = pd.isna(reason)

    def to_frame(self, index: pd.Index, coverage: Coverage | None) -> pd.DataFrame:
        """Assemble the per-incident table from results for the in-scope incidents."""
        n = len(self.in_scope)
        covered = pd.array(np.zeros(n, dtype=bool), dtype="boolean")
        nearest = np.full(n, np.nan)
        since = np.full(n, np.nan)
        scope = self.in_scope
        if coverage is not None:
            covered[scope] = coverage.covered
            nearest[scope] = coverage.nearest
            since[scope] = (self.end[scope] - coverage.latest) / HOUR_S
        covered[~scope] = pd.NA
        return pd.DataFrame(
            {
                "in_scope": scope,
                "left_out_reason": pd.array(self.reason, dtype="string"),
                "covered": covered,
                "nearest_m": nearest,
                "since_patrol_h": since,
            },
            index=index,
        )


def cover_incidents(
    incidents: gpd.GeoDataFrame,
    moves: Movements,
    radius_m: float,
    window_h: float,
    *,
    precision_uncertainty_m: Mapping[str, float] | None = None,
    nearest_within_m: float | None = None,
) -> pd.DataFrame:
    """Cover incidents with patrol movements (tracks or routes alike).

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        See :class:`IncidentQueries`.
    moves : Movements
        Patrol movements in the incidents' CRS, times in seconds since :data:`EPOCH`.
    radius_m, window_h : float
        Coverage radius (metres) and window (hours).
    precision_uncertainty_m : mapping, optional
        Nominal location uncertainty per precision.
    nearest_within_m : float, optional
        Largest ``nearest_m`` reported (default: the radius); farther is NaN.

    Returns
    -------
    pandas.DataFrame
        :data:`COVERAGE_COLUMNS`, same index as ``incidents`` (``nearest_m`` and
        ``since_patrol_h`` all NaN inside a :func:`covered_only` block).
    """
    queries = IncidentQueries(incidents, radius_m, window_h, precision_uncertainty_m)
    scope = queries.in_scope
    local = partial(evaluate_coverage, covered_only=True) if _COVERED_ONLY.get() else (
        evaluate_coverage)
    # HOOK (protection_eval.engine): here, or split by time on the run's cluster.
    engine = current_engine()
    evaluate = local if engine is None else partial(engine.evaluate_coverage, local=local)
    result = evaluate(
        queries.x[scope],
        queries.y[scope],
        queries.start[scope],
        queries.end[scope],
        moves,
        radius_m,
        search=nearest_within_m,
    )
    return queries.to_frame(incidents.index, result)
