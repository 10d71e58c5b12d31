import json

import pandas as pd
import pytest

from protection_eval.demo import make_demo_missions
from protection_eval.runs.missions import load_mission


def truth(config_path):
    folder = config_path.parent / f"demo-{config_path.stem[-1].lower()}"
    return json.loads((folder / "ground_truth.json").read_text())


def test_three_demo_missions_of_different_shapes(demo_missions):
    assert [p.stem for p in demo_missions] == ["DEMO-A", "DEMO-B", "DEMO-C"]
    shapes = [load_mission(p).coverage_source for p in demo_missions]
    assert shapes == ["tracks", "routes", "bases"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_quarantine_finds_exactly_the_planted_bad_rows(demo_missions, index):
    path = demo_missions[index]
    planted = truth(path)["bad_rows"]
    report = load_mission(path).validation
    found = {t: r.reasons for t, r in report.tables.items() if r.reasons}
    assert found == planted
    assert report.usable
    assert all(t.reconciles for t in report.tables.values())


def test_ground_truth_states_the_planted_effects(demo_missions):
    effects = {(e["strategy_id"], e["irr"]) for e in truth(demo_missions[0])["effects"]}
    assert effects == {("firewood-escorts", 0.6), ("night-patrols", 0.8)}
    c = truth(demo_missions[2])
    assert {"strategy_id": "specialised-police-units", "estimand": "deployment", "irr": 0.85,
            "rollout": "mission_wide"} in c["effects"]
    assert c["patrol_presence"]["irr_covered"] == 0.5


def test_deployments_are_staggered_and_known_to_the_inventory(demo_missions):
    mission = load_mission(demo_missions[0])
    starts = mission.deployments.query("strategy_id == 'firewood-escorts'").started_on
    assert starts.nunique() > 3
    assert mission.validation.tables["deployments"].reasons == {
        "unknown_strategy": 1, "unknown_area": 1}


def test_planted_strategy_effect_shows_in_raw_rates(demo_missions):
    """Treated area-months have clearly fewer incidents per area than before roll-out."""
    mission = load_mission(demo_missions[0])
    inc = mission.incidents.dropna(subset=["area_id"])
    month = inc.occurred_at.dt.tz_convert("Africa/Juba").dt.tz_localize(None).dt.to_period("M")
    dep = mission.deployments.query("strategy_id == 'firewood-escorts'")
    start = dep.set_index("area_id").started_on.dt.to_period("M")
    treated = inc.area_id.isin(start.index)
    after = month[treated] >= inc.area_id[treated].map(start)
    per_area_month_after = after.sum() / sum(
        (pd.Period("2023-12", "M") - s).n + 1 for s in start)
    per_area_month_before = (~after).sum() / sum((s - pd.Period("2022-01", "M")).n for s in start)
    assert per_area_month_after / per_area_month_before < 0.85


def test_same_seed_writes_the_same_files(tmp_path):
    a = make_demo_missions(tmp_path / "a", seed=2, scale=0.1, missions=("DEMO-C",))
    b = make_demo_missions(tmp_path / "b", seed=2, scale=0.1, missions=("DEMO-C",))
    for name in ("incidents.parquet", "patrols.csv", "deployments.csv"):
        left = a[0].parent / "demo-c" / name
        right = b[0].parent / "demo-c" / name
        assert left.read_bytes() == right.read_bytes(), name
