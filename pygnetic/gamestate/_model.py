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
after changing only its imports.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Final, overload

__all__ = ["TO_DELETE", "GameStatus"]

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
