"""Objects the server owns and every client sees: the ``SyncObject`` pygnetic 1.0 meant.

Declare a class of synchronised objects once, on both sides, before the
Server or Client is made (like messages: in the same order, and the
registry hash covers them, so a client with other classes is refused)::

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
  runs once every client connected at the time has the change.
- **Lifetime**: an object removed with :meth:`SyncObjectManager.remove`, or
  no longer referenced on the server (the manager holds objects weakly, as
  1.0's did), disappears from every client. A client that joins late gets
  every object.
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
from .connection import Connection
from .errors import LocalError
from .message import MessageFactory
from .message import message_factory as default_factory
from .protocol import Delivery, delivery_from_flags
from .replication import Replica, ReplicationMessages, Replicator, register_messages

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

#: Key of an object's class in its replicated entry; its fields are 1, 2, ... in sync_var order.
_CLASS_KEY = 0

_Object = TypeVar("_Object", bound="SyncObject")


class ReplicaReadOnlyError(LocalError, AttributeError):
    """A synchronised attribute of a replica (on a client) was assigned.

    The server owns every object: change it there, for instance in the
    handler of a message the client sends.
    """


class _Kinds:
    """The SyncObject classes of one message factory, in declaration order."""

    def __init__(self, factory: MessageFactory) -> None:
        self.messages: ReplicationMessages = register_messages(factory, prefix="syncobject")
        self.by_type_id: dict[int, type[SyncObject]] = {}
        self.streams: list[tuple[int, Delivery]] = []  # (channel, delivery) per stream number


_kinds: dict[int, _Kinds] = {}  # id(factory) -> its kinds


def _kinds_of(factory: MessageFactory) -> _Kinds:
    kinds = _kinds.get(id(factory))
    if kinds is None:
        kinds = _kinds[id(factory)] = _Kinds(factory)
    return kinds


def _send_options(cls: type[SyncObject]) -> tuple[int, Delivery]:
    flags = cls.sync_flags
    if flags is None:
        return 1, Delivery.UNRELIABLE_SEQUENCED
    if isinstance(flags, int) and not isinstance(flags, bool):
        return 1, delivery_from_flags(flags)
    if isinstance(flags, dict) and set(flags) <= {"channel", "delivery", "flags"}:
        delivery = (
            delivery_from_flags(flags["flags"])
            if "flags" in flags
            else Delivery(flags.get("delivery", Delivery.UNRELIABLE_SEQUENCED))
        )
        return int(flags.get("channel", 1)), delivery
    raise TypeError(
        f"{cls.__qualname__}.sync_flags is None, ENet flags (an int), or a dict with "
        f"'channel' and 'delivery', not {flags!r}"
    )


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
        kinds = _kinds_of(cls.message_factory)
        # A message that is never sent: it puts the class in the registry hash.
        marker = cls.message_factory.register(f"syncobject_{cls.__name__}", names)
        cls._sync_type_id = cls.message_factory.get_type_id(marker)
        kinds.by_type_id[cls._sync_type_id] = cls
        options = _send_options(cls)
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
            manager._pending.add(self)

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
            self._sync_manager._pending.add(self)

    def on_change(self) -> None:
        """Called on a replica (on a client) once per state message that changed it."""

    def on_reply(self, packet_id: int) -> None:
        """Called on the server once every client has a change of this object.

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
        changed: On a client, whether the host's last ``update()`` changed
            any replica (when :data:`~pygnetic.event.NET_STATE` is posted):
            read it after ``client.update()`` to act once per new state, as
            an :class:`~pygnetic.interpolate.Interpolator` push. Always
            False on a server.

    Raises:
        LocalError: No SyncObject class uses the host's message factory
            (define them before making the Server or Client).
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
        kinds = _kinds.get(id(factory))
        if kinds is None or not kinds.by_type_id:
            raise LocalError(
                "no SyncObject class is declared for this host's message factory: define "
                "the classes (on both sides, in the same order) before the Server or Client"
            )
        self.host = host
        self.interval = interval
        self._kinds = kinds
        self._events = events
        self._clock = clock
        self._is_server = hasattr(host, "broadcast")
        self._objects: dict[int, Any] = {}  # server: weak references; client: replicas
        self._pending: set[SyncObject] = set()
        self._dead: list[int] = []
        #: Per stream, (time order, object) whose on_reply waits for every client.
        self._replies: list[collections.deque[tuple[int, weakref.ref[SyncObject]]]] = [
            collections.deque() for _ in kinds.streams
        ]
        self._next_id = 1
        self._next_tick = 0.0
        self._replicators = [
            Replicator(kinds.messages, stream=n, channel=channel, delivery=delivery, clock=clock)
            for n, (channel, delivery) in enumerate(kinds.streams)
        ]
        self._replicas: dict[Connection, list[Replica]] = {}
        self._changed_replicas = False
        self.changed = False
        host.add_updater(self._update)

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
        self._pending.add(obj)
        return obj

    def remove(self, obj: SyncObject) -> None:
        """Remove ``obj`` from every client; it is no longer synchronised."""
        if obj._sync_manager is self and obj.sync_id in self._objects:
            del self._objects[obj.sync_id]
            self._dead.append(obj.sync_id)
            self._pending.discard(obj)
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
            self.changed, self._changed_replicas = self._changed_replicas, False
            if self.changed and (self._events if self._events is not None else self.host.events):
                time_order = max(r.time_order for rs in self._replicas.values() for r in rs)
                _event.post(_event.NET_STATE, source=self, time_order=time_order)

    def _tick(self) -> None:
        for connection in self.host.connections():
            if connection not in self._replicators[0]:
                for replicator in self._replicators:
                    replicator.add(connection)
        changes: list[dict[Any, Any]] = [{} for _ in self._replicators]
        pending, self._pending = self._pending, set()
        for obj in pending:
            if obj.sync_id in self._objects and obj._sync_dirty:
                changes[obj._sync_stream][obj.sync_id] = _entry(obj)
        for sync_id in self._dead:
            for each in changes:
                each[sync_id] = DELETE
        self._dead.clear()
        for replicator, each in zip(self._replicators, changes, strict=True):
            if each:
                replicator.push(each, advance_unchanged=False)
            replicator.send()
        for obj in pending:
            if obj.sync_id in self._objects:
                t = self._replicators[obj._sync_stream].time_order
                self._replies[obj._sync_stream].append((t, weakref.ref(obj)))
        self._reply()

    def _reply(self) -> None:
        for replicator, replies in zip(self._replicators, self._replies, strict=True):
            if not replies:
                continue
            acked = replicator.min_acked
            while replies and replies[0][0] <= acked:
                t, ref = replies.popleft()
                obj = ref()
                if obj is not None:
                    obj.on_reply(t)

    def _attach_replicas(self) -> None:
        for connection in self.host.connections():
            if connection not in self._replicas:
                self._replicas[connection] = [
                    self._replica_on(connection, n, channel)
                    for n, (channel, _) in enumerate(self._kinds.streams)
                ]

    def _replica_on(self, connection: Connection, stream: int, channel: int) -> Replica:
        replica = Replica(self._kinds.messages, stream=stream, channel=channel)
        replica.on_update = self._replicated
        replica.attach(connection)
        return replica

    def _replicated(self, replica: Replica, deletes: Any, sets: Any, whole: bool) -> None:
        self._changed_replicas = True
        state = replica.state
        if whole:
            gone = [i for i, obj in self._objects.items() if obj._sync_stream == replica.stream]
            for sync_id in gone:
                if sync_id not in state:
                    self._vanish(sync_id)
        else:
            for path in deletes:
                if len(path) == 1 and path[0] not in state:
                    self._vanish(path[0])
        for sync_id in sets:
            entry = state.get(sync_id)
            if type(entry) is dict:
                self._refresh(sync_id, entry, sets[sync_id] if not whole else entry)

    def _refresh(self, sync_id: Any, entry: dict[Any, Any], changed: Any) -> None:
        obj = self._objects.get(sync_id)
        if obj is None:
            cls = self._kinds.by_type_id.get(entry.get(_CLASS_KEY))  # type: ignore[arg-type]
            if cls is None:
                return  # not a class of ours: the registry hash makes this unreachable
            obj = cls.__new__(cls)
            object.__setattr__(obj, "sync_id", sync_id)
            object.__setattr__(obj, "_sync_replica", True)
            self._objects[sync_id] = obj
        names = obj.sync_var
        for index, value in changed.items() if type(changed) is dict else entry.items():
            if type(index) is int and 0 < index <= len(names):
                object.__setattr__(obj, names[index - 1], value)
        obj.on_change()

    def _vanish(self, sync_id: Any) -> None:
        obj = self._objects.pop(sync_id, None)
        if obj is not None:
            obj.on_delete()


def _entry(obj: SyncObject) -> dict[int, Any]:
    """The replicated entry of ``obj``'s changed attributes (its class key included)."""
    dirty, names = obj._sync_dirty or (), obj.sync_var
    entry = {_CLASS_KEY: obj._sync_type_id}
    values = vars(obj)
    for index in dirty:
        name = names[index - 1]
        if name in values:
            entry[index] = values[name]
    object.__setattr__(obj, "_sync_dirty", set())
    return entry
