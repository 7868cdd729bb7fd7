"""LAN browser: hear the game servers that :class:`~pygnetic.discovery.Announcer` announces.

:class:`Browser` is for game loops (pump it every frame, hear servers come and
go); :func:`search` is for menus and scripts (listen for a moment, return the
list). See :mod:`pygnetic.discovery.lan` for the wire format and the limits.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from .. import event
from ..errors import MessageError
from ._info import LogThrottle, ServerInfo, check_count
from .lan import DEFAULT_LOST_AFTER, DISCOVERY_PORT, MAX_PACKET_SIZE, decode

__all__ = ["MAX_DATAGRAMS_PER_UPDATE", "MAX_SERVERS", "MAX_SERVERS_PER_HOST", "Browser", "search"]

#: Servers a browser keeps at most, unless told otherwise.
MAX_SERVERS = 256
#: Servers a browser keeps from one address at most, unless told otherwise.
MAX_SERVERS_PER_HOST = 32
#: Datagrams read per ``Browser.update()`` at most, so a flood cannot stall a frame.
MAX_DATAGRAMS_PER_UPDATE = 256

log = logging.getLogger("pygnetic.discovery")


class _Known:
    __slots__ = ("expires", "server")

    def __init__(self, server: ServerInfo, expires: float) -> None:
        self.server = server
        self.expires = expires


class Browser:
    """Listens for LAN announcements; call :meth:`update` every frame.

    It reports changes three ways; use whichever suits the game:

    * :attr:`servers`, the servers heard recently, in the order found;
    * calls to :meth:`on_server_found`, :meth:`on_server_updated` and
      :meth:`on_server_lost`, which forward to ``handler`` (or override them);
    * pygame events ``NETWORK`` with ``net_type`` :data:`~pygnetic.event.NET_SERVER_FOUND`
      or :data:`~pygnetic.event.NET_SERVER_LOST` and a ``server`` attribute,
      when events are enabled.

    Args:
        port: Discovery port to listen on; 0 picks a free one (see :attr:`address`).
        host: Address to bind; ``''`` (all interfaces) is needed for broadcasts.
        game: Only report servers of this game name (None: every game).
        handler: Object with any of ``on_server_found(server)``,
            ``on_server_updated(server)``, ``on_server_lost(server)``.
        events: Post pygame events; default: whether ``init(events=True)`` ran.
        group: Multicast group to join, when announcers send to one.
        interface: Address of the interface to join ``group`` on (default: any).
        lost_after: Missed announcement intervals before a server is lost.
        max_servers: Most servers kept; announcements beyond are dropped.
        max_servers_per_host: Most servers kept from one address.
        clock: Monotonic time source in seconds (tests drive it).

    Attributes:
        address: ``(host, port)`` the browser listens on.
    """

    def __init__(
        self,
        port: int = DISCOVERY_PORT,
        host: str = "",
        *,
        game: str | None = None,
        handler: Any = None,
        events: bool | None = None,
        group: str | None = None,
        interface: str | None = None,
        lost_after: float = DEFAULT_LOST_AFTER,
        max_servers: int = MAX_SERVERS,
        max_servers_per_host: int = MAX_SERVERS_PER_HOST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_count("max_servers", max_servers)
        check_count("max_servers_per_host", max_servers_per_host)
        if not lost_after > 0:
            raise ValueError(f"lost_after must be > 0, not {lost_after!r}")
        self.game = game
        self.handler = handler
        self.events = event.enabled() if events is None else events
        self.lost_after = lost_after
        self.max_servers = max_servers
        self.max_servers_per_host = max_servers_per_host
        self._clock = clock
        self._known: dict[tuple[str, int], _Known] = {}
        self._per_host: dict[str, int] = {}
        self._earliest = float("inf")
        self._throttle = LogThrottle(log, clock=clock)
        self._sock = _listening_socket(host, port, group, interface)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Browser {self.address[0]}:{self.address[1]} {len(self._known)} server(s)>"

    @property
    def servers(self) -> list[ServerInfo]:
        """The servers heard within their ``lost_after`` intervals, in the order found."""
        return [known.server for known in self._known.values()]

    # -- callbacks -------------------------------------------------------------

    def on_server_found(self, server: ServerInfo) -> None:
        """Called when a server is heard for the first time; forwards to ``handler``."""
        self._forward("on_server_found", server)

    def on_server_updated(self, server: ServerInfo) -> None:
        """Called when a known server announces a change (players, info...)."""
        self._forward("on_server_updated", server)

    def on_server_lost(self, server: ServerInfo) -> None:
        """Called when a server said goodbye or missed ``lost_after`` intervals."""
        self._forward("on_server_lost", server)

    def _forward(self, name: str, server: ServerInfo) -> None:
        method = getattr(self.handler, name, None)
        if method is not None:
            method(server)

    # -- the loop --------------------------------------------------------------

    def update(self, timeout: int = 0) -> None:
        """Read the announcements that arrived, then drop servers that went silent.

        Args:
            timeout: Milliseconds to wait for a datagram when none is there yet.
        """
        if timeout > 0:
            select.select([self._sock], [], [], timeout / 1000)
        for _ in range(MAX_DATAGRAMS_PER_UPDATE):
            try:
                data, source = self._sock.recvfrom(MAX_PACKET_SIZE + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. an ICMP error reported on Windows
                self._throttle(logging.WARNING, "LAN discovery socket error: %s", exc)
                break
            self._receive(data, source[0])
        self._expire(self._clock())

    def _receive(self, data: bytes, host: str) -> None:
        try:
            packet = decode(data)
        except MessageError as exc:
            self._throttle(logging.WARNING, "dropped LAN datagram from %s: %s", host, exc)
            return
        if packet is None:
            log.debug(
                "ignored a %d byte datagram from %s: not pygnetic discovery", len(data), host
            )
            return
        key = (host, packet.port)
        if packet.goodbye:
            self._remove(key)
            return
        if self.game is not None and packet.game != self.game:
            return
        server = ServerInfo(
            packet.name,
            host,
            packet.port,
            packet.players,
            packet.max_players,
            packet.info,
            packet.game,
            packet.private,
        )
        expires = self._clock() + self.lost_after * packet.interval
        self._earliest = min(self._earliest, expires)
        known = self._known.get(key)
        if known is not None:
            known.expires = expires
            if known.server != server:
                known.server = server
                self.on_server_updated(server)
        elif self._admit(host):
            self._known[key] = _Known(server, expires)
            self._per_host[host] = self._per_host.get(host, 0) + 1
            self.on_server_found(server)
            self._post(event.NET_SERVER_FOUND, server)

    def _admit(self, host: str) -> bool:
        if len(self._known) >= self.max_servers:
            limit = f"max_servers={self.max_servers}"
        elif self._per_host.get(host, 0) >= self.max_servers_per_host:
            limit = f"max_servers_per_host={self.max_servers_per_host}"
        else:
            return True
        self._throttle(
            logging.WARNING, "ignored a new LAN server from %s: %s reached", host, limit
        )
        return False

    def _expire(self, now: float) -> None:
        if now < self._earliest:
            return
        self._earliest = float("inf")
        for key, known in list(self._known.items()):
            if known.expires <= now:
                self._remove(key)
            else:
                self._earliest = min(self._earliest, known.expires)

    def _remove(self, key: tuple[str, int]) -> None:
        known = self._known.pop(key, None)
        if known is None:
            return
        host = key[0]
        self._per_host[host] -= 1
        if not self._per_host[host]:
            del self._per_host[host]
        self.on_server_lost(known.server)
        self._post(event.NET_SERVER_LOST, known.server)

    def _post(self, net_type: int, server: ServerInfo) -> None:
        if self.events:
            event.post(net_type, server=server, browser=self)

    def close(self) -> None:
        """Stop listening and release the port. Known servers are forgotten silently."""
        self._sock.close()
        self._known.clear()
        self._per_host.clear()


def _listening_socket(
    host: str, port: int, group: str | None, interface: str | None
) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if group:
            membership = struct.pack(
                "4s4s", socket.inet_aton(group), socket.inet_aton(interface or "0.0.0.0")
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"cannot listen for LAN announcements on {host}:{port}: {exc}"
        ) from exc
    sock.setblocking(False)
    return sock


def search(
    timeout: float = 1.5,
    port: int = DISCOVERY_PORT,
    host: str = "",
    *,
    game: str | None = None,
    group: str | None = None,
    interface: str | None = None,
) -> list[ServerInfo]:
    """Listen for ``timeout`` seconds and return the game servers heard.

    Blocks, so call it from a menu, not from a running game loop (use a
    :class:`Browser` there). The default ``timeout`` covers one default
    announcement interval. Arguments are those of :class:`Browser`.
    """
    with Browser(port, host, game=game, group=group, interface=interface, events=False) as browser:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            browser.update(max(1, int(left * 1000)))
        return browser.servers
