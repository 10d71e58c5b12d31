"""The house holds: layers checked by import-linter, and the package works installed as a wheel."""

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


@pytest.mark.slow
def test_a_wheel_in_a_fresh_environment_runs_the_demo_from_another_folder(tmp_path):
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the wheel (make setup installs it into .venv)")
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], check=True,
                   timeout=600, capture_output=True)
    wheel = next(dist.glob("protection_eval-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=300, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), "-c",
         str(ROOT / "requirements.lock"), str(wheel)],
        check=True, timeout=900, capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    # The throwaway environment keeps the bytecode it compiles: under a PYTHONDONTWRITEBYTECODE
    # set for the whole machine, each of the demo's notebook kernels would compile pandas,
    # geopandas and the rest again (`uv pip install` writes no bytecode, unlike pip).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROTECTION_EVAL_", "PYTHONPATH", "VIRTUAL_ENV",
                                "PYTHONDONTWRITEBYTECODE"))}
    result = subprocess.run(
        [str(venv / "bin" / "protection-eval"), "demo", "--scale", "0.35", "--seed", "5"],
        cwd=work, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 ok, 0 failed" in result.stdout
    assert (work / "data" / "missions" / "DEMO-A.yaml").exists()
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C"):
        assert (work / "reports" / mission / "latest" / "shared" / "brief.html").exists()
    assert (work / "reports" / "index.html").exists()
    installed = subprocess.run(
        [str(python), "-c", "import protection_eval; print(protection_eval.__file__)"],
        capture_output=True, text=True, check=True, cwd=work, env=env,
    ).stdout
    assert str(venv) in installed and str(ROOT) not in installed
