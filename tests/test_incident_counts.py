"""Monthly incident counts as input: small cells kept as intervals, margins checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from test_ingest import run_cli

from protection_eval.effects.mission import estimate_mission
from protection_eval.effects.panel import compute_mission_panel, make_synthetic_panel
from protection_eval.ingest.counts import parse_count
from protection_eval.runs.missions import load_mission


@pytest.mark.parametrize(("cell", "bounds"), [
    ("12", (12, 12)), ("0", (0, 0)), ("<5", (1, 4)), ("< 5", (1, 4)), ("<10", (1, 9)),
    ("<=4", (1, 4)), ("≤4", (1, 4)), ("1-4", (1, 4)), ("1–4", (1, 4)), ("5 to 9", (5, 9)),
])
def test_published_count_forms_are_kept_as_their_bounds(cell, bounds):
    assert parse_count(cell) == bounds


@pytest.mark.parametrize("cell", ["five", "<1", "<0", "5-2", "-3", "1.5", "*", "<5>", "x<5"])
def test_unknown_count_forms_are_not_guessed(cell):
    assert parse_count(cell) is None


def test_every_count_row_is_accepted_or_quarantined_with_its_reason(bad_mission, tmp_path):
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "validation.json").read_text())
    got = report["tables"]["incident_counts"]
    assert got["rows_read"] == 20 and got["rows_accepted"] == 5
    assert got["rows_read"] == got["rows_accepted"] + got["rows_rejected"]
    assert got["dropped_columns"] == ["Notes"]
    assert got["area_name_suggestions"] == {"Katr": ["Kator"]}
    rejected = pd.read_csv(tmp_path / "out" / "rejected" / "incident_counts.csv", dtype=str)
    by_row = rejected.set_index("source_row")
    assert by_row.loc["10", "reason"] == "count_unparseable"
    assert "five" in by_row.loc["10", "detail"] and "<5" in by_row.loc["10", "detail"]
    assert by_row.loc["16", "reason"] == "counts_and_rows_overlap"
    assert "source 'hr' also gives 1 incident row(s) for area A1 in 2022-03" in by_row.loc[
        "16", "detail"]
    assert "margin_inconsistent" in result.stdout


def test_inconsistent_margin_names_file_row_and_column(bad_mission):
    rejected = load_mission(bad_mission).validation.rejected["incident_counts"]
    margin = rejected[rejected["reason"] == "margin_inconsistent"]
    # The total (row 7) and the two counts it sums (rows 5 and 6): which is wrong is unknown.
    assert sorted(margin["source_row"].tolist()) == [5, 6, 7]
    assert set(margin["column"]) == {"count"}
    assert margin["detail"].iloc[0] == (
        "counts.csv row 7, column count: the total for area A2, 2022-03, source 'gbv_partner' "
        "is 12, but its counts by type (rows 5, 6) add up to between 1 and 4; correct the total "
        "or the counts")


def test_margin_consistent_with_the_intervals_passes_and_cells_keep_their_bounds(bad_mission):
    counts = load_mission(bad_mission).incident_counts
    kator = counts[(counts["area_id"] == "A1") & (counts["month"] == "2022-03-01")]
    # 7 + "<5" is 8..11: a total of 10 agrees with it, and "<5" stays 1..4.
    assert kator.set_index("gbv_type")[["count_low", "count_high"]].to_dict("index") == {
        "rape": {"count_low": 7, "count_high": 7},
        "sexual_assault": {"count_low": 1, "count_high": 4},
        "total": {"count_low": 10, "count_high": 10},
    }
    # Placed by name (NFC), by P-code, and through the source's own label map.
    assert set(counts["area_id"]) == {"A1", "A2"}
    assert counts.loc[counts["source_row"] == 14, "gbv_type"].item() == "rape"


def test_counts_sit_beside_incident_rows_in_the_panel(bad_mission):
    mission = load_mission(bad_mission)
    panel = compute_mission_panel(mission, use_coverage=False)
    rows_only = compute_mission_panel(
        load_mission(_without_counts(bad_mission)), use_coverage=False)
    cell = panel.set_index(["area_id", "period"]).loc[("A1", pd.Period("2022-03", "M"))]
    before = rows_only.set_index(["area_id", "period"]).loc[("A1", pd.Period("2022-03", "M"))]
    # Rape 7 and sexual assault "<5" (1..4) from the partner; the total row is not counted.
    assert cell["incidents"] == before["incidents"] + 8
    assert cell["upper_incidents"] == before["incidents"] + 11
    assert cell["incidents_sexual_assault"] == before.get("incidents_sexual_assault", 0) + 1
    assert cell["upper_incidents_sexual_assault"] == cell["incidents_sexual_assault"] + 3
    assert "upper_incidents" not in rows_only
    assert any("interval-censored" in n for n in panel.attrs["notes"])


def _without_counts(mission_yaml: Path) -> Path:
    config = yaml.safe_load(mission_yaml.read_text())
    del config["sources"]["incident_counts"]
    target = mission_yaml.with_name("rows_only.yaml")
    target.write_text(yaml.safe_dump(config, allow_unicode=True))
    return target


def test_a_source_is_either_rows_or_counts_for_an_area_month(bad_mission):
    counts = load_mission(bad_mission).incident_counts
    assert not ((counts["source"] == "hr") & (counts["area_id"] == "A1")).any()


def _counts_mission(folder: Path, *, irr: float, seed: int) -> tuple[Path, int]:
    """A mission whose only incident data are published monthly counts, "<5" suppressed."""
    panel = make_synthetic_panel(40, 24, irr=irr, base_rate=2.0, seed=seed,
                                 first_start=6, last_start=18)
    areas = sorted(panel["area_id"].unique())
    boxes = [shapely.box(30 + 0.1 * i, 5.0, 30.1 + 0.1 * i, 5.1) for i in range(len(areas))]
    features = [{"type": "Feature", "properties": {"area_id": a, "name": f"Area {a}",
                                                   "population": 1000},
                 "geometry": shapely.geometry.mapping(b)}
                for a, b in zip(areas, boxes, strict=True)]
    (folder / "areas.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                      "features": features}))
    (folder / "incidents.csv").write_text("incident_id,occurred_at,gbv_type,area_name\n")
    y = panel["incidents"].to_numpy()
    published = np.where((y >= 1) & (y <= 4), "<5", y.astype(str))
    pd.DataFrame({"District": "Area " + panel["area_id"], "Month": panel["period"].astype(str),
                  "Type": "unspecified", "Cases": published, "Agency": "partner"}).to_csv(
        folder / "counts.csv", index=False)
    first = panel[panel["active_test_strategy"] > 0].groupby("area_id")["period"].min()
    pd.DataFrame({"strategy_id": "firewood-escorts", "area_id": first.index,
                  "started_on": first.dt.start_time.dt.strftime("%Y-%m-%d"),
                  "ended_on": ""}).to_csv(folder / "deployments.csv", index=False)
    config = {
        "mission": "COUNTS-1", "name": "Counts only", "synthetic": True,
        "timezone": "Africa/Juba", "period": {"start": "2022-01-01", "end": "2023-12-31"},
        "sources": {
            "incidents": {"path": "incidents.csv"},
            "areas": {"path": "areas.geojson"},
            "deployments": {"path": "deployments.csv"},
            "incident_counts": {"path": "counts.csv", "columns": {
                "District": "area_name", "Month": "month", "Type": "gbv_type", "Cases": "count",
                "Agency": "source"}},
        },
    }
    path = folder / "mission.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, int(((y >= 1) & (y <= 4)).sum())


def test_planted_effect_recovered_from_a_mission_that_gives_only_suppressed_counts(tmp_path):
    path, n_small = _counts_mission(tmp_path, irr=0.6, seed=0)
    mission = load_mission(path)
    assert mission.validation.usable and mission.incidents.empty
    assert mission.validation.tables["incident_counts"].rows_accepted == 40 * 24
    assert any("stand in" in n for n in mission.validation.notes)
    effects = estimate_mission(mission, strategies="firewood-escorts", presence=False)
    headline = effects.headline("firewood-escorts")
    assert headline.fit.n_censored > 0 and n_small > 300
    assert headline.ci_low <= 0.6 <= headline.ci_high
    assert headline.ci_high < 0.9  # an effect, not a null
    assert any("interval-censored" in c for c in headline.caveats)
