"""Targets for women's participation: a versioned configuration table, validated with pydantic.

The table lives in ``data/targets/`` (YAML). Each entry names the personnel category it applies
to, the share of women it asks for, the year it is due, the years in which it is the target in
force and its source, so a new strategy is one file, not code. Reading the file is
:func:`protection_eval.runs.indicators.load_targets`; this module only validates what was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["Target", "TargetTable", "TargetsError", "to_target_table"]


class TargetsError(ValueError):
    """A targets file that cannot be used; the message names the file, the entry and the fix."""


class Target(BaseModel):
    """One target: a share of women in one personnel category, due in a year."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    strategy: Annotated[str, Field(min_length=1)]
    category: Annotated[str, Field(min_length=1, pattern=r"^[a-z][a-z_]*$")]
    share: Annotated[float, Field(gt=0.0, le=1.0)]
    due_year: Annotated[int, Field(ge=1990, le=2200)] | None = None
    in_force: tuple[int, int]
    kind: Literal["target", "benchmark"] = "target"
    confirmed: bool = True
    source: Annotated[str, Field(min_length=10)]

    @model_validator(mode="after")
    def _ordered(self) -> Target:
        start, end = self.in_force
        if start > end:
            raise ValueError(f"in_force starts after it ends ({start} > {end})")
        return self

    def label(self) -> str:
        """Return a short text for indicator rows: id, kind and confirmation."""
        words = [self.id]
        if self.kind == "benchmark":
            words.append("(benchmark, not a UN target)")
        if not self.confirmed:
            words.append("(unconfirmed)")
        return " ".join(words)


class _TargetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1)]
    updated: str | None = None
    targets: Annotated[list[Target], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> _TargetFile:
        ids = [t.id for t in self.targets]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"target ids must be unique; repeated: {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class TargetTable:
    """The targets of one configuration file.

    Attributes
    ----------
    version : int
        The file's version number.
    targets : tuple of Target
        Every target, in file order.
    origin : str
        Where the table came from (a file name), for messages and notes.
    """

    version: int
    targets: tuple[Target, ...]
    origin: str = ""

    def lookup(self, category: str, year: int) -> Target | None:
        """Return the target in force for ``category`` in ``year``, or None.

        Among the targets in force that year, the one due soonest on or after ``year`` wins; a
        target without a deadline comes after every dated one; when every deadline has passed,
        the latest one (still owed) is used.
        """
        live = [
            t for t in self.targets
            if t.category == category and t.in_force[0] <= year <= t.in_force[1]
        ]
        if not live:
            return None
        ahead = [t for t in live if t.due_year is None or t.due_year >= year]
        if ahead:
            return min(ahead, key=lambda t: (t.due_year is None, t.due_year or 0))
        return max(live, key=lambda t: t.due_year or 0)

    def to_records(self) -> list[dict[str, Any]]:
        """Return one dict per target (for the notes sheet and docs)."""
        return [
            {
                "target_id": t.id,
                "strategy": t.strategy,
                "category": t.category,
                "share": t.share,
                "due_year": t.due_year,
                "in_force_from": t.in_force[0],
                "in_force_to": t.in_force[1],
                "kind": t.kind,
                "confirmed": t.confirmed,
                "source": t.source,
            }
            for t in self.targets
        ]


def to_target_table(document: Any, origin: str = "targets") -> TargetTable:
    """Validate a parsed targets document.

    Parameters
    ----------
    document : Any
        The parsed YAML (a mapping with ``version`` and ``targets``).
    origin : str
        File name, used in messages.

    Returns
    -------
    TargetTable

    Raises
    ------
    TargetsError
        Naming the file, the entry (by number and id) and the field at fault.
    """
    if not isinstance(document, dict):
        raise TargetsError(
            f"{origin}: expected a mapping with 'version' and 'targets', found "
            f"{type(document).__name__}. See data/targets/ for the format."
        )
    try:
        parsed = _TargetFile.model_validate(document)
    except ValidationError as exc:
        entries = document.get("targets") if isinstance(document.get("targets"), list) else []
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(str(p) for p in loc) or "file"
            if len(loc) >= 2 and loc[0] == "targets" and isinstance(loc[1], int):
                entry = entries[loc[1]] if loc[1] < len(entries) else {}
                name = entry.get("id", "?") if isinstance(entry, dict) else "?"
                field = ".".join(str(p) for p in loc[2:]) or "entry"
                where = f"target #{loc[1] + 1} (id {name}), field {field}"
            lines.append(f"  - {where}: {err['msg']}")
        raise TargetsError(
            f"{origin}: {len(lines)} problem(s) in the targets file:\n" + "\n".join(lines)
            + "\nFix the entries named above (see docs/indicators.md)."
        ) from None
    return TargetTable(version=parsed.version, targets=tuple(parsed.targets), origin=origin)
