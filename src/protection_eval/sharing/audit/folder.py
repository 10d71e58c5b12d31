"""The audit of a run's shared folder: proof, by inspection, that nothing row-level got out.

:func:`audit_shared_folder` reads every file of a shared folder the way a curious reader could
(HTML entities decoded, iframe ``srcdoc`` and base64 ``data:`` contents opened, JSON and GeoJSON
embedded in scripts parsed) and lists a :class:`Finding` for each of:

``incident_coordinate``
    a coordinate near a raw incident coordinate that is not an approved hexagon or area point,
    in any notation (:mod:`protection_eval.sharing.audit.locations`);
``fine_location``
    a place inside the mission's extent written more precisely than a shared hexagon;
``small_count``
    a visible count from 1 to k-1;
``recoverable_count``
    a hidden count that a total shown in the same folder gives back;
``close_totals``
    two totals of the same incidents in one file (one mission, unit and period) that differ
    by 1 to k-1 (:mod:`protection_eval.sharing.audit.differencing`);
``identifying_field`` / ``identifying_value``
    an identifying column name, an incident id or a value of a raw identifying column;
``fine_date`` / ``time_of_day``
    a date finer than a month, a time of day;
``third_party_request`` / ``third_party_url``
    a URL on a host other than the configured tile server (and its attribution links); a
    request is also what a page asks for when opened in headless Chromium with the network cut
    (:mod:`protection_eval.sharing.audit.browser`);
``notebook_file`` / ``notebook_metadata`` / ``traceback`` / ``local_path``
    notebooks, papermill or nbformat metadata, Python tracebacks, absolute local paths;
``protected_place``
    a layer, column or property naming service points or safe houses;
``markup_in_data``
    HTML markup or an event-handler attribute (``on...=``) inside a data value (a JSON value,
    a GeoJSON property, a CSV cell), or a tag with an event handler in a script's string: a
    page that writes such a value as HTML runs it as script;
``unauditable_file``
    a file type the audit cannot read (so it cannot vouch for it), a text file whose encoding is
    not certain, an office file with macros or embedded objects;
``point_layer``
    a layer drawing individual points (heat map, cluster, marker, circle, GeoJSON point), found
    from the page's code without the mission; a label exactly at an approved cell or area centre
    passes;
``named_case``
    a popup, tooltip or text naming one incident, case or survivor;
``raster_image``
    a PNG, JPEG, WebP... file or ``data:`` URI, unless its sha256 is in the run's manifest;
``special_file``
    a symbolic link (to a file or a folder) or a FIFO, socket or device in the folder.

Nested documents are opened to any depth (iframe ``srcdoc``, ``data:`` URIs of any type, HTML or
JSON in script strings and in JSON or CSV values); XLSX, ODS, GeoPackage and Parquet files are
read cell by cell (:mod:`protection_eval.sharing.audit.office`) and every other part of them as
text (:mod:`protection_eval.sharing.audit.containers`). Text is read as a reader reads it
(NFKC, format characters removed, tags removed, comments kept). No record beside the folder is
trusted unless the gate sealed it (:mod:`protection_eval.sharing.audit.seal`).

The rules and their limits are in ``docs/privacy.md``. The detectors live in
:mod:`protection_eval.sharing.audit.rules`, the walker that opens each file in
:mod:`protection_eval.sharing.audit.scan`; this module is the public entry point.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from protection_eval.config import MIN_K
from protection_eval.sharing.audit import differencing, rules, structure
from protection_eval.sharing.audit.browser import BrowserUnavailable, judge_pages
from protection_eval.sharing.audit.needles import IdentifyingTimes, identifying_needles_of
from protection_eval.sharing.audit.office import (
    OFFICE_SUFFIXES,
    UnauditableOffice,
    read_office_file,
)
from protection_eval.sharing.audit.scan import (
    FINDING_KINDS,
    Context,
    Finding,
    Scanner,
    cap_findings,
    check_coordinates,
    check_fine_locations,
    check_recoverable,
)
from protection_eval.sharing.audit.seal import verify_record
from protection_eval.sharing.context import ContextReference, MapContext, context_reference
from protection_eval.sharing.disclosure import MIN_ADAPTIVE_RESOLUTION, check_k

__all__ = [
    "FINDING_KINDS",
    "AuditResult",
    "Finding",
    "RawNeedles",
    "audit_mission_folder",
    "audit_shared_folder",
    "raw_needles_of",
]

_TEXT_SUFFIXES = {".html", ".htm", ".json", ".geojson", ".csv", ".txt", ".md", ".svg"}
_JSON_SUFFIXES = {".json", ".geojson"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
#: Checks that need the mission's raw data, named in a summary when they could not run.
MISSION_CHECKS = ("raw coordinates", "identifying values", "incident ids")
#: How :attr:`AuditResult.browser` starts when the browser check did not run.
BROWSER_NOT_RUN = "browser check did not run"
#: What a page is, for the browser check.
_PAGE_SUFFIXES = {".html", ".htm", ".svg"}


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
    not_run : tuple of str
        Checks that could not run because the mission was not given (see
        :data:`MISSION_CHECKS`); a pass is then partial.
    browser : str
        What the browser check did: pages opened in Chromium with the network cut, or why it
        did not run (said in :meth:`summary`); empty when the folder has no page.
    """

    folder: Path
    files: list[str]
    findings: list[Finding] = field(default_factory=list)
    not_run: tuple[str, ...] = ()
    browser: str = ""

    @property
    def browser_ran(self) -> bool:
        """False when the folder has pages and the browser check did not run."""
        return not self.browser.startswith(BROWSER_NOT_RUN)

    @property
    def ok(self) -> bool:
        """True when there is no finding."""
        return not self.findings

    def to_frame(self) -> pd.DataFrame:
        """Return the findings as a table: ``file``, ``where``, ``kind``, ``what``, ``why``."""
        columns = ["file", "where", "kind", "what", "why"]
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=columns)

    def summary(self) -> str:
        """Return a short human-readable report.

        Without the mission, the checks that could not run are named and a clean folder
        ends ``audit passed (partial)``.
        """
        browser = [f"  {self.browser}"] if self.browser else []
        if self.ok and not self.not_run and self.browser_ran:
            return "\n".join([f"audit passed: {len(self.files)} file(s) in {self.folder}, "
                              "no finding", *browser])
        if self.ok:
            missing = (f"  not checked without --mission: {', '.join(self.not_run)}"
                       if self.not_run else None)
            return "\n".join(
                [
                    f"audit: {len(self.files)} file(s) in {self.folder}, no finding",
                    *([missing] if missing else []),
                    *browser,
                    "audit passed (partial)",
                ]
            )
        lines = [f"audit FAILED: {len(self.findings)} finding(s) in {self.folder}"]
        lines += [f"  - {f}" for f in self.findings]
        if self.not_run:
            lines.append(f"  not checked without --mission: {', '.join(self.not_run)}")
        return "\n".join(lines + browser)


def _walk(folder: Path, ctx: Context) -> list[tuple[str, Path]]:
    """Every regular file under ``folder``; links and special files are findings, not walked."""
    out: list[tuple[str, Path]] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        with os.scandir(current) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(entry.path)
                name = path.relative_to(folder).as_posix()
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    target = os.readlink(path)
                    kind = "folder" if path.is_dir() else "file"
                    ctx.add(name, "file", "special_file", f"symbolic link to a {kind}: {target}")
                elif stat.S_ISDIR(mode):
                    pending.append(path)
                elif stat.S_ISREG(mode):
                    out.append((name, path))
                else:
                    what = "FIFO" if stat.S_ISFIFO(mode) else "socket, device or special file"
                    ctx.add(name, "file", "special_file", what)
    return sorted(out)


def _scan_file(scanner: Scanner, name: str, file: Path, shared_images: Mapping[str, str]) -> None:
    ctx = scanner.ctx
    suffix = file.suffix.lower()
    if suffix == ".ipynb":
        ctx.add(name, "file", "notebook_file", name)
        return
    data = file.read_bytes()
    if structure.image_kind(data) is not None or suffix in _IMAGE_SUFFIXES:
        recorded = shared_images.get(name)
        if recorded is None or recorded.lower() != structure.sha256_hex(data):
            kind = structure.image_kind(data) or suffix
            ctx.add(name, "file", "raster_image", f"{name} ({kind}), not recorded in the manifest")
        return
    if suffix in OFFICE_SUFFIXES:
        _scan_office(scanner, name, file)
        return
    if suffix not in _TEXT_SUFFIXES:
        ctx.add(name, "file", "unauditable_file", f"{name} ({suffix or 'no extension'})")
        return
    try:
        text, _ = structure.decode_bytes(data)
    except structure.UnauditableBytes as exc:
        ctx.add(name, "file", "unauditable_file", f"{name} {exc}")
        return
    mime = {".html": "html", ".htm": "html", ".svg": "svg", ".csv": "csv"}.get(suffix)
    mime = mime or ("json" if suffix in _JSON_SUFFIXES else "text/plain")
    scanner.scan_content(text, mime, name, "", 0)


def _scan_office(scanner: Scanner, name: str, file: Path) -> None:
    ctx = scanner.ctx
    try:
        content = read_office_file(file)
    except UnauditableOffice as exc:
        ctx.add(name, "file", "unauditable_file", f"{name} {exc}")
        return
    for reason in content.refused:
        ctx.add(name, "file", "unauditable_file", f"{name} {reason}")
    for where, data in content.images:
        scanner.check_image(data, name, where)
    for sheet, rows in content.sheets:
        scanner.check_name(sheet, name, f"sheet {sheet}")
        scanner.scan_text(sheet, name, f"sheet {sheet}", 0, prose=False)
        scanner.scan_rows(rows, name, f"sheet {sheet} ", 0)
    for where, text in content.notes:
        scanner.scan_text(text, name, where, 0)
    for layer, collection in content.features:
        scanner.check_name(layer, name, layer)
        scanner.scan_json(collection, name, layer, 0, data=True)
    # Last, so that a value found in a cell too is reported at the cell.
    for where, text in content.parts:
        scanner.scan_text(text, name, where, 0)


def _unit_centres(areas: Any) -> Any:
    if areas is None or len(areas) == 0:
        return None
    import numpy as np
    import shapely

    geometry = areas.geometry.to_crs("EPSG:4326") if areas.crs else areas.geometry
    geoms = geometry.to_numpy()
    return np.vstack(
        [
            shapely.get_coordinates(shapely.centroid(geoms)),
            shapely.get_coordinates(shapely.point_on_surface(geoms)),
        ]
    )


def _extent(areas: Any) -> tuple[float, float, float, float] | None:
    """Return the areas' bounds in longitude and latitude (the extent), None without areas."""
    if areas is None or len(areas) == 0:
        return None
    geometry = areas.geometry.to_crs("EPSG:4326") if areas.crs else areas.geometry
    x0, y0, x1, y1 = (float(v) for v in geometry.total_bounds)
    return x0, y0, x1, y1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _printed_from_audited_page(folder: Path, pdf: Path, key: bytes | None) -> bool:
    """Whether a PDF is one the gate printed from a page of this folder, both unchanged since.

    The audit cannot read a PDF. It accepts one only when the run's manifest (beside the shared
    folder) records it under ``shared_pdfs`` with its sha256 and the sha256 of the HTML page
    it was printed from (:func:`protection_eval.runs.pdf.print_shared_pdfs`), the record's
    seal verifies under the gate's key (:mod:`protection_eval.sharing.audit.seal`: a manifest
    written by whoever made the folder is not trusted), and that page is in this folder,
    unchanged, so that it is audited with the rest.
    """
    if key is None:
        return False
    manifest = folder.parent / "manifest.json"
    try:
        records = json.loads(manifest.read_text(encoding="utf-8")).get("shared_pdfs") or {}
    except (OSError, ValueError, AttributeError):
        return False
    record = records.get(pdf.name) if isinstance(records, dict) else None
    if not verify_record(record, key) or record.get("file") != pdf.name:
        return False
    source = folder / str(record.get("source", ""))
    if source.parent != folder or source.suffix.lower() not in {".html", ".htm"}:
        return False
    return (source.is_file() and _sha256(pdf) == record.get("sha256")
            and _sha256(source) == record.get("source_sha256"))


def audit_shared_folder(
    path: str | Path,
    *,
    incidents: pd.DataFrame | None = None,
    k: int = MIN_K,
    tile_server: str | None = None,
    tile_attribution: str | None = None,
    areas: Any = None,
    identifying_values: Iterable[str] = (),
    identifying_times: IdentifyingTimes | None = None,
    distance_m: float = 250.0,
    vertex_distance_m: float = 5.0,
    hex_resolutions: Iterable[int] = range(0, 10),
    label_resolutions: Iterable[int] | None = None,
    shared_images: Mapping[str, str] | None = None,
    not_run: Iterable[str] | None = None,
    gate_key: bytes | None = None,
    chromium: Path | str | None = None,
    reference: ContextReference | None = None,
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
    identifying_times : IdentifyingTimes, optional
        Date-times of raw identifying columns (GPS fix times) to search for, in any ISO
        writing (:class:`protection_eval.sharing.audit.needles.IdentifyingTimes`).
    distance_m : float
        A point closer than this to an incident is a finding unless approved.
    vertex_distance_m : float
        The same for polygon and line vertices, which are rarely data points themselves.
    hex_resolutions : iterable of int
        H3 resolutions whose cell centres and vertices are approved.
    label_resolutions : iterable of int, optional
        H3 resolutions at whose cell centres a point label may stand (the run's resolution);
        ``hex_resolutions`` when not given.
    shared_images : mapping of str to str, optional
        ``{file name: sha256}`` of images made from audited aggregates, given by the caller
        (never read from a manifest beside the folder); only exact matches pass.
    not_run : iterable of str, optional
        Checks that could not run, named in the summary; by default those of
        :data:`MISSION_CHECKS` whose input (incidents, ids, identifying values) is missing.
    gate_key : bytes, optional
        The gate's key (:func:`protection_eval.sharing.audit.seal.load_gate_key`): a PDF
        passes only when ``../manifest.json`` records it under a seal that verifies with this
        key. Without it, no record beside the folder is trusted and every PDF is a finding.
    chromium : Path or str, optional
        Chromium's executable: every page (HTML, SVG) of the folder is then opened in it with
        the network cut (:mod:`protection_eval.sharing.audit.browser`), and each request that
        leaves the file is a ``third_party_request``, a page that cannot be opened an
        ``unauditable_file``. Without it, :attr:`AuditResult.browser` says plainly that the
        browser check did not run.
    reference : ContextReference, optional
        The public reference data the mission's map may draw
        (:func:`protection_eval.sharing.context.context_reference`): its coordinates are
        approved, its places may carry a marker, a text that is exactly one of its place names
        is not searched for identifying values, its basemap tiles are allowed images and the
        hosts of its attribution allowed links.

    Returns
    -------
    AuditResult
        ``ok`` is True when nothing was found.
    """
    options = _AuditOptions(
        k=check_k(k),
        tile_server=tile_server,
        tile_attribution=tile_attribution,
        areas=areas,
        identifying_values=identifying_values,
        identifying_times=identifying_times,
        distance_m=distance_m,
        vertex_distance_m=vertex_distance_m,
        hex_resolutions=hex_resolutions,
        label_resolutions=label_resolutions,
        shared_images=dict(shared_images or {}),
        gate_key=gate_key,
        reference=reference,
    )
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder to audit")
    ctx = _context(incidents, options)
    scanner = Scanner(ctx)
    files = _files_of(folder, ctx)
    _scan_files(scanner, folder, files, options)
    browser = _check_in_browser(ctx, folder, files, chromium)
    _check_across_files(ctx, folder, incidents)
    return AuditResult(
        folder=folder,
        files=[name for name, _ in files],
        findings=cap_findings(ctx.findings),
        not_run=tuple(_checks_not_run(ctx, incidents) if not_run is None else not_run),
        browser=browser,
    )


@dataclass(frozen=True)
class _AuditOptions:
    """What an audit is told besides the folder and the incidents.

    The keywords of :func:`audit_shared_folder`, which documents them, but ``chromium`` and
    ``not_run`` (used where it is called).

    Attributes
    ----------
    k : int
        Suppression threshold, already checked (:func:`protection_eval.sharing.disclosure.check_k`).
    tile_server, tile_attribution : str or None
        The mission's tile URL template and its attribution HTML.
    areas : geopandas.GeoDataFrame or None
        The mission's areas, whose points are approved coordinates.
    identifying_values : iterable of str
        Values of raw identifying columns to search for (read once).
    identifying_times : IdentifyingTimes or None
        Date-times of raw identifying columns to search for.
    distance_m, vertex_distance_m : float
        How near an incident a point, or a vertex, is a finding.
    hex_resolutions : iterable of int
        H3 resolutions whose cell centres and vertices are approved.
    label_resolutions : iterable of int or None
        H3 resolutions at whose cell centres a label may stand; None for ``hex_resolutions``.
    shared_images : dict of str to str
        ``{file name: sha256}`` of images made from audited aggregates.
    gate_key : bytes or None
        The gate's key, for the sealed records beside the folder.
    reference : ContextReference or None
        The public reference data the mission's map may draw.
    """

    k: int
    tile_server: str | None
    tile_attribution: str | None
    areas: Any
    identifying_values: Iterable[str]
    identifying_times: IdentifyingTimes | None
    distance_m: float
    vertex_distance_m: float
    hex_resolutions: Iterable[int]
    label_resolutions: Iterable[int] | None
    shared_images: dict[str, str]
    gate_key: bytes | None
    reference: ContextReference | None


def _context(incidents: pd.DataFrame | None, options: _AuditOptions) -> Context:
    """Return what the audit knows before reading a file: k, the rules, the approved places."""
    ids = () if incidents is None or "incident_id" not in incidents else incidents["incident_id"]
    reference = options.reference
    tile_attribution = options.tile_attribution
    if reference is not None and reference.attribution:
        tile_attribution = " ".join(filter(None, (tile_attribution, reference.attribution)))
    ctx = Context(
        k=options.k,
        rules=rules.Rules(
            tile_server=options.tile_server,
            tile_attribution=tile_attribution,
            identifying_values=_needle_text(ids, options.identifying_values),
            identifying_times=options.identifying_times,
            areas=options.areas,
            distance_m=options.distance_m,
            vertex_distance_m=options.vertex_distance_m,
            hex_resolutions=tuple(options.hex_resolutions),
            reference_points=None if reference is None else reference.points,
            reference_names=() if reference is None else reference.names,
        ),
    )
    ctx.label_resolutions = tuple(
        options.hex_resolutions if options.label_resolutions is None
        else options.label_resolutions
    )
    ctx.unit_centres = _unit_centres(options.areas)
    ctx.extent = _extent(options.areas)
    ctx.share_resolution = max(ctx.label_resolutions, default=9)
    if reference is not None and len(reference.places):
        ctx.unit_centres = (reference.places if ctx.unit_centres is None
                            else np.vstack([ctx.unit_centres, reference.places]))
    ctx.allowed_images = frozenset(v.lower() for v in options.shared_images.values())
    if reference is not None:
        ctx.allowed_images |= reference.image_sha256
    return ctx


def _files_of(folder: Path, ctx: Context) -> list[tuple[str, Path]]:
    """Return the files to audit: the folder's, or the one file given; a linked folder is not."""
    if folder.is_dir() and not folder.is_symlink():
        return _walk(folder, ctx)
    if folder.is_dir():
        ctx.add(folder.name, "file", "special_file", f"the folder is a symbolic link to "
                f"{os.readlink(folder)}; audit the folder it points to")
        return []
    return [(folder.name, folder)]


def _scan_files(
    scanner: Scanner, folder: Path, files: list[tuple[str, Path]], options: _AuditOptions
) -> None:
    """Read every file as a reader could; a PDF the gate printed from a page here is skipped."""
    for name, file in files:
        if (file.suffix.lower() == ".pdf" and folder.is_dir()
                and _printed_from_audited_page(folder, file, options.gate_key)):
            continue
        _scan_file(scanner, name, file, options.shared_images)


def _check_across_files(ctx: Context, folder: Path, incidents: pd.DataFrame | None) -> None:
    """Run the checks that need every file read: coordinates, places, counts, close totals."""
    check_coordinates(ctx, incidents)
    check_fine_locations(ctx)
    check_recoverable(ctx)
    _check_close_totals(ctx, folder)


def _checks_not_run(ctx: Context, incidents: pd.DataFrame | None) -> list[str]:
    """Return the checks of :data:`MISSION_CHECKS` whose input was not given."""
    has_ids = incidents is not None and "incident_id" in incidents
    missing = (incidents is None, incidents is None and not ctx.rules.id_tokens, not has_ids)
    return [check for check, lacks in zip(MISSION_CHECKS, missing, strict=True) if lacks]


def _check_in_browser(ctx: Context, folder: Path, files: list[tuple[str, Path]],
                      chromium: Path | str | None) -> str:
    """Open every page in Chromium with the network cut; record what left; say what was done."""
    pages = [(name, path) for name, path in files if path.suffix.lower() in _PAGE_SUFFIXES]
    if not pages:
        return ""
    if chromium is None or not Path(chromium).exists():
        where = ("Chromium is not installed, or was not given" if chromium is None
                 else f"{chromium} does not exist")
        return (f"{BROWSER_NOT_RUN} ({where}): {len(pages)} page(s) were read as text only; "
                "install chromium (apt-get install chromium) or set PROTECTION_EVAL_CHROMIUM")
    root = folder if folder.is_dir() else folder.parent
    try:
        verdicts = judge_pages(Path(chromium), root, pages)
    except BrowserUnavailable as exc:
        return f"{BROWSER_NOT_RUN} ({exc}): {len(pages)} page(s) were read as text only"
    for verdict in verdicts:
        if verdict.problem is not None:
            ctx.add(verdict.file, "opened in Chromium", "unauditable_file",
                    f"{verdict.file} {verdict.problem}")
        for url in verdict.requests:
            if url.startswith("file:"):
                ctx.add(verdict.file, "opened in Chromium", "third_party_request",
                        f"{url} (a file outside the shared folder)")
            elif not ctx.rules.host_allowed(url):
                ctx.add(verdict.file, "opened in Chromium", "third_party_request", url)
    return (f"browser check: {len(pages)} page(s) opened in Chromium with the network cut "
            f"({Path(chromium).name})")


def _needle_text(ids: Iterable[Any], values: Iterable[Any]) -> pa.Array:
    """Incident ids and identifying values as one Arrow text array (``str`` of each).

    A text column of ids is taken as it is, not one Python string per incident.
    """
    if isinstance(ids, pd.Series) and pd.api.types.is_string_dtype(ids) and not (
            pd.api.types.is_object_dtype(ids)):
        # A missing id (the raw coordinates' rows have none) was "nan", never searched for.
        arrow = pa.array(ids.array)
        chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
    else:
        chunks = [pa.array(list(map(str, ids)), type=pa.large_string())]
    chunks.append(pa.array(list(map(str, values)), type=pa.large_string()))
    return pa.chunked_array([c.cast(pa.large_string()) for c in chunks]).combine_chunks()


def _check_close_totals(ctx: Context, folder: Path) -> None:
    """Flag totals of one population in one file that differ by 1 to k-1 (differencing)."""
    for low, high in differencing.close_totals(differencing.margins_of_folder(folder), ctx.k):
        ctx.add(high.file, high.where, "close_totals",
                f"{high.name} = {high.value} minus {low.name} ({low.where}) = {low.value} "
                f"gives {high.value - low.value}")


@dataclass(frozen=True)
class RawNeedles:
    """What the audit searches a shared folder for from a mission's sources as read.

    Taken once, when the sources are read for ingestion (:func:`raw_needles_of`), so that the
    audit never reads the mission's files again: its cost is then the shared folder's, plus
    looking up the mission's incidents.

    Attributes
    ----------
    identifying_values : tuple of str
        Values of the raw identifying columns (names, case codes...) worth searching for.
    identifying_times : IdentifyingTimes
        Date-times of the raw identifying columns (GPS fix times...), found in any ISO
        writing; a column a reader kept as date-times gives only these.
    incident_coordinates : pandas.DataFrame or None
        ``longitude`` and ``latitude`` of every raw incident row, quarantined ones included;
        None when the incidents table has no coordinates.
    """

    identifying_values: tuple[str, ...] = ()
    incident_coordinates: pd.DataFrame | None = field(default=None, repr=False)
    identifying_times: IdentifyingTimes = field(default_factory=IdentifyingTimes, repr=False)


def raw_needles_of(raw_sources: Mapping[str, pd.DataFrame]) -> RawNeedles:
    """Return the identifying values and raw incident coordinates of source tables as read.

    Parameters
    ----------
    raw_sources : mapping of str to pandas.DataFrame
        The mission's source tables as read (cells as text), by table name.

    Returns
    -------
    RawNeedles
        See :class:`RawNeedles`.
    """
    raw_incidents = raw_sources.get("incidents")
    coords = rules.raw_coordinates(raw_incidents) if raw_incidents is not None else None
    values, times = identifying_needles_of(dict(raw_sources))
    return RawNeedles(tuple(values), coords, times)


def audit_mission_folder(
    path: str | Path,
    mission: Any = None,
    raw_sources: Mapping[str, pd.DataFrame] | None = None,
    *,
    needles: RawNeedles | None = None,
    gate_key: bytes | None = None,
    chromium: Path | str | None = None,
    context: MapContext | None = None,
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
    needles : RawNeedles, optional
        The same taken from them already (:func:`raw_needles_of`); used instead of
        ``raw_sources``.
    gate_key : bytes, optional
        The gate's key, for the sealed records beside the folder (see
        :func:`audit_shared_folder`).
    chromium : Path or str, optional
        Chromium, to open every page with the network cut (see :func:`audit_shared_folder`).
    context : MapContext, optional
        The mission's map context (``sharing.context_layers`` and ``sharing.basemap`` as
        read): what its map may draw of them is public reference data
        (:func:`protection_eval.sharing.context.context_reference`).

    Returns
    -------
    AuditResult
        The findings.
    """
    if mission is None:
        return audit_shared_folder(path, gate_key=gate_key, chromium=chromium)
    from protection_eval.sharing.disclosure import k_from_config

    config = mission.config
    tile = config.sharing.tile_server
    if needles is None:
        needles = raw_needles_of(dict(raw_sources or {}))
    incidents = mission.incidents
    coords = needles.incident_coordinates
    if coords is not None:
        incidents = pd.concat(
            [pd.DataFrame(incidents[["incident_id", "longitude", "latitude"]]), coords],
            ignore_index=True,
        )
    return audit_shared_folder(
        path,
        incidents=incidents,
        # Shared layers merge sparse hexagons into coarser parents (sharing.forms): a label may
        # stand at the centre of any cell from the coarsest merged unit to the run's own.
        label_resolutions=tuple(range(MIN_ADAPTIVE_RESOLUTION,
                                      config.sharing.h3_resolution + 1)),
        k=k_from_config(config),
        tile_server=None if tile is None else tile.url,
        tile_attribution=None if tile is None else tile.attribution,
        areas=mission.areas,
        identifying_values=needles.identifying_values,
        identifying_times=needles.identifying_times,
        gate_key=gate_key,
        chromium=chromium,
        reference=None if context is None or mission.areas is None or not len(mission.areas)
        else context_reference(context, mission.areas.total_bounds),
    )
