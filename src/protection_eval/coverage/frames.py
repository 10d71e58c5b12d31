"""Coverage of a mission too wide for one plane: frame by frame, then put together.

When a mission's areas span more than one local projection keeps (a continent, the world:
:func:`protection_eval.projection.choose_working_projection` returns several frames), coverage
is computed in each frame's own projection: the frame's areas, the incidents in them, and the
presence (bases, patrol routes, GPS tracks of whole patrols) within the radius of them, since a
base across a border still reaches an incident on this side. The per-incident rows and the area
measures of the frames are disjoint and are put together as they are; the gaps and the summary
are computed again on the whole mission; presence pieces and footprints are returned in
EPSG:4326 (each frame's projected coordinates mean nothing in another's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from protection_eval.coverage.presence import PresencePieces
from protection_eval.ingest.table_models import to_incident_points
from protection_eval.projection import (
    WorkingFrame,
    WorkingProjection,
    geographic_extent,
    project_geometries,
    to_degrees,
)

if TYPE_CHECKING:
    from protection_eval.ingest.tables import MissionData

__all__ = ["merge_footprints", "merge_presence", "split_by_frame", "split_by_zone"]

WGS84 = "EPSG:4326"

#: Presence is taken into a frame when it lies within the radius of the frame's areas, plus
#: this share of it for the frames' scale errors.
_HALO_SLACK = 1.05


def _halo(mission: MissionData, frame: WorkingFrame, reach_m: float
          ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Return a test: which (lon, lat) points lie within ``reach_m`` of the frame's areas."""
    areas = mission.areas[mission.areas["area_id"].astype(str).isin(frame.area_ids)]
    union = shapely.union_all(project_geometries(areas.geometry, frame.crs).to_numpy())
    shapely.prepare(union)
    to_frame = pyproj.Transformer.from_crs(WGS84, frame.crs, always_xy=True)

    def near(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        if not len(lon):
            return np.zeros(0, dtype=bool)
        with np.errstate(invalid="ignore"):
            x, y = to_frame.transform(np.asarray(lon, float), np.asarray(lat, float),
                                      errcheck=False)
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        out = np.zeros(len(x), dtype=bool)
        out[ok] = shapely.dwithin(union, shapely.points(x[ok], y[ok]), reach_m)
        return out

    return near


def _frame_of_points(mission: MissionData, incidents: pd.DataFrame) -> np.ndarray:
    """Return the frame of each incident: its area's, else the nearest area's, else the first."""
    frame_of_area = {area: i for i, f in enumerate(mission.projection.frames)
                     for area in f.area_ids}
    frame = incidents["area_id"].astype(object).map(frame_of_area)
    geometry = to_incident_points(incidents).geometry
    loose = frame.isna().to_numpy() & geometry.notna().to_numpy()
    if loose.any():
        tree = shapely.STRtree(mission.areas.geometry.to_numpy())
        points = geometry.to_numpy()[loose]
        pos = tree.query_nearest(points, all_matches=False)
        ids = mission.areas["area_id"].astype(str).to_numpy()[pos[1]]
        values = frame.to_numpy(dtype=object)
        values[np.flatnonzero(loose)[pos[0]]] = [frame_of_area[i] for i in ids]
        frame = pd.Series(values, index=incidents.index)
    return frame.fillna(0).to_numpy(dtype=int)


def _points_near(table: gpd.GeoDataFrame | None, near: Callable) -> gpd.GeoDataFrame | None:
    if table is None:
        return None
    geoms = table.geometry.to_numpy()
    keep = np.zeros(len(table), dtype=bool)
    placed = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if placed.any():
        # Every vertex of a route: a route passing by is present, wherever it starts.
        coords, owner = shapely.get_coordinates(geoms[placed], return_index=True)
        hit = near(coords[:, 0], coords[:, 1])
        keep[np.flatnonzero(placed)[np.unique(owner[hit])]] = True
    return table[keep]


def split_by_frame(mission: MissionData, radius_m: float) -> list[MissionData]:
    """Return one mission per frame of a mission's working projection.

    Parameters
    ----------
    mission : MissionData
        A mission whose :attr:`~protection_eval.ingest.tables.MissionData.projection` has
        several frames.
    radius_m : float
        The coverage radius: presence within it of a frame's areas belongs to the frame.

    Returns
    -------
    list of MissionData
        Per frame: its areas, the incidents placed in them, the bases, patrols and GPS fixes of
        whole patrols within reach, and ``projected_crs`` the frame's CRS. Together the
        missions hold every area and every incident once; presence near a frame's edge is in
        every frame it reaches.
    """
    projection = mission.projection
    frame_of_incident = _frame_of_points(mission, mission.incidents)
    reach = radius_m * _HALO_SLACK + mission.config.ingest.outside_tolerance_m
    parts = []
    for i, frame in enumerate(projection.frames):
        near = _halo(mission, frame, reach)
        areas = mission.areas[mission.areas["area_id"].astype(str).isin(frame.area_ids)]
        presence = _presence(mission, near)
        part = dataclasses.replace(
            mission, areas=areas, incidents=mission.incidents[frame_of_incident == i],
            projected_crs=frame.crs, **presence,
        )
        part.__dict__["_projection"] = WorkingProjection(
            frame.crs, frame.kind, geographic_extent(areas.geometry.to_numpy()), (frame,))
        parts.append(part)
    return parts


def _zone_crs(lon: float) -> str:
    return f"EPSG:{32600 + int((lon + 180.0) // 6.0) % 60 + 1}"


def _presence_near_points(mission: MissionData, crs: str, points: np.ndarray, reach_m: float
                          ) -> dict[str, Any]:
    """Return the bases, patrols and GPS fixes of whole patrols within reach of the points."""
    union = shapely.multipoints(points)
    shapely.prepare(union)
    to_zone = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)

    def near(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        out = np.zeros(len(lon), dtype=bool)
        if not len(lon):
            return out
        with np.errstate(invalid="ignore"):
            x, y = to_zone.transform(np.asarray(lon, float), np.asarray(lat, float),
                                     errcheck=False)
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        out[ok] = shapely.dwithin(union, shapely.points(x[ok], y[ok]), reach_m)
        return out

    return _presence(mission, near)


def _presence(mission: MissionData, near: Callable) -> dict[str, Any]:
    bases = _points_near(mission.bases, near)
    patrols, tracks = mission.patrols, mission.patrol_tracks
    if tracks is not None and len(tracks):
        hit = near(tracks["longitude"].to_numpy(dtype=float, na_value=np.nan),
                   tracks["latitude"].to_numpy(dtype=float, na_value=np.nan))
        ids = pd.unique(tracks["patrol_id"].to_numpy(dtype=object)[hit])
        tracks = tracks[tracks["patrol_id"].isin(ids)]
        patrols = patrols[patrols["patrol_id"].isin(ids)]
    elif patrols.geometry.notna().any():
        patrols = _points_near(patrols, near)
    return {"bases": bases, "patrols": patrols, "patrol_tracks": tracks}


def split_by_zone(mission: MissionData, incidents: pd.DataFrame, radius_m: float
                  ) -> list[tuple[str, MissionData]]:
    """Return, per UTM zone of the incidents' points, the zone's CRS and a mission to cover them.

    Each incident is covered in the UTM zone of its own point, where a distance within the
    radius is right to 0.15 %, whatever the size of its area; presence within reach of the
    zone's incidents comes with it (across a zone edge or the antimeridian too). Incidents
    with no point (placed by area) go with the first zone: they are left out of point coverage.

    Parameters
    ----------
    mission : MissionData
        The mission.
    incidents : pandas.DataFrame
        The incidents to cover (coordinates or points in EPSG:4326), a subset of the
        mission's.
    radius_m : float
        The coverage radius.

    Returns
    -------
    list of (str, MissionData)
        The zone's CRS, and the mission with only the zone's incidents and the presence near
        them, ``projected_crs`` the zone's.
    """
    located = to_incident_points(incidents)
    geoms = located.geometry.to_numpy()
    placed = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    lon = np.where(placed, shapely.get_x(geoms), np.nan)
    zones = np.array([_zone_crs(x) if np.isfinite(x) else "" for x in lon], dtype=object)
    order = sorted({z for z in zones if z}) or [_zone_crs(0.0)]
    zones[zones == ""] = order[0]
    reach = radius_m * _HALO_SLACK
    parts = []
    for crs in order:
        rows = zones == crs
        chosen = incidents[rows]
        points = located.geometry[rows][placed[rows]].to_crs(crs).to_numpy()
        presence = _presence_near_points(mission, crs, points, reach)
        part = dataclasses.replace(mission, incidents=chosen, projected_crs=crs, **presence)
        parts.append((crs, part))
    return parts


def merge_presence(parts: list[PresencePieces | None]) -> PresencePieces | None:
    """Return the presence pieces of several frames in EPSG:4326, each piece once."""
    frames = []
    for pieces in parts:
        if pieces is None or not len(pieces):
            continue
        frame = gpd.GeoDataFrame(
            {"kind": pieces.kind, "unit_id": pieces.unit_id, "start": pieces.start.to_numpy(),
             "end": pieces.end.to_numpy(), "personnel": pieces.personnel,
             "women": pieces.women},
            geometry=pieces.geometries(), crs=pieces.crs,
        )
        frame = frame.set_geometry(to_degrees(frame.geometry))
        frames.append(frame)
    if not frames:
        kept = [p for p in parts if p is not None]
        return kept[0] if kept else None
    merged = pd.concat(frames, ignore_index=True)
    merged = merged[~merged.drop(columns="geometry").assign(
        at=merged.geometry.to_wkb()).duplicated()].reset_index(drop=True)
    return PresencePieces.from_frame(gpd.GeoDataFrame(merged, geometry="geometry", crs=WGS84))


def merge_footprints(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Return the footprints of several frames in EPSG:4326, one surface per period."""
    frames = [p.set_geometry(to_degrees(p.geometry)) for p in parts
              if p is not None and p.crs is not None]
    if not frames:
        return parts[0]
    joined = pd.concat(frames, ignore_index=True)
    periods = pd.DatetimeIndex(sorted(joined["period"].unique()))
    shapes = [shapely.union_all(joined.geometry[joined["period"] == p].to_numpy())
              for p in periods]
    return gpd.GeoDataFrame({"period": periods}, geometry=shapes, crs=WGS84)


def concat_rows(frames: list[pd.DataFrame], **kwargs: Any) -> pd.DataFrame:
    """Return frames put together, empty ones left out (their columns kept)."""
    kept = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(kept, **kwargs)
