"""Benchmark: the heavy steps of one mission here, then on a Dask LocalCluster of 1, 2, 4 workers.

Generates the demo mission DEMO-A at ``--scale`` (or reuses it), reads its sources once, and
times, here and on each cluster (``processes=True``, one thread per worker):

- track ingestion (``ingest_mission``; the GPS tracks in row parts on the cluster),
- coverage (``compute_mission_coverage``; point coverage in time parts on the cluster, the
  area measures and footprints here),
- the within-reach ratio (``estimate_presence_effect``; incidents, date-only moments and
  control points in time parts on the cluster).

Every result on a cluster is checked equal, exactly, to the local one; the script fails
otherwise. Cluster start-up is timed apart. Usage::

    python benchmarks/bench_dask.py --scale 8 --out /tmp/bench-dask --workers 1 2 4
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import time
from pathlib import Path

from pandas.testing import assert_frame_equal


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def _steps(config, raw, strategy_ids):
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.effects.within_reach import estimate_presence_effect
    from protection_eval.ingest.tables import ingest_mission

    mission, ingest_s = _timed(ingest_mission, config, raw, strategy_ids=strategy_ids)
    coverage, coverage_s = _timed(compute_mission_coverage, mission)
    presence, presence_s = _timed(estimate_presence_effect, mission)
    return (mission, coverage, presence), {"ingestion": ingest_s, "coverage": coverage_s,
                                          "within-reach": presence_s}


def _check_equal(here, there) -> None:
    mission, coverage, presence = here
    mission_d, coverage_d, presence_d = there
    assert_frame_equal(mission_d.patrol_tracks, mission.patrol_tracks, check_exact=True)
    assert mission_d.validation.tables == mission.validation.tables
    for name in ("incidents", "areas", "gaps"):
        assert_frame_equal(getattr(coverage_d, name), getattr(coverage, name), check_exact=True)
    assert_frame_equal(presence_d.strata, presence.strata, check_exact=True)
    assert_frame_equal(presence_d.to_frame(), presence.to_frame(), check_exact=True)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-dask"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from dask.distributed import Client, LocalCluster

    from protection_eval.config import load_mission_config
    from protection_eval.demo import make_demo_missions
    from protection_eval.distributed import DaskEngine
    from protection_eval.engine import use_engine
    from protection_eval.inventory.strategies import load_catalogue
    from protection_eval.io.readers import read_mission_sources

    folder = args.out / f"x{args.scale:g}"
    config_path = folder / "DEMO-A.yaml"
    if not config_path.exists():
        make_demo_missions(folder, scale=args.scale, missions=("DEMO-A",))
    config = load_mission_config(config_path)
    raw, read_s = _timed(read_mission_sources, config)
    strategy_ids = load_catalogue().ids
    print(f"DEMO-A x{args.scale:g}: {raw['incidents'].rows:,} incident rows, "
          f"{raw['patrol_tracks'].rows:,} track rows (read in {read_s:.1f} s); "
          f"{platform.node()}, {os.cpu_count()} cores, load average at start "
          f"{os.getloadavg()[0]:.1f}")
    here, local_times = _steps(config, raw, strategy_ids)
    rows = [("here (no cluster)", "-", local_times)]
    for n in args.workers:
        started = time.perf_counter()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        with cluster, Client(cluster) as client, use_engine(DaskEngine(client)):
            # Start-up includes each worker importing the library once (pandas, geopandas,
            # shapely): paid once per cluster, not per mission.
            client.run(importlib.import_module, "protection_eval.ingest.tables")
            start_s = time.perf_counter() - started
            there, times = _steps(config, raw, strategy_ids)
        _check_equal(here, there)
        rows.append((f"LocalCluster, {n} worker(s)", f"{start_s:.1f}", times))
    print("\n| where | cluster start, imports (s) | ingestion (s) | coverage (s) "
          "| within-reach (s) "
          "| total (s) |")
    print("|---|---|---|---|---|---|")
    for label, start, times in rows:
        cells = " | ".join(f"{v:.1f}" for v in times.values())
        print(f"| {label} | {start} | {cells} | {sum(times.values()):.1f} |")
    print("\nEvery cluster result equals the local one exactly (frames and validation report). "
          f"Load average at the end: {os.getloadavg()[0]:.1f}; CPU time of this process: "
          f"{time.process_time():.0f} s.")


if __name__ == "__main__":
    main()
