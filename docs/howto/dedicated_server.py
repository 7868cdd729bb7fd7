"""A dedicated game server: no pygame, no display, stops cleanly on SIGTERM.

Players send ``steer(dx, dy)``; 20 times a second the server moves every
player and sends everyone the new positions.
"""

import itertools
import logging
import signal
import time

import pygnetic

ADAPTER = "enet"  # pinned: every client must use the same adapter
PORT = 10000
TICK = 1 / 20  # seconds between two simulation steps

steer = pygnetic.register("steer", ("dx", "dy"))
position = pygnetic.register(
    "position", ("player", "x", "y"), delivery="unreliable_sequenced", channel=1
)

player_ids = itertools.count(1)
log = logging.getLogger("dots")


class Player(pygnetic.Handler):
    def on_connect(self):
        self.id = next(player_ids)
        self.x, self.y, self.dx, self.dy = 320, 240, 0, 0
        log.info("player %d joined from %s", self.id, self.connection.address[0])

    def net_steer(self, message, **kwargs):
        self.dx = max(-5, min(5, message.dx))  # never trust a client
        self.dy = max(-5, min(5, message.dy))

    def on_disconnect(self):
        log.info("player %d left: %s", self.id, self.connection.close_reason)


def step(server):
    players = server.handlers()
    for player in players:
        player.x += player.dx
        player.y += player.dy
    for connection in server.connections():
        for player in players:
            connection.net_position(player.id, player.x, player.y)


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not pygnetic.init(n_module=ADAPTER, logging_lvl=None):
        raise SystemExit(f"the {ADAPTER} adapter is not available (see the log above)")

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)  # systemctl stop, docker stop, kill
    signal.signal(signal.SIGINT, stop)  # Ctrl+C

    with pygnetic.Server(port=PORT, conn_limit=16, handler=Player) as server:
        next_step = time.monotonic()
        while not stopping:
            # Do the network work, waiting for traffic until the next step is due.
            wait = next_step - time.monotonic()
            server.update(max(0, int(wait * 1000)))
            now = time.monotonic()
            if now >= next_step:
                step(server)
                next_step = max(next_step + TICK, now)  # no catching up after a stall
        log.info("shutting down")
    # Leaving the with block closed the server: every client was told
    # "server is shutting down" before the process exits.


if __name__ == "__main__":
    main()
