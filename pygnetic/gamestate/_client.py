"""PyGaSe's Client on a pygnetic Client: a replica of the server's game state, and events."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import client as _client
from .. import event as _event
from ..connection import Connection, ConnectionState
from ..replication import Replica
from ._events import MESSAGES, REPLICATION, SHUTDOWN, Event, EventLink, call_handler
from ._model import GameState

__all__ = ["Client"]

log = logging.getLogger("pygnetic.gamestate")


class Client:
    """Exchange events with a gamestate server and access a synchronized game state.

    Three ways to run it: :meth:`connect` blocks until :meth:`disconnect`,
    :meth:`connect_in_thread` runs in a thread (PyGaSe's ways), and
    :meth:`start` then :meth:`update` once per frame runs it in a pygame loop.

    Args:
        events: Post a pygame ``NETWORK`` event with ``net_type``
            :data:`~pygnetic.event.NET_STATE` once per :meth:`update` in which
            new state arrived (and the connection's own events). None, the
            default, follows ``pygnetic.init(events=True)``.
        clock: Monotonic time in seconds, for :meth:`wait_until` and :meth:`try_to`.
        **client_options: Passed on to :class:`pygnetic.Client` (``adapter``,
            ``simulate``, ``timeout``, ...).

    Attributes:
        connection: The :class:`~pygnetic.connection.Connection` to the server
            once connecting, else None.
        host: The :class:`pygnetic.Client` underneath, once connecting.
    """

    def __init__(
        self,
        *,
        events: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        self.connection: Connection | None = None
        self.host: _client.Client | None = None
        self._events = events
        self._clock = clock
        self._options = dict(client_options, events=events, clock=clock)
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.RLock()
        self._game_state = GameState()
        self._replica = Replica(REPLICATION, state=self._game_state.__dict__, lock=self._lock)
        self._replica.on_update = self._applied
        self._posted_time_order = -1
        self._outbox: collections.deque[tuple[Event, Callable[[], Any] | None]] = (
            collections.deque()
        )
        self._link: EventLink | None = None
        self._loop_thread: threading.Thread | None = None
        #: The thread that called start(): the one that may send directly.
        self._owner: threading.Thread | None = None
        self._leaving: bool | None = None  # None, or whether to shut the server down

    def __repr__(self) -> str:
        return f"<gamestate.Client {self.connection!r}>"

    # -- running -------------------------------------------------------------

    def start(self, port: int, hostname: str = "localhost") -> Connection:
        """Start connecting and return at once; then call :meth:`update` once per frame.

        Returns:
            The connection, still connecting.
        """
        if self.host is not None:
            raise RuntimeError("the client is connected already: disconnect() first")
        self.host = _client.Client(message_factory=MESSAGES, **self._options)
        connection = self.host.connect(hostname, port)
        self.connection = connection
        self._link = EventLink(connection, self._received)
        with self._lock:  # a Client used again: the last server's world is not this one's
            self._game_state.__dict__.clear()
            self._game_state.__dict__.update(vars(GameState()))
            self._replica.time_order = -1
        self._posted_time_order = -1
        self._replica.attach(connection)
        self._leaving = None
        self._owner = threading.current_thread()
        return connection

    def update(self, timeout_ms: int = 0) -> None:
        """Do the client's work: send events, receive state and events; once per frame.

        Args:
            timeout_ms: Milliseconds to wait for network activity when there is none yet.
        """
        host = self.host
        if host is None:
            raise RuntimeError("the client is not connected: call start() or connect() first")
        self._send_events()
        host.update(timeout_ms)
        if self._leaving is not None:
            self._close(self._leaving)
            return
        time_order = self._replica.time_order
        if time_order != self._posted_time_order and self._events_on():
            self._posted_time_order = time_order
            _event.post(_event.NET_STATE, source=self, time_order=time_order)

    def _events_on(self) -> bool:
        return _event.enabled() if self._events is None else self._events

    def _applied(self, replica: Replica, deletes: Any, sets: Any, whole: bool) -> None:
        self._game_state.__dict__["time_order"] = replica.time_order

    def connect(self, port: int, hostname: str = "localhost") -> None:
        """Connect, and run the client until :meth:`disconnect` or the connection ends; blocks."""
        if self.host is None:
            self.start(port, hostname)
        self._loop_thread = threading.current_thread()
        try:
            while self.host is not None:
                self.update(5)
                if self.connection is not None and self.connection.state is ConnectionState.CLOSED:
                    break
        finally:
            self._loop_thread = None
            self._close(False)

    def connect_in_thread(self, port: int, hostname: str = "localhost") -> threading.Thread:
        """Start connecting, then run the client in a new (daemon) thread; return the thread."""
        self.start(port, hostname)
        thread = threading.Thread(target=self.connect, args=(port, hostname), daemon=True)
        self._loop_thread = thread
        thread.start()
        return thread

    def disconnect(self, shutdown_server: bool = False) -> None:
        """Close the connection to the server.

        Args:
            shutdown_server: Also shut the server down; only the host client
                (the first to connect) may, the server ignores it from others.
        """
        thread = self._loop_thread
        if thread is None or thread is threading.current_thread():
            self._leaving = shutdown_server
            if thread is None:
                self._close(shutdown_server)
            return
        self._leaving = shutdown_server
        thread.join(timeout=2.0)

    def _close(self, shutdown_server: bool) -> None:
        host, self.host = self.host, None
        self._leaving = None
        if host is None:
            return
        connection = self.connection
        if connection is not None and connection.connected:
            if shutdown_server:
                connection.send(SHUTDOWN)
            connection.disconnect()
        host.close()

    # -- the game state ------------------------------------------------------

    @contextmanager
    def access_game_state(self) -> Iterator[GameState]:
        """Return a context manager that holds the game state still while the block runs.

        ::

            with client.access_game_state() as game_state:
                draw(game_state.players)
        """
        with self._lock:
            yield self._game_state

    def wait_until(
        self, game_state_condition: Callable[[GameState], bool], timeout: float = 1.0
    ) -> None:
        """Block until ``game_state_condition(game_state)`` is true.

        Without a thread running the client, it runs :meth:`update` while it waits.

        Raises:
            TimeoutError: The condition is not met after ``timeout`` seconds.
        """
        deadline = self._clock() + timeout
        while True:
            with self.access_game_state() as game_state:
                if game_state_condition(game_state):
                    return
            if self._clock() > deadline:
                raise TimeoutError(f"condition not satisfied after the timeout of {timeout} s")
            self._wait(timeout)

    def try_to(self, function: Callable[[GameState], Any], timeout: float = 1.0) -> Any:
        """Return ``function(game_state)`` once it runs without ``KeyError`` or ``AttributeError``.

        As in PyGaSe, a result of None counts as not yet: it tries again.

        Raises:
            TimeoutError: ``function`` did not return a value within ``timeout`` seconds.
        """
        deadline = self._clock() + timeout
        while True:
            with self.access_game_state() as game_state:
                try:
                    result = function(game_state)
                except (KeyError, AttributeError):
                    result = None
            if result is not None:
                return result
            if self._clock() > deadline:
                raise TimeoutError(
                    f"function did not run through after the timeout of {timeout} s"
                )
            self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        if self._loop_thread is None and self.host is not None:
            self.update(min(10, max(1, int(timeout * 10))))
        else:
            time.sleep(timeout / 100)

    # -- events --------------------------------------------------------------

    def dispatch_event(
        self,
        event_type: str,
        *args: Any,
        retries: int = 0,
        ack_callback: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Send an event to the server; safe from any thread.

        Args:
            event_type: Identifies the event and links it to a handler.
            *args: Positional arguments for the server's handlers.
            retries: Accepted for PyGaSe's programs. Events are delivered
                reliably, so there is nothing to retry.
            ack_callback: Called with no arguments once the server has handled it.
            **kwargs: Keyword arguments for the server's handlers.
        """
        self._outbox.append((Event(event_type, *args, **kwargs), ack_callback))
        if self._may_send_now():
            self._send_events()

    def _may_send_now(self) -> bool:
        """Whether this thread drives the client (no loop thread): else queued for update()."""
        current = threading.current_thread()
        return self._loop_thread is None and self.host is not None and self._owner is current

    def _send_events(self) -> None:
        link, outbox = self._link, self._outbox
        while outbox and link is not None:
            event, ack_callback = outbox.popleft()
            link.send(event, ack_callback)

    def register_event_handler(
        self, event_type: str, event_handler_function: Callable[..., Any]
    ) -> None:
        """Call ``event_handler_function(*args, **kwargs)`` for each ``event_type`` event."""
        self._handlers[event_type] = event_handler_function

    def _received(self, event: Event) -> None:
        handler = self._handlers.get(event.type)
        if handler is not None:
            call_handler(handler, event)
