"""Shapes of known exports turned into canonical columns, before ingestion checks them.

Each step adds text columns to the file's text cells and never parses or repairs a value: a cell
that does not have the expected shape is passed on as it is, so that ingestion quarantines the
row with a reason that shows the cell. The steps are chosen by the source's keys (``geopoint``,
``select_multiple``, ``calendar_year``, ``dates_only``) or, for an export whose shape needs its
own rule, by a named derivation in :data:`DERIVATIONS` that a preset names under ``derive``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from protection_eval.config import SourceSpec
from protection_eval.io.errors import InputFileError
from protection_eval.presets import load_preset

__all__ = ["DERIVATIONS", "apply_export_shape"]

_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00(:00(\.0+)?)?$")
_YEAR = re.compile(r"^\d{4}$")


def _headers(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("source_row", "geometry")]


def _closest(missing: list[str], found: list[str]) -> str:
    """Return ", closest present: ..." for the missing headers that have a close one."""
    pairs = [(m, difflib.get_close_matches(m, found, n=1, cutoff=0.5)) for m in missing]
    close = [f"{m!r} ~ {c[0]!r}" for m, c in pairs if c]
    return f"; closest headers present: {', '.join(close)}" if close else ""


def _need(frame: pd.DataFrame, path: Path, columns: list[str], key: str,
          preset: str | None = None) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = _headers(frame)
        if preset:
            raise InputFileError(
                path, f"preset {preset!r} expects column(s) {missing}, which the file does not "
                f"have{_closest(missing, found)} (found {found})",
                f"Check that this file is the export preset {preset!r} describes, or rename "
                "its columns to the ones it expects",
            )
        raise InputFileError(
            path, f"{key} names column(s) {missing} that the file does not have"
            f"{_closest(missing, found)} (found {found})",
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


#: Columns that tell Geo-PKO's versions apart: v2 (one row per location and year, with the
#: year's mean troops) and the first public version (one row per map).
GEOPKO_V2 = ["location", "year", "NoTroops", "UNPOL", "ave.no.troops"]
GEOPKO_V1 = ["Mission", "year", "month", "location", "No.troops"]


def _geopko_bases(frame: pd.DataFrame, path: Path, preset: str | None = None) -> None:
    """Geo-PKO deployment locations by year, v2 or v1 (told apart by their columns).

    ``base_id`` is the location and the year. In v2 a location appears once a year;
    ``unit_type`` is ``joint`` where troops and UNPOL are both present, ``police`` where only
    UNPOL is, else ``military`` (troops, or military observers); ``personnel`` is the year's mean
    troop number (``ave.no.troops``); 0 (a site without troops) leaves it unknown.

    v1 has a row per map, so several per location and year: the location's maps of one year make
    one base valid that year (as in v2), its ``personnel`` the mean of ``No.troops`` over those
    maps (0 or empty maps left out; unknown when none has troops), written on the first row; the
    other maps' rows repeat its id and are quarantined as ``duplicate_id``, so that every row is
    accounted for. v1 counts troops only: ``unit_type`` is ``military``.
    """
    if all(c in frame.columns for c in GEOPKO_V2):
        _geopko_v2(frame, path)
    elif all(c in frame.columns for c in GEOPKO_V1):
        _geopko_v1(frame, path)
    else:
        found = _headers(frame)
        v2 = [c for c in GEOPKO_V2 if c not in frame.columns]
        v1 = [c for c in GEOPKO_V1 if c not in frame.columns]
        missing = v2 if len(v2) <= len(v1) else v1
        who = f"preset {preset!r}" if preset else "derive: geopko-bases"
        raise InputFileError(
            path, f"{who} reads Geo-PKO v2 (columns {GEOPKO_V2}) or v1 (columns {GEOPKO_V1}); "
            f"this file has neither: {missing} absent{_closest(missing, found)} (found {found})",
            "Check that the file is a Geo-PKO export, or rename its columns to one version's",
        )


def _base_id(frame: pd.DataFrame) -> pd.Series:
    return (frame["location"].astype(str).str.strip() + " "
            + frame["year"].astype(str).str.strip())


def _geopko_v2(frame: pd.DataFrame, path: Path) -> None:
    troops = pd.to_numeric(frame["NoTroops"], errors="coerce").fillna(0) > 0
    police = pd.to_numeric(frame["UNPOL"], errors="coerce").fillna(0) > 0
    mean = frame["ave.no.troops"].astype(str).str.strip()
    _add(frame, path, {
        "base_id": _base_id(frame),
        "unit_type": pd.Series(np.where(troops & police, "joint",
                                        np.where(police, "police", "military")),
                               index=frame.index),
        "personnel": mean.where(~mean.isin(["0", "0.0"]), ""),
    }, "derive")


def _geopko_v1(frame: pd.DataFrame, path: Path) -> None:
    base_id = _base_id(frame)
    troops = pd.to_numeric(frame["No.troops"], errors="coerce")
    mean = troops.where(troops > 0).groupby(base_id).transform("mean")
    first = ~base_id.duplicated()
    personnel = mean.round().astype("Int64").astype(str).where(mean.notna() & first, "")
    _add(frame, path, {
        "base_id": base_id,
        "unit_type": pd.Series("military", index=frame.index),
        "personnel": personnel,
    }, "derive")


def _stated_precision(frame: pd.DataFrame, path: Path, preset: str | None = None) -> None:
    """Write the distance a precision class states ("(2) 25 km Precision": 25 km) in metres.

    Insecurity Insight's ``Geo Precision``: only the class that states a distance gives one;
    the others (district, province, country) leave ``location_uncertainty_m`` empty, and the
    nominal uncertainty of their precision label applies.
    """
    if "Geo Precision" not in frame.columns:
        return  # an optional column: the rows keep their precision label's uncertainty
    km = frame["Geo Precision"].astype(str).str.extract(_KM, expand=False)
    metres = (pd.to_numeric(km, errors="coerce") * 1000).round()
    _add(frame, path, {
        "location_uncertainty_m": metres.astype("Int64").astype(str).where(metres.notna(), ""),
    }, "derive")


_KM = r"(?i)\b(\d+(?:\.\d+)?)\s*km\b"


#: Named derivations a preset may ask for under ``derive``.
DERIVATIONS: dict[str, Callable[..., None]] = {
    "geopko-bases": _geopko_bases,
    "stated-precision": _stated_precision,
}


def _preset_of_derive(spec: SourceSpec) -> str | None:
    """Return the preset a source's ``derive`` comes from (None when the source wrote it)."""
    if not spec.preset:
        return None
    return spec.preset if load_preset(spec.preset).options.get("derive") == spec.derive else None


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
        DERIVATIONS[spec.derive](frame, path, _preset_of_derive(spec))
    return frame
