"""The install commands pygnetic names agree with pyproject.toml and never fetch pygnetic 1.0.

The ``enet`` extra chooses between pyenet and pyenet-vladfi with environment
markers; ``pygnetic._install`` spells the same rule in Python for error
messages. Here both are evaluated over a grid of interpreters and platforms,
so that they cannot drift apart.
"""

import importlib
import itertools
import platform
import sys
from pathlib import Path

import pytest

from pygnetic import _install

ROOT = Path(__file__).resolve().parents[2]

PYTHONS = [(3, minor) for minor in range(10, 16)]
PLATFORMS = ["linux", "win32", "darwin", "freebsd14", "cygwin"]
# Linux and macOS spell machines one way, Windows another; both kinds are
# tried on every platform, since the markers must pick exactly one anyway.
MACHINES = ["x86_64", "i686", "aarch64", "armv7l", "arm64", "AMD64", "x86", "ARM64"]
IMPLEMENTATIONS = ["cpython", "pypy"]


def _packaging_requirements():
    # packaging is not a dependency of pygnetic; pip carries its own copy.
    for name in ("packaging.requirements", "pip._vendor.packaging.requirements"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("neither packaging nor pip's vendored copy is importable")


def _pyproject():
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("no pyproject.toml: not a checkout")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="Python 3.10 without tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def enet_requirements():
    requirements = _packaging_requirements()
    extra = _pyproject()["project"]["optional-dependencies"]["enet"]
    return [requirements.Requirement(line) for line in extra]


def _marker_environment(python, platform_name, machine, implementation):
    return {
        "python_version": f"{python[0]}.{python[1]}",
        "python_full_version": f"{python[0]}.{python[1]}.0",
        "sys_platform": platform_name,
        "platform_machine": machine,
        "implementation_name": implementation,
        "platform_python_implementation": {"cpython": "CPython", "pypy": "PyPy"}[implementation],
    }


def test_the_enet_extra_names_the_two_distributions(enet_requirements):
    assert {req.name for req in enet_requirements} == {_install.PYENET, _install.PYENET_VLADFI}


def test_the_enet_markers_and_enet_distribution_agree_everywhere(enet_requirements):
    grid = itertools.product(PYTHONS, PLATFORMS, MACHINES, IMPLEMENTATIONS)
    for python, platform_name, machine, implementation in grid:
        environment = _marker_environment(python, platform_name, machine, implementation)
        chosen = [req.name for req in enet_requirements if req.marker.evaluate(environment)]
        # Two would overwrite each other's enet module; none would leave ENet out.
        assert chosen == [
            _install.enet_distribution(python, platform_name, machine, implementation)
        ], environment


def test_enet_distribution_defaults_to_this_interpreter(enet_requirements):
    here = _install.enet_distribution(
        (sys.version_info.major, sys.version_info.minor),
        sys.platform,
        platform.machine(),
        sys.implementation.name,
    )
    assert _install.enet_distribution() == here
    # With no environment given, packaging evaluates the marker for this interpreter.
    assert [req.name for req in enet_requirements if req.marker.evaluate()] == [here]
    assert _install.enet_install_command() == f"python -m pip install {here}"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (((3, 12), "linux", "x86_64", "cpython"), "pyenet"),
        (((3, 10), "linux", "i686", "cpython"), "pyenet"),
        (((3, 11), "win32", "AMD64", "cpython"), "pyenet"),
        (((3, 12), "win32", "x86", "cpython"), "pyenet"),
        (((3, 13), "linux", "x86_64", "cpython"), "pyenet-vladfi"),
        (((3, 12), "darwin", "arm64", "cpython"), "pyenet-vladfi"),
        (((3, 11), "linux", "aarch64", "cpython"), "pyenet-vladfi"),
        (((3, 12), "win32", "ARM64", "cpython"), "pyenet-vladfi"),
        (((3, 10), "linux", "x86_64", "pypy"), "pyenet-vladfi"),
    ],
)
def test_enet_distribution_follows_the_wheels(where, expected):
    # pyenet 1.3.17 has CPython 3.8-3.12 wheels for Windows x86/x64 and Linux
    # x86_64/i686 only, and an sdist without ENet's sources.
    assert _install.enet_distribution(*where) == expected


def test_install_command_names_the_dependency_itself():
    assert _install.install_command("enet") == _install.enet_install_command()
    assert _install.install_command("pygame") == "python -m pip install pygame"
    assert _install.install_command("bench") == 'python -m pip install ".[bench]"'


def test_every_extra_install_command_knows_is_in_pyproject():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {"enet", "pygame"} <= set(extras)
    assert "pygame>=2.1" in extras["pygame"]
    # The extras that reuse the enet one keep doing so through its name.
    assert any(req.startswith("pygnetic[enet") for req in extras["test"])
    assert "pygnetic[enet]" in extras["bench"]
