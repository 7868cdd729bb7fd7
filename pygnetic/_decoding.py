"""Checking and describing what a peer sent, whatever it holds.

:func:`find_route` is the one check of a decoded ``[type_id, *fields]`` array;
:func:`check_shape` bounds how deep a decoded value nests and how many arrays
and maps it holds; :func:`brief` shows a received value in a reason without
trusting its size, depth or type. find_route's check runs once per received
message (written out in the connection's receive paths) and check_shape once
per message longer than ``MAX_DEPTH + 1`` bytes: keep them lean.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from .errors import MessageError
from .protocol import MAX_REASON_LENGTH

__all__ = [
    "MAX_CONTAINERS",
    "MAX_DEPTH",
    "brief",
    "check_shape",
    "check_shape_limits",
    "find_route",
    "nested_dicts",
    "remote_text",
]

#: Levels of arrays and maps a message may nest inside its own array, by default.
#: Deep enough for any game data, and far from Python's recursion limit (1000),
#: so ``print(message)``, ``copy.deepcopy`` or re-sending one never overflows.
MAX_DEPTH = 32
#: Arrays and maps one message may decode to, its own array included, by default.
#: Each costs 56 to 72 bytes however little it took on the wire (one byte for
#: ``[]``): this bounds what a message can make the receiver allocate.
MAX_CONTAINERS = 65536

_Route = TypeVar("_Route", bound=tuple[Any, ...])


def find_route(routes: Mapping[int, _Route], raw: Any) -> _Route | None:
    """Return the entry of ``routes`` for a decoded ``[type_id, *fields]`` array, or None.

    The one check of what a peer sent, used by :meth:`MessageFactory.from_raw`;
    a :class:`~pygnetic.connection.Connection`'s receive paths write the same
    check out, one call fewer per message, and a test holds them to this
    function. ``raw`` matches when
    it is a ``list`` whose first item is an ``int`` keying ``routes`` and whose
    length is the entry's second item. A ``bool`` or a ``float`` is never a type
    id, although ``False == 0.0 == 0`` for a dict.

    Args:
        routes: Type id to a tuple ``(message class, packed array length, ...)``;
            the items after those two are the caller's.
        raw: What the serializer decoded.
    """
    try:
        route = routes[type_id := raw[0]]
    except (KeyError, IndexError, TypeError):
        return None
    if type(type_id) is int and type(raw) is list and len(raw) == route[1]:
        return route
    return None


def check_shape_limits(max_depth: int, max_containers: int) -> None:
    """Raise ``ValueError`` unless both limits of a serializer are ints >= 1."""
    for name, value in (("max_depth", max_depth), ("max_containers", max_containers)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be an int >= 1, not {value!r}")


def check_shape(value: Any, max_depth: int, max_containers: int, spent: int = 0) -> None:
    """Raise :exc:`MessageError` if ``value`` nests too deep or holds too many containers.

    The value itself is level 0
    (a message's own array); its arrays and maps are level 1, and so on. A
    message whose fields hold no arrays or maps costs one C-level scan.
    ``spent`` is what already counts against ``max_containers``: the wire
    values decoded in it, which are not arrays or maps.
    """
    kind = type(value)
    if kind is list:
        if _CONTAINER_TYPES.isdisjoint(map(type, value)) and spent < max_containers:
            return
    elif kind is not dict:
        return
    level: list[Any] = [value]
    depth = 0
    count = spent
    while level:
        count += len(level)
        if count > max_containers:
            raise MessageError(
                f"more than {max_containers} arrays and maps in one message (max_containers)"
            )
        if depth > max_depth:
            raise MessageError(
                f"arrays or maps nested more than {max_depth} levels deep (max_depth)"
            )
        nested: list[Any] = []
        for container in level:
            items = container.values() if type(container) is dict else container
            if not _CONTAINER_TYPES.isdisjoint(map(type, items)):
                nested += itertools.compress(items, map(_is_container_type, map(type, items)))
        level = nested
        depth += 1


_CONTAINER_TYPES = frozenset((list, dict))
_is_container_type = _CONTAINER_TYPES.__contains__


def nested_dicts(value: Any) -> Iterator[dict[Any, Any]]:
    """Yield every dict in ``value``, itself included, through lists, tuples and dicts.

    For the checks a serializer makes of what it is about to pack (the keys
    a receiver would refuse); the value is the sender's own, not a peer's.
    """
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            yield container
            stack.extend(container.values())
        elif isinstance(container, (list, tuple)):
            stack.extend(container)


def brief(value: Any, limit: int = 60) -> str:
    """Return a short ``repr``-like text of ``value`` received from a peer, for a reason.

    At most ``limit`` characters, containers shown two levels deep and four
    items wide, whatever the size or depth of ``value``; it never calls the
    ``repr`` of a type other than the built-in scalars.
    """
    text = _brief(value, 2, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def remote_text(value: Any, limit: int = MAX_REASON_LENGTH) -> str:
    """Return a text a peer sent as a printable str of at most ``limit`` characters.

    A value that is not a ``str`` gives ``''``: a reason from the network is
    kept, logged and shown only as short, single-line text.
    """
    if type(value) is not str:
        return ""
    text = value[:limit]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "?" for char in text)
    return text


_BRACKETS: dict[type, str] = {list: "[]", tuple: "()", dict: "{}"}


def _brief(value: Any, depth: int, limit: int) -> str:
    kind = type(value)
    if kind in (str, bytes):
        return repr(value[:limit])
    if kind is int:
        return repr(value) if value.bit_length() <= 128 else f"<int of {value.bit_length()} bits>"
    if kind in (float, bool) or value is None:
        return repr(value)
    brackets = _BRACKETS.get(kind)
    if brackets is None:
        return f"<{kind.__name__}>"
    if not value:
        return brackets
    if depth == 0:
        return f"{brackets[0]}...{brackets[1]}"
    if kind is dict:
        shown = [
            f"{_brief(k, depth - 1, limit)}: {_brief(v, depth - 1, limit)}"
            for k, v in itertools.islice(value.items(), 4)
        ]
    else:
        shown = [_brief(item, depth - 1, limit) for item in itertools.islice(value, 4)]
    more = ", ..." if len(value) > 4 else ""
    return f"{brackets[0]}{', '.join(shown)}{more}{brackets[1]}"
