"""A client's replicas of the server's SyncObjects, kept in line with the replicated state."""

from __future__ import annotations

from typing import Any

from ._decoding import brief
from ._delta import DeltaError, copy_tree
from ._syncobject_wire import CLASS_KEY, MISSING, Kinds
from .replication import Replica

__all__ = ["ReplicaTable"]


class ReplicaTable:
    """The replicas of one client's manager, by ``sync_id``.

    Args:
        kinds: The SyncObject classes of the client's message factory.

    Attributes:
        objects: ``sync_id`` to replica.
        changed: Set when :meth:`apply` made, changed or removed a replica;
            the manager clears it.
    """

    def __init__(self, kinds: Kinds) -> None:
        self.kinds = kinds
        self.objects: dict[int, Any] = {}
        self.changed = False

    def apply(self, replica: Replica, deletes: Any, sets: Any, whole: bool) -> None:
        """Bring the replicas in line with ``replica``'s state after one state message.

        Raises:
            DeltaError: The message is not what a server of the same classes
                sends; no replica changed.
        """
        state, stream = replica.state, replica.stream
        # Deleted paths below an entry name an object whose attribute lost a dict's key.
        named = list(sets) if whole else [*sets, *(path[0] for path in deletes)]
        for sync_id in named:
            if type(sync_id) is not int:
                raise DeltaError(f"an object's number is an int, not {brief(sync_id)}")
        if whole:  # what it lacks is gone
            named += [i for i, obj in self.objects.items() if obj._sync_stream == stream]
        # Everything is checked before any replica changes: the server sent it, but
        # a message of another shape closes the connection (see Replica) and is not applied.
        gone, present = [], []
        for sync_id in dict.fromkeys(named):
            entry = state.get(sync_id, MISSING)
            if entry is MISSING:
                gone.append(sync_id)
            else:
                present.append((sync_id, self._class_of(sync_id, entry, stream), entry))
        for sync_id in gone:
            obj = self.objects.get(sync_id)
            if obj is not None and obj._sync_stream == stream:
                self._vanish(sync_id)
                self.changed = True
        for sync_id, cls, entry in present:
            if self._refresh(sync_id, cls, entry):
                self.changed = True

    def _class_of(self, sync_id: int, entry: Any, stream: int) -> type[Any]:
        """The class of object ``sync_id``, whose ``entry`` came on ``stream``.

        Raises:
            DeltaError: The entry is not the one a server of the same classes sends.
        """
        if type(entry) is not dict:
            raise DeltaError(f"object {sync_id} is a dict of attributes, not {brief(entry)}")
        key = entry.get(CLASS_KEY)
        cls = self.kinds.by_type_id.get(key) if type(key) is int else None
        if cls is None or cls._sync_stream != stream:
            raise DeltaError(
                f"object {sync_id} is of no SyncObject class sent on stream {stream} "
                f"(class key {brief(key)})"
            )
        obj = self.objects.get(sync_id)
        if obj is not None and type(obj) is not cls:
            raise DeltaError(
                f"object {sync_id} is a {type(obj).__qualname__}, not a {cls.__qualname__}"
            )
        count = len(cls.sync_var)
        for index in entry:
            if type(index) is not int or not 0 <= index <= count:
                raise DeltaError(f"object {sync_id} has no attribute number {brief(index)}")
        return cls

    def _refresh(self, sync_id: int, cls: type[Any], entry: dict[Any, Any]) -> bool:
        """Make the replica's attributes the state's ``entry``; on_change if one differed.

        Returns whether one did (or the replica is new).

        A delta may repeat what the replica has (it starts from the last time
        order acknowledged, and an acknowledgement may be on its way) and a
        whole state repeats everything: only a value that differs is a change.
        The attributes hold copies, so that merging the next delta into the
        state does not change them behind the comparison.
        """
        obj = self.objects.get(sync_id)
        changed = obj is None
        if obj is None:
            obj = object.__new__(cls)  # a replica: its __init__ is the server's business
            object.__setattr__(obj, "sync_id", sync_id)
            object.__setattr__(obj, "_sync_replica", True)
            self.objects[sync_id] = obj
        values = vars(obj)
        for index, name in enumerate(cls.sync_var, 1):
            value = entry.get(index, MISSING)
            if value is MISSING:
                continue
            current = values.get(name, MISSING)
            if type(current) is type(value) and current == value:
                continue
            object.__setattr__(obj, name, copy_tree(value))
            changed = True
        if changed:
            obj.on_change()
        return changed

    def _vanish(self, sync_id: Any) -> None:
        obj = self.objects.pop(sync_id, None)
        if obj is not None:
            obj.on_delete()
