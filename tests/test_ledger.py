"""Differencing: totals that give a small cell away by subtraction, in one file and across runs."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.runs.ledger import (
    LedgerBusy,
    LedgerError,
    check_ledger,
    hold_ledger,
    load_ledger,
    record_margins,
)
from protection_eval.runs.missions import load_mission
from protection_eval.runs.publish import publish_shared
from protection_eval.sharing.audit.differencing import (
    Margin,
    close_totals,
    margins_of_folder,
    month_span,
    recoverable_cells,
)
from protection_eval.sharing.audit.folder import audit_shared_folder

CELL = "876a506e3ffffff"
OTHER_CELL = "876a53c21ffffff"


def _margin(first: str, last: str, value: int, *, unit: str = f"h3_cell={CELL}",
            name: str = "incidents") -> Margin:
    return Margin("gaps.csv", "row 2, incidents", "M", unit, name, first, last, value)


# -- across runs: the subtraction itself ---------------------------------------------------------


def test_a_cumulative_run_beside_a_monthly_one_gives_the_last_month_back():
    published = [(_margin("2023-01", "2023-05", 30), "run-may")]
    found = recoverable_cells(published, [_margin("2023-01", "2023-06", 33)], k=5)
    assert [(c.first, c.last, c.value) for c in found] == [("2023-06", "2023-06", 3)]
    assert "run run-may" in found[0].label and "this run" in found[0].label
    assert "33" not in found[0].label and "30" not in found[0].label


def test_a_difference_of_k_or_more_is_no_cell():
    published = [(_margin("2023-01", "2023-05", 30), "run-may")]
    assert recoverable_cells(published, [_margin("2023-01", "2023-06", 35)], k=5) == []
    assert recoverable_cells(published, [_margin("2023-01", "2023-06", 30)], k=5) == []


def test_a_revision_of_the_same_months_gives_the_late_reports_back():
    published = [(_margin("2023-01", "2023-06", 30), "first")]
    found = recoverable_cells(published, [_margin("2023-01", "2023-06", 32)], k=5)
    assert [(c.first, c.last, c.value) for c in found] == [("2023-01", "2023-06", 2)]


def test_months_subtracted_twice_are_found():
    # January-June minus January-February is March-June; March-August minus that is
    # July-August: three publications, no two of which alone give a cell.
    published = [(_margin("2023-01", "2023-06", 40), "a"), (_margin("2023-01", "2023-02", 20), "b")]
    found = recoverable_cells(published, [_margin("2023-03", "2023-08", 23)], k=5)
    assert [(c.first, c.last, c.value) for c in found] == [("2023-07", "2023-08", 3)]
    assert len(found[0].sources) == 3


def test_overlapping_periods_alone_and_other_units_give_nothing():
    published = [(_margin("2023-01", "2023-06", 40), "a")]
    assert recoverable_cells(published, [_margin("2023-03", "2023-08", 43)], k=5) == []
    other = _margin("2023-01", "2023-06", 43, unit=f"h3_cell={OTHER_CELL}")
    assert recoverable_cells(published, [other], k=5) == []
    renamed = _margin("2023-01", "2023-06", 43, name="incidents_covered")
    assert recoverable_cells(published, [renamed], k=5) == []


def test_the_ledger_round_trips_and_a_broken_line_is_named(tmp_path):
    path = tmp_path / "M" / "ledger.jsonl"
    record_margins([_margin("2023-01", "2023-05", 30)], path, "run-may")
    assert load_ledger(path) == [(_margin("2023-01", "2023-05", 30), "run-may")]
    assert [c.value for c in check_ledger([_margin("2023-01", "2023-06", 34)], path, 5)] == [4]
    with path.open("a") as handle:
        handle.write('{"run": "x", "value": 3}\n')
    with pytest.raises(LedgerError, match=r"ledger.jsonl, line 2: not a ledger entry"):
        load_ledger(path)


# -- within one file -----------------------------------------------------------------------------


def _effects(tmp_path: Path, counts: tuple[int, int]) -> Path:
    folder = tmp_path / f"effects-{counts[1]}"
    folder.mkdir()
    rows = [
        f"M,escorts,deployment,poisson_fe,stacked_not_yet_treated,0.8,12,24,{counts[0]}",
        f"M,escorts,deployment,poisson_fe,twfe,0.7,12,24,{counts[1]}",
    ]
    (folder / "effects.csv").write_text(
        "mission,strategy_id,estimand,model,design,irr,n_areas,n_periods,n_incidents\n"
        + "\n".join(rows) + "\n"
    )
    return folder


def test_effects_rows_whose_sample_sizes_differ_by_less_than_k_are_a_finding(tmp_path):
    result = audit_shared_folder(_effects(tmp_path, (40, 43)))
    found = [f for f in result.findings if f.kind == "close_totals"]
    assert [(f.file, f.where) for f in found] == [("effects.csv", "row 3, n_incidents")]
    assert "gives 3" in found[0].what
    assert audit_shared_folder(_effects(tmp_path, (40, 45))).ok


def test_coverage_summary_parts_are_compared_only_when_one_holds_the_other(tmp_path):
    summary = {"mission": "M", "period": "2023-01 to 2023-06", "incidents_total": 140,
               "incidents_in_scope": 100, "incidents_covered": 97,
               "incidents_left_out_by_precision": 30, "incidents_left_out_other": 10,
               "incidents_date_only": 0}
    (tmp_path / "coverage_summary.json").write_text(json.dumps(summary))
    pairs = close_totals(margins_of_folder(tmp_path), 5)
    # 100 in scope, 97 covered: 3 uncovered. 30 and 33 of other parts would not be compared.
    assert [(a.name, b.name) for a, b in pairs] == [("incidents_covered", "incidents_in_scope")]
    summary.update(incidents_covered=60, incidents_left_out_other=33)
    (tmp_path / "coverage_summary.json").write_text(json.dumps(summary))
    assert close_totals(margins_of_folder(tmp_path), 5) == []


def test_a_covered_share_beside_a_count_that_leaves_few_uncovered_is_a_finding(tmp_path):
    (tmp_path / "gaps.csv").write_text(
        "period,h3_cell,place,incidents,covered_share,rank\n"
        f"2023-01 to 2023-06,{CELL},Area 31,30,0.9,1\n"
        f"2023-01 to 2023-06,{OTHER_CELL},Area 07,28,0.5,2\n"
    )
    result = audit_shared_folder(tmp_path)
    assert [(f.kind, f.where) for f in result.findings] == [("close_totals", "row 2, incidents")]


def test_month_span_reads_the_periods_the_project_writes():
    assert month_span("2022-01 to 2023-12") == ("2022-01", "2023-12")
    assert month_span("2023-01..2023-06") == ("2023-01", "2023-06")
    assert month_span("2023-04") == ("2023-04", "2023-04")
    assert month_span(None) is None


# -- the gate: a planted differencing attack -----------------------------------------------------


@pytest.fixture(scope="module")
def mission(demo_missions):
    return load_mission(demo_missions[1])


def _gaps(period: str, count: int):
    def build(staged: Path) -> None:
        (staged / "gaps.csv").write_text(
            "period,h3_cell,place,incidents,covered_share,rank\n"
            f"{period},{CELL},Area 31,{count},,1\n{period},{OTHER_CELL},Area 07,28,,2\n"
        )
    return build


def test_the_gate_refuses_a_cumulative_run_that_a_monthly_one_can_be_subtracted_from(
    tmp_path, mission
):
    ledger = tmp_path / "ledger.jsonl"
    may = tmp_path / "run-may"
    first = publish_shared(_gaps("2023-01 to 2023-05", 30), may / "shared", may / "restricted",
                           mission, ledger=ledger)
    assert first.published, first.message
    assert len(load_ledger(ledger)) == 2

    june = tmp_path / "run-june"
    second = publish_shared(_gaps("2023-01 to 2023-06", 33), june / "shared",
                            june / "restricted", mission, ledger=ledger)
    assert not second.published
    assert not (june / "shared").exists()
    assert (june / "restricted" / "shared_rejected" / "gaps.csv").exists()
    assert [p["kind"] for p in second.places] == ["differencing"]
    # The message names the margins and the runs, not the recovered count.
    assert f"gaps.csv [incidents [h3_cell={CELL}] 2023-06..2023-06" in second.message
    assert "run run-may" in second.message and "= 3" not in second.message
    findings = (june / "restricted" / "audit_findings.csv").read_text()
    assert "2023-06..2023-06 = 3" in findings
    assert len(load_ledger(ledger)) == 2, "a refused run is not recorded"

    honest = publish_shared(_gaps("2023-01 to 2023-06", 36), june / "shared",
                            june / "restricted", mission, ledger=ledger)
    assert honest.published, honest.message
    assert {run for _, run in load_ledger(ledger)} == {"run-may", "run-june"}


def test_without_a_ledger_the_gate_is_unchanged(tmp_path, mission):
    outcome = publish_shared(_gaps("2023-01 to 2023-06", 33), tmp_path / "shared",
                             tmp_path / "restricted", mission)
    assert outcome.published, outcome.message
    assert not (tmp_path / "ledger.jsonl").exists()


def test_the_coverage_command_records_its_margins_and_a_rerun_still_publishes(
    tmp_path, demo_missions
):
    args = ["coverage", str(demo_missions[1]), "--out", str(tmp_path), "--period",
            "2023-01..2023-06"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    entries = load_ledger(tmp_path / "ledger.jsonl")
    names = {m.name for m, _ in entries}
    assert {"incidents_total", "incidents"} <= names
    assert {(m.first, m.last) for m, _ in entries} == {("2023-01", "2023-06")}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert not (tmp_path / "shared" / "ledger.jsonl").exists()


def test_a_run_publishing_while_another_holds_the_ledger_is_checked_against_its_totals(
    tmp_path, mission
):
    # Two runs of one mission publishing at once: the second must see the first's totals.
    ledger = tmp_path / "ledger.jsonl"
    held, go = threading.Event(), threading.Event()

    def first_run() -> None:
        with hold_ledger(ledger):
            held.set()
            go.wait(10)
            may = Margin("gaps.csv", "row 2, incidents", mission.config.mission,
                         f"h3_cell={CELL}", "incidents", "2023-01", "2023-05", 30)
            record_margins([may], ledger, "run-may")

    holder = threading.Thread(target=first_run)
    holder.start()
    assert held.wait(10)
    june = tmp_path / "run-june"
    outcome: dict[str, object] = {}
    publisher = threading.Thread(target=lambda: outcome.setdefault("june", publish_shared(
        _gaps("2023-01 to 2023-06", 33), june / "shared", june / "restricted", mission,
        ledger=ledger)))
    publisher.start()
    publisher.join(1.0)
    assert publisher.is_alive(), "the second run waits while the first holds the ledger"
    go.set()
    holder.join(10)
    publisher.join(30)
    result = outcome["june"]
    assert not result.published
    assert [p["kind"] for p in result.places] == ["differencing"]
    assert not (june / "shared").exists()


def test_a_ledger_held_past_the_wait_stops_the_run_and_shares_nothing(tmp_path, mission):
    ledger = tmp_path / "ledger.jsonl"
    run = tmp_path / "run-june"
    with hold_ledger(ledger), pytest.raises(LedgerBusy, match="another run of this mission"):
        publish_shared(_gaps("2023-01 to 2023-06", 33), run / "shared", run / "restricted",
                       mission, ledger=ledger, ledger_wait=0.2)
    assert not (run / "shared").exists()
    assert (run / "restricted" / "shared_rejected" / "gaps.csv").exists()
    assert not ledger.exists() or load_ledger(ledger) == []


# -- every container, every window: issue 25 items 3 and 4 ---------------------------------------


def _map_counts(page: str) -> dict[str, int]:
    """Hexagon counts of a published map, read with a plain pattern (not the ledger's reader)."""
    found = re.findall(r'"h3_cell":\s*"([0-9a-f]{15})",\s*"incidents":\s*"(\d+)"', page)
    assert found, "the map should show hexagon counts"
    return {cell: int(count) for cell, count in found}


def test_two_coverage_runs_whose_maps_differ_by_less_than_k_in_hexagons_are_refused(
    tmp_path, demo_missions
):
    # The reproduction of issue 25: the radius change empties gaps.csv, so before the map was
    # read the ledger had nothing but mission-wide totals to compare.
    config = str(demo_missions[0])
    first = CliRunner().invoke(app, ["coverage", config, "--out", str(tmp_path), "--period",
                                     "2022-01..2022-06"])
    assert first.exit_code == 0, first.output
    (first_map,) = tmp_path.rglob("coverage_map.html")
    published = first_map.read_text(encoding="utf-8")

    second = CliRunner().invoke(app, ["coverage", config, "--out", str(tmp_path), "--period",
                                      "2022-01..2022-05", "--radius-m", "60000"])
    assert second.exit_code == 1, second.output
    assert "differencing in coverage_map.html" in second.output
    run_june = first_map.parent.parent
    (run_may,) = [p for p in tmp_path.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p != run_june]
    assert not (run_may / "shared").exists()
    # The first publication is still there, unchanged: each run has its own folder.
    assert (run_june / "shared" / "coverage_map.html").read_text(encoding="utf-8") == published

    # The hexagons refused are those whose counts, in the two maps, differ by 1 to k-1.
    june = _map_counts(published)
    may = _map_counts(
        (run_may / "restricted" / "shared_rejected" / "coverage_map.html").read_text("utf-8"))
    close = {cell for cell in june.keys() & may.keys() if 1 <= abs(june[cell] - may[cell]) < 5}
    assert close
    findings = pd.read_csv(run_may / "restricted" / "audit_findings.csv")
    named = set(findings["what"].str.extract(r"h3_cell=([0-9a-f]{15})\] 2022-06..2022-06")[0]
                .dropna())
    assert close <= named
    # The message says where, never how many.
    for cell in close:
        assert f"= {abs(june[cell] - may[cell])}" not in second.output


def _cumulative_counts(months: list[str], seed: int = 8) -> dict[str, dict[str, int]]:
    """Incidents of 3 hexagons per month, counted with h3 from synthetic points.

    Each hexagon gets 5 to 11 incidents a month, so that no two windows published before the
    new run differ by fewer than 5 (the ledger would have refused them).
    """
    rng = np.random.default_rng(seed)
    centres = [h3.cell_to_latlng(h3.latlng_to_cell(lat, lng, 7))
               for lat, lng in ((4.85, 31.60), (4.95, 31.70), (5.05, 31.80))]
    per_month: dict[str, Counter] = {}
    for month in months:
        # Within about 500 m of a hexagon's centre (its edge is about 1.2 km away).
        points = [(lat + rng.uniform(-0.004, 0.004), lng + rng.uniform(-0.004, 0.004))
                  for lat, lng in centres for _ in range(rng.integers(5, 12))]
        per_month[month] = Counter(h3.latlng_to_cell(lat, lng, 7) for lat, lng in points)
    totals: dict[str, dict[str, int]] = {}
    running: Counter = Counter()
    for month in months:
        running += per_month[month]
        totals[month] = dict(running)
    return totals


def _months(first_year: int, count: int) -> list[str]:
    return [f"{first_year + i // 12}-{i % 12 + 1:02d}" for i in range(count)]


def test_a_run_differing_by_less_than_k_from_one_of_70_monthly_windows_is_refused(
    tmp_path, mission
):
    # Five years and more of monthly cumulative publications: the old derivation stopped at
    # 2,000 intervals before it reached the new run's totals, and let it through.
    months = _months(2018, 71)
    totals = _cumulative_counts(months)
    code = mission.config.mission
    ledger = tmp_path / "ledger.jsonl"
    for month in months[:70]:
        record_margins([Margin("gaps.csv", "row 2, incidents", code, f"h3_cell={cell}",
                               "incidents", months[0], month, count)
                        for cell, count in totals[month].items()], ledger, f"run-{month}")
    # The new run: the 70th window again, with late reports in one hexagon.
    cell = sorted(totals[months[69]])[0]
    late = 3
    rows = "".join(f"2018-01 to {months[69]},{c},Area,{n + (late if c == cell else 0)},,1\n"
                   for c, n in sorted(totals[months[69]].items()))
    build = _raw_gaps(rows)
    run = tmp_path / "run-new"
    outcome = publish_shared(build, run / "shared", run / "restricted", mission, ledger=ledger)
    assert not outcome.published
    assert {p["kind"] for p in outcome.places} == {"differencing"}
    assert all(f"h3_cell={cell}" in p["where"] for p in outcome.places)
    findings = (run / "restricted" / "audit_findings.csv").read_text()
    assert f"incidents [h3_cell={cell}] 2018-01..{months[69]} = {late}" in findings

    # A window a month longer than the last: its new month alone is that month's count.
    june = months[70]
    added = totals[june][cell] - totals[months[69]][cell]
    assert 1 <= added
    small = {c: totals[june][c] for c in totals[june]}
    small[cell] = totals[months[69]][cell] + 2
    rows = "".join(f"2018-01 to {june},{c},Area,{n},,1\n" for c, n in sorted(small.items()))
    outcome = publish_shared(_raw_gaps(rows), run / "shared", run / "restricted", mission,
                             ledger=ledger)
    assert not outcome.published
    assert any(f"incidents [h3_cell={cell}] {june}..{june}" in p["where"]
               for p in outcome.places)


def _raw_gaps(rows: str):
    def build(staged: Path) -> None:
        (staged / "gaps.csv").write_text(
            "period,h3_cell,place,incidents,covered_share,rank\n" + rows)
    return build


def test_a_ledger_too_long_to_combine_refuses_the_run(tmp_path, mission, monkeypatch):
    from protection_eval.sharing.audit import differencing

    monkeypatch.setattr(differencing, "_MAX_PAIRS", 10, raising=False)
    code = mission.config.mission
    ledger = tmp_path / "ledger.jsonl"
    months = _months(2020, 20)
    record_margins([Margin("gaps.csv", "row 2, incidents", code, f"h3_cell={CELL}",
                           "incidents", months[0], month, 100 + 10 * i)
                    for i, month in enumerate(months)], ledger, "old")
    # Honest by any count: 10 more than the last window, in one more month.
    outcome = publish_shared(_gaps(f"{months[0]} to 2021-09", 300), tmp_path / "shared",
                             tmp_path / "restricted", mission, ledger=ledger)
    assert not outcome.published
    assert [p["kind"] for p in outcome.places] == ["ledger_cap"]
    assert f"incidents [h3_cell={CELL}]" in outcome.places[0]["where"]
    assert not (tmp_path / "shared").exists()


def test_a_staged_file_the_ledger_cannot_read_is_refused(tmp_path, mission):
    def build(staged: Path) -> None:
        _gaps("2023-01 to 2023-06", 33)(staged)
        (staged / "notes.txt").write_text("Area 07 had a quiet month.\n")

    outcome = publish_shared(build, tmp_path / "shared", tmp_path / "restricted", mission,
                             ledger=tmp_path / "ledger.jsonl")
    assert not outcome.published
    assert [(p["kind"], p["file"]) for p in outcome.places] == [("unledgered", "notes.txt")]
    assert load_ledger(tmp_path / "ledger.jsonl") == []


def test_a_single_run_of_months_known_only_from_three_windows_is_found():
    # January-June and April-September published; a new January-September makes April-June
    # known (J-J + A-S - J-S), though no window holds another with a shared end.
    published = [(_margin("2023-01", "2023-06", 40), "a"), (_margin("2023-04", "2023-09", 30),
                                                           "b")]
    found = recoverable_cells(published, [_margin("2023-01", "2023-09", 67)], k=5)
    assert [(c.first, c.last, c.value) for c in found] == [("2023-04", "2023-06", 3)]
    assert len(found[0].sources) == 3


def test_a_window_inside_another_without_a_shared_end_is_compared_too():
    # A year and its second quarter: the other nine months, 3 reports, are given back.
    published = [(_margin("2023-04", "2023-06", 40), "q2")]
    found = recoverable_cells(published, [_margin("2023-01", "2023-12", 43)], k=5)
    assert [(c.first, c.last, c.outside, c.value) for c in found] == [
        ("2023-01", "2023-12", "2023-04..2023-06", 3)]
