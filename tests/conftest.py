"""Shared fixtures: tiny hand-made missions and a small seeded demo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the files holding slow or browser tests first, each file's tests in their own order.

    ``make test`` hands whole files to the pytest-xdist workers in collection order
    (``--dist loadfile``): a long file (a whole mission run, the wheel) started last would leave
    one worker alone at the end. Started first, the short files fill in around them. The sort is
    stable and the same in every worker, as xdist requires.
    """
    heavy = {item.path for item in items
             if item.get_closest_marker("slow") or item.get_closest_marker("browser")}
    items.sort(key=lambda item: item.path not in heavy)


@pytest.fixture(scope="session", autouse=True)
def gate_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's key for the whole session, in a temporary folder (never the user's own)."""
    from protection_eval.runs.layout import ENV_GATE_KEY

    if not os.environ.get(ENV_GATE_KEY):
        os.environ[ENV_GATE_KEY] = str(tmp_path_factory.mktemp("gate") / "gate.key")
    return Path(os.environ[ENV_GATE_KEY])


@pytest.fixture
def bad_mission(tmp_path: Path) -> Path:
    """A copy of the fixture mission whose files hold one row per quarantine reason."""
    target = tmp_path / "bad_mission"
    shutil.copytree(FIXTURES / "bad_mission", target)
    return target / "mission.yaml"


@pytest.fixture(scope="session")
def demo_missions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The three demo missions at a small scale, generated once per test session."""
    from protection_eval.demo import make_demo_missions

    return make_demo_missions(tmp_path_factory.mktemp("demo"), seed=5, scale=0.35)
