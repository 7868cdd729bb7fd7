"""How SyncObject classes and objects are written into replicated state.

Each message factory has its :class:`Kinds`: the replication messages, the
SyncObject classes declared on it, their marker messages and their streams
(one per distinct channel and delivery). An object's replicated entry is a
dict: :data:`CLASS_KEY` holds its class's marker type id, 1, 2, ... its
``sync_var`` values in order.
"""

from __future__ import annotations

import weakref
from typing import Any

from ._delta import DELETE
from .message import MessageFactory
from .protocol import Delivery, delivery_from_flags
from .replication import ReplicationMessages, register_messages

__all__ = ["CLASS_KEY", "KINDS", "MISSING", "Kinds", "entry_of", "kinds_of", "send_options"]

#: Key of an object's class in its replicated entry; its fields are 1, 2, ... in sync_var order.
CLASS_KEY = 0

MISSING: Any = object()


class Kinds:
    """The SyncObject classes of one message factory, in declaration order."""

    def __init__(self, factory: MessageFactory) -> None:
        self.messages: ReplicationMessages = register_messages(factory, prefix="syncobject")
        self.by_type_id: dict[int, type[Any]] = {}
        #: The marker message of each class: never sent, there for the registry hash.
        self.markers: list[type[Any]] = []
        self.streams: list[tuple[int, Delivery]] = []  # (channel, delivery) per stream number


# Weakly: a test's factory and its classes go when the test is done (and
# an id() could be reused by a later factory).
KINDS: weakref.WeakKeyDictionary[MessageFactory, Kinds] = weakref.WeakKeyDictionary()


def kinds_of(factory: MessageFactory) -> Kinds:
    kinds = KINDS.get(factory)
    if kinds is None:
        kinds = KINDS[factory] = Kinds(factory)
    return kinds


def send_options(cls: type[Any]) -> tuple[int, Delivery]:
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


def entry_of(obj: Any, replicated: Any) -> dict[int, Any]:
    """The changes to ``obj``'s replicated entry: its changed attributes and its class key.

    ``replicated`` is the entry as replicated so far (None before the first).
    """
    dirty, names = obj._sync_dirty or (), obj.sync_var
    entry = {CLASS_KEY: obj._sync_type_id}
    values = vars(obj)
    before = replicated if type(replicated) is dict else {}
    for index in dirty:
        name = names[index - 1]
        if name in values:
            entry[index] = replacing(before.get(index, MISSING), values[name])
    object.__setattr__(obj, "_sync_dirty", set())
    return entry


def replacing(old: Any, new: Any) -> Any:
    """``new`` as a change that replaces ``old``: a dict marks the keys it lost ``DELETE``.

    The change log merges a dict into the dict already there, key by key,
    which would keep the keys an attribute's new dict no longer has.
    """
    if type(new) is not dict or type(old) is not dict:
        return new
    change = {key: DELETE for key in old if key not in new}
    for key, value in new.items():
        change[key] = replacing(old.get(key, MISSING), value)
    return change
