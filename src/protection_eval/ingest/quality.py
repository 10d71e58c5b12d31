"""Data-quality views of an ingested mission: what was read, kept and quarantined, and when.

These feed the first notebook of every run. They show quarantined rows, so they are restricted
outputs: nothing here may go into a run's shared part.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from protection_eval.ingest.parsing import parse_numbers, parse_times
from protection_eval.ingest.tables import MissionData
from protection_eval.model import to_local_month

_TIME_COLUMNS = {
    "incidents": "occurred_at",
    "patrols": "started_at",
    "patrol_tracks": "recorded_at",
    "bases": "valid_from",
    "deployments": "started_on",
}


def _months(values: pd.Series, timezone: str) -> pd.Series:
    return to_local_month(values, timezone).astype(str)


def compute_monthly_counts(mission: MissionData) -> pd.DataFrame:
    """Count accepted and quarantined rows per table and month.

    Quarantined rows whose date cannot be read are counted under month ``unknown``.

    Parameters
    ----------
    mission : MissionData
        An ingested mission.

    Returns
    -------
    pandas.DataFrame
        Columns ``table, month, accepted, quarantined``.
    """
    tz = mission.config.timezone
    frames = []
    for table, column in _TIME_COLUMNS.items():
        accepted = getattr(mission, table)
        rejected = mission.validation.rejected.get(table)
        if accepted is None or rejected is None:
            continue
        # Counted as months, then the few months made text: not a text per row (the GPS
        # fixes are millions of rows); the same counts, in the same order.
        ok = to_local_month(accepted[column], tz).value_counts().rename("accepted")
        ok.index = ok.index.astype(str)
        text = rejected[column].astype(str).str.strip() if column in rejected else pd.Series()
        spec = getattr(mission.config.sources, table)
        present = text[text != ""]
        parsed = parse_times(present, timezone=tz, date_format=spec.date_format).values
        months = _months(parsed, tz).where(parsed.notna(), "unknown")
        unknown = len(rejected) - len(present)
        bad = months.value_counts()
        if unknown:
            bad = bad.add(pd.Series({"unknown": unknown}), fill_value=0)
        counts = pd.concat([ok, bad.rename("quarantined")], axis=1).fillna(0).astype(int)
        frames.append(counts.rename_axis("month").reset_index().assign(table=table))
    out = pd.concat(frames, ignore_index=True)
    return out[["table", "month", "accepted", "quarantined"]].sort_values(["table", "month"])


def quarantined_points(mission: MissionData) -> pd.DataFrame:
    """Return quarantined point rows whose coordinates can be drawn, with their reason.

    Returns
    -------
    pandas.DataFrame
        Columns ``table, source_row, reason, longitude, latitude``; rows whose coordinates are
        unreadable or outside WGS84 ranges are left out (they cannot be placed on a map).
    """
    frames = []
    for table in ("incidents", "patrol_tracks", "bases"):
        rejected = mission.validation.rejected.get(table)
        if rejected is None or rejected.empty or "longitude" not in rejected:
            continue
        lon = parse_numbers(rejected["longitude"]).values
        lat = parse_numbers(rejected["latitude"]).values
        ok = lon.between(-180, 180) & lat.between(-90, 90)
        frames.append(pd.DataFrame({
            "table": table, "source_row": rejected["source_row"], "reason": rejected["reason"],
            "longitude": lon, "latitude": lat,
        })[ok])
    columns = ["table", "source_row", "reason", "longitude", "latitude"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def plot_quarantine_map(mission: MissionData) -> Figure:
    """Draw the mission's areas and where quarantined rows were (a restricted figure).

    Points far outside the areas (swapped or sign-flipped coordinates) widen the view on
    purpose: seeing where they landed is how an evaluator recognises the mistake. The figure is
    closed once drawn, so that a notebook cell ending with this call shows it once.
    """
    fig, ax = plt.subplots(figsize=(8, 7))
    mission.areas.boundary.plot(ax=ax, color="#777777", linewidth=0.6)
    points = quarantined_points(mission)
    for reason, group in points.groupby("reason"):
        ax.scatter(group.longitude, group.latitude, s=28, label=f"{reason} ({len(group)})")
    ax.set_title(f"{mission.config.mission}: where quarantined rows were (restricted)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    if len(points):
        ax.legend(fontsize=7, loc="best")
    # Open, the inline backend would draw it again at the cell's end, after the cell's value.
    plt.close(fig)
    return fig
