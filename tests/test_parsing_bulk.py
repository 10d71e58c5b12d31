"""The bulk date parser gives exactly what the cell-by-cell parser gives (issue 10, item 12).

``parse_times`` parses the distinct texts a plain ``datetime.strptime`` call answers in bulk
(Arrow regular expressions and integer arithmetic) and the others one by one. The reference
here is the former, cell-by-cell ``parse_times``: every text through ``_parse_cell``, whose
rules hold a source's declared ``date_format`` before ISO 8601 (issue 12): formats that read
ISO-shaped texts otherwise (``%Y-%m-%dT00:00:00`` says a day, ``%Y-%d-%m`` swaps day and
month) are among the generated ones.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protection_eval.ingest import parsing
from protection_eval.ingest.parsing import ParsedTimes, parse_times

FORMATS = [
    None, "excel", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y %H:%M:%S", "%d.%m.%y",
    "%Y%m%d", "%d%m%Y%H%M", "%d-%m-%Y T%H:%M", "%Y/%m/%d %H:%M:%S", "%d/%m/%Y %I:%M %p",
    "%d %b %Y",
    # Formats that also read ISO-shaped texts: the declared one is tried first.
    "%Y-%m-%dT00:00:00", "%Y-%m-%d", "%Y-%d-%m", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%MZ",
]
ZONES = ["Africa/Juba", "Europe/Paris", "America/Port-au-Prince", "UTC"]


def cell_by_cell(cells: pd.Series, *, timezone: str, date_format: str | None) -> ParsedTimes:
    """The former parse_times: every distinct text through _parse_cell."""
    index = cells.index
    codes, uniques = pd.factorize(cells.astype(str))
    parsed = [parsing._parse_cell(str(u).strip(), date_format) for u in uniques]
    found = [p[0] for p in parsed]
    naive = pd.to_datetime(
        [None if v is None or v.tzinfo is not None else v for v in found]
    ).astype("datetime64[ns]")
    aware = pd.to_datetime(
        [None if v is None or v.tzinfo is None else v for v in found], utc=True
    ).astype("datetime64[ns, UTC]")
    localised = naive.tz_localize(
        timezone, ambiguous="NaT", nonexistent="shift_forward"
    ).tz_convert("UTC")
    unique_values = aware.where(aware.notna(), localised)
    values = pd.Series(unique_values[codes], index=index, dtype="datetime64[ns, UTC]")

    def spread(position: int) -> pd.Series:
        column = np.array([p[position] or None for p in parsed], dtype=object)
        return pd.Series(column[codes], index=index, dtype=object)

    precision, reason, detail = spread(1), spread(2), spread(3)
    lost = values.isna() & reason.isna()
    reason[lost] = "date_unparseable"
    detail[lost] = "the local time does not exist or is ambiguous at a clock change"
    return ParsedTimes(values, precision.where(reason.isna()), reason, detail)


def assert_same(cells: list[str], fmt: str | None, zone: str = "Africa/Juba") -> set:
    series = pd.Series(cells, dtype="str")
    new = parse_times(series, timezone=zone, date_format=fmt)
    old = cell_by_cell(series, timezone=zone, date_format=fmt)
    for name in ("values", "precision", "reason", "detail"):
        pd.testing.assert_series_equal(getattr(new, name), getattr(old, name), check_exact=True,
                                       obj=f"{name} of {cells!r} under {fmt!r}")
    return set(old.reason.dropna())


# Texts near the formats: digits of any width, the formats' separators, ASCII spaces other
# than " ", letters, a few non-ASCII digits and spaces, ISO shapes and offsets.
_PIECES = st.sampled_from([
    "0", "1", "2", "3", "5", "9", "00", "01", "12", "13", "24", "29", "30", "31", "59", "60",
    "61", "99", "1600", "1678", "1900", "2022", "2023", "2024", "2261", "2262", "9999", "45000",
    "/", "-", ".", ":", " ", "  ", "\t", "\x0b", "\x1c", "T", "t", "Z", "+02:00", "-0530", "AM",
    "pm", "Mar", "\u0663", "\u00a0", "\u3000", ".5", ",",
])
TEXTS = st.lists(_PIECES, min_size=1, max_size=9).map("".join)
DATEISH = st.builds(
    lambda d, m, y, h, mi, s, sep, tsep: f"{d}{sep}{m}{sep}{y}{tsep}{h}:{mi}:{s}",
    st.integers(0, 32).map(str), st.integers(0, 13).map(str), st.sampled_from(
        ["1677", "1678", "1999", "2000", "2022", "2024", "2261", "2262", "68", "69", "0", "00"]),
    st.integers(0, 24).map(str), st.integers(0, 60).map("{:02d}".format),
    st.integers(0, 62).map(str), st.sampled_from(["/", ".", "-"]),
    st.sampled_from([" ", "  ", "T", "\t", ""]),
)


ISO_TIMES = st.builds(
    lambda y, m, d, sep, h, mi, s, zone: f"{y}-{m:02d}-{d:02d}{sep}{h:02d}:{mi:02d}{s}{zone}",
    st.sampled_from(["1677", "1678", "2022", "2024", "2261", "2262"]), st.integers(0, 13),
    st.integers(0, 32), st.sampled_from(["T", " ", "t"]), st.integers(0, 25),
    st.integers(0, 61), st.sampled_from(["", ":00", ":59", ":60", ":07.5", ":07.123456789"]),
    st.sampled_from(["", "Z", "+02:00", "-0530", "+14:00", "+23:59", "-24:00", "+00:60",
                     "+02", "z"]),
)

ISO_DATES = st.builds(
    lambda y, m, d: f"{y}-{m:02d}-{d:02d}",
    st.sampled_from(["1677", "1678", "2022", "2024", "2261", "2262"]), st.integers(0, 13),
    st.integers(0, 32),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(st.one_of(TEXTS, DATEISH, DATEISH.map(lambda t: t.split("T")[0].split(" ")[0]),
                             ISO_TIMES, ISO_DATES),
                   min_size=1, max_size=40),
    fmt=st.sampled_from(FORMATS),
    zone=st.sampled_from(ZONES),
)
@example(cells=["31/12/2261 00:00", "31/12/2261 00:01", "01/01/1678 00:00"],
         fmt="%d/%m/%Y %H:%M", zone="UTC")
@example(cells=["29/02/2024", "29/02/2023", "31/04/2022", " 5/1/2022", "5/1/2022 "],
         fmt="%d/%m/%Y", zone="Africa/Juba")
@example(cells=["01/01/2022 10:00:60", "01/01/2022 10:00:61", "1/1/2022 9:5:7"],
         fmt="%m/%d/%Y %H:%M:%S", zone="UTC")
@example(cells=["01.02.68", "01.02.69", "1.2.00"], fmt="%d.%m.%y", zone="UTC")
@example(cells=["2261-12-31T00:00+02:00", "2261-12-31T00:01Z", "1678-01-01 00:00-05:00",
                "2022-03-05T10:00", "2022-03-05 10:00:59+0530", "2022-02-29T10:00Z",
                "2022-03-05T24:00", "2022-03-05T10:00:60Z"], fmt=None, zone="Africa/Juba")
@example(cells=["10/03/2024 02:30:00", "03/10/2024 02:30:00", "11/03/2024 01:30:00"],
         fmt="%m/%d/%Y %H:%M:%S", zone="America/Port-au-Prince")
def test_bulk_parse_equals_cell_by_cell(cells, fmt, zone):
    assert_same(cells, fmt, zone)


def test_declared_format_is_read_before_iso_in_bulk():
    cells = ["2014-03-05T00:00:00", "2014-03-05T10:00:00", "2014-03-05", "2014-02-30T00:00:00"]
    reasons = assert_same(cells, "%Y-%m-%dT00:00:00", "UTC")
    parsed = parse_times(pd.Series(cells, dtype="str"), timezone="UTC",
                         date_format="%Y-%m-%dT00:00:00")
    # The declared format says a day; ISO reads the others; 30 February is refused.
    assert list(parsed.precision.fillna("refused")) == ["day", "time", "day", "refused"]
    assert reasons == {"date_unparseable"}
    swapped = parse_times(pd.Series(["2022-05-06", "2022-05-13"], dtype="str"),
                          timezone="UTC", date_format="%Y-%d-%m")
    assert assert_same(["2022-05-06", "2022-05-13"], "%Y-%d-%m", "UTC") == set()
    # 2022-05-06 is 5 June under the declared format; 2022-05-13 (no month 13) is ISO.
    assert list(swapped.values.dt.strftime("%m-%d")) == ["06-05", "05-13"]


def test_every_quarantine_reason_is_reached_and_equal():
    reasons = set()
    reasons |= assert_same(["03/09/2021", "2021-02-30", "12345", "yesterday"], None)
    reasons |= assert_same(["01/01/2300 10:00", "31/02/2022 10:00", "1/1/2022 10:00x",
                            "01/01/2022 10:00"], "%d/%m/%Y %H:%M")
    reasons |= assert_same(["10/03/2024 02:30:00", "03/11/2024 01:30:00"], "%m/%d/%Y %H:%M:%S",
                           "America/Port-au-Prince")
    reasons |= assert_same(["45000", "45000.5", "abc", "9999999"], "excel")
    assert reasons == {"date_ambiguous", "date_unparseable", "date_out_of_range"}


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in (None, "excel")])
@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(TEXTS, DATEISH, ISO_TIMES, ISO_DATES), min_size=1, max_size=30))
def test_fast_strptime_accepts_only_what_strptime_accepts(fmt, texts):
    texts = [t for t in texts if t.isascii()]
    values, ok, matched = parsing._fast_strptime(pa.array(texts, type=pa.string()), fmt)
    for text, value, parsed, may_match in zip(texts, values, ok, matched, strict=True):
        try:
            expected = dt.datetime.strptime(text, fmt)
        except ValueError:
            expected = None
        if not may_match:
            # Refused outright: the texts the ISO rules may then answer.
            assert expected is None, (text, fmt)
        if parsed:
            assert expected is not None and pd.Timestamp(value) == expected, (text, fmt)
        elif expected is not None:
            # Left to the cell-by-cell parser: only a date it cannot hold.
            assert not parsing.EARLIEST_DATE <= expected <= parsing.LATEST_DATE, (text, fmt)


def test_formats_outside_the_bulk_directives_go_cell_by_cell():
    assert parsing._strptime_pattern("%d %b %Y") is None
    assert parsing._strptime_pattern("%d/%m/%Y %I:%M %p") is None
    assert parsing._strptime_pattern("%Y %Y") is None
    assert parsing._strptime_pattern("%d/%m/%Y") is not None


