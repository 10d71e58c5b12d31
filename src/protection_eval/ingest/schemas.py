"""pandera models of the canonical tables, checked once when ingestion hands tables over.

Row-level problems in field data are quarantined by :mod:`protection_eval.ingest.tables` before
these models run, so a failure here means a defect in the library, not bad input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import shapely

from protection_eval.labels import (
    CHANNELS,
    GBV_TYPES,
    LOCATION_PRECISIONS,
    LOCATION_TYPES,
    PATROL_TYPES,
    SURVIVOR_GROUPS,
    TIME_PRECISIONS,
    UNIT_TYPES,
)

UTC = "datetime64[ns, UTC]"
DATE = "datetime64[ns]"


#: shapely's type ids (``shapely.get_type_id``; -1 is a missing geometry).
_TYPE_IDS = {"Point": 0, "LineString": 1, "LinearRing": 2, "Polygon": 3, "MultiPoint": 4,
             "MultiLineString": 5, "MultiPolygon": 6, "GeometryCollection": 7}


def _geometry(*kinds: str, nullable: bool = False) -> pa.Column:
    wanted = [_TYPE_IDS[kind] for kind in kinds] + ([-1] if nullable else [])

    def check(series: pd.Series) -> pd.Series:
        # One call for the column, not a geom_type per row (millions of GPS fixes).
        types = shapely.get_type_id(np.asarray(series, dtype=object))
        return pd.Series(np.isin(types, wanted), index=series.index)

    return pa.Column(checks=pa.Check(check, error=f"geometry must be {kinds}"), nullable=nullable)


def _each_once(series: pd.Series) -> pd.Series:
    """Mark the values no other row repeats (pandera's ``unique``, as every repeat fails).

    By sorting the column's Arrow text, not hashing it: pandas' and Arrow's hash tables hold
    each distinct text again (on 1.4 M incident ids, some 250 MB more than the column, the
    largest allocation of ``validate``); sorting holds an index and a sorted copy.
    """
    values = series.array
    text = (values.__arrow_array__() if hasattr(values, "__arrow_array__")
            else pyarrow.array(np.asarray(values, dtype=object), from_pandas=True))
    ordered = text.take(pc.sort_indices(text))
    repeats = len(ordered) > 1 and pc.any(
        pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))).as_py()
    if repeats or series.isna().sum() > 1:
        return ~series.duplicated(keep=False)
    return pd.Series(True, index=series.index)


def _ids(unique: bool = True) -> pa.Column:
    checks = [pa.Check.str_length(min_value=1)]
    if unique:
        checks.append(pa.Check(_each_once, error="values must be unique"))
    return pa.Column(str, checks)


def _labels(values: tuple[str, ...], nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values), nullable=nullable)


def _women_within_personnel(frame: pd.DataFrame) -> pd.Series:
    return frame["women"].isna() | frame["personnel"].isna() | (
        frame["women"] <= frame["personnel"]
    )


_LONGITUDE = pa.Column(float, pa.Check.in_range(-180, 180))
_LATITUDE = pa.Column(float, pa.Check.in_range(-90, 90))
_PERSONNEL = pa.Column("Int64", pa.Check.ge(1), nullable=True)
_WOMEN = pa.Column("Int64", pa.Check.ge(0), nullable=True)
_SOURCE_ROW = pa.Column("int64", pa.Check.ge(1))

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "areas": pa.DataFrameSchema(
        {
            "area_id": _ids(),
            "name": pa.Column(str),
            "population": pa.Column("Float64", pa.Check.ge(0), nullable=True),
            "source_row": _SOURCE_ROW,
            "geometry": _geometry("Polygon", "MultiPolygon"),
        },
        strict=True,
    ),
    "patrols": pa.DataFrameSchema(
        {
            "patrol_id": _ids(),
            "unit_type": _labels(UNIT_TYPES),
            "patrol_type": _labels(PATROL_TYPES),
            "started_at": pa.Column(UTC),
            "ended_at": pa.Column(UTC),
            "personnel": _PERSONNEL,
            "women": _WOMEN,
            "source_row": _SOURCE_ROW,
            "geometry": _geometry("LineString", "MultiLineString", nullable=True),
        },
        checks=[
            pa.Check(lambda f: f["ended_at"] >= f["started_at"], error="ended before started"),
            pa.Check(_women_within_personnel, error="women > personnel"),
        ],
        strict=True,
    ),
    "patrol_tracks": pa.DataFrameSchema(
        {
            "patrol_id": _ids(unique=False),
            "recorded_at": pa.Column(UTC),
            # Coordinates (EPSG:4326), no point geometry: strict, so a shapely point per fix
            # (most of a process's memory at millions of fixes) cannot come back unnoticed.
            "longitude": _LONGITUDE,
            "latitude": _LATITUDE,
            "source_row": _SOURCE_ROW,
        },
        strict=True,
    ),
    "bases": pa.DataFrameSchema(
        {
            # Unique per calendar year when bases are published by year (see tables.py).
            "base_id": _ids(unique=False),
            "unit_type": _labels(UNIT_TYPES),
            "valid_from": pa.Column(DATE),
            "valid_to": pa.Column(DATE, nullable=True),
            "personnel": _PERSONNEL,
            "women": _WOMEN,
            "longitude": _LONGITUDE,
            "latitude": _LATITUDE,
            "source_row": _SOURCE_ROW,
            "geometry": _geometry("Point"),
        },
        checks=[pa.Check(_women_within_personnel, error="women > personnel")],
        strict=True,
    ),
    "incidents": pa.DataFrameSchema(
        {
            "incident_id": _ids(),
            "occurred_at": pa.Column(UTC),
            "occurred_until": pa.Column(UTC, nullable=True),
            "time_precision": _labels(TIME_PRECISIONS),
            "location_precision": _labels(LOCATION_PRECISIONS),
            "gbv_type": _labels(GBV_TYPES),
            "area_id": pa.Column(str, nullable=True),
            "source": pa.Column(str, nullable=True),
            "perpetrator_type": pa.Column(str, nullable=True),
            "victims": pa.Column("Int64", pa.Check.ge(1), nullable=True),
            # A location uncertainty the source states (25 km), NaN where it states none.
            "location_uncertainty_m": pa.Column(float, pa.Check.gt(0), nullable=True,
                                                required=False),
            # Optional reporting columns (empty when the source has none): the report date,
            # where it happened, a coarse survivor group (never an age), the source's channel
            # and the other sources that reported the same incident (capture-recapture).
            "reported_at": pa.Column(UTC, nullable=True),
            "location_type": _labels(LOCATION_TYPES, nullable=True),
            "survivor_group": _labels(SURVIVOR_GROUPS, nullable=True),
            "channel": _labels(CHANNELS, nullable=True),
            "matched_sources": pa.Column(str, nullable=True),
            # Coordinates (EPSG:4326), no point geometry, as for the GPS fixes: strict, so a
            # shapely point per incident cannot come back unnoticed. No coordinates for rows
            # located only by their area.
            "longitude": pa.Column(float, pa.Check.in_range(-180, 180), nullable=True),
            "latitude": pa.Column(float, pa.Check.in_range(-90, 90), nullable=True),
            "source_row": _SOURCE_ROW,
        },
        checks=[pa.Check(lambda f: f["longitude"].notna() | (f["location_precision"] == "area"),
                         error="only rows located by their area lack coordinates")],
        strict=True,
    ),
    "deployments": pa.DataFrameSchema(
        {
            "strategy_id": pa.Column(str, pa.Check.str_length(min_value=1)),
            "area_id": pa.Column(str, pa.Check.str_length(min_value=1)),
            "started_on": pa.Column(DATE),
            "ended_on": pa.Column(DATE, nullable=True),
            "source_row": _SOURCE_ROW,
        },
        strict=True,
    ),
    "incident_counts": pa.DataFrameSchema(
        {
            "area_id": pa.Column(str, pa.Check.str_length(min_value=1)),
            "month": pa.Column(DATE, pa.Check(lambda m: m.dt.day == 1, element_wise=False)),
            "gbv_type": _labels((*GBV_TYPES, "total")),
            "count_low": pa.Column("Int64", pa.Check.ge(0)),
            "count_high": pa.Column("Int64", pa.Check.ge(0)),
            "source": pa.Column(str, pa.Check.str_length(min_value=1)),
            "source_row": _SOURCE_ROW,
        },
        checks=[pa.Check(lambda f: f["count_high"] >= f["count_low"],
                         error="count_high below count_low")],
        strict=True,
    ),
}


def validate_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a canonical table against its pandera model and return it.

    Parameters
    ----------
    name : str
        Table name, a key of :data:`SCHEMAS`.
    frame : pandas.DataFrame
        The accepted rows from ingestion.

    Returns
    -------
    pandas.DataFrame
        The same frame, once it passes.

    Raises
    ------
    pandera.errors.SchemaErrors
        When a table breaks its model (a defect in ingestion, since rows were checked).
    """
    # In place: nothing is coerced, and a copy of a table of millions of GPS fixes would
    # be checked only to be thrown away.
    return SCHEMAS[name].validate(frame, lazy=True, inplace=True)
