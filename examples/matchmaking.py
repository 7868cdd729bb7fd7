"""Matchmaking: a queue of players and match-makers that pair them, on a state service.

Players queue up in a workspace of a pygnetic state service
(``pygnetic.state``, with NetWorkSpaces' API); match-makers take them out two
at a time and tell each who the other is. Three terminals (or more)::

    python -m pygnetic.state                                        # the service, port 8765
    python examples/matchmaking.py --role matchmaker                # one match-maker, or two
    python examples/matchmaking.py --name Ann                       # a player's window
    python examples/matchmaking.py --name Bob --state 192.168.1.20  # from another machine

The player's window says "waiting for an opponent", then "matched with Bob".
Escape quits.

How it works, on the workspace ``lobby``:

* A player stores itself (``store``), ``{"name", "rating", "ticket"}``, in the
  FIFO variable ``waiting``, then waits for a value in its own variable
  ``match:NAME:TICKET`` (the ticket, random, keeps two players called Ann
  apart).
* A match-maker fetches two players from ``waiting`` and stores a match in
  each one's variable. ``fetch`` removes the value on the service,
  and each stored value is fetched by exactly one client, however many wait:
  so any number of match-makers can run at once, and no player is ever
  matched twice (nor taken by two match-makers).
* A match-maker holding one player who finds no second one soon puts the
  first back. Else two match-makers holding one player each would wait for
  each other for ever; the one that gives up first hands its player to the
  other's waiting ``fetch``. (A random extra wait keeps them from giving up
  together.)
* The player's pygame loop never waits: ``fetch_nowait(..., event=True)``
  returns a ``StateRequest`` at once, ``ws.poll()`` once per frame does the
  network work, and the match arrives as a ``NET_STATE_REQUEST`` event.
* Everyone *uses* the workspace (``useUse=True``) without owning it: a
  workspace is purged when its owner's connection ends, and the queue must
  outlive whoever made it.
* A player who quits before its match stores a note in ``left:NAME:TICKET``;
  a match-maker taking that player looks for the note with ``fetchTry``, and
  drops the player if there is one.
* Each match is also stored in ``matches``, the lobby's record of every
  match (the self-test counts them).

The match-maker needs neither pygame nor a display. It runs until Ctrl+C (or
SIGTERM), which it takes as a request to stop once the pair it is making is
done, so that it never drops a player it holds.

``--selftest N``: a player waits at most N frames for its match; it prints
``selftest ok: sent=1 received=1`` (queued, matched) and exits 0, or exits 1.
A match-maker stops once N players have been matched since it started, by it
or by another match-maker (start the match-makers before the players), and
prints ``selftest ok: sent=M received=P`` (M matches made, P players taken),
or exits 1 after a minute. With ``SDL_VIDEODRIVER=dummy`` no display is
needed. ``--screenshot FILE`` saves a player's window at the end.

Left out, as in most first match-makers: a player who quits without saying
so (a crash) stays in the queue, and one who quits just as a match-maker
takes them is still paired (a real one would check that players are still
there, say with a heartbeat); and the first two players are paired, whatever
their ratings.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import time

import pygnetic
import pygnetic.event as event  # not `from ... import NETWORK`: init() sets its value
from pygnetic.state import (
    DICT,
    STATE_PORT,
    V_VALUES,
    NetWorkSpace,
    NwsTimeoutException,
    StateError,
)

LOBBY = "lobby"  # the workspace
WAITING = "waiting"  # FIFO of players: first come, first matched
MATCHES = "matches"  # every match made, for the record
IDLE = 0.5  # seconds a match-maker waits for a first player before looking around
HOLD, JITTER = 1.0, 0.5  # seconds it waits for a second one (plus up to JITTER)
SELFTEST_SECONDS = 60  # a match-maker's self-test gives up after this
MAX_NAME = 20
WIDTH, HEIGHT, FPS = 560, 160, 60
BACKGROUND, TEXT, DIM, MATCHED = (24, 26, 33), (230, 230, 230), (140, 145, 160), (120, 220, 140)


def reply_variable(player):
    """The variable a player waits on for its match."""
    return f"match:{player['name']}:{player['ticket']}"


def left_variable(player):
    """The variable a player quitting the queue stores in: match-makers then drop it."""
    return f"left:{player['name']}:{player['ticket']}"


def clean_player(value):
    """Return a well-formed player, or None: anyone may store in ``waiting``, so check."""
    if not isinstance(value, dict):
        return None
    name, rating, ticket = value.get("name"), value.get("rating"), value.get("ticket")
    if not (isinstance(name, str) and type(rating) is int and isinstance(ticket, str)):
        return None
    return {"name": name[:MAX_NAME], "rating": rating, "ticket": ticket[:16]}


def clean_match(value):
    """Return a well-formed match, or None: anyone may store in a player's variable too."""
    if not isinstance(value, dict):
        return None
    opponent, rating, game, by = (value.get(key) for key in ("opponent", "rating", "game", "by"))
    if not (type(rating) is int and all(isinstance(v, str) for v in (opponent, game, by))):
        return None
    return {"opponent": opponent[:MAX_NAME], "rating": rating, "game": game, "by": by}


def parse_state(text):
    """``HOST[:PORT]`` -> (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        return text, STATE_PORT
    return host, int(port)


def open_lobby(address, name):
    """Use the lobby (blocking: before any loop runs); None if the service is not there."""
    host, port = parse_state(address)
    try:
        return NetWorkSpace(LOBBY, host, port, useUse=True)  # never its owner: see above
    except StateError as exc:
        print(f"{name}: {exc}", flush=True)  # says where it tried, and why it failed
        return None


# -- the match-maker: blocking calls, no pygame ------------------------------------


def matches_made(ws):
    """How many matches the lobby's record holds (a FIFO's number of values)."""
    variable = ws.listVars(format=DICT).get(MATCHES)
    return 0 if variable is None else variable[V_VALUES]


def take_player(ws, timeout, name):
    """Fetch a player from the queue within ``timeout`` seconds; None if none came."""
    while True:
        try:
            value = ws.fetch(WAITING, timeout=timeout)
        except NwsTimeoutException:
            return None
        player = clean_player(value)
        if player is None:
            print(f"{name}: dropped a malformed entry: {value!r}", flush=True)
        elif ws.fetchTry(left_variable(player)) is not None:  # fetched: the note goes too
            print(f"{name}: {player['name']} left the queue", flush=True)
        else:
            return player


def pair(ws, name, game, first, second):
    """Tell both players of their match, and record it."""
    for player, opponent in ((first, second), (second, first)):
        match = {"opponent": opponent["name"], "rating": opponent["rating"], "game": game}
        ws.store(reply_variable(player), {**match, "by": name})
    ws.store(MATCHES, {"game": game, "players": [first["name"], second["name"]], "by": name})
    print(
        f"{name}: matched {first['name']} ({first['rating']}) with "
        f"{second['name']} ({second['rating']}) in game {game}",
        flush=True,
    )


class MatchMaker:
    """Takes players from the queue two at a time, and pairs them."""

    def __init__(self, ws, name):
        self.ws, self.name = ws, name
        self.made = self.taken = 0
        self.rng = random.Random()

    def step(self):
        """Make one match if two players come in time; a lone player goes back."""
        first = take_player(self.ws, IDLE, self.name)
        if first is None:
            return  # nobody queued: the caller may look around
        self.taken += 1
        second = take_player(self.ws, HOLD + self.rng.uniform(0, JITTER), self.name)
        if second is None:  # back in the queue, for us or another match-maker to take
            self.ws.store(WAITING, first)
            print(f"{self.name}: put {first['name']} back in the queue", flush=True)
            return
        self.taken += 1
        self.made += 1
        pair(self.ws, self.name, f"{self.name}-{self.made}", first, second)


def stop_on_signals():
    """Ctrl+C and SIGTERM ask the match-maker to stop; it does between two steps.

    Not with a KeyboardInterrupt in the middle of a fetch: the service would
    still hold that fetch for this connection and hand it the next player
    stored, who would be lost. A step ends within IDLE + HOLD + JITTER seconds.
    """
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return stopping


def run_matchmaker(args):
    ws = open_lobby(args.state, args.name)
    if ws is None:
        return 1
    maker, stopping = MatchMaker(ws, args.name), stop_on_signals()
    before = matches_made(ws) if args.selftest else 0  # it counts the matches from now on
    deadline = time.monotonic() + SELFTEST_SECONDS
    print(f"{args.name}: ready, matching players in {LOBBY!r} at {args.state}", flush=True)
    ok = True
    try:
        while not stopping:
            maker.step()
            if args.selftest and 2 * (matches_made(ws) - before) >= args.selftest:
                break  # enough players matched, by us and the others
            if args.selftest and time.monotonic() > deadline:
                ok = False
                break
    except StateError as exc:  # the service went away: a player taken may be lost
        print(f"{args.name}: the state service failed: {exc}", flush=True)
        ok = False
    finally:
        ws.close()
    ok = ok and not (args.selftest and stopping)
    print(f"{args.name}: matches made {maker.made}, players taken {maker.taken}", flush=True)
    if not args.selftest:
        return 0 if ok else 1
    print(f"selftest {'ok' if ok else 'FAILED'}: sent={maker.made} received={maker.taken}")
    return 0 if ok else 1


# -- the player: a pygame loop that never waits -------------------------------------


class Ticket:
    """A player's place in the queue, and the match it gets. Every method returns at once.

    Attributes:
        status: A line for the player: queued, matched, or what went wrong.
        match: The match once it came: opponent, rating, game, by.
        queued: Whether the service has stored us in the queue.
    """

    def __init__(self, ws, name, rating):
        self.ws, self.name = ws, name
        self.player = {"name": name, "rating": rating, "ticket": secrets.token_hex(4)}
        self.status, self.match, self.queued = "joining the queue...", None, False
        # Both go out now; the fetch waits on the service until a match-maker answers.
        self.waiting = ws.fetch_nowait(reply_variable(self.player), event=True)
        ws.store_nowait(WAITING, self.player, callback=self.on_queued)

    def on_queued(self, request):
        """Callback of ``store_nowait``: runs inside ``poll()``."""
        if request.error is not None:
            self.status = f"cannot queue: {request.error}"
        else:
            self.queued = True
            self.status = "waiting for an opponent..."
        print(f"{self.name}: {self.status}", flush=True)

    def on_request(self, request):
        """A NET_STATE_REQUEST event: our match came (or the wait failed)."""
        if request is not self.waiting:
            return
        self.match = None if request.error is not None else clean_match(request.result())
        if request.error is not None:
            self.status = f"no match: {request.error}"
        elif self.match is None:
            self.status = f"a malformed match: {request.result()!r}"[:80]
        else:
            self.status = f"matched with {self.match['opponent']} (rating {self.match['rating']})"
        print(f"{self.name}: {self.status}", flush=True)
        if self.match is not None:
            print(f"{self.name}: game {self.match['game']}, by {self.match['by']}", flush=True)

    def leave(self):
        """Quitting unmatched: say so, or a match-maker would pair someone with us.

        The one blocking call of the player, as the window closes.
        """
        if not self.queued or self.match is not None:
            return
        try:
            self.ws.store(left_variable(self.player), True)
            print(f"{self.name}: left the queue", flush=True)
        except StateError as exc:
            print(f"{self.name}: cannot leave the queue: {exc}", flush=True)


def draw(pygame, screen, font, ticket, frame):
    screen.fill(BACKGROUND)
    me = ticket.player
    screen.blit(font.render(f"{me['name']} (rating {me['rating']})", True, TEXT), (20, 20))
    colour = MATCHED if ticket.match else TEXT
    dots = "." * (frame // 20 % 4) if ticket.queued and not ticket.match else ""
    screen.blit(font.render(ticket.status.rstrip(".") + dots, True, colour), (20, 60))
    if ticket.match:
        small = pygame.font.Font(None, 22)
        line = f"game {ticket.match['game']}, by {ticket.match['by']}.  Escape: quit"
        screen.blit(small.render(line, True, DIM), (20, 110))


def run_player(args):
    import pygame  # here, not at the top: the match-maker must run without pygame

    ws = open_lobby(args.state, args.name)  # blocks a moment, before the loop
    if ws is None:
        return 1
    pygame.init()  # before pygnetic.init(events=True): events need pygame's queue
    pygnetic.init(events=True)
    screen = pygame.display.set_mode((WIDTH, HEIGHT))
    pygame.display.set_caption(f"pygnetic matchmaking: {args.name}")
    font = pygame.font.Font(None, 30)
    ticket = Ticket(ws, args.name, args.rating)

    clock, frame, running = pygame.time.Clock(), 0, True
    while running:
        ws.poll()  # network work: the callback runs and the event is posted here
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                running = False
            elif e.type == event.NETWORK and e.net_type == event.NET_STATE_REQUEST:
                ticket.on_request(e.request)
        draw(pygame, screen, font, ticket, frame)
        pygame.display.flip()
        clock.tick(FPS)
        frame += 1
        if args.selftest:
            running = running and not ticket.waiting.done and frame < args.selftest

    if args.screenshot:
        pygame.image.save(screen, args.screenshot)
    ticket.leave()
    ws.close()  # before pygame.quit(): closing fails pending requests, which posts events
    pygame.quit()
    if not args.selftest:
        return 0
    ok = ticket.queued and ticket.match is not None
    print(f"selftest {'ok' if ok else 'FAILED'}: sent={int(ticket.queued)} received={int(ok)}")
    return 0 if ok else 1


def parse_args(argv):
    parser = argparse.ArgumentParser(description="pygnetic matchmaking: a queue of players")
    parser.add_argument("--role", choices=["player", "matchmaker"], default="player")
    parser.add_argument(
        "--state", default="localhost", metavar="HOST[:PORT]", help="default localhost:8765"
    )
    parser.add_argument("--name", help="the player's name (or the match-maker's)")
    parser.add_argument("--rating", type=int, help="the player's rating (default: random)")
    parser.add_argument("--selftest", type=int, metavar="N", help="frames, or players to match")
    parser.add_argument("--screenshot", metavar="FILE", help="save a player's window at the end")
    args = parser.parse_args(argv)
    try:
        parse_state(args.state)
    except ValueError:
        parser.error(f"--state is HOST[:PORT], not {args.state!r}")
    default = f"match-maker-{os.getpid()}" if args.role == "matchmaker" else "player"
    args.name = (args.name or "").strip()[:MAX_NAME] or default
    if args.rating is None:
        args.rating = random.randrange(1000, 2000)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.role == "matchmaker":
        return run_matchmaker(args)
    return run_player(args)


if __name__ == "__main__":
    raise SystemExit(main())
