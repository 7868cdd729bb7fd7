"""Network adapters: thin layers that move bytes for the sans-I/O core.

An adapter module provides a :class:`Transport` class and a ``NAME``, and may
provide a ``LABEL``, what logs and errors call it (``'ENet'``, ``'TCP'``). A
:class:`~pygnetic.server.Server` or :class:`~pygnetic.client.Client` owns one
transport per adapter it uses and is their :class:`TransportListener`; each
peer is a :class:`Link`. A transport knows nothing of messages, registries or
handshakes: the core runs the handshake (:mod:`pygnetic.handshake`) over the
link once the transport has opened it.

Life of a link:

1. *Client*: ``transport.connect(host, port, **options)`` returns a link at
   once; when the transport-level connection is up the transport calls
   ``listener.link_connected(link)``. *Server*: the transport calls
   ``listener.link_opened(link)`` for each new peer. From then on the adapter
   hands received bytes to ``link.receiver(data, channel)``: one whole packet
   per call when ``link.stream`` is false (ENet), arbitrary slices of a byte
   stream when it is true (TCP). The core sets ``receiver`` before returning
   from either callback.
2. ``link.send(data, channel, delivery)`` queues bytes; they leave during
   ``transport.poll()`` or ``transport.flush()``, never blocking the caller.
3. ``link.close(code)`` ends a link gracefully (queued data still goes out)
   and no callback follows. ``link.close(code, peer_closed=True)`` says the
   peer already announced its close (it sent a goodbye, or refused us): the
   transport should let the peer's own close finish rather than start one,
   and give up after a short while. Anything else that ends a link (the peer
   closed, the transport failed, nothing listens) is reported once with
   ``listener.link_closed(link, code, detail)``.

A packet link may also support resumable sessions (a server's
``reconnect_grace``, :mod:`pygnetic._session`), which count the reliable
messages each side delivered. It then has ``flag_reliable``, False until the
core sets it True, from when on each packet that came reliably reaches the
receiver with bit 8 set in its channel (``channel | 0x100``); and
``send_counted(data, channel, delivery)``, which sends like ``send`` and
returns whether the packet goes out reliably, the same packets the peer's
link will flag (ENet also sends reliably a sequenced packet it needs to, so
the two may differ from ``delivery``). A stream link counts every message and
needs neither; a packet link without them offers no sessions.

Every callback happens inside ``transport.poll()``. A transport may offer
``fileno()``, a file descriptor that becomes readable when it has work, so
that a host with several transports can wait on all of them at once.

Adding an adapter means writing one module with this interface and passing
the conformance tests in :mod:`pygnetic.testing`; the core does not change
(the WebSocket adapter was added so). An adapter module may name, in
``SHARES_PORT_WITH``, another whose port it shares on a server that has both:
its transport is then given that adapter's transport as ``door=`` instead of
a port of its own (:meth:`~pygnetic.adapters.network.socket.Transport.add_door`).
Pass the module itself, or its dotted import path, as ``adapter=``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from ...errors import AdapterUnavailableError
from ...protocol import Delivery

__all__ = ["BUILTIN", "Link", "Transport", "TransportListener", "load"]

#: Names accepted by :func:`load`, in the order :func:`pygnetic.init` tries them.
BUILTIN = ("enet", "socket", "websocket", "memory")

#: True in a browser (Pyodide, pygbag): Python compiled to WebAssembly.
IN_BROWSER = sys.platform == "emscripten"
#: In a browser, the module that each built-in name loads instead of its own.
BROWSER_MODULES = {"websocket": "browser"}
#: In a browser, why the adapters that need raw sockets cannot load.
_NO_SOCKETS_IN_BROWSER = (
    "the {} network adapter cannot run in a browser: WebAssembly offers no TCP or UDP "
    "sockets, only WebSocket; use adapter='websocket' (the default there)"
)

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
    #: The transport that made the link; with several, the host reads it to
    #: say what carries a connection (optional: without it, the first).
    transport: Any
    #: True when the transport keeps the link alive itself, as ENet does with
    #: its own pings: the core then sends no keepalive pings of its own and
    #: watches :attr:`last_heard` instead to notice a dead peer.
    keepalive: bool

    @property
    def channels(self) -> int:
        """Number of channels the link offers; channels are ``0 .. channels - 1``."""

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data`` for the peer; never blocks."""

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Close gracefully after queued data; no ``link_closed`` callback follows.

        ``peer_closed`` is true when the peer already said it is closing.
        """

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

    def link_opened(self, link: Link) -> None:
        """Server side: a new peer connected; the core handshakes with it."""

    def link_connected(self, link: Link) -> None:
        """Client side: the transport-level connection to the server is up."""

    def link_closed(self, link: Link, code: int, detail: str) -> None:
        """The link ended other than by our own ``close()``.

        ``detail`` may be empty: the core then describes ``code`` itself.
        """


class Transport(Protocol):
    """One network endpoint: a listening server or a client's set of connections.

    Constructed as ``Transport(listener, bind=(host, port) or None,
    max_links=..., channels=..., max_message_size=..., clock=...)``, plus
    the adapter's own keyword options. ``clock`` is the owner's monotonic
    time source in seconds; a transport reads the time only through it. A
    server also offers ``handshake_timeout``, ``max_handshakes`` (handshakes
    under way at once) and ``max_handshakes_per_address`` to a transport
    whose constructor takes them, as ENet's does to release connects that
    never complete; others need not take them.
    """

    #: ``(host, port)`` actually bound (the real port when 0 was asked), or None.
    address: tuple[str, int] | None

    def connect(self, host: str, port: int, **options: Any) -> Link:
        """Start connecting to a server; returns at once.

        ``options`` are the adapter's own (ENet takes ``channels``); an
        unknown one raises ``TypeError``.
        """

    def poll(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for activity, then move bytes and report events."""

    def flush(self) -> None:
        """Send queued data now, without waiting."""

    def close(self, code: int, linger_ms: int) -> None:
        """Close every link with ``code``, flushing for up to ``linger_ms``, and release."""


def load(spec: str | ModuleType) -> ModuleType:
    """Return the network adapter module for ``spec``.

    ``spec`` is a built-in name (see :data:`BUILTIN`), the dotted import path
    of an adapter module outside pygnetic, or such a module itself.

    Raises:
        ValueError: ``spec`` is neither a built-in name nor an importable
            module with a ``Transport`` class and a ``NAME``.
        AdapterUnavailableError: the library behind it is not installed; the
            message says which ``pip install`` fixes it.
    """
    if isinstance(spec, ModuleType):
        return _checked(spec)
    if spec not in BUILTIN and "." not in spec:
        raise ValueError(
            f"unknown network adapter {spec!r}; built in: {', '.join(BUILTIN)} "
            "(or pass an adapter module, or its dotted import path)"
        )
    path = f"{__name__}.{_builtin_module(spec)}" if spec in BUILTIN else spec
    try:
        module = importlib.import_module(path)
    except AdapterUnavailableError:
        raise
    except ImportError as exc:
        if spec not in BUILTIN:
            raise ValueError(f"network adapter module {spec!r} cannot be imported: {exc}") from exc
        raise AdapterUnavailableError(  # pragma: no cover - adapters convert their own
            f"network adapter {spec!r} failed to import: {exc}"
        ) from exc
    return _checked(module)


def _builtin_module(name: str) -> str:
    """The module of built-in adapter ``name`` here: in a browser, WebSocket's is ``browser``.

    Raises:
        AdapterUnavailableError: In a browser, an adapter that needs sockets.
    """
    if not IN_BROWSER:
        return name
    if name in ("enet", "socket"):
        raise AdapterUnavailableError(_NO_SOCKETS_IN_BROWSER.format(name))
    return BROWSER_MODULES.get(name, name)


def _checked(module: ModuleType) -> ModuleType:
    if not (hasattr(module, "Transport") and isinstance(getattr(module, "NAME", None), str)):
        raise ValueError(
            f"{module.__name__} is not a network adapter: it needs a Transport class and a NAME"
        )
    return module
