"""The UDP proxy: one session per client address, each datagram scheduled on its own."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..protocol import Delivery
from ..simulate import Conditions, Lane
from ._proxy_core import MAX_HELD_BYTES, READ, ProxyBase, enlarge_buffers, log

__all__ = ["MAX_DATAGRAMS_PER_UPDATE", "SESSION_IDLE_TIMEOUT", "UdpProxy"]

#: Datagrams read from one socket in one update at most, so that a flood
#: cannot hold the proxy in one update; the rest wait in the kernel.
MAX_DATAGRAMS_PER_UPDATE = 1024
#: Seconds without a datagram either way after which a session ends, by default.
SESSION_IDLE_TIMEOUT = 60.0
#: Seconds between two looks for idle sessions.
SWEEP_INTERVAL = 1.0
# The largest UDP payload.
_MAX_DATAGRAM = 65535
_UNRELIABLE = Delivery.UNRELIABLE


class _Session:
    """One client address, and the socket that speaks for it to the target."""

    __slots__ = (
        "address",
        "closed",
        "down",
        "downward",
        "last_active",
        "up",
        "upstream",
        "upward",
    )

    def __init__(self, address: tuple[str, int], upstream: socket.socket, now: float) -> None:
        self.address = address
        self.upstream = upstream
        self.last_active = now
        self.closed = False
        self.up = Lane(stream=False)  # client to target
        self.down = Lane(stream=False)  # target to client
        # The routes scheduled: built once, not per datagram.
        self.upward = (self, True)
        self.downward = (self, False)


class UdpProxy(ProxyBase):
    """A UDP proxy that loses, delays, duplicates and reorders datagrams.

    Clients send to :attr:`address` instead of the server. Each client
    address gets a session with its own socket towards ``target``, so the
    server sees as many peers as there are clients. Every datagram, each
    way, meets ``conditions`` as an ``UNRELIABLE`` packet meets them in
    :mod:`pygnetic.simulate` (the same :class:`~pygnetic.simulate.Simulator`
    decides): lost, duplicated, held back for reordering, delayed by
    ``latency`` and ``jitter`` (jitter keeps the order), and queued behind a
    ``bandwidth`` cap. The conditions apply to each direction of each
    session on its own: ``latency=50ms`` adds 100 ms to a round trip, and a
    cap of 64 KB/s lets 64 KB/s through each way.

    The proxy runs in the caller's thread: call :meth:`update` often (pump
    it beside the hosts) or :meth:`start` its own thread.

    Args:
        target: The server's address.
        conditions: The network to simulate, as :class:`~pygnetic.simulate.Conditions`
            or text such as ``"latency=50ms loss=10%"``; ``seed`` makes the
            choices repeatable.
        listen: Where to listen; port 0 picks a free one (see :attr:`address`).
        clock: Monotonic time in seconds; a :class:`~pygnetic.testing.ManualClock`
            lets a test say when datagrams are due.
        max_sessions: Client addresses served at once; datagrams from further
            new addresses are ignored and counted in :attr:`refused`.
        max_held_bytes: Bytes held in the schedule at most (16 MiB by
            default); a datagram that would hold more is dropped and
            counted in ``stats.overflowed``.
        idle_timeout: Seconds of silence both ways after which a session
            ends (60 by default, by ``clock``); its client gets a new one if
            it speaks again.
        drop: Chosen loss rather than random: called with each datagram
            read and whether it goes up (client to target), it returns True
            to drop it before ``conditions`` apply. A test that loses every
            third state update, say, recognises them here. May be set while
            running.

    Attributes:
        address: Where clients send to: ``(host, port)``.
        silenced: Datagrams dropped because :attr:`silent` was set.
        filtered: Datagrams dropped because ``drop`` said so.
    """

    kind = "UDP"

    def __init__(
        self,
        target: tuple[str, int],
        conditions: Conditions | str = Conditions(),  # noqa: B008 - frozen; the docs show it
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        clock: Callable[[], float] = time.monotonic,
        max_sessions: int = 64,
        max_held_bytes: int = MAX_HELD_BYTES,
        idle_timeout: float = SESSION_IDLE_TIMEOUT,
        drop: Callable[[bytes, bool], bool] | None = None,
    ) -> None:
        super().__init__(
            target,
            conditions,
            clock=clock,
            max_sessions=max_sessions,
            max_held_bytes=max_held_bytes,
        )
        self.idle_timeout = idle_timeout
        self.drop = drop
        self.silenced = 0
        self.filtered = 0
        self._sessions: dict[tuple[str, int], _Session] = {}
        self._buffer = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        self._next_sweep = clock() + SWEEP_INTERVAL
        self._listen(target, listen, socket.SOCK_DGRAM, enlarge_buffers)

    @property
    def sessions(self) -> int:
        """Client addresses being served now."""
        return len(self._sessions)

    # -- reading ------------------------------------------------------------------

    def _on_listener(self, mask: int) -> None:
        now = self.clock()
        receive = self._listener.recvfrom_into
        sessions = self._sessions
        for _ in range(MAX_DATAGRAMS_PER_UPDATE):
            try:
                size, source = receive(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error for an earlier datagram: that one is lost
                return
            if self._silent:
                self.silenced += 1
                continue
            session = sessions.get(source) or self._open_session(source, now)
            if session is not None:
                self._take(session, session.up, session.upward, size, now)

    def _on_upstream(self, session: _Session, mask: int) -> None:
        now = self.clock()
        receive = session.upstream.recv_into
        for _ in range(MAX_DATAGRAMS_PER_UPDATE):
            try:
                size = receive(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP: nobody listens at the target (yet)
                return
            if self._silent:
                self.silenced += 1
                continue
            self._take(session, session.down, session.downward, size, now)

    def _take(self, session: _Session, lane: Lane, route: Any, size: int, now: float) -> None:
        """Schedule the datagram of ``size`` bytes just read into the buffer, one way."""
        session.last_active = now
        data = self._view[:size].tobytes()
        drop = self.drop
        if drop is not None and drop(data, route[1]):
            self.filtered += 1
            return
        self._schedule(lane, route, data, _UNRELIABLE, now)

    def _open_session(self, address: tuple[str, int], now: float) -> _Session | None:
        if len(self._sessions) >= self.max_sessions:
            self.refused += 1
            self._throttle.log(
                logging.WARNING,
                "sessions",
                "%r: all %d sessions in use; ignoring datagrams from new addresses such as %s:%s",
                self,
                self.max_sessions,
                *address[:2],
                burst=1,
            )
            return None
        upstream = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            upstream.setblocking(False)
            enlarge_buffers(upstream)
            # Connected, so that the kernel gives it a port of its own and
            # passes on only what the target sends.
            upstream.connect(self._target)
        except OSError as exc:
            upstream.close()
            self._throttle.warning("upstream", "%r: no socket towards the target: %s", self, exc)
            return None
        session = self._sessions[address] = _Session(address, upstream, now)
        self._selector.register(upstream, READ, partial(self._on_upstream, session))
        log.debug("%r: new session for %s:%s", self, *address[:2])
        return session

    # -- forwarding ---------------------------------------------------------------

    def _deliver(self, route: tuple[_Session, bool], data: bytes) -> None:
        session, upward = route
        if session.closed:
            return
        if self._silent:
            self.silenced += 1
            return
        try:
            if upward:
                session.upstream.send(data)
            else:
                self._listener.sendto(data, session.address)
        except (BlockingIOError, InterruptedError):  # a full kernel buffer drops, as a router
            self.stats.overflowed += 1
            return
        except OSError:  # the target's port is closed, say: the datagram is lost
            return
        self.stats.delivered += 1

    def _housekeeping(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        idle = [s for s in self._sessions.values() if now - s.last_active > self.idle_timeout]
        for session in idle:
            log.debug("%r: session of %s:%s ends, idle", self, *session.address[:2])
            self._end(session)

    def _end(self, session: _Session) -> None:
        session.closed = True  # what is still scheduled for it is skipped
        del self._sessions[session.address]
        self._forget(session.upstream)

    def _close_sockets(self) -> None:
        for session in list(self._sessions.values()):
            self._end(session)
        self._forget(self._listener)
