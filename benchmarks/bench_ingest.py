"""Benchmark of ingestion on a large incidents CSV (issue 10, item 12).

Scenario at ``--rows 1400000``: the synthetic mission DEMO-A with its incidents file replaced
by one of 1.4 million rows, about 200 MB, in DEMO-A's own source format (a GBVIMS-style export
with day-first dates, source labels, and four identifying columns that ingestion drops). Rows
are drawn from DEMO-A's own incidents, the quarantined ones included at their own rate, with a
fresh id, a fresh minute in the mission period and the point moved by a few hundred metres.

Each phase runs in its own Python process, so its peak memory (the high-water mark of its
resident memory, ``VmHWM``, imports included) is its own:

- ``imports``: import the library and its dependencies (the floor of every phase);
- ``read``: :func:`protection_eval.io.readers.read_raw_table` on the incidents file and its
  row count (a large incidents CSV is handed over in blocks, counted block by block);
- ``read-whole``: the same file as one frame (``RawTableBlocks.frame``, as earlier rounds read
  it and as the audit of a run still reads it);
- ``validate``: ``protection-eval validate`` on the mission (read, check, quarantine every
  table, write ``validation.json`` and ``rejected/``), as a user runs it;
- ``tracks`` (issue 18, section 1): DEMO-A's GPS tracks made ``--track-rows`` fixes long
  (its own fixes repeated, each copy 7 s later and moved by about 50 m), as GeoParquet like
  the demo writes them; the phase checks the areas and patrols, then reads and checks the
  tracks alone (``read_raw_table`` + ``ingest_table`` + ``validate_table``) and reports the
  rows per second of wall and of CPU time, the size of the decoded Arrow table (read after
  the phase) and how far the phase raised the peak over its start, as a multiple of it.

Usage::

    python benchmarks/bench_ingest.py [--rows 1400000] [--track-rows 2000000] [--keep DIR]
        [--phases imports read read-whole validate tracks] [--trace] [--keep-report-delay]

Prints one JSON line per phase (wall and CPU seconds, peak memory) and a summary with the file
size and peak memory as a multiple of it. Nothing is asserted: on a shared machine the figures
are measurements, not tests.
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
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

#: What each phase runs in its own process; it prints its wall time and peak RSS as JSON.
_CHILD = r"""
import json, os, resource, sys, threading, time, traceback
start = time.perf_counter()
phase, config, incidents, out = sys.argv[1:5]
if os.environ.get("BENCH_INGEST_TRACE"):
    # Where memory grows: the library's frames of the main thread at each new high-water
    # mark (resident memory sampled every 5 ms, reported in steps of 20 MB), on stderr.
    main_thread = threading.get_ident()

    def sample():
        best = 0.0
        while True:
            status = open("/proc/self/status").read()
            rss = int(status.split("VmRSS:")[1].split()[0]) / 1024.0
            if rss > best + 20:
                best = rss
                frames = traceback.extract_stack(sys._current_frames().get(main_thread))
                where = [f"{f.filename.split('/src/')[-1]}:{f.lineno} {f.name}"
                         for f in frames if "protection_eval" in f.filename][-3:]
                print(f"{rss:.0f} MB {time.perf_counter() - start:.1f} s "
                      + " <- ".join(reversed(where)), file=sys.stderr, flush=True)
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
import protection_eval.ingest.tables  # noqa: E401
import protection_eval.io.readers
import protection_eval.runs.runner
if phase == "read":
    # A large incidents CSV is handed over in blocks: this counts its rows, block by block.
    rows = protection_eval.io.readers.read_raw_table("incidents", incidents).rows
elif phase == "read-whole":
    # The whole table as one frame, as earlier rounds read it (and as the audit still does).
    rows = len(protection_eval.io.readers.read_raw_table("incidents", incidents).frame)
elif phase == "tracks":
    import datetime as dt
    import pyarrow.parquet as pq
    from pathlib import Path
    from protection_eval.config import load_mission_config
    from protection_eval.ingest import tables
    from protection_eval.ingest.quarantine import IngestContext
    from protection_eval.io.readers import read_raw_table
    from protection_eval.projection import choose_working_projection
    cfg = load_mission_config(Path(config))
    ctx = IngestContext(cfg, frozenset(), dt.date(2026, 11, 30))
    for name in ("areas", "patrols"):
        spec = getattr(cfg.sources, name)
        accepted, _, _ = tables.ingest_table(read_raw_table(name, spec.path, spec=spec), spec,
                                             ctx)
        accepted = tables.validate_table(name, accepted)
        if name == "areas":
            # As ingest_mission does: the working projection chosen from the accepted areas.
            ctx.areas = accepted
            ctx.projection = choose_working_projection(accepted, cfg.crs)
            ctx.projected_crs = ctx.projection.crs
        else:
            ctx.patrol_ids = frozenset(accepted["patrol_id"])
    track_file = Path(incidents).parent / "patrol_tracks_large.parquet"
    floor = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024.0
    wall, cpu = time.perf_counter(), time.process_time()
    spec = cfg.sources.patrol_tracks
    accepted, rejected, report = tables.ingest_table(
        read_raw_table("patrol_tracks", track_file, spec=spec), spec, ctx)
    accepted = tables.validate_table("patrol_tracks", accepted)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = report.rows_read
    tracks_peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024.0
    # Read after the phase, so that this read is neither in its floor nor in its peak.
    decoded_mb = pq.read_table(track_file).nbytes / 2**20
    extra = {"tracks_wall_s": round(wall, 2), "tracks_cpu_s": round(cpu, 2),
             "rows_per_s_wall": round(rows / wall), "rows_per_s_cpu": round(rows / cpu),
             "decoded_mb": round(decoded_mb, 1), "rss_before_tracks_mb": round(floor, 1),
             "growth_x_decoded": round((tracks_peak - floor) / decoded_mb, 2),
             "rejected": report.rows_rejected}
elif phase == "validate":
    from protection_eval.cli import main
    try:
        sys.argv = ["protection-eval", "validate", config, "--out", out]
        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    rows = json.load(open(out + "/validation.json"))["tables"]["incidents"]["rows_read"]
else:
    rows = 0
# VmHWM is this program's own high-water mark; ru_maxrss would also count the pages of the
# parent this process was forked from before it ran Python.
try:
    status = open("/proc/self/status").read()
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024.0
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"phase": phase, "wall_s": round(time.perf_counter() - start, 2),
                  "cpu_s": round(time.process_time(), 2),
                  "peak_mb": round(peak_mb, 1), "rows": rows, **globals().get("extra", {})}))
"""


def make_large_mission(folder: Path, rows: int, seed: int = 7,
                       keep_report_delay: bool = False) -> tuple[Path, Path]:
    """Write DEMO-A with an incidents CSV of ``rows`` rows into ``folder``.

    By default a row's report date is kept while its incident date is drawn afresh, so about
    half the rows are quarantined as reported before they occurred (the file of the earlier
    rounds, kept so that their figures compare). ``keep_report_delay`` moves the report date
    with the incident date, keeping each row's own delay: the file is then quarantined at
    DEMO-A's own rates, as a real export would be.

    Parameters
    ----------
    folder : Path
        An empty folder.
    rows : int
        Number of incident rows in the large file.
    seed : int
        Seed of the resampling.
    keep_report_delay : bool
        Move ``Date of Report`` with ``Incident Date`` (each row's own delay kept).

    Returns
    -------
    config, incidents : Path
        The mission YAML and the large incidents CSV.
    """
    from protection_eval.demo import make_demo_missions

    config = next(p for p in make_demo_missions(folder, seed=11, scale=0.35)
                  if p.stem == "DEMO-A")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    small = pd.read_csv(config.parent / settings["sources"]["incidents"]["path"], dtype=str,
                        keep_default_na=False)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(small), rows)
    table = small.iloc[pick].reset_index(drop=True)
    start = pd.Timestamp(settings["period"]["start"])
    minutes = int((pd.Timestamp(settings["period"]["end"]) - start).total_seconds() // 60)
    when = start + pd.to_timedelta(rng.integers(0, minutes, rows), unit="min")
    # Rows quarantined for their date or point keep the cell that gets them quarantined.
    keep_date = ~table["Incident Date"].str.match(r"^\d{2}/\d{2}/20(22|23) \d{2}:\d{2}$")
    if keep_report_delay:
        day_first = "%d/%m/%Y %H:%M"
        delay = (pd.to_datetime(table["Date of Report"], format=day_first, errors="coerce")
                 - pd.to_datetime(table["Incident Date"], format=day_first, errors="coerce"))
        moved = (when + delay.to_numpy()).strftime(day_first)
        table["Date of Report"] = np.where(keep_date | delay.isna(), table["Date of Report"],
                                           moved)
    table["Incident Date"] = np.where(keep_date, table["Incident Date"],
                                      when.strftime("%d/%m/%Y %H:%M"))
    for column in ("Longitude", "Latitude"):
        number = pd.to_numeric(table[column], errors="coerce")
        usual = number.between(-40, 40) & (number != 0)
        moved = (number + rng.normal(0, 0.003, rows)).round(6).astype(str)
        table[column] = np.where(usual, moved, table[column])
    table["Incident ID"] = [f"BENCH-I{i + 1:07d}" for i in range(rows)]
    table["Survivor Name"] = [f"SYNTHETIC NAME {i}" for i in range(rows)]
    incidents = config.parent / "demo-a" / "incidents_large.csv"
    table.to_csv(incidents, index=False, lineterminator="\n")
    settings["sources"]["incidents"]["path"] = "demo-a/incidents_large.csv"
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return config, incidents


def make_large_tracks(folder: Path, rows: int, seed: int = 3) -> Path:
    """Write DEMO-A's GPS tracks made ``rows`` fixes long next to the large incidents file."""
    import geopandas as gpd

    small = gpd.read_parquet(folder / "demo-a" / "patrol_tracks.parquet")
    rng = np.random.default_rng(seed)
    position = np.arange(rows) % len(small)
    copy = np.arange(rows) // len(small)
    table = small.iloc[position].reset_index(drop=True)
    when = table["recorded_at"] + pd.to_timedelta(copy * 7, unit="s")
    x = (table.geometry.x.to_numpy() + rng.normal(0, 0.0005, rows)).round(6)
    y = (table.geometry.y.to_numpy() + rng.normal(0, 0.0005, rows)).round(6)
    tracks = gpd.GeoDataFrame({"patrol_id": table["patrol_id"], "recorded_at": when},
                              geometry=gpd.points_from_xy(x, y), crs=small.crs)
    path = folder / "demo-a" / "patrol_tracks_large.parquet"
    tracks.to_parquet(path)
    return path


def run_phase(phase: str, config: Path, incidents: Path, out: Path, trace: bool = False) -> dict:
    """Run one phase in a fresh Python process and return its measurements."""
    env = {**os.environ, **({"BENCH_INGEST_TRACE": "1"} if trace else {})}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, phase, str(config), str(incidents), str(out)],
        capture_output=True, text=True, check=False, env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"phase {phase} failed:\n{result.stderr[-3000:]}")
    if trace:
        print("\n".join(line for line in result.stderr.splitlines() if " MB " in line),
              file=sys.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    pages = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"{model}, {os.cpu_count()} cores, {pages / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> None:
    """Generate the large mission, run each phase and print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_400_000)
    parser.add_argument("--keep", type=Path, help="Generate into (or reuse) this folder")
    parser.add_argument("--track-rows", type=int, default=2_000_000)
    parser.add_argument("--phases", nargs="+",
                        default=["imports", "read", "validate", "tracks"])
    parser.add_argument("--keep-report-delay", action="store_true",
                        help="Move each row's report date with its incident date (DEMO-A's "
                             "own quarantine rates instead of about half the rows)")
    parser.add_argument("--trace", action="store_true",
                        help="Print where each phase's memory grows (stack at each new peak)")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        config = folder / "DEMO-A.yaml"
        incidents = folder / "demo-a" / "incidents_large.csv"
        if not incidents.exists():
            started = time.perf_counter()
            config, incidents = make_large_mission(folder, args.rows,
                                                   keep_report_delay=args.keep_report_delay)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
        tracks = folder / "demo-a" / "patrol_tracks_large.parquet"
        if "tracks" in args.phases and not tracks.exists():
            make_large_tracks(folder, args.track_rows)
        size_mb = incidents.stat().st_size / 2**20
        print(json.dumps({"machine": _machine(), "file_mb": round(size_mb, 1)}))
        for phase in args.phases:
            result = run_phase(phase, config, incidents, folder / "out", args.trace)
            result["peak_x_file"] = round(result["peak_mb"] / size_mb, 2)
            print(json.dumps(result), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
