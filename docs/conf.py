"""Sphinx configuration: the guide (the README, included) and the API reference (autodoc).

Build: ``pip install -e '.[docs]' && sphinx-build -W --keep-going -b html docs docs/_build/html``
(``.ci/run`` does this; warnings are errors, so docstrings stay valid reStructuredText).
"""

from __future__ import annotations

import importlib
import inspect
import types

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

import trio_heartbeat

logger = logging.getLogger("trio_heartbeat.docs")

project = "trio_heartbeat"
author = "trio_heartbeat contributors"
copyright = "trio_heartbeat contributors"
release = trio_heartbeat.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style "Raises:" / "Args:" sections in docstrings
    "myst_parser",  # the guide pages include README.md
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Type hints go into the description, not the signature: signatures stay readable,
# and a hint naming a private helper type does not have to resolve.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
# undoc-members: type aliases and attrs fields have no docstring of their own but are public.
autodoc_default_options = {"members": True, "undoc-members": True}
# Unresolvable references (private types in hints, trio's own names) are not errors.
nitpicky = False

napoleon_google_docstring = True
napoleon_numpy_docstring = False

myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"trio_heartbeat {release}"
html_theme_options = {"page_width": "1200px", "sidebar_width": "250px"}


# -- every public name is documented somewhere ----------------------------------

# The modules with an API page, whose ``__all__`` the reference must cover.
PUBLIC_MODULES = [
    "trio_heartbeat",
    "trio_heartbeat.errors",
    "trio_heartbeat.server",
    "trio_heartbeat.testing",
    "trio_heartbeat.adapters.sockjs",
    "trio_heartbeat.adapters.tradovate",
    "trio_heartbeat.adapters.engineio",
    "trio_heartbeat.adapters.socketio",
    "trio_heartbeat.protocols",
    "trio_heartbeat.protocols.sockjs",
    "trio_heartbeat.protocols.tradovate",
    "trio_heartbeat.protocols.engineio",
    "trio_heartbeat.protocols.socketio",
]


def _resolve(full_name: str) -> object:
    """The Python object behind a documented dotted name (``_MISSING`` if none)."""
    parts = full_name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr, _MISSING)
        return obj
    return _MISSING


_MISSING = object()


def check_public_names_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under ``-W``) for a public name that no API page documents.

    A name re-exported from another public module counts as documented when its
    object is documented under any name.
    """
    documented = set(env.get_domain("py").objects)  # type: ignore[attr-defined]
    documented_ids = {id(_resolve(name)) for name in documented}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if f"{module_name}.{name}" in documented or id(obj) in documented_ids:
                continue
            if inspect.ismodule(obj):
                continue  # a submodule: it has a page of its own
            logger.warning(
                "%s.%s is public (in __all__) but no API page documents it",
                module_name,
                name,
                type="trio_heartbeat",
                subtype="undocumented",
            )


def describe_union(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """A union alias (``StateChange``...) reads "One of A, B, ..." instead of the
    docstring of :class:`types.UnionType`."""
    if isinstance(obj, types.UnionType):
        members = ", ".join(f":class:`~{t.__module__}.{t.__qualname__}`" for t in obj.__args__)
        lines[:] = [f"One of {members}."]


def setup(app: Sphinx) -> None:
    app.connect("env-check-consistency", check_public_names_documented)
    app.connect("autodoc-process-docstring", describe_union)
