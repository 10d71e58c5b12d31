import json
from pathlib import Path

import pytest

from protection_eval.catalog import notebook_paths
from protection_eval.runner import run_mission

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
    assert incidents["rows_read"] == 24 and incidents["rows_rejected"] == 21
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


def test_notebooks_reuse_the_validated_mission_until_an_input_changes(bad_mission):
    from protection_eval.catalog import load_mission, write_mission_cache

    mission = load_mission(bad_mission)
    mission.validation.mission = "MARKED-AS-CACHED"
    write_mission_cache(mission, bad_mission)
    assert load_mission(bad_mission).validation.mission == "MARKED-AS-CACHED"
    tracks = bad_mission.parent / "tracks.csv"
    tracks.write_text(tracks.read_text() + "P1,2022-03-04T10:00:00,30.06,5.04\n")
    fresh = load_mission(bad_mission)
    assert fresh.validation.mission == "BAD-1"
    assert fresh.validation.tables["patrol_tracks"].rows_read == 4


def test_run_keeps_its_configuration_copy_and_cached_mission_restricted(bad_mission, tmp_path):
    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    restricted = result.run_dir / "restricted"
    assert (restricted / "mission.yaml").exists()
    assert (restricted / "mission.ingested.pickle").exists()
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

    from protection_eval.runner import notebook_needs

    plain = nbformat.v4.new_notebook()
    declared = nbformat.v4.new_notebook(metadata={"protection_eval": {"needs": ["01_a"]}})
    assert notebook_needs(plain, ["01_a", "02_b"]) == ["01_a", "02_b"]
    assert notebook_needs(declared, ["01_a", "02_b"]) == ["01_a"]


def test_stale_staging_folders_are_removed_and_finished_runs_kept(bad_mission, tmp_path):
    from protection_eval.runner import remove_stale_staging

    done = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[])
    stale = tmp_path / "BAD-1" / ".staging-20260101T000000Z-dead"
    (stale / "restricted").mkdir(parents=True)
    assert remove_stale_staging(tmp_path) == [stale]
    assert not stale.exists() and done.run_dir.exists()
