"""Smooth motion from sparse updates: draw replicated state as it was a moment ago.

A server that sends its state 20 times a second gives a client at 60 fps a
new position only every third frame; drawn as it arrives, everything moves
in jerks. An :class:`Interpolator` keeps the last few states it was given
(snapshots) and answers, every frame, with the state as it was ``delay``
seconds ago, blended between the two snapshots around that moment::

    from pygnetic.interpolate import Interpolator

    states = Interpolator(delay=0.1)

    class Game(pygnetic.Handler):
        def net_state(self, message, **kwargs):
            states.push(message.players)  # timed by states' clock as it arrives

    while running:
        client.update()
        for player in states.sample().values():
            screen.blit(sprite, (player["x"], player["y"]))

The price is the delay: what is drawn is ``delay`` seconds old. It should be
at least one update interval, better two (0.1 s at 20 Hz, the default), so
that a late or lost update still finds a snapshot after the moment drawn.

How values blend, the rule of :func:`lerp`:

* numbers (``int`` and ``float``, not ``bool``) linearly; an int that
  changes becomes a float in between (``round()`` it where an int is
  needed), one that does not change stays the same int;
* objects with a ``lerp`` method, such as ``pygame.Vector2``,
  ``pygame.Vector3`` and ``pygame.Color``, with that method, when both
  values are of the same type (pygame is never imported here);
* tuples and lists of numbers of the same length, element by element;
* dicts key by key, nested to any depth. A key in the newer snapshot only
  appears with its value; a key in the older one only is left out: the
  newer snapshot says what exists;
* anything else (strings, bools, None, values whose types differ) steps:
  the older snapshot's value until the newer one's time, then the newer one's.

Before the first snapshot's time a sample is the first snapshot; after the
last one's, the last snapshot: nothing is extrapolated, so a stalled stream
freezes the picture rather than guessing where things went.

Every sample builds its result anew and visits every value, so keep in the
pushed state what is drawn, not everything the game knows.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Interpolator", "lerp"]

#: The exact types that take the fast path of :func:`lerp` (bool is not one).
_NUMBER_TYPES = frozenset({int, float})
#: Types a copy keeps as they are without looking further (the common leaves).
_KEPT_TYPES = frozenset({int, float, str, bool, type(None), tuple})


def lerp(a: Any, b: Any, t: float) -> Any:
    """Blend ``a`` (at ``t = 0``) and ``b`` (at ``t = 1``), by the rule in the module docs.

    Numbers, tuples and lists of numbers take ``a + (b - a) * t``; a value
    with a ``lerp`` method takes ``a.lerp(b, t)`` when ``b`` is of the same
    type; dicts blend key by key, with the keys of ``b``. Anything else is
    ``a`` while ``t < 1`` and ``b`` from ``t = 1`` on.

    ``t`` is not clamped: outside 0 to 1 numbers extrapolate (pygame's
    ``lerp`` methods refuse such a ``t``). :meth:`Interpolator.sample` only
    passes a ``t`` between 0 and 1.

    Every dict and list in the result is new; other values not blended are
    ``a``'s or ``b``'s own objects.

    Args:
        a: The older value.
        b: The newer value.
        t: How far from ``a`` towards ``b``.

    Returns:
        The blended value.
    """
    if type(a) in _NUMBER_TYPES and type(b) in _NUMBER_TYPES:
        return b if a == b else a + (b - a) * t
    if isinstance(a, dict) and isinstance(b, dict):
        return _lerp_dict(a, b, t)
    return _lerp_other(a, b, t)


def _lerp_dict(a: dict[Any, Any], b: dict[Any, Any], t: float) -> dict[Any, Any]:
    # The hot path: floats and nested dicts without a call to lerp() each.
    result: dict[Any, Any] = {}
    for key, new in b.items():
        try:
            old = a[key]
        except KeyError:
            result[key] = _copied(new)
            continue
        kind = type(new)
        if kind is float and type(old) is float:
            result[key] = new if old == new else old + (new - old) * t
        elif kind is dict and type(old) is dict:
            result[key] = _lerp_dict(old, new, t)
        else:
            result[key] = lerp(old, new, t)
    return result


def _lerp_other(a: Any, b: Any, t: float) -> Any:
    if _is_number(a) and _is_number(b):
        return b if a == b else a + (b - a) * t
    kind = type(a)
    if kind is type(b):
        method = getattr(a, "lerp", None)
        if callable(method):
            return method(b, t)
        if (kind is tuple or kind is list) and _numbers_alike(a, b):
            return kind(y if x == y else x + (y - x) * t for x, y in zip(a, b, strict=True))
    return _copied(a if t < 1 else b)


def _numbers_alike(a: tuple[Any, ...] | list[Any], b: tuple[Any, ...] | list[Any]) -> bool:
    """Whether ``a`` and ``b`` hold numbers only, as many each."""
    return len(a) == len(b) and all(map(_is_number, a)) and all(map(_is_number, b))


def _is_number(value: object) -> bool:
    """Whether ``value`` blends as a number: an int or float, not a bool or an enum member."""
    return isinstance(value, (int, float)) and not isinstance(value, (bool, enum.Enum))


def _copied(value: Any) -> Any:
    """A copy of every dict and list level of ``value``; other values are kept as they are."""
    if isinstance(value, dict):
        return _copied_dict(value)
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def _copied_dict(values: Mapping[Any, Any]) -> dict[Any, Any]:
    result = dict(values)
    for key, value in result.items():  # replacing values, not keys, while iterating is safe
        if type(value) not in _KEPT_TYPES and isinstance(value, (dict, list)):
            result[key] = _copied(value)
    return result


class Interpolator:
    """Snapshots of replicated values, sampled as they were ``delay`` seconds ago.

    :meth:`push` each state as it arrives, :meth:`sample` once a frame. Both
    take their time from ``clock`` unless given one, so pushed and sampled
    times must be on the same clock (pass the server's time to both, or to
    neither).

    Snapshots are kept in the order they were pushed, never sorted: one older
    than the newest is dropped as out of order, and one at the same time as
    the newest replaces it. Sampling forgets the snapshots older than the two
    it blends, so sample times are expected to move forward; a sample at an
    earlier time after that gets the oldest snapshot still kept. At most
    ``max_snapshots`` are kept in any case (the oldest go first), which bounds
    memory when nothing samples, as while a window is minimised; keep it
    above ``delay`` times the update rate, plus two.

    :meth:`push` copies each dict and list level of what it is given, so the
    caller may change its own dicts afterwards. Other values are kept as
    they are: push a copy of a mutable one that the game changes in place
    (``position.copy()`` for a ``pygame.Vector2``); values decoded from a
    message are new objects each time already.

    Not thread-safe: push and sample from the same thread.

    Args:
        delay: How far in the past :meth:`sample` looks, in seconds (0 or more).
            May be changed later through :attr:`delay`.
        clock: The time source, in seconds; ``time.monotonic`` by default.
            Tests pass one they drive, such as
            :class:`~pygnetic.testing.ManualClock`.
        max_snapshots: How many snapshots to keep at most (2 or more).

    Raises:
        ValueError: ``delay`` is negative or ``max_snapshots`` below 2.
    """

    __slots__ = ("_clock", "_delay", "_snapshots")

    def __init__(
        self,
        delay: float = 0.1,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_snapshots: int = 64,
    ) -> None:
        if max_snapshots < 2:
            raise ValueError(f"max_snapshots must be 2 or more, not {max_snapshots!r}")
        self.delay = delay
        self._clock = clock
        self._snapshots: deque[tuple[float, dict[Any, Any]]] = deque(maxlen=max_snapshots)

    def __repr__(self) -> str:
        return f"<Interpolator delay={self._delay:g}s snapshots={len(self._snapshots)}>"

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def delay(self) -> float:
        """How far in the past :meth:`sample` looks, in seconds.

        Raises:
            ValueError: when set to a negative number (or NaN).
        """
        return self._delay

    @delay.setter
    def delay(self, delay: float) -> None:
        if not delay >= 0:
            raise ValueError(f"delay must be 0 seconds or more, not {delay!r}")
        self._delay = delay

    @property
    def latest(self) -> dict[Any, Any] | None:
        """A copy of the newest snapshot's values, or None before the first push."""
        if not self._snapshots:
            return None
        return _copied_dict(self._snapshots[-1][1])

    def push(self, values: Mapping[Any, Any], time: float | None = None) -> None:
        """Record a snapshot of ``values`` as they were at ``time``.

        Args:
            values: The replicated state; nested dicts are blended key by key.
                Copied (each dict and list level), so it may change afterwards.
            time: When the values held, in seconds on the clock's timeline;
                ``clock()`` by default (the time they arrived). A snapshot
                older than the newest one is dropped; one at the same time
                replaces it.
        """
        if time is None:
            time = self._clock()
        snapshots = self._snapshots
        if snapshots:
            newest = snapshots[-1][0]
            if not time >= newest:  # older, or NaN
                return
            if time == newest:
                snapshots.pop()
        snapshots.append((time, _copied_dict(values)))

    def sample(self, now: float | None = None) -> dict[Any, Any]:
        """The values as they were at ``now - delay``, blended by :func:`lerp`.

        Args:
            now: The time now, in seconds; ``clock()`` by default.

        Returns:
            The blend of the two snapshots around ``now - delay``, new at
            every dict and list level; the first snapshot before the first
            one's time, the last after the last one's (no extrapolation);
            ``{}`` when no snapshot was pushed.
        """
        snapshots = self._snapshots
        if not snapshots:
            return {}
        moment = (self._clock() if now is None else now) - self._delay
        while len(snapshots) > 1 and snapshots[1][0] <= moment:
            snapshots.popleft()
        old_time, old = snapshots[0]
        if moment <= old_time or len(snapshots) == 1:
            return _copied_dict(old)
        new_time, new = snapshots[1]
        return _lerp_dict(old, new, (moment - old_time) / (new_time - old_time))

    def clear(self) -> None:
        """Forget every snapshot: the next sample is ``{}`` until a push."""
        self._snapshots.clear()
