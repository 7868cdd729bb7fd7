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
from typing import Any

from ._host import AdapterSpec, Host, _accepted
from .connection import Connection, ConnectionState
from .handshake import encode_hello
from .limits import DEFAULT_RECEIVE_BUDGET, ReceiveBudget
from .message import MessageFactory

__all__ = ["Client"]

log = logging.getLogger("pygnetic.client")


class Client(Host):
    """Makes connections to servers.

    Args:
        conn_limit: Most connections this client keeps at once.
        message_factory: Default messages for new connections (default: the
            class's :attr:`message_factory`).
        adapter: Network adapter name or module, or several (``('enet',
            'socket')``), one of which each :meth:`connect` chooses; default:
            the one chosen by :func:`pygnetic.init` (ENet when installed,
            else TCP).
        channels: ENet channels to ask for (TCP accepts any channel).
        timeout: Seconds of silence (or of waiting to be accepted) after which
            a connection is closed with :attr:`CloseCode.TIMEOUT
            <pygnetic.protocol.CloseCode.TIMEOUT>`.
        events: Post pygame events (True) or not (False); None, the default,
            follows ``pygnetic.init(events=True)`` and
            :func:`pygnetic.event.disable`, also when they run later.
        clock: Monotonic time source in seconds (tests drive it).
        receive_budget: What each connection may deliver per :meth:`update`
            (:class:`~pygnetic.limits.ReceiveBudget`; default 1000 messages
            and 1 MiB); the rest waits for the next update. None: no budget.
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
        adapter: AdapterSpec = None,
        channels: int = 8,
        timeout: float = 10.0,
        events: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        receive_budget: ReceiveBudget | None = DEFAULT_RECEIVE_BUDGET,
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
            receive_budget=receive_budget,
        )

    def __repr__(self) -> str:
        return f"<Client {len(self._connections)}/{self.conn_limit} connections>"

    def connect(
        self,
        host: str,
        port: int,
        message_factory: MessageFactory | None = None,
        *,
        channels: int | None = None,
        adapter: str | None = None,
        **options: Any,
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
            channels: ENet channels to ask the server for (default: the
                client's ``channels``); TCP takes any channel and ignores it.
            adapter: Which of the client's adapters to connect with, by name
                (default: the first).
            **options: The adapter's own connect options; one it does not
                take raises ``TypeError``.

        Raises:
            RuntimeError: The client already has ``conn_limit`` connections.
            ValueError: ``adapter`` is not one of the client's.
            TypeError: An option the adapter does not take.
        """
        if self._closed:
            raise RuntimeError("Client is closed")
        live = (ConnectionState.CONNECTING, ConnectionState.OPEN)
        if sum(c.state in live for c in self._connections.values()) >= self.conn_limit:
            raise RuntimeError(
                f"this Client already has {self.conn_limit} connection(s) (its conn_limit)"
            )
        module, transport = self._adapter_named(adapter)
        if channels is not None:
            options["channels"] = channels
        taken = _accepted(transport.connect, options)
        if "channels" not in taken:
            options.pop("channels", None)  # TCP takes any channel: nothing to ask for
        unknown = sorted(set(options) - set(taken))
        if unknown:
            raise TypeError(
                f"the {module.NAME} adapter's connect() takes no option(s) {', '.join(unknown)}"
            )
        factory = message_factory if message_factory is not None else self.message_factory
        factory.set_frozen()
        link = transport.connect(host, port, **options)
        return self._new_connection(link, factory, ConnectionState.CONNECTING)

    def _adapter_named(self, name: str | None) -> tuple[Any, Any]:
        for module, transport in zip(self.adapters, self._transports, strict=True):
            if name in (None, module.NAME):
                return module, transport
        names = ", ".join(module.NAME for module in self.adapters)
        raise ValueError(f"this Client has no {name!r} adapter (it has {names})")

    def link_connected(self, link: Any) -> None:
        """The transport reached the server: say hello; its answer opens the connection."""
        connection = self._connections.get(link)
        if connection is not None:
            connection.start_handshake(encode_hello(connection.message_factory))
