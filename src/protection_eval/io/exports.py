"""Shapes of known exports turned into canonical columns, before ingestion checks them.

Each step adds text columns to the file's text cells and never parses or repairs a value: a cell
that does not have the expected shape is passed on as it is, so that ingestion quarantines the
row with a reason that shows the cell. The steps are chosen by the source's keys (``geopoint``,
``select_multiple``, ``calendar_year``, ``dates_only``) or, for an export whose shape needs its
own rule, by a named derivation in :data:`DERIVATIONS` that a preset names under ``derive``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from protection_eval.config import SourceSpec
from protection_eval.io.errors import InputFileError

__all__ = ["DERIVATIONS", "apply_export_shape"]

_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00(:00(\.0+)?)?$")
_YEAR = re.compile(r"^\d{4}$")


def _need(frame: pd.DataFrame, path: Path, columns: list[str], key: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = [c for c in frame.columns if c not in ("source_row", "geometry")]
        raise InputFileError(
            path, f"{key} names column(s) {missing} that the file does not have (found {found})",
            f"Correct `{key}` of this source in the mission YAML",
        )


def _add(frame: pd.DataFrame, path: Path, values: dict[str, pd.Series], key: str) -> None:
    clash = [c for c in values if c in frame.columns]
    if clash:
        raise InputFileError(
            path, f"{key} would write column(s) {clash}, which the file already has",
            f"Drop `{key}` from this source, or rename the file's own column(s)",
        )
    for column, series in values.items():
        frame[column] = series


def _split_geopoint(frame: pd.DataFrame, path: Path, column: str) -> None:
    """Split KoBo's "lat lon altitude accuracy" into latitude and longitude (as text)."""
    _need(frame, path, [column], "geopoint")
    parts = frame[column].astype(str).str.strip().str.split(r"\s+", n=3, expand=True)
    parts = parts.reindex(columns=range(2)).fillna("")
    one_part = parts[1] == ""
    # A cell that is not "lat lon ..." goes whole into latitude: ingestion then refuses it and
    # shows it, rather than a fragment of it.
    latitude = frame[column].astype(str).str.strip().where(one_part, parts[0])
    _add(frame, path, {"latitude": latitude, "longitude": parts[1]}, "geopoint")


def _select_multiple(frame: pd.DataFrame, path: Path, columns: list[str]) -> None:
    """Write KoBo's space-separated choices as the comma-separated cells labels already split."""
    _need(frame, path, columns, "select_multiple")
    for column in columns:
        frame[column] = frame[column].astype(str).str.strip().str.replace(r"\s+", ", ",
                                                                          regex=True)


def _calendar_year(frame: pd.DataFrame, path: Path, column: str) -> None:
    """Derive valid_from = 1 January and valid_to = 31 December from a calendar-year column."""
    _need(frame, path, [column], "calendar_year")
    year = frame[column].astype(str).str.strip()
    whole = year.str.fullmatch(_YEAR.pattern)
    _add(frame, path, {
        "valid_from": (year + "-01-01").where(whole, year),
        "valid_to": (year + "-12-31").where(whole, ""),
    }, "calendar_year")


def _dates_only(frame: pd.DataFrame, path: Path, columns: list[str]) -> None:
    """Keep the day of a midnight date-time that stands for a calendar day."""
    _need(frame, path, columns, "dates_only")
    for column in columns:
        text = frame[column].astype(str).str.strip()
        frame[column] = text.str.replace(_MIDNIGHT, r"\1", regex=True)


def _geopko_bases(frame: pd.DataFrame, path: Path) -> None:
    """Geo-PKO deployment locations by year: a base id, a unit type and troops per row.

    ``base_id`` is the location and the year (a location appears once a year; a repeat is
    quarantined as a duplicate id). ``unit_type`` is ``joint`` where troops and UNPOL are both
    present, ``police`` where only UNPOL is, else ``military`` (troops, or military observers).
    ``personnel`` is the year's mean troop number; 0 (a site without troops) leaves it unknown.
    """
    _need(frame, path, ["location", "year", "NoTroops", "UNPOL", "ave.no.troops"], "derive")
    troops = pd.to_numeric(frame["NoTroops"], errors="coerce").fillna(0) > 0
    police = pd.to_numeric(frame["UNPOL"], errors="coerce").fillna(0) > 0
    mean = frame["ave.no.troops"].astype(str).str.strip()
    _add(frame, path, {
        "base_id": frame["location"].astype(str).str.strip() + " "
        + frame["year"].astype(str).str.strip(),
        "unit_type": pd.Series(np.where(troops & police, "joint",
                                        np.where(police, "police", "military")),
                               index=frame.index),
        "personnel": mean.where(~mean.isin(["0", "0.0"]), ""),
    }, "derive")


#: Named derivations a preset may ask for under ``derive``.
DERIVATIONS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "geopko-bases": _geopko_bases,
}


def apply_export_shape(frame: pd.DataFrame, path: Path, spec: SourceSpec) -> pd.DataFrame:
    """Return the file's text cells with the columns its export shape implies.

    Parameters
    ----------
    frame : pandas.DataFrame
        Text cells as read, with ``source_row``.
    path : Path
        The file, for messages.
    spec : SourceSpec
        The source's keys (after its preset).

    Returns
    -------
    pandas.DataFrame
        A copy with derived text columns added (``latitude``/``longitude`` from a geopoint,
        ``valid_from``/``valid_to`` from a year ...), or the frame itself when there are none.

    Raises
    ------
    InputFileError
        A key names a column the file does not have, or would overwrite one it has.
    """
    steps = (spec.geopoint, spec.select_multiple, spec.calendar_year, spec.dates_only,
             spec.derive)
    if not any(steps):
        return frame
    frame = frame.copy()
    if spec.dates_only:
        _dates_only(frame, path, spec.dates_only)
    if spec.select_multiple:
        _select_multiple(frame, path, spec.select_multiple)
    if spec.geopoint:
        _split_geopoint(frame, path, spec.geopoint)
    if spec.calendar_year:
        _calendar_year(frame, path, spec.calendar_year)
    if spec.derive:
        if spec.derive not in DERIVATIONS:
            raise InputFileError(
                path, f"derive names {spec.derive!r}, which is not a known derivation",
                f"Use one of {sorted(DERIVATIONS)}",
            )
        DERIVATIONS[spec.derive](frame, path)
    return frame
