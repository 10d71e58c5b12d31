import json
from pathlib import Path

import pytest

from protection_eval.runs.layout import notebook_paths
from protection_eval.runs.runner import run_mission

pytestmark = pytest.mark.slow

FAILING = '''# %% tags=["parameters"]
mission_config = ""
run_dir = restricted_dir = shared_dir = None
seed = 0

# %%
x = 1

# %%
raise ValueError("planted failure for the test")
'''


def quality_notebook() -> list[Path]:
    return [p for p in notebook_paths() if p.name.startswith("01_")]


def test_run_writes_manifest_restricted_outputs_and_latest(bad_mission, tmp_path):
    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=quality_notebook())
    assert result.ok, result.error
    run_dir = tmp_path / "BAD-1" / result.run_id
    assert (tmp_path / "BAD-1" / "latest").resolve() == run_dir.resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["mission"] == "BAD-1"
    assert manifest["notebooks"][0]["notebook"] == "01_data_quality.py"
    assert manifest["notebooks"][0]["seconds"] > 0
    incidents = next(i for i in manifest["inputs"] if i["table"] == "incidents")
    assert incidents["rows_read"] == 31 and incidents["rows_rejected"] == 24
    assert len(incidents["sha256"]) == 64
    assert manifest["parameters"]["seed"] == 0
    assert (run_dir / "restricted" / "01_data_quality.ipynb").exists()
    assert (run_dir / "restricted" / "rejected" / "incidents.csv").exists()
    assert json.loads((run_dir / "restricted" / "validation.json").read_text())["usable"]
    assert not list((tmp_path / "BAD-1").glob(".staging-*"))


def test_failing_notebook_fails_the_run_with_its_cell(bad_mission, tmp_path):
    notebook = tmp_path / "nb" / "01_fails.py"
    notebook.parent.mkdir()
    notebook.write_text(FAILING)
    result = run_mission(bad_mission, reports_dir=tmp_path / "r", notebooks=[notebook])
    assert result.status == "failed"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["error"]["notebook"] == "01_fails.py"
    assert "planted failure" in manifest["error"]["cell"]["error"]
    assert "raise ValueError" in manifest["error"]["cell"]["source"]
    assert not (tmp_path / "r" / "BAD-1" / "latest").exists()


def test_broken_input_fails_alone_and_latest_stays(bad_mission, tmp_path):
    first = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    assert first.ok
    (bad_mission.parent / "areas.geojson").write_text("")
    second = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    assert second.status == "failed"
    assert "areas.geojson" in second.error and "empty" in second.error
    assert (tmp_path / "BAD-1" / "latest").resolve().name == first.run_id


def test_bad_configuration_is_recorded_as_a_failed_run(tmp_path):
    config = tmp_path / "BROKEN.yaml"
    config.write_text("mission: BROKEN\nname: x\n")
    result = run_mission(config, reports_dir=tmp_path / "r", notebooks=[])
    assert result.status == "failed"
    assert "timezone: required key is missing" in result.error


def test_notebooks_reuse_the_validated_mission_until_an_input_changes(bad_mission, tmp_path):
    from protection_eval.runs.mission_cache import MissionCacheWarning, write_mission_cache
    from protection_eval.runs.missions import load_mission

    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    run_config = result.run_dir / "restricted" / "mission.yaml"
    mission = load_mission(run_config)
    mission.validation.mission = "MARKED-AS-CACHED"
    write_mission_cache(mission, run_config)
    assert load_mission(run_config).validation.mission == "MARKED-AS-CACHED"
    tracks = bad_mission.parent / "tracks.csv"
    tracks.write_text(tracks.read_text() + "P1,2022-03-04T10:00:00,30.06,5.04\n")
    with pytest.warns(MissionCacheWarning, match="an input file changed"):
        fresh = load_mission(run_config)
    assert fresh.validation.mission == "BAD-1"
    assert fresh.validation.tables["patrol_tracks"].rows_read == 4


def test_run_keeps_its_configuration_copy_and_cached_mission_restricted(bad_mission, tmp_path):
    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    restricted = result.run_dir / "restricted"
    assert (restricted / "mission.yaml").exists()
    assert (restricted / "mission_cache" / "metadata.json").exists()
    assert (restricted / ".cache_key").stat().st_mode & 0o077 == 0
    assert not list(result.run_dir.rglob("*.pickle"))
    assert not list((result.run_dir / "shared").iterdir())


NEEDS = '''# ---
# jupyter:
#   protection_eval:
#     needs: [{needs}]
# ---

# %% tags=["parameters"]
mission_config = ""
run_dir = restricted_dir = shared_dir = None
seed = 0

# %%
{body}
'''


def test_a_failed_notebook_skips_what_needs_it_and_others_still_run(bad_mission, tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "01_fails.py").write_text(NEEDS.format(needs="", body="raise ValueError('no')"))
    (folder / "02_free.py").write_text(NEEDS.format(needs="", body="x = 2"))
    (folder / "03_needs_01.py").write_text(NEEDS.format(needs="01_fails", body="x = 3"))
    result = run_mission(bad_mission, reports_dir=tmp_path / "r",
                         notebooks=sorted(folder.glob("*.py")))
    assert result.status == "failed"
    statuses = {n.notebook: n.status for n in result.notebooks}
    assert statuses == {"01_fails.py": "failed", "02_free.py": "ok", "03_needs_01.py": "skipped"}
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["error"]["notebook"] == "01_fails.py"


def test_undeclared_notebook_waits_for_every_earlier_one():
    import nbformat

    from protection_eval.runs.runner import notebook_needs

    plain = nbformat.v4.new_notebook()
    declared = nbformat.v4.new_notebook(metadata={"protection_eval": {"needs": ["01_a"]}})
    assert notebook_needs(plain, ["01_a", "02_b"]) == ["01_a", "02_b"]
    assert notebook_needs(declared, ["01_a", "02_b"]) == ["01_a"]


def test_stale_staging_folders_are_removed_and_finished_runs_kept(bad_mission, tmp_path):
    from protection_eval.runs.runner import remove_stale_staging

    done = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    stale = tmp_path / "BAD-1" / ".staging-20260101T000000Z-dead"
    (stale / "restricted").mkdir(parents=True)
    assert remove_stale_staging(tmp_path) == [stale]
    assert not stale.exists() and done.run_dir.exists()


PLANTED_ID, PLANTED_DATE = "INC-PLANT-7731", "2022-03-05"

LEAK = f'''# %% tags=["parameters"]
mission_config = ""
run_dir = restricted_dir = shared_dir = None
seed = 0

# %%
from pathlib import Path

shared = Path(shared_dir)
(shared / "leak.csv").write_text("area,note,incidents\\nKator,{PLANTED_ID},12\\n")
(shared / "area-{PLANTED_ID}.json").write_text('{{"first_report": "{PLANTED_DATE}"}}')
'''


def leaking_mission(bad_mission: Path) -> Path:
    """The fixture mission with a distinctive incident id, so a leak of it can be grepped."""
    incidents = bad_mission.parent / "incidents.csv"
    text = incidents.read_text(encoding="utf-8-sig")
    incidents.write_text(text.replace("\nI01,", f"\n{PLANTED_ID},"))
    return bad_mission


def files_outside_restricted(reports: Path) -> list[Path]:
    return [p for p in reports.rglob("*") if "restricted" not in p.relative_to(reports).parts]


def test_failed_audit_shares_nothing_and_no_finding_value_leaves_restricted(
    bad_mission, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    import protection_eval.runs.runner as runner
    from protection_eval.cli import app

    mission, reports = leaking_mission(bad_mission), tmp_path / "reports"
    earlier = run_mission(mission, reports_dir=reports, notebooks=[])
    assert earlier.ok, earlier.error
    notebook = tmp_path / "nb" / "04_leaks.py"
    notebook.parent.mkdir()
    notebook.write_text(LEAK)
    monkeypatch.setattr(runner, "notebook_paths", lambda: [notebook])
    cli = CliRunner().invoke(app, ["run", str(mission), "--reports", str(reports)])
    assert cli.exit_code == 1, cli.output

    failed = max(p for p in (reports / "BAD-1").iterdir() if p.name != earlier.run_id
                 and not p.name.startswith(".") and p.name != "latest")
    manifest = json.loads((failed / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"]["shared_rejected"] == "restricted/shared_rejected"
    kinds = {f["kind"] for f in manifest["error"]["findings"]}
    assert {"identifying_value", "fine_date"} <= kinds
    # The kind and the place are said, on stdout too, but never the value.
    assert "fine_date in area-[value].json [/first_report]" in cli.stdout, cli.stdout
    assert "identifying_value: 1" in cli.stdout
    assert {"file": "area-[value].json", "kind": "fine_date", "where": "/first_report"} in \
        manifest["error"]["findings"]
    # Nothing is left in any shared folder, and `latest` still points at the earlier run.
    assert not (failed / "shared").exists()
    assert not [p for p in files_outside_restricted(reports)
                if "shared" in p.relative_to(reports).parts and not p.is_dir()]
    assert (reports / "BAD-1" / "latest").resolve().name == earlier.run_id
    rejected = failed / "restricted" / "shared_rejected"
    assert sorted(p.name for p in rejected.iterdir()) == sorted(
        ["leak.csv", f"area-{PLANTED_ID}.json"])
    findings = (failed / "restricted" / "audit_findings.csv").read_text().lower()
    assert PLANTED_ID.lower() in findings and PLANTED_DATE in findings
    # Grep everything outside restricted/ (names and contents) and what the command printed.
    assert (reports / "index.html").exists()
    for planted in (PLANTED_ID.lower(), PLANTED_DATE):
        assert planted not in cli.output.lower()
        for path in files_outside_restricted(reports):
            assert planted not in str(path.relative_to(reports)).lower(), path
            if path.is_file():
                assert planted.encode() not in path.read_bytes().lower(), path


def test_failing_notebook_moves_its_unaudited_shared_files_to_restricted(bad_mission, tmp_path):
    notebook = tmp_path / "nb" / "01_half.py"
    notebook.parent.mkdir()
    notebook.write_text(NEEDS.format(needs="", body=(
        "from pathlib import Path\n"
        "(Path(shared_dir) / 'partial.csv').write_text('a,b\\n1,2\\n')\n"
        "raise ValueError('stopped half way')")))
    result = run_mission(bad_mission, reports_dir=tmp_path / "r", notebooks=[notebook])
    assert result.status == "failed" and "stopped half way" in result.error
    assert not (result.run_dir / "shared").exists()
    assert (result.run_dir / "restricted" / "shared_rejected" / "partial.csv").exists()


def test_run_removes_staging_of_dead_runs_on_start_but_never_a_live_one(bad_mission, tmp_path):
    import fcntl

    from protection_eval.runs.runner import remove_stale_staging

    mission_dir = tmp_path / "BAD-1"
    dead = mission_dir / ".staging-20260101T000000Z-dead"
    live = mission_dir / ".staging-20260101T000000Z-live"
    for staging in (dead, live):
        (staging / "restricted").mkdir(parents=True)
        (staging / "restricted" / "rows.csv").write_text("incident_id\nI01\n")
        (staging / ".lock").touch()
    with open(live / ".lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
        assert result.ok, result.error
        assert not dead.exists()
        assert (live / "restricted" / "rows.csv").exists()
        assert remove_stale_staging(tmp_path) == []
    assert remove_stale_staging(tmp_path) == [live]
    assert [p.name for p in mission_dir.glob(".staging-*")] == []
    assert not (result.run_dir / ".lock").exists()
