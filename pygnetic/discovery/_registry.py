"""The lobby's list of game servers, with its limits; no I/O, time comes from a clock.

Rules:

* A listing is keyed by ``(host, port)``. The host is always the address the
  registering connection comes from, never a value from the message, so
  nobody can list (or overwrite) a server at someone else's address.
* Registering an existing key updates the listing in place (same id, same
  place in the list) and makes the registering connection its owner.
* Only the owner may ping or unregister a listing, by its id.
* A listing expires ``ttl`` seconds after its registration or last ping.
  A connection that ends leaves its listings to expire.
* Capacity refusals raise :class:`~pygnetic.discovery.LobbyError`; invalid
  fields raise :class:`~pygnetic.errors.MessageError`.
"""

from __future__ import annotations

import collections
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import MessageError
from ..message import brief
from ._info import MAX_GAME_LENGTH, LobbyError, ServerInfo, check_count, validate

__all__ = ["Entry", "LobbyLimits", "Registry"]


@dataclass(frozen=True)
class LobbyLimits:
    """What one lobby accepts; every field can be set from the command line.

    Attributes:
        ttl: Seconds a listing lives after its registration or last ping.
        max_servers: Listings in the whole lobby.
        max_servers_per_host: Listings registered from one IP address.
        max_page_size: Most servers per page; larger requests are cut to it.
        max_connections_per_host: Lobby connections from one IP address.
    """

    ttl: float = 30.0
    max_servers: int = 10_000
    max_servers_per_host: int = 16
    max_page_size: int = 50
    max_connections_per_host: int = 32

    def __post_init__(self) -> None:
        if not (isinstance(self.ttl, (int, float)) and 0 < self.ttl <= 86400):
            raise ValueError(f"ttl must be between 0 and 86400 seconds, not {self.ttl!r}")
        for name in (
            "max_servers",
            "max_servers_per_host",
            "max_page_size",
            "max_connections_per_host",
        ):
            value = getattr(self, name)
            check_count(name, value, 10**9)
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value!r}")


class Entry:
    """One listing: the server, its id, its owner, and when it expires."""

    __slots__ = ("expires", "id", "owner", "server")

    def __init__(self, entry_id: int, server: ServerInfo, owner: object, expires: float) -> None:
        self.id = entry_id
        self.server = server
        self.owner: object | None = owner
        self.expires = expires

    def __repr__(self) -> str:
        return f"<Entry {self.id} {self.server.host}:{self.server.port} {self.server.name!r}>"


class Registry:
    """The listings of one lobby.

    Args:
        limits: What the lobby accepts.
        clock: Monotonic time source in seconds.
    """

    def __init__(
        self, limits: LobbyLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits if limits is not None else LobbyLimits()
        self._clock = clock
        self._ids = itertools.count(1)
        self._entries: dict[int, Entry] = {}  # registration order: the listing order
        self._by_expiry: collections.OrderedDict[int, Entry] = collections.OrderedDict()
        self._by_key: dict[tuple[str, int], Entry] = {}
        self._by_game: dict[str, dict[int, Entry]] = {}
        self._per_host: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: int) -> Entry | None:
        """Return the listing with id ``entry_id``, or None."""
        return self._entries.get(entry_id)

    def register(
        self,
        owner: object,
        host: str,
        name: Any,
        game: Any,
        port: Any,
        players: Any,
        max_players: Any,
        info: Any,
        private: Any = False,
    ) -> Entry:
        """List (or update) the server at ``host:port`` on behalf of ``owner``.

        Raises:
            MessageError: A field is invalid.
            LobbyError: The lobby, or this host's share of it, is full.
        """
        validate(name, game, port, players, max_players, info, private, error=MessageError)
        server = ServerInfo(name, host, port, players, max_players, info, game, private)
        entry = self._by_key.get((host, port))
        if entry is not None:
            self._regroup(entry, server)
            entry.owner = owner
        else:
            self._check_room(host)
            entry = Entry(next(self._ids), server, owner, 0.0)
            self._entries[entry.id] = entry
            self._by_key[host, port] = entry
            self._by_game.setdefault(game, {})[entry.id] = entry
            self._per_host[host] += 1
        self._refresh(entry)
        return entry

    def _check_room(self, host: str) -> None:
        limits = self.limits
        if len(self._entries) >= limits.max_servers:
            raise LobbyError(f"the lobby is full ({limits.max_servers} servers)")
        if self._per_host[host] >= limits.max_servers_per_host:
            raise LobbyError(
                f"{host} already has {limits.max_servers_per_host} servers listed (the limit)"
            )

    def _regroup(self, entry: Entry, server: ServerInfo) -> None:
        old_game = entry.server.game
        if server.game != old_game:
            del self._by_game[old_game][entry.id]
            if not self._by_game[old_game]:
                del self._by_game[old_game]
            # Keep the listing order within the new game's group too.
            group = self._by_game.setdefault(server.game, {})
            group[entry.id] = entry
            ordered = sorted(group.values(), key=lambda e: e.id)
            self._by_game[server.game] = {e.id: e for e in ordered}
        entry.server = server

    def _refresh(self, entry: Entry) -> None:
        entry.expires = self._clock() + self.limits.ttl
        self._by_expiry[entry.id] = entry
        self._by_expiry.move_to_end(entry.id)

    def _owned(self, owner: object, entry_id: Any) -> Entry:
        entry = self._entries.get(entry_id) if type(entry_id) is int else None
        if entry is None or entry.owner is not owner:
            raise LobbyError(f"server {brief(entry_id, 20)} is not listed by this connection")
        return entry

    def ping(self, owner: object, entry_id: Any, players: Any) -> Entry:
        """Keep a listing alive and update its player count.

        Raises:
            MessageError: ``players`` is invalid.
            LobbyError: No listing with that id belongs to ``owner`` (it expired?).
        """
        entry = self._owned(owner, entry_id)
        server = entry.server
        validate("", "", 1, players, 0, {}, error=MessageError)
        if players != server.players:
            entry.server = replace(server, players=players)
        self._refresh(entry)
        return entry

    def unregister(self, owner: object, entry_id: Any) -> Entry:
        """Remove a listing at once.

        Raises:
            LobbyError: No listing with that id belongs to ``owner``.
        """
        entry = self._owned(owner, entry_id)
        self._remove(entry)
        return entry

    def disown(self, owner: object) -> None:
        """Forget ``owner`` (its connection ended); its listings stay until they expire."""
        for entry in self._entries.values():
            if entry.owner is owner:
                entry.owner = None

    def _remove(self, entry: Entry) -> None:
        server = entry.server
        del self._entries[entry.id]
        del self._by_expiry[entry.id]
        del self._by_key[server.host, server.port]
        group = self._by_game[server.game]
        del group[entry.id]
        if not group:
            del self._by_game[server.game]
        self._per_host[server.host] -= 1
        if not self._per_host[server.host]:
            del self._per_host[server.host]

    def expire(self) -> list[Entry]:
        """Remove and return the listings whose ``ttl`` has run out."""
        now = self._clock()
        expired = []
        while self._by_expiry:
            entry = next(iter(self._by_expiry.values()))
            if entry.expires > now:
                break
            self._remove(entry)
            expired.append(entry)
        return expired

    def page(self, game: Any, page: Any, page_size: Any) -> tuple[list[ServerInfo], int, int]:
        """Return ``(servers, pages, total)`` for one page of the listings.

        Args:
            game: Only servers of this game; None or ``''`` for every game.
            page: Page number, from 0; past the end gives an empty page.
            page_size: Servers per page, cut to ``max_page_size``.

        Raises:
            MessageError: An argument has the wrong type or range.
        """
        if game is not None and (type(game) is not str or len(game) > MAX_GAME_LENGTH):
            raise MessageError(
                f"game must be None or a str of at most {MAX_GAME_LENGTH} characters"
            )
        if type(page) is not int or not 0 <= page < 2**31:
            raise MessageError(f"page must be an int >= 0, not {brief(page, 20)}")
        if type(page_size) is not int or page_size < 1:
            raise MessageError(f"page_size must be an int >= 1, not {brief(page_size, 20)}")
        page_size = min(page_size, self.limits.max_page_size)
        group = self._by_game.get(game, {}) if game else self._entries
        total = len(group)
        start = page * page_size
        window = (
            itertools.islice(group.values(), start, start + page_size) if start < total else ()
        )
        return [entry.server for entry in window], math.ceil(total / page_size), total
