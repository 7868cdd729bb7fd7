"""Wire types: how each one is found, packed and rebuilt; the table of one message factory.

Documented, and imported from, :mod:`pygnetic.wire_types`.
"""

from __future__ import annotations

import operator
import struct
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgpack

from ..errors import MessageError, RegistryError
from ._standins import MAKERS, Color, FRect, Rect, Vector2, Vector3

__all__ = ["GAME_CODES", "JSON_TAG", "MAX_FIELDS", "PYGNETIC_CODES", "WireType", "WireTypes"]

#: Extension codes for a game's own types (:meth:`WireTypes.register`).
GAME_CODES = range(64)
#: Extension codes pygnetic keeps for itself: the pygame types are 64 to 68.
PYGNETIC_CODES = range(64, 128)
#: The key that marks a wire value in the json serializer: ``{"$pygnetic": name, "v": fields}``.
JSON_TAG = "$pygnetic"
#: Most fields one value of a game's own type may have.
MAX_FIELDS = 64

# The field values of a game's type: what every peer decodes without surprises.
_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
# Classes the serializers pack natively, so that a default hook never sees them.
_NATIVE = (tuple, list, dict, str, bytes, bytearray, memoryview, int, float, type(None))
_DECODE_ERRORS = (msgpack.UnpackException, ValueError, TypeError, MemoryError)


class WireType:
    """One type that travels as a field value: its code, its name, how it comes apart.

    Made by :meth:`WireTypes.register` (and by pygnetic for the pygame
    types); the serializers call its methods.

    Attributes:
        cls: The class packed as this type.
        code: Its msgpack extension code.
        name: Its name, in the json form and in the registry hash.
    """

    __slots__ = ("_from_fields", "_to_fields", "cls", "code", "name")

    def __init__(
        self,
        cls: type,
        code: int,
        name: str,
        to_fields: Callable[[Any], Any],
        from_fields: Callable[..., Any],
    ) -> None:
        self.cls = cls
        self.code = code
        self.name = name
        self._to_fields = to_fields
        self._from_fields = from_fields

    def __repr__(self) -> str:
        return f"<WireType {self.name} code {self.code}>"

    @property
    def format(self) -> str:
        """How the msgpack payload is laid out, as the registry hash records it."""
        return "array"

    def fields(self, value: Any) -> list[Any]:
        """Return ``value``'s fields as the json form carries them.

        Raises:
            TypeError: ``to_fields`` did not give a tuple or list of at most
                :data:`MAX_FIELDS` scalars (None, bool, int, float, str, bytes).
        """
        fields = self._to_fields(value)
        if type(fields) not in (tuple, list) or len(fields) > MAX_FIELDS:
            raise TypeError(f"{self.name}: to_fields must give a tuple of at most 64 fields")
        if not _SCALARS.issuperset(map(type, fields)):
            raise TypeError(f"{self.name}: fields must be None, bool, int, float, str or bytes")
        return list(fields)

    def build(self, fields: Any) -> Any:
        """Return the value that a peer's ``fields`` (a decoded array) stand for.

        Raises:
            MessageError: They are not an array of scalars, or ``from_fields``
                raised for them.
        """
        if (
            type(fields) is not list
            or len(fields) > MAX_FIELDS
            or not _SCALARS.issuperset(map(type, fields))
        ):
            raise MessageError(f"{self.name}: fields must be an array of at most 64 scalars")
        try:
            return self._from_fields(*fields)
        except Exception as exc:  # the peer's fields, whatever the game's code makes of them
            raise MessageError(
                f"{self.name}: fields refused ({type(exc).__name__}: {str(exc)[:100]})"
            ) from exc

    def encode(self, value: Any) -> bytes:
        """Return the msgpack extension payload of ``value``: its fields as a msgpack array."""
        return msgpack.packb(self.fields(value))  # type: ignore[no-any-return]

    def decode(self, payload: bytes) -> Any:
        """Return the value a msgpack extension payload stands for.

        Raises:
            MessageError: It is not a msgpack array of scalars, or as :meth:`build`.
        """
        try:
            fields = msgpack.unpackb(
                payload,
                list_hook=_OneArray().check,
                object_pairs_hook=_no_map,
                max_array_len=MAX_FIELDS,
                max_map_len=0,
                max_ext_len=0,
            )
        except _DECODE_ERRORS as exc:
            raise MessageError(
                f"{self.name}: undecodable fields ({type(exc).__name__}: {str(exc)[:100]})"
            ) from exc
        return self.build(fields)


class _OneArray:
    """A list_hook that lets one array complete: the fields, never arrays within them."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False

    def check(self, value: list[Any]) -> list[Any]:
        if self.seen:
            raise ValueError("fields must be scalars, not arrays")
        self.seen = True
        return value


def _no_map(pairs: Any) -> Any:
    raise ValueError("fields must be scalars, not maps")


class _PygameType(WireType):
    """A pygame type: components packed with :mod:`struct`, rebuilt as pygame's or a stand-in."""

    __slots__ = ("_components", "_format", "_make", "_pack", "_seen", "_size", "_unpack")

    def __init__(self, standin: type, code: int, layout: str) -> None:
        packer = struct.Struct(">" + layout)
        super().__init__(standin, code, standin.__name__, tuple, standin)
        self._format = layout
        self._pack = packer.pack
        self._unpack = packer.unpack
        self._size = packer.size
        self._components = operator.attrgetter(*standin._fields)  # type: ignore[attr-defined]
        self._make = MAKERS[standin]
        #: (the pygame module last seen or None, what builds a value then), replaced whole.
        self._seen: tuple[Any, Callable[..., Any]] = (None, self._make)

    @property
    def format(self) -> str:
        """The :mod:`struct` layout of the payload, big-endian: ``'dd'`` for Vector2."""
        return self._format

    def fields(self, value: Any) -> list[Any]:
        """Return the components as the msgpack form would carry them (ints become floats)."""
        return list(self._unpack(self.encode(value)))

    def encode(self, value: Any) -> bytes:
        """Return the components packed big-endian (see :attr:`format`).

        Raises:
            ValueError: A component does not fit (a Color component of 300).
        """
        try:
            return self._pack(*self._components(value))  # type: ignore[no-any-return]
        except struct.error as exc:
            raise ValueError(f"{self.name} {value!r:.80}: {exc}") from None

    def decode(self, payload: bytes) -> Any:
        """Return pygame's value (or the stand-in) for a payload of exactly :attr:`format`."""
        try:
            components = self._unpack(payload)
        except struct.error:  # only for a wrong length: every bit pattern is a value
            raise MessageError(
                f"{self.name} extension of {len(payload)} bytes, expected {self._size}"
            ) from None
        module, make = self._seen
        if _modules.get("pygame") is not module:
            make = self._target()
        return make(*components)

    def _target(self) -> Callable[..., Any]:
        """What builds a value now: pygame's class if the program imported pygame, else ours."""
        module = _modules.get("pygame")
        make = _pygame_class(self.name) or self._make
        # While pygame is still being imported, its classes may not all be there yet.
        if not getattr(getattr(module, "__spec__", None), "_initializing", False):
            self._seen = (module, make)
        return make

    def build(self, fields: Any) -> Any:
        """Return the value of json fields: exactly the components, numbers of their kind."""
        if type(fields) is not list or len(fields) != len(self._format):
            raise MessageError(f"{self.name} needs an array of {len(self._format)} components")
        if bool in map(type, fields):
            raise MessageError(f"{self.name} components must be numbers")
        try:
            payload = self._pack(*fields)
        except (struct.error, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"{self.name} components refused ({str(exc)[:100]})") from None
        return self.decode(payload)


_modules = sys.modules


def _pygame_class(name: str) -> type | None:
    """Return pygame's class ``name`` if the program has imported pygame; never import it."""
    cls = getattr(_modules.get("pygame"), name, None)
    return cls if isinstance(cls, type) else None


#: The pygame types, in code order; each code is in PYGNETIC_CODES.
_PYGAME_TYPES = (
    _PygameType(Vector2, 64, "dd"),
    _PygameType(Vector3, 65, "ddd"),
    _PygameType(Rect, 66, "iiii"),
    _PygameType(FRect, 67, "dddd"),
    _PygameType(Color, 68, "BBBB"),
)
_RESERVED_NAMES = frozenset(wire.name for wire in _PYGAME_TYPES)


def _is_pygame_type(cls: type) -> bool:
    """Whether ``cls`` is a stand-in or pygame's class of the same name."""
    if any(wire.cls is cls for wire in _PYGAME_TYPES):
        return True
    return cls.__name__ in _RESERVED_NAMES and cls.__module__.startswith("pygame.")


class WireTypes:
    """The types one message factory packs as field values, by class, code and name.

    Each :class:`~pygnetic.message.MessageFactory` has one, as its
    ``wire_types``; register types with :meth:`MessageFactory.register_type()
    <pygnetic.message.MessageFactory.register_type>`. A serializer that
    supports wire types gets it through ``with_wire_types()``.

    Args:
        pygame_types: Whether pygame's Vector2, Vector3, Rect, FRect and
            Color are among them.
    """

    def __init__(self, pygame_types: bool = True) -> None:
        self._codes: dict[int, WireType] = {}
        self._decoders: dict[int, Callable[[bytes], Any]] = {}
        self._names: dict[str, WireType] = {}
        self._by_class: dict[type, WireType] = {}
        self._frozen = False
        self._pygame = False
        self.pygame_types = pygame_types

    @property
    def codes(self) -> Mapping[int, WireType]:
        """The active types by extension code; a live view, not to be changed."""
        return self._codes

    @property
    def classes(self) -> Mapping[type, WireType]:
        """The types by class, as :meth:`find` has met them; a live view, not to be changed."""
        return self._by_class

    @property
    def decoders(self) -> Mapping[int, Callable[[bytes], Any]]:
        """Each active type's :meth:`WireType.decode` by code; a live view, not to be changed."""
        return self._decoders

    @property
    def names(self) -> Mapping[str, WireType]:
        """The active types by name; a live view, not to be changed."""
        return self._names

    def __iter__(self) -> Iterator[WireType]:
        return iter(sorted(self._codes.values(), key=operator.attrgetter("code")))

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def pygame_types(self) -> bool:
        """Whether the pygame types are on; settable until :meth:`freeze`."""
        return self._pygame

    @pygame_types.setter
    def pygame_types(self, value: bool) -> None:
        self._check_open("change pygame_types")
        self._pygame = bool(value)
        for wire in _PYGAME_TYPES:
            if self._pygame:
                self._codes[wire.code] = self._names[wire.name] = wire
                self._decoders[wire.code] = wire.decode
            else:
                self._codes.pop(wire.code, None)
                self._names.pop(wire.name, None)
                self._decoders.pop(wire.code, None)
        self._by_class.clear()  # the serializers hold it: emptied, not replaced
        self._by_class.update((wire.cls, wire) for wire in self._codes.values())

    def register(
        self,
        cls: type,
        code: int,
        to_fields: Callable[[Any], Any] = tuple,
        from_fields: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
    ) -> WireType:
        """Add a game's own type; see :meth:`MessageFactory.register_type()
        <pygnetic.message.MessageFactory.register_type>`, which calls this.

        Raises:
            RegistryError: Frozen, or a bad or taken class, code or name.
        """  # noqa: D205
        self._check_open(f"register {cls!r}")
        name = getattr(cls, "__name__", "") if name is None else name
        self._check_class(cls)
        if type(code) is not int or code not in GAME_CODES:
            raise RegistryError(
                f"wire type code must be an int from 0 to 63 (64 to 127 are pygnetic's), "
                f"not {code!r}"
            )
        if code in self._codes:
            raise RegistryError(f"wire type code {code} is taken by {self._codes[code].name}")
        if not isinstance(name, str) or not name.isidentifier() or len(name) > 64:
            raise RegistryError(f"wire type name {name!r} must be an identifier of 64 at most")
        if name in self._names or name in _RESERVED_NAMES:
            raise RegistryError(f"wire type name {name!r} is taken")
        if not callable(to_fields) or not (from_fields is None or callable(from_fields)):
            raise RegistryError("to_fields and from_fields must be callables")
        wire = WireType(cls, code, name, to_fields, cls if from_fields is None else from_fields)
        self._codes[code] = self._names[name] = self._by_class[cls] = wire
        self._decoders[code] = wire.decode
        return wire

    def _check_class(self, cls: Any) -> None:
        if not isinstance(cls, type):
            raise RegistryError(f"a wire type must be a class, not {cls!r}")
        native = next((base for base in cls.__mro__ if base in _NATIVE), None)
        if native is not None or cls is msgpack.Timestamp:
            raise RegistryError(
                f"{cls.__name__} values already pack as {(native or cls).__name__}: "
                "register a class that is not a subclass of a built-in type"
            )
        if any(wire.cls is cls for wire in self._codes.values()) or _is_pygame_type(cls):
            raise RegistryError(f"{cls.__name__} is a wire type already")

    def _check_open(self, doing: str) -> None:
        if self._frozen:
            raise RegistryError(
                f"cannot {doing}: the message factory is frozen because a connection "
                "already uses it; register every wire type before connecting"
            )

    def freeze(self) -> None:
        """Forbid changes from now on (the factory freezes it with itself)."""
        self._frozen = True

    def find(self, value: Any) -> WireType | None:
        """Return the type that ``value`` travels as, or None: the serializers' pack hook."""
        return self.find_class(type(value))

    def find_class(self, cls: type) -> WireType | None:
        """Return the type that instances of ``cls`` travel as (pygame's, a subclass'), or None."""
        wire = self._by_class.get(cls)
        if wire is None:
            for base in cls.__mro__[:-1]:
                wire = self._by_class.get(base) or self._pygame_type(base)
                if wire is not None:
                    self._by_class[cls] = wire
                    break
        return wire

    def _pygame_type(self, cls: type) -> WireType | None:
        if not (self._pygame and cls.__module__.startswith("pygame.")):
            return None
        wire = self._names.get(cls.__name__)
        return wire if wire is not None and _pygame_class(wire.name) is cls else None

    def digest_items(self) -> list[list[Any]]:
        """Return ``[code, name, format]`` of each type, in code order, for the registry hash."""
        return [[wire.code, wire.name, wire.format] for wire in self]
