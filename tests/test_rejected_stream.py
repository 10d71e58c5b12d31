"""Quarantined rows written to ``rejected/`` as ingestion finds them (issue 28).

Ingestion may not reach the disk, so ``validate`` hands it a sink
(:class:`protection_eval.runs.rejected.RejectedFiles`) that takes each block's quarantined rows
as the block is checked, instead of all of them held until the end. These tests check that the
rows reach the sink before the last block is read, that the file lists them in row order with
their reasons (likely duplicates, found after the last block, slotted in among them), and that
its bytes are those of the rows held and written whole, as before.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from test_incident_blocks import FIXTURE, _fresh, mission_context
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.ingest import tables
from protection_eval.ingest.quarantine import IngestContext
from protection_eval.io import readers
from protection_eval.io.readers import RawTableBlocks, read_raw_table
from protection_eval.io.row_stream import CsvRowStream
from protection_eval.io.writers import write_table
from protection_eval.runs.missions import load_mission
from protection_eval.runs.rejected import RejectedFiles
from protection_eval.runs.runner import write_validation

HEADER = ["incident_id", "occurred_at", "longitude", "latitude", "gbv_type", "source"]
#: Rows 2-8 of the file: a first report, its repeat from another source (row 3), an
#: unreadable date (4), an id used again (5), a second repeat (6), a valid row, no date (8).
ROWS = [
    ["A", "2022-03-05T10:00:00", "30.05", "5.05", "rape", "hr"],
    ["B", "2022-03-05T10:00:00", "30.05", "5.05", "rape", "ngo"],
    ["C", "2022-13-45", "30.05", "5.05", "rape", "hr"],
    ["A", "2022-03-06T10:00:00", "30.15", "5.05", "rape", "hr"],
    ["D", "2022-03-05T10:00:00", "30.05", "5.05", "rape", "radio"],
    ["E", "2022-03-07T10:00:00", "30.15", "5.05", "rape", "hr"],
    ["F", "", "30.15", "5.05", "rape", "hr"],
]
#: What each quarantined row is refused for, by its row number, as the rows above were made.
EXPECTED = {3: "likely_duplicate", 4: "date_unparseable", 5: "duplicate_id",
            6: "likely_duplicate", 8: "missing_value"}


@pytest.fixture(scope="module")
def context() -> IngestContext:
    return mission_context(FIXTURE / "mission.yaml")


@pytest.fixture
def incidents(tmp_path, context):
    path = tmp_path / "incidents.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([HEADER, *ROWS])
    spec = context.config.sources.incidents.model_copy(
        update={"path": path, "columns": {}, "labels": {}, "channels": {"hr": "mission"}})
    return path, spec


@pytest.fixture
def two_line_blocks(monkeypatch):
    """Every incidents CSV handed over in blocks of two lines."""
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 0)
    monkeypatch.setattr(readers, "_CSV_CHUNK_ROWS", 2)


def test_the_sink_gets_each_blocks_rows_before_the_next_block_is_read(
        context, incidents, two_line_blocks, monkeypatch):
    path, spec = incidents
    events: list[tuple[str, list[int]]] = []
    read_blocks = RawTableBlocks.blocks

    def logged_blocks(self, *args, **kwargs):
        for block in read_blocks(self, *args, **kwargs):
            events.append(("read", block["source_row"].astype(int).tolist()))
            yield block

    monkeypatch.setattr(RawTableBlocks, "blocks", logged_blocks)
    raw = read_raw_table("incidents", path, spec=spec)
    assert isinstance(raw, RawTableBlocks)
    events.clear()  # the reader's own look at the first block
    accepted, rejected, report = tables.ingest_table(
        raw, spec, _fresh(context),
        rejected_sink=lambda table, rows: events.append(
            (table, rows["source_row"].astype(int).tolist())))
    given = [rows for kind, rows in events if kind == "incidents"]
    # The first pass reads the blocks rows 2-3, 4-5, 6-7, 8; the second pass (the cells of
    # the repeats) reads them again.
    first_pass = events[:8]
    assert first_pass == [("read", [2, 3]), ("incidents", []),
                          ("read", [4, 5]), ("incidents", [4, 5]),
                          ("read", [6, 7]), ("incidents", []),
                          ("read", [8]), ("incidents", [8])]
    assert given[-1] == [3, 6]  # the repeats, after the last block
    assert sorted(r for rows in given for r in rows) == sorted(EXPECTED)
    assert rejected.empty and list(rejected.columns)[-3:] == ["reason", "column", "detail"]
    assert report.rows_rejected == len(EXPECTED)
    assert report.reasons == {"likely_duplicate": 2, "date_unparseable": 1, "duplicate_id": 1,
                              "missing_value": 1}
    assert report.reconciles


def test_the_file_lists_the_rows_in_order_with_the_bytes_of_one_pass(
        context, incidents, two_line_blocks, tmp_path):
    path, spec = incidents
    with RejectedFiles(tmp_path / "stream") as sink:
        tables.ingest_table(read_raw_table("incidents", path, spec=spec), spec, _fresh(context),
                            rejected_sink=sink)
        written = sink.close(["incidents"])
    assert written == [tmp_path / "stream" / "rejected" / "incidents.csv"]
    rows = pd.read_csv(written[0], dtype=str, keep_default_na=False)
    assert dict(zip(rows["source_row"].astype(int), rows["reason"], strict=True)) == EXPECTED
    assert rows["source_row"].astype(int).tolist() == sorted(EXPECTED)
    # The rows held and written whole, as validate wrote them before the sink.
    _, held, _ = tables.ingest_table(read_raw_table("incidents", path, spec=spec), spec,
                                     _fresh(context))
    whole = write_table(held, tmp_path / "held.csv")
    assert written[0].read_bytes() == whole.read_bytes()


def test_a_table_that_stops_half_checked_leaves_no_file(tmp_path):
    with RejectedFiles(tmp_path) as sink:
        sink("incidents", pd.DataFrame({"source_row": ["2"], "reason": ["x"]}, index=[0]))
        sink("areas", pd.DataFrame({"source_row": ["2"], "reason": ["y"]}, index=[0]))
        assert sink.close(["areas"]) == [tmp_path / "rejected" / "areas.csv"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["areas.csv"]


def _cells(labels: list[int]) -> pd.DataFrame:
    """Rows whose text needs quoting: line feeds, quotes, commas, formulas, non-ASCII."""
    text = ['a "quoted"\nline', "=1+2", "plain, comma", "é\r\nü", "", "-3"]
    return pd.DataFrame({"source_row": [str(i + 2) for i in labels],
                         "note": [text[i % len(text)] for i in labels],
                         "detail": [None if i % 4 == 0 else f"row {i}" for i in labels]},
                        index=labels)


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_blocks_out_of_order_give_the_file_of_the_table_written_whole(
        tmp_path, monkeypatch, pieces):
    monkeypatch.setattr("protection_eval.io.row_stream.PIECE_ROWS", pieces)
    blocks = [[0, 2, 3], [], [5, 6, 9], [1, 4], [10, 12], [7, 8, 11, 13]]
    stream = CsvRowStream(tmp_path / "stream.csv")
    for labels in blocks:
        stream.write(_cells(labels))
    assert stream.close() == tmp_path / "stream.csv"
    whole = write_table(_cells(list(range(14))), tmp_path / "whole.csv")
    assert (tmp_path / "stream.csv").read_bytes() == whole.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.csv", "whole.csv"]


def test_a_table_whose_text_depends_on_the_whole_column_is_written_whole(tmp_path):
    """A column of numbers as objects prints ``0.0`` beside an empty cell: held, not streamed."""
    first = pd.DataFrame({"value": pd.Series([0, None], dtype=object)}, index=[0, 1])
    second = pd.DataFrame({"value": pd.Series([3, 4], dtype=object)}, index=[2, 3])
    stream = CsvRowStream(tmp_path / "stream.csv")
    stream.write(first)
    stream.write(second)
    stream.close()
    whole = write_table(pd.concat([first, second]), tmp_path / "whole.csv")
    assert (tmp_path / "stream.csv").read_bytes() == whole.read_bytes()


def test_validate_writes_the_files_of_the_mission_held_whole(tmp_path, monkeypatch):
    """``validate`` on the bad mission, read in blocks: validation.json and rejected/ as before."""
    write_validation(load_mission(FIXTURE / "mission.yaml"), tmp_path / "held")
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 0)
    monkeypatch.setattr(readers, "_CSV_CHUNK_ROWS", 3)
    monkeypatch.setattr(tables, "TRACK_BLOCK_ROWS", 2)
    monkeypatch.setattr("protection_eval.io.row_stream.PIECE_ROWS", 2)
    result = CliRunner().invoke(app, ["validate", str(FIXTURE / "mission.yaml"),
                                      "--out", str(tmp_path / "cli")])
    assert "quarantined" in result.output, result.output
    held = sorted(p.relative_to(tmp_path / "held") for p in (tmp_path / "held").rglob("*")
                  if p.is_file())
    cli = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*")
                 if p.is_file())
    assert cli == held and Path("rejected/incidents.csv") in held
    for name in held:
        if name.name != "validation.json":  # the CLI adds the plausibility check
            assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "held" / name
                                                              ).read_bytes(), name
