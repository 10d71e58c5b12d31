"""Presets for known exports, and column proposals from HXL hashtags.

A preset is a YAML file in ``data/presets/`` (installed with the package) that says how one
known export (UCDP GED, ACLED, Geo-PKO, the Insecurity Insight CRSV workbook, the GBVIMS Incident
Recorder) maps onto a canonical table: its column map, its label maps, its reader options and
the identifying and free-text columns it carries, which ingestion drops and the validation report
lists with the reason. A source takes a preset with ``preset: <name>``; every key the source
gives itself overrides the preset's (a column the source maps onto a model column replaces the
preset's column for that model column). A preset's identifying columns cannot be mapped: they
never enter an analysis table (DOMAIN.md rule 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from protection_eval.yaml_loader import load_yaml

__all__ = [
    "Preset",
    "apply_preset",
    "load_preset",
    "preset_names",
    "propose_hxl_columns",
]


@dataclass(frozen=True)
class Preset:
    """One known export and how it maps onto a canonical table.

    Attributes
    ----------
    name : str
        The name a source gives under ``preset:``.
    table : str
        The canonical table it fills (``incidents``, ``bases`` ...).
    title : str
        What the export is, for people.
    citation : str
        Where it comes from.
    columns : dict
        Source column -> model column.
    labels : dict
        Model column -> {source label -> model label}.
    options : dict
        Other source keys (``sheet``, ``date_format``, ``derive`` ...), overridden by the source's.
    dropped : dict
        Identifying or free-text source columns -> why they are dropped. A source may not map
        them onto a model column.
    notes : str
        What the mapping means and what it cannot say.
    """

    name: str
    table: str
    title: str
    citation: str
    columns: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    notes: str = ""


def _folder() -> Path:
    return Path(str(files("protection_eval"))).joinpath("package-data", "presets")


def preset_names() -> list[str]:
    """Return the names of the presets installed with the package, sorted."""
    return sorted(p.stem for p in _folder().glob("*.yaml"))


@cache
def load_preset(name: str) -> Preset:
    """Return the preset called ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`preset_names`.

    Returns
    -------
    Preset
        The preset.

    Raises
    ------
    ValueError
        When no preset has that name; the message lists those that exist.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not (_folder() / f"{name}.yaml").is_file():
        raise ValueError(f"there is no preset {name!r}; presets are {preset_names()}")
    raw = load_yaml((_folder() / f"{name}.yaml").read_text(encoding="utf-8"))
    return Preset(
        name=name,
        table=raw["table"],
        title=raw["title"],
        citation=raw.get("citation", ""),
        columns={str(k): str(v) for k, v in (raw.get("columns") or {}).items()},
        labels={
            column: {str(k): str(v) for k, v in mapping.items()}
            for column, mapping in (raw.get("labels") or {}).items()
        },
        options=dict(raw.get("options") or {}),
        dropped={str(k): str(v) for k, v in (raw.get("dropped") or {}).items()},
        notes=raw.get("notes", ""),
    )


def apply_preset(name: str, source: dict[str, Any]) -> dict[str, Any]:
    """Return a source's keys with the preset's beneath them.

    Parameters
    ----------
    name : str
        The preset the source names.
    source : dict
        The source's own keys as written in the mission YAML.

    Returns
    -------
    dict
        The source's keys over the preset's options; columns and labels merged entry by entry,
        the source's winning (a model column the source maps takes the place of the preset's
        column for it).

    Raises
    ------
    ValueError
        An unknown preset, or a source that maps one of the preset's identifying or free-text
        columns onto a model column.
    """
    preset = load_preset(name)
    own_columns = {str(k): str(v) for k, v in (source.get("columns") or {}).items()}
    forbidden = sorted(set(own_columns) & set(preset.dropped))
    if forbidden:
        raise ValueError(
            f"columns {forbidden} are identifying or free text in preset {name!r} "
            f"({'; '.join(preset.dropped[c] for c in forbidden)}) and never enter an analysis "
            "table; remove them from columns"
        )
    taken = set(own_columns.values())
    columns = {
        src: target for src, target in preset.columns.items()
        if target not in taken and src not in own_columns
    }
    columns.update(own_columns)
    own_labels = source.get("labels") or {}
    labels = {column: dict(mapping) for column, mapping in preset.labels.items()}
    for column, mapping in own_labels.items():
        labels.setdefault(column, {}).update(mapping or {})
    merged = {**preset.options, **source}
    merged.update(columns=columns, labels=labels, preset=name)
    return merged


#: HXL hashtags (tag, attributes it must carry) -> model column, per table: the first match of a
#: model column wins. Only tags whose meaning is unambiguous for the table are listed.
_HXL_RULES: dict[str, tuple[tuple[str, frozenset[str], str], ...]] = {
    "incidents": (
        ("#event", frozenset({"id"}), "incident_id"),
        ("#meta", frozenset({"id"}), "incident_id"),
        ("#date", frozenset({"occurred"}), "occurred_at"),
        ("#date", frozenset(), "occurred_at"),
        ("#geo", frozenset({"lat"}), "latitude"),
        ("#geo", frozenset({"lon"}), "longitude"),
        ("#affected", frozenset(), "victims"),
        ("#meta", frozenset({"source"}), "source"),
    ),
    "bases": (
        ("#loc", frozenset({"id"}), "base_id"),
        ("#geo", frozenset({"lat"}), "latitude"),
        ("#geo", frozenset({"lon"}), "longitude"),
        ("#date", frozenset({"start"}), "valid_from"),
        ("#date", frozenset({"end"}), "valid_to"),
    ),
    "areas": (
        ("#adm2", frozenset({"code"}), "area_id"),
        ("#adm2", frozenset({"name"}), "name"),
        ("#adm1", frozenset({"code"}), "area_id"),
        ("#adm1", frozenset({"name"}), "name"),
        ("#population", frozenset(), "population"),
    ),
}

#: One HXL hashtag: ``#tag`` with optional ``+attribute`` parts (https://hxlstandard.org).
HXL_TAG = re.compile(r"^#[a-z][a-z0-9_]*(\s*\+\s*[a-z][a-z0-9_]*)*$", re.IGNORECASE)


def propose_hxl_columns(table: str, tags: dict[str, str]) -> dict[str, str]:
    """Propose a column map from HXL hashtags; never applied without the configuration.

    Parameters
    ----------
    table : str
        Canonical table name.
    tags : dict
        Source column -> its hashtag (``#geo+lat``).

    Returns
    -------
    dict
        Source column -> model column, for the hashtags whose meaning is known.
    """
    proposal: dict[str, str] = {}
    for tag_name, attributes, target in _HXL_RULES.get(table, ()):
        if target in proposal.values():
            continue
        for column, tag in tags.items():
            parts = [p.strip().lower() for p in tag.split("+")]
            if parts[0] == tag_name and attributes <= set(parts[1:]) and column not in proposal:
                proposal[column] = target
                break
    return proposal
