"""Location checks of ingestion: is a point a place in the mission, and in which area.

Coordinates are checked against WGS84 ranges and against the mission's areas (with a
tolerance). A point outside every area is quarantined as ``coordinates_swapped`` or
``coordinates_sign_flipped`` only when the corrected point lies in an area *and* the given one
is far from all of them (farther than half the distance the correction would move it); a point
merely near the areas (a town across a border river, a coastal point outside a coarse outline)
is ``outside_areas``, with its distance. Nothing is ever repaired.

Distances are measured in the mission's working projection (:mod:`protection_eval.projection`)
when one plane holds the mission; when the areas span too much for one, a point's distance to
the areas is measured in an azimuthal equidistant projection centred on the point (distances
from its centre are geodesic), and containment in degrees, as the outlines are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from protection_eval.config import SourceSpec
from protection_eval.ingest.quarantine import IngestContext, Quarantine, parse_number_column
from protection_eval.projection import (
    WorkingProjection,
    choose_working_projection,
    geodesic_distance_m,
    project_geometries,
)

WGS84 = "EPSG:4326"

#: A correction (swap, sign flip) is believed only when the point as given is farther from
#: every area than this share of the distance the correction moves it.
FAR_SHARE = 0.5

#: Points outside the areas by at most this many tolerances are "just outside" (a coarse
#: outline, a coastal point); when there are :data:`NEAR_MISSES_NOTED` or more, the table's
#: notes give their distances and a tolerance that would accept them.
NEAR_FACTOR = 10.0
NEAR_MISSES_NOTED = 3


@dataclass
class AreaDistances:
    """The mission's areas prepared once for distances from points, in metres.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Accepted areas (EPSG:4326) with ``area_id``.
    projection : WorkingProjection
        The mission's working projection.
    """

    areas: gpd.GeoDataFrame
    projection: WorkingProjection
    ids: np.ndarray = field(init=False, repr=False)
    degrees: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = self.areas["area_id"].astype(str).to_numpy()
        geoms = self.areas.geometry.to_crs(WGS84) if self.areas.crs else self.areas.geometry
        self.degrees = shapely.make_valid(geoms.to_numpy())
        if self.projection.single:
            crs = self.projection.crs
            self.projected = project_geometries(geoms, crs)
            self._plane = shapely.union_all(self.projected.to_numpy())
            self._to_metres = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
        else:
            self._plane = shapely.union_all(self.degrees)
        shapely.prepare(self._plane)

    def _xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.projection.single:
            return self._to_metres.transform(lon, lat)
        return lon, lat

    def distance(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return each point's distance in metres to the nearest area (0 inside one)."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        # Coordinates, not Point objects, for the many points inside an area (distance 0): a
        # large table would otherwise hold two sets of shapely points at once.
        x, y = self._xy(lon, lat)
        distance = np.zeros(len(lon))
        outside = ~shapely.contains_xy(self._plane, x, y)
        if not outside.any():
            return distance
        if self.projection.single:
            distance[outside] = shapely.distance(self._plane,
                                                 shapely.points(x[outside], y[outside]))
        else:
            distance[outside] = [self._local_nearest(a, b)[0]
                                 for a, b in zip(lon[outside], lat[outside], strict=True)]
        return distance

    def nearest(self, lon: np.ndarray, lat: np.ndarray, max_distance: float) -> pd.Series:
        """Return the id of the area holding each point, else of the nearest within reach."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        out = np.full(len(lon), None, dtype=object)
        if self.projection.single:
            x, y = self._xy(lon, lat)
            points = shapely.points(x, y)
            tree = shapely.STRtree(self.projected.to_numpy())
            inside = tree.query(points, predicate="within")
            first = pd.Series(inside[1], index=inside[0])
            first = first[~first.index.duplicated()]
            out[first.index] = self.ids[first.to_numpy()]
            rest = np.flatnonzero(pd.isna(out))
            if len(rest):
                pos, dist = tree.query_nearest(points[rest], max_distance=max_distance,
                                               return_distance=True, all_matches=False)
                out[rest[pos[0]]] = self.ids[pos[1]]
            return pd.Series(out)
        tree = shapely.STRtree(self.degrees)
        inside = tree.query(shapely.points(lon, lat), predicate="within")
        first = pd.Series(inside[1], index=inside[0])
        first = first[~first.index.duplicated()]
        out[first.index] = self.ids[first.to_numpy()]
        for i in np.flatnonzero(pd.isna(out)):
            distance, position = self._local_nearest(lon[i], lat[i])
            if distance <= max_distance:
                out[i] = self.ids[position]
        return pd.Series(out)

    def _local_nearest(self, lon: float, lat: float) -> tuple[float, int]:
        """Return the distance to the nearest area and its position, centred on the point.

        The areas near the point (in degrees, across the antimeridian too) are projected in
        an azimuthal equidistant projection centred on it, where the distance from the centre
        is the geodesic one.
        """
        in_degrees = np.min([shapely.distance(self.degrees, shapely.Point(lon + shift, lat))
                             for shift in (-360.0, 0.0, 360.0)], axis=0)
        near = np.flatnonzero(in_degrees <= 3.0 * np.nanmin(in_degrees) + 1.0)
        centred = pyproj.Transformer.from_crs(
            WGS84, f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m",
            always_xy=True)
        projected = shapely.transform(
            self.degrees[near], lambda xy: np.column_stack(centred.transform(xy[:, 0], xy[:, 1])))
        distances = shapely.distance(projected, shapely.Point(0.0, 0.0))
        best = int(np.nanargmin(distances))
        return float(distances[best]), int(near[best])


def area_distances(ctx: IngestContext) -> AreaDistances | None:
    """Return the context's areas prepared for distances, built on first use."""
    if ctx.areas is None or ctx.areas.empty:
        return None
    if ctx.area_distances is None:
        projection = ctx.projection or choose_working_projection(ctx.areas, ctx.config.crs)
        ctx.area_distances = AreaDistances(ctx.areas, projection)
    return ctx.area_distances


def distance_to_areas(ctx: IngestContext, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return each point's distance in metres to the union of the mission's areas."""
    prepared = area_distances(ctx)
    if prepared is None:
        return np.zeros(len(lon))
    return prepared.distance(lon, lat)


def _coordinate(frame: pd.DataFrame, column: str, spec: SourceSpec, q: Quarantine
                ) -> pd.Series:
    """Return a coordinate column as numbers: parsed from text, or as a reader typed it.

    A typed column (points read from GeoParquet) is finite or NaN (no coordinate), so no
    cell of it can be unreadable.
    """
    if column in frame and pd.api.types.is_float_dtype(frame[column]):
        return frame[column].astype("float64")
    return parse_number_column(frame, column, spec, q)


def _believed(ctx: IngestContext, x: np.ndarray, y: np.ndarray, given_m: np.ndarray,
              cx: np.ndarray, cy: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether a corrected point lies in the areas and the given one is far from all of them."""
    inside = distance_to_areas(ctx, cx, cy) <= tolerance
    moved = geodesic_distance_m(x, y, cx, cy)
    return inside & (given_m > FAR_SHARE * moved)


def _classify_far(ctx: IngestContext, x: np.ndarray, y: np.ndarray, given_m: np.ndarray,
                  tolerance: float) -> np.ndarray:
    """Return the reason of each point beyond the tolerance: swapped, sign flipped or outside."""
    swapped = np.zeros(len(x), dtype=bool)
    in_range = (np.abs(y) <= 180) & (np.abs(x) <= 90)
    if in_range.any():
        swapped[in_range] = _believed(ctx, x[in_range], y[in_range], given_m[in_range],
                                      y[in_range], x[in_range], tolerance)
    flipped = np.zeros(len(x), dtype=bool)
    for sx, sy in ((-1, 1), (1, -1), (-1, -1)):
        flipped |= _believed(ctx, x, y, given_m, sx * x, sy * y, tolerance)
    return np.where(swapped, "coordinates_swapped",
                    np.where(flipped, "coordinates_sign_flipped", "outside_areas"))


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
        distance = distance_to_areas(ctx, x, y)
        far = distance > tolerance
        if far.any():
            given = pd.Series(distance[far], index=idx[far])
            reasons = pd.Series(_classify_far(ctx, x[far], y[far], distance[far], tolerance),
                                index=idx[far])
            for code, text in (
                ("coordinates_swapped",
                 "far outside the areas, and inside them with latitude and longitude swapped"),
                ("coordinates_sign_flipped",
                 "far outside the areas, and inside them with a coordinate's sign flipped"),
            ):
                mask = pd.Series(False, index=frame.index)
                mask[reasons.index[reasons == code]] = True
                q.reject(mask, code, "longitude",
                         lambda rows, text=text: given[rows].map(
                             lambda m: f"{m / 1000:,.1f} km outside every area; ") + text)
            mask = pd.Series(False, index=frame.index)
            mask[reasons.index[reasons == "outside_areas"]] = True
            q.reject(mask, "outside_areas", "longitude",
                     lambda rows: given[rows].map(
                         lambda m: f"{m / 1000:,.1f} km outside every area of the mission "
                                   f"(tolerance {tolerance:,.0f} m)"))
            ctx.outside_m.extend(float(m) for m in given[reasons == "outside_areas"])
    return lon, lat


def near_miss_note(distances_m: list[float], tolerance_m: float) -> str | None:
    """Return a note on points just outside the areas, with a tolerance that would take them.

    Parameters
    ----------
    distances_m : list of float
        Distances of the points quarantined as ``outside_areas``.
    tolerance_m : float
        The mission's ``ingest.outside_tolerance_m``.

    Returns
    -------
    str or None
        None when fewer than :data:`NEAR_MISSES_NOTED` points lie within
        :data:`NEAR_FACTOR` tolerances of an area.
    """
    reach = max(NEAR_FACTOR * tolerance_m, 10_000.0)
    near = np.sort([d for d in distances_m if d <= reach])
    if len(near) < NEAR_MISSES_NOTED:
        return None
    suggest = float(np.ceil(np.quantile(near, 0.9) / 1_000.0) * 1_000.0)
    taken = int((near <= suggest).sum())
    return (
        f"{len(near)} point(s) lie just outside the areas ({near[0] / 1000:,.1f} to "
        f"{near[-1] / 1000:,.1f} km; median {np.median(near) / 1000:,.1f} km), as coastal or "
        "border points do against a coarse outline. ingest.outside_tolerance_m: "
        f"{suggest:.0f} in the mission YAML would accept {taken} of them: look at a few on a "
        "map first, or use finer outlines"
    )


def assign_areas(incidents: pd.DataFrame, ctx: IngestContext, alive: pd.Series) -> pd.Series:
    """Area of each point-located incident: the containing area, else the nearest within tolerance.

    Rows located only at admin1 or country precision get no area from their point: a
    province or country centroid says nothing about which area the incident was in.
    """
    area_id = incidents["area_id"].where(incidents["area_id"] != "")
    pointable = area_id.isna() & incidents["location_precision"].isin(
        ["exact", "settlement", "admin2"]
    ) & alive
    prepared = area_distances(ctx)
    if prepared is None or not pointable.any():
        return area_id
    points = incidents.loc[pointable]
    nearest = prepared.nearest(points["longitude"].to_numpy(), points["latitude"].to_numpy(),
                               ctx.config.ingest.outside_tolerance_m)
    area_id.loc[points.index] = nearest.to_numpy()
    return area_id
