"""Handing a process's freed memory back to the system: the one owner of that fact.

glibc keeps freed small blocks (millions of geometries or text cells at scale) for reuse unless
asked, and Arrow's memory pool keeps the pages its buffers freed; neither can use the other's.
A process that has finished with a large table, or with one block of it, would otherwise go on
holding that memory. Ingestion calls :func:`return_freed_memory` between blocks, the runner
after validation, and the warm kernel between notebooks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["return_freed_memory"]


@functools.cache
def _c_library_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def return_freed_memory() -> None:
    """Give the pages freed to Arrow's pool and to the C library's heap back to the system.

    Only unused pages are returned (glibc's ``malloc_trim`` as Dask workers use it, Arrow's
    ``release_unused``); nothing in use is moved or freed. Arrow's pool is asked only when
    pyarrow is already imported: this function imports nothing heavy.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    trim = _c_library_trim()
    if trim is not None:
        trim(0)
