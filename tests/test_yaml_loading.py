"""Every YAML the project reads goes through one strict loader (issue 25, item 7).

Merge keys, keys that are lists or mappings and alias bombs are refused with the file and the
line; the targets and the presets use the same loader as mission configurations; ``validate``
of a file whose name is only dots writes under the reports root.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from protection_eval import presets
from protection_eval.config import ConfigError, load_mission_config
from protection_eval.inventory.strategies import validate_catalogue
from protection_eval.runs.indicators import TargetsError, load_targets
from protection_eval.yaml_loader import DuplicateKeyError, load_yaml


def run_cli(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-c", "from protection_eval.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
    )


def _add_to_mission(mission: Path, block: str) -> int:
    """Append ``block`` to the mission YAML; return the line on which it starts."""
    text = mission.read_text()
    mission.write_text(text + block)
    return len(text.splitlines()) + 1


def test_two_merge_keys_in_one_mapping_are_refused_not_resolved_to_the_last(bad_mission):
    line = _add_to_mission(bad_mission, "sharing:\n  <<: {min_count: 9}\n  <<: {min_count: 5}\n")
    with pytest.raises(ConfigError) as err:
        load_mission_config(bad_mission)
    message = str(err.value)
    assert str(bad_mission) in message
    assert f"merge key '<<' on line {line + 1}" in message


def test_a_single_merge_key_is_refused_too(bad_mission):
    line = _add_to_mission(bad_mission, "base: &base {min_count: 9}\n")
    _add_to_mission(bad_mission, "sharing:\n  <<: *base\n")
    with pytest.raises(ConfigError, match=rf"merge key '<<' on line {line + 2}"):
        load_mission_config(bad_mission)


@pytest.mark.parametrize(("key", "kind"), [("[a, b]", "list"), ("{a: 1}", "mapping")])
def test_a_key_that_is_a_list_or_mapping_is_a_clear_error_naming_the_line(bad_mission, key,
                                                                          kind):
    line = _add_to_mission(bad_mission, f"? {key}\n: 1\n")
    with pytest.raises(ConfigError) as err:
        load_mission_config(bad_mission)
    assert f"the key on line {line} is a {kind}" in str(err.value)
    assert str(bad_mission) in str(err.value)


def test_validate_of_a_list_key_prints_a_message_not_a_traceback(bad_mission, tmp_path):
    _add_to_mission(bad_mission, "? [a, b]\n: 1\n")
    result = run_cli("validate", str(bad_mission), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "is a list" in result.stderr and str(bad_mission) in result.stderr


def test_an_alias_bomb_is_refused_before_anything_expands_it(bad_mission):
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    _add_to_mission(bad_mission, "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"aliases \(\*name\) expand to more than 1,000,000"):
        load_mission_config(bad_mission)


def test_the_targets_file_refuses_a_repeated_key(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text(
        "version: 1\ntargets:\n  - id: t1\n    share: 0.20\n    share: 0.05\n", encoding="utf-8")
    with pytest.raises(TargetsError) as err:
        load_targets(path)
    assert str(path) in str(err.value)
    assert "'share' on line 5 was already given on line 4" in str(err.value)


def test_the_targets_file_refuses_a_merge_key(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text("version: 1\nbase: &b {share: 0.2}\ntargets:\n  - <<: *b\n    id: t1\n",
                    encoding="utf-8")
    with pytest.raises(TargetsError, match=r"merge key '<<' on line 4"):
        load_targets(path)


def test_a_preset_file_is_read_with_the_strict_loader(tmp_path, monkeypatch):
    (tmp_path / "twice.yaml").write_text(
        "table: incidents\ntitle: A\ntitle: B\ncolumns: {}\n", encoding="utf-8")
    monkeypatch.setattr(presets, "_folder", lambda: tmp_path)
    presets.load_preset.cache_clear()
    try:
        with pytest.raises(Exception, match=r"'title' on line 3 was already given on line 2"):
            presets.load_preset("twice")
    finally:
        presets.load_preset.cache_clear()


def test_a_merge_key_in_a_strategy_file_is_a_catalogue_problem(tmp_path):
    (tmp_path / "patrolling.yaml").write_text(
        "- &base {id: night-patrols, name: Night patrols}\n- <<: *base\n  id: other\n",
        encoding="utf-8")
    problems = validate_catalogue(tmp_path)
    assert any("merge key '<<' on line 2" in p.message for p in problems)


def test_validate_of_a_file_named_dots_yaml_writes_inside_the_reports_root(tmp_path):
    work = tmp_path / "work"
    (work / "missions").mkdir(parents=True)
    config = work / "missions" / "...yaml"
    config.write_text("mission: [not, a, code]\n", encoding="utf-8")
    reports = work / "reports"
    env = {**os.environ, "PROTECTION_EVAL_REPORTS": str(reports)}
    result = run_cli("validate", str(config), cwd=work, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    written = sorted(p.relative_to(work) for p in work.rglob("validation.json"))
    assert written == [Path("reports/__/validation/validation.json")]


def test_documents_are_parsed_by_libyaml_and_refusals_worded_by_the_python_parser(monkeypatch):
    # libyaml parses (the catalogue is read by every notebook's mission loading); a document it
    # refuses is read again by the pure-Python loader, whose message shows the line's text.
    from protection_eval import yaml_loader

    assert issubclass(yaml_loader._FastLoader, yaml.CSafeLoader)
    parsed = []
    real = yaml.load
    monkeypatch.setattr(yaml_loader.yaml, "load",
                        lambda text, Loader: parsed.append(Loader.__name__) or real(text, Loader))
    assert load_yaml("a: 1\nb: [x, 2.5]\n") == {"a": 1, "b": ["x", 2.5]}
    assert parsed == ["_FastLoader"]
    with pytest.raises(DuplicateKeyError) as refused:
        load_yaml("a: 1\nsharing: x\nsharing: y\n")
    assert parsed[1:] == ["_FastLoader", "_StrictLoader"]
    assert "the key 'sharing' on line 3 was already given on line 2" in str(refused.value)
    assert "sharing: y" in str(refused.value)  # the line's text: the Python parser's marks
