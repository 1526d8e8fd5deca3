"""Sphinx configuration: the guide (the README, included) and the API reference (autodoc).

Build: ``pip install -e '.[docs]' && sphinx-build -W --keep-going -b html docs docs/_build/html``
(``.ci/run`` does this; warnings are errors, so docstrings stay valid reStructuredText).
"""

from __future__ import annotations

import trio_heartbeat

project = "trio_heartbeat"
author = "trio_heartbeat contributors"
copyright = "trio_heartbeat contributors"
release = trio_heartbeat.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style "Raises:" / "Args:" sections in docstrings
    "sphinx.ext.intersphinx",
    "myst_parser",  # the guide pages include README.md
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Type hints go into the description, not the signature: signatures stay readable,
# and a hint naming a private helper type does not have to resolve.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autoclass_content = "both"  # class docstring + __init__ docstring
# Unresolvable references (private types in hints, trio's own names) are not errors.
nitpicky = False

napoleon_google_docstring = True
napoleon_numpy_docstring = False

# No network in CI: intersphinx is configured but never fetched (empty mapping).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"trio_heartbeat {release}"
