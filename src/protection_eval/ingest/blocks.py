"""Block streaming: large GPS and incidents tables checked a block of rows at a time.

GPS fixes are each checked on their own, so consecutive blocks give the answers of one pass.
Incidents are checked block by block, as a reader hands them over or in slices of a table held
whole, with the two checks that span rows answered for the whole table: duplicate ids as the
blocks come, likely duplicates after the last block (:func:`_incidents_in_blocks`). Every row
gets the same outcome as in one pass over the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from protection_eval.config import SourceSpec
from protection_eval.ingest.checks import (
    _checked,
    _IncidentBlocks,
    _note_unclassified,
    _shown,
    _text_columns,
)
from protection_eval.ingest.columns import _geometry_points, _rename, _require_columns, _where_mask
from protection_eval.ingest.duplicates import (
    _likely_duplicate_candidates,
    _likely_duplicates,
    _SeenIds,
)
from protection_eval.ingest.quarantine import IngestContext
from protection_eval.ingest.table_models import TableModel
from protection_eval.memory import return_freed_memory
from protection_eval.model import RawTable

#: Rows of a GPS table checked at a time. Each fix is checked on its own (no id, no
#: duplicate key spans rows), so blocks of consecutive rows give the answers the whole table
#: gives, while the checks' intermediate columns (coordinates as text, parsed times, masks,
#: reasons) never span more than a block. Exports list fixes patrol by patrol in time order,
#: so a block is a run of whole patrols and their times.
TRACK_BLOCK_ROWS = 500_000


#: Rows of an incidents table checked at a time. The two checks that span rows are done on
#: the whole table: duplicate ids over the id column before the blocks, likely duplicates
#: over compact keys of the rows the blocks accept (_incidents_in_blocks).
INCIDENT_BLOCK_ROWS = 200_000


@dataclass
class _Tally:
    """What a pass over a table handed over in blocks counts.

    Rows in the file, rows selected by ``where``, and the source columns ingestion drops.
    """

    in_file: int = 0
    selected: int = 0
    dropped: list[str] = field(default_factory=list)


class _Given:
    """The sink of one table, counting the quarantined rows handed to it.

    A :class:`~protection_eval.ingest.quarantine.RejectedSink` with the table's name given.
    """

    def __init__(self, give: Callable[[pd.DataFrame], None]) -> None:
        self.give = give
        self.rows = 0

    def __call__(self, rows: pd.DataFrame) -> None:
        """Hand ``rows`` over and count them."""
        self.rows += len(rows)
        self.give(rows)


def _selected_blocks(raw: RawTable, spec: SourceSpec, model: TableModel,
                     tally: _Tally | None = None) -> Iterator[tuple[RawTable, pd.DataFrame]]:
    """Yield each block of a reader's blocks as it was read and as selected and renamed.

    The block's row labels (positions in the whole table) are kept, so that blocks sort
    and join as the rows of one pass do.
    """
    if tally is not None:  # each pass counts afresh (the repeats' cells take a second pass)
        tally.in_file = tally.selected = 0
    for block in raw.blocks():
        source = RawTable(raw.table, raw.path, block)
        if spec.where:
            source = RawTable(raw.table, raw.path, block.loc[_where_mask(source, spec)])
        frame, dropped = _rename(source, spec, model)
        if tally is not None:
            tally.in_file += len(block)
            tally.selected += len(frame)
            tally.dropped = dropped
        yield source, frame


def _slices(raw: RawTable, frame: pd.DataFrame,
            rows: int) -> Iterator[tuple[RawTable, pd.DataFrame]]:
    """Yield a table held whole in blocks of ``rows`` consecutive rows."""
    for start in range(0, len(frame), rows):
        yield raw, frame.iloc[start:start + rows]


def _concat(frames: list) -> pd.DataFrame | pd.Series:
    """Join the blocks' frames in order (the empty ones only when all are)."""
    kept = [f for f in frames if len(f)] or frames[:1]
    joined = pd.concat(kept, ignore_index=not isinstance(kept[0], pd.Series))
    return joined if len(kept) > 1 else kept[0]


def _incidents_in_blocks(raw: RawTable,
                         blocks: Callable[[], Iterator[tuple[RawTable, pd.DataFrame]]],
                         model: TableModel, spec: SourceSpec, ctx: IngestContext,
                         give: Callable[[pd.DataFrame], None] | None = None,
                         ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Check incidents block by block, with the answers of one pass.

    ``blocks()`` gives a fresh pass over the blocks (each as read and as renamed, labelled by
    its rows' positions). Every check but two looks at one row. Duplicate ids are found as
    the blocks come (:class:`_SeenIds`); likely duplicates over the compact keys the blocks
    keep of the rows they accept, after the last block: the repeats then leave the accepted
    rows for the quarantined ones (in row order, as one pass orders them; their cells taken
    in a second pass over the blocks) and their first rows get ``matched_sources``.

    With ``give``, each block's quarantined rows (labelled by their positions) are handed to
    it once the block is checked, and the repeats after the last block, instead of being
    held: the quarantined rows returned are then none (the columns only).
    """
    seen = _SeenIds()
    state = _IncidentBlocks((pd.Series(dtype=bool), pd.Series(dtype=object)))
    suggestions: dict[str, list[str]] = {}
    alive, refused, reasons = [], [], []
    for source, block in blocks():
        # Point geometries become coordinate cells once, so that a likely duplicate found
        # after its block shows the cells its block checked.
        block = _geometry_points(block)
        _require_columns(block, source, model, spec)
        state.duplicates = seen.check(block, model.id_column)
        block, table, q = _checked(source, block, model, spec, ctx, state)
        for name, near in ctx.area_name_suggestions.items():
            suggestions.setdefault(name, near)  # first seen first, as one pass lists them
        # Text columns become compact here: the Python objects of a block go with it.
        alive.append(_coded_text(table.loc[q.alive], model.id_column))
        refused.append(block.loc[~q.alive, _shown(block, model)].assign(
            reason=q.reason[~q.alive], column=q.column[~q.alive], detail=q.detail[~q.alive]))
        if give is not None:
            refused[-1] = _handed(give, refused[-1])
        reasons.append(q.reason.dropna())
        del source, block, table, q
        return_freed_memory()
    del seen
    ctx.area_name_suggestions = suggestions
    _note_unclassified(state.unclassified, spec, ctx)
    # Likely duplicates before the accepted blocks are joined: the repeats leave their
    # blocks, so the join is the last copy, made when the key parts are already freed.
    parts = _likely_duplicate_candidates(state.parts)
    return_freed_memory()  # the ids seen and the key parts, before the join needs pages
    if len(parts):
        repeat, detail, matched = _likely_duplicates(parts)
        repeats = parts.index[repeat.to_numpy()]
        del parts
        alive = [_settle_repeats(a, repeats, matched) for a in alive]
        if len(repeats):
            likely = pd.Series("likely_duplicate", index=repeats, dtype=object)
            refused.append(_rows_shown(blocks, repeats, model).assign(
                reason=likely, column=pd.Series("incident_id", index=repeats, dtype=object),
                detail=detail.reindex(repeats).astype(object)))
            if give is not None:
                refused[-1] = _handed(give, refused[-1])
            reasons.append(likely)
    accepted = _join_blocks(alive)
    return_freed_memory()
    rejected = pd.concat([r for r in refused if len(r)] or refused[:1]).sort_index()
    return (accepted, rejected.reset_index(drop=True),
            pd.concat([r for r in reasons if len(r)] or reasons[:1]).sort_index())


def _handed(give: Callable[[pd.DataFrame], None], rows: pd.DataFrame) -> pd.DataFrame:
    """Hand quarantined rows to ``give``; return what is kept of them (their columns)."""
    give(rows)
    return rows.iloc[:0].copy()  # a copy: an empty view would keep the block's cells


def _coded_text(accepted: pd.DataFrame, id_column: str | None) -> pd.DataFrame:
    """Hold a block's text columns, but its ids, as categories until the blocks are joined.

    Labels, areas and sources repeat across rows: as codes they take a byte or two a row
    instead of a dozen as Arrow text, over the many blocks held until the last one is
    checked. :func:`_join_blocks` gives each column back as the ``str`` column
    :func:`~protection_eval.ingest.checks._text_columns` makes (same values, missing as NaN).
    """
    accepted = _text_columns(accepted)
    for column in accepted.columns:
        if column != id_column and pd.api.types.is_string_dtype(accepted[column]):
            accepted[column] = accepted[column].astype("category")
    return accepted


def _settle_repeats(accepted: pd.DataFrame, repeats: pd.Index,
                    matched: pd.Series) -> pd.DataFrame:
    """Drop a block's rows found to repeat an incident; give its first rows their matches."""
    firsts = matched[matched.index.isin(accepted.index)]
    if len(firsts):
        accepted["matched_sources"] = _as_text(accepted["matched_sources"])
        accepted.loc[firsts.index, "matched_sources"] = firsts.to_numpy()
    gone = repeats[repeats.isin(accepted.index)]
    return accepted.drop(index=gone) if len(gone) else accepted


def _join_blocks(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Join the blocks' accepted rows in order, a column at a time, emptying ``frames``.

    ``pd.concat`` of whole frames holds every block and the joined copy of each typed column
    at once (about 90 MB over the accepted rows themselves at 1.4 M incidents); here each
    column of the blocks is released once it is joined, so the join costs about a column.
    The rows are numbered afresh (the caller's next step), as ``ignore_index`` does.
    """
    kept = [f for f in frames if len(f)] or frames[:1]
    frames.clear()
    columns = {}
    for name in list(kept[0].columns):
        columns[name] = pd.concat([_as_text(f[name]) for f in kept], ignore_index=True)
        for frame in kept:
            del frame[name]
    return pd.DataFrame(columns, copy=False)


def _as_text(values: pd.Series) -> pd.Series:
    """Give a column :func:`_coded_text` made categories back as ``str``; others as they are."""
    return values.astype("str") if isinstance(values.dtype, pd.CategoricalDtype) else values


def _rows_shown(blocks: Callable[[], Iterator[tuple[RawTable, pd.DataFrame]]],
                labels: pd.Index, model: TableModel) -> pd.DataFrame:
    """Return the cells a quarantined row shows for the rows ``labels``, from the blocks."""
    found = []
    for _, block in blocks():
        taken = block.index.isin(labels)
        if taken.any():
            block = _geometry_points(block.loc[taken])
            found.append(block[_shown(block, model)])
    return pd.concat(found)
