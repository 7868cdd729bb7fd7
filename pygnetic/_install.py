"""The install commands that pygnetic's messages name, for this interpreter and platform.

pygnetic 2 is not on the package index: the name ``pygnetic`` there belongs to
the 2012 release 1.0, so any command that asks the index for ``pygnetic``
installs that (or fails building it). pygnetic 2 is installed from a checkout
or a git URL, and a dependency it lacks is best installed by its own name,
which never asks the index for pygnetic at all.

The ``enet`` extra in ``pyproject.toml`` chooses between two distributions of
the same ``enet`` module by environment markers; :func:`enet_distribution`
applies the same rule here (a unit test holds the two together), so that an
error message names what the extra would have installed.
"""

from __future__ import annotations

import platform as _platform
import sys

#: piqueserver's pyenet: wheels for CPython up to 3.12 on Windows (x86, x64)
#: and Linux (x86_64, i686); its sdist lacks the ENet sources, so it builds
#: nowhere else.
PYENET = "pyenet"

#: A fork of pyenet with the same ``enet`` module and the same bundled ENet
#: 1.3.17 (so the same wire protocol), wheels for CPython 3.9 to 3.14 on more
#: platforms, and an sdist that builds. Never install both: they overwrite
#: each other's ``enet`` module.
PYENET_VLADFI = "pyenet-vladfi"

#: Installing pygnetic with extras from a checkout; run it in the checkout.
INSTALL_FROM_CHECKOUT = 'python -m pip install ".[{extras}]"'

#: Installing pygnetic with extras from its git repository. The repository has
#: no public URL that pygnetic could name, so the URL is left for the reader.
INSTALL_FROM_GIT = 'python -m pip install "pygnetic[{extras}] @ git+<repository URL>"'

# The extras whose packages a running program imports, and what each
# installs; the others (test, docs, bench, dev) are for a checkout.
_RUNTIME_EXTRAS = {"pygame": "pygame", "redis": "redis>=4.2", "websocket": "websockets>=13"}


def enet_distribution(
    python: tuple[int, int] | None = None,
    platform: str | None = None,
    machine: str | None = None,
    implementation: str | None = None,
) -> str:
    """Name the distribution that provides the ``enet`` module here.

    This is the rule of the ``enet`` extra's markers in ``pyproject.toml``.
    Each argument defaults to the running interpreter's.

    Args:
        python: ``(major, minor)``, as ``python_version`` in a marker.
        platform: ``sys.platform``, as ``sys_platform``.
        machine: ``platform.machine()``, as ``platform_machine``.
        implementation: ``sys.implementation.name``, as ``implementation_name``.

    Returns:
        :data:`PYENET` where it has a wheel, else :data:`PYENET_VLADFI`.
    """
    python = (sys.version_info.major, sys.version_info.minor) if python is None else python
    platform = sys.platform if platform is None else platform
    machine = _platform.machine() if machine is None else machine
    implementation = sys.implementation.name if implementation is None else implementation
    pyenet_has_wheel = (
        implementation == "cpython"
        and python < (3, 13)
        and (
            (platform == "win32" and machine != "ARM64")
            or (platform == "linux" and machine in ("x86_64", "i686"))
        )
    )
    return PYENET if pyenet_has_wheel else PYENET_VLADFI


def enet_install_command() -> str:
    """Return the command that installs the ``enet`` module for this interpreter."""
    return f"python -m pip install {enet_distribution()}"


def install_command(extra: str) -> str:
    """Return the command that installs what pygnetic's extra ``extra`` would.

    For the extras a program needs at run time (``enet``, ``pygame``) that is
    the dependency itself, which an installed pygnetic 2 lacks; for the others
    it is the checkout's own install, to be run in a checkout.

    Args:
        extra: The name of an extra in ``pyproject.toml``.
    """
    if extra == "enet":
        return enet_install_command()
    if extra in _RUNTIME_EXTRAS:
        return f"python -m pip install {_RUNTIME_EXTRAS[extra]}"
    return INSTALL_FROM_CHECKOUT.format(extras=extra)
