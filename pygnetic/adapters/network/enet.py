"""ENet transport through pyenet: reliable and unreliable UDP channels.

ENet gives each connection several channels, each ordered on its own, and
three delivery modes that map one-to-one onto
:class:`~pygnetic.protocol.Delivery`. It fragments large packets itself, so a
message is never refused for exceeding a datagram. pyenet is IPv4-only.

Handshake: the client's registry hash travels as ENet *connect data*. A server
that refuses answers with an ENet disconnect whose data is the
:class:`~pygnetic.protocol.CloseCode`; one that accepts sends :data:`WELCOME` as
the first reliable packet on channel 0, and only then does the client report
the connection as made. Garbage datagrams at the port are discarded by ENet
itself.

Install with ``pip install 'pygnetic[enet]'`` (wheels exist up to Python 3.12).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from ..._defaults import import_optional
from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener

enet: Any = import_optional("enet", "enet")

__all__ = ["NAME", "WELCOME", "EnetLink", "Transport"]

#: The adapter's name, as given to ``init(n_module=...)`` or ``adapter=``.
NAME = "enet"
#: First packet of an accepted connection (not a valid msgpack or JSON message).
WELCOME = b"\x00pygnetic\x00"
#: Events handled per poll at most, so a flood cannot freeze the game loop.
MAX_EVENTS_PER_POLL = 65536
# Packets that overtake WELCOME (unsequenced ones can) wait, up to this many.
MAX_EARLY_PACKETS = 1024
# Spare peer slots beyond max_links, so that a full server can still say so.
SPARE_PEERS = 8

log = logging.getLogger("pygnetic.enet")

_FLAGS = {
    Delivery.RELIABLE: enet.PACKET_FLAG_RELIABLE,
    Delivery.UNRELIABLE_SEQUENCED: 0,
    Delivery.UNRELIABLE: enet.PACKET_FLAG_UNSEQUENCED,
}
_Packet = enet.Packet
_RECEIVE = enet.EVENT_TYPE_RECEIVE
_CONNECT = enet.EVENT_TYPE_CONNECT
_NONE = enet.EVENT_TYPE_NONE


def _key(peer: Any) -> int:
    """The dictionary key of a peer: its slot in the host, unique while it is in use.

    pyenet makes a new ``Peer`` object for every event, and ``Peer.__eq__``
    compares addresses by formatting them as text (microseconds), so a dict
    keyed by ``Peer`` objects pays that on every packet; the slot number is an int.
    """
    return int(peer.incomingPeerID)


class LinkState(enum.Enum):
    """Where an :class:`EnetLink` is in its life."""

    CONNECTING = "connecting"  # client: waiting for ENet's connect, then WELCOME
    REQUESTED = "requested"  # server: waiting for accept() or reject()
    OPEN = "open"
    CLOSED = "closed"  # closed locally; ENet may still report its end


_OPEN = LinkState.OPEN


class EnetLink:
    """One ENet peer."""

    stream = False
    #: ENet pings a quiet peer every 500 ms and acknowledges everything, so
    #: pygnetic's own keepalive pings would only add traffic.
    keepalive = True

    def __init__(self, peer: Any, state: LinkState) -> None:
        self.peer = peer
        self.state = state
        address = peer.address
        self.address = (str(address.host), int(address.port))
        self.receiver: Receiver = _unset_receiver
        self.early: list[tuple[bytes, int]] = []

    @property
    def channels(self) -> int:
        """Channels agreed with the peer."""
        return int(self.peer.channelCount)

    @property
    def round_trip_time(self) -> float | None:
        """ENet's smoothed round-trip time in milliseconds."""
        return float(self.peer.roundTripTime)

    @property
    def last_heard(self) -> int:
        """ENet's time of the last packet from the peer, its pings and acks included."""
        return int(self.peer.lastReceiveTime)

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data`` on ``channel``; it leaves at the next service."""
        if self.peer.send(channel, _Packet(data, _FLAGS[delivery])) < 0:
            log.warning("ENet refused a packet to %s on channel %d", self.address, channel)

    def accept(self) -> None:
        """Admit the peer and tell it so with WELCOME."""
        self.state = LinkState.OPEN
        self.peer.send(0, _Packet(WELCOME, enet.PACKET_FLAG_RELIABLE))

    def reject(self, code: int) -> None:
        """Refuse the peer; its disconnect event carries ``code``."""
        self.state = LinkState.CLOSED
        self.peer.disconnect(int(code))

    def close(self, code: int) -> None:
        """Disconnect once queued packets are out."""
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.CLOSED
            self.peer.disconnect_later(int(code))


def _address(host: str, port: int) -> Any:
    """Build an ``enet.Address``; ``''`` means every interface."""
    return enet.Address(host.encode() if host else None, port)


def _unset_receiver(data: bytes, channel: int) -> None:  # pragma: no cover - a core bug
    raise RuntimeError("link received data before the core set its receiver")


class Transport:
    """An ENet host: a server when ``bind`` is given, otherwise a client."""

    def __init__(
        self,
        listener: TransportListener,
        *,
        bind: tuple[str, int] | None = None,
        max_links: int = 1,
        channels: int = 8,
        max_message_size: int = 0,
    ) -> None:
        self._listener = listener
        self._channels = channels
        address = _address(bind[0], bind[1]) if bind is not None else None
        peers = max_links + SPARE_PEERS if bind is not None else max_links
        try:
            self._host = enet.Host(address, peers, channels, 0, 0)
        except MemoryError as exc:  # pyenet's way of saying the bind failed
            raise OSError(f"ENet could not bind to {bind}: address in use or invalid") from exc
        self._links: dict[int, EnetLink] = {}  # by _key(peer)
        self.address: tuple[str, int] | None = None
        if bind is not None:
            # pyenet spells "every interface" '*'; report it as the socket adapter does.
            bound = self._host.address
            host = str(bound.host)
            self.address = ("0.0.0.0" if host == "*" else host, int(bound.port))
        self._dispatch: dict[int, Callable[[Any], None]] = {
            _CONNECT: self._on_connect,
            enet.EVENT_TYPE_DISCONNECT: self._on_disconnect,
            _RECEIVE: self._on_receive_other,
        }

    def connect(self, host: str, port: int, connect_data: int) -> EnetLink:
        """Ask ``host:port`` for a connection, sending ``connect_data``."""
        peer = self._host.connect(_address(host, port), self._channels, connect_data)
        if peer is None:
            raise OSError("ENet has no free peer slot for another connection")
        link = EnetLink(peer, LinkState.CONNECTING)
        self._links[_key(peer)] = link
        return link

    def poll(self, timeout_ms: int) -> None:
        """Service the host: wait up to ``timeout_ms``, then handle every pending event."""
        host = self._host
        links = self._links
        event = host.service(timeout_ms)
        for _ in range(MAX_EVENTS_PER_POLL):
            kind = event.type
            if kind == _NONE:
                return
            if kind == _RECEIVE:
                link = links.get(event.peer.incomingPeerID)
                if link is not None and link.state is _OPEN:
                    link.receiver(event.packet.data, event.channelID)
                else:
                    self._on_receive_other(event)
            else:
                self._dispatch[kind](event)
            event = host.service(0)

    def flush(self) -> None:
        """Send queued packets now."""
        self._host.flush()

    def close(self, code: int, linger_ms: int) -> None:
        """Disconnect every peer, wait up to ``linger_ms`` for them, release the port."""
        for link in self._links.values():
            link.close(code)
        waited = 0
        while self._links and waited < linger_ms:
            event = self._host.service(10)
            waited += 10
            while event.type != _NONE:
                if event.type == enet.EVENT_TYPE_DISCONNECT:
                    self._links.pop(_key(event.peer), None)
                event = self._host.service(0)
        for link in self._links.values():
            link.peer.reset()
        self._links.clear()
        self._host.flush()
        del self._host

    # -- events --------------------------------------------------------------

    def _on_connect(self, event: Any) -> None:
        peer = event.peer
        link = self._links.get(_key(peer))
        if link is not None:
            return  # our own request went through; WELCOME follows if accepted
        link = EnetLink(peer, LinkState.REQUESTED)
        self._links[_key(peer)] = link
        self._listener.link_requested(link, event.data)
        if link.state is LinkState.REQUESTED:  # the listener must decide
            link.reject(CloseCode.PROTOCOL_ERROR)

    def _on_receive_other(self, event: Any) -> None:
        link = self._links.get(_key(event.peer))
        if link is None or link.state is not LinkState.CONNECTING:
            return  # a peer we closed, still draining
        data, channel = event.packet.data, event.channelID
        if channel == 0 and data == WELCOME:
            link.state = LinkState.OPEN
            self._listener.link_connected(link)
            early, link.early = link.early, []
            for early_data, early_channel in early:
                if link.state is LinkState.OPEN:
                    link.receiver(early_data, early_channel)
        elif len(link.early) < MAX_EARLY_PACKETS:
            link.early.append((data, channel))

    def _on_disconnect(self, event: Any) -> None:
        link = self._links.pop(_key(event.peer), None)
        if link is None or link.state is LinkState.CLOSED:
            return
        code, detail = int(event.data), ""  # a code from the peer: the core describes it
        if not code:
            code = CloseCode.TRANSPORT_ERROR
            connecting = link.state is LinkState.CONNECTING
            detail = f"no answer from {link.address}" if connecting else "connection lost"
        link.state = LinkState.CLOSED
        self._listener.link_closed(link, code, detail)
