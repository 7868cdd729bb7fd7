"""A memory server with clients, shared by the unit tests that need several peers."""

import pygnetic
from pygnetic.testing import Recorder


def server_with_clients(network, factory, count, handler=Recorder, **server_options):
    """A memory server and ``count`` clients connecting to it: ``(server, clients, connections)``.

    The connections are still connecting: pump the hosts to open them.
    """
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
    return server, clients, connections
