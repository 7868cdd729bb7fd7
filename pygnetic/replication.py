"""One state that the server owns and every client sees: deltas since what each client has.

The engine under :mod:`pygnetic.gamestate` (PyGaSe's API) and
:mod:`pygnetic.syncobject` (pygnetic 1.0's ``SyncObject``), on the core's
public API, so it works over every network adapter::

    messages = replication.register_messages(factory)   # both sides, before connecting
    # server                                           # client
    replicator = Replicator(messages)                  replica = Replica(messages)
    replicator.add(connection)                         replica.attach(connection)
    replicator.push({'ball': {'x': 3}})                ...  # each update():
    replicator.send()   # once per tick                replica.state == {'ball': {'x': 3}}

How state flows:

- The server's state is a dict of plain data (nested dicts merge key by key).
  Each :meth:`Replicator.push` labels its changes with the next ``time_order``.
- Each client acknowledges the last time order it applied. Every tick
  (:meth:`Replicator.send`) each client that is behind gets **one** message
  with everything that changed since the time order it acknowledged: the whole
  state for a new client or one too far behind (more than ``history`` time
  orders). Clients that acknowledged the same time order get the same bytes,
  packed once, and so do all the clients that need the whole state
  (:attr:`Replicator.packed` counts what a tick packed). A value that did
  not change is never sent.
- The messages go unreliable sequenced on their own channel. A lost one costs
  nothing but a slightly bigger next delta, since the next one starts from
  the same acknowledged time order: clients converge under loss without any
  resend. Over TCP the same code runs, and nothing is lost.
- Per client, the round-trip time and the share of state messages lost give
  a :attr:`ClientView.quality` of ``'good'`` or ``'bad'``; a bad client gets
  state every other tick until it has been good for a while (PyGaSe's
  congestion avoidance).
- A state or delta that packs to more than the factory's ``max_message_size``
  raises :class:`StateTooLargeError` in :meth:`~Replicator.send`, on the
  server, rather than never arriving. ENet splits a message over its MTU
  (about 1400 bytes) into fragments, unreliable ones for an unreliable
  message: a message is lost whole when one of its fragments is, so at loss
  ``p`` one of ``n`` fragments arrives with probability ``(1 - p) ** n``
  per try, and a large whole state may take several ticks to reach a new
  client. Keep state small; send the rest as messages.
- A client acknowledges every state message, also one it already has (its
  acknowledgement was lost), so the server stops resending it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ._decoding import brief
from ._delta import ChangeLog, DeltaError
from ._replica import Replica, close_for, take
from .connection import Connection
from .errors import MessageTooLargeError
from .message import MessageFactory
from .protocol import Delivery

__all__ = [
    "BAD_LOSS",
    "BAD_ROUND_TRIP_MS",
    "ClientView",
    "DeltaError",
    "Replica",
    "ReplicationMessages",
    "Replicator",
    "StateTooLargeError",
    "register_messages",
]

log = logging.getLogger("pygnetic.replication")

#: Round-trip time, in milliseconds, over which a client's quality is ``'bad'`` (PyGaSe's
#: 250 ms), once it is also over twice the lowest one measured: a far but steady
#: client is not congested, one whose round trip grew is (queues are filling).
BAD_ROUND_TRIP_MS = 250.0
#: Share of state messages lost over which a client's quality is ``'bad'``.
BAD_LOSS = 0.2
#: Ticks between two state messages to a client of each quality.
SEND_EVERY = {"good": 1, "bad": 2}
#: Seconds of good quality before a throttled client gets every tick again, at least and at most.
#: Each relapse within it doubles it (PyGaSe's throttle time).
MIN_THROTTLE, MAX_THROTTLE = 1.0, 60.0
#: Seconds over which the loss of state messages is measured.
LOSS_WINDOW = 1.0


class StateTooLargeError(MessageTooLargeError):
    """The replicated state, or a delta of it, packs to more than ``max_message_size``.

    Raised on the server, by :meth:`Replicator.send`. Raise the factory's
    ``max_message_size``, or keep less in the state (send one-off things as
    events or messages).
    """


class ReplicationMessages(NamedTuple):
    """The two message types of replication, in one factory (see :func:`register_messages`)."""

    #: ``state(stream, time_order, base, deletes, sets)``, server to client.
    state: type[Any]
    #: ``state_ack(stream, time_order, received)``, client to server.
    ack: type[Any]
    #: The factory they are registered in.
    factory: MessageFactory


def register_messages(factory: MessageFactory, prefix: str = "replication") -> ReplicationMessages:
    """Register the replication messages in ``factory``, on both sides, before connecting.

    They become part of the registry, so a client without them is refused.

    Args:
        factory: The factory the connections speak.
        prefix: Their names start with it: ``replication_state`` and
            ``replication_ack`` by default.
    """
    sequenced = Delivery.UNRELIABLE_SEQUENCED
    state = factory.register(
        f"{prefix}_state", ("stream", "time_order", "base", "deletes", "sets"), delivery=sequenced
    )
    ack = factory.register(
        f"{prefix}_ack", ("stream", "time_order", "received"), delivery=sequenced
    )
    return ReplicationMessages(state, ack, factory)


class ClientView:
    """What the server knows of one client: acknowledged time order, round trip, loss, quality.

    Attributes:
        connection: The client's connection.
        acked: The last time order the client acknowledged; -1 before its first.
        sent: State messages sent to it.
        received: State messages it says arrived (repeats included).
        loss: Share of state messages lost over the last second or so (0 to 1).
        quality: ``'good'`` or ``'bad'`` (see :data:`BAD_ROUND_TRIP_MS` and :data:`BAD_LOSS`).
    """

    def __init__(self, connection: Connection, now: float) -> None:
        self.connection = connection
        self.acked = -1
        self.sent = 0
        self.received = 0
        self.loss = 0.0
        self.quality = "good"
        self._next_tick = 0
        self._every = SEND_EVERY["good"]
        self._window = (now, 0, 0)  # start, sent, received
        self._throttle = MIN_THROTTLE
        self._lowest_rtt = float("inf")
        self._last_change = now
        self._good_since = now

    def __repr__(self) -> str:
        return f"<ClientView {self.connection!r} acked={self.acked} {self.quality}>"

    @property
    def round_trip_time(self) -> float | None:
        """The connection's round-trip time in milliseconds, None until measured."""
        return self.connection.round_trip_time

    @property
    def latency(self) -> float:
        """The round-trip time in seconds, 0.0 until measured (PyGaSe's name and unit)."""
        rtt = self.connection.round_trip_time
        return rtt / 1000 if rtt is not None else 0.0

    @property
    def remote_address(self) -> tuple[str, int]:
        """The client's ``(host, port)`` (PyGaSe's name)."""
        return self.connection.address  # type: ignore[no-any-return]

    def assess(self, now: float) -> None:
        """Update :attr:`loss` and :attr:`quality`, and how often state is sent."""
        start, sent, received = self._window
        if now - start >= LOSS_WINDOW and self.sent - sent >= 5:
            share = 1.0 - (self.received - received) / (self.sent - sent)
            self.loss = min(1.0, max(0.0, share))
            self._window = (now, self.sent, self.received)
        rtt = self.connection.round_trip_time
        if rtt is not None and rtt < self._lowest_rtt:
            self._lowest_rtt = rtt
        slow = rtt is not None and rtt > max(BAD_ROUND_TRIP_MS, 2 * self._lowest_rtt)
        bad = slow or self.loss > BAD_LOSS
        if self.quality == "good":
            if bad:
                self.quality, self._every = "bad", SEND_EVERY["bad"]
                if now - self._last_change < self._throttle:  # a relapse: wait longer
                    self._throttle = min(self._throttle * 2, MAX_THROTTLE)
                self._last_change = now
            elif self._every != SEND_EVERY["good"] and now - self._good_since > self._throttle:
                self._every = SEND_EVERY["good"]
                self._throttle = max(self._throttle / 2, MIN_THROTTLE)
                self._good_since = now
        elif not bad:
            self.quality = "good"
            self._last_change = self._good_since = now


class Replicator:
    """The server's side: one state, and what each client has of it.

    Args:
        messages: From :func:`register_messages` on the factory the clients speak.
        log: The state and its changes, if someone else owns them (a
            :class:`~pygnetic.gamestate.GameStateStore` does); else made from
            ``state``, ``time_order`` and ``history``.
        state: The initial state (kept, not copied); ``{}`` by default.
        time_order: Its time order.
        stream: A number that tells this replicator's messages from another's
            on the same connections (:mod:`pygnetic.syncobject` runs one per
            ``sync_flags``).
        channel: The channel its state goes on (its own, so that sequencing
            drops only stale state).
        delivery: How state is delivered; unreliable sequenced is what it is made
            for. Reliable works too, at the cost of resends under loss.
        history: Time orders back from which a delta is sent; a client further
            behind gets the whole state.
        clock: Monotonic time in seconds, for quality.

    Attributes:
        log: The state and its changes (:class:`~pygnetic._delta.ChangeLog`).
        ticks: How many times :meth:`send` ran.
        packed: Messages the last :meth:`send` packed: one per acknowledged
            time order among the clients it sent to, and one whole state for
            all those too far behind for a delta.
    """

    def __init__(
        self,
        messages: ReplicationMessages,
        *,
        log: ChangeLog | None = None,
        state: dict[Any, Any] | None = None,
        time_order: int = 0,
        stream: int = 0,
        channel: int = 1,
        delivery: Delivery | str = Delivery.UNRELIABLE_SEQUENCED,
        history: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.messages = messages
        self.log = log if log is not None else ChangeLog(state, time_order, history)
        self.stream = stream
        self.channel = channel
        self.delivery = Delivery(delivery)
        self.ticks = 0
        self.packed = 0
        self._clock = clock
        self._clients: dict[Connection, ClientView] = {}
        self._encode = messages.factory.encode
        self._key = messages.factory.get_type_id(messages.state)

    @property
    def state(self) -> dict[Any, Any]:
        """The current state (change it with :meth:`push`)."""
        return self.log.state

    @property
    def time_order(self) -> int:
        """The time order of the current state."""
        return self.log.time_order

    def push(
        self,
        changes: dict[Any, Any],
        time_order: int | None = None,
        *,
        advance_unchanged: bool = True,
    ) -> int:
        """Merge ``changes`` into the state as of ``time_order`` (default: the next one).

        Returns how many values changed. See :meth:`ChangeLog.apply
        <pygnetic._delta.ChangeLog.apply>` for how changes merge; with
        ``advance_unchanged`` false, changes that change nothing do not make
        a new time order.

        Raises:
            ValueError: ``time_order`` is not after the current one.
        """
        next_order = self.log.time_order + 1 if time_order is None else time_order
        return self.log.apply(changes, next_order, advance_unchanged=advance_unchanged)

    # -- clients -------------------------------------------------------------

    def add(self, connection: Connection) -> ClientView | None:
        """Start replicating to ``connection``: the next :meth:`send` sends it the whole state.

        A connection without :attr:`channel` (an ENet client that asked for
        fewer channels) is closed with the reason, and None returned.
        """
        view = self._clients.get(connection)
        if view is None:
            try:
                connection.check_channel(self.channel)
            except ValueError as exc:
                close_for(connection, f"state goes on channel {self.channel}: {exc}")
                return None
            view = self._clients[connection] = ClientView(connection, self._clock())
            take(connection, self.messages.ack, self.stream, self._ack_receiver(connection))
        return view

    def remove(self, connection: Connection) -> None:
        """Stop replicating to ``connection`` (a closed one is removed by :meth:`send` anyway)."""
        self._clients.pop(connection, None)

    def __contains__(self, connection: object) -> bool:
        return connection in self._clients

    def __iter__(self) -> Iterator[ClientView]:
        return iter(list(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)

    def client(self, connection: Connection) -> ClientView:
        """Return what is known of ``connection``'s client.

        Raises:
            KeyError: It is not replicated to.
        """
        return self._clients[connection]

    @property
    def min_acked(self) -> int:
        """The oldest time order acknowledged by every client (the current one with none).

        A client that has acknowledged none of the state sent to it for the
        last second or so (:attr:`ClientView.loss` 1) does not count: a peer
        that never acknowledges cannot hold this back for ever.
        """
        return min(
            (view.acked for view in self._clients.values() if view.loss < 1.0),
            default=self.log.time_order,
        )

    def _ack_receiver(self, connection: Connection) -> Callable[[Any], None]:
        clients = self._clients

        def receive(message: Any) -> None:
            view = clients.get(connection)
            if view is None:
                return
            time_order, received = message.time_order, message.received
            if type(time_order) is not int or type(received) is not int:
                close_for(connection, f"state acknowledgement {brief(message)} is not two ints")
                return
            if time_order > view.acked:
                view.acked = min(time_order, self.log.time_order)
            if received > view.received:
                view.received = min(received, view.sent)

        return receive

    # -- sending -------------------------------------------------------------

    def send(self) -> int:
        """Send every client that is behind what it lacks, once per tick; return how many got some.

        Raises:
            StateTooLargeError: What some client needs packs to more than
                ``max_message_size``; nothing was sent this tick.
        """
        self.ticks += 1
        now = self._clock()
        current, horizon = self.log.time_order, self.log.horizon
        packed: dict[int, bytes] = {}  # by base; -1 for the whole state
        due: list[tuple[ClientView, bytes]] = []
        for connection, view in list(self._clients.items()):
            if not connection.connected:
                del self._clients[connection]
                continue
            view.assess(now)
            if view.acked >= current or self.ticks < view._next_tick:
                continue
            base = view.acked if view.acked >= horizon else -1
            data = packed.get(base)
            if data is None:
                data = packed[base] = self._pack(base)
            due.append((view, data))
        self.packed = len(packed)
        channel, delivery, key = self.channel, self.delivery, self._key
        for view, data in due:
            view.connection.send_encoded(data, channel, delivery, key)
            view.sent += 1
            view._next_tick = self.ticks + view._every
        return len(due)

    def _pack(self, base: int) -> bytes:
        delta = self.log.delta(base) if base >= 0 else None
        fields: tuple[Any, ...]
        if delta is None:
            fields = (self.stream, self.log.time_order, None, [], self.log.state)
            what = "the whole state"
        else:
            fields = (self.stream, self.log.time_order, base, *delta)
            what = f"the delta since time order {base}"
        try:
            data, _ = self._encode(self.messages.state, fields)
        except MessageTooLargeError as exc:
            raise StateTooLargeError(
                f"{what} packs to more than max_message_size "
                f"({self.messages.factory.max_message_size} bytes): raise the factory's "
                "max_message_size, or keep less in the state"
            ) from exc
        return data
