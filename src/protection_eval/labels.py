"""Controlled vocabularies of the canonical data model, and mapping of source labels onto them.

Field data label the same thing many ways ("Rape", "Viol", "SexualAssault", multi-valued cells).
Mapping is explicit: a label is accepted only when it is a model label already or when the
mission configuration maps it; anything else is reported as unmapped, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

#: GBVIMS core types, most severe first: a cell holding several mapped labels takes the first.
GBV_TYPES: tuple[str, ...] = (
    "rape",
    "sexual_assault",
    "physical_assault",
    "forced_marriage",
    "denial_of_resources",
    "psychological_abuse",
    "unspecified",
)

#: How well an incident's place is known. ``area``: located only by the name or P-code of one of
#: the mission's areas, with no coordinates (counted in that area, never in point coverage).
LOCATION_PRECISIONS: tuple[str, ...] = (
    "exact", "settlement", "admin2", "area", "admin1", "country"
)
#: Precisions too coarse to place an incident in one area (a province, a country): such an
#: incident counts in no area's measures, panel row or point coverage.
COARSE_PRECISIONS: tuple[str, ...] = ("admin1", "country")

#: Time precisions of an incident: an instant, a local calendar day, or an interval
#: (``occurred_at`` .. ``occurred_until``) longer than one day or instant.
TIME_PRECISIONS: tuple[str, ...] = ("time", "day", "range")
UNIT_TYPES: tuple[str, ...] = ("military", "police", "joint")
PATROL_TYPES: tuple[str, ...] = (
    "routine",
    "night",
    "escort",
    "market_day",
    "long_range",
    "community",
    "other",
)

#: Where an incident took place, after the GBVIMS incident-location categories (an optional
#: incident column). Strategies name the ones they act on (the inventory's
#: ``target_location_types``); incidents at home are the usual placebo outcome.
LOCATION_TYPES: tuple[str, ...] = (
    "home",
    "field_bush",
    "water_point",
    "market",
    "road",
    "school",
    "displacement_site",
    "health_facility",
    "other",
    "unknown",
)

#: Coarse survivor group (an optional incident column). Never an age: the group is all a
#: source may give, and it is shared only as suppressed aggregates (DOMAIN.md rules 2 and 3).
SURVIVOR_GROUPS: tuple[str, ...] = ("woman", "girl", "man", "boy", "unknown")

#: Reporting channels a source can be classed as (``sources.incidents.channels`` in the mission
#: YAML): the mission's own (human rights, gender or protection units, UN police, patrols) or a
#: partner's (GBV service providers, national police, NGOs).
CHANNELS: tuple[str, ...] = ("mission", "partner")

#: Whether a published figure is there, and if not, why: three words kept apart everywhere
#: (shared summaries and tables as ``status`` + ``reason``, the brief, the map, run summaries;
#: ``docs/data-format.md``). ``not_computed``: the data it needs are missing (the reason says
#: which, and for which dates); ``not_estimable``: the data are there but too few for the method
#: (the reason says what is missing, e.g. "needs at least 2 areas; this mission has 1");
#: ``not_shown``: computed, but hidden because it rests on fewer than k incidents, for
#: survivors' safety. A figure that is not computed or not estimable is never called "not shown".
OK = "ok"
NOT_COMPUTED = "not_computed"
NOT_ESTIMABLE = "not_estimable"
NOT_SHOWN = "not_shown"
RESULT_STATUSES: tuple[str, ...] = (OK, NOT_COMPUTED, NOT_ESTIMABLE, NOT_SHOWN)
#: The reason given with ``not_shown`` (it names no count: a small count must stay hidden).
SHOWN_REASON = "hidden to protect survivors: it rests on fewer than {k} incidents"

#: Vocabulary of each labelled column, by column name.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "gbv_type": GBV_TYPES,
    "location_precision": LOCATION_PRECISIONS,
    "unit_type": UNIT_TYPES,
    "patrol_type": PATROL_TYPES,
    "location_type": LOCATION_TYPES,
    "survivor_group": SURVIVOR_GROUPS,
}

_SEPARATORS = re.compile(r"\s*[,;|/]\s*")


def normalise_text(value: str) -> str:
    """Return ``value`` in Unicode NFC with surrounding white space removed.

    Parameters
    ----------
    value : str
        Text as read from a file (possibly NFD, possibly with a byte-order mark).

    Returns
    -------
    str
        The NFC form without a leading byte-order mark.
    """
    return unicodedata.normalize("NFC", value.replace("\ufeff", "")).strip()


@dataclass(frozen=True)
class LabelOutcome:
    """The result of mapping one source cell onto a vocabulary.

    Attributes
    ----------
    label : str or None
        The model label, or None when the cell could not be mapped.
    unmapped : tuple of str
        Source labels in the cell that neither the vocabulary nor the mapping knows.
    """

    label: str | None
    unmapped: tuple[str, ...] = ()


class LabelMapper:
    """Maps source labels of one column onto its controlled vocabulary.

    Parameters
    ----------
    column : str
        Canonical column name; its vocabulary comes from :data:`VOCABULARIES`.
    mapping : Mapping[str, str], optional
        Source label to model label, from the mission configuration. Keys are compared after
        NFC normalisation and case folding.
    multi_valued : bool, default False
        Whether a cell may hold several labels separated by ``,``, ``;``, ``|`` or ``/``; the
        most severe mapped label (vocabulary order) wins. Used for ``gbv_type``.
    """

    def __init__(
        self,
        column: str,
        mapping: Mapping[str, str] | None = None,
        *,
        multi_valued: bool = False,
    ) -> None:
        self.column = column
        self.vocabulary = VOCABULARIES[column]
        self.multi_valued = multi_valued
        self._lookup: dict[str, str] = {v.casefold(): v for v in self.vocabulary}
        for source, target in (mapping or {}).items():
            self._lookup[normalise_text(str(source)).casefold()] = target

    def map(self, cell: str) -> LabelOutcome:
        """Map one source cell.

        Parameters
        ----------
        cell : str
            The raw cell text (not empty).

        Returns
        -------
        LabelOutcome
            The model label, or the unmapped parts of the cell.
        """
        text = normalise_text(cell)
        whole = self._lookup.get(text.casefold())
        if whole is not None or not self.multi_valued:
            return LabelOutcome(whole, () if whole is not None else (text,))
        parts = [p for p in _SEPARATORS.split(text) if p]
        mapped = [self._lookup.get(p.casefold()) for p in parts]
        unmapped = tuple(p for p, m in zip(parts, mapped, strict=True) if m is None)
        known = [m for m in mapped if m is not None]
        if unmapped or not known:
            return LabelOutcome(None, unmapped or (text,))
        return LabelOutcome(min(known, key=self.vocabulary.index))
