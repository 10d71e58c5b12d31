"""Files installed with the package: the notebooks and the strategy inventory.

In a source checkout ``package-data/`` holds links to the repository's ``notebooks/`` and
``data/strategies/``; a wheel carries copies. Either way the path does not depend on the
working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["bundled_path"]


def bundled_path(*parts: str) -> Path:
    """Return a path inside the package's bundled data (``notebooks``, ``strategies``).

    Parameters
    ----------
    *parts : str
        Path components below the bundle, e.g. ``"notebooks"``.

    Returns
    -------
    Path
        The path; it exists when the package was installed or checked out whole.
    """
    return Path(str(files("protection_eval"))).joinpath("package-data", *parts)
