"""The dots server: relays every player's position to the other players."""

import itertools

import pygnetic

from messages import PORT

player_ids = itertools.count(1)


class Player(pygnetic.Handler):
    """The server makes one Player per connected client."""

    def on_connect(self):
        self.id = next(player_ids)
        print(f"player {self.id} joined from {self.connection.address[0]}")

    def net_move(self, message, **kwargs):
        for other in self.server.connections(exclude=self.connection):
            other.net_moved(self.id, message.x, message.y)

    def on_disconnect(self):
        print(f"player {self.id} left: {self.connection.close_reason}")
        for other in self.server.connections():
            other.net_left(self.id)


def main():
    pygnetic.init()
    with pygnetic.Server(port=PORT, handler=Player) as server:
        print("dots server running, Ctrl+C stops it")
        try:
            while True:
                server.update(50)  # wait up to 50 ms for network activity
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
