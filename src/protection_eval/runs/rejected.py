"""The quarantined rows of a validation, written to ``rejected/`` as ingestion finds them.

Ingestion may not reach the disk, so whoever validates a mission and writes its ``rejected/``
files hands it a sink (:class:`~protection_eval.ingest.quarantine.RejectedSink`):
:class:`RejectedFiles` appends each block's quarantined rows to ``rejected/<table>.csv`` as the
block is checked, so that a file quarantining half its rows never holds them all. The files
are those :func:`protection_eval.runs.runner.write_validation_report` writes of rows held
until the end (same bytes, same order).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd

from protection_eval.io.row_stream import CsvRowStream
from protection_eval.runs.layout import RESTRICTED_FILES

__all__ = ["RejectedFiles"]


class RejectedFiles:
    """A sink writing each table's quarantined rows to ``<folder>/rejected/<table>.csv``.

    Call it as ingestion does (``sink(table, rows)``); then :meth:`close` the tables whose
    ingestion finished (the tables of the validation report): their files are moved into
    place, and the others' rows, of a table that stopped half-checked, are dropped. Used as a
    context manager, whatever is not closed on leaving is dropped.

    Parameters
    ----------
    folder : Path
        The folder of ``validation.json``; the files go into its ``rejected/``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder) / RESTRICTED_FILES["rejected"]
        self.streams: dict[str, CsvRowStream] = {}

    def __call__(self, table: str, rows: pd.DataFrame) -> None:
        """Append ``rows``, quarantined rows of ``table`` labelled by their positions."""
        if table not in self.streams:
            self.streams[table] = CsvRowStream(self.folder / f"{table}.csv")
        self.streams[table].write(rows)

    def close(self, tables: Iterable[str]) -> list[Path]:
        """Write the files of ``tables``, drop the rest; return the paths written."""
        keep = set(tables)
        written = []
        for table, stream in self.streams.items():
            if table in keep:
                path = stream.close()
                if path is not None:
                    written.append(path)
            else:
                stream.discard()
        self.streams = {}
        return written

    def __enter__(self) -> RejectedFiles:
        """Return the sink."""
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Drop whatever was not closed."""
        self.close(())
