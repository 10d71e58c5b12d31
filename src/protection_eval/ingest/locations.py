"""Location checks of ingestion: is a point a place in the mission, and in which area.

Coordinates are checked against WGS84 ranges and against the mission's areas (with a
tolerance); a point that would fall inside only with its coordinates swapped or a sign flipped is
quarantined with that reason, never repaired.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from protection_eval.config import SourceSpec
from protection_eval.ingest.quarantine import IngestContext, Quarantine, parse_number_column

WGS84 = "EPSG:4326"


def distance_to_areas(ctx: IngestContext, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return each point's distance in metres to the union of the mission's areas."""
    areas = ctx.areas
    if areas is None or areas.empty:
        return np.zeros(len(lon))
    # A polygon valid in degrees can self-intersect once projected (an outline crossing the
    # antimeridian or near a pole, as world boundary files have): repaired before the union.
    projected = shapely.union_all(
        shapely.make_valid(areas.to_crs(ctx.projected_crs).geometry.to_numpy())
    )
    shapely.prepare(projected)
    # Coordinates, not Point objects, for the many points inside an area (distance 0): a
    # large table would otherwise hold two sets of shapely points at once.
    to_metres = pyproj.Transformer.from_crs(WGS84, ctx.projected_crs, always_xy=True)
    x, y = to_metres.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    distance = np.zeros(len(x))
    outside = ~shapely.contains_xy(projected, x, y)
    distance[outside] = shapely.distance(projected, shapely.points(x[outside], y[outside]))
    return distance


def _coordinate(frame: pd.DataFrame, column: str, spec: SourceSpec, q: Quarantine
                ) -> pd.Series:
    """Return a coordinate column as numbers: parsed from text, or as a reader typed it.

    A typed column (points read from GeoParquet) is finite or NaN (no coordinate), so no
    cell of it can be unreadable.
    """
    if column in frame and pd.api.types.is_float_dtype(frame[column]):
        return frame[column].astype("float64")
    return parse_number_column(frame, column, spec, q)


def check_points(
    frame: pd.DataFrame, spec: SourceSpec, ctx: IngestContext, q: Quarantine
) -> tuple[pd.Series, pd.Series]:
    """Parse longitude/latitude; quarantine placeholder, projected, swapped or outside points."""
    lon, lat = (_coordinate(frame, column, spec, q) for column in ("longitude", "latitude"))
    zero = (lon == 0) & (lat == 0)
    q.reject(zero, "coordinates_zero_placeholder", "longitude", "(0, 0) is a placeholder")
    out = (lon.abs() > 180) | (lat.abs() > 90)
    metres = out & ((lon.abs() > 1_000) | (lat.abs() > 1_000))
    q.reject(metres, "coordinates_projected", "longitude",
             lambda rows: "values such as " + lon[rows].astype(str) + ", "
             + lat[rows].astype(str)
             + " are metres in a projected CRS; convert them to WGS84 degrees")
    swapped_fits = out & (lat.abs() <= 180) & (lon.abs() <= 90)
    q.reject(swapped_fits, "coordinates_swapped", "latitude",
             lambda rows: "latitude " + lat[rows].astype(str)
             + " is out of range but would fit as a longitude")
    q.reject(out, "coordinates_out_of_range", "longitude",
             lambda rows: "(" + lon[rows].astype(str) + ", " + lat[rows].astype(str)
             + ") is outside WGS84 ranges")
    alive = q.alive & lon.notna() & lat.notna()
    if ctx.areas is not None and alive.any():
        tolerance = ctx.config.ingest.outside_tolerance_m
        idx = alive[alive].index
        x, y = lon[idx].to_numpy(), lat[idx].to_numpy()
        far = distance_to_areas(ctx, x, y) > tolerance
        if far.any():
            fx, fy, fidx = x[far], y[far], idx[far]
            in_range = (np.abs(fy) <= 180) & (np.abs(fx) <= 90)
            swapped = np.zeros(len(fx), dtype=bool)
            if in_range.any():
                swapped[in_range] = (
                    distance_to_areas(ctx, fy[in_range], fx[in_range]) <= tolerance
                )
            flipped = np.zeros(len(fx), dtype=bool)
            for sx, sy in ((-1, 1), (1, -1), (-1, -1)):
                flipped |= distance_to_areas(ctx, sx * fx, sy * fy) <= tolerance
            reasons = pd.Series(
                np.where(swapped, "coordinates_swapped",
                         np.where(flipped, "coordinates_sign_flipped", "outside_areas")),
                index=fidx,
            )
            for code, text in (
                ("coordinates_swapped",
                 "outside the areas, but inside them with latitude and longitude swapped"),
                ("coordinates_sign_flipped",
                 "outside the areas, but inside them with a coordinate's sign flipped"),
                ("outside_areas",
                 f"more than {tolerance:g} m outside every area of the mission"),
            ):
                mask = pd.Series(False, index=frame.index)
                mask[reasons.index[reasons == code]] = True
                q.reject(mask, code, "longitude", text)
    return lon, lat


def assign_areas(incidents: gpd.GeoDataFrame, ctx: IngestContext, alive: pd.Series) -> pd.Series:
    """Area of each point-located incident: the containing area, else the nearest within tolerance.

    Rows located only at admin1 or country precision get no area from their point: a
    province or country centroid says nothing about which area the incident was in.
    """
    area_id = incidents["area_id"].where(incidents["area_id"] != "")
    pointable = area_id.isna() & incidents["location_precision"].isin(
        ["exact", "settlement", "admin2"]
    ) & alive
    if ctx.areas is None or not pointable.any():
        return area_id
    areas = ctx.areas[["area_id", "geometry"]].to_crs(ctx.projected_crs)
    points = incidents.loc[pointable, ["geometry"]].to_crs(ctx.projected_crs)
    joined = gpd.sjoin_nearest(
        points, areas, how="left", max_distance=ctx.config.ingest.outside_tolerance_m
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    area_id.loc[joined.index] = joined["area_id"].where(joined["area_id"].notna())
    return area_id
