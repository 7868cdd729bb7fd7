"""A password-protected room: only players who know the password get in.

    python examples/private_room.py --host-game                 # asks for the room's password
    python examples/private_room.py --join --name Tom           # asks for it too, then chat
    python examples/private_room.py --join --name Eve --password guess   # refused: wrong password

Listed in a lobby as private, so players find the room without its address
and know to have the password ready:

    python -m pygnetic.discovery                                # the lobby, in a third terminal
    python examples/private_room.py --host-game --lobby localhost
    python examples/private_room.py --join --lobby localhost --name Tom

The server gives ``pygnetic.Server`` an ``authenticate`` callable (``Doorman``
here). pygnetic calls it for each client during the handshake, with what the
client passed as ``connect(..., credentials=...)``: this room expects
``{'password': ..., 'name': ...}``. It returns the player's name, which
handlers then read as ``self.connection.identity``, or raises
``pygnetic.Refused(reason)``, which the client reads as its ``close_reason``.
Credentials are remote data: the doorman checks their type and size before
looking at them, and compares the password with ``hmac.compare_digest``.

``--password`` on the command line is for trying it out (other users of the
machine can see a command line); without it the program asks.

``--selftest FRAMES``: the host serves until the first player who got in
leaves; a player says three lines and leaves once they come back. Each prints
``selftest ok: sent=N received=M`` and exits 0, or exits 1 if no message went
back and forth (a refused player always exits 1, having said why).
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import logging
import queue
import sys
import threading

import pygnetic
from pygnetic import ConnectionState, Refused
from pygnetic.discovery import LobbyAnnouncer, LobbyBrowser, LobbyError

DEFAULT_PORT = 10000
GAME = "pygnetic-room"  # the game name listed in the lobby and searched for
FRAME_MS = 16
MAX_NAME = 20  # longest player name, in characters
MAX_PASSWORD = 128  # longest password the doorman looks at
MAX_TEXT = 200  # longest line a player may say

# Both sides register the same messages in the same order.
say = pygnetic.register("say", ("text",))  # player -> room
said = pygnetic.register("said", ("name", "text"))  # room -> every player
welcome = pygnetic.register("welcome", ("name", "players"))  # room -> the newcomer


# -- the host's side ---------------------------------------------------------


def read_credentials(credentials):
    """Return ``(name, password)`` from what a client sent; raise ``Refused`` saying what is wrong.

    The reasons never repeat what the client sent: it knows, and a reason
    stays short whatever arrived.
    """
    if type(credentials) is not dict:  # None when the client gave no credentials
        raise Refused("this room needs a password")
    name, password = credentials.get("name"), credentials.get("password")
    if type(password) is not str or not 0 < len(password) <= MAX_PASSWORD:
        raise Refused(f"the password must be text of 1 to {MAX_PASSWORD} characters")
    if type(name) is not str or not 0 < len(name.strip()) <= MAX_NAME or not name.isprintable():
        raise Refused(f"the name must be 1 to {MAX_NAME} printable characters")
    return name.strip(), password


class Doorman:
    """The server's ``authenticate``: the room's password lets a player in under their name.

    Runs inside ``server.update()``, so it answers at once: no network, no disk.
    """

    def __init__(self, password):
        self._password = password.encode()  # compare bytes: compare_digest takes str only if ASCII
        self.server = None  # set once the server exists, to see who is in the room

    def __call__(self, credentials, address):
        name, password = read_credentials(credentials)
        if not hmac.compare_digest(password.encode(), self._password):
            raise Refused("wrong password")  # counts towards max_auth_failures, like any refusal
        if name in {connection.identity for connection in self.server.connections()}:
            raise Refused(f"someone called {name} is already in the room")
        return name  # the identity: self.connection.identity in the Room handler


class Served:
    """Totals over the players who have come and gone, for the self-test."""

    players = 0
    sent = 0
    received = 0


class Room(pygnetic.Handler):
    """One per player who got in; ``self.connection.identity`` is the name the doorman returned."""

    def on_connect(self):
        name = self.connection.identity
        self.connection.net_welcome(name, len(self.server.connections()))
        self.tell_everyone(f"{name} came in")

    def net_say(self, message, **kwargs):
        text = message.text
        if type(text) is not str or len(text) > MAX_TEXT:
            return  # remote data: a line that no honest client sends is dropped
        # The name comes from the handshake, not from the message: nobody speaks for another.
        for connection in self.server.connections():
            connection.net_said(self.connection.identity, text)

    def on_disconnect(self):
        self.tell_everyone(f"{self.connection.identity} left")
        Served.players += 1
        Served.sent += self.connection.messages_sent
        Served.received += self.connection.messages_received

    def tell_everyone(self, text):
        print(text, flush=True)
        for connection in self.server.connections(exclude=self.connection):
            connection.net_said("", text)  # no name: the room speaks (a name is never empty)


def host(args):
    password = args.password or getpass.getpass("the room's password: ")
    if not password or len(password) > MAX_PASSWORD:
        print(f"the password must be 1 to {MAX_PASSWORD} characters")
        return 2
    doorman = Doorman(password)
    server = pygnetic.Server(
        args.host,
        args.port,
        conn_limit=8,
        handler=Room,
        authenticate=doorman,
        max_auth_failures=5,  # refusals per address per minute before it is refused unasked
    )
    doorman.server = server
    listing = None
    if args.lobby:  # listed as private: a browser shows a lock and asks for the password
        listing = LobbyAnnouncer(
            server, args.room, lobby=lobby_address(args), game=GAME, private=True
        )
    frames = 0
    try:
        while not (args.selftest and (Served.players or frames >= args.selftest)):
            server.update(FRAME_MS)
            if listing is not None:
                listing.update()
            frames += 1
    except KeyboardInterrupt:
        pass
    finally:
        if listing is not None:
            listing.close()
        server.close()
    if args.selftest is None:
        return 0
    status = "ok" if Served.sent and Served.received else "FAILED"
    print(f"selftest {status}: sent={Served.sent} received={Served.received}")
    return 0 if status == "ok" else 1


# -- a player's side ---------------------------------------------------------


class Player(pygnetic.Handler):
    """Attached to the player's connection; prints the room and says why it was refused."""

    def __init__(self, name):
        self.name = name
        self.echoes = 0  # own lines heard back from the room

    def net_welcome(self, message, **kwargs):
        print(f"in the room as {message.name}, {message.players} player(s) here")

    def net_said(self, message, **kwargs):
        print(f"<{message.name}> {message.text}" if message.name else f"* {message.text}")
        if message.name == self.name:
            self.echoes += 1

    def on_disconnect(self):
        connection = self.connection
        if connection.close_code is pygnetic.CloseCode.REFUSED:
            # The doorman's reason, as a game would show it by the password box
            # (at most MAX_REASON_LENGTH characters: the core cuts it).
            print(f"the room refused you: {connection.close_reason}")


def keyboard_lines():
    """Read stdin on a background thread (update() must keep running); None at end of input."""
    lines = queue.Queue()

    def read():
        for line in sys.stdin:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def bot_lines(name):
    """The self-test's typist: three lines, then end of input."""
    lines = queue.Queue()
    for number in range(3):
        lines.put(f"line {number} from {name}")
    lines.put(None)
    return lines


def next_line(lines):
    """Return the next line typed, "" if there is none yet, None at the end of input."""
    try:
        return lines.get_nowait()
    except queue.Empty:
        return ""


def find_room(args):
    """Return ``(address, private)`` of the room: given, or listed in a lobby; None if none."""
    if not args.lobby:
        return (args.host, args.port), True  # a room given by address: ask for the password
    lobby = LobbyBrowser(lobby_address(args))
    try:  # wait() pumps the browser; a game's menu would call lobby.update() every frame
        rooms = lobby.get_servers(game=GAME).wait(timeout=5).servers
    except (LobbyError, TimeoutError) as exc:
        print(f"no room found: {exc}")
        return None
    finally:
        lobby.close()
    if not rooms:
        print("no room found")
        return None
    room = rooms[0]
    print(f"found {room.name} at {room.host}:{room.port}{' (private)' if room.private else ''}")
    return room.address, room.private


def join(args):
    found = find_room(args)
    if found is None:
        return 1
    address, private = found
    password = args.password
    if password is None and private:  # a listing says whether to ask
        password = getpass.getpass("the room's password: ")
    client = pygnetic.Client()
    connection = client.connect(*address, credentials={"password": password, "name": args.name})
    player = Player(args.name)
    connection.add_handler(player)
    lines = bot_lines(args.name) if args.selftest else keyboard_lines()
    frames = 0
    stopped_at = None  # the frame at which the typing ended (Ctrl-D)
    try:
        while connection.state is not ConnectionState.CLOSED:
            client.update(FRAME_MS)
            frames += 1
            if not connection.connected:
                continue  # still knocking, or refused: nothing to say yet
            if stopped_at is None and (not args.selftest or frames % 10 == 0):
                line = next_line(lines)
                if line is None:
                    stopped_at = frames
                elif line:
                    connection.net_say(line[:MAX_TEXT])
            elif stopped_at is not None and (
                player.echoes >= connection.messages_sent or frames > stopped_at + 120
            ):
                connection.disconnect("bye")  # the last lines are back, or 2 s have passed
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    sent, received = connection.messages_sent, player.echoes
    if args.selftest is None:
        return 0 if connection.close_code == pygnetic.CloseCode.NORMAL else 1
    status = "ok" if sent and received == sent else "FAILED"
    print(f"selftest {status}: sent={sent} received={received}")
    return 0 if status == "ok" else 1


# -- both --------------------------------------------------------------------


def lobby_address(args):
    host, _, port = args.lobby.partition(":")
    return (host, int(port)) if port else host


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic password-protected room")
    role = parser.add_mutually_exclusive_group(required=True)
    role.add_argument("--host-game", action="store_true", help="open the room")
    role.add_argument("--join", action="store_true", help="join a room")
    parser.add_argument("--host", help="host: interface (default all); join: server address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--adapter", choices=["enet", "socket"], help="default: both")
    parser.add_argument("--password", help="the room's password (default: asked)")
    parser.add_argument("--name", default="player", help="join: your name in the room")
    parser.add_argument("--room", default="private room", help="host: the room's listed name")
    parser.add_argument("--lobby", metavar="HOST[:PORT]", help="list the room in, or find it in")
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="a bot plays, then exits")
    args = parser.parse_args(argv)
    if args.host is None:
        args.host = "" if args.host_game else "127.0.0.1"
    return args


def main(argv=None):
    args = parse_args(argv)
    if not pygnetic.init(logging_lvl=logging.INFO, n_module=args.adapter or ("enet", "socket")):
        return 2
    return host(args) if args.host_game else join(args)


if __name__ == "__main__":
    raise SystemExit(main())
