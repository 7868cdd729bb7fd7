"""The replicated dots game's messages and Dot class.

Imported by both replicated_server.py and replicated_client.py.
"""

import pygnetic
from pygnetic.syncobject import SyncObject

PORT = 10000

# Client -> server: where my dot is now, as in messages.py. Channel 2: the
# replicated state has channel 1 to itself.
move = pygnetic.register("move", ("x", "y"), delivery="unreliable_sequenced", channel=2)
# Server -> client, once: which Dot is yours. A one-off, so a (reliable) message.
you = pygnetic.register("you", ("sync_id",))


class Dot(SyncObject):
    """A player's dot. The server owns it; every client holds a replica."""

    sync_var = ("x", "y")  # the attributes every client sees

    def __init__(self):
        self.x = self.y = 0
