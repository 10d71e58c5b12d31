"""The API reference: every concern's face, from its numpydoc docstrings, built with Sphinx.

``python docs/api/reference.py OUT_DIR`` (or ``make docs``) writes one page per subpackage of
``protection_eval`` into a temporary source folder, one entry per name of the subpackage's
``__all__``, and builds them into ``OUT_DIR`` (HTML) with the configuration beside this file.
It exits non-zero, and names each problem, when a public name has no docstring, when a
reference in a docstring (``:func:``, ``:class:``, ``:mod:``, ``:data:``, ``:meth:``,
``:attr:``, ``:exc:``, ``:obj:`` and numpydoc's *See Also*) names something that does not
exist, or on any other Sphinx warning. A reference to a public name links to its entry; one to
a private name that exists is written as code (the reference documents the faces only).

This file is also the Sphinx extension that checks the references (``extensions`` in
``conf.py``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = "protection_eval"

#: A cross-reference role in reStructuredText, with an optional title (``text <target>``).
_ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|mod|data|attr|exc|obj|const):"
    r"`(?P<body>[^`]+)`"
)


def face_packages(root: str = PACKAGE) -> list[str]:
    """Name every subpackage of ``root`` (recursively), the faces the reference documents.

    Parameters
    ----------
    root : str
        An importable package.

    Returns
    -------
    list of str
        Dotted names, sorted.
    """
    package = importlib.import_module(root)
    found = [
        info.name
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{root}.")
        if info.ispkg
    ]
    return sorted(found)


def _submodules(package: ModuleType) -> list[ModuleType]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}.")
    ]


def _data_doc(package: ModuleType, name: str) -> tuple[str, list[str]] | None:
    """Find the module defining a public constant and its ``#:`` comment or docstring."""
    from sphinx.pycode import ModuleAnalyzer

    value = getattr(package, name)
    for module in _submodules(package):
        if getattr(module, name, _MISSING) is not value:
            continue
        docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
        lines = docs.get(("", name))
        if lines and any(line.strip() for line in lines):
            return module.__name__, list(lines)
    return None


_MISSING = object()


def _kind(value: Any) -> str:
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if callable(value):
        return "function"
    return "data"


def _page(package_name: str, problems: list[str]) -> str:
    package = importlib.import_module(package_name)
    names = list(getattr(package, "__all__", []))
    if not names:
        problems.append(f"{package_name}: no __all__ (a subpackage's face is its __all__)")
    title = f"``{package_name}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {package_name}", ""]
    order = {"function": 0, "class": 1, "exception": 2, "data": 3}
    for name in sorted(names, key=lambda n: (order[_kind(getattr(package, n))], n.lower())):
        value = getattr(package, name)
        kind = _kind(value)
        full = f"{package_name}.{name}"
        if kind == "function":
            lines += [f".. autofunction:: {full}", ""]
        elif kind in {"class", "exception"}:
            lines += [f".. auto{kind}:: {full}", "   :members:", "   :undoc-members:", ""]
        else:
            found = _data_doc(package, name)
            if found is None:
                problems.append(f"{full}: a public constant without a #: comment or docstring")
                continue
            _, doc = found
            lines += [f".. py:data:: {name}", f"   :module: {package_name}", ""]
            lines += [f"   {line}" if line.strip() else "" for line in doc]
            lines.append("")
    return "\n".join(lines) + "\n"


def write_sources(folder: Path, packages: Sequence[str]) -> list[str]:
    """Write the reStructuredText sources of the reference: an index and a page per face.

    Parameters
    ----------
    folder : Path
        An empty folder.
    packages : sequence of str
        The subpackages to document.

    Returns
    -------
    list of str
        Problems found while writing (a face without ``__all__``, a constant without a
        docstring); empty when there is none.
    """
    problems: list[str] = []
    pages = []
    for name in packages:
        page = name.replace(".", "_")
        (folder / f"{page}.rst").write_text(_page(name, problems), encoding="utf-8")
        pages.append(page)
    index = [
        "protection-eval API reference",
        "==============================",
        "",
        "What an evaluator or a notebook may call: the ``__all__`` of each concern's",
        "subpackage. Everything else is private and may change.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *[f"   {page}" for page in pages],
        "",
    ]
    (folder / "index.rst").write_text("\n".join(index), encoding="utf-8")
    return problems


def build(out_dir: str | Path, packages: Iterable[str] | None = None) -> int:
    """Build the reference into ``out_dir``; 0 when clean, 1 with each problem printed.

    Parameters
    ----------
    out_dir : str or Path
        Where the HTML goes (created).
    packages : iterable of str, optional
        The faces to document; every subpackage of ``protection_eval`` by default.

    Returns
    -------
    int
        The exit status.
    """
    from sphinx.cmd.build import build_main

    packages = list(packages) if packages is not None else face_packages()
    with tempfile.TemporaryDirectory(prefix="api-reference-") as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        problems = write_sources(source, packages)
        for problem in problems:
            print(f"api reference: {problem}", file=sys.stderr)
        status = build_main(
            [
                "-b", "html", "-q", "-W", "--keep-going", "-n", "-E",
                "-c", str(HERE),
                "-d", str(Path(tmp) / "doctrees"),
                str(source), str(out_dir),
            ]
        )
    return 1 if problems or status else 0


# --- the Sphinx extension: every reference in a public docstring names something real ---


def _resolve(target: str) -> Any:
    """Return the object a dotted name stands for, or ``_MISSING``."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            owner, value = value, getattr(value, part, _MISSING)
            if value is _MISSING and inspect.isclass(owner) and _has_field(owner, part):
                value = _FIELD
            if value is _MISSING:
                return _MISSING
        return value
    return _MISSING


def _home(what: str, name: str, obj: Any) -> tuple[str, str | None]:
    """Return the module (and class) a docstring's relative references are read in."""
    if what == "module":
        return name, None
    owner = obj
    if what in {"method", "attribute", "property"}:
        owner_name = name.rsplit(".", 1)[0]
        owner = _resolve(owner_name)
    module = getattr(owner, "__module__", None) or name.rsplit(".", 1)[0]
    cls = f"{module}.{owner.__qualname__}" if inspect.isclass(owner) else None
    return module, cls


def _candidates(target: str, module: str, cls: str | None) -> list[str]:
    if target.startswith("."):
        stem = target.lstrip(".")
        package = module.rsplit(".", 1)[0]
        bases = [cls, module, package] if cls else [module, package]
        return [f"{base}.{stem}" for base in bases] + [f"{PACKAGE}.{stem}"]
    names = [target]
    if cls:
        names.append(f"{cls}.{target}")
    names += [f"{module}.{target}", f"{module.rsplit('.', 1)[0]}.{target}", f"{PACKAGE}.{target}"]
    return names


def _public_names() -> dict[int, str]:
    """Every object a face exports, by identity, with its public dotted name."""
    names: dict[int, str] = {}
    for package_name in [PACKAGE, *face_packages()]:
        package = importlib.import_module(package_name)
        for name in getattr(package, "__all__", []):
            value = getattr(package, name)
            if inspect.isclass(value) or callable(value) or inspect.ismodule(value):
                names.setdefault(id(value), f"{package_name}.{name}")
        names.setdefault(id(package), package_name)
    return names


_PUBLIC: dict[int, str] = {}
#: A dataclass field or annotated attribute without a class-level value: it exists.
_FIELD = object()


def _has_field(cls: type, name: str) -> bool:
    return any(name in getattr(base, "__annotations__", {}) for base in cls.__mro__)


def _check_references(app: Any, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    if not _PUBLIC:
        _PUBLIC.update(_public_names())
    module, cls = _home(what, name, obj)

    def rewrite(match: re.Match[str]) -> str:
        role, body = match.group("role"), match.group("body")
        title, _, target = body.partition("<")
        if target:
            target, title = target.rstrip(">").strip(), title.strip()
        else:
            target, title = body.strip(), ""
        target = re.sub(r"\s+", "", target).lstrip("~")
        title = " ".join(title.split())
        for candidate in _candidates(target, module, cls):
            value = _resolve(candidate)
            if value is _MISSING:
                continue
            public = _PUBLIC.get(id(value)) if not isinstance(value, (int, float, str)) else None
            if public is not None:
                shown = title or (target.rsplit(".", 1)[-1] if body.startswith("~") else target)
                return f":py:{role}:`{shown} <{public}>`"
            return f"``{title or target}``"
        logger.warning(
            "%s: the reference :%s:`%s` names nothing that exists (read in %s)",
            name, role, target, module,
        )
        return f"``{title or target}``"

    # A role may be wrapped over two lines of the docstring.
    lines[:] = _ROLE.sub(rewrite, "\n".join(lines)).split("\n")


def setup(app: Any) -> dict[str, Any]:
    """Connect the reference check after numpydoc has turned *See Also* into references.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The application.

    Returns
    -------
    dict
        The extension's metadata.
    """
    app.connect("autodoc-process-docstring", _check_references, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: python docs/api/reference.py OUT_DIR [PACKAGE ...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(build(sys.argv[1], sys.argv[2:] or None))
