"""The whole product on the synthetic demo: every notebook, every mission, plus a broken one."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from protection_eval.demo import make_demo_missions

pytestmark = pytest.mark.slow

SHARED = {"brief.html", "coverage_map.html", "coverage_summary.json", "effects.csv",
          "indicators.csv", "indicators.xlsx"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    missions = root / "missions"
    make_demo_missions(missions, seed=7, scale=0.4)
    broken = missions / "BROKEN-X.yaml"
    shutil.copytree(missions / "demo-c", missions / "broken-x")
    # Incidents are required: a header with no rows stops the mission (an optional table with
    # no rows would not).
    (missions / "broken-x" / "incidents.csv").write_text(
        "incident_id,occurred_at,longitude,latitude,gbv_type\n", encoding="utf-8")
    broken.write_text((missions / "DEMO-C.yaml").read_text()
                      .replace("mission: DEMO-C", "mission: BROKEN-X")
                      .replace("demo-c/", "broken-x/")
                      .replace("broken-x/incidents.parquet", "broken-x/incidents.csv"))
    result = subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", "run", "--all",
         "--missions", str(missions), "--reports", str(root / "reports"), "--jobs", "2"],
        capture_output=True, text=True, timeout=1500,
    )
    return root, result


def test_run_all_exits_1_and_names_the_broken_mission(demo_run):
    _, result = demo_run
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("protection-eval run: 3 ok, 1 failed (BROKEN-X)")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("mission", ["DEMO-A", "DEMO-B", "DEMO-C"])
def test_good_missions_finish_ok_with_every_shared_artefact(demo_run, mission):
    root, _ = demo_run
    latest = root / "reports" / mission / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * len(manifest["notebooks"])
    assert len(manifest["notebooks"]) >= 5
    assert SHARED <= {p.name for p in (latest / "shared").iterdir()}
    assert not list((latest / "shared").glob("*.ipynb"))
    restricted = {p.name for p in (latest / "restricted").iterdir()}
    assert "coverage.gpkg" in restricted and "01_data_quality.html" in restricted
    summary = json.loads((latest / "shared" / "coverage_summary.json").read_text())
    assert summary["model"] == {"DEMO-A": "tracks", "DEMO-B": "routes", "DEMO-C": "bases"}[mission]
    assert 0 < summary["covered_share"] < 1


def test_broken_mission_is_failed_with_its_reason(demo_run):
    root, _ = demo_run
    runs = [p for p in (root / "reports" / "BROKEN-X").iterdir() if p.name[0].isdigit()]
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "incidents.csv" in manifest["error"]["message"]
    assert "header but no rows" in manifest["error"]["message"]
    assert not (root / "reports" / "BROKEN-X" / "latest").exists()


def test_index_lists_every_mission_offline(demo_run):
    root, _ = demo_run
    index = (root / "reports" / "index.html").read_text()
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C", "BROKEN-X"):
        assert mission in index
    assert "https://" not in index and "http://" not in index


def test_demo_effects_contain_the_planted_ratios(demo_run):
    root, _ = demo_run
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C"):
        truth = json.loads((root / "missions" / f"demo-{mission[-1].lower()}" /
                            "ground_truth.json").read_text())
        effects = pd.read_csv(root / "reports" / mission / "latest" / "shared" / "effects.csv")
        headline = effects[effects.estimand == "deployment"]
        if "headline" in headline:
            headline = headline[headline.headline.astype(bool)]
        for planted in truth["effects"]:
            row = headline[headline.strategy_id == planted["strategy_id"]]
            assert len(row) == 1, (mission, planted)
            assert row.ci_low.iloc[0] <= planted["irr"] <= row.ci_high.iloc[0], (mission, planted)


@pytest.mark.parametrize("mission", ["DEMO-A", "DEMO-B", "DEMO-C"])
def test_demo_runs_share_their_patrol_level_1325_indicators(demo_run, mission):
    from protection_eval.indicators import INDICATOR_COLUMNS

    root, _ = demo_run
    shared = root / "reports" / mission / "latest" / "shared"
    frame = pd.read_csv(shared / "indicators.csv")
    assert list(frame.columns) == INDICATOR_COLUMNS
    assert set(frame["mission"]) == {mission}
    ids = set(frame["indicator_id"])
    assert {"patrol.women_hours_share", "patrol.with_women_share"} <= ids
    assert any(i.startswith("patrol.women_hours_share:unit_type=") for i in ids)
    shown = frame[frame["value"].notna()]
    assert len(shown) and shown["value"].between(0, 1).all()
    assert (shown["numerator"] <= shown["denominator"]).all()


def test_evidence_pools_strategies_estimated_in_two_or_more_missions(demo_run):
    root, _ = demo_run
    evidence = pd.read_csv(root / "reports" / "evidence.csv")
    pooled = evidence[evidence.mission == "ALL"]
    assert set(pooled.strategy_id) >= {"firewood-escorts", "night-patrols"}
    firewood = pooled.set_index("strategy_id").loc["firewood-escorts"]
    assert firewood.n_missions == 3 and firewood.ci_low < 0.65 < firewood.ci_high


#: A second run, in a fresh process, of the notebooks that write the files compared: coverage
#: (02), effects (03) and indicators (06). The data-quality page, the inventory and the brief
#: (01, 04, 05) write none of them and are left out.
RERUN = """
import sys
from protection_eval.runs.layout import notebook_paths
from protection_eval.runs.runner import run_mission
wanted = [p for p in notebook_paths() if p.name.startswith(("02_", "03_", "06_"))]
assert len(wanted) == 3, wanted
result = run_mission(sys.argv[1], reports_dir=sys.argv[2], notebooks=wanted)
sys.exit(0 if result.ok else f"second run failed: {result.error}")
"""


def test_same_inputs_give_the_same_numbers(demo_run):
    root, _ = demo_run
    again = subprocess.run(
        [sys.executable, "-c", RERUN, str(root / "missions" / "DEMO-B.yaml"), str(root / "again")],
        capture_output=True, text=True, timeout=900,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for name in ("coverage_summary.json", "effects.csv", "indicators.csv"):
        first = (root / "reports" / "DEMO-B" / "latest" / "shared" / name).read_bytes()
        second = (root / "again" / "DEMO-B" / "latest" / "shared" / name).read_bytes()
        assert first == second, name
