"""One bad cell never stops a mission: every numeric and date cell is parsed or quarantined.

The property tests feed arbitrary text (and text built to sit on the edges: infinities, huge
integers, years 1 and 9999, Excel serials, offsets) into every numeric and date column of every
table, and check that ingestion never raises and that every row read is accepted or quarantined
with a known reason, its column and a detail sentence.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protection_eval.config import load_mission_config
from protection_eval.ingest.parsing import parse_numbers
from protection_eval.ingest.tables import ingest_mission
from protection_eval.ingest.validation import REASONS
from protection_eval.io.readers import read_raw_table
from protection_eval.model import RawTable
from protection_eval.runs.missions import load_mission

FIXTURE = Path(__file__).parent / "fixtures" / "bad_mission"
TODAY = dt.date(2026, 11, 30)

#: One valid row per table, in the canonical column names, and the cells the tests vary.
VALID_ROWS: dict[str, dict[str, object]] = {
    "areas": {"area_id": "A9", "name": "Extra", "population": "100",
              "geometry": shapely.box(30.0, 5.1, 30.1, 5.2)},
    "patrols": {"patrol_id": "P1", "unit_type": "military", "patrol_type": "routine",
                "started_at": "2022-03-04T08:00:00", "ended_at": "2022-03-04T12:00:00",
                "personnel": "10", "women": "2"},
    "patrol_tracks": {"patrol_id": "P1", "recorded_at": "2022-03-04T09:00:00",
                      "longitude": "30.05", "latitude": "5.05"},
    "bases": {"base_id": "B1", "longitude": "30.02", "latitude": "5.02",
              "valid_from": "2022-01-01", "valid_to": "", "unit_type": "military",
              "personnel": "120", "women": "14"},
    "incidents": {"incident_id": "I1", "occurred_at": "2022-03-05T10:00:00",
                  "longitude": "30.05", "latitude": "5.05", "gbv_type": "rape",
                  "victims": "1"},
    "deployments": {"strategy_id": "firewood-escorts", "area_id": "A1",
                    "started_on": "2022-05-01", "ended_on": ""},
}
NUMERIC_AND_DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "areas": ("population",),
    "patrols": ("started_at", "ended_at", "personnel", "women"),
    "patrol_tracks": ("recorded_at", "longitude", "latitude"),
    "bases": ("valid_from", "valid_to", "personnel", "women", "longitude", "latitude"),
    "incidents": ("occurred_at", "longitude", "latitude", "victims"),
    "deployments": ("started_on", "ended_on"),
}
ID_COLUMNS = {"areas": "area_id", "patrols": "patrol_id", "bases": "base_id",
              "incidents": "incident_id"}
EDGE_CELLS = [
    "1.5", "1e19", "inf", "-inf", "+inf", "Infinity", "nan", "NaN", "-nan", "1e400", "-1e400",
    "99999999999999999999999", "9223372036854775807", "9223372036854775808", "-0", "0",
    "1e-400", "0x10", "1_000", "4,85", "1.234,5", " 12 ", "", "١٢",
    "0001-01-01", "9999-12-31", "1677-09-21", "2262-04-12", "1600-01-01T10:00:00+05:00",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2022-03-05T10:00:00Z",
    "2022-03-05 10:00", "2022-02-30", "03/09/2021", "31/12/9999 23:59", "01/01/0001 00:00",
    "99999", "99999.999", "2958466", "1e10", "-1", "44562", "44562.5",
]


def _cell_text() -> st.SearchStrategy[str]:
    """Arbitrary text, numbers in every spelling, dates and date-times of any year."""
    floats = st.floats(allow_nan=True, allow_infinity=True)
    datetimes = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
    return st.one_of(
        st.sampled_from(EDGE_CELLS),
        st.text(max_size=25),
        floats.map(repr),
        floats.map(lambda x: f"{x:e}"),
        st.integers(-(10**30), 10**30).map(str),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.dates(min_value=dt.date(1, 1, 1)).map(dt.date.isoformat),
        datetimes.map(lambda d: d.isoformat(timespec="seconds")),
        st.tuples(datetimes, st.integers(-14, 14)).map(
            lambda p: p[0].isoformat(timespec="minutes") + f"{p[1]:+03d}:00"),
        datetimes.map(lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d} {d:%H:%M}"),
        st.floats(0, 3_000_000).map(lambda x: f"{x:.3f}".rstrip("0").rstrip(".")),
    )


@pytest.fixture(scope="module")
def base_config():
    return load_mission_config(FIXTURE / "mission.yaml")


@pytest.fixture(scope="module")
def areas_raw() -> RawTable:
    return read_raw_table("areas", FIXTURE / "areas.geojson")


def _raw(table: str, rows: list[dict[str, str]]) -> RawTable:
    frame = pd.DataFrame(rows, dtype=object)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return RawTable(table, Path(f"{table}.csv"), frame)


def _config(base_config, table: str, date_format: str | None, decimal: str):
    sources = base_config.sources.model_copy(update={
        name: getattr(base_config.sources, name).model_copy(
            update={"date_format": date_format, "decimal": decimal, "columns": {},
                    "labels": {}})
        for name in ("incidents", "patrols", "bases", "deployments", "patrol_tracks")
    })
    return base_config.model_copy(update={"sources": sources})


def _ingest(base_config, areas_raw, table, cells, date_format, decimal):
    """Ingest ``table`` with one valid row and one row per dict of cells in ``cells``."""
    valid = VALID_ROWS[table]
    rows = [dict(valid)]
    for i, changes in enumerate(cells):
        row = {**valid, **changes}
        if table in ID_COLUMNS:
            row[ID_COLUMNS[table]] = f"{valid[ID_COLUMNS[table]]}-{i}"
        rows.append(row)
    raw = {"areas": areas_raw}
    if table == "areas":
        raw["areas"] = RawTable("areas", areas_raw.path, pd.concat(
            [areas_raw.frame, _raw("areas", rows).frame.assign(
                source_row=lambda f: f["source_row"] + 100)], ignore_index=True))
    else:
        raw[table] = _raw(table, rows)
    if table == "patrol_tracks":
        raw["patrols"] = _raw("patrols", [VALID_ROWS["patrols"]])
    config = _config(base_config, table, date_format, decimal)
    mission = ingest_mission(config, raw, strategy_ids=["firewood-escorts"], today=TODAY)
    return mission, raw[table]


def _assert_every_row_accounted_for(mission, table: str, raw: RawTable) -> None:
    report = mission.validation.tables[table]
    rejected = mission.validation.rejected[table]
    assert report.rows_read == len(raw.frame)
    assert report.rows_read == report.rows_accepted + report.rows_rejected
    assert report.reconciles
    assert set(rejected["reason"]) <= set(REASONS)
    assert rejected["column"].notna().all() and rejected["detail"].notna().all()
    assert (rejected["detail"].astype(str).str.len() > 0).all()
    accepted_rows = set(getattr(mission, table)["source_row"])
    assert accepted_rows.isdisjoint(rejected["source_row"])
    assert accepted_rows | set(rejected["source_row"]) == set(raw.frame["source_row"])


@pytest.mark.parametrize("table", list(NUMERIC_AND_DATE_COLUMNS))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data(),
       date_format=st.sampled_from([None, "%d/%m/%Y %H:%M", "%Y-%m-%d", "excel"]),
       decimal=st.sampled_from([".", ","]))
def test_any_text_in_any_numeric_or_date_cell_is_accepted_or_quarantined(
    base_config, areas_raw, table, data, date_format, decimal
):
    columns = NUMERIC_AND_DATE_COLUMNS[table]
    cells = data.draw(st.lists(
        st.fixed_dictionaries({c: _cell_text() for c in columns}), min_size=1, max_size=4))
    mission, raw = _ingest(base_config, areas_raw, table, cells, date_format, decimal)
    _assert_every_row_accounted_for(mission, table, raw)


@pytest.mark.parametrize(
    ("table", "column", "cell", "reason"),
    [
        ("incidents", "victims", "1.5", "not_whole_number"),
        ("incidents", "victims", "1e19", "number_out_of_range"),
        ("incidents", "victims", "inf", "not_finite"),
        ("incidents", "victims", "99999999999999999999999", "number_out_of_range"),
        ("incidents", "victims", "0", "number_out_of_range"),
        ("incidents", "occurred_at", "0001-01-01", "date_out_of_range"),
        ("incidents", "occurred_at", "9999-12-31T23:00:00+05:00", "date_out_of_range"),
        ("incidents", "longitude", "inf", "not_finite"),
        ("incidents", "longitude", "-inf", "not_finite"),
        ("incidents", "latitude", "nan", "not_finite"),
        ("incidents", "latitude", "1e400", "not_finite"),
        ("patrols", "personnel", "1e19", "number_out_of_range"),
        ("patrols", "women", "2.5", "not_whole_number"),
        ("patrols", "women", "-inf", "not_finite"),
        ("patrols", "started_at", "0001-01-01T08:00:00", "date_out_of_range"),
        ("patrols", "ended_at", "2262-04-12T00:00:00", "date_out_of_range"),
        ("bases", "personnel", "1e30", "number_out_of_range"),
        ("bases", "valid_from", "0001-01-01", "date_out_of_range"),
        ("bases", "valid_to", "9999-12-31", "date_out_of_range"),
        ("bases", "longitude", "Infinity", "not_finite"),
        ("areas", "population", "1e400", "not_finite"),
        ("areas", "population", "1e19", "number_out_of_range"),
        ("patrol_tracks", "recorded_at", "0001-01-01T00:00:00", "date_out_of_range"),
        ("deployments", "started_on", "0001-01-01", "date_out_of_range"),
    ],
)
def test_bad_cell_quarantines_its_row_with_its_own_reason(
    base_config, areas_raw, table, column, cell, reason
):
    mission, raw = _ingest(base_config, areas_raw, table, [{column: cell}], None, ".")
    rejected = mission.validation.rejected[table].set_index("source_row")
    bad_row = int(raw.frame["source_row"].iloc[-1])
    assert rejected.loc[bad_row, "reason"] == reason
    assert rejected.loc[bad_row, "column"] == column
    detail = rejected.loc[bad_row, "detail"]
    assert column in detail and cell in detail
    assert any(word in detail for word in ("correct", "leave the cell empty", "give"))
    assert bad_row not in set(getattr(mission, table)["source_row"])
    _assert_every_row_accounted_for(mission, table, raw)


def test_numbers_keep_nan_where_refused():
    parsed = parse_numbers(pd.Series(["inf", "1e400", "nan", "two", "", "-3.5"]))
    assert list(parsed.reason.fillna("")) == [
        "not_finite", "not_finite", "not_finite", "invalid_number", "", ""]
    assert parsed.values.isna().tolist() == [True, True, True, True, True, False]
    assert "too large" in parsed.detail[1]


def test_the_issue_cells_quarantine_through_validate(tmp_path):
    """The five cells of issue 10 item 6, read from a CSV file as a user's mission would."""
    folder = tmp_path / "mission"
    shutil.copytree(FIXTURE, folder)
    path = folder / "incidents.csv"
    incidents = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    good = incidents.iloc[0]
    extra = []
    for i, (column, cell) in enumerate([("victims", "1.5"), ("victims", "1e19"),
                                        ("victims", "inf"),
                                        ("victims", "99999999999999999999999"),
                                        ("Date", "0001-01-01"), ("longitude", "inf")]):
        row = good.copy()
        row["incident_id"] = f"X{i}"
        row[column] = cell
        extra.append(row)
    pd.concat([incidents, pd.DataFrame(extra)]).to_csv(path, index=False)
    mission = load_mission(folder / "mission.yaml")
    rejected = mission.validation.rejected["incidents"].set_index("incident_id")
    assert rejected.loc[[f"X{i}" for i in range(6)], "reason"].tolist() == [
        "not_whole_number", "number_out_of_range", "not_finite", "number_out_of_range",
        "date_out_of_range", "not_finite"]
    assert rejected.loc["X4", "source_row"] == len(incidents) + 2 + 4
    assert mission.validation.tables["incidents"].reconciles
