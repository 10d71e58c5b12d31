"""The real-data tests skip loudly on a laptop without the shared folder and fail in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CI_RUN = TESTS.parent / ".ci" / "run"


def run_one_realdata_test(tmp_path: Path, *, require: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROTECTION_EVAL_REQUIRE")}
    env["PROTECTION_EVAL_REALDATA"] = str(tmp_path / "no-such-folder")
    if require:
        env["PROTECTION_EVAL_REQUIRE_REALDATA"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rsf",
         str(TESTS / "test_formats.py::test_plain_and_zipped_shapefiles_read_alike")],
        capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=300,
    )


def test_missing_realdata_is_a_loud_skip_with_the_way_to_get_it(tmp_path):
    done = run_one_realdata_test(tmp_path, require=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 skipped" in done.stdout
    assert "REAL-DATA TEST NOT RUN" in done.stdout and "shared/realdata" in done.stdout


def test_missing_realdata_fails_when_ci_requires_it(tmp_path):
    done = run_one_realdata_test(tmp_path, require=True)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "1 failed" in done.stdout and "PROTECTION_EVAL_REQUIRE_REALDATA=1" in done.stdout


def test_ci_script_requires_the_real_data_and_refuses_without_it(tmp_path):
    text = CI_RUN.read_text(encoding="utf-8")
    assert "export PROTECTION_EVAL_REQUIRE_REALDATA=1" in text
    # The script's own guard, run on its own: a missing folder stops CI before any test.
    guard = text[text.index('realdata="'):text.index("make lint")]
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + guard],
                          env={**os.environ, "PROTECTION_EVAL_REALDATA": str(tmp_path / "gone")},
                          capture_output=True, text=True)
    assert done.returncode == 1 and "real public files are missing" in done.stderr


@pytest.mark.parametrize("name", ["test_realdata_car.py", "test_presets.py", "test_formats.py",
                                  "test_indicators.py"])
def test_every_realdata_test_file_goes_through_the_one_helper(name):
    text = (TESTS / name).read_text(encoding="utf-8")
    assert "require_realdata" in text and '"shared" / "realdata"' not in text
