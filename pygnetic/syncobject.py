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
from ._decoding import brief
from ._delta import DELETE, DeltaError, copy_tree
from .connection import Connection, ConnectionState
from .errors import LocalError
from .message import MessageFactory
from .message import message_factory as default_factory
from .protocol import Delivery, delivery_from_flags
from .replication import Replica, ReplicationMessages, Replicator, register_messages
from .replication import _close as _refuse

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

#: Key of an object's class in its replicated entry; its fields are 1, 2, ... in sync_var order.
_CLASS_KEY = 0

_MISSING: Any = object()

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
        #: The marker message of each class: never sent, there for the registry hash.
        self.markers: list[type[Any]] = []
        self.streams: list[tuple[int, Delivery]] = []  # (channel, delivery) per stream number


# Weakly: a test's factory and its classes go when the test is done (and
# an id() could be reused by a later factory).
_kinds: weakref.WeakKeyDictionary[MessageFactory, _Kinds] = weakref.WeakKeyDictionary()


def _kinds_of(factory: MessageFactory) -> _Kinds:
    kinds = _kinds.get(factory)
    if kinds is None:
        kinds = _kinds[factory] = _Kinds(factory)
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
        options = _send_options(cls)  # first: a bad sync_flags registers nothing
        kinds = _kinds_of(cls.message_factory)
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
        changed: On a client, whether the host's last ``update()`` made,
            changed or removed a replica (a state message that repeats what
            they hold changes nothing); then :data:`~pygnetic.event.NET_STATE`
            is posted. Read it after ``client.update()`` to act once per new
            state, as an :class:`~pygnetic.interpolate.Interpolator` push.
            Always False on a server.

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
        kinds = _kinds.get(factory)
        if kinds is None or not kinds.by_type_id:
            raise LocalError(
                "no SyncObject class is declared for this host's message factory: define "
                "the classes (on both sides, in the same order) before the Server or Client"
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
            self.changed, self._changed_replicas = self._changed_replicas, False
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
                changes[stream][obj.sync_id] = _entry(obj, now)
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
        replica.on_update = self._replicated
        replica.attach(connection)
        return replica

    def _replicated(self, replica: Replica, deletes: Any, sets: Any, whole: bool) -> None:
        state, stream = replica.state, replica.stream
        # Deleted paths below an entry name an object whose attribute lost a dict's key.
        named = list(sets) if whole else [*sets, *(path[0] for path in deletes)]
        for sync_id in named:
            if type(sync_id) is not int:
                raise DeltaError(f"an object's number is an int, not {brief(sync_id)}")
        if whole:  # what it lacks is gone
            named += [i for i, obj in self._objects.items() if obj._sync_stream == stream]
        # Everything is checked before any replica changes: the server sent it, but
        # a message of another shape closes the connection (see Replica) and is not applied.
        gone, present = [], []
        for sync_id in dict.fromkeys(named):
            entry = state.get(sync_id, _MISSING)
            if entry is _MISSING:
                gone.append(sync_id)
            else:
                present.append((sync_id, self._class_of(sync_id, entry, stream), entry))
        for sync_id in gone:
            obj = self._objects.get(sync_id)
            if obj is not None and obj._sync_stream == stream:
                self._vanish(sync_id)
                self._changed_replicas = True
        for sync_id, cls, entry in present:
            if self._refresh(sync_id, cls, entry):
                self._changed_replicas = True

    def _class_of(self, sync_id: int, entry: Any, stream: int) -> type[SyncObject]:
        """The class of object ``sync_id``, whose ``entry`` came on ``stream``.

        Raises:
            DeltaError: The entry is not the one a server of the same classes sends.
        """
        if type(entry) is not dict:
            raise DeltaError(f"object {sync_id} is a dict of attributes, not {brief(entry)}")
        key = entry.get(_CLASS_KEY)
        cls = self._kinds.by_type_id.get(key) if type(key) is int else None
        if cls is None or cls._sync_stream != stream:
            raise DeltaError(
                f"object {sync_id} is of no SyncObject class sent on stream {stream} "
                f"(class key {brief(key)})"
            )
        obj = self._objects.get(sync_id)
        if obj is not None and type(obj) is not cls:
            raise DeltaError(
                f"object {sync_id} is a {type(obj).__qualname__}, not a {cls.__qualname__}"
            )
        count = len(cls.sync_var)
        for index in entry:
            if type(index) is not int or not 0 <= index <= count:
                raise DeltaError(f"object {sync_id} has no attribute number {brief(index)}")
        return cls

    def _refresh(self, sync_id: int, cls: type[SyncObject], entry: dict[Any, Any]) -> bool:
        """Make the replica's attributes the state's ``entry``; on_change if one differed.

        Returns whether one did (or the replica is new).

        A delta may repeat what the replica has (it starts from the last time
        order acknowledged, and an acknowledgement may be on its way) and a
        whole state repeats everything: only a value that differs is a change.
        The attributes hold copies, so that merging the next delta into the
        state does not change them behind the comparison.
        """
        obj = self._objects.get(sync_id)
        changed = obj is None
        if obj is None:
            obj = cls.__new__(cls)
            object.__setattr__(obj, "sync_id", sync_id)
            object.__setattr__(obj, "_sync_replica", True)
            self._objects[sync_id] = obj
        values = vars(obj)
        for index, name in enumerate(cls.sync_var, 1):
            value = entry.get(index, _MISSING)
            if value is _MISSING:
                continue
            current = values.get(name, _MISSING)
            if type(current) is type(value) and current == value:
                continue
            object.__setattr__(obj, name, copy_tree(value))
            changed = True
        if changed:
            obj.on_change()
        return changed

    def _vanish(self, sync_id: Any) -> None:
        obj = self._objects.pop(sync_id, None)
        if obj is not None:
            obj.on_delete()


def _entry(obj: SyncObject, replicated: Any) -> dict[int, Any]:
    """The changes to ``obj``'s replicated entry: its changed attributes and its class key.

    ``replicated`` is the entry as replicated so far (None before the first).
    """
    dirty, names = obj._sync_dirty or (), obj.sync_var
    entry = {_CLASS_KEY: obj._sync_type_id}
    values = vars(obj)
    before = replicated if type(replicated) is dict else {}
    for index in dirty:
        name = names[index - 1]
        if name in values:
            entry[index] = _replacing(before.get(index, _MISSING), values[name])
    object.__setattr__(obj, "_sync_dirty", set())
    return entry


def _replacing(old: Any, new: Any) -> Any:
    """``new`` as a change that replaces ``old``: a dict marks the keys it lost ``DELETE``.

    The change log merges a dict into the dict already there, key by key,
    which would keep the keys an attribute's new dict no longer has.
    """
    if type(new) is not dict or type(old) is not dict:
        return new
    change = {key: DELETE for key in old if key not in new}
    for key, value in new.items():
        change[key] = _replacing(old.get(key, _MISSING), value)
    return change
