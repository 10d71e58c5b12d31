"""A tile archive the mission holds, shown offline under its map with its attribution (issue 29).

The archives are made here: a few PNG tiles written with the ``pmtiles`` package's writer, or
into an MBTiles SQLite database with the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from pyproj import Transformer
from test_maps import build, make_areas
from test_offline_browser import browser, screenshot_path  # noqa: F401 (the chromium fixture)

from protection_eval.io.errors import InputFileError
from protection_eval.io.tiles import read_tile_archive
from protection_eval.sharing.context import MapContext, context_reference

#: The test maps' areas (near Bunia), west, south, east, north.
BOUNDS = tuple(float(b) for b in make_areas().total_bounds)
_MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
_HALF = 20037508.342789244


def expected_tiles(bounds, zoom: int) -> set[tuple[int, int, int]]:
    """XYZ tiles over a box, from Web Mercator metres (pyproj), not the library's formula."""
    west, south, east, north = bounds
    (x0, x1), (y1, y0) = _MERCATOR.transform([west, east], [south, north])
    n = 2**zoom

    def index(metres: float, flip: bool) -> int:
        share = (metres + _HALF) / (2 * _HALF)
        return min(n - 1, int((1 - share if flip else share) * n))

    return {(zoom, x, y) for x in range(index(x0, False), index(x1, False) + 1)
            for y in range(index(y0, True), index(y1, True) + 1)}


def png_tile(z: int, x: int, y: int) -> bytes:
    """A 256-pixel tile whose colour says where it is."""
    image = Image.new("RGB", (256, 256), ((z * 40) % 256, (x * 7) % 256, (y * 13) % 256))
    for i in range(0, 256, 32):
        for j in range(256):
            image.putpixel((i, j), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def archive_tiles(max_zoom: int = 9) -> dict[tuple[int, int, int], bytes]:
    """Tiles over the test extent at zooms 0..max_zoom, and one far away at each zoom."""
    tiles = {}
    for zoom in range(max_zoom + 1):
        for key in expected_tiles(BOUNDS, zoom) | {(zoom, 0, 0)}:
            tiles[key] = png_tile(*key)
    return tiles


def write_pmtiles(path: Path, tiles: dict, *, attribution: str | None = "© Test survey",
                  tile_type: str = "PNG") -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    with write(str(path)) as writer:
        for (z, x, y), data in sorted(tiles.items(), key=lambda kv: zxy_to_tileid(*kv[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        header = {"tile_type": getattr(TileType, tile_type), "tile_compression":
                  Compression.NONE, "min_lon_e7": int(BOUNDS[0] * 1e7),
                  "min_lat_e7": int(BOUNDS[1] * 1e7), "max_lon_e7": int(BOUNDS[2] * 1e7),
                  "max_lat_e7": int(BOUNDS[3] * 1e7), "center_zoom": 8,
                  "center_lon_e7": int(30.2e7), "center_lat_e7": int(1.6e7)}
        writer.finalize(header, {"attribution": attribution} if attribution else {})
    return path


def write_mbtiles(path: Path, tiles: dict, *, fmt: str = "png") -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                   "tile_row INTEGER, tile_data BLOB)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)",
                       [("format", fmt), ("attribution", "<a href='https://tiles.example.org'>"
                                                         "Example tiles</a>")])
        # MBTiles rows count from the south.
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                       [(z, x, 2**z - 1 - y, data) for (z, x, y), data in tiles.items()])
    return path


def test_a_pmtiles_archive_gives_the_tiles_over_the_mission_up_to_the_zoom_asked(tmp_path):
    tiles = archive_tiles()
    path = write_pmtiles(tmp_path / "tiles.pmtiles", tiles)
    archive = read_tile_archive(path, BOUNDS, max_zoom=7, max_bytes=10_000_000)
    assert archive.format == "png" and archive.attribution == "© Test survey"
    assert archive.zooms == tuple(range(8)) and archive.dropped_zooms == ()
    wanted = set().union(*(expected_tiles(BOUNDS, z) for z in range(8)))
    assert set(archive.tiles) == wanted
    assert all(archive.tiles[key] == tiles[key] for key in wanted)


def test_a_byte_budget_leaves_out_the_deepest_levels_and_names_them(tmp_path):
    tiles = archive_tiles()
    path = write_pmtiles(tmp_path / "tiles.pmtiles", tiles)
    upto5 = sum(len(tiles[k]) for z in range(6) for k in expected_tiles(BOUNDS, z))
    archive = read_tile_archive(path, BOUNDS, max_zoom=9, max_bytes=upto5)
    assert archive.zooms == tuple(range(6)) and archive.dropped_zooms == (6, 7, 8, 9)
    assert archive.nbytes == upto5


def test_an_mbtiles_archive_is_read_with_its_rows_counted_from_the_south(tmp_path):
    tiles = archive_tiles(6)
    path = write_mbtiles(tmp_path / "tiles.mbtiles", tiles)
    archive = read_tile_archive(path, BOUNDS, max_zoom=6, max_bytes=10_000_000)
    wanted = set().union(*(expected_tiles(BOUNDS, z) for z in range(7)))
    assert set(archive.tiles) == wanted
    assert all(archive.tiles[key] == tiles[key] for key in wanted)
    assert archive.attribution.endswith("Example tiles</a>")


_TO_LONLAT = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)


def pixel_lonlat(z: int, x: int, y: int, px: float, py: float) -> tuple[float, float]:
    """A tile pixel (y down, extent 4096) in degrees, through Web Mercator metres (pyproj)."""
    size = 2 * _HALF / 2**z
    return _TO_LONLAT.transform(-_HALF + (x + px / 4096) * size, _HALF - (y + py / 4096) * size)


def vector_tile(schema: str) -> bytes:
    """One gzipped Mapbox vector tile: a town, a road, a river and a building."""
    import gzip

    import mapbox_vector_tile

    if schema == "openmaptiles":
        layers = [
            {"name": "place", "features": [{"geometry": "POINT(1000 1200)", "properties": {
                "class": "town", "name": "Bunia", "name:fr": "Bunia-ville"}}]},
            {"name": "transportation", "features": [{"geometry": "LINESTRING(0 2000, 4096 2100)",
                                                     "properties": {"class": "primary"}}]},
            {"name": "waterway", "features": [{"geometry": "LINESTRING(3000 0, 3100 4096)",
                                               "properties": {"class": "river"}}]},
            {"name": "building", "features": [{"geometry": "POLYGON((10 10, 20 10, 20 20, 10 10))",
                                               "properties": {}}]},
        ]
    else:  # Protomaps basemaps
        layers = [
            {"name": "places", "features": [{"geometry": "POINT(1000 1200)", "properties": {
                "kind": "locality", "kind_detail": "town", "name": "Bunia"}}]},
            {"name": "roads", "features": [{"geometry": "LINESTRING(0 2000, 4096 2100)",
                                            "properties": {"kind": "major_road"}}]},
        ]
    return gzip.compress(mapbox_vector_tile.encode(
        layers, default_options={"y_coord_down": True}), mtime=0)


def write_vector_archive(path: Path, schema: str, zoom: int = 12) -> tuple[Path, tuple]:
    """An archive of vector tiles over the test extent at one zoom; returns it and one tile."""
    keys = sorted(expected_tiles(BOUNDS, zoom))
    tile = vector_tile(schema)
    if path.suffix == ".mbtiles":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
            db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                       "tile_row INTEGER, tile_data BLOB)")
            db.executemany("INSERT INTO metadata VALUES (?, ?)",
                           [("format", "pbf"), ("attribution", "© Vector test")])
            db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                           [(z, x, 2**z - 1 - y, tile) for z, x, y in keys])
        return path, keys[0]
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    with write(str(path)) as writer:
        for key in sorted(keys, key=lambda k: zxy_to_tileid(*k)):
            writer.write_tile(zxy_to_tileid(*key), tile)
        writer.finalize({"tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
                         "min_lon_e7": 0, "min_lat_e7": 0, "max_lon_e7": 0, "max_lat_e7": 0,
                         "center_zoom": zoom, "center_lon_e7": 0, "center_lat_e7": 0},
                        {"attribution": "© Vector test"})
    return path, keys[0]


def basemap_config(path: Path, language: str = "fr", **basemap: object):
    from protection_eval.config import MissionConfig

    return MissionConfig.model_validate({
        "mission": "M", "name": "M", "timezone": "Africa/Kinshasa",
        "period": {"start": "2023-01-01", "end": "2023-06-30"},
        "sources": {"incidents": {"path": "i.csv"}, "areas": {"path": "a.geojson"}},
        "sharing": {"language": language, "basemap": {"path": str(path), **basemap}}})


@pytest.mark.parametrize("suffix", [".pmtiles", ".mbtiles"])
def test_a_vector_archive_is_drawn_as_its_places_roads_and_rivers(tmp_path, suffix):
    from protection_eval.runs.missions import load_map_context

    path, (z, x, y) = write_vector_archive(tmp_path / f"v{suffix}", "openmaptiles")
    context = load_map_context(basemap_config(path, max_zoom=14), BOUNDS)
    assert context.basemap is None and context.attribution == "© Vector test"
    places, roads, rivers = context.sources
    assert (places.label, roads.label, rivers.label) == ("Lieux", "Routes", "Rivières et lacs")
    assert places.name_column == "name:fr"
    tiles = len(expected_tiles(BOUNDS, 12))
    # One town per tile, where the tile puts it: pixel (1000, 1200) of each.
    assert len(places.frame) == tiles
    first = places.frame.geometry.iloc[0]
    lon, lat = pixel_lonlat(z, x, y, 1000, 1200)
    assert first.x == pytest.approx(lon, abs=1e-9) and first.y == pytest.approx(lat, abs=1e-9)
    assert set(roads.frame["highway"]) == {"primary"} and set(rivers.frame["waterway"]) == {
        "river"}
    page = build(context=context, language="fr").to_html()
    assert "Bunia-ville" in page and '"Routes" : feature_group_' in page
    assert "addAttribution" in page and "Pas de fond de carte" not in page
    # The audit takes the tiles' features for reference data, as it does context layers'.
    from protection_eval.sharing.audit.folder import audit_shared_folder

    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "coverage_map.html").write_text(page, encoding="utf-8")
    reference = context_reference(context, make_areas().total_bounds)
    assert "point_layer" in set(audit_shared_folder(folder, areas=make_areas()).to_frame()["kind"])
    assert audit_shared_folder(folder, areas=make_areas(), reference=reference).ok


def test_a_protomaps_archive_takes_its_road_kinds_as_osm_classes(tmp_path):
    from protection_eval.runs.missions import load_map_context

    path, _ = write_vector_archive(tmp_path / "p.pmtiles", "protomaps")
    context = load_map_context(basemap_config(path, language="en"), BOUNDS)
    places, roads = context.sources
    assert set(places.frame["place"]) == {"town"} and set(roads.frame["highway"]) == {"primary"}
    assert (places.label, roads.label) == ("Places", "Roads")


def test_vector_tiles_too_large_for_the_budget_at_every_zoom_are_refused(tmp_path):
    from protection_eval.runs.missions import load_map_context

    path, _ = write_vector_archive(tmp_path / "v.pmtiles", "openmaptiles")
    with pytest.raises(InputFileError, match="fit 10 bytes.*Raise sharing.basemap.max_bytes"):
        load_map_context(basemap_config(path, max_bytes=10), BOUNDS)


def test_a_file_that_is_not_an_archive_is_refused_naming_it(tmp_path):
    path = tmp_path / "tiles.pmtiles"
    path.write_bytes(b"not an archive at all")
    with pytest.raises(InputFileError, match=r"tiles.pmtiles: cannot be read as a \.pmtiles"):
        read_tile_archive(path, BOUNDS, max_zoom=5, max_bytes=1_000_000)


def basemap_context(tmp_path: Path, max_zoom: int = 9) -> MapContext:
    path = write_pmtiles(tmp_path / "tiles.pmtiles", archive_tiles(max_zoom))
    archive = read_tile_archive(path, BOUNDS, max_zoom=max_zoom, max_bytes=2_000_000)
    return MapContext((), archive, "© Test survey <script>x()</script>")


def test_the_map_embeds_the_tiles_as_images_and_says_whom_they_are_from(tmp_path):
    context = basemap_context(tmp_path)
    page = build(context=context, language="fr").to_html()
    tiles = json.loads(re.search(r"var tiles=(\{.*?\});", page).group(1))
    assert set(tiles) == {f"{z}_{x}_{y}" for z, x, y in context.basemap.tiles}
    assert all(base64.b64decode(tiles[f"{z}_{x}_{y}"].split(",", 1)[1]) == data
               for (z, x, y), data in context.basemap.tiles.items())
    assert '"attribution": "\\u00a9 Test survey x()"' in page or \
        '"attribution": "© Test survey x()"' in page
    assert "<script>x()" not in page
    assert "Pas de fond de carte" not in page


def test_the_audit_allows_exactly_the_archives_tiles(tmp_path):
    from protection_eval.sharing.audit.folder import audit_shared_folder

    context = basemap_context(tmp_path)
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "coverage_map.html").write_text(build(context=context).to_html(),
                                              encoding="utf-8")
    without = audit_shared_folder(folder, areas=make_areas()).to_frame()
    assert set(without["kind"]) == {"raster_image"}
    reference = context_reference(context, make_areas().total_bounds)
    assert reference.image_sha256 == {hashlib.sha256(t).hexdigest()
                                      for t in context.basemap.tiles.values()}
    assert audit_shared_folder(folder, areas=make_areas(), reference=reference).ok


def test_load_map_context_takes_the_archives_attribution_or_refuses_without_one(tmp_path):
    from protection_eval.config import MissionConfig
    from protection_eval.runs.missions import load_map_context

    def config(path: Path, attribution: str | None = None) -> MissionConfig:
        basemap = {"path": str(path), "max_zoom": 6}
        if attribution:
            basemap["attribution"] = attribution
        return MissionConfig.model_validate({
            "mission": "M", "name": "M", "timezone": "Africa/Kinshasa",
            "period": {"start": "2023-01-01", "end": "2023-06-30"},
            "sources": {"incidents": {"path": "i.csv"}, "areas": {"path": "a.geojson"}},
            "sharing": {"basemap": basemap}})

    with_metadata = write_pmtiles(tmp_path / "a.pmtiles", archive_tiles(6))
    context = load_map_context(config(with_metadata), BOUNDS)
    assert context.attribution == "© Test survey" and context.basemap.zooms[-1] == 6
    assert load_map_context(config(with_metadata, "Mission GIS cell"), BOUNDS).attribution \
        == "Mission GIS cell"
    bare = write_pmtiles(tmp_path / "b.pmtiles", archive_tiles(3), attribution=None)
    with pytest.raises(InputFileError, match="no attribution metadata.*sharing.basemap"):
        load_map_context(config(bare), BOUNDS)


@pytest.mark.browser
def test_the_basemap_shows_offline_with_its_attribution(browser, tmp_path):  # noqa: F811
    from test_map_browser import open_page

    path = tmp_path / "coverage_map.html"
    path.write_text(build(context=basemap_context(tmp_path), language="fr").to_html(),
                    encoding="utf-8")
    page, outside, errors = open_page(browser, path)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.leaflet-tile-pane img')]"
        ".filter(i => i.complete && i.naturalWidth === 256).length >= 2", timeout=10_000)
    page.screenshot(path=str(screenshot_path(tmp_path, "map_basemap.png")))
    loaded = page.evaluate("[...document.querySelectorAll('.leaflet-tile-pane img')]"
                           ".filter(i => i.naturalWidth === 256).length")
    assert loaded >= 2
    assert "© Test survey" in page.locator(".leaflet-control-attribution").inner_text()
    assert "Fond de carte" in page.locator(".leaflet-control-layers").inner_text()
    assert outside == [] and errors == []
    page.context.close()
