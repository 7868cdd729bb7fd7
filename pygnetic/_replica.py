"""The client's side of :mod:`pygnetic.replication`, and how replication takes its messages."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ._decoding import brief
from ._delta import DeltaError, apply_delta
from .connection import Connection
from .protocol import CloseCode

if TYPE_CHECKING:
    from .replication import ReplicationMessages

__all__ = ["Replica", "close_for", "take"]

log = logging.getLogger("pygnetic.replication")


class Replica:
    """A client's copy of a :class:`Replicator`'s state.

    Args:
        messages: From :func:`register_messages`, as on the server.
        stream: The server's replicator's ``stream``.
        channel: The channel acknowledgements go on: the replicator's.
        on_update: Called after each state message applied, with this replica,
            the deletes and the sets of the delta, and whether it was the whole
            state (then ``sets`` is the new state).
        state: The dict to keep the state in (emptied and refilled by a whole state).
        lock: Held while a state message is applied, for readers in other threads.

    Attributes:
        state: The state as of :attr:`time_order`.
        time_order: The time order of :attr:`state`; -1 before the first state.
        received: State messages received and applied.
        stale: State messages that arrived after a newer one, and were ignored.
    """

    def __init__(
        self,
        messages: ReplicationMessages,
        *,
        stream: int = 0,
        channel: int = 1,
        on_update: Callable[[Replica, list[Any], dict[Any, Any], bool], None] | None = None,
        state: dict[Any, Any] | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.messages = messages
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.stream = stream
        self.channel = channel
        self.on_update = on_update
        self.state: dict[Any, Any] = state if state is not None else {}
        self.time_order = -1
        self.received = 0
        self.arrived = 0
        self.stale = 0

    def attach(self, connection: Connection) -> None:
        """Receive state from ``connection`` (the server) from now on."""
        take(connection, self.messages.state, self.stream, self._receiver(connection))

    def _receiver(self, connection: Connection) -> Callable[[Any], None]:
        def receive(message: Any) -> None:
            try:
                with self.lock:
                    self.receive(connection, message)
            except DeltaError as exc:
                close_for(connection, str(exc))
            except ValueError as exc:  # a server that gave us fewer channels than it uses
                close_for(connection, f"cannot acknowledge state: {exc}")

        return receive

    def receive(self, connection: Connection, message: Any) -> bool:
        """Apply one ``state`` message and acknowledge it; return whether it was applied.

        Raises:
            DeltaError: The message is not a well-formed state or delta.
        """
        _, time_order, base, deletes, sets = message
        self.arrived += 1
        if type(time_order) is not int or not (base is None or type(base) is int):
            raise DeltaError(f"state message {brief(message)} has no int time order and base")
        if time_order <= self.time_order or (base is not None and base > self.time_order):
            self.stale += 1  # older than what we have, or from a base we never had
            if time_order == self.time_order:  # our acknowledgement was lost: say it again
                self._acknowledge(connection)
            return False
        if base is None:
            if type(sets) is not dict:
                raise DeltaError(f"a whole state is a dict, not {type(sets).__name__}")
            self.state.clear()
            self.state.update(sets)
        else:
            apply_delta(self.state, deletes, sets)
        self.time_order = time_order
        self.received += 1
        self._acknowledge(connection)
        if self.on_update is not None:
            self.on_update(self, deletes, sets, base is None)
        return True

    def _acknowledge(self, connection: Connection) -> None:
        # What arrived, repeats included: the server measures loss with it, and a
        # repeat (the state did not move on while our acknowledgement travelled)
        # is no loss.
        connection.send(
            self.messages.ack, self.stream, self.time_order, self.arrived, channel=self.channel
        )


def take(
    connection: Connection, message: type[Any], stream: int, receiver: Callable[[Any], None]
) -> None:
    """Have ``receiver`` take ``connection``'s ``message`` messages of ``stream``.

    The streams' receivers hang on the function the connection calls, so
    they go with the connection (no table outside it keeps one alive).
    """
    current = connection.interceptor(message)
    receivers = getattr(current, "receivers", None)
    if receivers is None:
        receivers = {}

        def route(received: Any) -> None:
            stream = received[0]
            if type(stream) is not int:  # a list would not even look up: TypeError
                close_for(connection, f"{brief(received)} has no int stream number")
                return
            taker = receivers.get(stream)
            if taker is not None:
                taker(received)

        route.receivers = receivers  # type: ignore[attr-defined]
        connection.intercept(message, route)
    receivers[stream] = receiver


def close_for(connection: Connection, reason: str) -> None:
    log.warning("closing connection to %s:%s: %s", *connection.address, reason)
    connection.close(CloseCode.PROTOCOL_ERROR, reason)
