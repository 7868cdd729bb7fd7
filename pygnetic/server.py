"""Server: accept clients, one handler per connection.

::

    class EchoHandler(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):
            self.connection.net_chat_msg(message.player, message.msg)

    server = pygnetic.Server(port=10000, handler=EchoHandler)
    while True:
        server.update(16)

A client is refused, with a reason it can read, when the server already has
``conn_limit`` connections, or when its message registry (names, fields,
order, serializer, protocol version) differs from the server's.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import event
from ._host import Exclude, Host, excluded
from .connection import ConnectionState
from .handler import Handler
from .message import MessageFactory
from .protocol import CloseCode

__all__ = ["Server"]

log = logging.getLogger("pygnetic.server")


class Server(Host):
    """Listens for clients and keeps a :class:`~pygnetic.connection.Connection` per client.

    Args:
        host: Interface to listen on; ``''`` means all of them.
        port: Port to listen on; 0 picks a free one (see :attr:`address`).
        conn_limit: Most clients at once; more are refused with
            :attr:`CloseCode.SERVER_FULL <pygnetic.protocol.CloseCode.SERVER_FULL>`.
        handler: :class:`~pygnetic.handler.Handler` subclass (or any callable
            returning a handler) instantiated for each accepted connection.
        message_factory: The messages clients must speak (default: the
            class's :attr:`message_factory`).
        adapter: Network adapter name or module; default: the one chosen by
            :func:`pygnetic.init` (ENet when installed, else TCP).
        channels: ENet channels per connection (TCP accepts any channel).
        timeout: Seconds of silence after which a client is dropped.
        events: Post pygame events (True) or not (False); None, the default,
            follows ``pygnetic.init(events=True)`` and
            :func:`pygnetic.event.disable`, also when they run later.
        clock: Monotonic time source in seconds (tests drive it).
        **adapter_options: Passed on to the adapter's ``Transport``.

    Attributes:
        address: ``(host, port)`` the server really listens on.
        handler: The handler class; may also be set as a class attribute of a
            ``Server`` subclass.
        message_factory: The :class:`~pygnetic.message.MessageFactory` in
            use. A ``Server`` subclass may set it as a class attribute, as in
            pygnetic 1.0; the default is the default
            :data:`~pygnetic.message.message_factory`.
    """

    handler: Callable[[], Handler] | None = None

    def __init__(
        self,
        host: str = "",
        port: int = 0,
        conn_limit: int = 4,
        handler: Callable[[], Handler] | None = None,
        message_factory: MessageFactory | None = None,
        *,
        adapter: str | ModuleType | None = None,
        channels: int = 8,
        timeout: float = 10.0,
        events: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        **adapter_options: Any,
    ) -> None:
        super().__init__(
            bind=(host, port),
            conn_limit=conn_limit,
            message_factory=message_factory,
            adapter=adapter,
            channels=channels,
            timeout=timeout,
            events=events,
            clock=clock,
            adapter_options=adapter_options,
        )
        if handler is not None:
            self.handler = handler
        self.address: tuple[str, int] = self._transport.address
        self.message_factory.set_frozen()
        log.info(
            "server listening on %s:%d (%s adapter, %s)",
            *self.address,
            self.adapter.NAME,
            self.message_factory.serializer.name,
        )

    def __repr__(self) -> str:
        host, port = self.address
        return f"<Server {host}:{port} {len(self._connections)}/{self.conn_limit}>"

    def broadcast(
        self,
        message: type[Any] | str | tuple[Any, ...],
        *args: Any,
        exclude: Exclude = None,
        **kwargs: Any,
    ) -> int:
        """Send one message to every open connection, except ``exclude``; pack it once.

        Takes the arguments of :meth:`Connection.send()
        <pygnetic.connection.Connection.send>` (fields, and the send options
        ``channel`` and ``delivery`` or ``flags``); a message field named
        ``exclude`` must be given by position. ``exclude`` takes what
        :meth:`connections` takes: a connection, a handler's
        ``self.connection``, or a list of them. Cheaper than a loop of
        ``net_<name>`` calls, since the message is packed only once::

            server.broadcast(state, tick, positions, delivery='unreliable_sequenced')
            server.broadcast('chat_msg', 'server', 'Tom left', exclude=connection)
            server.broadcast('chat_msg', 'Tom', 'hi', exclude=[self.connection])

        A connection without the message's channel (an ENet client that
        asked for fewer ``channels``) is skipped: it does not get the
        message and is not counted.

        Returns:
            How many connections the message was queued for.

        Raises:
            MessageArgumentsError, PackError, MessageTooLargeError: as ``send``
                does, before anything is sent.
            ValueError: Connections are open but none of them has the
                channel, as ``send`` raises for a channel that does not exist.
        """
        data, (channel, delivery) = self.message_factory.encode(message, args, kwargs)
        connections = self.connections(exclude)
        if channel and connections:  # channel 0 exists everywhere
            reachable = [c for c in connections if channel < c.channels]
            if not reachable:
                raise ValueError(
                    f"channel {channel} does not exist on any connection: they have at most "
                    f"{max(c.channels for c in connections)} channel(s) "
                    "(see the channels argument of Server/Client)"
                )
            connections = reachable
        return sum([each.send_encoded(data, channel, delivery) for each in connections])

    def handlers(self, exclude: Exclude = None) -> list[Handler]:
        """Return the handler the server made for each open connection, except excluded ones.

        Args:
            exclude: A connection or a handler (or a proxy of either), or a
                list, set or other collection of them, as in pygnetic 1.0:
                ``handlers(exclude=[self])`` in a handler leaves it out, and
                so does ``handlers(exclude=[self.connection])``.
        """
        if exclude is None:
            return [c._handlers[0] for c in self.connections() if c._handlers]
        skip = excluded(exclude)
        return [
            c._handlers[0]
            for c in self.connections()
            if c._handlers and c not in skip and c._handlers[0] not in skip
        ]

    def _closing_reason(self) -> tuple[CloseCode, str, str]:
        reason = CloseCode.SERVER_CLOSING.description
        return CloseCode.SERVER_CLOSING, reason, reason

    def link_requested(self, link: Any, connect_data: int) -> None:
        """Accept or refuse a client that completed the transport handshake."""
        code = self._refusal(connect_data)
        if code is not None:
            log.warning("refused %s:%s: %s", *link.address, code.description)
            link.reject(code)
            return
        connection = self._new_connection(link, self.message_factory, ConnectionState.OPEN)
        link.accept()
        if self.handler is not None:
            handler = self.handler()
            handler.server = weakref.proxy(self)
            connection.add_handler(handler)
        log.info("accepted %s:%s", *link.address)
        connection.announce(event.NET_ACCEPTED)

    def _refusal(self, connect_data: int) -> CloseCode | None:
        if self._closed:
            return CloseCode.SERVER_CLOSING
        if len(self._connections) >= self.conn_limit:
            return CloseCode.SERVER_FULL
        if connect_data != self.message_factory.get_hash():
            return CloseCode.REGISTRY_MISMATCH
        return None
