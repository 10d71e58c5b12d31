"""The strategy inventory: a sourced catalogue of protection strategies and its filters.

The catalogue lives in ``data/strategies/*.yaml`` (one file per category), each file a YAML list
of entries. Every entry is validated by :class:`Strategy`; every problem is reported with the
file, the entry and the field, so a reviewer can fix the YAML without reading a traceback.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protection_eval.io.bundled import bundled_path
from protection_eval.labels import LOCATION_TYPES
from protection_eval.yaml_loader import load_yaml

__all__ = [
    "ACTORS",
    "CATEGORIES",
    "EVIDENCE_LEVELS",
    "DEMO_STRATEGY_IDS",
    "CatalogueError",
    "CatalogueProblem",
    "Source",
    "Strategy",
    "StrategyCatalogue",
    "default_catalogue_path",
    "load_catalogue",
    "strategy_to_dict",
    "to_listing",
    "to_strategy_table",
    "to_strategy_text",
    "to_target_location_types",
    "validate_catalogue",
]

Actor = Literal["military", "police", "civilian", "joint"]
Category = Literal[
    "patrolling",
    "escort",
    "presence_and_bases",
    "community_engagement_and_early_warning",
    "specialised_units",
    "survivor_support_and_mentoring",
    "training_and_gender_capacity",
    "participation_of_women",
    "accountability_and_justice",
    "infrastructure_and_quick_impact",
]
EvidenceLevel = Literal["anecdotal", "descriptive", "quasi_experimental", "experimental"]

ACTORS: tuple[str, ...] = get_args(Actor)
CATEGORIES: tuple[str, ...] = get_args(Category)
EVIDENCE_LEVELS: tuple[str, ...] = get_args(EvidenceLevel)

#: Strategy ids used by the synthetic demo missions; they must stay in the catalogue.
DEMO_STRATEGY_IDS: tuple[str, ...] = (
    "firewood-escorts",
    "night-patrols",
    "market-day-patrols",
    "community-alert-networks",
    "specialised-police-units",
)

#: Listing formats of :func:`to_listing`.
LISTING_FORMATS = ("table", "csv", "json")

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Source(BaseModel):
    """A public source that documents a strategy.

    Attributes
    ----------
    title : str
        Title as published.
    publisher : str
        Organisation (or journal) that published it.
    year : int or None
        Year of publication; left out only when the source shows none.
    url : str or None
        Public URL, only where one is known to exist.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=3)
    publisher: str = Field(min_length=2)
    year: int | None = Field(default=None, ge=1945, le=2100)
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http://, or be left out")
        return value


class Strategy(BaseModel):
    """One protection strategy of the catalogue.

    Attributes
    ----------
    id : str
        Lower-case slug, unique in the catalogue (``firewood-escorts``).
    name, description, mechanism : str
        What it is called, what it is, and how it is meant to reduce SGBV.
    actor : str
        ``military``, ``police``, ``civilian`` or ``joint``.
    category : str
        One of :data:`CATEGORIES`.
    missions : list of str
        Missions where the practice is documented (acronyms, e.g. ``MONUSCO``).
    period : str or None
        When it was documented, as free text (``2005-2007``, ``since 2010``).
    sources : list of Source
        At least one public source.
    evidence_level : str
        Strongest kind of evidence on effect: one of :data:`EVIDENCE_LEVELS`.
    notes : str or None
        Caveats and uncertain facts.
    target_location_types : list of str
        The incident location types the strategy acts on (:data:`protection_eval.labels.
        LOCATION_TYPES`), for the mechanism diagnostic: firewood and water-point escorts act on
        ``field_bush`` and ``water_point``, market-day patrols on ``market``. Empty when the
        strategy acts everywhere or nowhere in particular.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=3)
    actor: Actor
    category: Category
    description: str = Field(min_length=20)
    mechanism: str = Field(min_length=20)
    missions: tuple[str, ...] = ()
    period: str | None = None
    sources: tuple[Source, ...] = Field(min_length=1)
    evidence_level: EvidenceLevel
    notes: str | None = None
    target_location_types: tuple[str, ...] = ()

    @field_validator("target_location_types")
    @classmethod
    def _known_location_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in LOCATION_TYPES]
        if unknown:
            raise ValueError(f"{unknown} are not location types; use {list(LOCATION_TYPES)}")
        if "home" in value:
            raise ValueError("home is the placebo of the mechanism diagnostic; no strategy "
                             "of this inventory targets it")
        return value

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be a lower-case slug such as 'firewood-escorts'")
        return value

    @field_validator("period", mode="before")
    @classmethod
    def _period_as_text(cls, value: Any) -> Any:
        # YAML reads a bare year (period: 2008) as an int; a period is free text.
        return str(value) if isinstance(value, int) else value


@dataclass(frozen=True)
class CatalogueProblem:
    """One problem found while loading the catalogue.

    Attributes
    ----------
    file : str
        Catalogue file, relative to the catalogue folder.
    entry : str
        ``entry 3 (id 'night-patrols')`` or ``-`` for a file-level problem.
    field : str
        Dotted field path (``sources.0.year``) or ``-``.
    message : str
        What is wrong and what to do.
    """

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: field '{self.field}': {self.message}"


class CatalogueError(ValueError):
    """The catalogue has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[CatalogueProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the strategy catalogue has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class StrategyCatalogue:
    """The validated catalogue, in file order.

    Attributes
    ----------
    strategies : tuple of Strategy
        All entries.
    files : dict
        Strategy id -> catalogue file it came from.
    """

    strategies: tuple[Strategy, ...]
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> frozenset[str]:
        """Frozenset of all strategy ids."""
        return frozenset(s.id for s in self.strategies)

    def __len__(self) -> int:
        return len(self.strategies)

    def __iter__(self) -> Iterator[Strategy]:
        return iter(self.strategies)

    def __contains__(self, strategy_id: object) -> bool:
        return strategy_id in self.ids

    def get(self, strategy_id: str) -> Strategy:
        """Return the strategy with this id.

        Raises
        ------
        KeyError
            With the closest known ids when the id is unknown.
        """
        for strategy in self.strategies:
            if strategy.id == strategy_id:
                return strategy
        close = sorted(self.ids, key=lambda i: _distance(i, strategy_id))[:3]
        raise KeyError(f"no strategy '{strategy_id}' in the catalogue; did you mean {close}?")

    def filter(
        self,
        actor: str | Iterable[str] | None = None,
        category: str | Iterable[str] | None = None,
        mission: str | Iterable[str] | None = None,
        evidence_level: str | Iterable[str] | None = None,
        text: str | None = None,
    ) -> StrategyCatalogue:
        """Return the sub-catalogue matching every given criterion.

        Parameters
        ----------
        actor, category, evidence_level : str or iterable of str, optional
            Exact values (case-insensitive; categories also accept spaces for underscores).
        mission : str or iterable of str, optional
            Mission acronym, matched case-insensitively against ``missions``.
        text : str, optional
            Case-insensitive substring searched in id, name, description, mechanism and notes.

        Returns
        -------
        StrategyCatalogue
            The matching strategies, in catalogue order.
        """
        actors = _as_keys(actor)
        categories = _as_keys(category)
        missions = _as_keys(mission)
        levels = _as_keys(evidence_level)
        needle = text.casefold().strip() if text else None
        kept = []
        for s in self.strategies:
            if actors and s.actor not in actors:
                continue
            if categories and s.category not in categories:
                continue
            if levels and s.evidence_level not in levels:
                continue
            if missions and not missions & {_key(m) for m in s.missions}:
                continue
            if needle and needle not in _haystack(s):
                continue
            kept.append(s)
        return StrategyCatalogue(tuple(kept), {s.id: self.files.get(s.id, "") for s in kept})

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy, see :func:`to_strategy_table`."""
        return to_strategy_table(self)


def to_strategy_table(catalogue: Iterable[Strategy]) -> pd.DataFrame:
    """Tabulate strategies for listing and joining.

    Parameters
    ----------
    catalogue : iterable of Strategy

    Returns
    -------
    pandas.DataFrame
        Columns ``id, name, actor, category, evidence_level, n_sources, missions`` (``;``
        separated), ``period``, ``first_source_year``.
    """
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "actor": s.actor,
            "category": s.category,
            "evidence_level": s.evidence_level,
            "n_sources": len(s.sources),
            "missions": ";".join(s.missions),
            "period": s.period or "",
            "first_source_year": min((src.year for src in s.sources if src.year), default=None),
        }
        for s in catalogue
    ]
    columns = [
        "id",
        "name",
        "actor",
        "category",
        "evidence_level",
        "n_sources",
        "missions",
        "period",
        "first_source_year",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"n_sources": "int64", "first_source_year": "Int64"})


def to_target_location_types(catalogue: Iterable[Strategy]) -> dict[str, tuple[str, ...]]:
    """Return the location types each strategy acts on, for the mechanism diagnostic.

    Parameters
    ----------
    catalogue : iterable of Strategy

    Returns
    -------
    dict of str to tuple of str
        Strategy id -> its ``target_location_types`` (strategies that declare none left out).
    """
    return {s.id: s.target_location_types for s in catalogue if s.target_location_types}


def strategy_to_dict(strategy: Strategy) -> dict[str, Any]:
    """Return a plain, JSON-ready dict of one strategy."""
    return json.loads(strategy.model_dump_json(exclude_none=True))


def to_listing(catalogue: StrategyCatalogue, fmt: str = "table") -> str:
    """Render strategies for the command line.

    Parameters
    ----------
    catalogue : StrategyCatalogue
    fmt : {"table", "csv", "json"}
        ``csv`` has the columns of :func:`to_strategy_table`; ``json`` is the full entries.

    Returns
    -------
    str
    """
    if fmt not in LISTING_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use table, csv or json")
    if fmt == "json":
        return json.dumps([strategy_to_dict(s) for s in catalogue], indent=2, ensure_ascii=False)
    frame = to_strategy_table(catalogue)
    if fmt == "csv":
        # Imported here so that listing strategies does not load geopandas with the catalog.
        from protection_eval.io.writers import to_spreadsheet_safe

        return to_spreadsheet_safe(frame).to_csv(index=False, lineterminator="\n")
    if frame.empty:
        return "no strategy matches"
    shown = frame[["id", "actor", "category", "evidence_level", "n_sources"]].astype(str)
    widths = {c: max(len(c), int(shown[c].str.len().max())) for c in shown.columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in shown.columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in shown.columns))
    for row in shown.itertuples(index=False):
        cells = (v.ljust(widths[c]) for v, c in zip(row, shown.columns, strict=True))
        lines.append("  ".join(cells).rstrip())
    lines.append(f"{len(frame)} strategies")
    return "\n".join(lines)


def to_strategy_text(strategy: Strategy, file: str | None = None) -> str:
    """Render one strategy in full, for ``strategies show``.

    Parameters
    ----------
    strategy : Strategy
    file : str, optional
        Catalogue file the entry comes from.

    Returns
    -------
    str
    """
    lines = [f"{strategy.name} ({strategy.id})"]
    if file:
        lines.append(f"file: data/strategies/{file}")
    lines += [
        f"actor: {strategy.actor}",
        f"category: {strategy.category}",
        f"evidence level: {strategy.evidence_level}",
        f"missions: {', '.join(strategy.missions) or '-'}",
        f"period: {strategy.period or '-'}",
        "",
        "What it is:",
        textwrap.fill(strategy.description, 96, initial_indent="  ", subsequent_indent="  "),
        "How it is meant to reduce SGBV:",
        textwrap.fill(strategy.mechanism, 96, initial_indent="  ", subsequent_indent="  "),
        "Sources:",
    ]
    for source in strategy.sources:
        year = f", {source.year}" if source.year else ""
        lines.append(f"  - {source.title}. {source.publisher}{year}.")
        if source.url:
            lines.append(f"    {source.url}")
    if strategy.notes:
        lines += [
            "Notes:",
            textwrap.fill(strategy.notes, 96, initial_indent="  ", subsequent_indent="  "),
        ]
    return "\n".join(lines)


def default_catalogue_path() -> Path:
    """Return the catalogue folder used when none is given.

    The folder named by the environment variable ``PROTECTION_EVAL_STRATEGIES``, else the
    inventory installed with the package (in a source checkout, the repository's
    ``data/strategies``).
    """
    override = os.environ.get("PROTECTION_EVAL_STRATEGIES")
    return Path(override) if override else bundled_path("strategies")


def validate_catalogue(path: Path | None = None) -> list[CatalogueProblem]:
    """Return every problem of the catalogue (empty list when it is valid).

    Parameters
    ----------
    path : Path, optional
        Catalogue folder (or a single YAML file); default :func:`default_catalogue_path`.
    """
    _, problems = _read_catalogue(Path(path) if path else default_catalogue_path())
    return problems


def load_catalogue(path: Path | None = None) -> StrategyCatalogue:
    """Load and validate the strategy catalogue.

    Parameters
    ----------
    path : Path, optional
        Catalogue folder of ``*.yaml`` files, or one YAML file; default
        :func:`default_catalogue_path`.

    Returns
    -------
    StrategyCatalogue

    Raises
    ------
    CatalogueError
        Listing every problem with its file, entry and field.
    """
    catalogue, problems = _read_catalogue(Path(path) if path else default_catalogue_path())
    if problems:
        raise CatalogueError(problems)
    return catalogue


def _read_catalogue(path: Path) -> tuple[StrategyCatalogue, list[CatalogueProblem]]:
    problems: list[CatalogueProblem] = []
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        root = path
    elif path.is_file():
        files, root = [path], path.parent
    else:
        problem = CatalogueProblem(
            str(path), "-", "-", "no such folder or file; pass the folder of strategy YAML files"
        )
        return StrategyCatalogue(()), [problem]
    if not files:
        problems.append(CatalogueProblem(str(path), "-", "-", "no *.yaml file in this folder"))
    strategies: list[Strategy] = []
    origin: dict[str, str] = {}
    for file in files:
        name = str(file.relative_to(root))
        for strategy in _read_file(file, name, problems):
            if strategy.id in origin:
                problems.append(
                    CatalogueProblem(
                        name,
                        f"id '{strategy.id}'",
                        "id",
                        f"duplicate id, already defined in {origin[strategy.id]}; ids are unique",
                    )
                )
                continue
            origin[strategy.id] = name
            strategies.append(strategy)
    return StrategyCatalogue(tuple(strategies), origin), problems


def _read_file(file: Path, name: str, problems: list[CatalogueProblem]) -> list[Strategy]:
    try:
        entries = load_yaml(file.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problems.append(CatalogueProblem(name, "-", "-", f"not readable YAML: {error}"))
        return []
    if entries is None:
        problems.append(CatalogueProblem(name, "-", "-", "empty file; remove it or add entries"))
        return []
    if not isinstance(entries, list):
        problems.append(
            CatalogueProblem(name, "-", "-", "the file must be a YAML list of entries (- id: ...)")
        )
        return []
    out = []
    for number, entry in enumerate(entries, start=1):
        label = f"entry {number}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            label += f" (id '{entry['id']}')"
        if not isinstance(entry, dict):
            problems.append(CatalogueProblem(name, label, "-", "an entry must be a mapping"))
            continue
        try:
            out.append(Strategy.model_validate(entry))
        except ValidationError as error:
            items = error.errors()
            for item in items:
                if item["type"] == "too_short" and _has_nested_error(item["loc"], items):
                    # A list whose only item is invalid is also "too short": say it once.
                    continue
                where = ".".join(str(part) for part in item["loc"]) or "-"
                problems.append(CatalogueProblem(name, label, where, _message(item)))
    return out


def _has_nested_error(loc: tuple[Any, ...], items: list[Any]) -> bool:
    return any(len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in items)


def _message(item: Mapping[str, Any]) -> str:
    kind = item.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against docs/strategies.md"
    if kind == "literal_error":
        return f"{item['msg']} (got {item.get('input')!r})"
    return str(item["msg"]).removeprefix("Value error, ")


def _key(value: str) -> str:
    return value.casefold().strip().replace(" ", "_")


def _as_keys(value: str | Iterable[str] | None) -> set[str]:
    if value is None:
        return set()
    values = [value] if isinstance(value, str) else list(value)
    return {_key(v) for v in values if v}


def _haystack(strategy: Strategy) -> str:
    parts = [strategy.id, strategy.name, strategy.description, strategy.mechanism]
    parts += [strategy.notes or "", *strategy.missions]
    return " ".join(parts).casefold()


def _distance(a: str, b: str) -> int:
    # Levenshtein distance; the catalogue is small, so the quadratic version is fine.
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
