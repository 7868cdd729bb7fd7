"""Pure-Python stand-ins for pygame's Vector2, Vector3, Rect, FRect and Color.

Documented, and imported from, :mod:`pygnetic.wire_types`. Each is a small
mutable class with ``__slots__`` and pygame's attribute names; it compares
equal to the pygame value of the same components, and to a tuple or list of
them, as pygame's own types do.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["Color", "FRect", "Rect", "Vector2", "Vector3"]

_INT32 = range(-(2**31), 2**31)
_new = object.__new__
_BYTE = range(256)


def _real(value: Any) -> float:
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"a component must be a number, not {type(value).__name__}")
    return float(value)


def _int32(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"a component must be a number, not {type(value).__name__}")
    number = int(value)  # as pygame does, a float is truncated
    if number not in _INT32:
        raise OverflowError(f"rect component {number} does not fit in 32 bits")
    return number


def _byte(value: Any) -> int:
    number = operator.index(value)
    if number not in _BYTE:
        raise ValueError(f"color component {number} is outside 0..255")
    return number


class _Value:
    """What every stand-in shares: named components, compared and indexed as a tuple."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]]
    #: attrgetter of the components, in order; called with the value.
    _astuple: ClassVar[Any]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._astuple(self))

    def __len__(self) -> int:
        return len(self._fields)

    def __getitem__(self, index: Any) -> Any:
        return self._astuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if (
            type(other) is type(self)
            or isinstance(other, (tuple, list))
            or _is_pygame_twin(self, other)
        ):
            return self._astuple(self) == tuple(other)  # type: ignore[arg-type]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like pygame's own

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._astuple(self)))})"


def _is_pygame_twin(value: _Value, other: object) -> bool:
    kind = type(other)
    return kind.__name__ == type(value).__name__ and kind.__module__.startswith("pygame.")


def _unpack(args: tuple[Any, ...], size: int, kind: str) -> tuple[Any, ...]:
    """Accept ``(a, b, ...)``, ``((a, b, ...),)`` or, for rects, ``((x, y), (w, h))``."""
    if len(args) == 1 and not isinstance(args[0], (int, float)):
        args = tuple(args[0])
    elif len(args) == 2 and size == 4:
        args = (*args[0], *args[1])
    if len(args) != size:
        raise TypeError(f"{kind} takes {size} components, got {len(args)}")
    return args


class Vector2(_Value):
    """A 2-D vector, as ``pygame.Vector2``: ``Vector2(x, y)``, ``Vector2((x, y))``.

    ``Vector2()`` is ``(0.0, 0.0)`` and ``Vector2(3)`` is ``(3.0, 3.0)``, as in
    pygame. The components are floats; there is no arithmetic.
    """

    __slots__ = {"x": "The x component (a float).", "y": "The y component (a float)."}
    _fields = ("x", "y")
    _astuple = operator.attrgetter(*_fields)

    def __init__(self, x: float | Iterable[float] = 0.0, y: float | None = None) -> None:
        if y is None:
            x, y = (x, x) if isinstance(x, (int, float)) else _unpack((x,), 2, "Vector2")
        self.x = _real(x)
        self.y = _real(y)


class Vector3(_Value):
    """A 3-D vector, as ``pygame.Vector3``: ``Vector3(x, y, z)``, ``Vector3((x, y, z))``.

    ``Vector3()`` is all zeros and ``Vector3(3)`` is ``(3.0, 3.0, 3.0)``.
    """

    __slots__ = {
        "x": "The x component (a float).",
        "y": "The y component (a float).",
        "z": "The z component (a float).",
    }
    _fields = ("x", "y", "z")
    _astuple = operator.attrgetter(*_fields)

    def __init__(self, *args: Any) -> None:
        if not args:
            args = (0.0, 0.0, 0.0)
        elif len(args) == 1 and isinstance(args[0], (int, float)):
            args *= 3
        x, y, z = _unpack(args, 3, "Vector3")
        self.x = _real(x)
        self.y = _real(y)
        self.z = _real(z)


if TYPE_CHECKING:

    class _Edges:
        """What a static checker should know of the rects' slots."""

        x: Any
        y: Any
        w: Any
        h: Any

else:
    _Edges = object  # at run time, the slots of Rect and FRect


class _RectBase(_Value, _Edges):
    """The attributes Rect and FRect share: read ``x, y, w, h`` and what follows from them."""

    __slots__ = ()  # each subclass has x, y, w, h
    _fields = ("x", "y", "w", "h")
    _astuple = operator.attrgetter(*_fields)

    @property
    def left(self) -> Any:
        """``x``, settable."""
        return self.x

    @left.setter
    def left(self, value: Any) -> None:
        self.x = value

    @property
    def top(self) -> Any:
        """``y``, settable."""
        return self.y

    @top.setter
    def top(self, value: Any) -> None:
        self.y = value

    @property
    def width(self) -> Any:
        """``w``, settable."""
        return self.w

    @width.setter
    def width(self, value: Any) -> None:
        self.w = value

    @property
    def height(self) -> Any:
        """``h``, settable."""
        return self.h

    @height.setter
    def height(self, value: Any) -> None:
        self.h = value

    @property
    def right(self) -> Any:
        """``x + w``."""
        return self.x + self.w

    @property
    def bottom(self) -> Any:
        """``y + h``."""
        return self.y + self.h

    @property
    def size(self) -> tuple[Any, Any]:
        """``(w, h)``."""
        return self.w, self.h

    @property
    def topleft(self) -> tuple[Any, Any]:
        """``(x, y)``."""
        return self.x, self.y

    @property
    def bottomright(self) -> tuple[Any, Any]:
        """``(right, bottom)``."""
        return self.right, self.bottom

    @property
    def center(self) -> tuple[Any, Any]:
        """``(centerx, centery)``."""
        return self.centerx, self.centery

    @property
    def centerx(self) -> Any:
        """``x + w / 2``, halfway from ``x`` to ``right``."""
        return self.x + self.w / 2

    @property
    def centery(self) -> Any:
        """``y + h / 2``, halfway from ``y`` to ``bottom``."""
        return self.y + self.h / 2


class Rect(_RectBase):
    """An integer rectangle, as ``pygame.Rect``: ``Rect(x, y, w, h)``, ``Rect((x, y), (w, h))``.

    The components are ints of 32 bits (floats are truncated, as pygame does);
    the other attributes (``left``, ``top``, ``width``, ``height``, ``right``,
    ``bottom``, ``center``, ``size`` ...) are computed from them, and only the
    first four of those can be set. There are no methods such as ``move`` or
    ``colliderect``.
    """

    __slots__ = {
        "h": "The height, an int.",
        "w": "The width, an int.",
        "x": "The left edge, an int.",
        "y": "The top edge, an int.",
    }

    def __init__(self, *args: Any) -> None:
        x, y, w, h = map(_int32, _unpack(args, 4, "Rect"))
        self.x = x
        self.y = y
        self.w = w
        self.h = h

    @property
    def centerx(self) -> int:
        """``x + w // 2``, as pygame rounds it."""
        return self.x + self.w // 2  # type: ignore[no-any-return]

    @property
    def centery(self) -> int:
        """``y + h // 2``, as pygame rounds it."""
        return self.y + self.h // 2  # type: ignore[no-any-return]


class FRect(_RectBase):
    """A rectangle of floats, as pygame-ce's ``pygame.FRect``, with :class:`Rect`'s attributes.

    pygame (not pygame-ce) has no FRect, so there an FRect always arrives as
    this class.
    """

    __slots__ = {
        "h": "The height, a float.",
        "w": "The width, a float.",
        "x": "The left edge, a float.",
        "y": "The top edge, a float.",
    }

    def __init__(self, *args: Any) -> None:
        x, y, w, h = map(_real, _unpack(args, 4, "FRect"))
        self.x = x
        self.y = y
        self.w = w
        self.h = h


class Color(_Value):
    """An RGBA colour, as ``pygame.Color``: ``Color(r, g, b)`` or ``Color(r, g, b, a)``.

    Components are ints from 0 to 255; ``a`` defaults to 255. Colour names
    and hex strings are not understood here.
    """

    __slots__ = {
        "a": "Alpha (opacity), 0 to 255.",
        "b": "Blue, 0 to 255.",
        "g": "Green, 0 to 255.",
        "r": "Red, 0 to 255.",
    }
    _fields = ("r", "g", "b", "a")
    _astuple = operator.attrgetter(*_fields)

    def __init__(self, r: int | Iterable[int], g: int | None = None, b: int = 0, a: int = 255):
        if g is None:
            components = tuple(r)  # type: ignore[arg-type]
            if len(components) not in (3, 4):
                raise TypeError(f"Color takes 3 or 4 components, got {len(components)}")
            r, g, b, a = (*components, 255)[:4]
        self.r = _byte(r)
        self.g = _byte(g)
        self.b = _byte(b)
        self.a = _byte(a)


# Constructors from components already checked: a decoder's fast path, which
# skips __init__ and its conversions.


def _vector2(x: float, y: float) -> Vector2:
    value: Vector2 = _new(Vector2)
    value.x, value.y = x, y
    return value


def _vector3(x: float, y: float, z: float) -> Vector3:
    value: Vector3 = _new(Vector3)
    value.x, value.y, value.z = x, y, z
    return value


def _rect(x: int, y: int, w: int, h: int) -> Rect:
    value: Rect = _new(Rect)
    value.x, value.y, value.w, value.h = x, y, w, h
    return value


def _frect(x: float, y: float, w: float, h: float) -> FRect:
    value: FRect = _new(FRect)
    value.x, value.y, value.w, value.h = x, y, w, h
    return value


def _color(r: int, g: int, b: int, a: int) -> Color:
    value: Color = _new(Color)
    value.r, value.g, value.b, value.a = r, g, b, a
    return value


MAKERS: dict[type, Any] = {
    Vector2: _vector2,
    Vector3: _vector3,
    Rect: _rect,
    FRect: _frect,
    Color: _color,
}
