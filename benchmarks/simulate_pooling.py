"""Simulation study of pooling across few missions (summary goes to docs/validity.md).

Usage: python benchmarks/simulate_pooling.py [--sims 1000] [--seed 20261130]

Prints a markdown table: coverage of the 95% interval of the pooled ratio with 2, 4 and 8
missions for DerSimonian-Laird with a normal interval (the former default), REML with a normal
interval and REML with the Hartung-Knapp-Sidik-Jonkman interval (the default below 10
missions), and coverage of the prediction interval for a new mission.
"""

from __future__ import annotations

import argparse
import platform
import time

import pandas as pd

from protection_eval.inventory.pooling_validity import compute_pooling_coverage


def to_markdown(frame: pd.DataFrame) -> str:
    """Render a small frame as a markdown table (no tabulate dependency)."""
    cells = frame.astype(object).map(lambda v: "" if pd.isna(v) else str(v))
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    start = time.perf_counter()
    table = compute_pooling_coverage(n_sims=args.sims, seed=args.seed)
    shown = table.copy()
    for column in shown.columns:
        if column.startswith(("coverage", "pi_coverage")):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{100 * v:.1f}%")
        elif column.startswith("median_width"):
            shown[column] = shown[column].map(lambda v: f"{v:.2f}")
    print(to_markdown(shown))
    print(
        f"\n{args.sims} replications per row, seed {args.seed}; "
        f"{time.perf_counter() - start:.0f} s on {platform.machine()}, Python "
        f"{platform.python_version()}"
    )


if __name__ == "__main__":
    main()
