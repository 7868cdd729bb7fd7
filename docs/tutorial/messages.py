"""The messages of the dots game: imported by both server.py and client.py."""

import pygnetic

PORT = 10000

# Client -> server: where my dot is now. Positions change every frame, so a
# lost one does not matter; an old one arriving late would, so: sequenced.
move = pygnetic.register("move", ("x", "y"), delivery="unreliable_sequenced", channel=1)
# Server -> clients: where another player's dot is.
moved = pygnetic.register(
    "moved", ("player", "x", "y"), delivery="unreliable_sequenced", channel=1
)
# Server -> clients: a player left; this one must arrive, so: reliable (the default).
left = pygnetic.register("left", ("player",))
