"""Where the real public files live for the tests, and what happens when they are absent.

The files sit in ``../shared/realdata`` beside the clone (never inside the repository). Set
``PROTECTION_EVAL_REALDATA`` to read them from elsewhere. When they are absent a test that needs
them is skipped locally, loudly and with the way to get them; CI sets
``PROTECTION_EVAL_REQUIRE_REALDATA=1`` (``.ci/run``), and there the same test fails instead, so a
green CI run always means the real-data tests ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ENV = "PROTECTION_EVAL_REQUIRE_REALDATA"
LOCATION_ENV = "PROTECTION_EVAL_REALDATA"

REALDATA = Path(
    os.environ.get(LOCATION_ENV)
    or Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
)


def require_realdata(*paths: Path) -> None:
    """Skip (locally) or fail (in CI) unless every path exists under the real-data folder.

    Parameters
    ----------
    *paths : Path
        Files or folders the test reads; with none, the folder itself must exist.
    """
    missing = [str(p) for p in (paths or (REALDATA,)) if not Path(p).exists()]
    if not missing:
        return
    message = (
        f"REAL-DATA TEST NOT RUN: {', '.join(missing)} absent. The real public files live in the "
        f"project's shared folder, `shared/realdata/`, which must sit beside the clone "
        f"(expected at {REALDATA}); clone the repository next to it, or point "
        f"{LOCATION_ENV} at a copy of it."
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} {REQUIRE_ENV}=1 (CI) requires these tests to run.")
    pytest.skip(message)
