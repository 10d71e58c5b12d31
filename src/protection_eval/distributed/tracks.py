"""GPS track ingestion split into row ranges checked on Dask workers.

Every check of a track row looks at that row alone (its patrol among the accepted patrols,
its time, its point against the mission's areas); the table has no id column, so no check
compares rows with each other. A track file can therefore be cut into consecutive row ranges,
each checked by the local :func:`protection_eval.ingest.tables.ingest_table` on a worker, and
the parts put back in order: the accepted rows, the quarantined rows with their reasons, and
the counts are those of one pass over the whole file.

Each worker sees its rows (as read: text cells and ``source_row``), the source's settings, and
the ingestion context (configuration, accepted areas, accepted patrol ids, today), which is
sent to every worker once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from protection_eval.ingest.validation import TableReport
from protection_eval.model import RawTable

__all__ = ["SPLIT_TABLES", "ingest_in_row_parts"]

#: Tables whose rows are checked one by one and that grow with the mission.
SPLIT_TABLES: tuple[str, ...] = ("patrol_tracks",)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate parts in order; empty parts add nothing (and must not change a dtype)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0]
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)


def ingest_in_row_parts(
    client: Any,
    raw: RawTable,
    spec: Any,
    ctx: Any,
    *,
    local: Any,
    rows_per_part: int,
    retries: int,
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    """Check a table in consecutive row ranges on a Dask cluster, as ``local`` would at once.

    Parameters
    ----------
    client : distributed.Client
        A connected client.
    raw : RawTable
        The table as read.
    spec : SourceSpec
        The source's settings.
    ctx : IngestContext
        What the checks of the mission share.
    local : callable
        ``ingest.tables.ingest_table``: what each part runs on its worker.
    rows_per_part : int
        Rows per part; a table of fewer rows, or not in :data:`SPLIT_TABLES`, is checked here.
    retries : int
        Times a part that raised is run again.

    Returns
    -------
    tuple
        Accepted rows, quarantined rows and the table's report, equal to ``local``'s.

    Raises
    ------
    MissionInputError
        As ``local`` raises it (a required column absent...), from the first part.
    """
    if raw.table not in SPLIT_TABLES or raw.rows <= rows_per_part:
        return local(raw, spec, ctx)
    # Small and needed by every part: on every worker once (replicated, so a worker's death
    # loses no copy the other parts need).
    [shared_ctx] = client.scatter([ctx], broadcast=True, hash=False)
    futures = [
        client.submit(local, RawTable(raw.table, raw.path,
                                      raw.frame.iloc[start:start + rows_per_part]
                                      .reset_index(drop=True), raw.notes),
                      spec, shared_ctx, pure=False, retries=retries)
        for start in range(0, raw.rows, rows_per_part)
    ]
    results = client.gather(futures)
    accepted = _concat([r[0] for r in results])
    rejected = _concat([r[1] for r in results])
    first = results[0][2]
    reasons = rejected["reason"].value_counts() if len(rejected) else pd.Series(dtype=int)
    report = TableReport(
        table=first.table,
        path=first.path,
        rows_read=sum(r[2].rows_read for r in results),
        rows_accepted=len(accepted),
        rows_rejected=len(rejected),
        reasons={str(k): int(v) for k, v in reasons.items()},
        dropped_columns=first.dropped_columns,
        rows_excluded=sum(r[2].rows_excluded for r in results),
        suggestions=dict(first.suggestions),
        notes=list(raw.notes),
    )
    return accepted, rejected, report
