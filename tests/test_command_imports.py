"""What the `protection-eval` command's own process imports, and what it keeps out (issue 28)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _in_fresh_process(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, check=True, timeout=180)
    return json.loads(done.stdout)


def test_the_command_keeps_the_iri_grammars_out_and_still_validates_notebooks():
    # The runner's notebook tools import jsonschema; with the command's setup, jsonschema goes
    # without rfc3987_syntax (and its grammars), and nbformat still refuses a broken notebook.
    seen = _in_fresh_process("""
        import json, sys
        from protection_eval.cli import skip_unused_modules
        skip_unused_modules()
        import jupytext, nbformat, papermill  # noqa: F401
        from jsonschema import Draft7Validator
        good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
        nbformat.validate(good)
        bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
        bad.cells[0]["execution_count"] = "one"
        try:
            nbformat.validate(bad)
            refused = False
        except nbformat.ValidationError:
            refused = True
        print(json.dumps({
            "grammars": sys.modules.get("rfc3987_syntax") is not None or "lark" in sys.modules,
            "refused": refused,
            "iri_checked": "iri" in Draft7Validator.FORMAT_CHECKER.checkers,
        }))
    """)
    assert seen == {"grammars": False, "refused": True, "iri_checked": False}


def test_without_the_setup_jsonschema_loads_the_grammars():
    # What the setup saves: the same imports in a plain process build the grammars.
    seen = _in_fresh_process("""
        import json, sys
        import nbformat  # noqa: F401
        print(json.dumps({"grammars": "rfc3987_syntax" in sys.modules and "lark" in sys.modules}))
    """)
    assert seen == {"grammars": True}
