"""The coverage map as a small static SVG, for the printable brief; no computation.

Drawn from the very layers of the shared interactive map
(:func:`protection_eval.sharing.forms.to_coverage_map_layers`, already aggregated and suppressed)
and checked the same way (:func:`protection_eval.sharing.maps.check_shared_layers`): areas,
patrol footprint, reported incidents per shared unit (a hexagon count from 1 to k-1 is refused)
and the numbered gaps. The drawing holds no words, so that it reads the same in every language:
the brief writes its legend beside it. Coordinates are screen units (whole numbers in a
1000-wide box), never longitude and latitude, and only polygon vertices of hexagons, footprint
cells and areas are drawn.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.sharing.maps import (
    AREA_COLOUR,
    FOOTPRINT_COLOUR,
    GAP_COLOUR,
    check_shared_layers,
    count_classes,
)

__all__ = ["SVG_WIDTH", "to_svg_map"]

#: Width of the drawing in screen units; the height follows the mission's shape.
SVG_WIDTH = 1000
_MAX_HEIGHT = 900
_MARGIN = 12


class _Projection:
    """Longitude and latitude to screen units: equirectangular at the mission's mid-latitude."""

    def __init__(self, bounds: Sequence[float]) -> None:
        west, south, east, north = bounds
        self.stretch = math.cos(math.radians((south + north) / 2)) or 1e-6
        span_x = max((east - west) * self.stretch, 1e-9)
        span_y = max(north - south, 1e-9)
        usable = SVG_WIDTH - 2 * _MARGIN
        self.scale = min(usable / span_x, (_MAX_HEIGHT - 2 * _MARGIN) / span_y)
        self.west, self.north = west, north
        self.height = int(math.ceil(span_y * self.scale + 2 * _MARGIN))
        self.offset_x = (SVG_WIDTH - span_x * self.scale) / 2

    def points(self, coords: np.ndarray) -> np.ndarray:
        x = self.offset_x + (coords[:, 0] - self.west) * self.stretch * self.scale
        y = _MARGIN + (self.north - coords[:, 1]) * self.scale
        return np.rint(np.column_stack([x, y])).astype(np.int64)


def _rings(geometry: shapely.Geometry) -> Iterable[np.ndarray]:
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.is_empty or polygon.geom_type != "Polygon":
            continue
        yield np.asarray(polygon.exterior.coords)
        for interior in polygon.interiors:
            yield np.asarray(interior.coords)


def _path(geometry: shapely.Geometry, projection: _Projection) -> str:
    parts = []
    for ring in _rings(geometry):
        xy = projection.points(ring[:, :2])
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
        xy = xy[keep]
        if len(xy) < 3:
            continue
        parts.append("M" + " L".join(f"{x} {y}" for x, y in xy) + " Z")
    return " ".join(parts)


def _shape(d: str, style: str) -> str:
    return f'<path d="{d}" {style}/>' if d else ""


def to_svg_map(
    areas: gpd.GeoDataFrame,
    hexagons: gpd.GeoDataFrame,
    footprint: gpd.GeoDataFrame | None,
    gaps: gpd.GeoDataFrame | None,
    *,
    k: int,
    title: str = "",
) -> str:
    """Draw the shared coverage layers as one inline SVG element.

    Parameters
    ----------
    areas, hexagons, footprint, gaps : geopandas.GeoDataFrame
        The layers of :func:`protection_eval.sharing.forms.to_coverage_map_layers`.
    k : int
        Suppression threshold: a hexagon count from 1 to k-1 is refused, as on the shared map.
    title : str
        Accessible name of the drawing (``aria-label``), in the brief's language.

    Returns
    -------
    str
        ``<svg ...>...</svg>`` with ``data-resolutions`` (the H3 resolutions of the drawn units,
        finest first) for the legend; no text but the gap numbers.
    """
    areas, hexagons, footprint, gaps = check_shared_layers(areas, hexagons, footprint, gaps, k)
    frames = [f for f in (areas, hexagons, footprint, gaps) if f is not None and len(f)]
    if not frames:
        return ""
    # The view is the mission's areas: a coarse unit reaching far beyond them is cut at the
    # frame rather than shrinking the mission to a corner of the page.
    bounds = np.array([f.total_bounds for f in ([areas] if len(areas) else frames)])
    projection = _Projection(
        (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
    )
    classes = count_classes(k)
    body = []
    for geom in areas.geometry:
        body.append(_shape(_path(geom, projection), 'fill="#f4f4f4" stroke="none"'))
    for geom, count in zip(hexagons.geometry, hexagons["incidents"], strict=True):
        if pd.isna(count) or count < k:
            continue
        colour = next(c for low, high, c in classes if count >= low and (high is None
                                                                         or count <= high))
        body.append(_shape(_path(geom, projection),
                           f'fill="{colour}" fill-opacity="0.85" stroke="#ffffff" '
                           'stroke-width="0.6"'))
    if footprint is not None:
        for geom in footprint.geometry:
            body.append(_shape(_path(geom, projection),
                               f'fill="{FOOTPRINT_COLOUR}" fill-opacity="0.22" '
                               f'stroke="{FOOTPRINT_COLOUR}" stroke-width="0.8"'))
    for geom in areas.geometry:
        body.append(_shape(_path(geom, projection),
                           f'fill="none" stroke="{AREA_COLOUR}" stroke-width="1.2"'))
    if gaps is not None:
        for geom, rank in zip(gaps.geometry, gaps["gap_rank"], strict=True):
            body.append(_shape(_path(geom, projection),
                               f'fill="none" stroke="{GAP_COLOUR}" stroke-width="3" '
                               'stroke-dasharray="7 4"'))
            x, y = projection.points(np.asarray(geom.centroid.coords))[0]
            body.append(f'<text x="{x}" y="{y}" font-size="22" font-weight="bold" '
                        f'fill="{GAP_COLOUR}" stroke="#ffffff" stroke-width="4" '
                        'paint-order="stroke" text-anchor="middle" dominant-baseline="central"'
                        f'>{int(rank)}</text>')
    resolutions = sorted({int(r) for r in hexagons.get("resolution", pd.Series(dtype=int))
                          .dropna()}, reverse=True)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="pe-map" role="img" overflow="hidden" '
            f'aria-label="{html.escape(title)}" viewBox="0 0 {SVG_WIDTH} {projection.height}" '
            f'data-resolutions="{" ".join(map(str, resolutions))}">'
            + "".join(body) + "</svg>")
