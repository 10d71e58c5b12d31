"""The likely-duplicate check keys rows as the former string-and-groupby version did.

``_check_likely_duplicates`` now folds integer codes of the instant, the float bits of the
rounded coordinates, the type and (for rows placed by area only) the area into one code,
instead of printing each part as text and grouping on five columns (issue 10, item 12).
The reference below is the former code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protection_eval.ingest.duplicates import _check_likely_duplicates
from protection_eval.ingest.quarantine import Quarantine


def former(frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine) -> None:
    alive = q.alive & (table["source"] != "")
    parts = {
        "time": lambda: table["occurred_at"].astype(str),
        "lon": lambda: table["longitude"].round(4).astype(str),
        "lat": lambda: table["latitude"].round(4).astype(str),
        "type": lambda: table["gbv_type"].astype(str),
        "area": lambda: table["area_id"].astype(str).where(table["longitude"].isna(), ""),
    }
    codes = pd.DataFrame({name: pd.factorize(part())[0] for name, part in parts.items()},
                         index=table.index)
    key = codes[alive].groupby(list(parts)).ngroup().reindex(table.index)
    first_source = table["source"].where(alive).groupby(key).transform("first")
    first_row = frame["source_row"].where(alive).groupby(key).transform("first")
    repeat = alive & key.duplicated(keep="first") & (table["source"] != first_source)
    q.reject(repeat, "likely_duplicate", "incident_id",
             lambda rows: "same time, place and type as row "
             + first_row[rows].astype("Int64").astype(str)
             + " from source " + first_source[rows].astype(str))


ROW = st.tuples(
    st.sampled_from([None, "2022-01-01T10:00Z", "2022-01-01T10:00:00.000001Z",
                     "2022-01-01T12:00+02:00", "2022-03-05T00:00Z"]),
    st.sampled_from([0.0, -0.0, np.nan, 31.12344, 31.12345, 31.12346, 31.1234, -0.00004]),
    st.sampled_from([0.0, -0.0, np.nan, 4.5, 4.50004, 4.49996]),
    st.sampled_from(["rape", "sexual_assault", None]),
    st.sampled_from(["", "police", "ngo", "clinic"]),
    st.booleans(),
    st.sampled_from(["A1", "A2", None]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_likely_duplicates_equal_the_former_grouping(rows):
    when, lon, lat, kind, source, refused, area = zip(*rows, strict=True)
    index = pd.RangeIndex(len(rows))
    table = pd.DataFrame({
        "occurred_at": pd.to_datetime(list(when), utc=True, format="ISO8601"),
        "longitude": np.array(lon, dtype=float), "latitude": np.array(lat, dtype=float),
        "gbv_type": pd.Series(kind, dtype=object), "source": pd.Series(source, dtype=object),
        "area_id": pd.Series(area, dtype=object),
    }, index=index)
    frame = pd.DataFrame({"source_row": range(2, len(rows) + 2)}, index=index)
    new, old = Quarantine(index), Quarantine(index)
    for q in (new, old):
        q.reject(pd.Series(refused, index=index), "missing_value", "x", "earlier reason")
    _check_likely_duplicates(frame, table, new)
    former(frame, table, old)
    for name in ("reason", "column", "detail"):
        pd.testing.assert_series_equal(getattr(new, name), getattr(old, name), check_exact=True)
