"""The msgpack serializer: compact binary encoding, the default.

``chat_msg('Tom', 'Test message')`` with type id 0 packs to the 19 bytes
``93 00 a3 'Tom' ac 'Test message'``. Decoding untrusted input is bounded: a
stream decoder never buffers more than ``max_message_size`` plus one read, and
msgpack's own length limits reject absurd declared sizes before allocating;
a message may nest at most ``max_depth`` levels (32) and hold at most
``max_containers`` arrays and maps (65536), whole or still arriving.
Map keys may be ``str``, ``bytes``, ``int``, ``float``, ``bool`` or ``None``
(``{player_id: score}`` works). Other keys, such as msgpack timestamps, are
refused: their hashes are not randomised and a hostile peer could choose many
that collide, making one dict cost seconds to build. For the allowed types at
most a handful of 64-bit values ever share a hash.

With wire types (see :mod:`pygnetic.wire_types`), each value of a wire type
is one msgpack extension: its code, and a payload laid out as the type's
``format`` says. An extension of another code, or whose payload does not fit
its type, is refused; each one counts against ``max_containers``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack

from ..._decoding import (
    MAX_CONTAINERS,
    MAX_DEPTH,
    check_shape,
    check_shape_limits,
    nested_dicts,
)
from ...errors import MessageError, RemoteMessageTooLargeError
from ...wire_types import GAME_CODES

if TYPE_CHECKING:
    from ...wire_types import WireTypes

__all__ = ["MsgpackSerializer", "MsgpackStreamDecoder", "serializer"]

# Errors msgpack raises for bad input: its own (mostly ValueError subclasses),
# ValueError for limits and bad UTF-8, TypeError for unhashable map keys, and
# MemoryError when a declared length asks for more than the machine has.
_DECODE_ERRORS = (msgpack.UnpackException, ValueError, TypeError, MemoryError)


def _undecodable(exc: Exception) -> MessageError:
    if isinstance(exc, (_TooManyContainers, MessageError)):
        return MessageError(str(exc))
    return MessageError(f"undecodable msgpack data ({type(exc).__name__}: {str(exc)[:200]})")


# Key types whose hashes a peer cannot make collide in bulk (see the module docstring).
_SAFE_KEYS = frozenset({str, bytes, int, float, bool, type(None)})


def _refuse_wire_keys(obj: Any) -> None:
    """Raise TypeError if a dict in ``obj`` has a key that receivers refuse (a wire type)."""
    for each in nested_dicts(obj):
        for key in each:
            if type(key) not in _SAFE_KEYS:
                raise TypeError(
                    f"a {type(key).__name__} cannot be a dict key in a message: "
                    "receivers take str, bytes, int, float, bool and None keys only"
                )


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
_ExtType = msgpack.ExtType
_new_tuple = tuple.__new__

ExtHook = Callable[[int, bytes], Any]


def _ext_hook(types: WireTypes) -> ExtHook:
    """The ``ext_hook`` that turns each extension into its wire type's value."""
    decoders = types.decoders

    def ext_hook(code: int, payload: bytes) -> Any:
        decode = decoders.get(code)
        if decode is None:
            raise MessageError(f"msgpack extension of unknown type code {code}")
        return decode(payload)

    return ext_hook


def _ext_default(types: WireTypes, used: list[bool] | None = None) -> Callable[[Any], Any]:
    """The Packer's ``default``: a wire type's value becomes its extension.

    With ``used``, each call sets ``used[0]``: the packer then looks for a
    value of a game's type used as a dict key, which receivers refuse.
    """
    classes, find_class = types.classes, types.find_class

    def default(value: Any) -> Any:
        wire = classes.get(type(value)) or find_class(type(value))
        if wire is None:
            if isinstance(value, int):  # msgpack asks about ints beyond 64 bits too
                raise OverflowError("Integer value out of range")
            raise TypeError(f"can not serialize {type(value).__name__!r} object")
        if used is not None:
            used[0] = True
        # ExtType validates what it is given; the code and the payload are right already.
        return _new_tuple(_ExtType, (wire.code, wire.encode(value)))

    return default


class _TooManyContainers(ValueError):
    pass


class _ContainerBudget:
    """Counts arrays and maps as msgpack completes them, and stops a message of too many.

    msgpack calls the hooks below as each container completes, so a message
    of millions of empty arrays is refused after ``limit`` of them, before it
    has cost more than ``limit`` small objects.
    """

    __slots__ = ("ext_hook", "left", "limit")

    def __init__(self, limit: int, ext_hook: ExtHook | None = None) -> None:
        self.limit = self.left = limit
        self.ext_hook = ext_hook

    def on_list(self, value: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise self.exceeded()
        return value

    def on_map(self, pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        self.left -= 1
        if self.left < 0:
            raise self.exceeded()
        return _checked_map(pairs)

    def on_ext(self, code: int, payload: bytes) -> Any:
        self.left -= 1
        if self.left < 0:
            raise self.exceeded()
        return self.ext_hook(code, payload)  # type: ignore[misc]

    def options(self) -> dict[str, Any]:
        """The decode options that count with this budget."""
        options = {
            "strict_map_key": False,
            "list_hook": self.on_list,
            "object_pairs_hook": self.on_map,
        }
        if self.ext_hook is not None:
            options["ext_hook"] = self.on_ext
        return options

    def exceeded(self) -> _TooManyContainers:
        return _TooManyContainers(
            f"more than {self.limit} arrays and maps in one message (max_containers)"
        )


class MsgpackStreamDecoder:
    """Decodes a msgpack byte stream fed in arbitrary slices.

    What a message that has not ended yet may cost is bounded as for a whole
    one: ``max_message_size`` bytes, and ``max_containers`` arrays and maps.
    Counting containers as they are built costs a Python call per array, so
    the decoder starts without it and keeps the bytes of an unfinished
    message; only once one is longer than ``max_containers`` bytes (and so
    might hold more) does it decode them again, counting, from then on.
    """

    __slots__ = (
        "_base",
        "_budget",
        "_end",
        "_fed",
        "_max",
        "_max_depth",
        "_shallow",
        "_slice",
        "_tail",
        "_unpacker",
    )

    def __init__(
        self,
        max_message_size: int,
        read_slice: int = 65536,
        *,
        max_depth: int = MAX_DEPTH,
        max_containers: int = MAX_CONTAINERS,
        ext_hook: ExtHook | None = None,
    ) -> None:
        self._max = max_message_size
        self._max_depth = max_depth
        # A message is checked when it could nest too deep or be too large.
        self._shallow = min(max_depth + 1, max_message_size)
        # Feeding at most one slice at a time bounds the buffer at one partial
        # message plus one slice, so BufferFull only fires for oversized input.
        self._slice = min(read_slice, max_message_size)
        self._budget = _ContainerBudget(max_containers, ext_hook)
        options = dict(_DECODE_OPTIONS)
        if ext_hook is not None:  # counted, so that check_shape() counts them too
            options["ext_hook"] = self._budget.on_ext
        self._unpacker = msgpack.Unpacker(
            max_buffer_size=max_message_size + self._slice, **options
        )
        self._end = 0  # stream offset where the last whole message ended
        self._fed = 0  # stream offset of the end of what was fed
        self._base = 0  # stream offset of the unpacker's first byte
        #: The unfinished message's bytes while not counting; None once counting.
        self._tail: list[bytes] | None = []

    def feed(self, data: bytes, out: list[Any]) -> None:
        """Append every value that ``data`` completes to ``out``."""
        start, size = 0, len(data)
        while start < size:
            # Never past the byte that makes an unfinished message too large,
            # so the fault found is the first in the stream however it is cut.
            room = self._max + 1 - (self._fed - self._end)
            end = start + min(self._slice, room, size - start)
            chunk = data if end - start == size else data[start:end]
            start = end
            try:
                self._unpacker.feed(chunk)
            except msgpack.BufferFull:
                raise self._too_large() from None
            self._fed += len(chunk)
            self._decode(out)
            pending = self._fed - self._end
            if pending:
                self._unfinished(chunk, pending)
            elif self._tail:
                self._tail = []

    def _unfinished(self, chunk: bytes, pending: int) -> None:
        # msgpack drops the bytes of a message it has partly built, so its
        # buffer limit alone cannot see a message that never ends.
        if pending > self._max:
            raise self._too_large()
        tail = self._tail
        if tail is None:
            return  # counting already
        if pending <= len(chunk):  # the message began in this chunk
            tail[:] = [chunk[len(chunk) - pending :]]
        else:
            tail.append(chunk)
        if pending > self._budget.limit:
            self._count_from_now_on(b"".join(tail))

    def _count_from_now_on(self, unfinished: bytes) -> None:
        """Decode the unfinished message again, counting its containers, and all that follow."""
        self._tail = None
        budget = self._budget
        budget.left = budget.limit  # what the unfinished message spent is spent again
        self._unpacker = msgpack.Unpacker(
            max_buffer_size=self._max + self._slice, **budget.options()
        )
        self._base = self._end
        self._unpacker.feed(unfinished)
        self._decode([])  # it was unfinished, so nothing completes

    def _decode(self, out: list[Any]) -> None:
        unpacker = self._unpacker
        base = self._base
        end = self._end
        shallow = self._shallow
        budget = self._budget
        limit = budget.limit
        counting = self._tail is None
        try:
            if counting or budget.ext_hook is None:
                for value in unpacker:
                    if counting:  # the budget counted containers and wire values
                        budget.left = limit
                    new_end = base + unpacker.tell()
                    size, end = new_end - end, new_end
                    if size > shallow:
                        self._check_shape(value, size, 0)
                    out.append(value)
            else:
                # Not counting containers, with wire types: only the ext_hook
                # spends the budget, and check_shape() adds the containers.
                for value in unpacker:
                    spent = limit - budget.left
                    new_end = base + unpacker.tell()
                    size, end = new_end - end, new_end
                    if spent:
                        budget.left = limit
                        self._check_shape(value, size, spent)
                    elif size > shallow:
                        self._check_shape(value, size, 0)
                    out.append(value)
        except MessageError:
            raise
        except _DECODE_ERRORS as exc:
            raise _undecodable(exc) from exc
        finally:
            self._end = end

    def _check_shape(self, value: Any, size: int, spent: int) -> None:
        if size > self._max:
            raise self._too_large()
        if size <= self._max_depth + 1 and not spent:
            return  # no message this short nests deeper
        check_shape(value, self._max_depth, self._budget.limit, spent)

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

    Args:
        max_depth: Levels of arrays and maps a decoded message may nest
            inside its own array; deeper is a :exc:`~pygnetic.errors.MessageError`.
        max_containers: Arrays and maps one decoded message may hold, its
            own array included; more is a :exc:`~pygnetic.errors.MessageError`.
        wire_types: The types packed as extensions (see
            :mod:`pygnetic.wire_types`); None for none, as the shared
            :data:`serializer` has it. A message factory makes its own
            serializer with :meth:`with_wire_types`.
    """

    name = "msgpack"

    def __init__(
        self,
        *,
        max_depth: int = MAX_DEPTH,
        max_containers: int = MAX_CONTAINERS,
        wire_types: WireTypes | None = None,
    ) -> None:
        check_shape_limits(max_depth, max_containers)
        self.max_depth = max_depth
        self.max_containers = max_containers
        self._shallow = max_depth + 1
        self._local = threading.local()
        #: The wire types this serializer packs and unpacks, or None.
        self.wire_types = wire_types
        self._ext_hook = _ext_hook(wire_types) if wire_types is not None else None
        self._default = _ext_default(wire_types) if wire_types is not None else None
        if wire_types is not None:
            self.unpack = self._unpack_extensions  # type: ignore[method-assign]

    def with_wire_types(self, wire_types: WireTypes) -> MsgpackSerializer:
        """Return a serializer with these limits that packs ``wire_types`` as extensions."""
        return MsgpackSerializer(
            max_depth=self.max_depth, max_containers=self.max_containers, wire_types=wire_types
        )

    def pack(self, obj: Any) -> bytes:
        """Encode ``obj`` as msgpack bytes, with this thread's ``Packer``."""
        try:
            pack: Callable[[Any], bytes] = self._local.pack
        except AttributeError:
            pack = self._local.pack = self.packer()
        return pack(obj)

    def packer(self) -> Callable[[Any], bytes]:
        """Return the bound ``pack`` of a new :class:`msgpack.Packer`, for one thread.

        With a game's own wire types, which may be hashable, a message that
        packed one is also checked for one used as a dict key: the receiver
        would refuse it, so the sender is told instead.
        """
        types = self.wire_types
        if types is None or not any(wire.code in GAME_CODES for wire in types):
            return msgpack.Packer(default=self._default).pack  # type: ignore[no-any-return]
        used = [False]
        pack = msgpack.Packer(default=_ext_default(types, used)).pack

        def pack_checked(obj: Any) -> bytes:
            used[0] = False
            data: bytes = pack(obj)
            if used[0]:
                _refuse_wire_keys(obj)
            return data

        return pack_checked

    def unpack(self, data: bytes) -> Any:
        """Decode exactly one msgpack value from ``data``, within the shape limits."""
        # Every container takes at least one byte, so only data longer than
        # max_containers needs counting while it decodes, and only data longer
        # than max_depth + 1 can nest too deep.
        size = len(data)
        if size > self.max_containers:
            value = self._counted(data)
        else:
            try:
                # msgpack's defaults (string keys only) parse no options, which
                # saves about a third of the cost of decoding a small message.
                value = _unpackb_string_keys(data)
            except _DECODE_ERRORS:
                value = self._any_keys(data)  # or bad data: the full decoder says which
        if size > self._shallow:
            check_shape(value, self.max_depth, self.max_containers)
        return value

    def _unpack_extensions(self, data: bytes) -> Any:
        # unpack() with wire types. msgpack takes ext_hook most cheaply as a
        # keyword given straight to unpackb (options through a partial would
        # cost a third of a small message's decode); no scan of the bytes
        # for extensions costs less than the keyword does.
        size = len(data)
        if size > self.max_containers:
            value = self._counted(data)
        else:
            try:
                value = _unpackb_string_keys(data, ext_hook=self._ext_hook)
            except _DECODE_ERRORS:
                value = self._any_keys(data)
        if size > self._shallow:
            check_shape(value, self.max_depth, self.max_containers)
        return value

    def _any_keys(self, data: bytes) -> Any:
        try:
            if self._ext_hook is None:
                return _unpackb(data)
            return _unpackb(data, ext_hook=self._ext_hook)
        except _DECODE_ERRORS as exc:
            raise _undecodable(exc) from exc

    def _counted(self, data: bytes) -> Any:
        budget = _ContainerBudget(self.max_containers, self._ext_hook)
        try:
            return msgpack.unpackb(data, **budget.options())
        except _DECODE_ERRORS as exc:
            raise _undecodable(exc) from exc

    def stream(self, max_message_size: int) -> MsgpackStreamDecoder:
        """Return a stream decoder with a ``max_message_size`` limit and these shape limits."""
        return MsgpackStreamDecoder(
            max_message_size,
            max_depth=self.max_depth,
            max_containers=self.max_containers,
            ext_hook=self._ext_hook,
        )


#: The shared instance that ``load('msgpack')`` returns.
serializer = MsgpackSerializer()
