"""The one gate before sharing: staged, audited, published only on a clean audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from protection_eval.cli import app
from protection_eval.runs.missions import load_mission
from protection_eval.runs.publish import publish_shared


@pytest.fixture(scope="module")
def mission(demo_missions):
    return load_mission(demo_missions[1])


def _leak(mission) -> tuple[str, str]:
    """An incident id and an exact time from the mission: what must never be shared."""
    first = mission.incidents.iloc[0]
    return str(first["incident_id"]), first["occurred_at"].strftime("%Y-%m-%d %H:%M")


def _only_run(out: Path) -> Path:
    """The one run folder the coverage or effects command wrote under ``--out``."""
    runs = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(runs) == 1, runs
    return runs[0]


def _everything_outside_restricted(root: Path) -> str:
    parts = []
    for path in root.rglob("*"):
        if "restricted" in path.relative_to(root).parts:
            continue
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def test_a_clean_folder_is_published_as_a_whole(tmp_path, mission):
    shared, restricted = tmp_path / "shared", tmp_path / "restricted"
    outcome = publish_shared(
        lambda staged: (staged / "note.csv").write_text("month,reports\n2023-01,12\n"),
        shared, restricted, mission,
    )
    assert outcome.published, outcome.message
    assert (shared / "note.csv").read_text().startswith("month,reports")
    assert [p.name for p in tmp_path.iterdir()] == ["shared"]


def test_a_leak_is_rejected_and_its_value_stays_restricted(tmp_path, mission):
    incident_id, when = _leak(mission)
    shared, restricted = tmp_path / "shared", tmp_path / "restricted"
    outcome = publish_shared(
        lambda staged: (staged / "rows.csv").write_text(f"id,when\n{incident_id},{when}\n"),
        shared, restricted, mission,
    )
    assert not outcome.published
    assert not shared.exists()
    assert (restricted / "shared_rejected" / "rows.csv").exists()
    assert incident_id.lower() in (restricted / "audit_findings.csv").read_text().lower()
    assert incident_id not in outcome.message and when not in outcome.message
    assert {p["kind"] for p in outcome.places} >= {"identifying_value", "time_of_day"}


def test_a_build_that_fails_shares_nothing(tmp_path, mission):
    def build(staged: Path) -> None:
        (staged / "half.csv").write_text("a\n1\n")
        raise RuntimeError("notebook failed")

    with pytest.raises(RuntimeError, match="notebook failed"):
        publish_shared(build, tmp_path / "shared", tmp_path / "restricted", mission)
    assert not (tmp_path / "shared").exists()
    assert (tmp_path / "restricted" / "shared_rejected" / "half.csv").exists()


def test_the_coverage_command_refuses_to_publish_a_planted_leak(
    tmp_path, demo_missions, mission, monkeypatch
):
    import protection_eval.runs.outputs as outputs

    incident_id, when = _leak(mission)
    honest = outputs.to_shared_coverage_summary
    monkeypatch.setattr(outputs, "to_shared_coverage_summary",
                        lambda summary, k: {**honest(summary, k), "first": incident_id,
                                            "at": when})
    result = CliRunner().invoke(app, ["coverage", str(demo_missions[1]), "--out",
                                      str(tmp_path)])
    assert result.exit_code == 1, result.output
    run = _only_run(tmp_path)
    assert not (run / "shared").exists()
    assert (run / "restricted" / "shared_rejected" / "coverage_summary.json").exists()
    assert "disclosure audit found" in result.output
    outside = _everything_outside_restricted(tmp_path) + result.output
    assert incident_id not in outside and when not in outside


def test_the_coverage_command_publishes_the_honest_outputs(tmp_path, demo_missions):
    result = CliRunner().invoke(app, ["coverage", str(demo_missions[1]), "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = _only_run(tmp_path)
    assert sorted(p.name for p in (run / "shared").iterdir()) == [
        "coverage_map.html", "coverage_map.svg", "coverage_summary.json", "gaps.csv"]
    assert (run / "restricted" / "coverage.gpkg").exists()


def test_the_effects_command_refuses_to_publish_a_planted_leak(
    tmp_path, demo_missions, mission, monkeypatch
):
    import protection_eval.runs.outputs as outputs

    incident_id, _ = _leak(mission)
    honest = outputs.to_effects_table
    monkeypatch.setattr(outputs, "to_effects_table",
                        lambda effects, **kw: honest(effects, **kw).assign(case=incident_id))
    result = CliRunner().invoke(app, ["effects", str(demo_missions[1]), "--out",
                                      str(tmp_path)])
    assert result.exit_code == 1, result.output
    run = _only_run(tmp_path)
    assert not (run / "shared").exists()
    assert (run / "restricted" / "shared_rejected" / "effects.csv").exists()
    outside = _everything_outside_restricted(tmp_path) + result.output
    assert incident_id not in outside
