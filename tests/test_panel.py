import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from protection_eval.coverage.areas import compute_patrol_hours
from protection_eval.coverage.models import COVERAGE_MODELS, CoverageParams
from protection_eval.effects.panel import active_column, compute_panel


def make_areas(population=(1000.0, 2000.0)):
    return gpd.GeoDataFrame(
        {
            "area_id": ["A", "B"],
            "name": ["Alpha", "Beta"],
            "population": pd.array(population, dtype="Float64"),
        },
        geometry=[box(30.0, 0.0, 30.1, 0.1), box(30.1, 0.0, 30.2, 0.1)],
        crs="EPSG:4326",
    )


def make_incidents(rows):
    """rows: (area_id, occurred_at ISO UTC, gbv_type, precision)."""
    frame = pd.DataFrame(rows, columns=["area_id", "occurred_at", "gbv_type", "location_precision"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["incident_id"] = [f"i{i}" for i in range(len(frame))]
    return frame


def make_deployments(rows):
    frame = pd.DataFrame(rows, columns=["strategy_id", "area_id", "started_on", "ended_on"])
    frame["started_on"] = pd.to_datetime(frame["started_on"])
    frame["ended_on"] = pd.to_datetime(frame["ended_on"])
    return frame


def _cell(panel, area, month, col):
    row = panel[(panel["area_id"] == area) & (panel["period"] == pd.Period(month, "M"))]
    return row[col].item()


def test_panel_counts_incidents_by_area_month_and_type():
    incidents = make_incidents(
        [
            ("A", "2022-01-05T10:00", "rape", "exact"),
            ("A", "2022-01-20T10:00", "physical_assault", "settlement"),
            ("B", "2022-02-03T10:00", "rape", "exact"),
        ]
    )
    panel = compute_panel(incidents, make_areas(), start="2022-01-01", end="2022-03-31")
    assert len(panel) == 6
    assert _cell(panel, "A", "2022-01", "incidents") == 2
    assert _cell(panel, "A", "2022-01", "incidents_rape") == 1
    assert _cell(panel, "B", "2022-02", "incidents") == 1
    assert _cell(panel, "B", "2022-03", "incidents") == 0
    assert panel.attrs["exposure_unit"] == "population"


def test_panel_places_incidents_in_the_local_calendar_month():
    # 23:30 UTC on 31 January is 02:30 on 1 February in Nairobi (UTC+3).
    incidents = make_incidents([("A", "2022-01-31T23:30", "rape", "exact")])
    panel = compute_panel(
        incidents, make_areas(), start="2022-01-01", end="2022-02-28", timezone="Africa/Nairobi"
    )
    assert _cell(panel, "A", "2022-01", "incidents") == 0
    assert _cell(panel, "A", "2022-02", "incidents") == 1


def test_panel_leaves_out_coarse_and_unplaced_incidents_and_says_so():
    incidents = make_incidents(
        [
            ("A", "2022-01-05T10:00", "rape", "country"),
            (None, "2022-01-05T10:00", "rape", "exact"),
            ("A", "2022-01-06T10:00", "rape", "admin2"),
        ]
    )
    panel = compute_panel(incidents, make_areas(), start="2022-01-01", end="2022-01-31")
    assert panel["incidents"].sum() == 1
    assert any("province or the country" in n for n in panel.attrs["notes"])
    assert any("outside every area" in n for n in panel.attrs["notes"])


def test_panel_uses_area_as_exposure_when_a_population_is_missing():
    panel = compute_panel(
        make_incidents([]), make_areas(population=(1000.0, None)),
        start="2022-01-01", end="2022-01-31",
    )
    assert panel.attrs["exposure_unit"] == "km2"
    # 0.1 degree squares on the equator are about 11.1 km a side.
    assert panel["exposure"].iloc[0] == pytest.approx(123.0, rel=0.02)


def test_panel_active_share_counts_days_of_the_month():
    deployments = make_deployments(
        [
            ("firewood-escorts", "A", "2022-01-17", None),  # 15 of 31 January days
            ("specialised-police-units", None, "2022-02-01", "2022-02-14"),  # mission-wide
        ]
    )
    panel = compute_panel(
        make_incidents([]), make_areas(), start="2022-01-01", end="2022-03-31",
        deployments=deployments,
    )
    col = active_column("firewood-escorts")
    assert col == "active_firewood_escorts"
    assert _cell(panel, "A", "2022-01", col) == pytest.approx(15 / 31)
    assert _cell(panel, "A", "2022-02", col) == 1.0
    assert _cell(panel, "B", "2022-02", col) == 0.0
    spu = active_column("specialised-police-units")
    assert _cell(panel, "B", "2022-02", spu) == pytest.approx(14 / 28)
    assert _cell(panel, "A", "2022-03", spu) == 0.0
    assert panel.attrs["strategies"]["firewood-escorts"] == col


def _patrol_hours(model, patrols, tracks=None, periods=("2022-01",)):
    """Patrol-hours by the one definition, from a coverage model's presence pieces."""
    crs = "EPSG:32636"
    tables = {"patrols": patrols.to_crs(crs), "bases": None,
              "patrol_tracks": None if tracks is None else tracks.to_crs(crs)}
    presence = COVERAGE_MODELS[model].presence(tables, CoverageParams())
    index = pd.PeriodIndex(list(periods), freq="M")
    edges = index.start_time.append(pd.DatetimeIndex([(index[-1] + 1).start_time]))
    return compute_patrol_hours(presence, make_areas().to_crs(crs), edges=edges)


def make_patrols(started, ended, personnel, women, routes):
    return gpd.GeoDataFrame(
        {
            "patrol_id": [f"p{i + 1}" for i in range(len(started))],
            "unit_type": "military",
            "patrol_type": "routine",
            "started_at": pd.to_datetime(started, utc=True),
            "ended_at": pd.to_datetime(ended, utc=True),
            "personnel": pd.array(personnel, dtype="Int64"),
            "women": pd.array(women, dtype="Int64"),
        },
        geometry=routes,
        crs="EPSG:4326",
    )


def test_patrol_hours_split_route_hours_by_length_and_weight_women_by_hours():
    patrols = make_patrols(
        ["2022-01-03T08:00", "2022-01-04T08:00"], ["2022-01-03T12:00", "2022-01-04T10:00"],
        [10, 10], [5, 0],
        [
            LineString([(30.05, 0.05), (30.15, 0.05)]),  # half in A, half in B, 4 h
            LineString([(30.02, 0.05), (30.08, 0.05)]),  # all in A, 2 h
        ],
    )
    hours = _patrol_hours("routes", patrols).set_index("area_id")
    assert hours.loc["A", "patrol_hours"] == pytest.approx(4.0, rel=1e-3)
    assert hours.loc["B", "patrol_hours"] == pytest.approx(2.0, rel=1e-3)
    # A: 2 h with 5 of 10 women, 2 h with none -> 10 women-hours of 40 personnel-hours.
    assert hours.loc["A", "women_share"] == pytest.approx(0.25, rel=1e-3)


def test_patrol_hours_from_tracks_follow_the_time_between_fixes_across_months():
    patrols = make_patrols(["2022-01-31T22:00"], ["2022-02-01T02:00"], [4], [1], [None])
    # 1 h still in A (30.05 -> 30.06), then 2 h from 30.06 to 30.15 crossing into B at 30.1,
    # and the month turns at midnight UTC during the second leg.
    tracks = gpd.GeoDataFrame(
        {"patrol_id": ["p1"] * 3,
         "recorded_at": pd.to_datetime(["2022-01-31T22:00", "2022-01-31T23:00",
                                        "2022-02-01T01:00"], utc=True)},
        geometry=[Point(30.05, 0.05), Point(30.06, 0.05), Point(30.15, 0.05)],
        crs="EPSG:4326",
    )
    hours = _patrol_hours("tracks", patrols, tracks, periods=("2022-01", "2022-02"))
    table = hours.pivot(index="area_id", columns="period_start", values="patrol_hours")
    jan, feb = pd.Timestamp("2022-01-01"), pd.Timestamp("2022-02-01")
    in_a = 0.04 / 0.09  # share of the second leg's length inside A
    # January: the first leg (1 h in A) and the first hour of the second leg.
    assert table.loc["A", jan] + table.loc["B", jan] == pytest.approx(2.0, rel=1e-3)
    assert table.loc["A", feb] + table.loc["B", feb] == pytest.approx(1.0, rel=1e-3)
    total_a = table.loc["A"].sum()
    assert total_a == pytest.approx(1.0 + 2.0 * in_a, rel=1e-2)
    assert hours["women_share"].dropna().eq(0.25).all()


def test_weekly_and_monthly_panels_use_the_same_patrol_hours(demo_missions):
    from protection_eval.effects.panel import compute_mission_panel
    from protection_eval.runs.missions import load_mission

    data = load_mission(demo_missions[1])
    monthly = compute_mission_panel(data, freq="month", use_coverage=True)
    weekly = compute_mission_panel(data, freq="week")
    assert monthly["patrol_hours"].sum() == pytest.approx(weekly["patrol_hours"].sum(), rel=1e-6)


def test_panel_takes_patrol_measures_and_fills_missing_cells_with_zero_hours():
    presence = pd.DataFrame(
        {"area_id": ["A"], "period": [pd.Period("2022-01", "M")], "patrol_hours": [3.0],
         "women_share": [0.2]}
    )
    panel = compute_panel(
        make_incidents([]), make_areas(), start="2022-01-01", end="2022-02-28",
        patrol_presence=presence,
    )
    assert _cell(panel, "A", "2022-01", "patrol_hours") == 3.0
    assert _cell(panel, "B", "2022-01", "patrol_hours") == 0.0
    assert np.isnan(_cell(panel, "B", "2022-01", "women_share"))
    assert np.isnan(_cell(panel, "A", "2022-01", "footprint_share"))


def test_panel_takes_coverage_measures_with_month_start_timestamps_and_keeps_base_hours_na():
    measures = pd.DataFrame(
        {
            "area_id": ["A", "A", "B", "B"],
            "period": pd.to_datetime(["2022-01-01", "2022-02-01"] * 2),
            "footprint_share": [0.5, 0.25, 0.0, 1.0],
            "population_share": [0.5, 0.25, 0.0, 1.0],
            "patrol_hours": [np.nan] * 4,  # base presence: not patrols
            "women_share": [0.1, 0.2, np.nan, 0.3],
        }
    )
    panel = compute_panel(
        make_incidents([]), make_areas(), start="2022-01-01", end="2022-02-28",
        area_measures=measures,
    )
    assert _cell(panel, "A", "2022-02", "footprint_share") == 0.25
    assert _cell(panel, "B", "2022-02", "women_share") == 0.3
    assert panel["patrol_hours"].isna().all()
    assert not any("footprint not measured" in n for n in panel.attrs["notes"])


def test_panel_keeps_patrol_hours_unknown_in_a_month_without_presence_data():
    """A month the coverage measures hold as NA (no presence data) is not a month of 0 hours."""
    measures = pd.DataFrame(
        {
            "area_id": ["A", "A", "B", "B"],
            "period": pd.to_datetime(["2022-01-01", "2022-02-01"] * 2),
            "footprint_share": [0.5, np.nan, 0.0, np.nan],
            "population_share": [0.5, np.nan, 0.0, np.nan],
            "patrol_hours": [12.0, np.nan, 0.0, np.nan],
            "women_share": [0.1, np.nan, np.nan, np.nan],
        }
    )
    panel = compute_panel(
        make_incidents([]), make_areas(), start="2022-01-01", end="2022-02-28",
        area_measures=measures,
    )
    assert _cell(panel, "A", "2022-01", "patrol_hours") == 12.0
    assert _cell(panel, "B", "2022-01", "patrol_hours") == 0.0
    assert np.isnan(_cell(panel, "A", "2022-02", "patrol_hours"))
    assert np.isnan(_cell(panel, "B", "2022-02", "patrol_hours"))

