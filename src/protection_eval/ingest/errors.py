"""The error of an input that stops a whole mission (kept light: the command imports it early)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protection_eval.ingest.validation import ValidationReport

__all__ = ["MissionInputError"]


class MissionInputError(ValueError):
    """An input that stops a mission: the message names the file, the column and what to do.

    Attributes
    ----------
    report : ValidationReport or None
        What was checked before the mission stopped (with its quarantined rows), when
        anything was; written out like any validation so the rows can be looked at.
    """

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report
