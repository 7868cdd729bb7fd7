"""Connection: one peer, seen from the game.

A :class:`Connection` packs outgoing messages and hands the bytes to its
transport link, and turns incoming bytes into messages that go to its
handlers and, when enabled, to pygame's event queue. It never touches a
socket itself: the link it wraps does (see :mod:`pygnetic.adapters.network`).

Sending::

    connection.net_chat_msg('Tom', 'Test message')
    connection.send(chat_msg, 'Tom', 'Test message')       # the same
    connection.send('chat_msg', player='Tom', msg='Test message')
    connection.net_position(x, y, delivery='unreliable_sequenced', channel=1)

Keyword arguments that are not fields of the message are send options
(``channel``, and ``delivery`` or 1.0's ENet ``flags``) for this call only.
Sends are queued and leave during the next ``update()``; a client may send
before its connection is accepted, and the messages go out once it is.
Sending on a closed connection returns False and does nothing, since a peer
can vanish between two frames.

The connection also keeps itself alive. Over a transport without a
keepalive of its own (TCP) it pings its peer every ``timeout / 4`` seconds
and closes with :attr:`CloseCode.TIMEOUT <pygnetic.protocol.CloseCode.TIMEOUT>`
when, for ``timeout`` seconds, the peer answered no ping and sent no whole
message: bytes that complete nothing do not count, so a peer cannot stay by
trickling a byte a second. Over a transport with a keepalive (ENet) it
closes when the transport heard nothing at all for ``timeout`` seconds.
"""

# One class, one state machine: the send and receive paths read the same
# per-connection state on every message, so they stay together here rather
# than being spread over mixins in several modules.

from __future__ import annotations

import collections
import enum
import functools
import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import event
from ._decoding import remote_text
from ._logthrottle import LogThrottle
from ._sending import add_sender_attribute
from ._session import MAX_REPLAY_BYTES, Session, SessionError, parse_counts
from .errors import MessageError, RemoteMessageTooLargeError
from .handler import Handler, Target, resolve
from .handshake import MAGIC, Answer, FrameReader, HandshakeError, encode_hello, parse_answer
from .limits import RateLimit, RateMeter, Spending
from .message import MessageFactory, Sender, make_sender, on_new_name
from .protocol import (
    ACKED,
    CLOSE,
    MAX_REASON_LENGTH,
    PING,
    PONG,
    CloseCode,
    Delivery,
    close_code,
)

if TYPE_CHECKING:
    from .adapters.network import Link

__all__ = ["Connection", "ConnectionState"]

log = logging.getLogger("pygnetic.connection")


class ConnectionState(enum.Enum):
    """Where a :class:`Connection` is in its life."""

    #: A client waits for the server to accept; sends are queued meanwhile.
    CONNECTING = "connecting"
    #: Messages flow both ways.
    OPEN = "open"
    #: The link was lost and the session may resume (see :mod:`pygnetic.server`'s
    #: ``reconnect_grace``): a server waits for the client, a client reconnects.
    #: Reliable messages sent meanwhile are delivered after the resume; others are dropped.
    RECONNECTING = "reconnecting"
    #: Ended; ``on_disconnect`` and the event come by the end of the next ``update()``.
    CLOSING = "closing"
    #: Ended, and handlers and the event queue have been told.
    CLOSED = "closed"


_OPEN = ConnectionState.OPEN
_CONNECTING = ConnectionState.CONNECTING
_RECONNECTING = ConnectionState.RECONNECTING
_RELIABLE = Delivery.RELIABLE
_SEQUENCED = Delivery.UNRELIABLE_SEQUENCED
#: What a peer reads as ``close_reason`` when we disconnect without a reason.
_BY_PEER = "disconnected by peer"
_tuple_new = tuple.__new__
#: What receiving one message type does: (message class, packed array length,
#: function to call, whether it takes ``channel=``, 1 if counted as a message).
Route = tuple[type[Any], int, Callable[..., None], bool, int]
#: Packets that overtake the server's answer (unreliable ones can) wait, up to this many.
MAX_EARLY_PACKETS = 256
#: Budgets' worth of bytes (and eight times as many budgets' worth of packets) that
#: may wait for a peer that cannot be paused (ENet) before it is closed.
WAITING_BUDGETS = 8
_NEVER = 1 << 62
#: Logs lines a peer causes for connections built without their host's throttle.
_default_throttle = LogThrottle(log)


def _ignore(message: Any) -> None:
    """Route of a message type nobody listens to."""


def _is_stamp(value: Any) -> bool:
    """Whether a ping's ``stamp`` is a number we could have sent (ms, finite, float-sized)."""
    kind = type(value)
    if kind is int:
        return -(2**53) <= value <= 2**53
    return kind is float and math.isfinite(value)


def _discard(data: bytes, channel: int) -> None:
    """Receiver of a finished connection's link: anything late is dropped."""


def _nothing() -> None:
    """What retargeting a finished connection's sends does."""


def _closed_transmit(*args: Any) -> bool:
    """Transmit of a finished connection: nothing is sent."""
    return False


class Connection:
    """A connection to one peer: send messages, receive them in handlers and events.

    Created by :meth:`Client.connect() <pygnetic.client.Client.connect>` and
    by a :class:`~pygnetic.server.Server` for each accepted client; not meant
    to be built by hand.

    Args:
        parent: :func:`Proxy <weakref.proxy>` to the Client or Server.
        conn_obj: The transport's link to the peer.
        message_factory: The messages this connection speaks.

    Attributes:
        parent: Proxy to the :class:`~pygnetic.client.Client` or
            :class:`~pygnetic.server.Server` that owns the connection.
        address: ``(host, port)`` of the peer.
        adapter: What carries the connection: ``'ENet'``, ``'TCP'`` (or
            another adapter's ``LABEL``). A client connecting with several
            adapters names the one it is trying, then the one that won.
        message_factory: The :class:`~pygnetic.message.MessageFactory` in use.
        data_sent: Bytes sent, control messages included.
        data_received: Bytes received, control messages included.
        messages_sent: Messages sent (control messages not counted).
        messages_received: Messages received (control messages not counted).
        close_code: Why the connection ended (:class:`~pygnetic.protocol.CloseCode`),
            None while it lasts.
        close_reason: The same as readable text, possibly from the peer.
        identity: On a server, what its ``authenticate`` returned for this
            client (a player name, an account); None without
            ``authenticate``, and on a client.
    """

    def __init__(
        self,
        parent: Any,
        conn_obj: Link,
        message_factory: MessageFactory,
        *,
        state: ConnectionState = _OPEN,
        timeout: float = 10.0,
        now: float = 0.0,
        on_ended: Callable[[Connection], None] = lambda connection: None,
        on_backlog: Callable[[Connection], None] = lambda connection: None,
        events: bool = False,
        clock: Callable[[], float] = time.monotonic,
        log_throttle: LogThrottle = _default_throttle,
        spending: Spending | None = None,
        rate_limit: RateLimit | None = None,
        log_life: bool = True,
        session: Session | None = None,
        resumable: bool = False,
        on_lost: Callable[[Connection], None] = lambda connection: None,
    ) -> None:
        self.parent = parent
        # Lines about the connection's life (connected, refused, closed):
        # DEBUG for an owner that reports them itself.
        self._info = logging.INFO if log_life else logging.DEBUG
        self._warning = logging.WARNING if log_life else logging.DEBUG
        self.adapter = "?"  # the owner says which transport carries the link
        self.message_factory = message_factory
        self.data_sent = 0
        self.data_received = 0
        self.messages_sent = 0
        self.messages_received = 0
        self.close_code: CloseCode | None = None
        self.close_reason: str | None = None
        self.identity: Any = None
        # A client's first hello is still to be sent, once a transport reaches the server.
        self._hello_due = False
        self._state = state
        self._session = session
        # A client that may resume reads packets with their reliability from the start.
        self._wants_flags = resumable or session is not None
        self._on_lost = on_lost
        #: Why the link was lost, while RECONNECTING.
        self.lost_reason = ""
        self._credentials: Any = None
        self._replay: list[tuple[bytes, int]] = []
        self._handlers: list[Handler] = []
        self._senders: dict[type[Any], Sender] = {}
        self._queued: list[tuple[bytes, int, Delivery, int | None, bool]] = []
        self._timeout = timeout
        self._last_heard = now
        self._last_tick = now
        self._last_ping = float("-inf")  # the first tick after opening pings: RTT early
        self._heard_marker: object = 0
        #: Pings and pongs received: with messages_received, what shows a TCP peer is alive.
        self._control_received = 0
        self._rtt: float | None = None
        self._on_ended = on_ended
        self._on_backlog = on_backlog
        self._backlog: list[Any] = []
        self._backlog_fault: MessageError | None = None
        # The receive budget: delivering stops for this update() once
        # messages_received reaches _messages_end or data_received passes
        # _bytes_end; both move on in the first receive of each update.
        self._spending = spending
        self._budget_update = -1
        # Without a budget, ends never reached (ints: they compare faster than inf).
        self._messages_end = 0 if spending is not None else _NEVER
        self._bytes_end = 0 if spending is not None else _NEVER
        #: Packets or stream bytes that arrived over budget, delivered first next update.
        self._deferred: collections.deque[tuple[bytes, int]] = collections.deque()
        self._deferred_bytes = 0
        self._held = False  # registered for deliver_backlog() in the next update
        if spending is not None:  # what may wait for a link that cannot be paused
            self._waiting_packets = WAITING_BUDGETS * 8 * spending.messages
            self._waiting_bytes = (
                WAITING_BUDGETS * spending.bytes + message_factory.max_message_size
            )
        self._rate = RateMeter(rate_limit, now) if rate_limit is not None else None
        #: (stream rest, early packets) kept when an on_connect handler raised.
        self._after_open: tuple[bytes, list[tuple[bytes, int]]] | None = None
        self._events = events
        self._clock = clock
        self._throttle = log_throttle
        self._pack = message_factory.packer()
        self._decode = message_factory.serializer.unpack
        self._limit = message_factory.max_message_size
        #: The link's send while no session keeps what is sent (see make_sender()).
        self._direct_send: Callable[[bytes, int, Delivery], Any] | None = None
        self._direct_latest: Callable[[bytes, int, int], int] | None = None
        self._transmit = self._make_transmit()
        # What receiving a message calls to post its pygame event, while events are on.
        self._post_target: Target = (event.receipt_poster(self), True)
        self._build_routes()
        if state is _CONNECTING:
            self._early: list[tuple[bytes, int]] = []
            self._early_bytes = 0
        self._bind(conn_obj)

    def _bind(self, link: Link) -> None:
        """Send and receive through ``link`` from now on."""
        self._link = link
        self.address = link.address
        self._link_send = link.send
        # Where the transport queues (TCP), sequenced state can replace a stale copy.
        self._link_send_latest: Callable[[bytes, int, int], int] | None = getattr(
            link, "send_latest", None
        )
        self._retarget()
        # A link that does not say whether it keeps itself alive is pinged, as over TCP.
        self._transport_keepalive = bool(getattr(link, "keepalive", False))
        self._pause = getattr(link, "pause", None)
        if link.stream:
            self._stream = self.message_factory.new_stream()
            self._receiver = self._receive_stream
        elif self._wants_flags and hasattr(link, "send_counted"):
            link.flag_reliable = True  # type: ignore[attr-defined]  # a send_counted link has it
            self._receiver = self._receive_flagged
        else:
            self._receiver = self._receive_packet
        if self._state is _CONNECTING or self._state is _RECONNECTING:  # the answer first
            self._answer = FrameReader(link.stream)
            link.receiver = self._receive_answer
        else:
            link.receiver = self._receiver

    def switch_link(self, link: Link) -> None:
        """Connect through ``link`` instead: another transport reached the server first.

        Only while connecting, before the handshake started: nothing has
        gone over the old link, which the caller closes.
        """
        if self._state is not _CONNECTING and self._state is not _RECONNECTING:
            raise RuntimeError(f"cannot switch the link of a {self._state.value} connection")
        self._link.receiver = _discard
        self._bind(link)

    def __repr__(self) -> str:
        host, port = self.address
        return f"<Connection {host}:{port} {self._state.value}>"

    # -- state ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while messages can be exchanged (accepted and not closed)."""
        return self._state is _OPEN

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._state

    @property
    def round_trip_time(self) -> float | None:
        """Round-trip time to the peer in milliseconds, None until measured.

        ENet measures it continuously; over TCP it comes from keepalive pings.
        """
        measured = self._link.round_trip_time
        return measured if measured is not None else self._rtt

    # -- handlers ------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Attach ``handler``: its ``net_<name>`` methods receive this connection's messages.

        Sets ``handler.connection`` to a proxy of this connection. Warns
        (:class:`~pygnetic.errors.PygneticWarning`) about ``net_`` methods that
        match no registered message, and raises ``TypeError`` for one that
        cannot take a message argument. A handler attached to a connection
        that is already open does not hear ``on_connect``.
        """
        targets = resolve(handler, self.message_factory)
        handler.connection = weakref.proxy(self)
        self._handlers.append(handler)
        for cls, target in targets.items():
            self._targets[cls].append(target)
            self._route(cls)

    def handlers(self) -> list[Handler]:
        """Return the attached handlers, in the order they were added."""
        return list(self._handlers)

    def _build_routes(self) -> None:
        factory: Any = self.message_factory
        self._routes: dict[int, Route] = {}
        for cls, handler in (
            (factory.Ping, self._on_ping),
            (factory.Pong, self._on_pong),
            (factory.Close, self._on_close),
            (factory.Acked, self._on_acked),
        ):
            self._routes[cls._type_id] = (cls, cls._arity, handler, True, 0)
        self._targets: dict[type[Any], list[Target]] = {}
        self._intercepted: dict[type[Any], Callable[[Any], None]] = {}
        for name in factory.names():
            cls = factory.get_by_name(name)
            self._targets[cls] = [self._post_target] if self._events else []
            self._route(cls)

    def intercept(self, message: type[Any], function: Callable[[Any], None]) -> None:
        """Give every ``message`` received from now on to ``function`` alone.

        Not to handlers, not to ``on_receive``, not as a pygame event: for a
        layer built on the core (:mod:`pygnetic.replication` takes its state
        and acknowledgement messages this way), whose messages the game
        should not see. ``function`` takes the message.

        Raises:
            KeyError: ``message`` is not registered in this connection's factory.
        """
        if self.message_factory.get_by_name(message.__name__) is not message:
            raise KeyError(f"{message!r} is not a message of this connection's factory")
        self._intercepted[message] = function
        self._route(message)

    def interceptor(self, message: type[Any]) -> Callable[[Any], None] | None:
        """Return the function :meth:`intercept` gave ``message`` to, or None."""
        return self._intercepted.get(message)

    def _route(self, cls: type[Any]) -> None:
        """Decide what receiving a ``cls`` message calls; runs when handlers change.

        One target is called directly; several go through one function that
        calls each in turn.
        """
        taker = self._intercepted.get(cls)
        if taker is not None:
            self._routes[cls._type_id] = (cls, cls._arity, taker, False, 1)
            return
        targets = tuple(self._targets[cls])
        if len(targets) == 1:
            target, wants_channel = targets[0]
        elif targets:

            def target(message: Any, channel: int = 0) -> None:
                for each, each_wants_channel in targets:
                    if each_wants_channel:
                        each(message, channel=channel)
                    else:
                        each(message)

            wants_channel = True
        else:
            target, wants_channel = _ignore, False
        self._routes[cls._type_id] = (cls, cls._arity, target, wants_channel, 1)

    def set_events(self, on: bool) -> None:
        """Start or stop posting pygame events; the owning Client or Server calls this.

        Rebuilds the receive routes, so a connection that posts no events
        pays nothing for them per message.
        """
        if on == self._events:
            return
        self._events = on
        post = self._post_target
        for cls, targets in self._targets.items():
            if on:
                targets.insert(0, post)
            else:
                targets.remove(post)
            self._route(cls)

    # -- sending -------------------------------------------------------------

    if TYPE_CHECKING:
        # For type checkers only: net_<name> senders are class attributes made
        # at registration (see _NetSender), and a real __getattr__ would slow
        # every attribute access on a connection.
        def __getattr__(self, name: str) -> Sender: ...

    def send(self, message: type[Any] | str | tuple[Any, ...], *args: Any, **kwargs: Any) -> bool:
        """Send a message; return True if it was queued, False if the connection is closed.

        Args:
            message: A message class, its name, or a message instance (then
                give no field arguments).
            *args: Field values, in order.
            **kwargs: Field values by name, and the send options ``channel``
                and ``delivery`` (or, as in pygnetic 1.0, ENet's packet
                ``flags``) for this call.

        Raises:
            MessageArgumentsError: Fields missing, extra or unknown (a ``TypeError``).
            PackError: A field value cannot be serialized.
            MessageTooLargeError: The message packs to more than ``max_message_size``.
        """
        if isinstance(message, tuple):
            args = (*message, *args)
            message = type(message)
        cls = self.message_factory._resolve(message)
        sender = self._senders.get(cls)
        if sender is None:
            sender = self._senders[cls] = self._sender(cls)
        return sender(*args, **kwargs)

    def _sender(self, cls: type[Any]) -> Sender:
        """Build the fast send function for message class ``cls``."""
        self.check_channel(cls._send_options.channel)
        sender = make_sender(
            cls,
            self._pack,
            self._limit,
            self._transmit,
            self.check_channel,
            owner=self,
            open_state=_OPEN,
        )
        sender.__name__ = sender.__qualname__ = f"net_{cls.__name__}"
        sender.__doc__ = f"Send {cls.__name__}({', '.join(cls._fields)})."
        return sender

    @property
    def channels(self) -> int:
        """Number of channels this connection has (``0 .. channels - 1``), agreed with the peer."""
        return self._link.channels

    def check_channel(self, channel: int) -> None:
        """Raise ``ValueError`` unless ``channel`` exists on this connection."""
        if channel >= self._link.channels:
            raise ValueError(
                f"channel {channel} does not exist: this connection has "
                f"{self._link.channels} channel(s) (see the channels argument of Server/Client)"
            )

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting to leave: queued before acceptance, or in the transport's queue.

        Over TCP this is what the peer has not taken yet, so it grows when the
        peer reads too slowly; a game can send less to such a peer, or skip a
        frame's state update. Over ENet it is reliable data sent but not yet
        acknowledged.
        """
        queued = sum(len(item[0]) for item in self._queued)
        return queued + int(getattr(self._link, "pending_bytes", 0))

    def send_encoded(
        self,
        data: bytes,
        channel: int,
        delivery: Delivery,
        key: int | None = None,
        counted: bool = True,
    ) -> bool:
        """Send bytes already packed; True if queued, False if the connection is closed.

        Every send goes through here: ``net_<name>()``, :meth:`send`, and one
        message packed once and sent to many connections with
        :meth:`MessageFactory.encode() <pygnetic.message.MessageFactory.encode>`.
        The channel is not checked here: see :meth:`check_channel`.

        Args:
            data: One packed message.
            channel: The channel to send it on.
            delivery: How to deliver it.
            key: The message's type id. An ``UNRELIABLE_SEQUENCED`` message
                with a key replaces a queued one with the same key that has
                not started to leave, where the transport queues (TCP): a
                slow peer gets the newest state, not a backlog of old ones.
            counted: Whether it counts in :attr:`messages_sent`; pygnetic's
                own control messages do not.
        """
        return self._transmit(data, channel, delivery, key, counted)

    def _make_transmit(self) -> Callable[..., bool]:
        """Build the one function every send goes through (see :meth:`send_encoded`).

        A closure rather than a method: it runs for every message sent, and
        calling it costs a third fewer instructions than a bound method that
        reads the link's ``send`` from the instance. Senders made from it
        (``net_<name>``) live as long as the connection, so a new link or a
        session reaches them through the closure's cells, which
        :meth:`_retarget` rebinds.
        """
        link_send: Callable[..., Any] = _closed_transmit
        send_counted: Callable[..., bool] = _closed_transmit
        send_latest: Callable[[bytes, int, int], int] | None = None
        session: Session | None = None
        stream = False
        queued = self._queued

        def retarget() -> None:
            nonlocal link_send, send_counted, send_latest, session, stream
            link_send, session = self._link_send, self._session
            stream = self._link.stream
            send_counted = getattr(self._link, "send_counted", _closed_transmit)
            # A session keeps what it sent for replay, so nothing may replace it.
            send_latest = self._link_send_latest if session is None else None
            # What a sender may call itself while open (see make_sender()).
            self._direct_send = link_send if session is None else None
            self._direct_latest = send_latest

        self._retarget = retarget

        def transmit(
            data: bytes,
            channel: int,
            delivery: Delivery,
            key: int | None = None,
            counted: bool = True,
        ) -> bool:
            if self._state is _OPEN:
                if session is not None and counted:
                    # What the peer counts: all of a stream, and what a packet link sent reliably.
                    if stream:
                        link_send(data, channel, delivery)
                        session.sent(0, data, channel)
                    elif send_counted(data, channel, delivery):
                        session.sent(channel, data, channel)
                    self.messages_sent += 1
                    self.data_sent += len(data)
                    return True
                if delivery is _SEQUENCED and send_latest is not None and key is not None:
                    replaced = send_latest(data, channel, key)
                    self.messages_sent += counted and not replaced
                    self.data_sent += len(data) - replaced
                    return True
                link_send(data, channel, delivery)
                self.messages_sent += counted
                self.data_sent += len(data)
                return True
            if self._state is _CONNECTING:
                queued.append((data, channel, delivery, key, counted))
                return True
            if self._state is _RECONNECTING and session is not None:
                # Reliable messages wait for the resume; the rest would be stale by then.
                return delivery is _RELIABLE and counted and session.held(data, channel)
            log.debug("not sent on closed connection %r", self)
            return False

        return transmit

    def _send_control(self, fields: tuple[Any, ...]) -> None:
        self._transmit(self._pack(fields), 0, Delivery.RELIABLE, None, False)

    # -- receiving -----------------------------------------------------------

    def _receive_packet(self, data: bytes, channel: int) -> None:
        self.data_received += len(data)
        if (
            self.messages_received >= self._messages_end or self.data_received > self._bytes_end
        ) and self._spent():
            self._defer(data, channel)
            return
        if len(data) > self._limit:
            self._refuse(self._too_large_packet(len(data)))
            return
        try:
            raw = self._decode(data)
        except MessageError as exc:
            self._refuse(exc)
            return
        # find_route()'s check, written out here and in _dispatch_raws(): a
        # call per message received costs more than the rest of the check.
        try:
            cls, arity, target, wants_channel, counted = self._routes[raw[0]]
        except (KeyError, IndexError, TypeError):
            self._refuse(self._invalid(raw))
            return
        if type(raw) is not list or len(raw) != arity or type(raw[0]) is not int:
            self._refuse(self._invalid(raw))
            return
        self.messages_received += counted
        if wants_channel:
            target(_tuple_new(cls, raw[1:]), channel=channel)
        else:
            target(_tuple_new(cls, raw[1:]))

    def _receive_flagged(self, data: bytes, channel: int) -> None:
        """Receive a packet whose channel carries bit 8 when it came reliably.

        A resumable session counts the reliable messages it delivered per
        channel (see :mod:`pygnetic._session`); a link asked to
        (``flag_reliable``) says which packets came reliably this way. A
        packet kept for later keeps its flag, so it is counted when delivered.
        """
        before = self.messages_received
        waiting = len(self._deferred)
        try:
            self._receive_packet(data, channel & 0xFF)
        finally:  # a raising handler had its message delivered all the same
            if len(self._deferred) > waiting:
                self._deferred[-1] = (data, channel)  # kept for later: with its flag
            elif channel > 0xFF and self.messages_received != before:
                session = self._session
                if session is not None:
                    session.received[channel & 0xFF] += 1

    def _invalid(self, raw: Any) -> MessageError:
        return MessageError(self.message_factory.describe_invalid(raw))

    def _too_large_packet(self, size: int) -> RemoteMessageTooLargeError:
        return RemoteMessageTooLargeError(
            f"message of {size} bytes exceeds the {self._limit} byte limit (max_message_size)"
        )

    def _receive_stream(self, data: bytes, channel: int) -> None:
        self.data_received += len(data)
        if self.data_received > self._bytes_end and self._spent():
            self._defer(data, channel)
            return
        raws, self._backlog = self._backlog, []
        fault = self._backlog_fault
        try:
            self._stream.feed(data, raws)
        except MessageError as exc:
            # A copy without traceback or cause: their frames hold this one,
            # so this connection, and the kept fault would make it a cycle.
            fault = type(exc)(*exc.args)
        self._dispatch_raws(raws, fault)

    def _dispatch_raws(self, raws: list[Any], fault: MessageError | None) -> None:
        routes = self._routes  # a handler may change an entry, never the dict itself
        done = 0
        # Whether the receive budget may run out within these: only then is it
        # checked per message (the budget moves on only when spent: _spent()).
        budgeted = len(raws) > self._messages_end - self.messages_received
        try:
            for raw in raws:
                if self._state is not _OPEN:
                    return
                if budgeted and self.messages_received >= self._messages_end and self._spent():
                    self._backlog, self._backlog_fault = raws[done:], fault
                    self._hold()
                    self._check_waiting()
                    return
                done += 1
                # As in _receive_packet(), on channel 0: a stream has one.
                try:
                    cls, arity, target, wants_channel, counted = routes[raw[0]]
                except (KeyError, IndexError, TypeError):
                    fault = self._invalid(raw)
                    break
                if type(raw) is not list or len(raw) != arity or type(raw[0]) is not int:
                    fault = self._invalid(raw)
                    break
                self.messages_received += counted
                if wants_channel:
                    target(_tuple_new(cls, raw[1:]), channel=0)
                else:
                    target(_tuple_new(cls, raw[1:]))
        except BaseException:
            # A handler raised: what this read brought after its message is kept,
            # in order, for the next update() instead of being lost.
            self._backlog, self._backlog_fault = raws[done:], fault
            self._hold()
            raise
        self._backlog_fault = None
        if fault is not None:
            self._refuse(fault)

    def deliver_backlog(self) -> None:
        """Deliver what waits: after a raising handler, or beyond the last update's budget."""
        self._held = False
        if self._state is _OPEN and self._link.receiver is not self._receiver:
            self._link.receiver = self._receiver  # after _defer_more: a new budget
        if self._after_open is not None:
            (rest, early), self._after_open = self._after_open, None
            self._deliver_after_open(rest, early)
            return
        if self._backlog:
            raws, self._backlog = self._backlog, []
            self._dispatch_raws(raws, self._backlog_fault)
        if self._deferred and not self._backlog:
            self._deliver_deferred()
        if self._pause is not None and not (self._backlog or self._deferred):
            self._pause(False)

    # -- the receive budget and the rate limit -------------------------------------

    def _spent(self) -> bool:
        """Whether this update's budget is used up; the first call in an update renews it."""
        spending = self._spending
        if spending is None or spending.update == self._budget_update:
            return spending is not None
        self._budget_update = spending.update
        self._messages_end = self.messages_received + spending.messages
        self._bytes_end = self.data_received + spending.bytes
        return False

    def _hold(self) -> None:
        """Something waits for the next update: be called then, and stop reading meanwhile."""
        if self._held:
            return
        self._held = True
        if self._pause is not None:
            self._pause(True)
        self._on_backlog(self)

    def _defer(self, data: bytes, channel: int) -> None:
        deferred = self._deferred
        if not deferred and not self._backlog:
            self._hold()
        self.data_received -= len(data)  # counted when it is delivered
        deferred.append((data, channel))
        self._deferred_bytes += len(data)
        self._check_waiting()
        if self._pause is None and self._state is _OPEN:
            # Until the next update, each packet costs one call: a peer over
            # its budget makes the receiver do as little as possible.
            self._link.receiver = self._defer_more

    def _defer_more(self, data: bytes, channel: int) -> None:
        """The link's receiver while over budget and not paused: keep the packet for later."""
        self._deferred.append((data, channel))
        self._deferred_bytes += len(data)
        if (
            self._deferred_bytes > self._waiting_bytes
            or len(self._deferred) > self._waiting_packets
        ):
            self._check_waiting()

    def _check_waiting(self) -> None:
        """Close if more waits than memory should hold for a peer that cannot be stopped.

        A TCP peer is stopped (the link is paused); an ENet one is not, and
        one that keeps sending faster than its budget must not fill memory.
        The bound is in bytes (what a packet costs is mostly its bytes) and,
        generously, in packets: a fast but honest sender only waits longer.
        """
        if self._pause is not None:
            return  # paused, a link delivers at most one more read
        waiting = len(self._deferred) + len(self._backlog)
        if waiting > self._waiting_packets or self._deferred_bytes > self._waiting_bytes:
            reason = (
                f"sent more than the receiver takes: {waiting} packets or messages "
                f"({self._deferred_bytes} bytes) waiting (receive_budget)"
            )
            self._throttle.warning(
                "over budget", "closing connection to %s:%s: %s", *self.address, reason
            )
            self.close(CloseCode.RATE_LIMITED, reason)

    def _deliver_deferred(self) -> None:
        # Oldest first, each only while the budget lasts: checked here as
        # the receive path would, so that a packet is never deferred again
        # behind the ones that came after it.
        deferred = self._deferred
        receive = self._receiver
        try:
            while deferred and self._state is _OPEN and not self._backlog:
                data, channel = deferred[0]
                if (
                    self.messages_received >= self._messages_end
                    or self.data_received + len(data) > self._bytes_end
                ) and self._spent():
                    break
                deferred.popleft()
                self._deferred_bytes -= len(data)
                receive(data, channel)
        finally:
            if deferred or self._backlog:
                self._hold()

    def _check_rate(self, now: float) -> None:
        """Close the connection if its peer sends faster than the rate limit, sustained."""
        if self._rate is None or self._state is not _OPEN:
            return
        messages = self.messages_received + len(self._deferred) + len(self._backlog)
        reason = self._rate.over(now, messages, self.data_received + self._deferred_bytes)
        if reason is not None:
            self._throttle.warning(
                "rate limit", "closing connection to %s:%s: %s", *self.address, reason
            )
            self.close(CloseCode.RATE_LIMITED, reason)

    def _refuse(self, fault: MessageError) -> None:
        """Close the connection because the peer sent invalid data."""
        code = (
            CloseCode.MESSAGE_TOO_LARGE
            if isinstance(fault, RemoteMessageTooLargeError)
            else CloseCode.PROTOCOL_ERROR
        )
        reason = str(fault)[:MAX_REASON_LENGTH]
        self._throttle.warning(
            "invalid data", "closing connection to %s:%s: %s", *self.address, reason
        )
        self.close(code, reason)

    # -- control messages ----------------------------------------------------

    def _on_ping(self, message: Any, channel: int) -> None:
        self._control_received += 1
        # The stamp goes back as it came, so only a plain number: anything
        # else might not pack again (a JSON string with a lone surrogate).
        if _is_stamp(message.stamp):
            self._send_control((PONG, message.stamp))

    def _on_pong(self, message: Any, channel: int) -> None:
        self._control_received += 1
        stamp = message.stamp
        if _is_stamp(stamp):
            sample = min(max(0.0, self._clock() * 1000 - stamp), 1e9)
            self._rtt = sample if self._rtt is None else 0.875 * self._rtt + 0.125 * sample

    def _on_acked(self, message: Any, channel: int) -> None:
        self._control_received += 1
        session = self._session
        if session is None:
            self._refuse(MessageError("acknowledgements without a session"))
            return
        try:
            session.acknowledged(parse_counts(message.counts))
        except SessionError as exc:
            # Lying, or counting otherwise than we do: either way no resume
            # could be made whole, so there will be none; the rest goes on.
            if session.resumable:
                log.info("%s:%s: session no longer resumable: %s", *self.address, exc)
                session.give_up(str(exc))

    def _on_close(self, message: Any, channel: int) -> None:
        code = close_code(message.code) if type(message.code) is int else CloseCode.NORMAL
        reason = remote_text(message.reason) or code.description
        self._throttle.log(
            self._info,
            "closed by peer",
            "connection to %s:%s closed by peer: %s",
            *self.address,
            reason,
        )
        self._end(code, reason, close_link=True, tell_peer=False, peer_closed=True)

    # -- the handshake, client side (the server's is in server.py) --------------

    def start_handshake(self) -> None:
        """The transport connected: say hello; the server's answer opens the connection.

        Over a new link of a lost connection, the hello resumes its session.
        """
        if self._state is not _CONNECTING and self._state is not _RECONNECTING:
            return
        hello = self._hello_for(self._link)
        self._credentials = None  # sent: not kept
        if hello is not None:
            self._link_send(hello, 0, Delivery.RELIABLE)  # ahead of what waits in _queued
            self.data_sent += len(hello)

    def _receive_answer(self, data: bytes, channel: int) -> None:
        if not self._answer.stream and not data.startswith(MAGIC):
            self._keep_early(data, channel)  # sent after the answer, came before it
            return
        try:
            payload, rest = self._answer.feed(data)
            self.data_received += len(data) - len(rest)
            if payload is None:
                return
            answer = parse_answer(payload)
        except HandshakeError as exc:
            log.log(self._warning, "closing connection to %s:%s: %s", *self.address, exc.reason)
            self._end(exc.code, exc.reason, close_link=True, tell_peer=False)
            return
        early, self._early = self._early, []
        if self._state is _RECONNECTING:
            self._resume_answered(answer, rest, early)
            return
        if answer.code:
            code = close_code(answer.code)
            reason = answer.reason or code.description
            log.log(self._warning, "refused by %s:%s: %s", *self.address, reason)
            self._end(code, reason, close_link=True, tell_peer=False, peer_closed=True)
            return
        if answer.session is not None and self._wants_flags:
            self._session = Session(answer.session, answer.grace)
            self._session.new_epoch(self.messages_received)
            self._retarget()
        elif self._receiver == self._receive_flagged:
            # No session: packets need no flags, and go the plain (faster) way.
            self._link.flag_reliable = False  # type: ignore[attr-defined]
            self._receiver = self._receive_packet
            early = [(data, channel & 0xFF) for data, channel in early]
        self._link.receiver = self._receiver
        self.opened()
        log.log(self._info, "connected to %s:%s over %s", *self.address, self.adapter)
        self.open_and_deliver(event.NET_CONNECTED, rest, early)

    def _keep_early(self, data: bytes, channel: int) -> None:
        """Hold a packet that overtook the answer, within a count and a byte budget."""
        self._early_bytes += len(data)
        packets, size = MAX_EARLY_PACKETS, self._limit
        if self._state is _RECONNECTING:  # what the server sends again may overtake the answer
            packets, size = 64 * MAX_EARLY_PACKETS, size + MAX_REPLAY_BYTES
        if len(self._early) >= packets or self._early_bytes > size:
            reason = f"more than {packets} packets or {size} bytes before the server's answer"
            log.warning("closing connection to %s:%s: %s", *self.address, reason)
            self._end(CloseCode.PROTOCOL_ERROR, reason, close_link=True, tell_peer=False)
            return
        self._early.append((data, channel))

    def open_and_deliver(
        self,
        net_type: int,
        rest: bytes,
        early: Sequence[tuple[bytes, int]] = (),
    ) -> None:
        """Announce the opened connection, then deliver what came along with the handshake.

        ``rest`` is stream bytes that followed the handshake frame, ``early``
        packets that overtook it. If an ``on_connect`` handler raises, they are
        kept for the next ``update()``, like messages after a raising handler.
        """
        try:
            self.announce(net_type)
        except BaseException:
            if rest or early:
                self._after_open = (rest, list(early))
                self._hold()
            raise
        self._deliver_after_open(rest, early)

    def _deliver_after_open(self, rest: bytes, early: Sequence[tuple[bytes, int]]) -> None:
        receive = self._receiver
        if rest and self._state is _OPEN:
            receive(rest, 0)
        for packet, channel in early:
            if self._state is _OPEN:
                receive(packet, channel)

    # -- life cycle (driven by the owning Client or Server) ----------------------

    def tick(self, now: float) -> None:
        """Ping the peer, and close when it has been silent for ``timeout`` seconds.

        The owner calls this a few times a second from ``update()``. Silent
        means: no answer to a ping, no ping and no whole message. Bytes alone
        do not count, so a peer that trickles the start of a message that never
        ends is closed all the same; so is one whose single message takes
        longer than ``timeout`` to arrive, which only a multi-megabyte message
        over a slow link would. Over a transport with a keepalive of its own
        (ENet) there are no pings: anything the transport heard, its own pings
        included, counts. A client not yet accepted waits ``timeout`` seconds
        from its connect, whatever arrives meanwhile.

        Once open, a long gap between two calls (``update()`` was not called
        while a level loaded, say) counts as at most one ping interval of
        silence: no pings left meanwhile, so none could be answered. Only at
        most: a loop that always runs that slowly still notices a dead peer.
        """
        if self._rate is not None:
            self._check_rate(now)
        gap, interval = now - self._last_tick, self._timeout / 4
        if gap > interval and self._state is _OPEN:
            self._last_heard += gap - interval
        self._last_tick = now
        transport_pings = self._transport_keepalive and self._state is _OPEN
        if transport_pings:
            heard = self._link.last_heard
        else:
            heard = self.messages_received + self._control_received
        if heard != self._heard_marker:
            self._heard_marker = heard
            self._last_heard = now
        elif now - self._last_heard >= self._timeout and self._state in (_OPEN, _CONNECTING):
            if self._state is _CONNECTING:
                reason = f"not accepted within {self._timeout:g} s"
            elif transport_pings:
                reason = f"nothing received for {self._timeout:g} s"
            else:
                reason = f"no answer to pings for {self._timeout:g} s"
            if self._lose_link(reason, close_link=True):
                return
            self._throttle.log(
                self._info, "timeout", "closing connection to %s:%s: %s", *self.address, reason
            )
            self.close(CloseCode.TIMEOUT, reason)
            return
        session = self._session
        if session is not None and self._state is _OPEN:
            if session.unconfirmed is not None and (
                self.messages_received + self._control_received != session.confirm_marker
            ):
                session.unconfirmed = None  # the client heard the answer of its resume
            counts = session.ack_due(self._link.stream, self.messages_received)
            if counts is not None:
                self._send_control((ACKED, counts))
        if (
            self._state is _OPEN
            and not transport_pings
            and now - self._last_ping >= self._timeout / 4
        ):
            self._last_ping = now
            self._send_control((PING, round(self._clock() * 1000, 3)))

    def opened(self) -> None:
        """The server accepted: send what was queued while connecting."""
        self._state = _OPEN
        self._last_heard = self._clock()  # the answer counts as heard: silence starts now
        queued = self._queued[:]
        self._queued.clear()  # the list object stays: the transmit closure holds it
        for data, channel, delivery, key, counted in queued:
            self._transmit(data, channel, delivery, key, counted)

    def disconnect(self, reason: str | int = "") -> None:
        """Close the connection; ``on_disconnect`` and the event follow in ``update()``.

        What was sent before still goes out first.

        Args:
            reason: Text both sides then read as ``close_reason``. Without it
                the peer reads ``'disconnected by peer'`` and this side
                ``'disconnected'``. An int is pygnetic 1.0's ``when`` (ENet's
                disconnect modes) and counts as no reason.
        """
        if isinstance(reason, str) and reason:
            self.close(CloseCode.NORMAL, reason)
        else:
            self.close(CloseCode.NORMAL, _BY_PEER, local_reason=CloseCode.NORMAL.description)

    def expire_session(self) -> None:
        """Close as :attr:`CloseCode.SESSION_EXPIRED`: what was kept to resume is gone."""
        self.close(CloseCode.SESSION_EXPIRED, "the session can no longer resume")

    def close(self, code: CloseCode, reason: str, *, local_reason: str | None = None) -> None:
        """Close with ``code``, telling the peer ``reason`` if it is connected.

        ``reason`` becomes this side's ``close_reason`` too, unless
        ``local_reason`` is given.
        """
        live = self._state in (_OPEN, _CONNECTING, _RECONNECTING)
        self._end(code, reason, close_link=True, tell_peer=True)
        if live and local_reason is not None:
            self.close_reason = local_reason

    def progress(self, stage: str, adapter: str, status: str) -> None:
        """Tell handlers and the event queue how connecting goes (a client's connections).

        Args:
            stage: ``'connecting'`` (an adapter started trying to reach the
                server) or ``'handshake'`` (one reached it; the server's
                answer is awaited).
            adapter: The adapter concerned, as :attr:`adapter` names it.
            status: One line saying so, for the player to read.
        """
        self.adapter = adapter
        for handler in self._handlers:
            handler.on_connecting(stage, adapter, status)
        if self._events:
            event.post(
                event.NET_CONNECTING, connection=self, stage=stage, adapter=adapter, status=status
            )

    def connect_failed(self, code: CloseCode, reason: str) -> None:
        """No transport reached the server: end with ``reason``; the owner closed the links."""
        if self._state is _CONNECTING:
            self._throttle.log(self._warning, "cannot connect", "%s", reason)
        self._end(code, reason, close_link=False, tell_peer=False)

    def transport_closed(self, code: int, detail: str) -> None:
        """The transport ended the link: the peer left or failed, or refused us."""
        known = close_code(code)
        reason = detail or known.description
        if self._state is _RECONNECTING:
            # A client's try at resuming failed, or a server's lost link ended
            # at last: the owner decides what comes next.
            self._on_lost(self)
            return
        # A link the transport closed because the peer broke the protocol (a
        # WebSocket message over max_message_size, a text message) is no loss
        # to resume: resuming would replay the same message, and fail again.
        final = known in (CloseCode.PROTOCOL_ERROR, CloseCode.MESSAGE_TOO_LARGE)
        if not final and self._lose_link(reason, close_link=False):
            return
        if self._state in (_OPEN, _CONNECTING):
            self._throttle.log(
                self._info, "closed", "connection to %s:%s closed: %s", *self.address, reason
            )
        self._end(known, reason, close_link=False, tell_peer=False)

    def _end(
        self,
        code: CloseCode,
        reason: str,
        *,
        close_link: bool,
        tell_peer: bool,
        peer_closed: bool = False,
    ) -> None:
        if self._state not in (_OPEN, _CONNECTING, _RECONNECTING):
            return
        if tell_peer and self._state is _OPEN:
            self._send_control((CLOSE, int(code), reason[:MAX_REASON_LENGTH]))
        self.close_code, self.close_reason = code, reason
        self._state = ConnectionState.CLOSING
        if self._session is not None:
            self._session.give_up("the connection ended")
        if close_link:
            self._link.close(code, peer_closed)
        self._drop_input()
        self._on_ended(self)

    def _drop_input(self) -> None:
        """Forget what arrived and was not delivered, and stop receiving from the link.

        Whatever the peer had sent towards its next message is freed now,
        not when the connection is: a peer's half-sent message can be large.
        """
        self._link.receiver = _discard
        if self._link.stream:
            self._stream = self.message_factory.new_stream()
        self._backlog, self._backlog_fault, self._after_open = [], None, None
        self._deferred, self._deferred_bytes = collections.deque(), 0
        self._early, self._early_bytes = [], 0

    def finish(self) -> None:
        """Tell handlers and the event queue that the connection has ended."""
        self._state = ConnectionState.CLOSED
        # Break the cycles through the link and the send closures, so that a
        # closed connection is freed at once rather than by the cyclic GC.
        self._link.receiver = self._receiver = _discard
        self._transmit = _closed_transmit
        self._direct_send = self._direct_latest = None
        self._post_target = (_ignore, False)
        self._retarget = _nothing
        self._senders.clear()
        self._routes.clear()  # they hold bound methods of this connection
        self._targets.clear()
        for name in [name for name in self.__dict__ if name.startswith("net_")]:
            del self.__dict__[name]
        handlers, self._handlers = self._handlers, []
        try:
            for handler in handlers:
                handler.on_disconnect()
        finally:
            # Nothing here points back at the handlers any more, so they may
            # hold the ended connection itself: close_code and close_reason
            # stay readable for as long as the game keeps a handler.
            for handler in handlers:
                handler.connection = self
        if self._events:
            event.post(
                event.NET_DISCONNECTED,
                connection=self,
                code=self.close_code,
                reason=self.close_reason,
            )

    def announce(self, net_type: int) -> None:
        """Tell handlers and the event queue that the connection is open, or open again."""
        resumed = net_type == event.NET_RECONNECTED
        for handler in self._handlers:
            if resumed:
                handler.on_reconnect()
            else:
                handler.on_connect()
        if self._events:
            event.post(net_type, connection=self)

    # -- sessions: a lost link, and the resume on another one ------------------------

    @property
    def resumable(self) -> bool:
        """Whether a lost link would be replaced: the connection has a session that can resume.

        True once a server with a ``reconnect_grace`` accepted the connection
        (on both sides), for as long as the session can make a resume whole:
        it stops when more than :data:`~pygnetic._session.MAX_REPLAY_BYTES`
        waited for the peer's acknowledgement.
        """
        session = self._session
        return session is not None and session.resumable

    @property
    def session_grace(self) -> float:
        """Seconds the server waits for this connection after losing it; 0 without a session."""
        return self._session.grace if self._session is not None else 0.0

    def _lose_link(self, reason: str, *, close_link: bool) -> bool:
        """The link is gone: wait for another if the session can resume; False if not."""
        session = self._session
        if self._state is not _OPEN or session is None or not session.resumable:
            return False
        session.lost = session.counts(self._link.stream, self.messages_received)
        self._state = _RECONNECTING
        self.lost_reason = reason
        if close_link:
            self._link.close(CloseCode.TIMEOUT)
        self._drop_input()
        self._throttle.log(
            self._info, "lost", "connection to %s:%s lost: %s", *self.address, reason
        )
        self._on_lost(self)
        return True

    def abandon_link(self) -> None:
        """Client side: give up the link of a try at resuming that got no answer."""
        if self._state is _RECONNECTING:
            self._link.close(CloseCode.TIMEOUT)
            self._drop_input()

    def announce_lost(self) -> None:
        """Tell handlers and the event queue that the link was lost and the session waits."""
        for handler in self._handlers:
            handler.on_reconnecting(self.lost_reason)
        if self._events:
            event.post(event.NET_RECONNECTING, connection=self, reason=self.lost_reason)

    def _hello_for(self, link: Link) -> bytes | None:
        """The hello to send over ``link``: a first one, or a resume; None once sent.

        A client that may resume says so only over a link that can count
        what it delivers (see :mod:`pygnetic._session`).
        """
        session = self._session
        if self._state is _RECONNECTING and session is not None:
            return encode_hello(self.message_factory, None, session.token, received=session.lost)
        if not self._hello_due:
            return None
        self._hello_due = False
        countable = self._wants_flags and (link.stream or hasattr(link, "send_counted"))
        return encode_hello(self.message_factory, self._credentials, resume=countable)

    def take_over(
        self,
        link: Link,
        token: bytes,
        peer_has: dict[int, int],
        received: list[list[int]] | None = None,
    ) -> list[list[int]]:
        """Server side: go on over ``link``, the client's new one; return what we received.

        What the client lacks is sent again by :meth:`replay_after_answer`,
        once the caller has sent the answer. If the old link still seemed
        open (the client noticed the loss first), it is closed. ``received``
        overrides what we say we received: a resume done again after its
        answer was lost says what the first one said.

        Raises:
            SessionError: The client's counts cannot be right; nothing changed.
        """
        session = self._session
        assert session is not None
        if received is None:
            if self._state is _OPEN:
                received = session.counts(self._link.stream, self.messages_received)
            else:
                received = session.lost
        self._replay = session.replay(peer_has)
        if self._state is _OPEN:
            self._link.close(CloseCode.NORMAL)
            self._drop_input()
        session.token = token
        session.new_epoch(self.messages_received)
        session.confirm_marker = self.messages_received + self._control_received
        self._state = _OPEN
        self._bind(link)
        self._last_heard = self._clock()
        return received

    def replay_after_answer(self) -> None:
        """Send what the peer lacks, after the answer of a resume went out."""
        replay, self._replay = self._replay, []
        transmit = self._transmit
        for data, channel in replay:
            transmit(data, channel, _RELIABLE)

    def _resume_answered(
        self, answer: Answer, rest: bytes, early: list[tuple[bytes, int]]
    ) -> None:
        """Client side: the server answered a resume."""
        session = self._session
        assert session is not None
        if answer.code:
            code = close_code(answer.code)
            reason = f"could not resume the session: {answer.reason or code.description}"
            log.log(self._warning, "%s:%s: %s", *self.address, reason)
            self._end(code, reason, close_link=True, tell_peer=False, peer_closed=True)
            return
        try:
            if answer.session is None:
                raise SessionError("no new session token")
            self._replay = session.replay(parse_counts(answer.received))
        except SessionError as exc:
            reason = f"could not resume the session: the server's answer is wrong ({exc})"
            log.log(self._warning, "%s:%s: %s", *self.address, reason)
            self._end(CloseCode.PROTOCOL_ERROR, reason, close_link=True, tell_peer=False)
            return
        session.token = answer.session
        session.new_epoch(self.messages_received)
        self._state = _OPEN
        self._link.receiver = self._receiver
        self._last_heard = self._clock()
        self.replay_after_answer()
        self._send_control((ACKED, []))  # tells the server its answer arrived
        log.log(self._info, "resumed connection to %s:%s over %s", *self.address, self.adapter)
        self.open_and_deliver(event.NET_RECONNECTED, rest, early)


on_new_name(functools.partial(add_sender_attribute, Connection))
