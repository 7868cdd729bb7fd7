"""PyGaSe's game state model: the game status, states, and the updates that change them.

A :class:`GameState` holds the game's own attributes, set as keyword arguments
or assigned later, plus ``time_order`` (higher is more recent) and
``game_status`` (a :class:`GameStatus` value). A :class:`GameStateUpdate`
holds new values for some of those attributes, labelled with the
``time_order`` the state reaches once they are applied::

    state = GameState(foo=0.0, bar=0.5)
    state += GameStateUpdate(1, foo=0.25)      # applied: 1 is newer than 0
    state += GameStateUpdate(1, foo=9.0)       # ignored: 1 is not newer than 1
    state += GameStateUpdate(2, bar=TO_DELETE)  # deletes state.bar

The names and semantics are PyGaSe 0.3.1's, so that a PyGaSe program runs
after changing only its imports. How an update changes a state:

* only an update newer than the state (a higher ``time_order``) changes it,
  in place, and the state takes the update's ``time_order``;
* a dict merges into a dict already there, key by key, at every level;
  any other value replaces what was there;
* :data:`TO_DELETE` deletes the attribute, or the key of a nested dict, if
  it is there.

Where pygnetic differs from PyGaSe, on purpose:

* ``time_order`` is a plain ``int``: pygnetic's time_order never wraps
  (PyGaSe's ``Sqn`` wraps back to 1 after 65535, and refuses larger values).
* ``update1 + update2`` returns a new update and changes neither operand
  (PyGaSe merges one into the other and returns it), which suits every use
  of ``a + b``, ``sum()`` included.
* A state never shares a dict or a list with an update: what an update
  brings is copied in, so changing the state later leaves every update, in
  a server's cache say, as it was. PyGaSe shares them, so merging a later
  update into the state could change an earlier update.
* :data:`TO_DELETE` for an attribute or key that is not there changes
  nothing; PyGaSe stores the marker itself as the value.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar, overload

from .._decoding import brief, remote_text
from .._delta import copy_tree
from ..adapters.serialization.msgpack import serializer
from ..errors import MessageError, PackError

__all__ = ["TO_DELETE", "GameState", "GameStateUpdate", "GameStatus"]

#: The value that marks an attribute, or a key of a nested dict, for deletion
#: in a :class:`GameStateUpdate`. The same 4 bytes as PyGaSe's, so that
#: updates that cross the wire and code that compares against it both agree.
TO_DELETE: Final[bytes] = bytes.fromhex("d281e5ba")

_REGISTER_LOCK = threading.Lock()


class GameStatus:
    """Whether the game simulation runs: labels mapped to small ints, as PyGaSe's enum.

    The built-in labels are ``'Paused'`` (0) and ``'Active'`` (1): the values
    PyGaSe 0.3.1 puts in ``game_status``, so that states and updates mean the
    same on either side of the wire. :meth:`get` converts either way and
    :meth:`register` adds a label, valued one more than the last.

    A subclass starts with a copy of its parent's labels, so labels it
    registers stay its own (PyGaSe's subclasses all share one list).
    """

    #: The value of ``'Paused'``: the game loop is not running.
    PAUSED: Final = 0
    #: The value of ``'Active'``: the game loop is running.
    ACTIVE: Final = 1

    _labels: ClassVar[list[str]] = ["Paused", "Active"]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._labels = list(cls._labels)

    @overload
    @classmethod
    def get(cls, name_or_value: str) -> int: ...

    @overload
    @classmethod
    def get(cls, name_or_value: int) -> str: ...

    @classmethod
    def get(cls, name_or_value: str | int) -> int | str:
        """Return the value of a label, or the label of a value.

        Args:
            name_or_value: A registered label (``'Paused'``) or value (``0``).

        Returns:
            The int value for a label, the str label for a value.

        Raises:
            TypeError: ``name_or_value`` is neither an ``int`` nor a ``str``
                (a ``bool`` is not a status either).
            ValueError: ``name_or_value`` is a str that is not a registered label.
            IndexError: ``name_or_value`` is an int that is not a registered
                value (negative ones included). PyGaSe raises the same two
                types, with less to say.
        """
        labels = cls._labels
        if isinstance(name_or_value, str):
            if name_or_value in labels:
                return labels.index(name_or_value)
            raise ValueError(
                f"{name_or_value!r} is not a {cls.__name__} label (known: {', '.join(labels)})"
            )
        if isinstance(name_or_value, bool) or not isinstance(name_or_value, int):
            raise TypeError(
                f"{cls.__name__}.get() takes a str label or an int value, "
                f"not {type(name_or_value).__name__}"
            )
        if 0 <= name_or_value < len(labels):
            return labels[name_or_value]
        raise IndexError(
            f"{name_or_value} is not a {cls.__name__} value (known: 0 to {len(labels) - 1})"
        )

    @classmethod
    def register(cls, name: str) -> None:
        """Add a label, valued one more than the last one; a known label is left as it is.

        Args:
            name: The label to add.

        Raises:
            TypeError: ``name`` is not a ``str``.
        """
        if not isinstance(name, str):
            raise TypeError(f"a {cls.__name__} label is a str, not {type(name).__name__}")
        with _REGISTER_LOCK:
            if name not in cls._labels:
                cls._labels.append(name)


_StateT = TypeVar("_StateT", bound="GameState")
_SendableT = TypeVar("_SendableT", bound="_TimeOrdered")

# A repr shows at most this many characters of attribute names, and of each one.
_REPR_NAMES = 120
_REPR_NAME = 32


def _checked_time_order(time_order: int) -> int:
    """``time_order`` as a plain int (from any integer type but bool), if it is >= 0."""
    try:
        value = -1 if isinstance(time_order, bool) else operator.index(time_order)
    except TypeError:
        value = -1
    if value < 0:
        raise ValueError(f"time_order must be an int >= 0, not {brief(time_order)}")
    return value


class _TimeOrdered:
    """What states and updates share: attributes in ``__dict__``, order by ``time_order``.

    Equal when of the same type with equal attributes (PyGaSe's
    ``Comparable``); ``<`` and ``>`` compare ``time_order`` with any state
    or update.
    """

    time_order: int

    if TYPE_CHECKING:  # the game's own attributes, for type checkers

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    # Attributes that from_bytes requires, each an int.
    _REQUIRED: ClassVar[tuple[str, ...]] = ("time_order",)

    def to_bytes(self) -> bytes:
        """Return the attributes packed with msgpack, ``time_order`` and all.

        Raises:
            PackError: An attribute holds a value msgpack cannot pack (a
                ``set``, an object, an int of more than 64 bits).
        """
        try:
            return serializer.pack(self.__dict__)
        except (TypeError, ValueError, OverflowError) as exc:
            raise PackError(f"cannot pack {type(self).__name__}: {exc}") from exc

    @classmethod
    def from_bytes(cls: type[_SendableT], bytepack: bytes) -> _SendableT:
        """Return a new object with the attributes that :meth:`to_bytes` packed.

        Safe on bytes from the network: what they decode to is bounded by
        their size and by the limits of pygnetic's msgpack serializer (lists
        and dicts nested at most 32 levels below the map of attributes, 65536
        of them at most), and anything that is not a packed object of this
        class is refused with :exc:`~pygnetic.errors.MessageError` before an
        object is built. The caller bounds the size of ``bytepack``, as
        pygnetic's transports do. ``time_order`` comes back as an ``int``.

        Args:
            bytepack: What :meth:`to_bytes` returned, on this side or PyGaSe's.

        Raises:
            MessageError: ``bytepack`` is not a packed object of this class:
                not msgpack, too deep or too many containers, not a map of
                str names, ``time_order`` (or a state's ``game_status``) not
                an int, or an attribute that would hide a method or another
                attribute of the class (``to_bytes``, ``__init__``).
            TypeError: ``bytepack`` is not bytes-like.
        """
        if not isinstance(bytepack, (bytes, bytearray, memoryview)):
            raise TypeError(f"from_bytes() takes bytes, not {type(bytepack).__name__}")
        attributes = serializer.unpack(bytepack)
        _check_attributes(cls, attributes)
        received = object.__new__(cls)
        received.__dict__.update(attributes)
        return received

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self.__class__):
            return self.__dict__ == other.__dict__
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _TimeOrdered):
            return self.time_order < other.time_order
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, _TimeOrdered):
            return self.time_order > other.time_order
        return NotImplemented

    def __repr__(self) -> str:
        attributes = self.__dict__
        shown = [f"time_order={brief(attributes.get('time_order'))}"]
        if "game_status" in attributes and isinstance(self, GameState):
            shown.append(f"game_status={brief(attributes['game_status'])}")
        return f"<{type(self).__name__} {' '.join(shown)}; {_names(attributes)}>"


_NOT_SHOWN = frozenset(("time_order", "game_status"))


def _check_attributes(cls: type[_TimeOrdered], attributes: Any) -> None:
    """Raise MessageError unless ``attributes`` can be the ``__dict__`` of a ``cls``."""
    what = f"a packed {cls.__name__}"
    if type(attributes) is not dict:
        raise MessageError(f"not {what}: {brief(attributes)} is not a map")
    for name in attributes:
        if type(name) is not str:
            raise MessageError(f"not {what}: attribute name {brief(name)} is not a str")
        if name in _NOT_SHOWN:
            continue
        for owner in (cls, GameState):
            if _class_defines(owner, name):
                hidden = f"{owner.__name__}.{name}"
                raise MessageError(f"not {what}: an attribute would hide {hidden}")
    for name in cls._REQUIRED:
        if type(attributes.get(name)) is not int:
            raise MessageError(f"not {what}: {name} is {_given(attributes, name)}, not an int")
    if attributes["time_order"] < 0:
        raise MessageError(f"not {what}: time_order is {attributes['time_order']}, below 0")
    if "game_status" in attributes and type(attributes["game_status"]) is not int:
        given = _given(attributes, "game_status")
        raise MessageError(f"not {what}: game_status is {given}, not an int")


def _class_defines(cls: type, name: str) -> bool:
    """Whether ``cls`` or a class it derives from defines ``name``.

    Only these names hide an instance attribute; ``hasattr(cls, name)``
    would also find the metaclass's (``mro``), which an instance never sees.
    """
    return any(name in klass.__dict__ for klass in cls.__mro__)


def _given(attributes: dict[str, Any], name: str) -> str:
    return brief(attributes[name]) if name in attributes else "missing"


def _names(attributes: dict[str, Any]) -> str:
    """``'3 attributes: bar, foo, pos'``, at most ``_REPR_NAMES`` characters of names.

    ``time_order`` and ``game_status`` are left out. The keys are copied in
    one C call, so another thread that changes the dict meanwhile does no harm.
    """
    keys = list(attributes)
    count = len(keys) - len(_NOT_SHOWN.intersection(keys))
    if not count:
        return "no attributes"
    shown: list[str] = []
    length = 0
    names = (key for key in keys if key not in _NOT_SHOWN)
    for name in itertools.islice(names, _REPR_NAMES // 2):
        text = remote_text(name, _REPR_NAME) if type(name) is str else brief(name, _REPR_NAME)
        length += len(text) + 2
        if length > _REPR_NAMES:
            break
        shown.append(text)
    more = ", ..." if len(shown) < count else ""
    plural = "" if count == 1 else "s"
    return f"{count} attribute{plural}: {', '.join(shown)}{more}"


class GameState(_TimeOrdered):
    """The state of the game, kept the same on the server and its clients.

    The game's own attributes are given as keyword arguments or assigned
    later; they live in the instance ``__dict__``, as in PyGaSe. To cross the
    wire (:meth:`to_bytes`) they may hold ``str``, ``bytes``, ``int``,
    ``float``, ``bool``, ``None``, and lists, tuples and dicts of such;
    tuples come back as lists.

    Change a state by adding a :class:`GameStateUpdate`:
    ``state += update`` (or ``state + update``, which is the same) applies
    the update to ``state`` in place and gives ``state`` back, as PyGaSe
    does, so that every reference to the state sees the change.

    Args:
        time_order: How recent the state is, higher is more recent; an int
            >= 0. pygnetic's time_order never wraps (PyGaSe's wraps after
            65535).
        game_status: A :class:`GameStatus` value, by default
            :attr:`GameStatus.PAUSED`.
        **kwargs: The game's own attributes.

    Attributes:
        time_order (int): See the argument.
        game_status (int): See the argument.

    Raises:
        ValueError: ``time_order`` is not an int >= 0.
    """

    game_status: int

    _REQUIRED = ("time_order", "game_status")

    def __init__(
        self, time_order: int = 0, game_status: int = GameStatus.PAUSED, **kwargs: Any
    ) -> None:
        # PyGaSe's order: the game's attributes, then game_status, then time_order.
        self.__dict__.update(kwargs)
        self.game_status = game_status
        self.time_order = _checked_time_order(time_order)

    def is_paused(self) -> bool:
        """Return True if the game is paused (``game_status`` is :attr:`GameStatus.PAUSED`)."""
        return self.game_status == GameStatus.PAUSED


class GameStateUpdate(_TimeOrdered):
    """New values for some attributes of a :class:`GameState`, up to a ``time_order``.

    The server counts ``time_order`` up and labels its updates in that
    order. Each attribute of an update is the new value of the state's
    attribute of that name; :data:`TO_DELETE` deletes it. A dict merges into
    the dict the state holds, so ``GameStateUpdate(5, players={'ann': 3})``
    changes Ann's entry and leaves the other players alone.

    Adding updates combines them: ``update1 + update2`` is a new update with
    the larger ``time_order`` and both updates' changes, the newer one's
    where both change the same attribute or key (the left operand's when
    their ``time_order`` is equal, as in PyGaSe). Neither operand is changed,
    unlike PyGaSe, where ``+`` merges one operand into the other and returns
    it. :data:`TO_DELETE` is kept in the combination, to delete when the
    combination is applied. ``sum(updates)`` works too (``0 + update`` is
    ``update``).

    Adding an update to a state applies it (see :class:`GameState`) if the
    update is newer than the state, and changes nothing if not.

    Args:
        time_order: The time order the state reaches with this update; an
            int >= 0 that never wraps.
        **kwargs: The attributes to change, with their new values.

    Attributes:
        time_order (int): See the argument.

    Raises:
        ValueError: ``time_order`` is not an int >= 0.
    """

    def __init__(self, time_order: int, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)
        self.time_order = _checked_time_order(time_order)

    def __add__(self, other: GameStateUpdate) -> GameStateUpdate:
        if not isinstance(other, GameStateUpdate):
            return NotImplemented
        older, newer = (self, other) if other.time_order > self.time_order else (other, self)
        combined = object.__new__(type(self))
        _merge(combined.__dict__, older.__dict__, delete=False)
        _merge(combined.__dict__, newer.__dict__, delete=False)
        return combined

    @overload
    def __radd__(self, other: int) -> GameStateUpdate: ...

    @overload
    def __radd__(self, other: _StateT) -> _StateT: ...

    def __radd__(self, other: int | GameState) -> GameStateUpdate | GameState:
        if isinstance(other, GameState):
            if self.time_order > other.time_order:
                _merge(other.__dict__, self.__dict__, delete=True)
            return other
        if type(other) is int and other == 0:  # sum() starts from 0
            return self
        return NotImplemented


def _merge(target: dict[Any, Any], changes: Mapping[Any, Any], delete: bool) -> None:
    """Merge ``changes`` into ``target`` in place, as an update changes a state.

    For each key of ``changes``: a dict value merges into the dict ``target``
    holds under that key, recursively (into a new dict if ``target`` holds
    none there); any other value replaces ``target``'s. With ``delete``,
    :data:`TO_DELETE` removes the key from ``target`` if it is there, at any
    level, and is never stored; without it, the marker is stored like any
    value (which is how combined updates keep it). Dicts and lists are
    copied in, so ``target`` never shares one with ``changes``.

    Args:
        target: The attributes (a ``__dict__``) or nested dict to change.
        changes: The new values, an update's ``__dict__`` or a nested dict of it.
        delete: Whether :data:`TO_DELETE` deletes (applying to a state) or
            is kept (combining updates).
    """
    for key, value in changes.items():
        if delete and isinstance(value, bytes) and value == TO_DELETE:
            target.pop(key, None)
        elif isinstance(value, dict):
            nested = target.get(key)
            if not isinstance(nested, dict):
                nested = target[key] = {}
            _merge(nested, value, delete)
        else:
            target[key] = copy_tree(value)
