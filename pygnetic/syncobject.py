"""Objects the server owns and every client sees: the ``SyncObject`` pygnetic 1.0 meant.

Declare a class of synchronised objects once, on both sides, before the
Server or Client is made (like messages: in the same order, and the
registry hash covers them, ``sync_var`` and ``sync_flags`` included, so a
client with other classes is refused)::

    from pygnetic.syncobject import SyncObject, SyncObjectManager

    class Ball(SyncObject):
        sync_var = ('x', 'y', 'colour')

    # server                                   # client
    objects = SyncObjectManager(server)        objects = SyncObjectManager(client)
    ball = objects.add(Ball())                 ...
    ball.x = 10   # sent with the next update  for ball in objects.of_type(Ball):
                                                   draw(ball.x, ball.y)

- **Assigning** a name of ``sync_var`` marks the object changed. With
  ``sync_mode = SYNCOBJECT_MODE_AUTO`` (the default) the change goes out with
  the next state tick of the manager; with ``SYNCOBJECT_MODE_MANUAL`` it waits
  for :meth:`SyncObject.send_changes`. Changes in place (``ball.trail.append(p)``)
  are not assignments: call :meth:`SyncObject.notify_change` after them.
- **Ownership**: the server owns every object. It numbers them (``sync_id``)
  as :meth:`SyncObjectManager.add` binds them. Each client holds a replica of
  each, an instance of the same class made without calling ``__init__``,
  whose synchronised attributes are read-only; a client changes the world
  by sending the server a message.
- **Callbacks**: a replica's :meth:`SyncObject.on_change` runs once per
  state message that changed it; on the server, :meth:`SyncObject.on_reply`
  runs once every client has the object's latest change (changes made
  while one was on its way are confirmed with it; a client that
  acknowledges nothing for a second does not hold it back).
- **Lifetime**: an object removed with :meth:`SyncObjectManager.remove`, or
  no longer referenced on the server (the manager holds objects weakly, as
  1.0's did), disappears from every client: keep a reference to each object
  the game still has, ``self.ball = objects.add(Ball())``, since
  ``objects.add(Ball())`` alone is gone at once. A client that joins late
  gets every object.
- **Delivery**: the state goes through :mod:`pygnetic.replication`: each
  client gets what changed since what it acknowledged, unreliable sequenced
  on channel 1, so a lost packet costs nothing but a bigger next delta.
  ``sync_flags`` picks another channel or delivery for a class (a dict of
  send options, ``{'channel': 2}``, or 1.0's ENet flags as an int).
"""

from __future__ import annotations

import collections
import logging
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from . import event as _event
from ._delta import DELETE
from ._replica import close_for as _refuse
from ._syncobject_replicas import ReplicaTable
from ._syncobject_wire import KINDS, entry_of, kinds_of, send_options
from .connection import Connection, ConnectionState
from .errors import LocalError
from .message import MessageFactory
from .message import message_factory as default_factory
from .replication import Replica, Replicator

__all__ = [
    "SYNCOBJECT_MODE_AUTO",
    "SYNCOBJECT_MODE_MANUAL",
    "ReplicaReadOnlyError",
    "SyncObject",
    "SyncObjectManager",
]

log = logging.getLogger("pygnetic.syncobject")

#: ``sync_mode``: changes go out with the manager's next state tick.
SYNCOBJECT_MODE_AUTO = 0
#: ``sync_mode``: changes wait for :meth:`SyncObject.send_changes`.
SYNCOBJECT_MODE_MANUAL = 1

_LIVE = (ConnectionState.CONNECTING, ConnectionState.OPEN)

_Object = TypeVar("_Object", bound="SyncObject")


class ReplicaReadOnlyError(LocalError, AttributeError):
    """A synchronised attribute of a replica (on a client) was assigned.

    The server owns every object: change it there, for instance in the
    handler of a message the client sends.
    """


class SyncObject:
    """Base class of objects whose ``sync_var`` attributes every client sees.

    Attributes:
        sync_var: Names of the synchronised attributes (a class attribute).
        sync_mode: :data:`SYNCOBJECT_MODE_AUTO` or :data:`SYNCOBJECT_MODE_MANUAL`.
        sync_flags: Send options for the class's state: None (channel 1,
            unreliable sequenced), a dict (``{'channel': 2, 'delivery':
            'reliable'}``) or ENet flags as an int, as in 1.0.
        message_factory: The factory whose registry the class joins (a class
            attribute; the default one unless a subclass sets its own).
        sync_id: The object's number, given by the server's manager; None
            until it is added.
    """

    sync_var: ClassVar[tuple[str, ...]] = ()
    sync_mode: ClassVar[int] = SYNCOBJECT_MODE_AUTO
    sync_flags: ClassVar[Any] = None
    message_factory: ClassVar[MessageFactory] = default_factory

    _sync_index: ClassVar[dict[str, int]] = {}
    _sync_type_id: ClassVar[int]
    _sync_stream: ClassVar[int]
    sync_id: int | None = None
    _sync_manager: SyncObjectManager | None = None
    _sync_dirty: set[int] | None = None
    _sync_replica = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(cls.sync_var)
        if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"{cls.__qualname__}.sync_var must be distinct names, not {names!r}")
        cls.sync_var = names
        cls._sync_index = {name: index for index, name in enumerate(names, 1)}
        options = send_options(cls)  # first: a bad sync_flags registers nothing
        kinds = kinds_of(cls.message_factory)
        # A message that is never sent: it puts the class, its sync_var and where its
        # state goes in the registry hash, so a client that declares any otherwise
        # is refused rather than left without some state.
        channel, delivery = options
        name = f"syncobject_{cls.__name__}_{channel}_{delivery.value}"
        marker = cls.message_factory.register(name, names)
        cls._sync_type_id = cls.message_factory.get_type_id(marker)
        kinds.by_type_id[cls._sync_type_id] = cls
        kinds.markers.append(marker)
        if options not in kinds.streams:
            kinds.streams.append(options)
        cls._sync_stream = kinds.streams.index(options)

    def __setattr__(self, name: str, value: Any) -> None:
        index = self._sync_index.get(name)
        if index is not None:
            if self._sync_replica:
                raise ReplicaReadOnlyError(
                    f"{type(self).__qualname__}.{name} is replicated from the server and "
                    "read-only on a client: change it on the server"
                )
            object.__setattr__(self, name, value)
            self._changed(index)
        else:
            object.__setattr__(self, name, value)

    def _changed(self, index: int) -> None:
        dirty = self._sync_dirty
        if dirty is None:
            dirty = self._sync_dirty = set()
        dirty.add(index)
        manager = self._sync_manager
        if manager is not None and self.sync_mode == SYNCOBJECT_MODE_AUTO:
            manager._pending[id(self)] = self

    def notify_change(self, var_name: str) -> None:
        """Say that ``var_name`` changed in place (``self.items.append(x)``), so it is sent.

        Raises:
            KeyError: ``var_name`` is not in ``sync_var``.
        """
        try:
            index = self._sync_index[var_name]
        except KeyError:
            raise KeyError(
                f"{var_name!r} is not in {type(self).__qualname__}.sync_var {self.sync_var!r}"
            ) from None
        self._changed(index)

    def send_changes(self) -> None:
        """Send the changes so far with the next state tick (``SYNCOBJECT_MODE_MANUAL``)."""
        if self._sync_manager is not None and self._sync_dirty:
            self._sync_manager._pending[id(self)] = self

    def on_change(self) -> None:
        """Called on a replica (on a client) once per state message that changed it."""

    def on_reply(self, packet_id: int) -> None:
        """Called on the server once every client has this object's latest change.

        Changes made while an earlier one was on its way are confirmed
        together, by one call for the latest. A client that has not yet
        acknowledged any state does not hold it back (its first state is the
        whole one).

        Args:
            packet_id: The time order of the state that carried the change.
        """

    def on_delete(self) -> None:
        """Called on a replica when the server removed the object (pygnetic 2 addition)."""


class SyncObjectManager:
    """The synchronised objects of one Server, or a Client's replicas of them.

    It runs inside the host's ``update()`` (see :meth:`Host.add_updater
    <pygnetic.server.Server.add_updater>`): nothing else to call.

    Args:
        host: A :class:`pygnetic.Server` (objects are added there) or a
            :class:`pygnetic.Client` (replicas appear there).
        interval: Seconds between two state ticks on a server; changes made
            in between go out together.
        events: On a client, post a :data:`~pygnetic.event.NET_STATE` event
            per update in which replicas changed; None follows the host's events.
        clock: Monotonic time in seconds.

    Attributes:
        changed: On a client, whether the host's last ``update()`` made,
            changed or removed a replica (a state message that repeats what
            they hold changes nothing); then :data:`~pygnetic.event.NET_STATE`
            is posted. Read it after ``client.update()`` to act once per new
            state, as an :class:`~pygnetic.interpolate.Interpolator` push.
            Always False on a server.

    Raises:
        LocalError: No SyncObject class uses the host's message factory
            (define them before making the Server or Client), or it
            serializes with json.
        ValueError: A class's ``sync_flags`` channel is beyond the host's ``channels``.
    """

    def __init__(
        self,
        host: Any,
        *,
        interval: float = 1 / 30,
        events: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        factory = host.message_factory
        kinds = KINDS.get(factory)
        if kinds is None or not kinds.by_type_id:
            raise LocalError(
                "no SyncObject class is declared for this host's message factory: define "
                "the classes (on both sides, in the same order) before the Server or Client"
            )
        for channel, _ in kinds.streams:
            if channel >= host.channels:
                raise ValueError(
                    f"a SyncObject class sends its state on channel {channel}, but the host "
                    f"has {host.channels} channel(s): make it with channels={channel + 1} or more"
                )
        if factory.serializer.name == "json":
            raise LocalError(
                "SyncObject needs a serializer that keeps int keys (msgpack); json turns "
                "the object numbers into strings"
            )
        self.host = host
        self.interval = interval
        self._kinds = kinds
        self._events = events
        self._clock = clock
        self._is_server = hasattr(host, "broadcast")
        self._objects: dict[int, Any] = {}  # server: weak references; client: replicas
        # By id: a class's own __eq__ and __hash__ (or none, as a dataclass's) must not matter.
        self._pending: dict[int, SyncObject] = {}
        self._dead: list[int] = []
        #: Per stream, (time order, object) whose on_reply waits for every client.
        self._replies: list[collections.OrderedDict[int, tuple[int, weakref.ref[SyncObject]]]] = [
            collections.OrderedDict() for _ in kinds.streams
        ]
        self._next_id = 1
        self._next_tick = 0.0
        self._replicators = [
            Replicator(kinds.messages, stream=n, channel=channel, delivery=delivery, clock=clock)
            for n, (channel, delivery) in enumerate(kinds.streams)
        ]
        self._replicas: dict[Connection, list[Replica]] = {}
        self._table = ReplicaTable(kinds)
        if not self._is_server:
            self._objects = self._table.objects  # one dict: get() and len() read it
        self.changed = False
        host.add_updater(self._update)
        if not self._is_server:
            self._attach_replicas()

    def close(self) -> None:
        """Stop synchronising (the host's updates no longer run the manager)."""
        self.host.remove_updater(self._update)

    # -- objects -------------------------------------------------------------

    def add(self, obj: _Object) -> _Object:
        """Bind ``obj`` (made on the server) and send it to every client; return it.

        Raises:
            LocalError: On a client, or ``obj`` belongs to a manager already.
        """
        if not self._is_server:
            raise LocalError("objects are made on the server; a client holds replicas of them")
        if obj._sync_manager is not None:
            raise LocalError(f"{obj!r} is bound to a manager already (sync_id {obj.sync_id})")
        sync_id = self._next_id
        self._next_id += 1
        object.__setattr__(obj, "sync_id", sync_id)
        object.__setattr__(obj, "_sync_manager", self)
        self._objects[sync_id] = weakref.ref(obj, lambda _: self._dead.append(sync_id))
        object.__setattr__(obj, "_sync_dirty", set(range(1, len(obj.sync_var) + 1)))
        self._pending[id(obj)] = obj
        return obj

    def remove(self, obj: SyncObject) -> None:
        """Remove ``obj`` from every client; it is no longer synchronised."""
        if obj._sync_manager is self and obj.sync_id in self._objects:
            del self._objects[obj.sync_id]
            self._dead.append(obj.sync_id)
            self._pending.pop(id(obj), None)
            object.__setattr__(obj, "_sync_manager", None)

    def get(self, sync_id: int) -> SyncObject | None:
        """Return the object (server) or replica (client) numbered ``sync_id``, or None."""
        entry = self._objects.get(sync_id)
        if entry is None:
            return None
        return entry() if self._is_server else entry  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[SyncObject]:
        return iter([obj for obj in map(self.get, list(self._objects)) if obj is not None])

    def __len__(self) -> int:
        if self._is_server:  # not those that died since the last tick
            return sum(ref() is not None for ref in self._objects.values())
        return len(self._objects)

    def of_type(self, cls: type[_Object]) -> list[_Object]:
        """Return the objects (or replicas) of class ``cls``, oldest first."""
        return [obj for obj in self if isinstance(obj, cls)]

    # -- the update ----------------------------------------------------------

    def _update(self) -> None:
        if self._is_server:
            now = self._clock()
            if now >= self._next_tick:
                self._next_tick = max(self._next_tick + self.interval, now)
                self._tick()
        else:
            self._attach_replicas()
            self.changed, self._table.changed = self._table.changed, False
            if self.changed and (self._events if self._events is not None else self.host.events):
                orders = (r.time_order for rs in self._replicas.values() for r in rs)
                time_order = max(orders, default=-1)
                _event.post(_event.NET_STATE, source=self, time_order=time_order)

    def _tick(self) -> None:
        for connection in self.host.connections():
            if connection not in self._replicators[0]:
                for replicator in self._replicators:
                    replicator.add(connection)
                self._refuse_on(connection, self._kinds.messages.state)
        changes: list[dict[Any, Any]] = [{} for _ in self._replicators]
        pending = list(self._pending.values())
        self._pending = {}
        for obj in pending:
            if obj.sync_id in self._objects and obj._sync_dirty:
                stream = obj._sync_stream
                now = self._replicators[stream].state.get(obj.sync_id)
                changes[stream][obj.sync_id] = entry_of(obj, now)
        # Swapped, not cleared after: an object may die (and append) while this runs.
        dead, self._dead = self._dead, []
        for sync_id in dead:
            ref = self._objects.get(sync_id)
            if ref is not None and ref() is None:  # died; remove() took it out already
                del self._objects[sync_id]
            for each in changes:
                each[sync_id] = DELETE
        for replicator, each in zip(self._replicators, changes, strict=True):
            if each:
                replicator.push(each, advance_unchanged=False)
            replicator.send()
        for obj in pending:
            if obj.sync_id in self._objects:
                t = self._replicators[obj._sync_stream].time_order
                # One entry an object, its newest change: a client that never
                # acknowledges holds replies back, but cannot make them pile up.
                replies = self._replies[obj._sync_stream]
                replies.pop(id(obj), None)
                replies[id(obj)] = (t, weakref.ref(obj))
        self._reply()

    def _reply(self) -> None:
        for replicator, replies in zip(self._replicators, self._replies, strict=True):
            if not replies:
                continue
            acked = replicator.min_acked
            while replies:  # oldest first: a change moves its object to the end
                key = next(iter(replies))
                t, ref = replies[key]
                if t > acked:
                    break
                del replies[key]
                obj = ref()
                if obj is not None:
                    obj.on_reply(t)

    def _attach_replicas(self) -> None:
        replicas = self._replicas
        # Connecting ones too, not only open ones: the update that opens a connection
        # delivers what came with the server's answer (the first state, often) before
        # this runs, and it must reach the replicas, not the game's handlers.
        for connection in self.host._connections.values():
            if connection not in replicas and connection.state in _LIVE:
                replicas[connection] = [
                    self._replica_on(connection, n, channel)
                    for n, (channel, _) in enumerate(self._kinds.streams)
                ]
                self._refuse_on(connection, self._kinds.messages.ack)
        for connection in [c for c in replicas if c.state is ConnectionState.CLOSED]:
            del replicas[connection]

    def _refuse_on(self, connection: Connection, wrong_way: type[Any]) -> None:
        """Close ``connection`` if its peer sends what only this side sends, or a class marker."""

        def refuse(message: Any) -> None:
            _refuse(connection, f"{type(message).__name__} may not be sent to this side")

        for message in (wrong_way, *self._kinds.markers):
            connection.intercept(message, refuse)

    def _replica_on(self, connection: Connection, stream: int, channel: int) -> Replica:
        replica = Replica(self._kinds.messages, stream=stream, channel=channel)
        replica.on_update = self._table.apply
        replica.attach(connection)
        return replica
