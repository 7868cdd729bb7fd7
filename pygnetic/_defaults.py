"""The adapters :func:`pygnetic.init` chose, resolved lazily when it was never called.

This is the only module-level state in pygnetic besides the default
``message_factory`` and the pygame event type; everything else is per
:class:`~pygnetic.server.Server` or :class:`~pygnetic.client.Client`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _install
from .errors import AdapterUnavailableError

if TYPE_CHECKING:
    from .adapters.serialization import Serializer

log = logging.getLogger("pygnetic")

#: Network adapters a default Server or Client uses; in a browser only WebSocket can run.
NETWORK_PREFERENCE = ("websocket",) if sys.platform == "emscripten" else ("enet", "socket")
SERIALIZER_PREFERENCE = ("msgpack", "json")

_chosen: dict[str, Any] = {"networks": None, "missing": {}, "serializer": None}


def names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Accept one adapter name or a sequence of them, as ``init()`` does."""
    return (value,) if isinstance(value, str) else tuple(value)


def label(module: ModuleType) -> str:
    """What users call a network adapter: ``'ENet'``, ``'TCP'``, else its ``NAME``."""
    return str(getattr(module, "LABEL", module.NAME))


def labels(modules: Sequence[ModuleType], joiner: str = " and ") -> str:
    """The adapters' labels in one phrase: ``'ENet and TCP'``."""
    return joiner.join(label(module) for module in modules)


def first_serializer(preference: Sequence[str]) -> Serializer:
    """Load the first serializer of ``preference`` that loads, and log which.

    DEBUG when it is the first one asked for; else one WARNING saying why
    the ones before it are missing.

    Raises:
        AdapterUnavailableError: None of them could be loaded.
    """
    found, missing = _load_all("serializer", preference, stop_at_first=True)
    if not found:
        raise _none_available("serializer", missing)
    name, chosen = found[0]
    if missing:
        reasons = "; ".join(unavailable_reason(exc) for exc in missing.values())
        log.warning("%s serializer unavailable (%s): using %s", ", ".join(missing), reasons, name)
    else:
        log.debug("using %s serializer", name)
    return chosen  # type: ignore[no-any-return]


def available_networks(
    preference: Sequence[str],
) -> tuple[tuple[ModuleType, ...], dict[str, Exception]]:
    """Load every network adapter of ``preference`` that imports, in that order.

    Returns:
        The adapter modules, and why each of the others could not be loaded.

    Raises:
        AdapterUnavailableError: None of them could be loaded.
    """
    found, missing = _load_all("network", preference, stop_at_first=False)
    if not found:
        raise _none_available("network", missing)
    return tuple(module for _, module in found), missing


def _load_all(
    kind: str, preference: Sequence[str], *, stop_at_first: bool
) -> tuple[list[tuple[str, Any]], dict[str, Exception]]:
    loader = network if kind == "network" else serializer
    found: list[tuple[str, Any]] = []
    missing: dict[str, Exception] = {}
    for name in preference:
        try:
            found.append((name, loader(name)))
        except (AdapterUnavailableError, ValueError) as exc:
            missing[name] = exc
            continue
        if stop_at_first:
            break
    return found, missing


def _none_available(kind: str, missing: dict[str, Exception]) -> AdapterUnavailableError:
    reasons = "; ".join(f"{name}: {exc}" for name, exc in missing.items())
    return AdapterUnavailableError(f"no {kind} adapter available ({reasons})")


def choose(kind: str, adapter: Any) -> None:
    """Make ``adapter`` the default of its kind (``init()`` calls this).

    For ``'networks'``, a tuple of adapter modules: servers listen on all of
    them, clients try them in order.
    """
    _chosen[kind] = adapter


def report_networks(modules: tuple[ModuleType, ...], missing: dict[str, Exception]) -> None:
    """Log the network adapters chosen: DEBUG, or one WARNING when one was missing.

    A missing adapter changes what the program can do, so the warning says
    why it is missing, what that means, and the command that installs it.
    """
    if not missing:
        log.debug("using %s network adapter(s)", labels(modules))
        return
    for name, exc in missing.items():
        why = unavailable_reason(exc)
        if name == "enet":
            log.warning(
                "ENet is unavailable (%s): using %s only, so peers that speak only ENet "
                "cannot connect and unreliable messages travel reliably; "
                "install ENet with: %s",
                why,
                labels(modules),
                _install.enet_install_command(),
            )
        else:
            log.warning(
                "%s network adapter unavailable (%s): using %s", name, why, labels(modules)
            )


def unavailable_reason(exc: Exception) -> str:
    """Why an adapter could not be loaded, without the advice its error adds."""
    return str(exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc)


def missing_networks() -> dict[str, Exception]:
    """Why adapters of the default choice could not be loaded (after :func:`networks`)."""
    return dict(_chosen["missing"])


def networks(spec: str | ModuleType | Sequence[str | ModuleType] | None) -> tuple[ModuleType, ...]:
    """Return the network adapter modules for ``spec``: one, several, or the default.

    The default is what :func:`pygnetic.init` chose, else every adapter of
    :data:`NETWORK_PREFERENCE` that is installed (ENet and TCP).

    Raises:
        ValueError: An unknown adapter, or an empty or repeated list.
        AdapterUnavailableError: A named adapter's library is not installed.
    """
    if spec is None:
        if _chosen["networks"] is None:
            modules, missing = available_networks(NETWORK_PREFERENCE)
            report_networks(modules, missing)
            _chosen["networks"], _chosen["missing"] = modules, missing
        chosen: tuple[ModuleType, ...] = _chosen["networks"]
        return chosen
    if isinstance(spec, (str, ModuleType)):
        return (network(spec),)
    modules = tuple(network(each) for each in spec)
    names = [module.NAME for module in modules]
    if not modules or len(set(names)) != len(names):
        raise ValueError(f"adapter must list each network adapter once, not {spec!r}")
    return modules


def network(spec: str | ModuleType) -> ModuleType:
    """Return the network adapter module for ``spec`` (a name or a module)."""
    from .adapters import network as network_adapters

    return network_adapters.load(spec)


def serializer(spec: Serializer | str | None) -> Serializer:
    """Return the serializer for ``spec`` (a name, a serializer, or None)."""
    if spec is None:
        if _chosen["serializer"] is None:
            _chosen["serializer"] = first_serializer(SERIALIZER_PREFERENCE)
        chosen: Serializer = _chosen["serializer"]
        return chosen
    if isinstance(spec, str):
        from .adapters import serialization

        return serialization.load(spec)
    if isinstance(spec, ModuleType) and hasattr(spec, "serializer"):
        return spec.serializer  # type: ignore[no-any-return]
    return spec


def import_optional(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or fail naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdapterUnavailableError(
            f"{module} is not installed ({exc}); run: {_install.install_command(extra)}"
        ) from exc
