"""A real server with one well-behaved client: the world that hostile-peer tests attack."""

import pygnetic
from pygnetic.testing import EchoRecorder, Recorder, pump


class GoodClientWorld:
    """An echoing server on 127.0.0.1 and one good client, connected.

    ``server_options`` go to the :class:`~pygnetic.server.Server` (a clock, limits).
    """

    def __init__(self, adapter, factory, *, conn_limit, **server_options):
        self.factory = factory
        self.server = pygnetic.Server(
            "127.0.0.1",
            0,
            conn_limit=conn_limit,
            handler=EchoRecorder,
            message_factory=factory,
            adapter=adapter,
            **server_options,
        )
        self.port = self.server.address[1]
        self.client = pygnetic.Client(message_factory=factory, adapter=adapter)
        self.good = self.client.connect("127.0.0.1", self.port)
        self.recorder = Recorder()
        self.good.add_handler(self.recorder)
        assert pump(self.server, self.client, until=lambda: self.good.connected)

    def close(self):
        self.client.close(linger_ms=50)
        self.server.close(linger_ms=50)
