"""What travels with the handshake, and the edges of a connection's life, on 127.0.0.1."""

import gc
import logging
import socket
import threading
import time
import weakref

import msgpack
import pytest
from raw_peers import RawTcpPeer, enet

import pygnetic
from pygnetic.connection import MAX_EARLY_PACKETS, ConnectionState
from pygnetic.handshake import FrameReader, encode_answer, encode_hello, parse_answer
from pygnetic.message import MessageFactory
from pygnetic.protocol import CLOSE, CloseCode
from pygnetic.testing import EchoRecorder, Recorder, pump

needs_enet = pytest.mark.skipif(enet is None, reason="pyenet is not installed")


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


def test_messages_in_the_same_bytes_as_the_hello_are_delivered_after_on_connect():
    factory = _factory()
    seen = []

    class Greeter(pygnetic.Handler):
        def on_connect(self):
            seen.append("connect")

        def net_chat_msg(self, message, **kwargs):
            seen.append(message.msg)

    with pygnetic.Server(
        "127.0.0.1", 0, handler=Greeter, message_factory=factory, adapter="socket"
    ) as server:
        sock = socket.create_connection(server.address)
        chat = factory.get_by_name("chat_msg")
        sock.sendall(encode_hello(factory) + factory.pack(chat("Tom", "one")) + b"\x93\x00")
        assert pump(server, until=lambda: "one" in seen)
        sock.sendall(b"\xa3Tom\xa3two")  # the rest of a message cut after the hello
        assert pump(server, until=lambda: "two" in seen)
        assert seen == ["connect", "one", "two"]
        sock.close()


def test_a_raising_on_connect_loses_nothing_that_came_with_the_answer():
    factory = _factory()

    class Eager(pygnetic.Handler):
        def on_connect(self):
            for number in range(3):
                self.connection.net_chat_msg("server", f"welcome {number}")

    class Fragile(Recorder):
        def on_connect(self):
            super().on_connect()
            raise RuntimeError("game bug in on_connect")

    with (
        pygnetic.Server(
            "127.0.0.1", 0, handler=Eager, message_factory=factory, adapter="socket"
        ) as server,
        pygnetic.Client(message_factory=factory, adapter="socket") as client,
    ):
        connection = client.connect("127.0.0.1", server.address[1])
        recorder = Fragile()
        connection.add_handler(recorder)
        server.update()
        client.update(50)  # the client's hello leaves
        server.update(50)  # the answer and the three messages leave in one segment
        with pytest.raises(RuntimeError, match="game bug"):
            pump(client, timeout=2)
        assert recorder.received == []
        client.update()
        assert [m.msg for m in recorder.received] == [f"welcome {n}" for n in range(3)]


class RawEnetServer:
    """A bare pyenet server that answers a pygnetic client by hand."""

    def __init__(self):
        self.host = enet.Host(enet.Address(b"127.0.0.1", 0), 4, 8, 0, 0)
        self.port = self.host.address.port
        self.peer = None

    def service(self, on_connect):
        event = self.host.service(5)
        while event.type != enet.EVENT_TYPE_NONE:
            if event.type == enet.EVENT_TYPE_RECEIVE and event.packet.data.startswith(b"PGN"):
                self.peer = event.peer
                on_connect(event.peer)
            event = self.host.service(0)
        self.host.flush()


def _send(peer, channel, data):
    peer.send(channel, enet.Packet(data, enet.PACKET_FLAG_RELIABLE))


@needs_enet
@pytest.mark.parametrize("count", [20, MAX_EARLY_PACKETS + 1])
def test_enet_packets_that_overtake_the_answer_are_kept_within_a_bound(count, caplog):
    caplog.set_level(logging.WARNING, logger="pygnetic")
    factory = _factory()
    chat = factory.get_by_name("chat_msg")
    raw = RawEnetServer()

    def welcome(peer):  # messages on channel 1 first, then the answer on channel 0
        for number in range(count):
            _send(peer, 1, factory.pack(chat("server", str(number))))
        raw.host.flush()
        time.sleep(0.05)  # let them arrive first
        _send(peer, 0, encode_answer(0))

    with pygnetic.Client(message_factory=factory, adapter="enet") as client:
        connection = client.connect("127.0.0.1", raw.port)
        recorder = Recorder()
        connection.add_handler(recorder)
        deadline = time.monotonic() + 5
        while connection.state is ConnectionState.CONNECTING and time.monotonic() < deadline:
            raw.service(welcome)
            client.update(5)
        if count <= MAX_EARLY_PACKETS:
            assert connection.connected
            assert [m.msg for m in recorder.received] == [str(n) for n in range(count)]
        else:
            assert connection.close_code is CloseCode.PROTOCOL_ERROR
            assert "before the server's answer" in connection.close_reason
            assert any("before the server's answer" in r.getMessage() for r in caplog.records)


@needs_enet
def test_closing_an_enet_connection_still_connecting_forgets_it_at_once():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # holds a port nobody answers on
    silent.bind(("127.0.0.1", 0))
    try:
        client = pygnetic.Client(message_factory=_factory(), adapter="enet")
        connection = client.connect("127.0.0.1", silent.getsockname()[1])
        client.update(10)
        connection.disconnect()
        client.update()
        assert connection.state is ConnectionState.CLOSED
        assert client._transport._links == {}
        started = time.monotonic()
        client.close()
        assert time.monotonic() - started < 0.3  # nothing left to linger for
    finally:
        silent.close()


@needs_enet
def test_a_server_on_several_transports_sends_without_waiting_out_update():
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=EchoRecorder, message_factory=factory, adapter=("enet", "socket")
    )
    try:
        peer = RawTcpPeer(server.address[1], factory, pump=server.update)
        assert pump(server, until=lambda: server.connections())
        arrived = []

        def read():
            peer.sock.settimeout(3)
            peer.sock.recv(65536)
            arrived.append(time.monotonic())

        reader = threading.Thread(target=read)
        reader.start()
        server.connections()[0].net_chat_msg("server", "now")
        started = time.monotonic()
        server.update(1000)  # nothing to receive: it waits the whole second
        reader.join()
        assert arrived and arrived[0] - started < 0.3
        peer.close()
    finally:
        server.close(linger_ms=50)


def test_a_client_in_the_handshake_reads_server_closing():
    server = pygnetic.Server("127.0.0.1", 0, message_factory=_factory(), adapter="socket")
    sock = socket.create_connection(server.address, timeout=3)
    assert pump(server, until=lambda: server._handshakes)
    server.close()
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    answer = parse_answer(FrameReader(stream=True).feed(data)[0])
    assert answer.code == CloseCode.SERVER_CLOSING


@pytest.mark.parametrize("adapter", ["socket", pytest.param("enet", marks=needs_enet)])
def test_a_refused_option_binds_no_port(adapter):
    probe = pygnetic.Server("127.0.0.1", 0, adapter=adapter)
    port = probe.address[1]
    probe.close()
    gc.disable()  # the port must be free without the garbage collector's help
    try:
        with pytest.raises(ValueError, match="handshake_timeout"):
            pygnetic.Server("127.0.0.1", port, adapter=adapter, handshake_timeout=0)
        pygnetic.Server("127.0.0.1", port, adapter=adapter).close()
    finally:
        gc.enable()


def test_a_finished_connection_is_freed_without_the_cyclic_gc():
    factory = _factory()
    with (
        pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="socket") as server,
        pygnetic.Client(message_factory=factory, adapter="socket") as client,
    ):
        connection = client.connect("127.0.0.1", server.address[1])
        connection.add_handler(Recorder())
        connection.net_chat_msg("Tom", "hi")
        assert pump(server, client, until=lambda c=connection: c.connected)
        gone = weakref.ref(connection)
        gc.disable()
        try:
            connection.disconnect()
            assert pump(server, client, until=lambda: not server.connections())
            del connection
            pump(server, client, timeout=0.05)
            assert gone() is None
        finally:
            gc.enable()


def test_a_close_reason_nested_a_thousand_deep_closes_only_that_connection(caplog):
    factory = _factory()
    with pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="socket") as server:
        peer = RawTcpPeer(server.address[1], factory, pump=server.update)
        assert pump(server, until=lambda: server.connections())
        reason = []
        for _ in range(1000):
            reason = [reason]
        peer.send(msgpack.packb([CLOSE, 0, reason]))
        assert pump(server, until=lambda: not server.connections())  # no exception escaped
        peer.close()


def test_a_peer_that_reads_nothing_is_cut_off_at_max_send_buffer(caplog):
    caplog.set_level(logging.WARNING, logger="pygnetic")
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, message_factory=factory, adapter="socket", max_send_buffer=256 * 1024
    )
    try:
        stalled = RawTcpPeer(server.address[1], factory, pump=server.update)
        client = pygnetic.Client(message_factory=factory, adapter="socket")
        good = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: len(server.connections()) == 2)
        victim = next(
            c for c in server.connections() if c.address[1] == stalled.sock.getsockname()[1]
        )
        payload = "x" * 1024
        for _ in range(4096):  # 4 MiB: far past the kernel's buffers and the limit
            if not victim.net_chat_msg("server", payload):
                break
            server.update()
        pump(server, client, until=lambda: len(server.connections()) == 1)
        assert victim.close_code is CloseCode.SEND_BUFFER_FULL
        assert "more than 262144 bytes unsent" in victim.close_reason
        recorder = Recorder()
        good.add_handler(recorder)
        server.connections()[0].net_chat_msg("server", "still here")
        assert pump(server, client, until=lambda: recorder.received)
        stalled.close()
        client.close(linger_ms=50)
    finally:
        server.close(linger_ms=0)


def test_handshakes_under_way_are_bounded_over_real_sockets():
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        conn_limit=1,
        max_handshakes_per_address=100,
        message_factory=_factory(),
        adapter="socket",
    )
    try:
        # The kernel's accept queue keeps their order.
        socks = [socket.create_connection(server.address, timeout=3) for _ in range(14)]
        pump(server, timeout=0.2)
        assert len(server._handshakes) == 1 + pygnetic.server.SPARE_HANDSHAKES
        closed = []
        for sock in socks:
            sock.settimeout(0.5)
            try:
                closed.append(sock.recv(1) == b"")
            except TimeoutError:  # still waiting for its hello
                closed.append(False)
            sock.close()
        assert closed == [True] * 5 + [False] * 9  # the oldest gave way
    finally:
        server.close(linger_ms=0)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@needs_enet
def test_an_enet_peer_that_says_goodbye_but_never_disconnects_is_dropped():
    from raw_peers import RawEnetPeer

    clock = Clock()
    factory = _factory()
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="enet", clock=clock)
    try:
        peer = RawEnetPeer(server.address[1], factory)
        for _ in range(200):
            peer.service(0.005)
            server.update(1)
            if server.connections():
                break
        assert server.connections()
        peer.send(msgpack.packb([CLOSE, 0, "bye, but I stay"]))  # and no ENet disconnect
        transport = server._transport
        for _ in range(100):
            peer.service(0.005)
            server.update(1)
            if transport.peer_closing:
                break
        assert len(transport.peer_closing) == 1
        clock.now += 1.0
        server.update(1)
        assert len(transport.peer_closing) == 1  # still waiting for its disconnect
        clock.now += 1.5  # past PEER_CLOSE_WAIT
        server.update(1)
        assert not transport.peer_closing
        assert transport._links == {}
        assert peer.disconnect_data is None  # dropped silently: no disconnect was sent
    finally:
        server.close(linger_ms=0)
