"""The server's table of handshakes under way, and who gives way when it is full.

A new link holds a place in the table from the moment a transport reports
it until its hello is answered or its deadline passes. Idle links that never
say hello must not lock real players out, so the table never simply turns a
newcomer away: when the newcomer's address already holds its share, or the
table is full, one pending handshake gives way (see :meth:`Handshakes.victim`).

The oldest handshake is the one that gives way, because a real client's hello
follows its connect within a round trip: a handshake that has waited longest
is the most likely to be an idle slot-holder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

__all__ = ["AuthFailures", "Handshakes", "address_key"]


def address_key(host: str) -> str:
    """The address that handshake limits count by: the IP, never the port.

    An IPv6 peer counts by its /64 network, since one host may use any
    address of its /64; an IPv4 address written as IPv6 (``::ffff:a.b.c.d``)
    counts as the IPv4 address. A name that is not an IP (the memory
    transport's ``'memory'``) counts as itself.
    """
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # without an IPv6 scope
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Handshakes:
    """Links whose handshake is under way, with their deadlines, oldest first.

    Args:
        capacity: Most handshakes under way at once.
        per_address: Most of them from one address (see :func:`address_key`).
    """

    __slots__ = ("_by_address", "_deadlines", "_keys", "capacity", "per_address")

    def __init__(self, capacity: int, per_address: int) -> None:
        self.capacity = capacity
        self.per_address = per_address
        self._deadlines: dict[Any, float] = {}  # link -> deadline, in arrival order
        self._keys: dict[Any, str] = {}  # link -> its address key
        # address key -> its links, in arrival order (a dict used as an ordered set)
        self._by_address: dict[str, dict[Any, None]] = {}

    def __len__(self) -> int:
        return len(self._deadlines)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._deadlines))

    def __contains__(self, link: object) -> bool:
        return link in self._deadlines

    def add(self, link: Any, key: str, deadline: float) -> None:
        """Start tracking ``link``, from address ``key``, until ``deadline``."""
        self._deadlines[link] = deadline
        self._keys[link] = key
        self._by_address.setdefault(key, {})[link] = None

    def pop(self, link: Any) -> bool:
        """Stop tracking ``link``; say whether it was tracked."""
        if self._deadlines.pop(link, None) is None:
            return False
        key = self._keys.pop(link)
        links = self._by_address[key]
        del links[link]
        if not links:
            del self._by_address[key]
        return True

    def victim(self, key: str) -> Any | None:
        """The pending link that gives way to a newcomer from address ``key``, if one must.

        None while the newcomer's address holds fewer than ``per_address``
        handshakes and the table has room. Otherwise the oldest handshake of
        one address gives way: the newcomer's own when it holds
        ``per_address`` already, or when the table is full and no address
        holds more than it; else the address holding the most (of several,
        the one waiting longest). So an address can only ever take places
        from addresses holding more than it, and one that opens links
        faster only replaces its own.
        """
        own = self._by_address.get(key, {})
        if len(own) < self.per_address and len(self._deadlines) < self.capacity:
            return None
        if len(own) >= self.per_address:
            return next(iter(own))
        heaviest = max(len(links) for links in self._by_address.values())
        if len(own) >= heaviest:
            return next(iter(own))
        return next(iter(self._by_address[self._oldest_address(heaviest)]))

    def _oldest_address(self, count: int) -> str:
        """Of the addresses holding ``count`` handshakes, the one whose oldest arrived first."""
        for link in self._deadlines:  # in arrival order
            key = self._keys[link]
            if len(self._by_address[key]) == count:
                return key
        raise AssertionError("no address holds the most handshakes")  # pragma: no cover

    def expired(self, now: float) -> list[Any]:
        """The links whose deadline is ``now`` or earlier, oldest first."""
        return [link for link, deadline in self._deadlines.items() if now >= deadline]


class AuthFailures:
    """Failed authentications per address over the last minute, to slow down guessing.

    Args:
        limit: Failures one address may have within :attr:`window` seconds;
            further attempts are refused without asking ``authenticate``.
        window: The seconds a failure counts for.
        addresses: Most addresses remembered; the one whose last failure is
            oldest is forgotten first, so the table's size is bounded
            whatever the addresses a flood comes from.
    """

    __slots__ = ("_failures", "addresses", "limit", "window")

    def __init__(self, limit: int, window: float = 60.0, addresses: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self.addresses = addresses
        # address key -> times of its recent failures, oldest first; least
        # recently failed address first (a dict keeps insertion order).
        self._failures: dict[str, list[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again: 0 while it is under the limit."""
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window:
            times.pop(0)
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def failed(self, key: str, now: float) -> None:
        """Count one failed authentication from ``key``."""
        times = self._failures.pop(key, [])
        times.append(now)
        del times[: -self.limit]  # older ones no longer decide anything
        self._failures[key] = times
        if len(self._failures) > self.addresses:
            # An address still over the limit is never the one forgotten, so a
            # flood from many addresses cannot wash its own record away.
            for each, its in self._failures.items():
                if len(its) < self.limit:
                    del self._failures[each]
                    break
            else:
                del self._failures[next(iter(self._failures))]
