"""Spatio-temporal coverage of SGBV incidents by patrols: the public entry points.

Were patrols there, and when, where sexual violence was reported? The rules (interpolation,
gap limit, location precision, date-only incidents, base radius) are in ``docs/coverage.md``;
the models (GPS tracks, routes, bases) are in :mod:`protection_eval.coverage_models`, the exact
space-time index in :mod:`protection_eval.coverage_index`.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from protection_eval.coverage_points import (
    COVERAGE_COLUMNS,
    check_projected,
    cover_incidents,
    movements_from_tracks,
)

__all__ = [
    "COVERAGE_COLUMNS",
    "compute_incident_coverage",
]


def compute_incident_coverage(
    incidents: gpd.GeoDataFrame,
    tracks: gpd.GeoDataFrame,
    radius_m: float,
    window_h: float,
    *,
    max_gap_h: float = 6.0,
    precision_uncertainty_m: Mapping[str, float] | None = None,
    nearest_within_m: float | None = None,
) -> pd.DataFrame:
    """Decide, for each incident, whether a GPS-tracked patrol was within reach before it.

    Positions between two fixes of a patrol are interpolated along the straight line at uniform
    speed, unless the fixes are more than ``max_gap_h`` apart. Distances are exact (no buffer
    polygons).

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        Points with ``occurred_at`` (UTC); optional ``time_precision`` (``time``/``day``) and
        ``location_precision``.
    tracks : geopandas.GeoDataFrame
        GPS fixes: Point geometry, ``patrol_id``, ``recorded_at`` (UTC), in the incidents' CRS.
    radius_m : float
        Coverage radius in metres; a patrol at exactly this distance covers.
    window_h : float
        Hours before the incident during which a patrol counts.
    max_gap_h : float
        Longest gap between two fixes that is interpolated.
    precision_uncertainty_m : mapping, optional
        Nominal location uncertainty per ``location_precision``; defaults to the configuration's
        (exact 100 m, settlement 5 km, admin2 50 km, admin1 200 km, country 1,000 km). An
        incident whose uncertainty exceeds ``radius_m`` is left out.
    nearest_within_m : float, optional
        Largest distance reported in ``nearest_m`` (default ``radius_m``).

    Returns
    -------
    pandas.DataFrame
        Same index as ``incidents``; columns ``in_scope`` (bool), ``left_out_reason``
        (``precision``, ``no_location``, ``no_time`` or NA), ``covered`` (boolean, NA when left
        out), ``nearest_m`` (nearest patrol position in the window, NaN when none within
        ``nearest_within_m``), ``since_patrol_h`` (hours from the last moment a patrol was within
        the radius to the incident, NaN when not covered).

    Raises
    ------
    ValueError
        When an input is in a geographic CRS, the CRSs differ, or times are not UTC-aware.
    """
    check_projected({"incidents": incidents, "tracks": tracks})
    moves = movements_from_tracks(tracks, max_gap_h)
    return cover_incidents(
        incidents,
        moves,
        radius_m,
        window_h,
        precision_uncertainty_m=precision_uncertainty_m,
        nearest_within_m=nearest_within_m,
    )
