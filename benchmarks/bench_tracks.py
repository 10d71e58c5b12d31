"""Measure, in one process, what the GPS tracks cost: validation, and a kernel's use of them.

Issue 18, section 1. Each step prints its CPU seconds (``time.process_time``, which the load of
a shared machine does not change), wall seconds, and the process's peak resident memory
(``VmHWM`` of ``/proc/self/status``, reset between steps where the kernel allows it), with the
load average.

Usage::

    python benchmarks/bench_tracks.py validate MISSION.yaml
    python benchmarks/bench_tracks.py kernel RUN/restricted/mission.yaml

``validate`` reads and ingests a mission from its sources as ``load_mission`` does (a run's
validation also takes the audit's needles from the sources, not measured here), then writes the
mission cache's tables into a scratch folder (``mission_cache._write_cache_folder``, the
encoding every run pays). ``kernel`` opens a finished run's cache as a notebook kernel does,
parses the GPS tracks, counts them by month (notebook 01, ``quality.compute_monthly_counts``)
and prepares the coverage (notebooks 02 and 03, ``coverage.mission.prepare_coverage``).
docs/performance.md records the figures with the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any


def _status() -> dict[str, float]:
    """Return VmRSS and VmHWM of this process in GB."""
    found = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                found[key] = int(value.split()[0]) / 1e6
    return found


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs), where allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


#: The largest peak of the steps run so far (GB).
PEAK = [0.0]


def step(name: str, work: Callable[[], Any]) -> Any:
    """Run ``work``; print its CPU and wall seconds and the peak memory while it ran."""
    PEAK[0] = max(PEAK[0], _status()["VmHWM"])
    _reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    memory = _status()
    PEAK[0] = max(PEAK[0], memory["VmHWM"])
    print(f"{name:28s} cpu {cpu:7.1f} s  wall {wall:7.1f} s  peak {memory['VmHWM']:5.2f} GB  "
          f"rss after {memory['VmRSS']:5.2f} GB  load {os.getloadavg()[0]:.2f}", flush=True)
    return value


def validate(config: Path) -> None:
    """Read and ingest the mission from its sources and encode its cache's tables."""
    from protection_eval.config import load_mission_config
    from protection_eval.ingest.tables import ingest_mission
    from protection_eval.inventory.strategies import load_catalogue
    from protection_eval.io.readers import read_mission_sources
    from protection_eval.runs.mission_cache import _write_cache_folder

    settings = load_mission_config(config)
    ids = load_catalogue().ids
    raw = step("read the sources", lambda: read_mission_sources(settings))
    mission = step("ingest", partial(ingest_mission, settings, raw, strategy_ids=ids))
    raw = None  # released before the cache is written, as the runner does
    tracks = mission.patrol_tracks
    print(f"  {0 if tracks is None else len(tracks):,} accepted GPS fixes "
          f"({type(tracks).__name__})", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_tracks_"))
    try:
        step("cache tables written", lambda: _write_cache_folder(mission, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def kernel(run_config: Path) -> None:
    """Use a run's cached GPS tracks as notebooks 01 to 03 do."""
    from protection_eval.coverage.mission import prepare_coverage
    from protection_eval.ingest.quality import compute_monthly_counts
    from protection_eval.runs.missions import load_mission

    mission = step("open the cache", lambda: load_mission(run_config))
    tracks = step("parse the GPS tracks", lambda: mission.patrol_tracks)
    print(f"  {len(tracks):,} fixes ({type(tracks).__name__})", flush=True)
    step("monthly counts (01)", lambda: compute_monthly_counts(mission))
    step("prepare_coverage (02, 03)", lambda: prepare_coverage(mission))


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("validate", "kernel"))
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    import protection_eval

    print(f"{protection_eval.__file__}; {os.cpu_count()} cores", flush=True)
    start = time.process_time()
    (validate if args.what == "validate" else kernel)(args.config)
    print(f"TOTAL cpu {time.process_time() - start:.1f} s, peak {PEAK[0]:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
