"""Folium map builders for field commanders; no computation.

The builders take layers that are already aggregated and, for the shared map, already suppressed (by
:mod:`protection_eval.sharing.disclosure`) and turn them into one self-contained HTML page (through
:mod:`protection_eval.sharing.offline`). What they do is display work only: check that each layer
carries nothing but whitelisted properties, format values for people, simplify geometry and round
coordinates to what the screen can show, pick colours, and write title, legend, layer control and
scale bar.

The shared map (:func:`make_coverage_map`) has no incident layer at all, draws no service point
or safe house, and refuses a count between 1 and k-1. :func:`make_restricted_coverage_map` may
show unsuppressed counts and incident points and says RESTRICTED on the page.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.config import MIN_K
from protection_eval.hexgrid import cell_resolution, hexagon_area_km2
from protection_eval.sharing import map_text
from protection_eval.sharing.context import MapContext
from protection_eval.sharing.disclosure import check_k
from protection_eval.sharing.i18n import Language
from protection_eval.sharing.inert import InertHtml, make_inert, render_inert
from protection_eval.sharing.map_context import add_context, json_bytes
from protection_eval.sharing.map_text import LegendRow, MapText
from protection_eval.sharing.offline import to_offline_html

__all__ = [
    "AREA_PROPERTIES",
    "FOOTPRINT_PROPERTIES",
    "GAP_PROPERTIES",
    "HEXAGON_PROPERTIES",
    "PLAN_PROPERTIES",
    "INCIDENT_PROPERTIES",
    "MAP_BUDGET_BYTES",
    "AREA_COLOUR",
    "FOOTPRINT_COLOUR",
    "GAP_COLOUR",
    "CoverageMap",
    "CoverageSubject",
    "MapStyle",
    "check_shared_layers",
    "count_classes",
    "format_hexagon_size",
    "make_coverage_map",
    "make_plan_map",
    "make_restricted_coverage_map",
]

#: Columns an areas layer may carry (besides geometry), with the label a reader sees.
AREA_PROPERTIES: dict[str, str] = {
    "area_id": "Area code",
    "name": "Area",
    "incidents": "Reports in period",
    "footprint_share": "Area within patrol reach",
    "population_footprint_share": "Population within patrol reach",
    "patrol_hours": "Patrol-hours",
    "women_share": "Women among patrol personnel",
}
#: Columns a hexagon-counts layer may carry.
HEXAGON_PROPERTIES: dict[str, str] = {
    "h3_cell": "Hexagon",
    "resolution": "Hexagon size",
    "incidents": "Reports in period",
}
#: Columns a patrol-footprint layer may carry.
FOOTPRINT_PROPERTIES: dict[str, str] = {"unit_type": "Unit type"}
#: Columns a gaps layer may carry.
GAP_PROPERTIES: dict[str, str] = {
    "gap_rank": "Gap rank",
    "h3_cell": "Hexagon",
    "resolution": "Hexagon size",
    "incidents": "Reports in period",
    "covered_share": "Reports with a patrol in reach",
}
#: Columns an incident-points layer may carry; restricted map only.
INCIDENT_PROPERTIES: dict[str, str] = {
    "incident_id": "Incident",
    "gbv_type": "Type",
    "location_precision": "Location precision",
}

#: Bytes a shared map's page may take; the data layers first, then context and basemap.
MAP_BUDGET_BYTES = 4_800_000
# Leaflet, jQuery, folium's page and the title, legend, style and script around the layers.
_PAGE_BYTES = 360_000
_COUNT_COLUMNS = {"incidents"}
_SHARE_COLUMNS = {"footprint_share", "population_footprint_share", "women_share", "covered_share"}
_HOURS_COLUMNS = {"patrol_hours"}
_IMPLIED_COLUMNS = {"suppressed"}
_COUNT_COLOURS = ("#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
_FOOTPRINT_COLOUR = "#2166ac"
_GAP_COLOUR = "#7b00b4"
_AREA_COLOUR = "#333333"
# Folium links Bootstrap, Font Awesome and awesome-markers by default; these maps need only
# Leaflet and jQuery (folium's own templates call $(document).ready).
_MAP_JS = ("leaflet", "jquery")
_MAP_CSS = ("leaflet_css",)


_ELEMENT_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-zA-Z])")


def _stable_element_ids(page: str) -> str:
    """Replace folium's random element ids by their order of appearance.

    folium names every element ``<kind>_<32 random hex digits>``; numbering them instead makes
    the same map the same bytes on every run, so a shared page can be compared by its sha256.
    """
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"{len(ids):032x}")

    return _ELEMENT_ID.sub(number, page)


@dataclass
class CoverageMap:
    """A built coverage map.

    Attributes
    ----------
    folium_map : folium.Map
        The map, for display in a notebook.
    title : str
        The title shown on the page.
    restricted : bool
        True for the restricted variant; never put it in a run's shared part.
    layers : pandas.DataFrame
        One row per drawn layer: ``layer``, ``features``, ``properties``.
    allowed_urls : tuple of str
        External URLs the page may fetch: the configured tile server's template, if any.
    language : str
        The language of the page's words (``<html lang>``).
    """

    folium_map: folium.Map
    title: str
    restricted: bool
    layers: pd.DataFrame
    allowed_urls: tuple[str, ...] = field(default=())
    language: str = "en"

    def to_html(self) -> str:
        """Render the map as one self-contained HTML page.

        Returns
        -------
        str
            The page, with Leaflet and jQuery inlined; write it with
            ``protection_eval.io.writers.write_text``.

        Raises
        ------
        protection_eval.sharing.offline.OfflineError
            If anything on the page would still be fetched from a server other than the
            configured tile server.
        """
        # folium serialises embedded GeoJSON with json.dumps' default ", " and ": " separators;
        # compact ones save about a tenth of a large map, for commanders' slow links.
        policies = folium.GeoJson._template.environment.policies
        previous = policies["json.dumps_kwargs"]
        policies["json.dumps_kwargs"] = {**previous, "separators": (",", ":")}
        try:
            page = render_inert(self.folium_map)
        finally:
            policies["json.dumps_kwargs"] = previous
        # branca's figure writes a bare <html>; the page's language is said on it (the map's
        # direction is not: the geography is never mirrored, only its words' boxes are).
        page = page.replace("<html>", f'<html lang="{html.escape(self.language)}">', 1)
        return to_offline_html(_stable_element_ids(page), allowed_urls=self.allowed_urls)

    def _repr_html_(self) -> str:
        # In a notebook, show the offline page itself, so the executed notebook and its HTML
        # export carry no CDN link either.
        page = html.escape(self.to_html(), quote=True)
        return f'<iframe srcdoc="{page}" style="width:100%;height:640px;border:none"></iframe>'

    def to_frame(self) -> pd.DataFrame:
        """Return the layer summary (what was drawn, how many features, which properties)."""
        return self.layers.copy()


@dataclass(frozen=True)
class MapStyle:
    """How a map is drawn: the language of its words, its background and its precision.

    One value serves every map of a mission (the coverage map, its restricted twin and the
    patrol plan's map), so a mission's sharing options travel together.

    Attributes
    ----------
    language : str or Language
        The language of every word on the map (``sharing.language``): title, legend, layer
        names, tooltips, the scale bar and the controls' titles, from the ``map`` context of
        the catalogues (:mod:`protection_eval.sharing.map_text`); numbers in its locale.
    tile_url : str, optional
        Leaflet URL template of the tile server the mission config names
        (``sharing.tile_server.url``). Without it the map has no background tiles and the data
        layers show on a plain background.
    tile_attribution : str, optional
        Attribution text for that tile server.
    decimals : int
        Decimal places kept in coordinates (5 is about 1 m).
    simplify_deg : float
        Douglas-Peucker tolerance in degrees applied to polygons (1e-4 is about 11 m).
    count_breaks : sequence of int, optional
        Lower bounds of the hexagon colour classes above ``k`` (default 10, 25, 50, 100);
        coverage maps only.
    gap_labels : int
        How many top-ranked gaps get a number on the map; coverage maps only.
    """

    language: str | Language = "en"
    tile_url: str | None = None
    tile_attribution: str | None = None
    decimals: int = 5
    simplify_deg: float = 1e-4
    count_breaks: Sequence[int] | None = None
    gap_labels: int = 10


@dataclass(frozen=True)
class CoverageSubject:
    """What a coverage map is about: the mission, its period, and what its presence data are.

    The title and the legend say these; the layers do not depend on them.

    Attributes
    ----------
    mission : str
        Mission code shown in the title.
    period : str
        Period shown in the title as given, e.g. ``"2022-01 to 2023-12"``
        (:meth:`protection_eval.sharing.map_text.MapText.period` writes one in words).
    synthetic : bool
        Whether the mission is synthetic; the page then says SYNTHETIC.
    radius_m : float, optional
        Coverage radius, for the legend.
    presence : {"patrols", "bases"}
        What the presence data are: a bases-only mission's title and legend say "within ... km
        of an open base" (no time window, no patrol).
    note : map_text.CoverageNote, optional
        What the legend must add about coverage: not computed, or months without presence data.
    """

    mission: str
    period: str
    synthetic: bool
    radius_m: float | None = None
    presence: str = "patrols"
    note: map_text.CoverageNote | None = None


def format_hexagon_size(resolution: Any, language: str | Language = "en") -> str:
    """Say how large a hexagon of an H3 resolution is, for a reader (``about 5.2 km²``)."""
    return MapText.of(language).hexagon_size(resolution)


def _format_value(column: str, value: Any, text: MapText) -> str:
    if column == "resolution":
        return text.hexagon_size(value)
    if column in _COUNT_COLUMNS:
        return text.count(value)
    if column in _SHARE_COLUMNS:
        return text.share(value)
    if column in _HOURS_COLUMNS:
        return text.hours(value)
    return "" if pd.isna(value) else str(value)


def _check_layer(
    frame: gpd.GeoDataFrame, layer: str, whitelist: Mapping[str, str], required: Sequence[str]
) -> gpd.GeoDataFrame:
    """Refuse properties off the whitelist and frames without a usable CRS."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError(f"{layer} layer must be a GeoDataFrame, got {type(frame).__name__}")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    # disclosure's ``suppressed`` flag is accepted but never embedded: the NA count says it.
    extra = [c for c in columns if c not in whitelist and c not in _IMPLIED_COLUMNS]
    if extra:
        raise ValueError(
            f"{layer} layer has column(s) {extra} that are not on the map's whitelist "
            f"{sorted(whitelist)}; select only whitelisted columns before building the map "
            "(nothing is dropped silently, so nothing leaks silently)"
        )
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{layer} layer lacks required column(s) {missing}")
    if frame.crs is None:
        raise ValueError(f"{layer} layer has no CRS; set it (EPSG:4326 expected)")
    return frame if frame.crs.to_epsg() == 4326 else frame.to_crs(4326)


def _check_suppressed(frame: gpd.GeoDataFrame, layer: str, k: int) -> None:
    """Refuse a shared layer whose counts include a value from 1 to k-1."""
    for column in _COUNT_COLUMNS & set(frame.columns):
        values = pd.to_numeric(frame[column], errors="raise")
        small = values.notna() & (values >= 1) & (values < k)
        if small.any():
            rows = list(frame.index[small.to_numpy()][:5])
            raise ValueError(
                f"{layer} layer column {column!r} has {int(small.sum())} count(s) between 1 and "
                f"{k - 1} (rows {rows}...): a shared map takes counts already suppressed by "
                "protection_eval.sharing.disclosure, with NA where suppressed"
            )


def _to_geojson(
    frame: gpd.GeoDataFrame,
    whitelist: Mapping[str, str],
    decimals: int,
    tolerance: float,
    with_ids: bool = False,
    text: MapText | None = None,
) -> dict[str, Any]:
    """Build a compact FeatureCollection: display-precision geometry, formatted properties."""
    geometry = frame.geometry.to_numpy()
    if tolerance > 0:
        geometry = shapely.simplify(geometry, tolerance, preserve_topology=True)
    geometry = shapely.transform(geometry, lambda xy: np.round(xy, decimals))
    columns = [c for c in whitelist if c in frame.columns]
    text = text or MapText.of("en")
    features = []
    for position, (geom, (_, row)) in enumerate(zip(geometry, frame.iterrows(), strict=True)):
        if geom is None or geom.is_empty:
            continue
        properties = {c: _format_value(c, row[c], text) for c in columns}
        feature: dict[str, Any] = {"type": "Feature"}
        if with_ids:
            feature["id"] = str(position)
        feature["properties"] = properties
        feature["geometry"] = json.loads(shapely.to_geojson(geom))
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


#: Colours of the shared layers, public for the printable map (:mod:`.svgmap`).
FOOTPRINT_COLOUR = _FOOTPRINT_COLOUR
GAP_COLOUR = _GAP_COLOUR
AREA_COLOUR = _AREA_COLOUR


def count_classes(k: int, breaks: Sequence[int] | None = None) -> list[tuple[int, int | None, str]]:
    """Return the (low, high or None, colour) classes of unit counts, starting at k."""
    return _count_classes(k, breaks)


def check_shared_layers(
    areas: gpd.GeoDataFrame,
    hexagons: gpd.GeoDataFrame,
    footprint: gpd.GeoDataFrame | None,
    gaps: gpd.GeoDataFrame | None,
    k: int,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Check shared layers as the shared map does: whitelisted columns, CRS, counts suppressed.

    Returns
    -------
    tuple
        The four layers in EPSG:4326.

    Raises
    ------
    ValueError
        On a column off the whitelist, a missing CRS or a count from 1 to k-1.
    """
    checked = _checked_layers(_Layers(areas, hexagons, footprint, gaps), check_k(k),
                              restricted=False)
    return checked.areas, checked.hexagons, checked.footprint, checked.gaps


def _count_classes(k: int, breaks: Sequence[int] | None) -> list[tuple[int, int | None, str]]:
    """Return (low, high or None, colour) classes for hexagon counts, starting at k."""
    edges = sorted({k, *[b for b in (breaks or (10, 25, 50, 100)) if b > k]})
    edges = edges[: len(_COUNT_COLOURS)]
    classes = []
    for i, low in enumerate(edges):
        high = edges[i + 1] - 1 if i + 1 < len(edges) else None
        classes.append((low, high, _COUNT_COLOURS[i]))
    return classes


def _class_colour(value: Any, classes: list[tuple[int, int | None, str]]) -> str:
    colour = classes[0][2]
    for low, _, class_colour in classes:
        if value >= low:
            colour = class_colour
    return colour


def _to_html_text(value: Any) -> Any:
    """Escape one property value for a place that parses it as HTML; numbers pass as they are."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return html.escape(text, quote=True)


def _html_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Return a FeatureCollection whose properties are escaped for folium's tooltips and popups.

    folium's ``GeoJsonTooltip`` and ``GeoJsonPopup`` write property values into the page with
    ``innerHTML`` and escape nothing, so an area name such as ``Kator"><img onerror=...>`` would
    run as script on hover. Escaped once here, the browser decodes the entities back and shows
    the name's own characters (``&``, ``'``, ``<``) as text.
    """
    features = [
        {**feature, "properties": {k: _to_html_text(v) for k, v in feature["properties"].items()}}
        for feature in data["features"]
    ]
    return {**data, "features": features}


def _tooltip(
    fields: Sequence[str], labels: Mapping[str, str], text: MapText, **kwargs: Any
) -> folium.GeoJsonTooltip | None:
    if not fields:
        return None
    # Written with innerHTML by folium's tooltip: escaped, as the values are.
    aliases = [text.html(labels[f]) for f in fields]
    return folium.GeoJsonTooltip(fields=list(fields), aliases=aliases, **kwargs)


def _add_geojson(
    group: folium.FeatureGroup,
    data: dict[str, Any],
    labels: Mapping[str, str],
    style: Callable[[dict[str, Any]], dict[str, Any]],
    text: MapText,
) -> None:
    if not data["features"]:
        return
    fields = list(data["features"][0]["properties"])
    tooltip = _tooltip(fields, labels, text, sticky=True)
    folium.GeoJson(
        _html_safe(data), style_function=style, tooltip=tooltip, control=False
    ).add_to(group)


def _count_rows(
    classes: list[tuple[int, int | None, str]],
    k: int,
    restricted: bool,
    resolutions: Sequence[int],
    text: MapText,
) -> list[LegendRow | str]:
    """Return the legend's rows about the hexagons: colour classes, what is unshaded, sizes."""
    unshaded = (html.escape("Unshaded: no report.") if restricted
                else text.html(map_text.UNSHADED, k=text.number(k)))
    return [
        *[LegendRow(f"background:{colour}", text.class_label(low, high))
          for low, high, colour in classes],
        unshaded,
        *_size_notes(resolutions, text),
    ]


def _reach(subject: CoverageSubject, text: MapText) -> str:
    """Say what the footprint layer shows: within the radius of a patrol, or of a base."""
    bases = subject.presence == "bases"
    radius_m = subject.radius_m
    if not radius_m:
        return text.html(map_text.BASES_REACH if bases else map_text.FOOTPRINT_REACH)
    radius = text.number(radius_m / 1000,
                         decimals=0 if float(radius_m / 1000).is_integer() else 1)
    return text.html(map_text.BASES_WITHIN if bases else map_text.FOOTPRINT_WITHIN,
                     radius=radius)


def _legend_html(
    subject: CoverageSubject,
    count_rows: Sequence[LegendRow | str],
    extra: Sequence[LegendRow | str],
    has_tiles: bool,
    text: MapText,
) -> str:
    """Return the legend in the map's language (the restricted map's notes in English)."""
    bases = subject.presence == "bases"
    rows: list[LegendRow | str] = [
        *count_rows,
        LegendRow(f"background:{_FOOTPRINT_COLOUR};opacity:0.35", _reach(subject, text)),
        LegendRow(f"border:3px dashed {_GAP_COLOUR}",
                  text.html(map_text.GAP_ROW_BASES if bases else map_text.GAP_ROW)),
        LegendRow(f"border:1.5px solid {_AREA_COLOUR}", text.html(map_text.AREA_ROW)),
        text.html(map_text.REPORTED_NOTE),
        *extra,
    ]
    if subject.note is not None:
        rows.extend(subject.note.html(text))
    if not has_tiles:
        rows.append(text.html(map_text.NO_BACKGROUND))
    return map_text.legend_html(text.html(map_text.LEGEND_HEADING), rows, text)


def _size_notes(resolutions: Sequence[int], text: MapText) -> list[str]:
    """Say which hexagon sizes the map mixes (sparse places are merged into larger ones)."""
    sizes = sorted({int(r) for r in resolutions}, reverse=True)
    if len(sizes) < 2:
        return ([text.html(map_text.HEXAGONS_OF, size=text.hexagon_size(sizes[0]))]
                if sizes else [])
    listed = ", ".join(text.hexagon_size(r) for r in sizes)
    return [text.html(map_text.HEXAGON_SIZES, sizes=listed)]


def _title(subject: CoverageSubject, restricted: bool, text: MapText) -> tuple[str, list[str]]:
    """Return the title (plain text) and the banners under it."""
    title = text.text(map_text.TITLE_BASES if subject.presence == "bases" else map_text.TITLE,
                      mission=subject.mission, period=subject.period)
    if subject.synthetic:
        title = text.text(map_text.TITLE_SYNTHETIC, title=title)
    banners = []
    if restricted:
        title = f"RESTRICTED {title}"
        banners.append(
            "RESTRICTED: evaluation team only. Unsuppressed data; do not share or forward."
        )
    if subject.synthetic:
        banners.append(text.text(map_text.BANNER_SYNTHETIC))
    return title, banners


def _resolutions(hexagons: gpd.GeoDataFrame) -> list[int]:
    if "resolution" not in hexagons or hexagons.empty:
        return []
    return [int(r) for r in pd.to_numeric(hexagons["resolution"]).dropna().unique()]


@dataclass(frozen=True)
class _Layers:
    """The data layers of a coverage map, as given or as checked."""

    areas: gpd.GeoDataFrame
    hexagons: gpd.GeoDataFrame
    footprint: gpd.GeoDataFrame | None = None
    gaps: gpd.GeoDataFrame | None = None
    incidents: gpd.GeoDataFrame | None = None


def _checked_layers(layers: _Layers, k: int, restricted: bool) -> _Layers:
    """Check every layer's columns and CRS and, on a shared map, that its counts are suppressed.

    Returns the layers in EPSG:4326.
    """
    areas = _check_layer(layers.areas, "areas", AREA_PROPERTIES, ["name"])
    hexagons = _check_layer(layers.hexagons, "hexagons", HEXAGON_PROPERTIES, ["incidents"])
    footprint = layers.footprint
    if footprint is not None:
        footprint = _check_layer(footprint, "footprint", FOOTPRINT_PROPERTIES, [])
    gaps = layers.gaps
    gaps = None if gaps is None else _check_layer(gaps, "gaps", GAP_PROPERTIES, ["gap_rank"])
    incidents = layers.incidents
    if incidents is not None:
        incidents = _check_layer(incidents, "incidents", INCIDENT_PROPERTIES, [])
    if not restricted:
        for name, layer in (("areas", areas), ("hexagons", hexagons), ("gaps", gaps)):
            if layer is not None:
                _check_suppressed(layer, name, k)
    return _Layers(areas, hexagons, footprint, gaps, incidents)


def _base_map(
    areas: gpd.GeoDataFrame, title: str, style: MapStyle, text: MapText, **options: Any
) -> folium.Map:
    """Return an empty map over the areas: titled, offline-ready, on the tile server if any."""
    tile_url = style.tile_url
    if tile_url is not None and not tile_url.startswith(("https://", "http://")):
        raise ValueError(f"tile server URL must be an http(s) template: {tile_url!r}")
    west, south, east, north = areas.total_bounds
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=None,
                      prefer_canvas=False, **options)
    fmap.default_js = [j for j in fmap.default_js if j[0] in _MAP_JS]
    fmap.default_css = [c for c in fmap.default_css if c[0] in _MAP_CSS]
    fmap.get_root().header.add_child(InertHtml(f"<title>{html.escape(title)}</title>"))
    if tile_url is not None:
        folium.TileLayer(
            tiles=tile_url, attr=style.tile_attribution or "mission tile server",
            name=text.html(map_text.BACKGROUND),
        ).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def _finish_page(
    fmap: folium.Map, title: str, banners: Sequence[str], legend: str, text: MapText
) -> None:
    """Add the layer control, the page's style, title, legend and script to a drawn map."""
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(fmap)
    root = fmap.get_root()
    root.header.add_child(InertHtml(map_text.page_style(text)))
    root.html.add_child(InertHtml(map_text.title_html(title, banners, text)))
    root.html.add_child(InertHtml(legend))
    # Added before folium renders the map's own script, so it waits for the page to be read.
    root.script.add_child(
        InertHtml(map_text.page_script(text, fmap.get_name(), control.get_name())))


@dataclass
class _Page:
    """A coverage map being drawn: its layers' GeoJSON and the summary of what was drawn."""

    fmap: folium.Map
    text: MapText
    prepared: dict[str, dict[str, Any]]
    summary: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        name: str,
        frame: gpd.GeoDataFrame,
        whitelist: Mapping[str, str],
        style: Callable[[dict[str, Any]], dict[str, Any]],
        label: str | None = None,
    ) -> folium.FeatureGroup:
        """Draw the prepared layer ``name`` as one group of the layer control; return it."""
        data = self.prepared[name]
        # The layer control writes names with innerHTML: escaped like every label.
        group = folium.FeatureGroup(name=self.text.html(label or name), show=True)
        _add_geojson(group, data, whitelist, style, self.text)
        group.add_to(self.fmap)
        self.summary.append(
            {
                "layer": name,
                "features": len(data["features"]),
                "properties": ", ".join(c for c in whitelist if c in frame.columns),
            }
        )
        return group


def _drawn_hexagons(hexagons: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Keep the hexagons with a shown count above zero: a suppressed one looks like an empty one."""
    counts = pd.to_numeric(hexagons["incidents"], errors="raise")
    return hexagons[(counts.notna() & (counts > 0)).to_numpy()]


def _prepare(
    layers: _Layers, drawn: gpd.GeoDataFrame, style: MapStyle, text: MapText
) -> dict[str, dict[str, Any]]:
    """Return the data layers as the page embeds them, by layer name."""
    data_layers = [(map_text.AREAS, layers.areas, AREA_PROPERTIES, False),
                   (map_text.FOOTPRINT, layers.footprint, FOOTPRINT_PROPERTIES, False),
                   (map_text.HEXAGONS, drawn, HEXAGON_PROPERTIES, True),
                   (map_text.GAPS, layers.gaps, GAP_PROPERTIES, False)]
    return {name: _to_geojson(frame, whitelist, style.decimals, style.simplify_deg, ids, text)
            for name, frame, whitelist, ids in data_layers if frame is not None}


def _draw_context(
    page: _Page, context: MapContext | None, areas: gpd.GeoDataFrame, decimals: int
) -> list[LegendRow | str]:
    """Draw the context layers and basemap under the data; return the legend's notes on them."""
    if context is None:
        return []
    # The context and the basemap get what the data leave of the page's budget.
    room = MAP_BUDGET_BYTES - _PAGE_BYTES - sum(json_bytes(d) for d in page.prepared.values())
    _, notes = add_context(page.fmap, context, areas.total_bounds, room, decimals, page.text,
                           page.summary)
    return notes


def _draw_data(
    page: _Page,
    layers: _Layers,
    drawn: gpd.GeoDataFrame,
    classes: list[tuple[int, int | None, str]],
    presence: str,
) -> None:
    """Draw the areas' outlines, the footprint and the hexagons coloured by count class."""
    page.add(map_text.AREAS, layers.areas, AREA_PROPERTIES,
             lambda _: {"color": _AREA_COLOUR, "weight": 1.5, "fillOpacity": 0.0})
    if layers.footprint is not None:
        page.add(map_text.FOOTPRINT, layers.footprint, FOOTPRINT_PROPERTIES,
                 lambda _: {"color": _FOOTPRINT_COLOUR, "weight": 0, "fillOpacity": 0.3},
                 label=map_text.BASES_REACH if presence == "bases" else None)
    colours = {
        str(i): _class_colour(v, classes) for i, v in enumerate(pd.to_numeric(drawn["incidents"]))
    }
    page.add(map_text.HEXAGONS, drawn, HEXAGON_PROPERTIES, lambda f: {
        "color": colours[f["id"]], "weight": 0.5, "fillColor": colours[f["id"]],
        "fillOpacity": 0.75,
    })


def _draw_gaps(page: _Page, gaps: gpd.GeoDataFrame, style: MapStyle) -> None:
    """Draw the gaps' dashed outlines and number the first ``style.gap_labels`` ranks."""
    group = page.add(map_text.GAPS, gaps, GAP_PROPERTIES, lambda _: {
        "color": _GAP_COLOUR, "weight": 3, "fillOpacity": 0.0, "dashArray": "6 4"})
    ranked = gaps.assign(_rank=pd.to_numeric(gaps["gap_rank"])).sort_values("_rank")
    for _, row in ranked.head(style.gap_labels).iterrows():
        point = row.geometry.representative_point()
        folium.Marker(
            [round(point.y, style.decimals), round(point.x, style.decimals)],
            icon=folium.DivIcon(
                html=(
                    f'<div style="font:bold 13px Arial;color:#fff;background:{_GAP_COLOUR};'
                    "border-radius:10px;width:20px;height:20px;line-height:20px;"
                    f'text-align:center;margin:-10px 0 0 -10px">{int(row["_rank"])}</div>'
                ),
                icon_size=(20, 20),
            ),
        ).add_to(group)


def _draw_incidents(page: _Page, incidents: gpd.GeoDataFrame, decimals: int) -> None:
    """Draw the incident points of the restricted map, with English tooltips."""
    points = _to_geojson(incidents, INCIDENT_PROPERTIES, decimals, 0.0)
    group = folium.FeatureGroup(name="Incidents (restricted)", show=True)
    fields = list(points["features"][0]["properties"]) if points["features"] else []
    folium.GeoJson(
        _html_safe(points),
        marker=folium.CircleMarker(radius=3, color="#000", weight=1, fill_opacity=0.8),
        tooltip=_tooltip(fields, INCIDENT_PROPERTIES, page.text),
        control=False,
    ).add_to(group)
    group.add_to(page.fmap)
    page.summary.append(
        {
            "layer": "Incidents (restricted)",
            "features": len(points["features"]),
            "properties": ", ".join(fields),
        }
    )


def _has_tiles(style: MapStyle, context: MapContext | None) -> bool:
    """Whether the map has a background: the tile server, or a basemap the context credits."""
    return style.tile_url is not None or (context is not None and (
        context.basemap is not None or context.attribution is not None))


def _build(
    layers: _Layers,
    subject: CoverageSubject,
    style: MapStyle,
    *,
    k: int,
    restricted: bool = False,
    context: MapContext | None = None,
) -> CoverageMap:
    """Check the layers, then draw them under a title, a legend and the controls."""
    k = check_k(k)
    text = MapText.of(style.language)
    layers = _checked_layers(layers, k, restricted)
    title, banners = _title(subject, restricted, text)
    fmap = _base_map(
        layers.areas, title, style, text,
        # The scale bar is added by map_text.page_script, in the map's language and units.
        control_scale=False,
        # Quarter zoom steps: the mission fills a phone's narrow screen instead of half of it.
        zoom_snap=0.25,
    )
    drawn = _drawn_hexagons(layers.hexagons)
    page = _Page(fmap, text, _prepare(layers, drawn, style, text))
    context_notes = _draw_context(page, context, layers.areas, style.decimals)
    classes = _count_classes(1 if restricted else k, style.count_breaks)
    _draw_data(page, layers, drawn, classes, subject.presence)
    if layers.gaps is not None:
        _draw_gaps(page, layers.gaps, style)
    if restricted and layers.incidents is not None:
        _draw_incidents(page, layers.incidents, style.decimals)
    count_rows = _count_rows(classes, k, restricted, _resolutions(layers.hexagons), text)
    legend = _legend_html(subject, count_rows, context_notes, _has_tiles(style, context), text)
    _finish_page(fmap, title, banners, legend, text)
    allowed = () if style.tile_url is None else (style.tile_url,)
    return CoverageMap(make_inert(fmap), title, restricted, pd.DataFrame(page.summary), allowed,
                       text.code)


def make_coverage_map(
    areas: gpd.GeoDataFrame,
    hexagons: gpd.GeoDataFrame,
    footprint: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    *,
    subject: CoverageSubject,
    k: int = MIN_K,
    style: MapStyle | None = None,
    context: MapContext | None = None,
) -> CoverageMap:
    """Build the shared coverage map a field commander opens from one file.

    Every layer must be aggregated and suppressed already; the map checks, formats and draws.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Area polygons with ``name`` and optional columns from :data:`AREA_PROPERTIES`
        (``incidents`` NA where suppressed; shares as fractions 0-1).
    hexagons : geopandas.GeoDataFrame
        H3 hexagon polygons with ``incidents``, the display count: NA where
        suppressed (e.g. ``hexgrid.to_hexagon_frame`` of a shared table by ``h3_cell``;
        its ``suppressed`` column is accepted on every layer and not embedded). Only hexagons
        with a shown count above zero are drawn, so a suppressed hexagon looks the same as an
        empty one.
    footprint : geopandas.GeoDataFrame, optional
        Patrol footprint polygons (columns from :data:`FOOTPRINT_PROPERTIES`).
    gaps : geopandas.GeoDataFrame, optional
        Gap hexagons with ``gap_rank`` (1 = look here first) and optional columns from
        :data:`GAP_PROPERTIES`; the first ``style.gap_labels`` ranks are labelled on the map.
    subject : CoverageSubject
        The mission, period and presence the title and legend speak of.
    k : int
        Suppression threshold the layers were suppressed with (at least 5).
    style : MapStyle, optional
        Language, tile server, precision and colour classes; ``MapStyle()`` by default (English,
        no background tiles).
    context : MapContext, optional
        Public reference layers and a tile archive to draw under the data
        (:func:`protection_eval.runs.missions.load_map_context`): clipped to the areas'
        extent, simplified, places labelled, basemap tiles embedded with their attribution;
        whatever does not fit the page's budget (:data:`MAP_BUDGET_BYTES`, the data layers
        first) is left out, least important first, and the legend says so.

    Returns
    -------
    CoverageMap
        Call ``to_html()`` for the offline page.

    Raises
    ------
    ValueError
        If a layer has a column off its whitelist, lacks a required column or a CRS, or holds a
        count from 1 to k-1; if ``k`` is below 5; if the tile server's URL is not http(s).
    """
    layers = _Layers(areas, hexagons, footprint, gaps)
    return _build(layers, subject, style or MapStyle(), k=k, context=context)


def make_restricted_coverage_map(
    areas: gpd.GeoDataFrame,
    hexagons: gpd.GeoDataFrame,
    footprint: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    subject: CoverageSubject,
    style: MapStyle | None = None,
) -> CoverageMap:
    """Build the restricted coverage map for the evaluation team.

    Like :func:`make_coverage_map` but counts need not be suppressed and an incident-points layer
    (columns from :data:`INCIDENT_PROPERTIES`) may be added. The title and a banner say
    RESTRICTED; write it only under a run's ``restricted`` folder.

    Parameters
    ----------
    areas, hexagons, footprint, gaps
        As for :func:`make_coverage_map`, counts unsuppressed.
    incidents : geopandas.GeoDataFrame, optional
        Incident points.
    subject, style
        As for :func:`make_coverage_map`, but the restricted map stays in English: its
        ``style.language`` is not used.

    Returns
    -------
    CoverageMap
        With ``restricted=True``.
    """
    layers = _Layers(areas, hexagons, footprint, gaps, incidents)
    english = replace(style or MapStyle(), language="en")
    return _build(layers, subject, english, k=MIN_K, restricted=True)


# --- the patrol plan's map (issue 30) -----------------------------------------------------------

#: Columns a plan layer may carry, with the (English) label a reader sees.
PLAN_PROPERTIES: dict[str, str] = {
    "h3_cell": "Hexagon",
    "planned_hours": "Patrol-hours planned",
    "priority": "Priority",
    "arm": "Randomised",
    "block": "Pair",
}
_PLAN_COLOURS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
_CONTROL_COLOUR = "#9e9e9e"


def _plan_legend(classes: list[tuple[float, str]], text: MapText, size: str,
                 has_tiles: bool, equipoise: str, caveat: str) -> str:
    """Return the plan's legend (its sentences from the brief's catalogue), phone-ready."""
    lang = text.language

    def esc(message: str) -> str:
        return html.escape(message, quote=True)

    rows: list[LegendRow | str] = [
        LegendRow(f"background:{colour}", esc(lang.gettext("{hours} h or more").format(
            hours=lang.number(low, decimals=1))))
        for low, colour in classes
    ]
    rows += [
        LegendRow(f"border:2px dashed #000;background:{_CONTROL_COLOUR}",
                  esc(lang.gettext("Randomised pair: the seed chose which hexagon gets the "
                                   "patrol (grey: not this month)"))),
        esc(lang.gettext(equipoise)),
        esc(lang.gettext("Hexagons of {size}.").format(size=size)),
        esc(lang.gettext(caveat)),
    ]
    if not has_tiles:
        rows.append(text.html(map_text.NO_BACKGROUND))
    return map_text.legend_html(esc(lang.gettext("Patrol-hours planned per hexagon")), rows,
                                text)


def _plan_title(mission: str, month: str, synthetic: bool, text: MapText) -> str:
    """Return the plan map's title, in the map's language."""
    lang = text.language
    title = lang.gettext("{mission}: patrol plan for {month}").format(
        mission=mission, month=lang.month(month))
    if synthetic:
        title = text.text(map_text.TITLE_SYNTHETIC, title=title)
    return title


def _draw_outline(
    fmap: folium.Map, areas: gpd.GeoDataFrame, style: MapStyle, text: MapText
) -> dict[str, Any]:
    """Draw the areas as outlines with no property; return their GeoJSON."""
    outline = _to_geojson(areas, {}, style.decimals, style.simplify_deg)
    group = folium.FeatureGroup(name=text.html(map_text.AREAS), show=True)
    if outline["features"]:
        folium.GeoJson(outline, style_function=lambda _: {
            "color": _AREA_COLOUR, "weight": 1.5, "fillOpacity": 0.0}, control=False
        ).add_to(group)
    group.add_to(fmap)
    return outline


def _plan_classes(hours: pd.Series) -> list[tuple[float, str]]:
    """Return (lowest hours, colour) classes at the quartiles of the planned hours above zero."""
    positive = hours[hours > 0]
    edges = sorted({float(f"{q:.2g}") for q in (positive.quantile([0, 0.25, 0.5, 0.75])
                                                 if len(positive) else [])})
    return list(zip(edges, _PLAN_COLOURS[-len(edges):] if edges else (), strict=True))


def _plan_shown(units: gpd.GeoDataFrame, hours: pd.Series, text: MapText) -> gpd.GeoDataFrame:
    """Return the plan's units with hours, priority and arm written for a reader."""
    lang = text.language
    shown = units.copy()
    shown["planned_hours"] = [lang.number(h, decimals=1) for h in hours]
    if "priority" in shown:
        shown["priority"] = ["" if pd.isna(p) else lang.number(p) for p in shown["priority"]]
    if "arm" in shown:
        shown["arm"] = [lang.gettext({"patrol": "yes, patrol", "no patrol": "yes, no patrol"}
                                     .get(a, "no")) for a in shown["arm"].fillna("")]
    return shown


def _plan_styles(
    units: gpd.GeoDataFrame, hours: pd.Series, classes: list[tuple[float, str]]
) -> dict[str, dict[str, Any]]:
    """Return each unit's style by feature id: its class colour, dashed when randomised."""
    styles = {}
    arms = units.get("arm", pd.Series("", index=units.index)).fillna("")
    for i, (h, arm) in enumerate(zip(hours, arms, strict=True)):
        colour = _CONTROL_COLOUR
        for low, class_colour in classes:
            if h >= low:
                colour = class_colour
        styles[str(i)] = {
            "color": "#000" if arm else colour,
            "weight": 2 if arm else 0.5,
            "dashArray": "5 3" if arm else None,
            "fillColor": colour, "fillOpacity": 0.75,
        }
    return styles


def _draw_plan(
    fmap: folium.Map,
    units: gpd.GeoDataFrame,
    hours: pd.Series,
    classes: list[tuple[float, str]],
    style: MapStyle,
    text: MapText,
) -> dict[str, Any]:
    """Draw the plan's hexagons with their tooltips; return their GeoJSON."""
    lang = text.language
    labels = {c: lang.gettext(label) for c, label in PLAN_PROPERTIES.items()}
    styles = _plan_styles(units, hours, classes)
    data = _to_geojson(_plan_shown(units, hours, text), PLAN_PROPERTIES, style.decimals,
                       style.simplify_deg, with_ids=True, text=text)
    group = folium.FeatureGroup(name=html.escape(lang.gettext("Patrol plan")), show=True)
    _add_geojson(group, data, labels, lambda f: styles[f["id"]], text)
    group.add_to(fmap)
    return data


def _plan_hexagon_size(units: gpd.GeoDataFrame, text: MapText) -> str:
    """Say how large the plan's finest hexagons are, or nothing when there is none."""
    lang = text.language
    cells = units["h3_cell"] if "h3_cell" in units else []
    resolutions = sorted({cell_resolution(c) for c in cells})
    if not resolutions:
        return ""
    area = float(f"{hexagon_area_km2(max(resolutions)):.2g}")
    return lang.gettext("about {area} km\u00b2").format(
        area=lang.number(area, decimals=0 if area >= 10 else 1))


def _plan_summary(
    outline: dict[str, Any], data: dict[str, Any], units: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Return the plan map's layer summary: what was drawn, how many features, which properties."""
    return pd.DataFrame([
        {"layer": "Areas", "features": len(outline["features"]), "properties": ""},
        {"layer": "Patrol plan", "features": len(data["features"]),
         "properties": ", ".join(c for c in PLAN_PROPERTIES if c in units.columns)},
    ])


def make_plan_map(
    areas: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    mission: str,
    month: str,
    synthetic: bool,
    equipoise: str,
    caveat: str,
    style: MapStyle | None = None,
) -> CoverageMap:
    """Build the shared map of a month's patrol plan, in the mission's language, offline.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Area polygons; drawn as outlines only (no property of theirs is embedded).
    units : geopandas.GeoDataFrame
        Hexagon polygons of the shared plan with columns from :data:`PLAN_PROPERTIES`
        (``planned_hours`` as a number, 0 for the unpatrolled unit of a randomised pair; ``arm``
        ``patrol``, ``no patrol`` or empty). No count of reports is accepted.
    mission, month : str
        Mission code and ``YYYY-MM``, for the title.
    synthetic : bool
        Whether the mission is synthetic; the page then says SYNTHETIC.
    equipoise, caveat : str
        The equipoise statement and the reported-not-occurred caveat (English messages of the
        catalogue, translated here).
    style : MapStyle, optional
        The mission's ``sharing.language`` (every sentence and number is written in it), tile
        server and precision, as for :func:`make_coverage_map` (``count_breaks`` and
        ``gap_labels`` are not used).

    Returns
    -------
    CoverageMap
        Call ``to_html()`` for the offline page.

    Raises
    ------
    ValueError
        When a layer has a column off its whitelist or no CRS, or the tile server's URL is not
        http(s).
    """
    style = style or MapStyle()
    text = MapText.of(style.language)
    areas = _check_layer(areas[[areas.geometry.name]], "areas", {}, [])
    units = _check_layer(units, "plan", PLAN_PROPERTIES, ["planned_hours"])
    title = _plan_title(mission, month, synthetic, text)
    fmap = _base_map(areas, title, style, text, control_scale=True)
    outline = _draw_outline(fmap, areas, style, text)
    hours = pd.to_numeric(units["planned_hours"]).fillna(0.0)
    classes = _plan_classes(hours)
    data = _draw_plan(fmap, units, hours, classes, style, text)
    banners = [text.text(map_text.BANNER_SYNTHETIC)] if synthetic else []
    legend = _plan_legend(classes, text, _plan_hexagon_size(units, text),
                          style.tile_url is not None, equipoise, caveat)
    _finish_page(fmap, title, banners, legend, text)
    allowed = () if style.tile_url is None else (style.tile_url,)
    return CoverageMap(make_inert(fmap), title, False, _plan_summary(outline, data, units),
                       allowed, text.code)
