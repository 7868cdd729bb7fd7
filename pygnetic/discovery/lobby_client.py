"""Game servers' side of the lobby: :class:`LobbyAnnouncer` keeps a server listed.

Like :class:`~pygnetic.discovery.LobbyBrowser` (players' side), it owns a
private :class:`~pygnetic.client.Client` that posts no pygame events, and does
all its work in ``update()``, called from the game loop::

    listing = LobbyAnnouncer(server, 'My game', {'map': 'forest'},
                             lobby='lobby.example.com', game='tanks')
    while running:
        server.update(16)
        listing.update()          # connects, registers, pings, reconnects
    listing.close()               # unlists at once

A lost or refusing lobby never raises: the announcer says why in
:attr:`LobbyAnnouncer.last_error` and tries again after ``retry`` seconds. It
logs the first failure of each kind at WARNING and the same kind again only at
DEBUG, until the lobby lists the server again, which it logs at INFO.
"""

from __future__ import annotations

import copy
import logging
import reprlib
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ..client import Client
from ..connection import Connection
from ..handler import Handler
from ..request import Request, Requester, RequestRefused, RequestTimeout
from ..server import Server
from ._info import Described, LogThrottle
from .lobby import (
    LOBBY_ADAPTER,
    LOBBY_PORT,
    PING,
    PINGED,
    REFUSED,
    REGISTER,
    REGISTERED,
    SERVER_PAGE,
    UNREGISTER,
    lobby_messages,
    lobby_requests,
)

__all__ = ["DEFAULT_RETRY", "MIN_PING_SPACING", "LobbyAnnouncer"]

#: Seconds an announcer waits before reconnecting or registering again.
DEFAULT_RETRY = 10.0
#: Least time between two pings sent because the player count changed.
MIN_PING_SPACING = 1.0

log = logging.getLogger("pygnetic.discovery.lobby")

Lobby = str | tuple[str, int]
#: What a lobby sends a client; the connection's Requester takes these.
_ANSWERS = frozenset((REGISTERED, PINGED, SERVER_PAGE, REFUSED))


def _lobby_address(lobby: Lobby) -> tuple[str, int]:
    if isinstance(lobby, str):
        return lobby, LOBBY_PORT
    host, port = lobby
    return host, int(port)


class _Replies(Handler):
    """Tells one lobby connection's owner of its end, and of messages no request expects.

    Answers and refusals go to the connection's
    :class:`~pygnetic.request.Requester`, attached after this handler.
    """

    def __init__(self, owner: _LobbyClient, generation: int) -> None:
        self._owner = owner
        self._generation = generation

    def on_connect(self) -> None:
        if self._generation == self._owner._generation:
            self._owner._reached = True

    def on_disconnect(self) -> None:
        if self._generation == self._owner._generation:
            self._owner._disconnected(self.connection.close_reason or "disconnected")

    def on_receive(self, message: Any, **kwargs: Any) -> None:
        if self._generation == self._owner._generation and type(message) not in _ANSWERS:
            self._owner._unexpected(message)


class _LobbyClient:
    """A lazily made, replaceable connection to a lobby, and its requester."""

    def _open_client(
        self,
        lobby: Lobby,
        adapter: str | ModuleType | None,
        timeout: float,
        clock: Callable[[], float],
        adapter_options: dict[str, Any],
    ) -> None:
        self.lobby = _lobby_address(lobby)
        self.timeout = timeout
        self._clock = clock
        self._throttle = LogThrottle(log, clock=clock)
        # Room for a closing connection next to its replacement.
        self._client = Client(
            2,
            lobby_messages,
            adapter=adapter,
            timeout=timeout,
            events=False,
            clock=clock,
            log_connections=False,  # the lobby's own lines say what happened, once
            **adapter_options,
        )
        self._connection: Connection | None = None
        self._requests: Requester | None = None
        self._generation = 0
        # Whether the current connection ever opened: a lobby never reached
        # was not lost, and the user should hear which of the two it was.
        self._reached = False

    @property
    def connected(self) -> bool:
        """True while the connection to the lobby is open."""
        return self._connection is not None and self._connection.connected

    def _connect(self) -> str | None:
        """Start connecting; return why it cannot, or None."""
        self._generation += 1
        self._reached = False
        try:
            self._connection = self._client.connect(*self.lobby)
        except OSError as exc:  # e.g. the name does not resolve
            self._connection = self._requests = None
            return self._ended(str(exc))
        self._connection.add_handler(_Replies(self, self._generation))
        self._requests = Requester(
            self._connection, lobby_requests, timeout=self.timeout, clock=self._clock
        )
        return None

    def _ask(self, request: type[Any], *fields: Any, **kwargs: Any) -> Request:
        """Ask the lobby on the current connection (there must be one)."""
        assert self._requests is not None
        return self._requests.ask(request, *fields, **kwargs)

    def _poll(self) -> None:
        """Time out the requests whose deadline passed; their callbacks run now."""
        if self._requests is not None:
            self._requests.poll()

    def _drop(self, reason: str) -> None:
        """Close the current connection; its late replies are ignored."""
        if self._connection is not None:
            self._generation += 1
            self._connection.disconnect(reason)
            self._connection = self._requests = None

    def _ended(self, reason: str) -> str:
        """Say how the lobby connection ended: never opened, or lost once open."""
        host, port = self.lobby
        if self._reached:
            return f"lost lobby {host}:{port}: {reason}"
        return f"cannot reach lobby {host}:{port}: {reason}"

    def _send(self, message: type[Any], *fields: Any) -> bool:
        return self._connection is not None and self._connection.send(message, *fields)

    def _disconnected(self, reason: str) -> None:
        self._connection = None  # self._requests fails its pending requests next

    def _unexpected(self, message: Any) -> None:
        self._throttle(logging.WARNING, "lobby sent an unexpected %s", type(message).__name__)

    def close(self) -> None:
        """Close the lobby connection and release the client's sockets."""
        self._generation += 1
        self._connection = self._requests = None
        self._client.close()


class LobbyAnnouncer(Described, _LobbyClient):
    """Keeps a game server listed in a lobby; call :meth:`update` every frame.

    It connects, registers, pings every third of the lobby's ``ttl`` (sooner,
    at most once a second, when the player count changes), registers again
    when the name, game, port, capacity, info or ``private`` change, and
    reconnects after ``retry`` seconds when the lobby is lost or refuses.

    Args:
        server: The :class:`~pygnetic.server.Server` to list; its port,
            player count and ``conn_limit`` are read at each update.
        name: Server name (default: this machine's host name).
        info: Game-defined details (see :class:`~pygnetic.discovery.Announcer`).
        lobby: The lobby's host name, or ``(host, port)``.
        game: Game name, which players filter on.
        port: Game port, overriding ``server.address[1]``. The host is
            always the address the lobby sees the connection come from.
        players: Player count, overriding the server's.
        max_players: Capacity, overriding ``server.conn_limit``.
        private: List the server as needing a password or a token to join,
            as a server with ``authenticate`` does (players see
            :attr:`ServerInfo.private <pygnetic.discovery.ServerInfo.private>`).
        retry: Seconds between attempts after a failure or refusal.
        adapter: Network adapter; must match the lobby's (TCP by default).
        timeout: Seconds of silence after which the lobby counts as lost,
            and seconds to wait for the answer to a registration or a ping.
        clock: Monotonic time source in seconds (tests drive it).
        **adapter_options: Passed on to the adapter's ``Transport``.

    Attributes:
        server_id: The lobby's id of the listing; None while not listed.
        ttl: Seconds the lobby keeps a listing without a ping (from the lobby).
        last_error: Why the last attempt failed, or None.

    Raises:
        ServerInfoError: The description breaks a limit.
    """

    def __init__(
        self,
        server: Server | None = None,
        name: str | None = None,
        info: Mapping[str, Any] | None = None,
        *,
        lobby: Lobby,
        game: str = "",
        port: int | None = None,
        players: int | None = None,
        max_players: int | None = None,
        private: bool = False,
        retry: float = DEFAULT_RETRY,
        adapter: str | ModuleType | None = LOBBY_ADAPTER,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        **adapter_options: Any,
    ) -> None:
        self._describe(server, name, info, game, port, players, max_players, private)
        self._open_client(lobby, adapter, timeout, clock, adapter_options)
        self.retry = retry
        self.server_id: int | None = None
        self.ttl: float | None = None
        self.last_error: str | None = None
        # Kinds of failure logged at WARNING since the server was last listed.
        self._warned: set[str] = set()
        self._listed: tuple[Any, ...] | None = None  # what the lobby lists
        self._asked: tuple[Any, ...] | None = None  # what the register in flight asks
        self._registering: Request | None = None  # the register in flight
        self._players = 0
        self._next_attempt = float("-inf")
        self._next_ping = self._last_ping = float("-inf")

    @property
    def registered(self) -> bool:
        """True while the lobby lists the server."""
        return self.server_id is not None

    def update(self, timeout: int = 0) -> None:
        """Talk to the lobby: connect, register, ping, as needed.

        Args:
            timeout: Milliseconds to wait for network activity.

        Raises:
            ServerInfoError: An attribute was set beyond the limits.
        """
        if self._connection is None and self._clock() >= self._next_attempt:
            self._registering = None
            problem = self._connect()
            if problem:
                self._failed("unreachable", problem)
        self._client.update(timeout)
        self._poll()
        if self._connection is not None and self._registering is None:
            self._step(self._clock())

    def _step(self, now: float) -> None:
        name, game, port, players, max_players, info, private = self.description()
        wanted = (name, game, port, max_players, info, private)
        if self.server_id is None or wanted != self._listed:
            if now >= self._next_attempt:
                self._asked = (*wanted[:4], copy.deepcopy(info), private)
                self._players = players
                self._registering = self._ask(
                    REGISTER,
                    name,
                    game,
                    port,
                    players,
                    max_players,
                    info,
                    private,
                    callback=self._registered,
                )
        elif now >= self._next_ping or (
            players != self._players and now - self._last_ping >= MIN_PING_SPACING
        ):
            self._players = players
            self._last_ping = now
            self._next_ping = now + (self.ttl or 3.0) / 3
            server_id = self.server_id
            self._ask(
                PING, server_id, players, callback=lambda ping: self._pinged(ping, server_id)
            )

    def _registered(self, request: Request) -> None:
        if request is not self._registering:
            return  # from a connection since replaced
        self._registering = None
        error = request.error
        host, port = self.lobby
        if isinstance(error, RequestTimeout):
            self._failed(
                "unanswered",
                f"lobby {host}:{port} did not answer the registration within {self.timeout:g} s",
            )
        elif isinstance(error, RequestRefused):
            reason = error.reason
            self._failed("refused", f"lobby {host}:{port} refused the registration: {reason}")
        elif error is None:
            self._listing(request.result())
        # RequestAborted: _disconnected() says why

    def _listing(self, answer: Any) -> None:
        _, server_id, ttl = answer
        if type(server_id) is not int or type(ttl) not in (int, float) or not ttl > 0:
            host, port = self.lobby
            answer_text = reprlib.repr(answer)
            self._failed("malformed", f"lobby {host}:{port} answered register with {answer_text}")
            return
        first = self.server_id is None
        self.server_id, self.ttl = server_id, float(ttl)
        self._listed = self._asked
        self.last_error = None
        self._warned.clear()  # a failure after this one is news again
        self._last_ping = now = self._clock()
        self._next_ping = now + self.ttl / 3
        if first:
            log.info("listed in lobby %s:%d as server %d", *self.lobby, server_id)

    def _pinged(self, request: Request, server_id: int | None) -> None:
        error = request.error
        if isinstance(error, RequestRefused) and server_id == self.server_id:
            log.info("lobby %s:%d forgot server %s; registering again", *self.lobby, server_id)
            self.server_id = self._listed = None
        elif isinstance(error, RequestTimeout) and server_id == self.server_id:
            self._throttle(logging.WARNING, "lobby %s:%d did not answer a ping", *self.lobby)

    def _failed(self, kind: str, reason: str) -> None:
        """Note why the lobby does not list the server, and when to try again.

        ``kind`` is a constant naming the kind of failure, never text from the
        network. Only its first failure since the server was last listed is a
        warning: a lobby that is down stays down for many retries, and a line
        at every one would bury the rest of the log.
        """
        self.last_error = str(reason)[:500]
        self._next_attempt = self._clock() + self.retry
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        log.log(level, "%s (retrying every %g s)", self.last_error, self.retry)

    def _disconnected(self, reason: str) -> None:
        super()._disconnected(reason)
        self.server_id = self._listed = self._asked = self._registering = None
        self._failed("lost" if self._reached else "unreachable", self._ended(reason))

    def close(self) -> None:
        """Unlist the server (if listed) and close the lobby connection."""
        if self.server_id is not None:
            self._send(UNREGISTER, self.server_id)
            self.server_id = None
        super().close()
