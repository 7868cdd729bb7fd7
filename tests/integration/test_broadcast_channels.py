"""Server.broadcast() to ENet clients that asked for different numbers of channels."""

import pytest

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.testing import Recorder, pump

pytest.importorskip("enet")
pytestmark = pytest.mark.enet


def test_broadcast_skips_clients_without_the_channel():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="enet", channels=8)
    clients = [
        pygnetic.Client(message_factory=factory, adapter="enet", channels=channels)
        for channels in (2, 8)
    ]
    try:
        connections = [c.connect("127.0.0.1", server.address[1]) for c in clients]
        recorders = [Recorder() for _ in connections]
        for connection, recorder in zip(connections, recorders, strict=True):
            connection.add_handler(recorder)
        assert pump(server, *clients, until=lambda: all(c.connected for c in connections))
        assert sorted(c.channels for c in server.connections()) == [2, 8]
        assert server.broadcast("chat_msg", "all", "on 5", channel=5) == 1
        assert server.broadcast("chat_msg", "all", "on 1", channel=1) == 2
        assert pump(server, *clients, until=lambda: len(recorders[1].received) == 2)
        assert pump(server, *clients, until=lambda: recorders[0].received)
        pump(server, *clients, timeout=0.2)
        assert [m.msg for m in recorders[0].received] == ["on 1"]
        both = recorders[1]
        # ENet orders each channel on its own, not one channel against another.
        assert sorted(
            (m.msg, channel) for m, channel in zip(both.received, both.channels, strict=True)
        ) == [("on 1", 1), ("on 5", 5)]
        for connection in connections:
            connection.check_channel(connection.channels - 1)
    finally:
        for host in (server, *clients):
            host.close(linger_ms=50)
