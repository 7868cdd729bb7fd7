"""Arena: a small real-time game where each player moves a coloured square.

    python examples/arena.py --host-game                    # host and play (arrow keys)
    python examples/arena.py --join --host 192.168.1.20     # join from another machine

The server is *authoritative*: only it moves the squares. Players just send
what their arrow keys say (a ``controls`` message, whenever the keys change);
the server simulates, and 20 times a second sends everyone a ``snapshot`` of
all positions. Nobody can cheat by claiming a position, and all screens agree.
The host's window runs the server *and* plays, as a client of its own server.

Snapshots go ``delivery='unreliable_sequenced'`` on channel 1. Over ENet a lost
snapshot is not resent (the next one, 50 ms later, is newer anyway) and a late
one is dropped rather than shown after a newer one. Over TCP (``--adapter
socket``) every message is reliable: pygnetic does that itself, the code stays
the same.

At 20 snapshots a second squares would jump. Each client draws the world as it
was 100 ms ago, sliding smoothly between the two snapshots around that moment
(interpolation). The price is 100 ms of delay, on your own square too; real
games hide it with client-side prediction, the next step from here.

This example uses pygnetic's Handler style: ``PlayerHandler`` on the server,
``ArenaView`` on each client. (``chat.py`` shows the pygame-events style.)

Try it on a bad network, the one your players may have: pygnetic's simulator
delays, drops and reorders what both the server and the client send, and the
window's second line counts what it did::

    PYGNETIC_SIMULATE="latency=150ms loss=5%" python examples/arena.py --host-game

``--selftest FRAMES`` lets a bot walk in circles for at least FRAMES frames; it
exits 0 with ``selftest ok: sent=N received=M peers=P`` once it has seen its own
square and another player's square move (the host also waits for its guests to
leave), or 1 if that never happened. ``--screenshot FILE`` saves the window at
the end.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import itertools
import time

import pygame

import pygnetic

DEFAULT_PORT = 10000
WIDTH, HEIGHT, SIZE = 640, 480, 32  # window, and the side of a square, in pixels
FPS = 60
SPEED = 220  # pixels per second
SNAPSHOT_INTERVAL = 1 / 20  # the server sends positions at 20 Hz
DELAY = 0.1  # clients draw the world as it was this long ago: two snapshots back
BACKGROUND, GRID, WHITE = (20, 22, 28), (34, 37, 46), (240, 240, 240)
COLOURS = [(235, 85, 85), (80, 200, 120), (90, 140, 250), (240, 200, 60), (200, 100, 230)]

# Every program registers the same messages in the same order.
controls = pygnetic.register("controls", ("dx", "dy"))  # player -> server: keys, -1/0/1
welcome = pygnetic.register("welcome", ("player_id",))  # server -> player: your square
snapshot = pygnetic.register(  # server -> players: server time, [[id, x, y], ...]
    "snapshot", ("time", "players"), delivery="unreliable_sequenced", channel=1
)


# -- The server: the one true game state --------------------------------------


@dataclasses.dataclass
class Square:
    x: float
    y: float
    dx: int = 0  # the arrow keys its player holds: -1, 0 or 1
    dy: int = 0


class World:
    """Every square on the server, and how they move."""

    def __init__(self):
        self.squares = {}  # player id -> Square
        self.ids = itertools.count(1)

    def add(self):
        player_id = next(self.ids)
        self.squares[player_id] = Square(60 + player_id * 150 % 480, 120 + player_id * 90 % 240)
        return player_id

    def step(self, dt):
        for s in self.squares.values():
            s.x = min(max(s.x + s.dx * SPEED * dt, 0), WIDTH - SIZE)
            s.y = min(max(s.y + s.dy * SPEED * dt, 0), HEIGHT - SIZE)

    def positions(self):
        return [[pid, round(s.x, 1), round(s.y, 1)] for pid, s in self.squares.items()]


class PlayerHandler(pygnetic.Handler):
    """Server side, one per connected player: it only writes down the player's keys."""

    def __init__(self, world):
        self.world = world

    def on_connect(self):
        self.player_id = self.world.add()
        self.connection.net_welcome(self.player_id)

    def net_controls(self, message, **kwargs):
        square = self.world.squares[self.player_id]
        # Never trust the network: anything but -1, 0 or 1 counts as 0.
        square.dx = message.dx if message.dx in (-1, 0, 1) else 0
        square.dy = message.dy if message.dy in (-1, 0, 1) else 0

    def on_disconnect(self):
        self.world.squares.pop(self.player_id, None)


class ArenaServer:
    """A pygnetic Server, the World, and the 20 Hz snapshot clock."""

    def __init__(self, host, port):
        self.world = World()
        handler = functools.partial(PlayerHandler, self.world)  # called once per player
        self.server = pygnetic.Server(host, port, conn_limit=8, handler=handler)
        self.started = self.next_snapshot = time.monotonic()

    def update(self, dt):
        self.server.update()  # the players' controls arrive (PlayerHandler runs here)
        self.world.step(dt)
        now = time.monotonic()
        if now >= self.next_snapshot:
            self.next_snapshot = max(self.next_snapshot + SNAPSHOT_INTERVAL, now)
            positions = self.world.positions()
            for connection in self.server.connections():
                connection.net_snapshot(round(now - self.started, 3), positions)


# -- The client: what a player sees --------------------------------------------


class ArenaView(pygnetic.Handler):
    """Client side: which square is ours, and the last snapshots, to draw between them."""

    def __init__(self):
        self.my_id = None
        self.snapshots = collections.deque(maxlen=20)  # (server time, {id: (x, y)})
        self.offset = None  # our clock minus the server's
        self.first_seen, self.moved = {}, set()  # who has moved, for the self-test

    def net_welcome(self, message, **kwargs):
        self.my_id = message.player_id

    def net_snapshot(self, message, **kwargs):
        # The smallest "our clock - server clock" seen is the one with the least
        # network delay in it: use it to turn our time into the server's time.
        offset = time.monotonic() - message.time
        self.offset = offset if self.offset is None else min(self.offset, offset)
        positions = {pid: (x, y) for pid, x, y in message.players}
        self.snapshots.append((message.time, positions))
        for pid, position in positions.items():
            if self.first_seen.setdefault(pid, position) != position:
                self.moved.add(pid)

    def positions(self):
        """Where every square was DELAY seconds ago, between the snapshots around then."""
        if not self.snapshots:
            return {}
        t = time.monotonic() - self.offset - DELAY  # a moment in the server's time
        later = itertools.islice(self.snapshots, 1, None)
        for (t0, before), (t1, after) in zip(self.snapshots, later, strict=False):
            if t0 <= t < t1:
                f = (t - t0) / (t1 - t0)  # 0 at the earlier snapshot, 1 at the later
                return {pid: between(before.get(pid, p), p, f) for pid, p in after.items()}
        # t is after the newest snapshot (the next one is late), or before the oldest.
        newest_time, newest = self.snapshots[-1]
        return newest if t >= newest_time else self.snapshots[0][1]


def between(a, b, f):
    """The point a fraction f of the way from point a to point b."""
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


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
    for pid, (x, y) in view.positions().items():
        square = pygame.Rect(round(x), round(y), SIZE, SIZE)
        pygame.draw.rect(screen, COLOURS[pid % len(COLOURS)], square, border_radius=5)
        if pid == view.my_id:
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
    view = ArenaView()
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
        client.update()  # our controls leave, snapshots arrive (ArenaView runs here)

        rtt = connection.round_trip_time
        where = f"hosting on port {port}" if arena else f"joined {host}:{port}"
        if connection.state is not pygnetic.ConnectionState.OPEN:
            where = connection.close_reason or "connecting..."
        rtt_text = "measuring" if rtt is None else f"{rtt:.0f} ms"
        hud = [f"{where}   players: {len(view.positions())}   round trip: {rtt_text}"]
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
