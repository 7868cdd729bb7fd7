"""What Client and Server share: transports, their connections, and update()."""

from __future__ import annotations

import inspect
import logging
import selectors
import weakref
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from . import _defaults, event
from .connection import Connection, ConnectionState
from .message import MessageFactory
from .message import message_factory as default_factory
from .protocol import CloseCode

log = logging.getLogger("pygnetic")
_OPEN = ConnectionState.OPEN

#: How long ``close()`` lets connections deliver their goodbyes, in milliseconds.
DEFAULT_LINGER_MS = 500
#: Tries at finding one free port number for every transport of a server on port 0.
BIND_ATTEMPTS = 20

AdapterSpec = str | ModuleType | Sequence[str | ModuleType] | None


class Host:
    """Base of :class:`~pygnetic.client.Client` and :class:`~pygnetic.server.Server`."""

    def __init__(
        self,
        *,
        bind: tuple[str, int] | None,
        conn_limit: int,
        message_factory: MessageFactory | None,
        adapter: AdapterSpec,
        channels: int,
        timeout: float,
        events: bool | None,
        clock: Callable[[], float],
        adapter_options: dict[str, Any],
    ) -> None:
        if type(conn_limit) is not int or conn_limit < 1:
            raise ValueError(f"conn_limit must be an int >= 1, not {conn_limit!r}")
        if not 1 <= channels <= 255:
            raise ValueError(f"channels must be between 1 and 255, not {channels!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
        self.conn_limit = conn_limit
        self.message_factory = message_factory if message_factory is not None else default_factory
        self.timeout = timeout
        self.events = event.enabled() if events is None else events
        self._clock = clock
        self._connections: dict[Any, Connection] = {}
        self._ended: list[Connection] = []
        self._backlogged: list[Connection] = []
        self._next_tick = 0.0
        self._closed = False
        #: Links whose handshake is under way (a Server's), by link.
        self._handshakes: dict[Any, Any] = {}
        self.adapters: tuple[ModuleType, ...] = _defaults.networks(adapter)
        self.adapter = self.adapters[0]
        options = {
            "max_links": conn_limit,
            "channels": channels,
            "max_message_size": self.message_factory.max_message_size,
            "clock": clock,
        }
        self._transports = _open_transports(self, self.adapters, bind, options, adapter_options)
        self._transport = self._transports[0]
        self._several = len(self._transports) > 1
        self._waiter = _waiter(self._transports) if self._several else None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _new_connection(
        self, link: Any, factory: MessageFactory, state: ConnectionState
    ) -> Connection:
        factory.set_frozen()
        connection = Connection(
            weakref.proxy(self),
            link,
            factory,
            state=state,
            timeout=self.timeout,
            now=self._clock(),
            on_ended=self._ended.append,
            on_backlog=self._backlogged.append,
            events=self.events,
            clock=self._clock,
        )
        self._connections[link] = connection
        return connection

    def connections(self, exclude: Connection | None = None) -> list[Connection]:
        """Return the open connections, except ``exclude`` (a connection or its proxy)."""
        if exclude is None:  # the common case, e.g. a broadcast every frame
            return [c for c in self._connections.values() if c._state is _OPEN]
        return [c for c in self._connections.values() if c.connected and c != exclude]

    def update(self, timeout: int = 0) -> None:
        """Do all network work: send, receive, call handlers, post events.

        Call it once per frame of the game loop.

        Args:
            timeout: Milliseconds to wait for network activity when there is
                none yet; 0 returns at once.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        while self._backlogged:
            self._backlogged.pop(0).deliver_backlog()
        if self._several:
            self._poll_all(timeout)
        else:
            self._transport.poll(timeout)
        now = self._clock()
        if now >= self._next_tick:
            self._next_tick = now + min(0.25, self.timeout / 8)
            for connection in list(self._connections.values()):
                connection.tick(now)
            if self._handshakes:
                self._expire_handshakes(now)
        if self._ended:
            self._finish_ended()
        for transport in self._transports:
            transport.flush()

    def _poll_all(self, timeout: int) -> None:
        """Wait on every transport at once, then let each do its work."""
        if timeout and self._waiter is not None:
            self._waiter.select(timeout / 1000)
            timeout = 0
        for transport in self._transports:
            transport.poll(timeout)
            timeout = 0  # without a waiter, only the first transport waits

    def _expire_handshakes(self, now: float) -> None:
        """Close links whose handshake is overdue (a Server has them)."""

    def _finish_ended(self) -> None:
        # The list is drained in place: every connection holds its bound append.
        ended = self._ended
        while ended:
            connection = ended.pop(0)
            self._connections.pop(connection._link, None)
            connection.finish()

    def close(self, linger_ms: int = DEFAULT_LINGER_MS) -> None:
        """Close every connection, then the transport; handlers hear ``on_disconnect``.

        Args:
            linger_ms: How long the goodbyes may take to leave, in milliseconds
                (default 500).
        """
        if self._closed:
            return
        self._closed = True
        code, reason = self._closing_reason()
        for connection in list(self._connections.values()):
            connection.close(code, reason)
        for link in list(self._handshakes):
            link.close(code)
        self._handshakes.clear()
        for transport in self._transports:
            transport.close(code, linger_ms)
        if self._waiter is not None:
            self._waiter.close()
        self._finish_ended()

    def _closing_reason(self) -> tuple[CloseCode, str]:
        return CloseCode.NORMAL, "disconnected by peer"

    # -- TransportListener -----------------------------------------------------

    def link_opened(self, link: Any) -> None:
        """Refuse: only a Server accepts connections."""
        link.close(CloseCode.PROTOCOL_ERROR)

    def link_connected(self, link: Any) -> None:
        """Refuse: only a Client makes connections."""
        link.close(CloseCode.PROTOCOL_ERROR)

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """The transport ended a link; end its connection."""
        connection = self._connections.get(link)
        if connection is not None:
            connection.transport_closed(code, detail)


def _open_transports(
    owner: Any,
    adapters: tuple[ModuleType, ...],
    bind: tuple[str, int] | None,
    options: dict[str, Any],
    adapter_options: dict[str, Any],
) -> list[Any]:
    """Start one transport per adapter; a server's all on one port number.

    With port 0 the first transport picks a free port and the others take the
    same number; when one of them finds it taken, every transport is closed
    and the whole set tries again.
    """
    _check_options(adapters, adapter_options)
    attempts = BIND_ATTEMPTS if bind is not None and bind[1] == 0 and len(adapters) > 1 else 1
    for attempt in range(attempts):
        transports: list[Any] = []
        where = bind
        try:
            for module in adapters:
                own = _accepted(module.Transport, adapter_options)
                transport = module.Transport(owner, bind=where, **options, **own)
                transports.append(transport)
                if where is not None:
                    where = (where[0], transport.address[1])
        except OSError:
            for transport in transports:
                transport.close(CloseCode.NORMAL, 0)
            if attempt == attempts - 1:
                raise
            continue
        return transports
    raise AssertionError("unreachable")  # pragma: no cover


def _accepted(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that ``function`` takes as keyword arguments."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {name: value for name, value in options.items() if name in parameters}


def _check_options(adapters: tuple[ModuleType, ...], options: dict[str, Any]) -> None:
    """Raise ``TypeError`` for an adapter option that no adapter in use takes."""
    taken: set[str] = set()
    for module in adapters:
        taken.update(_accepted(module.Transport, options))
    unknown = sorted(set(options) - taken)
    if unknown:
        names = ", ".join(module.NAME for module in adapters)
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)}: not taken by the {names} adapter(s)"
        )


def _waiter(transports: list[Any]) -> selectors.BaseSelector | None:
    """A selector over every transport's descriptor.

    None when a transport has no descriptor: then only the first transport
    waits in ``update()`` and the others are polled without waiting.
    """
    descriptors: list[int | None] = [getattr(t, "fileno", lambda: None)() for t in transports]
    if None in descriptors:
        return None
    waiter = selectors.DefaultSelector()
    for descriptor in filter(None, descriptors):
        waiter.register(descriptor, selectors.EVENT_READ)
    return waiter
