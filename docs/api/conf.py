"""Sphinx configuration of the API reference (built by ``docs/api/reference.py``, ``make docs``).

The reference documents each concern's face (the ``__all__`` of every subpackage) from its
numpydoc docstrings. The build fails (``-W``) on a public name without a docstring (numpydoc's
``GL08``), on a reference in a docstring to something that does not exist (checked by
``reference.py``'s resolver, which links a public target and writes a private one as code), and
on any other warning. It needs no network: no intersphinx, no theme to download.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

project = "protection-eval"
author = "protection-eval contributors"
extensions = ["sphinx.ext.autodoc", "numpydoc", "reference"]

# Every warning is an error (``-W`` on the command line); nitpicky makes an unresolved
# cross-reference a warning.
nitpicky = True
# The types are in the numpydoc sections; annotations in signatures would add a reference per
# pandas or shapely type, which offline (no intersphinx) cannot be resolved.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# GL08: the object has no docstring.
numpydoc_validation_checks = {"GL08"}
html_theme = "alabaster"
html_static_path: list[str] = []
templates_path: list[str] = []
exclude_patterns = ["_build"]
