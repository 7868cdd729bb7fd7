"""The network simulator over real ENet and real TCP sockets on 127.0.0.1."""

import itertools
import time

import pytest
from raw_peers import enet

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.testing import Recorder, pump

ADAPTERS = [
    "socket",
    pytest.param("enet", marks=pytest.mark.skipif(enet is None, reason="no pyenet")),
]


def messages():
    factory = MessageFactory()
    chat = factory.register("chat", ("n",))
    position = factory.register("position", ("n",), delivery="unreliable_sequenced", channel=1)
    return factory, chat, position


def open_pair(adapter, client_simulate, server_simulate=False):
    factory, *_ = messages()
    recorder = Recorder()
    server = pygnetic.Server(
        "127.0.0.1", 0, adapter=adapter, message_factory=factory, handler=lambda: recorder,
        simulate=server_simulate, rate_limit=None,
    )  # fmt: skip
    client = pygnetic.Client(adapter=adapter, message_factory=factory, simulate=client_simulate)
    connection = client.connect("127.0.0.1", server.address[1])
    assert pump(server, client, until=lambda: connection.connected, timeout=10)
    return server, client, connection, recorder


def received(recorder, name):
    return [m.n for m in recorder.received if type(m).__name__ == name]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_reliable_messages_arrive_all_in_order_through_simulated_loss(adapter):
    server, client, connection, recorder = open_pair(
        adapter, "latency=10ms jitter=5ms loss=10% reorder=5% duplicate=2% seed=1"
    )
    with server, client:
        for n in range(3000):
            connection.net_chat(n)
            if n % 100 == 0:
                client.update()
                server.update()
        assert pump(server, client, until=lambda: len(received(recorder, "chat")) >= 3000,
                    timeout=30)  # fmt: skip
        pump(server, client, timeout=0.1)
        assert received(recorder, "chat") == list(range(3000))
        assert client.simulator.stats.retransmitted > 100


@pytest.mark.enet
@pytest.mark.skipif(enet is None, reason="no pyenet")
def test_sequenced_messages_over_enet_are_never_older_than_one_delivered():
    server, client, connection, recorder = open_pair(
        "enet", "latency=10ms jitter=5ms loss=10% reorder=10% duplicate=5% seed=2"
    )
    with server, client:
        for n in range(1500):
            connection.net_position(n)
            client.update()
            server.update()
        pump(server, client, timeout=0.3)
        arrived = received(recorder, "position")
        assert all(a < b for a, b in itertools.pairwise(arrived))
        stats = client.simulator.stats
        assert stats.dropped and stats.stale
        assert len(arrived) < 1500 - stats.dropped


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_round_trip_time_includes_both_sides_latency(adapter):
    server, client, connection, _ = open_pair(adapter, "latency=30ms", "latency=20ms")
    with server, client:
        client.timeout = server.timeout = 0.4  # a ping every 0.1 s
        assert pump(server, client, until=lambda: connection.round_trip_time is not None,
                    timeout=10)  # fmt: skip
        assert connection.round_trip_time >= 50


def test_update_waits_no_longer_than_the_next_simulated_packet():
    # A default server listens on ENet and TCP: it waits on both at once.
    factory, *_ = messages()
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, simulate="latency=30ms")
    client = pygnetic.Client(message_factory=factory)
    with server, client:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected, timeout=10)
        for host in (server, client):
            host.update()
        handler_connection = server.connections()[0]
        delivered = server.simulator.stats.delivered
        handler_connection.net_chat(1)
        started = time.monotonic()
        while server.simulator.stats.delivered == delivered:
            server.update(1000)  # nothing arrives: only the simulator's packet is due
            assert time.monotonic() - started < 0.9, "update() slept past the packet"
        assert time.monotonic() - started >= 0.03
