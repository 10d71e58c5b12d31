"""The heavy steps of one mission on a Dask LocalCluster give the local results, exactly."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from protection_eval.coverage.index import (
    Movements,
    evaluate_coverage,
    movements_from_fixes,
)
from protection_eval.coverage.mission import compute_mission_coverage
from protection_eval.distributed import DaskEngine, SchedulerError, heavy_steps_on
from protection_eval.distributed import coverage as time_parts_module
from protection_eval.effects.within_reach import estimate_presence_effect
from protection_eval.engine import current_engine, use_engine
from protection_eval.runs.missions import load_mission

distributed = pytest.importorskip("distributed")

HOUR = 3_600.0
WINDOW = 72 * HOUR


@pytest.fixture(scope="module")
def client():
    """Two single-thread workers in this process: a real scheduler, fast to start."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as connected:
        yield connected


def _random_patrols(rng: np.random.Generator, patrols: int, fixes: int, days: float
                    ) -> Movements:
    """Patrols wandering a 40 km square for ``days``, a fix every 10 to 120 minutes."""
    group = np.repeat(np.arange(patrols), fixes)
    start = rng.uniform(0, days * 24 * HOUR, patrols)
    steps = rng.uniform(600, 7_200, (patrols, fixes)).cumsum(axis=1)
    t = (start[:, None] + steps).ravel()
    walk = rng.normal(0, 1_500, (patrols, fixes, 2)).cumsum(axis=1)
    origin = rng.uniform(0, 40_000, (patrols, 1, 2))
    xy = (origin + walk).reshape(-1, 2)
    return movements_from_fixes(group, xy[:, 0], xy[:, 1], t, max_gap_s=6 * HOUR)


def _random_queries(rng: np.random.Generator, n: int, days: float):
    t = rng.uniform(0, days * 24 * HOUR, n)
    date_only = rng.random(n) < 0.3
    end = np.where(date_only, t + 24 * HOUR, t)
    return (rng.uniform(0, 40_000, n), rng.uniform(0, 40_000, n), t - WINDOW, end)


def _assert_same(a, b) -> None:
    np.testing.assert_array_equal(a.covered, b.covered)
    np.testing.assert_array_equal(a.nearest, b.nearest)
    np.testing.assert_array_equal(a.latest, b.latest)


def test_covered_only_coverage_in_time_parts_is_the_local_one(client):
    rng = np.random.default_rng(8)
    moves = _random_patrols(rng, patrols=60, fixes=80, days=120)
    qx, qy, qs, qe = _random_queries(rng, 3_000, days=120)
    local = functools.partial(evaluate_coverage, covered_only=True)
    here = local(qx, qy, qs, qe, moves, 2_000.0)
    there = DaskEngine(client, parts=7).evaluate_coverage(
        qx, qy, qs, qe, moves, 2_000.0, search=None, local=local)
    assert 0 < here.covered.sum() < len(qx)
    _assert_same(there, here)
    full = evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0)
    np.testing.assert_array_equal(there.covered, full.covered)


@pytest.mark.parametrize("search", [None, 6_000.0])
def test_coverage_in_time_parts_is_the_local_coverage_to_the_bit(client, search):
    rng = np.random.default_rng(7)
    moves = _random_patrols(rng, patrols=60, fixes=80, days=120)
    qx, qy, qs, qe = _random_queries(rng, 3_000, days=120)
    here = evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0, search=search)
    there = DaskEngine(client, parts=7).evaluate_coverage(
        qx, qy, qs, qe, moves, 2_000.0, search=search, local=evaluate_coverage)
    assert 0 < here.covered.sum() < len(qx)  # both outcomes occur: the equality says something
    _assert_same(there, here)


def _short_and_long_movements(rng: np.random.Generator) -> Movements:
    """Short, quick movements over days 0-10 (none needs cutting), then long, slow ones."""
    n = 3_000
    x0 = rng.uniform(500_000, 540_000, n)
    y0 = rng.uniform(9_000_000, 9_040_000, n)
    t0 = rng.uniform(0, 10 * 24 * HOUR, n)
    short = (x0, y0, x0 + rng.normal(0, 30, n), y0 + rng.normal(0, 30, n), t0, t0 + 600.0)
    m = 200
    lx = rng.uniform(500_000, 540_000, m)
    ly = rng.uniform(9_000_000, 9_040_000, m)
    lt = rng.uniform(20 * 24 * HOUR, 30 * 24 * HOUR, m)
    long = (lx, ly, lx + rng.normal(0, 20_000, m), ly + rng.normal(0, 20_000, m), lt,
            lt + rng.uniform(10, 30, m) * HOUR)
    return Movements(*(np.r_[a, b] for a, b in zip(short, long, strict=True)))


def _queries_near(rng: np.random.Generator, moves: Movements, n: int, date_only: bool):
    pick = rng.integers(0, len(moves), n)
    t = moves.t1[pick] + rng.uniform(0, 10 * HOUR, n)
    end = t + 24 * HOUR if date_only else t
    return (moves.x1[pick] + rng.normal(0, 1_500, n), moves.y1[pick] + rng.normal(0, 1_500, n),
            t - WINDOW, end)


def test_parts_cut_movements_into_the_same_pieces_as_the_whole(client):
    # Part one holds only short movements (none would be cut on its own) and timed incidents;
    # part two long, slow movements (cut into pieces of an eighth of the median window) and
    # date-only incidents, whose windows are a day longer. A part that cut its movements by
    # its own rules (its own median window) gives distances a few units in the last place
    # apart: checked, 6 of 4,000 differ without piece_duration_s.
    rng = np.random.default_rng(3)
    moves = _short_and_long_movements(rng)
    early = _queries_near(rng, moves.take(np.arange(3_000)), 3_000, date_only=False)
    late = _queries_near(rng, moves.take(np.arange(3_000, 3_200)), 1_000, date_only=True)
    qx, qy, qs, qe = (np.r_[a, b] for a, b in zip(early, late, strict=True))
    here = evaluate_coverage(qx, qy, qs, qe, moves, 500.0, search=3_000.0)
    there = DaskEngine(client, parts=2).evaluate_coverage(
        qx, qy, qs, qe, moves, 500.0, search=3_000.0, local=evaluate_coverage)
    assert 0 < here.covered.sum() < len(qx)
    _assert_same(there, here)


def test_an_incident_at_the_edge_of_a_part_is_covered_only_with_the_overlap(client, monkeypatch):
    # Two incidents, two parts. The second (the first of its part) was passed 10 h before by
    # a patrol whose only movement ended before the first part's last incident.
    day = 24 * HOUR
    moves = Movements(np.array([0.0]), np.array([0.0]), np.array([100.0]), np.array([0.0]),
                      np.array([10 * day - 11 * HOUR]), np.array([10 * day - 10 * HOUR]))
    qx, qy = np.array([50_000.0, 50.0]), np.array([0.0, 0.0])
    qe = np.array([10 * day - 5 * HOUR, 10 * day])
    qs = qe - WINDOW
    engine = DaskEngine(client, parts=2)
    here = evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0)
    assert here.covered.tolist() == [False, True]
    _assert_same(engine.evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0, search=None,
                                          local=evaluate_coverage), here)
    monkeypatch.setattr(time_parts_module, "overlap_s", lambda q_start, q_end: 0.0)
    cut = engine.evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0, search=None,
                                   local=evaluate_coverage)
    assert cut.covered.tolist() == [False, False]


@pytest.fixture(scope="module")
def demo_a(demo_missions):
    return load_mission(demo_missions[0])


def test_mission_coverage_and_control_points_on_the_cluster_equal_the_local_ones(client, demo_a):
    here = compute_mission_coverage(demo_a)
    local_effect = estimate_presence_effect(demo_a)
    with heavy_steps_on(client, parts=5) as engine:
        assert current_engine() is engine
        there = compute_mission_coverage(demo_a)
        effect = estimate_presence_effect(demo_a)
    assert current_engine() is None
    assert here.model == "tracks" and here.summary["incidents_covered"] > 0
    for name in ("incidents", "areas", "gaps", "gaps_overall"):
        assert_frame_equal(getattr(there, name), getattr(here, name), check_exact=True)
    assert there.summary == here.summary
    assert_frame_equal(effect.strata, local_effect.strata, check_exact=True)
    assert_frame_equal(effect.to_frame(), local_effect.to_frame(), check_exact=True)


#: Track rows for most quarantine reasons a fix can have, between good ones.
MORE_TRACKS = """P1,2022-03-04T10:00:00,30.06,5.05
P1,yesterday,30.06,5.05
P1,2022-03-04T10:30:00,0,0
P1,2022-03-04T10:40:00,5.05,30.06
P1,2021-03-04T10:40:00,30.06,5.05
P1,2022-03-04T10:50:00,-30.06,5.05
P1,2022-03-04T11:00:00,330000,560000
P1,03/04/2022 11:00,30.06,5.05
,2022-03-04T11:10:00,30.06,5.05
P1,2022-03-04T11:20:00,30.07,5.06
"""


def test_track_rows_checked_in_parts_are_accepted_and_quarantined_as_at_once(client, bad_mission):
    tracks = bad_mission.parent / "tracks.csv"
    tracks.write_text(tracks.read_text() + MORE_TRACKS)
    here = load_mission(bad_mission)
    with use_engine(DaskEngine(client, rows_per_part=3)):
        there = load_mission(bad_mission)
    tracks_here = here.validation.tables["patrol_tracks"]
    assert tracks_here.rows_read > 3 * 2 and len(tracks_here.reasons) >= 5  # split, varied
    assert_frame_equal(there.patrol_tracks, here.patrol_tracks, check_exact=True)
    assert_frame_equal(there.validation.rejected["patrol_tracks"],
                       here.validation.rejected["patrol_tracks"], check_exact=True)
    assert there.validation.tables == here.validation.tables
    report = there.validation.tables["patrol_tracks"]
    assert report.reconciles and report.rows_read == tracks_here.rows_read


def _worker_dies_once(marker: str, *args, **kwargs):
    """Evaluate a part; the first part to start kills its worker's process.

    The process ends at once (``os._exit``), as when it runs out of memory or its machine goes
    away: no answer leaves it, its Nanny starts a new one, and the scheduler must run the part
    again on a live worker.
    """
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return evaluate_coverage(*args, **kwargs)


def test_a_worker_that_dies_mid_part_changes_nothing(tmp_path):
    rng = np.random.default_rng(11)
    moves = _random_patrols(rng, patrols=30, fixes=40, days=60)
    qx, qy, qs, qe = _random_queries(rng, 1_000, days=60)
    here = evaluate_coverage(qx, qy, qs, qe, moves, 2_000.0)
    marker = tmp_path / "died"
    # Worker processes under Nannies: this module's functions travel by value, since the
    # workers cannot import a test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as connected:
            first = set(connected.scheduler_info()["workers"])
            there = DaskEngine(connected, parts=4).evaluate_coverage(
                qx, qy, qs, qe, moves, 2_000.0, search=None,
                local=functools.partial(_worker_dies_once, str(marker)))
            pids = set(connected.run(os.getpid).values())
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    died = int(marker.read_text())
    assert died not in pids  # the process that took the part is gone ...
    assert len(first) == 2 and died != os.getpid()  # ... and it was a worker, not this process
    _assert_same(there, here)


def test_an_unreachable_scheduler_is_one_clear_line():
    message = "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'"
    with pytest.raises(SchedulerError, match=message), \
            heavy_steps_on("tcp://127.0.0.1:9", timeout=1):
        pytest.fail("the block must not run")


def test_an_unreachable_scheduler_fails_the_mission_alone(bad_mission, tmp_path):
    from protection_eval.runs.runner import run_mission

    result = run_mission(bad_mission, reports_dir=tmp_path, notebooks=[],
                         scheduler="tcp://127.0.0.1:9", scheduler_timeout=1)
    assert result.status == "failed"
    assert result.error.startswith("cannot reach the Dask scheduler 'tcp://127.0.0.1:9'")
    manifest = pd.read_json(result.run_dir / "manifest.json", typ="series")
    assert manifest["error"]["step"] == "scheduler"


@pytest.mark.slow
def test_a_run_given_a_scheduler_writes_the_coverage_of_a_run_without(bad_mission, tmp_path):
    from protection_eval.runs.layout import notebook_paths
    from protection_eval.runs.runner import run_mission

    notebooks = [p for p in notebook_paths() if p.name.startswith(("01_", "02_"))]
    here = run_mission(bad_mission, reports_dir=tmp_path / "here", notebooks=notebooks)
    # Threads in this process, reachable over TCP by the notebooks' kernels.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        there = run_mission(bad_mission, reports_dir=tmp_path / "there", notebooks=notebooks,
                            scheduler=cluster.scheduler_address)
    assert (here.status, there.status) == ("ok", "ok"), there.error
    manifest = pd.read_json(there.run_dir / "manifest.json", typ="series")
    assert manifest["parameters"]["scheduler"] == cluster.scheduler_address
    for name in ("incident_coverage.csv", "coverage_areas.csv", "validation.json"):
        assert (there.run_dir / "restricted" / name).read_bytes() == (
            here.run_dir / "restricted" / name).read_bytes(), name


def test_a_batch_whose_scheduler_does_not_answer_runs_no_mission(bad_mission, tmp_path):
    from protection_eval.runs.batch import run_missions

    with pytest.raises(SchedulerError, match="no mission ran"):
        run_missions([bad_mission], reports_dir=tmp_path, scheduler="tcp://127.0.0.1:9",
                     scheduler_timeout=1, notebooks=[])
    assert not (tmp_path / "BAD-1").exists()
