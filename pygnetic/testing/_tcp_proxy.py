"""The TCP proxy: bytes delayed and throttled in order, with backpressure on the sender."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
import time
from collections.abc import Callable
from functools import partial

from ..protocol import Delivery
from ..simulate import Conditions, Lane
from ._proxy_core import MAX_HELD_BYTES, READ, WRITE, ProxyBase, log

__all__ = ["STREAM_WINDOW", "TcpProxy"]

#: Bytes of one direction the proxy holds at most (scheduled, or due and not
#: yet taken by the receiver's kernel) before it stops reading the sender:
#: a throttled sender then waits on its own kernel, as it would on a slow
#: link. Like a TCP window, it also caps what ``latency`` lets through:
#: ``STREAM_WINDOW / latency`` bytes a second.
STREAM_WINDOW = 256 * 1024
#: The kernel's buffer for each proxy socket: small, so that what a
#: throttled sender writes waits in its own kernel, not in the proxy's.
SOCKET_BUFFER = 64 * 1024
#: Bytes read from one socket at a time.
RECEIVE_SIZE = 64 * 1024
#: Under a bandwidth cap, bytes are scheduled in chunks of this many
#: seconds' worth, so that they leave smoothly rather than in bursts.
CHUNK_SECONDS = 0.01
#: Reads of one socket, and accepts, in one update at most.
MAX_READS = 16
_RELIABLE = Delivery.RELIABLE
_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY}
# SO_LINGER on, zero seconds: close() sends a reset, not a FIN.
_RESET = struct.pack("ii", 1, 0)


class _Pipe:
    """One direction of a proxied connection."""

    __slots__ = ("eof", "lane", "link", "out", "scheduled", "shut", "source", "target")

    def __init__(self, link: _Link, source: socket.socket, target: socket.socket) -> None:
        self.link = link
        self.source = source
        self.target = target
        self.lane = Lane(stream=True)
        self.scheduled = 0  # bytes in the schedule
        self.out = bytearray()  # due, and not yet taken by the target's kernel
        self.eof = False  # the source shut its side: pass it on once everything left
        self.shut = False  # passed on

    @property
    def waiting(self) -> int:
        """Bytes of this direction held by the proxy."""
        return self.scheduled + len(self.out)


class _Link:
    """A client's connection and the proxy's own to the target."""

    __slots__ = (
        "address",
        "callbacks",
        "client",
        "closed",
        "connecting",
        "down",
        "up",
        "upstream",
    )

    def __init__(
        self,
        client: socket.socket,
        upstream: socket.socket,
        address: tuple[str, int],
        on_socket: Callable[[_Link, bool, int], None],
    ) -> None:
        self.address = address
        self.client = client
        self.upstream = upstream
        self.connecting = True
        self.closed = False
        self.up = _Pipe(self, client, upstream)
        self.down = _Pipe(self, upstream, client)
        # The selector's callbacks, client's first: made once, not per update.
        self.callbacks = (partial(on_socket, self, False), partial(on_socket, self, True))


class TcpProxy(ProxyBase):
    """A TCP proxy that delays and throttles bytes, keeping their order.

    Clients connect to :attr:`address`; each connection gets its own to
    ``target``, and bytes flow both ways after ``latency`` (varied by
    ``jitter``, which keeps the order) and no faster than ``bandwidth``,
    each direction on its own: ``latency=50ms`` adds 100 ms to a round trip.
    Scheduling is :mod:`pygnetic.simulate`'s, for a byte stream.

    TCP loses no byte and reorders none: a loss on the wire becomes a
    retransmission delay the kernel's own timers decide. Simulated ones
    would be made up, so ``loss``, ``duplicate`` and ``reorder`` are
    refused; the UDP proxy or the in-process simulator (which prices a loss
    as a retransmission timeout) serves for those.

    A throttled sender really slows: the proxy stops reading a side while
    256 KiB of it wait (``STREAM_WINDOW``), and the sender's kernel fills.
    One side's end (a FIN) is passed on once what it sent before has gone;
    a reset, or a failed connect to the target, resets the other side too.

    Args:
        target: The server's address.
        conditions: ``latency``, ``jitter`` and ``bandwidth``, as
            :class:`~pygnetic.simulate.Conditions` or text such as
            ``"latency=50ms bandwidth=64KB/s"``.
        listen: Where to listen; port 0 picks a free one (see :attr:`address`).
        clock: Monotonic time in seconds; a :class:`~pygnetic.testing.ManualClock`
            lets a test say when bytes are due.
        max_sessions: Connections served at once; further ones are reset at
            once and counted in :attr:`refused`.
        max_held_bytes: Bytes held in the schedule over all connections, at
            most (16 MiB by default); beyond it the proxy stops reading
            until some are due.

    Raises:
        ValueError: ``conditions`` ask for loss, duplication or reordering
            (also when set later).

    Attributes:
        address: Where clients connect: ``(host, port)``.
    """

    kind = "TCP"

    def __init__(
        self,
        target: tuple[str, int],
        conditions: Conditions | str = Conditions(),  # noqa: B008 - frozen; the docs show it
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        clock: Callable[[], float] = time.monotonic,
        max_sessions: int = 64,
        max_held_bytes: int = MAX_HELD_BYTES,
    ) -> None:
        super().__init__(
            target,
            conditions,
            clock=clock,
            max_sessions=max_sessions,
            max_held_bytes=max_held_bytes,
        )
        self._links: set[_Link] = set()
        self._listen(target, listen, socket.SOCK_STREAM, _prepare_listener)

    @property
    def sessions(self) -> int:
        """Connections being served now."""
        return len(self._links)

    def _check_conditions(self, conditions: Conditions) -> None:
        refused = [
            f"{name}={getattr(conditions, name) * 100:g}%"
            for name in ("loss", "duplicate", "reorder")
            if getattr(conditions, name)
        ]
        if refused:
            raise ValueError(
                f"TcpProxy cannot simulate {', '.join(refused)}: TCP loses, duplicates and "
                "reorders no byte, and its retransmission delays come from the kernel's "
                "timers; give latency, jitter and bandwidth only (UdpProxy takes the rest)"
            )

    # -- accepting ----------------------------------------------------------------

    def _on_listener(self, mask: int) -> None:
        for _ in range(MAX_READS):
            try:
                client, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: keep serving the others
                self._throttle.warning("accept", "%r: accept failed: %s", self, exc)
                return
            if len(self._links) >= self.max_sessions:
                self.refused += 1
                self._throttle.log(
                    logging.WARNING,
                    "sessions",
                    "%r: all %d connections in use; resetting new ones such as %s:%s",
                    self,
                    self.max_sessions,
                    *address[:2],
                    burst=1,
                )
                _reset(client)
                continue
            self._open(client, address)

    def _open(self, client: socket.socket, address: tuple[str, int]) -> None:
        upstream = socket.socket(self._family, socket.SOCK_STREAM)
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        error = upstream.connect_ex(self._target)
        if error not in _IN_PROGRESS:
            log.debug("%r: cannot connect to the target: %s", self, errno.errorcode.get(error))
            upstream.close()
            _reset(client)
            return
        link = _Link(client, upstream, address, self._on_socket)
        self._links.add(link)
        self._refresh(link)

    # -- reading and writing --------------------------------------------------------

    def _on_socket(self, link: _Link, upstream: bool, mask: int) -> None:
        if link.closed:
            return
        reading, writing = (link.down, link.up) if upstream else (link.up, link.down)
        if upstream and link.connecting:
            if not mask & WRITE:
                return
            error = link.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                log.debug("%r: connect to the target failed: %s", self, errno.errorcode.get(error))
                self._reset_link(link)
                return
            link.connecting = False
        if mask & READ:
            self._read(reading)
        if mask & WRITE and not link.closed:
            self._write(writing)

    def _may_read(self, pipe: _Pipe) -> bool:
        return not (
            self._silent
            or pipe.eof
            or pipe.waiting >= STREAM_WINDOW
            or self._held >= self.max_held_bytes
            or (pipe.link.connecting and pipe.source is pipe.link.upstream)
        )

    def _read(self, pipe: _Pipe) -> None:
        now = self.clock()
        bandwidth = self.conditions.bandwidth
        chunk = RECEIVE_SIZE
        if bandwidth is not None:
            chunk = max(512, min(RECEIVE_SIZE, int(bandwidth * CHUNK_SECONDS)))
        for _ in range(MAX_READS):
            if not self._may_read(pipe):
                return
            room = min(RECEIVE_SIZE, STREAM_WINDOW - pipe.waiting)
            try:
                data = pipe.source.recv(room)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # reset by the peer
                self._reset_link(pipe.link)
                return
            if not data:
                pipe.eof = True
                return
            # Not ProxyBase._schedule: a stream may not drop what is over
            # max_held_bytes; reading stops instead (see _may_read).
            schedule = self._simulator.schedule
            for start in range(0, len(data), chunk):
                piece = data[start : start + chunk]
                schedule(pipe.lane, pipe, piece, 0, _RELIABLE, now)
                pipe.scheduled += len(piece)
                self._held += len(piece)

    def _deliver(self, route: _Pipe, data: bytes) -> None:
        pipe = route
        pipe.scheduled -= len(data)
        if pipe.link.closed:
            return
        self.stats.delivered += 1
        pipe.out += data
        self._write(pipe)

    def _write(self, pipe: _Pipe) -> None:
        if not pipe.out or self._silent or pipe.link.connecting:
            return
        try:
            sent = pipe.target.send(pipe.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset, or the receiver has gone
            self._reset_link(pipe.link)
            return
        del pipe.out[:sent]

    # -- ending ---------------------------------------------------------------------

    def _housekeeping(self, now: float) -> None:
        for link in list(self._links):
            for pipe in (link.up, link.down):
                if pipe.eof and not pipe.shut and not pipe.waiting and not link.connecting:
                    pipe.shut = True
                    try:
                        pipe.target.shutdown(socket.SHUT_WR)
                    except OSError:
                        self._reset_link(link)
                        break
            if link.closed:
                continue
            if link.up.shut and link.down.shut:
                self._close_link(link)
            else:
                self._refresh(link)

    def _refresh(self, link: _Link) -> None:
        """Watch each socket for what its pipes can do now."""
        silent = self._silent
        for sock, reading, writing, callback in (
            (link.client, link.up, link.down, link.callbacks[0]),
            (link.upstream, link.down, link.up, link.callbacks[1]),
        ):
            events = READ if self._may_read(reading) else 0
            if sock is link.upstream and link.connecting:
                events = WRITE
            elif writing.out and not silent:
                events |= WRITE
            self._watch(sock, events, callback)

    def _close_link(self, link: _Link) -> None:
        link.closed = True  # what is still scheduled for it is skipped
        self._links.discard(link)
        self._forget(link.client)
        self._forget(link.upstream)

    def _reset_link(self, link: _Link) -> None:
        """End ``link`` with a reset each way: one side's reset is passed on to the other."""
        for sock in (link.client, link.upstream):
            with contextlib.suppress(OSError):  # already reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        self._close_link(link)

    def _close_sockets(self) -> None:
        for link in list(self._links):
            self._close_link(link)
        self._forget(self._listener)


def _prepare_listener(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it, with the window scaling it implies.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    finally:
        sock.close()
