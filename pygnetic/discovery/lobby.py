"""The lobby: a pygnetic server where game servers list themselves and players look.

Run one with ``python -m pygnetic.discovery`` (see ``--help``), or embed a
:class:`LobbyServer` and pump it like any :class:`~pygnetic.server.Server`.
Game servers use :class:`~pygnetic.discovery.LobbyAnnouncer`, players use
:class:`~pygnetic.discovery.LobbyBrowser`.

The lobby speaks ordinary pygnetic messages (:data:`lobby_messages`, always
msgpack, so a game's own serializer choice does not matter) over the TCP
socket adapter by default, since it is always installed and passes more
firewalls; both sides must use the same adapter. What a client sends, and
the answer:

``register(name, game, port, players, max_players, info)``
    Answered with ``registered(server_id, ttl)``.
``ping(server_id, players)``
    Not answered, unless the id is unknown.
``unregister(server_id)``
    Not answered, unless the id is unknown.
``get_servers(request_id, game, page, page_size)``
    Answered with ``server_page(request_id, page, pages, total, servers)``.

Any request can instead be answered with ``refused(request, ref, reason)``,
where ``request`` is the request's name and ``ref`` its ``request_id`` or
``server_id`` (None for ``register``). Each server in a page is the array
``[name, game, host, port, players, max_players, info]``.

The registered host is always the connection's own source address: only the
port comes from the message. Invalid requests are refused with a reason and
a log line; a connection that sends :data:`MAX_INVALID_REQUESTS` of them is
closed. See :class:`LobbyLimits` for the capacity limits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..errors import MessageError
from ..handler import Handler
from ..message import MessageFactory
from ..server import Server
from ._info import LobbyError, LogThrottle, ServerInfo
from ._registry import LobbyLimits, Registry

__all__ = [
    "LOBBY_ADAPTER",
    "LOBBY_PORT",
    "MAX_INVALID_REQUESTS",
    "LobbyHandler",
    "LobbyLimits",
    "LobbyServer",
    "lobby_messages",
]

#: Port a lobby listens on unless told otherwise (next to the LAN discovery port).
LOBBY_PORT = 24581
#: Network adapter lobbies and their clients use unless told otherwise.
LOBBY_ADAPTER = "socket"
#: Invalid requests after which the lobby closes a connection.
MAX_INVALID_REQUESTS = 16
#: Largest lobby message; a full page of the largest listings fits.
MAX_LOBBY_MESSAGE_SIZE = 256 * 1024

log = logging.getLogger("pygnetic.discovery.lobby")

#: The lobby protocol. Frozen when first used; register nothing in it.
lobby_messages = MessageFactory("msgpack", max_message_size=MAX_LOBBY_MESSAGE_SIZE)
REGISTER = lobby_messages.register(
    "register", ("name", "game", "port", "players", "max_players", "info")
)
PING = lobby_messages.register("ping", ("server_id", "players"))
UNREGISTER = lobby_messages.register("unregister", ("server_id",))
GET_SERVERS = lobby_messages.register("get_servers", ("request_id", "game", "page", "page_size"))
REGISTERED = lobby_messages.register("registered", ("server_id", "ttl"))
SERVER_PAGE = lobby_messages.register(
    "server_page", ("request_id", "page", "pages", "total", "servers")
)
REFUSED = lobby_messages.register("refused", ("request", "ref", "reason"))


def server_row(server: ServerInfo) -> list[Any]:
    """Return ``server`` as it travels in a ``server_page`` message."""
    return [
        server.name,
        server.game,
        server.host,
        server.port,
        server.players,
        server.max_players,
        server.info,
    ]


class LobbyHandler(Handler):
    """Serves one lobby connection; a :class:`LobbyServer` makes one per client."""

    server: LobbyServer  # type: ignore[assignment]

    def __init__(self) -> None:
        self.invalid = 0

    @property
    def _registry(self) -> Registry:
        return self.server.registry

    @property
    def _host(self) -> str:
        return str(self.connection.address[0])

    def on_connect(self) -> None:
        """Refuse hosts that already hold ``max_connections_per_host`` connections."""
        limit = self.server.limits.max_connections_per_host
        host = self._host
        same = sum(1 for c in self.server.connections() if c.address[0] == host)
        if same > limit:
            self.server.log_throttle(
                logging.WARNING, "refused %s: more than %d connections from it", host, limit
            )
            self.connection.disconnect(f"too many lobby connections from {host} (limit {limit})")

    def on_disconnect(self) -> None:
        """Leave this connection's listings to expire."""
        self._registry.disown(self)

    def net_register(self, message: Any) -> None:
        """List (or update) the game server at this connection's address."""
        try:
            entry = self._registry.register(self, self._host, *message)
        except (MessageError, LobbyError) as exc:
            self._refuse("register", None, exc)
            return
        log.info("listed %d: %s:%d %r", entry.id, self._host, entry.server.port, entry.server.name)
        self.connection.send(REGISTERED, entry.id, self.server.limits.ttl)

    def net_ping(self, message: Any) -> None:
        """Keep a listing alive."""
        try:
            self._registry.ping(self, message.server_id, message.players)
        except (MessageError, LobbyError) as exc:
            self._refuse("ping", message.server_id, exc)

    def net_unregister(self, message: Any) -> None:
        """Remove a listing."""
        try:
            entry = self._registry.unregister(self, message.server_id)
        except LobbyError as exc:
            self._refuse("unregister", message.server_id, exc)
            return
        log.info("unlisted %d: %s:%d", entry.id, entry.server.host, entry.server.port)

    def net_get_servers(self, message: Any) -> None:
        """Send one page of listings."""
        request_id = message.request_id
        if type(request_id) is not int:
            self._refuse("get_servers", None, MessageError("request_id must be an int"))
            return
        try:
            servers, pages, total = self._registry.page(
                message.game, message.page, message.page_size
            )
        except MessageError as exc:
            self._refuse("get_servers", request_id, exc)
            return
        rows = [server_row(server) for server in servers]
        self.connection.send(SERVER_PAGE, request_id, message.page, pages, total, rows)

    def on_receive(self, message: Any, **kwargs: Any) -> None:
        """Refuse the messages only a lobby sends."""
        name = type(message).__name__
        self._refuse(name, None, MessageError(f"{name} is not a request"))

    def _refuse(self, request: str, ref: Any, error: Exception) -> None:
        if type(ref) is not int:
            ref = None
        self.connection.send(REFUSED, request, ref, str(error))
        throttle = self.server.log_throttle
        if isinstance(error, LobbyError):
            throttle(logging.INFO, "refused %s from %s: %s", request, self._host, error)
            return
        self.invalid += 1
        throttle(logging.WARNING, "invalid %s from %s: %s", request, self._host, error)
        if self.invalid >= MAX_INVALID_REQUESTS and self.connection.connected:
            log.warning("closing the connection from %s: too many invalid requests", self._host)
            self.connection.disconnect("too many invalid lobby requests")


class LobbyServer(Server):
    """A lobby; pump :meth:`update` in a loop (``python -m pygnetic.discovery`` does).

    Args:
        host: Interface to listen on; ``''`` means all of them.
        port: Port to listen on; 0 picks a free one (see :attr:`address`).
        limits: Capacity limits and the listing ``ttl``; see :class:`LobbyLimits`.
        conn_limit: Most lobby connections at once (game servers stay
            connected; players connect while they browse).
        adapter: Network adapter; clients must use the same one.
        timeout: Seconds of silence after which a connection is dropped.
        clock: Monotonic time source in seconds (tests drive it).
        **adapter_options: Passed on to the adapter's ``Transport``.

    Attributes:
        registry: The listings (:class:`~pygnetic.discovery._registry.Registry`).
        limits: The :class:`LobbyLimits` in force.
    """

    handler = LobbyHandler

    def __init__(
        self,
        host: str = "",
        port: int = LOBBY_PORT,
        *,
        limits: LobbyLimits | None = None,
        conn_limit: int = 512,
        adapter: str | ModuleType | None = LOBBY_ADAPTER,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        **adapter_options: Any,
    ) -> None:
        self.limits = limits if limits is not None else LobbyLimits()
        self.registry = Registry(self.limits, clock)
        #: Refusals are logged through this: a line per few seconds at most.
        self.log_throttle = LogThrottle(log, period=5.0, clock=clock)
        super().__init__(
            host,
            port,
            conn_limit,
            message_factory=lobby_messages,
            adapter=adapter,
            timeout=timeout,
            events=False,
            clock=clock,
            **adapter_options,
        )

    def __repr__(self) -> str:
        host, port = self.address
        return f"<LobbyServer {host}:{port} {len(self.registry)} listing(s)>"

    def update(self, timeout: int = 0) -> None:
        """Serve requests, then drop listings whose ``ttl`` ran out.

        Args:
            timeout: Milliseconds to wait for network activity.
        """
        super().update(timeout)
        for entry in self.registry.expire():
            server = entry.server
            log.info("expired %d: %s:%d %r", entry.id, server.host, server.port, server.name)
