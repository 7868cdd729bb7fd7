"""Run a lobby: ``python -m pygnetic.discovery [--host H] [--port P] [options]``.

It prints ``pygnetic lobby listening on HOST:PORT`` on stdout once it is
ready (with ``--port 0`` that is how to learn the port), logs to stderr, and
runs until interrupted (Ctrl+C or SIGTERM), when it tells its clients it is
closing. Needs neither pygame nor a display.

``python -m pygnetic.discovery --search-lan`` instead listens for LAN
announcements for ``--seconds`` and prints the game servers it heard, one a
line: ``HOST:PORT  NAME [GAME] (private)  PLAYERS/MAX  INFO``, where the game
and ``(private)`` appear only when the server announced them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from .. import _configure_logging
from ._registry import LobbyLimits
from .lan import DISCOVERY_PORT
from .lan_browser import search
from .lobby import LOBBY_ADAPTER, LOBBY_PORT, LobbyServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pygnetic.discovery",
        description="Run a pygnetic lobby, where game servers list themselves.",
    )
    limits = LobbyLimits()
    add = parser.add_argument
    add("--host", default="", help="interface to listen on (default: all)")
    add("--port", type=int, default=LOBBY_PORT, help=f"port (default {LOBBY_PORT}; 0: any)")
    add("--adapter", default=LOBBY_ADAPTER, choices=["socket", "enet"], help="network adapter")
    add("--ttl", type=float, default=limits.ttl, help="seconds a listing lives without a ping")
    add("--max-servers", type=int, default=limits.max_servers, help="listings in all")
    add(
        "--max-servers-per-host",
        type=int,
        default=limits.max_servers_per_host,
        help="listings from one IP address",
    )
    add("--max-page-size", type=int, default=limits.max_page_size, help="servers per page")
    add("--max-connections", type=int, default=512, help="connections at once")
    add(
        "--max-connections-per-host",
        type=int,
        default=limits.max_connections_per_host,
        help="connections from one IP address",
    )
    add("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add("--search-lan", action="store_true", help="list LAN game servers instead, then exit")
    add("--lan-port", type=int, default=DISCOVERY_PORT, help="LAN discovery port")
    add("--seconds", type=float, default=1.5, help="how long --search-lan listens")
    return parser


def _search_lan(args: argparse.Namespace) -> int:
    servers = search(args.seconds, args.lan_port)
    for server in servers:
        game = f" [{server.game}]" if server.game else ""
        private = " (private)" if server.private else ""
        print(
            f"{server.host}:{server.port}  {server.name}{game}{private}  "
            f"{server.players}/{server.max_players}  {server.info}"
        )
    print(f"{len(servers)} server(s) found", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the lobby (or the LAN search); return the exit status."""
    args = _parser().parse_args(argv)
    # As pygnetic.init() does, so that a lobby's log reads like its game servers'.
    _configure_logging(logging.getLevelName(args.log_level))
    if args.search_lan:
        return _search_lan(args)
    try:
        limits = LobbyLimits(
            ttl=args.ttl,
            max_servers=args.max_servers,
            max_servers_per_host=args.max_servers_per_host,
            max_page_size=args.max_page_size,
            max_connections_per_host=args.max_connections_per_host,
        )
        lobby = LobbyServer(
            args.host,
            args.port,
            limits=limits,
            conn_limit=args.max_connections,
            adapter=args.adapter,
        )
    except (ValueError, OSError) as exc:
        print(f"cannot start the lobby: {exc}", file=sys.stderr)
        return 2
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = lobby.address
    print(f"pygnetic lobby listening on {host}:{port}", flush=True)
    try:
        while not stopping:
            lobby.update(100)
    finally:
        lobby.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
