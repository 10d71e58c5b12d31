"""A reader follows the source's format, never the file's content; GDAL never touches the network
(issue 25, item 2).

A ``bases.geojson`` holding OGR VRT XML used to be read as a VRT: it pulled rows from a CSV
outside the mission folder (past the confinement of sources), also from inside a zip, and with a
``/vsicurl/`` source it made HTTP requests during ``validate``. The tests plant those files, run
a real HTTP server on a local port and count the requests that reach it.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyogrio.errors
import pytest
import shapely

from protection_eval.config import load_mission_config
from protection_eval.io.readers import InputFileError, read_raw_table
from protection_eval.runs.mission_cache import _mission_fingerprint

SECRET = "Amina-survivor-7731"


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str]]

    def _answer(self) -> None:
        self.requests.append((self.command, self.path))
        body = f"name,value\n{SECRET},1\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server():
    """A real HTTP server on a free local port; ``server.requests`` lists what reached it."""
    handler = type("Handler", (_CountingHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.requests = handler.requests
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_bypass(monkeypatch):
    """A ``no_proxy`` in the environment would let curl skip GDAL's proxy setting: keep the
    network layer under test the same on every machine (docs/privacy.md says so)."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _vrt(source: str) -> str:
    return (f'<OGRVRTDataSource><OGRVRTLayer name="bases"><SrcDataSource>{source}'
            '</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>')


def _outside_csv(tmp_path: Path) -> Path:
    outside = tmp_path / "elsewhere" / "cases.csv"
    outside.parent.mkdir()
    outside.write_text(f"name,value\n{SECRET},1\n", encoding="utf-8")
    return outside


def test_a_geojson_holding_vrt_xml_cannot_read_a_file_outside_the_mission(bad_mission,
                                                                           tmp_path):
    bases = bad_mission.parent / "bases.geojson"
    bases.write_text(_vrt(str(_outside_csv(tmp_path))), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read_raw_table("bases", bases)
    message = str(err.value)
    assert str(bases) in message
    assert "is read as GeoJSON" in message and "VRT" in message
    assert SECRET not in message


@pytest.mark.parametrize(("member", "expected"), [
    ("bases.vrt", "holds no shapefile (.shp) and no GeoPackage (.gpkg)"),
    ("bases.geojson", "holds no shapefile (.shp) and no GeoPackage (.gpkg)"),
    ("bases.shp", "its member 'bases.shp' is read as ESRI shapefile"),
    ("data/bases.gpkg", "its member 'data/bases.gpkg' is read as GeoPackage"),
])
def test_the_same_vrt_inside_a_zip_is_refused(tmp_path, member, expected):
    archive = tmp_path / "bases.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(member, _vrt(str(_outside_csv(tmp_path))))
    with pytest.raises(InputFileError) as err:
        read_raw_table("bases", archive)
    assert expected in str(err.value)
    assert SECRET not in str(err.value)


def test_validate_of_a_vsicurl_vrt_makes_no_request(bad_mission, tmp_path, server):
    folder = bad_mission.parent
    (folder / "bases.geojson").write_text(_vrt(f"/vsicurl/{server.url}/cases.csv"),
                                          encoding="utf-8")
    bad_mission.write_text(bad_mission.read_text().replace("bases.csv", "bases.geojson"))
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    result = subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", "validate",
         str(bad_mission), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bases.geojson" in result.stderr and "VRT" in result.stderr
    assert server.requests == []
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*")
                      if p.is_file())
    assert SECRET not in written


def test_gdal_runs_with_the_network_off_even_for_a_vsicurl_path(server):
    from protection_eval.io.spatial import offline

    url = f"/vsicurl/{server.url}/cases.csv"
    with offline(), pytest.raises(pyogrio.errors.DataSourceError):
        pyogrio.read_dataframe(url)
    assert server.requests == []
    # The same read outside `offline()` reaches the server: the test can fail.
    pyogrio.read_dataframe(url)
    assert server.requests


def test_gdal_runs_with_the_network_off_for_a_crs_link(tmp_path, server):
    """GDAL's HTTP client (here fetching a GeoJSON "link" CRS) is cut off too, even when the
    file is handed to GDAL directly, past the reader's own refusal of such a member."""
    path = tmp_path / "link.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "link", "properties": {"href": f"{server.url}/crs.wkt",
                                               "type": "ogcwkt"}},
        "features": [{"type": "Feature", "properties": {"n": 1},
                      "geometry": {"type": "Point", "coordinates": [1, 2]}}],
    }), encoding="utf-8")
    from protection_eval.io.spatial import offline

    with offline():
        pyogrio.read_dataframe(f"GeoJSON:{path}")
    assert server.requests == []
    pyogrio.read_dataframe(f"GeoJSON:{path}")
    assert server.requests == [("GET", "/crs.wkt")]


def test_the_reader_refuses_a_crs_link_before_gdal_sees_it(tmp_path, server):
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"area_id": "A1"},
                      "geometry": {"type": "Point", "coordinates": [1, 2],
                                   "crs": {"type": "link",
                                           "properties": {"href": f"{server.url}/c"}}}}],
    }), encoding="utf-8")
    with pytest.raises(InputFileError, match="`crs` member that is not a plain EPSG"):
        read_raw_table("areas", path)
    assert server.requests == []


def test_the_offline_settings_are_put_back_after_a_read():
    from protection_eval.io.spatial import offline

    before = pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY")
    with offline():
        assert pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY") == "network-off://protection-eval"
    assert pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY") == before


def _points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"base_id": ["B1"]}, geometry=[shapely.Point(30.1, 5.2)],
                            crs="EPSG:4326")


@pytest.mark.parametrize(("name", "content", "looks"), [
    ("bases.gpkg", b'{"type": "FeatureCollection", "features": []}', "JSON"),
    ("bases.parquet", b"base_id,lat\nB1,5\n", "something else"),
    ("bases.shp", b"<OGRVRTDataSource/>", "a GDAL virtual dataset (VRT)"),
    ("bases.zip", b"base_id,lat\n", "something else"),
    ("bases.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "an Office 97-2003 file"),
    ("bases.xls", b"PK\x03\x04" + bytes(100), "a zip package"),
    ("bases.geojson", b"SQLite format 3\x00" + bytes(100), "an SQLite database"),
])
def test_a_file_that_does_not_start_as_its_format_is_refused_naming_what_it_looks_like(
        tmp_path, name, content, looks):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError) as err:
        read_raw_table("bases", path)
    assert "does not start as one" in str(err.value)
    assert f"it looks like {looks}" in str(err.value)


def test_a_parquet_file_cut_short_is_refused_before_pyarrow_reads_it(tmp_path):
    path = tmp_path / "bases.parquet"
    pq.write_table(pa.table({"base_id": ["B1", "B2"]}), path)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(InputFileError, match="is cut short"):
        read_raw_table("bases", path)


def test_real_formats_still_read_with_their_explicit_drivers(tmp_path):
    points = _points()
    points.to_file(tmp_path / "bases.gpkg", driver="GPKG")
    points.to_file(tmp_path / "bases.geojson", driver="GeoJSON")
    points.to_file(tmp_path / "bases.shp")
    with zipfile.ZipFile(tmp_path / "gpkg.zip", "w") as zipped:
        zipped.write(tmp_path / "bases.gpkg", "folder/bases.gpkg")
        zipped.writestr("README.txt", "not a table")
    for name in ("bases.gpkg", "bases.geojson", "bases.shp", "gpkg.zip"):
        frame = read_raw_table("bases", tmp_path / name).frame
        assert frame["base_id"].tolist() == ["B1"], name
        assert frame["geometry"].iloc[0].equals(shapely.Point(30.1, 5.2)), name


def test_a_zip_member_named_outside_the_archive_is_refused(tmp_path):
    _points().to_file(tmp_path / "bases.shp")
    archive = tmp_path / "bases.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in ("shp", "shx", "dbf"):
            zipped.write(tmp_path / f"bases.{part}", f"../bases.{part}")
    with pytest.raises(InputFileError, match="points outside the archive"):
        read_raw_table("bases", archive)


def test_the_cache_fingerprint_covers_a_shapefiles_attributes(bad_mission):
    folder = bad_mission.parent
    areas = gpd.read_file(folder / "areas.geojson")
    areas.to_file(folder / "areas.shp")
    bad_mission.write_text(bad_mission.read_text().replace("areas.geojson", "areas.shp"))
    before = _mission_fingerprint(load_mission_config(bad_mission))["areas"]
    renamed = areas.copy()
    renamed.iloc[0, renamed.columns.get_loc(areas.columns[0])] = "renamed"
    shp = (folder / "areas.shp").read_bytes()
    renamed.to_file(folder / "areas.shp")
    assert (folder / "areas.shp").read_bytes() == shp  # only the .dbf differs
    after = _mission_fingerprint(load_mission_config(bad_mission))["areas"]
    assert after != before
