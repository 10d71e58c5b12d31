"""Shared CSVs carry no formula a spreadsheet would run, and labels carry no script to a map."""

from __future__ import annotations

import csv
import dataclasses
import html

import numpy as np
import pandas as pd
import pytest

from protection_eval.io.writers import neutralise_formula, to_spreadsheet_safe, write_table

FORMULAS = [
    "-2+3+cmd|' /C notepad'!A0",
    '=HYPERLINK("http://127.0.0.1:9/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def read_cells(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("value", FORMULAS)
def test_text_starting_like_a_formula_is_quoted(value):
    assert neutralise_formula(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["-3", "-0.5", "+4", "-12,5", "-1,234.5", "-2e-05", "Kibati", "", "a=b", 3, -0.5, None]
)
def test_numbers_and_plain_text_are_left_alone(value):
    assert neutralise_formula(value) == value


def test_write_table_quotes_formula_cells_and_keeps_negative_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "place": [*FORMULAS, "Kibati", "-3", None],
            "incidents": pd.array([5, 6, 7, 8, 9, 10, -3, 11, None], dtype="Int64"),
            "change": [-0.5, 0.25, -3.0, 1.0, 2.0, -1e-5, 0.0, np.nan, -7.5],
            "kind": pd.Categorical(["=1+1", "a", "a", "a", "a", "a", "a", "a", "a"]),
        }
    )
    path = write_table(frame, tmp_path / "gaps.csv")
    rows = read_cells(path)

    assert rows[0] == ["place", "incidents", "change", "kind"]
    expected = [("'" + f).replace("\r", "\n") for f in FORMULAS]
    assert [row[0] for row in rows[1:]] == [*expected, "Kibati", "-3", ""]
    assert [row[1] for row in rows[1:]] == ["5", "6", "7", "8", "9", "10", "-3", "11", ""]
    assert [row[2] for row in rows[1:]] == [
        "-0.5", "0.25", "-3.0", "1.0", "2.0", "-1e-05", "0.0", "", "-7.5"
    ]
    assert rows[1][3] == "'=1+1"
    # Numbers read back as numbers, the quoted text as its text behind one quote.
    back = pd.read_csv(path)
    assert back["change"].min() == -7.5 and back["incidents"].min() == -3
    assert back.loc[0, "place"] == "'" + FORMULAS[0]
    assert frame.loc[0, "place"] == FORMULAS[0]  # the caller's frame is not changed


def test_a_carriage_return_inside_a_cell_cannot_start_a_new_row(tmp_path):
    frame = pd.DataFrame({"place": ["Kibati\r=cmd|' /C calc'!A0", "Munigi"], "rank": [1, 2]})
    rows = read_cells(write_table(frame, tmp_path / "gaps.csv"))
    assert rows == [["place", "rank"], ["Kibati\n=cmd|' /C calc'!A0", "1"], ["Munigi", "2"]]


def test_headers_are_neutralised_and_raw_cells_keep_a_source_as_it_is(tmp_path):
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["-2+3"]})
    assert list(to_spreadsheet_safe(frame).columns) == ["'=cmd|' /C calc'!A0"]
    raw = write_table(frame, tmp_path / "source.csv", raw_cells=True)
    assert read_cells(raw) == [["=cmd|' /C calc'!A0"], ["-2+3"]]


@pytest.mark.slow
def test_mission_shared_outputs_quote_formulas_and_escape_script_in_place_names(
    demo_missions, tmp_path
):
    """Hostile area names through the real writers: gaps.csv, the map, the audit."""
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.missions import load_mission
    from protection_eval.runs.outputs import write_coverage
    from protection_eval.sharing.audit.folder import audit_mission_folder
    from protection_eval.sharing.disclosure import k_from_config

    path = sorted(demo_missions)[0]
    mission = load_mission(path)
    result = compute_mission_coverage(mission)
    formula = "-2+3+cmd|' /C notepad'!A0"
    script = 'Kator"><img src=x onerror="new Image().src=1">'
    shapes = result.area_shapes.copy()
    shapes["name"] = [formula if i % 2 else script for i in range(len(shapes))]
    result = dataclasses.replace(result, area_shapes=shapes)
    shared = tmp_path / "shared"
    k = k_from_config(mission.config)
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=k, config=mission.config)

    rows = read_cells(shared / "gaps.csv")
    column = rows[0].index("place")
    places = [row[column] for row in rows[1:]]
    # A merged (coarser) unit whose centre lies outside every area has no place name.
    assert places and set(places) - {""} <= {"'" + formula, script}
    assert "'" + formula in places
    page = (shared / "coverage_map.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page
    escaped = html.escape(script).replace("&", "\\u0026")
    assert escaped in page.replace("\\u003c", "<").replace("\\u003e", ">")
    audit = audit_mission_folder(shared, mission)
    flagged = {f.file for f in audit.findings if f.kind == "markup_in_data"}
    # The CSV cell is still the hostile name (a CSV is not HTML), so the audit stops the run;
    # the map holds it only as text.
    assert flagged == {"gaps.csv"}, audit.summary()


def test_strategy_listing_as_csv_quotes_a_name_written_as_a_formula(tmp_path):
    import yaml

    from protection_eval.inventory.strategies import load_catalogue, to_listing

    entry = {
        "id": "test-escorts",
        "name": "=HYPERLINK(\"http://127.0.0.1:9\",\"escorts\")",
        "actor": "military",
        "category": "escort",
        "description": "Soldiers walk with women to the water point and back again.",
        "mechanism": "Armed presence on the route deters attackers at the time of risk.",
        "missions": ["TESTMIS"],
        "period": 2008,
        "sources": [{"title": "A report on escorts", "publisher": "Somebody", "year": 2010}],
        "evidence_level": "anecdotal",
    }
    (tmp_path / "escort.yaml").write_text(yaml.safe_dump([entry]), encoding="utf-8")
    text = to_listing(load_catalogue(tmp_path), "csv")
    rows = list(csv.reader(text.splitlines()))
    assert rows[1][:2] == ["test-escorts", "'" + entry["name"]]
