"""One owner for each fact: read from the source, no second copy of a fact the house owns once.

``docs/architecture.md`` names the owners: the minimum cell size k (``config.MIN_K``), the
mission-local calendar and how a local wall-clock time becomes an instant (``model``), the run's
file names (``runs.layout``), the precisions too coarse for an area (``labels``), patrol-hours
(``coverage.areas``). Each test walks the library's syntax trees for a second copy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from protection_eval.model import local_midnight_to_utc, local_to_utc
from protection_eval.runs import layout

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "protection_eval"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "package-data" not in p.parts)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(path: Path):
    """Every string constant of a module that is not a docstring (f-string parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def _run_file_names() -> set[str]:
    names = {layout.MANIFEST}
    for table in (layout.SHARED_FILES, layout.RESTRICTED_FILES, layout.MISSION_FILES,
                  layout.REPORT_FILES):
        names |= {name for name in table.values() if "." in name}
    return names


#: Where a lower layer reads a run's file it cannot import the name of, and why.
RUN_NAME_EXCEPTIONS = {
    # The audit sits below runs (it cannot import runs.layout) and finds the gate's sealed PDF
    # records in the run's manifest beside the shared folder; passing the manifest's path from
    # the gate belongs to the refactor of the audit's entry point (issue 27, item 8).
    ("sharing/audit/folder.py", "manifest.json"),
}


def test_no_run_file_name_is_written_outside_the_layout():
    names = _run_file_names()
    found = []
    for path in MODULES:
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "runs/layout.py":
            continue
        for node in _strings(path):
            for name in names:
                if (node.value == name or node.value.endswith("/" + name)) and (
                        (relative, name) not in RUN_NAME_EXCEPTIONS):
                    found.append(f"{_where(path, node)}: {name}")
    assert not found, "run file names outside runs.layout:\n" + "\n".join(found)


def test_no_default_k_other_than_config_min_k():
    found = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults,
                             strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                      if d is not None]
            for arg, default in pairs:
                if arg.arg in {"k", "min_count"} and isinstance(default, ast.Constant):
                    found.append(f"{_where(path, default)}: {arg.arg} = {default.value!r}")
    assert not found, "a literal default for k (use config.MIN_K):\n" + "\n".join(found)


def test_the_coarse_precisions_are_listed_once():
    found = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                values = [e.value for e in node.elts
                          if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if sorted(values) == ["admin1", "country"]:
                    found.append(_where(path, node))
    assert len(found) == 1 and found[0].startswith("labels.py"), found


def test_local_times_become_instants_only_through_the_model():
    # One rule for a wall-clock time that does not exist or exists twice: model.local_to_utc.
    found = []
    for path in MODULES:
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in {"model.py", "demo.py"}:  # demo: synthetic times in zones without DST
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "tz_localize" and node.args):
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and first.value in {None, "UTC"}):
                    found.append(_where(path, node))
    assert not found, "tz_localize with a mission zone outside model.local_to_utc: " + str(found)


def test_a_repeated_local_time_is_refused_from_a_source_and_read_as_standard_for_a_boundary():
    # Paris, 29 October 2023: 02:30 happened twice (CEST, then CET); 26 March 2023: 02:30 never.
    local = pd.Series(pd.to_datetime(["2023-10-29 02:30", "2023-03-26 02:30",
                                      "2023-06-01 00:00"]))
    refused = local_to_utc(local, "Europe/Paris", ambiguous="refuse")
    standard = local_midnight_to_utc(local, "Europe/Paris")
    assert pd.isna(refused[0])
    assert standard[0] == pd.Timestamp("2023-10-29 01:30", tz="UTC")  # 02:30 CET (UTC+1)
    # Skipped: the first instant after the gap, 03:00 CEST, under both rules.
    assert refused[1] == standard[1] == pd.Timestamp("2023-03-26 01:00", tz="UTC")
    assert refused[2] == standard[2] == pd.Timestamp("2023-05-31 22:00", tz="UTC")
    with pytest.raises(ValueError, match="ambiguous"):
        local_to_utc(local, "Europe/Paris", ambiguous="guess")


def test_ingestion_quarantines_a_repeated_local_time():
    from protection_eval.ingest.parsing import parse_times

    parsed = parse_times(pd.Series(["2023-10-29 02:30", "2023-10-29 04:30"]),
                         timezone="Europe/Paris", date_format=None)
    assert parsed.reason.tolist()[0] == "date_unparseable"
    assert "ambiguous" in parsed.detail.tolist()[0]
    assert parsed.values.tolist()[1] == pd.Timestamp("2023-10-29 03:30", tz="UTC")
