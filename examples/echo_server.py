"""Echo server: sends every line a client types straight back to it.

    python examples/echo_server.py                 # listen on port 10000
    python examples/echo_client.py                 # in another terminal

Finding the server without its address (see pygnetic.discovery):

    python examples/echo_server.py --lan           # announce on the local network
    python examples/echo_client.py --lan           # join the first echo server heard

    python -m pygnetic.discovery                   # a lobby, in a third terminal
    python examples/echo_server.py --lobby localhost
    python examples/echo_client.py --lobby localhost

This is pygnetic's *Handler style*. The server makes one ``EchoHandler`` for
each client that connects, and calls its methods when something happens to
that client: ``on_connect``, ``net_<message name>`` for each message that
arrives, ``on_disconnect``. Everything happens inside ``server.update()``, on
this thread, so there are no threads or locks to think about.

pygnetic logs where the server listens, each client it accepts and how each
connection ended (``pygnetic.init()`` shows INFO lines on stderr), so this
program prints only what the clients say.

No pygame needed: a dedicated server runs fine without a display.

``--selftest FRAMES`` serves until the first client leaves (or FRAMES updates
have passed), prints ``selftest ok: sent=N received=M`` and exits 0, or exits 1
if no message went back and forth.
"""

from __future__ import annotations

import argparse
import logging

import pygnetic
from pygnetic.discovery import BROADCAST, DISCOVERY_PORT, Announcer, LobbyAnnouncer

DEFAULT_PORT = 10000
GAME = "pygnetic-echo"  # the game name announced and searched for
FRAME_MS = 16  # update() waits at most this long for network traffic, like a 60 fps frame

# Both programs must register the same messages in the same order (echo_client.py
# has the same line): only the message's number travels, not its name.
echo = pygnetic.register("echo", ("text",))


class Served:
    """Totals over every client that has come and gone, for the self-test."""

    clients = 0
    sent = 0
    received = 0


class EchoHandler(pygnetic.Handler):
    """One per connected client; pygnetic calls these methods during ``server.update()``."""

    def net_echo(self, message, **kwargs):
        # `message` is a namedtuple: echo(text='...'). Send the text back on the
        # same connection; it leaves during the next update().
        print(f"{self.connection.address[0]} says: {message.text}")
        self.connection.net_echo(message.text)

    def on_disconnect(self):
        # No print: pygnetic has logged why the connection ended.
        connection = self.connection
        Served.clients += 1
        Served.sent += connection.messages_sent
        Served.received += connection.messages_received


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic echo server")
    parser.add_argument("--host", default="", help="interface to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--adapter", choices=["enet", "socket"], help="default: both (ENet when installed)"
    )
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="exit when a client left")
    parser.add_argument("--lan", action="store_true", help="announce this server on the LAN")
    parser.add_argument("--lan-port", type=int, default=DISCOVERY_PORT, help="LAN discovery port")
    parser.add_argument("--lan-target", default=BROADCAST, help="where to announce")
    parser.add_argument("--lobby", metavar="HOST[:PORT]", help="list this server in a lobby")
    return parser.parse_args(argv)


def listings(server, args):
    """The announcers the options ask for; each is pumped with update() every frame."""
    found = []
    if args.lan:  # one small UDP broadcast a second: "an echo server, at this port"
        target = (args.lan_target, args.lan_port)
        found.append(Announcer(server, "echo server", game=GAME, target=target))
    if args.lobby:  # registers with the lobby, then pings it to stay listed
        host, _, port = args.lobby.partition(":")
        lobby = (host, int(port)) if port else host
        found.append(LobbyAnnouncer(server, "echo server", lobby=lobby, game=GAME))
    return found


def main(argv=None):
    args = parse_args(argv)
    # init() takes ENet and TCP (TCP only, with a warning, where pyenet is missing).
    if not pygnetic.init(logging_lvl=logging.INFO, n_module=args.adapter or ("enet", "socket")):
        return 2
    server = pygnetic.Server(args.host, args.port, conn_limit=8, handler=EchoHandler)
    # pygnetic has logged "server listening on HOST:PORT (...)"; only this is news.
    print("Ctrl-C stops the server", flush=True)

    announcers = listings(server, args)
    frames = 0
    try:
        # The whole server is this loop: update() sends, receives and calls handlers.
        while not (args.selftest and (Served.clients or frames >= args.selftest)):
            server.update(FRAME_MS)
            for announcer in announcers:
                announcer.update()
            frames += 1
    except KeyboardInterrupt:
        pass
    finally:
        for announcer in announcers:
            announcer.close()  # say goodbye: the server leaves the lists at once
        server.close()  # says goodbye to every client still connected

    if args.selftest is None:
        return 0
    if Served.sent and Served.received:
        print(f"selftest ok: sent={Served.sent} received={Served.received}")
        return 0
    print(f"selftest FAILED: sent={Served.sent} received={Served.received}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
