"""pygnetic 1.0 programs ported to Python 3 keep working, over the in-memory transport."""

import contextlib
import inspect
import io
import logging
import sys

import pytest
from memory_hosts import server_with_clients

import pygnetic
import pygnetic.event as event
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.errors import PygneticWarning
from pygnetic.message import MessageFactory
from pygnetic.protocol import (
    PACKET_FLAG_NO_ALLOCATE,
    PACKET_FLAG_RELIABLE,
    PACKET_FLAG_UNRELIABLE_FRAGMENT,
    PACKET_FLAG_UNSEQUENCED,
    CloseCode,
    Delivery,
)
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
    server, clients, connections = server_with_clients(
        network, factory, count, handler, **server_options
    )
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


# -- 2. events follow pygnetic.init(events=True) made after the hosts ------------


@pytest.fixture
def pygame_display():
    pygame = pytest.importorskip("pygame")
    pygame.init()
    pygame.event.clear()
    yield pygame
    event.disable()
    pygame.quit()


def _network_events(pygame):
    return [(e.net_type, e) for e in pygame.event.get() if e.type == event.NETWORK]


def test_init_events_after_creating_the_hosts_posts_events(network, factory, pygame_display):
    pygame = pygame_display
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    quiet = pygnetic.Client(
        message_factory=factory, adapter="memory", network=network, events=False
    )
    connection = client.connect("memory", server.address[1])
    quiet.connect("memory", server.address[1])
    assert not server.events and not client.events
    assert pygnetic.init(events=True, logging_lvl=None)  # as a 1.0 program may do it
    assert server.events and client.events and not quiet.events
    connection.net_chat_msg("Tom", "hi")
    _pump(server, client, quiet)
    seen = _network_events(pygame)
    kinds = [net_type for net_type, _ in seen]
    assert kinds.count(event.NET_CONNECTED) == 1  # the quiet client posts nothing
    assert kinds.count(event.NET_ACCEPTED) == 2
    received = [e for net_type, e in seen if net_type == event.NET_RECEIVED]
    assert [(e.connection.address, e.message) for e in received] == [
        (server.connections()[0].address, ("Tom", "hi"))
    ]
    event.disable()
    connection.net_chat_msg("Tom", "unheard")
    connection.disconnect()
    _pump(server, client, quiet)
    assert _network_events(pygame) == []
    assert not server.events


def test_an_explicit_events_argument_wins(network, factory, pygame_display):
    event.init()
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    client.events = False
    client.connect("memory", server.address[1])
    _pump(server, client)
    assert [net_type for net_type, _ in _network_events(pygame_display)] == [event.NET_ACCEPTED]


# -- 3. init(logging_lvl=...) configures the root logger, as 1.0 did -------------


@contextlib.contextmanager
def bare_root_logger():
    """The root logger without handlers (pytest's own come back afterwards)."""
    root = logging.getLogger()
    ours = logging.getLogger("pygnetic")
    saved = root.handlers[:], root.level, ours.handlers[:], ours.level
    root.handlers.clear()
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:], ours.handlers[:] = saved[0], saved[2]
        root.setLevel(saved[1])
        ours.setLevel(saved[3])


def test_init_logging_shows_the_programs_own_lines_once(monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)  # where a new StreamHandler writes
    with bare_root_logger() as root:
        assert pygnetic.init()
        assert pygnetic.init()  # a second call adds no second handler
        logging.info("the game started")
        logging.getLogger("game.world").debug("below the level")
        assert len(root.handlers) == 1
        assert not logging.getLogger("pygnetic").handlers
    lines = stderr.getvalue().splitlines()
    assert [line[9:] for line in lines if "game" in line] == ["INFO     the game started"]
    assert not [line for line in lines if "network adapter" in line]  # DEBUG: nothing fell back


def test_init_logging_uses_a_handler_the_program_set_up(monkeypatch):
    stream, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    with bare_root_logger() as root:
        logging.basicConfig(level=logging.WARNING, stream=stream, format="%(name)s: %(message)s")
        assert pygnetic.init(logging_lvl=logging.DEBUG)
        logging.info("not shown: the program chose WARNING")
        assert len(root.handlers) == 1 and root.level == logging.WARNING
    lines = stream.getvalue().splitlines()
    assert len([line for line in lines if "network adapter" in line]) == 1
    assert all(line.startswith("pygnetic: ") for line in lines)
    assert stderr.getvalue() == ""  # printed once, by the program's handler only


def test_logging_lvl_none_leaves_the_root_logger_alone():
    with bare_root_logger() as root:
        level = root.level
        assert pygnetic.init(logging_lvl=None)
        assert root.handlers == []
        assert root.level == level


# -- 4. a message_factory class attribute is honoured ----------------------------


def test_message_factory_class_attribute_of_subclasses(network, factory):
    class GameServer(pygnetic.Server):
        message_factory = factory

    class GameClient(pygnetic.Client):
        message_factory = factory

    server = GameServer(handler=Recorder, adapter="memory", network=network)
    client = GameClient(adapter="memory", network=network)
    assert server.message_factory is factory and client.message_factory is factory
    connection = client.connect("memory", server.address[1])
    connection.net_chat_msg("Tom", "hi")  # no such message in the default factory
    _pump(server, client)
    assert connection.connected
    assert server.handlers()[0].received == [("Tom", "hi")]


def test_message_factory_argument_beats_the_class_attribute(network, factory):
    other = MessageFactory("json")

    class GameClient(pygnetic.Client):
        message_factory = factory

    client = GameClient(message_factory=other, adapter="memory", network=network)
    assert client.message_factory is other
    assert pygnetic.Client(adapter="memory", network=network).message_factory is (
        pygnetic.message.message_factory
    )


# -- 6. **kwargs handler methods receive the adapter's keyword arguments ---------


def test_kwargs_handler_methods_receive_the_channel(network, factory):
    calls = []

    class Handler(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):  # the 1.0 signature
            calls.append(("chat_msg", kwargs))

        def on_recive(self, message, **kwargs):  # 1.0's catch-all
            calls.append(("on_recive", kwargs))

    class Plain(pygnetic.Handler):
        def net_chat_msg(self, message):  # neither: the message alone
            calls.append(("plain", message.msg))

        def on_receive(self, message, *, channel):
            calls.append(("on_receive", channel))

    server, clients, (connection,) = _server_with_clients(network, factory, 1, handler=Handler)
    server.connections()[0].add_handler(Plain())
    connection.net_chat_msg("Tom", "hi", channel=2)
    connection.net_move(1, 2)  # registered on channel 1
    _pump(server, *clients)
    assert calls == [
        ("chat_msg", {"channel": 2}),
        ("plain", "hi"),
        ("on_recive", {"channel": 1}),
        ("on_receive", 1),
    ]


# -- 7. ENet packet flags, as 1.0 took them --------------------------------------


@pytest.mark.parametrize(
    ("flags", "delivery"),
    [
        (PACKET_FLAG_RELIABLE, Delivery.RELIABLE),
        (PACKET_FLAG_UNSEQUENCED, Delivery.UNRELIABLE),
        (0, Delivery.UNRELIABLE_SEQUENCED),
        (PACKET_FLAG_RELIABLE | PACKET_FLAG_UNSEQUENCED, Delivery.RELIABLE),  # as ENet does
        (PACKET_FLAG_NO_ALLOCATE, Delivery.UNRELIABLE_SEQUENCED),  # ignored bits
        (PACKET_FLAG_UNSEQUENCED | PACKET_FLAG_UNRELIABLE_FRAGMENT, Delivery.UNRELIABLE),
    ],
)
def test_flags_map_onto_delivery_modes(flags, delivery):
    factory = MessageFactory("msgpack")
    position = factory.register("position", ("x", "y"), channel=1, flags=flags)
    assert position._send_options == (1, delivery)
    assert factory.get_params(position) == (0, {"channel": 1, "flags": flags})


def test_flags_per_call_reach_the_transport(network, factory):
    server, _, (connection,) = _server_with_clients(network, factory, 1)
    connection.net_move(1, 2, flags=0)
    connection.send("chat_msg", "Tom", "hi", flags=PACKET_FLAG_UNSEQUENCED)
    connection.net_chat_msg("Tom", "hi", flags=PACKET_FLAG_RELIABLE, channel=3)
    assert server.broadcast("chat_msg", "all", "hi", flags=0) == 1
    assert [(c, d) for _, c, d in connection._link.sent[-3:]] == [
        (1, Delivery.UNRELIABLE_SEQUENCED),
        (0, Delivery.UNRELIABLE),
        (3, Delivery.RELIABLE),
    ]
    assert server.connections()[0]._link.sent[-1][1:] == (0, Delivery.UNRELIABLE_SEQUENCED)


def test_flags_and_delivery_together_or_bad_flags_are_errors(network, factory):
    with pytest.raises(TypeError, match="not both"):
        factory.register("position", ("x", "y"), flags=0, delivery="reliable")
    for bad in (16, -1, 1.0, "1", True, None):
        with pytest.raises(ValueError, match="PACKET_FLAG_RELIABLE"):
            factory.register("position", ("x", "y"), flags=bad)
    with pytest.raises(TypeError, match="valid ones: channel, delivery, flags"):
        factory.register("position", ("x", "y"), flag=0)
    _, _, (connection,) = _server_with_clients(network, factory, 1)
    with pytest.raises(TypeError, match="not both"):
        connection.net_move(1, 2, flags=0, delivery="unreliable")


def test_flags_leave_the_registry_hash_alone():
    hashes = set()
    for options in ({}, {"flags": 0}, {"delivery": "unreliable"}, {"flags": 3, "channel": 2}):
        factory = MessageFactory("msgpack")
        factory.register("position", ("x", "y"), **options)
        hashes.add(factory.get_hash())
    assert len(hashes) == 1


def test_flag_values_are_enets():
    enet = pytest.importorskip("enet")
    assert (PACKET_FLAG_RELIABLE, PACKET_FLAG_UNSEQUENCED) == (
        enet.PACKET_FLAG_RELIABLE,
        enet.PACKET_FLAG_UNSEQUENCED,
    )
    assert (PACKET_FLAG_NO_ALLOCATE, PACKET_FLAG_UNRELIABLE_FRAGMENT) == (
        enet.PACKET_FLAG_NO_ALLOCATE,
        enet.PACKET_FLAG_UNRELIABLE_FRAGMENT,
    )


# -- 8. a misspelt net_ method is reported at its own definition -----------------


class Misspelt(Recorder):
    def net_chat_mgs(self, message, **kwargs):
        pass

    net_mvoe = 5  # not even a method: reported at the class


def _where(warning):
    return warning.filename, warning.lineno


def test_the_unknown_net_method_warning_points_at_its_definition(network, factory):
    definition = (__file__, Misspelt.net_chat_mgs.__code__.co_firstlineno)
    with pytest.warns(PygneticWarning, match="matches no registered message") as by_server:
        _, _, (connection,) = _server_with_clients(network, factory, 1, handler=Misspelt)
    with pytest.warns(PygneticWarning, match="matches no registered message") as by_game:
        connection.add_handler(Misspelt())
    for record in (by_server, by_game):
        where = {w.message.args[0].split()[0]: _where(w) for w in record}
        assert where["Misspelt.net_chat_mgs"] == definition
        assert where["Misspelt.net_mvoe"] == (__file__, inspect.getsourcelines(Misspelt)[1])


# -- 9. broadcast checks each connection's channels ------------------------------


def test_broadcast_skips_and_does_not_count_clients_without_the_channel(network, factory):
    server, clients, connections = _server_with_clients(network, factory, 3)
    recorders = [Recorder() for _ in connections]
    for connection, recorder in zip(connections, recorders, strict=True):
        connection.add_handler(recorder)
    few = server.connections()[0]
    few._link.channels = 2  # as a client that asked ENet for two channels
    assert few.channels == 2
    assert server.broadcast("chat_msg", "all", "on 3", channel=3) == 2
    assert server.broadcast("chat_msg", "all", "on 1", channel=1) == 3
    _pump(server, *clients)
    assert [[m.msg for m in r.received] for r in recorders] == [
        ["on 1"],
        ["on 3", "on 1"],
        ["on 3", "on 1"],
    ]
    assert [c.messages_sent for c in server.connections()] == [1, 2, 2]


def test_broadcast_on_a_channel_no_connection_has_is_an_error(network, factory):
    server, _, _ = _server_with_clients(network, factory, 2)
    for connection in server.connections():
        connection._link.channels = 2
    with pytest.raises(ValueError, match="channel 2 does not exist on any connection"):
        server.broadcast("chat_msg", "all", "hi", channel=2)
    assert server.broadcast("chat_msg", "all", "hi", channel=2, exclude=server.connections()) == 0


# -- 10. close_reason says who disconnected -----------------------------------------


@pytest.mark.parametrize("how", ["disconnect", "client.close"])
def test_the_side_that_disconnects_reads_disconnected(network, factory, how):
    server, (client,), (connection,) = _server_with_clients(network, factory, 1)
    remote = server.connections()[0]
    if how == "disconnect":
        connection.disconnect()
        _pump(server, client)
    else:
        client.close()
        _pump(server)
    assert (connection.close_code, connection.close_reason) == (CloseCode.NORMAL, "disconnected")
    assert (remote.close_code, remote.close_reason) == (CloseCode.NORMAL, "disconnected by peer")


def test_a_disconnect_reason_is_read_on_both_sides(network, factory):
    server, clients, (connection,) = _server_with_clients(network, factory, 1)
    remote = server.connections()[0]
    remote.disconnect("kicked: cheating")
    _pump(server, *clients)
    assert connection.close_reason == remote.close_reason == "kicked: cheating"
    server.close()
    assert remote.close_reason == "kicked: cheating"  # an ended connection keeps its reason


def test_disconnect_takes_1_0s_when_argument(network, factory):
    server, clients, (connection,) = _server_with_clients(network, factory, 1)
    remote, handler = server.connections()[0], server.handlers()[0]
    connection.net_chat_msg("Tom", "bye")
    connection.disconnect(1)  # 1.0: ENet's disconnect_later()
    _pump(server, *clients)
    assert handler.received == [("Tom", "bye")]
    assert remote.close_reason == "disconnected by peer"
    assert connection.close_reason == "disconnected"
