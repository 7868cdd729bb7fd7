"""PyGaSe's events on pygnetic messages: the wire, handler calls, and acknowledgements.

An event is ``event(event_id, event_type, args, kwargs)``, reliable on channel
0. An ``event_id`` of 0 asks for nothing back; any other id asks the peer to
answer ``event_ack(event_id)`` once its handler ran, which calls the sender's
``ack_callback``. Events are reliable, so PyGaSe's ``retries`` (resend after
a timeout) has nothing left to do: the transport resends until the event
arrives or the connection ends.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from .._decoding import brief
from ..connection import Connection
from ..errors import RemoteError
from ..message import MessageFactory
from ..protocol import MAX_REASON_LENGTH, CloseCode
from ..replication import register_messages

__all__ = [
    "MESSAGES",
    "REPLICATION",
    "Event",
    "EventArgumentsError",
    "EventLink",
    "call_handler",
    "finish",
]

log = logging.getLogger("pygnetic.gamestate")

#: The messages a gamestate Server and Client speak (their own registry).
MESSAGES = MessageFactory("msgpack")
REPLICATION = register_messages(MESSAGES)
EVENT = MESSAGES.register("event", ("event_id", "event_type", "args", "kwargs"))
EVENT_ACK = MESSAGES.register("event_ack", ("event_id",))
#: From the host client: shut the server down.
SHUTDOWN = MESSAGES.register("shutdown", ())
#: Most events one peer may leave unacknowledged before the oldest callbacks are dropped.
MAX_PENDING_ACKS = 4096


class Event:
    """An event: a type, which links it to a handler, and the handler's arguments.

    Args:
        event_type: Identifies the event and links it to a handler.
        *args: Positional arguments for the handler on the other side.
        **kwargs: Keyword arguments for it.

    Attributes:
        type: The event type.
        handler_args: The positional arguments, a list.
        handler_kwargs: The keyword arguments, a dict.
        client_address: On a server, the address of the client that sent it.
    """

    client_address: tuple[str, int] | None = None

    def __init__(self, event_type: str, *args: Any, **kwargs: Any) -> None:
        self.type = event_type
        self.handler_args = list(args)
        self.handler_kwargs = kwargs

    def __repr__(self) -> str:
        return f"<Event {brief(self.type)} args={brief(self.handler_args)}>"

    @classmethod
    def received(cls, event_type: str, args: list[Any], kwargs: dict[str, Any]) -> Event:
        """Build an event from its received parts (a key may be named ``event_type``)."""
        event = cls.__new__(cls)
        event.type, event.handler_args, event.handler_kwargs = event_type, args, kwargs
        return event


class EventArgumentsError(RemoteError, TypeError):
    """A received event's arguments do not fit its handler's parameters.

    The peer sent them: the connection it came over is closed with this
    reason (an event already queued for the game loop is dropped, logged).
    """


def call_handler(function: Callable[..., Any], event: Event, **extra: Any) -> Any:
    """Call an event handler with the event's arguments and those of ``extra`` it accepts.

    ``client_address`` is passed only to a function that takes it (by name
    or through ``**kwargs``), so that both the seed's ``lambda game_state,
    dt: ...`` and PyGaSe 0.3.1 handlers taking ``client_address`` work.

    Raises:
        EventArgumentsError: The arguments (which came from the network) do
            not fit the function; it was not called. What the function
            itself raises goes through.
    """
    kwargs = dict(event.handler_kwargs)
    for name, value in extra.items():
        if name != "client_address" or _accepts(function, name):
            kwargs[name] = value
    signature = _signature(function)
    if signature is not None:
        try:
            signature.bind(*event.handler_args, **kwargs)
        except TypeError as exc:
            raise EventArgumentsError(
                f"event {brief(event.type)}: its arguments do not fit the handler "
                f"({str(exc)[: MAX_REASON_LENGTH // 2]})"
            ) from None
    return finish(function(*event.handler_args, **kwargs))


@functools.lru_cache(maxsize=256)
def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without one: let the call say
        return None


def finish(result: Any) -> Any:
    """Return ``result``, or what it gives when awaited: PyGaSe takes coroutine handlers.

    A coroutine runs to its end at once, in an event loop of its own
    (``asyncio.run``), inside ``update()``: keep it short.
    """
    if not inspect.isawaitable(result):
        return result

    async def wait() -> Any:
        return await result

    return asyncio.run(wait())


def _accepts(function: Callable[..., Any], name: str) -> bool:
    signature = _signature(function)
    if signature is None:
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


class EventLink:
    """One connection's events: numbering what is sent, acknowledging what is handled.

    Args:
        connection: The connection the events go over.
        handle: Called with each valid received :class:`Event`; it returns
            once the event is handled, and an acknowledgement is then sent.
    """

    def __init__(self, connection: Connection, handle: Callable[[Event], None]) -> None:
        self.connection = connection
        self._handle = handle
        self._next_id = 1
        self._callbacks: dict[int, Callable[[], Any]] = {}
        connection.intercept(EVENT, self._receive)
        connection.intercept(EVENT_ACK, self._receive_ack)

    def send(self, event: Event, ack_callback: Callable[[], Any] | None = None) -> None:
        """Send ``event``; call ``ack_callback()`` once the peer has handled it."""
        event_id = 0
        if ack_callback is not None:
            event_id = self._next_id
            self._next_id += 1
            if len(self._callbacks) >= MAX_PENDING_ACKS:
                self._callbacks.pop(next(iter(self._callbacks)))
            self._callbacks[event_id] = ack_callback
        self.connection.send(EVENT, event_id, event.type, event.handler_args, event.handler_kwargs)

    def _receive(self, message: Any) -> None:
        event_id, event_type, args, kwargs = message[0:4]
        if (
            type(event_id) is not int
            or type(event_type) is not str
            or type(args) is not list
            or type(kwargs) is not dict
            or not all(type(key) is str for key in kwargs)
        ):
            self._refuse(f"event {brief(message)} is not (int, str, list, dict of str keys)")
            return
        try:
            self._handle(Event.received(event_type, args, kwargs))
        except EventArgumentsError as exc:
            self._refuse(str(exc))
            return
        if event_id:
            self.connection.send(EVENT_ACK, event_id)

    def _receive_ack(self, message: Any) -> None:
        callback = (
            self._callbacks.pop(message.event_id, None) if type(message.event_id) is int else None
        )
        if callback is not None:
            finish(callback())

    def _refuse(self, reason: str) -> None:
        log.warning("closing connection to %s:%s: %s", *self.connection.address, reason)
        self.connection.close(CloseCode.PROTOCOL_ERROR, reason)
