"""A sparse mission, as met in the field: about 200 reports over the whole mission area.

At the configured hexagon size almost every hexagon holds fewer than k reports, so a map of
fixed hexagons shows nothing. With adaptive aggregation the shared map shows most reports in
some unit, and the shared folder (map, drawing, gap list, brief in each language) passes the
audit against the mission's raw sources.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.runs.missions import load_mission
from protection_eval.runs.outputs import read_shared_outputs, write_coverage
from protection_eval.runs.publish import audit_folder
from protection_eval.sharing.brief import BriefInputs, render_brief
from protection_eval.sharing.disclosure import suppress_counts
from protection_eval.sharing.forms import to_coverage_map_layers


@pytest.fixture(scope="module")
def sparse(demo_missions):
    mission = load_mission(demo_missions[0])
    exact = mission.incidents[mission.incidents["location_precision"] == "exact"]
    thinned = exact.sample(n=200, random_state=3).sort_index()
    mission = dataclasses.replace(mission, incidents=thinned)
    return mission, compute_mission_coverage(mission)


def test_fixed_hexagons_would_show_almost_nothing(sparse):
    _, result = sparse
    cells = result.gaps_overall[["h3_cell", "incidents"]].reset_index(drop=True)
    shown = suppress_counts(cells, "incidents", 5, margins=[()]).shared()["incidents"].sum()
    assert shown < 0.25 * cells["incidents"].sum()  # the field trial's empty map


def test_sparse_mission_shows_most_reports_and_passes_the_audit(sparse, tmp_path):
    mission, result = sparse
    k = mission.config.sharing.min_count
    layers = to_coverage_map_layers(result, k)
    in_scope = int(result.summary["incidents_in_scope"])
    shown = layers["hexagons"]["incidents"].sum()
    assert in_scope >= 150 and shown >= 0.6 * in_scope
    assert layers["hexagons"]["resolution"].nunique() > 1  # dense places keep fine hexagons

    shared = tmp_path / "shared"
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=k, config=mission.config)
    outputs = read_shared_outputs(shared)
    assert outputs["map_svg"] and "<path" in outputs["map_svg"]
    for language in ("en", "fr", "ar", "es", "pt"):
        page = render_brief(BriefInputs(
            mission=mission.config.mission, name=mission.config.name,
            period=("2022-01", "2023-12"), synthetic=True, k=k, coverage=outputs["coverage"],
            gaps=outputs["gaps"], map_file=outputs["map"], map_svg=outputs["map_svg"],
            language=language))
        (shared / f"brief_{language}.html").write_text(page, encoding="utf-8")
    audit = audit_folder(shared, mission)
    assert audit.ok, audit.to_frame().to_string()
    gaps = pd.read_csv(shared / "gaps.csv")
    assert (gaps["rank"].diff().dropna() == 1).all()
    assert (gaps["covered_share"].dropna() <= 0.5).all()


def test_interactive_map_legend_says_the_hexagon_sizes(sparse, tmp_path):
    mission, result = sparse
    shared = tmp_path / "shared"
    write_coverage(result, restricted_dir=None, shared_dir=shared, k=5, config=mission.config)
    page = (shared / "coverage_map.html").read_text(encoding="utf-8")
    assert re.search(r"Hexagon sizes: about [\d.,]+ km\u00b2, about [\d.,]+ km\u00b2", page)
    assert "counts only the reports outside the smaller hexagons" in page
