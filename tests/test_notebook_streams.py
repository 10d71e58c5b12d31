"""An executed notebook's outputs do not depend on when the kernel flushed its streams."""

from __future__ import annotations

import nbformat
import pytest

from protection_eval.runs.kernels import REFERENCE_ENGINE
from protection_eval.runs.runner import _execute_notebook

pytestmark = pytest.mark.slow


def test_two_flushed_prints_with_a_pause_between_are_one_stream_output(tmp_path):
    """Found in CI: notebook 06's "SYNTHETIC DATA" line came as one stream output in one run
    and as two in the other, so same inputs gave different notebooks."""
    node = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("parameters = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import time\nprint('first', flush=True)\ntime.sleep(0.5)\n"
            "print('second', flush=True)"),
    ])
    node.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                   "display_name": "Python 3"}
    executed = _execute_notebook(node, "streams.ipynb", tmp_path / "streams.ipynb", {}, None,
                                 engine=REFERENCE_ENGINE)
    outputs = executed.cells[-1].outputs
    assert [(o.output_type, o.name, o.text) for o in outputs] == [
        ("stream", "stdout", "first\nsecond\n")]
