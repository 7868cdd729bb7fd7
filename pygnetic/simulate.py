"""A bad network on demand: delay, jitter, loss, duplication, reordering, a bandwidth cap.

Loopback never loses a packet, so a game tested on one machine never meets
the network its players have. Turn the simulator on for a whole game, with no
code change, through the environment::

    PYGNETIC_SIMULATE="latency=120ms jitter=30ms loss=5%" python mygame.py

or for one host: ``Client(simulate='latency=150ms loss=5%')``, or
``Server(simulate=Conditions(latency=0.15, loss=0.05))``. It applies to what
that host *sends*, on every connection and every transport; each host that
turns it on logs a warning when it starts, so that nobody ships with it on.

What each delivery mode meets (see :class:`~pygnetic.protocol.Delivery`):

* ``UNRELIABLE`` packets are delayed, jittered, lost and reordered, as UDP
  datagrams are. They are duplicated too, but a copy only costs bandwidth:
  ENet drops duplicates before the game sees them (measured through
  :class:`~pygnetic.testing.UdpProxy`), and so does the simulator.
* ``UNRELIABLE_SEQUENCED`` packets meet the same, and the simulator then
  keeps the mode's promise as ENet does: a packet that would arrive after a
  newer one of its channel is dropped (counted as :attr:`Stats.stale`).
* ``RELIABLE`` packets are never lost, duplicated or reordered: pygnetic's
  guarantee stands. Each simulated loss instead delays the packet by the
  retransmission timeout a real transport would wait (:func:`retransmission_timeout`),
  doubling with each further loss of the same packet, and later reliable
  packets of its channel wait behind it, as they do over ENet.
* Over a byte stream (TCP) every packet is reliable whatever was asked, as
  TCP itself makes it, and a delayed packet holds up every later one.

The simulator sits between a connection and its transport link: no adapter
and no game code changes for it. Only the sending side is simulated; what
arrives is delivered as the transport delivers it. ENet's own pings would
pass beside the simulator, so a simulated connection pings with pygnetic's
own, whatever the transport: its
:attr:`~pygnetic.connection.Connection.round_trip_time` then shows what the
game feels, the simulated delays of both sides included (the first sample
comes a quarter of ``timeout`` after the connect).
"""

from __future__ import annotations

import dataclasses
import difflib
import heapq
import random
from dataclasses import dataclass
from typing import Any

from ._conditions_text import PARSERS
from .protocol import Delivery

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "MAX_QUEUE_DELAY",
    "MAX_RETRANSMISSIONS",
    "MIN_RETRANSMISSION_TIMEOUT",
    "REORDER_HOLD",
    "Conditions",
    "Lane",
    "Simulator",
    "Stats",
    "retransmission_timeout",
]

#: The environment variable that turns the simulator on for every host that
#: does not say ``simulate=False``.
ENVIRONMENT_VARIABLE = "PYGNETIC_SIMULATE"

#: How much longer a reordered packet is held back, at least (seconds): long
#: enough for a packet sent one frame later to overtake it.
REORDER_HOLD = 0.05
#: Shortest retransmission timeouts (seconds). TCP's is Linux's minimum RTO;
#: ENet has none of its own, and waits about a round trip plus a service.
MIN_RETRANSMISSION_TIMEOUT = {True: 0.2, False: 0.03}
#: Losses of one reliable packet in a row, at most: ``loss=100%`` stays finite.
MAX_RETRANSMISSIONS = 8
#: How long an unreliable packet may wait for a capped link, in seconds; one
#: that would wait longer is dropped, as a full router queue drops it.
MAX_QUEUE_DELAY = 0.25

_RELIABLE = Delivery.RELIABLE
_SEQUENCED = Delivery.UNRELIABLE_SEQUENCED


@dataclass(frozen=True)
class Conditions:
    """The network to simulate, for what one host sends.

    Build one directly (times in seconds, shares as fractions) or from text
    with :meth:`parse`. ``str()`` gives the text form back.
    """

    #: Seconds added to every packet, one way.
    latency: float = 0.0
    #: Each packet's delay varies by up to this many seconds either way.
    jitter: float = 0.0
    #: Share of unreliable packets lost (0 to 1); for reliable ones, the share
    #: of sends that cost a retransmission delay.
    loss: float = 0.0
    #: Share of unreliable packets sent twice. Through a proxy the copy
    #: arrives; in a host, ENet would drop it, so it only costs bandwidth.
    duplicate: float = 0.0
    #: Share of unreliable packets held back so that later ones overtake them.
    reorder: float = 0.0
    #: Bytes per second each connection may send, or None for no cap.
    bandwidth: float | None = None
    #: Seed of the random choices: the same seed, the same choices.
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("latency", "jitter"):
            _check(name, getattr(self, name), 0.0, 3600.0, "seconds")
        for name in ("loss", "duplicate", "reorder"):
            _check(name, getattr(self, name), 0.0, 1.0, "a share from 0 to 1")
        if self.bandwidth is not None:
            _check("bandwidth", self.bandwidth, 1.0, 1e12, "bytes per second")
        if self.seed is not None and type(self.seed) is not int:
            raise ValueError(f"seed must be an int, not {self.seed!r}")

    @classmethod
    def parse(cls, text: str) -> Conditions:
        """Read conditions from text such as ``"latency=120ms jitter=30ms loss=5%"``.

        Items are ``name=value``, separated by spaces or commas. Times take
        ``ms`` or ``s``; shares a percentage (``5%``) or a fraction
        (``0.05``); ``bandwidth`` a rate such as ``256kbit``, ``2mbit`` or
        ``64KB/s``; ``seed`` an integer.

        Raises:
            ValueError: an item is malformed, unknown or out of range; the
                message says which and what is accepted.
        """
        values: dict[str, Any] = {}
        names = [field.name for field in dataclasses.fields(cls)]
        for item in text.replace(",", " ").split():
            name, equals, value = item.partition("=")
            if not equals or not value:
                raise ValueError(f"{item!r} is not name=value (for example latency=120ms)")
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ValueError(f"unknown condition {name!r}{hint} (known: {', '.join(names)})")
            if name in values:
                raise ValueError(f"{name} is given twice")
            values[name] = PARSERS[name](name, value)
        return cls(**values)

    @property
    def active(self) -> bool:
        """True when the conditions change anything at all."""
        return bool(
            self.latency or self.jitter or self.loss or self.duplicate or self.reorder
        ) or (self.bandwidth is not None)

    def __str__(self) -> str:
        parts = [
            f"{name}={_milliseconds(value)}"
            for name, value in (("latency", self.latency), ("jitter", self.jitter))
            if value
        ]
        parts += [
            f"{name}={value * 100:g}%"
            for name, value in (
                ("loss", self.loss),
                ("duplicate", self.duplicate),
                ("reorder", self.reorder),
            )
            if value
        ]
        if self.bandwidth is not None:
            parts.append(f"bandwidth={self.bandwidth / 1000:g}KB/s")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return " ".join(parts) or "no change"


def _check(name: str, value: object, low: float, high: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be {unit} from {low:g} to {high:g}, not {value!r}")


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


@dataclass
class Stats:
    """What a simulator did, counted in packets since it started."""

    #: Packets handed to the simulator.
    sent: int = 0
    #: Packets handed on to the transport, copies that reach it included.
    delivered: int = 0
    #: Unreliable packets lost.
    dropped: int = 0
    #: Extra copies of unreliable packets (over ENet they cost bandwidth and
    #: are dropped as ENet drops a duplicate: the game never sees them).
    duplicated: int = 0
    #: Unreliable packets held back so that later ones could overtake them.
    reordered: int = 0
    #: Sequenced packets dropped because a newer one of their channel went first.
    stale: int = 0
    #: Simulated losses of reliable packets, each paid for with a retransmission delay.
    retransmitted: int = 0
    #: Unreliable packets dropped because the bandwidth cap kept them too long.
    overflowed: int = 0
    #: Packets given a delay greater than zero.
    delayed: int = 0
    #: Sum of every packet's delay, in seconds.
    total_delay: float = 0.0

    @property
    def mean_delay(self) -> float:
        """Mean delay of the packets that were not lost, in seconds."""
        scheduled = self.sent - self.dropped - self.overflowed
        return self.total_delay / scheduled if scheduled > 0 else 0.0


def retransmission_timeout(conditions: Conditions, stream: bool) -> float:
    """Seconds a real transport waits before it resends a lost packet.

    A round trip (``2 * latency``, both directions assumed alike) plus four
    jitters, as ENet and TCP estimate it, but at least
    :data:`MIN_RETRANSMISSION_TIMEOUT`.
    """
    estimate = 2 * conditions.latency + 4 * conditions.jitter
    return max(MIN_RETRANSMISSION_TIMEOUT[stream], estimate)


class Lane:
    """What the simulator remembers of one link: order, sequence numbers, the cap."""

    __slots__ = (
        "fifo_due", "free_at", "ordered_due", "released", "sequence", "stream", "transport_dedupes"
    )  # fmt: skip

    def __init__(self, stream: bool, transport_dedupes: bool = False) -> None:
        self.stream = stream
        #: True when a transport below would drop a duplicate before the game
        #: sees it, as ENet does (and TCP, which never duplicates): the copy
        #: then only costs its bandwidth. False for a proxy's datagrams.
        self.transport_dedupes = transport_dedupes
        #: When the link's capped bandwidth is free for the next packet.
        self.free_at = 0.0
        #: When the last packet sent arrives, had it not been lost or reordered.
        self.fifo_due = 0.0
        #: By channel (one key for a stream): when the last ordered packet leaves.
        self.ordered_due: dict[int, float] = {}
        #: By channel: the last sequence number sent, and the last released.
        self.sequence: dict[int, int] = {}
        self.released: dict[int, int] = {}

    def fresh(self, channel: int, number: int) -> bool:
        """Whether sequenced packet ``number`` of ``channel`` is newer than any released."""
        if number <= self.released.get(channel, 0):
            return False
        self.released[channel] = number
        return True


#: One scheduled packet: (when, order, link, data, channel, delivery, sequence number or 0).
Entry = tuple[float, int, Any, bytes, int, Delivery, int]


class Simulator:
    """The random choices and the schedule of one host's simulated sends.

    Sans-I/O: :meth:`schedule` decides when each packet leaves (or that it
    never does), :meth:`due` hands back the packets whose time has come. A
    host's transports share its simulator, its seed and its :attr:`stats`.

    Args:
        conditions: What to simulate; may be replaced while running.
    """

    def __init__(self, conditions: Conditions) -> None:
        self.conditions = conditions
        self.stats = Stats()
        self._random = random.Random(conditions.seed)
        self._queue: list[Entry] = []
        self._order = 0

    def __repr__(self) -> str:
        return f"<Simulator {self.conditions}>"

    @property
    def next_due(self) -> float | None:
        """When the next packet is due to leave, or None when none waits."""
        return self._queue[0][0] if self._queue else None

    def schedule(
        self, lane: Lane, link: Any, data: bytes, channel: int, delivery: Delivery, now: float
    ) -> int:
        """Decide the fate of one packet sent now; returns how many copies will leave."""
        conditions = self.conditions
        stats = self.stats
        stats.sent += 1
        chance = self._random.random
        reliable = lane.stream or delivery is _RELIABLE
        start = now
        if conditions.bandwidth is not None:
            start = max(now, lane.free_at)
            if not reliable and start - now > MAX_QUEUE_DELAY:
                stats.overflowed += 1
                return 0
            lane.free_at = start + len(data) / conditions.bandwidth
            start = lane.free_at
        if not reliable and conditions.loss and chance() < conditions.loss:
            stats.dropped += 1
            return 0
        # Jitter varies the delay but keeps the order, as a queue on the route
        # does: packets overtake one another only by ``reorder``.
        due = lane.fifo_due = max(start + self._delay(conditions), lane.fifo_due)
        if reliable:
            due = self._reliable_due(lane, channel, due, conditions)
        number = 0
        if delivery is _SEQUENCED and not lane.stream:
            number = lane.sequence[channel] = lane.sequence.get(channel, 0) + 1
        copies = 1
        if not reliable:
            if conditions.reorder and chance() < conditions.reorder:
                stats.reordered += 1
                due += max(REORDER_HOLD, 2 * conditions.jitter)
            if conditions.duplicate and chance() < conditions.duplicate:
                stats.duplicated += 1
                if lane.transport_dedupes:
                    if conditions.bandwidth is not None:
                        lane.free_at += len(data) / conditions.bandwidth
                else:
                    copies = 2
                    self._push(due, link, data, channel, delivery, number)
        self._push(due, link, data, channel, delivery, number)
        if due > now:
            stats.delayed += 1
            stats.total_delay += due - now
        return copies

    def _delay(self, conditions: Conditions) -> float:
        jitter = conditions.jitter
        if not jitter:
            return conditions.latency
        return max(0.0, conditions.latency + self._random.uniform(-jitter, jitter))

    def _reliable_due(self, lane: Lane, channel: int, due: float, conditions: Conditions) -> float:
        """Add retransmission delays for simulated losses, and keep reliable order."""
        if conditions.loss:
            timeout = retransmission_timeout(conditions, lane.stream)
            losses = 0
            while losses < MAX_RETRANSMISSIONS and self._random.random() < conditions.loss:
                due += timeout * (1 << losses)
                losses += 1
            self.stats.retransmitted += losses
        key = 0 if lane.stream else channel
        due = max(due, lane.ordered_due.get(key, 0.0))
        lane.ordered_due[key] = due
        return due

    def _push(self, due: float, link: Any, data: bytes, channel: int, delivery: Delivery,
              number: int) -> None:  # fmt: skip
        self._order += 1
        heapq.heappush(self._queue, (due, self._order, link, data, channel, delivery, number))

    def due(self, now: float) -> list[Entry]:
        """Take the packets due by ``now``, oldest first."""
        queue = self._queue
        taken: list[Entry] = []
        while queue and queue[0][0] <= now:
            taken.append(heapq.heappop(queue))
        return taken

    def take_all(self) -> list[Entry]:
        """Take every packet still waiting, oldest first (a host is closing)."""
        taken = sorted(self._queue)
        self._queue.clear()
        return taken
