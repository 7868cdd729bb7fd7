"""How much one peer may make a host do: per ``update()``, and per second.

Two limits keep one busy or hostile peer from starving the others:

:class:`ReceiveBudget`
    What one connection may deliver to handlers in one ``update()``. What
    arrives beyond it waits, in order, for the next ``update()``; over TCP
    the connection is not read meanwhile, so the peer's own TCP slows down.
    Nothing is lost: a budget only spreads a burst over several frames.
:class:`RateLimit`
    How fast, sustained, one client may send to a server. A client that
    keeps sending faster is disconnected with
    :attr:`CloseCode.RATE_LIMITED <pygnetic.protocol.CloseCode.RATE_LIMITED>`.

Both count every message and byte a peer sends, control messages included::

    server = pygnetic.Server(port=10000, rate_limit=RateLimit(messages_per_second=500))
    server = pygnetic.Server(port=10000, rate_limit=None)   # trusted peers only
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateLimit", "ReceiveBudget"]


def _check_positive(owner: object, **values: float) -> None:
    for name, value in values.items():
        if type(value) not in (int, float) or not value > 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be a number > 0, not {value!r}")


@dataclass(frozen=True)
class ReceiveBudget:
    """What one connection may deliver in one ``update()``.

    A message is delivered while the connection has some of both left, so a
    single message larger than ``max_bytes`` still arrives, alone. Over a
    transport that cannot stop reading one peer (ENet), what waits is
    bounded: a peer with more than ``64 * max_messages`` packets or
    ``8 * max_bytes + max_message_size`` bytes waiting is disconnected with
    :attr:`CloseCode.RATE_LIMITED <pygnetic.protocol.CloseCode.RATE_LIMITED>`.

    Attributes:
        max_messages: Messages per connection per ``update()`` (default 1000).
        max_bytes: Bytes per connection per ``update()`` (default 1 MiB).
    """

    max_messages: int = 1000
    max_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        _check_positive(self, max_messages=self.max_messages, max_bytes=self.max_bytes)


@dataclass(frozen=True)
class RateLimit:
    """How fast one client may send to a server, sustained.

    A token bucket: a client may send ``burst_seconds`` worth at once, then
    ``messages_per_second`` and ``bytes_per_second``. It is checked a few
    times a second, so it costs nothing per message.

    Attributes:
        messages_per_second: Default 5000; a game sending 60 updates a
            second uses a few hundred.
        bytes_per_second: Default 4 MiB.
        burst_seconds: Seconds of sending at the full rate allowed at once
            (default 2).
    """

    messages_per_second: float = 5000
    bytes_per_second: float = 4 * 1024 * 1024
    burst_seconds: float = 2.0

    def __post_init__(self) -> None:
        _check_positive(
            self,
            messages_per_second=self.messages_per_second,
            bytes_per_second=self.bytes_per_second,
            burst_seconds=self.burst_seconds,
        )


#: The budget a Server and a Client give each connection unless told otherwise.
DEFAULT_RECEIVE_BUDGET = ReceiveBudget()
#: The rate limit a Server applies to each client unless told otherwise.
DEFAULT_RATE_LIMIT = RateLimit()


class RateMeter:
    """One connection's token buckets for a :class:`RateLimit`, fed running totals.

    A new connection starts with a full burst. :meth:`over` is called a few
    times a second with what the peer sent so far, and says why it is over.
    """

    __slots__ = ("_bytes", "_limit", "_messages", "_then", "_tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._limit = limit
        self._then, self._messages, self._bytes = now, 0, 0
        self._tokens = (
            limit.messages_per_second * limit.burst_seconds,
            limit.bytes_per_second * limit.burst_seconds,
        )

    def over(self, now: float, messages: int, size: int) -> str | None:
        """Spend what was sent since the last call; the reason if it was too much, else None."""
        limit = self._limit
        elapsed = now - self._then
        sent_messages, sent_bytes = messages - self._messages, size - self._bytes
        self._then, self._messages, self._bytes = now, messages, size
        message_tokens = _refill(self._tokens[0], limit.messages_per_second, limit, elapsed)
        byte_tokens = _refill(self._tokens[1], limit.bytes_per_second, limit, elapsed)
        self._tokens = (message_tokens - sent_messages, byte_tokens - sent_bytes)
        if self._tokens[0] < 0:
            return (
                f"sent faster than {limit.messages_per_second:g} messages per second (rate_limit)"
            )
        if self._tokens[1] < 0:
            return f"sent faster than {limit.bytes_per_second:g} bytes per second (rate_limit)"
        return None


def _refill(tokens: float, rate: float, limit: RateLimit, elapsed: float) -> float:
    return min(rate * limit.burst_seconds, tokens + elapsed * rate)


class Spending:
    """A host's budget and its count of updates, shared by its connections.

    A connection starts a new budget when it first receives in an update
    with a number it has not seen, so idle connections cost nothing per update.
    """

    __slots__ = ("bytes", "messages", "update")

    def __init__(self, budget: ReceiveBudget) -> None:
        self.messages = budget.max_messages
        self.bytes = budget.max_bytes
        self.update = 0
