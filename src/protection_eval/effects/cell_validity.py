"""The simulation behind the H3-cell within-reach ratio (``docs/validity.md``).

A mission as the cell design meets it in the field: **one area** (a country as one polygon), a
few hundred incidents, base locations that open and close over the period, and incidents more
frequent in one part of the country, where bases also tend to be (so comparing the whole
country would confound the two). Incidents within reach of an open base are reported at
``theta`` times the rate elsewhere. :func:`simulate_cell_mission` draws such a mission;
:func:`compute_cell_validity` estimates the ratio on many seeds and reports how often the
interval holds the planted ``theta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from shapely.geometry import box

from protection_eval.coverage.models import COVERAGE_MODELS, CoverageParams
from protection_eval.effects.count_models import NotEstimable
from protection_eval.effects.within_reach_cells import compute_cell_presence_effect

__all__ = ["CellScenario", "compute_cell_validity", "simulate_cell_mission"]

#: A metric CRS around the simulated country (UTM 34N, as for the Central African Republic).
_CRS = "EPSG:32634"
_CENTRE = (500_000.0, 700_000.0)


@dataclass(frozen=True)
class CellScenario:
    """One simulated mission's size and planted ratio.

    Attributes
    ----------
    theta : float
        Rate of reported incidents within reach of an open base, relative to elsewhere.
    incidents : float
        Expected number of incidents over the period (before thinning near bases).
    months : int
        Months in the period (from January 2021).
    bases : int
        Base locations; each is open for a random run of months.
    radius_m : float
        Coverage radius.
    side_km : float
        Side of the one square area.
    gradient : float
        Log-ratio of the incident rate from the west edge to the east edge; bases are placed
        with the same density.
    """

    theta: float = 0.5
    incidents: float = 300.0
    months: int = 24
    bases: int = 15
    radius_m: float = 20_000.0
    side_km: float = 300.0
    gradient: float = 1.0


def _draw_points(n: int, scenario: CellScenario, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points in the square with density ``exp(gradient * x / side)``."""
    half = scenario.side_km * 500.0
    out = np.empty((0, 2))
    while len(out) < n:
        x = rng.uniform(-half, half, 4 * n)
        y = rng.uniform(-half, half, 4 * n)
        accept = rng.random(4 * n) < np.exp(scenario.gradient * (x / (2 * half) - 0.5))
        out = np.vstack([out, np.column_stack([x[accept], y[accept]])])
    return out[:n] + np.array(_CENTRE)


def simulate_cell_mission(
    scenario: CellScenario, seed: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, gpd.GeoDataFrame | None],
           pd.PeriodIndex]:
    """Draw one mission: its incidents, its one area, its bases and its months.

    Returns
    -------
    tuple
        ``incidents`` (projected points with ``occurred_at``, ``longitude``, ``latitude``,
        ``area_id``, ``time_precision`` ``time``, ``location_precision`` ``exact``), ``areas``
        (one square), the coverage ``tables`` (``bases``) and the ``months``.
    """
    rng = np.random.default_rng([int(seed), 26])
    months = pd.period_range("2021-01", periods=scenario.months, freq="M")
    half = scenario.side_km * 500.0
    cx, cy = _CENTRE
    areas = gpd.GeoDataFrame({"area_id": ["C1"], "name": ["Country"]},
                             geometry=[box(cx - half, cy - half, cx + half, cy + half)], crs=_CRS)
    sites = _draw_points(scenario.bases, scenario, rng)
    first = rng.integers(0, scenario.months, scenario.bases)
    length = rng.integers(3, scenario.months + 1, scenario.bases)
    last = np.minimum(first + length - 1, scenario.months - 1)
    bases = gpd.GeoDataFrame({
        "base_id": [f"B{i}" for i in range(scenario.bases)],
        "valid_from": months[first].start_time,
        "valid_to": months[last].end_time.normalize(),
        "personnel": pd.array([100] * scenario.bases, dtype="Int64"),
        "women": pd.array([10] * scenario.bases, dtype="Int64"),
    }, geometry=gpd.points_from_xy(sites[:, 0], sites[:, 1]), crs=_CRS)
    n = int(rng.poisson(scenario.incidents))
    points = _draw_points(n, scenario, rng)
    start = months.start_time[0].value / 1e9
    end = (months[-1] + 1).start_time.value / 1e9
    seconds = rng.uniform(start, end, n)
    when = pd.to_datetime(seconds, unit="s", utc=True)
    month = np.asarray(when.tz_localize(None).to_period("M").astype("int64")
                       - months[0].ordinal)
    near = cKDTree(sites).query_ball_point(points, scenario.radius_m)
    reach = np.array([any(first[b] <= m <= last[b] for b in found)
                      for found, m in zip(near, month, strict=True)])
    keep = np.where(reach, rng.random(n) < scenario.theta, True) if scenario.theta <= 1 else (
        np.where(reach, True, rng.random(n) < 1 / scenario.theta))
    geometry = gpd.points_from_xy(points[keep, 0], points[keep, 1])
    incidents = gpd.GeoDataFrame({
        "incident_id": [f"I{i}" for i in range(int(keep.sum()))],
        "occurred_at": when[keep],
        "area_id": "C1",
        "time_precision": "time",
        "location_precision": "exact",
    }, geometry=geometry, crs=_CRS)
    lonlat = incidents.geometry.to_crs("EPSG:4326")
    incidents["longitude"], incidents["latitude"] = lonlat.x, lonlat.y
    return incidents, areas, {"bases": bases, "patrols": None, "patrol_tracks": None}, months


def compute_cell_validity(
    scenario: CellScenario, seeds: range | list[int], *, controls_per_stratum: int = 200
) -> pd.DataFrame:
    """Estimate the cell design's ratio on simulated missions, one row per seed.

    Returns
    -------
    pandas.DataFrame
        ``seed``, ``irr``, ``ci_low``, ``ci_high``, ``se_log_irr``, ``covers`` (the interval
        holds ``theta``), ``n_incidents``, ``n_clusters``, ``resolution``; ``irr`` NaN and
        ``note`` set when a seed was not estimable.
    """
    model = COVERAGE_MODELS["bases"]
    params = CoverageParams(radius_m=scenario.radius_m, window_h=72.0)
    rows = []
    for seed in seeds:
        incidents, areas, tables, months = simulate_cell_mission(scenario, seed)
        row = {"seed": seed, "irr": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "se_log_irr": np.nan, "n_incidents": 0, "n_clusters": 0, "note": ""}
        try:
            found = compute_cell_presence_effect(
                incidents, areas, tables, model, params, months,
                controls_per_stratum=controls_per_stratum, seed=seed)
        except NotEstimable as exc:
            row["note"] = str(exc)
        else:
            est = found.estimate
            row.update(irr=est.irr, ci_low=est.ci_low, ci_high=est.ci_high,
                       se_log_irr=est.se_log_irr, n_incidents=est.n_incidents,
                       n_clusters=est.n_clusters)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["covers"] = (table["ci_low"] <= scenario.theta) & (scenario.theta <= table["ci_high"])
    return table
