"""Notebook 01's monthly counts: every accepted and quarantined row counted once, by month."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from protection_eval.ingest.quality import compute_monthly_counts
from protection_eval.model import to_local_month
from protection_eval.runs.missions import load_mission

FIXTURE = Path(__file__).parent / "fixtures" / "bad_mission" / "mission.yaml"


def test_monthly_counts_reconcile_with_the_report_and_count_local_months():
    mission = load_mission(FIXTURE)
    counts = compute_monthly_counts(mission)
    assert list(counts.columns) == ["table", "month", "accepted", "quarantined"]
    totals = counts.groupby("table")[["accepted", "quarantined"]].sum()
    for table, row in totals.iterrows():
        report = mission.validation.tables[table]
        assert (row["accepted"], row["quarantined"]) == (report.rows_accepted,
                                                          report.rows_rejected), table
    # The GPS fixes (coordinates, no geometry) by their mission-local month, as text.
    tracks = mission.patrol_tracks
    months = to_local_month(tracks["recorded_at"], mission.config.timezone).astype(str)
    expected = months.value_counts().sort_index()
    got = counts[counts["table"] == "patrol_tracks"].set_index("month")["accepted"]
    got = got[got > 0]
    pd.testing.assert_series_equal(got, expected, check_names=False, check_index_type=False,
                                   check_dtype=False)
    assert counts.equals(counts.sort_values(["table", "month"]))
