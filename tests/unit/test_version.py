"""One version: pygnetic.__version__, which pyproject, the installed metadata and the docs report.

pyproject.toml declares the version dynamic and has setuptools read the
literal ``__version__`` from ``pygnetic/__init__.py`` (statically, so that
building needs none of pygnetic's dependencies); docs/conf.py imports it. The
installed metadata is compared only when the imported pygnetic is the
installed copy: a checkout on PYTHONPATH may shadow another installed one.
"""

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import pygnetic

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(pygnetic.__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists(), reason="no pyproject.toml: not a checkout"
)


def _pyproject():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="Python 3.10 without tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _literal_version(init):
    """The string literal assigned to ``__version__`` at module level, as setuptools reads it."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            assert isinstance(node.value, ast.Constant), "setuptools would have to import pygnetic"
            return node.value.value
    raise AssertionError(f"no __version__ assignment in {init}")


def test_pyproject_takes_the_version_from_the_package():
    project = _pyproject()
    assert "version" not in project["project"], "a second copy of the version"
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "pygnetic.__version__"}


def test_the_version_is_a_literal_in_the_checkout():
    literal = _literal_version(ROOT / "pygnetic" / "__init__.py")
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", literal)
    if PACKAGE == ROOT / "pygnetic":  # else an installed copy is imported, checked below
        assert pygnetic.__version__ == literal


def test_setuptools_reads_the_version_without_importing_pygnetic():
    pytest.importorskip(
        "setuptools.config.pyprojecttoml",
        reason="setuptools 61 or newer is not installed here (venvs of Python 3.12+ have none)",
    )
    # msgpack blocked: were setuptools to fall back to importing pygnetic, it would fail.
    code = (
        "import sys; sys.modules['msgpack'] = None\n"
        "from setuptools.config.pyprojecttoml import read_configuration\n"
        "print(read_configuration('pyproject.toml')['project']['version'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == _literal_version(ROOT / "pygnetic" / "__init__.py")


def _installed_location(dist):
    """The directory an installed distribution's pygnetic package lives in."""
    direct_url = dist.read_text("direct_url.json")
    if direct_url:
        info = json.loads(direct_url)
        if info.get("dir_info", {}).get("editable"):
            return Path(unquote(urlparse(info["url"]).path)).resolve() / "pygnetic"
    return Path(dist.locate_file("pygnetic")).resolve()


def test_the_installed_metadata_has_the_packages_version():
    try:
        dist = metadata.distribution("pygnetic")
    except metadata.PackageNotFoundError:
        pytest.skip("pygnetic is not installed, only imported")
    if _installed_location(dist) != PACKAGE:
        pytest.skip(f"the installed pygnetic is {_installed_location(dist)}, not {PACKAGE}")
    assert dist.version == pygnetic.__version__, "installed before a version change: reinstall"


def test_the_docs_release_is_the_checkouts_version():
    # A process of its own: conf.py puts the checkout first on sys.path.
    code = "import runpy; print(runpy.run_path('conf.py')['release'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "docs",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == _literal_version(ROOT / "pygnetic" / "__init__.py")


def test_the_changelog_names_the_current_version():
    version = _literal_version(ROOT / "pygnetic" / "__init__.py")
    release = re.match(r"\d+\.\d+\.\d+", version).group()
    text = (ROOT / "docs" / "changelog.rst").read_text(encoding="utf-8")
    # The first section heading: the line above the first line of dashes.
    first = re.search(r"^(.+)\n-{3,}$", text, re.MULTILINE).group(1).strip()
    if version == release:
        assert first == release, f"the changelog's newest entry is {first!r}, not {release}"
    else:  # a development or pre-release leads up to ``release``
        assert first == f"{release} (unreleased)", f"{version}: changelog starts at {first!r}"
