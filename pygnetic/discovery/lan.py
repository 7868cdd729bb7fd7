"""LAN discovery: game servers announce themselves by UDP broadcast, browsers listen.

A game server attaches an :class:`Announcer` and pumps it from its loop; it
sends one small datagram per ``interval`` to the discovery port of the whole
LAN. A player's game either calls :func:`~pygnetic.discovery.search`, which
listens for a moment and returns what it heard, or keeps a
:class:`~pygnetic.discovery.Browser` and pumps it every frame to hear servers
come and go (both in :mod:`pygnetic.discovery.lan_browser`)::

    announcer = Announcer(server, name='My game', info={'map': 'forest'})
    while running:
        server.update(16)
        announcer.update()

    browser = Browser(handler=menu)       # menu.on_server_found(server) ...
    while in_menu:
        browser.update()
        for server in browser.servers:    # ServerInfo: name, host, port, ...
            ...

Wire format (version 1): the four bytes ``PGND``, a version byte, then a
msgpack array. An announcement is ``[0, name, game, port, players,
max_players, interval, info, private]``; a goodbye, sent when an announcer
closes, is ``[1, port]``. Receivers ignore extra trailing items, so later
versions can add fields without breaking older browsers: ``private`` was
added that way, and an announcement without it is a server that is not
private. A browser takes the host from
the datagram's source address and the port from the packet, drops the
server after ``lost_after`` missed intervals, and drops (with a throttled log
line) anything malformed, oversized or beyond its limits. Datagrams without
the magic, from other programs sharing the port, are ignored silently.

Broadcast (the default target) reaches every host on the local subnet;
multicast (``target=(MULTICAST_GROUP, port)`` and ``Browser(group=...)``) can
cross routers that forward it. Several browsers on one machine share the
discovery port (``SO_REUSEADDR``/``SO_REUSEPORT``), but only broadcast and
multicast datagrams reach all of them; a unicast target reaches one. IPv4 only.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import msgpack

from ..adapters.serialization.msgpack import serializer as _msgpack
from ..errors import MessageError
from ..message import brief
from ._info import Described, LogThrottle, ServerInfoError, validate

if TYPE_CHECKING:
    from ..server import Server

__all__ = [
    "BROADCAST",
    "DEFAULT_INTERVAL",
    "DEFAULT_LOST_AFTER",
    "DISCOVERY_PORT",
    "MAGIC",
    "MAX_PACKET_SIZE",
    "MULTICAST_GROUP",
    "VERSION",
    "Announcer",
    "Packet",
    "decode",
    "encode_announcement",
    "encode_goodbye",
]

#: UDP port announcements go to unless told otherwise. It lies below the
#: ephemeral port ranges (Linux 32768-60999, Windows 49152-65535), so no
#: outgoing connection can be holding it.
DISCOVERY_PORT = 24580
#: Target meaning "every host on this subnet" (255.255.255.255).
BROADCAST = "<broadcast>"
#: An organisation-local multicast group for ``target`` and ``Browser(group=...)``.
MULTICAST_GROUP = "239.255.80.71"
#: First bytes of every discovery datagram.
MAGIC = b"PGND"
#: Wire format version; datagrams of other versions are ignored.
VERSION = 1
#: Seconds between two announcements.
DEFAULT_INTERVAL = 1.0
#: Missed intervals after which a browser reports a server lost.
DEFAULT_LOST_AFTER = 3
#: Largest datagram sent or accepted: one Ethernet frame's UDP payload.
MAX_PACKET_SIZE = 1472

_HEADER = MAGIC + bytes((VERSION,))
_ANNOUNCE, _GOODBYE = 0, 1
# The interval a browser believes from a packet is clamped to this range.
_MIN_INTERVAL, _MAX_INTERVAL = 0.01, 60.0

log = logging.getLogger("pygnetic.discovery")


class Packet(NamedTuple):
    """A decoded discovery datagram (a goodbye has only ``kind`` and ``port``)."""

    kind: int
    port: int
    name: str = ""
    game: str = ""
    players: int = 0
    max_players: int = 0
    interval: float = DEFAULT_INTERVAL
    info: dict[str, Any] = {}
    private: bool = False

    @property
    def goodbye(self) -> bool:
        """True for a goodbye: the server at ``port`` is closing."""
        return self.kind == _GOODBYE


def encode_announcement(
    name: str,
    game: str,
    port: int,
    players: int,
    max_players: int,
    interval: float,
    info: dict[str, Any],
    private: bool = False,
) -> bytes:
    """Return the announcement datagram for a server description."""
    body = [_ANNOUNCE, name, game, port, players, max_players, float(interval), info, private]
    return _HEADER + msgpack.packb(body)


def encode_goodbye(port: int) -> bytes:
    """Return the datagram that withdraws the server at ``port``."""
    return _HEADER + msgpack.packb([_GOODBYE, port])


def decode(data: bytes) -> Packet | None:
    """Decode a datagram; None if it is not a pygnetic discovery datagram of this version.

    Raises:
        MessageError: It carries the magic but is oversized or malformed.
    """
    if not data.startswith(MAGIC) or len(data) < len(_HEADER):
        return None
    if data[len(MAGIC)] != VERSION:
        return None
    if len(data) > MAX_PACKET_SIZE:
        raise MessageError(f"{len(data)} bytes, over the {MAX_PACKET_SIZE} byte limit")
    body = _msgpack.unpack(data[len(_HEADER) :])
    if type(body) is not list or len(body) < 2 or body[0] not in (_ANNOUNCE, _GOODBYE):
        raise MessageError("not an announcement or a goodbye")
    if body[0] == _GOODBYE:
        validate("", "", body[1], 0, 0, {}, error=MessageError)
        return Packet(_GOODBYE, body[1])
    if len(body) < 8:
        raise MessageError(f"announcement has {len(body) - 1} fields, expected 7")
    _, name, game, port, players, max_players, interval, info = body[:8]
    private = body[8] if len(body) > 8 else False  # absent before it was added
    validate(name, game, port, players, max_players, info, private, error=MessageError)
    if type(interval) not in (int, float) or not interval > 0:
        raise MessageError(f"interval must be a positive number, not {brief(interval, 40)}")
    interval = min(max(float(interval), _MIN_INTERVAL), _MAX_INTERVAL)
    return Packet(_ANNOUNCE, port, name, game, players, max_players, interval, info, private)


def _split_target(target: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(target, str):
        return target, DISCOVERY_PORT
    host, port = target
    return host, int(port)


def _is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


class Announcer(Described):
    """Announces a game server on the LAN; call :meth:`update` every frame.

    Args:
        server: The :class:`~pygnetic.server.Server` to announce; its port,
            player count (``len(server.connections())``) and ``conn_limit``
            are read at each announcement. None to give them explicitly.
        name: Server name shown to players (default: this machine's host name).
        info: Game-defined details, a small dict with str keys (at most
            :data:`~pygnetic.discovery.MAX_INFO_SIZE` bytes once encoded).
        game: Game name, so that browsers of other games can skip this server.
        port: Game port, overriding ``server.address[1]``.
        players: Player count, overriding the server's; set the attribute
            later to change it.
        max_players: Capacity, overriding ``server.conn_limit``.
        private: Tell browsers that players need a password or a token to
            join, as a server with ``authenticate`` asks (browsers see
            :attr:`ServerInfo.private <pygnetic.discovery.ServerInfo.private>`).
        target: Where to send: a host (broadcast by default, a multicast group,
            or a unicast address) on :data:`DISCOVERY_PORT`, or ``(host, port)``.
        interval: Seconds between announcements.
        interface: Multicast only: address of the interface to send from.
        hops: Multicast only: how many routers a datagram may cross (its TTL).
        clock: Monotonic time source in seconds (tests drive it).

    Raises:
        ServerInfoError: The description breaks a limit (the message says which).
    """

    def __init__(
        self,
        server: Server | None = None,
        name: str | None = None,
        info: Mapping[str, Any] | None = None,
        *,
        game: str = "",
        port: int | None = None,
        players: int | None = None,
        max_players: int | None = None,
        private: bool = False,
        target: str | tuple[str, int] = BROADCAST,
        interval: float = DEFAULT_INTERVAL,
        interface: str | None = None,
        hops: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, not {interval!r}")
        self._describe(server, name, info, game, port, players, max_players, private)
        self.interval = interval
        self.target = _split_target(target)
        self._clock = clock
        self._next = float("-inf")
        self._sent = False
        self._throttle = LogThrottle(log, clock=clock)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if _is_multicast(self.target[0]):
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, hops)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if interface:
                address = socket.inet_aton(interface)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, address)

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _packet(self) -> bytes:
        name, game, port, players, max_players, info, private = self.description()
        return encode_announcement(
            name, game, port, players, max_players, self.interval, info, private
        )

    def update(self) -> None:
        """Announce if ``interval`` has passed since the last announcement.

        Sending failures (no network, say) are logged, never raised.

        Raises:
            ServerInfoError: An attribute was set to a value beyond the limits.
        """
        if self._clock() >= self._next:
            self.announce()

    def announce(self) -> None:
        """Announce now, e.g. right after a player joined, and restart the interval."""
        packet = self._packet()
        self._next = self._clock() + self.interval
        self._send(packet)
        self._sent = True

    def _send(self, packet: bytes) -> None:
        try:
            self._sock.sendto(packet, self.target)
        except OSError as exc:
            self._throttle(
                logging.WARNING, "LAN announcement to %s:%d failed: %s", *self.target, exc
            )

    def close(self) -> None:
        """Say goodbye, so browsers drop the server at once, and release the socket."""
        if self._sock.fileno() < 0:
            return
        try:
            if self._sent:
                self._send(encode_goodbye(self.description()[2]))
        except ServerInfoError:
            pass  # the port is no longer valid: browsers will time the server out
        finally:
            self._sock.close()
