"""What a commander orients by: places, roads and rivers under the shared map's data.

A mission names public reference layers in ``sharing.context_layers`` (an OSM extract from
HOT's export tool is the common case) and may hold a tile archive (``sharing.basemap``).
They are read at the one door to the disk (:func:`protection_eval.runs.missions.load_map_context`
reads them with :mod:`protection_eval.io.readers` and :mod:`protection_eval.io.tiles`) and
arrive here as frames: :class:`MapContext`.

:func:`prepare_context_layers` turns them into what a map draws: clipped to the mission's
extent, simplified to the map's scale, coordinates rounded as the data layers' are, one name
per place, each feature ranked (a city before a hamlet, a trunk road before a track) so that a
byte budget drops the least useful first and says what it dropped. Features that name a
shelter, a safe house or a service point are never drawn (DOMAIN.md rule 6), whatever layer
they come in. Context layers carry no count and no property besides a place's name.

The audit of a shared folder approves exactly what this module would draw
(:func:`context_reference`): the coordinates of places and of line vertices, the names of
places, the basemap's tiles and the hosts of its attribution. They are public reference data,
not survivors' data, so a place name that is also an identifying value of the mission, or a
village that is also where an incident was placed, is not a finding there.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from protection_eval.io.tiles import TileArchive

__all__ = [
    "CONTEXT_BUDGET_BYTES",
    "MAIN_ROAD_RANK",
    "PLACE_MARKER_BYTES",
    "ContextLayer",
    "ContextReference",
    "ContextSource",
    "MapContext",
    "context_reference",
    "prepare_context_layers",
    "to_feature_collection",
    "vector_tile_sources",
]

#: Bytes of GeoJSON the context layers may take in a shared map at most.
CONTEXT_BUDGET_BYTES = 1_200_000
#: Bytes a labelled place takes in a page: folium's marker, its icon and their script (measured).
PLACE_MARKER_BYTES = 580
#: Roads of this rank or better are main roads (motorway, trunk, primary, secondary).
MAIN_ROAD_RANK = 2
#: The mission's extent is widened by this share of its size on each side before clipping.
_PAD = 0.05
#: Place labels drawn at most: beyond, the map is a wall of names.
_MAX_PLACES = 400

# OSM's place=* values, most important first; other values rank last.
_PLACE_RANKS = {"city": 0, "town": 1, "village": 2, "hamlet": 3, "suburb": 3, "quarter": 3,
                "neighbourhood": 3, "locality": 3, "isolated_dwelling": 3}
_ROAD_RANKS = {"motorway": 0, "trunk": 0, "motorway_link": 0, "trunk_link": 0, "primary": 1,
               "primary_link": 1, "secondary": 2, "secondary_link": 2, "tertiary": 3,
               "tertiary_link": 3}
_RIVER_RANKS = {"river": 0, "canal": 1, "stream": 2}
_RANK_COLUMNS = {"places": ("place", _PLACE_RANKS, 3), "roads": ("highway", _ROAD_RANKS, 4),
                 "rivers": ("waterway", _RIVER_RANKS, 3)}
_POPULATION_COLUMNS = ("population", "pop_max", "pop")
# Attribute values naming where survivors go for help: never drawn on a shared map.
_PROTECTED = re.compile(
    r"safe[\s_-]?house|shelter|social[\s_-]?facility|service[\s_-]?point|one[\s_-]?stop"
    r"|refuge|women'?s[\s_-]?centre|maison[\s_-]d'?accueil|centre[\s_-]d'?[ée]coute",
    re.IGNORECASE,
)


# Layers of the two common vector tile schemas (OpenMapTiles; Protomaps basemaps) drawn as
# context: tile layer -> (kind, the OSM column the map ranks by, the tile property giving it,
# translations of that property's values into OSM's).
_PROTOMAPS_ROADS = {"highway": "motorway", "major_road": "primary", "medium_road": "secondary",
                    "minor_road": "tertiary", "path": "path"}
_VECTOR_LAYERS: dict[str, tuple[str, str, tuple[str, ...], dict[str, str]]] = {
    "place": ("places", "place", ("class",), {}),
    "places": ("places", "place", ("kind_detail", "kind"), {}),
    "transportation": ("roads", "highway", ("class",), {}),
    "roads": ("roads", "highway", ("kind",), _PROTOMAPS_ROADS),
    "waterway": ("rivers", "waterway", ("class",), {}),
    "water": ("rivers", "waterway", ("class", "kind"), {}),
}


@dataclass(frozen=True)
class ContextSource:
    """A context layer as read: its attributes as text, its geometry in EPSG:4326.

    Attributes
    ----------
    label : str
        The name the mission gave it (``sharing.context_layers[].label``).
    kind : str
        ``places``, ``roads``, ``rivers`` or ``other``.
    frame : geopandas.GeoDataFrame
        The features, every attribute as read.
    name_column : str or None
        The column of place names, when the layer has one.
    """

    label: str
    kind: str
    frame: gpd.GeoDataFrame = field(repr=False)
    name_column: str | None = None


@dataclass(frozen=True)
class MapContext:
    """Everything a shared map draws besides the mission's data.

    Attributes
    ----------
    sources : tuple of ContextSource
        The context layers, in the order the mission lists them.
    basemap : TileArchive or None
        The tiles of the mission's archive covering its extent.
    attribution : str or None
        Whom the basemap's tiles are from (the mission's words, else the archive's).
    """

    sources: tuple[ContextSource, ...] = ()
    basemap: TileArchive | None = None
    attribution: str | None = None


@dataclass(frozen=True)
class ContextLayer:
    """A context layer as a map draws it.

    Attributes
    ----------
    label, kind : str
        As the source's.
    frame : geopandas.GeoDataFrame
        ``name`` (places; empty elsewhere), ``rank`` (0 the most important) and geometry:
        points for places, lines and outlines otherwise, clipped, simplified and rounded.
    total : int
        Features in the source.
    dropped : dict
        Why features of the extent are not drawn -> how many: ``protected`` (a shelter, safe
        house or service point), ``unnamed`` (a place without a name), ``labels`` (places past
        the most a map labels), ``size`` (past the byte budget).
    """

    label: str
    kind: str
    frame: gpd.GeoDataFrame = field(repr=False)
    total: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def left_out(self) -> int:
        """Features of the extent not drawn to keep the map small (labels and size)."""
        return self.dropped.get("labels", 0) + self.dropped.get("size", 0)


@dataclass(frozen=True)
class ContextReference:
    """What the audit accepts as public reference data on a shared map.

    Attributes
    ----------
    points : numpy.ndarray
        (n, 2) longitude and latitude of every place and line vertex a map would draw.
    places : numpy.ndarray
        (m, 2) the places alone: where a labelled marker may stand.
    names : frozenset of str
        Place names as drawn, case folded.
    image_sha256 : frozenset of str
        sha256 of every basemap tile a map would embed.
    attribution : str or None
        The basemap's attribution (its link hosts are allowed).
    """

    points: np.ndarray
    places: np.ndarray
    names: frozenset[str]
    image_sha256: frozenset[str] = frozenset()
    attribution: str | None = None


def _extent(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    west, south, east, north = (float(b) for b in bounds)
    pad_x, pad_y = max((east - west) * _PAD, 1e-3), max((north - south) * _PAD, 1e-3)
    return west - pad_x, south - pad_y, east + pad_x, north + pad_y


def _ranks(source: ContextSource) -> np.ndarray:
    frame = source.frame
    column, ranks, other = _RANK_COLUMNS.get(source.kind, (None, {}, 1))
    if column is not None and column in frame:
        values = frame[column].astype("string").str.strip().str.lower()
        return values.map(ranks).fillna(other).to_numpy(dtype=np.int64)
    population = next((c for c in _POPULATION_COLUMNS if c in frame), None)
    if source.kind == "places" and population is not None:
        people = pd.to_numeric(frame[population], errors="coerce").fillna(0).to_numpy()
        return np.select([people >= 100_000, people >= 10_000, people >= 1_000], [0, 1, 2], 3)
    return np.ones(len(frame), dtype=np.int64)


def _protected(frame: pd.DataFrame) -> np.ndarray:
    """Features any of whose attributes names a shelter, safe house or service point."""
    mask = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        if column == "geometry" or not (pd.api.types.is_string_dtype(frame[column])
                                        or frame[column].dtype == object):
            continue
        text = frame[column].astype("string").fillna("")
        mask |= text.str.contains(_PROTECTED, regex=True).to_numpy(dtype=bool)
    return mask


def _names(source: ContextSource) -> pd.Series:
    if source.name_column is None or source.name_column not in source.frame:
        return pd.Series("", index=source.frame.index, dtype=object)
    return source.frame[source.name_column].astype("string").fillna("").map(
        lambda v: unicodedata.normalize("NFC", " ".join(str(v).split())))


def _shapes(geometry: np.ndarray, kind: str) -> np.ndarray:
    """Places as points; roads and rivers as lines (a water area by its outline)."""
    if kind == "places":
        return shapely.point_on_surface(geometry)
    if kind in ("roads", "rivers"):
        polygonal = np.isin(shapely.get_type_id(geometry), (3, 6))
        return np.where(polygonal, shapely.boundary(geometry), geometry)
    return geometry


def _prepare_one(source: ContextSource, extent: tuple[float, float, float, float],
                 tolerance: float, decimals: int) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    frame = source.frame
    dropped: dict[str, int] = {}
    geometry = np.asarray(frame.geometry.to_numpy(), dtype=object)
    present = ~(pd.isna(geometry) | shapely.is_empty(np.where(pd.isna(geometry), None,
                                                              geometry)))
    shapes = np.full(len(frame), None, dtype=object)
    shapes[present] = _shapes(geometry[present], source.kind)
    shapes[present] = shapely.clip_by_rect(shapes[present], *extent)
    inside = present.copy()
    inside[present] = ~shapely.is_empty(shapes[present])
    protected = _protected(frame) & inside
    names = _names(source)
    unnamed = (names.str.len() == 0).to_numpy() & inside & ~protected \
        if source.kind == "places" else np.zeros(len(frame), dtype=bool)
    for reason, mask in (("protected", protected), ("unnamed", unnamed)):
        if mask.any():
            dropped[reason] = int(mask.sum())
    keep = inside & ~protected & ~unnamed
    kept = shapes[keep]
    if source.kind != "places" and tolerance > 0:
        kept = shapely.simplify(kept, tolerance, preserve_topology=True)
    kept = shapely.transform(kept, lambda xy: np.round(xy, decimals))
    result = gpd.GeoDataFrame(
        {"name": names.to_numpy()[keep] if source.kind == "places" else "",
         "rank": _ranks(source)[keep]},
        geometry=list(kept), crs="EPSG:4326",
    )
    result = result[~result.geometry.is_empty].reset_index(drop=True)
    return result, dropped


def _feature_bytes(frame: gpd.GeoDataFrame, kind: str) -> np.ndarray:
    """About how many bytes each feature takes in a page: a place marker, or a GeoJSON line."""
    names = frame["name"].map(lambda n: len(html.escape(str(n)).encode())).to_numpy()
    if kind == "places":
        return names + PLACE_MARKER_BYTES
    lengths = np.array([len(shapely.to_geojson(g)) for g in frame.geometry], dtype=np.int64)
    return lengths + names + 60


def prepare_context_layers(
    sources: Sequence[ContextSource],
    bounds: Sequence[float],
    *,
    decimals: int = 5,
    budget_bytes: int | None = CONTEXT_BUDGET_BYTES,
    max_places: int | None = _MAX_PLACES,
) -> list[ContextLayer]:
    """Clip, simplify, round and rank context layers for a map, within a byte budget.

    Parameters
    ----------
    sources : sequence of ContextSource
        The layers as read.
    bounds : sequence of float
        The mission's extent (west, south, east, north, degrees); features are clipped to it,
        widened by 5 % on each side.
    decimals : int
        Decimal places kept in coordinates, as the map's data layers keep them.
    budget_bytes : int or None
        Bytes the layers may take in the page; the least important features (by rank, then
        the shortest lines) are dropped first until they fit. None: no budget.
    max_places : int or None
        Place labels kept at most, the most important first. None: all.

    Returns
    -------
    list of ContextLayer
        In the order of ``sources``, with what was dropped and why.
    """
    extent = _extent(bounds)
    # About a tenth of a screen pixel when the mission fills a 1,000-pixel-wide window.
    tolerance = max(extent[2] - extent[0], extent[3] - extent[1]) / 10_000
    prepared = [_prepare_one(s, extent, tolerance, decimals) for s in sources]
    keep = [np.ones(len(frame), dtype=bool) for frame, _ in prepared]
    dropped = [dict(d) for _, d in prepared]
    for i, (source, (frame, _)) in enumerate(zip(sources, prepared, strict=True)):
        if source.kind == "places" and max_places is not None and len(frame) > max_places:
            order = np.lexsort((np.arange(len(frame)), frame["rank"].to_numpy()))
            keep[i][order[max_places:]] = False
            dropped[i]["labels"] = len(frame) - max_places
    if budget_bytes is not None:
        _fit_budget(sources, [f for f, _ in prepared], keep, dropped, budget_bytes)
    return [
        ContextLayer(s.label, s.kind, frame[k].reset_index(drop=True), len(s.frame), d)
        for s, (frame, _), k, d in zip(sources, prepared, keep, dropped, strict=True)
    ]


def _fit_budget(sources: Sequence[ContextSource], frames: list[gpd.GeoDataFrame],
                keep: list[np.ndarray], dropped: list[dict[str, int]], budget: int) -> None:
    """Drop the least important features of all layers until they fit ``budget`` bytes."""
    kinds = {"places": 0, "roads": 1, "rivers": 2, "other": 3}
    rows = []
    for i, (source, frame) in enumerate(zip(sources, frames, strict=True)):
        size = _feature_bytes(frame, source.kind)
        length = shapely.length(frame.geometry.to_numpy())
        for j in np.flatnonzero(keep[i]):
            rows.append((int(frame["rank"].iat[j]), kinds[source.kind], -float(length[j]), i,
                         int(j), int(size[j])))
    rows.sort()
    used = 0
    for *_, i, j, size in rows:
        used += size
        if used > budget:
            keep[i][j] = False
            dropped[i]["size"] = dropped[i].get("size", 0) + 1


def context_reference(
    context: MapContext, bounds: Sequence[float], *, decimals: int = 5
) -> ContextReference:
    """Return what the audit accepts as reference data: everything a map could draw.

    Parameters
    ----------
    context : MapContext
        The mission's context layers and basemap.
    bounds : sequence of float
        The mission's extent, as the map's.
    decimals : int
        As the map's.

    Returns
    -------
    ContextReference
        Every coordinate and place name the layers would put on a map with no budget (a
        superset of any map's), the basemap tiles' sha256 and its attribution.
    """
    from hashlib import sha256

    layers = prepare_context_layers(context.sources, bounds, decimals=decimals,
                                    budget_bytes=None, max_places=None)
    def coordinates(kinds: tuple[str, ...]) -> np.ndarray:
        geometries = [g for layer in layers if layer.kind in kinds for g in layer.frame.geometry]
        return (shapely.get_coordinates(np.asarray(geometries, dtype=object))
                if geometries else np.empty((0, 2)))

    names = frozenset(str(n).casefold() for layer in layers if layer.kind == "places"
                      for n in layer.frame["name"] if str(n))
    tiles = context.basemap.tiles.values() if context.basemap is not None else ()
    return ContextReference(coordinates(("places", "roads", "rivers", "other")),
                            coordinates(("places",)), names,
                            frozenset(sha256(t).hexdigest() for t in tiles), context.attribution)


def to_feature_collection(layer: ContextLayer) -> dict:
    """Return a line layer as a compact FeatureCollection (no properties; ``id`` = position)."""
    features = [
        {"type": "Feature", "id": str(i), "properties": {},
         "geometry": json.loads(shapely.to_geojson(g))}
        for i, g in enumerate(layer.frame.geometry)
    ]
    return {"type": "FeatureCollection", "features": features}


def vector_tile_sources(
    layers: dict[str, gpd.GeoDataFrame], labels: dict[str, str], language: str = "en"
) -> list[ContextSource]:
    """Turn the layers of a vector tile archive into context layers the map draws itself.

    The places, roads and water of the OpenMapTiles and Protomaps schemas are kept (other tile
    layers, buildings or land use, are not drawn); their class becomes the OSM column the map
    ranks by (``place``, ``highway``, ``waterway``), and names are taken in the language
    (``name:<language>``, ``name_<language>``, then ``name``).

    Parameters
    ----------
    layers : dict
        Tile layer name -> features, as :func:`protection_eval.io.tiles.decode_vector_tiles`
        gives them.
    labels : dict
        Kind (``places``, ``roads``, ``rivers``) -> the layer's name on the map.
    language : str
        The map's language, for names.

    Returns
    -------
    list of ContextSource
        Places first, then roads, then water.
    """
    found: dict[str, list[gpd.GeoDataFrame]] = {}
    for name, frame in layers.items():
        if name not in _VECTOR_LAYERS or frame.empty:
            continue
        kind, column, properties, translate = _VECTOR_LAYERS[name]
        source = next((p for p in properties if p in frame), None)
        values = (frame[source].astype(str).replace(translate)
                  if source is not None else pd.Series("", index=frame.index))
        found.setdefault(kind, []).append(frame.assign(**{column: values}))
    sources = []
    for kind in ("places", "roads", "rivers"):
        if kind not in found:
            continue
        frame = gpd.GeoDataFrame(pd.concat(found[kind], ignore_index=True).fillna(""),
                                 geometry="geometry", crs="EPSG:4326")
        names = (f"name:{language}", f"name_{language}", "name")
        name = next((c for c in names if c in frame and (frame[c] != "").any()), None)
        sources.append(ContextSource(labels[kind], kind, frame, name))
    return sources
