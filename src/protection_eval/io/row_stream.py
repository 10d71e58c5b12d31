"""A CSV written as its rows come, block by block, listing them in the order of their labels.

A table whose rows are found a block at a time (the quarantined rows of a large incidents
file) is written as each block comes instead of being held until the end, and the file is the
one :func:`~protection_eval.io.writers.write_table` writes of the whole table (same bytes,
spreadsheet-safe). Rows are listed by their labels (their positions in the table): a block
whose rows come before rows already written (likely duplicates, found after the last block)
is kept and slotted into place when the file is closed, by copying the bytes written around
it. Like every writer, the file is built beside its destination and moved into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from protection_eval.io.writers import (
    _csv_blocks_agree,
    _write_csv,
    to_spreadsheet_safe,
)

__all__ = ["CsvRowStream"]

#: Rows made text at a time. Smaller than ``write_table``'s blocks: the pieces are written
#: while ingestion holds the accepted rows of a large file, so their spreadsheet-safe copy
#: and text (about 0.7 kB a row) add to its peak; any size gives the same bytes.
PIECE_ROWS = 10_000

#: Bytes copied at a time when slotting kept rows in among the rows written.
_COPY_BYTES = 1 << 22


class CsvRowStream:
    """One CSV file written block by block, its rows in the order of their labels.

    Each block's rows are made spreadsheet-safe and written as they come, in pieces of
    :data:`PIECE_ROWS` rows, so that only a piece is ever
    held as text; what is kept per row written is its label and where its text starts.
    A block that does not follow the rows written (a label at or before the last one) is
    held and slotted into place by :meth:`close`. A first block with a column whose text
    depends on the whole column (``_csv_blocks_agree``) makes the stream hold every block
    and write the table whole at the end, as ``write_table`` would.

    Parameters
    ----------
    path : str or Path
        The CSV file to write; folders are created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.columns: list[str] | None = None
        self._handle: BinaryIO | None = None
        self._tmp: Path | None = None
        self._size = 0
        self._labels: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        self._late: list[pd.DataFrame] = []
        self._held: list[pd.DataFrame] | None = None

    def write(self, rows: pd.DataFrame) -> None:
        """Add ``rows`` (labelled by their positions in the table; every block same columns).

        Raises
        ------
        ValueError
            The block's columns are not those of the first block.
        """
        if self.columns is None:
            self._open(rows)
        elif list(rows.columns) != self.columns:
            raise ValueError(f"{self.path}: a block has columns {list(rows.columns)}, "
                             f"not {self.columns}")
        if self._held is not None:
            self._held.append(rows)
            return
        if not len(rows):
            return
        labels = rows.index.to_numpy()
        last = self._labels[-1][-1] if self._labels else None
        if (last is not None and labels[0] <= last) or not rows.index.is_monotonic_increasing:
            self._late.append(rows)
            return
        for start in range(0, len(rows), PIECE_ROWS):
            self._append(rows.iloc[start:start + PIECE_ROWS])

    def close(self) -> Path | None:
        """Finish the file and move it into place; return its path (None if nothing came)."""
        if self.columns is None:
            return None
        try:
            if self._held is not None:
                kept = [f for f in self._held if len(f)] or self._held[:1]
                _write_csv(pd.concat(kept).sort_index(), self.path)
                return self.path
            assert self._handle is not None and self._tmp is not None
            self._handle.close()
            if self._late:
                self._slot_in(pd.concat(self._late).sort_index())
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
            return self.path
        finally:
            self.discard()

    def discard(self) -> None:
        """Leave the file as it was: close and remove what was written."""
        if self._handle is not None:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._handle = self._tmp = None
        self._labels, self._starts, self._late, self._held = [], [], [], None

    def _open(self, rows: pd.DataFrame) -> None:
        self.columns = list(rows.columns)
        if not _csv_blocks_agree(rows):
            self._held = []
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "wb")
        header = to_spreadsheet_safe(rows.iloc[:0]).to_csv(index=False, lineterminator="\n")
        self._size = self._handle.write(header.encode("utf-8"))

    def _append(self, rows: pd.DataFrame) -> None:
        assert self._handle is not None
        data, starts = _rows_text(rows)
        self._labels.append(rows.index.to_numpy(dtype=np.int64, copy=True))
        self._starts.append(starts + self._size)
        self._size += self._handle.write(data)

    def _slot_in(self, late: pd.DataFrame) -> None:
        """Rewrite the file with the rows ``late`` (sorted) each before the first later row."""
        assert self._tmp is not None
        labels = np.concatenate(self._labels) if self._labels else np.empty(0, dtype=np.int64)
        starts = np.concatenate(self._starts) if self._starts else np.empty(0, dtype=np.int64)
        # Where each kept row goes: before the first row written with a larger label.
        where = np.searchsorted(labels, late.index.to_numpy())
        at = np.append(starts, self._size)[where]
        fd, merged = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with open(self._tmp, "rb") as source, os.fdopen(fd, "wb") as out:
                copied = 0
                for first in range(0, len(late), PIECE_ROWS):
                    data, row_starts = _rows_text(late.iloc[first:first + PIECE_ROWS])
                    bounds = np.append(row_starts, len(data))
                    for i, offset in enumerate(at[first:first + PIECE_ROWS]):
                        copied = _copy(source, out, int(offset) - copied) + copied
                        out.write(data[bounds[i]:bounds[i + 1]])
                _copy(source, out, self._size - copied)
        except BaseException:
            Path(merged).unlink(missing_ok=True)
            raise
        os.replace(merged, self._tmp)


def _rows_text(rows: pd.DataFrame) -> tuple[bytes, np.ndarray]:
    """Return the CSV text of ``rows`` (spreadsheet-safe, no header) and where each row starts.

    A row ends at a line feed outside quotes: the CSV writer quotes every cell holding a line
    feed or a quote and doubles the quotes inside, so a line feed ends a row exactly when an
    even number of quotes comes before it.
    """
    data = to_spreadsheet_safe(rows).to_csv(index=False, header=False,
                                            lineterminator="\n").encode("utf-8")
    raw = np.frombuffer(data, dtype=np.uint8)
    feeds = np.flatnonzero(raw == ord("\n"))
    quotes = np.flatnonzero(raw == ord('"'))
    ends = feeds[np.searchsorted(quotes, feeds) % 2 == 0]
    if len(ends) != len(rows):
        raise ValueError(f"the CSV text of {len(rows)} rows has {len(ends)} row ends")
    return data, np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)


def _copy(source: BinaryIO, out: BinaryIO, size: int) -> int:
    """Copy the next ``size`` bytes of ``source`` to ``out``; return ``size``."""
    left = size
    while left > 0:
        chunk = source.read(min(left, _COPY_BYTES))
        if not chunk:
            raise ValueError(f"{size} bytes were expected, {size - left} were read")
        out.write(chunk)
        left -= len(chunk)
    return size
