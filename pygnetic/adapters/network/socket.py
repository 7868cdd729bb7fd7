"""TCP transport over non-blocking sockets and :mod:`selectors`; always available.

TCP is one reliable, ordered byte stream per connection, so every
:class:`~pygnetic.protocol.Delivery` mode is delivered reliably (but see below
for sequenced state and slow peers), and channels are accepted but not
separated (receivers see channel 0). Sends are queued and written during
``poll()``/``flush()``, and whenever a connection has more than
:data:`FLUSH_THRESHOLD` bytes waiting, so the game loop never blocks on a slow
peer; a peer that falls more than ``max_send_buffer`` bytes behind is
disconnected with :attr:`~pygnetic.protocol.CloseCode.SEND_BUFFER_FULL`.

A send costs the same however much is queued: the queue is one
:class:`bytearray` (appending and dropping what was written are both cheap),
and once the kernel refuses more, nothing is written until the selector says
the socket is writable again. While the kernel is full, an
``UNRELIABLE_SEQUENCED`` message (see :meth:`SocketLink.send_latest`) waits
beside the queue, where a newer one of its type replaces it, so a slow peer
gets the newest state rather than a backlog of stale ones.

A link is reported to the core as soon as TCP has connected (client) or
accepted (server); the core's handshake (:mod:`pygnetic.handshake`) is the
first thing on the stream, and the core closes a peer that does not speak it.

Two things may come between the accept and that report, each bounded by the
server's ``handshake_timeout`` and ``max_handshakes`` (and
``max_handshakes_per_address``), since no handshake table watches a peer yet:

* **TLS** (``tls=``, see :mod:`~pygnetic.adapters.network._tls`): the
  standard library's :mod:`ssl` handshakes first, without blocking; a client
  verifies the server by default.
* **Sharing the port** (:meth:`Transport.add_door`): another adapter on the
  same TCP port (the WebSocket one) is handed the connections whose first
  bytes it claims (an HTTP request); pygnetic's own handshake starts with
  ``PGN``, so the two never collide.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener
from ._admission import Admission, Claim
from ._tls import RETRY, TlsOption, client_context, server_context

__all__ = ["FLUSH_THRESHOLD", "LABEL", "NAME", "Claim", "SocketLink", "Transport"]

#: The adapter's name, as given to ``init(n_module=...)`` or ``adapter=``.
NAME = "socket"
#: What logs and errors call the adapter.
LABEL = "TCP"
#: Queued bytes that trigger an immediate write attempt.
FLUSH_THRESHOLD = 64 * 1024
RECV_SIZE = 256 * 1024
#: Reads per socket per poll, so one busy peer cannot starve the others.
MAX_READS = 4
#: How long a closing connection may take to deliver its last bytes.
LINGER_SECONDS = 2.0

log = logging.getLogger("pygnetic.socket")
# What a non-blocking connect_ex returns while the connection is under way.
_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, getattr(errno, "WSAEWOULDBLOCK", -1)}
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class LinkState(enum.Enum):
    """Where a :class:`SocketLink` is in its life."""

    CONNECTING = "connecting"  # client: TCP connect in progress
    TLS = "tls"  # the TLS handshake is under way
    SNIFFING = "sniffing"  # server: the first bytes say which listener takes it
    OPEN = "open"
    CLOSING = "closing"  # flushing, then draining until EOF or the deadline
    CLOSED = "closed"


_NOT_WRITABLE = (LinkState.CONNECTING, LinkState.TLS, LinkState.CLOSED)
_CLOSING = LinkState.CLOSING
_OPEN = LinkState.OPEN


class SocketLink:
    """One TCP connection."""

    stream = True
    #: Any channel number is accepted; TCP has a single ordered stream.
    channels = 255
    round_trip_time = None
    keepalive = False  # TCP notices a silent peer only by pygnetic's pings
    last_heard = 0

    def __init__(self, transport: Transport, sock: socket.socket, state: LinkState) -> None:
        self.transport = self._transport = transport
        self.sock = sock
        self.state = state
        self.address: tuple[str, int] = ("", 0)
        self.receiver: Receiver = _discard
        #: Who hears of this link: the transport's listener, or a door's.
        self.listener: TransportListener = transport.listener
        self.tls: ssl.SSLContext | None = None  # client: TLS once connected
        self.sniffed = b""  # server: first bytes read while choosing a listener
        self.server_hostname = ""  # client: the name the server's certificate carries
        self.out = bytearray()  # to write, oldest first
        # Sequenced messages by key, waiting beside `out` while the kernel is full.
        self.latest: dict[int, bytes] = {}
        self.latest_size = 0
        self.deadline = 0.0  # while closing: when to give up on the peer
        self.candidates: list[Any] = []  # further addresses to try when connecting
        self.several_addresses = False  # the host name resolved to more than one
        self.writing = False
        self.paused = False  # not read until the core has delivered what it holds
        self.shut = False  # our side of the stream is shut down

    @property
    def pending_bytes(self) -> int:
        """Bytes queued that the kernel has not taken yet."""
        return len(self.out) + self.latest_size

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Queue ``data``; write at once when much is waiting."""
        if self.latest:  # sequenced state sent earlier leaves first, as over ENet
            self.commit_latest()
        out = self.out
        out += data
        if len(out) >= FLUSH_THRESHOLD:
            self._transport.backlog(self)
        else:
            self._transport.dirty.add(self)

    def send_latest(self, data: bytes, channel: int, key: int) -> int:
        """Queue ``data``, replacing the message with ``key`` that waits to leave, if any.

        Returns:
            The size of the message replaced, 0 if none was waiting.
        """
        if not self.writing:  # the kernel takes more: nothing to replace
            self.send(data, channel, Delivery.UNRELIABLE_SEQUENCED)
            return 0
        old = self.latest.get(key)
        replaced = len(old) if old is not None else 0
        self.latest[key] = data
        self.latest_size += len(data) - replaced
        return replaced

    def commit_latest(self) -> None:
        """Move the waiting sequenced messages into the queue; newer ones queue anew."""
        out = self.out
        for data in self.latest.values():
            out += data
        self.latest.clear()
        self.latest_size = 0

    def pause(self, paused: bool) -> None:
        """Stop (True) or resume (False) reading: the core holds enough of this peer's data.

        Meanwhile the kernel's buffer fills and TCP slows the peer down, so a
        peer that sends faster than its receive budget waits rather than
        taking the server's time from the others.
        """
        if paused != self.paused:
            self.paused = paused
            self._transport.set_interest(self)

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Flush, then shut down writing and drain until the peer closes too.

        TCP closes the same way whoever started, so ``peer_closed`` changes nothing.
        """
        if self.state in (LinkState.CLOSING, LinkState.CLOSED):
            return
        self.pause(False)  # draining reads
        self.state = LinkState.CLOSING
        self.deadline = self._transport.clock() + LINGER_SECONDS
        self._transport.closing.add(self)
        self._transport.dirty.add(self)


def _discard(data: bytes, channel: int) -> None:
    """Receiver of links the core has not taken over yet."""


class Transport:
    """A selector over one listening socket (server) and its connections.

    Args:
        tls: A server's certificate: an :class:`ssl.SSLContext` or a
            ``(certfile, keyfile)`` pair; a client's default for
            :meth:`connect`'s ``tls``. None: no TLS.
        handshake_timeout: Seconds an accepted connection may spend on TLS or
            on its first bytes (with doors) before it reaches a listener.
        max_handshakes: Such connections at once; when full, an older one
            gives way, as in the core's own table of handshakes.
        max_handshakes_per_address: The same, per peer IP address (IPv6: /64).
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
        handshake_timeout: float = 3.0,
        max_handshakes: int = 8,
        max_handshakes_per_address: int | None = None,
    ) -> None:
        self.listener = listener
        self.clock = clock
        self._client_tls = client_context(tls) if bind is None else None
        self._admission = Admission(
            self,
            server_context(tls) if bind is not None else None,
            timeout=handshake_timeout,
            max_pending=max_handshakes,
            max_per_address=max_handshakes_per_address or max_handshakes,
        )
        self.max_send_buffer = max_send_buffer or max(4 * max_message_size, 16 * 1024 * 1024)
        self._selector = selectors.DefaultSelector()
        self._buffer = bytearray(RECV_SIZE)  # every read lands here first
        self._view = memoryview(self._buffer)
        self.dirty: set[SocketLink] = set()
        self.closing: set[SocketLink] = set()
        self._failed: list[tuple[SocketLink, int, str]] = []
        self._server: socket.socket | None = None
        self.address: tuple[str, int] | None = None
        if bind is not None:
            self._server = self._listen(bind[0] or "0.0.0.0", bind[1])
            self.address = self._server.getsockname()[:2]

    def _listen(self, host: str, port: int) -> socket.socket:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(address)
            server.listen(128)
        except OSError:
            server.close()
            raise
        server.setblocking(False)
        self._selector.register(server, _READ, None)
        return server

    # -- the Transport interface ----------------------------------------------

    def connect(
        self, host: str, port: int, *, tls: TlsOption = None, server_hostname: str | None = None
    ) -> SocketLink:
        """Start a non-blocking connect to ``host:port``; returns at once.

        Args:
            host: The server's name or address.
            port: Its TCP port.
            tls: True verifies the server's certificate against the system's
                authorities, a path names a PEM file of authorities to trust
                instead, an :class:`ssl.SSLContext` is used as it is; None
                takes the transport's ``tls=`` (none: plain TCP).
            server_hostname: The name the certificate must carry; ``host``
                by default.
        """
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        link = SocketLink(self, _new_socket(candidates[0][0]), LinkState.CONNECTING)
        link.tls = self._client_tls if tls is None else client_context(tls)
        link.server_hostname = server_hostname or host
        link.candidates = candidates
        link.several_addresses = len(candidates) > 1
        self._try_next_address(link, "")
        return link

    def add_door(self, claim: Claim, listener: TransportListener) -> None:
        """Hand the accepted connections that ``claim`` takes to ``listener``.

        Another adapter sharing this TCP port (the WebSocket one) calls it.
        The first bytes of each connection are offered to each door's
        ``claim`` in turn; a connection no door takes is this transport's.
        """
        self._admission.doors.append((claim, listener))

    @property
    def has_reports(self) -> bool:
        """True when failures wait to be reported: a host should poll without waiting."""
        return bool(self._failed)

    def fileno(self) -> int | None:
        """The selector's descriptor, readable when a socket has work; None if it has none."""
        fileno = getattr(self._selector, "fileno", None)
        return fileno() if fileno is not None else None

    def poll(self, timeout_ms: int) -> None:
        """Write what is queued, wait up to ``timeout_ms``, then read and report.

        What the receivers send while it reads is written by the next
        :meth:`flush` (the host's, at the end of its ``update()``) or ``poll()``.
        """
        self.flush()
        wait = 0.0 if self._failed else timeout_ms / 1000
        for key, mask in self._selector.select(wait):
            link = key.data
            if link is None:
                self._accept_all()
                continue
            if link.state is LinkState.TLS:
                self._admission.continue_tls(link)
                continue
            if mask & _WRITE:
                self._on_writable(link)
            if mask & _READ and link.state is not LinkState.CLOSED:
                self._on_readable(link)
        if self.closing:
            self._expire()
        if self._admission.pending:
            self._admission.expire()
        self._report_failures()
        # What handlers sent meanwhile leaves with the host's flush at the end
        # of update(), together with what its updaters send: one write each.

    def flush(self) -> None:
        """Write every queued byte the kernel will take without blocking."""
        if not self.dirty:  # the usual case between sends: no new set, no loop
            return
        dirty, self.dirty = self.dirty, set()
        for link in dirty:
            if not link.writing:  # else the selector says when the kernel takes more
                self.write(link)

    def close(self, code: int, linger_ms: int) -> None:
        """Close every connection, letting queued bytes leave for up to ``linger_ms``."""
        for key in list(self._selector.get_map().values()):
            if key.data is not None:
                key.data.close(code)
        # Real time, not the clock: this waits on the kernel, even under a test clock.
        deadline = time.monotonic() + linger_ms / 1000
        while any(link.pending_bytes for link in self.closing) and time.monotonic() < deadline:
            self.poll(5)
        for key in list(self._selector.get_map().values()):
            if key.data is not None:
                self.release(key.data)
        if self._server is not None:
            self._selector.unregister(self._server)
            self._server.close()
        self._selector.close()

    # -- connecting and accepting -----------------------------------------------

    def _try_next_address(self, link: SocketLink, previous_error: str) -> None:
        if not link.candidates:
            self.fail(link, CloseCode.TRANSPORT_ERROR, f"could not connect: {previous_error}")
            return
        family, _, _, _, address = link.candidates.pop(0)
        if link.sock.family != family:
            link.sock.close()
            link.sock = _new_socket(family)
        link.address = address[:2]
        error = link.sock.connect_ex(address)
        if error not in _IN_PROGRESS:
            link.sock.close()
            link.sock = _new_socket(family)
            self._try_next_address(link, _connect_error(link, error))
            return
        self._selector.register(link.sock, _WRITE, link)
        link.writing = True

    def _accept_all(self) -> None:
        assert self._server is not None
        while True:
            try:
                sock, address = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: keep serving
                log.warning("accept failed: %s", exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = SocketLink(self, sock, LinkState.OPEN)
            link.address = address[:2]
            if self._admission.needed:
                self._admission.admit(link)
            else:
                self._selector.register(sock, _READ, link)
                self.listener.link_opened(link)

    def watch(self, link: SocketLink, events: int) -> None:
        """Have the selector watch ``link``'s socket for ``events``, registered or not."""
        if self._selector.get_map().get(link.sock) is None:
            self._selector.register(link.sock, events, link)
        else:
            self._selector.modify(link.sock, events, link)

    def _on_writable(self, link: SocketLink) -> None:
        if link.state is LinkState.CONNECTING:
            error = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self._selector.unregister(link.sock)
            link.writing = False
            if error:
                link.sock.close()
                link.sock = _new_socket(link.sock.family)
                self._try_next_address(link, _connect_error(link, error))
                return
            if link.tls is not None:
                self._admission.start_tls(link)
                return
            link.state = LinkState.OPEN
            self._selector.register(link.sock, _READ, link)
            self.listener.link_connected(link)
        self.write(link)

    # -- reading ---------------------------------------------------------------

    def _on_readable(self, link: SocketLink) -> None:
        # Read into one reused buffer and copy out only what arrived:
        # sock.recv(RECV_SIZE) would allocate RECV_SIZE bytes on every read,
        # which the C library serves with mmap/munmap (several microseconds).
        sock = link.sock
        for _ in range(MAX_READS):
            try:
                size = sock.recv_into(self._buffer)
            except RETRY:
                return
            except OSError as exc:
                self.fail(link, CloseCode.TRANSPORT_ERROR, f"connection error: {exc}")
                return
            if not size:
                self._on_eof(link)
                return
            state = link.state
            if state is LinkState.OPEN:
                link.receiver(self._view[:size].tobytes(), 0)
            elif state is LinkState.SNIFFING:
                self._admission.sniffed(link, self._view[:size].tobytes())
            # else closing: drained until the peer closes too
            if link.state is not LinkState.OPEN or link.paused:
                return
            # A TLS read returns one record (16 KiB at most), less than the
            # buffer, so nothing decrypted is left where no selector sees it.
            if size < RECV_SIZE:
                return

    def _on_eof(self, link: SocketLink) -> None:
        state = link.state
        self.release(link)
        if state is LinkState.OPEN:
            link.listener.link_closed(link, CloseCode.TRANSPORT_ERROR, "connection closed by peer")

    # -- writing ---------------------------------------------------------------

    def backlog(self, link: SocketLink) -> None:
        """Much is queued for ``link``: write now, unless the kernel is known to be full."""
        if not self._over_limit(link) and not link.writing:
            self.write(link)

    def write(self, link: SocketLink) -> None:
        """Write as much of ``link``'s queue as the kernel takes now."""
        if link.latest:
            link.commit_latest()
        out = link.out
        if out and (link.state is _OPEN or link.state not in _NOT_WRITABLE):
            try:
                sent = link.sock.send(out)
            except RETRY:
                sent = 0
            except OSError as exc:
                self.fail(link, CloseCode.TRANSPORT_ERROR, f"connection error: {exc}")
                return
            del out[:sent]  # cheap: a bytearray drops its head by moving its start
            if len(out) > self.max_send_buffer and self._over_limit(link):
                return
        if link.state is _CLOSING and not out and not link.shut:
            link.shut = True
            try:
                link.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self.release(link)
                return
        if bool(out) != link.writing:  # called for every write: skip the call when unchanged
            self._want_write(link, bool(out))

    def _over_limit(self, link: SocketLink) -> bool:
        """Disconnect ``link`` if more than ``max_send_buffer`` bytes wait; say whether it was."""
        if len(link.out) <= self.max_send_buffer:
            return False
        limit = self.max_send_buffer
        self.fail(link, CloseCode.SEND_BUFFER_FULL, f"more than {limit} bytes unsent")
        return True

    def _want_write(self, link: SocketLink, wanted: bool) -> None:
        if wanted != link.writing and link.state is not LinkState.CLOSED:
            link.writing = wanted
            if link.paused:
                self.set_interest(link)
            else:
                self._selector.modify(link.sock, _READ | _WRITE if wanted else _READ, link)

    def set_interest(self, link: SocketLink) -> None:
        """Have the selector watch ``link`` for what it wants now: reading, writing, or neither."""
        if link.state not in (LinkState.OPEN, _CLOSING):
            return
        events = (0 if link.paused else _READ) | (_WRITE if link.writing else 0)
        registered = self._selector.get_map().get(link.sock) is not None
        if not events:
            if registered:
                self._selector.unregister(link.sock)
        elif registered:
            self._selector.modify(link.sock, events, link)
        else:
            self._selector.register(link.sock, events, link)

    # -- ending ----------------------------------------------------------------

    def _expire(self) -> None:
        now = self.clock()
        for link in [link for link in self.closing if link.deadline < now]:
            self.release(link)

    def fail(self, link: SocketLink, code: int, detail: str) -> None:
        """End ``link`` at once; report it at the end of the current poll."""
        reported = link.state not in (LinkState.CLOSING, LinkState.CLOSED)
        self.release(link)
        if reported:
            self._failed.append((link, code, detail))

    def _report_failures(self) -> None:
        if not self._failed:
            return
        failed, self._failed = self._failed, []
        for link, code, detail in failed:
            link.listener.link_closed(link, code, detail)

    def release(self, link: SocketLink) -> None:
        """Close ``link``'s socket now, dropping what waits; nothing is reported."""
        if link.state is LinkState.CLOSED:
            return
        link.state = LinkState.CLOSED
        self.closing.discard(link)
        self.dirty.discard(link)
        self._admission.pending.pop(link)
        link.out = bytearray()
        link.latest = {}
        link.latest_size = 0
        if self._selector.get_map().get(link.sock) is not None:
            self._selector.unregister(link.sock)
        _drain(link.sock)
        link.sock.close()


def _drain(sock: socket.socket) -> None:
    """Read what is left, so that closing sends FIN, not a data-discarding RST."""
    try:
        for _ in range(16):
            if not sock.recv(RECV_SIZE):
                return
    except OSError:
        return


def _new_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect_error(link: SocketLink, error: int) -> str:
    """What a failed connect says; which address, when the name had several."""
    if not link.several_addresses:
        return os.strerror(error)  # the caller's reason names host and port already
    return f"{link.address[0]}:{link.address[1]}: {os.strerror(error)}"
