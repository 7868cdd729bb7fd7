"""The msgpack serializer: compact binary encoding, the default.

``chat_msg('Tom', 'Test message')`` with type id 0 packs to the 19 bytes
``93 00 a3 'Tom' ac 'Test message'``. Decoding untrusted input is bounded: a
stream decoder never buffers more than ``max_message_size`` plus one read, and
msgpack's own length limits reject absurd declared sizes before allocating.
Map keys may be ``str``, ``bytes``, ``int``, ``float``, ``bool`` or ``None``
(``{player_id: score}`` works). Other keys, such as msgpack timestamps, are
refused: their hashes are not randomised and a hostile peer could choose many
that collide, making one dict cost seconds to build. For the allowed types at
most a handful of 64-bit values ever share a hash.
"""

from __future__ import annotations

import functools
import threading
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


# Key types whose hashes a peer cannot make collide in bulk (see the module docstring).
_SAFE_KEYS = frozenset({str, bytes, int, float, bool, type(None)})


def _checked_map(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    for key, _ in pairs:
        if type(key) not in _SAFE_KEYS:
            raise ValueError(f"map key of type {type(key).__name__} is not allowed")
    return dict(pairs)


# Options for every decode; the hook runs only for maps, so messages without
# dicts pay nothing for it.
_DECODE_OPTIONS: dict[str, Any] = {"strict_map_key": False, "object_pairs_hook": _checked_map}
_unpackb = functools.partial(msgpack.unpackb, **_DECODE_OPTIONS)
_unpackb_string_keys = msgpack.unpackb


class MsgpackStreamDecoder:
    """Decodes a msgpack byte stream fed in arbitrary slices."""

    __slots__ = ("_end", "_max", "_slice", "_unpacker")

    def __init__(self, max_message_size: int, read_slice: int = 65536) -> None:
        self._max = max_message_size
        # Feeding at most one slice at a time bounds the buffer at one partial
        # message plus one slice, so BufferFull only fires for oversized input.
        self._slice = min(read_slice, max_message_size)
        self._unpacker = msgpack.Unpacker(
            max_buffer_size=max_message_size + self._slice, **_DECODE_OPTIONS
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
    """Packs with reused :class:`msgpack.Packer` objects; unpacks with safe limits.

    A reused ``Packer`` is about twice as fast as :func:`msgpack.packb`, but
    it holds a buffer and must not pack two values at once. :meth:`pack` uses
    one ``Packer`` per thread; :meth:`packer` hands out a new one, which is how
    each thread's message factory gets its own.
    """

    name = "msgpack"

    def __init__(self) -> None:
        self._local = threading.local()

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` as msgpack bytes, with this thread's ``Packer``."""
        try:
            pack: Callable[[Any], bytes] = self._local.pack
        except AttributeError:
            pack = self._local.pack = self.packer()
        return pack(obj)

    def packer(self) -> Callable[[Any], bytes]:
        """Return the bound ``pack`` of a new :class:`msgpack.Packer`, for one thread."""
        return msgpack.Packer().pack  # type: ignore[no-any-return]

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one msgpack value from ``data``."""
        try:
            # Fast path: msgpack's defaults (string keys only) parse no options,
            # which saves about a third of the cost of decoding a small message.
            return _unpackb_string_keys(data)
        except _DECODE_ERRORS:
            pass  # other dict keys, or bad data: the full decoder says which
        try:
            return _unpackb(data)
        except _DECODE_ERRORS as exc:
            raise _undecodable(exc) from exc

    def stream(self, max_message_size: int) -> MsgpackStreamDecoder:
        """Return a stream decoder with a ``max_message_size`` limit."""
        return MsgpackStreamDecoder(max_message_size)


#: The shared instance that ``load('msgpack')`` returns.
serializer = MsgpackSerializer()
