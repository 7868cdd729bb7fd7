"""The data side of replication: a state of nested dicts, what changed when, and deltas.

A state is a ``dict`` whose values are plain data (what the serializer
carries). Nested dicts are merged key by key; any other value (a number, a
string, a list) is replaced as a whole. :class:`ChangeLog` owns the server's
state: :meth:`~ChangeLog.apply` merges changes into it at a time order and
notes, per path (the keys from the top down to a value), the time order of
its last change, so that :meth:`~ChangeLog.delta` can say what changed since
any recent time order in work proportional to the answer, not to the state.

A delta is two things: ``deletes``, paths to remove, and ``sets``, a nested
dict merged into the state after them. A path replaced by a dict (a value
that was not a dict before, or one deleted and made again) is both deleted
and set, so that no stale key survives the merge. :func:`apply_delta` is the
receiving side, and checks what it was sent: it came from the network.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from copy import copy as _shallow_copy
from typing import Any

from .errors import MessageError

__all__ = ["DELETE", "ChangeLog", "DeltaError", "apply_delta", "copy_tree"]

#: The value that deletes a key in :meth:`ChangeLog.apply`: PyGaSe's ``TO_DELETE``.
DELETE = bytes.fromhex("d281e5ba")

_MISSING: Any = object()
Path = tuple[Any, ...]


class DeltaError(MessageError):
    """A received delta or state is not well formed (see :func:`apply_delta`)."""


def copy_tree(value: Any) -> Any:
    """Return ``value`` with every nested dict and list copied, and ``DELETE`` entries left out.

    The state keeps copies, so that a value the game changes in place after
    handing it over (``players.append(p)``, ``position.x += 1`` on a
    ``pygame.Vector2``) is seen as changed the next time. Values of other
    types (a wire type, :mod:`pygnetic.wire_types`) are copied with
    :func:`copy.copy`.
    """
    if type(value) in _ATOMS:
        return value
    if isinstance(value, dict):  # a Counter or defaultdict too: copied as a plain dict
        copy = {}
        for key, item in value.items():  # inline: most items are numbers, copied by no call
            if type(item) in _ATOMS:
                copy[key] = item
            elif type(item) is not bytes or item != DELETE:
                copy[key] = copy_tree(item)
        return copy
    if isinstance(value, list):
        # One C-level pass over the types finds a long list of numbers: one copy.
        if _ATOMS.issuperset(map(type, value)):
            return list(value)
        return [copy_tree(item) for item in value]
    if type(value) is bytes:
        return value
    return _shallow_copy(value)


# Types whose values hold no dict or list to copy (a tuple is taken as it is).
_ATOMS = frozenset({float, int, str, bool, type(None), tuple})


class ChangeLog:
    """A state and, per path, the time order of its last change.

    Args:
        state: The initial state (kept, not copied: hand over a copy if the
            game keeps changing its own).
        time_order: The time order of ``state``.
        history: How many time orders back :meth:`delta` can answer; a base
            older than that needs the whole state.

    Attributes:
        state: The current state; change it only through :meth:`apply`.
        time_order: The time order of the last :meth:`apply` (or the initial one).
        horizon: The oldest base :meth:`delta` answers.
    """

    def __init__(
        self, state: dict[Any, Any] | None = None, time_order: int = 0, history: int = 256
    ):
        if history < 1:
            raise ValueError(f"history must be >= 1 time orders, not {history!r}")
        self.state: dict[Any, Any] = state if state is not None else {}
        self.time_order = time_order
        self.horizon = time_order
        self.history = history
        # Ordered by the time of the last change: a changed path moves to the end.
        self._changed: OrderedDict[Path, int] = OrderedDict()
        self._count = 0  # values changed so far, to answer apply()

    def apply(
        self, changes: Mapping[Any, Any], time_order: int, *, advance_unchanged: bool = True
    ) -> int:
        """Merge ``changes`` into the state as of ``time_order``; return how many values changed.

        A nested dict merges into a dict already there; ``DELETE`` removes a
        key; any other value replaces what was there. A value equal to the
        current one (and of the same type) is no change: deltas never carry it.
        With ``advance_unchanged`` false, changes that change nothing leave
        :attr:`time_order` where it was, so that nobody is sent an empty delta.

        Raises:
            ValueError: ``time_order`` is not after :attr:`time_order`.
        """
        if time_order <= self.time_order:
            raise ValueError(f"time order {time_order} is not after the state's {self.time_order}")
        start = self._count
        self._merge(self.state, changes, (), time_order)
        if self._count == start and not advance_unchanged:
            return 0
        self.time_order = time_order
        self._forget(time_order - self.history)
        return self._count - start

    def _merge(self, node: dict[Any, Any], changes: Mapping[Any, Any], path: Path, t: int) -> None:
        changed = self._changed
        for key, value in changes.items():
            kind = type(value)
            if kind not in _ATOMS and kind is not dict and kind is not list:
                if isinstance(value, dict):  # a Counter, a defaultdict: merged as a dict
                    kind = dict
                elif isinstance(value, list):  # kept as a copy, as a list is
                    kind = list
            current = node.get(key, _MISSING)
            if kind is dict:
                if type(current) is dict:
                    self._merge(current, value, (*path, key), t)
                    continue
                node[key] = copy_tree(value)
            elif kind is bytes and value == DELETE:
                if current is _MISSING:
                    continue
                del node[key]
            elif type(current) is kind and current == value:
                continue
            elif kind is list or kind not in _ATOMS:
                node[key] = copy_tree(value)  # a wire type (a Vector2) is copied too
            else:
                node[key] = value
            here = (*path, key)  # only for a change: most values of a tick are the same
            if here in changed:
                changed.move_to_end(here)
            changed[here] = t
            self._count += 1

    def _forget(self, before: int) -> None:
        """Drop what changed at or before ``before``: deltas from there need the whole state."""
        if before <= self.horizon:
            return
        changed = self._changed
        while changed and changed[next(iter(changed))] <= before:
            changed.popitem(last=False)
        self.horizon = before

    def delta(self, base: int) -> tuple[list[list[Any]], dict[Any, Any]] | None:
        """Return ``(deletes, sets)`` that turn the state as of ``base`` into the current one.

        None when ``base`` is older than :attr:`horizon` (send the whole
        state). The result shares values with the state: pack it before the
        next :meth:`apply`.
        """
        if base < self.horizon:
            return None
        changed = self._changed
        recent = []
        for path in reversed(changed):
            if changed[path] <= base:
                break
            recent.append(path)
        recent.sort(key=len)
        deletes: list[list[Any]] = []
        sets: dict[Any, Any] = {}
        covered: set[Path] = set()
        state = self.state
        for path in recent:
            if covered and _under(path, covered):
                continue
            value = _lookup(state, path)
            if value is _MISSING:
                deletes.append(list(path))
                covered.add(path)
                continue
            if type(value) is dict:  # replaced whole: no key of the old one may survive
                deletes.append(list(path))
                covered.add(path)
            _place(sets, path, value)
        return deletes, sets


def _under(path: Path, covered: set[Path]) -> bool:
    return any(path[:end] in covered for end in range(1, len(path)))


def _lookup(state: dict[Any, Any], path: Path) -> Any:
    node: Any = state
    for key in path:
        if type(node) is not dict:  # under a value that is no dict now
            return _MISSING
        node = node.get(key, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def _place(sets: dict[Any, Any], path: Path, value: Any) -> None:
    node = sets
    for key in path[:-1]:
        inner = node.get(key)
        if type(inner) is not dict:
            inner = node[key] = {}
        node = inner
    node[path[-1]] = value


def apply_delta(state: dict[Any, Any], deletes: Any, sets: Any) -> None:
    """Apply a received delta to ``state`` in place: ``deletes`` first, then ``sets``.

    The bytes came from a peer, so the shape is checked, all of it before
    ``state`` changes: ``deletes`` is a list of non-empty lists of keys,
    ``sets`` a dict. A delete whose path is not there is no error (it was
    never applied, or is gone already), nor is one that cannot be there (a
    list or a dict as a key). The decoder already bounds depth and size.

    Raises:
        DeltaError: The delta is not of that shape; ``state`` is unchanged.
    """
    if type(deletes) is not list or type(sets) is not dict:
        raise DeltaError(
            f"a delta is a list of deleted paths and a dict, not {type(deletes).__name__} "
            f"and {type(sets).__name__}"
        )
    for path in deletes:
        if type(path) is not list or not path:
            raise DeltaError(
                f"a deleted path is a non-empty list of keys, not {type(path).__name__}"
            )
    for path in deletes:
        _delete(state, path)
    _merge_received(state, sets)


def _delete(state: dict[Any, Any], path: list[Any]) -> None:
    node: Any = state
    # An unhashable key (a list) cannot be in a dict: nothing to delete.
    with contextlib.suppress(TypeError):
        for key in path[:-1]:
            node = node.get(key) if type(node) is dict else None
            if node is None:
                return
        if type(node) is dict:
            node.pop(path[-1], None)


def _merge_received(node: dict[Any, Any], sets: dict[Any, Any]) -> None:
    for key, value in sets.items():
        if type(value) is dict:
            current = node.get(key)
            if type(current) is dict:
                _merge_received(current, value)
                continue
        node[key] = value
