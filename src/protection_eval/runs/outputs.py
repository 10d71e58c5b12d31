"""Writers and readers of a run's result files.

Analysis returns result objects; this module turns them into files, through the writers of
:mod:`protection_eval.io.writers` and under the names of :mod:`protection_eval.runs.layout`.
Shared files are written only in the forms of :mod:`protection_eval.sharing.forms`, and only into
a folder that the gate (:func:`protection_eval.runs.publish.publish_shared`) or the runner audits
before anyone sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.io.readers import InputFileError, read_csv_table
from protection_eval.io.writers import (
    file_sha256,
    read_json,
    write_geopackage,
    write_json,
    write_table,
    write_text,
)
from protection_eval.model import RawTable
from protection_eval.runs.layout import RESTRICTED_FILES, SHARED_FILES
from protection_eval.runs.missions import load_map_context
from protection_eval.sharing.context import MapContext
from protection_eval.sharing.forms import (
    to_effects_table,
    to_shared_coverage_gaps,
    to_shared_coverage_map,
    to_shared_coverage_summary,
    to_shared_svg_map,
)
from protection_eval.sharing.maps import CoverageMap

if TYPE_CHECKING:
    from protection_eval.config import MissionConfig
    from protection_eval.coverage.mission import CoverageResult
    from protection_eval.effects.mission import MissionEffects

__all__ = [
    "input_fingerprints",
    "shared_coverage_map",
    "read_coverage_areas",
    "read_incident_coverage",
    "read_shared_tables",
    "write_effects",
    "read_shared_outputs",
    "write_coverage",
]


def _coverage_key(radius_m: float, window_h: float, period: str | None) -> dict[str, Any]:
    return {"radius_m": float(radius_m), "window_h": float(window_h), "period": period}


def write_coverage(
    result: CoverageResult,
    *,
    restricted_dir: str | Path | None,
    shared_dir: str | Path | None,
    k: int,
    config: MissionConfig | None = None,
    period: str | None = None,
) -> dict[str, Path]:
    """Write a mission's coverage outputs.

    Shared: ``coverage_summary.json`` and ``gaps.csv`` (suppressed with ``k``). Restricted:
    ``coverage_summary.json`` (raw counts), ``incident_coverage.csv`` (per incident),
    ``coverage_areas.csv``, the same measures and the per-incident table as Parquet (kept for
    the effects notebook, so the run computes coverage once; see :func:`read_coverage_areas`
    and :func:`read_incident_coverage`), and ``coverage.gpkg``
    with layers ``hexagons`` (gaps per month), ``areas`` (measures per month) and
    ``footprint`` (surface reached per month). With ``config``, also the shared
    ``coverage_map.html`` and its printable drawing ``coverage_map.svg`` (for the brief). A
    part whose folder is None is not written.

    Parameters
    ----------
    result : CoverageResult
        The mission's coverage.
    restricted_dir, shared_dir : str or Path or None
        The run's folders.
    k : int
        Suppression threshold.
    config : MissionConfig, optional
        For the shared map.
    period : str, optional
        The reporting window the coverage was computed for (None: the mission period).

    Returns
    -------
    dict
        Output name -> path written.
    """
    written: dict[str, Path] = {}
    if shared_dir is not None:
        shared = Path(shared_dir)
        written["shared_summary"] = write_json(
            to_shared_coverage_summary(result.summary, k), shared / SHARED_FILES["coverage"]
        )
        written["shared_gaps"] = write_table(
            to_shared_coverage_gaps(result, k), shared / SHARED_FILES["gaps"]
        )
        if config is not None:
            context = _map_context(result, config)
            page = to_shared_coverage_map(result, config, context).to_html()
            written["map"] = write_text(page, shared / SHARED_FILES["map"])
            written["map_svg"] = write_text(
                to_shared_svg_map(result, config, context), shared / SHARED_FILES["map_svg"]
            )
    if restricted_dir is not None:
        restricted = Path(restricted_dir)
        incidents = result.to_frame()
        incidents["covered"] = incidents["covered"].astype("object")
        written["summary"] = write_json(
            result.summary, restricted / RESTRICTED_FILES["coverage_summary"]
        )
        written["incidents"] = write_table(
            incidents, restricted / RESTRICTED_FILES["incident_coverage"]
        )
        written["areas"] = write_table(
            result.areas, restricted / RESTRICTED_FILES["coverage_areas"]
        )
        key = _coverage_key(result.params.radius_m, result.params.window_h, period)
        written["areas_table"] = _write_keyed(result.areas, key, restricted
                                              / RESTRICTED_FILES["coverage_areas_table"])
        written["incidents_table"] = _write_keyed(result.incidents, key, restricted
                                                  / RESTRICTED_FILES["incident_coverage_table"])
        written["gpkg"] = write_geopackage(
            {"hexagons": result.hexagon_layer(), "areas": result.area_layer(),
             "footprint": result.footprints},
            restricted / RESTRICTED_FILES["coverage_gpkg"],
        )
    return written


def _map_context(result: CoverageResult, config: MissionConfig) -> MapContext | None:
    """Return the mission's context layers and basemap for its map, when it names any."""
    if not config.sharing.context_layers and config.sharing.basemap is None:
        return None
    return load_map_context(config, result.area_shapes.to_crs(4326).total_bounds)


def shared_coverage_map(result: CoverageResult, config: MissionConfig) -> CoverageMap:
    """Return the shared coverage map as ``write_coverage`` writes it, for display.

    :func:`protection_eval.sharing.forms.to_shared_coverage_map` with the mission's context
    layers and basemap read (:func:`protection_eval.runs.missions.load_map_context`).

    Parameters
    ----------
    result : CoverageResult
        The mission's coverage.
    config : MissionConfig
        The mission configuration.

    Returns
    -------
    protection_eval.sharing.maps.CoverageMap
        The map, which a notebook shows offline.
    """
    return to_shared_coverage_map(result, config, _map_context(result, config))


def _write_keyed(frame: pd.DataFrame, key: dict[str, Any], path: Path) -> Path:
    """Write a table as Parquet with the coverage parameters it was computed with beside it."""
    table = frame.copy()
    table.attrs = {}
    # The key goes first and is removed with the table, so a stale key never vouches for a
    # table written later under other parameters.
    key_path = path.with_suffix(".json")
    key_path.unlink(missing_ok=True)
    written = write_table(table, path)
    write_text(json.dumps(key, sort_keys=True) + "\n", key_path)
    return written


def _read_keyed(path: Path, key: dict[str, Any]) -> pd.DataFrame | None:
    key_path = path.with_suffix(".json")
    if not path.exists() or not key_path.exists():
        return None
    if read_json(key_path) != key:
        return None
    return pd.read_parquet(path)


def read_coverage_areas(
    restricted_dir: str | Path | None,
    *,
    radius_m: float,
    window_h: float,
    period: str | None = None,
) -> pd.DataFrame | None:
    """Return the area x month coverage measures an earlier notebook of this run wrote.

    They are reused only when they were computed with the same radius, window and reporting
    period; otherwise (or outside a run) None, and the caller computes what it needs.

    Parameters
    ----------
    restricted_dir : str or Path or None
        The run's restricted folder.
    radius_m, window_h : float
        The coverage parameters the caller would use.
    period : str, optional
        The reporting window (None: the mission period).

    Returns
    -------
    pandas.DataFrame or None
        :data:`protection_eval.coverage.areas.AREA_MEASURE_COLUMNS`, or None.
    """
    if restricted_dir is None:
        return None
    return _read_keyed(Path(restricted_dir) / RESTRICTED_FILES["coverage_areas_table"],
                       _coverage_key(radius_m, window_h, period))


def read_incident_coverage(
    restricted_dir: str | Path | None,
    *,
    radius_m: float,
    window_h: float,
    period: str | None = None,
) -> pd.DataFrame | None:
    """Return the per-incident coverage an earlier notebook of this run wrote.

    Reused, like :func:`read_coverage_areas`, only when computed with the same radius, window
    and reporting period; otherwise (or outside a run) None.

    Parameters
    ----------
    restricted_dir : str or Path or None
        The run's restricted folder.
    radius_m, window_h : float
        The coverage parameters the caller would use.
    period : str, optional
        The reporting window (None: the mission period).

    Returns
    -------
    pandas.DataFrame or None
        ``CoverageResult.incidents`` as computed (``incident_id``, ``area_id``, ``period``,
        then :data:`protection_eval.coverage.points.COVERAGE_COLUMNS`), or None.
    """
    if restricted_dir is None:
        return None
    return _read_keyed(Path(restricted_dir) / RESTRICTED_FILES["incident_coverage_table"],
                       _coverage_key(radius_m, window_h, period))


def read_shared_outputs(folder: str | Path) -> dict[str, Any]:
    """Read what a run's shared part holds so far (missing parts are None).

    Parameters
    ----------
    folder : str or Path
        The run's ``shared/`` folder.

    Returns
    -------
    dict
        ``coverage`` (dict), ``effects`` and ``gaps`` (DataFrames), ``map`` (file name),
        ``map_svg`` (the printable map's SVG text).
    """
    folder = Path(folder)
    out: dict[str, Any] = dict.fromkeys(("coverage", "effects", "gaps", "map", "map_svg"))
    if (folder / SHARED_FILES["map_svg"]).exists():
        out["map_svg"] = (folder / SHARED_FILES["map_svg"]).read_text(encoding="utf-8")
    if (folder / SHARED_FILES["coverage"]).exists():
        out["coverage"] = read_json(folder / SHARED_FILES["coverage"])
    for role in ("effects", "gaps"):
        path = folder / SHARED_FILES[role]
        if path.exists() and path.stat().st_size:
            out[role] = pd.read_csv(path)
    if (folder / SHARED_FILES["map"]).exists():
        out["map"] = SHARED_FILES["map"]
    return out


def input_fingerprints(paths: Iterable[Path]) -> list[dict[str, str]]:
    """Return path and sha256 of each existing input file."""
    return [{"path": str(p), "sha256": file_sha256(p)} for p in paths if Path(p).is_file()]


def read_shared_tables(reports_dir: str | Path, name: str) -> dict[str, RawTable]:
    """Read ``<reports_dir>/<mission>/latest/shared/<name>`` of every mission that has one.

    Parameters
    ----------
    reports_dir : str or Path
        The reports folder (``reports/``).
    name : str
        File name inside ``shared/``, e.g. ``effects.csv``.

    Returns
    -------
    dict
        Mission folder name -> :class:`RawTable` (cells as text, ``source_row`` added), sorted.
    """
    found = sorted(Path(reports_dir).glob(f"*/latest/shared/{name}"))
    tables = {}
    for path in found:
        # Another mission of the same batch may move its `latest` while this one reads: a file
        # gone between the listing and the reading is that mission's older run, left out.
        try:
            tables[path.parents[2].name] = read_csv_table(Path(name).stem, path)
        except (FileNotFoundError, InputFileError):
            continue
    return tables


def write_effects(
    effects: MissionEffects,
    *,
    shared_dir: str | None,
    restricted_dir: str | None = None,
    min_count: int = MIN_K,
) -> dict[str, str]:
    """Write ``effects.csv`` (shared, suppressed) and the full tables (restricted).

    Parameters
    ----------
    effects : MissionEffects
        A mission's estimates.
    shared_dir : str or None
        The run's shared folder; nothing shared is written when None.
    restricted_dir : str or None
        The run's restricted folder, for ``effects_full.csv`` (unsuppressed) and ``panel.csv``.
    min_count : int
        Disclosure threshold ``k``.

    Returns
    -------
    dict of str to str
        Written file paths by name.
    """
    written = {}
    if shared_dir is not None:
        path = write_table(to_effects_table(effects, min_count=min_count),
                           Path(shared_dir) / SHARED_FILES["effects"])
        written["effects"] = str(path)
    if restricted_dir is not None:
        restricted = Path(restricted_dir)
        full = write_table(effects.to_frame(), restricted / RESTRICTED_FILES["effects_full"])
        written["effects_full"] = str(full)
        if effects.panel is not None:
            panel = effects.panel.assign(period=effects.panel["period"].astype(str))
            written["panel"] = str(write_table(panel, restricted / RESTRICTED_FILES["panel"]))
    return written
