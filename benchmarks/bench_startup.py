"""Benchmark a run's fixed cost: a one-month DEMO-A run against a bare import of the stack.

Side by side, alternating, ``--repeat`` times each, in fresh processes:

- **stack**: a bare Python that imports the third-party modules the notebooks' import lines
  load (found by importing those lines once and keeping every module of ``sys.modules`` that
  is neither the standard library nor ``protection_eval``), and nothing else;
- **run**: ``protection-eval run DEMO-A.yaml --period <month>`` as a user types it: the
  command's own start, validation, the six notebooks in the mission's warm kernel, the HTML
  pages, the audit gate, ``brief.pdf``, the cross-mission evidence and the report index;
- **run, reference engine** (``--reference``): the same run with papermill's own engine (a new
  kernel over TCP for each notebook), as every run was before the warm kernel;
- **before** (``--before PATH``): the same command from another checkout (its
  ``.venv/bin/protection-eval``), e.g. ``main`` before this change.

Prints wall and CPU time (the process and its children) of each, their medians, the ratio
run / stack (issue 28's target: at most 4) and the load average, since the machine is shared.

Usage: ``python benchmarks/bench_startup.py [--repeat 3] [--month 2023-06] [--reference]
[--before ../other/.venv/bin/protection-eval]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_runner import machine

from protection_eval.demo import make_demo_missions
from protection_eval.runs.kernels import notebook_imports
from protection_eval.runs.layout import notebook_paths

#: Lists, in load order, the third-party modules the notebooks' import lines load.
FIND_STACK = """
import sys
before = set(sys.modules)
exec(sys.stdin.read(), {})
for name in sys.modules:
    top = name.partition(".")[0]
    if (name not in before and top not in sys.stdlib_module_names and top != "protection_eval"
            and not top.startswith("_")):
        print(name)
"""

#: The same batch of one, with papermill's own engine (the command has no option for it).
REFERENCE_RUN = """
import sys
from protection_eval.runs.batch import run_missions
from protection_eval.runs.kernels import REFERENCE_ENGINE
batch = run_missions([sys.argv[1]], reports_dir=sys.argv[2], period=sys.argv[3],
                     engine=REFERENCE_ENGINE)
sys.exit(batch.exit_code)
"""


def stack_modules() -> list[str]:
    """Return the third-party modules the notebooks' imports load, in the order loaded."""
    imports = notebook_imports(p.read_text(encoding="utf-8") for p in notebook_paths())
    found = subprocess.run([sys.executable, "-c", FIND_STACK], input=imports, text=True,
                           capture_output=True, check=True)
    return found.stdout.split()


def timed(command: list[str], *, quiet: bool = False) -> tuple[float, float]:
    """Run ``command``; return its wall time and the CPU time of it and its children.

    With ``quiet``, fail if a kernel warned that it runs over TCP (the warm kernels must not;
    papermill's own engine's do).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    if quiet and "without encryption" in done.stdout + done.stderr:
        raise SystemExit("a kernel warned that it runs over TCP without encryption")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--month", default="2023-06")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reference", action="store_true",
                        help="also time the run with papermill's own engine")
    parser.add_argument("--before", type=Path,
                        help="also time this protection-eval command (another checkout's)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    modules = stack_modules()
    tops = sorted({m.partition(".")[0] for m in modules})
    print(f"stack: {len(modules)} modules of {len(tops)} packages ({', '.join(tops)})")
    stack_code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    command = Path(sys.executable).with_name("protection-eval")
    times: dict[str, list[tuple[float, float]]] = {"stack": [], "run": [], "reference": [],
                                                   "before": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = make_demo_missions(root / "missions", seed=args.seed, scale=1.0)[0]
        for i in range(args.repeat):
            load = os.getloadavg()[0]
            times["stack"].append(timed([sys.executable, "-c", stack_code]))
            times["run"].append(timed([str(command), "run", str(config), "--period", args.month,
                                       "--reports", str(root / f"r{i}")], quiet=True))
            if args.reference:
                times["reference"].append(timed([sys.executable, "-c", REFERENCE_RUN,
                                                 str(config), str(root / f"ref{i}"),
                                                 args.month]))
            if args.before:
                times["before"].append(timed([str(args.before), "run", str(config), "--period",
                                              args.month, "--reports", str(root / f"b{i}")]))
            line = "  ".join(f"{k} {w:5.1f} s wall {c:5.1f} s CPU" for k, v in times.items()
                             if v for w, c in [v[-1]])
            print(f"round {i + 1} (load average {load:.1f}): {line}", flush=True)
    medians = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items() if v}
    for name, (wall, cpu) in medians.items():
        print(f"median {name:<10} {wall:6.1f} s wall {cpu:6.1f} s CPU")
    ratio = medians["run"][0] / medians["stack"][0]
    print(f"one-month DEMO-A run / bare import of the stack: {ratio:.1f}x (target <= 4: "
          f"{'met' if ratio <= 4 else 'MISSED'}); load average now {os.getloadavg()[0]:.1f}")
    if args.before:
        print(f"before / now: {medians['before'][0] / medians['run'][0]:.2f}x wall, "
              f"{medians['before'][1] / medians['run'][1]:.2f}x CPU")
    if args.reference:
        print(f"reference engine / warm kernel: "
              f"{medians['reference'][0] / medians['run'][0]:.2f}x wall, "
              f"{medians['reference'][1] / medians['run'][1]:.2f}x CPU")


if __name__ == "__main__":
    main()
