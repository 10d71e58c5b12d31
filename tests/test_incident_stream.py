"""An incidents CSV handed over in blocks of rows is checked as if it were read whole.

A large incidents CSV (more than ``CSV_BLOCK_BYTES``) is not read into one frame: the reader
hands over its rows in blocks (``RawTableBlocks``) and ingestion checks them one by one, with
duplicate ids found as the blocks come and likely duplicates over compact keys after the last
block (issue 10, item 12). These tests force the blocked reading on small files (any size,
blocks of one, two or three lines) and compare with the whole table read and checked at once:
the table read, the accepted rows, the quarantined rows, the report, and ``rejected/`` bytes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_incident_blocks import (
    FIXTURE,
    IDS,
    NAMES,
    POINTS,
    SOURCES,
    TIMES,
    TYPES,
    _fresh,
    mission_context,
)
from test_realdata_car import car_mission

from protection_eval.config import SourceSpec
from protection_eval.ingest import tables
from protection_eval.ingest.quarantine import IngestContext
from protection_eval.io import readers
from protection_eval.io.errors import InputFileError
from protection_eval.io.readers import RawTableBlocks, read_raw_table
from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import write_validation


@pytest.fixture(scope="module")
def context() -> IngestContext:
    return mission_context(FIXTURE / "mission.yaml")


def _blocked(path: Path, spec: SourceSpec, lines: int, table: str = "incidents"):
    """Read ``path`` as the reader reads a large file, ``lines`` lines a block."""
    saved = readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS
    readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS = 0, lines
    try:
        return read_raw_table(table, path, spec=spec)
    finally:
        readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS = saved


def _assert_stream_equals_one_pass(path: Path, spec: SourceSpec, ctx: IngestContext,
                                   sizes: tuple[int, ...] = (1, 2, 3)) -> None:
    whole_raw = read_raw_table("incidents", path, spec=spec)
    assert not isinstance(whole_raw, RawTableBlocks)
    whole = tables.ingest_table(whole_raw, spec, _fresh(ctx))
    for lines in sizes:
        raw = _blocked(path, spec, lines)
        assert isinstance(raw, RawTableBlocks)
        saved = readers._CSV_CHUNK_ROWS
        readers._CSV_CHUNK_ROWS = lines  # the blocks are read again during ingestion
        try:
            assert raw.notes == whole_raw.notes
            assert raw.rows == whole_raw.rows
            pd.testing.assert_frame_equal(raw.frame, whole_raw.frame, check_exact=True)
            split = tables.ingest_table(raw, spec, _fresh(ctx))
        finally:
            readers._CSV_CHUNK_ROWS = saved
        pd.testing.assert_frame_equal(split[0], whole[0], check_exact=True)
        pd.testing.assert_frame_equal(split[1], whole[1], check_exact=True)
        assert split[2] == whole[2]
        assert list(split[2].reasons) == list(whole[2].reasons)
        assert list(split[2].suggestions) == list(whole[2].suggestions)
    assert whole[2].rows_accepted + whole[2].rows_rejected == whole[2].rows_read


def _write(path: Path, header: list[str], rows: list[list[str]], before: str = "") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(before)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_the_bad_mission_incidents_in_blocks_equal_one_pass(context):
    _assert_stream_equals_one_pass(FIXTURE / "incidents.csv", context.config.sources.incidents,
                                   context)


def test_real_ucdp_incidents_in_blocks_equal_one_pass(tmp_path):
    """UCDP GED's CAR file (real, with ``where``, a date format and date ranges) in blocks."""
    ctx = mission_context(car_mission(tmp_path))
    spec = ctx.config.sources.incidents
    _assert_stream_equals_one_pass(spec.path, spec, ctx, sizes=(97, 1000))
    whole = tables.ingest_table(read_raw_table("incidents", spec.path, spec=spec), spec,
                                _fresh(ctx))[2]
    # blocks that cut through accepted, quarantined and unselected rows alike
    assert whole.rows_accepted > 500 and whole.rows_rejected > 100 and whole.rows_excluded > 500


def test_a_where_selection_counts_and_checks_as_one_pass(context):
    spec = context.config.sources.incidents.model_copy(update={"where": {"source": "hr"}})
    _assert_stream_equals_one_pass(FIXTURE / "incidents.csv", spec, context)


def test_repeats_in_later_blocks_are_found_and_show_their_cells(context, tmp_path):
    """An id used again and an incident repeated by another source, each in a later block."""
    header = ["incident_id", "occurred_at", "longitude", "latitude", "gbv_type", "source"]
    rows = [[i, "2022-03-05T10:00:00", lon, "5.05", "rape", s] for i, lon, s in [
        ("A", "30.05", "hr"), ("B", "30.15", "hr"), ("A", "30.15", "ngo"),
        ("C", "30.05", "ngo"), ("D", "30.05", "radio"), ("E", "30.05", "hr")]]
    path = _write(tmp_path / "incidents.csv", header, rows)
    spec = context.config.sources.incidents.model_copy(
        update={"path": path, "columns": {}, "labels": {}, "channels": {"hr": "mission"}})
    _assert_stream_equals_one_pass(path, spec, context)
    saved = readers._CSV_CHUNK_ROWS
    readers._CSV_CHUNK_ROWS = 2
    try:
        accepted, rejected, report = tables.ingest_table(_blocked(path, spec, 2), spec,
                                                         _fresh(context))
    finally:
        readers._CSV_CHUNK_ROWS = saved
    assert report.reasons == {"likely_duplicate": 2, "duplicate_id": 1}
    assert rejected["source_row"].tolist() == [4, 5, 6]
    assert rejected.loc[rejected["reason"] == "duplicate_id", "detail"].item() == (
        "the id A was already used in row 2")
    assert rejected.loc[rejected["source_row"] == 6, "source"].item() == "radio"
    assert accepted.loc[accepted["incident_id"] == "A", "matched_sources"].item() == "ngo; radio"


def test_a_hashtag_row_and_blank_lines_are_taken_out_as_in_one_read(context, tmp_path):
    header = ["incident_id", "Date", "longitude", "latitude", "Type of SV", "source"]
    rows = [["#id", "#date", "#geo+lon", "#geo+lat", "#sector", "#org"],
            ["I1", "2022-03-05", "30.05", "5.05", "Viol", "hr"],
            ["", "", "", "", "", ""], ["", "", "", "", "", ""], ["", "", "", "", "", ""],
            ["I2", "2022-03-06", "30.15", "5.05", "Viol", "ngo"],
            ["I1", "2022-03-07", "30.15", "5.05", "Viol", "ngo"]]
    path = _write(tmp_path / "incidents.csv", header, rows)
    spec = context.config.sources.incidents.model_copy(update={"path": path, "hxl": True})
    _assert_stream_equals_one_pass(path, spec, context)
    assert any("HXL hashtags" in note for note in _blocked(path, spec, 2).notes)


def test_a_header_only_file_is_refused_when_read_unless_the_table_may_be_empty(
        context, tmp_path):
    path = _write(tmp_path / "incidents.csv", ["incident_id", "Date"], [["", ""], ["", ""]])
    spec = SourceSpec(path=path)
    with pytest.raises(InputFileError, match="has a header but no rows"):
        _blocked(path, spec, 1)
    saved = readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS
    readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS = 0, 1
    try:
        raw = read_raw_table("incidents", path, spec=spec, header_only_ok=True)
        assert isinstance(raw, RawTableBlocks) and raw.rows == 0
    finally:
        readers.CSV_BLOCK_BYTES, readers._CSV_CHUNK_ROWS = saved


def test_an_unreadable_line_far_in_the_file_names_the_file(tmp_path):
    lines = "incident_id,Date\n" + "I1,2022-03-05\n" * 5 + 'I2,"2022\n'
    path = tmp_path / "incidents.csv"
    path.write_text(lines, encoding="utf-8")
    raw = _blocked(path, SourceSpec(path=path), 2)
    with pytest.raises(InputFileError, match="not a readable CSV") as caught:
        list(raw.blocks())
    assert str(path) in str(caught.value)


def test_only_a_large_incidents_csv_is_handed_over_in_blocks(tmp_path, monkeypatch):
    path = _write(tmp_path / "patrols.csv", ["patrol_id"], [["P1"]])
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 0)
    assert not isinstance(read_raw_table("patrols", path), RawTableBlocks)
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", path.stat().st_size)
    assert not isinstance(read_raw_table("incidents", path), RawTableBlocks)


def test_rejected_files_of_the_bad_mission_are_the_bytes_of_one_read(tmp_path, monkeypatch):
    write_validation(load_mission(FIXTURE / "mission.yaml"), tmp_path / "whole")
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 0)
    monkeypatch.setattr(readers, "_CSV_CHUNK_ROWS", 3)
    mission = load_mission(FIXTURE / "mission.yaml")
    write_validation(mission, tmp_path / "blocks")
    for path in sorted((tmp_path / "whole").rglob("*")):
        if path.is_file():
            assert (tmp_path / "blocks" / path.relative_to(tmp_path / "whole")).read_bytes() \
                == path.read_bytes(), path.name


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(TIMES),
                               st.sampled_from(POINTS), st.sampled_from(NAMES),
                               st.sampled_from(TYPES), st.sampled_from(SOURCES)),
                     min_size=1, max_size=10))
def test_generated_incidents_in_blocks_equal_one_pass(context, tmp_path_factory, rows):
    header = ["incident_id", "Date", "longitude", "latitude", "area_name", "Type of SV",
              "source"]
    path = _write(tmp_path_factory.mktemp("stream") / "incidents.csv", header,
                  [[r[0], r[1], r[2][0], r[2][1], r[3], r[4], r[5]] for r in rows])
    spec = context.config.sources.incidents.model_copy(
        update={"path": path, "channels": {"hr": "mission", "partner": "partner"}})
    _assert_stream_equals_one_pass(path, spec, context)


def test_ids_whose_hashes_collide_are_told_apart_by_their_text(context, tmp_path, monkeypatch):
    """Blocks find earlier ids by a hash, then compare texts: with every hash equal, only the
    texts decide, and the answers are still those of one pass."""
    header = ["incident_id", "occurred_at", "longitude", "latitude", "gbv_type", "source"]
    rows = [[i, "2022-03-05T10:00:00", "30.05", "5.05", "rape", "hr"]
            for i in ["A", "B", "A", "C", "B", "B", "D", "A"]]
    path = _write(tmp_path / "incidents.csv", header, rows)
    spec = context.config.sources.incidents.model_copy(
        update={"path": path, "columns": {}, "labels": {}})
    monkeypatch.setattr(tables.pd.util, "hash_array",
                        lambda values: np.zeros(len(values), dtype=np.uint64))
    _assert_stream_equals_one_pass(path, spec, context)
    _, rejected, _ = tables.ingest_table(_blocked(path, spec, 2), spec, _fresh(context))
    assert rejected.loc[rejected["reason"] == "duplicate_id", "detail"].tolist() == [
        f"the id {i} was already used in row {r}"
        for i, r in [("A", 2), ("B", 3), ("B", 3), ("A", 2)]]


def test_a_declared_empty_incidents_file_in_blocks_checks_as_one_pass(context, tmp_path):
    """Incidents may be a header only (monthly counts stand in): one empty block, no row."""
    header = (FIXTURE / "incidents.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    path = tmp_path / "incidents.csv"
    path.write_text(header + "\n", encoding="utf-8")
    spec = context.config.sources.incidents.model_copy(update={"path": path})
    whole = tables.ingest_table(read_raw_table("incidents", path, spec=spec,
                                               header_only_ok=True), spec, _fresh(context))
    saved = readers.CSV_BLOCK_BYTES
    readers.CSV_BLOCK_BYTES = 0
    try:
        raw = read_raw_table("incidents", path, spec=spec, header_only_ok=True)
    finally:
        readers.CSV_BLOCK_BYTES = saved
    split = tables.ingest_table(raw, spec, _fresh(context))
    assert isinstance(raw, RawTableBlocks) and split[2].rows_read == 0
    pd.testing.assert_frame_equal(split[0], whole[0], check_exact=True)
    pd.testing.assert_frame_equal(split[1], whole[1], check_exact=True)
    assert split[2] == whole[2]
