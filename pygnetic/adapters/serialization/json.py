"""The JSON serializer: one compact JSON array per line, readable in a capture.

Slower and larger than msgpack, but every message is plain text, so it is handy
while debugging. Bytes values cannot be sent; dictionary keys become strings
and tuples become lists, as JSON has it. Each packed message ends with a
newline, which frames messages on a byte stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..._decoding import MAX_CONTAINERS, MAX_DEPTH, check_shape, check_shape_limits
from ...errors import MessageError, RemoteMessageTooLargeError

__all__ = ["JsonSerializer", "JsonStreamDecoder", "serializer"]

# json raises ValueError (JSONDecodeError, UnicodeDecodeError) for bad text and
# RecursionError for arrays nested deeper than the interpreter's recursion limit.
_DECODE_ERRORS = (ValueError, RecursionError, MemoryError)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode = json.loads


class _Shape:
    """The shape limits of one serializer, applied to each decoded line."""

    __slots__ = ("max_containers", "max_depth", "shallow")

    def __init__(self, max_depth: int, max_containers: int) -> None:
        check_shape_limits(max_depth, max_containers)
        self.max_depth = max_depth
        self.max_containers = max_containers
        self.shallow = max_depth + 1  # no line this short nests deeper

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
        if b"\\u" in data:
            _check_encodable(value)
        return value


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
    """

    name = "json"

    def __init__(
        self, *, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS
    ) -> None:
        self._shape = _Shape(max_depth, max_containers)
        self.max_depth = max_depth
        self.max_containers = max_containers

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` as one line of JSON."""
        return (_encode(obj) + "\n").encode()

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
