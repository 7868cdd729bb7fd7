"""The documentation builds with Sphinx without a single warning.

A docstring that breaks the API reference (a malformed table, a bad
cross-reference target, a napoleon section Sphinx cannot parse) fails here,
not only in the docs job. Also checks that every ``.. code-block:: python``
in the hand-written pages is valid Python.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: python[ \t]*$")

pytestmark = pytest.mark.skipif(not (DOCS / "conf.py").exists(), reason="no docs/ checkout")


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    command += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "html" / "reference" / "connection.html").exists()


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
