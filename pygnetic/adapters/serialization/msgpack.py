"""The msgpack serializer: compact binary encoding, the default.

``chat_msg('Tom', 'Test message')`` with type id 0 packs to the 19 bytes
``93 00 a3 'Tom' ac 'Test message'``. Decoding untrusted input is bounded: a
stream decoder never buffers more than ``max_message_size`` plus one read, and
msgpack's own length limits reject absurd declared sizes before allocating.
Map keys must be ``str`` or ``bytes`` (msgpack's ``strict_map_key``), which keeps
a hostile peer from flooding a dict with colliding integer or tuple keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from ...errors import MessageError, RemoteMessageTooLargeError

__all__ = ["MsgpackSerializer", "MsgpackStreamDecoder", "serializer"]

# Errors msgpack raises for bad input: its own (mostly ValueError subclasses),
# ValueError for limits and bad UTF-8, TypeError for unhashable map keys.
_DECODE_ERRORS = (msgpack.UnpackException, ValueError, TypeError)


def _undecodable(exc: Exception) -> MessageError:
    return MessageError(f"undecodable msgpack data ({type(exc).__name__}: {exc})")


class MsgpackStreamDecoder:
    """Decodes a msgpack byte stream fed in arbitrary slices."""

    __slots__ = ("_end", "_max", "_slice", "_unpacker")

    def __init__(self, max_message_size: int, read_slice: int = 65536) -> None:
        self._max = max_message_size
        # Feeding at most one slice at a time bounds the buffer at one partial
        # message plus one slice, so BufferFull only fires for oversized input.
        self._slice = min(read_slice, max_message_size)
        self._unpacker = msgpack.Unpacker(
            max_buffer_size=max_message_size + self._slice, strict_map_key=True
        )
        self._end = 0

    def feed(self, data: bytes, out: list[Any]) -> None:
        """Append every value that ``data`` completes to ``out``."""
        unpacker = self._unpacker
        step = self._slice
        for start in range(0, len(data), step):
            try:
                unpacker.feed(data[start : start + step] if len(data) > step else data)
            except msgpack.BufferFull:
                raise self._too_large() from None
            end = self._end
            try:
                for value in unpacker:
                    new_end = unpacker.tell()
                    if new_end - end > self._max:
                        raise self._too_large()
                    end = new_end
                    out.append(value)
            except MessageError:
                raise
            except _DECODE_ERRORS as exc:
                raise _undecodable(exc) from exc
            finally:
                self._end = end

    def _too_large(self) -> RemoteMessageTooLargeError:
        return RemoteMessageTooLargeError(
            f"message exceeds the {self._max} byte limit (max_message_size)"
        )


class MsgpackSerializer:
    """Packs with one reused :class:`msgpack.Packer`; unpacks with safe limits.

    Attributes:
        pack: Encode a value as msgpack bytes. It is the bound ``pack`` of a
            reused :class:`msgpack.Packer`, about twice as fast as
            :func:`msgpack.packb`; like everything in pygnetic, not thread-safe.
    """

    name = "msgpack"
    pack: Callable[[Any], bytes]

    def __init__(self) -> None:
        self.pack = msgpack.Packer().pack

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one msgpack value from ``data``."""
        try:
            return msgpack.unpackb(data, strict_map_key=True)
        except _DECODE_ERRORS as exc:
            raise _undecodable(exc) from exc

    def stream(self, max_message_size: int) -> MsgpackStreamDecoder:
        """Return a stream decoder with a ``max_message_size`` limit."""
        return MsgpackStreamDecoder(max_message_size)


#: The shared instance that ``load('msgpack')`` returns.
serializer = MsgpackSerializer()
