"""Every word of the interactive map, in the mission's language, and its page furniture.

The map's words are gettext messages of the context ``map`` (``msgctxt "map"`` in
``sharing/locale/<language>/LC_MESSAGES/protection_eval.po``), looked up through
:mod:`protection_eval.sharing.i18n` like the brief's sentences but kept apart from them, so
that a sentence of the brief and a label of the map can each change without touching the
other's translations. Numbers, shares and months follow the locale (Babel's CLDR data); the
scale bar writes its units in the language too, and right-to-left languages get right-to-left
title, legend and layer control while the map itself is never mirrored.

This module also writes the parts of the page that are not folium elements: the title and its
banner, the legend (a ``<details>`` element, open on a desktop, closed on a phone until
tapped), the style sheet that keeps the title clear of the controls on a small screen, and a
script that collapses the layer control on a phone and puts the language's words into
Leaflet's own controls. All of it goes into the page as
:class:`~protection_eval.sharing.inert.InertHtml`: text is escaped for where it goes and never
compiled as a template.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from protection_eval.hexgrid import hexagon_area_km2
from protection_eval.sharing.i18n import Language, get_language

__all__ = [
    "MAP_CONTEXT",
    "MAP_MESSAGES",
    "SMALL_SCREEN_PX",
    "CoverageNote",
    "LegendRow",
    "MapText",
    "attribution_script",
    "basemap_script",
    "page_script",
    "page_style",
]

#: The gettext context (``msgctxt``) of every word of the interactive map.
MAP_CONTEXT = "map"
#: Widths up to this many CSS pixels are a phone: legend and layer control start closed.
SMALL_SCREEN_PX = 640


def M_(message: str) -> str:
    """Mark a message of the map's context for the catalogues (see :data:`MAP_MESSAGES`)."""
    return message


TITLE = M_("{mission}: patrol coverage and reported SGBV, {period}")
TITLE_BASES = M_("{mission}: base presence and reported SGBV, {period}")
TITLE_SYNTHETIC = M_("{title} (SYNTHETIC)")
BANNER_SYNTHETIC = M_("SYNTHETIC DATA: not a real mission")
PERIOD = M_("{start} to {end}")
LEGEND = M_("Legend")
LEGEND_HEADING = M_("Reports of SGBV per hexagon")
CLASS_OPEN = M_("{low} or more")
UNSHADED = M_("Unshaded: no report, or fewer than {k} (hidden to protect survivors).")
HEXAGONS_OF = M_("Hexagons of {size}.")
HEXAGON_SIZES = M_(
    "Hexagon sizes: {sizes}. Where reports are few, hexagons are merged into larger ones so "
    "that counts can be shown; a larger hexagon counts only the reports outside the smaller "
    "hexagons drawn on it. Hover for a hexagon's size."
)
ABOUT_KM2 = M_("about {area} km²")
FOOTPRINT_WITHIN = M_("Patrol footprint (within {radius} km of a patrol)")
FOOTPRINT_REACH = M_("Patrol footprint (within patrol reach)")
GAP_ROW = M_("Gap: many reports, little patrol presence; number = look here first")
# A mission whose only presence data are its bases (no patrol, no time window).
BASES_WITHIN = M_("Within {radius} km of an open base")
BASES_REACH = M_("Within reach of an open base")
GAP_ROW_BASES = M_("Gap: many reports, few near a base; number = look here first")
# What the legend adds when coverage could not be computed, or not for every month.
NOT_COMPUTED = M_(
    "Coverage not computed for this period (the brief says why): no gap is ranked."
)
IMPRECISE = M_("Reports located less precisely than {radius} km are not on this map.")
NO_PRESENCE_FOR = M_(
    "No presence data for {months}: whether a patrol was near the reports of those months is "
    "not known."
)
AREA_ROW = M_("Area boundary (hover for figures)")
REPORTED_NOTE = M_(
    "Counts are reports, not all incidents: more patrols can mean more reporting."
)
NO_BACKGROUND = M_("No background map: none is configured for this mission.")
CONTEXT_COUNT = M_("{label}: {shown} of {total}")
CONTEXT_LEFT_OUT = M_("To keep the file small, not everything is drawn: {details}.")
BASEMAP_ZOOM = M_("Background map detailed to zoom level {zoom} only, to keep the file small.")
# Layers drawn from a vector tile archive, by kind.
VECTOR_LABELS = {"places": M_("Places"), "roads": M_("Roads"), "rivers": M_("Rivers and lakes")}
NOT_SHOWN = M_("not shown (suppressed)")
NO_DATA = M_("no data")
# Layer names, in the layer control.
AREAS = M_("Areas")
FOOTPRINT = M_("Patrol footprint")
HEXAGONS = M_("Reports per hexagon")
GAPS = M_("Gaps")
BACKGROUND = M_("Background map")
# Leaflet's own controls.
LAYERS = M_("Layers")
ZOOM_IN = M_("Zoom in")
ZOOM_OUT = M_("Zoom out")
METRES = M_("{n} m")
KILOMETRES = M_("{n} km")
# Tooltip labels of the layers' properties (the values of maps.*_PROPERTIES).
PROPERTY_LABELS = (
    M_("Area code"), M_("Area"), M_("Reports in period"), M_("Area within patrol reach"),
    M_("Population within patrol reach"), M_("Patrol-hours"),
    M_("Women among patrol personnel"), M_("Hexagon"), M_("Hexagon size"), M_("Unit type"),
    M_("Gap rank"), M_("Reports with a patrol in reach"),
)

#: Every message of the map's context, for the catalogues and their tests.
MAP_MESSAGES: tuple[str, ...] = (
    TITLE, TITLE_BASES, BASES_WITHIN, BASES_REACH, GAP_ROW_BASES, NOT_COMPUTED,
    NO_PRESENCE_FOR, IMPRECISE, TITLE_SYNTHETIC, BANNER_SYNTHETIC, PERIOD, LEGEND,
    LEGEND_HEADING, CLASS_OPEN,
    UNSHADED, HEXAGONS_OF, HEXAGON_SIZES, ABOUT_KM2, FOOTPRINT_WITHIN, FOOTPRINT_REACH,
    GAP_ROW, AREA_ROW, REPORTED_NOTE, NO_BACKGROUND, CONTEXT_COUNT, CONTEXT_LEFT_OUT,
    BASEMAP_ZOOM, *VECTOR_LABELS.values(), NOT_SHOWN, NO_DATA, AREAS, FOOTPRINT,
    HEXAGONS, GAPS, BACKGROUND, LAYERS, ZOOM_IN, ZOOM_OUT, METRES, KILOMETRES,
    *PROPERTY_LABELS,
)


@dataclass(frozen=True)
class LegendRow:
    """One row of the legend: a swatch (CSS declarations) and its text, already HTML."""

    swatch: str
    text: str


@dataclass(frozen=True)
class CoverageNote:
    """What the legend must add about coverage, in whichever language the map speaks.

    Attributes
    ----------
    not_computed : bool
        Coverage was not computed for the period (its share is unknown, not zero).
    months_without_data : tuple of (str, str)
        Spans of months (``YYYY-MM``, first and last) the presence data do not cover.
    imprecise_radius_km : float, optional
        Set when some reports are located less precisely than the coverage radius (this many
        km): they are in no hexagon of the map, and the legend says so.
    """

    not_computed: bool = False
    months_without_data: tuple[tuple[str, str], ...] = ()
    imprecise_radius_km: float | None = None

    def __bool__(self) -> bool:
        """Whether there is anything for the legend to say."""
        return (self.not_computed or bool(self.months_without_data)
                or self.imprecise_radius_km is not None)

    def html(self, text: MapText) -> list[str]:
        """Return the legend's notes (HTML), none when there is nothing to say."""
        notes = []
        if self.imprecise_radius_km is not None:
            radius = self.imprecise_radius_km
            notes.append(text.html(IMPRECISE, radius=text.number(
                radius, decimals=0 if float(radius).is_integer() else 1)))
        if self.not_computed:
            return [text.html(NOT_COMPUTED), *notes]
        if self.months_without_data:
            month = text.language.month
            spans = ", ".join(month(a) if a == b
                              else text.text(PERIOD, start=month(a), end=month(b))
                              for a, b in self.months_without_data)
            notes.insert(0, text.html(NO_PRESENCE_FOR, months=spans))
        return notes


@dataclass(frozen=True)
class MapText:
    """The map's words and number formats in one language.

    Attributes
    ----------
    language : Language
        The language (``sharing.language`` of the mission).
    """

    language: Language

    @classmethod
    def of(cls, code: str | Language = "en") -> MapText:
        """Return the map's words in the language ``code`` (a code or a :class:`Language`)."""
        return cls(code if isinstance(code, Language) else get_language(code))

    @property
    def code(self) -> str:
        """The language code, for ``<html lang>``."""
        return self.language.code

    @property
    def direction(self) -> str:
        """``rtl`` or ``ltr``."""
        return self.language.direction

    def text(self, message: str, **values: Any) -> str:
        """Translate ``message`` and fill its placeholders: plain text, nothing escaped."""
        translated = self.language.pgettext(MAP_CONTEXT, message)
        return translated.format(**{key: str(value) for key, value in values.items()})

    def raw(self, message: str) -> str:
        """Translate ``message`` and leave its placeholders as they are (for page code)."""
        return self.language.pgettext(MAP_CONTEXT, message)

    def html(self, message: str, **values: Any) -> str:
        """Translate ``message`` and fill its placeholders, all escaped for HTML text."""
        translated = html.escape(self.language.pgettext(MAP_CONTEXT, message), quote=True)
        return translated.format(**{k: html.escape(str(v), quote=True) for k, v in values.items()})

    # numbers ---------------------------------------------------------------------------
    def count(self, value: Any) -> str:
        """Write a shown count (``1 234``), or "not shown (suppressed)" where it is NA."""
        return self.text(NOT_SHOWN) if pd.isna(value) else self.language.number(int(value))

    def share(self, value: Any) -> str:
        """Write a share 0-1 as a whole percentage (``42 %``), or "no data"."""
        return self.text(NO_DATA) if pd.isna(value) else self.language.percent(float(value))

    def hours(self, value: Any) -> str:
        """Write hours as a whole number, or "no data"."""
        return self.text(NO_DATA) if pd.isna(value) else self.language.number(float(value))

    def number(self, value: float, decimals: int = 0) -> str:
        """Write any number the language's way."""
        return self.language.number(value, decimals=decimals)

    def hexagon_size(self, resolution: Any) -> str:
        """How large a hexagon of an H3 resolution is (``about 5.2 km²``); empty for NA."""
        if pd.isna(resolution):
            return ""
        value = float(f"{hexagon_area_km2(int(resolution)):.2g}")
        decimals = 0 if value >= 10 or value.is_integer() else len(f"{value:g}".split(".")[1])
        return self.text(ABOUT_KM2, area=self.language.number(value, decimals=decimals))

    def period(self, start: dt.date, end: dt.date) -> str:
        """Write a period of months in words (``janvier 2022 à décembre 2023``)."""
        return self.text(PERIOD, start=self.language.month(f"{start:%Y-%m}"),
                         end=self.language.month(f"{end:%Y-%m}"))

    def class_label(self, low: int, high: int | None) -> str:
        """Write the label of a class of counts (``5–9``, ``100 or more``), escaped."""
        if high is None:
            return self.html(CLASS_OPEN, low=self.language.number(low))
        return f"{self.language.number(low)}&ndash;{self.language.number(high)}"


def _swatch_row(row: LegendRow) -> str:
    return (f'<div class="pe-row"><span class="pe-swatch" style="{row.swatch}"></span>'
            f"<span>{row.text}</span></div>")


def legend_html(heading: str, rows: Sequence[LegendRow | str], text: MapText) -> str:
    """Return the legend: a ``<details>`` element, open until the page closes it on a phone.

    Parameters
    ----------
    heading : str
        The first line, HTML.
    rows : sequence of LegendRow or str
        Swatch rows, or notes (HTML strings, drawn in grey).
    text : MapText
        For the summary's word and the direction.
    """
    body = "".join(_swatch_row(r) if isinstance(r, LegendRow) else f'<div class="pe-note">{r}</div>'
                   for r in rows)
    return (f'<details class="pe-legend" open dir="{text.direction}">'
            f"<summary>{text.html(LEGEND)}</summary>"
            f'<div class="pe-heading">{heading}</div>{body}</details>')


def title_html(title: str, banners: Sequence[str], text: MapText) -> str:
    """Return the title box: the title, then each banner (plain text, escaped here) in red."""
    banner_html = "".join(f'<div class="pe-banner">{html.escape(b)}</div>' for b in banners)
    return (f'<div class="pe-title" dir="{text.direction}">'
            f'<div style="font-weight:bold">{html.escape(title)}</div>{banner_html}</div>')


def page_style(text: MapText) -> str:
    """Return the page's style sheet: title, legend, and a phone layout that keeps the map in view.

    On a screen up to :data:`SMALL_SCREEN_PX` wide the title stands between the zoom buttons
    and the layer control's button, in a smaller font, and the legend opens over the map only
    when tapped.
    """
    rtl = text.direction == "rtl"
    layers_direction = (".leaflet-control-layers{direction:rtl;text-align:right}"
                        if rtl else "")
    return (
        "<style>"
        ".pe-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;"
        "background:rgba(255,255,255,0.95);padding:6px 14px;border:1px solid #999;"
        "border-radius:4px;font:15px/1.4 Arial,Helvetica,sans-serif;text-align:center;"
        "max-width:calc(100vw - 360px);min-width:260px}"
        ".pe-banner{color:#b00020;font-weight:bold;letter-spacing:0.5px}"
        ".pe-legend{position:fixed;bottom:28px;right:10px;z-index:1000;max-width:260px;"
        "background:rgba(255,255,255,0.93);padding:6px 10px;border:1px solid #999;"
        "border-radius:4px;font:12px/1.35 Arial,Helvetica,sans-serif;"
        "max-height:calc(100vh - 140px);overflow:auto}"
        ".pe-legend>summary{cursor:pointer;font-weight:bold;color:#333}"
        ".pe-heading{font-weight:bold;margin:4px 0 2px}"
        ".pe-row{display:flex;align-items:center;margin:1px 0;gap:6px}"
        ".pe-swatch{flex:none;width:14px;height:14px;box-sizing:border-box}"
        ".pe-note{color:#555;margin-top:4px}"
        # Place labels: a dot at the place, its name beside it with a white halo; villages
        # and hamlets appear only once zoomed in (the script sets data-pe-zoom).
        ".pe-place{white-space:nowrap;pointer-events:none}"
        ".pe-place .pe-dot{position:absolute;left:3px;top:3px;width:6px;height:6px;"
        "border-radius:50%;background:#222;box-shadow:0 0 0 1px #fff}"
        ".pe-place .pe-name{position:absolute;left:12px;top:-2px;unicode-bidi:plaintext;"
        "font:11px/1.2 Arial,Helvetica,sans-serif;color:#222;"
        "text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff,0 0 3px #fff}"
        ".pe-rank-0 .pe-name{font-size:13px;font-weight:bold}.pe-rank-1 .pe-name{font-weight:bold}"
        "[data-pe-zoom=low] .pe-rank-2,[data-pe-zoom=low] .pe-rank-3,"
        "[data-pe-zoom=mid] .pe-rank-3{display:none}"
        f"{layers_direction}"
        f"@media (max-width:{SMALL_SCREEN_PX}px){{"
        ".pe-title{left:54px;right:54px;transform:none;max-width:none;min-width:0;"
        "font-size:12px;line-height:1.3;padding:3px 6px}"
        ".pe-legend{right:10px;bottom:24px;max-width:calc(100vw - 20px);"
        "max-height:calc(100vh - 180px);font-size:11px;padding:4px 8px}"
        "}"
        "</style>"
    )


def _script_json(value: Any) -> str:
    """JSON for a script element: ``<`` written as an escape, so no text can end the script."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def page_script(text: MapText, map_name: str, control_name: str | None) -> str:
    """Return the page's script: words of Leaflet's controls, the scale bar, the phone layout.

    Parameters
    ----------
    text : MapText
        The language.
    map_name, control_name : str
        The JavaScript names of the map and of its layer control (folium's ``get_name()``).

    Returns
    -------
    str
        Code for the page's script element (folium's figure wraps it in ``<script>``), run once
        the page's own scripts have made the map: it adds
        a metric scale bar written in the language, translates the zoom buttons' and the layer
        control's titles and, on a phone, closes the legend and the layer control (a tap on
        either opens it; a tap on the map closes the layer control again).
    """
    numbering = text.language.locale.default_numbering_system or "latn"
    words = {
        "m": text.raw(METRES), "km": text.raw(KILOMETRES), "layers": text.text(LAYERS),
        "zoomIn": text.text(ZOOM_IN), "zoomOut": text.text(ZOOM_OUT),
        "locale": f"{text.code}-u-nu-{numbering}",
    }
    control = control_name or "null"
    return (
        "document.addEventListener('DOMContentLoaded',function(){"
        f"var words={_script_json(words)};var map={map_name};"
        f"var control=(typeof {control}==='undefined')?null:{control};"
        "var format=new Intl.NumberFormat(words.locale);"
        "var scale=L.control.scale({imperial:false});"
        "scale._updateMetric=function(maxMeters){var n=this._getRoundNum(maxMeters);"
        "var label=n<1000?words.m.replace('{n}',format.format(n))"
        ":words.km.replace('{n}',format.format(n/1000));"
        "this._updateScale(this._mScale,label,n/maxMeters);};"
        "scale.addTo(map);"
        "var zoomed=function(){var z=map.getZoom();map.getContainer().setAttribute("
        "'data-pe-zoom',z<9?'low':(z<11?'mid':'high'));};map.on('zoomend',zoomed);zoomed();"
        "if(control&&window.peBasemap){control.addOverlay(window.peBasemap.layer,"
        "window.peBasemap.name);}"
        "document.querySelectorAll('.leaflet-control-zoom-in').forEach(function(e){"
        "e.title=words.zoomIn;e.setAttribute('aria-label',words.zoomIn);});"
        "document.querySelectorAll('.leaflet-control-zoom-out').forEach(function(e){"
        "e.title=words.zoomOut;e.setAttribute('aria-label',words.zoomOut);});"
        "document.querySelectorAll('.leaflet-control-layers-toggle').forEach(function(e){"
        "e.title=words.layers;e.setAttribute('aria-label',words.layers);});"
        f"if(window.matchMedia('(max-width:{SMALL_SCREEN_PX}px)').matches){{"
        "document.querySelectorAll('details.pe-legend').forEach(function(e){e.open=false;});"
        "if(control){control.collapse();map.on('click',function(){control.collapse();});}"
        "}});"
    )


def basemap_script(text: MapText, map_name: str, tiles: dict[str, str], min_zoom: int,
                   max_zoom: int, attribution: str) -> str:
    """Return the code that draws embedded tiles as the map's background, with no request.

    Parameters
    ----------
    text : MapText
        For the layer's name in the layer control.
    map_name : str
        The map's JavaScript name.
    tiles : dict
        ``"z_x_y"`` -> the tile as a ``data:`` URI.
    min_zoom, max_zoom : int
        The zoom levels embedded; deeper views scale the deepest tiles up.
    attribution : str
        Whom the tiles are from, escaped for HTML (Leaflet writes it with innerHTML).

    Returns
    -------
    str
        Code for the page's script element: a Leaflet grid layer whose tiles are images of
        those URIs (a tile the archive lacks stays empty), added under the data layers.
    """
    options = {"minNativeZoom": min_zoom, "maxNativeZoom": max_zoom, "maxZoom": 22,
               "attribution": attribution}
    return (
        "document.addEventListener('DOMContentLoaded',function(){"
        f"var tiles={_script_json(tiles)};var map={map_name};"
        "var Tiles=L.GridLayer.extend({createTile:function(c){"
        "var img=document.createElement('img');img.alt='';"
        "var src=tiles[c.z+'_'+c.x+'_'+c.y];if(src){img.src=src;}return img;}});"
        f"var layer=new Tiles({_script_json(options)});layer.addTo(map);"
        f"window.peBasemap={{layer:layer,name:{_script_json(text.html(BACKGROUND))}}};"
        "});"
    )


def attribution_script(map_name: str, attribution: str) -> str:
    """Return the code that says in the map's corner whom its background's features are from.

    Parameters
    ----------
    map_name : str
        The map's JavaScript name.
    attribution : str
        The text, escaped for HTML (Leaflet writes it with innerHTML).
    """
    return ("document.addEventListener('DOMContentLoaded',function(){"
            f"{map_name}.attributionControl.addAttribution({_script_json(attribution)});}});")
