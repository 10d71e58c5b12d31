"""Loading a mission: its configuration, its sources read and ingested, and the run's cache.

:func:`load_mission` is what notebooks and commands call. Inside a run the notebooks reuse the
mission the runner validated, kept signed in the run's restricted folder
(:mod:`protection_eval.runs.mission_cache`); no file is ever loaded as code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from protection_eval.config import MissionConfig, load_mission_config
from protection_eval.ingest.tables import MissionData, ingest_mission
from protection_eval.inventory.strategies import load_catalogue
from protection_eval.io.readers import read_mission_sources
from protection_eval.runs.mission_cache import read_mission_cache

if TYPE_CHECKING:
    from protection_eval.sharing.audit.folder import RawNeedles

__all__ = ["load_mission", "load_mission_for_audit"]


def load_mission(config_path: str | Path | MissionConfig) -> MissionData:
    """Read, check and quarantine a mission's inputs.

    Inside a run, the notebooks reuse the mission the runner validated (see
    :mod:`protection_eval.runs.mission_cache`) while nothing it was made from has changed and its
    integrity checks pass, each table parsed when first used; any other cache is ignored with a
    warning. No file is ever loaded as code.

    Parameters
    ----------
    config_path : str, Path or MissionConfig
        The mission YAML file, or a configuration already loaded.

    Returns
    -------
    MissionData
        Accepted rows of every table plus the validation report.
    """
    if isinstance(config_path, MissionConfig):
        config = config_path
    else:
        config = load_mission_config(config_path)
        cached = read_mission_cache(config, Path(config_path), ingest=_ingest)
        if cached is not None:
            return cached
    return _ingest(config)


def _ingest(config: MissionConfig) -> MissionData:
    raw = read_mission_sources(config)
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids)


def load_mission_for_audit(config: MissionConfig) -> tuple[MissionData, RawNeedles]:
    """Read and ingest a mission, keeping what the audit needs from its sources as read.

    A run audits its shared part against the raw incident coordinates and identifying values
    that ingestion drops; taking them here, while the sources are read for ingestion, spares
    the audit reading every source again (GPS tracks included).

    Parameters
    ----------
    config : MissionConfig
        The mission configuration.

    Returns
    -------
    tuple of (MissionData, RawNeedles)
        The mission, as :func:`load_mission` gives it, and the audit's needles
        (:func:`protection_eval.sharing.audit.folder.raw_needles_of`).
    """
    # The audit's rules are imported only here: a notebook loading its mission never audits.
    from protection_eval.sharing.audit.folder import raw_needles_of

    raw = read_mission_sources(config)
    needles = raw_needles_of({name: table.frame for name, table in raw.items()})
    return ingest_mission(config, raw, strategy_ids=load_catalogue().ids), needles
