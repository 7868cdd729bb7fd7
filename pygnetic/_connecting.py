"""A client's connect in progress: the transports it tries, in order, and what each said.

A default :class:`~pygnetic.client.Client` speaks ENet and TCP, and a server
may speak either or both, so ``connect()`` tries ENet first and, when ENet
has not reached the server within ``fallback_delay`` seconds (or failed),
TCP as well. The first transport to reach the server wins and the others
are closed; only then does the handshake start, over the winner, so nothing
but the transports' own connects ever goes over a loser. When none reaches
the server, the connection ends with a reason that names every transport
tried and what it said, and what to do about it.
"""

from __future__ import annotations

import collections
import logging
import random
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _defaults, _install

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger("pygnetic.client")

#: Seconds a connect waits for one transport before trying the next one too.
FALLBACK_DELAY = 0.5

#: One way to connect: the adapter, its transport, and the options it takes.
Plan = tuple[ModuleType, Any, dict[str, Any]]


class Attempt:
    """One ``connect()`` until a transport reaches the server, or none can.

    Args:
        host: The server's name or address, as given to ``connect()``.
        port: The server's port.
        plans: The transports to try, in order.
        deadline: When to give up (the client's ``timeout`` after connecting).
        fallback_delay: Seconds before the next transport is tried as well.
        unavailable: Why adapters the client would have used are missing
            (ENet without pyenet), to name the fix when nothing is reached.
        log_level: Level of the "connecting to ..." lines.
    """

    def __init__(
        self,
        host: str,
        port: int,
        plans: list[Plan],
        *,
        deadline: float,
        fallback_delay: float,
        unavailable: dict[str, Exception],
        log_level: int = logging.INFO,
    ) -> None:
        self.host, self.port = host, port
        self.plans = collections.deque(plans)
        self.tried = tuple(module for module, _, _ in plans)
        self.deadline = deadline
        self.fallback_delay = fallback_delay
        self.next_start = float("inf")
        self.unavailable = unavailable
        self.log_level = log_level
        #: Links started and not failed yet, with their adapter.
        self.links: dict[Any, ModuleType] = {}
        #: (adapter label, what went wrong) for each transport that failed.
        self.failures: list[tuple[str, str]] = []
        #: The last transport's ``connect`` error, raised when none could start.
        self.error: OSError | None = None
        #: The label and the status line of the transport started last.
        self.label = self.status = ""
        #: Set by the client once the first link has its connection.
        self.connection: Connection

    def start_next(self, now: float, why: str = "") -> Any:
        """Start the next transport that can start; return its link, or None if none could.

        ``why`` says why the previous transport is not enough (it is slow to
        answer); the status line starts with it, or with the last failure. A
        transport whose ``connect`` raises ``OSError`` (a name that does not
        resolve, no free ENet peer) counts as failed, and the next starts.
        """
        while self.plans:
            module, transport, options = self.plans.popleft()
            label = _defaults.label(module)
            status = f"connecting to {self.host}:{self.port} over {label}..."
            if not why and self.failures:
                why = "{}: {}".format(*self.failures[-1])
            if why:
                status = f"{why}; {status}"
            try:
                link = transport.connect(self.host, self.port, **options)
            except OSError as exc:
                self.failures.append((label, str(exc)))
                self.error = exc
                why = ""
                continue
            log.log(self.log_level, "%s", status)
            self.links[link] = module
            self.next_start = now + self.fallback_delay
            self.label, self.status = label, status
            return link
        return None

    def slow(self) -> str:
        """Why the next transport starts although the others still try."""
        labels = _defaults.labels(tuple(self.links.values()), " or ")
        return f"no {labels} answer within {self.fallback_delay:g} s"

    def no_answer(self, seconds: float) -> None:
        """Count every transport still trying as failed: nothing answered for ``seconds``.

        The links stay in :attr:`links`, for the client to close.
        """
        for module in self.links.values():
            self.failures.append((_defaults.label(module), f"no answer within {seconds:g} s"))

    def reason(self) -> str:
        """Why no transport reached the server, and what to do about it."""
        tried = _defaults.labels(self.tried, " or ")
        order = [_defaults.label(module) for module in self.tried]
        failures = sorted(self.failures, key=lambda failure: order.index(failure[0]))
        said = "; ".join(f"{label}: {detail}" for label, detail in failures)
        return f"cannot connect to {self.host}:{self.port} over {tried} ({said}); {self._advice()}"

    def _advice(self) -> str:
        names = {module.NAME for module in self.tried}
        refused = any("refused" in detail for label, detail in self.failures if label == "TCP")
        if names == {"socket"} and "enet" in self.unavailable:
            nothing = "nothing accepts TCP there" if refused else "TCP found no server there"
            return (
                f"{nothing}; if the server speaks only ENet, this Python needs ENet too "
                f"(unavailable: {_defaults.unavailable_reason(self.unavailable['enet'])}): "
                f"{_install.enet_install_command()}"
            )
        if names == {"enet"}:
            return (
                "if the server speaks only TCP, connect over both: "
                "Client(adapter=('enet', 'socket'))"
            )
        return "is a pygnetic server running at that address and port?"


#: Seconds before the second try at resuming a lost connection; each next waits twice as long.
FIRST_RETRY_DELAY = 0.5
#: The longest wait between two tries.
MAX_RETRY_DELAY = 5.0


def retry_delay(tries: int) -> float:
    """Seconds before the next try at resuming, after ``tries`` failed: 0, 0.5, 1, 2, 4, 5, 5...

    Each is spread by up to a fifth either way, so that the clients of a
    server that came back do not all knock at once.
    """
    if tries <= 0:
        return 0.0
    delay = min(FIRST_RETRY_DELAY * 2 ** (tries - 1), MAX_RETRY_DELAY)
    return delay * random.uniform(0.8, 1.2)


class Reconnect:
    """A lost connection's tries at resuming its session, until one works or time is up.

    The server and the transports to try come from the client's record of
    the first ``connect()``.

    Args:
        give_up_at: When to stop: the server waits no longer.
    """

    __slots__ = ("give_up_at", "next_try", "tries", "try_deadline")

    def __init__(self, give_up_at: float) -> None:
        self.give_up_at = give_up_at
        self.tries = 0
        #: When to start the next try; None while one is under way.
        self.next_try: float | None = 0.0
        #: When the try under way has taken too long.
        self.try_deadline = float("inf")
