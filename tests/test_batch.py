import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protection_eval.runs.batch import BatchResult, ProgressDisplay, run_missions
from protection_eval.runs.layout import notebook_paths
from protection_eval.runs.report_index import render_report_index
from protection_eval.runs.runner import RunResult

pytestmark = pytest.mark.slow


def light_notebooks() -> list[Path]:
    return [p for p in notebook_paths() if p.name.startswith(("01_", "05_"))]


def clone_mission(bad_mission: Path, code: str) -> Path:
    path = bad_mission.parent / f"{code}.yaml"
    path.write_text(bad_mission.read_text().replace("mission: BAD-1", f"mission: {code}"))
    return path


@pytest.fixture
def three_missions(bad_mission):
    broken = clone_mission(bad_mission, "BROKEN-3")
    text = broken.read_text().replace("path: areas.geojson", "path: no_such_areas.geojson")
    broken.write_text(text)
    return [clone_mission(bad_mission, "GOOD-1"), broken, clone_mission(bad_mission, "GOOD-2")]


def test_broken_mission_fails_alone_in_parallel_and_index_lists_all(three_missions, tmp_path):
    lines = io.StringIO()
    display = ProgressDisplay([p.stem for p in three_missions], stream=lines, live=False)
    batch = run_missions(three_missions, reports_dir=tmp_path, jobs=2,
                         notebooks=light_notebooks(), progress=display)
    assert [r.mission for r in batch.results] == ["GOOD-1", "BROKEN-3", "GOOD-2"]
    assert [r.status for r in batch.results] == ["ok", "failed", "ok"]
    assert batch.exit_code == 1
    assert "no_such_areas.geojson" in batch.results[1].error
    assert "1 failed (BROKEN-3)" in batch.one_line()
    for good in ("GOOD-1", "GOOD-2"):
        latest = tmp_path / good / "latest"
        assert json.loads((latest / "manifest.json").read_text())["status"] == "ok"
        assert (latest / "shared" / "brief.html").exists()
    failed = json.loads((batch.results[1].run_dir / "manifest.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["step"] == "ingestion"
    assert not (tmp_path / "BROKEN-3" / "latest").exists()
    index = (tmp_path / "index.html").read_text()
    for code in ("GOOD-1", "GOOD-2", "BROKEN-3"):
        assert code in index
    assert "no_such_areas.geojson" in index
    assert "http://" not in index and "https://" not in index
    assert (tmp_path / "evidence.csv").exists() and "evidence.html" in index
    assert batch.errors == []
    progress = lines.getvalue()
    assert "GOOD-1: 01_data_quality.py running (1/2)" in progress
    assert "BROKEN-3: failed" in progress


def test_dask_executor_runs_missions_on_a_local_cluster(three_missions, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        batch = run_missions(three_missions[:2], reports_dir=tmp_path, executor="dask",
                             scheduler=cluster.scheduler_address, notebooks=light_notebooks())
    assert [r.status for r in batch.results] == ["ok", "failed"]
    assert (tmp_path / "GOOD-1" / "latest" / "shared" / "brief.html").exists()


def test_dask_executor_needs_a_scheduler(three_missions, tmp_path):
    with pytest.raises(ValueError, match="scheduler"):
        run_missions(three_missions, reports_dir=tmp_path, executor="dask")


def test_period_restricts_the_run_and_is_recorded(bad_mission, tmp_path):
    batch = run_missions([bad_mission], reports_dir=tmp_path, period="2022-03",
                         notebooks=light_notebooks()[:1])
    result = batch.results[0]
    assert result.ok, result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["period"] == "2022-03"
    derived = (result.run_dir / "restricted" / "mission.yaml").read_text()
    assert "start: '2022-03-01'" in derived and "end: '2022-03-31'" in derived
    report = json.loads((result.run_dir / "restricted" / "validation.json").read_text())
    # I19 (April) now falls outside the reporting period; I01 and I02 (March) stay.
    assert report["tables"]["incidents"]["rows_accepted"] == 2


INTERRUPTED = '''
import sys, time
from pathlib import Path
from protection_eval.runs.runner import run_mission
nb = Path(sys.argv[3])
nb.write_text("""# %% tags=["parameters"]
mission_config = ""
run_dir = restricted_dir = shared_dir = None
seed = 0
# %%
import time
time.sleep(120)
""")
run_mission(sys.argv[1], reports_dir=sys.argv[2], notebooks=[nb])
'''


def test_interrupted_run_leaves_nothing_that_looks_finished(bad_mission, tmp_path):
    first = run_missions([bad_mission], reports_dir=tmp_path, notebooks=[]).results[0]
    assert first.ok
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED, str(bad_mission), str(tmp_path),
                             str(tmp_path / "01_sleep.py")], start_new_session=True)
    deadline = time.time() + 90
    while not list((tmp_path / "BAD-1").glob(".staging-*/restricted/validation.json")):
        assert time.time() < deadline, "the run never started"
        time.sleep(0.5)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    visible = [p.name for p in (tmp_path / "BAD-1").iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted([first.run_id, "latest"])
    assert (tmp_path / "BAD-1" / "latest").resolve().name == first.run_id
    assert "staging" not in render_report_index(tmp_path)


def test_progress_display_writes_plain_lines_off_a_terminal():
    stream = io.StringIO()
    display = ProgressDisplay(["A"], stream=stream)
    display({"mission": "A", "notebook": "02_coverage.py", "state": "running", "index": 2,
             "total": 5})
    assert stream.getvalue().rstrip().endswith("A: 02_coverage.py running (2/5)")
    assert "\x1b[" not in stream.getvalue()


def test_batch_summary_and_exit_code():
    ok = RunResult("A", "r1", "ok", Path("/r/A/r1"), seconds=1.0)
    bad = RunResult("B", "r2", "failed", Path("/r/B/r2"), error="areas.csv: empty\nmore")
    batch = BatchResult([ok, bad], 3.2)
    assert batch.exit_code == 1
    assert batch.one_line() == "protection-eval run: 1 ok, 1 failed (B) in 3.2s"
    table = batch.summary_table().splitlines()
    assert table[1].startswith("A") and "/r/A/r1" in table[1]
    assert "areas.csv: empty" in table[2] and "more" not in table[2]
    assert BatchResult([ok], 1.0).exit_code == 0
