"""Connection, Handler and Host behaviour over the in-memory transport.

Every test runs with whole packets, with a stream cut into 5-byte slices, and
with packets over a transport that keeps links alive itself (as ENet does),
and with the client on either side of the behaviour where it matters.
"""

import warnings

import msgpack
import pytest
from memory_hosts import server_with_clients

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.connection import ConnectionState
from pygnetic.errors import MessageArgumentsError, MessageTooLargeError, PackError, PygneticWarning
from pygnetic.handshake import MAGIC
from pygnetic.message import MessageFactory, find_route
from pygnetic.protocol import PING, CloseCode, Delivery
from pygnetic.testing import Recorder


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["packets", "stream", "keepalive"])
def network(request):
    """Whole packets, a TCP-like stream, or packets with an ENet-like keepalive."""
    return MemoryNetwork(
        stream=request.param == "stream", chunk=5, keepalive=request.param == "keepalive"
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    factory.register("move", ("x", "y"), delivery="unreliable_sequenced", channel=1)
    factory.register("tick")
    return factory


class Pair:
    """A memory server and client, connected, with recorders on both ends."""

    def __init__(self, network, factory, clock, handler=Recorder, **options):
        self.server = pygnetic.Server(
            "",
            0,
            handler=handler,
            message_factory=factory,
            adapter="memory",
            network=network,
            clock=clock,
            **options,
        )
        self.client = pygnetic.Client(
            message_factory=factory, adapter="memory", network=network, clock=clock, **options
        )
        self.connection = self.client.connect("memory", self.server.address[1])
        self.recorder = Recorder()
        self.connection.add_handler(self.recorder)

    def pump(self, rounds=4):
        for _ in range(rounds):
            self.server.update()
            self.client.update()

    @property
    def remote(self):
        return self.server.handlers()[0]


@pytest.fixture
def pair(network, factory, clock):
    return Pair(network, factory, clock)


def test_client_is_connecting_until_the_server_accepts(pair):
    assert pair.connection.state is ConnectionState.CONNECTING
    assert not pair.connection.connected
    pair.pump()
    assert pair.connection.connected
    assert pair.recorder.connects == 1
    assert pair.remote.connects == 1
    assert pair.remote.server is not None


def test_messages_sent_while_connecting_go_out_on_acceptance(pair, factory):
    chat_msg = factory.get_by_name("chat_msg")
    assert pair.connection.net_chat_msg("Tom", "early") is True
    pair.pump()
    assert pair.remote.received == [chat_msg("Tom", "early")]
    assert pair.connection.messages_sent == 1


def test_every_way_of_sending_is_equivalent(pair, factory):
    chat_msg = factory.get_by_name("chat_msg")
    pair.pump()
    connection = pair.connection
    connection.net_chat_msg("Tom", "a")
    connection.send(chat_msg, "Tom", "b")
    connection.send("chat_msg", "Tom", "c")
    connection.send(chat_msg("Tom", "d"))
    connection.net_chat_msg(player="Tom", msg="e")
    connection.net_chat_msg("Tom", msg="f")
    pair.pump()
    assert [m.msg for m in pair.remote.received] == list("abcdef")
    assert all(type(m) is chat_msg for m in pair.remote.received)


def test_send_options_come_from_registration_and_calls(pair, network):
    pair.pump()
    pair.connection.net_move(1, 2)
    pair.connection.net_move(3, 4, delivery="reliable", channel=2)
    pair.connection.net_chat_msg("Tom", "x", delivery=Delivery.UNRELIABLE)
    link = pair.connection._link
    sent = [(channel, delivery) for _, channel, delivery in link.sent[-3:]]
    assert sent == [
        (1, Delivery.UNRELIABLE_SEQUENCED),
        (2, Delivery.RELIABLE),
        (0, Delivery.UNRELIABLE),
    ]
    pair.pump()
    assert [type(m).__name__ for m in pair.remote.received[-3:]] == ["move", "move", "chat_msg"]
    # A stream has one channel: every message arrives on 0 whatever it was sent on.
    assert pair.remote.channels[-3:] == ([0, 0, 0] if network.stream else [1, 2, 0])


def test_wrong_field_count_is_a_type_error_naming_the_message(pair):
    with pytest.raises(TypeError, match=r"chat_msg takes 2 field\(s\) \(player, msg\)"):
        pair.connection.net_chat_msg("Tom")
    with pytest.raises(MessageArgumentsError):
        pair.connection.net_chat_msg("Tom", "a", "b")
    with pytest.raises(MessageArgumentsError):
        pair.connection.net_chat_msg("Tom", player="again")
    with pytest.raises(TypeError, match="unknown send option"):
        pair.connection.net_chat_msg("Tom", "a", colour="red")


def test_unknown_message_is_an_attribute_error_listing_known_ones(pair):
    pygnetic.MessageFactory().register("elsewhere")  # in another factory only
    with pytest.raises(AttributeError, match=r"so Connection has no net_elsewhere\(\) "):
        pair.connection.net_elsewhere()
    with pytest.raises(AttributeError, match=r"\(registered: chat_msg, move, tick\)"):
        pair.connection.net_elsewhere()
    with pytest.raises(AttributeError) as typo:
        pair.connection.net_chta_msg("Tom", "typo")
    # What Python's own "Did you mean: 'net_chat_msg'?" under a traceback is made of.
    assert typo.value.name == "net_chta_msg"
    assert typo.value.obj is pair.connection
    assert "net_chat_msg" in dir(pair.connection)
    with pytest.raises(KeyError):
        pair.connection.send("nope")


def test_bad_values_and_channels_fail_at_the_sender(pair, factory):
    with pytest.raises(PackError):
        pair.connection.net_chat_msg("Tom", {1, 2})
    with pytest.raises(ValueError, match="channel 99 does not exist"):
        pair.connection.net_chat_msg("Tom", "x", channel=99)


def test_sending_too_much_fails_at_the_sender(network, clock):
    factory = MessageFactory("msgpack", max_message_size=64)
    factory.register("blob", ("data",))
    pair = Pair(network, factory, clock)
    with pytest.raises(MessageTooLargeError):
        pair.connection.net_blob(b"x" * 100)


def test_sending_on_a_closed_connection_returns_false(pair):
    pair.pump()
    pair.connection.disconnect()
    assert pair.connection.net_chat_msg("Tom", "late") is False


def test_statistics_count_messages_and_bytes(pair, factory):
    pair.pump()
    for i in range(10):
        pair.connection.net_chat_msg("Tom", str(i))
    pair.pump()
    expected = sum(
        len(factory.pack(factory.get_by_name("chat_msg")("Tom", str(i)))) for i in range(10)
    )
    assert pair.connection.messages_sent == 10
    assert pair.connection.data_sent >= expected
    remote = pair.remote.connection
    assert remote.messages_received == 10
    assert remote.data_received == pair.connection.data_sent


def test_disconnect_reason_reaches_the_other_side(pair):
    pair.pump()
    remote = pair.remote
    pair.connection.disconnect("gone fishing")
    assert pair.connection.state is ConnectionState.CLOSING
    assert pair.recorder.disconnects == 0  # on_disconnect waits for update()
    pair.pump()
    assert pair.recorder.disconnects == 1
    assert remote.disconnects == 1
    assert remote.connection.close_reason == "gone fishing"
    assert remote.connection.close_code is CloseCode.NORMAL
    assert pair.server.connections() == []


def test_silent_peer_times_out_on_both_sides(network, factory, clock):
    pair = Pair(network, factory, clock, timeout=4.0)
    pair.pump()
    remote = pair.remote
    network.sever(pair.connection._link)
    severed_at = clock.now
    while pair.connection.connected and clock.now - severed_at < 10:
        clock.now += 0.25
        pair.pump(1)
    # Silence counts from the last thing heard, checked every 0.25 s.
    assert 4.0 <= clock.now - severed_at <= 4.5
    assert pair.connection.close_code is CloseCode.TIMEOUT
    silence = "nothing received" if network.keepalive else "no answer to pings"
    assert f"{silence} for 4 s" in pair.connection.close_reason
    assert remote.connection.close_code is CloseCode.TIMEOUT
    assert pair.recorder.disconnects == remote.disconnects == 1


def test_a_stalled_game_loop_does_not_time_out_live_peers(pair, clock):
    pair.pump()
    clock.now += 30  # e.g. a level loading for 30 s without update()
    pair.pump()
    assert pair.connection.connected


def test_a_loop_that_always_runs_slowly_still_notices_a_dead_peer(network, factory, clock):
    pair = Pair(network, factory, clock, timeout=4.0)
    pair.pump()
    network.sever(pair.connection._link)
    severed_at = clock.now
    while pair.connection.connected and clock.now - severed_at < 60:
        clock.now += 3.0  # every gap longer than a ping interval
        pair.pump(1)
    assert pair.connection.close_code is CloseCode.TIMEOUT
    # Each gap counts as one ping interval (1 s) of silence: four or five gaps.
    assert clock.now - severed_at <= 5 * 3.0


def test_keepalive_pings_keep_an_idle_connection_open(pair, clock):
    pair.pump()
    for _ in range(40):  # 40 s of silence from the game, 10 s timeout
        clock.now += 1.0
        pair.pump(2)
    assert pair.connection.connected
    assert pair.connection.round_trip_time is not None


def _pings(link):
    messages = [data for data, _, _ in link.sent if not data.startswith(MAGIC)]  # no handshake
    return [data for data in messages if msgpack.unpackb(data)[0] == PING]


def test_pings_only_where_the_transport_has_no_keepalive(pair, clock):
    pair.pump()
    for _ in range(20):
        clock.now += 1.0
        pair.pump(2)
    assert pair.connection.connected
    link, remote_link = pair.connection._link, pair.remote.connection._link
    if link.keepalive:
        assert _pings(link) == _pings(remote_link) == []
    else:
        assert len(_pings(link)) >= 7  # every timeout / 4 = 2.5 s
        assert len(_pings(remote_link)) >= 7


def test_unanswered_connect_times_out(network, factory, clock):
    client = pygnetic.Client(
        message_factory=factory, adapter="memory", network=network, clock=clock, timeout=2.0
    )
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    connection = client.connect("memory", server.address[1])
    client.update()  # the server never updates, so never answers
    clock.now += 2.5
    client.update()
    assert connection.close_code is CloseCode.TIMEOUT
    assert "cannot connect to memory:40000 over memory" in connection.close_reason
    assert "memory: no answer within 2 s" in connection.close_reason


def test_a_reached_server_that_never_answers_times_out(network, factory, clock):
    client = pygnetic.Client(
        message_factory=factory, adapter="memory", network=network, clock=clock, timeout=2.0
    )
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    server.link_opened = lambda link: None  # reached, and then never a word back
    connection = client.connect("memory", server.address[1])
    server.update()
    client.update()
    clock.now += 2.5
    client.update()
    assert connection.close_code is CloseCode.TIMEOUT
    assert connection.close_reason == "not accepted within 2 s"


def test_protocol_error_closes_only_the_offending_connection(network, factory, clock):
    server = pygnetic.Server(
        handler=Recorder, message_factory=factory, adapter="memory", network=network, clock=clock
    )
    clients = [
        pygnetic.Client(message_factory=factory, adapter="memory", network=network, clock=clock)
        for _ in range(2)
    ]
    good, bad = (client.connect("memory", server.address[1]) for client in clients)
    for _ in range(3):
        server.update()
        for client in clients:
            client.update()
    bad._link.send(b"\xc1 not msgpack", 0, Delivery.RELIABLE)
    good.net_chat_msg("Tom", "still here")
    for _ in range(3):
        server.update()
        for client in clients:
            client.update()
    assert bad.close_code is CloseCode.PROTOCOL_ERROR
    assert "undecodable" in bad.close_reason
    assert good.connected
    assert [h.received for h in server.handlers()] == [
        [factory.get_by_name("chat_msg")("Tom", "still here")]
    ]


def _two_messages(serializer):
    factory = MessageFactory(serializer)
    factory.register("chat_msg", ("player", "msg"))  # type id 0
    factory.register("move", ("x", "y"))  # type id 1
    return factory


def _send_raw_and_pump(pair, value):
    """Send ``value`` packed, bypassing the sender's checks; return the server's connection."""
    pair.pump()
    remote = pair.remote
    pair.connection._link.send(pair.connection.message_factory.serializer.pack(value), 0, 0)
    pair.pump()
    return remote


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
@pytest.mark.parametrize("type_id", [False, True, 0.0, 1.0], ids=repr)
def test_a_bool_or_float_type_id_closes_the_connection(network, clock, serializer, type_id):
    pair = Pair(network, _two_messages(serializer), clock)
    remote = _send_raw_and_pump(pair, (type_id, 1, 2))
    assert remote.received == []
    assert remote.connection.messages_received == 0
    assert remote.connection.close_code is CloseCode.PROTOCOL_ERROR
    expected = f"message type id must be an int, got {type(type_id).__name__} {type_id!r}"
    assert remote.connection.close_reason == expected
    assert pair.connection.close_code is CloseCode.PROTOCOL_ERROR  # the peer said why


_DECODED = [
    [0, "Tom", "hi"],
    [1, 2, 3],
    {0: 1, 1: 2, 2: 3},  # raw[0] finds a route, but a map is not a message
    b"\x00ab",  # so does a byte string's first byte
    "\x00ab",
    [],
    [0],
    [0, "Tom", "hi", "extra"],
    [99, 1, 2],
    [-1, 1, 2],
    [2**63, 1, 2],
    [[0], 1, 2],
    [None, 1, 2],
    [0.0, "Tom", "hi"],
    [True, 2, 3],
    None,
    0,
]


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
@pytest.mark.parametrize("value", _DECODED, ids=repr)
def test_a_connection_delivers_exactly_what_find_route_accepts(network, clock, serializer, value):
    # The receive paths write find_route()'s check out for speed: they must agree with it.
    pair = Pair(network, _two_messages(serializer), clock)
    pair.pump()
    serializer = pair.connection.message_factory.serializer
    try:
        decoded = serializer.unpack(serializer.pack(value))
    except TypeError:
        pytest.skip(f"{serializer.name} cannot carry {type(value).__name__}")
    expected = find_route(pair.remote.connection._routes, decoded)
    remote = _send_raw_and_pump(pair, value)
    if expected is None:
        assert remote.received == []
        assert remote.connection.close_code is CloseCode.PROTOCOL_ERROR
    else:
        [message] = remote.received
        assert list(message) == list(value[1:])
        assert remote.connection.state is ConnectionState.OPEN


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_a_hostile_type_id_gets_a_short_reason(network, clock, serializer):
    pair = Pair(network, _two_messages(serializer), clock)
    remote = _send_raw_and_pump(pair, ([[["x" * 10_000]]], "x" * 10_000, 2))
    assert remote.connection.close_code is CloseCode.PROTOCOL_ERROR
    assert remote.connection.close_reason == "message type id must be an int, got list [[[...]]]"


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_a_deeply_nested_message_is_refused_before_anything_formats_it(network, clock, serializer):
    nested = []
    for _ in range(900):  # as deep as both serializers encode
        nested = [nested]
    pair = Pair(network, _two_messages(serializer), clock)
    remote = _send_raw_and_pump(pair, (0, nested, 2))  # a valid type id and field count
    assert remote.received == []
    assert remote.connection.close_code is CloseCode.PROTOCOL_ERROR
    assert remote.connection.close_reason == (
        "arrays or maps nested more than 32 levels deep (max_depth)"
    )


def test_handler_methods_and_fallbacks(network, factory, clock):
    calls = []

    class Handler(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):  # the seed's signature
            calls.append(("net_chat_msg", message.msg, kwargs))

        def net_tick(self, message, channel):  # asks for the channel
            calls.append(("net_tick", channel))

        def on_recive(self, message, **kwargs):  # pygnetic 1.0 spelling
            calls.append(("on_recive", type(message).__name__))

    pair = Pair(network, factory, clock, handler=Handler)
    pair.pump()
    pair.connection.net_chat_msg("Tom", "hi")
    pair.connection.net_tick()
    pair.connection.net_move(1, 2)
    pair.pump()
    assert calls == [
        ("net_chat_msg", "hi", {"channel": 0}),
        ("net_tick", 0),
        ("on_recive", "move"),
    ]


def test_misspelt_net_method_warns_when_attached(pair):
    class Typo(pygnetic.Handler):
        def net_chat_mgs(self, message, **kwargs):
            pass

    with pytest.warns(PygneticWarning, match="net_chat_mgs matches no registered message"):
        pair.connection.add_handler(Typo())


def test_net_method_without_message_argument_is_refused_when_attached(pair):
    class Broken(pygnetic.Handler):
        def net_tick(self):
            pass

    for _ in range(2):  # every attach is checked, not only the first of a class
        with pytest.raises(TypeError, match=r"Broken.net_tick \(.*test_connection.py:\d+\)"):
            pair.connection.add_handler(Broken())


def test_every_handler_of_a_class_gets_the_channel_it_asks_for(network, factory, clock):
    calls = []

    class Handler(pygnetic.Handler):
        def net_tick(self, message, channel):
            calls.append(("tick", channel))

        def net_chat_msg(self, message, **kwargs):
            calls.append(("chat", kwargs))

    _, connections, _, pump = _server_with_clients(network, factory, 3, handler=Handler)
    for connection in connections:
        connection.net_tick(channel=2)
        connection.net_chat_msg("Tom", "hi")
    pump()
    expected_channel = 0 if network.stream else 2  # a stream has one channel
    assert calls == [("tick", expected_channel), ("chat", {"channel": 0})] * 3


def test_connections_and_handlers_exclude(network, factory, clock):
    server, _, _, _ = _server_with_clients(network, factory, 3)
    first = server.handlers()[0]
    assert len(server.connections()) == 3
    assert len(server.connections(exclude=first.connection)) == 2
    assert first not in server.handlers(exclude=first)
    assert len(server.handlers(exclude=first.connection)) == 2


def test_client_conn_limit(network, factory):
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    client.connect("memory", server.address[1])
    with pytest.raises(RuntimeError, match="conn_limit"):
        client.connect("memory", server.address[1])


def test_update_after_close_is_an_error(pair):
    pair.client.close()
    with pytest.raises(RuntimeError, match="closed"):
        pair.client.update()


def test_no_warnings_for_a_correct_handler(pair):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair.connection.add_handler(Recorder())


def test_a_raising_handler_loses_no_later_messages(network, factory, clock):
    class Fragile(Recorder):
        def net_chat_msg(self, message, **kwargs):
            if message.msg == "boom":
                raise RuntimeError("game bug")
            self.received.append(message.msg)

    pair = Pair(network, factory, clock, handler=Fragile)
    pair.pump()
    for text in ("one", "boom", "two", "three"):
        pair.connection.net_chat_msg("Tom", text)
    pair.client.update()
    with pytest.raises(RuntimeError, match="game bug"):
        for _ in range(3):
            pair.server.update()
    assert "two" not in pair.remote.received
    pair.server.update()
    assert pair.remote.received == ["one", "two", "three"]


def test_every_disconnect_is_finished_on_a_busy_server(network, factory, clock):
    server, connections, _, pump = _server_with_clients(network, factory, 3)
    handlers = server.handlers()
    for connection in connections:  # one after the other, each finished before the next
        connection.disconnect()
        pump()
    assert [handler.disconnects for handler in handlers] == [1, 1, 1]
    assert server.connections() == []
    assert len(server._connections) == 0  # nothing left counting against conn_limit


def test_a_client_may_reconnect_before_its_old_connection_is_finished(network, factory):
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    old = client.connect("memory", server.address[1])
    old.disconnect()
    new = client.connect("memory", server.address[1])  # no update() in between
    for _ in range(3):
        server.update()
        client.update()
    assert old.state is ConnectionState.CLOSED
    assert new.connected


def _server_with_clients(network, factory, count, handler=Recorder):
    """A memory server with ``count`` connected clients, each with a Recorder.

    Returns ``(server, client_connections, recorders, pump)``.
    """
    server, clients, connections = server_with_clients(network, factory, count, handler)
    recorders = [Recorder() for _ in connections]
    for connection, recorder in zip(connections, recorders, strict=True):
        connection.add_handler(recorder)

    def pump():
        for _ in range(3):
            server.update()
            for client in clients:
                client.update()

    pump()
    return server, connections, recorders, pump


def test_broadcast_reaches_every_client_but_the_excluded(network, factory):
    server, _, recorders, pump = _server_with_clients(network, factory, 3)
    chat_msg = factory.get_by_name("chat_msg")
    assert server.broadcast(chat_msg, "server", "hello all") == 3
    excluded = server.connections()[0]
    assert server.broadcast("chat_msg", msg="not you", player="server", exclude=excluded) == 2
    assert server.broadcast(factory.get_by_name("move")(1, 2), delivery="reliable") == 3
    pump()
    received = sorted(tuple(m.msg for m in r.received if type(m) is chat_msg) for r in recorders)
    assert received == [("hello all",), ("hello all", "not you"), ("hello all", "not you")]
    assert all(sum(type(m).__name__ == "move" for m in r.received) == 1 for r in recorders)
    assert sum(c.messages_sent for c in server.connections()) == 3 + 2 + 3


def test_broadcast_checks_the_message_before_sending_anything(network, factory):
    server, _, _, _ = _server_with_clients(network, factory, 2)
    with pytest.raises(MessageArgumentsError):
        server.broadcast("chat_msg", "only one field")
    with pytest.raises(PackError):
        server.broadcast("chat_msg", "Tom", {1, 2})
    with pytest.raises(ValueError, match="channel 99"):
        server.broadcast("chat_msg", "Tom", "x", channel=99)
    assert sum(c.messages_sent for c in server.connections()) == 0
    empty = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    assert empty.broadcast("chat_msg", "Tom", "nobody hears") == 0
    with pytest.raises(MessageArgumentsError):
        empty.broadcast("chat_msg")  # checked even with nobody connected


def test_factory_encode_matches_what_send_packs(factory):
    chat_msg = factory.get_by_name("chat_msg")
    data, options = factory.encode("chat_msg", ("Tom",), {"msg": "hi", "channel": 2})
    assert data == factory.pack(chat_msg("Tom", "hi"))
    assert options == (2, Delivery.RELIABLE)
    assert factory.encode(chat_msg("Tom", "hi"))[0] == data
