"""The server's game state and the loop that moves it on.

PyGaSe's GameStateStore and GameStateMachine.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .._delta import ChangeLog, copy_tree
from .._logthrottle import LogThrottle
from ._events import Event, EventArgumentsError, call_handler
from ._model import GameState, GameStateUpdate, GameStatus, _merge

__all__ = ["GameStateMachine", "GameStateStore"]

log = logging.getLogger("pygnetic.gamestate")

#: Events from one client that may wait for the game loop at once.
MAX_QUEUED_EVENTS = 256


class GameStateStore:
    """Provide access to a game state and manage state updates.

    The state every client of a :class:`~pygnetic.gamestate.Server` sees.
    Change it with :meth:`push_update` (a :class:`GameStateMachine` does):
    the store notes what changed at which time order, so that the server
    can send each client only what it lacks.

    Args:
        initial_game_state: The state before the simulation begins (an
            empty, paused one by default). The store keeps it and updates it
            in place.

    Attributes:
        lock: Held while the state changes or is packed for sending; hold it
            to read the state from another thread than the game loop's.
    """

    #: How many updates :meth:`get_update_cache` keeps (PyGaSe's number).
    _update_cache_size: int = 100

    def __init__(self, initial_game_state: GameState | None = None) -> None:
        self._game_state = initial_game_state if initial_game_state is not None else GameState()
        # Its own copy: a game that changes the GameState in place and returns
        # the changed dict in an update (PyGaSe programs do) has the change seen.
        replicated = copy_tree(self._game_state.__dict__)
        replicated.pop("time_order", None)
        self.log = ChangeLog(replicated, self._game_state.time_order)
        self._game_state_update_cache: collections.deque[GameStateUpdate] = collections.deque(
            [GameStateUpdate(0)], maxlen=self._update_cache_size
        )
        self.lock = threading.RLock()
        #: Set by every :meth:`push_update` that changes the state: a
        #: :class:`~pygnetic.gamestate.Server` in a thread of its own waits on it.
        self.updated = threading.Event()

    def get_update_cache(self) -> list[GameStateUpdate]:
        """Return the latest state updates, oldest first (at most 100)."""
        with self.lock:
            return list(self._game_state_update_cache)

    def get_game_state(self) -> GameState:
        """Return the current game state (the store's own object, updated in place)."""
        return self._game_state

    def push_update(self, update: GameStateUpdate) -> None:
        """Push a new state update; it changes the state if it is newer than it.

        Nested dicts merge key by key, :data:`~pygnetic.gamestate.TO_DELETE`
        removes an attribute or key, and an update no newer than the state
        changes nothing, as ``game_state += update`` does.
        """
        with self.lock:
            self._game_state_update_cache.append(update)
            if update.time_order <= self._game_state.time_order:
                return
            # Both copy what they keep (lists, dicts): a change to the state
            # later leaves the cached update as it was, and the other way round.
            changes = dict(update.__dict__)
            time_order = changes.pop("time_order")
            self.log.apply(changes, time_order)
            self._game_state += update
            self.updated.set()


class GameStateMachine:
    """Run a simulation that propagates the game state.

    Subclass it and implement :meth:`time_step`, or assign a function to
    ``time_step`` after instantiation, as :class:`~pygnetic.gamestate.Backend`
    does. Handlers registered with :meth:`register_event_handler` get the
    events a :class:`~pygnetic.gamestate.Server` wires to it
    (``server.run(event_wire=machine)``).

    Three ways to run it: :meth:`run_game_loop` blocks, :meth:`run_game_loop_in_thread`
    runs it in a thread (PyGaSe's ways), and :meth:`start` then :meth:`update`
    once per frame runs it in a pygame loop.

    Args:
        game_state_store: The store whose state it moves on.
        clock: Monotonic time in seconds (tests drive it).

    Attributes:
        game_time: Seconds of simulated time so far.
    """

    def __init__(
        self, game_state_store: GameStateStore, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.game_time = 0.0
        self._game_state_store = game_state_store
        self._event_queue: collections.deque[Event] = collections.deque()  # thread-safe ends
        self._queued_from: collections.Counter[Any] = collections.Counter()
        self._queue_lock = threading.Lock()
        self._log = LogThrottle(log, clock=clock)
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._clock = clock
        self._interval = 0.02
        self._next_step: float | None = None
        self._last_step = 0.0
        self._game_loop_is_running = False

    def _push_event(self, event: Event) -> None:
        """Queue an event for the next time step (a Server's event wire calls it).

        At most :data:`MAX_QUEUED_EVENTS` from one client wait at once; more
        are dropped, logged, so that one client cannot make the queue grow
        without end or hold everyone's events back.
        """
        sender = event.client_address
        with self._queue_lock:  # the server's thread pushes, the game loop's pops
            full = self._queued_from[sender] >= MAX_QUEUED_EVENTS
            if not full:
                self._queued_from[sender] += 1
                self._event_queue.append(event)
        if full:
            self._log.warning(
                "event queue", "event from %s dropped: %d of its events wait already",
                sender, MAX_QUEUED_EVENTS,
            )  # fmt: skip

    def register_event_handler(
        self, event_type: str, event_handler_function: Callable[..., Any]
    ) -> None:
        """Handle ``event_type`` events in the game loop.

        The function gets the event's arguments, ``game_state=`` and ``dt=``,
        and ``client_address=`` (the sender's address) if it takes that
        argument or ``**kwargs``; it returns an update dict, like
        :meth:`time_step`.
        """
        self._handlers[event_type] = event_handler_function

    def time_step(self, game_state: GameState, dt: float) -> dict[str, Any]:
        """Return the attributes that change in one step of ``dt`` seconds (override or assign).

        Args:
            game_state: The state before the step.
            dt: Seconds since the last step; use it to simulate at a steady speed.
        """
        raise NotImplementedError(
            "give GameStateMachine a time_step: subclass it, or assign machine.time_step = f"
        )

    def step(self, dt: float) -> None:
        """Run one time step of ``dt`` seconds now: the time step, then the queued events.

        Their update dicts combine into one update, as updates add up: nested
        dicts merge key by key, so two ``JOIN`` events in one step that return
        ``{'players': {'ann': ...}}`` and ``{'players': {'bob': ...}}`` both
        count (PyGaSe's ``dict.update`` kept the last). Events that do not fit
        in 95 % of the interval wait for the next step, as in PyGaSe.
        """
        store = self._game_state_store
        game_state = store.get_game_state()
        started = self._clock()
        update = dict(self.time_step(game_state, dt) or {})
        queue = self._event_queue
        while queue:
            with self._queue_lock:
                event = queue.popleft()
                sender = event.client_address
                self._queued_from[sender] -= 1
                if not self._queued_from[sender]:
                    del self._queued_from[sender]
            handler = self._handlers.get(event.type)
            if handler is not None:
                try:
                    changes = call_handler(
                        handler,
                        event,
                        game_state=game_state,
                        dt=dt,
                        client_address=event.client_address,
                    )
                except EventArgumentsError as exc:  # from a client: its loss, not the game's
                    self._log.warning("event arguments", "event dropped: %s", exc)
                    continue
                _merge(update, changes or {}, delete=False)
            if self._clock() - started > 0.95 * self._interval:
                break
        with store.lock:  # the next time order, not one stop() took meanwhile
            store.push_update(GameStateUpdate(game_state.time_order + 1, **update))
        self.game_time += dt

    # -- running -------------------------------------------------------------

    def start(self, interval: float = 0.02) -> None:
        """Set the game active and step it from :meth:`update`, every ``interval`` seconds."""
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, not {interval!r}")
        self._interval = interval
        self._set_status(GameStatus.ACTIVE)
        self._last_step = self._clock()
        self._next_step = self._last_step + interval

    def next_step_in(self) -> float | None:
        """Seconds until the next time step is due (0 if it is), None when not started."""
        next_step = self._next_step  # once: stop() may clear it from another thread
        if next_step is None:
            return None
        return max(0.0, next_step - self._clock())

    def update(self) -> bool:
        """Run a time step if one is due; return whether it did. Call it once per frame."""
        # Read once: stop() may clear it from another thread meanwhile.
        next_step = self._next_step
        if next_step is None or self._game_state_store.get_game_state().is_paused():
            return False
        now = self._clock()
        if now < next_step:
            return False
        dt = max(self._interval, now - self._last_step)
        self._last_step = now
        # Steady ticks; after a stall, the next one an interval from now.
        next_step += self._interval
        if next_step <= now:
            next_step = now + self._interval
        if self._next_step is not None:
            self._next_step = next_step
        self.step(dt)
        return True

    def run_game_loop(self, interval: float = 0.02) -> None:
        """Simulate the game world until :meth:`stop`; blocks.

        While it runs, the state's ``game_status`` is ``GameStatus.get('Active')``.

        Args:
            interval: (Least) seconds between two time steps.
        """
        self.start(interval)
        self._game_loop_is_running = True
        log.info("game loop running every %.3f s", interval)
        try:
            while not self._game_state_store.get_game_state().is_paused():
                if not self.update():
                    time.sleep(min(self.next_step_in() or 0.0, interval))
        finally:
            self._game_loop_is_running = False
            self._next_step = None
        log.info("game loop stopped")

    def run_game_loop_in_thread(self, interval: float = 0.02) -> threading.Thread:
        """Run :meth:`run_game_loop` in a new (daemon) thread, and return the thread."""
        thread = threading.Thread(
            target=self.run_game_loop, args=(interval,), name="pygnetic game loop", daemon=True
        )
        thread.start()
        return thread

    def stop(self, timeout: float = 1.0) -> bool:
        """Pause the simulation: ``game_status`` becomes ``GameStatus.get('Paused')``.

        A later :meth:`run_game_loop` or :meth:`start` resumes it where it stopped.

        Args:
            timeout: Seconds to wait for a game loop in a thread to end.

        Returns:
            Whether the simulation stopped (its loop ended in time).
        """
        self._set_status(GameStatus.PAUSED)
        self._next_step = None
        deadline = time.monotonic() + timeout
        while self._game_loop_is_running and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self._game_loop_is_running

    def _set_status(self, status: int) -> None:
        store = self._game_state_store
        game_state = store.get_game_state()
        with store.lock:  # stop() runs beside a game loop thread
            if game_state.game_status != status:
                store.push_update(GameStateUpdate(game_state.time_order + 1, game_status=status))
