"""Loading a mission: its configuration, its sources read and ingested, and the run's cache.

:func:`load_mission` is what notebooks and commands call. Inside a run the notebooks reuse the
mission the runner validated, kept in the run's restricted folder.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from protection_eval.config import TABLES, MissionConfig, load_mission_config
from protection_eval.ingest.tables import MissionData, ingest_mission
from protection_eval.io.readers import read_mission_sources
from protection_eval.io.writers import file_sha256, write_bytes

__all__ = ["load_mission", "mission_cache_path", "write_mission_cache"]


def mission_cache_path(config_path: str | Path) -> Path:
    """Where a run keeps the validated mission beside its configuration copy."""
    return Path(config_path).with_suffix(".ingested.pickle")


def _mission_fingerprint(config: MissionConfig) -> dict[str, str]:
    """Return what a cached mission was made from: the configuration and each input's sha256."""
    from protection_eval.inventory.strategies import load_catalogue

    prints = {"config": config.model_dump_json(exclude={"path"}),
              "strategies": ",".join(sorted(load_catalogue().ids))}
    for table in TABLES:
        path = config.source_path(table)
        if path is not None and Path(path).exists():
            prints[table] = file_sha256(path)
    return prints


def write_mission_cache(mission: MissionData, config_path: str | Path) -> Path:
    """Keep a validated mission for the notebooks of one run (restricted: row-level data).

    :func:`load_mission` uses it only while the configuration, the strategy ids and every
    input file are byte for byte what it was made from.
    """
    payload = {"fingerprint": _mission_fingerprint(mission.config), "mission": mission}
    path = mission_cache_path(config_path)
    write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def _read_mission_cache(config: MissionConfig, config_path: Path) -> MissionData | None:
    path = mission_cache_path(config_path)
    if not path.exists():
        return None
    try:
        # Only ever a file this run's runner wrote into its own restricted folder.
        payload = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if payload.get("fingerprint") != _mission_fingerprint(config):
        return None
    mission = payload["mission"]
    mission.config = config
    return mission


def load_mission(config_path: str | Path | MissionConfig) -> MissionData:
    """Read, check and quarantine a mission's inputs.

    Inside a run, the notebooks reuse the mission the runner validated (see
    :func:`write_mission_cache`) while nothing it was made from has changed.

    Parameters
    ----------
    config_path : str, Path or MissionConfig
        The mission YAML file, or a configuration already loaded.

    Returns
    -------
    MissionData
        Accepted rows of every table plus the validation report.
    """
    from protection_eval.inventory.strategies import load_catalogue

    if isinstance(config_path, MissionConfig):
        config = config_path
    else:
        config = load_mission_config(config_path)
        cached = _read_mission_cache(config, Path(config_path))
        if cached is not None:
            return cached
    raw = read_mission_sources(config)
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids)
