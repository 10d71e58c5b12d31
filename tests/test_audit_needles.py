"""The audit's needles, taken in bulk, are the ones the audit needs (issue 18, section 1).

A run takes the audit's needles from the mission's sources as read: the values of raw
identifying columns, and the GPS fix times (``recorded_at`` is an identifying name). At scale
that is millions of values, so they are taken by distinct value in Arrow, and a column a reader
kept as date-times (GeoParquet fixes) gives seconds found in any ISO writing, not text. These
tests hold that:

- the text needles are exactly those of the former rule, ``str(v).strip()`` of every value
  then the searchable filter, value by value, on cells that trip each step;
- a fix time is caught in a shared file however it is written there, whether the tracks came
  from CSV (the text path) or from GeoParquet (the typed reader), and a shared file with an
  identifying value is still caught;
- neither taking the needles nor building the audit's rules from them makes a Python call per
  ASCII value, which is what made the runner's validation and the audit gate grow with the
  mission.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from protection_eval.io import readers
from protection_eval.sharing.audit import rules
from protection_eval.sharing.audit.folder import RawNeedles, audit_shared_folder, raw_needles_of
from protection_eval.sharing.audit.needles import identifying_needles_of, identifying_values_of

#: Times of three fixes in South Sudan (UTC+02:00 since 2021), as the GPS logged them.
FIX_TIMES = ["2022-01-03 08:00:00", "2022-01-03 08:00:30", "2022-01-03 09:15:00"]
ZONE = "Africa/Juba"


def _by_value(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The former rule: str() of every present value, stripped, then filtered one by one."""
    values: set[str] = set()
    for frame in frames.values():
        for column in frame.columns:
            if column != "source_row" and rules.is_identifying_name(str(column)):
                values.update(str(v).strip() for v in frame[column].dropna())
    return sorted(v for v in values if rules._searchable(v))


# Cells that trip each step: white space Python strips (the ASCII separators \x1c-\x1f, a
# no-break space) or does not (a zero-width space), digits of other scripts, letters and
# digits in 3 characters, decomposed accents, an empty cell, a missing one, repeats.
EDGE_TEXT = [
    " DEMO-A-I000001 ", "DEMO-A-I000001", "\x1cCW-001\x1f", "\u00a0Awut Deng\u00a0",
    "\u200bAwut\u200b", "١٢٣٤٥", "١٢٣٤٥٦", "12345", "123456", " 123456\t", "I01", "é1a",
    "ab1", "abc", "ab", "Cafe\u0301 Juba", "", None, "  ", "x y", "x  y", "\ufeffBOM1",
    "SYNTHETIC NAME 0", "synthetic name 0", "+211 912 345 678",
]


@pytest.mark.parametrize("column", ["survivor_name", "Caseworker Code", "phone"])
def test_text_needles_are_exactly_the_former_rules(column):
    frame = pd.DataFrame({column: pd.Series(EDGE_TEXT, dtype="str"),
                          "source_row": range(len(EDGE_TEXT)),
                          "gbv_type": pd.Series(EDGE_TEXT, dtype="str")})
    frames = {"incidents": frame}
    assert identifying_values_of(frames) == _by_value(frames)
    assert "awut deng" not in identifying_values_of(frames)  # case is kept as read
    assert {"Awut Deng", "\u200bAwut\u200b", "١٢٣٤٥٦", "123456", "I01", "é1a", "ab1",
            "Cafe\u0301 Juba", "+211 912 345 678"} <= set(identifying_values_of(frames))
    assert not {"١٢٣٤٥", "12345", "abc", "ab", "", "DEMO-A-I000001 "} & set(
        identifying_values_of(frames))


def test_columns_that_are_not_text_give_what_str_printed():
    frames = {"incidents": pd.DataFrame({
        "survivor_age": pd.Series([37, 1234567, None], dtype="Int64"),
        "case_id": pd.Series([123456, 123456.0, "A-12", None], dtype=object),
        "caseworker": pd.Series([1.5e6, np.nan, 2_000_000.0]),
    })}
    assert identifying_values_of(frames) == _by_value(frames)
    assert {"1234567", "123456", "123456.0", "1500000.0"} <= set(identifying_values_of(frames))


def _tracks(folder: Path, kind: str) -> pd.DataFrame:
    """A GPS table written as GeoParquet (typed date-times) or CSV, as the reader gives it."""
    times = pd.Series(pd.to_datetime(FIX_TIMES)).dt.tz_localize(ZONE)
    frame = gpd.GeoDataFrame({"patrol_id": ["P1", "P1", "P2"], "recorded_at": times},
                             geometry=[shapely.Point(31.5, 4.8 + i / 100) for i in range(3)],
                             crs="EPSG:4326")
    if kind == "geoparquet":
        path = folder / "tracks.parquet"
        frame.to_parquet(path)
    else:
        path = folder / "tracks.csv"
        pd.DataFrame({"patrol_id": frame["patrol_id"],
                      "recorded_at": [t.isoformat() for t in times],
                      "longitude": frame.geometry.x, "latitude": frame.geometry.y}
                     ).to_csv(path, index=False)
    raw = readers.read_raw_table("patrol_tracks", path).frame
    typed = pd.api.types.is_datetime64_any_dtype(raw["recorded_at"])
    assert typed == (kind == "geoparquet")
    return raw


def _identifying_findings(folder: Path, text: str, found: RawNeedles) -> list[str]:
    shared = folder / "shared"
    shared.mkdir(exist_ok=True)
    (shared / "note.txt").write_text(text, encoding="utf-8")
    result = audit_shared_folder(shared, identifying_values=found.identifying_values,
                                 identifying_times=found.identifying_times)
    return [f.what for f in result.findings if f.kind == "identifying_value"]


@pytest.mark.parametrize("kind", ["csv", "geoparquet"])
@pytest.mark.parametrize("written", [
    "2022-01-03T08:00:00+02:00",   # isoformat: a CSV's cell, the text path's form
    "2022-01-03 08:00:00+02:00",   # str() of a zoned Timestamp: pandas' to_csv and print
    "2022-01-03T06:00:00Z",        # the same instant in UTC (JSON, JavaScript)
    "2022-01-03T06:00:00.000Z",    # ... with milliseconds (JavaScript's toISOString)
    "2022-01-03 08:00:00",         # the wall-clock time alone
    "2022-01-03T08:00:00",
])
def test_a_fix_time_in_a_shared_file_is_found_from_either_reader(tmp_path, kind, written):
    raw = _tracks(tmp_path, kind)
    found = raw_needles_of({"patrol_tracks": raw})
    text = f"Patrol P1 was at the market at {written} with 12 others.\n"
    assert _identifying_findings(tmp_path, text, found) == [written]


@pytest.mark.parametrize("kind", ["csv", "geoparquet"])
def test_times_that_are_not_fix_times_are_not_identifying_values(tmp_path, kind):
    found = raw_needles_of({"patrol_tracks": _tracks(tmp_path, kind)})
    text = ("2022-01-03T08:00:01+02:00 2022-01-03T07:00:00Z 2022-01-03T05:00:00-02:00 "
            "2022-01-04 08:00:00 2022-01-03 08:00 2022-01\n")
    assert _identifying_findings(tmp_path, text, found) == []
    # The wall-clock second of a fix is found whatever offset is written beside it.
    assert _identifying_findings(tmp_path, "2022-01-03 08:00:00+03:00", found) == [
        "2022-01-03 08:00:00+03:00"]


def test_the_text_path_keeps_its_text_needles(tmp_path):
    """A CSV's fix times stay text needles too: none the audit had before is dropped."""
    found = raw_needles_of({"patrol_tracks": _tracks(tmp_path, "csv")})
    assert set(found.identifying_values) == {
        pd.Timestamp(t, tz=ZONE).isoformat() for t in FIX_TIMES}
    assert len(found.identifying_times) == 3


def test_typed_fix_times_are_seconds_found_where_their_former_text_needles_were(tmp_path):
    raw = _tracks(tmp_path, "geoparquet")
    values, times = identifying_needles_of({"patrol_tracks": raw})
    assert values == []
    former = _by_value({"patrol_tracks": raw})
    assert former == [str(pd.Timestamp(t, tz=ZONE)) for t in FIX_TIMES]
    for text in former:
        assert times.find_in(f"x {text}, y") == [text]
    walls = pd.to_datetime(times.wall_seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    assert list(walls) == FIX_TIMES
    assert list(pd.to_datetime(times.utc_seconds, unit="s", utc=True)) == [
        pd.Timestamp(t, tz=ZONE).tz_convert("UTC") for t in FIX_TIMES]


def test_a_typed_time_of_an_unusual_year_stays_a_text_needle():
    frame = pd.DataFrame({"recorded_at": pd.Series(np.array(
        ["0999-12-31T23:00:00", "2022-01-03T08:00:00"], dtype="datetime64[s]"))})
    values, times = identifying_needles_of({"patrol_tracks": frame})
    assert values == ["0999-12-31 23:00:00"]
    assert times.find_in("2022-01-03T08:00:00") == ["2022-01-03T08:00:00"]


def test_an_identifying_value_in_a_shared_file_is_still_caught(tmp_path):
    frame = pd.DataFrame({"Incident ID": ["DEMO-A-I000001", "DEMO-A-I000002"],
                          "Survivor Name": ["Awut Deng", "SYNTHETIC NAME 7"],
                          "Caseworker Code": ["CW-000", "CW-001"]}, dtype="str")
    found = raw_needles_of({"incidents": frame})
    text = "Met awut deng (case DEMO-A-I000002) with CW-001 and synthetic names.\n"
    assert sorted(_identifying_findings(tmp_path, text, found)) == [
        "awut deng", "cw-001", "demo-a-i000002"]
    assert _identifying_findings(tmp_path, "month,reports\n2023-01,12\n", found) == []


def test_needles_and_rules_make_no_python_call_per_ascii_value(monkeypatch):
    """Both steps grow with the distinct values in C, not one rule call per value."""
    calls = []
    original = rules._searchable
    monkeypatch.setattr(rules, "_searchable", lambda v: calls.append(v) or original(v))
    names = pd.Series([f"Name {i}" for i in range(20_000)] + ["Nyakör Deng"], dtype="str")
    ids = pd.Series([f"DEMO-A-I{i:06d}" for i in range(20_000)], dtype="str")
    values = identifying_values_of({"incidents": pd.DataFrame(
        {"survivor_name": names, "incident_id": ids})})
    assert len(values) == 40_001
    built = rules.Rules(identifying_values=pa.array(values))
    assert calls == ["Nyakör Deng", "Nyakör Deng"]  # the one non-ASCII value, once a step
    assert len(built.id_tokens) == 20_000 and len(built.id_phrases) == 20_001
    assert built.identifying_values_in("NAME 9999. and demo-a-i000042") == [
        "demo-a-i000042", "name 9", "name 99", "name 999", "name 9999"]
