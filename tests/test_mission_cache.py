"""The run's mission cache: data only (Parquet + JSON), used only when its integrity checks pass.

Issue 10, item 1: a pickle beside a mission YAML was executed by ``load_mission``, and a cache
with a rebuilt fingerprint made the analyses read forged data.
"""

import ast
import contextlib
import dataclasses
import hashlib
import json
import pickle
import re
import shutil
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from typer.testing import CliRunner

import protection_eval
from protection_eval.cli import app
from protection_eval.config import TABLES, load_mission_config
from protection_eval.inventory.strategies import load_catalogue
from protection_eval.runs.missions import load_mission

#: The library as imported (src/protection_eval of the checkout under test).
SRC = Path(protection_eval.__file__).resolve().parent


class _RunsCode:
    """A pickle payload: unpickling it writes a marker file, as a planted attack would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",))


def _plant_payload(config_path: Path, marker: Path) -> Path:
    planted = config_path.with_suffix(".ingested.pickle")
    planted.write_bytes(pickle.dumps({"fingerprint": {}, "mission": _RunsCode(marker)}))
    return planted


def _rebuilt_fingerprint(config_path: Path) -> dict[str, str]:
    """The fingerprint as anyone can rebuild it: configuration, strategy ids, input sha256s."""
    config = load_mission_config(config_path)
    prints = {"config": config.model_dump_json(exclude={"path"}),
              "strategies": ",".join(sorted(load_catalogue().ids))}
    for table in TABLES:
        path = config.source_path(table)
        if path is not None and Path(path).exists():
            prints[table] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return prints


def _run_config(bad_mission: Path, tmp_path: Path) -> Path:
    """A real run of the fixture mission (no notebooks); returns its restricted/mission.yaml."""
    from protection_eval.runs.runner import run_mission

    result = run_mission(bad_mission, reports_dir=tmp_path / "reports", notebooks=[])
    assert result.ok, result.error
    return result.run_dir / "restricted" / "mission.yaml"


def _assert_same_frame(expected: pd.DataFrame | None, got: pd.DataFrame | None) -> None:
    if expected is None:
        assert got is None
        return
    assert type(got) is type(expected)
    if isinstance(expected, gpd.GeoDataFrame):
        assert_geodataframe_equal(got, expected, check_dtype=True, check_index_type=True,
                                  check_crs=True, check_less_precise=False)
        assert got.geometry.name == expected.geometry.name
    else:
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # Object columns (quarantine reasons) keep their Python values: str, and None when missing.
    for column in [c for c in expected.columns if expected[c].dtype == object]:
        assert [type(v) for v in got[column]] == [type(v) for v in expected[column]], column


def _assert_same_mission(expected, got) -> None:
    for item in dataclasses.fields(expected):
        if item.name in {"config", "validation"}:
            continue
        want, have = getattr(expected, item.name), getattr(got, item.name)
        if isinstance(want, pd.DataFrame) or want is None:
            _assert_same_frame(want, have)
        else:
            assert have == want, item.name
    report, cached = expected.validation, got.validation
    assert cached.to_dict() == report.to_dict()
    assert cached.summary_lines() == report.summary_lines()
    assert list(cached.tables) == list(report.tables)
    assert cached.tables == report.tables
    assert list(cached.rejected) == list(report.rejected)
    for name, frame in report.rejected.items():
        _assert_same_frame(frame, cached.rejected[name])


@contextlib.contextmanager
def _no_cache_warning():
    from protection_eval.runs.mission_cache import MissionCacheWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", MissionCacheWarning)
        yield


def _messages(caught: list[warnings.WarningMessage]) -> str:
    return "\n".join(str(w.message) for w in caught)


# --- attack 1: a planted pickle runs code -------------------------------------------------------

def test_planted_pickle_beside_a_mission_yaml_is_never_executed(bad_mission, tmp_path):
    marker = tmp_path / "payload-ran"
    _plant_payload(bad_mission, marker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mission = load_mission(bad_mission)
    assert not marker.exists()
    assert mission.validation.tables["incidents"].rows_accepted == 7
    assert "ingested.pickle ignored and never opened" in _messages(caught)


def test_planted_pickle_does_not_run_in_validate_or_audit(bad_mission, tmp_path):
    marker = tmp_path / "payload-ran"
    _plant_payload(bad_mission, marker)
    runner = CliRunner()
    validated = runner.invoke(app, ["validate", str(bad_mission), "--out", str(tmp_path / "v")])
    assert not marker.exists()
    assert validated.exit_code == 0, validated.output
    shared = tmp_path / "shared"
    shared.mkdir()
    audited = runner.invoke(app, ["audit", str(shared), "--mission", str(bad_mission)])
    assert not marker.exists()
    assert audited.exit_code == 0, audited.output


@pytest.mark.slow
def test_planted_pickle_in_a_runs_restricted_folder_is_never_executed(bad_mission, tmp_path):
    run_config = _run_config(bad_mission, tmp_path)
    marker = tmp_path / "payload-ran"
    _plant_payload(run_config, marker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_mission(run_config)
    assert not marker.exists()
    assert "ingested.pickle ignored and never opened" in _messages(caught)


# --- attack 2: a forged cache with a rebuilt fingerprint ------------------------------------------

def _fewer_incidents(config_path: Path):
    mission = load_mission(config_path)
    mission.incidents = mission.incidents.head(1)
    return mission


def test_forged_pickle_cache_with_rebuilt_fingerprint_is_ignored(bad_mission):
    forged = _fewer_incidents(bad_mission)
    bad_mission.with_suffix(".ingested.pickle").write_bytes(
        pickle.dumps({"fingerprint": _rebuilt_fingerprint(bad_mission), "mission": forged}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mission = load_mission(bad_mission)
    assert len(mission.incidents) == 7
    assert mission.validation.tables["incidents"].rows_accepted == len(mission.incidents)
    assert "ingested.pickle ignored and never opened" in _messages(caught)


@pytest.mark.slow
def test_forged_cache_in_a_run_is_ignored_with_a_warning_and_the_sources_read(
    bad_mission, tmp_path
):
    """The attacker rebuilds the fingerprint and writes every cache format the code knows,
    signed with a key of their own: they cannot read the run's key."""
    from protection_eval.runs.mission_cache import MissionCacheWarning, write_mission_cache

    run_config = _run_config(bad_mission, tmp_path)
    forged = _fewer_incidents(run_config)
    attacker = tmp_path / "attacker" / "restricted"
    attacker.mkdir(parents=True)
    shutil.copy(run_config, attacker / "mission.yaml")
    write_mission_cache(forged, attacker / "mission.yaml")
    target = run_config.parent / "mission_cache"
    shutil.rmtree(target)
    shutil.copytree(attacker / "mission_cache", target)
    run_config.with_suffix(".ingested.pickle").write_bytes(
        pickle.dumps({"fingerprint": _rebuilt_fingerprint(run_config), "mission": forged}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mission = load_mission(run_config)
    assert len(mission.incidents) == 7
    assert mission.validation.tables["incidents"].rows_accepted == 7
    assert "not signed by this run's key" in _messages(caught)
    assert all(issubclass(w.category, MissionCacheWarning) for w in caught
               if "mission_cache" in str(w.message) or "pickle" in str(w.message))


# --- the checks of the new cache ----------------------------------------------------------------

@pytest.mark.slow
def test_a_runs_own_cache_is_used_without_reading_the_sources(bad_mission, tmp_path, monkeypatch):
    import protection_eval.runs.missions as catalog

    run_config = _run_config(bad_mission, tmp_path)
    fresh = load_mission(load_mission_config(run_config))
    monkeypatch.setattr(catalog, "read_mission_sources", pytest.fail)
    with _no_cache_warning():
        cached = load_mission(run_config)
    _assert_same_mission(fresh, cached)
    restricted = run_config.parent
    assert (restricted / ".cache_key").stat().st_mode & 0o777 == 0o600
    assert not list((restricted / "mission_cache").rglob("*pickle*"))
    assert {p.suffix for p in (restricted / "mission_cache").rglob("*.*")} == {
        ".json", ".hmac", ".parquet"}


@pytest.mark.slow
def test_cache_round_trip_keeps_every_table_dtype_crs_and_report(demo_missions, tmp_path,
                                                                 monkeypatch):
    import protection_eval.runs.missions as catalog
    from protection_eval.runs.runner import run_mission

    result = run_mission(demo_missions[0], reports_dir=tmp_path, notebooks=[])
    assert result.ok, result.error
    run_config = result.run_dir / "restricted" / "mission.yaml"
    fresh = load_mission(load_mission_config(run_config))
    monkeypatch.setattr(catalog, "read_mission_sources", pytest.fail)
    with _no_cache_warning():
        cached = load_mission(run_config)
    _assert_same_mission(fresh, cached)
    assert str(cached.incidents["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert str(cached.incidents["victims"].dtype) == "Int64"
    assert str(cached.areas["population"].dtype) == "Float64"
    assert cached.areas.crs == fresh.areas.crs
    # Incidents are coordinates (plain Parquet), as the GPS fixes: no geometry to decode.
    assert "geometry" not in cached.incidents
    assert cached.projected_crs == fresh.projected_crs
    assert cached.coverage_source == fresh.coverage_source


def _tamper_table(run_config: Path) -> str:
    table = run_config.parent / "mission_cache" / "tables" / "incidents.parquet"
    pd.read_parquet(table).head(1).to_parquet(table)
    return "does not match its sha256"


def _loosen_key(run_config: Path) -> str:
    (run_config.parent / ".cache_key").chmod(0o644)
    return "readable or writable by other users"


def _drop_key(run_config: Path) -> str:
    (run_config.parent / ".cache_key").unlink()
    return "key .* is missing"


def _edit_metadata(run_config: Path) -> str:
    path = run_config.parent / "mission_cache" / "metadata.json"
    meta = json.loads(path.read_text())
    meta["validation"]["tables"]["incidents"]["rows_accepted"] = 1
    path.write_text(json.dumps(meta))
    return "not signed by this run's key"


def _change_input(run_config: Path) -> str:
    tracks = Path(load_mission_config(run_config).source_path("patrol_tracks"))
    tracks.write_text(tracks.read_text() + "P1,2022-03-04T10:00:00,30.06,5.04\n")
    return "an input file changed"


@pytest.mark.slow
@pytest.mark.parametrize("tamper", [_tamper_table, _loosen_key, _drop_key, _edit_metadata,
                                    _change_input])
def test_a_cache_failing_a_check_is_ignored_with_a_warning(bad_mission, tmp_path, tamper):
    from protection_eval.runs.mission_cache import MissionCacheWarning

    run_config = _run_config(bad_mission, tmp_path)
    expected = tamper(run_config)
    with pytest.warns(MissionCacheWarning, match=expected):
        mission = load_mission(run_config)
    assert len(mission.incidents) == 7
    assert mission.validation.tables["incidents"].rows_accepted == 7


@pytest.mark.slow
def test_a_cache_beside_a_yaml_outside_a_run_is_ignored(bad_mission, tmp_path):
    from protection_eval.runs.mission_cache import MissionCacheWarning

    run_config = _run_config(bad_mission, tmp_path)
    shutil.copytree(run_config.parent / "mission_cache", bad_mission.parent / "mission_cache")
    shutil.copy(run_config.parent / ".cache_key", bad_mission.parent / ".cache_key")
    with pytest.warns(MissionCacheWarning, match="only inside a run's restricted/"):
        mission = load_mission(bad_mission)
    assert mission.validation.tables["incidents"].rows_accepted == 7


def test_no_cache_is_written_beside_a_missions_own_yaml(bad_mission):
    from protection_eval.runs.mission_cache import write_mission_cache

    with pytest.raises(ValueError, match="only beside a run's restricted/mission.yaml"):
        write_mission_cache(load_mission(bad_mission), bad_mission)
    assert not (bad_mission.parent / "mission_cache").exists()


# --- no code from a data file, anywhere in the library -------------------------------------------

#: Modules whose loaders can run code from a file.
CODE_LOADING_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib",
                        "shelve", "marshal", "torch"}
#: Calls that unpickle under another name.
CODE_LOADING_CALLS = re.compile(
    r"pickle\.loads?\b|Unpickler|read_pickle|joblib\.load|allow_pickle\s*=\s*True|"
    r"cloudpickle|dill\.loads?\b|shelve\.open|marshal\.loads?\b|torch\.load"
)


def test_no_pickle_or_other_code_loading_deserialiser_in_the_library():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.name}:{node.lineno} imports {n}" for n in names
                      if n.split(".")[0] in CODE_LOADING_MODULES]
        for number, line in enumerate(text.splitlines(), start=1):
            if CODE_LOADING_CALLS.search(line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, "code-loading deserialisers in src/protection_eval:\n" + "\n".join(found)


# --- tables parsed when first used (issue 18): integrity still checked on what is parsed --------

@pytest.mark.slow
def test_a_table_is_parsed_only_when_first_used(bad_mission, tmp_path, monkeypatch):
    """A notebook that never uses the GPS tracks (04, 05, 06) never decodes them."""
    import protection_eval.runs.mission_cache as cache

    run_config = _run_config(bad_mission, tmp_path)
    parsed: list[str] = []
    read_table = cache._read_table

    def spy(folder, entry):
        parsed.append(entry["file"])
        return read_table(folder, entry)

    monkeypatch.setattr(cache, "_read_table", spy)
    with _no_cache_warning():
        mission = load_mission(run_config)
        assert not [f for f in parsed if f.startswith("tables/")]
        assert len(mission.incidents) == 7
        assert mission.deployments is not None
        assert "tables/patrol_tracks.parquet" not in parsed
        assert parsed.count("tables/incidents.parquet") == 1
        tracks = mission.patrol_tracks
        assert mission.patrol_tracks is tracks  # parsed once, then kept
    assert parsed.count("tables/patrol_tracks.parquet") == 1
    _assert_same_frame(load_mission(load_mission_config(run_config)).patrol_tracks, tracks)


@pytest.mark.slow
def test_cached_tracks_are_coordinates_written_and_read_without_a_geometry(bad_mission, tmp_path,
                                                                          monkeypatch):
    """Issue 18: the cached GPS fixes were GeoParquet, a WKB point per fix encoded by the
    runner and decoded by every kernel that read them. They are plain Parquet now, still
    hashed and checked, and parse back equal to the fixes ingested from the sources."""
    import pyarrow.parquet as pq
    import shapely

    import protection_eval.runs.mission_cache as cache

    run_config = _run_config(bad_mission, tmp_path)
    folder = run_config.parent / "mission_cache"
    table = folder / "tables" / "patrol_tracks.parquet"
    assert b"geo" not in (pq.read_schema(table).metadata or {})
    entry = json.loads((folder / "metadata.json").read_text())["tables"]["patrol_tracks"]
    assert entry["geo"] is False
    assert entry["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    assert entry["dtypes"] == {"patrol_id": "str", "recorded_at": "datetime64[ns, UTC]",
                               "longitude": "float64", "latitude": "float64",
                               "source_row": "int64"}
    fresh = load_mission(load_mission_config(run_config))

    def no_geometry(*args, **kwargs):
        raise AssertionError("a geometry was decoded while the GPS tracks were read")

    monkeypatch.setattr(shapely, "from_wkb", no_geometry)
    monkeypatch.setattr(cache.gpd, "read_parquet", no_geometry)
    with _no_cache_warning():
        tracks = load_mission(run_config).patrol_tracks
    assert type(tracks) is pd.DataFrame
    _assert_same_frame(fresh.patrol_tracks, tracks)
    assert len(tracks) == fresh.validation.tables["patrol_tracks"].rows_accepted


@pytest.mark.slow
def test_a_tracks_table_changed_after_the_cache_was_opened_is_refused_when_read(
    bad_mission, tmp_path
):
    from protection_eval.runs.mission_cache import MissionCacheWarning

    run_config = _run_config(bad_mission, tmp_path)
    fresh = load_mission(load_mission_config(run_config))
    with _no_cache_warning():
        mission = load_mission(run_config)
        incidents = mission.incidents
    table = run_config.parent / "mission_cache" / "tables" / "patrol_tracks.parquet"
    forged = pd.read_parquet(table)
    forged.head(len(forged) // 2).to_parquet(table)
    with pytest.warns(MissionCacheWarning, match="patrol_tracks on: .*does not match its sha256"):
        tracks = mission.patrol_tracks
    _assert_same_frame(fresh.patrol_tracks, tracks)
    # What was read before stays; what was not comes from the sources, checked as ingested.
    assert mission.incidents is incidents
    _assert_same_frame(fresh.bases, mission.bases)
    _assert_same_mission(fresh, mission)


@pytest.mark.slow
def test_a_cached_mission_replaced_with_dataclasses_is_a_whole_mission(bad_mission, tmp_path):
    run_config = _run_config(bad_mission, tmp_path)
    with _no_cache_warning():
        mission = load_mission(run_config)
        fewer = dataclasses.replace(mission, incidents=mission.incidents.head(2))
    assert len(fewer.incidents) == 2
    assert len(mission.incidents) == 7
    _assert_same_frame(mission.patrol_tracks, fewer.patrol_tracks)


@pytest.mark.slow
def test_the_runner_holds_the_cached_mission_not_the_ingested_one(bad_mission, tmp_path,
                                                                  monkeypatch):
    """While the notebooks run and the gate audits, the runner holds the mission as cached:
    the GPS tracks it ingested are released, and the audit parses only what it reads."""
    import protection_eval.runs.publish as gate
    import protection_eval.runs.runner as runner
    from protection_eval.runs.mission_cache import CachedMission

    audited = []
    publish = gate.publish_shared

    def spy(build, shared, restricted, mission, **kwargs):
        outcome = publish(build, shared, restricted, mission, **kwargs)
        audited.append(mission)
        return outcome

    monkeypatch.setattr(gate, "publish_shared", spy)  # the runner imports it when it runs
    with _no_cache_warning():
        result = runner.run_mission(bad_mission, reports_dir=tmp_path / "reports", notebooks=[])
    assert result.ok, result.error
    [mission] = audited
    assert isinstance(mission, CachedMission)
    assert "patrol_tracks" not in vars(mission)  # never parsed in the runner
    assert len(mission.incidents) == 7


def test_an_input_is_hashed_once_per_process_while_it_stays_unchanged(tmp_path, monkeypatch):
    from protection_eval.runs import mission_cache

    source = tmp_path / "tracks.csv"
    source.write_bytes(b"a,b\n1,2\n")
    hashed = []
    monkeypatch.setattr(mission_cache, "file_sha256",
                        lambda path: hashed.append(path) or hashlib.sha256(
                            Path(path).read_bytes()).hexdigest())
    # As if the file had been written long before this run.
    later = time.time_ns() + 60 * 10**9
    monkeypatch.setattr(mission_cache.time, "time_ns", lambda: later)
    first = mission_cache.input_sha256(source)
    assert mission_cache.input_sha256(source) == first
    assert len(hashed) == 1
    assert first == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    time.sleep(0.05)  # past the file system's clock tick
    source.write_bytes(b"a,b\n3,4\n")  # same size, new content
    assert mission_cache.input_sha256(source) == hashlib.sha256(b"a,b\n3,4\n").hexdigest()


def test_an_input_written_moments_ago_is_hashed_every_time(tmp_path):
    from protection_eval.runs.mission_cache import input_sha256

    source = tmp_path / "incidents.csv"
    source.write_bytes(b"x\n1\n")
    assert input_sha256(source) == hashlib.sha256(b"x\n1\n").hexdigest()
    # Rewritten within the same clock tick, at the same size: its times may not move.
    source.write_bytes(b"x\n2\n")
    assert input_sha256(source) == hashlib.sha256(b"x\n2\n").hexdigest()
