"""An in-process network for tests: no sockets, fully deterministic.

Transports on one :class:`MemoryNetwork` find each other by port. Whatever a
link sends is delivered during the receiving transport's next ``poll()``; a
``stream`` network re-cuts the bytes into ``chunk``-sized slices, as TCP may.
:meth:`MemoryNetwork.sever` silences a link without closing it, like a
pulled cable, to test keepalive timeouts::

    network = MemoryNetwork()
    server = Server(adapter='memory', network=network)
    client = Client(adapter='memory', network=network)
    connection = client.connect('memory', server.address[1])

Every transport names its network (``network=``): there is no process-wide
default, so hosts in different tests or threads never share ports or meet by
accident, and nothing needs resetting between tests. A network and its
transports are not locked: use one network from one thread, and give each
thread (each host pair under test) a network of its own.
"""

from __future__ import annotations

import collections
import enum
import functools
import itertools
from collections.abc import Callable
from typing import Any

from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener

__all__ = ["LABEL", "NAME", "MemoryLink", "MemoryNetwork", "Transport"]

#: The adapter's name, as given to ``adapter=``.
NAME = "memory"
#: What logs and errors call the adapter.
LABEL = "memory"


class MemoryNetwork:
    """A private network of memory transports.

    Args:
        stream: Deliver byte streams (like TCP) instead of whole messages.
        chunk: With ``stream``, the size of the slices delivered.
        keepalive: Keep links alive in the transport, as ENet does: every
            ``poll()`` of a transport counts as its peers hearing from it
            (unless severed), the core sends no keepalive pings, and the
            round-trip time reads 0.
    """

    def __init__(self, *, stream: bool = False, chunk: int = 7, keepalive: bool = False) -> None:
        self.stream = stream
        self.chunk = chunk
        self.keepalive = keepalive
        self.listeners: dict[int, Transport] = {}
        self._ports = itertools.count(40000)

    def port(self) -> int:
        """Return an unused port number."""
        return next(self._ports)

    def sever(self, link: MemoryLink) -> None:
        """Silently drop everything sent over ``link`` in both directions from now on."""
        link.severed = True
        if link.peer is not None:
            link.peer.severed = True


class LinkState(enum.Enum):
    """Where a :class:`MemoryLink` is in its life."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class MemoryLink:
    """One end of a memory connection."""

    channels = 8
    #: Nothing waits: sends are handed to the peer's transport at once.
    pending_bytes = 0

    def __init__(self, transport: Transport, address: tuple[str, int], state: LinkState) -> None:
        self.transport = transport
        self.address = address
        self.state = state
        self.stream = transport.network.stream
        self.receiver: Receiver = _discard
        self.peer: MemoryLink | None = None
        self.severed = False
        self.keepalive = transport.network.keepalive
        #: Counts the peer transport's polls while the link is not severed.
        self.last_heard = 0
        self.sent: list[tuple[bytes, int, Delivery]] = []  # a record, for tests
        #: Set by the core: a packet sent reliably arrives with bit 8 set in its channel.
        self.flag_reliable = False

    @property
    def round_trip_time(self) -> float | None:
        """0.0 with ``keepalive`` (measured by the transport, as over ENet), else None."""
        return 0.0 if self.keepalive else None

    def _to_peer(self, action: Callable[[], None]) -> None:
        if self.peer is not None and not self.severed:
            self.peer.transport.inbox.append(action)

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Deliver ``data`` to the peer at its next poll."""
        self.sent.append((data, channel, delivery))
        peer = self.peer
        if peer is None:
            return
        if self.stream:
            step = self.transport.network.chunk
            for start in range(0, len(data), step):
                self._to_peer(functools.partial(peer.deliver, data[start : start + step], 0))
        else:
            reliable = delivery is Delivery.RELIABLE
            self._to_peer(lambda: peer.deliver(data, channel, reliable))

    def send_counted(self, data: bytes, channel: int, delivery: Delivery) -> bool:
        """Send like :meth:`send`; say whether the packet counts as reliable (it is sent so)."""
        self.send(data, channel, delivery)
        return delivery is Delivery.RELIABLE

    def deliver(self, data: bytes, channel: int, reliable: bool = False) -> None:
        """Hand received bytes to the core, if the link is open."""
        if self.state is LinkState.OPEN:
            if reliable and self.flag_reliable:
                channel |= 0x100
            self.receiver(data, channel)

    def opened(self) -> None:
        """Server side: the link is up; tell the core, and the peer that it is connected."""
        self.state = LinkState.OPEN
        self.transport.listener.link_opened(self)
        self._to_peer(self.peer.connected if self.peer else _nothing)

    def connected(self) -> None:
        """Client side: the listener took our link."""
        if self.state is LinkState.CONNECTING:
            self.state = LinkState.OPEN
            self.transport.listener.link_connected(self)

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Close; the peer hears ``link_closed`` with ``code``."""
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.CLOSED
            peer = self.peer
            if peer is not None:
                self._to_peer(lambda: peer.closed(code, CloseCode(code).description))

    def closed(self, code: int, detail: str) -> None:
        """The peer closed."""
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.CLOSED
            self.transport.listener.link_closed(self, code, detail)


def _discard(data: bytes, channel: int) -> None:
    """Receiver of links the core has not taken over yet."""


def _nothing() -> None:
    """An action with no effect."""


class Transport:
    """A memory endpoint; a listener on its network when ``bind`` is given."""

    def __init__(
        self,
        listener: TransportListener,
        *,
        bind: tuple[str, int] | None = None,
        max_links: int = 1,
        channels: int = 8,
        max_message_size: int = 0,
        clock: Callable[[], float] | None = None,
        network: MemoryNetwork | None = None,
    ) -> None:
        self.listener = listener
        if network is None:
            raise TypeError(
                "the memory adapter needs network=MemoryNetwork(): transports on the "
                "same MemoryNetwork object reach each other, and there is no default one"
            )
        self.network = network
        self.inbox: collections.deque[Callable[[], None]] = collections.deque()
        self.links: list[MemoryLink] = []
        self.address: tuple[str, int] | None = None
        if bind is not None:
            port = bind[1] or self.network.port()
            if port in self.network.listeners:
                raise OSError(f"memory port {port} is in use")
            self.network.listeners[port] = self
            self.address = ("memory", port)

    def connect(self, host: str, port: int) -> MemoryLink:
        """Ask the listener at ``port`` for a connection."""
        link = MemoryLink(self, ("memory", port), LinkState.CONNECTING)
        self.links.append(link)
        server = self.network.listeners.get(port)
        if server is None:
            self.inbox.append(
                lambda: link.closed(CloseCode.TRANSPORT_ERROR, f"nothing listens on port {port}")
            )
            return link
        remote = MemoryLink(server, ("memory", self.network.port()), LinkState.CONNECTING)
        link.peer, remote.peer = remote, link
        server.links.append(remote)
        server.inbox.append(remote.opened)
        return link

    def poll(self, timeout_ms: int) -> None:
        """Run everything that arrived; never waits."""
        if self.network.keepalive:
            for link in self.links:
                if link.peer is not None and not link.severed:
                    link.peer.last_heard += 1
        inbox = self.inbox
        for _ in range(len(inbox)):
            inbox.popleft()()

    def flush(self) -> None:
        """Nothing to do: sends are delivered at the peer's poll."""

    def close(self, code: int, linger_ms: int) -> None:
        """Close every link and stop listening."""
        for link in self.links:
            link.close(code)
        if self.address is not None:
            self.network.listeners.pop(self.address[1], None)

    def find(self, predicate: Callable[[MemoryLink], Any]) -> MemoryLink:
        """Return the first link for which ``predicate`` is true (a test helper)."""
        return next(link for link in self.links if predicate(link))
