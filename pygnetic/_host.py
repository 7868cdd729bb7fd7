"""What Client and Server share: a transport, its connections, and update()."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Container, Iterable
from types import ModuleType
from typing import Any, TypeAlias

from . import _defaults, event
from .connection import Connection, ConnectionState
from .handler import Handler
from .message import MessageFactory
from .message import message_factory as default_factory
from .protocol import CloseCode

log = logging.getLogger("pygnetic")
_OPEN = ConnectionState.OPEN

#: How long ``close()`` lets connections deliver their goodbyes, in milliseconds.
DEFAULT_LINGER_MS = 500

#: What ``exclude`` arguments take: one connection or handler (or a
#: :func:`weakref.proxy` of one, such as ``Handler.connection``), or, as in
#: pygnetic 1.0, a list, set, tuple or any other collection of them.
Exclude: TypeAlias = Connection | Handler | Iterable[Connection | Handler] | None


def excluded(exclude: Exclude) -> Container[Any]:
    """Return ``exclude`` (not None) as a container to test connections or handlers against.

    ``in`` compares with ``==``, which for a proxy compares its referent, so
    ``connection in excluded(handler.connection)`` holds for the proxy's connection.
    """
    if isinstance(exclude, (Connection, Handler)):  # true for their proxies too
        return (exclude,)
    if isinstance(exclude, Container):
        return exclude
    return list(exclude)  # type: ignore[arg-type]  # an iterator is consumed once


class Host:
    """Base of :class:`~pygnetic.client.Client` and :class:`~pygnetic.server.Server`."""

    # The messages spoken unless the constructor is given others; a subclass
    # may set its own, as pygnetic 1.0 allowed (documented on Server and Client).
    message_factory: MessageFactory = default_factory

    def __init__(
        self,
        *,
        bind: tuple[str, int] | None,
        conn_limit: int,
        message_factory: MessageFactory | None,
        adapter: str | ModuleType | None,
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
        if message_factory is not None:
            self.message_factory = message_factory
        self.timeout = timeout
        self._events_option = events
        self._events_seen = event._changes
        self._clock = clock
        self._connections: dict[Any, Connection] = {}
        self._ended: list[Connection] = []
        self._backlogged: list[Connection] = []
        self._next_tick = 0.0
        self._closed = False
        self.adapter = _defaults.network(adapter)
        self._transport = self.adapter.Transport(
            self,
            bind=bind,
            max_links=conn_limit,
            channels=channels,
            max_message_size=self.message_factory.max_message_size,
            **adapter_options,
        )

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

    @property
    def events(self) -> bool:
        """Whether connections post pygame events.

        The ``events`` argument when it was True or False; when it was None,
        whether events are enabled (``pygnetic.init(events=True)``) now:
        turning them on or off takes effect at the next :meth:`update`.
        Setting it works the same way.
        """
        option = self._events_option
        return event.enabled() if option is None else option

    @events.setter
    def events(self, on: bool | None) -> None:
        self._events_option = on
        self._follow_events()

    def _follow_events(self) -> None:
        """Tell every connection whether to post events; runs when that may have changed."""
        self._events_seen = event._changes
        on = self.events
        for connection in self._connections.values():
            connection.set_events(on)

    def connections(self, exclude: Exclude = None) -> list[Connection]:
        """Return the open connections, except those in ``exclude``.

        Args:
            exclude: A connection (or a proxy of one, such as a handler's
                ``self.connection``), or a list, set or other collection of
                them, as in pygnetic 1.0: ``connections([self.connection])``.
        """
        if exclude is None:  # the common case, e.g. a broadcast every frame
            return [c for c in self._connections.values() if c._state is _OPEN]
        skip = excluded(exclude)
        return [c for c in self._connections.values() if c._state is _OPEN and c not in skip]

    def update(self, timeout: int = 0) -> None:
        """Do all network work: send, receive, call handlers, post events.

        Call it once per frame of the game loop.

        Args:
            timeout: Milliseconds to wait for network activity when there is
                none yet; 0 returns at once.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._events_seen != event._changes:  # init(events=True) or disable() ran
            self._follow_events()
        while self._backlogged:
            self._backlogged.pop(0).deliver_backlog()
        self._transport.poll(timeout)
        now = self._clock()
        if now >= self._next_tick:
            self._next_tick = now + min(0.25, self.timeout / 8)
            for connection in list(self._connections.values()):
                connection.tick(now)
        if self._ended:
            self._finish_ended()
        self._transport.flush()

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
        if self._events_seen != event._changes:
            self._follow_events()
        code, reason, local_reason = self._closing_reason()
        for connection in list(self._connections.values()):
            connection.close(code, reason, local_reason=local_reason)
        self._transport.close(code, linger_ms)
        self._finish_ended()

    def _closing_reason(self) -> tuple[CloseCode, str, str]:
        """Why ``close()`` ends the connections: code, the peers' reason, ours."""
        return CloseCode.NORMAL, "disconnected by peer", CloseCode.NORMAL.description

    # -- TransportListener -----------------------------------------------------

    def link_requested(self, link: Any, connect_data: int) -> None:
        """Refuse: only a Server accepts connections."""
        link.reject(CloseCode.PROTOCOL_ERROR)

    def link_connected(self, link: Any) -> None:
        """Refuse: only a Client makes connections."""
        link.close(CloseCode.PROTOCOL_ERROR)

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """The transport ended a link; end its connection."""
        connection = self._connections.get(link)
        if connection is not None:
            connection.transport_closed(code, detail)
