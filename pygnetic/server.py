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
order, serializer, protocol version) differs from the server's. The
handshake (:mod:`pygnetic.handshake`) runs here, the same over every
transport: a transport reports each new link, the client's hello arrives over
it, and the server answers. A link that sends no valid hello within
``handshake_timeout`` seconds is closed.

Links that connect and then say nothing must not lock real players out. At
most ``conn_limit`` + :data:`SPARE_HANDSHAKES` handshakes are under way at
once, and at most ``max_handshakes_per_address`` from one address (its IP,
whatever the port). A new link is never turned away for want of room;
instead one pending handshake gives way to it, the oldest of one address:

- of the newcomer's own address, when that address already holds
  ``max_handshakes_per_address``, or when the table is full and no address
  holds more than it;
- otherwise, with the table full, of the address holding the most (of
  several, the one that has waited longest).

A real client's hello follows its connect within a round trip, so the
handshake that has waited longest is the likeliest to be idle; an address
only ever takes places from addresses holding more than it, and one that
opens links as fast as it can only replaces its own. The dropped link is
closed with :attr:`~pygnetic.protocol.CloseCode.SERVER_FULL`.

One server listens on several transports at once, on one port number: by
default (or with ``adapter=('enet', 'socket')``) it serves ENet clients on UDP
port 10000 and TCP clients on TCP port 10000, and every connection is an
ordinary :class:`~pygnetic.connection.Connection` whatever carries it
(:attr:`~pygnetic.connection.Connection.adapter` says which).
"""

from __future__ import annotations

import logging
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from . import _defaults, event
from ._handshakes import AuthFailures, Handshakes, address_key
from ._host import AdapterSpec, Exclude, Host, check_conn_limit, excluded
from ._session import Session, SessionError, new_token, parse_counts, token_key
from .connection import Connection, ConnectionState
from .errors import Refused
from .handler import Handler
from .handshake import (
    MAX_GRACE,
    FrameReader,
    HandshakeError,
    Hello,
    encode_answer,
    parse_hello,
    types_summary,
)
from .limits import DEFAULT_RATE_LIMIT, DEFAULT_RECEIVE_BUDGET, RateLimit, ReceiveBudget
from .message import MessageFactory
from .protocol import MAX_REASON_LENGTH, CloseCode, Delivery
from .simulate import Conditions

__all__ = ["Server"]

log = logging.getLogger("pygnetic.server")

#: Handshakes under way at once beyond ``conn_limit``; a further new link
#: takes the place of an older one (see the module's docstring).
SPARE_HANDSHAKES = 8
#: "accepted" lines logged per ten seconds before they are only counted.
ACCEPTS_LOGGED = 50
#: States of a connection whose session a client may take over.
_RESUMABLE = (ConnectionState.OPEN, ConnectionState.RECONNECTING)


def _countable(link: Any) -> bool:
    """Whether a session over ``link`` can count what it delivers (:mod:`pygnetic._session`)."""
    return bool(link.stream) or hasattr(link, "send_counted")


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
        adapter: Network adapter name or module, or several of them to listen
            on all at once on the same port number (``('enet', 'socket')``);
            default: those chosen by :func:`pygnetic.init`, else every one
            installed (ENet and TCP).
        channels: ENet channels per connection (TCP accepts any channel).
        timeout: Seconds after which a client that has sent nothing is
            dropped. Over TCP, where the server pings its clients, only
            answers to pings and whole messages count: a client that
            trickles bytes that complete no message is dropped all the same.
        handshake_timeout: Seconds a new link may take to complete the
            handshake before it is closed (default 3). Over ENet it also
            bounds how long a connect that ENet never completes (a forged
            one, say) holds one of the host's peer slots.
        max_handshakes_per_address: Handshakes under way at once from one
            address: an IPv4 address, or an IPv6 /64 network, whatever the
            port. Default: ``conn_limit``, the most one address could ever
            use. A further link from that address takes the place of its
            oldest pending handshake.
        events: Post pygame events (True) or not (False); None, the default,
            follows ``pygnetic.init(events=True)`` and
            :func:`pygnetic.event.disable`, also when they run later.
        clock: Monotonic time source in seconds (tests drive it).
        receive_budget: What each connection may deliver per :meth:`update`
            (:class:`~pygnetic.limits.ReceiveBudget`; default 1000 messages
            and 1 MiB); the rest waits for the next update. None: no budget.
        rate_limit: How fast each client may send, sustained
            (:class:`~pygnetic.limits.RateLimit`; default 5000 messages and
            4 MiB a second, 2 s of it at once); a faster client is closed with
            :attr:`CloseCode.RATE_LIMITED <pygnetic.protocol.CloseCode.RATE_LIMITED>`.
            None: no limit (trusted clients, benchmarks).
        authenticate: Called as ``authenticate(credentials, address)`` for
            each client that passed the registry check, with what the client
            gave ``connect(credentials=...)`` (None if nothing) and its
            ``(host, port)``. It accepts by returning the client's identity,
            any value but None or False, which handlers read as
            ``connection.identity``; it refuses by raising
            :class:`~pygnetic.errors.Refused` with a reason for the client,
            or by returning None or False. It runs inside :meth:`update`, so
            it should answer at once. None, the default: everyone is
            accepted, with identity None.
        max_auth_failures: Refused authentications one address (an IPv4
            address or an IPv6 /64) may have per minute (default 10); beyond
            them its attempts are refused unasked until a minute after the
            oldest. None: no limit.
        reconnect_grace: Seconds a client whose link is lost (a network
            change, a short outage) may take to reconnect and resume its
            session: the same connection and handler objects, the same
            ``connection.identity``, ``on_reconnect()`` in place of
            ``on_disconnect()`` and ``on_connect()``, and every reliable
            message sent by either side delivered once (see
            :doc:`/howto/reconnect`). Meanwhile the connection is
            ``RECONNECTING``: it keeps its place in ``conn_limit`` and in
            :meth:`connections`. 0, the default: a lost link ends the
            connection, as in pygnetic 1.0.
        simulate: Simulate a bad network on what this server sends
            (:mod:`pygnetic.simulate`): :class:`~pygnetic.simulate.Conditions`
            or their text, ``'latency=150ms loss=5%'``. None, the default,
            takes the ``PYGNETIC_SIMULATE`` environment variable when it is
            set; False turns the simulator off whatever it says.
        **adapter_options: Passed on to the adapter's ``Transport``.

    Attributes:
        address: ``(host, port)`` the server really listens on (every
            transport uses this port number).
        adapters: The network adapter modules listened on, the first one
            also as ``adapter``.
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
        adapter: AdapterSpec = None,
        channels: int = 8,
        timeout: float = 10.0,
        handshake_timeout: float = 3.0,
        max_handshakes_per_address: int | None = None,
        events: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        receive_budget: ReceiveBudget | None = DEFAULT_RECEIVE_BUDGET,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        authenticate: Callable[[Any, tuple[str, int]], Any] | None = None,
        max_auth_failures: int | None = 10,
        reconnect_grace: float = 0.0,
        simulate: Conditions | str | bool | None = None,
        **adapter_options: Any,
    ) -> None:
        # Checked before any port is bound.
        if authenticate is not None and not callable(authenticate):
            raise TypeError(f"authenticate must be callable, not {authenticate!r}")
        if not (isinstance(reconnect_grace, (int, float)) and 0 <= reconnect_grace <= MAX_GRACE):
            raise ValueError(
                f"reconnect_grace must be between 0 and {MAX_GRACE:g} seconds, "
                f"not {reconnect_grace!r}"
            )
        if max_auth_failures is not None and (
            type(max_auth_failures) is not int or max_auth_failures < 1
        ):
            raise ValueError(
                f"max_auth_failures must be an int >= 1 or None, not {max_auth_failures!r}"
            )
        if not handshake_timeout > 0:
            raise ValueError(f"handshake_timeout must be > 0 seconds, not {handshake_timeout!r}")
        check_conn_limit(conn_limit)
        per_address = max_handshakes_per_address
        if per_address is None:
            per_address = conn_limit
        if type(per_address) is not int or per_address < 1:
            raise ValueError(
                f"max_handshakes_per_address must be an int >= 1, not {per_address!r}"
            )
        capacity = conn_limit + SPARE_HANDSHAKES
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
            receive_budget=receive_budget,
            simulate=simulate,
            rate_limit=rate_limit,
            offered_options={  # for transports that police half-open connects (ENet)
                "handshake_timeout": handshake_timeout,
                "max_handshakes": capacity,
                "max_handshakes_per_address": per_address,
            },
        )
        self.handshake_timeout = handshake_timeout
        self._handshakes: Handshakes = Handshakes(capacity, per_address)
        #: The ``authenticate`` callable, or None (see the constructor).
        self.authenticate = authenticate
        #: Seconds a lost client may take to resume (see the constructor).
        self.reconnect_grace = float(reconnect_grace)
        self._sessions: dict[bytes, Connection] = {}  # token_key -> its connection
        # token_key of a resume not yet confirmed -> its connection (Session.unconfirmed)
        self._unconfirmed: dict[bytes, Connection] = {}
        self._waiting: dict[Connection, float] = {}  # lost connection -> deadline
        self._auth_failures = (
            AuthFailures(max_auth_failures) if max_auth_failures is not None else None
        )
        if handler is not None:
            self.handler = handler
        self.address: tuple[str, int] = self._transport.address
        self.message_factory.set_frozen()
        log.info(
            "server listening on %s:%d (%s, %s)",
            *self.address,
            _defaults.labels(self.adapters),
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
        kind = type(message) if isinstance(message, tuple) else message
        key = self.message_factory.get_type_id(kind)  # sequenced state replaces a stale copy
        return sum([each._transmit(data, channel, delivery, key) for each in connections])

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

    # -- the handshake -----------------------------------------------------------

    def link_opened(self, link: Any) -> None:
        """A transport has a new peer: wait for its hello, perhaps in an older link's place."""
        if self._closed:
            link.close(CloseCode.SERVER_CLOSING)
            return
        key = address_key(link.address[0])
        victim = self._handshakes.victim(key)
        if victim is not None:
            self._handshakes.pop(victim)
            self._log_throttle.warning(
                "handshake evicted",
                "dropped %s:%s: too many connections in handshake, a newer one takes its place",
                *victim.address,
            )
            victim.close(CloseCode.SERVER_FULL)
        self._handshakes.add(link, key, self._clock() + self.handshake_timeout)
        link.receiver = self._hello_receiver(link)

    def _hello_receiver(self, link: Any) -> Callable[[bytes, int], None]:
        reader = FrameReader(link.stream)

        def receive(data: bytes, channel: int) -> None:
            try:
                payload, rest = reader.feed(data)
                if payload is None:
                    return
                hello = parse_hello(payload)
            except HandshakeError as exc:
                self._refuse(link, exc.code, exc.reason, answer=exc.answer)
                return
            self._admit(link, hello, rest, reader.size)

        return receive

    def _admit(self, link: Any, hello: Hello, rest: bytes, hello_size: int) -> None:
        """Accept or refuse a client that said hello."""
        if hello.session is not None:
            self._resume(link, hello, rest, hello_size)
            return
        refusal = self._refusal(hello)
        if refusal is not None:
            self._refuse(link, *refusal)
            return
        identity = None
        if self.authenticate is not None:
            identity = self._authenticated(link, hello.credentials)
            if identity is None:
                return
        self._handshakes.pop(link)
        session = None
        if self.reconnect_grace and hello.resume and _countable(link):
            session = Session(new_token(), self.reconnect_grace)
        connection = self._new_connection(
            link, self.message_factory, ConnectionState.OPEN, session=session
        )
        connection.identity = identity
        answer = encode_answer(0)
        if session is not None:
            self._sessions[token_key(session.token)] = connection
            answer = encode_answer(0, session=session.token, grace=self.reconnect_grace)
        # Before anything a handler sends; not a message, so not counted as one.
        connection.send_encoded(answer, 0, Delivery.RELIABLE, counted=False)
        connection.data_received += hello_size
        if self.handler is not None:
            handler = self.handler()
            handler.server = weakref.proxy(self)
            connection.add_handler(handler)
        # Players joining are worth a line each; a reconnecting loop is not.
        self._log_throttle.info(
            "accepted",
            "accepted %s:%s over %s",
            *link.address,
            connection.adapter,
            burst=ACCEPTS_LOGGED,
        )
        connection.open_and_deliver(event.NET_ACCEPTED, rest)

    def _authenticated(self, link: Any, credentials: Any) -> Any:
        """Ask ``authenticate`` about a client; its identity, or None once refused.

        The credentials are never logged, nor is anything ``authenticate``
        made of them, apart from the reason it refuses with, which the
        client reads anyway.
        """
        assert self.authenticate is not None
        failures = self._auth_failures
        key = address_key(link.address[0])
        now = self._clock()
        if failures is not None:
            wait = failures.wait(key, now)
            if wait > 0:
                reason = f"too many refused attempts from your address; try again in {wait:.0f} s"
                self._refuse(link, CloseCode.REFUSED, reason)
                return None
        try:
            identity = self.authenticate(credentials, link.address)
            reason = "authentication failed"
        except Refused as exc:
            identity, reason = None, exc.reason[:MAX_REASON_LENGTH] or "authentication failed"
        except Exception as exc:
            # A bug of the server's, not the client's fault: said so on both sides.
            # Its message is not logged: it may quote the credentials.
            log.error(
                "authenticate raised %s; refusing %s:%s\n%s",
                type(exc).__name__,
                *link.address,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            self._refuse(link, CloseCode.REFUSED, "the server could not check the credentials")
            return None
        if identity is None or identity is False:
            if failures is not None:
                failures.failed(key, now)
            self._refuse(link, CloseCode.REFUSED, reason)
            return None
        return identity

    def _refuse(self, link: Any, code: CloseCode, reason: str, *, answer: bool = True) -> None:
        self._handshakes.pop(link)
        # One cause per code: a flood of garbage does not hide a registry mismatch.
        self._log_throttle.warning(
            f"refused: {code.name}", "refused %s:%s: %s", *link.address, reason
        )
        if answer:
            link.send(encode_answer(code, reason), 0, Delivery.RELIABLE)
        link.close(code)

    def _refusal(self, hello: Hello, *, resuming: bool = False) -> tuple[CloseCode, str] | None:
        if self._closed:
            return CloseCode.SERVER_CLOSING, CloseCode.SERVER_CLOSING.description
        if not resuming and len(self._connections) >= self.conn_limit:
            return CloseCode.SERVER_FULL, CloseCode.SERVER_FULL.description
        factory = self.message_factory
        if hello.registry != factory.registry_digest():
            theirs = f"{hello.messages} message(s), {hello.serializer}"
            if hello.types:
                theirs = f"{theirs}, {hello.types}"
            ours = (
                f"{len(factory.names())} message(s), {factory.serializer.name}, "
                f"{types_summary(factory)}"
            )
            return CloseCode.REGISTRY_MISMATCH, (
                f"{CloseCode.REGISTRY_MISMATCH.description}; client: {theirs}, server: {ours}"
            )
        return None

    # -- sessions: waiting for lost clients, and resuming them -----------------------

    def _resume(self, link: Any, hello: Hello, rest: bytes, hello_size: int) -> None:
        """A client resumes its session over ``link``: the connection goes on over it."""
        refusal = self._refusal(hello, resuming=True)
        if refusal is not None:
            self._refuse(link, *refusal)
            return
        assert hello.session is not None
        key = token_key(hello.session)
        connection, again = self._session_to_resume(key)
        if connection is None:
            self._refuse(
                link,
                CloseCode.SESSION_EXPIRED,
                "no such session: it expired or the server restarted; connect again",
            )
            return
        token = new_token()
        old_link = connection._link
        session = connection._session
        assert session is not None
        current_key = token_key(session.token)  # the one a repeated resume replaces
        unnoticed = connection.state is ConnectionState.OPEN  # the client noticed first
        try:
            peer_has = parse_counts(hello.received)
            if again is None:
                received = connection.take_over(link, token, peer_has)
            elif peer_has != again[1]:
                raise SessionError("counts differ from those of the resume it repeats")
            else:  # the client never heard the last answer: nothing since counts
                received = connection.take_over(link, token, {}, again[2])
        except SessionError as exc:
            self._refuse(link, CloseCode.PROTOCOL_ERROR, f"cannot resume: {exc}")
            connection.close(CloseCode.PROTOCOL_ERROR, f"cannot resume: {exc}")
            return
        self._handshakes.pop(link)
        self._waiting.pop(connection, None)
        self._sessions.pop(current_key, None)
        self._sessions[token_key(token)] = connection
        if again is None:  # until the client shows it got the answer, this key still resumes
            if session.filed_key is not None:
                self._unconfirmed.pop(session.filed_key, None)
            session.unconfirmed = (key, peer_has, received)
            session.filed_key = key
            self._unconfirmed[key] = connection
        self._connections.pop(old_link, None)
        self._connections[link] = connection
        connection.adapter = self._label_of(link)
        answer = encode_answer(0, session=token, grace=self.reconnect_grace, received=received)
        connection.send_encoded(answer, 0, Delivery.RELIABLE, counted=False)
        connection.data_received += hello_size
        connection.replay_after_answer()
        if unnoticed:  # handlers hear of the loss all the same, before the resume
            connection.lost_reason = "the client came back on a new link"
            connection.announce_lost()
        self._log_throttle.info(
            "resumed",
            "resumed %s:%s over %s",
            *link.address,
            connection.adapter,
            burst=ACCEPTS_LOGGED,
        )
        connection.open_and_deliver(event.NET_RECONNECTED, rest)

    def _session_to_resume(
        self, key: bytes
    ) -> tuple[Connection | None, tuple[bytes, dict[int, int], list[list[int]]] | None]:
        """The connection whose session the token with ``key`` resumes, if any.

        Also, when the token is the one of a resume whose answer the client
        never got, that resume's :attr:`~pygnetic._session.Session.unconfirmed`.
        A session that can no longer resume whole is ended here.
        """
        connection = self._sessions.get(key)
        again = None
        if connection is None:
            connection = self._unconfirmed.get(key)
            session = connection._session if connection is not None else None
            if session is None or not session.unconfirmed or session.unconfirmed[0] != key:
                return None, None
            again = session.unconfirmed
        assert connection is not None
        if not connection.resumable:
            # What it kept for the client is gone: a resume would have a hole.
            connection.expire_session()
            return None, None
        if connection.state not in _RESUMABLE:
            return None, None
        return connection, again

    def _link_lost(self, connection: Connection, now: float) -> None:
        if connection.state is ConnectionState.RECONNECTING and connection not in self._waiting:
            self._waiting[connection] = now + connection.session_grace
            connection.announce_lost()

    def _expire_sessions(self, now: float) -> None:
        if not self._waiting:
            return
        for connection, deadline in list(self._waiting.items()):
            if connection.state is not ConnectionState.RECONNECTING:
                del self._waiting[connection]
            elif not connection.resumable:  # too much waited for the client: it is gone
                del self._waiting[connection]
                connection.expire_session()
            elif now >= deadline:
                del self._waiting[connection]
                reason = (
                    f"did not come back within {connection.session_grace:g} s "
                    f"(lost: {connection.lost_reason})"
                )
                self._log_throttle.info(
                    "session expired", "gave up on %s:%s: %s", *connection.address, reason
                )
                connection.close(CloseCode.TIMEOUT, reason)

    def _forget(self, connection: Connection) -> None:
        self._waiting.pop(connection, None)
        session = connection._session
        if session is not None:
            self._sessions.pop(token_key(session.token), None)
            if session.filed_key is not None:
                self._unconfirmed.pop(session.filed_key, None)

    def _end_handshakes(self, code: CloseCode, reason: str) -> None:
        for link in list(self._handshakes):  # a client mid-handshake reads why, too
            self._refuse(link, code, reason)

    def _expire_handshakes(self, now: float) -> None:
        if not self._handshakes:
            return
        for link in self._handshakes.expired(now):
            self._handshakes.pop(link)
            self._log_throttle.info(
                "no handshake",
                "dropped %s:%s: no handshake within %g s",
                *link.address,
                self.handshake_timeout,
            )
            link.close(CloseCode.TIMEOUT)

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """The transport ended a link: forget its handshake, or end its connection."""
        if not self._handshakes.pop(link):
            super().link_closed(link, code, detail)
