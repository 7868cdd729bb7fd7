"""Arena: a small real-time game where each player moves a coloured square.

    python examples/arena.py --host-game                    # host and play (arrow keys)
    python examples/arena.py --join --host 192.168.1.20     # join from another machine

The server is *authoritative*: it owns the squares and only it moves them.
Players just send what their arrow keys say (a ``controls`` message, whenever
the keys change). Nobody can cheat by claiming a position, and all screens
agree. The host's window runs the server *and* plays, as a client of its own.

Each square is a ``SyncObject`` the server owns. The server assigns its ``x``
and ``y``; pygnetic's replication engine, inside ``server.update()``, sends
each client 20 times a second what changed since the state that client last
acknowledged (everything, to a newcomer), unreliable sequenced on channel 1.
A lost state message is not resent: the next one starts from the same
acknowledged state, so it carries the lost change too; a late one is dropped.
Over TCP (``--adapter socket``) nothing is lost, and the code stays the same.
Inside ``client.update()`` each client's ``SyncObjectManager`` applies the
state to its replicas of the squares. They are read-only (assigning ``x`` on
a client raises ``ReplicaReadOnlyError``): a player changes the world only
through its controls.

At 20 updates a second squares would jump. Whenever new state arrives, the
client pushes the replicas' positions into an ``Interpolator``, and draws
them as they were 100 ms ago, sliding smoothly in between. The price is
100 ms of delay, on your own square too; real games hide it with
client-side prediction, the next step from here.

This example uses pygnetic's Handler style: ``PlayerHandler`` on the server,
``ArenaView`` on each client. (``chat.py`` shows the pygame-events style.)

Try it on a bad network, the one your players may have: pygnetic's simulator
delays, drops and reorders what both the server and the client send, and the
window's second line counts what it did::

    PYGNETIC_SIMULATE="latency=150ms loss=5%" python examples/arena.py --host-game

A client whose round trip passes 250 ms, as here, gets state every other tick
(the engine avoids congestion), so its squares move less smoothly.

``--selftest FRAMES`` lets a bot walk in circles for at least FRAMES frames; it
exits 0 with ``selftest ok: sent=N received=M peers=P`` once it has seen its own
square and another player's square move (the host also waits for its guests to
leave), or 1 if that never happened. ``--screenshot FILE`` saves the window at
the end.
"""

from __future__ import annotations

import argparse

import pygame

import pygnetic
from pygnetic.interpolate import Interpolator
from pygnetic.syncobject import SyncObject, SyncObjectManager

DEFAULT_PORT = 10000
WIDTH, HEIGHT, SIZE = 640, 480, 32  # window, and the side of a square, in pixels
FPS = 60
SPEED = 220  # pixels per second
STATE_INTERVAL = 1 / 20  # the server sends the squares' changes at 20 Hz
DELAY = 0.1  # clients draw the world as it was this long ago: two updates back
BACKGROUND, GRID, WHITE = (20, 22, 28), (34, 37, 46), (240, 240, 240)
COLOURS = [(235, 85, 85), (80, 200, 120), (90, 140, 250), (240, 200, 60), (200, 100, 230)]

# Every program registers the same messages and SyncObject classes in the same order.
controls = pygnetic.register("controls", ("dx", "dy"))  # player -> server: keys, -1/0/1
welcome = pygnetic.register("welcome", ("player_id",))  # server -> player: your square's sync_id


class Square(SyncObject):
    """A player's square: the server's object, or a client's read-only replica of it."""

    sync_var = ("x", "y", "colour")  # what every client sees
    dx = dy = 0  # the arrow keys its player holds, -1, 0 or 1: on the server only

    def step(self, dt):
        if self.dx or self.dy:  # assigning a sync_var marks the square changed
            self.x = min(max(self.x + self.dx * SPEED * dt, 0), WIDTH - SIZE)
            self.y = min(max(self.y + self.dy * SPEED * dt, 0), HEIGHT - SIZE)


# -- The server: the one true game state --------------------------------------


class PlayerHandler(pygnetic.Handler):
    """Server side, one per connected player: its square, moved by the player's keys."""

    def __init__(self, squares):
        self.squares = squares  # the server's SyncObjectManager

    def on_connect(self):
        square = self.square = self.squares.add(Square())  # it goes to every client
        n = square.sync_id  # 1, 2, ...: the player's number
        square.x, square.y = 60 + n * 150 % 480, 120 + n * 90 % 240
        square.colour = COLOURS[n % len(COLOURS)]
        self.connection.net_welcome(n)

    def net_controls(self, message, **kwargs):
        # Never trust the network: anything but -1, 0 or 1 counts as 0.
        self.square.dx = message.dx if message.dx in (-1, 0, 1) else 0
        self.square.dy = message.dy if message.dy in (-1, 0, 1) else 0

    def on_disconnect(self):
        self.squares.remove(self.square)  # it vanishes from every client


class ArenaServer:
    """A pygnetic Server and its squares, whose changes leave 20 times a second."""

    def __init__(self, host, port):
        self.server = pygnetic.Server(host, port, conn_limit=8)
        self.squares = SyncObjectManager(self.server, interval=STATE_INTERVAL)
        self.server.handler = lambda: PlayerHandler(self.squares)  # one per player

    def update(self, dt):
        for square in self.squares:
            square.step(dt)
        self.server.update()  # controls arrive (PlayerHandler runs), and the changes leave


# -- The client: what a player sees --------------------------------------------


class ArenaView(pygnetic.Handler):
    """Client side: which square is ours, the replicas, and their recent positions."""

    def __init__(self, client):
        self.my_id = None
        self.squares = SyncObjectManager(client)  # replicas, updated in client.update()
        self.positions = Interpolator(DELAY)  # of {sync_id: {"x": ..., "y": ..., "colour": ...}}
        self.first_seen, self.moved = {}, set()  # who has moved, for the self-test

    def net_welcome(self, message, **kwargs):
        self.my_id = message.player_id

    def update(self):
        """After ``client.update()``: push the squares when new state came with it."""
        if not self.squares.changed:
            return
        state = {}
        for s in self.squares:
            state[s.sync_id] = {"x": s.x, "y": s.y, "colour": s.colour}
            if self.first_seen.setdefault(s.sync_id, (s.x, s.y)) != (s.x, s.y):
                self.moved.add(s.sync_id)
        self.positions.push(state)  # timed as it arrives: now


def simulated(*hosts):
    """What the network simulator did to what ``hosts`` sent, or None when it is off."""
    simulators = [host.simulator for host in hosts if host.simulator is not None]
    if not simulators:
        return None
    lost = sum(s.stats.dropped + s.stats.overflowed for s in simulators)
    stale = sum(s.stats.stale for s in simulators)
    resent = sum(s.stats.retransmitted for s in simulators)
    return f"simulating {simulators[0].conditions}: {lost} lost, {stale} stale, {resent} resent"


def draw(screen, font, view, hud):
    screen.fill(BACKGROUND)
    for i in range(0, WIDTH, 40):
        pygame.draw.line(screen, GRID, (i, 0), (i, HEIGHT))
        pygame.draw.line(screen, GRID, (0, i), (WIDTH, i))
    for sync_id, s in view.positions.sample().items():  # blended: x and y, not colour
        square = pygame.Rect(round(s["x"]), round(s["y"]), SIZE, SIZE)
        pygame.draw.rect(screen, s["colour"], square, border_radius=5)
        if sync_id == view.my_id:
            pygame.draw.rect(screen, WHITE, square, 2, border_radius=5)
            screen.blit(font.render("you", True, WHITE), (square.x, square.bottom + 2))
    for row, line in enumerate(hud):
        screen.blit(font.render(line, True, WHITE), (10, 8 + 22 * row))


def keyboard(frame):
    keys = pygame.key.get_pressed()
    return keys[pygame.K_RIGHT] - keys[pygame.K_LEFT], keys[pygame.K_DOWN] - keys[pygame.K_UP]


def bot(frame):
    """Self-test player: walk in a square, turning every 30 frames."""
    return [(1, 0), (0, 1), (-1, 0), (0, -1)][frame // 30 % 4]


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic arena (authoritative server)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--host-game", action="store_true", help="run the server here, and play")
    mode.add_argument("--join", action="store_true", help="join the game hosted at --host")
    parser.add_argument("--host", help="address to join, or to listen on when hosting")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: any free port")
    parser.add_argument(
        "--adapter", choices=["enet", "socket"], help="default: both (ENet when installed)"
    )
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="let a bot play")
    parser.add_argument("--screenshot", metavar="FILE", help="save the window at the end")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    pygame.init()
    if not pygnetic.init(n_module=args.adapter or ("enet", "socket")):
        return 2
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    font = pygame.font.Font(None, 24)
    arena, host, port = None, args.host or "127.0.0.1", args.port
    if args.host_game:
        arena = ArenaServer(args.host or "", args.port)
        # Not printed: pygnetic has logged "server listening on HOST:PORT".
        port = arena.server.address[1]
        host = "127.0.0.1" if args.host in (None, "", "0.0.0.0") else args.host
    pygame.display.set_caption("pygnetic arena")
    client = pygnetic.Client()
    connection = client.connect(host, port)  # the host plays through its own server too
    view = ArenaView(client)
    connection.add_handler(view)
    player = bot if args.selftest else keyboard

    clock, frame, running, ok, sent_keys = pygame.time.Clock(), 0, True, False, (0, 0)
    while running:
        dt = clock.tick(FPS) / 1000  # seconds since the last frame
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                running = False
        keys = player(frame)
        if keys != sent_keys and connection.net_controls(*keys):  # only when they change
            sent_keys = keys
        if arena:
            arena.update(dt)
        client.update()  # our controls leave; state arrives, and the replicas change
        view.update()

        rtt = connection.round_trip_time
        where = f"hosting on port {port}" if arena else f"joined {host}:{port}"
        if connection.state is not pygnetic.ConnectionState.OPEN:
            where = connection.close_reason or "connecting..."
        rtt_text = "measuring" if rtt is None else f"{rtt:.0f} ms"
        hud = [f"{where}   players: {len(view.squares)}   round trip: {rtt_text}"]
        network = simulated(client, *([arena.server] if arena else []))
        draw(screen, font, view, hud + ([network] if network else []))
        pygame.display.flip()
        frame += 1
        if args.selftest:
            others = view.moved - {view.my_id}
            guests = len(arena.server.connections()) - 1 if arena else 0
            ok = frame >= args.selftest and view.my_id in view.moved and others and guests <= 0
            running = running and not ok and frame < args.selftest + 20 * FPS

    if args.screenshot:
        pygame.image.save(screen, args.screenshot)
    client.close()
    if arena:
        arena.server.close()
    pygame.quit()
    if args.selftest:
        sent, received = connection.messages_sent, connection.messages_received
        peers = len(view.moved - {view.my_id})
        status = "ok" if ok else "FAILED"
        print(f"selftest {status}: sent={sent} received={received} peers={peers}")
        if network:
            print(network)
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
