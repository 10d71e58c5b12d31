"""The validated mission a run keeps for its notebooks: Parquet tables, JSON metadata, an HMAC.

The runner validates a mission once and keeps the result in its run's restricted folder, so
that each notebook does not ingest the sources again. The cache is data only, never code:

``<run>/restricted/mission_cache/``
    ``metadata.json`` (fingerprint, scalar attributes, the validation report's counts, and per
    table its file, sha256, and column dtypes), ``metadata.hmac`` (HMAC-SHA256 of the exact
    bytes of ``metadata.json``), ``tables/<field>.parquet`` (GeoParquet for GeoDataFrames, with
    their CRS; plain Parquet for the others, the GPS tracks' ``longitude``/``latitude``
    included, so that no geometry is encoded or decoded per fix) and
    ``rejected/<table>.parquet`` (quarantined rows).
``<run>/restricted/.cache_key``
    The run's own random HMAC key, mode 0600, outside the cache folder.

:func:`read_mission_cache` uses a cache only when the configuration is a run's
``restricted/mission.yaml``, the key file is this user's and private, the HMAC verifies, every
table's file matches its sha256, and the fingerprint (configuration, strategy ids, each input's
sha256) matches today's. Anything else is ignored with a :class:`MissionCacheWarning`, and the
caller ingests the sources again.

The tables are parsed only when first used (:class:`CachedMission`): a notebook that never
touches the GPS tracks never decodes them. A table's sha256 is checked again on the very bytes
that are parsed, and every column must come back with the dtype it was written with; a table
failing then is refused with a :class:`MissionCacheWarning` too, and it and every table not yet
read come from the mission's sources instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from protection_eval.config import TABLES, MissionConfig
from protection_eval.ingest.tables import MissionData
from protection_eval.ingest.validation import TableReport, ValidationReport
from protection_eval.io.formats import source_files
from protection_eval.io.writers import file_sha256
from protection_eval.runs.layout import RESTRICTED, RESTRICTED_FILES

CACHE_DIR = RESTRICTED_FILES["mission_cache"]
KEY_FILE = ".cache_key"
METADATA = "metadata.json"
SIGNATURE = "metadata.hmac"
#: Bumped whenever the layout changes; a cache of another format is ignored. 2: the GPS
#: tracks are plain Parquet (coordinate columns), no longer GeoParquet with a point per fix.
FORMAT = 2
#: Where a run keeps its configuration copy: ``<run>/restricted/mission.yaml``.
RUN_CONFIG_NAME = RESTRICTED_FILES["config"]
RUN_RESTRICTED_NAME = RESTRICTED
#: The name the cache had when it was a serialised Python object; such a file is never opened.
LEGACY_CACHE_SUFFIX = ".ingested.pickle"


class MissionCacheWarning(UserWarning):
    """A mission cache was found but not used; the mission is read from its sources."""


class _CacheRejected(Exception):
    """Why a cache cannot be trusted (internal: always turned into a warning)."""


def mission_cache_dir(config_path: str | Path) -> Path:
    """Return the cache folder that belongs to a run's configuration copy."""
    return Path(config_path).parent / CACHE_DIR


def _is_run_config(config_path: Path) -> bool:
    return (config_path.name == RUN_CONFIG_NAME
            and config_path.parent.name == RUN_RESTRICTED_NAME)


#: Seconds within which a file's modification time is too recent to vouch for its content: a
#: file rewritten in the same clock tick, at the same size, would look unchanged ("racily
#: clean", as git says). Such a file is hashed every time.
RACY_S = 2.0
_hashes: dict[tuple[str, int, int, int, int, int], str] = {}
_hashes_lock = threading.Lock()


def input_sha256(path: str | Path) -> str:
    """Return an input file's sha256, hashing it once per process while it stays unchanged.

    A run fingerprints its inputs when it caches the mission, again when every notebook opens
    the cache, and once more for the manifest; a large GPS export was read each time. The hash
    is kept with the file's identity and times (device, inode, size, modification and change
    times in nanoseconds), so a file replaced or written since is hashed again, and so is a
    file modified less than :data:`RACY_S` seconds before it was hashed.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        The hex sha256 of its bytes.
    """
    path = Path(path)
    before = path.stat()
    key = (str(path.resolve()), before.st_dev, before.st_ino, before.st_size,
           before.st_mtime_ns, before.st_ctime_ns)
    with _hashes_lock:
        known = _hashes.get(key)
    if known is not None:
        return known
    digest = file_sha256(path)
    after = path.stat()
    unchanged = (after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns)
    if unchanged and time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) > RACY_S * 1e9:
        with _hashes_lock:
            _hashes[key] = digest
    return digest


def _mission_fingerprint(config: MissionConfig) -> dict[str, str]:
    """Return what a cached mission was made from: the configuration and each input's sha256."""
    from protection_eval.inventory.strategies import load_catalogue

    # Where the configuration file sits, and so the folders sources may come from, change when
    # a run's staging folder is renamed; the sources themselves are fingerprinted below.
    prints = {"config": config.model_dump_json(exclude={"path", "allowed_source_dirs"}),
              "strategies": ",".join(sorted(load_catalogue().ids))}
    for table in TABLES:
        path = config.source_path(table)
        if path is not None and Path(path).exists():
            # Every file the reader reads: a shapefile's attributes are in its .dbf.
            prints[table] = ",".join(input_sha256(part) for part in source_files(Path(path)))
    return prints


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (the cache holds row-level data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _new_key(restricted: Path) -> bytes:
    """Make the run's HMAC key, replacing any earlier one atomically."""
    key = secrets.token_bytes(32)
    fd, tmp = tempfile.mkstemp(dir=restricted, prefix=f"{KEY_FILE}.")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.replace(tmp, restricted / KEY_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return key


def _read_key(restricted: Path) -> bytes:
    path = restricted / KEY_FILE
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _CacheRejected(f"its key {path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise _CacheRejected(f"its key {path} is not a regular file")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise _CacheRejected(f"its key {path} belongs to another user")
    if info.st_mode & 0o077:
        raise _CacheRejected(f"its key {path} is readable or writable by other users")
    key = path.read_bytes()
    if len(key) < 32:
        raise _CacheRejected(f"its key {path} is too short")
    return key


def _signature(key: bytes, metadata: bytes) -> str:
    return hmac.new(key, metadata, hashlib.sha256).hexdigest()


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # A GeoDataFrame is written as GeoParquet, which keeps its geometry column and CRS.
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _table_entry(frame: pd.DataFrame, relative: str, folder: Path) -> dict[str, Any]:
    data = _frame_bytes(frame)
    target = folder / relative
    target.parent.mkdir(mode=0o700, exist_ok=True)
    _write_private(target, data)
    return {
        "file": relative,
        "sha256": hashlib.sha256(data).hexdigest(),
        "geo": isinstance(frame, gpd.GeoDataFrame),
        "rows": len(frame),
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
    }


def _write_cache_folder(mission: MissionData, folder: Path) -> dict[str, Any]:
    """Write every table of ``mission`` into ``folder``; return the metadata describing them."""
    tables: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for item in dataclasses.fields(mission):
        value = getattr(mission, item.name)
        if item.name in {"config", "validation"}:
            continue
        if value is None:
            tables[item.name] = None
        elif isinstance(value, pd.DataFrame):
            tables[item.name] = _table_entry(value, f"tables/{item.name}.parquet", folder)
        elif isinstance(value, str | int | float | bool):
            scalars[item.name] = value
        else:
            raise TypeError(f"MissionData.{item.name} ({type(value).__name__}) has no cache form")
    report = mission.validation
    known = {"mission", "tables", "errors", "rejected", "notes"}
    extra = {f.name for f in dataclasses.fields(report)} - known
    if extra:
        raise TypeError(f"ValidationReport fields {sorted(extra)} have no cache form")
    validation = {
        "mission": report.mission,
        "errors": list(report.errors),
        "notes": list(report.notes),
        "tables": {name: dataclasses.asdict(t) for name, t in report.tables.items()},
        "rejected": {name: _table_entry(frame, f"rejected/{name}.parquet", folder)
                     for name, frame in report.rejected.items()},
    }
    return {"format": FORMAT, "fingerprint": _mission_fingerprint(mission.config),
            "scalars": scalars, "tables": tables, "validation": validation}


def write_mission_cache(mission: MissionData, config_path: str | Path) -> Path:
    """Keep a validated mission for the notebooks of one run (restricted: row-level data).

    Parameters
    ----------
    mission : MissionData
        The mission the runner validated.
    config_path : str or Path
        The run's configuration copy, ``<run>/restricted/mission.yaml``.

    Returns
    -------
    Path
        The cache folder, ``<run>/restricted/mission_cache``.

    Raises
    ------
    ValueError
        When ``config_path`` is not a run's ``restricted/mission.yaml``: a cache is never
        written beside a mission's own configuration.
    """
    config_path = Path(config_path)
    if not _is_run_config(config_path):
        raise ValueError(f"{config_path}: a mission cache is written only beside a run's "
                         f"{RUN_RESTRICTED_NAME}/{RUN_CONFIG_NAME}")
    restricted = config_path.parent
    key = _new_key(restricted)
    staging = Path(tempfile.mkdtemp(dir=restricted, prefix=f".{CACHE_DIR}-"))  # mode 0700
    try:
        # Keys stay in insertion order: the report's tables and reasons are shown in it.
        metadata = json.dumps(_write_cache_folder(mission, staging), indent=1).encode("utf-8")
        _write_private(staging / METADATA, metadata)
        _write_private(staging / SIGNATURE, _signature(key, metadata).encode("ascii"))
        target = mission_cache_dir(config_path)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _table_bytes(folder: Path, entry: dict[str, Any]) -> bytes:
    """Return a table file's bytes once they match the sha256 the signed metadata gives."""
    relative = Path(entry["file"])
    if relative.is_absolute() or ".." in relative.parts:
        raise _CacheRejected(f"table file {entry['file']!r} is outside the cache")
    try:
        data = (folder / relative).read_bytes()
    except OSError as exc:
        raise _CacheRejected(f"{relative} cannot be read ({exc.strerror})") from None
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), entry["sha256"]):
        raise _CacheRejected(f"{relative} does not match its sha256")
    return data


def _read_table(folder: Path, entry: dict[str, Any]) -> pd.DataFrame:
    # The hash is checked on the very bytes that are parsed, so nothing can swap the file between.
    data = _table_bytes(folder, entry)
    frame = gpd.read_parquet(io.BytesIO(data)) if entry["geo"] else pd.read_parquet(
        io.BytesIO(data))
    for column, dtype in entry["dtypes"].items():
        # Parquet has no "object of str": such columns come back as str; give them back as
        # written, with missing values as None (what quarantine puts there).
        if dtype == "object" and column in frame and str(frame[column].dtype) != "object":
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
    found = {str(c): str(t) for c, t in frame.dtypes.items()}
    if found != entry["dtypes"] or len(frame) != entry["rows"]:
        raise _CacheRejected(f"{entry['file']} does not read back as written")
    return frame


#: What a cache that cannot be trusted raises while it is read (each becomes a warning).
_REJECTIONS = (_CacheRejected, KeyError, TypeError, ValueError, OSError)


def _rejection_reason(exc: Exception) -> str:
    if isinstance(exc, _CacheRejected):
        return str(exc)
    return f"it is malformed ({type(exc).__name__}: {exc})"


class _LazyTable:
    """A table of a :class:`CachedMission`, parsed and checked the first time it is used."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, mission: CachedMission | None, owner: type | None = None) -> Any:
        if mission is None:
            return self
        values = mission.__dict__
        if self.name not in values:
            values[self.name] = mission._read(self.name)
        return values[self.name]

    def __set__(self, mission: CachedMission, value: Any) -> None:
        # A notebook may replace a table (a filtered copy); it is then the mission's own.
        mission.__dict__[self.name] = value


class CachedMission(MissionData):
    """A mission read from a run's cache, each table parsed when first used.

    It is a :class:`~protection_eval.ingest.tables.MissionData` in every other respect: the
    configuration, the scalars and the validation report (with its quarantined rows) are read
    when the cache is opened; the incidents, patrols, areas, GPS tracks, bases, deployments and
    incident counts only when an attribute asks for them, so a notebook that never uses the
    tracks never decodes them.

    A table is parsed from bytes whose sha256 is checked against the signed metadata at that
    moment. One that fails (changed since the cache was opened, or not reading back with its
    dtypes) is refused with a :class:`MissionCacheWarning`; that table and every table not read
    yet then come from the mission's sources, ingested once by ``ingest``. The sources are
    those the cache was fingerprinted on, so the tables agree with those read before.
    """

    incidents = _LazyTable()
    patrols = _LazyTable()
    areas = _LazyTable()
    patrol_tracks = _LazyTable()
    bases = _LazyTable()
    deployments = _LazyTable()
    incident_counts = _LazyTable()

    @classmethod
    def _open(
        cls, config: MissionConfig, validation: ValidationReport, scalars: dict[str, Any],
        folder: Path, entries: dict[str, dict[str, Any] | None],
        ingest: Callable[[MissionConfig], MissionData],
    ) -> CachedMission:
        """Return the mission of a verified cache, no table parsed yet."""
        unknown = set(entries) - set(TABLE_FIELDS)
        if unknown:
            raise KeyError(f"tables {sorted(unknown)} are not tables of a mission")
        # Not through __init__ (the dataclass's, which takes every table), so that
        # dataclasses.replace still builds a whole mission from this one.
        mission = cls.__new__(cls)
        mission.config, mission.validation = config, validation
        for name, value in scalars.items():
            setattr(mission, name, value)
        mission.__dict__.update({name: None for name in TABLE_FIELDS if name not in entries})
        mission._folder, mission._entries, mission._ingest = folder, entries, ingest
        mission._fresh = None
        return mission

    _folder: Path
    _entries: dict[str, dict[str, Any] | None]
    _ingest: Callable[[MissionConfig], MissionData]
    _fresh: MissionData | None

    def _read(self, name: str) -> pd.DataFrame | None:
        if self._fresh is None:
            entry = self._entries[name]
            if entry is None:
                return None
            try:
                return _read_table(self._folder, entry)
            except _REJECTIONS as exc:
                warnings.warn(
                    f"{self._folder} ignored from its table {name} on: "
                    f"{_rejection_reason(exc)}; reading the mission's sources instead",
                    MissionCacheWarning, stacklevel=4,
                )
                self._fresh = self._ingest(self.config)
        return getattr(self._fresh, name)


#: The fields of a mission that are tables, parsed lazily by :class:`CachedMission`.
TABLE_FIELDS = tuple(name for name, value in vars(CachedMission).items()
                     if isinstance(value, _LazyTable))


def _load_verified(config: MissionConfig, config_path: Path,
                   ingest: Callable[[MissionConfig], MissionData]) -> CachedMission:
    restricted = config_path.parent
    folder = mission_cache_dir(config_path)
    key = _read_key(restricted)
    try:
        metadata = (folder / METADATA).read_bytes()
        signature = (folder / SIGNATURE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise _CacheRejected(f"its metadata cannot be read ({exc})") from None
    if not hmac.compare_digest(_signature(key, metadata), signature):
        raise _CacheRejected("its metadata is not signed by this run's key")
    meta = json.loads(metadata)
    if meta.get("format") != FORMAT:
        raise _CacheRejected(f"it is of format {meta.get('format')!r}, not {FORMAT}")
    if meta["fingerprint"] != _mission_fingerprint(config):
        raise _CacheRejected("the configuration, the strategy ids or an input file changed "
                             "since the run validated the mission")
    entries = meta["tables"]
    # Every file is checked now, so a cache changed before it is opened is refused whole, as
    # before; each is hashed again when it is parsed (CachedMission).
    for entry in entries.values():
        if entry is not None:
            _table_bytes(folder, entry)
    validation = meta["validation"]
    report = ValidationReport(
        mission=validation["mission"],
        tables={name: TableReport(**t) for name, t in validation["tables"].items()},
        errors=list(validation["errors"]),
        notes=list(validation.get("notes", [])),
        rejected={name: _read_table(folder, entry)
                  for name, entry in validation["rejected"].items()},
    )
    return CachedMission._open(config, report, meta["scalars"], folder, entries, ingest)


def read_mission_cache(
    config: MissionConfig, config_path: str | Path, *,
    ingest: Callable[[MissionConfig], MissionData],
) -> CachedMission | None:
    """Return the mission a run cached beside ``config_path``, or None to read the sources.

    Parameters
    ----------
    config : MissionConfig
        The configuration loaded from ``config_path``.
    config_path : str or Path
        The mission YAML being loaded.
    ingest : callable
        Reads and ingests the mission from its sources; called only when a table fails its
        checks as it is parsed, after the cache was opened (see :class:`CachedMission`).

    Returns
    -------
    CachedMission or None
        The cached mission when every check passes (see the module's docstring), its tables
        parsed when first used; None when there is no cache, or with a
        :class:`MissionCacheWarning` when there is one that cannot be trusted.
    """
    config_path = Path(config_path)
    legacy = config_path.with_suffix(LEGACY_CACHE_SUFFIX)
    if legacy.exists():
        warnings.warn(f"{legacy} ignored and never opened: a mission cache is data only now "
                      "(loading this file could run code); delete it",
                      MissionCacheWarning, stacklevel=3)
    folder = mission_cache_dir(config_path)
    if not folder.exists():
        return None
    if not _is_run_config(config_path):
        warnings.warn(
            f"{folder} ignored: a mission cache is used only inside a run's "
            f"{RUN_RESTRICTED_NAME}/ folder; reading the mission's sources instead",
            MissionCacheWarning, stacklevel=3,
        )
        return None
    try:
        return _load_verified(config, config_path, ingest)
    except _REJECTIONS as exc:
        warnings.warn(f"{folder} ignored: {_rejection_reason(exc)}; reading the mission's "
                      "sources instead", MissionCacheWarning, stacklevel=3)
        return None
