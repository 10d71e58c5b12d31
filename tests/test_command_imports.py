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


def test_the_runners_modules_import_no_estimator_map_or_plotting_library():
    # The modules the runner's process imports to validate, check, gate and index a run: the
    # estimators (statsmodels, scipy.stats), folium, matplotlib, Jupyter's server and the
    # format checkers' date libraries stay out (issue 28); the notebooks' kernel imports them.
    seen = _in_fresh_process("""
        import importlib, json, sys
        from protection_eval.cli import skip_unused_modules
        skip_unused_modules()
        for name in ["cli", "runs.batch", "runs.runner", "runs.missions", "runs.mission_cache",
                     "runs.plausibility", "runs.publish", "runs.evidence", "runs.report_index",
                     "runs.papermill_engine", "runs.pdf", "sharing.audit.folder"]:
            importlib.import_module("protection_eval." + name)
        import jupytext, nbconvert, papermill  # noqa: F401
        heavy = ["statsmodels", "scipy.stats", "folium", "matplotlib", "jupyter_server",
                 "arrow", "hypothesis"]
        print(json.dumps(sorted(m for m in heavy if sys.modules.get(m) is not None)))
    """)
    assert seen == []


def test_the_runners_modules_still_give_the_evidence_and_the_brief_their_words():
    # What those modules now take from the light vocabulary is what the estimators use.
    from protection_eval.effects import count_models, dose_response, event_study, within_reach
    from protection_eval.effects.cell_design import CELL_DESIGN, candidate_resolutions
    from protection_eval.effects.within_reach_cells import estimate_cell_presence_effect
    from protection_eval.sharing import brief

    assert count_models.CAVEATS is brief.CAVEATS
    assert dose_response.PATROL_PRESENCE == within_reach.PATROL_PRESENCE == "patrol-presence"
    assert event_study.describe_breakdown(0.0).endswith("(breakdown M = 0).")
    assert CELL_DESIGN == "space_time_controls_h3"
    assert candidate_resolutions(2000.0)[1] - candidate_resolutions(2000.0)[0] == 1
    assert estimate_cell_presence_effect.__module__.endswith("within_reach_cells")
