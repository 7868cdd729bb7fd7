"""The lobby: a pygnetic server where game servers list themselves and players look.

Run one with ``python -m pygnetic.discovery`` (see ``--help``), or embed a
:class:`LobbyServer` and pump it like any :class:`~pygnetic.server.Server`.
Game servers use :class:`~pygnetic.discovery.LobbyAnnouncer`, players use
:class:`~pygnetic.discovery.LobbyBrowser`.

The lobby speaks ordinary pygnetic messages (:data:`lobby_messages`, always
msgpack, so a game's own serializer choice does not matter) over the TCP
socket adapter by default, since it is always installed and passes more
firewalls; both sides must use the same adapter. Requests and answers go
through :mod:`pygnetic.request` (:data:`lobby_requests`). What a client
sends, and the answer:

``register(request_id, name, game, port, players, max_players, info, private)``
    Answered with ``registered(request_id, server_id, ttl)``.
``ping(request_id, server_id, players)``
    Answered with ``pinged(request_id)``.
``get_servers(request_id, game, page, page_size)``
    Answered with ``server_page(request_id, page, pages, total, servers)``.
``unregister(server_id)``
    Never answered.

Any request can instead be answered with ``refused(request_id, code,
reason)``; the codes are :data:`FULL` (a capacity limit), :data:`NOT_LISTED`
(no such listing of this connection) and :data:`~pygnetic.request.INVALID`
(a malformed request). Each server in a page is the array ``[name, game,
host, port, players, max_players, info, private]``.

The registered host is always the connection's own source address: only the
port comes from the message. Invalid requests are refused with a reason and
a log line; a connection that sends :data:`MAX_INVALID_REQUESTS` of them is
closed. See :class:`LobbyLimits` for the capacity limits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from ..errors import MessageError
from ..handler import Handler
from ..message import MessageFactory
from ..request import RequestRefused, RequestTypes
from ..server import Server
from ._info import LobbyError, LogThrottle, ServerInfo
from ._registry import LobbyLimits, Registry

__all__ = [
    "FULL",
    "LOBBY_ADAPTER",
    "LOBBY_PORT",
    "MAX_INVALID_REQUESTS",
    "NOT_LISTED",
    "LobbyHandler",
    "LobbyLimits",
    "LobbyServer",
    "lobby_messages",
    "lobby_requests",
]

#: Port a lobby listens on unless told otherwise (next to the LAN discovery port).
LOBBY_PORT = 24581
#: Network adapter lobbies and their clients use unless told otherwise.
LOBBY_ADAPTER = "socket"
#: Invalid requests after which the lobby closes a connection.
MAX_INVALID_REQUESTS = 16
#: Largest lobby message; a full page of the largest listings fits.
MAX_LOBBY_MESSAGE_SIZE = 256 * 1024
#: Refusal code: the lobby, or this host's share of it, is full.
FULL = "full"
#: Refusal code: no listing with that id belongs to this connection (it expired?).
NOT_LISTED = "not_listed"

log = logging.getLogger("pygnetic.discovery.lobby")

#: The lobby protocol. Frozen when first used; register nothing in it.
lobby_messages = MessageFactory("msgpack", max_message_size=MAX_LOBBY_MESSAGE_SIZE)
REGISTER = lobby_messages.register(
    "register",
    ("request_id", "name", "game", "port", "players", "max_players", "info", "private"),
)
PING = lobby_messages.register("ping", ("request_id", "server_id", "players"))
UNREGISTER = lobby_messages.register("unregister", ("server_id",))
GET_SERVERS = lobby_messages.register("get_servers", ("request_id", "game", "page", "page_size"))
REGISTERED = lobby_messages.register("registered", ("request_id", "server_id", "ttl"))
PINGED = lobby_messages.register("pinged", ("request_id",))
SERVER_PAGE = lobby_messages.register(
    "server_page", ("request_id", "page", "pages", "total", "servers")
)
#: Which lobby messages are requests, and their answers; registers ``refused``.
lobby_requests = RequestTypes(lobby_messages, max_invalid=MAX_INVALID_REQUESTS)
REFUSED = lobby_requests.refusal
lobby_requests.add(REGISTER, REGISTERED)
lobby_requests.add(PING, PINGED)
lobby_requests.add(GET_SERVERS, SERVER_PAGE)


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
        server.private,
    ]


class LobbyHandler(Handler):
    """Serves one lobby connection; a :class:`LobbyServer` makes one per client."""

    server: LobbyServer  # type: ignore[assignment]

    @property
    def _registry(self) -> Registry:
        return self.server.registry

    @property
    def _host(self) -> str:
        return str(self.connection.address[0])

    @property
    def _peer(self) -> str:
        """``HOST:PORT`` of the connection, as the core's log lines name peers."""
        host, port = self.connection.address
        return f"{host}:{port}"

    def on_connect(self) -> None:
        """Refuse hosts that already hold ``max_connections_per_host`` connections."""
        limit = self.server.limits.max_connections_per_host
        host = self._host
        same = sum(1 for c in self.server.connections() if c.address[0] == host)
        if same > limit:
            self.server.log_throttle(
                logging.WARNING,
                "refused %s: more than %d lobby connections from %s",
                self._peer,
                limit,
                host,
            )
            self.connection.disconnect(f"too many lobby connections from {host} (limit {limit})")

    def on_disconnect(self) -> None:
        """Leave this connection's listings to expire."""
        self._registry.disown(self)

    @contextlib.contextmanager
    def _refusing(self, request: str, code: str) -> Iterator[None]:
        """Log what the registry refuses, and refuse it with ``code``.

        A :class:`~pygnetic.errors.MessageError` (an invalid field) goes on to
        :mod:`pygnetic.request`, which refuses it as invalid and counts it.
        """
        throttle = self.server.log_throttle
        try:
            yield
        except LobbyError as exc:
            throttle(logging.INFO, "refused %s from %s: %s", request, self._peer, exc)
            raise RequestRefused(str(exc), code) from exc
        except MessageError as exc:
            throttle(logging.WARNING, "invalid %s from %s: %s", request, self._peer, exc)
            raise

    @lobby_requests.answers(REGISTER)
    def net_register(self, message: Any) -> tuple[Any, ...]:
        """List (or update) the game server at this connection's address."""
        with self._refusing("register", FULL):
            entry = self._registry.register(self, self._host, *message[1:])
        server = entry.server
        log.info("listed server %d %r at %s:%d", entry.id, server.name, server.host, server.port)
        return entry.id, self.server.limits.ttl

    @lobby_requests.answers(PING)
    def net_ping(self, message: Any) -> tuple[Any, ...]:
        """Keep a listing alive."""
        with self._refusing("ping", NOT_LISTED):
            self._registry.ping(self, message.server_id, message.players)
        return ()

    def net_unregister(self, message: Any) -> None:
        """Remove a listing; an unknown id is only logged, since nobody waits for an answer."""
        try:
            entry = self._registry.unregister(self, message.server_id)
        except LobbyError as exc:
            self.server.log_throttle(
                logging.INFO, "ignored unregister from %s: %s", self._peer, exc
            )
            return
        log.info("unlisted server %d at %s:%d", entry.id, entry.server.host, entry.server.port)

    @lobby_requests.answers(GET_SERVERS)
    def net_get_servers(self, message: Any) -> tuple[Any, ...]:
        """Send one page of listings."""
        with self._refusing("get_servers", FULL):
            servers, pages, total = self._registry.page(
                message.game, message.page, message.page_size
            )
        return message.page, pages, total, [server_row(server) for server in servers]

    def on_receive(self, message: Any, **kwargs: Any) -> None:
        """Refuse the messages only a lobby sends, as invalid requests."""
        name = type(message).__name__
        self.server.log_throttle(
            logging.WARNING, "invalid %s from %s: not a request", name, self._peer
        )
        lobby_requests.refuse_invalid(self, None, f"{name} is not a request")


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
            log.info(
                "expired server %d %r at %s:%d: no ping for %g s",
                entry.id,
                server.name,
                server.host,
                server.port,
                self.limits.ttl,
            )
