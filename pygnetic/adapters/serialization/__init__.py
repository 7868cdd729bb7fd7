"""Serialization adapters: how a message becomes bytes and back.

A serializer is any object with this interface (see :class:`Serializer`):

``name``
    A short string that both peers must agree on; it is part of the registry hash.
``pack(obj) -> bytes``
    Encode a tuple ``(type_id, *fields)``. Raises ``TypeError``, ``ValueError`` or
    ``OverflowError`` for values it cannot represent.
``unpack(data) -> object``
    Decode one whole message. Raises :class:`~pygnetic.errors.MessageError` for
    anything that is not exactly one valid encoded value.
``stream(max_message_size) -> StreamDecoder``
    A decoder for a byte stream (TCP), fed arbitrary slices.
``packer() -> pack`` (optional)
    A new function that packs like ``pack``, for one user at a time: the core
    takes one for each thread that packs with a
    :class:`~pygnetic.message.MessageFactory`, so a serializer that packs with
    a reusable, stateful encoder (msgpack's ``Packer``) is never entered by two
    threads at once. Without it, the core uses ``pack`` from every thread,
    which then must be thread-safe itself.
``with_wire_types(wire_types) -> Serializer`` (optional)
    A serializer like this one that also packs the values of
    ``wire_types`` (a :class:`~pygnetic.wire_types.WireTypes`) and unpacks
    them again, keeping ``wire_types`` as its ``wire_types`` attribute. A
    :class:`~pygnetic.message.MessageFactory` uses it for its own serializer;
    without it, a factory's pygame types are off and registering a type of
    your own is a :exc:`~pygnetic.errors.RegistryError`.

Two are built in: ``msgpack`` (the default: compact and fast) and ``json``
(human-readable, handy when debugging with a packet capture). Sequences come
back as lists from both, whatever was sent; JSON turns dictionary keys into
strings, msgpack keeps ``int``, ``float``, ``bool`` and ``None`` keys too.
Both carry pygame's Vector2, Vector3, Rect, FRect and Color, and types you
register, as described in :mod:`pygnetic.wire_types`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from ...errors import AdapterUnavailableError

__all__ = ["BUILTIN", "Serializer", "StreamDecoder", "load"]

#: Names accepted by :func:`load`, in the order :func:`pygnetic.init` tries them.
BUILTIN = ("msgpack", "json")


@runtime_checkable
class StreamDecoder(Protocol):
    """Turns a byte stream cut at arbitrary points into whole decoded values."""

    def feed(self, data: bytes, out: list[Any]) -> None:
        """Decode what ``data`` completes and append each value to ``out``.

        Raises :class:`~pygnetic.errors.MessageError` when the stream is corrupt
        or a value exceeds the size limit; values decoded before the fault are
        already in ``out``. After an error the decoder must not be fed again.
        """


@runtime_checkable
class Serializer(Protocol):
    """The interface every serialization adapter provides.

    A serializer may also have ``packer()``, returning a new pack function for
    one thread, and ``with_wire_types()`` (see the module documentation); they
    are optional, so they are not part of this protocol's ``isinstance`` check.
    """

    name: str

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` into bytes; safe to call from several threads at once."""

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one value from ``data``."""

    def stream(self, max_message_size: int) -> StreamDecoder:
        """Return a new decoder for a byte stream whose values are at most that size."""


def load(name: str) -> Serializer:
    """Return the built-in serializer called ``name`` (``'msgpack'`` or ``'json'``).

    Raises:
        ValueError: ``name`` is not a built-in serializer.
        AdapterUnavailableError: the library behind it is not installed.
    """
    if name not in BUILTIN:
        raise ValueError(f"unknown serializer {name!r}; built in: {', '.join(BUILTIN)}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ImportError as exc:
        raise AdapterUnavailableError(
            f"the {name} serializer needs a library that is not installed ({exc}); "
            f"run: pip install {name}"
        ) from exc
    serializer: Serializer = module.serializer
    return serializer
