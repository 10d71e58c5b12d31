"""The coverage map as a small static SVG, for the printable brief; no computation.

Drawn from the very layers of the shared interactive map
(:func:`protection_eval.sharing.forms.to_coverage_map_layers`, already aggregated and suppressed)
and checked the same way (:func:`protection_eval.sharing.maps.check_shared_layers`): areas,
patrol footprint, reported incidents per shared unit (a hexagon count from 1 to k-1 is refused)
and the numbered gaps. With the mission's context layers
(:mod:`protection_eval.sharing.context`), it also draws main roads and rivers as lines and the
main places as dots with their names: a white halo under black and grey so that they read when
printed in black and white. Apart from those names (data, as the mission's file spells them)
the drawing holds no words, so that it reads the same in every language: the brief writes its
legend beside it (``data-context`` says which kinds of context it drew). Coordinates are screen
units (whole numbers in a 1000-wide box), never longitude and latitude, and only polygon
vertices of hexagons, footprint cells and areas, and vertices of the context lines, are drawn.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.sharing.context import MAIN_ROAD_RANK, ContextLayer
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
#: Place names printed at most, the most important first.
_MAX_PLACE_LABELS = 20
_PLACE_FONT = 26
# Context lines: (stroke, width) under a white casing, dark enough for a grey printer.
_LINE_STYLES = {"roads": ("#4d4d4d", 4.5), "rivers": ("#3b82c4", 3.5)}


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


def _line_path(geometry: shapely.Geometry, projection: _Projection) -> str:
    parts = []
    for line in getattr(geometry, "geoms", [geometry]):
        if line.is_empty or line.geom_type not in ("LineString", "LinearRing"):
            continue
        xy = projection.points(np.asarray(line.coords)[:, :2])
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
        xy = xy[keep]
        if len(xy) >= 2:
            parts.append("M" + " L".join(f"{x} {y}" for x, y in xy))
    return " ".join(parts)


def _context_lines(layers: Sequence[ContextLayer], projection: _Projection) -> tuple[list, set]:
    """Draw main roads and rivers as lines with a white casing; return elements and kinds."""
    body, kinds = [], set()
    for layer in layers:
        if layer.kind not in _LINE_STYLES:
            continue
        limit = MAIN_ROAD_RANK if layer.kind == "roads" else 0
        frame = layer.frame[layer.frame["rank"] <= max(limit, int(layer.frame["rank"].min())
                                                       if len(layer.frame) else 0)]
        d = " ".join(p for p in (_line_path(g, projection) for g in frame.geometry) if p)
        if not d:
            continue
        colour, width = _LINE_STYLES[layer.kind]
        body.append(_shape(d, f'fill="none" stroke="#ffffff" stroke-width="{width + 3:g}" '
                              'stroke-linecap="round" stroke-linejoin="round"'))
        body.append(_shape(d, f'fill="none" stroke="{colour}" stroke-width="{width:g}" '
                              'stroke-linecap="round" stroke-linejoin="round"'))
        kinds.add(layer.kind)
    return body, kinds


def _context_places(layers: Sequence[ContextLayer], projection: _Projection) -> list[str]:
    """Draw the main places as dots with their names, never two labels on top of another."""
    places = [(int(r), str(n), p) for layer in layers if layer.kind == "places"
              for n, r, p in zip(layer.frame["name"], layer.frame["rank"], layer.frame.geometry,
                                 strict=True)]
    places.sort(key=lambda item: item[0])
    body, taken = [], []
    for _, name, point in places:
        x, y = projection.points(np.array([[point.x, point.y]]))[0]
        if not (0 <= x <= SVG_WIDTH and 0 <= y <= projection.height):
            continue
        width = 0.62 * _PLACE_FONT * len(name) + 12
        box = (x - 8, y - _PLACE_FONT, x + width + 6, y + _PLACE_FONT / 2 + 4)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
               for b in taken):
            continue
        taken.append(box)
        body.append(f'<circle cx="{x}" cy="{y}" r="6.5" fill="#000000" stroke="#ffffff" '
                    'stroke-width="2"/>')
        body.append(f'<text x="{x + 11}" y="{y}" font-size="{_PLACE_FONT}" font-weight="bold" '
                    'fill="#000000" stroke="#ffffff" stroke-width="6" paint-order="stroke" '
                    f'dominant-baseline="middle">{html.escape(name)}</text>')
        if len(taken) == _MAX_PLACE_LABELS:
            break
    return body


def to_svg_map(
    areas: gpd.GeoDataFrame,
    hexagons: gpd.GeoDataFrame,
    footprint: gpd.GeoDataFrame | None,
    gaps: gpd.GeoDataFrame | None,
    *,
    k: int,
    title: str = "",
    context: Sequence[ContextLayer] = (),
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
    context : sequence of ContextLayer
        The mission's context layers, prepared for its extent
        (:func:`protection_eval.sharing.context.prepare_context_layers`): main roads
        (motorway to secondary, or every road of a layer that does not say) and the main
        rivers are drawn over the counts, and up to 20 places, the most important first, as
        dots with their names on top.

    Returns
    -------
    str
        ``<svg ...>...</svg>`` with ``data-resolutions`` (the H3 resolutions of the drawn units,
        finest first) and ``data-context`` (the kinds of context drawn: ``places``, ``roads``,
        ``rivers``) for the legend; no text but the gap numbers and place names.
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
    lines, kinds = _context_lines(context, projection)
    body += lines
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
    places = _context_places(context, projection)
    body += places
    if places:
        kinds.add("places")
    resolutions = sorted({int(r) for r in hexagons.get("resolution", pd.Series(dtype=int))
                          .dropna()}, reverse=True)
    drawn = " ".join(k for k in ("places", "roads", "rivers") if k in kinds)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="pe-map" role="img" overflow="hidden" '
            f'aria-label="{html.escape(title)}" viewBox="0 0 {SVG_WIDTH} {projection.height}" '
            f'data-resolutions="{" ".join(map(str, resolutions))}" data-context="{drawn}">'
            + "".join(body) + "</svg>")
