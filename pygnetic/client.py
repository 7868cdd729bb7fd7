"""Client: connect to servers.

::

    client = pygnetic.Client()                       # ENet and TCP, when pyenet is installed
    connection = client.connect('localhost', 10000)  # tries ENet, then TCP
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

from . import _defaults
from ._connecting import FALLBACK_DELAY, Attempt, Plan
from ._host import DEFAULT_LINGER_MS, AdapterSpec, Host, _accepted
from .connection import Connection, ConnectionState
from .handshake import encode_hello
from .limits import DEFAULT_RECEIVE_BUDGET, ReceiveBudget
from .message import MessageFactory
from .protocol import CloseCode, close_code
from .simulate import Conditions

__all__ = ["Client"]

log = logging.getLogger("pygnetic.client")


class Client(Host):
    """Makes connections to servers.

    Args:
        conn_limit: Most connections this client keeps at once.
        message_factory: Default messages for new connections (default: the
            class's :attr:`message_factory`).
        adapter: Network adapter name or module, or several (``('enet',
            'socket')``), which each :meth:`connect` tries in order; default:
            those chosen by :func:`pygnetic.init`, else every one installed
            (ENet, then TCP).
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
        fallback_delay: Seconds a connect waits for one adapter to reach the
            server before it tries the next one as well (default 0.5); the
            first to reach it carries the connection.
        log_connections: False sends the lines about each connection's life
            (connecting, connected, refused, closed, cannot connect) to DEBUG,
            for a program that reports them itself, as the lobby client does.
        simulate: Simulate a bad network on what this client sends
            (:mod:`pygnetic.simulate`): :class:`~pygnetic.simulate.Conditions`
            or their text, ``'latency=150ms loss=5%'``. None, the default,
            takes the ``PYGNETIC_SIMULATE`` environment variable when it is
            set; False turns the simulator off whatever it says.
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
        fallback_delay: float = FALLBACK_DELAY,
        log_connections: bool = True,
        simulate: Conditions | str | bool | None = None,
        **adapter_options: Any,
    ) -> None:
        if not fallback_delay >= 0:
            raise ValueError(f"fallback_delay must be >= 0 seconds, not {fallback_delay!r}")
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
            simulate=simulate,
            log_connections=log_connections,
        )
        self.fallback_delay = fallback_delay
        #: Links of connects under way, each with its Attempt (several per connect).
        self._attempts: dict[Any, Attempt] = {}
        # What the default adapters lack (ENet without pyenet): connect errors name the fix.
        self._unavailable = _defaults.missing_networks() if adapter is None else {}

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
        cannot be reached, ``on_disconnect`` and ``NET_DISCONNECTED`` say why:
        the reason names each adapter tried and what it said.

        With several adapters (a default client has ENet and TCP), the first
        is tried at once, and each next one after ``fallback_delay`` seconds
        more without an answer, or at once when the one before failed; the
        first to reach the server carries the connection. Each step is
        logged, posted as a ``NET_CONNECTING`` event and told to handlers'
        ``on_connecting``.

        Args:
            host: Server name or address.
            port: Server port.
            message_factory: Messages for this connection (default: the
                client's :attr:`message_factory`).
            channels: ENet channels to ask the server for (default: the
                client's ``channels``); TCP takes any channel and ignores it.
            adapter: Which of the client's adapters to connect with, by name
                (default: each in turn, see above).
            **options: The adapter's own connect options; one it does not
                take raises ``TypeError``.

        Raises:
            RuntimeError: The client already has ``conn_limit`` connections.
            ValueError: ``adapter`` is not one of the client's.
            TypeError: An option no adapter tried takes.
            OSError: No adapter could start connecting (``host`` does not
                resolve, say); the last adapter's error.
        """
        if self._closed:
            raise RuntimeError("Client is closed")
        live = (ConnectionState.CONNECTING, ConnectionState.OPEN)
        if sum(c.state in live for c in self._connections.values()) >= self.conn_limit:
            raise RuntimeError(
                f"this Client already has {self.conn_limit} connection(s) (its conn_limit)"
            )
        plans = self._plans(adapter, channels, options)
        factory = message_factory if message_factory is not None else self.message_factory
        factory.set_frozen()
        now = self._clock()
        attempt = Attempt(
            host,
            port,
            plans,
            deadline=now + self.timeout,
            fallback_delay=self.fallback_delay,
            unavailable=self._unavailable if adapter is None else {},
            log_level=logging.INFO if self._log_connections else logging.DEBUG,
        )
        link = attempt.start_next(now)
        if link is None:
            assert attempt.error is not None
            raise attempt.error
        connection = self._new_connection(link, factory, ConnectionState.CONNECTING)
        attempt.connection = connection
        self._attempts[link] = attempt
        connection.progress("connecting", attempt.label, attempt.status)
        return connection

    def _plans(
        self, adapter: str | None, channels: int | None, options: dict[str, Any]
    ) -> list[Plan]:
        """The transports a connect tries, with the options each takes.

        Raises:
            ValueError: ``adapter`` is not one of the client's.
            TypeError: An option that none of them takes.
        """
        if channels is not None:
            options["channels"] = channels
        plans: list[Plan] = []
        taken: set[str] = set()
        for module, transport in self._adapters_named(adapter):
            accepted = _accepted(transport.connect, options)
            taken.update(accepted)
            plans.append((module, transport, accepted))
        taken.add("channels")  # TCP takes any channel: nothing to ask for
        unknown = sorted(set(options) - taken)
        if unknown:
            names = " or ".join(module.NAME for module, _, _ in plans)
            raise TypeError(
                f"the {names} adapter's connect() takes no option(s) {', '.join(unknown)}"
            )
        return plans

    def _adapters_named(self, name: str | None) -> list[tuple[Any, Any]]:
        pairs = list(zip(self.adapters, self._transports, strict=True))
        if name is None:
            return pairs
        for module, transport in pairs:
            if name == module.NAME:
                return [(module, transport)]
        names = ", ".join(module.NAME for module in self.adapters)
        raise ValueError(f"this Client has no {name!r} adapter (it has {names})")

    def link_connected(self, link: Any) -> None:
        """A transport reached the server: close the others, and say hello over this one."""
        attempt = self._attempts.get(link)
        if attempt is not None:
            self._won(attempt, attempt.connection, link)
        connection = self._connections.get(link)
        if connection is not None:
            connection.start_handshake(encode_hello(connection.message_factory))

    def _won(self, attempt: Attempt, connection: Connection, link: Any) -> None:
        """``link`` reached the server first: the connection goes on over it alone."""
        self._settle(attempt, keep=link)
        if connection.state is not ConnectionState.CONNECTING:  # closed meanwhile
            link.close(CloseCode.NORMAL)
            return
        if link is not connection._link:
            self._connections.pop(connection._link, None)
            connection.switch_link(link)
            self._connections[link] = connection
        label = self._label_of(link)  # progress() makes it the connection's adapter
        status = f"reached {attempt.host}:{attempt.port} over {label}; waiting to be accepted..."
        connection.progress("handshake", label, status)

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """A link ended: a transport that could not reach the server, or the connection."""
        attempt = self._attempts.pop(link, None)
        if attempt is None:
            super().link_closed(link, code, detail)
            return
        module = attempt.links.pop(link)
        connection = attempt.connection
        if connection.state is not ConnectionState.CONNECTING:  # closed meanwhile
            self._settle(attempt, keep=connection._link)
            return
        attempt.failures.append((_defaults.label(module), detail or close_code(code).description))
        started = self._start_next(attempt, self._clock())
        if not started and not attempt.links:
            self._give_up(attempt, close_code(code))

    def _advance_attempts(self, now: float) -> None:
        """Start the next transport of connects that wait too long; end those out of time."""
        for attempt in list(dict.fromkeys(self._attempts.values())):
            connection = attempt.connection
            if connection.state is not ConnectionState.CONNECTING:  # closed meanwhile
                self._settle(attempt, keep=connection._link)
            elif now >= attempt.deadline:
                attempt.no_answer(self.timeout)
                self._settle(attempt, keep=None)
                self._give_up(attempt, CloseCode.TIMEOUT)
            elif attempt.plans and now >= attempt.next_start:
                started = self._start_next(attempt, now, attempt.slow())
                if not started and not attempt.links:
                    self._give_up(attempt, CloseCode.TRANSPORT_ERROR)

    def _start_next(self, attempt: Attempt, now: float, why: str = "") -> bool:
        """Start the attempt's next transport, and say so; False if none could start."""
        link = attempt.start_next(now, why)
        if link is None:
            return False
        self._attempts[link] = attempt
        attempt.connection.progress("connecting", attempt.label, attempt.status)
        return True

    def _settle(self, attempt: Attempt, keep: Any) -> None:
        """The attempt is over: close every link it started but ``keep``."""
        for link in list(attempt.links):
            self._attempts.pop(link, None)
            if link is not keep:
                link.close(CloseCode.NORMAL)
        attempt.links.clear()

    def _give_up(self, attempt: Attempt, code: CloseCode) -> None:
        """No transport reached the server: end the connection, saying what each one said."""
        attempt.connection.connect_failed(code, attempt.reason())

    def close(self, linger_ms: int = DEFAULT_LINGER_MS) -> None:
        """Close every connection, also those still connecting, then the transports.

        Args:
            linger_ms: How long the goodbyes may take to leave, in milliseconds
                (default 500).
        """
        self._attempts.clear()
        super().close(linger_ms)
