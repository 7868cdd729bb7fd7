"""Network adapters: thin layers that move bytes for the sans-I/O core.

An adapter module provides a :class:`Transport` class. A
:class:`~pygnetic.server.Server` or :class:`~pygnetic.client.Client` owns one
transport and is its :class:`TransportListener`; each peer is a :class:`Link`.

Life of a link:

1. *Client*: ``transport.connect(host, port, connect_data)`` returns a link at
   once; ``connect_data`` is the registry hash. *Server*: the transport calls
   ``listener.link_requested(link, connect_data)`` and the listener answers
   with ``link.accept()`` or ``link.reject(code)`` before returning.
2. The client side hears ``listener.link_connected(link)`` once the server
   accepted. From then on the adapter hands received bytes to
   ``link.receiver(data, channel)``: one whole message per call when
   ``link.stream`` is false (ENet), arbitrary slices of a byte stream when it
   is true (TCP).
3. ``link.send(data, channel, delivery)`` queues bytes; they leave during
   ``transport.poll()`` or ``transport.flush()``, never blocking the caller.
4. ``link.close(code)`` ends a link gracefully (queued data still goes out) and
   no callback follows. Anything else that ends a link (the peer closed, the
   transport failed, the server refused) is reported once with
   ``listener.link_closed(link, code, detail)``.

Every callback happens inside ``transport.poll()``. Adding an adapter (a
WebSocket one, say) means writing one module with this interface and passing
the conformance tests in :mod:`pygnetic.testing`; the core does not change.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Protocol

from ...errors import AdapterUnavailableError
from ...protocol import Delivery

__all__ = ["BUILTIN", "Link", "Transport", "TransportListener", "load"]

#: Names accepted by :func:`load`, in the order :func:`pygnetic.init` tries them.
BUILTIN = ("enet", "socket", "memory")

#: Bytes received, and the channel they came on.
Receiver = Callable[[bytes, int], None]


class Link(Protocol):
    """One peer of a transport, as the core sees it."""

    #: ``(host, port)`` of the peer.
    address: tuple[str, int]
    #: True when :attr:`receiver` gets slices of a byte stream, not whole messages.
    stream: bool
    #: Set by the core before the link is accepted or connected.
    receiver: Receiver
    #: True when the transport keeps the link alive itself, as ENet does with
    #: its own pings: the core then sends no keepalive pings of its own and
    #: watches :attr:`last_heard` instead to notice a dead peer.
    keepalive: bool

    @property
    def channels(self) -> int:
        """Number of channels the link offers; channels are ``0 .. channels - 1``."""

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data`` for the peer; never blocks."""

    def accept(self) -> None:
        """Server side: admit a requested link."""

    def reject(self, code: int) -> None:
        """Server side: refuse a requested link, telling the peer ``code``."""

    def close(self, code: int) -> None:
        """Close gracefully after queued data; no ``link_closed`` callback follows."""

    @property
    def round_trip_time(self) -> float | None:
        """Round-trip time in milliseconds if the transport measures it, else None."""

    @property
    def last_heard(self) -> int:
        """A value that changes whenever anything arrives from the peer.

        The transport's own keepalive traffic counts. Read only when
        :attr:`keepalive` is True; other transports may return a constant.
        """


class TransportListener(Protocol):
    """What a transport reports to its owner (a Server or Client)."""

    def link_requested(self, link: Link, connect_data: int) -> None:
        """A peer asks to connect; call ``link.accept()`` or ``link.reject(code)``."""

    def link_connected(self, link: Link) -> None:
        """The server accepted our connection request."""

    def link_closed(self, link: Link, code: int, detail: str) -> None:
        """The link ended other than by our own ``close()``.

        ``detail`` may be empty: the core then describes ``code`` itself.
        """


class Transport(Protocol):
    """One network endpoint: a listening server or a client's set of connections.

    Constructed as ``Transport(listener, bind=(host, port) or None,
    max_links=..., channels=..., max_message_size=...)``.
    """

    #: ``(host, port)`` actually bound (the real port when 0 was asked), or None.
    address: tuple[str, int] | None

    def connect(self, host: str, port: int, connect_data: int) -> Link:
        """Start connecting to a server; returns at once."""

    def poll(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for activity, then move bytes and report events."""

    def flush(self) -> None:
        """Send queued data now, without waiting."""

    def close(self, code: int, linger_ms: int) -> None:
        """Close every link with ``code``, flushing for up to ``linger_ms``, and release."""


def load(name: str) -> ModuleType:
    """Return the network adapter module called ``name``.

    Raises:
        ValueError: ``name`` is not a built-in adapter.
        AdapterUnavailableError: the library behind it is not installed; the
            message says which ``pip install`` fixes it.
    """
    if name not in BUILTIN:
        raise ValueError(f"unknown network adapter {name!r}; built in: {', '.join(BUILTIN)}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except AdapterUnavailableError:
        raise
    except ImportError as exc:  # pragma: no cover - adapters convert their own
        raise AdapterUnavailableError(f"network adapter {name!r} failed to import: {exc}") from exc
