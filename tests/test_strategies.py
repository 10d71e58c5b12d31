"""The strategy catalogue: schema, sources, filters, listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from protection_eval.inventory.strategies import (
    ACTORS,
    CATEGORIES,
    DEMO_STRATEGY_IDS,
    CatalogueError,
    load_catalogue,
    to_listing,
    validate_catalogue,
)

VALID = {
    "id": "test-escorts",
    "name": "Test escorts",
    "actor": "military",
    "category": "escort",
    "description": "Soldiers walk with women to the water point and back again.",
    "mechanism": "Armed presence on the route deters attackers at the time of risk.",
    "missions": ["TESTMIS"],
    "period": 2008,
    "sources": [{"title": "A report on escorts", "publisher": "Somebody", "year": 2010}],
    "evidence_level": "anecdotal",
}


def make_catalogue(folder: Path, entries: list[dict], name: str = "escort.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(entries), encoding="utf-8")
    return folder


def make_entry(**changes):
    entry = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_repository_catalogue_is_valid_and_holds_at_least_25_strategies(catalogue):
    assert validate_catalogue() == []
    assert len(catalogue) >= 25


def test_every_strategy_has_a_source_with_title_and_publisher(catalogue):
    for strategy in catalogue:
        assert strategy.sources, strategy.id
        assert all(s.title and s.publisher for s in strategy.sources), strategy.id


def test_demo_strategy_ids_are_in_the_catalogue(catalogue):
    assert set(DEMO_STRATEGY_IDS) <= catalogue.ids
    assert isinstance(catalogue.ids, frozenset)


def test_catalogue_covers_every_category_and_actor(catalogue):
    assert {s.category for s in catalogue} == set(CATEGORIES)
    assert {s.actor for s in catalogue} == set(ACTORS)


def test_valid_entry_loads_with_a_numeric_period_read_as_text(tmp_path):
    loaded = load_catalogue(make_catalogue(tmp_path, [make_entry()]))
    assert loaded.ids == frozenset({"test-escorts"})
    assert loaded.get("test-escorts").period == "2008"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"actor": "navy"}, "actor", "'military'"),
        ({"category": "magic"}, "category", "'patrolling'"),
        ({"id": "Test Escorts"}, "id", "slug"),
        ({"sources": []}, "sources", "at least 1"),
        (
            {"sources": [{"title": "A report", "publisher": "Publisher", "url": "www.x.org"}]},
            "sources.0.url",
            "https://",
        ),
        (
            {"sources": [{"title": "A report", "publisher": "Publisher", "year": "soon"}]},
            "sources.0.year",
            "integer",
        ),
        ({"mechanism": None}, "mechanism", "missing"),
        ({"evidence_level": "strong"}, "evidence_level", "'anecdotal'"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
def test_malformed_entry_is_rejected_naming_file_entry_and_field(tmp_path, change, field, words):
    folder = make_catalogue(
        tmp_path, [make_entry(), make_entry(**{"id": "second-entry", **change})]
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(folder)
    problems = caught.value.problems
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == "escort.yaml"
    assert problem.entry.startswith("entry 2")
    assert problem.field == field
    assert words in problem.message
    assert "escort.yaml" in str(caught.value) and field in str(caught.value)


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    folder = make_catalogue(tmp_path, [make_entry(actor="navy", evidence_level="strong")])
    make_catalogue(tmp_path, [make_entry(id="other", category="magic")], name="other.yaml")
    problems = validate_catalogue(folder)
    assert sorted((p.file, p.field) for p in problems) == [
        ("escort.yaml", "actor"),
        ("escort.yaml", "evidence_level"),
        ("other.yaml", "category"),
    ]


def test_duplicate_id_across_files_is_a_problem(tmp_path):
    make_catalogue(tmp_path, [make_entry()])
    make_catalogue(tmp_path, [make_entry()], name="patrolling.yaml")
    problems = validate_catalogue(tmp_path)
    assert [(p.file, p.field) for p in problems] == [("patrolling.yaml", "id")]
    assert "escort.yaml" in problems[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty file"), ("id: x\n", "YAML list"), ("- [unclosed\n", "not readable YAML")],
)
def test_broken_files_are_named(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    problems = validate_catalogue(tmp_path)
    assert problems[0].file == "bad.yaml"
    assert message in problems[0].message


def test_missing_folder_is_a_problem_not_a_traceback(tmp_path):
    problems = validate_catalogue(tmp_path / "nowhere")
    assert "no such folder" in problems[0].message


def test_filters_return_what_they_should(catalogue):
    police = catalogue.filter(actor="police")
    assert police.ids and all(s.actor == "police" for s in police)
    escorts = catalogue.filter(category="escort")
    assert "firewood-escorts" in escorts.ids
    assert all(s.category == "escort" for s in escorts)
    assert (
        catalogue.filter(category="presence and bases").ids
        == catalogue.filter(category="presence_and_bases").ids
    )
    monusco = catalogue.filter(mission="monusco")
    assert "community-alert-networks" in monusco.ids
    assert all("MONUSCO" in s.missions for s in monusco)
    assert catalogue.filter(evidence_level=["quasi_experimental", "experimental"]).ids == (
        {s.id for s in catalogue if s.evidence_level in ("quasi_experimental", "experimental")}
    )
    assert "firewood-escorts" in catalogue.filter(text="FIREWOOD").ids
    combined = catalogue.filter(actor="military", category="patrolling", mission="MONUSCO")
    assert {"night-patrols", "market-day-patrols"} <= combined.ids
    assert catalogue.filter(actor="military", category="specialised_units").ids == frozenset()


def test_filters_on_a_hand_made_catalogue(tmp_path):
    entries = [
        make_entry(id="a-one", actor="police", missions=["ALPHA"]),
        make_entry(
            id="b-two",
            actor="military",
            missions=["BETA"],
            description="Night work on the roads to the market, every week.",
        ),
    ]
    cat = load_catalogue(make_catalogue(tmp_path, entries))
    assert cat.filter(actor="police").ids == {"a-one"}
    assert cat.filter(mission="beta").ids == {"b-two"}
    assert cat.filter(text="market").ids == {"b-two"}
    assert cat.filter().ids == {"a-one", "b-two"}


def test_unknown_id_suggests_close_ids(catalogue):
    with pytest.raises(KeyError, match="night-patrols"):
        catalogue.get("night-patrol")


def test_csv_listing_has_the_issue_columns(catalogue):
    text = to_listing(catalogue.filter(category="escort"), "csv")
    header, *rows = text.strip().splitlines()
    assert header.split(",")[:6] == [
        "id",
        "name",
        "actor",
        "category",
        "evidence_level",
        "n_sources",
    ]
    assert len(rows) == len(catalogue.filter(category="escort"))


def test_json_listing_round_trips_ids(catalogue):
    listed = json.loads(to_listing(catalogue, "json"))
    assert {item["id"] for item in listed} == set(catalogue.ids)
    assert all(item["sources"] for item in listed)


def test_table_listing_names_each_strategy(catalogue):
    text = to_listing(catalogue.filter(mission="UNMIL"), "table")
    assert "all-female-formed-police-units" in text
    with pytest.raises(ValueError, match="table, csv or json"):
        to_listing(catalogue, "xml")


def test_cli_validate_exits_1_naming_file_and_field(tmp_path):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    folder = make_catalogue(tmp_path, [make_entry(actor="navy")])
    result = CliRunner().invoke(app, ["strategies", "validate", "--path", str(folder)])
    assert result.exit_code == 1
    assert "escort.yaml" in result.output and "field 'actor'" in result.output


def test_cli_list_csv_filters_by_category():
    from typer.testing import CliRunner

    from protection_eval.cli import app

    result = CliRunner().invoke(
        app, ["strategies", "list", "--category", "escort", "--format", "csv"]
    )
    assert result.exit_code == 0
    ids = [line.split(",")[0] for line in result.output.strip().splitlines()[1:]]
    assert "firewood-escorts" in ids and "night-patrols" not in ids


def make_deployments():
    import pandas as pd

    return pd.DataFrame(
        {
            "strategy_id": ["firewood-escorts", "firewood-escorts", "night-patrols"],
            "area_id": ["A01", "A02", "A01"],
            "started_on": pd.to_datetime(["2022-03-01", "2022-06-01", "2022-09-01"]),
            "ended_on": pd.to_datetime(["2022-12-31", None, None]),
            "source_row": [2, 3, 4],
        }
    )


def test_deployment_summary_counts_areas_and_active_deployments(catalogue):
    from protection_eval.inventory.charts import to_deployment_summary

    summary = to_deployment_summary(make_deployments(), catalogue).set_index("strategy_id")
    assert summary.loc["firewood-escorts", "n_areas"] == 2
    assert summary.loc["firewood-escorts", "n_still_active"] == 1
    assert (
        summary.loc["night-patrols", "name"] == "Night patrols in villages and displacement sites"
    )
    assert to_deployment_summary(None).empty


def test_deployment_timeline_draws_one_bar_per_deployment(catalogue):
    from protection_eval.inventory.charts import make_deployment_timeline

    fig = make_deployment_timeline(make_deployments(), catalogue, "2022-01-01", "2023-12-31")
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A02", "A01"]
    empty = make_deployment_timeline(None)
    assert "No strategy deployments" in empty.axes[0].texts[0].get_text()


def test_catalogue_chart_counts_every_strategy(catalogue):
    from protection_eval.inventory.charts import make_catalogue_chart

    ax = make_catalogue_chart(catalogue).axes[0]
    assert sum(p.get_width() for p in ax.patches) == len(catalogue)


@pytest.mark.slow
def test_inventory_notebook_runs_for_a_demo_mission_and_pools_other_runs(demo_missions, tmp_path):
    import math

    import nbformat
    import pandas as pd

    from protection_eval.runs.layout import notebooks_dir
    from protection_eval.runs.runner import run_mission

    z = 1.959964
    for mission, irr in (("DEMO-B", 0.7), ("DEMO-C", 0.65)):
        shared = tmp_path / mission / "run-1" / "shared"
        shared.mkdir(parents=True)
        row = {
            "mission": mission,
            "strategy_id": "firewood-escorts",
            "estimand": "deployment",
            "irr": irr,
            "ci_low": irr * math.exp(-z * 0.1),
            "ci_high": irr * math.exp(z * 0.1),
        }
        pd.DataFrame([row]).to_csv(shared / "effects.csv", index=False)
        (tmp_path / mission / "latest").symlink_to("run-1")
    result = run_mission(
        demo_missions[0],
        reports_dir=tmp_path,
        notebooks=[notebooks_dir() / "04_inventory.py"],
    )
    assert result.ok, result.error
    executed = nbformat.read(result.run_dir / "restricted" / "04_inventory.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "ALL" in text


def test_environment_variable_points_the_default_loader_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("PROTECTION_EVAL_STRATEGIES", str(make_catalogue(tmp_path, [make_entry()])))
    assert load_catalogue().ids == frozenset({"test-escorts"})
