"""The house holds: layers checked by import-linter (the installed wheel runs in test_e2e.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        capture_output=True, text=True, env=env, cwd=config.parent, timeout=300,
    )


def test_the_import_contract_holds():
    result = _lint_imports(ROOT / "src", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("coverage/areas.py", "protection_eval.runs.layout", "Each concern imports only"),
        ("io/readers.py", "protection_eval.ingest.tables", "Each concern imports only"),
        ("effects/panel.py", "protection_eval.io.writers", "never reads or writes files"),
    ],
)
def test_the_contract_fails_on_a_planted_forbidden_import(tmp_path, module, forbidden, contract):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "protection_eval", src / "protection_eval",
                    ignore=shutil.ignore_patterns("__pycache__", "package-data", "assets"))
    target = src / "protection_eval" / module
    target.write_text(target.read_text() + f"\n\nimport {forbidden}  # planted\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _lint_imports(src, tmp_path / "pyproject.toml")
    assert result.returncode != 0
    assert "0 broken" not in result.stdout
    assert contract in result.stdout.split("Broken contracts")[-1]
    assert forbidden in result.stdout
