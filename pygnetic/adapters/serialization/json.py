"""The JSON serializer: one compact JSON array per line, readable in a capture.

Slower and larger than msgpack, but every message is plain text, so it is handy
while debugging. Bytes values cannot be sent; dictionary keys become strings
and tuples become lists, as JSON has it. Each packed message ends with a
newline, which frames messages on a byte stream.

With wire types (see :mod:`pygnetic.wire_types`), a value of a wire type is
the object ``{"$pygnetic": name, "v": [field, ...]}``, and every received
object with the key ``"$pygnetic"`` must be one: exactly those two keys, a
known name, and fields that fit the type. So no dict of yours may have the
key ``"$pygnetic"``: packing one raises :exc:`~pygnetic.errors.PackError`,
rather than it arriving as something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..._decoding import (
    MAX_CONTAINERS,
    MAX_DEPTH,
    brief,
    check_shape,
    check_shape_limits,
    nested_dicts,
)
from ...errors import MessageError, RemoteMessageTooLargeError
from ...wire_types import JSON_TAG as _TAG

if TYPE_CHECKING:
    from ...wire_types import WireType, WireTypes

__all__ = ["JsonSerializer", "JsonStreamDecoder", "serializer"]

# json raises ValueError (JSONDecodeError, UnicodeDecodeError) for bad text and
# RecursionError for arrays nested deeper than the interpreter's recursion limit.
_DECODE_ERRORS = (ValueError, RecursionError, MemoryError)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


def _decode(data: bytes | bytearray) -> Any:
    # UTF-8 and nothing else: json.loads() would guess UTF-16 or UTF-32 from
    # the first bytes, and the byte scans for escapes and tags below would
    # then find nothing. (json.loads decodes bytes itself all the same, and
    # would let UTF-8-encoded surrogates through.)
    return _loads(data.decode("utf-8"))


# The tag as a key in packed text (a user's dict with it, or a wire value),
# and as a string in received text.
_TAG_KEY_TEXT = f'"{_TAG}":'
_TAG_BYTES = f'"{_TAG}"'.encode()


class _Shape:
    """The shape limits of one serializer, applied to each decoded line."""

    __slots__ = ("max_containers", "max_depth", "shallow", "wire_names")

    def __init__(
        self, max_depth: int, max_containers: int, wire_names: Mapping[str, WireType] | None = None
    ) -> None:
        check_shape_limits(max_depth, max_containers)
        self.max_depth = max_depth
        self.max_containers = max_containers
        self.shallow = max_depth + 1  # no line this short nests deeper
        self.wire_names = wire_names

    def unpack(self, data: bytes | bytearray) -> Any:
        # Counting brackets bounds the containers before any is built; brackets
        # inside strings count too, which only errs on the safe side.
        if len(data) > self.max_containers and (
            data.count(b"[") + data.count(b"{") > self.max_containers
        ):
            raise MessageError(
                f"more than {self.max_containers} arrays and maps in one message (max_containers)"
            )
        try:
            value = _decode(data)
        except _DECODE_ERRORS as exc:
            raise MessageError(
                f"undecodable JSON data ({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc
        if len(data) > self.shallow:
            check_shape(value, self.max_depth, self.max_containers)
        # bytes.count() is the cheapest search: `in` costs about twice as much.
        escapes = data.count(b"\\u")
        if escapes:
            _check_encodable(value)
        # A tag, or an escape that may spell one.
        if self.wire_names is not None and (escapes or data.count(_TAG_BYTES)):
            value = _untag(value, self.wire_names)
        return value


def _untag(value: Any, names: Mapping[str, WireType]) -> Any:
    """Replace every tagged object in a decoded value by its wire type's value."""
    if type(value) is dict and _TAG in value:
        return _wire_value(value, names)
    if type(value) not in (list, dict):
        return value
    stack = [value]
    while stack:
        container = stack.pop()
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            kind = type(item)
            if kind is dict and _TAG in item:
                container[key] = _wire_value(item, names)  # same keys: iterating stays valid
            elif kind is dict or kind is list:
                stack.append(item)
    return value


def _wire_value(tagged: dict[str, Any], names: Mapping[str, WireType]) -> Any:
    if len(tagged) != 2 or "v" not in tagged:
        raise MessageError(f'a "{_TAG}" object must have two keys, "{_TAG}" and "v"')
    name = tagged[_TAG]
    wire = names.get(name) if type(name) is str else None
    if wire is None:
        raise MessageError(f"unknown wire type {brief(name)}")
    return wire.build(tagged["v"])


def _tag_default(types: WireTypes) -> Callable[[Any], Any]:
    """The encoder's ``default``: a wire type's value becomes its tagged object."""
    classes, find_class = types.classes, types.find_class

    def default(value: Any) -> Any:
        wire = classes.get(type(value)) or find_class(type(value))
        if wire is None:
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        return {_TAG: wire.name, "v": wire.fields(value)}

    return default


def _refuse_tag_keys(obj: Any) -> None:
    """Raise ValueError if a dict in ``obj`` has the tag as a key (it would arrive as a type)."""
    if any(_TAG in each for each in nested_dicts(obj)):
        raise ValueError(f"the dict key {_TAG!r} is kept for wire types by the json serializer")


def _check_encodable(value: Any) -> None:
    # An escape such as \ud800 decodes to a lone surrogate, which no UTF-8
    # text can hold: refused here, it cannot fail later when the value is
    # sent on or stored. Only messages with escapes pay for the check.
    try:
        _encode(value).encode()
    except UnicodeEncodeError:
        raise MessageError("undecodable JSON data (a lone surrogate in a string)") from None


class JsonStreamDecoder:
    """Splits a byte stream into lines and decodes each one."""

    __slots__ = ("_buffer", "_max", "_unpack")

    def __init__(self, max_message_size: int, shape: _Shape | None = None) -> None:
        self._max = max_message_size
        self._buffer = bytearray()
        self._unpack = (shape or _Shape(MAX_DEPTH, MAX_CONTAINERS)).unpack

    def feed(self, data: bytes, out: list[Any]) -> None:
        """Append every value that ``data`` completes to ``out``."""
        buffer = self._buffer
        start = len(buffer)
        buffer += data
        begin = 0
        newline = buffer.find(b"\n", start)
        try:
            while newline >= 0:
                if newline - begin > self._max:
                    raise self._too_large()
                out.append(self._unpack(buffer[begin:newline]))
                begin = newline + 1
                newline = buffer.find(b"\n", begin)
        finally:
            del buffer[:begin]
        if len(buffer) > self._max:
            raise self._too_large()

    def _too_large(self) -> RemoteMessageTooLargeError:
        return RemoteMessageTooLargeError(
            f"message exceeds the {self._max} byte limit (max_message_size)"
        )


class JsonSerializer:
    """Compact JSON, UTF-8 encoded, one value per line.

    Args:
        max_depth: Levels of arrays and objects a decoded message may nest
            inside its own array; deeper is a :exc:`~pygnetic.errors.MessageError`.
        max_containers: Arrays and objects one decoded message may hold, its
            own array included, counted as ``[`` and ``{`` characters (also
            those inside strings); more is a :exc:`~pygnetic.errors.MessageError`.
        wire_types: The types packed as tagged objects (see
            :mod:`pygnetic.wire_types`); None for none, as the shared
            :data:`serializer` has it. A message factory makes its own
            serializer with :meth:`with_wire_types`.
    """

    name = "json"

    def __init__(
        self,
        *,
        max_depth: int = MAX_DEPTH,
        max_containers: int = MAX_CONTAINERS,
        wire_types: WireTypes | None = None,
    ) -> None:
        names = wire_types.names if wire_types is not None else None
        self._shape = _Shape(max_depth, max_containers, names)
        self.max_depth = max_depth
        self.max_containers = max_containers
        #: The wire types this serializer packs and unpacks, or None.
        self.wire_types = wire_types
        if wire_types is not None:
            self._encode = json.JSONEncoder(
                separators=(",", ":"), ensure_ascii=False, default=_tag_default(wire_types)
            ).encode
            self.pack = self._pack_tagged  # type: ignore[method-assign]

    def with_wire_types(self, wire_types: WireTypes) -> JsonSerializer:
        """Return a serializer with these limits that packs ``wire_types`` as tagged objects."""
        return JsonSerializer(
            max_depth=self.max_depth, max_containers=self.max_containers, wire_types=wire_types
        )

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` as one line of JSON.

        Raises:
            ValueError: With wire types, a dict in ``obj`` has the key ``"$pygnetic"``.
        """
        return (_encode(obj) + "\n").encode()

    def _pack_tagged(self, obj: Any) -> bytes:
        # pack() with wire types. Keys are never escaped in the text, and a
        # quote inside a string always is, so '"$pygnetic":' is there only
        # where a dict of obj has that key or a wire value was packed.
        text = self._encode(obj)
        if _TAG_KEY_TEXT in text:
            _refuse_tag_keys(obj)
        return (text + "\n").encode()

    def packer(self) -> Callable[[Any], bytes]:
        """Return :meth:`pack` itself: the JSON encoder keeps no state between calls."""
        return self.pack

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one JSON value from ``data``, within the shape limits."""
        return self._shape.unpack(data)

    def stream(self, max_message_size: int) -> JsonStreamDecoder:
        """Return a stream decoder with a ``max_message_size`` limit and these shape limits."""
        return JsonStreamDecoder(max_message_size, self._shape)


#: The shared instance that ``load('json')`` returns.
serializer = JsonSerializer()
