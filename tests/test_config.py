from pathlib import Path

import pytest

from protection_eval.config import ConfigError, load_mission_config

GOOD = """
mission: T-1
name: Test
timezone: Africa/Juba
period: {start: 2022-01-01, end: 2022-12-31}
sources:
  incidents: {path: incidents.csv}
  patrols: {path: patrols.csv}
  areas: {path: areas.geojson}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mission.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_source_paths_resolve_relative_to_the_config_file(tmp_path):
    config = load_mission_config(write(tmp_path, GOOD))
    assert config.sources.incidents.path == tmp_path / "incidents.csv"
    assert config.sharing.min_count == 5
    assert config.coverage.radius_m == 2000


def test_missing_key_is_named_with_the_file(tmp_path):
    path = write(tmp_path, GOOD.replace("timezone: Africa/Juba\n", ""))
    with pytest.raises(ConfigError) as err:
        load_mission_config(path)
    assert str(path) in str(err.value)
    assert "timezone: required key is missing" in str(err.value)


def test_unknown_key_is_reported_not_ignored(tmp_path):
    with pytest.raises(ConfigError, match=r"radius: unknown key"):
        load_mission_config(write(tmp_path, GOOD + "radius: 3\n"))


def test_timezone_must_be_iana(tmp_path):
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        load_mission_config(write(tmp_path, GOOD.replace("Africa/Juba", "Juba time")))


def test_suppression_threshold_below_five_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"sharing\.min_count"):
        load_mission_config(write(tmp_path, GOOD + "sharing: {min_count: 3}\n"))


def test_label_mapping_onto_a_non_model_label_is_refused(tmp_path):
    text = GOOD.replace(
        "incidents: {path: incidents.csv}",
        'incidents: {path: incidents.csv, labels: {gbv_type: {"Viol": violence}}}',
    )
    with pytest.raises(ConfigError, match="not model labels"):
        load_mission_config(write(tmp_path, text))


def test_period_end_before_start_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="period"):
        load_mission_config(write(tmp_path, GOOD.replace("end: 2022-12-31", "end: 2021-12-31")))


def test_missing_file_and_non_mapping_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such mission configuration file"):
        load_mission_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_mission_config(write(tmp_path, "- just\n- a list\n"))


def test_mission_code_over_64_characters_is_refused_with_the_limit(tmp_path):
    at_limit = load_mission_config(write(tmp_path, GOOD.replace("T-1", "M" * 64)))
    assert at_limit.mission == "M" * 64
    path = write(tmp_path, GOOD.replace("T-1", "M" * 300))
    with pytest.raises(ConfigError) as err:
        load_mission_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "mission: the mission code is 300 characters long; use at most 64" in message
