"""Benchmark one mission end to end as it grows: x1, x16, x64 and about ten million GPS fixes.

Issue 18. Each size is DEMO-A from the demo generator (``make_demo_missions(scale=...)``, seed
11); the largest is x16 with its GPS tracks made ``--dense`` times denser by interpolating
between consecutive fixes of a patrol (positions and times on the straight line), about ten
million fixes. Each mission is run end to end with ``protection-eval run`` in a child process
(validation, every notebook, HTML exports, the audit gate, the brief's PDF) while this program
polls the process tree in ``/proc``: wall time, the peak resident memory of every process
(its own high-water mark, ``VmHWM``) and the peak of the tree's sum (sampled).

Targets: x64 in at most 2.5x the x1 time with every process under 3 GB; the ten-million-fix
mission in at most 4x the x1 time with every process under 4 GB. Prints a table, the growth
exponent (slope of log wall time on log GPS fixes) and the notebooks' own seconds;
docs/performance.md records them with the machine.

Usage::

    python benchmarks/bench_scale.py [--sizes x1,x16,x64,dense] [--dense 12] [--work DIR]
                                     [--seed 11] [--jobs 1] [--reuse DIR] [--results FILE]

Generation is not timed. ``--work`` keeps the missions and reports (default: a temporary folder
removed at the end); ``--reuse`` takes missions generated earlier; ``--results`` accumulates the
rows of several invocations (one size at a time on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.demo import make_demo_missions

SIZES = {"x1": (1.0, 1), "x16": (16.0, 1), "x64": (64.0, 1), "dense": (16.0, None)}
POLL_S = 0.2


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
    load = os.getloadavg()[0]
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python "
            f"{platform.python_version()}, load average {load:.1f} at start")


def densify_tracks(path: Path, factor: int) -> int:
    """Rewrite a GeoParquet of GPS fixes ``factor`` times denser; return the fixes written.

    ``factor - 1`` fixes are interpolated between each two consecutive fixes of a patrol.
    """
    tracks = gpd.read_parquet(path)
    x = tracks.geometry.x.to_numpy()
    y = tracks.geometry.y.to_numpy()
    stamps = tracks["recorded_at"]
    t = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    t = t.astype(np.int64)
    ids = tracks["patrol_id"].to_numpy()
    pair = np.flatnonzero(ids[1:] == ids[:-1])
    steps = np.arange(1, factor) / factor
    first = np.repeat(pair, len(steps))
    frac = np.tile(steps, len(pair))

    def between(values: np.ndarray) -> np.ndarray:
        return values[first] + frac * (values[first + 1] - values[first])

    new_t = np.round(between(t.astype(float))).astype(np.int64)
    order = np.argsort(np.concatenate([np.arange(len(tracks), dtype=float), first + frac]),
                       kind="stable")
    all_x = np.concatenate([x, between(x)])[order]
    all_y = np.concatenate([y, between(y)])[order]
    all_t = pd.to_datetime(np.concatenate([t, new_t])[order], utc=True)
    dense = gpd.GeoDataFrame(
        {"patrol_id": np.concatenate([ids, ids[first]])[order],
         "recorded_at": all_t.tz_convert(stamps.dt.tz)},
        geometry=gpd.points_from_xy(all_x, all_y), crs=tracks.crs,
    )
    dense.to_parquet(path)
    return len(dense)


def make_mission(work: Path, name: str, seed: int, dense: int,
                 reuse: Path | None = None) -> tuple[Path, dict]:
    """Generate one size of DEMO-A (or take it from ``reuse``); return its YAML and sizes."""
    scale, factor = SIZES[name]
    started = time.perf_counter()
    tracks_name = Path("demo-a") / "patrol_tracks.parquet"
    if reuse is not None and (reuse / name / "DEMO-A.yaml").exists():
        folder = reuse / name
        config = folder / "DEMO-A.yaml"
        fixes = len(pd.read_parquet(folder / tracks_name, columns=["patrol_id"]))
    else:
        folder = work / name
        shutil.rmtree(folder, ignore_errors=True)
        config = make_demo_missions(folder, seed=seed, scale=scale, missions=("DEMO-A",))[0]
        tracks = folder / tracks_name
        fixes = densify_tracks(tracks, dense) if factor is None else len(pd.read_parquet(
            tracks, columns=["patrol_id"]))
    incidents = sum(1 for _ in open(folder / "demo-a" / "incidents.csv", encoding="utf-8")) - 1
    return config, {"fixes": fixes, "incidents": incidents,
                    "generated_s": time.perf_counter() - started}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _memory_kb(pid: int) -> tuple[int, int] | None:
    """Return (VmRSS, VmHWM) in kB, or None when the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0]] = int(line.split()[1])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _label(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    if "ipykernel" in cmd:
        return "notebook kernel"
    if "chrom" in cmd.lower():
        return "chromium (brief.pdf)"
    if " run " in cmd and "protection" in cmd:
        return "runner"
    return cmd.split(" ")[0].rsplit("/", 1)[-1] or "?"


@dataclass
class Measured:
    """Wall time and memory of one end-to-end run."""

    wall_s: float = 0.0
    tree_peak_kb: int = 0
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)

    def largest(self) -> tuple[str, float]:
        """Return the label and peak (GB) of the process with the highest peak."""
        label, kb = max(self.peaks.values(), key=lambda v: v[1])
        return label, kb / 1e6


def run_measured(command: list[str]) -> Measured:
    """Run a command, polling its process tree until it ends; fail loudly when it fails."""
    measured = Measured()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    while process.poll() is None:
        tree, pending, total = _children(), [process.pid], 0
        while pending:
            pid = pending.pop()
            pending += tree.get(pid, [])
            memory = _memory_kb(pid)
            if memory is None:
                continue
            total += memory[0]
            label = measured.peaks.get(pid, (None, 0))[0] or _label(pid)
            measured.peaks[pid] = (label, max(measured.peaks.get(pid, ("", 0))[1], memory[1]))
        measured.tree_peak_kb = max(measured.tree_peak_kb, total)
        time.sleep(POLL_S)
    measured.wall_s = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
    return measured


def _command(config: Path, reports: Path, jobs: int) -> list[str]:
    script = Path(sys.executable).with_name("protection-eval")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "protection_eval.cli"]
    return [*head, "run", str(config), "--reports", str(reports), "--jobs", str(jobs)]


def _notebook_seconds(reports: Path) -> str:
    manifest = json.loads(next(reports.glob("*/latest/manifest.json")).read_text())
    parts = [f"{n['notebook'][:2]} {n['seconds']:.0f}" for n in manifest["notebooks"]]
    return ", ".join(parts)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="x1,x16,x64,dense")
    parser.add_argument("--dense", type=int, default=12, help="densification of x16's tracks")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executing at once")
    parser.add_argument("--work", type=Path, help="keep missions and reports here")
    parser.add_argument("--reuse", type=Path,
                        help="take <size>/DEMO-A.yaml from this folder when it is there")
    parser.add_argument("--results", type=Path,
                        help="JSON lines file: each size's row is added to it, and the table "
                             "covers every row in it (sizes run by separate invocations)")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    print(f"machine: {machine()}", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    rows = []
    try:
        for name in sizes:
            config, size = make_mission(work, name, args.seed, args.dense, args.reuse)
            reports = work / f"reports-{name}"
            shutil.rmtree(reports, ignore_errors=True)
            measured = run_measured(_command(config, reports, args.jobs))
            label, peak = measured.largest()
            rows.append({"size": name, **size, "wall_s": measured.wall_s, "largest": label,
                         "process_peak_gb": peak, "tree_peak_gb": measured.tree_peak_kb / 1e6,
                         "load_average": os.getloadavg()[0]})
            if args.results is not None:
                with args.results.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(rows[-1]) + "\n")
            print(f"{name}: {size['fixes']:,} fixes, {size['incidents']:,} incidents: "
                  f"{measured.wall_s:.0f} s, largest process {label} {peak:.2f} GB, tree "
                  f"{measured.tree_peak_kb / 1e6:.2f} GB; notebooks (s): "
                  f"{_notebook_seconds(reports)}", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.results is not None:
        lines = args.results.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    report(rows)


def report(rows: list[dict]) -> None:
    """Print the table, the ratios to x1 and the growth exponent."""
    table = pd.DataFrame(rows)
    base = table.loc[table["size"] == "x1", "wall_s"]
    if len(base):
        table["vs_x1"] = table["wall_s"] / float(base.iloc[0])
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    if len(table) >= 2:
        slope = np.polyfit(np.log(table["fixes"]), np.log(table["wall_s"]), 1)[0]
        print(f"growth exponent (log wall time on log GPS fixes): {slope:.2f}")
    targets = {"x64": (2.5, 3.0), "dense": (4.0, 4.0)}
    for _, row in table.iterrows():
        if row["size"] in targets and "vs_x1" in row:
            ratio, memory = targets[row["size"]]
            met = row["vs_x1"] <= ratio and row["process_peak_gb"] < memory
            print(f"{row['size']}: {row['vs_x1']:.2f}x x1 (target <= {ratio}x), largest process "
                  f"{row['process_peak_gb']:.2f} GB (target < {memory} GB): "
                  f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
