"""ENet transport through pyenet: reliable and unreliable UDP channels.

ENet gives each connection several channels, each ordered on its own, and
three delivery modes that map one-to-one onto
:class:`~pygnetic.protocol.Delivery`. It fragments large packets itself, so a
message is never refused for exceeding a datagram. pyenet is IPv4-only.

A link is reported to the core once ENet's own connect has completed; the
core's handshake (:mod:`pygnetic.handshake`) then travels as the first
reliable packet on channel 0 each way. Garbage datagrams at the port are
discarded by ENet itself. An ENet disconnect carries the
:class:`~pygnetic.protocol.CloseCode` as its data.

A connect that ENet never completes holds one of the host's peer slots
without any event reaching pygnetic: one forged 52-byte CONNECT datagram is
enough, since ENet answers it and then waits about 30 seconds for an
acknowledgement that never comes. A server's transport therefore looks at
the host's peers a few times a second (:data:`SCAN_INTERVAL`) and releases
(``Peer.reset()``, which sends nothing) every peer still half-open (state
``ACKNOWLEDGING_CONNECT``) after ``handshake_timeout`` seconds; and when one
IP has more than ``max_handshakes_per_address`` peers that were half-open
at two looks in a row, its oldest ones at once. A real client's connect
completes within a round trip, so neither rule touches it. The host also
has a peer slot for every handshake the server allows beyond its
``conn_limit`` connections, plus :data:`SPARE_PEERS`.

What this cannot stop: a flood that fills every free slot between two looks,
from many addresses (or forged ones), keeps new clients out while it lasts.
pyenet offers no way to see a datagram before ENet gives it a slot, except
a Python call for every datagram (``Host.intercept``), which would slow
every packet down.

Closing: the side that closes first sends its goodbye and an ENet
``disconnect_later``; the side that hears the goodbye does not disconnect in
turn but waits for that disconnect (up to :data:`PEER_CLOSE_WAIT` seconds,
then drops the peer silently). Two disconnects racing each other would leave
one lingering, and a client that reconnected at once would lose its new
connection to it.

The ``enet`` module comes from pyenet or, where pyenet has no wheel,
pyenet-vladfi: the ``enet`` extra installs the right one, and
``pygnetic._install.enet_install_command()`` names it.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ..._defaults import import_optional
from ..._logthrottle import LogThrottle
from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener

enet: Any = import_optional("enet", "enet")

__all__ = [
    "CONNECT_DATA",
    "LABEL",
    "NAME",
    "PEER_CLOSE_WAIT",
    "RECEIVE_BUFFER",
    "SCAN_INTERVAL",
    "EnetLink",
    "Transport",
]

#: The adapter's name, as given to ``init(n_module=...)`` or ``adapter=``.
NAME = "enet"
#: What logs and errors call the adapter.
LABEL = "ENet"
#: ENet connect data of a pygnetic client (``b"PGN"`` and the protocol version).
CONNECT_DATA = 0x50474E02
#: Events handled per poll at most, so a flood cannot freeze the game loop;
#: the rest wait in ENet for the next poll.
MAX_EVENTS_PER_POLL = 16384
#: Bytes the kernel may hold for the UDP socket before it drops datagrams (the
#: system's ``net.core.rmem_max`` caps it). ENet asks for 256 KiB; a flood from
#: one peer fills that within one slow frame, and what the kernel drops then
#: is everyone's traffic, not only the flood's.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Seconds to wait for a peer that said goodbye to disconnect before dropping it.
PEER_CLOSE_WAIT = 2.0
#: A server's peer slots beyond its connections and handshakes: for connects
#: not yet complete, and peers still disconnecting. A slot costs a few hundred
#: bytes, and ENet skips a free one in a few instructions.
SPARE_PEERS = 32
# A client can reconnect while its previous peer finishes disconnecting.
SPARE_CLIENT_PEERS = 2
#: Seconds between two looks at a server's peers for connects that never complete.
SCAN_INTERVAL = 0.25

log = logging.getLogger("pygnetic.enet")

# An unreliable message stays unreliable over the MTU too: without
# UNRELIABLE_FRAGMENT, ENet would send its fragments reliably, so that a big
# state update lost on the way is resent, and holds up its channel, instead
# of giving way to the next one (Godot sends its unreliable modes so too).
_FLAGS = {
    Delivery.RELIABLE: enet.PACKET_FLAG_RELIABLE,
    Delivery.UNRELIABLE_SEQUENCED: enet.PACKET_FLAG_UNRELIABLE_FRAGMENT,
    Delivery.UNRELIABLE: enet.PACKET_FLAG_UNSEQUENCED | enet.PACKET_FLAG_UNRELIABLE_FRAGMENT,
}
_Packet = enet.Packet
_RECEIVE = enet.EVENT_TYPE_RECEIVE
_RELIABLE_FLAG = enet.PACKET_FLAG_RELIABLE
#: ENet's protocol header and fragment command: a packet longer than the MTU
#: minus these is sent in fragments.
_FRAGMENT_HEADERS = 28
_CONNECT = enet.EVENT_TYPE_CONNECT
_NONE = enet.EVENT_TYPE_NONE
# A server's peer that answered a CONNECT and waits for it to be acknowledged.
_HALF_OPEN = enet.PEER_STATE_ACKNOWLEDGING_CONNECT


def _key(peer: Any) -> int:
    """The dictionary key of a peer: its slot in the host, unique while it is in use.

    pyenet makes a new ``Peer`` object for every event, and ``Peer.__eq__``
    compares addresses by formatting them as text (microseconds), so a dict
    keyed by ``Peer`` objects pays that on every packet; the slot number is an int.
    """
    return int(peer.incomingPeerID)


class LinkState(enum.Enum):
    """Where an :class:`EnetLink` is in its life."""

    CONNECTING = "connecting"  # client: waiting for ENet's connect
    OPEN = "open"
    PEER_CLOSING = "peer closing"  # the peer said goodbye; waiting for its disconnect
    CLOSED = "closed"  # closed locally; ENet may still report its end


_OPEN = LinkState.OPEN


class EnetLink:
    """One ENet peer."""

    stream = False
    #: ENet pings a quiet peer every 500 ms and acknowledges everything, so
    #: pygnetic's own keepalive pings would only add traffic.
    keepalive = True
    #: Set by the core: hand each packet that came reliably over with bit 8
    #: set in its channel (see :class:`~pygnetic.adapters.network.Link`).
    flag_reliable = False

    def __init__(self, transport: Transport, peer: Any, state: LinkState) -> None:
        self.transport = transport
        self.peer = peer
        self.state = state
        address = peer.address
        self.address = (str(address.host), int(address.port))
        self.receiver: Receiver = _unset_receiver
        self.deadline = 0.0  # while PEER_CLOSING: when to give up waiting
        self._channels = int(peer.channelCount)  # known from the start: requested or agreed
        # Per channel, sequenced packets sent since its last reliable one (see
        # send_counted); made by the first counted send, only for sessions.
        self._unreliable_runs: list[int] | None = None

    @property
    def channels(self) -> int:
        """Channels agreed with the peer; the same number after it is gone."""
        count = int(self.peer.channelCount)  # ENet's is 0 once the peer is reset
        if count:
            self._channels = count
        return self._channels

    @property
    def round_trip_time(self) -> float | None:
        """ENet's smoothed round-trip time in milliseconds."""
        return float(self.peer.roundTripTime)

    @property
    def pending_bytes(self) -> int:
        """Reliable bytes sent and not yet acknowledged by the peer."""
        return int(self.peer.reliableDataInTransit)

    @property
    def last_heard(self) -> int:
        """ENet's time of the last packet from the peer, its pings and acks included."""
        return int(self.peer.lastReceiveTime)

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data`` on ``channel``; it leaves at the next service.

        The same bytes sent to several peers in a row (``Server.broadcast``)
        go as one ENet packet, which ENet counts references to, as its own
        broadcast does: not a copy per peer.
        """
        transport = self.transport
        flags = _FLAGS[delivery]
        if data is transport.last_data and flags == transport.last_flags:
            packet = transport.last_packet
        else:
            packet = _Packet(data, flags)
            transport.last_data, transport.last_flags, transport.last_packet = data, flags, packet
        if self.peer.send(channel, packet) < 0:
            log.warning("ENet refused a packet to %s on channel %d", self.address, channel)

    def send_counted(self, data: bytes, channel: int, delivery: Delivery) -> bool:
        """Send like :meth:`send`, and say whether ENet sends the packet reliably.

        The receiver counts packets flagged reliable, so the sender must
        count the same ones: those sent reliable, and the sequenced one
        that ENet itself sends reliably when 65535 have gone on a channel
        since its last reliable packet (``enet_peer_send``), so that its
        sequence numbers can wrap.
        """
        runs = self._unreliable_runs
        if runs is None:
            runs = self._unreliable_runs = [0] * 256
        if delivery is Delivery.RELIABLE:
            runs[channel] = 0
            reliable = True
        elif (
            delivery is Delivery.UNRELIABLE_SEQUENCED
            # An unsequenced packet that needs fragments is sent as sequenced ones.
            or len(data) > self.peer.mtu - _FRAGMENT_HEADERS
        ):
            reliable = runs[channel] >= 0xFFFF
            runs[channel] = 0 if reliable else runs[channel] + 1
        else:
            reliable = False  # a whole unsequenced packet leaves the count alone
        self.send(data, channel, delivery)
        return reliable

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Disconnect once queued packets are out, or wait for the peer's disconnect."""
        if self.state in (LinkState.CLOSED, LinkState.PEER_CLOSING):
            return
        if peer_closed and self.state is _OPEN:
            self.state = LinkState.PEER_CLOSING
            self.deadline = self.transport.clock() + PEER_CLOSE_WAIT
            self.transport.peer_closing.add(self)
            return
        connecting = self.state is LinkState.CONNECTING
        self.state = LinkState.CLOSED
        self.transport.unshare()  # a reset or a disconnect frees what ENet queued for the peer
        if connecting:
            # ENet drops a peer that is still connecting at once, and no
            # disconnect event ever follows: forget it now.
            self.transport.forget(self)
            self.peer.reset()
            return
        self.peer.disconnect_later(int(code))


def _address(host: str, port: int) -> Any:
    """Build an ``enet.Address``; ``''`` means every interface."""
    return enet.Address(host.encode() if host else None, port)


def _enlarge_receive_buffer(host: Any, size: int) -> None:
    """Ask the kernel to buffer up to ``size`` bytes for ``host``'s UDP socket."""
    # pyenet does not expose setsockopt; a duplicate descriptor names the same socket.
    try:
        with socket.socket(fileno=os.dup(host.socket.fileno())) as sock:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError as exc:  # a platform that refuses: ENet's own size stays
        log.debug("could not enlarge the ENet receive buffer: %s", exc)


def _unset_receiver(data: bytes, channel: int) -> None:  # pragma: no cover - a core bug
    raise RuntimeError("link received data before the core set its receiver")


class Transport:
    """An ENet host: a server when ``bind`` is given, otherwise a client.

    A server's ``handshake_timeout``, ``max_handshakes`` and
    ``max_handshakes_per_address`` (the :class:`~pygnetic.server.Server`
    passes its own) bound the peers of connects that never complete, and
    size the host: ``max_links + max_handshakes +`` :data:`SPARE_PEERS`
    peer slots. ``receive_buffer`` (an adapter option:
    ``Server(..., receive_buffer=...)``) is the UDP socket's kernel buffer,
    :data:`RECEIVE_BUFFER` by default.
    """

    def __init__(
        self,
        listener: TransportListener,
        *,
        bind: tuple[str, int] | None = None,
        max_links: int = 1,
        channels: int = 8,
        max_message_size: int = 0,
        clock: Callable[[], float] = time.monotonic,
        handshake_timeout: float = 3.0,
        max_handshakes: int = 8,
        max_handshakes_per_address: int | None = None,
        receive_buffer: int = RECEIVE_BUFFER,
    ) -> None:
        self._listener = listener
        self._channels = channels
        self.clock = clock
        self.peer_closing: set[EnetLink] = set()
        self._throttle = LogThrottle(log, clock=clock)
        # Half-open peers by (slot, connectID), with when a scan first saw them.
        self._half_open: dict[tuple[int, int], float] = {}
        self._half_open_timeout = handshake_timeout if bind is not None else None
        self._half_open_per_address = max_handshakes_per_address
        self._next_scan = 0.0
        address = _address(bind[0], bind[1]) if bind is not None else None
        if bind is not None:
            peers = max_links + max_handshakes + SPARE_PEERS
        else:
            peers = max_links + SPARE_CLIENT_PEERS
        try:
            self._host = enet.Host(address, peers, channels, 0, 0)
        except MemoryError as exc:  # pyenet's way of saying the bind failed
            raise OSError(f"ENet could not bind to {bind}: address in use or invalid") from exc
        _enlarge_receive_buffer(self._host, receive_buffer)
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
        }  # receives are handled in poll() itself
        # The packet last sent and its bytes and flags, for sending the same
        # bytes to the next peer (EnetLink.send). ENet frees a packet once
        # every peer it was queued for has sent it, or is reset, while pyenet's
        # Packet keeps pointing at it: so it is kept only until the next call
        # into ENet other than a send (unshare()).
        self.last_data: bytes | None = None
        self.last_flags = 0
        self.last_packet: Any = None

    def connect(self, host: str, port: int, channels: int | None = None) -> EnetLink:
        """Ask ``host:port`` for a connection with ``channels`` channels (default: the host's)."""
        if channels is not None and not (type(channels) is int and 1 <= channels <= 255):
            raise ValueError(f"channels must be an int between 1 and 255, not {channels!r}")
        count = self._channels if channels is None else channels
        peer = self._host.connect(_address(host, port), count, CONNECT_DATA)
        if peer is None:
            raise OSError("ENet has no free peer slot for another connection")
        return self._new_link(peer, LinkState.CONNECTING)

    def _new_link(self, peer: Any, state: LinkState) -> EnetLink:
        link = self._links[_key(peer)] = EnetLink(self, peer, state)
        return link

    def fileno(self) -> int:
        """The UDP socket's descriptor, readable when a datagram arrived."""
        return int(self._host.socket.fileno())

    def unshare(self) -> None:
        """Forget the packet last sent: ENet may free it from now on (see ``last_packet``)."""
        self.last_data = self.last_packet = None

    def poll(self, timeout_ms: int) -> None:
        """Service the host: wait up to ``timeout_ms``, then handle every pending event.

        ENet acknowledges a reliable packet with a datagram of its own as soon
        as it reads it, before this hands the packet on; that datagram wakes
        the peer waiting for the answer, which goes back to sleep unless the
        answer follows soon. So the time from an event to the answer leaving
        costs more than itself: a round trip pays a second wake-up per side
        when either takes too long (tens of microseconds where an idle CPU
        sleeps at once). This loop is the start of that path: keep it lean.
        """
        if self.last_data is not None:
            self.unshare()
        if self.peer_closing:
            self._expire()
        if self._half_open_timeout is not None and self.clock() >= self._next_scan:
            self._release_half_open(self._half_open_timeout)
        service = self._host.service
        event = service(timeout_ms)
        kind = event.type
        if kind == _NONE:
            return
        links = self._links
        left = MAX_EVENTS_PER_POLL
        while True:
            if kind == _RECEIVE:
                link = links.get(event.peer.incomingPeerID)
                if link is not None and link.state is _OPEN:
                    if link.flag_reliable:
                        packet = event.packet
                        flag = (packet.flags & _RELIABLE_FLAG) << 8
                        link.receiver(packet.data, event.channelID | flag)
                    else:
                        link.receiver(event.packet.data, event.channelID)
                # else a peer we closed, still draining
            else:
                self._dispatch[kind](event)
            left -= 1
            if not left:  # only what is handled is taken: the rest waits in ENet
                return
            if self.last_data is not None:  # what handlers sent may leave now
                self.unshare()
            event = service(0)
            kind = event.type
            if kind == _NONE:
                return

    def forget(self, link: EnetLink) -> None:
        """Stop tracking ``link``: ENet will report nothing more about its peer."""
        if self._links.get(_key(link.peer)) is link:
            del self._links[_key(link.peer)]
        self.peer_closing.discard(link)

    def _expire(self) -> None:
        now = self.clock()
        for link in [link for link in self.peer_closing if link.deadline <= now]:
            self.peer_closing.discard(link)
            link.state = LinkState.CLOSED
            self._links.pop(_key(link.peer), None)
            link.peer.reset()  # silently: a disconnect now could hit a reconnected peer

    def _release_half_open(self, timeout: float) -> None:
        """Reset the peers of connects that never completed in time (see the module docstring).

        O(peer slots), a few times a second: pyenet builds one ``Peer`` per slot.
        """
        now = self.clock()
        self._next_scan = now + SCAN_INTERVAL
        seen: dict[tuple[int, int], float] = {}
        lingering: dict[str, list[tuple[float, tuple[int, int], Any]]] = {}  # by IP
        released = 0
        for peer in self._host.peers:
            if peer.state != _HALF_OPEN:
                continue
            key = (int(peer.incomingPeerID), int(peer.connectID))
            since = self._half_open.get(key, now)
            if now - since >= timeout:
                peer.reset()
                released += 1
                continue
            seen[key] = since
            if since < now:  # half-open at the last look too: longer than a real round trip
                lingering.setdefault(str(peer.address.host), []).append((since, key, peer))
        quota = self._half_open_per_address
        if quota is not None:
            for entries in lingering.values():
                entries.sort(key=lambda entry: entry[0])
                for _, key, peer in entries[: max(0, len(entries) - quota)]:  # the oldest
                    peer.reset()
                    del seen[key]
                    released += 1
        self._half_open = seen
        if released:
            self._throttle.info(
                "half-open",
                "released %d ENet connect(s) that did not complete (half-open too long, "
                "or too many from one address)",
                released,
            )

    def flush(self) -> None:
        """Send queued packets now."""
        self.unshare()
        self._host.flush()

    def close(self, code: int, linger_ms: int) -> None:
        """Disconnect every peer, wait up to ``linger_ms`` for them, release the port."""
        self.unshare()
        for link in list(self._links.values()):  # a connecting link forgets itself
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
        if link is not None:  # our own request went through
            if link.state is LinkState.CONNECTING:
                link.state = _OPEN
                self._listener.link_connected(link)
            return
        link = self._new_link(peer, _OPEN)
        self._listener.link_opened(link)

    def _on_disconnect(self, event: Any) -> None:
        link = self._links.pop(_key(event.peer), None)
        if link is None:
            return
        if link.state is LinkState.PEER_CLOSING:
            self.peer_closing.discard(link)
            link.state = LinkState.CLOSED
            return
        if link.state is LinkState.CLOSED:
            return
        code, detail = int(event.data), ""  # a code from the peer: the core describes it
        if not code:
            code = CloseCode.TRANSPORT_ERROR
            connecting = link.state is LinkState.CONNECTING
            detail = "no answer" if connecting else "connection lost"
        link.state = LinkState.CLOSED
        self._listener.link_closed(link, code, detail)
