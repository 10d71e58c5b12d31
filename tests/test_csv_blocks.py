"""A CSV written in blocks of rows has the bytes of the whole table written at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protection_eval.io import writers
from protection_eval.io.writers import to_spreadsheet_safe, write_table
from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import write_validation

FIXTURE = Path(__file__).parent / "fixtures" / "bad_mission" / "mission.yaml"


def whole_bytes(frame: pd.DataFrame, raw_cells: bool = False) -> bytes:
    """The bytes of the former writer: the whole table made safe, printed and encoded at once."""
    table = frame if raw_cells else to_spreadsheet_safe(frame)
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8")


def mixed_frame(rows: int) -> pd.DataFrame:
    cells = ["=1+1", "-3", "Kibati", "", "a\r\nb", "é, \"quoted\"", "@x", "+4", "\tx", "ok"]
    return pd.DataFrame({
        "=source_row": np.arange(rows, dtype="int64"),
        "text": [cells[i % len(cells)] for i in range(rows)],
        "str": pd.array([cells[(i * 3) % len(cells)] for i in range(rows)], dtype="str"),
        "maybe": [None if i % 4 == 0 else cells[i % len(cells)] for i in range(rows)],
        "count": pd.array([None if i % 5 == 0 else i - 3 for i in range(rows)], dtype="Int64"),
        "change": [np.nan if i % 6 == 0 else (i - 2) / 7 for i in range(rows)],
        "kind": pd.Categorical(["=x" if i % 2 else "a" for i in range(rows)]),
        "at": pd.date_range("2021-01-01 10:00", periods=rows, freq="37min", tz="UTC"),
    })


@pytest.mark.parametrize("block_rows", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("raw_cells", [False, True])
def test_blocks_write_the_bytes_of_one_write(tmp_path, monkeypatch, block_rows, raw_cells):
    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", block_rows)
    frame = mixed_frame(23)
    path = write_table(frame, tmp_path / "t.csv", raw_cells=raw_cells)
    assert path.read_bytes() == whole_bytes(frame, raw_cells)


def test_an_empty_table_is_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", 2)
    frame = mixed_frame(0)
    assert write_table(frame, tmp_path / "t.csv").read_bytes() == whole_bytes(frame)


@pytest.mark.parametrize("values", [
    ["2021-01-01", "2021-01-02 10:00", "2021-01-03"],          # dates only in some blocks
    ["2021-01-01 10:00", "2021-01-02", "2021-01-03 00:00:00.5"],  # a fraction in one block
])
def test_a_naive_date_column_prints_as_the_whole_column_says(tmp_path, monkeypatch, values):
    # pandas prints a naive date-time column from the whole column (dates only when every
    # value is at midnight, the finest fraction any value has): such a table is one block.
    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", 1)
    frame = pd.DataFrame({"at": pd.to_datetime(values, format="ISO8601"),
                          "gap": pd.to_timedelta([0, 1, 2], "h")})
    assert write_table(frame, tmp_path / "t.csv").read_bytes() == whole_bytes(frame)


@settings(max_examples=60, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(max_size=6), st.floats(allow_nan=True),
                                st.integers(-10**6, 10**6)), max_size=12),
       block_rows=st.integers(1, 5))
def test_any_object_cells_write_the_bytes_of_one_write(tmp_path_factory, cells, block_rows):
    folder = tmp_path_factory.mktemp("csv")
    frame = pd.DataFrame({"cell": pd.Series(cells, dtype=object),
                          "row": np.arange(len(cells))})
    saved = writers.CSV_BLOCK_ROWS
    writers.CSV_BLOCK_ROWS = block_rows
    try:
        path = write_table(frame, folder / "t.csv")
    finally:
        writers.CSV_BLOCK_ROWS = saved
    assert path.read_bytes() == whole_bytes(frame)


def test_the_bad_mission_rejected_tables_are_those_of_one_write(tmp_path, monkeypatch):
    mission = load_mission(FIXTURE)
    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", 2)
    write_validation(mission, tmp_path / "out")
    written = sorted((tmp_path / "out" / "rejected").glob("*.csv"))
    assert {p.stem for p in written} == set(mission.validation.rejected)
    for path in written:
        assert path.read_bytes() == whole_bytes(mission.validation.rejected[path.stem]), path


def test_a_failed_write_leaves_the_former_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("former\n", encoding="utf-8")
    calls = []

    def fail_on_second_block(frame):
        calls.append(len(frame))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return frame

    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", 2)
    monkeypatch.setattr(writers, "to_spreadsheet_safe", fail_on_second_block)
    with pytest.raises(RuntimeError, match="disk full"):
        write_table(mixed_frame(5), target)
    assert target.read_text(encoding="utf-8") == "former\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_numbers_beside_empty_cells_print_as_the_whole_column_says(tmp_path, monkeypatch):
    # The safe copy of [None, 0] is a float column ("0.0"); a block holding only the 0 would
    # print "0": a column of mixed Python objects is written in one block.
    monkeypatch.setattr(writers, "CSV_BLOCK_ROWS", 1)
    frame = pd.DataFrame({"cell": pd.Series([None, 0, "x"], dtype=object).iloc[:2]})
    assert write_table(frame, tmp_path / "t.csv").read_bytes() == b'cell\n""\n0.0\n'
