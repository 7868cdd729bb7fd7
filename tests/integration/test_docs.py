"""The documentation builds with Sphinx without a single warning.

A docstring that breaks the API reference (a malformed table, a bad
cross-reference target, a napoleon section Sphinx cannot parse) fails here,
not only in the docs job. Also checks that the reference documents every
name in the ``__all__`` of each module it covers, and that every
``.. code-block:: python`` in the hand-written pages is valid Python.
"""

import importlib
import re
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from pygnetic.errors import AdapterUnavailableError

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: python[ \t]*$")

pytestmark = pytest.mark.skipif(not (DOCS / "conf.py").exists(), reason="no docs/ checkout")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build the HTML docs once with -W; return the finished process and output dir."""
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("docs")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    command += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return result, out / "html"


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(build):
    result, html = build
    assert result.returncode == 0, result.stdout + result.stderr
    assert (html / "reference" / "connection.html").exists()


def documented(inventory):
    """Return ``{name: role}`` of the Python objects in a Sphinx ``objects.inv``."""
    header_lines = 4  # then zlib: "name domain:role priority uri display name" per line
    body = zlib.decompress(inventory.read_bytes().split(b"\n", header_lines)[header_lines])
    entries = (line.split(" ", 2)[:2] for line in body.decode().splitlines())
    return {name: role for name, role in entries if role.startswith("py:")}


@pytest.mark.slow
def test_reference_documents_every_public_name(build):
    result, html = build
    assert result.returncode == 0, result.stdout + result.stderr
    names = documented(html / "objects.inv")
    modules = [name for name, role in names.items() if role == "py:module"]
    assert {"pygnetic", "pygnetic.connection", "pygnetic.message"} <= set(modules)
    missing = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except AdapterUnavailableError:  # e.g. the ENet adapter without pyenet
            continue
        for name in getattr(module, "__all__", ()):
            # A re-exported name counts as documented where it is defined.
            home = getattr(getattr(module, name), "__module__", module_name)
            if f"{module_name}.{name}" not in names and f"{home}.{name}" not in names:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference (docs/reference/): {', '.join(missing)}"


def python_blocks(path):
    """Yield (line number, source) of each ``.. code-block:: python`` in ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = BLOCK.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        body = []
        start = number + 1
        for following in lines[number + 1 :]:
            stripped = following.strip()
            if stripped and len(following) - len(following.lstrip()) <= indent:
                break
            if not body and (not stripped or stripped.startswith(":")):
                start += 1  # directive options and the blank line before the code
                continue
            body.append(following)
        yield start + 1, textwrap.dedent("\n".join(body))


PAGES = sorted(DOCS.rglob("*.rst"))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_python_code_blocks_compile(page):
    for number, source in python_blocks(page):
        compile(source, f"{page}:{number}", "exec")
