"""Benchmark per-mission runs: one mission's whole suite; three missions serially and in parallel.

One demo mission with every notebook, then the three demo missions with ``--jobs 1`` and 2.

Targets (issue 6): one mission in 60 s or less; three missions with two jobs in at most 0.6x the
sequential time. Prints the figures and the machine; docs/performance.md records them.

Usage: ``python benchmarks/bench_runner.py [--scale 1.0] [--seed 11]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from protection_eval.demo import make_demo_missions
from protection_eval.runs.batch import run_missions


def machine() -> str:
    """Describe the machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def timed(label: str, paths: list[Path], reports: Path, jobs: int) -> float:
    """Run a batch and print its wall time; fail loudly if any mission failed."""
    started = time.perf_counter()
    batch = run_missions(paths, reports_dir=reports, jobs=jobs)
    seconds = time.perf_counter() - started
    if batch.exit_code:
        raise SystemExit(f"{label}: a run failed:\n{batch.summary_table()}")
    print(f"{label:<36} {seconds:8.1f} s")
    return seconds


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_demo_missions(root / "missions", seed=args.seed, scale=args.scale)
        one = timed("one mission (DEMO-A), all notebooks", paths[:1], root / "r1", 1)
        sequential = timed("three missions, --jobs 1", paths, root / "r2", 1)
        parallel = timed("three missions, --jobs 2", paths, root / "r3", 2)
    print(f"one mission: {one:.1f} s (target <= 60 s: {'met' if one <= 60 else 'MISSED'})")
    ratio = parallel / sequential
    print(f"--jobs 2 / sequential: {ratio:.2f} (target <= 0.60: "
          f"{'met' if ratio <= 0.6 else 'MISSED'})")


if __name__ == "__main__":
    main()
