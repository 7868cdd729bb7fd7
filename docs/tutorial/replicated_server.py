"""The replicated dots server: each player's dot is a Dot that every client sees."""

import pygnetic
from pygnetic.syncobject import SyncObjectManager

from world import PORT, Dot


class Player(pygnetic.Handler):
    """One per connected client, as in server.py; it owns that player's Dot."""

    def __init__(self, dots):
        self.dots = dots

    def on_connect(self):
        self.dot = self.dots.add(Dot())  # numbered, and sent to every client
        self.connection.net_you(self.dot.sync_id)
        print(f"player {self.dot.sync_id} joined from {self.connection.address[0]}")

    def net_move(self, message, **kwargs):
        self.dot.x, self.dot.y = message.x, message.y  # goes out with the next tick

    def on_disconnect(self):
        print(f"player {self.dot.sync_id} left: {self.connection.close_reason}")
        self.dots.remove(self.dot)  # gone from every client


def main():
    pygnetic.init()
    with pygnetic.Server(port=PORT) as server:
        dots = SyncObjectManager(server)  # sends changes 30 times a second
        server.handler = lambda: Player(dots)
        print("replicated dots server running, Ctrl+C stops it")
        try:
            while True:
                server.update(10)  # the manager runs in here: keep the wait short
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
