"""Evidence synthesis: selection of deployment rows, random-effects pooling, outputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protection_eval.inventory import evidence
from protection_eval.inventory.evidence import (
    compute_evidence,
    estimate_pooled_effect,
    select_deployment_effects,
)
from protection_eval.inventory.evidence_report import (
    make_forest_panel,
    make_forest_plot,
    to_evidence_html,
)
from protection_eval.inventory.strategies import load_catalogue
from protection_eval.runs import evidence as run_evidence
from protection_eval.runs.evidence import compute_run_evidence, load_effects, write_evidence

Z = 1.959963984540054


def make_effect_row(mission, strategy_id, irr, ci_low, ci_high, **extra):
    row = {
        "mission": mission,
        "strategy_id": strategy_id,
        "estimand": "deployment",
        "model": "poisson_fe",
        "irr": irr,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_value": 0.01,
        "n_areas": 40,
        "n_periods": 24,
        "n_incidents": 2000,
        "caveats": "Reported is not occurred.",
    }
    row.update(extra)
    return row


def make_effects(rows):
    return pd.DataFrame(rows)


def interval(irr, se):
    return irr, math.exp(math.log(irr) - Z * se), math.exp(math.log(irr) + Z * se)


def hand_dersimonian_laird(y, se):
    """DerSimonian and Laird (1986), written out from the formulas."""
    y, v = np.asarray(y, float), np.asarray(se, float) ** 2
    w = 1 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    df = len(y) - 1
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - df) / c)
    w_star = 1 / (v + tau2)
    pooled = np.sum(w_star * y) / np.sum(w_star)
    se_pooled = np.sqrt(1 / np.sum(w_star))
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return {
        "irr": np.exp(pooled),
        "ci_low": np.exp(pooled - Z * se_pooled),
        "ci_high": np.exp(pooled + Z * se_pooled),
        "tau2": tau2,
        "i2": i2,
        "q": q,
        "weights": w_star / np.sum(w_star),
    }


HETEROGENEOUS = ([np.log(0.5), np.log(0.9), np.log(0.65), np.log(1.2)], [0.08, 0.1, 0.12, 0.09])
HOMOGENEOUS = ([np.log(0.6), np.log(0.7), np.log(0.65)], [0.15, 0.2, 0.18])


@pytest.mark.parametrize("example", [HETEROGENEOUS, HOMOGENEOUS], ids=["tau2>0", "tau2=0"])
def test_pooled_estimate_matches_hand_dersimonian_laird(example):
    y, se = example
    expected = hand_dersimonian_laird(y, se)
    got = estimate_pooled_effect(
        "s", [f"M{i}" for i in range(len(y))], np.array(y), np.array(se), tau2_method="dl",
        interval="normal",
    )
    for name in ("irr", "ci_low", "ci_high", "tau2", "i2", "q"):
        assert getattr(got, name) == pytest.approx(expected[name], abs=1e-6), name
    np.testing.assert_allclose(got.weights, expected["weights"], atol=1e-6)


def test_heterogeneous_example_has_positive_tau2_and_homogeneous_has_zero():
    het = estimate_pooled_effect("s", list("ABCD"), *map(np.array, HETEROGENEOUS), tau2_method="dl")
    hom = estimate_pooled_effect("s", list("ABC"), *map(np.array, HOMOGENEOUS), tau2_method="dl")
    assert het.tau2 > 0.01 and het.i2 > 0.5
    assert hom.tau2 == 0.0 and hom.i2 == 0.0


def test_pooling_refuses_a_single_mission():
    with pytest.raises(ValueError, match="two or more"):
        estimate_pooled_effect("s", ["A"], np.array([0.1]), np.array([0.2]))


def test_standard_error_is_recovered_from_the_95_interval():
    irr, lo, hi = interval(0.6, 0.123)
    selected, problems = select_deployment_effects(
        make_effects([make_effect_row("A", "firewood-escorts", irr, lo, hi)])
    )
    assert not problems
    assert selected.loc[0, "se_log_irr"] == pytest.approx(0.123, abs=1e-9)
    assert selected.loc[0, "log_irr"] == pytest.approx(math.log(0.6))


def test_only_deployment_rows_are_used():
    rows = [
        make_effect_row("A", "night-patrols", *interval(0.8, 0.1)),
        make_effect_row("A", "night-patrols", *interval(0.3, 0.1), estimand="event_time_2"),
    ]
    selected, _ = select_deployment_effects(make_effects(rows))
    assert len(selected) == 1
    assert selected.loc[0, "irr"] == pytest.approx(0.8)


def test_headline_row_is_chosen_when_a_mission_reports_several_models():
    rows = [
        make_effect_row(
            "A", "night-patrols", *interval(0.9, 0.1), model="poisson_twfe", headline="False"
        ),
        make_effect_row(
            "A", "night-patrols", *interval(0.8, 0.1), model="poisson_fe", headline="True"
        ),
    ]
    selected, _ = select_deployment_effects(make_effects(rows))
    assert len(selected) == 1
    assert selected.loc[0, "model"] == "poisson_fe"


def test_rows_without_numbers_or_outside_their_interval_are_reported_not_used():
    rows = [
        make_effect_row("A", "night-patrols", float("nan"), float("nan"), float("nan")),
        make_effect_row("B", "night-patrols", 0.5, 0.6, 0.9),
        make_effect_row("C", "night-patrols", *interval(0.8, 0.1)),
    ]
    selected, problems = select_deployment_effects(make_effects(rows))
    assert selected["mission"].tolist() == ["C"]
    assert [(p.row, p.column) for p in problems] == [(2, "irr"), (3, "irr")]
    assert "suppressed" in problems[0].message


def demo_like_effects():
    return make_effects(
        [
            make_effect_row("DEMO-A", "firewood-escorts", *interval(0.6, 0.08)),
            make_effect_row("DEMO-B", "firewood-escorts", *interval(0.7, 0.09)),
            make_effect_row("DEMO-C", "firewood-escorts", *interval(0.65, 0.1)),
            make_effect_row("DEMO-A", "night-patrols", *interval(0.8, 0.07)),
            make_effect_row("DEMO-C", "night-patrols", *interval(0.8, 0.07)),
            make_effect_row("DEMO-B", "community-alert-networks", *interval(1.0, 0.1)),
            make_effect_row("DEMO-C", "specialised-police-units", *interval(0.85, 0.05)),
        ]
    )


def test_strategies_in_two_or_more_missions_are_pooled_and_single_ones_are_not():
    synthesis = compute_evidence(demo_like_effects(), load_catalogue())
    assert sorted(synthesis.pooled) == ["firewood-escorts", "night-patrols"]
    table = synthesis.to_frame()
    pooled_rows = table[table["mission"] == "ALL"]
    assert pooled_rows["strategy_id"].tolist() == ["firewood-escorts", "night-patrols"]
    assert pooled_rows["n_missions"].tolist() == [3, 2]
    single = table[table["strategy_id"] == "community-alert-networks"]
    assert single["mission"].tolist() == ["DEMO-B"]
    assert single["note"].iloc[0].startswith("estimated in one mission only: not pooled")
    assert single["tau2"].isna().all()


def test_evidence_table_has_the_issue_columns_and_catalogue_names():
    table = compute_evidence(demo_like_effects(), load_catalogue()).to_frame()
    for column in (
        "strategy_id",
        "mission",
        "irr",
        "ci_low",
        "ci_high",
        "n_missions",
        "tau2",
        "i2",
    ):
        assert column in table.columns
    names = table.set_index(["strategy_id", "mission"])["strategy_name"]
    assert names[("firewood-escorts", "ALL")] == "Firewood and water-point escorts"


def test_mission_weights_of_a_pooled_strategy_sum_to_100():
    table = compute_evidence(demo_like_effects()).to_frame()
    rows = table[(table["strategy_id"] == "firewood-escorts") & (table["mission"] != "ALL")]
    assert rows["weight_pct"].sum() == pytest.approx(100.0)


def test_identical_missions_pool_to_their_common_value():
    effects = make_effects(
        [make_effect_row(m, "night-patrols", *interval(0.8, 0.1)) for m in ("A", "B")]
    )
    pooled = compute_evidence(effects).pooled["night-patrols"]
    assert pooled.irr == pytest.approx(0.8)
    assert pooled.tau2 == 0.0
    # Two equal missions: HKSJ on t(1); its variance is 0, so the fixed-scale error is used.
    t1 = 12.706204736174698
    assert pooled.ci_high == pytest.approx(math.exp(math.log(0.8) + t1 * 0.1 / math.sqrt(2)))


def test_unknown_strategy_is_flagged_against_the_catalogue():
    effects = make_effects([make_effect_row("A", "not-a-strategy", *interval(0.8, 0.1))])
    table = compute_evidence(effects, load_catalogue()).to_frame()
    assert "not in the strategy catalogue" in table.loc[0, "note"]


def test_forest_plot_titles_single_missions_as_not_pooled():
    synthesis = compute_evidence(demo_like_effects(), load_catalogue())
    single = make_forest_plot(synthesis, "community-alert-networks")
    pooled = make_forest_plot(synthesis, "firewood-escorts")
    assert "not a pooled result" in single.axes[0].get_title()
    assert "3 missions pooled" in pooled.axes[0].get_title()
    assert pooled.axes[0].get_xscale() == "log"


def test_evidence_html_is_self_contained():
    page = to_evidence_html(compute_evidence(demo_like_effects(), load_catalogue()))
    assert page.count("data:image/png;base64,") == 4
    for needle in ('src="http', "src='http", 'href="http', "url(http", "<script", "<link"):
        assert needle not in page


def write_run(reports: Path, mission: str, rows: list[dict]) -> None:
    shared = reports / mission / "run-1" / "shared"
    shared.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(shared / "effects.csv", index=False)
    (reports / mission / "latest").symlink_to("run-1")


def test_load_effects_reads_every_latest_shared_file(tmp_path):
    effects = demo_like_effects()
    for mission, rows in effects.groupby("mission"):
        write_run(tmp_path, mission, rows.to_dict("records"))
    loaded, problems = load_effects(tmp_path)
    assert not problems
    assert len(loaded) == len(effects)
    assert loaded["irr"].dtype == "float64"
    assert sorted(loaded["mission"].unique()) == ["DEMO-A", "DEMO-B", "DEMO-C"]


def test_file_without_a_required_column_is_reported_by_name(tmp_path):
    write_run(tmp_path, "DEMO-A", [{"mission": "DEMO-A", "strategy_id": "x", "irr": 1.0}])
    loaded, problems = load_effects(tmp_path)
    assert loaded.empty
    assert "effects.csv" in problems[0].file
    assert "estimand" in problems[0].column


def test_write_evidence_writes_csv_and_html_at_the_top_of_reports(tmp_path):
    effects = demo_like_effects()
    for mission, rows in effects.groupby("mission"):
        write_run(tmp_path, mission, rows.to_dict("records"))
    synthesis, csv_path, html_path = write_evidence(tmp_path, load_catalogue())
    assert csv_path == tmp_path / "evidence.csv" and html_path == tmp_path / "evidence.html"
    written = pd.read_csv(csv_path)
    assert (written["mission"] == "ALL").sum() == 2
    assert written.columns.tolist() == evidence.EVIDENCE_COLUMNS


def test_no_runs_gives_empty_outputs_not_an_error(tmp_path):
    synthesis, csv_path, _ = write_evidence(tmp_path)
    assert synthesis.pooled == {}
    assert pd.read_csv(csv_path).empty


def test_run_effects_replace_the_missions_previous_latest_with_the_current_run(tmp_path):
    write_run(tmp_path, "DEMO-A", [make_effect_row("DEMO-A", "night-patrols", *interval(0.9, 0.1))])
    write_run(tmp_path, "DEMO-C", [make_effect_row("DEMO-C", "night-patrols", *interval(0.8, 0.1))])
    current = tmp_path / "DEMO-A" / ".staging-2" / "shared"
    current.mkdir(parents=True)
    pd.DataFrame([make_effect_row("DEMO-A", "night-patrols", *interval(0.7, 0.1))]).to_csv(
        current / "effects.csv", index=False
    )
    loaded, problems = run_evidence.load_run_effects(tmp_path, "DEMO-A", current)
    assert not problems
    by_mission = loaded.set_index("mission")["irr"]
    assert by_mission["DEMO-A"] == pytest.approx(0.7)
    assert by_mission["DEMO-C"] == pytest.approx(0.8)
    assert len(loaded) == 2
    found = compute_run_evidence("DEMO-A", shared_dir=current, run_dir=current.parent)
    assert found.pooled["night-patrols"].missions == ["DEMO-A", "DEMO-C"]


def test_forest_panel_has_one_axis_per_strategy():
    synthesis = compute_evidence(demo_like_effects(), load_catalogue())
    assert len(make_forest_panel(synthesis).axes) == 4
    empty = compute_evidence(demo_like_effects().iloc[0:0])
    assert "No effect estimates" in make_forest_panel(empty).axes[0].texts[0].get_text()


def test_strategy_and_mission_labels_are_drawn_as_typed_never_as_mathtext():
    """Issue 25: data never becomes markup; "$\\frac{$" used to stop the evidence page."""
    strategy = r"escorts $\frac{$ x"
    effects = make_effects([make_effect_row("M-$x$", strategy, *interval(0.8, 0.1)),
                            make_effect_row("M-2", strategy, *interval(0.7, 0.1))])
    synthesis = compute_evidence(effects)
    page = to_evidence_html(synthesis)
    assert page.count("data:image/png;base64,") == 1
    ax = make_forest_plot(synthesis, strategy).axes[0]
    texts = [ax.title, *ax.get_yticklabels()]
    assert strategy in ax.get_title() and "M-$x$" in ax.get_yticklabels()[0].get_text()
    assert not any(t.get_parse_math() for t in texts)
