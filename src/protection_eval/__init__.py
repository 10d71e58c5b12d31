"""protection-eval: evidence on whether protection strategies against sexual violence work.

The library behind the per-mission notebooks: ingestion of field data into a canonical model,
patrol coverage, effect estimates, disclosure control and unattended per-mission runs. See
docs/architecture.md for the module map.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("protection-eval")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
