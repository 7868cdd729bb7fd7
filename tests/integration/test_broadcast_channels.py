"""Server.broadcast() to ENet clients that asked for different numbers of channels."""

import pytest

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.testing import Recorder, pump

pytest.importorskip("enet")
pytestmark = pytest.mark.enet


def _connected(server, clients):
    """Connect each client to ``server``; return a Recorder on each connection."""
    connections = [c.connect("127.0.0.1", server.address[1]) for c in clients]
    recorders = [Recorder() for _ in connections]
    for connection, recorder in zip(connections, recorders, strict=True):
        connection.add_handler(recorder)
    assert pump(server, *clients, until=lambda: all(c.connected for c in connections))
    return recorders


def test_broadcast_skips_clients_without_the_channel():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="enet", channels=8)
    clients = [
        pygnetic.Client(message_factory=factory, adapter="enet", channels=channels)
        for channels in (2, 8)
    ]
    try:
        recorders = _connected(server, clients)
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
        for connection in (recorder.connection for recorder in recorders):
            connection.check_channel(connection.channels - 1)
    finally:
        for host in (server, *clients):
            host.close(linger_ms=50)


@pytest.mark.parametrize("delivery", ["reliable", "unreliable", "unreliable_sequenced"])
def test_the_same_bytes_reach_every_client_again_after_they_left(delivery):
    # One ENet packet carries bytes sent to several peers in a row; ENet frees
    # it once sent (unreliable) or acknowledged (reliable), and reuses the
    # memory for packets that arrive. Sending the same bytes object again
    # after that must make a new packet, not reuse the freed one.
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="enet")
    clients = [pygnetic.Client(message_factory=factory, adapter="enet") for _ in range(4)]
    try:
        recorders = _connected(server, clients)
        connections = [recorder.connection for recorder in recorders]
        data, _ = factory.encode("chat_msg", ("server", "x" * 3000))  # in fragments, too
        kind = pygnetic.Delivery(delivery)
        for round_ in range(1, 7):
            for connection in server.connections():
                connection.send_encoded(data, 0, kind)
            server.update(0)  # sent: unreliable packets are freed now
            for connection in connections:  # packets of the same size arrive at the server
                connection.net_chat_msg("client", "y" * 3000)
            assert pump(
                server,
                *clients,
                until=lambda round_=round_: all(len(r.received) == round_ for r in recorders),
            )
        for recorder in recorders:
            assert [m.msg for m in recorder.received] == ["x" * 3000] * 6
        server.broadcast("chat_msg", "server", "last", delivery=delivery)
        server.connections()[0].disconnect()  # its copy is freed at once
        server.broadcast("chat_msg", "server", "after", delivery=delivery)
        assert pump(server, *clients, until=lambda: sum(len(r.received) for r in recorders) >= 31)
        pump(server, *clients, timeout=0.2)
        tails = sorted([m.msg for m in r.received[6:]] for r in recorders)
        assert tails == [["last"]] + [["last", "after"]] * 3
    finally:
        for host in (server, *clients):
            host.close(linger_ms=50)
