"""Shared fixtures: tiny hand-made missions and a small seeded demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
