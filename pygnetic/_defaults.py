"""The adapters :func:`pygnetic.init` chose, resolved lazily when it was never called.

This is the only module-level state in pygnetic besides the default
``message_factory`` and the pygame event type; everything else is per
:class:`~pygnetic.server.Server` or :class:`~pygnetic.client.Client`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import AdapterUnavailableError

if TYPE_CHECKING:
    from .adapters.serialization import Serializer

log = logging.getLogger("pygnetic")

NETWORK_PREFERENCE = ("enet", "socket")
SERIALIZER_PREFERENCE = ("msgpack", "json")

_chosen: dict[str, Any] = {"network": None, "serializer": None}


def names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Accept one adapter name or a sequence of them, as ``init()`` does."""
    return (value,) if isinstance(value, str) else tuple(value)


def first_available(kind: str, preference: Sequence[str]) -> tuple[str, Any]:
    """Load the first adapter of ``kind`` (``'network'``/``'serializer'``) that imports.

    Raises:
        AdapterUnavailableError: None of them could be loaded; the message
            lists why each one failed.
    """
    loader = network if kind == "network" else serializer
    failures = []
    for name in preference:
        try:
            return name, loader(name)
        except (AdapterUnavailableError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
    raise AdapterUnavailableError(f"no {kind} adapter available ({'; '.join(failures)})")


def choose(kind: str, adapter: Any) -> None:
    """Make ``adapter`` the default of its kind (``init()`` calls this)."""
    _chosen[kind] = adapter


def networks(spec: str | ModuleType | Sequence[str | ModuleType] | None) -> tuple[ModuleType, ...]:
    """Return the network adapter modules for ``spec``: one, several, or the default.

    Raises:
        ValueError: An unknown adapter, or an empty or repeated list.
    """
    if spec is None or isinstance(spec, (str, ModuleType)):
        return (network(spec),)
    modules = tuple(network(each) for each in spec)
    names = [module.NAME for module in modules]
    if not modules or len(set(names)) != len(names):
        raise ValueError(f"adapter must list each network adapter once, not {spec!r}")
    return modules


def network(spec: str | ModuleType | None) -> ModuleType:
    """Return the network adapter module for ``spec`` (a name, a module, or None)."""
    if spec is None:
        if _chosen["network"] is None:
            name, _chosen["network"] = first_available("network", NETWORK_PREFERENCE)
            log.info("Using %s network adapter (no adapter chosen by pygnetic.init())", name)
        module: ModuleType = _chosen["network"]
        return module
    from .adapters import network as network_adapters

    return network_adapters.load(spec)


def serializer(spec: Serializer | str | None) -> Serializer:
    """Return the serializer for ``spec`` (a name, a serializer, or None)."""
    if spec is None:
        if _chosen["serializer"] is None:
            _chosen["serializer"] = first_available("serializer", SERIALIZER_PREFERENCE)[1]
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
            f"{module} is not installed ({exc}); run: pip install 'pygnetic[{extra}]'"
        ) from exc
