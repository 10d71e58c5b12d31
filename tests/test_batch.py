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
    # The killed run's lock died with it: the next run removes its staging folder.
    assert list((tmp_path / "BAD-1").glob(".staging-*"))
    again = run_missions([bad_mission], reports_dir=tmp_path, notebooks=[]).results[0]
    assert again.ok, again.error
    assert not list((tmp_path / "BAD-1").glob(".staging-*"))


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


def test_environment_failures_fail_one_mission_each_and_the_batch_still_reports(
    bad_mission, tmp_path, monkeypatch
):
    import errno

    from typer.testing import CliRunner

    import protection_eval.io.writers as writers
    import protection_eval.runs.runner as runner
    from protection_eval.cli import app

    reports = tmp_path / "reports"
    good = clone_mission(bad_mission, "GOOD-1")
    long_code = bad_mission.with_name("T" * 200 + ".yaml")
    long_code.write_text(bad_mission.read_text().replace("mission: BAD-1", "mission: " + "L" * 300))
    read_only = clone_mission(bad_mission, "RO-1")
    full = clone_mission(bad_mission, "FULL-1")
    almost_full = clone_mission(bad_mission, "NOSPACE-1")

    # Tests run as root, where chmod stops no write: the writers are made to fail instead.
    mkdir = Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if "RO-1" in self.parts:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return mkdir(self, *args, **kwargs)

    write_bytes = writers.write_bytes

    def full_disk(path, data):
        path = Path(path)
        if "FULL-1" in path.parts or path.name == "validation.json" and "NOSPACE-1" in path.parts:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
    monkeypatch.setattr(writers, "write_bytes", full_disk)
    monkeypatch.setattr(runner, "notebook_paths", list)
    paths = [good, long_code, read_only, full, almost_full]
    cli = CliRunner().invoke(app, ["run", *map(str, paths), "--reports", str(reports)])

    assert cli.exit_code == 1, cli.output
    assert "Traceback" not in cli.output
    # A mission's further reasons are on indented lines below its own (every configuration
    # error is shown): keep each mission's first line.
    rows = [line for line in cli.stdout.splitlines()[1:] if line and not line[0].isspace()]
    lines = {line.split()[0]: line for line in rows[:5]}
    assert lines["GOOD-1"].split()[1] == "ok"
    assert (reports / "GOOD-1" / "latest" / "manifest.json").exists()
    label = "T" * 64
    assert "at most 64 letters, digits" in lines[label]
    assert json.loads(next((reports / label).glob("*/manifest.json")).read_text())["error"][
        "step"] == "configuration"
    assert ("PermissionError: Permission denied, no manifest written: cannot create the run "
            "folder under") in lines["RO-1"]
    assert not (reports / "RO-1").exists()
    assert ("OSError: No space left on device, no manifest written: cannot write the run "
            "under") in lines["FULL-1"]
    assert [p.name for p in (reports / "FULL-1").iterdir()] == [".lock"]  # no staging left
    nospace = json.loads(next((reports / "NOSPACE-1").glob("*/manifest.json")).read_text())
    assert nospace["status"] == "failed" and nospace["error"]["step"] == "environment"
    assert "No space left on device" in nospace["error"]["message"]
    assert "traceback" not in nospace["error"]
    assert "4 failed (" in cli.stdout
    index = (reports / "index.html").read_text()
    assert all(code in index for code in ("GOOD-1", label, "NOSPACE-1"))


def test_unwritable_index_is_reported_not_raised(bad_mission, tmp_path, monkeypatch):
    import protection_eval.runs.report_index as report_index

    def refuse(reports_dir):
        raise PermissionError(13, "Permission denied", str(reports_dir))

    monkeypatch.setattr(report_index, "write_report_index", refuse)
    batch = run_missions([bad_mission], reports_dir=tmp_path, notebooks=[])
    assert batch.results[0].ok
    assert batch.exit_code == 1
    assert batch.errors == ["reports index not written: PermissionError: [Errno 13] "
                            f"Permission denied: '{tmp_path}'"]


def test_unreachable_dask_scheduler_is_one_clear_line_and_exit_code_2(bad_mission, tmp_path):
    import socket

    from typer.testing import CliRunner

    from protection_eval.cli import app

    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli = CliRunner().invoke(app, [
        "run", str(bad_mission), "--reports", str(tmp_path / "r"), "--executor", "dask",
        "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "2",
    ])
    assert cli.exit_code == 2, cli.output
    assert "Traceback" not in cli.output
    assert cli.stderr.startswith(f"cannot reach the Dask scheduler 'tcp://127.0.0.1:{port}'")
    assert "no mission ran" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
