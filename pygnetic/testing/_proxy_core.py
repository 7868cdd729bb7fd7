"""What the UDP and TCP proxies share: the schedule, the wait, the thread, closing.

The schedule is :class:`pygnetic.simulate.Simulator`'s, the one hosts use
in-process, so a proxy's loss, delays and seed behave exactly as theirs.
Each proxy chooses the route of what it schedules (where a datagram or a
chunk of bytes goes) and is handed it back by :meth:`Simulator.due` when it
is time. Whatever is still scheduled for a session that has ended is
skipped when it comes due, so the simulator needs no way of forgetting it.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .._logthrottle import LogThrottle
from ..protocol import Delivery
from ..simulate import Conditions, Lane, Simulator, Stats

__all__ = ["MAX_HELD_BYTES", "THREAD_WAIT_MS", "ProxyBase"]

#: Bytes a proxy holds in its schedule at most, by default.
MAX_HELD_BYTES = 16 * 1024 * 1024
#: Milliseconds the thread of :meth:`ProxyBase.start` waits in each update: how
#: soon it notices :meth:`ProxyBase.close`, and a change of ``silent``.
THREAD_WAIT_MS = 20
#: Kernel buffer asked for each proxy socket. The system's maximum caps it.
SOCKET_BUFFER = 4 * 1024 * 1024

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

log = logging.getLogger("pygnetic.testing.proxy")

# Spelled so for the docs: typing.Self is Python 3.11.
Self = TypeVar("Self", bound="ProxyBase")
Callback = Callable[[int], None]


class ProxyBase:
    """The part of :class:`UdpProxy` and :class:`TcpProxy` that does not depend on the protocol."""

    #: What logs and errors call the proxy.
    kind = "proxy"

    def __init__(
        self,
        target: tuple[str, int],
        conditions: Conditions | str,
        *,
        clock: Callable[[], float],
        max_sessions: int,
        max_held_bytes: int,
    ) -> None:
        if type(max_sessions) is not int or max_sessions < 1:
            raise ValueError(f"max_sessions must be an int >= 1, not {max_sessions!r}")
        if type(max_held_bytes) is not int or max_held_bytes < 1:
            raise ValueError(f"max_held_bytes must be an int >= 1, not {max_held_bytes!r}")
        #: Where the proxy forwards to, as given.
        self.target = (str(target[0]), int(target[1]))
        self.max_sessions = max_sessions
        self.max_held_bytes = max_held_bytes
        #: New clients turned away because ``max_sessions`` were in use
        #: (UDP counts their datagrams, TCP their connections).
        self.refused = 0
        self.clock = clock
        self._simulator = Simulator(self._accepted(conditions))
        self._held = 0  # bytes in the schedule
        self._silent = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._throttle = LogThrottle(log, clock=clock)
        self._selector = selectors.DefaultSelector()
        self.address: tuple[str, int] = ("", 0)

    def __repr__(self) -> str:
        (host, port), (target, target_port) = self.address, self.target
        name = type(self).__name__
        return f"<{name} {host}:{port} -> {target}:{target_port}: {self.conditions}>"

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- settings -----------------------------------------------------------------

    @property
    def conditions(self) -> Conditions:
        """The network simulated on each direction; may be set while running, also as text.

        A new value applies to what arrives from then on; what is already
        scheduled keeps its time. The random choices go on from where they
        are: only the seed the proxy started with counts.
        """
        return self._simulator.conditions

    @conditions.setter
    def conditions(self, conditions: Conditions | str) -> None:
        self._simulator.conditions = self._accepted(conditions)

    @property
    def silent(self) -> bool:
        """While True nothing is forwarded either way, and no socket is closed for it.

        A test sets it to make the far side of the proxy go silent, as a
        pulled cable does, and back to False to make it speak again.
        """
        return self._silent

    @silent.setter
    def silent(self, silent: bool) -> None:
        self._silent = bool(silent)

    @property
    def stats(self) -> Stats:
        """What the proxy's schedule did so far, counted as :class:`~pygnetic.simulate.Stats`."""
        return self._simulator.stats

    @property
    def held_bytes(self) -> int:
        """Bytes scheduled and not yet due."""
        return self._held

    def _accepted(self, conditions: Conditions | str) -> Conditions:
        if isinstance(conditions, str):
            conditions = Conditions.parse(conditions)
        elif not isinstance(conditions, Conditions):
            raise TypeError(f"conditions must be Conditions or text, not {conditions!r}")
        self._check_conditions(conditions)
        return conditions

    def _check_conditions(self, conditions: Conditions) -> None:
        """Raise ValueError for conditions the protocol cannot meet; every one by default."""

    # -- running ------------------------------------------------------------------

    def update(self, timeout_ms: int = 0) -> None:
        """Read what arrived and forward what is due.

        Waits up to ``timeout_ms`` milliseconds for traffic, but not past
        the time the next scheduled packet is due, so a test can pump the
        proxy beside its hosts: ``pump(server, client, proxy, until=...)``.

        Raises:
            RuntimeError: the proxy is closed, or its :meth:`start` thread runs it.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} runs in its own thread (start())")
        self._update(timeout_ms)

    def start(self: Self) -> Self:
        """Run :meth:`update` in a daemon thread until :meth:`close`; returns the proxy.

        For use beside a real game, whose loop would not pump the proxy::

            with UdpProxy(("127.0.0.1", 5000), "latency=80ms loss=2%").start() as proxy:
                ...  # connect the game to proxy.address
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._thread = threading.Thread(
            target=self._run, name=f"pygnetic {self.kind} proxy {self.address[1]}", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread, if started, and close every socket; scheduled packets are lost."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
        self._close_sockets()
        self._selector.close()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._update(THREAD_WAIT_MS)
        except Exception:  # a thread's exception is lost unless logged
            log.exception("%r stopped", self)

    def _update(self, timeout_ms: int) -> None:
        for key, mask in self._selector.select(self._wait(timeout_ms)):
            key.data(mask)
        now = self.clock()
        for entry in self._simulator.due(now):
            data = entry[3]
            self._held -= len(data)
            self._deliver(entry[2], data)
        self._housekeeping(now)

    def _wait(self, timeout_ms: int) -> float:
        """Seconds to wait in select: up to ``timeout_ms``, not past the next due packet."""
        if timeout_ms <= 0:
            return 0.0
        wait = timeout_ms / 1000
        due = self._simulator.next_due
        if due is not None:
            wait = min(wait, max(0.0, due - self.clock()))
        return wait

    def _schedule(
        self, lane: Lane, route: Any, data: bytes, delivery: Delivery, now: float
    ) -> int:
        """Schedule ``data`` along ``route``; returns the copies that will leave."""
        if self._held + len(data) > self.max_held_bytes:
            self.stats.sent += 1
            self.stats.overflowed += 1
            return 0
        copies = self._simulator.schedule(lane, route, data, 0, delivery, now)
        self._held += copies * len(data)
        return copies

    # -- for the protocols ----------------------------------------------------------

    def _deliver(self, route: Any, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _housekeeping(self, now: float) -> None:
        """What to do once per update, after forwarding."""

    def _close_sockets(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _listen(
        self,
        target: tuple[str, int],
        listen: tuple[str, int],
        kind: int,
        prepare: Callable[[socket.socket], None],
    ) -> None:
        """Resolve ``target``, and listen at ``listen`` for clients of socket type ``kind``.

        ``prepare`` sets the listening socket's options before it binds. On
        an error nothing stays open: the selector is closed and it is raised.
        """
        try:
            self._family, self._target = resolve(target, kind)
            family, bind = resolve(listen, kind)
            self._listener = socket.socket(family, kind)
        except OSError:
            self._selector.close()
            raise
        try:
            prepare(self._listener)
            self._listener.bind(bind)
            if kind == socket.SOCK_STREAM:
                self._listener.listen(128)
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            self._selector.close()
            raise
        self.address = self._listener.getsockname()[:2]
        self._selector.register(self._listener, READ, self._on_listener)

    def _on_listener(self, mask: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _watch(self, sock: socket.socket, events: int, callback: Callback) -> None:
        """Have the selector watch ``sock`` for ``events`` (none: not at all)."""
        key = self._selector.get_map().get(sock)
        if not events:
            if key is not None:
                self._selector.unregister(sock)
        elif key is None:
            self._selector.register(sock, events, callback)
        elif key.events != events:
            self._selector.modify(sock, events, callback)

    def _forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` and close it."""
        if self._selector.get_map().get(sock) is not None:
            self._selector.unregister(sock)
        sock.close()


def resolve(address: tuple[str, int], kind: int) -> tuple[int, tuple[Any, ...]]:
    """The socket family and address to use for ``address``; the first the system names."""
    family, _, _, _, sockaddr = socket.getaddrinfo(address[0], address[1], type=kind)[0]
    return family, sockaddr


def enlarge_buffers(sock: socket.socket, size: int = SOCKET_BUFFER) -> None:
    """Ask the kernel to buffer ``size`` bytes each way for ``sock``, as far as it allows."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):  # a platform that refuses keeps its own size
            sock.setsockopt(socket.SOL_SOCKET, option, size)
