"""The simulator's place: a transport and links that wrap the real ones.

A :class:`SimulatedTransport` stands where the host expects its transport and
is the real transport's listener. Each real link is handed to the host inside
a :class:`SimulatedLink`, whose ``send`` goes to the host's
:class:`~pygnetic.simulate.Simulator`; packets reach the real link when they
are due, during ``poll()`` or ``flush()``. What arrives is untouched: the
wrapper's ``receiver`` is the real link's, so the receive path costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .protocol import Delivery
from .simulate import ENVIRONMENT_VARIABLE, Conditions, Lane, Simulator

__all__ = ["SimulatedLink", "SimulatedTransport", "simulator_for"]

log = logging.getLogger("pygnetic")

Simulate = Conditions | str | bool | None


def simulator_for(simulate: Simulate, who: str) -> Simulator | None:
    """The simulator a host asked for with ``simulate=``, or None.

    None means the environment variable decides; False means off whatever it
    says. A simulator that changes nothing is not made. Turning one on logs a
    warning, so that nobody ships a game with it on.
    """
    if simulate is False:
        return None
    source = "simulate="
    if simulate is None:
        text = os.environ.get(ENVIRONMENT_VARIABLE, "")
        if not text.strip():
            return None
        source = ENVIRONMENT_VARIABLE
        try:
            conditions = Conditions.parse(text)
        except ValueError as exc:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: {exc}") from None
    elif isinstance(simulate, str):
        conditions = Conditions.parse(simulate)
    elif isinstance(simulate, Conditions):
        conditions = simulate
    else:
        raise TypeError(
            "simulate takes Conditions, text such as 'latency=120ms loss=5%', None (the "
            f"{ENVIRONMENT_VARIABLE} environment variable decides) or False, not {simulate!r}"
        )
    if not conditions.active:
        return None
    log.warning(
        "network simulator ON (%s): %s on everything this %s sends; turn it off before you ship",
        source,
        conditions,
        who,
    )
    return Simulator(conditions)


class SimulatedLink:
    """A real link whose sends go through the simulator first."""

    def __init__(self, transport: SimulatedTransport, inner: Any) -> None:
        self.transport = transport
        self.inner = inner
        self.address: tuple[str, int] = inner.address
        self.stream: bool = inner.stream
        # pygnetic's pings, not the transport's, tell whether the peer lives:
        # they meet the simulated network as the game's messages do.
        self.keepalive = False
        # ENet drops duplicates and TCP makes none: a copy never reaches the game.
        self.lane = Lane(self.stream, transport_dedupes=True)
        self.waiting = 0  # packets scheduled and not yet handed on
        self.waiting_bytes = 0
        self.closing: tuple[int, bool] | None = None  # close once nothing waits
        self.gone = False  # the real link ended: what waits is lost with it
        pause = getattr(inner, "pause", None)
        if pause is not None:  # reading is not simulated
            self.pause = pause
        # No send_latest, though TCP's link has one: what the simulator holds
        # is on the wire already, and cannot be replaced by a newer copy.
        self._send = transport.simulate_send

    def __repr__(self) -> str:
        return f"<SimulatedLink {self.inner!r}>"

    @property
    def receiver(self) -> Callable[[bytes, int], None]:
        """The real link's receiver: arriving data is not simulated."""
        return self.inner.receiver  # type: ignore[no-any-return]

    @receiver.setter
    def receiver(self, receiver: Callable[[bytes, int], None]) -> None:
        self.inner.receiver = receiver

    # No send_counted either: a packet the simulator drops never reaches the
    # real link, whose count of sequenced packets (ENet's) would then differ
    # from the sender's, so sessions over simulated packets cannot resume.

    @property
    def channels(self) -> int:
        """The real link's channels."""
        return int(self.inner.channels)

    #: No round trip of the real link's own: ENet's pings pass beside the
    #: simulator, so the connection measures with pygnetic's pings instead,
    #: which pass through the simulators of both sides.
    round_trip_time = None

    last_heard = 0  # read only with keepalive

    @property
    def pending_bytes(self) -> int:
        """Bytes the simulator holds plus what the real link has not sent."""
        return self.waiting_bytes + int(getattr(self.inner, "pending_bytes", 0))

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Schedule ``data``: it reaches the real link when the simulator says."""
        self._send(self, data, channel, delivery)

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Close the real link once the packets it still waits for have gone."""
        if self.closing is not None or self.gone:
            return
        self.closing = (code, peer_closed)
        if not self.waiting:
            self.transport.finish_close(self)


class SimulatedTransport:
    """A transport whose links' sends pass through a :class:`~pygnetic.simulate.Simulator`."""

    def __init__(self, owner: Any, simulator: Simulator, clock: Callable[[], float]) -> None:
        self._owner = owner
        self.simulator = simulator
        self._clock = clock
        self.inner: Any = None
        self._links: dict[Any, SimulatedLink] = {}  # by real link

    def attach(self, inner: Any) -> None:
        """Wrap ``inner``, the real transport, whose listener is this object."""
        self.inner = inner

    def __repr__(self) -> str:
        return f"<SimulatedTransport {self.inner!r} {self.simulator.conditions}>"

    @property
    def address(self) -> tuple[str, int] | None:
        """The real transport's address."""
        return self.inner.address  # type: ignore[no-any-return]

    @property
    def has_reports(self) -> bool:
        """Whether the real transport has events waiting."""
        return bool(getattr(self.inner, "has_reports", False))

    def fileno(self) -> int | None:
        """The real transport's descriptor, if it has one."""
        fileno = getattr(self.inner, "fileno", None)
        return None if fileno is None else fileno()  # type: ignore[no-any-return]

    def wait_ms(self, timeout_ms: int) -> int:
        """How long the host may wait for activity: not past the next due packet."""
        due = self.simulator.next_due
        if due is None or timeout_ms <= 0:
            return timeout_ms
        return max(0, min(timeout_ms, int((due - self._clock()) * 1000) + 1))

    def connect(self, host: str, port: int, **options: Any) -> SimulatedLink:
        """Connect through the real transport."""
        return self._wrap(self.inner.connect(host, port, **options))

    def simulate_send(
        self, link: SimulatedLink, data: bytes, channel: int, delivery: Delivery
    ) -> None:
        """Schedule one packet of ``link``."""
        copies = self.simulator.schedule(link.lane, link, data, channel, delivery, self._clock())
        link.waiting += copies
        link.waiting_bytes += copies * len(data)

    def poll(self, timeout_ms: int) -> None:
        """Hand on what is due, let the real transport work, then hand on again."""
        self.release(self._clock())
        self.inner.poll(self.wait_ms(timeout_ms))
        self.release(self._clock())

    def flush(self) -> None:
        """Hand on what is due and have the real transport send it."""
        self.release(self._clock())
        self.inner.flush()

    def release(self, now: float) -> None:
        """Hand every packet due by ``now`` to its real link (for every transport of the host)."""
        for entry in self.simulator.due(now):
            _hand_on(entry)

    def close(self, code: int, linger_ms: int) -> None:
        """Hand on everything still waiting, at once, then close the real transport."""
        for entry in self.simulator.take_all():
            _hand_on(entry)
        self._links.clear()
        self.inner.close(code, linger_ms)

    def finish_close(self, link: SimulatedLink) -> None:
        """Close ``link``'s real link: nothing of it waits any more."""
        code, peer_closed = link.closing or (0, False)
        self._links.pop(link.inner, None)
        link.inner.close(code, peer_closed)

    def _wrap(self, inner: Any) -> SimulatedLink:
        link = self._links.get(inner)
        if link is None:
            link = self._links[inner] = SimulatedLink(self, inner)
        return link

    # -- the real transport's listener -----------------------------------------

    def link_opened(self, inner: Any) -> None:
        """A peer connected: hand the host its wrapped link."""
        self._owner.link_opened(self._wrap(inner))

    def link_connected(self, inner: Any) -> None:
        """Our connect is up: hand the host its wrapped link."""
        self._owner.link_connected(self._wrap(inner))

    def link_closed(self, inner: Any, code: int, detail: str) -> None:
        """The real link ended: what still waits for it is lost."""
        link = self._links.pop(inner, None)
        if link is None:
            return
        link.gone = True
        if link.closing is None:  # after our own close(), no callback follows
            self._owner.link_closed(link, code, detail)


def _hand_on(entry: tuple[Any, ...]) -> None:
    """Give one due packet to its real link, unless it is stale or its link is gone."""
    _, _, link, data, channel, delivery, number = entry
    link.waiting -= 1
    link.waiting_bytes -= len(data)
    if link.gone:
        return
    simulator = link.transport.simulator
    if number and not link.lane.fresh(channel, number):
        simulator.stats.stale += 1
    else:
        simulator.stats.delivered += 1
        link.inner.send(data, channel, delivery)
    if not link.waiting and link.closing is not None:
        link.transport.finish_close(link)
