"""The error every reader raises for a file that cannot be used at all."""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputFileError"]


class InputFileError(ValueError):
    """An input file that cannot be used at all; the message names the file and what to do."""

    def __init__(self, path: Path, problem: str, action: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.action = action
        super().__init__(f"{path}: {problem}. {action}")
