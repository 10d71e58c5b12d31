"""Incidents placed by the name or P-code of an area instead of coordinates.

Field data often say only "Kaga-Bandoro" or "CF7121". Such a row is matched to one of the
mission's areas, never to a point: ``area_name`` against the areas' ``name`` and ``area_pcode``
against their ``area_id``. Names are compared after NFC normalisation, case folding and trimming,
through the configuration's alias table (``ingest.area_aliases``: name as written -> area_id).
A name that matches no area is quarantined (``area_name_unmatched``) with the three closest area
names as suggestions; a suggestion is never applied. A name shared by two areas is quarantined
(``area_name_ambiguous``). Two references of one row that name different areas are quarantined
(``area_reference_conflict``). Matched rows without coordinates carry the location precision
``area`` (docs/data-format.md).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import pandas as pd

from protection_eval.ingest.quarantine import IngestContext, Quarantine, cell_text
from protection_eval.labels import normalise_text

__all__ = ["name_key", "resolve_area_references"]

#: How many close area names an unmatched name is shown with.
SUGGESTIONS = 3


def name_key(name: str) -> str:
    """Return the form names are compared in: NFC, case folded, white space trimmed.

    Parameters
    ----------
    name : str
        A place name as written.

    Returns
    -------
    str
        The comparison key.
    """
    return normalise_text(str(name)).casefold().strip()


def _name_index(areas: pd.DataFrame) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for area_id, name in zip(areas["area_id"], areas["name"], strict=True):
        index.setdefault(name_key(name), []).append(str(area_id))
    return index


def _match_names(
    names: pd.Series, areas: pd.DataFrame, aliases: Mapping[str, str]
) -> tuple[pd.Series, pd.Series, pd.Series, dict[str, list[str]], dict[str, list[str]]]:
    """Return matched ids, unmatched and ambiguous masks, suggestions and ambiguous ids."""
    index = _name_index(areas)
    alias_index = {name_key(k): str(v) for k, v in aliases.items()}
    known = set(areas["area_id"].astype(str))
    display = {name_key(n): str(n) for n in areas["name"]}
    matched: dict[str, str | None] = {"": None}
    unmatched: set[str] = set()
    ambiguous: dict[str, list[str]] = {}
    suggestions: dict[str, list[str]] = {}
    for name in names.unique():
        if name == "":
            continue
        key = name_key(name)
        if key in alias_index and alias_index[key] in known:
            matched[name] = alias_index[key]
        elif len(index.get(key, [])) == 1:
            matched[name] = index[key][0]
        elif len(index.get(key, [])) > 1:
            matched[name] = None
            ambiguous[name] = index[key]
        else:
            matched[name] = None
            unmatched.add(name)
            close = difflib.get_close_matches(key, list(display), n=SUGGESTIONS, cutoff=0.0)
            suggestions[name] = [display[c] for c in close]
    area = names.map(matched)
    return area, names.isin(unmatched), names.isin(set(ambiguous)), suggestions, ambiguous


def resolve_area_references(
    frame: pd.DataFrame, ctx: IngestContext, q: Quarantine
) -> tuple[pd.Series, dict[str, list[str]]]:
    """Return each incident's area reference from ``area_id``, ``area_pcode`` or ``area_name``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The incidents' cells as text.
    ctx : IngestContext
        Holds the accepted areas and the configuration's alias table.
    q : Quarantine
        Receives ``unknown_area``, ``area_name_unmatched``, ``area_name_ambiguous`` and
        ``area_reference_conflict``.

    Returns
    -------
    tuple
        The area id per row ("" where the row gives no reference or was refused), and the
        suggestions per unmatched name (the closest area names, best first).
    """
    areas = ctx.areas if ctx.areas is not None else pd.DataFrame({"area_id": [], "name": []})
    known = set(areas["area_id"].astype(str))
    by_id = cell_text(frame, "area_id")
    pcode = cell_text(frame, "area_pcode")
    names = cell_text(frame, "area_name")
    for column, values in (("area_id", by_id), ("area_pcode", pcode)):
        q.reject((values != "") & ~values.isin(known), "unknown_area", column,
                 lambda rows, v=values: v[rows] + " is not among the accepted areas' area_id")
    by_name, unmatched, ambiguous, suggestions, shared = _match_names(
        names, areas, ctx.config.ingest.area_aliases
    )
    q.reject(unmatched, "area_name_unmatched", "area_name",
             lambda rows: names[rows].map(lambda n: (
                 f"{n!r} matches no area name; closest: "
                 + ", ".join(repr(s) for s in suggestions[n])
                 + ". If it is one of them, add it under ingest.area_aliases in the mission YAML"
             )))
    q.reject(ambiguous, "area_name_ambiguous", "area_name",
             lambda rows: names[rows].map(lambda n: (
                 f"{n!r} is the name of several areas {shared[n]}; give area_pcode, or add "
                 "the name under ingest.area_aliases"
             )))
    by_name = by_name.fillna("").astype(object)
    conflict = pd.Series(False, index=frame.index)
    for a, b in ((by_id, pcode), (by_id, by_name), (pcode, by_name)):
        conflict |= (a != "") & (b != "") & (a != b)
    q.reject(conflict, "area_reference_conflict", "area_name",
             lambda rows: "area_id " + by_id[rows].map(repr) + ", area_pcode "
             + pcode[rows].map(repr) + " and area_name " + names[rows].map(repr)
             + " name different areas; correct the row")
    area = by_id.where(by_id != "", pcode.where(pcode != "", by_name))
    used = {n: s for n, s in suggestions.items() if n in set(names[unmatched])}
    return area.astype(object), used
