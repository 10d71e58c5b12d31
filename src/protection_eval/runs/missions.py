"""Loading a mission: its configuration, its sources read and ingested, and the run's cache.

:func:`load_mission` is what notebooks and commands call. Inside a run the notebooks reuse the
mission the runner validated, kept signed in the run's restricted folder
(:mod:`protection_eval.runs.mission_cache`); no file is ever loaded as code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from protection_eval.config import ContextLayer, MissionConfig, load_mission_config
from protection_eval.ingest.tables import MissionData, ingest_mission
from protection_eval.inventory.strategies import load_catalogue
from protection_eval.io.errors import InputFileError
from protection_eval.io.readers import read_mission_sources, read_raw_table
from protection_eval.runs.mission_cache import read_mission_cache

if TYPE_CHECKING:
    from protection_eval.ingest.quarantine import RejectedSink
    from protection_eval.sharing.audit.folder import RawNeedles
    from protection_eval.sharing.context import MapContext

__all__ = ["load_map_context", "load_mission", "load_mission_for_audit"]


def load_mission(config_path: str | Path | MissionConfig, *,
                 rejected_sink: RejectedSink | None = None) -> MissionData:
    """Read, check and quarantine a mission's inputs.

    Inside a run, the notebooks reuse the mission the runner validated (see
    :mod:`protection_eval.runs.mission_cache`) while nothing it was made from has changed and its
    integrity checks pass, each table parsed when first used; any other cache is ignored with a
    warning. No file is ever loaded as code.

    Parameters
    ----------
    config_path : str, Path or MissionConfig
        The mission YAML file, or a configuration already loaded.
    rejected_sink : RejectedSink, optional
        Takes the quarantined rows as ingestion finds them
        (:func:`~protection_eval.ingest.tables.ingest_mission`; e.g.
        :class:`protection_eval.runs.rejected.RejectedFiles`). A mission taken from a run's
        cache was not ingested here: its quarantined rows are in its report, as without one.

    Returns
    -------
    MissionData
        Accepted rows of every table plus the validation report.
    """
    if isinstance(config_path, MissionConfig):
        config = config_path
    else:
        config = load_mission_config(config_path)
        cached = read_mission_cache(config, Path(config_path), ingest=_ingest)
        if cached is not None:
            return cached
    return _ingest(config, rejected_sink=rejected_sink)


def _ingest(config: MissionConfig, *, rejected_sink: RejectedSink | None = None) -> MissionData:
    raw = read_mission_sources(config)
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids,
                          rejected_sink=rejected_sink)


def load_mission_for_audit(config: MissionConfig) -> tuple[MissionData, RawNeedles]:
    """Read and ingest a mission, keeping what the audit needs from its sources as read.

    A run audits its shared part against the raw incident coordinates and identifying values
    that ingestion drops; taking them here, while the sources are read for ingestion, spares
    the audit reading every source again (GPS tracks included).

    Parameters
    ----------
    config : MissionConfig
        The mission configuration.

    Returns
    -------
    tuple of (MissionData, RawNeedles)
        The mission, as :func:`load_mission` gives it, and the audit's needles
        (:func:`protection_eval.sharing.audit.folder.raw_needles_of`).
    """
    # The audit's rules are imported only here: a notebook loading its mission never audits.
    from protection_eval.sharing.audit.folder import raw_needles_of

    raw = read_mission_sources(config)
    needles = raw_needles_of({name: table.frame for name, table in raw.items()})
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids), needles


def _name_column(spec: ContextLayer, columns: Sequence[str], language: str, path: Path) -> str:
    """Return the column of names: the one named, else the language's, else ``name``."""
    if spec.name is not None:
        if spec.name not in columns:
            raise InputFileError(
                path, f"has no column {spec.name!r} of names; its columns are "
                f"{[c for c in columns if c not in ('source_row', 'geometry')]}",
                "Set `name:` of this context layer in the mission YAML to one of them")
        return spec.name
    wanted = (f"name:{language}", f"name_{language}", "name")
    found = next((c for c in wanted if c in columns), None)
    if found is None and spec.kind == "places":
        raise InputFileError(
            path, f"is a places layer with no column of names ({', '.join(wanted)})",
            "Set `name:` of this context layer in the mission YAML to the column of names")
    return found or ""


def load_map_context(config: MissionConfig, bounds: Sequence[float]) -> MapContext:
    """Read what the mission's shared map draws besides its data: context layers, basemap.

    Context layers (``sharing.context_layers``) are read through the same readers as every
    source (GeoPackage, shapefile, GeoJSON, GeoParquet), every attribute as text; the basemap
    (``sharing.basemap``) is read for the mission's extent, up to its ``max_zoom`` and
    ``max_bytes``, with :func:`protection_eval.io.tiles.read_tile_archive`; a vector archive
    is decoded into context layers of its places, roads and water
    (:func:`protection_eval.sharing.context.vector_tile_sources`), which the map draws itself.

    Parameters
    ----------
    config : MissionConfig
        The mission configuration.
    bounds : sequence of float
        The mission's extent (its areas' bounds: west, south, east, north in degrees).

    Returns
    -------
    MapContext
        Empty when the mission names neither.

    Raises
    ------
    InputFileError
        A file that cannot be read, a layer without geometry, a places layer without names, an
        unreadable tile archive, a basemap with no attribution.
    """
    # The map's own modules are imported only here: most runs draw no context.
    import geopandas as gpd

    from protection_eval.io.tiles import decode_vector_tiles, read_tile_archive
    from protection_eval.sharing import map_text
    from protection_eval.sharing.context import ContextSource, MapContext, vector_tile_sources
    from protection_eval.sharing.map_text import MapText

    sources = []
    for position, spec in enumerate(config.sharing.context_layers):
        raw = read_raw_table(f"sharing.context_layers.{position}", spec.path, layer=spec.layer,
                             header_only_ok=True)
        frame = raw.frame
        if "geometry" not in frame:
            raise InputFileError(spec.path, "has no geometry: a context layer is a map layer",
                                 "Give a GeoPackage, shapefile, GeoJSON or GeoParquet file")
        name = _name_column(spec, list(frame.columns), config.sharing.language, spec.path)
        layer = gpd.GeoDataFrame(frame.drop(columns=["geometry"]),
                                 geometry=list(frame["geometry"]), crs="EPSG:4326")
        sources.append(ContextSource(spec.label, spec.kind, layer, name or None))
    basemap = config.sharing.basemap
    if basemap is None:
        return MapContext(tuple(sources))
    archive = read_tile_archive(basemap.path, tuple(bounds), max_zoom=basemap.max_zoom,
                                max_bytes=basemap.max_bytes)
    attribution = basemap.attribution or archive.attribution
    if not attribution:
        raise InputFileError(
            basemap.path, "says nothing of whom its tiles are from (no attribution metadata)",
            "Set sharing.basemap.attribution in the mission YAML (e.g. \"© OpenStreetMap "
            "contributors\"): the map must say it")
    if archive.vector:
        # No vector renderer in the page: the map draws the tiles' places, roads and water.
        text = MapText.of(config.sharing.language)
        labels = {kind: text.text(label) for kind, label in map_text.VECTOR_LABELS.items()}
        drawn = vector_tile_sources(decode_vector_tiles(archive), labels,
                                    config.sharing.language)
        return MapContext(tuple(sources) + tuple(drawn), None, attribution)
    return MapContext(tuple(sources), archive, attribution)
