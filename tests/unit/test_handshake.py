"""The core's handshake: frames, their limits, and the server's decisions over memory links."""

import msgpack
import pytest

import pygnetic
from pygnetic.adapters.network import memory
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.handshake import (
    HEADER,
    MAGIC,
    MAX_PAYLOAD,
    FrameReader,
    HandshakeError,
    encode_answer,
    encode_hello,
    parse_answer,
    parse_hello,
)
from pygnetic.message import MessageFactory
from pygnetic.protocol import PROTOCOL_VERSION, CloseCode
from pygnetic.testing import Recorder


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _factory(*names, serializer="msgpack"):
    factory = MessageFactory(serializer)
    for name in names or ("chat_msg",):
        factory.register(name, ("player", "msg"))
    return factory


def _frame(payload, version=PROTOCOL_VERSION):
    body = msgpack.packb(payload)
    return HEADER.pack(MAGIC, version, len(body)) + body


# -- frames -------------------------------------------------------------------


def test_hello_round_trips_through_a_stream_fed_one_byte_at_a_time():
    factory = _factory()
    data = encode_hello(factory) + b"\x93\x00\xa1a\xa1b"  # a message right behind it
    reader = FrameReader(stream=True)
    for index in range(len(data) - 7):
        assert reader.feed(data[index : index + 1]) == (None, b"")
    payload, rest = reader.feed(data[len(data) - 7 :])
    assert rest == b"\x93\x00\xa1a\xa1b"
    hello = parse_hello(payload)
    assert hello.registry == factory.registry_digest()
    assert (hello.serializer, hello.messages, hello.credentials) == ("msgpack", 1, None)
    assert reader.size == len(data) - len(rest)


def test_answer_round_trips_and_caps_a_long_reason():
    payload, _ = FrameReader(stream=False).feed(encode_answer(CloseCode.SERVER_FULL, "x" * 9000))
    answer = parse_answer(payload)
    assert answer.code == CloseCode.SERVER_FULL
    assert answer.reason == "x" * 500
    assert parse_answer(FrameReader(stream=False).feed(encode_answer(0))[0])[:2] == (0, "")


def test_the_registry_digest_is_sixteen_bytes_and_extends_get_hash():
    factory = _factory()
    digest = factory.registry_digest()
    assert len(digest) == 16
    assert int.from_bytes(digest[:4], "big") == factory.get_hash()
    assert _factory("other").registry_digest() != digest
    assert _factory(serializer="json").registry_digest() != digest


@pytest.mark.parametrize(
    ("data", "stream", "reason"),
    [
        (b"GET / HTTP/1.1\r\n", True, "not a pygnetic peer"),
        (b"\x93\x00\xa1a\xa1b", False, "not a pygnetic peer"),
        (b"PG", False, "not a pygnetic peer"),
        (_frame({}, version=PROTOCOL_VERSION + 1), True, "protocol version"),
        (HEADER.pack(MAGIC, PROTOCOL_VERSION, MAX_PAYLOAD + 1), True, "too large"),
        (_frame({})[:-1] if _frame({"a": 1}) else b"", False, "truncated"),
        (_frame({"a": 1})[:-1], False, "truncated"),
        (_frame({"a": 1}) + b"x", False, "bytes after"),
        (HEADER.pack(MAGIC, PROTOCOL_VERSION, 1) + b"\xc1", True, "undecodable"),
        (_frame([1, 2]), True, "not a map"),
        (_frame({1: 2}), True, "undecodable"),  # keys must be strings
        (_frame({"a": [[[]] * 300]}), True, "undecodable"),  # over the array limit
    ],
)
def test_hostile_frames_raise_handshake_error_only(data, stream, reason):
    with pytest.raises(HandshakeError, match=reason) as caught:
        FrameReader(stream).feed(data)
    assert isinstance(caught.value, pygnetic.RemoteError)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"registry": "not bytes", "serializer": "msgpack", "messages": 1},
        {"registry": b"x" * 16, "serializer": 5, "messages": 1},
        {"registry": b"x" * 16, "serializer": "msgpack", "messages": True},
        {"registry": b"x" * 16, "serializer": "msgpack", "messages": 1, "session": 7},
    ],
)
def test_malformed_hellos_are_refused(payload):
    with pytest.raises(HandshakeError, match="malformed hello"):
        parse_hello(payload)


@pytest.mark.parametrize("payload", [{}, {"code": "0"}, {"code": 1.0}, {"code": True}])
def test_malformed_answers_are_refused(payload):
    with pytest.raises(HandshakeError, match="malformed answer"):
        parse_answer(payload)


def test_credentials_that_cannot_be_packed_are_a_clear_error():
    with pytest.raises(ValueError, match="credentials cannot be sent"):
        encode_hello(_factory(), credentials={1, 2})
    with pytest.raises(ValueError, match="exceeds"):
        encode_hello(_factory(), credentials="x" * (MAX_PAYLOAD + 1))


# -- the server's decisions, over memory links ----------------------------------


@pytest.fixture(params=["packets", "stream"])
def network(request):
    return MemoryNetwork(stream=request.param == "stream", chunk=3)


def _pump(*hosts, rounds=6):
    for _ in range(rounds):
        for host in hosts:
            host.update()


def test_a_refused_client_reads_the_servers_reason(network):
    server = pygnetic.Server(message_factory=_factory("a", "b"), adapter="memory", network=network)
    client = pygnetic.Client(
        message_factory=_factory("a", serializer="json"), adapter="memory", network=network
    )
    connection = client.connect("memory", server.address[1])
    recorder = Recorder()
    connection.add_handler(recorder)
    _pump(server, client)
    assert recorder.disconnects == 1 and recorder.connects == 0
    assert connection.close_code is CloseCode.REGISTRY_MISMATCH
    assert (
        "client: 1 message(s), json, pygame types, server: 2 message(s), msgpack, pygame types"
        in connection.close_reason
    )
    assert server.connections() == []
    assert not server._handshakes


def test_a_refusal_names_wire_types_that_differ(network):
    theirs = _factory("a")
    theirs.pygame_types = False
    server = pygnetic.Server(message_factory=_factory("a"), adapter="memory", network=network)
    client = pygnetic.Client(message_factory=theirs, adapter="memory", network=network)
    connection = client.connect("memory", server.address[1])
    _pump(server, client)
    assert connection.close_code is CloseCode.REGISTRY_MISMATCH
    assert (
        "client: 1 message(s), msgpack, no pygame types, "
        "server: 1 message(s), msgpack, pygame types" in connection.close_reason
    )


def test_a_silent_link_is_dropped_at_the_handshake_deadline(network):
    clock = Clock()
    server = pygnetic.Server(
        message_factory=_factory(), adapter="memory", network=network, clock=clock
    )
    silent = memory.Transport(pygnetic.Client(adapter="memory", network=network), network=network)
    link = silent.connect("memory", server.address[1])
    server.update()
    assert list(server._handshakes) != []
    clock.now += 2.9  # handshake_timeout is 3 s
    server.update()
    assert list(server._handshakes) != []
    clock.now += 0.4  # the deadline is checked a few times a second
    server.update()
    assert not server._handshakes
    assert link.peer.state is memory.LinkState.CLOSED


def test_handshakes_under_way_are_bounded_and_the_oldest_give_way(network):
    server = pygnetic.Server(
        conn_limit=1,
        max_handshakes_per_address=100,
        message_factory=_factory(),
        adapter="memory",
        network=network,
    )
    silent = memory.Transport(pygnetic.Client(adapter="memory", network=network), network=network)
    links = [silent.connect("memory", server.address[1]) for _ in range(12)]
    server.update()
    assert len(server._handshakes) == 1 + pygnetic.server.SPARE_HANDSHAKES
    closed = [link for link in links if link.peer.state is memory.LinkState.CLOSED]
    assert closed == links[: 12 - len(server._handshakes)]


def test_one_address_holds_at_most_its_share_of_handshakes(network):
    server = pygnetic.Server(
        conn_limit=4,
        max_handshakes_per_address=3,
        message_factory=_factory(),
        adapter="memory",
        network=network,
    )
    silent = memory.Transport(pygnetic.Client(adapter="memory", network=network), network=network)
    links = [silent.connect("memory", server.address[1]) for _ in range(5)]
    server.update()
    assert len(server._handshakes) == 3
    closed = [link.peer.state is memory.LinkState.CLOSED for link in links]
    assert closed == [True, True, False, False, False]


def test_a_client_can_say_hello_before_messages_in_the_same_bytes(network):
    factory = _factory()
    server = pygnetic.Server(
        handler=Recorder, message_factory=factory, adapter="memory", network=network
    )
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    connection = client.connect("memory", server.address[1])
    connection.net_chat_msg("Tom", "early")  # queued until accepted
    _pump(server, client)
    assert connection.connected
    assert [m.msg for m in server.handlers()[0].received] == ["early"]
    assert connection.data_sent == server.connections()[0].data_received


@pytest.mark.parametrize(
    "fields",
    [
        {"session": b"short"},
        {"session": "not bytes" * 4},
        {"session": b"t" * 32, "grace": float("nan")},
        {"session": b"t" * 32, "grace": 10**9},
        {"session": b"t" * 32, "grace": True},
        {"session": b"t" * 32, "grace": -1},
    ],
)
def test_an_answer_granting_a_malformed_session_is_refused(fields):
    with pytest.raises(HandshakeError, match="malformed answer"):
        parse_answer({"code": 0, **fields})
