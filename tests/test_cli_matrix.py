"""Every documented option of `run`, `coverage` and `effects` on every demo mission (issue 26, 9).

`protection-eval run data/missions/DEMO-A.yaml --period 2022-01` (and `2022-01..2022-03`)
stopped in notebook 03 while DEMO-B and DEMO-C passed, and no test ran a reporting cycle on
DEMO-A. Kept lean: the session's demo missions at scale 0.35, one invocation per case
with every option it documents at once. The Dask options (`--executor dask`, `--scheduler`,
`--scheduler-timeout`) need a cluster and are run in `tests/test_batch.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from protection_eval.cli import app

pytestmark = pytest.mark.slow

MISSIONS = ["DEMO-A", "DEMO-B", "DEMO-C"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def configs(demo_missions: list[Path]) -> dict[str, Path]:
    return {p.stem: p for p in demo_missions}


@pytest.fixture(scope="module")
def monthly_runs(demo_missions, tmp_path_factory) -> Path:
    """`run --all --missions --reports --jobs 2 --period 2022-01`: every demo mission, one month."""
    reports = tmp_path_factory.mktemp("monthly")
    invoke("run", "--all", "--missions", demo_missions[0].parent, "--reports", reports,
           "--jobs", "2", "--period", "2022-01")
    return reports


@pytest.mark.parametrize("mission", MISSIONS)
def test_a_one_month_reporting_cycle_runs_on_every_demo_mission(monthly_runs, mission):
    latest = monthly_runs / mission / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest["error"]
    assert manifest["period"] == "2022-01"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * len(manifest["notebooks"])
    summary = json.loads((latest / "shared" / "coverage_summary.json").read_text())
    assert summary["period"] == "2022-01 to 2022-01"
    effects = pd.read_csv(latest / "shared" / "effects.csv")
    # The patrol-presence question is answered, by a number or a status that says why not.
    assert (effects["estimand"] == "patrol_presence").sum() == 1
    assert set(effects["status"]) <= {"ok", "not_computed", "not_estimable", "not_shown"}


def test_a_quarter_runs_on_demo_a(demo_missions, tmp_path):
    """`run X.yaml --reports --period 2022-01..2022-03`, a form that stopped in notebook 03."""
    invoke("run", configs(demo_missions)["DEMO-A"], "--reports", tmp_path, "--period",
           "2022-01..2022-03")
    manifest = json.loads((tmp_path / "DEMO-A" / "latest" / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["period"] == "2022-01..2022-03"
    summary = json.loads((tmp_path / "DEMO-A" / "latest" / "shared" /
                          "coverage_summary.json").read_text())
    assert summary["period"] == "2022-01 to 2022-03"


def test_a_period_without_its_start_is_one_clear_usage_line(demo_missions, tmp_path):
    """`..2022-06` is not a documented form: refused before any notebook, saying what to write."""
    result = CliRunner().invoke(app, ["run", str(configs(demo_missions)["DEMO-A"]),
                                      "--reports", str(tmp_path), "--period", "..2022-06"])
    assert result.exit_code == 2
    assert "the start is missing; give one month (2024-06) or both ends" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "DEMO-A").exists()


def only_run(out: Path) -> Path:
    """The one run folder a command wrote under ``--out`` (``<out>/<run_id>/``)."""
    runs = [p for p in out.iterdir() if p.is_dir() and (p / "restricted").is_dir()]
    assert len(runs) == 1, sorted(p.name for p in out.iterdir())
    return runs[0]


@pytest.mark.parametrize("mission", MISSIONS)
def test_coverage_takes_every_option_on_every_demo_mission(demo_missions, mission, tmp_path):
    invoke("coverage", configs(demo_missions)[mission], "--out", tmp_path, "--radius-m", "3000",
           "--window-h", "48", "--period", "2022-01..2022-03")
    run = only_run(tmp_path)
    summary = json.loads((run / "shared" / "coverage_summary.json").read_text())
    assert summary["period"] == "2022-01 to 2022-03"
    assert summary["radius_m"] == 3000 and summary["window_h"] == 48
    assert summary["covered_share_status"] in {"ok", "not_shown"}
    assert (run / "shared" / "gaps.csv").exists()
    assert (run / "shared" / "coverage_map.html").exists()


@pytest.mark.parametrize("mission", MISSIONS)
def test_effects_takes_every_option_on_every_demo_mission(demo_missions, mission, tmp_path):
    result = CliRunner().invoke(app, [
        "effects", str(configs(demo_missions)[mission]), "--out", str(tmp_path), "--strategy",
        "firewood-escorts", "--design", "twfe", "--period", "2022-01..2023-06"])
    assert "Traceback" not in result.output
    run = only_run(tmp_path)
    assert (run / "restricted" / "effects_full.csv").exists()
    if result.exit_code == 1:
        # The gate may refuse two sample sizes 1 to k-1 apart (DEMO-C at seed 5: the event
        # study's and the dose-response's): one line, nothing shared, the table kept aside.
        assert "the disclosure audit found" in result.output
        assert not (run / "shared").exists()
        effects = pd.read_csv(run / "restricted" / "shared_rejected" / "effects.csv")
    else:
        assert result.exit_code == 0, result.output
        effects = pd.read_csv(run / "shared" / "effects.csv")
    strategies = set(effects["strategy_id"]) - {"patrol-presence"}
    assert strategies == {"firewood-escorts"}
    headline = effects[(effects["estimand"] == "deployment") & effects["headline"]]
    assert len(headline) == 1 and headline["design"].iloc[0] in {
        "twfe", "interrupted_time_series"}
    assert (effects["estimand"] == "patrol_presence").sum() == 1
