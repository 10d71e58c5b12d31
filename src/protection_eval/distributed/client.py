"""The connection to a Dask scheduler, refused in one clear line when it does not answer."""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEDULER_TIMEOUT_S", "SchedulerError", "connect"]

#: Seconds to wait for a Dask scheduler to answer before giving up.
SCHEDULER_TIMEOUT_S = 30.0


class SchedulerError(RuntimeError):
    """The Dask scheduler could not be reached: nothing ran on it."""


def connect(scheduler: str, timeout: float = SCHEDULER_TIMEOUT_S, *, what: str = "no mission ran"
            ) -> Any:
    """Return a ``dask.distributed.Client`` of ``scheduler``, or raise :class:`SchedulerError`.

    Parameters
    ----------
    scheduler : str
        The scheduler's address, ``tcp://host:8786``.
    timeout : float
        Seconds to wait for it to answer.
    what : str
        What did not happen because of it, for the message (``no mission ran``).

    Returns
    -------
    distributed.Client
        A connected client; close it (or use it in ``with``) when done.

    Raises
    ------
    SchedulerError
        One line naming the address, the reason and where to look.
    """
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerError(
            f"cannot reach the Dask scheduler {scheduler!r} ({reason}); {what}. Check "
            "the address and that the scheduler is up (see docs/scaling.md)"
        ) from None
