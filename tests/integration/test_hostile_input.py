"""Malformed and hostile input closes only the offending connection, with a logged reason."""

import logging
import os
import socket

import pytest
from raw_peers import RawEnetPeer, RawTcpPeer, RawWebSocketPeer, enet
from worlds import GoodClientWorld

from pygnetic.message import MessageFactory
from pygnetic.protocol import CLOSE, CloseCode
from pygnetic.testing import pump

try:
    import websockets
except ImportError:
    websockets = None

ADAPTERS = [
    "socket",
    pytest.param("enet", marks=pytest.mark.skipif(enet is None, reason="no pyenet")),
]
# A bad message over WebSocket: the same reasons, another framing.
BAD_MESSAGE_ADAPTERS = [
    *ADAPTERS,
    pytest.param(
        "websocket", marks=pytest.mark.skipif(websockets is None, reason="no websockets")
    ),
]


def _factory():
    # Room for one message of 4 million empty arrays (4,000,009 bytes), no more.
    factory = MessageFactory("msgpack", max_message_size=4_000_100)
    factory.register("chat_msg", ("player", "msg"))
    return factory


class World(GoodClientWorld):
    """A server with one well-behaved client that must keep working."""

    def __init__(self, adapter, **server_options):
        super().__init__(adapter, _factory(), conn_limit=8, **server_options)
        self.chat_msg = self.factory.get_by_name("chat_msg")

    def good_client_still_works(self):
        before = len(self.recorder.received)
        self.good.net_chat_msg("good", "still here?")
        assert pump(self.server, self.client, until=lambda: len(self.recorder.received) > before)
        assert self.recorder.received[-1] == self.chat_msg("good", "still here?")
        assert self.good.connected


@pytest.fixture(params=ADAPTERS)
def world(request):
    world = World(request.param)
    yield world
    world.close()


def _valid(factory, *fields):
    return factory.serializer.pack(fields)


BAD_MESSAGES = {
    "undecodable": (b"\xc1\xc1\xc1\xc1", "undecodable msgpack data"),
    "unknown-type-id": (None, "unknown message type id 42"),
    "wrong-field-count": (None, "has 2 field(s) (player, msg), got 1"),
    "not-an-array": (None, "expected an array"),
    "oversized": (None, "byte limit"),
    "nested-type-id": (None, "nested more than 32 levels deep"),
    "nested-field": (None, "nested more than 32 levels deep"),
    "nested-close-reason": (None, "nested more than 32 levels deep"),
    "many-containers": (None, "more than 65536 arrays and maps"),
}


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _bad_bytes(name, factory):
    data, reason = BAD_MESSAGES[name]
    if name == "unknown-type-id":
        data = _valid(factory, 42, "a", "b")
    elif name == "wrong-field-count":
        data = _valid(factory, 0, "only one")
    elif name == "not-an-array":
        data = factory.serializer.pack("hello")
    elif name == "oversized":
        data = _valid(factory, 0, "Tom", "x" * 4_000_100)
    elif name == "nested-type-id":  # RecursionError out of update() once
        data = _valid(factory, _nested(1000), "a", "b")
    elif name == "nested-field":
        data = _valid(factory, 0, "Tom", _nested(1000))
    elif name == "nested-close-reason":
        data = _valid(factory, CLOSE, 0, _nested(1000))
    elif name == "many-containers":  # 4 million arrays took a second and 330 MB
        data = b"\x93\x00\xa1x\xdd" + (4_000_000).to_bytes(4, "big") + b"\x90" * 4_000_000
    return data, reason


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
@pytest.mark.parametrize("adapter", BAD_MESSAGE_ADAPTERS)
def test_bad_message_after_handshake_closes_only_that_connection(adapter, name, caplog):
    world = World(adapter)
    try:
        _bad_message_closes_only_its_connection(world, name, caplog)
    finally:
        world.close()


def _bad_message_closes_only_its_connection(world, name, caplog):
    caplog.set_level(logging.WARNING, logger="pygnetic")
    data, reason = _bad_bytes(name, world.factory)
    if world.server.adapter.NAME == "websocket":
        attacker = RawWebSocketPeer(world.port)
        assert attacker.handshake(world.server, world.factory).code == 0
        pump(world.server, world.client, until=lambda: len(world.server.connections()) == 2)
        attacker.protocol.send_binary(data)
        attacker.flush(world.server)
        assert pump(world.server, until=attacker.read)
        too_large = name == "oversized"
        received = attacker.protocol.close_rcvd
        assert received.code == (1009 if too_large else 4000 + CloseCode.PROTOCOL_ERROR)
        if not too_large:  # too large is refused by the WebSocket layer, before the core
            goodbye = attacker.binary_frames()[-1].data  # the CLOSE message carries the reason
            assert reason.encode()[:20] in goodbye
        attacker.close()
    elif world.server.adapter.NAME == "socket":
        attacker = RawTcpPeer(world.port, world.factory, pump=world.server.update)
        assert attacker.answer.code == 0
        pump(world.server, world.client, until=lambda: len(world.server.connections()) == 2)
        attacker.send(data, pump=lambda: world.server.update(1))
        pump(world.server, until=lambda: len(world.server.connections()) == 1)
        goodbye = attacker.closed_by_server()  # the server lingers; no pump needed
        assert reason.encode()[:20] in goodbye  # the CLOSE message carries the reason
        assert len(goodbye) < 1024  # whatever the peer sent: no amplification
        attacker.close()
    else:
        attacker = RawEnetPeer(world.port, world.factory)
        for _ in range(100):
            attacker.service(0.01)
            world.server.update(1)
            if attacker.answer is not None:
                break
        assert attacker.answer.code == 0
        attacker.send(data)
        for _ in range(1000):  # 4 MB take ENet a while, even over loopback
            attacker.service(0.01)
            world.server.update(1)
            if attacker.disconnect_data is not None:
                break
        expected = CloseCode.MESSAGE_TOO_LARGE if name == "oversized" else CloseCode.PROTOCOL_ERROR
        assert attacker.disconnect_data == expected
    assert len(world.server.connections()) == 1
    assert any(reason in record.getMessage() for record in caplog.records)
    world.good_client_still_works()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    ("garbage", "reason", "answered"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a pygnetic peer", False),
        (b"\x00" + os.urandom(63), "not a pygnetic peer", False),
        (b"PGN", "no handshake within 3 s", False),
        (b"PGN\x02\x00\x10partial", "no handshake within 3 s", False),
        (b"PGN\x02\xff\xff", "too large", True),
        (b"PGN\x02\x00\x01\xc1", "undecodable handshake", True),
        (b"PGN\x02\x00\x01\x90", "not a map", True),
        (b"PGN\x02\x00\x01\x80", "malformed hello", True),
        (b"PGN\x09\x00\x01\x80", "protocol version 9", True),
    ],
    ids=[
        "http",
        "random",
        "magic-only",
        "truncated",
        "oversized",
        "undecodable",
        "list",
        "empty",
        "version",
    ],
)
def test_tcp_garbage_before_handshake_is_dropped(garbage, reason, answered, caplog):
    caplog.set_level(logging.INFO, logger="pygnetic")
    clock = Clock()
    world = World("socket", clock=clock)
    try:
        attacker = RawTcpPeer(world.port)
        attacker.send(garbage)
        pump(world.server, until=lambda: world.server._handshakes, timeout=2)
        pump(world.server, timeout=0.1)
        clock.now += 3.1  # past the handshake deadline
        assert pump(world.server, until=lambda: not world.server._handshakes, timeout=2)
        goodbye = attacker.closed_by_server(timeout=3)
        assert any(reason in record.getMessage() for record in caplog.records)
        # Only a peer that spoke the handshake's framing is worth an answer.
        assert goodbye.startswith(b"PGN") == answered
        attacker.close()
        world.good_client_still_works()
    finally:
        world.close()


def test_tcp_silent_connection_is_dropped_after_the_handshake_timeout():
    import pygnetic

    factory = _factory()
    clock = Clock()
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        message_factory=factory,
        adapter="socket",
        handshake_timeout=0.3,
        clock=clock,
    )
    try:
        attacker = RawTcpPeer(server.address[1])
        assert pump(server, until=lambda: server._handshakes)
        clock.now += 0.2
        pump(server, timeout=0.05)
        assert server._handshakes  # not yet
        clock.now += 0.2
        assert pump(server, until=lambda: not server._handshakes)
        assert attacker.closed_by_server(timeout=3) == b""
        attacker.close()
    finally:
        server.close()


@pytest.mark.skipif(enet is None, reason="no pyenet")
def test_enet_udp_garbage_at_the_port_is_ignored():
    world = World("enet")
    try:
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for size in (1, 4, 12, 100, 1400):
            for _ in range(50):
                flood.sendto(os.urandom(size), ("127.0.0.1", world.port))
        flood.close()
        pump(world.server, world.client, timeout=0.3)
        world.good_client_still_works()
    finally:
        world.close()


@pytest.mark.skipif(enet is None, reason="no pyenet")
def test_enet_hello_with_another_registry_is_refused_with_the_code_and_reason():
    world = World("enet")
    other = MessageFactory("msgpack")
    other.register("chat_msg", ("player", "text"))
    try:
        attacker = RawEnetPeer(world.port, other)
        for _ in range(100):
            attacker.service(0.01)
            world.server.update(1)
            if attacker.disconnect_data is not None:
                break
        assert attacker.answer.code == CloseCode.REGISTRY_MISMATCH
        assert "client: 1 message(s), msgpack" in attacker.answer.reason
        assert attacker.disconnect_data == CloseCode.REGISTRY_MISMATCH
        world.good_client_still_works()
    finally:
        world.close()


@pytest.mark.skipif(enet is None, reason="no pyenet")
def test_enet_peer_that_never_says_hello_is_dropped_at_the_deadline():
    clock = Clock()
    world = World("enet", clock=clock)
    try:
        attacker = RawEnetPeer(world.port)  # connects, then says nothing
        for _ in range(100):
            attacker.service(0.01)
            world.server.update(1)
            if world.server._handshakes:
                break
        assert world.server._handshakes
        clock.now += 5.1
        for _ in range(100):
            attacker.service(0.01)
            world.server.update(1)
            if attacker.disconnect_data is not None:
                break
        assert attacker.disconnect_data == CloseCode.TIMEOUT
        world.good_client_still_works()
    finally:
        world.close()


def test_a_raising_handler_loses_nothing_from_the_same_tcp_read():
    import pygnetic

    factory = _factory()
    received = []

    class Fragile(pygnetic.Handler):
        def net_chat_msg(self, message, **kwargs):
            if message.msg == "boom":
                raise RuntimeError("game bug")
            received.append(message.msg)

    server = pygnetic.Server(
        "127.0.0.1", 0, handler=Fragile, message_factory=factory, adapter="socket"
    )
    client = pygnetic.Client(message_factory=factory, adapter="socket")
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected)
        for text in ("one", "boom", "two", "three"):
            connection.net_chat_msg("Tom", text)
        client.update()  # one flush: the four messages travel in one segment
        with pytest.raises(RuntimeError, match="game bug"):
            pump(server, timeout=2)
        assert received == ["one"]
        server.update()
        assert received == ["one", "two", "three"]
    finally:
        client.close(linger_ms=50)
        server.close(linger_ms=50)


def test_a_tcp_message_that_never_ends_is_cut_off_and_freed_at_once():
    import gc
    import tracemalloc
    import weakref

    world = World("socket")
    gc.disable()  # the connection must be freed by reference counting alone
    try:
        attacker = RawTcpPeer(world.port, world.factory, pump=world.server.update)
        assert pump(world.server, until=lambda: len(world.server.connections()) == 2)
        port = attacker.sock.getsockname()[1]
        (victim,) = [c for c in world.server.connections() if c.address[1] == port]
        victim_ref = weakref.ref(victim)
        del victim
        # Arrays of empty arrays, never closed: 73 bytes of memory per byte sent, once.
        bomb = b"\xdd" + (4_000_000).to_bytes(4, "big") + b"\x90" * 32_000_000
        tracemalloc.start()
        try:
            attacker.send(bomb, pump=lambda: world.server.update(1))
            pump(world.server, until=lambda: len(world.server.connections()) == 1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 30 * 1024 * 1024  # was 2.3 GB; now about 73 bytes x 65536 arrays
        assert b"more than 65536 arrays and maps" in attacker.closed_by_server()
        attacker.close()
        pump(world.server, timeout=0.05)
        assert victim_ref() is None
        world.good_client_still_works()
    finally:
        gc.enable()
        world.close()
