"""pygnetic 1.0 programs ported to Python 3 keep working, over the in-memory transport."""

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.message import MessageFactory
from pygnetic.testing import Recorder


@pytest.fixture
def network():
    return MemoryNetwork()


@pytest.fixture
def factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    factory.register("move", ("x", "y"), channel=1)
    return factory


def _pump(*hosts, rounds=4):
    for _ in range(rounds):
        for host in hosts:
            host.update()


def _server_with_clients(network, factory, count, handler=Recorder, **server_options):
    """A memory server and ``count`` connected clients: ``(server, clients, connections)``."""
    server = pygnetic.Server(
        handler=handler,
        message_factory=factory,
        adapter="memory",
        network=network,
        conn_limit=count,
        **server_options,
    )
    clients = [
        pygnetic.Client(message_factory=factory, adapter="memory", network=network)
        for _ in range(count)
    ]
    connections = [client.connect("memory", server.address[1]) for client in clients]
    _pump(server, *clients)
    assert all(connection.connected for connection in connections)
    return server, clients, connections


# -- 1. exclude takes one connection or handler, or a collection of them ---------


@pytest.mark.parametrize("container", [list, tuple, set, frozenset])
def test_connections_exclude_takes_a_collection(network, factory, container):
    server, _, _ = _server_with_clients(network, factory, 3)
    first, second, third = server.connections()
    assert server.connections(container([first, second])) == [third]
    assert server.connections(exclude=container()) == [first, second, third]


def test_connections_exclude_takes_proxies_and_iterators(network, factory):
    server, _, _ = _server_with_clients(network, factory, 3)
    handlers = server.handlers()
    proxies = [h.connection for h in handlers]  # weakref proxies, as in a handler
    assert server.connections(proxies[0]) == server.connections()[1:]
    assert server.connections([proxies[0], proxies[2]]) == [server.connections()[1]]
    assert server.connections(c for c in server.connections()[:2]) == server.connections()[2:]


def test_handlers_exclude_takes_handlers_connections_or_a_mix(network, factory):
    server, _, _ = _server_with_clients(network, factory, 3)
    first, second, third = server.handlers()
    assert server.handlers(exclude=[first]) == [second, third]
    assert server.handlers(exclude=first) == [second, third]
    assert server.handlers(exclude=[first.connection]) == [second, third]
    assert server.handlers(exclude=(first, second.connection)) == [third]
    assert server.handlers(exclude={first, second, third}) == []


def test_a_1_0_chat_relay_does_not_echo_to_the_sender(network, factory):
    class Relay(Recorder):
        def net_chat_msg(self, message, **kwargs):
            for handler in self.server.handlers(exclude=[self]):
                handler.connection.net_chat_msg(message.player, message.msg)
            for connection in self.server.connections([self.connection]):
                connection.net_chat_msg("echo", message.msg)
            self.server.broadcast("chat_msg", "all", message.msg, exclude=[self.connection])

    server, clients, connections = _server_with_clients(network, factory, 3, handler=Relay)
    recorders = [Recorder() for _ in connections]
    for connection, recorder in zip(connections, recorders, strict=True):
        connection.add_handler(recorder)
    connections[0].net_chat_msg("Tom", "hi")
    _pump(server, *clients)
    assert recorders[0].received == []
    for recorder in recorders[1:]:
        assert [m.player for m in recorder.received] == ["Tom", "echo", "all"]
