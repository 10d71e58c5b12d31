"""Ingestion that loses nothing: every row read is accepted or quarantined with a reason.

:func:`ingest_mission` takes the raw tables read by :mod:`protection_eval.io.readers` and returns
:class:`MissionData`: the accepted rows in the canonical model (docs/architecture.md), the
quarantined rows with their reasons, and a
:class:`~protection_eval.ingest.validation.ValidationReport` whose counts reconcile. Columns outside
the model are dropped and listed, so identifying fields never reach an analysis table. Nothing is
guessed: an ambiguous date, an unmapped label or a point that would fit only if its coordinates were
swapped is quarantined, and the reason says so.

This module orchestrates; the parts are their own modules: the table models and
:class:`MissionData` (:mod:`protection_eval.ingest.table_models`), a source's columns
(:mod:`protection_eval.ingest.columns`), the per-table checks
(:mod:`protection_eval.ingest.checks`), duplicate detection
(:mod:`protection_eval.ingest.duplicates`) and block streaming
(:mod:`protection_eval.ingest.blocks`). The names callers import from here are imported here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import geopandas as gpd
import pandas as pd

from protection_eval.config import MissionConfig, SourceSpec
from protection_eval.engine import current_engine
from protection_eval.ingest.blocks import (
    INCIDENT_BLOCK_ROWS,
    TRACK_BLOCK_ROWS,
    _concat,
    _Given,
    _incidents_in_blocks,
    _selected_blocks,
    _slices,
    _Tally,
)
from protection_eval.ingest.checks import _checked, _split
from protection_eval.ingest.columns import _apply_where, _rename
from protection_eval.ingest.duplicates import MATCH_SEPARATOR
from protection_eval.ingest.errors import MissionInputError
from protection_eval.ingest.locations import near_miss_note
from protection_eval.ingest.quarantine import IngestContext, RejectedSink
from protection_eval.ingest.schemas import validate_table
from protection_eval.ingest.table_models import (
    INCIDENTS_CRS,
    MODELS,
    NUMBER_BOUNDS,
    ORDER,
    TRACKS_CRS,
    WGS84,
    MissionData,
    TableModel,
    to_incident_points,
)
from protection_eval.ingest.validation import TableReport, ValidationReport
from protection_eval.model import RawTable
from protection_eval.projection import choose_working_projection

__all__ = [
    "INCIDENTS_CRS",
    "INCIDENT_BLOCK_ROWS",
    "MATCH_SEPARATOR",
    "MODELS",
    "NUMBER_BOUNDS",
    "ORDER",
    "TRACKS_CRS",
    "TRACK_BLOCK_ROWS",
    "WGS84",
    "MissionData",
    "MissionInputError",
    "TableModel",
    "ingest_mission",
    "ingest_table",
    "to_incident_points",
]


def ingest_table(
    raw: RawTable, spec: SourceSpec, ctx: IngestContext, *, block_rows: int | None = None,
    rejected_sink: RejectedSink | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    """Check one table; return accepted rows, quarantined rows and the table's report.

    Rows the source's ``where`` leaves out are counted in ``rows_excluded`` and not read:
    ``rows_read`` (the rows selected) is always ``rows_accepted + rows_rejected``. GPS
    tracks and incidents are checked ``block_rows`` rows at a time (default
    :data:`TRACK_BLOCK_ROWS` and :data:`INCIDENT_BLOCK_ROWS`), with the same outcome for
    every row as one pass over the whole table. Incidents a reader hands over in blocks (a
    ``blocks()`` method, as :class:`protection_eval.io.readers.RawTableBlocks` has) are
    checked in those blocks, the whole table never held.

    With ``rejected_sink`` (a :class:`~protection_eval.ingest.quarantine.RejectedSink`),
    the quarantined rows go to it block by block as they are found, labelled by their
    positions, and the quarantined rows returned are none (the columns only); the report
    counts them all the same.
    """
    model = MODELS[raw.table]
    notes = raw.notes if not spec.where else ()  # a selection is a new table, as one pass has it
    ctx.outside_m = []
    ctx.area_name_resolutions = {}
    give = None if rejected_sink is None else _Given(partial(rejected_sink, raw.table))
    if raw.table == "incidents" and callable(getattr(raw, "blocks", None)):
        tally = _Tally()
        accepted, rejected, reasons = _incidents_in_blocks(
            raw, partial(_selected_blocks, raw, spec, model, tally), model, spec, ctx, give)
        in_file, selected, dropped = tally.in_file, tally.selected, tally.dropped
    else:
        in_file = raw.rows
        raw = _apply_where(raw, spec)
        frame, dropped = _rename(raw, spec, model)
        selected = raw.rows
        rows = block_rows or (TRACK_BLOCK_ROWS if raw.table == "patrol_tracks"
                              else INCIDENT_BLOCK_ROWS)
        if raw.table == "patrol_tracks" and len(frame) > rows:
            parts = [_split(*_checked(raw, frame.iloc[i:i + rows], model, spec, ctx), model,
                            give=give, start=i)
                     for i in range(0, len(frame), rows)]
            accepted, rejected, reasons = (_concat([p[k] for p in parts]) for k in range(3))
            del parts
        elif raw.table == "incidents" and len(frame) > rows:
            accepted, rejected, reasons = _incidents_in_blocks(
                raw, partial(_slices, raw, frame, rows), model, spec, ctx, give)
        else:
            accepted, rejected, reasons = _split(*_checked(raw, frame, model, spec, ctx), model,
                                                 give=give)
    counts = reasons.value_counts()
    report = TableReport(
        table=raw.table,
        path=str(raw.path),
        rows_read=selected,
        rows_accepted=len(accepted),
        rows_rejected=len(rejected) if give is None else give.rows,
        reasons={str(k): int(v) for k, v in counts.items()},
        dropped_columns=dropped,
        rows_excluded=in_file - selected,
        suggestions=(dict(ctx.area_name_suggestions)
                     if raw.table in ("incidents", "incident_counts") else {}),
        resolutions=(dict(ctx.area_name_resolutions)
                     if raw.table in ("incidents", "incident_counts") else {}),
        notes=list(notes) + (list(ctx.table_notes) if raw.table == "incidents" else []),
    )
    near = near_miss_note(ctx.outside_m, ctx.config.ingest.outside_tolerance_m)
    if near:
        report.notes.append(near)
    return accepted, rejected, report


def ingest_mission(
    config: MissionConfig,
    raw: dict[str, RawTable],
    *,
    strategy_ids: Iterable[str] = (),
    today: dt.date | None = None,
    rejected_sink: RejectedSink | None = None,
) -> MissionData:
    """Check every table of a mission, quarantining rows that fail with their reasons.

    Parameters
    ----------
    config : MissionConfig
        The mission configuration.
    raw : dict
        Table name -> :class:`~protection_eval.io.readers.RawTable`, as read by the catalog.
    strategy_ids : iterable of str
        Ids of the strategy inventory; deployments of other ids are quarantined.
    today : datetime.date, optional
        The date after which a date is "in the future" (default: today in UTC).
    rejected_sink : RejectedSink, optional
        Takes each table's quarantined rows block by block as they are found
        (:class:`~protection_eval.ingest.quarantine.RejectedSink`), so that they are never
        held: the report's ``rejected`` then has no entry for a table whose rows went to
        it. Without one, every table's quarantined rows are in ``rejected``.

    Returns
    -------
    MissionData
        Accepted tables and the validation report (which lists any error that makes the
        mission unusable, such as a required table with no accepted row).

    Raises
    ------
    MissionInputError
        A required column is absent or the column mapping is inconsistent: the message names
        the file and the column.
    """
    ctx = IngestContext(config, frozenset(strategy_ids), today or dt.datetime.now(dt.UTC).date())
    report = ValidationReport(mission=config.mission)
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(ORDER)
    # HOOK (protection_eval.engine): each table checked here, or in parts on the run's cluster.
    engine = current_engine()
    check = (partial(ingest_table, rejected_sink=rejected_sink) if engine is None
             else partial(engine.ingest_table, local=ingest_table))
    for name in ORDER:
        if name not in raw:
            continue
        accepted, rejected, table_report = check(raw[name], getattr(config.sources, name), ctx)
        report.tables[name] = table_report
        if rejected_sink is None:
            report.rejected[name] = rejected
        elif engine is not None:  # checked on the cluster: its rows come back whole
            rejected_sink(name, rejected)
        tables[name] = validate_table(name, accepted)
        if name == "areas":
            if accepted.empty:
                message = (f"{raw[name].path}: no area was accepted; every row was quarantined "
                           "(see rejected/areas.csv), and points cannot be checked without areas")
                report.errors.append(message)
                raise MissionInputError(message, report)
            ctx.areas = tables[name]
            ctx.projection = choose_working_projection(ctx.areas, config.crs)
            ctx.projected_crs = ctx.projection.crs
            report.notes.append(ctx.projection.describe())
        elif name == "patrols":
            # From one object array: iterating Arrow text is a Python call per patrol.
            ctx.patrol_ids = frozenset(accepted["patrol_id"].to_numpy(dtype=object))
        elif name == "incidents":
            ctx.incidents = accepted
    for name in ORDER:
        if name in raw and report.tables[name].rows_read == 0:
            report.notes.append(f"{name}: {raw[name].path} is declared and has no rows")
    for name in ("incidents", "patrols"):
        if tables[name] is not None and tables[name].empty and report.tables[name].rows_read:
            report.errors.append(
                f"{raw[name].path}: no {name} row was accepted "
                f"({report.tables[name].rows_rejected} quarantined); see rejected/{name}.csv"
            )
    counts = tables["incident_counts"]
    if tables["incidents"] is not None and report.tables["incidents"].rows_read == 0:
        if counts is not None and len(counts):
            report.notes.append("incidents: no incident rows; the monthly incident counts stand "
                                "in for them in the panels and the effects")
        else:
            report.errors.append(f"{raw['incidents'].path}: the incidents table has no rows")
    patrols = tables["patrols"] if tables["patrols"] is not None else _no_patrols(ctx)
    data = MissionData(
        config=config,
        incidents=tables["incidents"],
        patrols=patrols,
        areas=tables["areas"],
        patrol_tracks=tables["patrol_tracks"],
        bases=tables["bases"],
        deployments=tables["deployments"],
        projected_crs=ctx.projected_crs,
        validation=report,
        incident_counts=tables["incident_counts"],
    )
    if data.coverage_source == "none":
        report.notes.append(
            "coverage cannot be computed: the mission has no GPS tracks, no patrol routes and "
            "no bases; incidents, areas, panels and strategy effects are still analysed"
        )
    return data


def _no_patrols(ctx: IngestContext) -> gpd.GeoDataFrame:
    """Return the canonical patrols table with no rows, for a mission without patrols."""
    header = pd.DataFrame({"source_row": pd.Series(dtype=str),
                           **{c: pd.Series(dtype=str) for c in MODELS["patrols"].required}})
    raw = RawTable("patrols", Path("(no patrols source)"), header)
    accepted, _, _ = ingest_table(raw, SourceSpec(path=raw.path), ctx)
    return validate_table("patrols", accepted)
