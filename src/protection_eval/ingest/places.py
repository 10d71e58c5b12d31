"""Incidents placed by the name or P-code of an area instead of coordinates.

Field data often say only "Kaga-Bandoro" or "CF7121". Such a row is matched to one of the
mission's areas, never to a point: ``area_name`` against the areas' ``name`` and ``area_pcode``
against their ``area_id``. Names are compared after NFC normalisation, case folding and trimming,
through the configuration's alias table (``ingest.area_aliases``: name as written -> the
``area_id`` or the name of an area).

When the areas are countries (every area's id or name is a country that the maintained
``country_converter`` library knows, as ISO 3166 codes), a name that matches no area's name is
read by that library (short forms, acronyms and former names: ``DRC``, ``USA``, ``UK``, ``PNG``,
``Swaziland``; and :data:`ACRONYMS`, which it does not know) and placed in the area of the same
ISO code. Every such resolution is listed in ``validation.json`` (``area_name_resolutions``) for a
person to check.

A name that matches no area is quarantined (``area_name_unmatched``) with the close area names as
suggestions (a suggestion is never applied); a name that reads as mojibake (``CÃ´te d'Ivoire``,
UTF-8 read as another encoding, detected by ``ftfy``) is named as an encoding problem with the
fix. A name shared by two areas is quarantined (``area_name_ambiguous``). Two references of one
row that name different areas are quarantined (``area_reference_conflict``). Matched rows without
coordinates carry the location precision ``area`` (docs/data-format.md).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

import ftfy
import pandas as pd

from protection_eval.ingest.quarantine import IngestContext, Quarantine, cell_text
from protection_eval.labels import normalise_text

__all__ = [
    "ACRONYMS",
    "area_countries",
    "country_code",
    "is_mojibake",
    "name_key",
    "resolve_area_references",
]

#: How many close area names an unmatched name is shown with.
SUGGESTIONS = 3

#: How close (difflib ratio) an area name must be to be suggested.
SUGGESTION_CUTOFF = 0.6

#: Acronyms of countries in humanitarian data that country_converter does not read, as their
#: ISO 3166 alpha-3 code (keys compared as names are).
ACRONYMS: dict[str, str] = {
    "car": "CAF",  # Central African Republic
    "opt": "PSE",  # occupied Palestinian territory
    "rca": "CAF",  # République centrafricaine
}


_NOT_FOUND = "\x00not found"


@cache
def _converter():
    """Return a country_converter instance, built once.

    Its own data file is read here with every cell as text: the library's loader turns the
    empty ISO 2 codes of former countries into numbers under pandas 3.
    """
    import country_converter as coco

    data = pd.read_csv(files("country_converter").joinpath("country_data.tsv"), sep="\t",
                       encoding="utf-8", dtype=str, keep_default_na=False, na_values=[""])
    return coco.CountryConverter(country_data=data)


def _convert(text: str, source: str) -> str | None:
    # A marker for "not found", so that an unknown name is not handed back as if it were a
    # code (the library's default); a list is several countries' expressions matching it.
    found = _converter().convert(text, src=source, to="ISO3", not_found=_NOT_FOUND)
    return found if isinstance(found, str) and found != _NOT_FOUND else None


def country_code(name: str) -> str | None:
    """Return the ISO 3166 alpha-3 code of a country name, code or acronym; None if unknown.

    Read by ``country_converter`` (its regular expressions: short and official names, former
    names, common acronyms), then as an ISO alpha-2 or alpha-3 code, then through
    :data:`ACRONYMS`. A name that two countries' expressions match is unknown.

    Parameters
    ----------
    name : str
        A country as written.

    Returns
    -------
    str or None
        The alpha-3 code.
    """
    text = normalise_text(str(name)).strip()
    if not text:
        return None
    found = _quietly(text, "regex")
    if found is None and len(text) in (2, 3):
        found = _quietly(text, f"ISO{len(text)}")
    if found is not None:
        return found
    return ACRONYMS.get(text.casefold())


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


def area_countries(areas: pd.DataFrame) -> dict[str, list[str]] | None:
    """Return the areas by ISO alpha-3 country code when the areas are countries, else None.

    An area is a country when its ``area_id`` is an ISO alpha-3 code or its name is a country
    the library reads. The areas are countries when at least :data:`COUNTRY_SHARE` of them are,
    each a different one: districts that share a name with a country (Niger State) are not.

    Parameters
    ----------
    areas : pandas.DataFrame
        With ``area_id`` and ``name``.

    Returns
    -------
    dict or None
        ISO alpha-3 code -> ids of the areas that are that country.
    """
    if not len(areas):
        return None
    codes: dict[str, list[str]] = {}
    for area_id, name in zip(areas["area_id"].astype(str), areas["name"].astype(str),
                             strict=True):
        code = _area_code(area_id, name)
        if code is not None:
            codes.setdefault(code, []).append(area_id)
    if len(codes) < COUNTRY_SHARE * len(areas):
        return None
    return codes


#: Share of the areas that must be distinct countries for names to be read as countries.
COUNTRY_SHARE = 0.9


def _area_code(area_id: str, name: str) -> str | None:
    text = area_id.strip().upper()
    if len(text) == 3 and text.isalpha():
        found = _quietly(text, "ISO3")
        if found == text:
            return found
    return country_code(name)


def _quietly(text: str, source: str) -> str | None:
    quiet = logging.getLogger("country_converter")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        return _convert(text, source)
    finally:
        quiet.level = level


def is_mojibake(text: str) -> bool:
    """Whether text reads as mojibake (UTF-8 decoded as another encoding), by ``ftfy``."""
    return bool(ftfy.badness.is_bad(text)) and ftfy.fix_text(text) != text


@dataclass
class _Matches:
    """What matching a table's area names found."""

    area: pd.Series
    unmatched: set[str] = field(default_factory=set)
    messages: dict[str, str] = field(default_factory=dict)
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    resolutions: dict[str, dict[str, str]] = field(default_factory=dict)


class _AreaNames:
    """The mission's areas as names, aliases and countries, to match names against."""

    def __init__(self, areas: pd.DataFrame, aliases: Mapping[str, str],
                 encoding: str | None = None) -> None:
        self.encoding = encoding
        self.index = _name_index(areas)
        self.known = set(areas["area_id"].astype(str))
        self.display = {name_key(n): str(n) for n in areas["name"]}
        self.names = dict(zip(areas["area_id"].astype(str), areas["name"].astype(str),
                              strict=True))
        # An alias may name its area by id or by name (as the suggestions show names).
        self.aliases: dict[str, str | None] = {}
        for key, target in aliases.items():
            target = str(target)
            by_name = self.index.get(name_key(target), [])
            self.aliases[name_key(key)] = (
                target if target in self.known else by_name[0] if len(by_name) == 1 else None)
        self.alias_targets = {name_key(k): str(v) for k, v in aliases.items()}
        self.countries = area_countries(areas)

    def match(self, name: str, m: _Matches) -> str | None:
        key = name_key(name)
        if key in self.aliases and self.aliases[key] is not None:
            return self.aliases[key]
        found = self.index.get(key, [])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            m.ambiguous[name] = found
            return None
        if is_mojibake(name):
            return self._unmatched(name, m, _mojibake_message(name, self.encoding))
        code = country_code(name) if self.countries is not None else None
        ids = self.countries.get(code, []) if code is not None and self.countries else []
        if len(ids) == 1:
            m.resolutions[name] = {"area_id": ids[0], "area_name": self.names[ids[0]],
                                   "country": code, "by": "country_converter"}
            return ids[0]
        close = difflib.get_close_matches(key, list(self.display), n=SUGGESTIONS,
                                          cutoff=SUGGESTION_CUTOFF)
        m.suggestions[name] = [self.display[c] for c in close]
        if key in self.alias_targets:
            head = (f"{name!r} is under ingest.area_aliases as {self.alias_targets[key]!r}, "
                    "which is neither an area_id nor the name of one area")
        elif code is not None and len(ids) > 1:
            head = f"{name!r} is the country {code}, which several areas are ({ids})"
        elif code is not None:
            head = f"{name!r} is the country {code}, which none of the mission's areas is"
        else:
            head = f"{name!r} matches no area name"
        close_text = ("; closest: " + ", ".join(repr(c) for c in m.suggestions[name])
                      if m.suggestions[name] else "; no area name is close")
        return self._unmatched(name, m, head + close_text + (
            ". If it is one of the mission's areas, add it under ingest.area_aliases in the "
            "mission YAML (the name as written: the area's area_id or name)"))

    @staticmethod
    def _unmatched(name: str, m: _Matches, message: str) -> None:
        m.unmatched.add(name)
        m.messages[name] = message
        m.suggestions.setdefault(name, [])


def _mojibake_message(name: str, encoding: str | None) -> str:
    fix = (f"the source declares `encoding: {encoding}` but the file is probably UTF-8: set "
           "`encoding: utf-8` (or remove the key) and validate again"
           if encoding and encoding.replace("-", "").lower() != "utf8" else
           "the file holds the broken text itself (UTF-8 read as Windows-1252 or Latin-1 "
           "when it was exported): export it again as UTF-8 and read it with `encoding: "
           "utf-8` (the default), or correct the names in the file")
    return (f"{name!r} reads as mojibake, text in one encoding read as another (repaired it "
            f"would read {ftfy.fix_text(name)!r}): an encoding problem, not a place name; "
            + fix)


def _match_names(names: pd.Series, areas: pd.DataFrame, aliases: Mapping[str, str],
                 encoding: str | None = None) -> _Matches:
    """Return each name's area id (None where not matched) and what the matching found."""
    lookup = _AreaNames(areas, aliases, encoding)
    m = _Matches(area=pd.Series(dtype=object))
    matched: dict[str, str | None] = {"": None}
    for name in names.unique():
        if name != "":
            matched[name] = lookup.match(name, m)
    m.area = names.map(matched)
    return m


def resolve_area_references(
    frame: pd.DataFrame, ctx: IngestContext, q: Quarantine, encoding: str | None = None
) -> tuple[pd.Series, dict[str, list[str]]]:
    """Return each incident's area reference from ``area_id``, ``area_pcode`` or ``area_name``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The incidents' cells as text.
    ctx : IngestContext
        Holds the accepted areas and the configuration's alias table; receives the names read
        as countries (``ctx.area_name_resolutions``).
    q : Quarantine
        Receives ``unknown_area``, ``area_name_unmatched``, ``area_name_ambiguous`` and
        ``area_reference_conflict``.
    encoding : str, optional
        The source's declared ``encoding``, for the fix a mojibake name is shown with.

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
    found = _match_names(names, areas, ctx.config.ingest.area_aliases, encoding)
    unmatched = names.isin(found.unmatched)
    q.reject(unmatched, "area_name_unmatched", "area_name",
             lambda rows: names[rows].map(found.messages))
    shared = found.ambiguous
    q.reject(names.isin(set(shared)), "area_name_ambiguous", "area_name",
             lambda rows: names[rows].map(lambda n: (
                 f"{n!r} is the name of several areas {shared[n]}; give area_pcode, or add "
                 "the name under ingest.area_aliases"
             )))
    by_name = found.area.fillna("").astype(object)
    conflict = pd.Series(False, index=frame.index)
    for a, b in ((by_id, pcode), (by_id, by_name), (pcode, by_name)):
        conflict |= (a != "") & (b != "") & (a != b)
    q.reject(conflict, "area_reference_conflict", "area_name",
             lambda rows: "area_id " + by_id[rows].map(repr) + ", area_pcode "
             + pcode[rows].map(repr) + " and area_name " + names[rows].map(repr)
             + " name different areas; correct the row")
    area = by_id.where(by_id != "", pcode.where(pcode != "", by_name))
    used_names = set(names[unmatched])
    ctx.area_name_resolutions.update(found.resolutions)
    return area.astype(object), {n: s for n, s in found.suggestions.items() if n in used_names}
