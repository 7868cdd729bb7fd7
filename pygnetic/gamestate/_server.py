"""PyGaSe's Server and Backend on a pygnetic Server: state by replication, events by message."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import server as _server
from .._logthrottle import LogThrottle
from ..connection import Connection
from ..handler import Handler
from ..replication import ClientView, Replicator
from ._events import MESSAGES, REPLICATION, SHUTDOWN, Event, EventLink, call_handler
from ._model import GameState
from ._store import GameStateMachine, GameStateStore

__all__ = ["Backend", "Server"]

log = logging.getLogger("pygnetic.gamestate")

#: Seconds between two resends of state to a client that is behind, when the state does not change.
RESEND_INTERVAL = 1 / 40  # PyGaSe's package interval for a good connection


class _ClientHandler(Handler):
    """Wires one client's connection into its gamestate Server."""

    def __init__(self, owner: Server) -> None:
        self.owner = owner
        #: The connection itself: handler.connection is a weak proxy, which cannot be a dict key.
        self.real: Connection | None = None

    def on_connect(self) -> None:
        self.real = next(c for c in self.owner.host.connections() if self in c.handlers())  # type: ignore[union-attr]
        self.owner._joined(self.real)

    def on_disconnect(self) -> None:
        if self.real is not None:
            self.owner._left(self.real)


class Server:
    """Listen to clients and orchestrate the flow of events and state updates.

    The server holds neither game logic nor state: the state is a
    :class:`GameStateStore`'s, the logic a :class:`GameStateMachine`'s.
    Every client gets, each time the state moves on, what changed since the
    state it acknowledged (see :mod:`pygnetic.replication`).

    Three ways to run it: :meth:`run` blocks, :meth:`run_in_thread` runs it
    in a thread (PyGaSe's ways), and :meth:`start` then :meth:`update` once
    per frame runs it in a pygame loop.

    Args:
        game_state_store: Where the state comes from.
        conn_limit: Most clients at once.
        clock: Monotonic time in seconds (tests drive it).
        **server_options: Passed on to :class:`pygnetic.Server` (``adapter``,
            ``simulate``, ``timeout``, ...).

    Attributes:
        game_state_store: The store.
        connections: Each client's ``(host, port)`` to its
            :class:`~pygnetic.replication.ClientView` (PyGaSe's
            ``ServerConnection``: ``latency``, ``quality``, ``connection``).
        host_client: The address of the first client to connect, which may
            shut the server down (``client.disconnect(shutdown_server=True)``).
        host: The :class:`pygnetic.Server` underneath while running, else None.
    """

    def __init__(
        self,
        game_state_store: GameStateStore,
        *,
        conn_limit: int = 256,
        clock: Callable[[], float] = time.monotonic,
        **server_options: Any,
    ) -> None:
        self.game_state_store = game_state_store
        self.connections: dict[tuple[str, int], ClientView] = {}
        self.host_client: tuple[str, int] | None = None
        self.host: _server.Server | None = None
        self._options = dict(server_options, conn_limit=conn_limit, clock=clock)
        self._clock = clock
        self._log = LogThrottle(log, clock=clock)  # lines a client can make us write
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._links: dict[Connection, EventLink] = {}
        self._replicator: Replicator | None = None
        self._event_wire: Any = None
        self._outbox: collections.deque[tuple[Any, ...]] = collections.deque()
        self._stopping = False
        self._loop_thread: threading.Thread | None = None
        #: The thread that called start(): the one that may send directly.
        self._owner: threading.Thread | None = None
        self._sent_time_order = -1
        self._next_resend = 0.0

    def __repr__(self) -> str:
        where = f"{self.hostname}:{self.port}" if self.host is not None else "not running"
        return f"<gamestate.Server {where}, {len(self.connections)} client(s)>"

    @property
    def hostname(self) -> str | None:
        """The hostname or IP address the server listens on; None when it is not running."""
        if self.host is None:
            return None
        host = self.host.address[0]
        return "localhost" if host == "127.0.0.1" else host

    @property
    def port(self) -> int | None:
        """The port the server listens on; None when it is not running."""
        return self.host.address[1] if self.host is not None else None

    # -- running -------------------------------------------------------------

    def start(self, port: int = 0, hostname: str = "localhost", event_wire: Any = None) -> None:
        """Start listening and return at once; then call :meth:`update` once per frame.

        Args:
            port: Port to listen on; 0 picks a free one (see :attr:`port`).
            hostname: Interface to listen on.
            event_wire: Where received events are repeated: anything with a
                ``_push_event(event)`` method, typically a :class:`GameStateMachine`.
        """
        if self.host is not None:
            raise RuntimeError("the server is running already")
        self._event_wire = event_wire
        self._stopping = False
        store = self.game_state_store
        self._replicator = Replicator(REPLICATION, log=store.log, clock=self._clock)
        self.host = _server.Server(
            hostname,
            port,
            handler=lambda: _ClientHandler(self),
            message_factory=MESSAGES,
            **self._options,
        )
        self.host.add_updater(self._send)
        self._owner = threading.current_thread()

    def update(self, timeout_ms: int = 0) -> None:
        """Do the server's work: receive, handle events, send state; once per frame.

        Args:
            timeout_ms: Milliseconds to wait for network activity when there is none yet.
        """
        host = self.host
        if host is None:
            raise RuntimeError("the server is not running: call start() or run() first")
        host.update(timeout_ms)  # which sends what is due, before it flushes (_send)
        if self._stopping:
            self._close()

    def _send(self) -> None:
        self._send_events()
        self._send_state()

    def _send_state(self) -> None:
        replicator = self._replicator
        assert replicator is not None
        now = self._clock()
        current = replicator.time_order
        if current == self._sent_time_order and now < self._next_resend:
            return
        with self.game_state_store.lock:
            replicator.send()
        self._sent_time_order = current
        self._next_resend = now + RESEND_INTERVAL

    def run(self, port: int = 0, hostname: str = "localhost", event_wire: Any = None) -> None:
        """Start the server and serve until :meth:`shutdown`; blocks.

        Takes the arguments of :meth:`start`.
        """
        if self.host is None:
            self.start(port, hostname, event_wire)
        self._loop_thread = threading.current_thread()
        updated = self.game_state_store.updated
        try:
            while self.host is not None:
                # Woken by new state, else each resend interval: not by every packet
                # (each client acknowledges each state), which only the next send reads.
                updated.wait(RESEND_INTERVAL)
                updated.clear()
                self.update(0)
        finally:
            self._loop_thread = None
            self._close()

    def run_in_thread(
        self,
        port: int = 0,
        hostname: str = "localhost",
        event_wire: Any = None,
        daemon: bool = True,
    ) -> threading.Thread:
        """Start the server, then serve in a new thread; return the thread.

        The port is bound before this returns, so :attr:`port` is known.
        """
        self.start(port, hostname, event_wire)
        thread = threading.Thread(target=self.run, name="pygnetic gamestate server", daemon=daemon)
        self._loop_thread = thread
        thread.start()
        return thread

    def shutdown(self) -> None:
        """Shut the server down: its clients are disconnected.

        From another thread than the one serving, it asks that thread to stop
        and returns; :meth:`run` then returns. It can be started again.
        """
        if self._loop_thread is None or self._loop_thread is threading.current_thread():
            self._stopping = True
            if self._loop_thread is None:
                self._close()
        else:
            self._stopping = True

    def _close(self) -> None:
        host, self.host = self.host, None
        if host is not None:
            host.close()
            log.info("gamestate server shut down")
        self.connections.clear()
        self._links.clear()

    # -- clients -------------------------------------------------------------

    def _joined(self, connection: Connection) -> None:
        assert self._replicator is not None
        self._links[connection] = EventLink(
            connection, lambda event: self._received(connection, event)
        )
        connection.intercept(SHUTDOWN, lambda message: self._asked_to_shut_down(connection))
        with self.game_state_store.lock:
            view = self._replicator.add(connection)
        if view is None:  # it lacks the state's channel: closed, with the reason
            return
        self.connections[connection.address] = view
        if self.host_client is None:
            self.host_client = connection.address

    def _left(self, connection: Connection) -> None:
        self._links.pop(connection, None)
        if self._replicator is not None:
            self._replicator.remove(connection)
        view = self.connections.get(connection.address)
        if view is not None and view.connection is connection:  # not a newer one from there
            del self.connections[connection.address]

    def _asked_to_shut_down(self, connection: Connection) -> None:
        if connection.address == self.host_client:
            log.info("the host client %s:%s shuts the server down", *connection.address)
            self._stopping = True
        else:
            self._log.warning(
                "shutdown refused",
                "client %s:%s asked to shut the server down, but is not the host client",
                *connection.address,
            )

    def _received(self, connection: Connection, event: Event) -> None:
        event.client_address = connection.address
        handler = self._handlers.get(event.type)
        if handler is not None:
            call_handler(handler, event, client_address=connection.address)
        if self._event_wire is not None:
            self._event_wire._push_event(event)

    # -- events --------------------------------------------------------------

    def dispatch_event(
        self,
        event_type: str,
        *args: Any,
        target_client: tuple[str, int] | str = "all",
        retries: int = 0,
        ack_callback: Callable[[ClientView], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Send an event to one client or all of them; safe from any thread.

        Args:
            event_type: Identifies the event and links it to a handler.
            *args: Positional arguments for the client's handler.
            target_client: ``'all'``, or one client's address (a key of
                :attr:`connections`). An event for a client that leaves
                before it goes is dropped.
            retries: Accepted for PyGaSe's programs. Events are delivered
                reliably, so there is nothing to retry: the transport resends
                until the event arrives or the connection ends.
            ack_callback: Called with the client's
                :class:`~pygnetic.replication.ClientView` once that client
                has handled the event (once per client).
            **kwargs: Keyword arguments for the client's handler.

        Raises:
            TypeError: ``target_client`` is neither ``'all'`` nor a tuple.
            KeyError: No client is connected at ``target_client``, as in PyGaSe.
        """
        if target_client != "all":
            if not isinstance(target_client, tuple):
                raise TypeError(
                    f"target_client is 'all' or an address tuple, not {target_client!r}"
                )
            if target_client not in self.connections:
                raise KeyError(f"no client connected at {target_client!r} (see connections)")
        self._outbox.append((Event(event_type, *args, **kwargs), target_client, ack_callback))
        if (
            self._loop_thread is None
            and self.host is not None
            and self._owner is threading.current_thread()
        ):
            self._send_events()
        else:
            self.game_state_store.updated.set()  # wakes run(): something to send

    def _send_events(self) -> None:
        outbox = self._outbox
        while outbox:
            event, target, ack_callback = outbox.popleft()
            if target == "all":
                views = list(self.connections.values())
            else:  # the client may have left since dispatch_event()
                view = self.connections.get(target)
                views = [] if view is None else [view]
            for view in views:
                link = self._links.get(view.connection)
                if link is not None:
                    link.send(event, _bound(ack_callback, view))

    def register_event_handler(
        self, event_type: str, event_handler_function: Callable[..., Any]
    ) -> None:
        """Call ``event_handler_function`` for each received event of ``event_type``.

        It gets the event's arguments, and ``client_address=`` if it takes it.
        """
        self._handlers[event_type] = event_handler_function


def _bound(
    callback: Callable[[ClientView], Any] | None, view: ClientView
) -> Callable[[], Any] | None:
    return None if callback is None else lambda: callback(view)


class Backend:
    """Easily create a fully integrated backend: store, game loop and server.

    Args:
        initial_game_state: The state before the simulation begins.
        time_step_function: ``f(game_state, dt) -> dict`` of updated attributes
            (see :meth:`GameStateMachine.time_step`).
        event_handlers: Event type to handler function (see
            :meth:`GameStateMachine.register_event_handler`).
        initial_gamestate: Another name for ``initial_game_state``: the one
            PyGaSe's own Backend example uses.
        **server_options: Passed on to :class:`Server`.

    Raises:
        TypeError: No initial state or no time step function, or the state
            given under both names.

    Attributes:
        game_state_store: The :class:`GameStateStore`.
        game_state_machine: The :class:`GameStateMachine` that runs the game loop.
        server: The :class:`Server`.
    """

    def __init__(
        self,
        initial_game_state: GameState | None = None,
        time_step_function: Callable[[GameState, float], dict[str, Any]] | None = None,
        event_handlers: dict[str, Callable[..., Any]] | None = None,
        *,
        initial_gamestate: GameState | None = None,
        **server_options: Any,
    ) -> None:
        if initial_gamestate is not None:
            if initial_game_state is not None:
                raise TypeError("give initial_game_state or initial_gamestate, not both")
            initial_game_state = initial_gamestate
        if initial_game_state is None or time_step_function is None:
            raise TypeError("Backend needs an initial_game_state and a time_step_function")
        self.game_state_store = GameStateStore(initial_game_state)
        clock = server_options.get("clock", time.monotonic)
        self.game_state_machine = GameStateMachine(self.game_state_store, clock=clock)
        self.game_state_machine.time_step = time_step_function  # type: ignore[method-assign,assignment]
        for event_type, handler in (event_handlers or {}).items():
            self.game_state_machine.register_event_handler(event_type, handler)
        self.server = Server(self.game_state_store, **server_options)

    def run(self, hostname: str = "localhost", port: int = 0, interval: float = 0.02) -> None:
        """Run the game loop in a thread and the server here until it shuts down; blocks."""
        self.game_state_machine.run_game_loop_in_thread(interval)
        try:
            self.server.run(port, hostname, self.game_state_machine)
        finally:
            self.game_state_machine.stop()
        log.info("backend shut down")

    def start(self, hostname: str = "localhost", port: int = 0, interval: float = 0.02) -> None:
        """Start the server and the game loop and return; then call :meth:`update` per frame."""
        self.server.start(port, hostname, self.game_state_machine)
        self.game_state_machine.start(interval)

    def update(self, timeout_ms: int = 0) -> None:
        """Wait for the next game step (at most ``timeout_ms``), run it, then the server's work.

        A dedicated server's loop is ``while True: backend.update(50)``: it
        wakes once per game step (and once per resend interval), not once per
        packet. In a pygame loop, ``update()`` once per frame.
        """
        due = self.game_state_machine.next_step_in()
        wait = timeout_ms / 1000 if due is None else min(timeout_ms / 1000, due)
        if wait > 0:
            time.sleep(min(wait, RESEND_INTERVAL))
        self.game_state_machine.update()
        if self.server.host is not None:
            self.server.update(0)

    def shutdown(self) -> None:
        """Stop the game loop and shut the server down."""
        self.game_state_machine.stop()
        self.server.shutdown()
