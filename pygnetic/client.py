"""Client: connect to servers.

::

    client = pygnetic.Client()
    connection = client.connect('localhost', 10000)
    connection.add_handler(ChatHandler())
    connection.net_chat_msg('Tom', 'Hello')   # leaves once the server accepts
    while connection.state is not ConnectionState.CLOSED:
        client.update(16)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import event
from ._host import Host
from .connection import Connection, ConnectionState
from .message import MessageFactory

__all__ = ["Client"]

log = logging.getLogger("pygnetic.client")


class Client(Host):
    """Makes connections to servers.

    Args:
        conn_limit: Most connections this client keeps at once.
        message_factory: Default messages for new connections (default: the
            class's :attr:`message_factory`).
        adapter: Network adapter name or module; default: the one chosen by
            :func:`pygnetic.init` (ENet when installed, else TCP).
        channels: ENet channels to ask for (TCP accepts any channel).
        timeout: Seconds of silence (or of waiting to be accepted) after which
            a connection is closed with :attr:`CloseCode.TIMEOUT
            <pygnetic.protocol.CloseCode.TIMEOUT>`.
        events: Post pygame events (True) or not (False); None, the default,
            follows ``pygnetic.init(events=True)`` and
            :func:`pygnetic.event.disable`, also when they run later.
        clock: Monotonic time source in seconds (tests drive it).
        **adapter_options: Passed on to the adapter's ``Transport``.

    Attributes:
        message_factory: Default :class:`~pygnetic.message.MessageFactory`
            for new connections. A ``Client`` subclass may set it as a class
            attribute, as in pygnetic 1.0; the default is the default
            :data:`~pygnetic.message.message_factory`.
    """

    def __init__(
        self,
        conn_limit: int = 1,
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
            bind=None,
            conn_limit=conn_limit,
            message_factory=message_factory,
            adapter=adapter,
            channels=channels,
            timeout=timeout,
            events=events,
            clock=clock,
            adapter_options=adapter_options,
        )

    def __repr__(self) -> str:
        return f"<Client {len(self._connections)}/{self.conn_limit} connections>"

    def connect(
        self, host: str, port: int, message_factory: MessageFactory | None = None, **kwargs: Any
    ) -> Connection:
        """Start connecting to ``host:port`` and return the connection at once.

        The connection is in the ``CONNECTING`` state until the server
        accepts it during a later :meth:`update`; then handlers hear
        ``on_connect`` and a ``NET_CONNECTED`` event is posted. Messages sent
        before that wait and go out on acceptance. If the server refuses or
        cannot be reached, ``on_disconnect`` and ``NET_DISCONNECTED`` say why.

        Args:
            host: Server name or address.
            port: Server port.
            message_factory: Messages for this connection (default: the
                client's :attr:`message_factory`).
            **kwargs: Passed on to the adapter's ``connect``.

        Raises:
            RuntimeError: The client already has ``conn_limit`` connections.
        """
        if self._closed:
            raise RuntimeError("Client is closed")
        live = (ConnectionState.CONNECTING, ConnectionState.OPEN)
        if sum(c.state in live for c in self._connections.values()) >= self.conn_limit:
            raise RuntimeError(
                f"this Client already has {self.conn_limit} connection(s) (its conn_limit)"
            )
        factory = message_factory if message_factory is not None else self.message_factory
        factory.set_frozen()
        link = self._transport.connect(host, port, factory.get_hash(), **kwargs)
        return self._new_connection(link, factory, ConnectionState.CONNECTING)

    def link_connected(self, link: Any) -> None:
        """The server accepted a connection: open it and tell its handlers."""
        connection = self._connections.get(link)
        if connection is None:
            return
        connection.opened()
        log.info("connected to %s:%s", *link.address)
        connection.announce(event.NET_CONNECTED)
