"""Duplicate detection: rows that repeat an id, and incidents reported twice.

A row whose id an earlier row already used is quarantined as ``duplicate_id``, over the whole
table or block by block with the ids seen so far kept compact (:class:`_SeenIds`). An incident
with the time, place and type of an earlier row from another source is quarantined as
``likely_duplicate``; the first row keeps, in ``matched_sources``, the other sources that
reported it (docs/validity.md, under-reporting).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from protection_eval.ingest.quarantine import Quarantine, cell_text

#: Separator of the sources in ``matched_sources`` (the other sources that reported an incident).
MATCH_SEPARATOR = "; "


def _duplicate_ids(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Return which rows repeat an earlier row's id, and for those rows the sentence saying so.

    Computed once over the whole table: a table checked in blocks takes its rows' answers
    from here, since an id may first appear in an earlier block.
    """
    ids = cell_text(frame, column)
    if column == "base_id" and "year" in frame:
        # Bases published by calendar year: one row per base and year.
        ids = ids + " in year " + cell_text(frame, "year")
    duplicated = ids.duplicated(keep="first") & (ids != "")
    if not duplicated.any():
        return duplicated, pd.Series(dtype=object)
    first_row = frame.groupby(ids)["source_row"].transform("first")
    detail = ("the id " + ids[duplicated] + " was already used in row "
              + first_row[duplicated].astype(str))
    return duplicated, detail


def _check_ids(frame: pd.DataFrame, column: str, q: Quarantine,
               duplicates: tuple[pd.Series, pd.Series] | None = None) -> None:
    duplicated, detail = duplicates or _duplicate_ids(frame, column)
    q.reject(duplicated.loc[frame.index], "duplicate_id", column, lambda rows: detail)


class _SeenIds:
    """The ids of the blocks checked so far, with the row each was first used in.

    Kept compact (a 64-bit hash, the row number and the id as Arrow text), one chunk per
    block sorted by hash, so that a block's repeated ids, of an earlier block or of its own,
    get the answers of :func:`_duplicate_ids` over the whole table without the whole id
    column being held or hashed at once. A chunk is written once: remembering a block does
    not copy and re-sort the ids of every block before it (on 1.4 M incidents that copy was
    the largest allocation of the last blocks). A hash only finds candidates: an id repeats
    an earlier one when their texts are equal.
    """

    def __init__(self) -> None:
        #: Per block: hashes (sorted), row numbers and ids as Arrow text, in hash order.
        self.chunks: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []

    def _earlier(self, values: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Return the row each value was first used in by the kept ids, or -1."""
        earlier = np.full(len(values), -1, dtype=np.int64)
        for kept, rows, ids in self.chunks:
            low = np.searchsorted(kept, hashes, side="left")
            high = np.searchsorted(kept, hashes, side="right")
            # An id is kept in one chunk only (its first use), so a found row is final.
            for row in np.flatnonzero((high > low) & (earlier < 0)):
                # Nearly always one candidate; equal hashes of different ids are compared too.
                for position in range(low[row], high[row]):
                    if ids[position].as_py() == values[row]:
                        earlier[row] = rows[position]
                        break
        return earlier

    def check(self, frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
        """Return which rows of ``frame`` repeat an id, and their sentences; remember the rest."""
        ids = cell_text(frame, column)
        values = ids.to_numpy(dtype=object)
        hashes = pd.util.hash_array(values)
        earlier = self._earlier(values, hashes)
        codes = pd.factorize(values)[0]
        rows = frame["source_row"].to_numpy().astype(np.int64)
        within = pd.Series(codes).duplicated(keep="first").to_numpy()
        given = (ids != "").to_numpy(dtype=bool)
        seen = earlier >= 0
        first_row = np.where(seen, earlier,
                             pd.Series(rows).groupby(codes).transform("first").to_numpy())
        self._remember(values, hashes, rows, ~seen & ~within & given)
        duplicated = pd.Series((seen | within) & given, index=frame.index)
        if not duplicated.any():
            return duplicated, pd.Series(dtype=object)
        first = pd.Series(first_row, index=frame.index)
        return duplicated, ("the id " + ids[duplicated] + " was already used in row "
                            + first[duplicated].astype(str))

    def _remember(self, values: np.ndarray, hashes: np.ndarray, rows: np.ndarray,
                  new: np.ndarray) -> None:
        order = np.argsort(hashes[new], kind="stable")
        if len(order):
            self.chunks.append((hashes[new][order], rows[new][order],
                                pa.array(values[new][order], type=pa.large_string())))


def _instant_key(values: pd.Series) -> np.ndarray:
    """Return each instant's integer ticks; NaT is one value, as its text "NaT" is."""
    return pd.DatetimeIndex(values).asi8


def _float_key(values: pd.Series) -> np.ndarray:
    """Return each float's bits: equal exactly when the floats' ``str()`` is.

    0.0 and -0.0 print apart; every NaN prints "nan" and gets one key.
    """
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(numbers), np.int64(-1), numbers.view(np.int64))


def _shared_text(values: pd.Series) -> np.ndarray:
    """Return the values as text, each distinct text one object (a few, not one per row)."""
    codes, uniques = pd.factorize(values.astype(str).to_numpy(dtype=object),
                                   use_na_sentinel=False)
    return np.asarray(uniques, dtype=object)[codes]


#: The parts of the likely-duplicate key: two rows match when every part is equal.
_KEY_PARTS = ("time", "lon", "lat", "type", "area")


def _likely_duplicate_parts(frame: pd.DataFrame, table: pd.DataFrame,
                            q: Quarantine) -> pd.DataFrame:
    """Return, for the rows still alive that name a source, the parts of their match key.

    One integer or shared text per part (time, place to 4 decimals, type, the area of rows
    placed by area), the source and the row number: a few columns that can be kept for a
    whole table checked in blocks, where a repeat may be in another block than its first.
    ``hash`` folds the key's parts into one 64-bit number, equal for rows whose keys are
    equal (:func:`_likely_duplicate_candidates`).
    """
    live = (q.alive & (table["source"] != "")).to_numpy(dtype=bool)
    source_rows = frame["source_row"].to_numpy()[live]
    parts = pd.DataFrame(
        {
            # Codes equal exactly when the text each part prints as is equal.
            "time": _instant_key(table["occurred_at"])[live],
            "lon": _float_key(table["longitude"].round(4))[live],
            "lat": _float_key(table["latitude"].round(4))[live],
            "type": _shared_text(table["gbv_type"][live]),
            # Rows placed by their area have no point: their area is their place.
            "area": _shared_text(table["area_id"].where(table["longitude"].isna(), "")[live]),
            "source": _shared_text(table["source"][live]),
            "source_row": pd.Series(source_rows).astype("int64").to_numpy(),
        },
        index=table.index[live],
    )
    parts["hash"] = _key_hash(parts)
    return parts


def _key_hash(parts: pd.DataFrame) -> np.ndarray:
    """Fold the key's parts into one 64-bit hash per row: equal keys, equal hashes."""
    folded = np.zeros(len(parts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in _KEY_PARTS:
            # pandas' hash of each value (its text for a shared text), the same in every block.
            folded = folded * np.uint64(0x100000001B3) ^ pd.util.hash_array(
                parts[column].to_numpy())
    return folded


def _likely_duplicate_candidates(blocks: list[pd.DataFrame]) -> pd.DataFrame:
    """Join the blocks' key parts, keeping only the rows whose key hash another row shares.

    A row whose hash no other row has cannot be a repeat, nor the first of one: the exact
    grouping (:func:`_likely_duplicates`) then runs on the few rows that may be, not on the
    whole table's keys (on 1.4 M incidents, joining them and grouping every row took more
    memory than any block). The blocks' frames are released from ``blocks`` as they are read.
    """
    hashes = np.concatenate([b["hash"].to_numpy() for b in blocks]) if blocks else (
        np.empty(0, dtype=np.uint64))
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.zeros(len(hashes), dtype=bool)
    equal = ordered[1:] == ordered[:-1]
    same[order[1:][equal]] = True
    same[order[:-1][equal]] = True
    del hashes, order, ordered, equal
    kept, start = [], 0
    while blocks:
        block = blocks.pop(0)
        shared = same[start:start + len(block)]
        start += len(block)
        if shared.any():
            kept.append(block.loc[shared].drop(columns="hash"))
    if not kept:
        return pd.DataFrame(columns=[*_KEY_PARTS, "source", "source_row"])
    return pd.concat(kept)


def _likely_duplicates(parts: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Find repeats among the rows of :func:`_likely_duplicate_parts`, in row order.

    Returns the mask of repeats (an earlier row has the same key from another source),
    their detail sentences, and the ``matched_sources`` of each first row that has repeats.
    """
    # The parts' codes folded into one group code, pair by pair (each fold stays below the
    # square of the row count): a multi-column groupby cost about 200 MB on 1.4 M rows.
    combined = np.zeros(len(parts), dtype=np.int64)
    for column in _KEY_PARTS:
        codes = pd.factorize(parts[column].to_numpy())[0].astype(np.int64) + 1
        combined = pd.factorize(combined * (int(codes.max()) + 1) + codes)[0].astype(np.int64)
    key = pd.Series(combined, index=parts.index)
    first_source = parts["source"].groupby(key).transform("first")
    first_row = parts["source_row"].groupby(key).transform("first")
    repeat = key.duplicated(keep="first") & (parts["source"] != first_source)
    detail = ("same time, place and type as row " + first_row[repeat].astype(str)
              + " from source " + first_source[repeat].astype(str))
    matched = pd.Series(dtype=object)
    if repeat.any():
        others = parts.loc[repeat, "source"].groupby(key[repeat]).agg(
            lambda values: MATCH_SEPARATOR.join(sorted(set(values))))
        firsts = ~key.duplicated(keep="first") & key.isin(others.index)
        matched = key[firsts].map(others).astype(object)
    return repeat, detail, matched


def _check_likely_duplicates(
    frame: pd.DataFrame, table: pd.DataFrame, q: Quarantine
) -> pd.Series:
    """Quarantine repeats of an incident from another source; return who else reported it.

    The repeat leaves the analysis tables (one incident, one row), but the match is what
    capture-recapture needs: the first row keeps, in ``matched_sources``, the other sources
    that reported the same incident (docs/validity.md, under-reporting).
    """
    matched = pd.Series(None, index=table.index, dtype=object)
    parts = _likely_duplicate_candidates([_likely_duplicate_parts(frame, table, q)])
    if parts.empty:
        return matched
    repeat, detail, firsts = _likely_duplicates(parts)
    q.reject(repeat.reindex(table.index, fill_value=False), "likely_duplicate", "incident_id",
             lambda rows: detail)
    matched[firsts.index] = firsts.to_numpy()
    return matched
