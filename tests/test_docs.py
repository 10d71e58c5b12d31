"""Docs that run: every code block of the README and docs/ is a test, every name in them exists.

A fenced block is read by its language:

- ``python``: executed, the blocks of one page in order in one namespace, in a folder holding
  the demo missions as ``data/missions/DEMO-*.yaml`` (the README's layout);
- shell (``sh``, or a block whose lines start with ``protection-eval``): each ``protection-eval``
  command line is parsed by the command itself (its subcommand and every option must exist) and
  run on the demo missions; each ``make`` line names a target of the Makefile;
- ``yaml`` and ``json``: parsed;
- other blocks (folder trees, sample output, CSV excerpts): read only.

An HTML comment right before a block changes that: ``<!-- docs-test: skip: why -->`` does not
run it (a Python block's imports still run, and a command line is still parsed), and
``<!-- docs-test: setup ... -->`` holds Python that runs before it (what the page assumes the
reader already has, such as a mission's layers).

Inline code naming the project is checked too: dotted names
(``protection_eval.effects.fit_count_model``, ``coverage.areas.compute_patrol_hours``,
``config.MIN_K``) resolve, paths (``src/...``, ``effects/panel.py``, ``tests/test_x.py``) exist,
a dotted mission-file key (``sharing.min_count``) is a field of the configuration, and relative
links between pages point at files.
``docs/performance-history.md`` is a log of what was, and is left out of the name checks.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "protection_eval"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages that record history: their names are what existed then.
HISTORY = {"performance-history.md"}
CLI = Path(sys.executable).with_name("protection-eval")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>skip|setup)\s*:?(?P<body>.*?)-->", re.S)


@dataclass
class Block:
    """A fenced block of a page, with the marker comment before it."""

    page: Path
    line: int
    lang: str
    text: str
    skip: str | None = None
    setup: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"


def _tokens(page: Path):
    return MarkdownIt("commonmark").enable("table").parse(page.read_text(encoding="utf-8"))


def _blocks(page: Path) -> list[Block]:
    blocks, marker = [], None
    for token in _tokens(page):
        if token.type == "html_block":
            found = _MARKER.search(token.content)
            marker = found if found else None
            continue
        if token.type == "fence":
            block = Block(page, token.map[0] + 1, token.info.strip().split(" ")[0], token.content)
            if marker is not None and marker["kind"] == "skip":
                block.skip = marker["body"].strip()
                assert block.skip, f"{block.id}: a skipped block says why"
            elif marker is not None:
                block.setup = marker["body"]
            blocks.append(block)
        marker = None
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _is_shell(block: Block) -> bool:
    if block.lang in {"sh", "bash", "console", "shell"}:
        return True
    lines = [line for line in block.text.splitlines() if line.strip()]
    return block.lang == "" and bool(lines) and lines[0].startswith("protection-eval ")


def _command_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _synopsis_args(line: str) -> list[str]:
    # `[--seed S]` in a synopsis is an optional part: its option must exist as well.
    return shlex.split(line.replace("[", " ").replace("]", " "))[1:]


def _parse_cli(args: list[str]) -> None:
    import click
    import typer

    from protection_eval.cli import app

    command = typer.main.get_command(app)
    ctx = command.make_context("protection-eval", list(args), resilient_parsing=True)
    while isinstance(command, click.Group):
        rest = [*ctx.protected_args, *ctx.args]
        if not rest:
            return
        name, command, rest = command.resolve_command(ctx, rest)
        assert command is not None, f"no command {name}"
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=True)


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, re.M))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, demo_missions):
    """A working folder as the README assumes: data/missions/ with the demo missions."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "data").mkdir()
    (folder / "data" / "missions").symlink_to(demo_missions[0].parent, target_is_directory=True)
    return folder


def _imports_only(text: str) -> str:
    tree = ast.parse(text)
    kept = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", sorted({b.page for b in ALL_BLOCKS if b.lang == "python"}), ids=lambda p: p.name
)
def test_the_python_blocks_of_a_page_run(page, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for block in (b for b in ALL_BLOCKS if b.page == page and b.lang == "python"):
        if block.setup:
            exec(compile(block.setup, f"{block.id} (setup)", "exec"), namespace)
        code = _imports_only(block.text) if block.skip else block.text
        exec(compile(code, block.id, "exec"), namespace)


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if _is_shell(b)], ids=lambda b: b.id
)
def test_every_command_line_in_the_docs_parses(block):
    for line in _command_lines(block.text):
        program = line.split()[0]
        if program == "protection-eval":
            _parse_cli(_synopsis_args(line))
        elif program == "make":
            for target in shlex.split(line)[1:]:
                if "=" not in target:
                    assert target in _make_targets(), f"{block.id}: no make target {target}"
        else:
            pytest.fail(f"{block.id}: a shell block runs only protection-eval or make: {line}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if _is_shell(b) and not b.skip], ids=lambda b: b.id
)
def test_the_command_blocks_run_on_the_demo_missions(block, workspace):
    env = {**os.environ, "PROTECTION_EVAL_REPORTS": str(workspace / "reports")}
    for line in _command_lines(block.text):
        if not line.startswith("protection-eval "):
            continue
        result = subprocess.run([str(CLI), *shlex.split(line)[1:]], cwd=workspace, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{block.id}: {line}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.lang in {"yaml", "json"}], ids=lambda b: b.id
)
def test_every_yaml_and_json_block_parses(block):
    if block.lang == "json":
        json.loads(block.text)
    else:
        yaml.safe_load(textwrap.dedent(block.text))


def test_every_skipped_block_says_why_and_only_python_or_commands_are_skipped():
    for block in ALL_BLOCKS:
        if block.skip is not None:
            assert block.lang == "python" or _is_shell(block), block.id


# --- names in prose ---------------------------------------------------------------------------

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def _code_spans(page: Path) -> list[tuple[int, str, str]]:
    """Inline code of a page: (line, text, the source lines of its paragraph or table row)."""
    source = page.read_text(encoding="utf-8").splitlines()
    spans, where = [], (0, 0)
    for token in _tokens(page):
        if token.map:
            where = tuple(token.map)
        if token.type != "inline" or token.children is None:
            continue
        context = "\n".join(source[where[0]:where[1]])
        for child in token.children:
            if child.type == "code_inline":
                spans.append((where[0] + 1, child.content, context))
    return spans


def _module_names() -> dict[str, list[str]]:
    """Return every module of the package by its last name (``maps``: ``sharing.maps``)."""
    names: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "package-data" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.setdefault(parts[-1], []).append(".".join(parts))
    return names


_MISSING = object()


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            owner, value = value, getattr(value, part, _MISSING)
            if value is _MISSING and isinstance(owner, type) and any(
                    part in getattr(base, "__annotations__", {})
                    or part in getattr(base, "model_fields", {}) for base in owner.__mro__):
                value = owner
            if value is _MISSING:
                return _MISSING
        return value
    return _MISSING


def _config_key(dotted: str) -> bool:
    """Whether a dotted name is a key path of a mission file (``sharing.tile_server.url``).

    Read from the mission's model (``MissionConfig``) or a source's (``SourceSpec``, as in
    ``labels.gbv_type``); a mapping's key (a column, a label) is any name.
    """
    import typing

    from pydantic import BaseModel

    from protection_eval.config import MissionConfig, SourceSpec

    def step(model: object, parts: list[str]) -> bool:
        if not parts:
            return True
        origin = typing.get_origin(model)
        if origin is dict:
            return step(typing.get_args(model)[1], parts[1:])
        if origin is not None:  # Optional, Union, Annotated
            return any(step(arg, parts) for arg in typing.get_args(model)
                       if arg is not type(None))
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(parts[0])
            return field is not None and step(field.annotation, parts[1:])
        return False

    parts = dotted.removeprefix("config.").split(".")
    return step(MissionConfig, parts) or step(SourceSpec, parts)


#: Names the docs use for a value, with the type whose attribute they name.
VARIABLES = {"mission": "protection_eval.ingest.MissionData"}
#: Extensions of files a run writes or reads: `effects.csv` is a file, not a dotted name.
FILE_EXTENSIONS = {"csv", "json", "jsonl", "xlsx", "xls", "ods", "pdf", "gpkg", "parquet",
                   "html", "svg", "txt", "key", "geojson", "zip", "shp", "ipynb", "png",
                   "yaml", "yml", "md", "toml", "lock"}
#: Folders of the repository a path in the docs may name (data/missions and reports/ are made
#: by a run and are not in a checkout).
CHECKED_FOLDERS = ("src/", "tests/", "docs/", "benchmarks/", "notebooks/", "data/strategies",
                   "data/targets", "data/presets", ".ci/")


def _names_to_check(text: str) -> str | None:
    """Return the kind of a code span this test checks, or None for anything else."""
    text = text.strip().rstrip("()")
    if re.match(r"^[\w./-]*\w\.py$", text):
        return "path"
    if text.startswith(CHECKED_FOLDERS) and re.match(r"^[\w./-]+$", text):
        return "path"
    if _DOTTED.match(text) and text.rsplit(".", 1)[1] not in FILE_EXTENSIONS:
        return "dotted"
    return None


_MODULES = _module_names()
_TOP = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
_TOP_FOLDERS = ("", "src/protection_eval/")


def _dotted_problem(name: str) -> str | None:
    name = name.rstrip("()")
    first = name.split(".")[0]
    if first in VARIABLES:
        rest = name.split(".", 1)[1]
        found = _resolve(f"{VARIABLES[first]}.{rest}") is not _MISSING
        return None if found else f"is not an attribute of {VARIABLES[first]}"
    if first == "protection_eval":
        return None if _resolve(name) is not _MISSING else "names nothing in the package"
    if first in _TOP:
        # `io.StringIO` is the standard library's: a name is fine in either place.
        if _resolve(f"protection_eval.{name}") is not _MISSING or _config_key(name):
            return None
        if _resolve(name) is not _MISSING:
            return None
        return "names nothing in the package (nor a key of the mission file)"
    if first in _MODULES:
        homes = _MODULES[first]
        rest = name.split(".", 1)[1]
        if any(_resolve(f"{home}.{rest}") is not _MISSING for home in homes):
            return None
        return f"names nothing in {', '.join(homes)}"
    return None  # not the project's (pandas.DataFrame, a file name): not checked


def _path_problem(path: str, context: str, page: Path) -> str | None:
    path = path.rstrip("/")
    if any(ch in path for ch in "*<>{}"):
        return None
    if "/" not in path:
        # A bare file name is read in the folder its paragraph names (`src/.../indicators/`),
        # else in the package, the repository's top level, or the page's own folder.
        folders = re.findall(r"`((?:src/)?[\w/]+/)`", context)
        bases = [ROOT / f for f in folders] + [PACKAGE / f for f in folders]
        bases += [PACKAGE, ROOT, page.parent]
        bases += [ROOT / d for d in ("tests", "benchmarks", "notebooks")]
        return None if any((base / path).exists() for base in bases) else "no such file"
    bases = [ROOT, PACKAGE, page.parent]
    return None if any((base / path).exists() for base in bases) else "no such file or folder"


def _span_problems(page: Path) -> list[str]:
    problems = []
    for line, text, context in _code_spans(page):
        kind = _names_to_check(text)
        if kind == "dotted":
            problem = _dotted_problem(text.strip())
        elif kind == "path":
            problem = _path_problem(text.strip(), context, page)
        else:
            continue
        if problem:
            problems.append(f"{page.name}:{line}: `{text}` {problem}")
    return problems


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORY], ids=lambda p: p.name)
def test_every_module_path_and_name_in_the_docs_exists(page):
    problems = _span_problems(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_between_pages_points_at_a_file(page):
    problems = []
    for token in _tokens(page):
        for child in token.children or []:
            href = child.attrs.get("href") if child.type == "link_open" else None
            if not href or re.match(r"^[a-z]+:", href) or href.startswith("#"):
                continue
            target = (page.parent / href.split("#", 1)[0]).resolve()
            if not target.exists() and not str(target).startswith(str(ROOT.parent / "shared")):
                problems.append(f"{page.name}: link to {href}")
    assert not problems, "\n".join(problems)


def test_the_name_check_fails_on_a_name_that_does_not_exist(tmp_path):
    page = tmp_path / "planted.md"
    page.write_text(
        "The pooling is in `protection_eval.pooling` and `coverage_index.py`; the panel's\n"
        "`panel.compute_patrol_presence`, `effects/panel.py` and `config.MIN_K` are fine\n"
        "but `fixed_effects.estimate_alphas` is not; `sharing.min_count` is a key.\n",
        encoding="utf-8",
    )
    problems = "\n".join(_span_problems(page))
    assert "protection_eval.pooling" in problems
    assert "coverage_index.py" in problems
    assert "panel.compute_patrol_presence" in problems
    assert "estimate_alphas" in problems
    assert "effects/panel.py" not in problems
    assert "config.MIN_K" not in problems
    assert "sharing.min_count" not in problems
