"""Reporting diagnostics: panel counts, planted changes recovered, the brief's plain words."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely.geometry import box

from protection_eval.effects.panel import compute_panel
from protection_eval.effects.reporting import (
    compute_median_lags,
    estimate_reporting_diagnostics,
)
from protection_eval.inventory.strategies import (
    CatalogueError,
    default_catalogue_path,
    load_catalogue,
    to_target_location_types,
)
from protection_eval.sharing.brief import BriefInputs, describe_reporting, render_brief
from protection_eval.sharing.i18n import get_language


def _areas(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_id": [f"A{i:02d}" for i in range(n)], "name": [f"Area {i}" for i in range(n)],
         "population": pd.array([1000.0] * n, dtype="Float64")},
        geometry=[box(30 + 0.1 * i, 0, 30.1 + 0.1 * i, 0.1) for i in range(n)], crs="EPSG:4326",
    )


def test_panel_counts_report_delays_channels_and_places():
    incidents = pd.DataFrame({
        "area_id": ["A00", "A00", "A00", "A01"],
        "occurred_at": pd.to_datetime(["2022-01-05T10:00", "2022-01-06T10:00",
                                       "2022-01-07T10:00", "2022-02-01T10:00"], utc=True),
        "reported_at": pd.to_datetime(["2022-01-06T10:00", "2022-01-20T10:00", None,
                                       "2022-02-08T10:00"], utc=True),
        "time_precision": ["time"] * 4,
        "gbv_type": ["rape"] * 4,
        "location_precision": ["exact"] * 4,
        "channel": ["mission", "partner", None, "mission"],
        "location_type": ["home", "water_point", "water_point", None],
    })
    panel = compute_panel(incidents, _areas(2), start="2022-01-01", end="2022-02-28")
    jan = panel[(panel["area_id"] == "A00") & (panel["period_index"] == 0)].iloc[0]
    feb = panel[(panel["area_id"] == "A01") & (panel["period_index"] == 1)].iloc[0]
    assert jan[["reports_lag_known", "reports_within_7d", "reports_mission",
                "reports_partner", "incidents_at_home", "incidents_at_water_point"]].tolist() \
        == [2, 1, 1, 1, 1, 2]
    # Exactly 7 days counts as prompt.
    assert feb[["reports_lag_known", "reports_within_7d", "reports_mission"]].tolist() == [1, 1, 1]
    assert panel.attrs["reporting"] == [
        "reports_lag_known", "reports_within_7d", "reports_mission", "reports_partner",
        "incidents_at_home", "incidents_at_water_point"]


def test_panel_without_reporting_columns_is_unchanged():
    incidents = pd.DataFrame({
        "area_id": ["A00"], "occurred_at": pd.to_datetime(["2022-01-05T10:00"], utc=True),
        "gbv_type": ["rape"], "location_precision": ["exact"],
    })
    panel = compute_panel(incidents, _areas(2), start="2022-01-01", end="2022-02-28")
    assert panel.attrs["reporting"] == []
    assert not [c for c in panel if c.startswith(("reports_", "incidents_at_"))]


def make_reporting_panel(seed: int = 4) -> tuple[pd.DataFrame, str]:
    """40 areas x 24 months, 16 treated from months 6-18, with planted reporting changes.

    Where the strategy is active: incidents at its targets x 0.5, at home x 1.0; the share of
    prompt reports 0.4 -> 0.6 (ratio 1.5); the mission's share of reports 0.5 -> 0.5.
    """
    rng = np.random.default_rng(seed)
    n_areas, n_periods = 40, 24
    level = rng.lognormal(0, 0.3, n_areas)
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(n_periods) / 12)
    starts = np.full(n_areas, -1)
    treated = rng.choice(n_areas, 16, replace=False)
    starts[treated] = rng.integers(6, 19, 16)
    rows = []
    for a in range(n_areas):
        for t in range(n_periods):
            on = starts[a] >= 0 and t >= starts[a]
            lam = level[a] * season[t]
            targets = rng.poisson(6 * lam * (0.5 if on else 1.0))
            home = rng.poisson(4 * lam)
            total = targets + home
            prompt = rng.binomial(total, 0.6 if on else 0.4)
            mission = rng.binomial(total, 0.5)
            rows.append({"area_id": f"A{a:02d}", "period_index": t, "incidents": total,
                         "incidents_at_field_bush": targets, "incidents_at_home": home,
                         "reports_lag_known": total, "reports_within_7d": prompt,
                         "reports_mission": mission, "reports_partner": total - mission,
                         "active_escorts": float(on)})
    panel = pd.DataFrame(rows)
    panel.attrs.update({"strategies": {"escorts": "active_escorts"},
                        "reporting": [c for c in panel if c.startswith(("reports_",
                                                                        "incidents_at_"))]})
    return panel, "active_escorts"


@pytest.fixture(scope="module")
def planted():
    panel, active = make_reporting_panel()
    return estimate_reporting_diagnostics(panel, "escorts", active,
                                          target_location_types=("field_bush", "water_point"))


@pytest.mark.parametrize(("estimand", "truth"), [
    ("reporting_within_7d", 1.5), ("source_mission_share", 1.0),
    ("target_locations", 0.5), ("placebo_home", 1.0),
])
def test_planted_reporting_changes_are_recovered_within_their_intervals(planted, estimand,
                                                                         truth):
    est = planted.estimates[estimand]
    assert est.ci_low <= truth <= est.ci_high, (estimand, est.irr, est.ci_low, est.ci_high)
    assert est.design == "stacked_not_yet_treated" and not est.headline
    assert est.caveats[0].startswith("Reported is not occurred")
    assert est.caveats[1].startswith("Diagnostic")


def test_diagnostics_say_what_they_could_not_estimate():
    panel, active = make_reporting_panel()
    panel = panel.drop(columns=["reports_mission", "reports_partner"])
    panel.attrs["reporting"] = [c for c in panel.attrs["reporting"]
                                if not c.startswith("reports_m") and c != "reports_partner"]
    found = estimate_reporting_diagnostics(panel, "escorts", active)
    assert sorted(found.estimates) == ["reporting_within_7d"]
    assert any("source mix not estimated" in n for n in found.notes)
    assert any("declares no target location types" in n for n in found.notes)


def test_median_lags_before_and_after_roll_out():
    panel, active = make_reporting_panel()
    panel["period"] = pd.period_range("2022-01", periods=24, freq="M").tolist() * 40
    first_treated = panel.loc[panel[active] > 0].groupby("area_id")["period_index"].min()
    area, start = first_treated.index[0], int(first_treated.iloc[0])
    month = pd.Period("2022-01", "M") + start
    incidents = pd.DataFrame({
        "area_id": [area] * 4,
        "occurred_at": pd.to_datetime([str((month - 1).start_time), str((month - 1).start_time),
                                       str(month.start_time), str(month.start_time)], utc=True),
        "time_precision": ["time"] * 4,
    })
    incidents["reported_at"] = incidents["occurred_at"] + pd.to_timedelta([10, 20, 2, 4], "D")
    table = compute_median_lags(incidents, panel, active, timezone="UTC").set_index(
        ["group", "window"])
    assert table.loc[("treated", "before"), "median_lag_days"] == 15
    assert table.loc[("treated", "after"), "median_lag_days"] == 3
    assert table.loc[("treated", "after"), "n_reports"] == 2
    assert table.loc[("comparison", "before"), "n_reports"] == 0


def test_median_lags_when_no_area_is_treated_in_the_window():
    """A reporting-cycle window before any roll-out (issue 26, item 9: `run --period 2022-01`).

    The areas' ids are text (pandas' string dtype): with no treated area, mapping them to first
    treated periods gave a text column, and ``period_index - text`` stopped notebook 03.
    """
    panel, active = make_reporting_panel()
    panel["period"] = pd.period_range("2022-01", periods=24, freq="M").tolist() * 40
    panel["area_id"] = panel["area_id"].astype("str")
    panel = panel[panel["period_index"] == 0].reset_index(drop=True)
    assert not (panel[active] > 0).any()
    incidents = pd.DataFrame({
        "area_id": pd.array(["A00", "A01", "A02"], dtype="str"),
        "occurred_at": pd.to_datetime(["2022-01-05T10:00"] * 3, utc=True),
        "time_precision": ["time"] * 3,
    })
    incidents["reported_at"] = incidents["occurred_at"] + pd.to_timedelta([1, 3, 9], "D")
    table = compute_median_lags(incidents, panel, active, timezone="UTC").set_index(
        ["group", "window"])
    # No treated area: nothing before or after a roll-out, and no comparison window either.
    assert table["n_reports"].tolist() == [0, 0, 0, 0]
    assert table["median_lag_days"].isna().all()


def _row(estimand: str, low: float, high: float) -> dict:
    return {"strategy_id": "firewood-escorts", "estimand": estimand, "irr": (low + high) / 2,
            "ci_low": low, "ci_high": high}


def test_brief_reads_the_diagnostics_together_in_plain_words():
    effects = pd.DataFrame([
        _row("reporting_within_7d", 0.9, 1.2), _row("target_locations", 0.4, 0.7),
        _row("placebo_home", 0.8, 1.3), _row("source_mission_share", 1.1, 1.4),
    ])
    assert describe_reporting(effects, "firewood-escorts") == (
        "How reporting changed there: no slower reporting; the drop is where the strategy acts, "
        "not at home; more reports came through the mission's own channels.")
    french = describe_reporting(effects, "firewood-escorts", get_language("fr"))
    assert french.startswith("Ce qui a changé dans les signalements : pas de signalement plus")


def test_brief_says_when_the_drop_is_at_home_too():
    effects = pd.DataFrame([
        _row("reporting_within_7d", 0.5, 0.8), _row("target_locations", 0.4, 0.7),
        _row("placebo_home", 0.5, 0.8),
    ])
    assert describe_reporting(effects, "firewood-escorts") == (
        "How reporting changed there: reports came later after the incident, so part of the "
        "drop may be delay; reports fell at home too, which points to less reporting rather "
        "than less violence.")


def test_a_suppressed_diagnostic_says_nothing():
    # to_effects_table blanks the interval of a row built on fewer than k incidents.
    effects = pd.DataFrame([
        _row("reporting_within_7d", np.nan, np.nan), _row("target_locations", 0.4, 0.7),
        _row("placebo_home", np.nan, np.nan),
    ])
    assert describe_reporting(effects, "firewood-escorts") == ""
    assert describe_reporting(effects.iloc[:0], "firewood-escorts") == ""


def test_the_brief_page_carries_the_sentence_after_the_headline():
    effects = pd.DataFrame([
        {**_row("deployment", 0.55, 0.8), "headline": True, "caveats": ""},
        _row("reporting_within_7d", 1.1, 1.9), _row("target_locations", 0.3, 0.6),
        _row("placebo_home", 0.8, 1.2),
    ])
    inputs = BriefInputs(mission="T-1", name="Test", period=("2022-01", "2023-12"),
                         synthetic=True, k=5, coverage=None, effects=effects,
                         gaps=pd.DataFrame(), strategy_names={}, map_file=None)
    page = render_brief(inputs)
    assert ("How reporting changed there: reports came sooner after the incident; the drop is "
            "where the strategy acts, not at home.") in page


def test_inventory_declares_target_location_types():
    targets = to_target_location_types(load_catalogue())
    assert targets["firewood-escorts"] == ("field_bush", "water_point")
    assert "market" in targets["market-day-patrols"]
    assert "night-patrols" not in targets


@pytest.mark.parametrize(("types", "words"), [
    (["bush"], "are not location types"), (["home"], "home is the placebo"),
])
def test_inventory_refuses_unknown_or_placebo_target_types(tmp_path, types, words):
    entry = next(s for s in yaml.safe_load(
        (default_catalogue_path() / "escort.yaml").read_text()) if s["id"] == "firewood-escorts")
    entry["target_location_types"] = types
    (tmp_path / "escort.yaml").write_text(yaml.safe_dump([entry]), encoding="utf-8")
    with pytest.raises(CatalogueError, match=words):
        load_catalogue(tmp_path)


def test_diagnostic_rows_and_their_sentence_pass_the_disclosure_audit(planted, tmp_path):
    from protection_eval.effects.mission import MissionEffects
    from protection_eval.io.writers import write_table
    from protection_eval.sharing.audit.folder import audit_shared_folder
    from protection_eval.sharing.forms import to_effects_table

    effects = MissionEffects("T-1", estimates=list(planted.estimates.values()))
    table = to_effects_table(effects)
    assert sorted(table["estimand"]) == sorted(planted.estimates)
    write_table(table, tmp_path / "effects.csv")
    inputs = BriefInputs(mission="T-1", name="Test", period=("2022-01", "2023-12"),
                         synthetic=True, k=5, coverage=None, effects=table,
                         gaps=pd.DataFrame(), strategy_names={}, map_file=None)
    (tmp_path / "brief.html").write_text(render_brief(inputs), encoding="utf-8")
    result = audit_shared_folder(tmp_path, k=5)
    assert result.ok, result.to_frame().to_string()


def test_a_diagnostic_on_fewer_than_k_incidents_is_suppressed(planted):
    from protection_eval.effects.mission import MissionEffects
    from protection_eval.sharing.forms import to_effects_table

    est = planted.estimates["placebo_home"]
    small = type(est)(**{**est.__dict__, "n_incidents": 4})
    table = to_effects_table(MissionEffects("T-1", estimates=[small]))
    assert table[["irr", "ci_low", "ci_high"]].isna().all(axis=None)
    assert table["caveats"].iloc[0] == "Suppressed: fewer than 5 incidents in the model."
