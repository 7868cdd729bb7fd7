"""High scores: a click-the-target game that keeps its high-score table in a state service.

The table outlives the game, and every copy of the game sees the same one,
because it lives in a pygnetic state service (``pygnetic.state``)::

    python -m pygnetic.state                                     # the service, on port 8765
    python examples/high_score.py --make-app --email you@example.com    # once
    python examples/high_score.py --name Ann                     # play
    python examples/high_score.py --name Bob --state 192.168.1.20       # from another machine

Click the red target as often as you can in 15 seconds. At the end of the
round your score goes into the table (the best ten), and the table on the
right changes whenever anyone's score goes in. Space plays again; Escape quits.

How the state service fits into a pygame loop:

* ``DistributedState(address, blocking=False)`` returns at once; the
  connection opens in the background.
* Inside the loop only the ``..._nowait`` forms are used. Each returns a
  ``StateRequest`` at once; ``state.poll()``, once per frame, does the network
  work and completes the requests. This game shows the three ways to learn
  that one is done: a callback (``join_nowait``), a pygame event
  (``apply_op_nowait(..., event=True)`` posts ``NET_STATE_REQUEST``), and
  looking at ``request.done`` (the request of ``watch_nowait``).
* ``watch_nowait(key, event=True)`` posts a ``NET_STATE_CHANGED`` event each
  time the key changes, by anyone.
* ``apply_op`` reads the table, applies ``add_score`` and writes it back only
  if nobody changed it meanwhile; else it applies ``add_score`` again to the
  new table. Two players finishing at the same moment both get in.

``--make-app`` is the one-time step: it makes the account (if the service
lets clients do so), logs in and makes the application, with blocking
calls, before any game loop runs.

``--selftest FRAMES`` lets a bot play one round of FRAMES frames. Without
``--state`` it starts its own ``StateServer`` on a free port, on a temporary
SQLite file, and makes the application; after the round it restarts that
service on the same file and checks, over a new connection, that the score
is in the table. With ``--state`` it checks the same over a new connection to
that service. It prints ``selftest ok: sent=N received=M`` (N scores saved,
M tables received) and exits 0, or exits 1. ``--screenshot FILE`` saves the
window at the end.
"""

from __future__ import annotations

import argparse
import getpass
import os
import random
import secrets
import tempfile
import threading

import pygame

import pygnetic
import pygnetic.event as event  # not `from ... import NETWORK`: init() sets its value
from pygnetic.state import (
    ANY,
    DistributedState,
    DuplicateError,
    SQLiteStore,
    StateError,
    StateServer,
)

APPID = "pygnetic-examples+high-score"  # the application that holds the table
KEY = "scores"  # its one key: [[name, score], ...], best first
TABLE_SIZE = 10
MAX_NAME = 20
WIDTH, HEIGHT, PANEL = 720, 480, 240  # window, and the width of the table on the right
FPS = 60
ROUND_SECONDS = 15
RADIUS = 28
BACKGROUND, BOX, TEXT = (24, 26, 33), (40, 44, 56), (230, 230, 230)
DIM, TARGET, MINE = (140, 145, 160), (230, 70, 70), (120, 200, 255)


def clean(table):
    """Return the well-formed entries of a table: anyone may write to it, so check."""
    if not isinstance(table, list):
        return []
    entries = (e for e in table if isinstance(e, list) and len(e) == 2)
    return [[str(name)[:MAX_NAME], score] for name, score in entries if type(score) is int]


def add_score(table, name, score):
    """Return ``table`` with ``[name, score]`` in it, keeping the best TABLE_SIZE.

    ``apply_op`` may call it more than once, each time on the latest table, so
    it only computes: no side effects. An equal score already there stays above.
    """
    entries = [*clean(table), [name, score]]
    entries.sort(key=lambda entry: -entry[1])  # stable: earlier equal scores first
    return entries[:TABLE_SIZE]


class HighScores:
    """The game's side of the table. Every method returns at once.

    Attributes:
        table: The latest table received, best first.
        status: A line for the player: connecting, saved, or what went wrong.
        saved: Scores the service has stored.
        received: Tables received (the first one, then one per change).
    """

    def __init__(self, address, name):
        self.name = name
        self.table, self.status = [], "connecting to the high scores..."
        self.saved = self.received = 0
        self.joined, self.error = False, None  # error: why there are no high scores
        self.unsaved = None  # a score waiting for the join to finish
        self.saving = self.watching = None  # requests in flight
        self.state = DistributedState(address, blocking=False)  # connects in the background
        self.state.join_nowait(APPID, callback=self.on_join)

    def on_join(self, request):
        """Callback of ``join_nowait``: runs inside ``poll()`` once the answer is in."""
        if request.error is not None:  # no service there, or no such application
            self.error = request.error
            self.status = f"no high scores: {request.error}"
            print(self.status, flush=True)
            return
        self.joined = True
        host, port = self.state.address
        print(f"joined the high scores at {host}:{port}", flush=True)
        self.status = "high scores: joined"
        self.watching = self.state.watch_nowait(KEY, event=True)  # NET_STATE_CHANGED from now on
        if self.unsaved is not None:
            self.save(self.unsaved)

    def update(self):
        """Once per frame: do the network work, and see whether the watch has started."""
        self.state.poll()  # completes requests: callbacks run, events are posted
        if self.watching is not None and self.watching.done:
            request, self.watching = self.watching, None
            if request.error is None:
                self.show(request.result())  # the table as it was when the watch began
            else:
                self.status = f"cannot watch the table: {request.error}"

    def show(self, value):
        """A table arrived: the current one, or a change (NET_STATE_CHANGED)."""
        self.table = clean(value)
        self.received += 1
        text = ", ".join(f"{name} {score}" for name, score in self.table) or "(empty)"
        print(f"high scores: {text}", flush=True)

    def save(self, score):
        """Put ``score`` into the table; NET_STATE_REQUEST says when it is in."""
        if self.error is not None:
            self.status = f"score not saved: {self.error}"
            return
        if not self.joined:
            self.unsaved = score  # on_join saves it
            return
        self.unsaved = None
        self.status = "saving your score..."
        self.saving = self.state.apply_op_nowait(
            KEY,
            lambda table: add_score(table, self.name, score),
            create=True,  # the first score makes the table
            defaultvalue=[],
            event=True,
        )

    def on_request(self, request):
        """A NET_STATE_REQUEST event: one of our requests is done."""
        if request is not self.saving:
            return
        self.saving = None
        if request.error is not None:
            self.status = f"score not saved: {request.error}"
        else:
            self.saved += 1
            self.status = "score saved"
            self.show(request.result())  # the table as stored (the watch says so too)
        print(self.status, flush=True)

    def close(self):
        self.state.close()


class Round:
    """One round of the game: a target to click, a score, frames left."""

    def __init__(self, frames, rng):
        self.rng, self.frames, self.left, self.score = rng, frames, frames, 0
        self.target = self.place()

    def place(self):
        return (
            self.rng.randrange(RADIUS, WIDTH - PANEL - RADIUS),
            self.rng.randrange(RADIUS + 40, HEIGHT - RADIUS),
        )

    @property
    def over(self):
        return self.left <= 0

    def tick(self):
        self.left = max(0, self.left - 1)

    def click(self, position):
        x, y = self.target
        if not self.over and (position[0] - x) ** 2 + (position[1] - y) ** 2 <= RADIUS**2:
            self.score += 1
            self.target = self.place()


def draw(screen, font, game, scores, name):
    screen.fill(BACKGROUND)
    if not game.over:
        pygame.draw.circle(screen, TARGET, game.target, RADIUS)
        pygame.draw.circle(screen, TEXT, game.target, RADIUS // 3)
        top = f"score {game.score}    {game.left / FPS:.1f} s left"
    else:
        top = f"round over: {game.score}.  Space: play again, Escape: quit"
    screen.blit(font.render(top, True, TEXT), (15, 12))
    panel = pygame.Rect(WIDTH - PANEL, 0, PANEL, HEIGHT)
    pygame.draw.rect(screen, BOX, panel)
    screen.blit(font.render("High scores", True, TEXT), (panel.x + 12, 12))
    for number, (who, score) in enumerate(scores.table):
        colour = MINE if who == name else TEXT
        row = font.render(f"{number + 1:2}. {who[:14]}  {score}", True, colour)
        screen.blit(row, (panel.x + 12, 48 + 26 * number))
    small = pygame.font.Font(None, 20)
    screen.blit(small.render(scores.status[:60], True, DIM), (15, HEIGHT - 24))


def bot(game, frame):
    """Self-test player: a click every 10 frames, two hits and a miss."""
    if frame % 10 != 5:
        return []
    x, y = game.target
    if frame % 30 == 25:
        x = (x + 3 * RADIUS) % (WIDTH - PANEL)  # a miss
    return [pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1)]


class OwnService:
    """The self-test's own state service: a StateServer on a free port, in a thread.

    A real game talks to ``python -m pygnetic.state``; this is for a self-test
    that needs nothing else running. The server runs in its own thread because
    the blocking calls of ``make_app`` and of the final check wait for answers.
    """

    def __init__(self, path):
        self.path = path
        self.start()

    def start(self):
        self.server = StateServer(SQLiteStore(self.path), "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(5,), daemon=True)
        self.thread.start()
        host, port = self.server.address
        self.address = f"{host}:{port}"

    def stop(self):
        self.server.stop()
        self.thread.join(10)
        self.server.close()
        self.server.store.close()  # a store given to a StateServer stays open


def make_app(address, email, password):
    """Once, before anyone plays: make the application that holds the table.

    Blocking calls, so not in a game loop. Anyone may read and write the table
    (``ANY``): players need no account. See docs/howto/high-scores.rst for
    tables only logged-in players may write.
    """
    with DistributedState(address) as state:
        try:
            state.create_account(email, password)
        except DuplicateError:
            pass  # made before: log in with it
        except PermissionError:  # pygnetic.state.PermissionError is one too
            pass  # a service run with --closed-accounts: its account command made it
        state.login(email, password)
        try:
            state.new_app(APPID, readmode=ANY, writemode=ANY)
        except DuplicateError:
            print(f"the application {APPID} exists already")
            return
        print(f"made the application {APPID}, with {email} as its admin")


def in_table(address, name, score):
    """True if a new connection to the service finds ``[name, score]`` in the table."""
    with DistributedState(address) as state:
        state.join(APPID)
        return [name, score] in clean(state[KEY])


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic high scores: click the targets")
    parser.add_argument(
        "--state", metavar="HOST[:PORT]", help="the state service (default localhost:8765)"
    )
    parser.add_argument("--name", default="player", help="your name in the table")
    parser.add_argument("--seconds", type=int, default=ROUND_SECONDS, help="length of a round")
    parser.add_argument("--make-app", action="store_true", help="make the application, once")
    parser.add_argument("--email", help="--make-app: the admin account")
    parser.add_argument("--password", help="--make-app: its password (else asked for)")
    parser.add_argument("--seed", type=int, help="where the targets appear")
    parser.add_argument("--selftest", type=int, metavar="FRAMES", help="let a bot play a round")
    parser.add_argument("--screenshot", metavar="FILE", help="save the window at the end")
    args = parser.parse_args(argv)
    if args.make_app and not args.email:
        parser.error("--make-app needs --email")
    args.name = args.name.strip()[:MAX_NAME] or "player"
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.make_app:
        password = args.password or getpass.getpass(f"password for {args.email}: ")
        try:
            make_app(args.state or "localhost", args.email, password)
        except StateError as exc:
            print(f"cannot make the application: {exc}")
            return 1
        return 0

    own, folder = None, None
    address = args.state or "localhost"
    if args.selftest and not args.state:
        folder = tempfile.TemporaryDirectory()
        own = OwnService(os.path.join(folder.name, "scores.db"))
        address = own.address
        make_app(address, "selftest@example.com", secrets.token_hex(8))

    pygame.init()  # before pygnetic.init(events=True): events need pygame's queue
    pygnetic.init(events=True)
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    pygame.display.set_caption("pygnetic high scores")
    font = pygame.font.Font(None, 28)
    scores = HighScores(address, args.name)
    rng = random.Random(args.seed)
    frames = args.selftest or args.seconds * FPS
    game, submitted = Round(frames, rng), False

    clock, frame, running = pygame.time.Clock(), 0, True
    while running:
        scores.update()  # network work; callbacks run and events are posted here
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                running = False
            elif e.type == pygame.MOUSEBUTTONDOWN and e.button == 1:
                game.click(e.pos)
            elif e.type == pygame.KEYDOWN and e.key == pygame.K_SPACE and game.over:
                game, submitted = Round(frames, rng), False
            elif e.type == event.NETWORK and e.net_type == event.NET_STATE_REQUEST:
                scores.on_request(e.request)
            elif e.type == event.NETWORK and e.net_type == event.NET_STATE_CHANGED:
                scores.show(e.value)  # someone's score went in (ours too)
        game.tick()
        if game.over and not submitted:
            print(f"round over: {args.name} scored {game.score}", flush=True)
            scores.save(game.score)
            submitted = True
        draw(screen, font, game, scores, args.name)
        pygame.display.flip()
        clock.tick(FPS)
        frame += 1
        if args.selftest:
            for e in bot(game, frame):
                pygame.event.post(e)
            waiting = scores.saving is not None or scores.unsaved is not None
            done = submitted and not waiting
            running = running and not done and frame < frames + 20 * FPS

    if args.screenshot:
        pygame.image.save(screen, args.screenshot)
    scores.close()  # before pygame.quit(): closing fails pending requests, which posts events
    pygame.quit()
    if not args.selftest:
        return 0
    ok = scores.saved == 1 and scores.received >= 1
    try:
        if ok and own is not None:  # the service forgets nothing when it stops
            own.stop()
            own.start()
            address = own.address
        if ok:
            ok = in_table(address, args.name, game.score)
            print(f"a new connection to {address} finds {args.name} {game.score}: {ok}")
    except StateError as exc:
        print(f"cannot read the table back: {exc}")
        ok = False
    finally:
        if own is not None:
            own.stop()
            folder.cleanup()
    print(f"selftest {'ok' if ok else 'FAILED'}: sent={scores.saved} received={scores.received}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
