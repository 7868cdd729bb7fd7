"""Echo client: type lines, the echo server sends each one back.

    python examples/echo_server.py                       # first, in one terminal
    python examples/echo_client.py                       # then here; Ctrl-D quits
    python examples/echo_client.py --host 192.168.1.20   # a server on another machine
    python examples/echo_client.py --lan                 # the first one announced on the LAN
    python examples/echo_client.py --lobby localhost     # the first one a lobby lists

The client's side of pygnetic's *Handler style*: an ``EchoPrinter`` attached to
the connection has its ``net_echo`` method called for every echo that arrives.

A network program must call ``update()`` many times a second, even while the
user is thinking: that is when messages leave and arrive, and when keepalive
pings are answered (a peer that hears nothing for 10 s is considered gone).
``input()`` would block that loop, so a small thread reads the keyboard and
hands lines over through a queue.

``--selftest FRAMES`` lets a bot send a line every 10 frames for FRAMES frames,
then prints ``selftest ok: sent=N received=M`` and exits 0 if every line came
back, 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading

import pygnetic
from pygnetic import ConnectionState
from pygnetic.discovery import DISCOVERY_PORT, LobbyBrowser, LobbyError, search

DEFAULT_PORT = 10000
GAME = "pygnetic-echo"  # as echo_server.py announces it
FRAME_MS = 16

# The same registration as in echo_server.py, in the same order.
echo = pygnetic.register("echo", ("text",))


class EchoPrinter(pygnetic.Handler):
    """Attached to our connection; pygnetic calls these during ``client.update()``.

    pygnetic logs "connected to HOST:PORT", and why a connection ended, so
    these print only what the player needs besides.
    """

    def __init__(self):
        self.echoes = 0

    def on_connect(self):
        print("type a line and press Enter (Ctrl-D quits)")

    def net_echo(self, message, **kwargs):
        self.echoes += 1
        print(f"echo: {message.text}")


def keyboard_lines():
    """Read stdin on a background thread; return a queue of lines, None at end of input."""
    lines = queue.Queue()

    def read():
        for line in sys.stdin:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def bot_lines(frames):
    """The self-test's typist: a line every 10 frames, then end of input."""
    lines = queue.Queue()
    for number in range(max(1, frames // 10)):
        lines.put(f"selftest line {number}")
    lines.put(None)
    return lines


def next_line(lines):
    """Return the next line typed, "" if there is none yet, None at the end of input."""
    try:
        return lines.get_nowait()
    except queue.Empty:
        return ""


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic echo client")
    parser.add_argument("--host", default="127.0.0.1", help="server address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="server port")
    parser.add_argument("--adapter", choices=["enet", "socket"], help="default: ENet, then TCP")
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="let a bot type")
    parser.add_argument("--lan", action="store_true", help="find the server on the LAN")
    parser.add_argument("--lan-port", type=int, default=DISCOVERY_PORT, help="LAN discovery port")
    parser.add_argument("--lobby", metavar="HOST[:PORT]", help="find the server in a lobby")
    return parser.parse_args(argv)


def find_server(args):
    """Return (host, port) of an echo server: given, heard on the LAN, or listed in a lobby.

    Return None, having said why, if there is none.
    """
    if args.lan:
        print("listening for echo servers on the LAN...")
        found = search(timeout=3, port=args.lan_port, game=GAME)  # blocks 3 s: fine here
    elif args.lobby:
        host, _, port = args.lobby.partition(":")
        lobby = LobbyBrowser((host, int(port)) if port else host)
        try:  # wait() pumps the browser; a game would call lobby.update() every frame
            found = lobby.get_servers(game=GAME).wait(timeout=5).servers
        except (LobbyError, TimeoutError) as exc:  # down, refused or silent: say which
            print(f"no echo server found: {exc}")
            return None
        finally:
            lobby.close()
    else:
        return args.host, args.port
    if not found:
        print("no echo server found")
        return None
    print(f"found {found[0].name} at {found[0].host}:{found[0].port}")
    return found[0].address


def main(argv=None):
    args = parse_args(argv)
    if not pygnetic.init(logging_lvl=logging.INFO, n_module=args.adapter or ("enet", "socket")):
        return 2
    address = find_server(args)
    if address is None:
        return 1
    client = pygnetic.Client()
    # connect() returns at once; the connection opens during a later update().
    connection = client.connect(*address)
    printer = EchoPrinter()
    connection.add_handler(printer)
    lines = bot_lines(args.selftest) if args.selftest else keyboard_lines()

    frames = 0
    stopped_at = None  # the frame at which the typing ended (Ctrl-D)
    try:
        while connection.state is not ConnectionState.CLOSED:
            client.update(FRAME_MS)
            frames += 1
            if stopped_at is None and (not args.selftest or frames % 10 == 0):
                line = next_line(lines)
                if line is None:
                    stopped_at = frames
                elif line:
                    connection.net_echo(line)  # queued until the server accepts us
            elif (
                stopped_at is not None
                and connection.connected
                and (printer.echoes == connection.messages_sent or frames > stopped_at + 120)
            ):
                connection.disconnect("bye")  # the last echoes are back, or 2 s have passed
    except KeyboardInterrupt:
        pass
    finally:
        client.close()

    sent, received = connection.messages_sent, printer.echoes
    if args.selftest is None:
        return 0 if connection.close_code == pygnetic.CloseCode.NORMAL else 1
    status = "ok" if sent and received == sent else "FAILED"
    print(f"selftest {status}: sent={sent} received={received}")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
