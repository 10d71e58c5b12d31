"""The working projection: where distances and areas are computed, chosen from the data's extent.

One owner for one fact: every distance in metres and every surface in km² of a mission is
computed in the CRS this module chooses, or geodesically by it. The rule (docs/architecture.md,
"The working projection"):

1. A ``crs:`` in the mission configuration is used as given; its largest scale error over the
   mission's areas is measured and reported, never silently accepted.
2. Otherwise the UTM zone of the centre of the areas' extent, when its scale error over every
   vertex of the areas is at most :data:`MAX_SCALE_ERROR` (an extent of a zone or a few).
3. Otherwise an azimuthal equidistant projection centred on the extent (distances from its
   centre are exact; across it the error grows as ``c / sin c - 1`` at angular distance ``c``),
   when its scale error is at most :data:`MAX_SCALE_ERROR` (a region up to about 20 degrees
   across).
4. Otherwise (a continent, several continents, the world) no single plane keeps distances: each
   area gets its own local projection (its UTM zone, or an azimuthal equidistant one centred on
   it for an area too large for a zone), and areas that share one are one *frame*. Coverage runs
   frame by frame; point-to-area distances are measured in a projection centred on each point;
   surfaces are geodesic (:func:`area_km2`). The mission's single ``crs`` is then an equal-area
   world projection (:data:`WORLD_CRS`) for the few steps that take one plane; its distances are
   not used where the frames are.

The extent is taken on the circle of longitudes: a mission whose areas lie on both sides of the
antimeridian (Fiji, Chukotka, a Pacific mission) has an extent across it, not around the world.
Projected polygons are repaired (:func:`project_geometries`): a polygon valid in degrees can
self-intersect once projected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pyproj
import shapely

__all__ = [
    "MAX_SCALE_ERROR",
    "WORLD_CRS",
    "Extent",
    "WorkingFrame",
    "WorkingProjection",
    "area_km2",
    "choose_working_projection",
    "geographic_extent",
    "geodesic_distance_m",
    "project_geometries",
    "scale_error",
    "to_degrees",
    "total_area_km2",
]

WGS84 = "EPSG:4326"

#: Largest relative scale error of a working projection anywhere in the mission's areas: at
#: 0.5 %, a 30 km radius is right to 150 m and a 5 km tolerance to 25 m.
MAX_SCALE_ERROR = 0.005

#: The one plane of a mission that needs several frames (NSIDC EASE-Grid 2.0 global, equal area,
#: finite everywhere). Distances in it are wrong away from 30 degrees of latitude.
WORLD_CRS = "EPSG:6933"

#: At most this many vertices are read to measure a projection's scale error (every n-th vertex
#: and every vertex of each part's convex hull, where the error is largest).
_SAMPLE = 20_000

_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class Extent:
    """Longitudes and latitudes the data span, longitudes taken on the circle.

    Attributes
    ----------
    west, east : float
        The arc of longitudes, from ``west`` eastwards to ``east``; ``west > east`` when the arc
        crosses the antimeridian.
    south, north : float
        Latitudes.
    """

    west: float
    east: float
    south: float
    north: float

    @property
    def crosses_antimeridian(self) -> bool:
        """Whether the arc of longitudes crosses 180 degrees."""
        return self.west > self.east

    @property
    def lon_span(self) -> float:
        """Degrees of longitude from ``west`` eastwards to ``east``."""
        return (self.east - self.west) % 360.0 or (360.0 if self.east != self.west else 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        """The middle of the arc of longitudes and of the latitudes, in (-180, 180]."""
        lon = self.west + self.lon_span / 2.0
        return (_wrap(lon), (self.south + self.north) / 2.0)


@dataclass(frozen=True)
class WorkingFrame:
    """One local projection and the areas computed in it.

    Attributes
    ----------
    crs : str
        The projected CRS (an EPSG code or a PROJ string).
    kind : str
        ``configured``, ``utm``, ``aeqd`` (azimuthal equidistant centred on the areas) or
        ``world`` (:data:`WORLD_CRS`).
    scale_error : float
        Largest relative scale error over the frame's areas' vertices (0.004 = 0.4 %).
    area_ids : tuple of str
        The areas of the frame; empty when the frame holds every area of the mission.
    """

    crs: str
    kind: str
    scale_error: float
    area_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkingProjection:
    """Where a mission's distances and areas are computed.

    Attributes
    ----------
    crs : str
        The single projected CRS of the mission (``mission.projected_crs``): the one frame's when
        there is one, else :data:`WORLD_CRS`.
    kind : str
        The kind of the single frame, or ``frames`` when each area has its own.
    extent : Extent
        The areas' extent.
    frames : tuple of WorkingFrame
        One frame holding every area, or one per local projection.
    """

    crs: str
    kind: str
    extent: Extent
    frames: tuple[WorkingFrame, ...] = field(default=())

    @property
    def single(self) -> bool:
        """Whether one plane holds every distance of the mission."""
        return len(self.frames) == 1

    @property
    def scale_error(self) -> float:
        """Largest scale error of any frame over its areas."""
        return max(f.scale_error for f in self.frames)

    def describe(self) -> str:
        """Return one sentence for the validation report."""
        error = f"{self.scale_error:.2%}"
        if self.single:
            frame = self.frames[0]
            name = {"configured": "the configured CRS", "utm": "the UTM zone",
                    "aeqd": "an azimuthal equidistant projection centred on the areas"}[frame.kind]
            text = (f"distances and areas are computed in {name} {frame.crs}; largest scale "
                    f"error over the areas {error}")
            if frame.scale_error > MAX_SCALE_ERROR:
                text += (f", more than the {MAX_SCALE_ERROR:.1%} a local projection keeps: "
                         "remove `crs:` from the mission YAML to let the areas' extent choose")
            return text
        kinds = {f.kind for f in self.frames}
        return (
            f"the areas span {self.extent.lon_span:.0f} degrees of longitude and "
            f"{self.extent.north - self.extent.south:.0f} of latitude, too wide for one "
            f"projection: distances are computed in {len(self.frames)} local projections "
            f"({', '.join(sorted(kinds))}), one per group of areas, and surfaces geodesically; "
            f"largest scale error {error}"
            + (" (in the largest areas, which no local projection holds)"
               if self.scale_error > MAX_SCALE_ERROR else "")
        )


def _wrap(lon: float | np.ndarray) -> float | np.ndarray:
    """Return longitudes in [-180, 180)."""
    return (np.asarray(lon) + 180.0) % 360.0 - 180.0 if np.ndim(lon) else (
        (float(lon) + 180.0) % 360.0 - 180.0)


def _parts(geometries: Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    geoms = np.asarray(geometries, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    return shapely.get_parts(geoms) if len(geoms) else geoms


def geographic_extent(geometries: Sequence[shapely.Geometry] | np.ndarray) -> Extent:
    """Return the extent of EPSG:4326 geometries, longitudes as the shortest arc that holds them.

    Each part (a polygon of a multipolygon) is an interval of longitudes; the arc is the circle
    less the widest gap between intervals, so parts at 179 and -179 degrees make an arc of 2
    degrees across the antimeridian, not one of 358.

    Parameters
    ----------
    geometries : sequence of shapely geometries
        In EPSG:4326 (longitude, latitude).

    Returns
    -------
    Extent
        The arc of longitudes and the latitudes.

    Raises
    ------
    ValueError
        When no geometry is given.
    """
    parts = _parts(geometries)
    if not len(parts):
        raise ValueError("no geometry to take an extent from")
    bounds = shapely.bounds(parts)
    order = np.argsort(bounds[:, 0])
    starts, ends = bounds[order, 0], bounds[order, 2]
    merged: list[list[float]] = []
    for start, end in zip(starts, ends, strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([float(start), float(end)])
    south, north = float(bounds[:, 1].min()), float(bounds[:, 3].max())
    # The gap after each merged interval, the last one wrapping round to the first.
    gaps = [merged[(i + 1) % len(merged)][0] - merged[i][1] for i in range(len(merged))]
    gaps[-1] += 360.0
    # Parts that end at 180 and start at -180 touch across the antimeridian: no gap there.
    widest = int(np.argmax(gaps))
    if gaps[widest] <= 0.0:
        return Extent(-180.0, 180.0, south, north)
    west = merged[(widest + 1) % len(merged)][0]
    east = merged[widest][1]
    return Extent(float(west), float(east), south, north)


def _sample(geometries: Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    """Return (lon, lat) vertices where a projection's error is largest, at most about _SAMPLE."""
    parts = _parts(geometries)
    if not len(parts):
        return np.empty((0, 2))
    coords = shapely.get_coordinates(parts)
    hull = shapely.get_coordinates(shapely.convex_hull(parts))
    step = max(1, len(coords) // _SAMPLE)
    return np.vstack([coords[::step], hull])


def scale_error(crs: str | pyproj.CRS, lon: np.ndarray, lat: np.ndarray) -> float:
    """Return a projection's largest relative scale error at the given points.

    The error at a point is how far the longest and shortest axes of Tissot's indicatrix are
    from 1 (a 30 km distance measured as 30.3 km is 1 %). A point the projection cannot hold
    (infinite or undefined) gives an infinite error.

    Parameters
    ----------
    crs : str or pyproj.CRS
        A projected CRS.
    lon, lat : numpy.ndarray
        Points in degrees.

    Returns
    -------
    float
        The largest error (``inf`` when the projection fails at a point).
    """
    if not len(lon):
        return 0.0
    proj = pyproj.Proj(pyproj.CRS.from_user_input(crs))
    with np.errstate(invalid="ignore"):
        factors = proj.get_factors(np.asarray(lon, float), np.asarray(lat, float), errcheck=False)
    major = np.asarray(factors.tissot_semimajor, dtype=float)
    minor = np.asarray(factors.tissot_semiminor, dtype=float)
    if not (np.isfinite(major).all() and np.isfinite(minor).all()):
        return float("inf")
    return float(max(np.abs(major - 1.0).max(), np.abs(1.0 - minor).max()))


def _utm(extent: Extent) -> str:
    lon, lat = extent.centre
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def _aeqd(extent: Extent) -> str:
    lon, lat = extent.centre
    return (f"+proj=aeqd +lat_0={lat:.6f} +lon_0={lon:.6f} +x_0=0 +y_0=0 +datum=WGS84 "
            "+units=m +no_defs +type=crs")


def _local_frame(geometries: np.ndarray) -> WorkingFrame:
    """Return the best local projection of some areas: their UTM zone, else one centred on them."""
    extent = geographic_extent(geometries)
    points = _sample(geometries)
    best: WorkingFrame | None = None
    for kind, crs in (("utm", _utm(extent)), ("aeqd", _aeqd(extent))):
        error = scale_error(crs, points[:, 0], points[:, 1])
        frame = WorkingFrame(crs, kind, error)
        if error <= MAX_SCALE_ERROR:
            return frame
        if best is None or error < best.scale_error:
            best = frame
    assert best is not None
    return best


def choose_working_projection(
    areas: gpd.GeoDataFrame, configured: str | None = None
) -> WorkingProjection:
    """Choose where a mission's distances and areas are computed, from its areas' extent.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        The mission's accepted areas, EPSG:4326, with ``area_id``.
    configured : str, optional
        The mission configuration's ``crs``: used as given, its error measured.

    Returns
    -------
    WorkingProjection
        One frame (configured, UTM or azimuthal equidistant) when one local projection keeps the
        scale error at most :data:`MAX_SCALE_ERROR` over every area (or when one is
        configured); else one frame per group of areas sharing a local projection.
    """
    geoms = areas.to_crs(WGS84).geometry.to_numpy() if areas.crs else areas.geometry.to_numpy()
    extent = geographic_extent(geoms)
    points = _sample(geoms)
    if configured:
        error = scale_error(configured, points[:, 0], points[:, 1])
        frame = WorkingFrame(str(configured), "configured", error)
        return WorkingProjection(frame.crs, frame.kind, extent, (frame,))
    whole = _local_frame(geoms)
    if whole.scale_error <= MAX_SCALE_ERROR:
        return WorkingProjection(whole.crs, whole.kind, extent, (whole,))
    groups: dict[str, list[int]] = {}
    chosen: dict[str, WorkingFrame] = {}
    for i, geom in enumerate(geoms):
        frame = _local_frame(np.array([geom], dtype=object))
        groups.setdefault(frame.crs, []).append(i)
        previous = chosen.get(frame.crs)
        if previous is None or frame.scale_error > previous.scale_error:
            chosen[frame.crs] = frame
    if len(groups) == 1:
        return WorkingProjection(whole.crs, whole.kind, extent, (whole,))
    ids = areas["area_id"].astype(str).to_numpy()
    frames = tuple(
        WorkingFrame(crs, chosen[crs].kind, chosen[crs].scale_error,
                     tuple(ids[i] for i in rows))
        for crs, rows in groups.items()
    )
    return WorkingProjection(WORLD_CRS, "frames", extent, frames)


def project_geometries(
    geometries: gpd.GeoSeries, crs: str | pyproj.CRS
) -> gpd.GeoSeries:
    """Return geometries in ``crs``, polygons repaired where projecting made them invalid.

    A polygon valid in degrees can self-intersect in a projection (two vertices a few metres
    apart that the projection's rounding crosses; an outline near the edge of the projection's
    domain). ``shapely.make_valid`` repairs them, and only the polygonal parts of a repaired
    polygon are kept (a repair can leave a stray line or point, which has no surface).

    Parameters
    ----------
    geometries : geopandas.GeoSeries
        With a CRS.
    crs : str or pyproj.CRS
        The target CRS.

    Returns
    -------
    geopandas.GeoSeries
        Projected, every geometry valid.
    """
    projected = geometries.to_crs(crs)
    values = projected.to_numpy()
    invalid = ~shapely.is_valid(values) & ~shapely.is_missing(values)
    if invalid.any():
        values = values.copy()
        polygonal = np.isin(shapely.get_type_id(values[invalid]), (3, 6))
        repaired = shapely.make_valid(values[invalid])
        values[invalid] = [_polygonal(g) if keep else g
                           for g, keep in zip(repaired, polygonal, strict=True)]
        projected = gpd.GeoSeries(values, index=projected.index, crs=projected.crs)
    return projected


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Return the polygons of a repaired geometry (a polygon, a multipolygon or a collection)."""
    if shapely.get_type_id(geometry) in (3, 6):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def to_degrees(geometries: gpd.GeoSeries) -> gpd.GeoSeries:
    """Return projected geometries in EPSG:4326, cut at the antimeridian where they cross it.

    A circle around a base at 179.9 degrees east, projected back to degrees, has vertices at
    179.8 and -179.9: drawn as they are, they make a polygon round the whole world. Such a
    geometry (one whose consecutive vertices jump by more than 180 degrees of longitude) is
    shifted to 0..360 degrees, cut at 180, and its eastern part moved back by 360 degrees: two
    parts that meet at the antimeridian, as GeoJSON (RFC 7946) asks.

    Parameters
    ----------
    geometries : geopandas.GeoSeries
        Geometries with a CRS.

    Returns
    -------
    geopandas.GeoSeries
        In EPSG:4326, valid.
    """
    degrees = geometries.to_crs(WGS84)
    values = degrees.to_numpy().copy()
    for i, geom in enumerate(values):
        if geom is None or geom.is_empty or not _crosses_antimeridian(geom):
            continue
        values[i] = _cut_at_antimeridian(geom)
    return gpd.GeoSeries(values, index=degrees.index, crs=WGS84)


def _crosses_antimeridian(geom: shapely.Geometry) -> bool:
    for part in shapely.get_parts(geom):
        rings = [part.exterior, *part.interiors] if part.geom_type == "Polygon" else [part]
        for ring in rings:
            lon = shapely.get_coordinates(ring)[:, 0]
            if len(lon) > 1 and np.abs(np.diff(lon)).max() > 180.0:
                return True
    return False


def _cut_at_antimeridian(geom: shapely.Geometry) -> shapely.Geometry:
    def east_of_zero(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0]), xy[:, 1]])

    shifted = shapely.make_valid(shapely.transform(geom, east_of_zero))
    west = shapely.intersection(shifted, shapely.box(0.0, -90.0, 180.0, 90.0))
    east = shapely.intersection(shifted, shapely.box(180.0, -90.0, 360.0, 90.0))
    east = shapely.transform(east, lambda xy: np.column_stack([xy[:, 0] - 360.0, xy[:, 1]]))
    return shapely.make_valid(shapely.union_all([west, east]))


def area_km2(geometries: gpd.GeoSeries) -> np.ndarray:
    """Return the geodesic surface of each polygon in km², on the WGS84 ellipsoid.

    Geodesic (Karney's algorithm through ``pyproj.Geod``) at any extent: a district and a
    continent alike, no projection chosen. Edges are taken as geodesics between vertices.

    Parameters
    ----------
    geometries : geopandas.GeoSeries
        Polygons with a CRS.

    Returns
    -------
    numpy.ndarray
        km² per geometry (0 for a missing or empty one).
    """
    degrees = geometries.to_crs(WGS84) if geometries.crs else geometries
    out = np.zeros(len(degrees))
    for i, geom in enumerate(degrees.to_numpy()):
        if geom is None or geom.is_empty:
            continue
        area, _ = _GEOD.geometry_area_perimeter(shapely.make_valid(geom))
        out[i] = abs(area) / 1e6
    return out


def total_area_km2(geometries: gpd.GeoSeries) -> float:
    """Return the geodesic surface of the union of polygons in km² (overlaps counted once)."""
    degrees = geometries.to_crs(WGS84) if geometries.crs else geometries
    union = shapely.union_all(shapely.make_valid(degrees.to_numpy()))
    return float(area_km2(gpd.GeoSeries([union], crs=WGS84))[0])


def geodesic_distance_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Return geodesic distances in metres between point pairs on the WGS84 ellipsoid."""
    _, _, dist = _GEOD.inv(np.asarray(lon1, float), np.asarray(lat1, float),
                           np.asarray(lon2, float), np.asarray(lat2, float))
    return np.asarray(dist, dtype=float)
