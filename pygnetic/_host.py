"""What Client and Server share: transports, their connections, and update()."""

from __future__ import annotations

import contextlib
import inspect
import logging
import selectors
import weakref
from collections.abc import Callable, Collection, Container, Iterable, Sequence
from types import ModuleType
from typing import Any, TypeAlias

from . import _defaults, event
from ._logthrottle import LogThrottle
from ._simulated import Simulate, SimulatedTransport, simulator_for
from .connection import Connection, ConnectionState
from .handler import Handler
from .limits import RateLimit, ReceiveBudget, Spending
from .message import MessageFactory
from .message import message_factory as default_factory
from .protocol import CloseCode

log = logging.getLogger("pygnetic")
_OPEN = ConnectionState.OPEN
_RECONNECTING = ConnectionState.RECONNECTING

#: How long ``close()`` lets connections deliver their goodbyes, in milliseconds.
DEFAULT_LINGER_MS = 500
#: Tries at finding one free port number for every transport of a server on port 0.
BIND_ATTEMPTS = 20

AdapterSpec = str | ModuleType | Sequence[str | ModuleType] | None

#: What ``exclude`` arguments take: one connection or handler (or a
#: :func:`weakref.proxy` of one, such as ``Handler.connection``), or, as in
#: pygnetic 1.0, a list, set, tuple or any other collection of them.
Exclude: TypeAlias = Connection | Handler | Iterable[Connection | Handler] | None


def excluded(exclude: Exclude) -> Container[Any]:
    """Return ``exclude`` (not None) as a container to test connections or handlers against.

    ``in`` compares with ``==``, which for a proxy compares its referent, so
    ``connection in excluded(handler.connection)`` holds for the proxy's connection.
    """
    if isinstance(exclude, (Connection, Handler)):  # true for their proxies too
        return (exclude,)
    if isinstance(exclude, Container):
        return exclude
    return list(exclude)  # type: ignore[arg-type]  # an iterator is consumed once


class Host:
    """Base of :class:`~pygnetic.client.Client` and :class:`~pygnetic.server.Server`."""

    # The messages spoken unless the constructor is given others; a subclass
    # may set its own, as pygnetic 1.0 allowed (documented on Server and Client).
    message_factory: MessageFactory = default_factory

    def __init__(
        self,
        *,
        bind: tuple[str, int] | None,
        conn_limit: int,
        message_factory: MessageFactory | None,
        adapter: AdapterSpec,
        channels: int,
        timeout: float,
        events: bool | None,
        clock: Callable[[], float],
        adapter_options: dict[str, Any],
        receive_budget: ReceiveBudget | None,
        rate_limit: RateLimit | None = None,
        offered_options: dict[str, Any] | None = None,
        log_connections: bool = True,
        simulate: Simulate = None,
    ) -> None:
        check_conn_limit(conn_limit)
        if not 1 <= channels <= 255:
            raise ValueError(f"channels must be between 1 and 255, not {channels!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
        self.conn_limit = conn_limit
        #: Channels each connection asks for (ENet); TCP takes any.
        self.channels = channels
        if message_factory is not None:
            self.message_factory = message_factory
        self.timeout = timeout
        self._events_option = events
        self._events_seen = event._changes
        self._clock = clock
        self.receive_budget = receive_budget
        self.rate_limit = rate_limit
        self._spending = Spending(receive_budget) if receive_budget is not None else None
        # One per host: lines its peers cause share one budget.
        self._log_throttle = LogThrottle(log, clock=clock)
        self._connections: dict[Any, Connection] = {}
        self._ended: list[Connection] = []
        self._lost: list[Connection] = []  # links lost by connections that may resume
        self._backlogged: list[Connection] = []
        self._updaters: list[Callable[[], None]] = []
        self._next_tick = 0.0
        self._closed = False
        self._log_connections = log_connections
        #: Links whose handshake is under way: a Server's table; none for a Client.
        self._handshakes: Collection[Any] = ()
        #: Links of a Client's connects still looking for a transport that answers.
        self._attempts: Collection[Any] = ()
        #: A Client's lost connections trying to resume.
        self._reconnects: Collection[Any] = ()
        self.adapters: tuple[ModuleType, ...] = _defaults.networks(adapter)
        self.adapter = self.adapters[0]
        #: The network-conditions simulator on what this host sends, or None
        #: (see :mod:`pygnetic.simulate`): its ``stats`` count what it did, and
        #: its ``conditions`` may be replaced while the game runs.
        self.simulator = simulator_for(simulate, type(self).__name__.lower())
        options = {
            "max_links": conn_limit,
            "channels": channels,
            "max_message_size": self.message_factory.max_message_size,
            "clock": clock,
        }
        self._transports = _open_transports(
            self, self.adapters, bind, options, adapter_options, offered_options or {},
            self.simulator,
        )  # fmt: skip
        self._transport = self._transports[0]
        # Whether update() waits on several descriptors at once (several
        # transports, or wake_on's) rather than in the one transport's poll.
        self._wait_on_many = len(self._transports) > 1
        self._waiter = _waiter(self._transports) if self._wait_on_many else None
        self._extra_descriptors: set[int] = set()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _new_connection(
        self,
        link: Any,
        factory: MessageFactory,
        state: ConnectionState,
        *,
        session: Any = None,
        resumable: bool = False,
    ) -> Connection:
        factory.set_frozen()
        connection = Connection(
            weakref.proxy(self),
            link,
            factory,
            state=state,
            timeout=self.timeout,
            now=self._clock(),
            on_ended=self._ended.append,
            on_backlog=self._backlogged.append,
            events=self.events,
            clock=self._clock,
            log_throttle=self._log_throttle,
            spending=self._spending,
            rate_limit=self.rate_limit,
            log_life=self._log_connections,
            session=session,
            resumable=resumable,
            on_lost=self._lost.append,
        )
        connection.adapter = self._label_of(link)
        self._connections[link] = connection
        return connection

    def _label_of(self, link: Any) -> str:
        """What carries ``link``: its adapter's label (``'ENet'``, ``'TCP'``)."""
        transport = getattr(link, "transport", None)
        for module, each in zip(self.adapters, self._transports, strict=True):
            if each is transport:
                return _defaults.label(module)
        return _defaults.label(self.adapter)

    @property
    def events(self) -> bool:
        """Whether connections post pygame events.

        The ``events`` argument when it was True or False; when it was None,
        whether events are enabled (``pygnetic.init(events=True)``) now:
        turning them on or off takes effect at the next :meth:`update`.
        Setting it works the same way.
        """
        option = self._events_option
        return event.enabled() if option is None else option

    @events.setter
    def events(self, on: bool | None) -> None:
        self._events_option = on
        self._follow_events()

    def _follow_events(self) -> None:
        """Tell every connection whether to post events; runs when that may have changed."""
        self._events_seen = event._changes
        on = self.events
        for connection in self._connections.values():
            connection.set_events(on)

    def connections(self, exclude: Exclude = None) -> list[Connection]:
        """Return the open connections, except those in ``exclude``.

        A connection whose link was lost and whose session may resume
        (``RECONNECTING``, see the server's ``reconnect_grace``) is listed
        too: reliable messages sent to it are delivered when it resumes.

        Args:
            exclude: A connection (or a proxy of one, such as a handler's
                ``self.connection``), or a list, set or other collection of
                them, as in pygnetic 1.0: ``connections([self.connection])``.
        """
        if exclude is None:  # the common case, e.g. a broadcast every frame
            return [
                c
                for c in self._connections.values()
                if c._state is _OPEN or c._state is _RECONNECTING
            ]
        skip = excluded(exclude)
        return [
            c
            for c in self._connections.values()
            if (c._state is _OPEN or c._state is _RECONNECTING) and c not in skip
        ]

    def update(self, timeout: int = 0) -> None:
        """Do all network work: send, receive, call handlers, post events.

        Call it once per frame of the game loop.

        Args:
            timeout: Milliseconds to wait for network activity when there is
                none yet; 0 returns at once.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._events_seen != event._changes:  # init(events=True) or disable() ran
            self._follow_events()
        if self._spending is not None:
            self._spending.update += 1  # every connection's budget starts anew
        if self._backlogged:
            self._deliver_backlogs()
            if self._backlogged:  # over budget: what waits is the next update's work
                timeout = 0
        # What was sent since the last update leaves now, before the transports'
        # own bookkeeping: the peer waiting for it may still be awake (ENet woke
        # it to acknowledge the packet this one answers), and catches it then.
        for transport in self._transports:
            transport.flush()
        if self._wait_on_many:
            self._poll_all(timeout)
        else:
            self._transport.poll(timeout)
        now = self._clock()
        # Before ticks: a connect's own timeout says what it tried.
        if self._attempts or self._reconnects:
            self._advance_attempts(now)
        if now >= self._next_tick:
            self._next_tick = now + min(0.25, self.timeout / 8)
            for connection in list(self._connections.values()):
                connection.tick(now)
            self._expire_handshakes(now)
            self._expire_sessions(now)
        if self._ended:
            self._finish_ended()
        if self._lost:
            lost = self._lost[:]
            self._lost.clear()  # in place: every connection holds its bound append
            for connection in lost:
                self._link_lost(connection, now)
        for updater in self._updaters:
            updater()
        for transport in self._transports:
            transport.flush()

    def wake_on(self, descriptor: int) -> None:
        """Let :meth:`update` end its wait also when ``descriptor`` is readable.

        For layers whose news comes on a socket of their own (the state
        service's Redis notices), so that they need not poll. Where the
        transports have no descriptor to wait on with it, ``update()`` waits
        at most 10 ms at a time instead.
        """
        if self._waiter is None:
            self._waiter = _waiter(self._transports)
        if self._waiter is not None:
            self._waiter.register(descriptor, selectors.EVENT_READ)
        self._wait_on_many = True
        self._extra_descriptors.add(descriptor)

    def stop_waking_on(self, descriptor: int) -> None:
        """Undo :meth:`wake_on` (a descriptor not waited on is no error)."""
        if descriptor in self._extra_descriptors:
            self._extra_descriptors.discard(descriptor)
            if self._waiter is not None:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._waiter.unregister(descriptor)

    def add_updater(self, function: Callable[[], None]) -> None:
        """Run ``function()`` near the end of every :meth:`update`, before sending.

        For layers built on the core, such as a
        :class:`~pygnetic.syncobject.SyncObjectManager`, so that what they
        send leaves in the same update.
        """
        self._updaters.append(function)

    def remove_updater(self, function: Callable[[], None]) -> None:
        """Stop running ``function`` in :meth:`update` (see :meth:`add_updater`)."""
        self._updaters.remove(function)

    def _deliver_backlogs(self) -> None:
        # Each connection that waits once: one that runs out of budget again
        # queues itself anew, for the next update. The list is drained in
        # place: every connection holds its bound append.
        backlogged = self._backlogged
        for _ in range(len(backlogged)):
            backlogged.pop(0).deliver_backlog()

    def _poll_all(self, timeout: int) -> None:
        """Wait on every transport at once, then let each do its work."""
        transports = self._transports
        if timeout and self._waiter is not None:  # update() flushed what was sent
            if not any(getattr(t, "has_reports", False) for t in transports):
                if self.simulator is not None:  # not past the next packet it holds
                    timeout = transports[0].wait_ms(timeout)
                self._waiter.select(timeout / 1000)
            timeout = 0
        elif self._extra_descriptors:  # nothing to wait on them with: wait a little at a time
            timeout = min(timeout, 10)
        for transport in transports:
            transport.poll(timeout)
            timeout = 0  # without a waiter, only the first transport waits

    def _link_lost(self, connection: Connection, now: float) -> None:
        """A resumable connection lost its link, or a try at a new one failed."""

    def _forget(self, connection: Connection) -> None:
        """A connection ended and was told so: drop what the host kept about it."""

    def _advance_attempts(self, now: float) -> None:
        """Move connects on to their next transport, or end them (a Client has them)."""

    def _expire_handshakes(self, now: float) -> None:
        """Close links whose handshake is overdue (a Server has them)."""

    def _expire_sessions(self, now: float) -> None:
        """End the sessions whose grace ran out (a Server has them)."""

    def _end_handshakes(self, code: CloseCode, reason: str) -> None:
        """Refuse every link still in its handshake (a Server has them)."""

    def _finish_ended(self) -> None:
        # The list is drained in place: every connection holds its bound append.
        ended = self._ended
        while ended:
            connection = ended.pop(0)
            self._connections.pop(connection._link, None)
            self._forget(connection)
            connection.finish()

    def close(self, linger_ms: int = DEFAULT_LINGER_MS) -> None:
        """Close every connection, then the transport; handlers hear ``on_disconnect``.

        Args:
            linger_ms: How long the goodbyes may take to leave, in milliseconds
                (default 500).
        """
        if self._closed:
            return
        self._closed = True
        if self._events_seen != event._changes:
            self._follow_events()
        code, reason, local_reason = self._closing_reason()
        for connection in list(self._connections.values()):
            connection.close(code, reason, local_reason=local_reason)
        self._end_handshakes(code, reason)
        for transport in self._transports:
            transport.close(code, linger_ms)
        if self._waiter is not None:
            self._waiter.close()
        self._finish_ended()

    def _closing_reason(self) -> tuple[CloseCode, str, str]:
        """Why ``close()`` ends the connections: code, the peers' reason, ours."""
        return CloseCode.NORMAL, "disconnected by peer", CloseCode.NORMAL.description

    # -- TransportListener -----------------------------------------------------

    def link_opened(self, link: Any) -> None:
        """Refuse: only a Server accepts connections."""
        link.close(CloseCode.PROTOCOL_ERROR)

    def link_connected(self, link: Any) -> None:
        """Refuse: only a Client makes connections."""
        link.close(CloseCode.PROTOCOL_ERROR)

    def link_closed(self, link: Any, code: int, detail: str) -> None:
        """The transport ended a link; end its connection (or let it wait to resume)."""
        connection = self._connections.get(link)
        if connection is not None and connection._link is link:
            connection.transport_closed(code, detail)


def check_conn_limit(conn_limit: object) -> None:
    """Raise ``ValueError`` unless ``conn_limit`` is an int >= 1."""
    if type(conn_limit) is not int or conn_limit < 1:
        raise ValueError(f"conn_limit must be an int >= 1, not {conn_limit!r}")


def _open_transports(
    owner: Any,
    adapters: tuple[ModuleType, ...],
    bind: tuple[str, int] | None,
    options: dict[str, Any],
    adapter_options: dict[str, Any],
    offered_options: dict[str, Any],
    simulator: Any = None,
) -> list[Any]:
    """Start one transport per adapter; a server's all on one port number.

    ``offered_options`` go to the transports that take them, and are no
    error for those that do not (a server's handshake limits, say).
    With port 0 the first transport picks a free port and the others take the
    same number; when one of them finds it taken, every transport is closed
    and the whole set tries again. With a ``simulator`` each transport is
    wrapped in a :class:`~pygnetic._simulated.SimulatedTransport`.

    An adapter whose module names another in ``SHARES_PORT_WITH`` (WebSocket
    names the socket adapter) gets, when a server has both, that adapter's
    transport as ``door=`` instead of a port of its own: one TCP port for both.
    """
    _check_options(adapters, adapter_options)
    attempts = BIND_ATTEMPTS if bind is not None and bind[1] == 0 and len(adapters) > 1 else 1
    order = _doors_first(adapters, bind)
    for attempt in range(attempts):
        transports: list[Any] = []
        where = bind
        built: dict[str, Any] = {}  # by adapter name, unwrapped: the doors to share
        try:
            for module in order:
                own = _accepted(module.Transport, {**offered_options, **adapter_options})
                door = built.get(getattr(module, "SHARES_PORT_WITH", None) or "")
                if bind is not None and door is not None:
                    own["door"] = door
                listener = owner
                if simulator is not None:
                    listener = SimulatedTransport(owner, simulator, options["clock"])
                transport = module.Transport(listener, bind=where, **options, **own)
                built[module.NAME] = transport
                if simulator is not None:
                    listener.attach(transport)
                    transport = listener
                transports.append(transport)
                if where is not None:
                    where = (where[0], transport.address[1])
        except BaseException as exc:
            for transport in transports:
                transport.close(CloseCode.NORMAL, 0)
            if not isinstance(exc, OSError) or attempt == attempts - 1:
                raise
            continue
        return [transports[order.index(module)] for module in adapters]
    raise AssertionError("unreachable")  # pragma: no cover


def _doors_first(adapters: tuple[ModuleType, ...], bind: Any) -> list[ModuleType]:
    """``adapters`` with those that share another's port after it (a server's only)."""
    names = {module.NAME for module in adapters}

    def shares(module: ModuleType) -> bool:
        return bind is not None and getattr(module, "SHARES_PORT_WITH", None) in names

    return sorted(adapters, key=shares)


def _accepted(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that ``function`` takes as keyword arguments."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {name: value for name, value in options.items() if name in parameters}


def _check_options(adapters: tuple[ModuleType, ...], options: dict[str, Any]) -> None:
    """Raise ``TypeError`` for an adapter option that no adapter in use takes."""
    taken: set[str] = set()
    for module in adapters:
        taken.update(_accepted(module.Transport, options))
    unknown = sorted(set(options) - taken)
    if unknown:
        names = ", ".join(module.NAME for module in adapters)
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)}: not taken by the {names} adapter(s)"
        )


def _waiter(transports: list[Any]) -> selectors.BaseSelector | None:
    """A selector over every transport's descriptor.

    None when a transport has no descriptor: then only the first transport
    waits in ``update()`` and the others are polled without waiting.
    """
    descriptors: list[int | None] = [getattr(t, "fileno", lambda: None)() for t in transports]
    waiter = selectors.DefaultSelector()
    for descriptor in descriptors:
        if descriptor is None:
            waiter.close()
            return None
        if descriptor not in waiter.get_map():  # transports sharing a port share one
            waiter.register(descriptor, selectors.EVENT_READ)
    return waiter
