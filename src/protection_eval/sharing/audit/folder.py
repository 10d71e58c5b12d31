"""The audit of a run's shared folder: proof, by inspection, that nothing row-level got out.

:func:`audit_shared_folder` reads every file of a shared folder the way a curious reader could
(HTML entities decoded, iframe ``srcdoc`` and base64 ``data:`` contents opened, JSON and GeoJSON
embedded in scripts parsed) and lists a :class:`Finding` for each of:

``incident_coordinate``
    a coordinate near a raw incident coordinate that is not an approved hexagon or area point;
``small_count``
    a visible count from 1 to k-1;
``recoverable_count``
    a hidden count that a total shown in the same folder gives back;
``identifying_field`` / ``identifying_value``
    an identifying column name, an incident id or a value of a raw identifying column;
``fine_date`` / ``time_of_day``
    a date finer than a month, a time of day;
``third_party_request`` / ``third_party_url``
    a URL on a host other than the configured tile server (and its attribution links);
``notebook_file`` / ``notebook_metadata`` / ``traceback`` / ``local_path``
    notebooks, papermill or nbformat metadata, Python tracebacks, absolute local paths;
``protected_place``
    a layer, column or property naming service points or safe houses;
``markup_in_data``
    HTML markup or an event-handler attribute (``on...=``) inside a data value (a JSON value,
    a GeoJSON property, a CSV cell), or a tag with an event handler in a script's string: a
    page that writes such a value as HTML runs it as script;
``unauditable_file``
    a file type the audit cannot read (so it cannot vouch for it).

The rules and their limits are in ``docs/privacy.md``. The detectors live in
:mod:`protection_eval.sharing.audit.rules`, the walker that opens each file in
:mod:`protection_eval.sharing.audit.scan`; this module is the public entry point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.sharing.audit import rules
from protection_eval.sharing.audit.scan import (
    FINDING_KINDS,
    Context,
    Finding,
    Scanner,
    cap_findings,
    check_coordinates,
    check_recoverable,
)
from protection_eval.sharing.disclosure import check_k

__all__ = [
    "FINDING_KINDS",
    "AuditResult",
    "Finding",
    "audit_mission_folder",
    "audit_shared_folder",
]

_TEXT_SUFFIXES = {".html", ".htm", ".json", ".geojson", ".csv", ".txt", ".md", ".svg"}
_JSON_SUFFIXES = {".json", ".geojson"}


@dataclass
class AuditResult:
    """The outcome of auditing one folder.

    Attributes
    ----------
    folder : Path
        The folder audited.
    files : list of str
        Every file read, relative to ``folder``.
    findings : list of Finding
        Everything that must not be shared; empty when the folder passes.
    """

    folder: Path
    files: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no finding."""
        return not self.findings

    def to_frame(self) -> pd.DataFrame:
        """Return the findings as a table: ``file``, ``where``, ``kind``, ``what``, ``why``."""
        columns = ["file", "where", "kind", "what", "why"]
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=columns)

    def summary(self) -> str:
        """Return a short human-readable report."""
        if self.ok:
            return f"audit passed: {len(self.files)} file(s) in {self.folder}, no finding"
        lines = [f"audit FAILED: {len(self.findings)} finding(s) in {self.folder}"]
        lines += [f"  - {f}" for f in self.findings]
        return "\n".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _printed_from_audited_page(folder: Path, pdf: Path) -> bool:
    """Whether a PDF is one the run printed from a page of this folder, both unchanged since.

    The audit cannot read a PDF. It accepts one only when the run's manifest (beside the shared
    folder) records it under ``shared_pdfs`` with its sha256 and the sha256 of the HTML page
    it was printed from (:func:`protection_eval.runs.pdf.print_shared_pdfs`), and that page is
    in this folder, unchanged, so that it is audited with the rest.
    """
    manifest = folder.parent / "manifest.json"
    try:
        records = json.loads(manifest.read_text(encoding="utf-8")).get("shared_pdfs") or {}
    except (OSError, ValueError, AttributeError):
        return False
    record = records.get(pdf.name) if isinstance(records, dict) else None
    if not isinstance(record, dict):
        return False
    source = folder / str(record.get("source", ""))
    if source.parent != folder or source.suffix.lower() not in {".html", ".htm"}:
        return False
    return (source.is_file() and _sha256(pdf) == record.get("sha256")
            and _sha256(source) == record.get("source_sha256"))


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    return data.decode("utf-8-sig", errors="replace")


def audit_shared_folder(
    path: str | Path,
    *,
    incidents: pd.DataFrame | None = None,
    k: int = MIN_K,
    tile_server: str | None = None,
    tile_attribution: str | None = None,
    areas: Any = None,
    identifying_values: Iterable[str] = (),
    distance_m: float = 250.0,
    vertex_distance_m: float = 5.0,
    hex_resolutions: Iterable[int] = range(0, 10),
) -> AuditResult:
    """Audit every file of a shared folder.

    Parameters
    ----------
    path : str or Path
        The folder (a run's ``shared/``); a single file is audited alone.
    incidents : pandas.DataFrame, optional
        Raw incidents with ``longitude`` and ``latitude`` (and ``incident_id``, whose values are
        then searched for). Without it the coordinate rule cannot run.
    k : int
        Suppression threshold: visible counts from 1 to k-1 are findings. At least 5.
    tile_server : str, optional
        The mission's tile URL template; its host is the only one allowed.
    tile_attribution : str, optional
        The tile server's attribution HTML; hosts of links in it are allowed as links.
    areas : geopandas.GeoDataFrame, optional
        The mission's areas (EPSG:4326): their vertices, centroids, representative points and
        bounding boxes are approved coordinates.
    identifying_values : iterable of str
        Values of raw identifying columns (names, case codes...) to search for.
    distance_m : float
        A point closer than this to an incident is a finding unless approved.
    vertex_distance_m : float
        The same for polygon and line vertices, which are rarely data points themselves.
    hex_resolutions : iterable of int
        H3 resolutions whose cell centres and vertices are approved.

    Returns
    -------
    AuditResult
        ``ok`` is True when nothing was found.
    """
    k = check_k(k)
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder to audit")
    ids = () if incidents is None or "incident_id" not in incidents else incidents["incident_id"]
    ctx = Context(
        k=k,
        rules=rules.Rules(
            tile_server=tile_server,
            tile_attribution=tile_attribution,
            identifying_values=[*map(str, ids), *map(str, identifying_values)],
            areas=areas,
            distance_m=distance_m,
            vertex_distance_m=vertex_distance_m,
            hex_resolutions=tuple(hex_resolutions),
        ),
    )
    scanner = Scanner(ctx)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    names = []
    for file in files:
        name = file.relative_to(folder).as_posix() if folder.is_dir() else file.name
        names.append(name)
        suffix = file.suffix.lower()
        if suffix == ".ipynb":
            ctx.add(name, "file", "notebook_file", name)
            continue
        if suffix == ".pdf" and folder.is_dir() and _printed_from_audited_page(folder, file):
            continue
        if suffix not in _TEXT_SUFFIXES:
            ctx.add(name, "file", "unauditable_file", f"{name} ({suffix or 'no extension'})")
            continue
        text = _read_text(file)
        mime = {".html": "html", ".htm": "html", ".svg": "svg", ".csv": "csv"}.get(suffix)
        mime = mime or ("json" if suffix in _JSON_SUFFIXES else "text/plain")
        scanner.scan_content(text, mime, name, "", 0)
    check_coordinates(ctx, incidents)
    check_recoverable(ctx)
    return AuditResult(folder=folder, files=names, findings=cap_findings(ctx.findings))


def audit_mission_folder(
    path: str | Path,
    mission: Any = None,
    raw_sources: Mapping[str, pd.DataFrame] | None = None,
) -> AuditResult:
    """Audit a shared folder against a loaded mission.

    Parameters
    ----------
    path : str or Path
        The shared folder.
    mission : MissionData, optional
        The mission (see :func:`protection_eval.runs.publish.audit_folder`, which loads it from
        its YAML). With it, k, the tile server, the incidents (accepted and quarantined rows:
        coordinates and ids), the areas and the values of raw identifying columns are taken
        from the mission; without it, k is 5, no tile server is allowed and the coordinate rule
        does not run.
    raw_sources : mapping of str to pandas.DataFrame, optional
        The mission's source tables as read (cells as text), for the raw coordinates and the
        identifying values that ingestion dropped.

    Returns
    -------
    AuditResult
        The findings.
    """
    if mission is None:
        return audit_shared_folder(path)
    from protection_eval.sharing.disclosure import k_from_config

    config = mission.config
    tile = config.sharing.tile_server
    raw = dict(raw_sources or {})
    values = rules.identifying_values_of(raw)
    incidents = mission.incidents
    raw_incidents = raw.get("incidents")
    coords = rules.raw_coordinates(raw_incidents) if raw_incidents is not None else None
    if coords is not None:
        incidents = pd.concat(
            [pd.DataFrame(incidents[["incident_id", "longitude", "latitude"]]), coords],
            ignore_index=True,
        )
    return audit_shared_folder(
        path,
        incidents=incidents,
        k=k_from_config(config),
        tile_server=None if tile is None else tile.url,
        tile_attribution=None if tile is None else tile.attribution,
        areas=mission.areas,
        identifying_values=values,
    )
