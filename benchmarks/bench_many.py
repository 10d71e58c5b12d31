"""Benchmark many small missions: a batch's fixed cost per mission, locally and on Dask.

``--missions`` missions (default 100), each a copy of one of the three demo missions generated
at a small scale (``--scale``, default 0.1) under its own mission code, every one restricted to
one month (``--month``): what remains of a mission's time is mostly its fixed cost (a kernel
and the stack imported into it, the notebooks' set-up, the HTML pages, the audit, the PDF).
They run as one batch:

- ``--jobs 2`` on this machine (local worker processes, one Chromium for the batch);
- on a Dask ``LocalCluster`` of ``--workers`` worker processes with one thread each (one task
  per mission, as ``protection-eval run --executor dask`` sends them to a real cluster).

Prints the wall time of each batch, the fixed cost per mission (core-seconds: wall time x
parallel slots / missions; and the CPU time of every process of the batch / missions) and the
missions an hour it gives, with the load average, since the machine is shared.
docs/scaling.md uses these figures.

Usage: ``python benchmarks/bench_many.py [--missions 100] [--jobs 2] [--workers 2]
[--only local|dask]``
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from bench_runner import machine

from protection_eval.demo import make_demo_missions
from protection_eval.runs.batch import run_missions


def make_missions(folder: Path, count: int, scale: float, seed: int) -> list[Path]:
    """Write ``count`` mission YAMLs, copies of the three demo missions under new codes."""
    demos = make_demo_missions(folder, seed=seed, scale=scale)
    paths = []
    for i in range(count):
        demo = demos[i % len(demos)]
        code = f"{demo.stem}-{i:03d}"
        text = demo.read_text(encoding="utf-8").replace(f"mission: {demo.stem}",
                                                        f"mission: {code}")
        path = folder / f"{code}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def cpu_seconds() -> float:
    """CPU time of this process and every process it has waited for (workers, kernels)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def report(label: str, seconds: float, cpu: float, missions: int, slots: int) -> None:
    """Print a batch's time, its fixed cost per mission and missions an hour."""
    per_mission = seconds * slots / missions
    print(f"{label:<34} {seconds:8.1f} s for {missions} missions: "
          f"{per_mission:5.1f} core-s per mission (CPU {cpu / missions:5.1f} s per mission), "
          f"{3600 * missions / seconds:6.0f} missions/hour "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--missions", type=int, default=100)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--month", default="2023-06")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=("local", "dask"))
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_missions(root / "missions", args.missions, args.scale, args.seed)
        if args.only in (None, "local"):
            started, cpu = time.perf_counter(), cpu_seconds()
            batch = run_missions(paths, reports_dir=root / "local", jobs=args.jobs,
                                 period=args.month)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            if batch.exit_code:
                raise SystemExit(f"local batch failed:\n{batch.summary_table()}")
            report(f"local, --jobs {args.jobs}", seconds, cpu, len(paths), args.jobs)
        if args.only in (None, "dask"):
            from dask.distributed import LocalCluster

            cpu = cpu_seconds()
            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                started = time.perf_counter()
                batch = run_missions(paths, reports_dir=root / "dask", executor="dask",
                                     scheduler=cluster.scheduler_address, period=args.month)
                seconds = time.perf_counter() - started
            cpu = cpu_seconds() - cpu  # the workers are waited for when the cluster closes
            if batch.exit_code:
                raise SystemExit(f"dask batch failed:\n{batch.summary_table()}")
            report(f"Dask LocalCluster, {args.workers} workers", seconds, cpu, len(paths),
                   args.workers)


if __name__ == "__main__":
    main()
