"""WebSocket transport: browsers and other WebSocket clients, in the same selectors loop as TCP.

Each pygnetic packet is one binary WebSocket message, both ways: the
handshake frame first (:mod:`pygnetic.handshake`), then one message per
WebSocket message, as over ENet, so links are packet links
(``stream = False``). WebSocket is one reliable, ordered stream, so every
:class:`~pygnetic.protocol.Delivery` is delivered reliably and channels are
not carried (receivers see channel 0).

The WebSocket protocol itself is the ``websockets`` library's sans-I/O core
(``ServerProtocol``, ``ClientProtocol``); the bytes move over
:mod:`~pygnetic.adapters.network.socket`'s links, so the write queue, the
send-buffer limit, reading back-pressure and TLS (``tls=``, ``wss://``) are
that adapter's. No asyncio, no threads.

Serving: a server accepts an upgrade on any path and offers the subprotocol
``"pygnetic"``. The upgrade request may take at most :data:`MAX_UPGRADE_BYTES`;
``origins=`` limits which web pages' scripts may connect (the ``Origin``
header; include None to admit clients that send none, as desktop ones). A
plain HTTP request (a browser opening the address) gets a short answer that
says what the port is, then the connection closes. Beside the socket adapter
(``adapter=('enet', 'socket', 'websocket')``) both share one TCP port: the
socket adapter hands over each connection whose first bytes are an HTTP
request (:data:`SHARES_PORT_WITH`).

Closing: the WebSocket close code is 1000 for
:attr:`~pygnetic.protocol.CloseCode.NORMAL` and ``4000 +`` the
:class:`~pygnetic.protocol.CloseCode` otherwise, after pygnetic's own
goodbye message; a peer's close code in that range is read back the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..._decoding import remote_text
from ..._defaults import import_optional
from ..._logthrottle import LogThrottle
from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener
from . import socket as tcp
from ._admission import SNIFF_BYTES
from ._tls import TlsOption
from ._websocket_shared import close_code_of, url_for, websocket_close, websocket_close_code

import_optional("websockets", "websocket")
from websockets.client import ClientProtocol  # noqa: E402
from websockets.exceptions import PayloadTooBig  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.http11 import Request  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

__all__ = [
    "LABEL",
    "MAX_UPGRADE_BYTES",
    "NAME",
    "SHARES_PORT_WITH",
    "SUBPROTOCOL",
    "Transport",
    "WebSocketLink",
    "close_code_of",
    "looks_like_http",
    "websocket_close_code",
]

#: The adapter's name, as given to ``adapter=``.
NAME = "websocket"
#: What logs and errors call the adapter.
LABEL = "WebSocket"
#: The adapter whose TCP port this one shares when a server has both.
SHARES_PORT_WITH = "socket"
#: The WebSocket subprotocol offered and accepted.
SUBPROTOCOL = "pygnetic"
#: Bytes an upgrade request may take, headers included.
MAX_UPGRADE_BYTES = 16 * 1024
#: What a plain HTTP request is told.
NOT_A_WEB_PAGE = (
    "This is a pygnetic game server. It speaks WebSocket (and pygnetic's own TCP "
    "protocol) on this port, not plain HTTP: connect with a pygnetic client or "
    "a WebSocket client such as examples/web/pygnetic.js.\n"
)

log = logging.getLogger("pygnetic.websocket")
# The protocol's own lines ("connection open") repeat what pygnetic logs already.
_protocol_log = logging.getLogger("pygnetic.websocket.protocol")
_protocol_log.setLevel(logging.WARNING)
_OPEN = State.OPEN
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_TEXT = Opcode.TEXT
_CLOSE = Opcode.CLOSE
#: Bytes handed to the WebSocket protocol at a time: at most some 700 tiny
#: frames parsed before the adapter sees them.
FEED_BYTES = 4 * 1024
#: Pings and pongs a peer may send in a second (browsers send none, others
#: one in many seconds): each costs a parse and a pong, and no budget of the
#: core's counts them.
MAX_CONTROL_FRAMES = 64
_RELIABLE = Delivery.RELIABLE
_HTTP_METHOD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SUBPROTOCOL = Subprotocol(SUBPROTOCOL)
_FAULTS = (CloseCode.PROTOCOL_ERROR, CloseCode.MESSAGE_TOO_LARGE)


def looks_like_http(first: bytes) -> bool | None:
    """A door's claim: whether a connection's first bytes begin an HTTP request.

    HTTP starts with an upper-case method and a space (``GET /``);
    pygnetic's own handshake starts with ``PGN`` and a version byte.
    """
    for index, byte in enumerate(first):
        if byte == 0x20:
            return index > 0
        if byte not in _HTTP_METHOD_BYTES:
            return False
    return None


class WebSocketLink:
    """One WebSocket connection, over one of the socket adapter's links."""

    stream = False
    #: Any channel number is accepted; WebSocket has a single ordered stream.
    channels = 255
    round_trip_time = None
    keepalive = False  # the core pings: browsers send no WebSocket pings
    last_heard = 0
    #: Set by the core for resumable sessions: every message arrives reliably.
    flag_reliable = False

    def __init__(
        self,
        transport: Transport,
        inner: tcp.SocketLink,
        protocol: ServerProtocol | ClientProtocol,
    ) -> None:
        self.transport = transport
        self.inner = inner
        self.protocol = protocol
        #: ``(host, port)`` of the peer.
        self.address: tuple[str, int] = inner.address
        self.receiver: Receiver = _discard
        self.upgraded = False
        self.reported = False  # our listener has heard of the link
        self.closed = False
        self.upgrade_bytes = 0
        self.controls = 0  # pings and pongs since ``controls_since``
        self.controls_since = 0.0
        self._fragments: list[bytes] | None = None
        inner.receiver = self._received

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data`` as one binary message; it leaves with the socket's queue."""
        protocol = self.protocol
        if protocol.state is _OPEN:
            protocol.send_binary(data)
            for chunk in protocol.data_to_send():  # _write's loop, inline: the hot path
                self.inner.send(chunk, 0, _RELIABLE)

    @property
    def pending_bytes(self) -> int:
        """Bytes queued that the kernel has not taken yet (the socket link's)."""
        return self.inner.pending_bytes

    def send_counted(self, data: bytes, channel: int, delivery: Delivery) -> bool:
        """Send like :meth:`send`; every message goes reliably, so True."""
        self.send(data, channel, delivery)
        return True

    def pause(self, paused: bool) -> None:
        """Stop or resume reading: the core holds enough of this peer's data."""
        self.inner.pause(paused)

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Send the WebSocket close (code :func:`websocket_close_code`), then end the stream."""
        if self.closed:
            return
        self.closed = True
        if self.protocol.state is _OPEN:
            self.protocol.send_close(*websocket_close(code))
        self._write()
        self.inner.close(code)
        self.transport.forget(self)

    # -- from the socket ---------------------------------------------------------

    def _received(self, data: bytes, channel: int) -> None:
        if not self.upgraded and not self._upgrade_within_limits(data):
            return
        if len(data) <= FEED_BYTES:
            self._feed(data)
            return
        # A slice at a time: websockets parses every frame it holds at once,
        # so a flood of tiny control frames is cut short between slices.
        for start in range(0, len(data), FEED_BYTES):
            if not self._feed(data[start : start + FEED_BYTES]):
                return

    def _upgrade_within_limits(self, data: bytes) -> bool:
        """Server, before the upgrade: refuse what is no HTTP, or too much of it."""
        if not self.upgrade_bytes and _not_http(self.protocol, data):
            self._ended(CloseCode.PROTOCOL_ERROR, "not HTTP: this port speaks WebSocket")
            return False
        self.upgrade_bytes += len(data)
        if self.upgrade_bytes > MAX_UPGRADE_BYTES:
            self._refuse(431, "upgrade request too large")
            return False
        return True

    def _feed(self, data: bytes) -> bool:
        """Hand ``data`` to the protocol and act on what it read; False once the link ended."""
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if type(event) is Frame:
                self._frame(event)
            elif isinstance(event, Request):
                self._upgrade(event)
            else:
                self.transport.upgraded(self)
            if self.closed:
                return False
        self._write()
        if (
            protocol.close_rcvd is not None  # the peer closed: the protocol answered it
            or protocol.parser_exc is not None
            or protocol.state is State.CLOSED
        ):
            self._ended()
            return False
        if protocol.handshake_exc is not None and not self.upgraded:  # refused, no Request
            reason = remote_text(str(protocol.handshake_exc))
            self._ended(CloseCode.PROTOCOL_ERROR, f"bad WebSocket upgrade request: {reason}")
            return False
        return True

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _BINARY or opcode is _CONT:
            fragments = self._fragments
            if frame.fin and fragments is None:
                data = frame.data
            elif opcode is _BINARY or fragments is None:  # a new fragmented message
                self._fragments = [bytes(frame.data)] if opcode is _BINARY else None
                return
            else:
                fragments.append(bytes(frame.data))
                if not frame.fin:
                    return
                data, self._fragments = b"".join(fragments), None
            self.receiver(bytes(data), 0x100 if self.flag_reliable else 0)
        elif opcode is _TEXT:
            self.protocol.fail(1003, "pygnetic messages are binary")
            self._write()
            self._ended(CloseCode.PROTOCOL_ERROR, "a text WebSocket message")
        elif opcode is not _CLOSE:  # pings are answered by the protocol itself
            self._count_control()

    def _count_control(self) -> None:
        now = self.transport.clock()
        if now - self.controls_since >= 1.0:
            self.controls, self.controls_since = 0, now
        self.controls += 1
        if self.controls > MAX_CONTROL_FRAMES:
            self.protocol.fail(1008, "too many control frames")
            self._write()
            self._ended(CloseCode.PROTOCOL_ERROR, "over 64 WebSocket pings or pongs in a second")

    def _upgrade(self, request: Request) -> None:
        """Server: answer the upgrade request; a plain HTTP request is told what this is."""
        protocol = self.protocol
        assert isinstance(protocol, ServerProtocol)
        plain = "Upgrade" not in request.headers  # someone opened the address in a browser
        if plain:
            response = protocol.reject(426, NOT_A_WEB_PAGE)
            response.headers["Upgrade"] = "websocket"
        else:
            response = protocol.accept(request)
        protocol.send_response(response)
        self._write()
        if response.status_code == 101:
            self.upgraded = True
        elif plain:
            self._ended(CloseCode.NORMAL, "answered a plain HTTP request")
        else:
            reason = remote_text(str(protocol.handshake_exc))
            self._ended(CloseCode.PROTOCOL_ERROR, f"WebSocket upgrade refused: {reason}")

    def _refuse(self, status: int, reason: str) -> None:
        protocol = self.protocol
        if isinstance(protocol, ServerProtocol):
            protocol.send_response(protocol.reject(status, reason + "\n"))
            self._write()
        self._ended(CloseCode.PROTOCOL_ERROR, reason)

    def _write(self) -> None:
        inner = self.inner
        for chunk in self.protocol.data_to_send():
            if chunk:
                inner.send(chunk, 0, _RELIABLE)
            else:  # the protocol's end of stream
                inner.close(CloseCode.NORMAL)

    def _ended(self, code: CloseCode | None = None, detail: str = "") -> None:
        """The peer closed, broke the protocol, or was refused: end and report once."""
        if self.closed:
            return
        if code is None:
            code, detail = self.why_ended()
        if code in _FAULTS:  # the peer misbehaved: say so, at a bounded rate
            self.transport.refusals.warning(
                "fault", "closed %s:%s over WebSocket: %s", *self.address, detail
            )
        self.closed = True
        self.inner.close(code)
        self.transport.forget(self)
        if self.reported:
            self.transport.listener.link_closed(self, code, detail)

    def why_ended(self) -> tuple[CloseCode, str]:
        """The close code and reason that the peer's close or its protocol error says."""
        protocol = self.protocol
        error = protocol.parser_exc
        if isinstance(error, PayloadTooBig):
            limit = self.transport.max_message_size
            detail = f"WebSocket message exceeds the {limit} byte limit (max_message_size)"
            return CloseCode.MESSAGE_TOO_LARGE, detail
        if error is not None:
            return CloseCode.PROTOCOL_ERROR, f"WebSocket error: {remote_text(str(error))}"
        received = protocol.close_rcvd
        websocket_code = received.code if received is not None else None
        detail = f"WebSocket closed by peer ({websocket_code})"
        code = close_code_of(websocket_code)
        return (CloseCode.TRANSPORT_ERROR if code is None else code), detail


def _not_http(protocol: ServerProtocol | ClientProtocol, first: bytes) -> bool:
    """Server: whether a connection's first bytes cannot begin an HTTP request (say, TCP's)."""
    return isinstance(protocol, ServerProtocol) and looks_like_http(first[:SNIFF_BYTES]) is False


def _select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """``"pygnetic"`` when the client offers it; a client that offers none is welcome too."""
    return _SUBPROTOCOL if _SUBPROTOCOL in offered else None


def _discard(data: bytes, channel: int) -> None:
    """Receiver of links the core has not taken over yet."""


class Transport:
    """WebSocket server or client over the socket adapter's selectors loop.

    Args:
        tls: As the socket adapter's: a server's certificate and key (or
            context), or a client's default for :meth:`connect`.
        origins: Server: the ``Origin`` values admitted (strings, compiled
            regular expressions, None for no header); None admits any.
        door: A socket adapter transport already listening on the port to
            share (the host passes it when a server has both adapters).
    """

    def __init__(
        self,
        listener: TransportListener,
        *,
        bind: tuple[str, int] | None = None,
        max_links: int = 1,
        channels: int = 1,
        max_message_size: int = 0,
        clock: Callable[[], float] = time.monotonic,
        max_send_buffer: int | None = None,
        tls: TlsOption = None,
        origins: Sequence[Any] | None = None,
        door: tcp.Transport | None = None,
        handshake_timeout: float = 3.0,
        max_handshakes: int = 8,
        max_handshakes_per_address: int | None = None,
    ) -> None:
        self.listener = listener
        self.clock = clock
        # One byte over the core's limit, so that the core's own check
        # (MESSAGE_TOO_LARGE, with its reason) is what a peer meets first.
        self.max_message_size = max_message_size or 2**20
        self._max_size = self.max_message_size + 1
        self._origins = list(origins) if origins is not None else None
        self._links: dict[tcp.SocketLink, WebSocketLink] = {}
        self.refusals = LogThrottle(log)
        self._shared = door is not None
        if door is not None:
            self._inner = door
            door.add_door(looks_like_http, self)
        else:
            self._inner = tcp.Transport(
                self,
                bind=bind,
                max_links=max_links,
                channels=channels,
                max_message_size=max_message_size,
                clock=clock,
                max_send_buffer=max_send_buffer,
                tls=tls,
                handshake_timeout=handshake_timeout,
                max_handshakes=max_handshakes,
                max_handshakes_per_address=max_handshakes_per_address,
            )
        self.address = self._inner.address

    # -- the Transport interface ----------------------------------------------

    def connect(
        self,
        host: str,
        port: int,
        *,
        path: str = "/",
        tls: TlsOption = None,
        server_hostname: str | None = None,
        origin: str | None = None,
    ) -> WebSocketLink:
        """Start connecting to ``ws://host:port/path`` (``wss://`` with TLS); returns at once.

        Args:
            host: The server's name or address.
            port: Its TCP port.
            path: The path in the URL; a pygnetic server takes any.
            tls: As the socket adapter's ``connect``: True, a CA file, or a context.
            server_hostname: The name the server's certificate must carry.
            origin: An ``Origin`` header to send, for servers that check it.
        """
        inner = self._inner.connect(host, port, tls=tls, server_hostname=server_hostname)
        protocol = ClientProtocol(
            parse_uri(url_for(host, port, path, secure=inner.tls is not None)),
            origin=origin,  # type: ignore[arg-type]  # an Origin is a str
            subprotocols=[_SUBPROTOCOL],
            max_size=self._max_size,
            logger=_protocol_log,
        )
        link = WebSocketLink(self, inner, protocol)
        link.reported = True  # the core holds a client's link from the start
        self._links[inner] = link
        return link

    @property
    def has_reports(self) -> bool:
        """True when the socket transport has reports waiting: poll without waiting."""
        return self._inner.has_reports

    def fileno(self) -> int | None:
        """The socket transport's descriptor (the shared one's, when sharing a port)."""
        return self._inner.fileno()

    def poll(self, timeout_ms: int) -> None:
        """Move bytes and report, through the socket transport.

        A shared one is polled by the host already; it is polled here too
        only when asked to wait, which a host without a common waiter asks
        of its first transport alone.
        """
        if timeout_ms or not self._shared:
            self._inner.poll(timeout_ms)

    def flush(self) -> None:
        """Send queued data now, without waiting."""
        self._inner.flush()

    def close(self, code: int, linger_ms: int) -> None:
        """Close every WebSocket, then (unless shared) the socket transport."""
        for link in list(self._links.values()):
            link.close(code)
        if not self._shared:
            self._inner.close(code, linger_ms)

    # -- as the socket transport's listener ------------------------------------

    def link_opened(self, link: Any) -> None:
        """A TCP connection that will be a WebSocket: our listener hears of it at once.

        So the core's handshake limits (time, count, per address) cover the
        upgrade too; its hello comes in the first WebSocket message.
        """
        protocol = ServerProtocol(
            origins=self._origins,
            select_subprotocol=_select_subprotocol,
            max_size=self._max_size,
            logger=_protocol_log,
        )
        websocket = WebSocketLink(self, link, protocol)
        self._links[link] = websocket
        websocket.reported = True
        self.listener.link_opened(websocket)

    def link_connected(self, link: Any) -> None:
        """Client: TCP (and TLS) is up; send the upgrade request."""
        websocket = self._links.get(link)
        if websocket is None:
            return
        websocket.address = link.address  # the address that answered, of those tried
        protocol = websocket.protocol
        assert isinstance(protocol, ClientProtocol)
        protocol.send_request(protocol.connect())
        websocket._write()

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """The TCP connection ended under a WebSocket: end it, reporting once."""
        websocket = self._links.pop(link, None)
        if websocket is None or websocket.closed:
            return
        websocket.closed = True
        if websocket.protocol.close_rcvd is not None:  # the peer said why before it went
            code, detail = websocket.why_ended()
        if websocket.reported:
            self.listener.link_closed(websocket, code, detail)

    # -- from the links ----------------------------------------------------------

    def upgraded(self, link: WebSocketLink) -> None:
        """Client: the server answered the upgrade; report the link up, or why not."""
        protocol = link.protocol
        if protocol.handshake_exc is None and protocol.state is _OPEN:
            link.upgraded = True
            self.listener.link_connected(link)
            return
        reason = remote_text(str(protocol.handshake_exc))
        link._ended(CloseCode.TRANSPORT_ERROR, f"WebSocket upgrade refused: {reason}")

    def forget(self, link: WebSocketLink) -> None:
        """``link`` ended: no longer one of ours."""
        self._links.pop(link.inner, None)
