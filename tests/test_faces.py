"""Every concern has a face: an ``__all__`` whose names import, are documented, and cost nothing.

``docs/architecture.md``: the first module a reader opens is a subpackage's ``__init__``, the
public API of that concern. The faces re-export lazily (PEP 562, ``lazy_loader``), so
``import protection_eval.effects`` imports no submodule until a name is asked for; the notebooks
import from the faces only; the API reference (``docs/api``) builds from the docstrings and
fails on a missing docstring or a reference to nothing.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import protection_eval

ROOT = Path(__file__).resolve().parents[1]
FACES = sorted(
    info.name
    for info in pkgutil.walk_packages(protection_eval.__path__, prefix="protection_eval.")
    if info.ispkg
)


def _reference_module():
    path = ROOT / "docs" / "api" / "reference.py"
    spec = importlib.util.spec_from_file_location("reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference", module)
    spec.loader.exec_module(module)
    return module


def test_the_faces_are_every_subpackage():
    names = {name.removeprefix("protection_eval.") for name in FACES}
    assert {"coverage", "effects", "ingest", "inventory", "io", "runs", "sharing",
            "sharing.audit", "planning", "indicators", "distributed"} <= names


@pytest.mark.parametrize("face", FACES)
def test_every_name_of_a_face_imports_and_has_a_docstring(face):
    package = importlib.import_module(face)
    names = getattr(package, "__all__", None)
    assert names, f"{face} has no __all__"
    assert len(set(names)) == len(names)
    assert set(names) <= set(dir(package))
    for name in names:
        namespace: dict = {}
        exec(f"from {face} import {name}", namespace)  # the way a notebook imports it
        value = namespace[name]
        assert value is getattr(package, name)
        if inspect.isclass(value) or inspect.isroutine(value):
            assert (value.__doc__ or "").strip(), f"{face}.{name} has no docstring"
            assert value.__module__.startswith(face), f"{face}.{name} comes from elsewhere"
            assert not name.startswith("_")


@pytest.mark.parametrize("face", FACES)
def test_importing_a_face_imports_none_of_its_modules(face):
    # A fresh interpreter: what importing the face alone brings in. The heavy stack (pandas,
    # numpy, geopandas, statsmodels, matplotlib) and the face's own modules wait until a name is
    # asked for.
    code = textwrap.dedent(f"""
        import json, sys
        import {face}
        heavy = ("pandas", "numpy", "geopandas", "statsmodels", "matplotlib", "scipy", "shapely")
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in heavy or m.startswith("{face}."))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert loaded == [], f"import {face} loaded {len(loaded)} modules: {loaded[:5]}"


def test_a_name_not_in_the_face_is_an_attribute_error():
    import protection_eval.effects as effects

    with pytest.raises(AttributeError):
        effects.not_a_public_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from protection_eval.effects import _fit_loop", {})


def _notebook_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.startswith("protection_eval")]


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.py")),
                         ids=lambda p: p.stem)
def test_the_notebooks_import_from_the_faces_only(notebook):
    faces = set(FACES)
    for module in _notebook_imports(notebook):
        parent = module.rsplit(".", 1)[0]
        assert module in faces or parent not in faces, (
            f"{notebook.name} imports {module}, a private module of the face {parent}"
        )


@pytest.mark.slow
def test_the_api_reference_builds_with_every_public_name(tmp_path):
    reference = _reference_module()
    status = reference.build(tmp_path / "html")
    assert status == 0
    html = (tmp_path / "html" / "protection_eval_effects.html").read_text(encoding="utf-8")
    assert 'id="protection_eval.effects.fit_count_model"' in html
    for face in FACES:
        package = importlib.import_module(face)
        page = (tmp_path / "html" / f"{face.replace('.', '_')}.html").read_text(encoding="utf-8")
        for name in package.__all__:
            assert f'id="{face}.{name}"' in page, f"{face}.{name} is not in the reference"


def test_the_api_reference_fails_on_a_missing_docstring_or_a_broken_reference(
        tmp_path, monkeypatch, capfd):
    # A planted face: one function without a docstring, one whose docstring names a function
    # that does not exist, one constant without a comment, one good function.
    package = tmp_path / "planted_face"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        """A planted face."""
        from planted_face.impl import LIMIT, good, undocumented, wrong_reference
        __all__ = ["LIMIT", "good", "undocumented", "wrong_reference"]
    '''))
    (package / "impl.py").write_text(textwrap.dedent('''
        """Planted."""
        LIMIT = 3
        def good():
            """Do nothing.

            See :func:`wrong_reference`, which exists.
            """
        def undocumented():
            pass
        def wrong_reference():
            """Do nothing, as :func:`compute_nothing_at_all` says."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    reference = _reference_module()
    status = reference.build(tmp_path / "html", ["planted_face"])
    err = capfd.readouterr().err
    assert status != 0
    assert "planted_face.LIMIT" in err
    assert "compute_nothing_at_all" in err
    assert "undocumented" in err and "GL08" in err
