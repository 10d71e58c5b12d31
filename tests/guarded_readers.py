"""Readers for the workbook guard's child process in tests/test_hostile_workbooks.py.

Kept apart from the test module so the child imports nothing heavy: its own start-up must not
use up the time or CPU limits the tests are about.
"""

import os
import signal
import time
from pathlib import Path


def sleep(path: Path) -> None:
    """Wait far past any limit the tests set, using no CPU."""
    time.sleep(60)


def run_out_of_cpu(path: Path) -> None:
    """End as the kernel ends a process whose CPU limit (RLIMIT_CPU) is spent."""
    os.kill(os.getpid(), signal.SIGXCPU)
