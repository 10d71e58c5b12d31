"""GPS fixes read typed from GeoParquet give exactly what the text round trip gave.

For speed (issue 18, section 1) ``read_raw_table`` keeps a GeoParquet track file's time
column as date-times and its points as (x, y) pairs, and ingestion checks those as values
instead of printing every cell and parsing it back. These tests plant fixes of every reason a
fix can be quarantined for (and some the typed reader hands back to the text path: fractions
of a second, an offset with seconds, a line among the points) and compare, exactly, the
accepted rows, the quarantined rows (cells shown as text, reasons, details, source rows) and
the report with those of the former path: the spatial reader's text read by the same checks.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protection_eval.config import load_mission_config
from protection_eval.ingest import tables
from protection_eval.ingest.quarantine import IngestContext
from protection_eval.io import readers
from protection_eval.model import RawTable
from protection_eval.projection import choose_working_projection

FIXTURE = Path(__file__).parent / "fixtures" / "bad_mission"
TODAY = dt.date(2026, 11, 30)

PATROLS = ["P1", "P2", "P99", "", " P1 ", None]
#: Wall-clock times: valid, out of the period, in the future, missing, ambiguous at the
#: autumn clock change (naive, mission time Europe/Paris), skipped in spring.
TIMES = ["2022-03-04 09:00:00", "2022-06-01 23:59:59", "2019-01-01 00:00:00",
         "2030-01-01 00:00:00", None, "2022-10-30 02:30:00", "2022-03-27 02:30:00"]
#: Points: inside, swapped, sign-flipped, (0, 0), projected metres, out of range, far away,
#: empty, missing, no longitude, and a latitude that fits as a longitude.
POINTS = [shapely.Point(30.05, 5.05), shapely.Point(5.05, 30.05), shapely.Point(-30.05, 5.05),
          shapely.Point(0, 0), shapely.Point(500000, 600000), shapely.Point(200, 95),
          shapely.Point(10, 10), shapely.Point(), None, shapely.Point(np.nan, 5.05),
          shapely.Point(30.05, 120), shapely.Point(30.06, 5.04)]


@pytest.fixture(scope="module")
def context() -> IngestContext:
    config = load_mission_config(FIXTURE / "mission.yaml")
    config = config.model_copy(update={"timezone": "Europe/Paris"})
    ctx = IngestContext(config, frozenset(), TODAY)
    spec = config.sources.areas
    raw = readers.read_raw_table("areas", FIXTURE / "areas.geojson")
    areas, _, _ = tables.ingest_table(raw, spec, ctx)
    ctx.areas = tables.validate_table("areas", areas)
    ctx.projection = choose_working_projection(ctx.areas, config.crs)
    ctx.projected_crs = ctx.projection.crs
    ctx.patrol_ids = frozenset({"P1", "P2"})
    return ctx


def _write(folder: Path, patrols: list, times: pd.Series, points: list) -> Path:
    path = folder / "tracks.parquet"
    gpd.GeoDataFrame({"patrol_id": pd.Series(patrols, dtype="str"), "recorded_at": times},
                     geometry=gpd.GeoSeries(points), crs="EPSG:4326").to_parquet(path)
    return path


def _as_text(path: Path) -> RawTable:
    """The former reading: every cell printed as text by the spatial reader."""
    return RawTable("patrol_tracks", path, readers._read_spatial(path, "geoparquet", None))


def _assert_same(path: Path, ctx: IngestContext, typed: bool = True) -> tuple:
    spec = ctx.config.sources.patrol_tracks
    raw = readers.read_raw_table("patrol_tracks", path, spec=spec)
    if typed:
        assert isinstance(raw.frame["geometry"].dtype, pd.ArrowDtype)
    before = tables.ingest_table(_as_text(path), spec, ctx)
    for blocks in (None, 2):
        after = tables.ingest_table(raw, spec, ctx, block_rows=blocks)
        pd.testing.assert_frame_equal(after[0], before[0], check_exact=True)
        pd.testing.assert_frame_equal(after[1], before[1], check_exact=True)
        assert after[2] == before[2]
    pd.testing.assert_frame_equal(tables.validate_table("patrol_tracks", after[0]),
                                  tables.validate_table("patrol_tracks", before[0]),
                                  check_exact=True)
    return after


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(PATROLS), st.sampled_from(TIMES),
                               st.sampled_from(POINTS)), min_size=1, max_size=12),
       zone=st.sampled_from([None, "UTC", "Africa/Juba", "Asia/Kathmandu"]),
       unit=st.sampled_from(["s", "ms", "ns"]))
def test_typed_fixes_equal_the_text_round_trip(context, rows, zone, unit):
    times = pd.Series(pd.to_datetime([r[1] for r in rows])).dt.as_unit(unit)
    if zone is not None:
        times = times.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), [r[0] for r in rows], times, [r[2] for r in rows])
        _assert_same(path, context)


def test_every_reason_of_a_planted_file_is_the_text_paths(context, tmp_path):
    """One fix for every reason; the typed reading kept times and points typed."""
    patrols = ["P1"] * len(TIMES) + ["P1"] * len(POINTS) + ["P99", "", " P1 "]
    times = TIMES + [TIMES[0]] * (len(POINTS) + 3)
    points = [POINTS[0]] * len(TIMES) + POINTS + [POINTS[0]] * 3
    path = _write(tmp_path, patrols, pd.Series(pd.to_datetime(times)), points)
    raw = readers.read_raw_table("patrol_tracks", path)
    assert pd.api.types.is_datetime64_any_dtype(raw.frame["recorded_at"])
    _, rejected, report = _assert_same(path, context)
    assert set(report.reasons) == {
        "missing_value", "unknown_patrol", "date_unparseable", "date_outside_period",
        "date_in_future", "coordinates_swapped", "coordinates_sign_flipped",
        "coordinates_zero_placeholder", "coordinates_projected", "coordinates_out_of_range",
        "outside_areas"}
    assert rejected["recorded_at"].str.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)?").all()


@pytest.mark.parametrize("times", [
    pd.Series(pd.to_datetime(["2022-03-04 09:00:00.250", "2022-03-04 09:00:01.000"])),
    pd.Series(pd.to_datetime(["1920-03-04 09:00", "2022-03-04 09:00"])).dt.tz_localize(
        "Africa/Juba"),  # local mean time: an offset with seconds
])
def test_times_only_the_cell_parser_reads_stay_text_and_answer_as_before(context, tmp_path,
                                                                        times):
    path = _write(tmp_path, ["P1", "P1"], times, [POINTS[0], POINTS[0]])
    raw = readers.read_raw_table("patrol_tracks", path)
    assert not pd.api.types.is_datetime64_any_dtype(raw.frame["recorded_at"])
    _assert_same(path, context)


def test_a_line_among_the_points_reads_as_text_as_before(context, tmp_path):
    path = _write(tmp_path, ["P1", "P1"], pd.Series(pd.to_datetime(TIMES[:2])),
                  [POINTS[0], shapely.LineString([(30, 5), (30.1, 5.1)])])
    assert not isinstance(readers.read_raw_table("patrol_tracks", path).frame["geometry"].dtype,
                          pd.ArrowDtype)
    _assert_same(path, context, typed=False)


def test_a_projected_file_is_reprojected_as_before(context, tmp_path):
    path = tmp_path / "tracks.parquet"
    gpd.GeoDataFrame({"patrol_id": ["P1", "P2"],
                      "recorded_at": pd.to_datetime(TIMES[:2])},
                     geometry=[POINTS[0], POINTS[-1]], crs="EPSG:4326").to_crs(
                         "EPSG:32636").to_parquet(path)
    accepted, _, _ = _assert_same(path, context, typed=False)
    assert len(accepted) == 2


def test_a_broken_or_refused_track_file_is_the_same_clear_error(tmp_path):
    from protection_eval.io.errors import InputFileError

    path = _write(tmp_path, ["P1", "P1"], pd.Series(pd.to_datetime(TIMES[:2])), POINTS[:2])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match="is cut short"):
        readers.read_raw_table("patrol_tracks", path)
    reserved = tmp_path / "reserved.parquet"
    gpd.GeoDataFrame({"source_row": [7], "patrol_id": ["P1"],
                      "recorded_at": pd.to_datetime(TIMES[:1])},
                     geometry=POINTS[:1], crs="EPSG:4326").to_parquet(reserved)
    with pytest.raises(InputFileError, match="column named 'source_row'"):
        readers.read_raw_table("patrol_tracks", reserved)
