"""A pygnetic 1.0 program, ported to Python 3, over real TCP and ENet on 127.0.0.1.

Written the 1.0 way: ``Server``/``Client`` subclasses with ``handler`` and
``message_factory`` class attributes, ENet ``flags`` at ``register()``,
``net_<name>(self, message, **kwargs)`` handlers, a chat relay that excludes
its sender with lists, and ``pygnetic.init(events=True)`` called after the
hosts exist, with events read from pygame's real queue.
"""

import importlib.util

import pytest

import pygnetic
import pygnetic.event as event
from pygnetic.message import MessageFactory
from pygnetic.protocol import PACKET_FLAG_RELIABLE, CloseCode
from pygnetic.testing import pump

pygame = pytest.importorskip("pygame")
HAVE_ENET = importlib.util.find_spec("enet") is not None


@pytest.fixture(
    params=[
        "socket",
        pytest.param(
            "enet", marks=[pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")]
        ),
    ]
)
def adapter(request):
    return request.param


@pytest.fixture
def pygame_queue():
    pygame.init()
    pygame.event.clear()
    yield
    event.disable()
    pygame.quit()


def _messages():
    factory = MessageFactory("msgpack")
    factory.register("echo", ("msg", "msg_id"), flags=PACKET_FLAG_RELIABLE)
    factory.register("chat_msg", ("player", "msg"), channel=1, flags=PACKET_FLAG_RELIABLE)
    return factory


class ServerHandler(pygnetic.Handler):
    """1.0's echo server and chat relay."""

    def net_echo(self, message, **kwargs):
        self.connection.net_echo(message.msg.upper(), message.msg_id)

    def net_chat_msg(self, message, **kwargs):
        for handler in self.server.handlers(exclude=[self]):
            handler.connection.net_chat_msg(message.player, message.msg)
        for connection in self.server.connections([self.connection]):
            connection.net_echo(f"{message.player} spoke", kwargs["channel"])


class ClientHandler(pygnetic.Handler):
    def __init__(self):
        self.got = []

    def net_echo(self, message, **kwargs):
        self.got.append(("echo", message.msg, message.msg_id, kwargs))

    def net_chat_msg(self, message, **kwargs):
        self.got.append(("chat", message.player, message.msg, kwargs))


#: The kinds of event pygnetic 1.0 posted; a 1.0 program's if/elif chain ignores the others.
KINDS_1_0 = {event.NET_CONNECTED, event.NET_DISCONNECTED, event.NET_ACCEPTED, event.NET_RECEIVED}


def _network_events(seen):
    for e in pygame.event.get():
        if e.type == event.NETWORK and e.net_type in KINDS_1_0:
            seen.append((e.net_type, e))
    return seen


def test_a_1_0_echo_and_chat_program(adapter, pygame_queue):
    factory = _messages()

    class GameServer(pygnetic.Server):
        message_factory = factory
        handler = ServerHandler

    class GameClient(pygnetic.Client):
        message_factory = factory

    channel = 1 if adapter == "enet" else 0  # TCP reports every message on channel 0
    server = GameServer("127.0.0.1", 0, conn_limit=3, adapter=adapter)
    clients = [GameClient(adapter=adapter) for _ in range(3)]
    hosts = (server, *clients)
    try:
        connections = [client.connect("127.0.0.1", server.address[1]) for client in clients]
        handlers = [ClientHandler() for _ in connections]
        for connection, handler in zip(connections, handlers, strict=True):
            connection.add_handler(handler)
        assert pygnetic.init(events=True, logging_lvl=None)  # after creating the hosts
        seen = []
        assert pump(*hosts, until=lambda: len(_network_events(seen)) == 6)
        kinds = sorted(net_type for net_type, _ in seen)
        assert kinds == [event.NET_CONNECTED] * 3 + [event.NET_ACCEPTED] * 3

        ann, bob, cid = handlers
        connections[0].net_echo("hello", 7)
        assert pump(*hosts, until=lambda: ann.got)
        assert ann.got == [("echo", "HELLO", 7, {"channel": 0})]

        connections[0].net_chat_msg("ann", "hi all")
        assert pump(*hosts, until=lambda: len(bob.got) == len(cid.got) == 2)
        pump(*hosts, timeout=0.2)  # would the sender get an echo of its own line?
        assert ann.got == [("echo", "HELLO", 7, {"channel": 0})]
        for other in (bob, cid):
            assert sorted(other.got) == [
                ("chat", "ann", "hi all", {"channel": channel}),
                ("echo", "ann spoke", channel, {"channel": 0}),
            ]

        _network_events(seen)
        received = [e for net_type, e in seen if net_type == event.NET_RECEIVED]
        by_server = [e for e in received if e.connection in server.connections()]
        assert [(e.msg_type.__name__, e.channel) for e in by_server] == [
            ("echo", 0),
            ("chat_msg", channel),
        ]
        assert len(received) == len(by_server) + 1 + 4  # ann's echo; bob's and cid's two each

        connections[0].disconnect()
        seen.clear()

        def both_ends_told():
            return sum(t == event.NET_DISCONNECTED for t, _ in _network_events(seen)) == 2

        assert pump(*hosts, until=both_ends_told)
        assert {(e.connection is connections[0], e.code, e.reason) for _, e in seen} == {
            (True, CloseCode.NORMAL, "disconnected"),
            (False, CloseCode.NORMAL, "disconnected by peer"),
        }
        assert len(server.connections()) == 2
    finally:
        for host in hosts:
            host.close(linger_ms=50)
