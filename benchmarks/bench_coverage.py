"""Benchmark of incident coverage by GPS tracks (issue 3, section 5).

Scenario at ``--scale 1``: 1,000,000 incidents and 1,000,000 GPS fixes over one year in a 500 km
square (UTM zone 33N), radius 2 km, window 72 h. Patrols are random walks of 96 fixes five
minutes apart (foot to vehicle speeds), with an occasional long gap that is not interpolated.

Each phase runs in its own Python process so that its peak memory (max RSS) is its own. The
timed phases (``read``, ``fast``, ``sjoin``) run ``--repeat`` times, each time in a fresh process,
and the medians are compared: on this shared machine one run of the fast path moves by almost 2x
from one process to the next (most of it the kernel handing out fresh memory pages).

- ``read``: read both inputs from GeoParquet (the floor);
- ``fast``: read, then :func:`protection_eval.coverage.mission.compute_incident_coverage`;
- ``sjoin``: read, then geopandas ``sjoin(predicate="dwithin")`` and a time filter, the
  straightforward way (fixes only, no interpolation between them);
- ``brute``: the fast path's answers for a sample of incidents against a brute-force reference
  (every movement, no index).

Usage::

    python benchmarks/bench_coverage.py [--scale 1.0] [--sample 200] [--repeat 3] [--skip-sjoin]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

RADIUS_M = 2_000.0
WINDOW_H = 72.0
SIDE_M = 500_000.0
CRS = "EPSG:32633"
ORIGIN = (250_000.0, 500_000.0)
START = pd.Timestamp("2023-01-01", tz="UTC")
YEAR_S = 365 * 86_400.0
FIXES_PER_PATROL = 96


def make_scenario(scale: float, seed: int = 3) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return (incidents, tracks) for the benchmark at ``scale``."""
    rng = np.random.default_rng(seed)
    n_inc = int(1_000_000 * scale)
    n_patrols = max(1, int(1_000_000 * scale) // FIXES_PER_PATROL)
    ix = ORIGIN[0] + rng.uniform(0, SIDE_M, n_inc)
    iy = ORIGIN[1] + rng.uniform(0, SIDE_M, n_inc)
    it = START + pd.to_timedelta(rng.uniform(0, YEAR_S, n_inc), unit="s")
    incidents = gpd.GeoDataFrame(
        {
            "incident_id": pd.array([f"I{i:07d}" for i in range(n_inc)], dtype="string"),
            "occurred_at": it,
            "time_precision": "time",
            "location_precision": "exact",
        },
        geometry=gpd.points_from_xy(ix, iy),
        crs=CRS,
    )
    speed = rng.uniform(1.0, 6.0, n_patrols)  # metres per second
    dt = rng.normal(300.0, 20.0, (n_patrols, FIXES_PER_PATROL)).clip(60.0)
    gaps = rng.random((n_patrols, FIXES_PER_PATROL)) < 0.005
    dt = dt + gaps * rng.uniform(0, 10 * 3600.0, dt.shape)
    dt[:, 0] = 0.0
    heading = rng.uniform(0, 2 * np.pi, (n_patrols, 1)) + np.cumsum(
        rng.normal(0, 0.3, (n_patrols, FIXES_PER_PATROL)), axis=1
    )
    step = speed[:, None] * np.minimum(dt, 300.0)
    px = rng.uniform(0, SIDE_M, (n_patrols, 1)) + np.cumsum(step * np.cos(heading), axis=1)
    py = rng.uniform(0, SIDE_M, (n_patrols, 1)) + np.cumsum(step * np.sin(heading), axis=1)
    pt = rng.uniform(0, YEAR_S - 86_400.0, (n_patrols, 1)) + np.cumsum(dt, axis=1)
    tracks = gpd.GeoDataFrame(
        {
            "patrol_id": pd.array(
                np.repeat([f"P{i:06d}" for i in range(n_patrols)], FIXES_PER_PATROL),
                dtype="string",
            ),
            "recorded_at": START + pd.to_timedelta(pt.ravel(), unit="s"),
        },
        geometry=gpd.points_from_xy(
            ORIGIN[0] + np.clip(px.ravel(), 0, SIDE_M), ORIGIN[1] + np.clip(py.ravel(), 0, SIDE_M)
        ),
        crs=CRS,
    )
    return incidents, tracks


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _read(folder: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, float]:
    start = time.perf_counter()
    incidents = gpd.read_parquet(folder / "incidents.parquet")
    tracks = gpd.read_parquet(folder / "tracks.parquet")
    return incidents, tracks, time.perf_counter() - start


def phase_read(folder: Path) -> dict:
    _, _, seconds = _read(folder)
    return {"read_s": seconds, "peak_mb": _peak_mb()}


def phase_fast(folder: Path) -> dict:
    from protection_eval.coverage.mission import compute_incident_coverage

    incidents, tracks, read_s = _read(folder)
    start = time.perf_counter()
    result = compute_incident_coverage(incidents, tracks, RADIUS_M, WINDOW_H)
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    result[["covered", "nearest_m", "since_patrol_h"]].to_parquet(folder / "fast.parquet")
    return {
        "read_s": read_s,
        "compute_s": seconds,
        "peak_mb": peak,
        "covered": int(result["covered"].sum()),
    }


def phase_sjoin(folder: Path) -> dict:
    incidents, tracks, read_s = _read(folder)
    start = time.perf_counter()
    pairs = gpd.sjoin(
        incidents[["occurred_at", "geometry"]],
        tracks[["recorded_at", "geometry"]],
        predicate="dwithin",
        distance=RADIUS_M,
    )
    lag = pairs["occurred_at"] - pairs["recorded_at"]
    hit = pairs[(lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(hours=WINDOW_H))]
    covered = incidents.index.isin(hit.index)
    seconds = time.perf_counter() - start
    return {
        "read_s": read_s,
        "compute_s": seconds,
        "peak_mb": _peak_mb(),
        "spatial_pairs": len(pairs),
        "covered": int(covered.sum()),
    }


def phase_brute(folder: Path, sample: int) -> dict:
    from protection_eval.coverage.index import evaluate_coverage_brute
    from protection_eval.coverage.points import IncidentQueries, movements_from_tracks

    incidents, tracks, _ = _read(folder)
    fast = pd.read_parquet(folder / "fast.parquet")
    rng = np.random.default_rng(0)
    # Half the sample among covered incidents, so both outcomes are checked.
    covered_pos = np.flatnonzero(fast["covered"].to_numpy(dtype=bool))
    other_pos = np.flatnonzero(~fast["covered"].to_numpy(dtype=bool))
    pos = np.concatenate(
        [
            rng.choice(covered_pos, min(sample // 2, len(covered_pos)), replace=False),
            rng.choice(other_pos, min(sample - sample // 2, len(other_pos)), replace=False),
        ]
    )
    queries = IncidentQueries(incidents.iloc[pos], RADIUS_M, WINDOW_H)
    moves = movements_from_tracks(tracks, 6.0)
    start = time.perf_counter()
    parts = []
    for block in np.array_split(np.arange(len(pos)), max(1, len(pos) // 4)):
        parts.append(
            evaluate_coverage_brute(
                queries.x[block], queries.y[block], queries.start[block], queries.end[block],
                moves, RADIUS_M,
            )
        )
    seconds = time.perf_counter() - start
    covered = np.concatenate([p.covered for p in parts])
    nearest = np.concatenate([p.nearest for p in parts])
    since = (queries.end - np.concatenate([p.latest for p in parts])) / 3600.0
    ref = fast.iloc[pos]
    same_covered = np.array_equal(covered, ref["covered"].to_numpy(dtype=bool))
    same_nearest = np.allclose(nearest, ref["nearest_m"].to_numpy(), rtol=0, atol=1e-6,
                               equal_nan=True)
    same_since = np.allclose(since, ref["since_patrol_h"].to_numpy(), rtol=0, atol=1e-9,
                             equal_nan=True)
    return {
        "sample": len(pos),
        "sample_covered": int(covered.sum()),
        "brute_s": seconds,
        "identical": bool(same_covered and same_nearest and same_since),
    }


def _run_phase(name: str, folder: Path, sample: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--data", str(folder), "--sample",
         str(sample)],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_run(found: list[dict], key: str) -> dict:
    """Return the run whose ``key`` is the median (the lower one of an even count)."""
    ordered = sorted(found, key=lambda run: run[key])
    return ordered[(len(ordered) - 1) // 2]


def _spread(found: list[dict], key: str) -> str:
    """Return ``(min-max of N)`` for the runs' ``key``, or nothing for one run."""
    values = [run[key] for run in found]
    if len(values) == 1:
        return ""
    return f"(median of {len(values)}, {min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--skip-sjoin", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh processes per timed phase; medians are compared")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        folder = Path(args.data)
        phases = {
            "read": lambda: phase_read(folder),
            "fast": lambda: phase_fast(folder),
            "sjoin": lambda: phase_sjoin(folder),
            "brute": lambda: phase_brute(folder, args.sample),
        }
        print(json.dumps(phases[args.phase]()))
        return
    with tempfile.TemporaryDirectory(prefix="bench_coverage_") as tmp:
        folder = Path(tmp)
        incidents, tracks = make_scenario(args.scale)
        incidents.to_parquet(folder / "incidents.parquet")
        tracks.to_parquet(folder / "tracks.parquet")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"python {platform.python_version()}; {len(incidents):,} incidents x "
            f"{len(tracks):,} fixes, radius {RADIUS_M:,.0f} m, window {WINDOW_H:.0f} h"
        )
        del incidents, tracks
        timed = ["read", "fast"] + ([] if args.skip_sjoin else ["sjoin"])
        runs = {name: [] for name in timed}
        # Interleaved, so a change of load on the machine falls on every phase alike.
        for _ in range(max(1, args.repeat)):
            for name in timed:
                runs[name].append(_run_phase(name, folder, args.sample))
        results = {name: _median_run(found, "read_s" if name == "read" else "compute_s")
                   for name, found in runs.items()}
        results["brute"] = _run_phase("brute", folder, args.sample)
    floor = results["read"]["read_s"]
    fast = results["fast"]
    print(f"read both GeoParquet inputs (floor): {floor:6.2f} s "
          f"{_spread(runs['read'], 'read_s')}, peak {results['read']['peak_mb']:,.0f} MB")
    print(f"fast path: {fast['compute_s']:6.2f} s {_spread(runs['fast'], 'compute_s')} "
          f"({fast['compute_s'] / floor:.1f}x the floor), "
          f"peak {fast['peak_mb']:,.0f} MB incl. reading; covered {fast['covered']:,}")
    if "sjoin" in results:
        sj = results["sjoin"]
        print(f"geopandas sjoin(dwithin)+time filter: {sj['compute_s']:6.2f} s "
              f"{_spread(runs['sjoin'], 'compute_s')}, "
              f"peak {sj['peak_mb']:,.0f} MB incl. reading, {sj['spatial_pairs']:,} spatial "
              f"pairs; covered {sj['covered']:,} (fixes only, no interpolation); "
              f"fast path is {sj['compute_s'] / fast['compute_s']:.1f}x faster (medians)")
    br = results["brute"]
    print(f"brute force on a sample of {br['sample']} ({br['sample_covered']} covered): "
          f"identical={br['identical']} ({br['brute_s']:.1f} s)")


if __name__ == "__main__":
    main()
