"""protection-eval: evidence on whether protection strategies against sexual violence work.

The library behind the per-mission notebooks: ingestion of field data into a canonical model,
patrol coverage, effect estimates, disclosure control and unattended per-mission runs. See
docs/architecture.md for the module map.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up when first asked for: importlib.metadata is slow to import, and every process
    # of a run (the command, each notebook kernel) imports this package first.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("protection-eval")
    except PackageNotFoundError:  # running from a source tree that was not installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
