import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from protection_eval.effects.panel import active_column, compute_panel, compute_patrol_presence


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


def test_patrol_presence_splits_route_hours_by_length_and_weights_women_by_hours():
    patrols = gpd.GeoDataFrame(
        {
            "patrol_id": ["p1", "p2"],
            "started_at": pd.to_datetime(["2022-01-03T08:00", "2022-01-04T08:00"], utc=True),
            "ended_at": pd.to_datetime(["2022-01-03T12:00", "2022-01-04T10:00"], utc=True),
            "personnel": pd.array([10, 10], dtype="Int64"),
            "women": pd.array([5, 0], dtype="Int64"),
        },
        geometry=[
            LineString([(30.05, 0.05), (30.15, 0.05)]),  # half in A, half in B, 4 h
            LineString([(30.02, 0.05), (30.08, 0.05)]),  # all in A, 2 h
        ],
        crs="EPSG:4326",
    )
    presence = compute_patrol_presence(patrols, make_areas())
    a = presence[presence["area_id"] == "A"].iloc[0]
    b = presence[presence["area_id"] == "B"].iloc[0]
    assert a["patrol_hours"] == pytest.approx(4.0, rel=1e-3)
    assert b["patrol_hours"] == pytest.approx(2.0, rel=1e-3)
    # A: 2 h with 5 of 10 women, 2 h with none -> 10 women-hours of 40 personnel-hours.
    assert a["women_share"] == pytest.approx(0.25, rel=1e-3)
    assert presence.attrs["unplaced_patrols"] == 0


def test_patrol_presence_prefers_tracks_and_counts_unplaced_patrols():
    patrols = gpd.GeoDataFrame(
        {
            "patrol_id": ["p1", "p2"],
            "started_at": pd.to_datetime(["2022-01-03T08:00", "2022-01-03T08:00"], utc=True),
            "ended_at": pd.to_datetime(["2022-01-03T11:00", "2022-01-03T11:00"], utc=True),
            "personnel": pd.array([4, 4], dtype="Int64"),
            "women": pd.array([1, 1], dtype="Int64"),
        },
        geometry=[None, None],
        crs="EPSG:4326",
    )
    tracks = gpd.GeoDataFrame(
        {"patrol_id": ["p1", "p1", "p1"]},
        geometry=[Point(30.05, 0.05), Point(30.06, 0.05), Point(30.15, 0.05)],
        crs="EPSG:4326",
    )
    presence = compute_patrol_presence(patrols, make_areas(), patrol_tracks=tracks)
    hours = presence.set_index("area_id")["patrol_hours"]
    assert hours["A"] == pytest.approx(2.0)
    assert hours["B"] == pytest.approx(1.0)
    assert presence.attrs["unplaced_patrols"] == 1


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
