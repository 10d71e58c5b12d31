"""Benchmark the runner's validation phase and the audit gate in process (issue 18, section 1).

The validation phase is what ``runs.missions.load_mission_for_audit`` does: read the sources,
take the audit's needles, ingest. Each step's CPU seconds (``time.process_time``, which other
processes' load does not change) and the process's peak memory (VmHWM) are printed. With
``--run RUN``, the audit gate (``audit_mission_folder`` with the needles) is timed too, on that
run's ``shared/`` folder against its ``restricted/mission.yaml`` (the run's mission cache):
give a COPY of a finished run, since the audit reads nothing but may be pointed anywhere.

Targets (issue 18): at x64 the validation phase in about 12-14 CPU seconds, the needles under
one second; the gate bounded by the shared folder, not the mission.

Usage::

    python benchmarks/bench_validation.py MISSION.yaml [--run RUN_FOLDER_COPY] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

from protection_eval.config import load_mission_config
from protection_eval.ingest.tables import ingest_mission
from protection_eval.inventory.strategies import load_catalogue
from protection_eval.io.readers import read_mission_sources
from protection_eval.runs.missions import load_mission
from protection_eval.sharing.audit.folder import audit_mission_folder, raw_needles_of


def peak_memory() -> str:
    """Return the process's peak resident memory so far (VmHWM), in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return f"{int(line.split()[1]) / 1e6:.2f} GB"
    return "unknown"


def step(name: str, started: float) -> float:
    """Print a step's CPU seconds and the peak memory so far; return the new start."""
    now = time.process_time()
    print(f"{name:<10} {now - started:7.2f} CPU s   peak {peak_memory()}", flush=True)
    return now


def main() -> None:
    """Time the validation phase of one mission, and the audit gate of one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mission", type=Path)
    parser.add_argument("--run", type=Path, help="a copy of a finished run folder")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.mission}")
    profile = cProfile.Profile() if args.profile else None
    config = load_mission_config(args.mission)
    if profile:
        profile.enable()
    started = first = time.process_time()
    raw = read_mission_sources(config)
    frames = {name: table.frame for name, table in raw.items()}
    started = step("read", started)
    needles = raw_needles_of(frames)
    started = step("needles", started)
    mission = ingest_mission(config, raw, strategy_ids=load_catalogue().ids)
    started = step("ingest", started)
    # getattr: the same script measures a checkout from before needles held date-times.
    times = len(getattr(needles, "identifying_times", ()))
    print(f"{'validation':<10} {started - first:7.2f} CPU s; {len(needles.identifying_values):,} "
          f"text needles, {times:,} date-times")
    del mission, raw, frames
    if args.run:
        run_mission = load_mission(args.run / "restricted" / "mission.yaml")
        started = time.process_time()
        result = audit_mission_folder(args.run / "shared", run_mission, needles=needles)
        step("gate", started)
        print(f"gate: {len(result.files)} files, {len(result.findings)} findings")
    if profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
