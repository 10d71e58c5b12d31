"""Mission configuration: one validated YAML file per mission.

A bad file is reported with the file, the key and what was expected (:class:`ConfigError`),
never with a pydantic traceback.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from protection_eval.labels import LOCATION_PRECISIONS, VOCABULARIES
from protection_eval.presets import apply_preset
from protection_eval.yaml_loader import YamlStructureError, load_yaml

TABLES: tuple[str, ...] = (
    "incidents",
    "patrols",
    "patrol_tracks",
    "bases",
    "areas",
    "deployments",
    "incident_counts",
)
#: Tables a mission must have. Patrols, their tracks, bases and deployments are optional: the
#: coverage model follows from the ones a mission has (docs/coverage.md).
REQUIRED_TABLES: tuple[str, ...] = ("incidents", "areas")

#: Longest mission code: it names report folders (``reports/<mission>/.staging-<run id>``),
#: which must stay well under the file systems' 255-byte limit on a name.
MISSION_CODE_MAX_LENGTH = 64

#: Smallest suppression threshold k the project allows for shared outputs (DOMAIN.md rule 2), and
#: the default. The one definition: :func:`protection_eval.sharing.disclosure.check_k` enforces it.
MIN_K = 5

DEFAULT_PRECISION_UNCERTAINTY_M: dict[str, float] = {
    "exact": 100.0,
    "settlement": 5_000.0,
    "admin2": 50_000.0,
    "admin1": 200_000.0,
    "country": 1_000_000.0,
}


class ConfigError(ValueError):
    """A mission configuration that cannot be used, with a message a person can act on."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """How to read one input table.

    Attributes
    ----------
    path : Path
        File path, relative to the configuration file (resolved on load).
    columns : dict
        Renames from the source's own column names to model column names.
    labels : dict
        Per model column, source label -> model label.
    date_format : str or None
        strptime format for dates that are not ISO 8601 (required for e.g. 03/09/2021).
    layer : str or None
        Layer name in a GeoPackage with several layers.
    decimal : str
        Decimal separator of numeric columns in a CSV ("," for decimal commas).
    where : dict
        Keep only the rows whose source column (its own name, before ``columns``) holds one
        of the given values, compared as text after trimming; several columns must all match.
        The rows left out are counted (``rows_excluded``), never quarantined: a file that
        covers more than the mission (every country, every kind of event) is read as published.
    sheet : str or int or None
        Worksheet of a workbook (.xlsx, .xls, .ods), by name or by position from 1; required
        when the workbook has several sheets.
    header_row : int
        Row of a CSV or worksheet that holds the column names, counted from 1 as a spreadsheet
        shows it; the rows above it are not read.
    sep : str or None
        Field separator of a CSV; None sniffs it and refuses a file it cannot be sure of.
    encoding : str or None
        Text encoding of a CSV (``cp1252``, ``latin-1`` ...); None means UTF-8.
    hxl : bool
        Propose a column mapping from the file's HXL hashtags (printed by ``validate``, never
        applied).
    preset : str or None
        A known export (:mod:`protection_eval.presets`) whose column and label maps and reader
        options this source takes; the source's own keys override them.
    geopoint : str or None
        A KoBo geopoint column ("lat lon alt accuracy") split into latitude and longitude.
    select_multiple : list of str
        KoBo select_multiple columns, whose cells hold space-separated choices.
    calendar_year : str or None
        A column holding a calendar year, from which ``valid_from``/``valid_to`` are derived
        (1 January .. 31 December).
    dates_only : list of str
        Columns that hold calendar days even where written with a midnight time.
    derive : str or None
        A named derivation of an export (set by presets; see
        :mod:`protection_eval.io.exports`).
    total_labels : list of str
        Of an ``incident_counts`` source: GBV type labels that mark a total row (a margin over
        the types of its area, month and source) besides ``total``, e.g. ``["All types"]``.
    channels : dict
        Incidents only: each value of the ``source`` column -> ``mission`` (the mission's own
        reporting channels) or ``partner`` (partners' channels), the class the source-mix
        diagnostic compares (docs/validity.md). A source value not listed has no channel: it
        is counted in neither share, and the validation report names it.
    format : str or None
        The file's format when its extension does not say it: ``csv``, ``json`` (records, or
        GeoJSON), ``jsonl`` (JSON Lines) or ``geojson``. None: the extension decides
        (:mod:`protection_eval.io.formats`). The file is read in that format only.
    """

    path: Path
    columns: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    date_format: str | None = None
    layer: str | None = None
    decimal: Literal[".", ","] = "."
    where: dict[str, str | int | list[str | int]] = Field(default_factory=dict)
    sheet: str | Annotated[int, Field(ge=1)] | None = None
    header_row: Annotated[int, Field(ge=1)] = 1
    sep: Annotated[str, Field(min_length=1, max_length=1)] | None = None
    encoding: str | None = None
    hxl: bool = False
    preset: str | None = None
    geopoint: str | None = None
    select_multiple: list[str] = Field(default_factory=list)
    calendar_year: str | None = None
    dates_only: list[str] = Field(default_factory=list)
    derive: str | None = None
    total_labels: list[str] = Field(default_factory=list)
    channels: dict[str, Literal["mission", "partner"]] = Field(default_factory=dict)
    format: Literal["csv", "json", "jsonl", "geojson"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _take_preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") is not None:
            return apply_preset(str(data["preset"]), data)
        return data

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"{value!r} is not a text encoding Python knows; use e.g. utf-8, cp1252, "
                    "latin-1"
                ) from None
        return value

    @field_validator("labels")
    @classmethod
    def _labels_target_vocabularies(cls, value: dict[str, dict[str, str]]) -> dict:
        for column, mapping in value.items():
            if column not in VOCABULARIES:
                raise ValueError(
                    f"labels can be mapped for {sorted(VOCABULARIES)}, not {column!r}"
                )
            bad = sorted({t for t in mapping.values() if t not in VOCABULARIES[column]})
            if bad:
                raise ValueError(
                    f"labels.{column} maps onto {bad}, which are not model labels; "
                    f"use one of {list(VOCABULARIES[column])}"
                )
        return value


class Sources(_Strict):
    """The input tables of a mission; only incidents and areas are required."""

    incidents: SourceSpec
    areas: SourceSpec
    patrols: SourceSpec | None = None
    patrol_tracks: SourceSpec | None = None
    bases: SourceSpec | None = None
    deployments: SourceSpec | None = None
    incident_counts: SourceSpec | None = None

    @model_validator(mode="after")
    def _channels_on_incidents_only(self) -> Sources:
        for name in ("areas", "patrols", "patrol_tracks", "bases", "deployments"):
            spec = getattr(self, name)
            if spec is not None and spec.channels:
                raise ValueError(f"sources.{name}.channels: only incidents have reporting "
                                 "channels; move the map under sources.incidents.channels")
        return self


class Period(_Strict):
    """The mission period analysed; dates outside it are quarantined."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"period.end ({self.end}) is before period.start ({self.start})")
        return self


class CoverageSettings(_Strict):
    """Coverage parameters: radius, window, interpolation limit and location uncertainty."""

    radius_m: Annotated[float, Field(gt=0)] = 2_000.0
    window_h: Annotated[float, Field(gt=0)] = 72.0
    max_gap_h: Annotated[float, Field(gt=0)] = 6.0
    precision_uncertainty_m: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PRECISION_UNCERTAINTY_M)
    )

    @field_validator("precision_uncertainty_m")
    @classmethod
    def _known_precisions(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(LOCATION_PRECISIONS))
        if unknown:
            raise ValueError(f"unknown precisions {unknown}; use {list(LOCATION_PRECISIONS)}")
        return {**DEFAULT_PRECISION_UNCERTAINTY_M, **value}


class TileServer(_Strict):
    """A map tile server the mission runs or trusts; nothing else is requested by a map."""

    url: str
    attribution: str

    @field_validator("url")
    @classmethod
    def _templated_https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "{z}" not in value:
            raise ValueError("url must be an http(s) tile template containing {z}, {x} and {y}")
        return value


#: Kinds of context layer a map draws under its data, and how (``sharing.context``).
CONTEXT_KINDS: tuple[str, ...] = ("places", "roads", "rivers", "other")
#: File types of an offline tile archive (``sharing.basemap``).
BASEMAP_SUFFIXES: tuple[str, ...] = (".pmtiles", ".mbtiles")


class ContextLayer(_Strict):
    """A public reference layer the shared map draws under its data: places, roads, rivers.

    Attributes
    ----------
    path : Path
        The file (GeoPackage, shapefile plain or zipped, GeoJSON, GeoParquet; an OSM extract
        as HOT's export tool gives it), relative to the configuration file.
    label : str
        Its name in the map's layer control and legend, in the mission's language.
    kind : str
        ``places`` (points, labelled), ``roads``, ``rivers`` or ``other`` (lines, outlines).
    layer : str or None
        The layer of a GeoPackage or zip holding several.
    name : str or None
        The column holding place names; by default ``name:<language>``, ``name_<language>``
        then ``name``, whichever the file has.
    """

    path: Path
    label: Annotated[str, Field(min_length=1, max_length=80)]
    kind: Literal["places", "roads", "rivers", "other"]
    layer: str | None = None
    name: str | None = None


class Basemap(_Strict):
    """A tile archive the mission holds, drawn under the shared map with no request made.

    Attributes
    ----------
    path : Path
        A ``.pmtiles`` or ``.mbtiles`` file of raster tiles (shown as images) or Mapbox vector
        tiles (whose places, roads and water the map draws), relative to the configuration.
    attribution : str or None
        Whom the tiles are from, as the map must say; by default the archive's own
        ``attribution`` metadata (one of the two is required).
    max_zoom : int
        The deepest zoom level embedded.
    max_bytes : int
        Tile bytes taken at most; deeper levels are left out first.
    """

    path: Path
    attribution: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    max_zoom: Annotated[int, Field(ge=0, le=18)] = 14
    max_bytes: Annotated[int, Field(gt=0, le=3_000_000)] = 2_000_000

    @field_validator("path")
    @classmethod
    def _archive(cls, value: Path) -> Path:
        if value.suffix.lower() not in BASEMAP_SUFFIXES:
            raise ValueError(f"a basemap is a tile archive: {', '.join(BASEMAP_SUFFIXES)} "
                             f"(got {value.name!r})")
        return value


class SharingSettings(_Strict):
    """Disclosure settings for shared outputs, and what the shared map draws besides data."""

    min_count: Annotated[int, Field(ge=MIN_K)] = MIN_K
    h3_resolution: Annotated[int, Field(ge=4, le=9)] = 7
    tile_server: TileServer | None = None
    #: Public reference layers (places, roads, rivers) drawn under the map's data.
    context_layers: list[ContextLayer] = Field(default_factory=list)
    #: A tile archive drawn as the map's background, offline.
    basemap: Basemap | None = None
    #: Language of the brief: ``en`` or any language with a catalogue in
    #: ``sharing/locale/<language>/LC_MESSAGES/`` (fr, ar, es, pt ship with the package).
    language: str = "en"

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        available = available_languages()
        if value not in available:
            raise ValueError(
                f"no catalogue for language {value!r}; available: {', '.join(available)} "
                "(a translator adds one as sharing/locale/<language>/LC_MESSAGES/"
                "protection_eval.po)"
            )
        return value


#: Folder of the gettext catalogues of shared pages (package data of ``sharing``).
LOCALE_DIR = Path(__file__).parent / "sharing" / "locale"


def available_languages() -> tuple[str, ...]:
    """Return the languages a brief can be written in: English and every catalogue shipped.

    Read from :data:`LOCALE_DIR` (the package's ``sharing/locale`` folder), so that adding a
    catalogue adds a language without code.
    """
    found = {p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/protection_eval.po")}
    return tuple(sorted(found | {"en"}))


class IngestSettings(_Strict):
    """Tolerances of ingestion checks, and the alias table of area names.

    Attributes
    ----------
    outside_tolerance_m : float
        How far outside every area a point may lie and still be accepted.
    area_aliases : dict
        Area name as the incident source writes it -> ``area_id`` of the area it stands for,
        for names that do not match an area's ``name`` (another language, an old name). Keys
        are compared like names: NFC, case folded, white space trimmed.
    """

    outside_tolerance_m: Annotated[float, Field(ge=0)] = 5_000.0
    area_aliases: dict[str, str] = Field(default_factory=dict)


class MissionConfig(_Strict):
    """A validated mission configuration.

    Attributes
    ----------
    mission : str
        Code used in report paths: letters, digits, ``-`` and ``_``, at most
        :data:`MISSION_CODE_MAX_LENGTH` (64) characters.
    path : Path
        The YAML file it was read from (set by :func:`load_mission_config`).
    allowed_source_dirs : list of Path
        Folders outside the YAML file's own folder that sources may be read from (relative
        ones relative to the file). Once loaded, it holds every folder a source may come
        from, resolved, the configuration's own folder first.
    """

    mission: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    name: str
    synthetic: bool = False
    timezone: str
    crs: str | None = None
    period: Period
    sources: Sources
    coverage: CoverageSettings = Field(default_factory=CoverageSettings)
    sharing: SharingSettings = Field(default_factory=SharingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    seed: int = 0
    allowed_source_dirs: list[Path] = Field(default_factory=list)
    path: Path | None = None

    @field_validator("mission")
    @classmethod
    def _short_code(cls, value: str) -> str:
        if len(value) > MISSION_CODE_MAX_LENGTH:
            raise ValueError(
                f"the mission code is {len(value)} characters long; use at most "
                f"{MISSION_CODE_MAX_LENGTH} letters, digits, '-' and '_' (it names the report "
                "folders)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as Africa/Juba") from exc
        return value

    def source_path(self, table: str) -> Path | None:
        """Return the resolved path of ``table``'s source, or None when it has none."""
        spec = getattr(self.sources, table)
        return None if spec is None else spec.path


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: the mission configuration is not valid:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against docs/data-format.md)"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def _allowed_dirs(config: MissionConfig, base: Path) -> list[Path]:
    """Return the folders sources may come from, resolved: the YAML's own folder first."""
    folders = [Path(os.path.realpath(base))]
    for folder in config.allowed_source_dirs:
        resolved = Path(os.path.realpath(base / folder))
        if resolved not in folders:
            folders.append(resolved)
    return folders


def _confine_sources(config: MissionConfig, path: Path, folders: list[Path]) -> None:
    """Refuse a source outside the allowed folders, before anything opens it.

    Links are followed first, so a link in the mission folder that points elsewhere is
    outside too. A link loop stays where it is and is reported by the reader. The map's
    context layers and basemap are held to the same folders, and none of them may be one of
    the mission's sources: a context layer is public reference data, never incidents.
    """
    outside = []
    keys = [(f"sources.{table}.path", spec.path) for table in TABLES
            if (spec := getattr(config.sources, table)) is not None]
    sources = {Path(os.path.realpath(p)): key for key, p in keys}
    keys += [(f"sharing.context_layers.{i}.path", layer.path)
             for i, layer in enumerate(config.sharing.context_layers)]
    if config.sharing.basemap is not None:
        keys.append(("sharing.basemap.path", config.sharing.basemap.path))
    for key, file in keys:
        real = Path(os.path.realpath(file))
        if not any(real.is_relative_to(folder) for folder in folders):
            outside.append(f"  - {key}: {file} lies outside them")
        elif not key.startswith("sources.") and real in sources:
            raise ConfigError(
                f"{path}: {key} is {file}, the file of {sources[real]}; a map's context layer "
                "or basemap is public reference data (places, roads, rivers, tiles), never a "
                "source of the mission: name a separate file"
            )
    if outside:
        listed = ", ".join(str(f) for f in folders)
        raise ConfigError(
            f"{path}: sources are read only from the mission's folder and the folders listed "
            f"under allowed_source_dirs ({listed}):\n" + "\n".join(outside) + "\n"
            "Move the file into the mission's folder, or add its folder to allowed_source_dirs "
            "in the mission YAML"
        )


def load_mission_config(path: str | Path) -> MissionConfig:
    """Read and validate a mission YAML file.

    Source paths (and the map's context layers and basemap) are resolved relative to the
    file's folder, and must lie (after following links) inside that folder or inside a folder
    listed under ``allowed_source_dirs``.

    Parameters
    ----------
    path : str or Path
        The mission configuration file.

    Returns
    -------
    MissionConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, repeats a key, breaks the schema or names a
        source outside the allowed folders; the message names the file and every offending
        key.
    """
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such mission configuration file") from None
    except YamlStructureError as exc:
        raise ConfigError(f"{path}: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not readable as UTF-8 YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys such as 'mission', 'sources'")
    try:
        config = MissionConfig.model_validate({**raw, "path": path})
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    base = path.parent
    resolved = {
        table: spec.model_copy(update={"path": (base / spec.path)})
        for table in TABLES
        if (spec := getattr(config.sources, table)) is not None
    }
    folders = _allowed_dirs(config, base)
    sharing = config.sharing.model_copy(update={
        "context_layers": [layer.model_copy(update={"path": base / layer.path})
                           for layer in config.sharing.context_layers],
        "basemap": None if config.sharing.basemap is None else config.sharing.basemap.model_copy(
            update={"path": base / config.sharing.basemap.path}),
    })
    config = config.model_copy(update={
        "sources": config.sources.model_copy(update=resolved),
        "sharing": sharing,
        "allowed_source_dirs": folders,
    })
    _confine_sources(config, path, folders)
    return config


def parse_period(text: str) -> Period:
    """Parse a reporting period: ``2024-06``, ``2024-01..2024-06`` or ISO dates.

    A month stands for all of its days: ``2024-01..2024-06`` runs from 1 January to 30 June.

    Parameters
    ----------
    text : str
        One month or date, or two joined by ``..``.

    Returns
    -------
    Period
        The first and last day.

    Raises
    ------
    ConfigError
        When the text is not of that form, or ends before it starts.
    """

    def bound(part: str, *, end: bool) -> dt.date:
        part = part.strip()
        if not part:
            raise ConfigError(
                f"period {text!r}: the {'end' if end else 'start'} is missing; give one month "
                "(2024-06) or both ends (2024-01..2024-06)"
            )
        try:
            if len(part) == 7:
                first = dt.date.fromisoformat(part + "-01")
                if not end:
                    return first
                following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
                return following - dt.timedelta(days=1)
            return dt.date.fromisoformat(part)
        except ValueError:
            raise ConfigError(
                f"period {text!r}: {part!r} is not a month (2024-06) or a date (2024-06-15)"
            ) from None

    start_text, _, end_text = text.partition("..")
    try:
        return Period(start=bound(start_text, end=False), end=bound(end_text or start_text,
                                                                    end=True))
    except ValidationError as exc:
        raise ConfigError(f"period {text!r}: {exc.errors()[0]['msg']}") from None
