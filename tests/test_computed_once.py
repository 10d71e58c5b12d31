"""Each result computed once per run (issue 18): movements, incident coverage, the audit's needles.

No timing here: the tests count calls and check that a result passed on or read back from the
run's restricted folder equals the one computed afresh. Speed is measured by
``benchmarks/bench_scale.py`` (docs/performance.md).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protection_eval.coverage import models as coverage_models
from protection_eval.coverage.mission import compute_mission_coverage, prepare_coverage
from protection_eval.effects.mission import estimate_mission
from protection_eval.effects.within_reach import estimate_presence_effect
from protection_eval.runs.missions import load_mission, load_mission_for_audit
from protection_eval.runs.outputs import (
    read_coverage_areas,
    read_incident_coverage,
    write_coverage,
)
from protection_eval.runs.publish import publish_shared
from protection_eval.sharing.audit.rules import Rules


@pytest.fixture(scope="module")
def mission_a(demo_missions):
    return load_mission(demo_missions[0])


@pytest.fixture(scope="module")
def coverage_a(mission_a):
    return compute_mission_coverage(mission_a)


def _count_calls(monkeypatch, module, name: str) -> list:
    calls: list = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_one_mission_estimate_builds_the_track_movements_once(monkeypatch, mission_a):
    # Coverage for the panel (incidents and presence pieces), then the within-reach ratio
    # (incidents, date-only days, control points): one set of movements for all of them.
    assert mission_a.coverage_source == "tracks"
    calls = _count_calls(monkeypatch, coverage_models, "tracks_to_movements")
    estimate_mission(mission_a, strategies="firewood-escorts")
    assert len(calls) == 1


def test_mission_coverage_builds_route_movements_once(monkeypatch, demo_missions):
    mission_b = load_mission(demo_missions[1])
    assert mission_b.coverage_source == "routes"
    calls = _count_calls(monkeypatch, coverage_models, "routes_to_movements")
    compute_mission_coverage(mission_b)
    assert len(calls) == 1


def test_prepared_coverage_gives_the_same_coverage(mission_a, coverage_a):
    again = compute_mission_coverage(mission_a, prepared=prepare_coverage(mission_a))
    pd.testing.assert_frame_equal(again.incidents, coverage_a.incidents)
    pd.testing.assert_frame_equal(again.areas, coverage_a.areas)
    with pytest.raises(ValueError, match="not both"):
        compute_mission_coverage(mission_a, radius_m=1_000.0,
                                 prepared=prepare_coverage(mission_a))


def test_within_reach_reuses_the_incident_coverage_and_gives_the_same_ratio(
    monkeypatch, mission_a, coverage_a
):
    fresh = estimate_presence_effect(mission_a).estimate.to_frame()
    calls = _count_calls(monkeypatch, coverage_models, "cover_incidents")
    reused = estimate_presence_effect(mission_a, incident_coverage=coverage_a.incidents)
    pd.testing.assert_frame_equal(reused.estimate.to_frame(), fresh)
    sizes = [len(args[0]) for args in calls]
    # The control points and the date-only days are covered; the incidents are not again.
    assert len(mission_a.incidents) not in sizes
    assert len(calls) <= 2


def test_within_reach_covers_only_the_incidents_the_reused_table_lacks(
    monkeypatch, mission_a, coverage_a
):
    fresh = estimate_presence_effect(mission_a).estimate.to_frame()
    partial = coverage_a.incidents.iloc[10:]
    calls = _count_calls(monkeypatch, coverage_models, "cover_incidents")
    reused = estimate_presence_effect(mission_a, incident_coverage=partial)
    pd.testing.assert_frame_equal(reused.estimate.to_frame(), fresh)
    assert 10 in [len(args[0]) for args in calls]


def test_incident_coverage_and_area_measures_are_read_back_equal_when_parameters_match(
    tmp_path, mission_a, coverage_a
):
    write_coverage(coverage_a, restricted_dir=tmp_path, shared_dir=None, k=5)
    reach = {"radius_m": coverage_a.params.radius_m, "window_h": coverage_a.params.window_h}
    pd.testing.assert_frame_equal(read_incident_coverage(tmp_path, **reach),
                                  coverage_a.incidents)
    pd.testing.assert_frame_equal(read_coverage_areas(tmp_path, **reach), coverage_a.areas)
    other = {**reach, "radius_m": reach["radius_m"] + 1}
    assert read_incident_coverage(tmp_path, **other) is None
    assert read_incident_coverage(tmp_path, **reach, period="2022-01..2022-06") is None
    assert read_incident_coverage(None, **reach) is None


def test_the_gate_audits_with_the_needles_taken_at_ingestion(monkeypatch, tmp_path,
                                                             demo_missions):
    import protection_eval.runs.missions as missions
    import protection_eval.runs.publish as publish
    from protection_eval.config import load_mission_config

    reads = _count_calls(monkeypatch, missions, "read_mission_sources")
    mission, needles = load_mission_for_audit(load_mission_config(demo_missions[0]))
    assert len(reads) == 1

    def no_second_read(*args, **kwargs):
        raise AssertionError("the audit read the mission's sources again")

    monkeypatch.setattr(publish, "read_mission_sources", no_second_read)
    # A value of a raw identifying column, which ingestion dropped: only the needles know it.
    name = next(v for v in needles.identifying_values if " " in v)
    leaked = publish_shared(
        lambda staged: (staged / "note.txt").write_text(f"Spoke with {name} today.\n"),
        tmp_path / "leak" / "shared", tmp_path / "leak" / "restricted", mission,
        needles=needles,
    )
    assert not leaked.published
    assert "identifying_value" in {p["kind"] for p in leaked.places}
    clean = publish_shared(
        lambda staged: (staged / "note.csv").write_text("month,reports\n2023-01,12\n"),
        tmp_path / "clean" / "shared", tmp_path / "clean" / "restricted", mission,
        needles=needles,
    )
    assert clean.published, clean.message


def _identifying_values_by_search(rules: Rules, text: str) -> list[str]:
    """The former rule: one search of the text per phrase whose first word is a token of it."""
    lowered = text.lower()
    tokens = re.findall(r"[\w./:-]+", lowered)
    found = [t for t in tokens if t in rules.id_tokens]
    found += [b for t in tokens if (b := t.strip("./:-")) != t and b in rules.id_tokens]
    words = set(tokens) | {""}
    # Words in order: the rule reports them so, the same in every process (a set's order
    # of strings changes with the hash seed).
    found += [p for w in sorted(words.intersection(rules._phrases_by_word))
              for p in rules._phrases_by_word[w] if p in lowered]
    return found


_WORDS = st.sampled_from(["jane", "doe", "ja", "ne", "x", "(jane)", "jane.", "-", "an"])


@settings(max_examples=300, deadline=None)
@given(
    phrases=st.lists(st.lists(_WORDS, min_size=2, max_size=3).map(" ".join), max_size=6),
    text=st.lists(st.sampled_from(["jane", "doe", " ", "x", "(", ")", "ne", ".", "an", "JANE"]),
                  max_size=25).map("".join),
)
def test_identifying_phrases_are_found_exactly_as_one_search_per_phrase_found_them(phrases,
                                                                                   text):
    rules = Rules(identifying_values=phrases)
    assert rules.identifying_values_in(text) == _identifying_values_by_search(rules, text)


def test_identifying_phrases_sharing_a_first_word_are_found_where_they_start():
    rules = Rules(identifying_values=[f"synthetic name {i}" for i in range(5_000)]
                  + ["synthetic narrative text", "(case) closed"])
    text = "SYNTHETIC DATA. xsynthetic name 12 and synthetic name 4999; (case) closed"
    assert rules.identifying_values_in(text) == _identifying_values_by_search(rules, text)
    found = set(rules.identifying_values_in(text))
    assert {"synthetic name 12", "synthetic name 4999", "(case) closed"} <= found
    assert "synthetic narrative text" not in found
