"""Attribute columns of spatial files become text in bulk, as the former cell-by-cell code did.

``io.readers._attribute_text`` converts a GeoParquet / GeoPackage / GeoJSON attribute column
to text without a Python call per cell (issue 18, section 1: a GPS table of millions of
fixes spent most of its reading time there). The reference is the former conversion:
``isoformat()`` of each date, ``str()`` of every other value, "" where missing.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protection_eval.io.readers import _attribute_text


def former(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.map(lambda v: "" if pd.isna(v) else v.isoformat())
    else:
        text = values.map(lambda v: "" if v is None or (v != v) else str(v))
    return text.astype(str)


def assert_same(values: pd.Series) -> None:
    pd.testing.assert_series_equal(_attribute_text(values), former(values), check_exact=True)


# Nanoseconds from 1678 to 2261, with round seconds, microseconds and nanoseconds.
TICKS = st.one_of(
    st.integers(-9_200_000_000, 9_200_000_000).map(lambda s: s * 1_000_000_000),
    st.integers(-9_200_000_000_000_000, 9_200_000_000_000_000).map(lambda u: u * 1000),
    st.integers(-9_200_000_000_000_000_000, 9_200_000_000_000_000_000),
    st.none(),
)
ZONES = st.sampled_from([None, "UTC", "Africa/Juba", "America/Port-au-Prince",
                         "Asia/Kathmandu", "Europe/Paris", "America/St_Johns"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks=st.lists(TICKS, min_size=1, max_size=30), zone=ZONES)
@example(ticks=[-2_208_988_800_000_000_000, 0, None, 1, 500_000_000, -1, -1_000],
         zone="Africa/Juba")
def test_dates_are_written_as_isoformat(ticks, zone):
    values = pd.Series(pd.to_datetime([pd.NaT if t is None else t for t in ticks], unit="ns"))
    if zone is not None:
        values = values.dt.tz_localize("UTC").dt.tz_convert(zone)
    assert_same(values)
    assert_same(values.dt.as_unit("us").dt.floor("us"))


FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.1, -0.0, 1e16, 1e-5, 123456789.123, 5.0, 1 / 3]))


@settings(max_examples=200, deadline=None)
@given(floats=st.lists(FLOATS, min_size=1, max_size=30),
       ints=st.lists(st.integers(-2**63, 2**63 - 1), min_size=1, max_size=30),
       flags=st.lists(st.booleans(), min_size=1, max_size=10),
       texts=st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1, max_size=30))
def test_numbers_flags_and_text_are_written_as_str(floats, ints, flags, texts):
    assert_same(pd.Series(floats, dtype="float64"))
    assert_same(pd.Series(ints, dtype="int64"))
    assert_same(pd.Series(flags, dtype=bool))
    assert_same(pd.Series(texts, dtype="str"))
    assert_same(pd.Series(texts, dtype=object))
    assert_same(pd.Series([1.5, None, "x", 3], dtype=object))


def test_a_missing_date_and_an_early_local_mean_time_offset():
    values = pd.Series(pd.to_datetime(["1900-01-01T00:00:00.5", None])).dt.tz_localize(
        "Africa/Juba")
    assert list(_attribute_text(values)) == ["1900-01-01T00:00:00.500000+02:06:28", ""]
    assert_same(values)
