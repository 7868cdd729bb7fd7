"""Find games without typing an IP address: on the LAN, and through a lobby server.

**On the LAN**, a game server announces itself by UDP broadcast and players'
games listen (:mod:`pygnetic.discovery.lan`, :mod:`pygnetic.discovery.lan_browser`)::

    from pygnetic.discovery import Announcer, Browser, search

    # game server
    announcer = Announcer(server, name='My game', info={'map': 'forest'})
    while running:
        server.update(16)
        announcer.update()             # one small datagram per second
    announcer.close()                  # browsers drop the server at once

    # player, in a menu: listen 1.5 s and take what was heard
    for found in search():
        print(found.name, found.host, found.port, found.players, found.max_players)

    # player, in a game loop: hear servers come and go
    browser = Browser(handler=menu)    # menu.on_server_found(server), on_server_lost
    while in_menu:
        browser.update()
        draw(browser.servers)

With ``pygnetic.init(events=True)`` a browser also posts ``NETWORK`` events
with ``net_type`` :data:`~pygnetic.event.NET_SERVER_FOUND` or
:data:`~pygnetic.event.NET_SERVER_LOST` and a ``server`` attribute.

**Through a lobby** (``python -m pygnetic.discovery`` runs one), game servers
register and keep pinging, and players ask for pages of the list
(:mod:`~pygnetic.discovery.lobby`, :mod:`~pygnetic.discovery.lobby_client`,
:mod:`~pygnetic.discovery.lobby_browser`)::

    listing = LobbyAnnouncer(server, 'My game', lobby='lobby.example.com', game='tanks')
    ...
    lobby = LobbyBrowser('lobby.example.com')
    request = lobby.get_servers(game='tanks')     # filled in by lobby.update()

Every found server is a :class:`ServerInfo` with ``name``, ``host``,
``port``, ``players``, ``max_players``, ``info``, ``game`` and ``private``.
A server that asks players for a password or a token
(``Server(authenticate=...)``) says so with ``private=True``, on either
announcer, and browsers see ``server.private``; see :doc:`/howto/private-room`.

Limits, the same for both ways: a name of at most :data:`MAX_NAME_LENGTH`
characters, a game name of at most :data:`MAX_GAME_LENGTH`, and an ``info``
dict (str keys; str, bytes, numbers, None, lists and dicts as values, nested
at most :data:`MAX_INFO_DEPTH` deep) of at most :data:`MAX_INFO_SIZE` bytes
once msgpack-encoded; ``private`` must be True or False. An announcer given
more raises :class:`ServerInfoError`; a browser or lobby given more from the
network drops it with a log line. The lobby's own limits are in :class:`LobbyLimits`.
"""

from __future__ import annotations

from ._info import (
    MAX_GAME_LENGTH,
    MAX_INFO_DEPTH,
    MAX_INFO_SIZE,
    MAX_NAME_LENGTH,
    LobbyError,
    ServerInfo,
    ServerInfoError,
)
from .lan import (
    BROADCAST,
    DEFAULT_INTERVAL,
    DEFAULT_LOST_AFTER,
    DISCOVERY_PORT,
    MULTICAST_GROUP,
    Announcer,
)
from .lan_browser import Browser, search
from .lobby import LOBBY_PORT, LobbyLimits, LobbyServer, lobby_messages
from .lobby_browser import LobbyBrowser, PageRequest, ServerPage
from .lobby_client import LobbyAnnouncer

__all__ = [
    "BROADCAST",
    "DEFAULT_INTERVAL",
    "DEFAULT_LOST_AFTER",
    "DISCOVERY_PORT",
    "LOBBY_PORT",
    "MAX_GAME_LENGTH",
    "MAX_INFO_DEPTH",
    "MAX_INFO_SIZE",
    "MAX_NAME_LENGTH",
    "MULTICAST_GROUP",
    "Announcer",
    "Browser",
    "LobbyAnnouncer",
    "LobbyBrowser",
    "LobbyError",
    "LobbyLimits",
    "LobbyServer",
    "PageRequest",
    "ServerInfo",
    "ServerInfoError",
    "ServerPage",
    "lobby_messages",
    "search",
]
