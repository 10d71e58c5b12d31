"""Spill-over rings in the stacked design: contiguity, exposure, planted ratios recovered."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from protection_eval.effects.count_models import NotEstimable
from protection_eval.effects.displacement import (
    DISPLACEMENT_DESIGN,
    NET_ESTIMAND,
    compute_contiguity,
    compute_ring_distances,
    compute_ring_exposure,
    compute_true_net_ratio,
    estimate_displacement,
    grid_contiguity,
    make_spillover_panel,
    to_net_change_table,
)
from protection_eval.effects.event_study import estimate_stacked_effect
from protection_eval.effects.mission import estimate_mission_effects
from protection_eval.effects.vocabulary import CAVEATS
from protection_eval.sharing.brief import describe_displacement, render_brief
from protection_eval.sharing.forms import to_effects_table
from protection_eval.sharing.i18n import get_language

ACTIVE = "active_test_strategy"


def make_boxes(width: int, height: int, size_m: float = 1_000.0, gap_m: float = 0.0):
    """Square areas in UTM zone 36N, ``gap_m`` apart."""
    step = size_m + gap_m
    boxes = [shapely.box(500_000 + i * step, 400_000 + j * step,
                         500_000 + i * step + size_m, 400_000 + j * step + size_m)
             for j in range(height) for i in range(width)]
    return gpd.GeoDataFrame({"area_id": [f"S{k:04d}" for k in range(len(boxes))]},
                            geometry=boxes, crs="EPSG:32636").to_crs("EPSG:4326")


def make_strip_panel(shares: dict[str, list[float]]) -> pd.DataFrame:
    """A panel of a few areas in a row with the given active shares per period."""
    rows = [{"area_id": a, "period_index": t, ACTIVE: v}
            for a, values in shares.items() for t, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_areas_touching_at_an_edge_or_a_corner_are_neighbours():
    found = compute_contiguity(make_boxes(3, 3))
    assert found == grid_contiguity(3, 3)
    assert len(found["S0004"]) == 8 and found["S0000"] == ("S0001", "S0003", "S0004")


def test_a_sliver_between_boundaries_still_touches_but_a_gap_does_not():
    assert compute_contiguity(make_boxes(2, 1, gap_m=10.0))["S0000"] == ("S0001",)
    assert compute_contiguity(make_boxes(2, 1, gap_m=500.0))["S0000"] == ()


def test_ring_distances_count_steps_on_the_contiguity_graph():
    distances = compute_ring_distances(grid_contiguity(5, 1), rings=2)
    assert distances["S0000"] == {"S0001": 1, "S0002": 2}
    assert distances["S0002"] == {"S0001": 1, "S0003": 1, "S0000": 2, "S0004": 2}


def test_exposure_is_the_nearest_ring_weighted_by_shares_and_never_the_centre():
    strip = make_strip_panel({
        "S0000": [0, 0, 0], "S0001": [0, 0, 0], "S0002": [0, 0.5, 1],
        "S0003": [0, 0, 0], "S0004": [0, 0, 1],
    })
    exposure = compute_ring_exposure(strip, ACTIVE, grid_contiguity(5, 1)).set_index(
        ["area_id", "period_index"])
    assert exposure.loc[("S0001", 1), "ring_1"] == 0.5
    assert exposure.loc[("S0000", 1), "ring_2"] == 0.5
    assert exposure.loc[("S0001", 0)].tolist() == [0.0, 0.0]
    # S0003 is one step from both S0002 and S0004: ring 1 once, not also ring 2.
    assert exposure.loc[("S0003", 2)].tolist() == [1.0, 0.0]
    # An area with the strategy is the centre of its rings, in nobody's ring.
    assert exposure.loc[("S0002", 2)].tolist() == [0.0, 0.0]
    assert exposure.loc[("S0004", 2)].tolist() == [0.0, 0.0]
    assert exposure.loc[("S0000", 2)].tolist() == [0.0, 1.0]


@pytest.fixture(scope="module")
def displaced():
    panel = make_spillover_panel(irr=0.7, ring_irrs=(1.3, 1.1), width=12, height=10,
                                 n_treated=10, first_start=8, last_start=10, seed=3)
    return panel, estimate_displacement(panel, "test-strategy", ACTIVE,
                                        panel.attrs["contiguity"])


def test_planted_direct_ring_and_net_ratios_are_recovered_within_their_intervals(displaced):
    panel, result = displaced
    direct, (ring_1, ring_2), net = result.direct, result.rings, result.net
    assert direct.ci_low <= 0.7 <= direct.ci_high and direct.design == DISPLACEMENT_DESIGN
    assert ring_1.ci_low <= 1.3 <= ring_1.ci_high and ring_1.ci_low > 1
    assert ring_2.ci_low <= 1.1 <= ring_2.ci_high
    truth = compute_true_net_ratio(panel)
    assert net.estimand == NET_ESTIMAND and net.ci_low <= truth <= net.ci_high
    assert result.net_change_low < result.net_change < result.net_change_high
    assert result.net_change > 0  # more reports next door than were lost where it ran
    table = to_net_change_table({"test-strategy": result})
    assert table.loc[0, "net_irr"] == net.irr and table.loc[0, "net_change"] == result.net_change


def test_the_headline_without_rings_is_biased_when_reports_move_next_door(displaced):
    panel, result = displaced
    headline = estimate_stacked_effect(panel, "test-strategy", ACTIVE)
    # The neighbours' rise pulls today's estimate down (0.57 here; 0.58 on average over 200
    # panels in docs/validity.md); the ring design's direct ratio stays at the planted 0.7.
    assert headline.irr < 0.6 and abs(np.log(result.direct.irr / 0.7)) < 0.05
    assert result.direct.ci_low <= 0.7 <= result.direct.ci_high


def test_without_spill_over_the_rings_show_none():
    panel = make_spillover_panel(irr=0.7, ring_irrs=(1.0, 1.0), width=12, height=10,
                                 n_treated=10, first_start=8, last_start=10, seed=4)
    result = estimate_displacement(panel, "s", ACTIVE, panel.attrs["contiguity"])
    assert all(r.ci_low <= 1.0 <= r.ci_high for r in result.rings)
    assert result.direct.ci_low <= 0.7 <= result.direct.ci_high


def test_ring_rows_count_the_reports_of_the_area_periods_in_that_ring(displaced):
    panel, result = displaced
    exposure = compute_ring_exposure(panel, ACTIVE, panel.attrs["contiguity"])
    used = result.direct.fit.data.drop_duplicates(["area_id", "period_index"])
    used = used.merge(exposure, on=["area_id", "period_index"], suffixes=("", "_x"))
    for ring, est in zip((1, 2), result.rings, strict=True):
        assert est.n_incidents == int(used.loc[used[f"ring_{ring}"] > 0, "incidents"].sum())
        assert CAVEATS["rings"].format(rings=2) in est.caveats


def test_too_few_areas_beyond_the_outer_ring_is_not_estimable():
    panel = make_spillover_panel(width=3, height=3, n_treated=5, first_start=6, last_start=8,
                                 seed=1)
    with pytest.raises(NotEstimable, match="beyond the outer ring"):
        estimate_displacement(panel, "s", ACTIVE, panel.attrs["contiguity"])


def test_when_no_area_stays_beyond_the_outer_ring_the_rows_say_timing_carries_it():
    panel = make_spillover_panel(width=8, height=6, n_treated=19, first_start=6,
                                 last_start=18, seed=5)
    result = estimate_displacement(panel, "s", ACTIVE, panel.attrs["contiguity"])
    timing = CAVEATS["rings_timing"].format(n=5)
    assert all(timing in e.caveats for e in [result.direct, *result.rings])
    sparse = make_spillover_panel(width=12, height=10, n_treated=10, first_start=8,
                                  last_start=10, seed=5)
    result = estimate_displacement(sparse, "s", ACTIVE, sparse.attrs["contiguity"])
    assert not any(timing in e.caveats for e in [result.direct, *result.rings])


def test_mission_effects_carry_ring_and_net_rows_and_the_shared_table_suppresses_small_ones(
        displaced):
    panel, _ = displaced
    effects = estimate_mission_effects(panel, strategies=["test-strategy"])
    rows = effects.table().query("design == @DISPLACEMENT_DESIGN")
    assert rows["estimand"].tolist() == ["deployment", "displacement_ring_1",
                                         "displacement_ring_2", NET_ESTIMAND]
    assert not rows["headline"].any()
    assert effects.headline("test-strategy").design == "stacked_not_yet_treated"
    assert "test-strategy" in effects.displacement
    ring_2 = next(e for e in effects.estimates if e.estimand == "displacement_ring_2")
    ring_2.n_incidents = 4  # as when few reports fall two steps away
    shared = to_effects_table(effects, min_count=5).query("design == @DISPLACEMENT_DESIGN")
    small = shared[shared["estimand"] == "displacement_ring_2"].iloc[0]
    assert np.isnan(small["irr"]) and small["caveats"].startswith("Suppressed")
    shown = shared[shared["estimand"] == "displacement_ring_1"].iloc[0]
    assert shown["irr"] == round(shown["irr"], 4) and "Spill-over design" in shown["caveats"]


def test_a_panel_without_contiguity_gets_no_ring_rows():
    panel = make_spillover_panel(seed=2)
    del panel.attrs["contiguity"]
    effects = estimate_mission_effects(panel, strategies=["test-strategy"])
    assert not (effects.to_frame()["design"] == DISPLACEMENT_DESIGN).any()


def ring_rows(ring_1, ring_2, net=(1.1, 0.95, 1.3), strategy="market-day-patrols"):
    estimands = ["displacement_ring_1", "displacement_ring_2", NET_ESTIMAND]
    values = [ring_1, ring_2, net]
    return pd.DataFrame({
        "strategy_id": strategy, "design": DISPLACEMENT_DESIGN, "estimand": estimands,
        "headline": False, "irr": [v[0] for v in values], "ci_low": [v[1] for v in values],
        "ci_high": [v[2] for v in values], "caveats": "",
    })


@pytest.mark.parametrize(
    ("ring_1", "ring_2", "start"),
    [
        ((1.4, 1.17, 1.66), (0.9, 0.74, 1.1), "Some reports seem to have moved next door: in "
         "neighbouring areas there were about 40% more reported incidents"),
        ((0.7, 0.6, 0.85), (1.0, 0.8, 1.2), "The change seems to reach next door too"),
        ((1.05, 0.9, 1.2), (0.95, 0.8, 1.1), "No sign that reports moved to neighbouring"),
        ((np.nan, np.nan, np.nan), (np.nan, np.nan, np.nan), ""),
    ],
)
def test_the_brief_says_in_one_sentence_whether_reports_moved(ring_1, ring_2, start):
    text = describe_displacement(ring_rows(ring_1, ring_2), "market-day-patrols")
    assert text.startswith(start) and (text == "") == (start == "")
    assert describe_displacement(ring_rows(ring_1, ring_2), "firewood-escorts") == ""


def test_moved_reports_are_said_with_the_net_change_and_in_the_mission_language():
    rows = ring_rows((1.4, 1.17, 1.66), (0.9, 0.74, 1.1), net=(1.19, 1.01, 1.4))
    english = describe_displacement(rows, "market-day-patrols")
    assert english.endswith("counting those areas too, about 19% more reported incidents "
                            "(between 1% and 40% more).")
    suppressed = rows.assign(irr=lambda f: np.where(f.estimand == NET_ESTIMAND, np.nan, f.irr))
    assert "counting" not in describe_displacement(suppressed, "market-day-patrols")
    french = describe_displacement(rows, "market-day-patrols", language=get_language("fr"))
    assert french.startswith("Une partie des signalements semble s'être déplacée")


def test_the_brief_page_carries_the_sentence_next_to_the_strategy():
    from tests.test_brief import make_inputs

    headline = pd.DataFrame({
        "strategy_id": ["market-day-patrols"], "design": ["stacked_not_yet_treated"],
        "estimand": ["deployment"], "headline": [True], "irr": [0.62], "ci_low": [0.55],
        "ci_high": [0.7], "caveats": [CAVEATS["reported"]],
    })
    effects = pd.concat([headline, ring_rows((1.4, 1.17, 1.66), (0.9, 0.74, 1.1))])
    page = render_brief(make_inputs(effects=effects, language="es"))
    assert "Parte de las denuncias parece haberse desplazado a las zonas vecinas" in page
