"""Sphinx configuration for the pygnetic documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``. Sphinx is the only
dependency (``pip install -e ".[docs]"``); nothing is fetched from the network.
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, installed or not

# pygame is only imported by pygnetic.event.init(), which autodoc never calls;
# keep it headless anyway in case an example page ever does.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygnetic  # noqa: E402

project = "pygnetic"
author = "pygnetic developers"
copyright = "pygnetic developers, MIT license"
release = pygnetic.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_theme = "alabaster"
html_theme_options = {
    "description": "Easy and fast networking for pygame games",
    "fixed_sidebar": True,
}

# -- autodoc / napoleon -------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options: dict[str, object] = {}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# The ENet adapter imports the enet module at import time. The "test" and "enet"
# extras install it (pyenet or pyenet-vladfi); a docs-only environment gets a
# stand-in, so that the API reference still builds.
try:
    import enet  # noqa: F401
except ImportError:
    autodoc_mock_imports = ["enet"]


# Two documented classes are named Server: pygnetic.server.Server and
# pygnetic.gamestate.Server. A module that imports the first only for type
# checking leaves its annotations the bare string "Server", which Sphinx cannot
# resolve uniquely; point those at pygnetic.server.Server.
_BARE_SERVER = re.compile(r"(?<![\w.~])Server\b")


def _qualify_server(app, what, name, obj, options, signature, return_annotation):
    if name.startswith("pygnetic.gamestate"):
        return None
    return tuple(
        _BARE_SERVER.sub("~pygnetic.server.Server", text) if text else text
        for text in (signature, return_annotation)
    )


def setup(app):
    app.connect("autodoc-process-signature", _qualify_server)
