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

from ...errors import MessageError, RemoteMessageTooLargeError

__all__ = ["JsonSerializer", "JsonStreamDecoder", "serializer"]

# json raises ValueError (JSONDecodeError, UnicodeDecodeError) for bad text and
# RecursionError for deeply nested arrays from a hostile peer.
_DECODE_ERRORS = (ValueError, RecursionError)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode = json.loads


def _unpack(data: bytes | bytearray) -> Any:
    try:
        return _decode(data)
    except _DECODE_ERRORS as exc:
        raise MessageError(f"undecodable JSON data ({type(exc).__name__}: {exc})") from exc


class JsonStreamDecoder:
    """Splits a byte stream into lines and decodes each one."""

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_message_size: int) -> None:
        self._max = max_message_size
        self._buffer = bytearray()

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
                out.append(_unpack(buffer[begin:newline]))
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
    """Compact JSON, UTF-8 encoded, one value per line."""

    name = "json"

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` as one line of JSON."""
        return (_encode(obj) + "\n").encode()

    def packer(self) -> Callable[[Any], bytes]:
        """Return :meth:`pack` itself: the JSON encoder keeps no state between calls."""
        return self.pack

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one JSON value from ``data``."""
        return _unpack(data)

    def stream(self, max_message_size: int) -> JsonStreamDecoder:
        """Return a stream decoder with a ``max_message_size`` limit."""
        return JsonStreamDecoder(max_message_size)


#: The shared instance that ``load('json')`` returns.
serializer = JsonSerializer()
