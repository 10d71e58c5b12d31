"""The context of a shared map drawn with folium: places, roads, rivers, a basemap's tiles.

:mod:`protection_eval.sharing.context` says what to draw (clipped, simplified, ranked, within a
budget); this module draws it under the map's data, as :mod:`protection_eval.sharing.maps`
builds the map: lines as GeoJSON layers without properties, places as labelled markers at their
literal positions (their names escaped; the audit reads each position), the basemap's raster
tiles as ``data:`` URIs in a Leaflet grid layer, and the legend's rows for them. Every piece of
text reaches the page as a folium value or an :class:`~protection_eval.sharing.inert.InertHtml`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import folium

from protection_eval.sharing import map_text
from protection_eval.sharing.context import (
    CONTEXT_BUDGET_BYTES,
    PLACE_MARKER_BYTES,
    ContextLayer,
    MapContext,
    prepare_context_layers,
    to_feature_collection,
)
from protection_eval.sharing.inert import InertHtml
from protection_eval.sharing.map_text import LegendRow, MapText

__all__ = ["add_context", "json_bytes"]


def json_bytes(data: dict[str, Any]) -> int:
    """Return the bytes of a GeoJSON object as folium embeds it (compact separators)."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


# Line styles of context layers by kind and rank (0 the most important): greys for roads and
# blues for rivers, thinner for lesser ones, so that they read under the data and in grey.
_ROAD_STYLES = ((3.0, "#555555"), (3.0, "#555555"), (2.2, "#666666"), (1.5, "#777777"),
                (1.0, "#999999"))
_RIVER_STYLES = ((2.5, "#3b82c4"), (1.8, "#4f92cf"), (1.2, "#6aa5d8"), (1.0, "#8bbbe3"))
_CONTEXT_SWATCH = {
    "places": "width:8px;height:8px;margin:3px;border-radius:50%;background:#222222",
    "roads": "height:0;border-top:3px solid #555555",
    "rivers": "height:0;border-top:2px solid #3b82c4",
    "other": "border:1.5px solid #777777",
}


def _line_style(kind: str, ranks: Mapping[str, int]) -> Callable[[dict[str, Any]], dict]:
    styles = {"roads": _ROAD_STYLES, "rivers": _RIVER_STYLES}.get(kind, ((1.0, "#777777"),))

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        weight, colour = styles[min(ranks[feature["id"]], len(styles) - 1)]
        return {"color": colour, "weight": weight, "opacity": 0.9, "fill": False}

    return style


def _add_places(group: folium.FeatureGroup, layer: ContextLayer) -> None:
    """One labelled marker per place, written at its literal position (the audit reads it)."""
    for name, rank, point in zip(layer.frame["name"], layer.frame["rank"],
                                 layer.frame.geometry, strict=True):
        label = html.escape(str(name), quote=True)
        folium.Marker(
            [point.y, point.x],
            # Leaflet's own 12-pixel icon box: an iconSize of [0, 0] in the page would read as
            # a coordinate pair at (0, 0) to the audit, where placeholder incidents sit.
            icon=folium.DivIcon(
                html=f'<span class="pe-dot"></span><span class="pe-name">{label}</span>',
                class_name=f"pe-place pe-rank-{min(int(rank), 3)}"),
        ).add_to(group)


def add_context(
    fmap: folium.Map,
    context: MapContext,
    bounds: Sequence[float],
    room: int,
    decimals: int,
    text: MapText,
    summary: list[dict[str, Any]],
) -> tuple[int, list[LegendRow | str]]:
    """Draw the context layers and the basemap under the data, within ``room`` bytes.

    Call it before the data layers are added: Leaflet draws layers in the order they are
    added, so these go under the data.

    Parameters
    ----------
    fmap : folium.Map
        The map.
    context : MapContext
        The mission's context layers and basemap as read.
    bounds : sequence of float
        The mission's extent (the areas' bounds, degrees).
    room : int
        Bytes of the page left for them.
    decimals : int
        Decimal places of coordinates, as the data layers'.
    text : MapText
        The map's language, for the legend's notes and the background's name.
    summary : list of dict
        The map's layer summary, to which a row per layer is added (``left_out`` says what a
        budget dropped and why).

    Returns
    -------
    tuple of (int, list)
        The bytes left, and the legend's rows for the context (swatches, notes).
    """
    layers = prepare_context_layers(context.sources, bounds, decimals=decimals,
                                    budget_bytes=max(0, min(CONTEXT_BUDGET_BYTES, room)))
    legend: list[LegendRow | str] = []
    for layer in layers:
        group = folium.FeatureGroup(name=html.escape(layer.label), show=True)
        if layer.kind == "places":
            _add_places(group, layer)
            size = len(layer.frame) * PLACE_MARKER_BYTES
        elif len(layer.frame):
            data = to_feature_collection(layer)
            ranks = {str(i): int(r) for i, r in enumerate(layer.frame["rank"])}
            folium.GeoJson(data, style_function=_line_style(layer.kind, ranks),
                           control=False).add_to(group)
            size = json_bytes(data)
        else:
            size = 0
        group.add_to(fmap)
        room -= size
        legend.append(LegendRow(_CONTEXT_SWATCH[layer.kind], html.escape(layer.label)))
        summary.append({"layer": layer.label, "features": len(layer.frame), "properties":
                        "name" if layer.kind == "places" else "",
                        "left_out": ", ".join(f"{n} {why}" for why, n in layer.dropped.items())})
    shown = [text.text(map_text.CONTEXT_COUNT, label=layer.label,
                       shown=text.number(len(layer.frame)),
                       total=text.number(len(layer.frame) + layer.left_out))
             for layer in layers if layer.left_out]
    if shown:
        legend.append(text.html(map_text.CONTEXT_LEFT_OUT, details="; ".join(shown)))
    if context.basemap is not None:
        room, note = _add_basemap(fmap, context, room, text, summary)
        legend += note
    elif context.attribution:
        # A vector archive drawn as context layers: whom its features are from, in the corner.
        fmap.get_root().script.add_child(InertHtml(map_text.attribution_script(
            fmap.get_name(), _plain_attribution(context.attribution))))
    return room, legend


def _plain_attribution(text: str) -> str:
    """Return an attribution as plain text, escaped: tags dropped, no markup from a file."""
    return html.escape(" ".join(re.sub(r"<[^>]*>", " ", text).split()), quote=True)


def _add_basemap(fmap: folium.Map, context: MapContext, room: int, text: MapText,
                 summary: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Embed the archive's tiles as data: URIs, shallowest zoom first, within ``room`` bytes."""
    archive = context.basemap
    assert archive is not None
    prefix = f"data:{archive.mime};base64,"
    tiles: dict[str, str] = {}
    zooms: list[int] = []
    for zoom in archive.zooms:
        # "z_x_y": a key written "5/18/15" would read as a date to the audit, and rightly so.
        level = {f"{z}_{x}_{y}": prefix + base64.b64encode(data).decode("ascii")
                 for (z, x, y), data in archive.tiles.items() if z == zoom}
        size = sum(len(k) + len(v) + 6 for k, v in level.items())
        if size > room:
            break
        tiles.update(level)
        zooms.append(zoom)
        room -= size
    left_out = [z for z in archive.zooms if z not in zooms] + list(archive.dropped_zooms)
    summary.append({"layer": "basemap", "features": len(tiles), "properties": "",
                    "left_out": f"zoom levels {left_out}" if left_out else ""})
    if not zooms:
        return room, [text.html(map_text.NO_BACKGROUND)]
    attribution = _plain_attribution(context.attribution or "")
    root = fmap.get_root()
    root.script.add_child(InertHtml(map_text.basemap_script(
        text, fmap.get_name(), tiles, min(zooms), max(zooms), attribution)))
    if left_out:
        return room, [text.html(map_text.BASEMAP_ZOOM, zoom=text.number(max(zooms)))]
    return room, []
