"""A mission's ledger of published margins, so that runs cannot be subtracted from one another.

Every total of incidents a mission has published (see
:class:`protection_eval.sharing.audit.differencing.Margin`: mission-wide totals, totals per
hexagon or area, the models' sample sizes, each with its months) is written, after a successful
publication, as one JSON line of ``<reports>/<mission>/ledger.jsonl``
(:data:`protection_eval.runs.layout.MISSION_FILES`). The ledger holds values: it sits in the
mission's folder beside its runs, outside every run's ``shared/`` part, and is never shared.

Before a run publishes, the gate (:func:`protection_eval.runs.publish.publish_shared`) reads
its staged margins and asks :func:`check_ledger` whether they, beside the ledger's, give back a
count from 1 to k-1 by subtraction: a January-June run beside a January-May run gives June, a
re-run of the same months with three more late reports gives those three. When they do, the run
is **refused**: nothing is published, and the reason names the margins (file, total, unit,
months, runs), never the values, which go only to the run's restricted findings. Suppressing
more across runs (hiding a hexagon in the new run, or a whole total) would change what a run
shows depending on what was published before it, in ways a reader of one run cannot see; a
refusal is explicit and leaves the choice to the evaluation team: publish a period that does
not nest with the earlier one, or a coarser one, or drop the earlier run's publication from
circulation and from the ledger. ``docs/privacy.md`` says what the ledger protects and what it
does not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from protection_eval.sharing.audit.differencing import (
    UNKNOWN_MONTH,
    DerivationCapReached,
    Margin,
    Recovered,
    recoverable_cells,
)
from protection_eval.sharing.audit.margins import Unread

try:
    import fcntl
except ImportError:  # Windows: runs of one mission side by side are then not serialised
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from protection_eval.sharing.audit.scan import Finding

__all__ = [
    "CAP_WHY",
    "DIFFERENCING_WHY",
    "UNLEDGERED_WHY",
    "LedgerBusy",
    "LedgerError",
    "cap_findings",
    "check_ledger",
    "hold_ledger",
    "ledger_findings",
    "load_ledger",
    "record_margins",
    "unread_findings",
]

#: Why a ledger conflict stops a publication (the ``why`` of its finding).
DIFFERENCING_WHY = (
    "this run's totals, beside totals this mission already published, give back a count from "
    "1 to k-1 by subtraction (DOMAIN.md rule 2); publish a period that does not nest with the "
    "earlier one, or a coarser one"
)
#: Why a shared file whose counts the ledger cannot read stops a publication.
UNLEDGERED_WHY = (
    "the ledger cannot read the counts of incidents this file shows, so it cannot check them "
    "against what the mission already published (DOMAIN.md rule 2); share the counts as a "
    "table with an h3_cell or area_id column, or leave the file out"
)
#: Why a ledger too long to combine in full stops a publication.
CAP_WHY = (
    "the mission has published more windows of this total than the ledger can combine, so "
    "the run could not be checked against all of them (DOMAIN.md rule 2); withdraw old "
    "publications from circulation and from the ledger, or publish a coarser unit"
)
_FIELDS = ("file", "where", "mission", "unit", "name", "first", "last", "value")


#: How long a run waits for another run of the same mission to finish publishing.
LEDGER_WAIT_S = 600.0
_POLL_S = 0.05


class LedgerError(ValueError):
    """A ledger file that cannot be read: names the file, the line and what to do."""


class LedgerBusy(LedgerError):
    """Another run of the mission held the ledger for longer than a run waits."""


@contextmanager
def hold_ledger(path: str | Path, timeout: float = LEDGER_WAIT_S) -> Iterator[None]:
    """Hold the mission's ledger for one check-publish-record step.

    Two runs of one mission that publish at the same time would each check their totals
    against a ledger that does not yet hold the other's, and both publish: the pair could then
    be subtracted. The gate therefore checks, publishes and records while holding an exclusive
    ``flock`` on ``.<ledger>.lock`` beside the ledger (hidden, like a run's staging folder, so
    that nothing listing the mission's runs takes it for one); the second run waits, then is checked
    against the first. The lock ends with its process, so a killed run leaves none behind.

    Parameters
    ----------
    path : str or Path
        The mission's ledger (``<reports>/<mission>/ledger.jsonl``).
    timeout : float
        Seconds to wait for another run holding it.

    Raises
    ------
    LedgerBusy
        When the other run held it for longer than ``timeout``.
    """
    lock = Path(path).with_name(f".{Path(path).name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+b") as handle:
        if fcntl is not None:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LedgerBusy(
                            f"{path}: another run of this mission has been publishing for more "
                            f"than {timeout:.0f} s; nothing was published. Run the mission again "
                            "once it has finished"
                        ) from None
                    time.sleep(_POLL_S)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def load_ledger(path: str | Path) -> list[tuple[Margin, str]]:
    """Read a mission's ledger: every margin published so far, with the run that published it.

    Parameters
    ----------
    path : str or Path
        The ledger (``<reports>/<mission>/ledger.jsonl``); absent means nothing published yet.

    Returns
    -------
    list of (Margin, str)
        In the order they were recorded.

    Raises
    ------
    LedgerError
        When a line is not a margin; the ledger is never guessed at, since a line skipped could
        be the margin that a new run would be subtracted from.
    """
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            margin = Margin(**{name: row[name] for name in _FIELDS})
            if not isinstance(margin.value, int) or isinstance(margin.value, bool):
                raise TypeError("value is not a whole number")
            entries.append((margin, str(row["run"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(
                f"{path}, line {number}: not a ledger entry ({exc}); restore the line from a "
                "backup of the ledger, or remove the runs it records from circulation before "
                "deleting it"
            ) from None
    return entries


def check_ledger(margins: Sequence[Margin], path: str | Path, k: int) -> list[Recovered]:
    """Small counts that ``margins``, beside the ledger's, give back by subtraction.

    Parameters
    ----------
    margins : sequence of Margin
        The margins a run is about to publish.
    path : str or Path
        The mission's ledger.
    k : int
        The suppression threshold.

    Returns
    -------
    list of Recovered
        Empty when the run can publish.

    Raises
    ------
    DerivationCapReached
        When a total has more published windows than the ledger combines: the run cannot be
        checked in full and must not publish.
    """
    return recoverable_cells(load_ledger(path), margins, k)


def record_margins(margins: Sequence[Margin], path: str | Path, run: str) -> None:
    """Append a published run's margins to the mission's ledger.

    One write of all the lines, flushed to disk, so that a crash leaves the run recorded whole
    or not at all (an unrecorded run is what a re-run would then be checked against: recording
    is done after the files are in place, never before).

    Parameters
    ----------
    margins : sequence of Margin
        What the run published.
    path : str or Path
        The mission's ledger (created with its folder when absent).
    run : str
        The run's id (or the folder it was published to).
    """
    kept = [m for m in margins if UNKNOWN_MONTH not in (m.first, m.last)]
    if not kept:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = "".join(
        json.dumps({"run": run, "recorded_at": stamp, **m.to_dict()}, ensure_ascii=False) + "\n"
        for m in kept
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def ledger_findings(recovered: Sequence[Recovered]) -> list[Finding]:
    """Turn recovered cells into audit findings: the margins as the place, the value apart.

    ``where`` names the cell and the margins subtracted (files, totals, units, months, runs),
    which messages show; ``what`` adds the recovered count, which stays in the restricted
    findings file.
    """
    # Imported here: the command line imports this module for LedgerError, and the audit's
    # detectors are slow to import.
    from protection_eval.sharing.audit.scan import Finding

    findings = []
    for cell in recovered:
        # The new run's file first: that is what the refusal stops.
        source = next((s for s in cell.sources if s.endswith("(this run)")), cell.sources[0])
        file = source.split(" ", 1)[0]
        where = f"{cell.label}"
        what = f"{cell.name} [{cell.unit}] {cell.first}..{cell.last} = {cell.value}"
        findings.append(Finding(file, where, "differencing", what, DIFFERENCING_WHY))
    return findings


def unread_findings(unread: Sequence[Unread]) -> list[Finding]:
    """Turn staged files (or parts) whose counts the ledger cannot read into findings."""
    from protection_eval.sharing.audit.scan import Finding

    return [Finding(u.file, u.where or "the whole file", "unledgered", u.why, UNLEDGERED_WHY)
            for u in unread]


def cap_findings(cap: DerivationCapReached, margins: Sequence[Margin]) -> list[Finding]:
    """Turn a ledger too long to combine into a finding on the new run's file of that total."""
    from protection_eval.sharing.audit.scan import Finding

    file = next((m.file for m in margins if (m.mission, m.unit, m.name)
                 == (cap.mission, cap.unit, cap.name)), "")
    where = f"{cap.name} [{cap.unit}]: {cap.windows} windows"
    return [Finding(file, where, "ledger_cap", str(cap), CAP_WHY)]
