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
from ._connecting import FALLBACK_DELAY, Attempt, Plan, Reconnect, retry_delay
from ._host import DEFAULT_LINGER_MS, AdapterSpec, Host, _accepted
from .connection import Connection, ConnectionState
from .handshake import encode_hello
from .limits import DEFAULT_RECEIVE_BUDGET, ReceiveBudget
from .message import MessageFactory
from .protocol import CloseCode, close_code
from .simulate import Conditions

__all__ = ["Client"]

log = logging.getLogger("pygnetic.client")
#: The states in which a connection looks for a transport that reaches the server.
_CONNECTING = (ConnectionState.CONNECTING, ConnectionState.RECONNECTING)


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
        reconnect: When a server with a ``reconnect_grace`` accepted a
            connection and its link is lost (a network change, a short
            outage), reconnect and resume the session: the same connection
            object goes on, ``NET_RECONNECTING`` and ``on_reconnecting()``
            say it was lost, each try is a ``NET_CONNECTING`` event with
            stage ``'reconnecting'``, then ``NET_RECONNECTED`` and
            ``on_reconnect()`` say it resumed, or ``NET_DISCONNECTED`` and
            ``on_disconnect()`` that it gave up. Tries start at once, then
            after about 0.5, 1, 2, 4 and every 5 seconds, until the server's
            grace period has passed. Default True; False ends a connection
            whose link is lost, as in pygnetic 1.0.
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
        reconnect: bool = True,
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
        #: Whether lost connections reconnect (see the constructor).
        self.reconnect = reconnect
        #: Links of connects under way, each with its Attempt (several per connect).
        self._attempts: dict[Any, Attempt] = {}
        #: Where each connection connected to, and how: what a resume tries again.
        self._targets: dict[Connection, tuple[str, int, list[Plan]]] = {}
        #: Lost connections trying to resume.
        self._reconnects: dict[Connection, Reconnect] = {}
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
        credentials: Any = None,
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
            credentials: What the server's ``authenticate`` is given: a
                password, a token, a player name, or a list or dict of such
                values (anything msgpack packs, up to about 8 KB). Sent
                once, in the handshake; never logged, and not kept once sent.
            **options: The adapter's own connect options; one it does not
                take raises ``TypeError``.

        Raises:
            RuntimeError: The client already has ``conn_limit`` connections.
            ValueError: ``adapter`` is not one of the client's.
            TypeError: An option no adapter tried takes.
            ValueError: ``credentials`` cannot be packed, or are too large.
            OSError: No adapter could start connecting (``host`` does not
                resolve, say); the last adapter's error.
        """
        if self._closed:
            raise RuntimeError("Client is closed")
        live = (ConnectionState.CONNECTING, ConnectionState.OPEN, ConnectionState.RECONNECTING)
        if sum(c.state in live for c in self._connections.values()) >= self.conn_limit:
            raise RuntimeError(
                f"this Client already has {self.conn_limit} connection(s) (its conn_limit)"
            )
        plans = self._plans(adapter, channels, options)
        factory = message_factory if message_factory is not None else self.message_factory
        factory.set_frozen()
        encode_hello(factory, credentials)  # a bad credential fails here, not once connected
        now = self._clock()
        attempt = Attempt(
            host,
            port,
            plans,
            deadline=now + self.timeout,
            fallback_delay=self.fallback_delay,
            unavailable=self._unavailable if adapter is None else {},
            log_level=self._log_level,
        )
        link = attempt.start_next(now)
        if link is None:
            assert attempt.error is not None
            raise attempt.error
        connection = self._new_connection(
            link, factory, ConnectionState.CONNECTING, resumable=self.reconnect
        )
        connection._hello_due, connection._credentials = True, credentials
        attempt.connection = connection
        if self.reconnect:
            self._targets[connection] = (host, port, plans)
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
            connection.start_handshake()

    def _won(self, attempt: Attempt, connection: Connection, link: Any) -> None:
        """``link`` reached the server first: the connection goes on over it alone."""
        self._settle(attempt, keep=link)
        if connection.state not in _CONNECTING:  # closed meanwhile
            link.close(CloseCode.NORMAL)
            return
        if connection.state is ConnectionState.RECONNECTING:
            self._reconnects[connection].try_deadline = self._clock() + self.timeout
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
        if connection.state not in _CONNECTING:  # closed meanwhile
            self._settle(attempt, keep=connection._link)
            return
        attempt.failures.append((_defaults.label(module), detail or close_code(code).description))
        started = self._start_next(attempt, self._clock())
        if not started and not attempt.links:
            self._give_up(attempt, close_code(code))

    def _advance_attempts(self, now: float) -> None:
        """Start the next transport of connects that wait too long; end those out of time."""
        if self._reconnects:
            self._advance_reconnects(now)
        for attempt in list(dict.fromkeys(self._attempts.values())):
            connection = attempt.connection
            if connection.state not in _CONNECTING:  # closed meanwhile
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
        """No transport reached the server: end the connection, saying what each one said.

        A lost connection's try at resuming only failed: the next one follows.
        """
        connection = attempt.connection
        if connection.state is ConnectionState.RECONNECTING:
            log.log(self._log_level, "reconnecting: %s", attempt.reason())
            self._link_lost(connection, self._clock())
            return
        connection.connect_failed(code, attempt.reason())

    # -- resuming lost connections -------------------------------------------------

    @property
    def _log_level(self) -> int:
        return logging.INFO if self._log_connections else logging.DEBUG

    def _link_lost(self, connection: Connection, now: float) -> None:
        """A connection's link was lost, or a try at resuming it failed: try (again) later."""
        if connection.state is not ConnectionState.RECONNECTING:
            return
        reconnect = self._reconnects.get(connection)
        if reconnect is None:
            reconnect = Reconnect(now + connection.session_grace)
            self._reconnects[connection] = reconnect
            connection.announce_lost()
        elif reconnect.next_try is None and not self._trying(connection):  # the try failed
            reconnect.next_try = now + retry_delay(reconnect.tries)
            reconnect.try_deadline = float("inf")

    def _trying(self, connection: Connection) -> bool:
        """Whether a try at resuming ``connection`` is still looking for a transport."""
        return any(attempt.connection is connection for attempt in self._attempts.values())

    def _advance_reconnects(self, now: float) -> None:
        for connection, reconnect in list(self._reconnects.items()):
            if connection.state is not ConnectionState.RECONNECTING:  # resumed, or ended
                del self._reconnects[connection]
            elif not connection.resumable:  # what waited for the server was too much
                del self._reconnects[connection]
                self._stop_trying(connection)
                connection.expire_session()
            elif now >= reconnect.give_up_at:
                del self._reconnects[connection]
                self._stop_trying(connection)
                reason = (
                    f"connection lost ({connection.lost_reason}); could not resume it "
                    f"within {connection.session_grace:g} s ({reconnect.tries} tries)"
                )
                log.log(self._log_level, "%s:%s: %s", *connection.address, reason)
                connection.close(CloseCode.TIMEOUT, reason)
            elif reconnect.next_try is None and now >= reconnect.try_deadline:
                connection.abandon_link()  # reached, but no answer in time
                reconnect.next_try = now + retry_delay(reconnect.tries)
            elif reconnect.next_try is not None and now >= reconnect.next_try:
                self._try_resuming(connection, reconnect, now)

    def _try_resuming(self, connection: Connection, reconnect: Reconnect, now: float) -> None:
        reconnect.tries += 1
        reconnect.next_try = None
        host, port, plans = self._targets[connection]
        attempt = Attempt(
            host,
            port,
            list(plans),
            deadline=min(now + self.timeout, reconnect.give_up_at),
            fallback_delay=self.fallback_delay,
            unavailable={},
            log_level=self._log_level,
        )
        attempt.connection = connection
        link = attempt.start_next(now, f"reconnecting (try {reconnect.tries})")
        if link is None:
            reconnect.next_try = now + retry_delay(reconnect.tries)
            return
        self._attempts[link] = attempt
        connection.progress("reconnecting", attempt.label, attempt.status)

    def _stop_trying(self, connection: Connection) -> None:
        """Close the links of a resuming connection's try under way."""
        for attempt in list(dict.fromkeys(self._attempts.values())):
            if attempt.connection is connection:
                self._settle(attempt, keep=None)

    def _forget(self, connection: Connection) -> None:
        self._targets.pop(connection, None)
        self._reconnects.pop(connection, None)

    def close(self, linger_ms: int = DEFAULT_LINGER_MS) -> None:
        """Close every connection, also those still connecting, then the transports.

        Args:
            linger_ms: How long the goodbyes may take to leave, in milliseconds
                (default 500).
        """
        self._attempts.clear()
        self._reconnects.clear()
        super().close(linger_ms)
