"""Time the gate's audit of a run's shared folder, as the gate calls it (mission loaded once).

Usage, after ``protection-eval demo --out missions --reports reports``::

    python benchmarks/bench_audit.py --missions missions --reports reports [--repeat 3]

For each mission with a ``latest`` run, the mission and the audit's needles are taken once
(as the runner does), then ``audit_mission_folder`` is timed ``--repeat`` times in this process
without the browser, and, where the audit takes ``chromium=``, with it (Chromium started, every
page opened with the network cut). Medians are printed. Run it with ``PYTHONPATH`` pointing at
another checkout's ``src`` to time that code on the same folders.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from pathlib import Path

from protection_eval.config import load_mission_config
from protection_eval.runs.missions import load_mission_for_audit
from protection_eval.sharing.audit.folder import audit_mission_folder


def _timed(repeat: int, *args: object, **kwargs: object) -> float:
    """Median seconds of ``audit_mission_folder(*args, **kwargs)`` over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        audit_mission_folder(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missions", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    takes_browser = "chromium" in inspect.signature(audit_mission_folder).parameters
    for config_path in sorted(args.missions.glob("*.yaml")):
        config = load_mission_config(config_path)
        shared = args.reports / config.mission / "latest" / "shared"
        if not shared.is_dir():
            continue
        mission, needles = load_mission_for_audit(config)
        files = sorted(p for p in shared.iterdir() if p.is_file())
        size = sum(p.stat().st_size for p in files) / 1024
        static = _timed(args.repeat, shared, mission, needles=needles)
        line = (f"{config.mission}: {len(files)} files, {size:.0f} KB; "
                f"audit without the browser {static:.2f} s")
        if takes_browser:
            browser = _timed(args.repeat, shared, mission, needles=needles,
                             chromium=args.chromium)
            line += f", with the browser {browser:.2f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
