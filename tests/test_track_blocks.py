"""GPS tracks checked block by block give what one pass over the whole table gives.

``ingest_table`` checks a GPS table ``TRACK_BLOCK_ROWS`` rows at a time so that the checks'
intermediate columns never span a table of millions of fixes (issue 18, section 1). Each fix
is checked on its own, so every split must give the same accepted rows, quarantined rows,
reasons and counts as one block; these tests split tables of valid and broken fixes into
blocks of one, two and three rows, from coordinate columns and from point geometries.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protection_eval.config import load_mission_config
from protection_eval.ingest import tables
from protection_eval.ingest.quarantine import IngestContext
from protection_eval.io.readers import read_raw_table
from protection_eval.model import RawTable
from protection_eval.projection import choose_working_projection

FIXTURE = Path(__file__).parent / "fixtures" / "bad_mission"
TODAY = dt.date(2026, 11, 30)

#: Cells that make a fix valid or get it quarantined, each for its own reason.
PATROLS = ["P1", "P1", "P2", "P99", "", " P1 "]
TIMES = ["2022-03-04T09:00:00", "2022-03-04T09:00:07Z", "04/03/2022 09:00", "2022-02-30",
         "2030-01-01T00:00:00", "2019-01-01T00:00:00", "", "0001-01-01", "2022-03-04"]
LONS = ["30.05", "30.051", "5.05", "0", "500000", "inf", "x", "", "-30.05", "200"]
LATS = ["5.05", "5.051", "30.05", "0", "-5.05", "nan", "", "95"]


@pytest.fixture(scope="module")
def context() -> IngestContext:
    config = load_mission_config(FIXTURE / "mission.yaml")
    ctx = IngestContext(config, frozenset(), TODAY)
    spec = config.sources.areas
    areas, _, _ = tables.ingest_table(read_raw_table("areas", FIXTURE / "areas.geojson"),
                                      spec, ctx)
    ctx.areas = tables.validate_table("areas", areas)
    ctx.projection = choose_working_projection(ctx.areas, config.crs)
    ctx.projected_crs = ctx.projection.crs
    ctx.patrol_ids = frozenset({"P1", "P2"})
    return ctx


def _assert_blocks_equal_one_pass(raw: RawTable, ctx: IngestContext) -> None:
    spec = ctx.config.sources.patrol_tracks
    whole = tables.ingest_table(raw, spec, ctx)
    for rows in (1, 2, 3):
        split = tables.ingest_table(raw, spec, ctx, block_rows=rows)
        pd.testing.assert_frame_equal(split[0], whole[0], check_exact=True)
        pd.testing.assert_frame_equal(split[1], whole[1], check_exact=True)
        assert split[2] == whole[2]
    assert whole[2].rows_accepted + whole[2].rows_rejected == len(raw.frame)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(PATROLS), st.sampled_from(TIMES),
                               st.sampled_from(LONS), st.sampled_from(LATS)),
                     min_size=1, max_size=12))
def test_blocks_of_coordinates_equal_one_pass(context, rows):
    frame = pd.DataFrame(rows, columns=["patrol_id", "recorded_at", "longitude", "latitude"],
                         dtype="str")
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    _assert_blocks_equal_one_pass(RawTable("patrol_tracks", Path("tracks.csv"), frame), context)


POINTS = [shapely.Point(30.05, 5.05), shapely.Point(5.05, 30.05), shapely.Point(),
          shapely.LineString([(30, 5), (30.1, 5.1)]), None, shapely.Point(30.06, 5.04)]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(PATROLS), st.sampled_from(TIMES),
                               st.sampled_from(POINTS)), min_size=1, max_size=10))
def test_blocks_of_point_geometries_equal_one_pass(context, rows):
    frame = pd.DataFrame({"source_row": range(1, len(rows) + 1),
                          "patrol_id": pd.Series([r[0] for r in rows], dtype="str"),
                          "recorded_at": pd.Series([r[1] for r in rows], dtype="str")})
    frame["geometry"] = pd.Series([r[2] for r in rows], dtype=object)
    _assert_blocks_equal_one_pass(RawTable("patrol_tracks", Path("t.parquet"), frame), context)


def test_an_empty_point_or_another_shape_is_quarantined_not_a_crash(context):
    """Before: an empty point or a line among the points of a spatial file raised."""
    frame = pd.DataFrame({"source_row": [1, 2, 3, 4],
                          "patrol_id": pd.Series(["P1"] * 4, dtype="str"),
                          "recorded_at": pd.Series(["2022-03-04T09:00:00"] * 4, dtype="str")})
    frame["geometry"] = pd.Series([shapely.Point(30.05, 5.05), shapely.Point(),
                                   shapely.LineString([(30, 5), (30.1, 5.1)]), None],
                                  dtype=object)
    raw = RawTable("patrol_tracks", Path("t.parquet"), frame)
    accepted, rejected, report = tables.ingest_table(raw, context.config.sources.patrol_tracks,
                                                     context)
    assert list(accepted["source_row"]) == [1]
    assert list(rejected["source_row"]) == [2, 3, 4]
    assert set(rejected["reason"]) == {"missing_value"}
    assert accepted["longitude"].tolist() == [30.05]


def test_the_schema_checks_geometry_types_for_the_whole_column(context):
    """The pandera geometry check reads the column's type ids in one call; same verdicts.

    On the bases, the point table that keeps its geometries (the GPS fixes have none).
    """
    import pandera.errors

    raw = read_raw_table("bases", FIXTURE / "bases.csv")
    accepted, _, _ = tables.ingest_table(raw, context.config.sources.bases, context)
    assert len(accepted) >= 1
    assert tables.validate_table("bases", accepted) is not None
    broken = accepted.copy()
    broken.loc[0, "geometry"] = shapely.LineString([(30, 5), (30.1, 5.1)])
    with pytest.raises(pandera.errors.SchemaErrors, match="geometry must be"):
        tables.validate_table("bases", broken)
    polygon = accepted.copy()
    polygon.loc[0, "geometry"] = shapely.box(30, 5, 30.1, 5.1)
    with pytest.raises(pandera.errors.SchemaErrors, match="geometry must be"):
        tables.validate_table("bases", polygon)


def test_accepted_fixes_are_coordinates_and_a_point_per_fix_cannot_come_back(context):
    """Issue 18: a shapely point per accepted GPS fix (some 200 bytes each) was most of a
    dense mission's memory. The accepted fixes are float64 coordinates, and the schema every
    accepted table passes refuses a track table that carries geometries again."""
    import pandera.errors

    frame = pd.DataFrame({"source_row": [1, 2, 3],
                          "patrol_id": pd.Series(["P1"] * 3, dtype="str"),
                          "recorded_at": pd.Series(["2022-03-04T09:00:00"] * 3, dtype="str"),
                          "longitude": pd.Series(["30.05", "30.06", "0"], dtype="str"),
                          "latitude": pd.Series(["5.05", "5.04", "0"], dtype="str")})
    raw = RawTable("patrol_tracks", Path("t.csv"), frame)
    spec = context.config.sources.patrol_tracks
    for rows in (None, 1):  # one pass, and blocks (the path of a large table)
        accepted, rejected, _ = tables.ingest_table(raw, spec, context, block_rows=rows)
        assert type(accepted) is pd.DataFrame
        assert list(accepted.columns) == ["patrol_id", "recorded_at", "longitude", "latitude",
                                          "source_row"]
        assert not [c for c, t in accepted.dtypes.items() if t == "object"], accepted.dtypes
        assert accepted["longitude"].dtype == accepted["latitude"].dtype == "float64"
        assert accepted["longitude"].tolist() == [30.05, 30.06]
        assert list(rejected["reason"]) == ["coordinates_zero_placeholder"]
        assert tables.validate_table("patrol_tracks", accepted) is accepted
    with_points = accepted.assign(geometry=shapely.points(accepted[["longitude", "latitude"]]))
    with pytest.raises(pandera.errors.SchemaErrors, match="geometry"):
        tables.validate_table("patrol_tracks", with_points)


#: Bad fixes, one per reason, and the quarantine the point-per-fix ingestion gave them
#: (source_row, reason, column); the fixes became coordinates with no change to it.
BAD_FIXES = [
    ("P1", "2022-03-04T09:00:00", "30.05", "5.05", None, None),
    ("P2", "2022-03-04T09:00:07Z", "30.051", "5.051", None, None),
    ("P99", "2022-03-04T09:00:00", "30.05", "5.05", "unknown_patrol", "patrol_id"),
    ("P1", "2022-03-04T09:00:00", "0", "0", "coordinates_zero_placeholder", "longitude"),
    ("P1", "2022-03-04T09:00:00", "500000", "600000", "coordinates_projected", "longitude"),
    ("P1", "2022-03-04T09:00:00", "5.05", "30.05", "coordinates_swapped", "longitude"),
    ("P1", "2022-03-04T09:00:00", "-30.05", "5.05", "coordinates_sign_flipped", "longitude"),
    ("P1", "2022-03-04T09:00:00", "30.05", "95", "coordinates_swapped", "latitude"),
    ("P1", "2022-03-04T09:00:00", "200", "5", "coordinates_out_of_range", "longitude"),
    ("P1", "2022-03-04T09:00:00", "10", "10", "outside_areas", "longitude"),
    ("P1", "2022-03-04T09:00:00", "", "5.05", "missing_value", "longitude"),
    ("P1", "2022-03-04T09:00:00", "x", "5.05", "invalid_number", "longitude"),
    ("P1", "2019-01-01T00:00:00", "30.05", "5.05", "date_outside_period", "recorded_at"),
    ("P1", "2022-02-30", "30.05", "5.05", "date_unparseable", "recorded_at"),
    ("P1", "2022-03-04", "30.06", "5.04", None, None),
]


def test_bad_fixes_are_quarantined_as_when_each_was_a_point(context):
    frame = pd.DataFrame([r[:4] for r in BAD_FIXES], dtype="str",
                         columns=["patrol_id", "recorded_at", "longitude", "latitude"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    raw = RawTable("patrol_tracks", Path("tracks.csv"), frame)
    spec = context.config.sources.patrol_tracks
    for rows in (None, 2):
        accepted, rejected, report = tables.ingest_table(raw, spec, context, block_rows=rows)
        refused = [(row, r[4], r[5]) for row, r in enumerate(BAD_FIXES, start=2) if r[4]]
        assert list(zip(rejected["source_row"], rejected["reason"], rejected["column"],
                        strict=True)) == refused
        # The quarantined rows show the cells as written, not numbers.
        assert rejected["longitude"].tolist()[:2] == ["30.05", "0"]
        assert list(accepted["source_row"]) == [2, 3, 16]
        assert accepted["longitude"].tolist() == [30.05, 30.051, 30.06]
        assert accepted["latitude"].tolist() == [5.05, 5.051, 5.04]
        assert report.rows_accepted + report.rows_rejected == len(frame)
        assert sum(report.reasons.values()) == len(refused)
