"""The WebSocket adapter against real peers: the websockets library's own client, raw HTTP.

Each hostile peer is closed alone, with a reason, while a pygnetic client of
the same server goes on being served.
"""

import socket
import threading
from contextlib import contextmanager

import msgpack
import pytest

pytest.importorskip("websockets", reason="websockets is not installed (pygnetic[websocket])")

from raw_peers import closed_by_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

import pygnetic
from pygnetic.handshake import encode_hello, parse_answer
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import EchoRecorder, ManualClock, Recorder, pump

try:
    import enet
except ImportError:
    enet = None


def messages(**options):
    factory = MessageFactory("msgpack", **options)
    chat = factory.register("chat_msg", ("player", "msg"))
    return factory, chat


@contextmanager
def served(server):
    """Pump ``server`` in a thread while a blocking peer talks to it."""
    stop = threading.Event()

    def run():
        while not stop.is_set():
            server.update(2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)


def websocket_server(factory, **options):
    options.setdefault("handler", EchoRecorder)
    return pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="websocket", **options)


def still_echoes(server, factory, chat, adapter="websocket"):
    """A pygnetic client of ``server`` gets its echo: the server serves on."""
    with pygnetic.Client(message_factory=factory, adapter=adapter) as client:
        connection = client.connect("127.0.0.1", server.address[1])
        recorder = Recorder()
        connection.add_handler(recorder)
        connection.net_chat_msg("Tom", "still served")
        assert pump(server, client, until=lambda: recorder.received), connection.close_reason
        assert recorder.received == [chat("Tom", "still served")]


def raw_exchange(server, request, limit=1 << 16):
    """Send ``request`` on a plain TCP connection; what came back before the server closed."""
    with socket.create_connection(("127.0.0.1", server.address[1])) as sock:
        sock.setblocking(False)
        sock.sendall(request)
        answer = bytearray()
        closed = []

        def read():
            try:
                data = sock.recv(limit)
            except BlockingIOError:
                return False
            except ConnectionResetError:
                closed.append(True)
                return True
            if not data:
                closed.append(True)
                return True
            answer.extend(data)
            return False

        assert pump(server, until=read, timeout=5), "the server kept the connection open"
        return bytes(answer)


def test_a_plain_http_request_is_told_what_the_port_is():
    factory, chat = messages()
    with websocket_server(factory) as server:
        answer = raw_exchange(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 426 ")
        assert b"Upgrade: websocket" in answer
        assert b"This is a pygnetic game server" in answer
        assert server.connections() == []
        still_echoes(server, factory, chat)


def test_an_upgrade_request_over_16_kib_is_refused():
    factory, chat = messages()
    with websocket_server(factory) as server:
        cookie = b"Cookie: " + b"x" * 4000 + b"\r\n"
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + cookie * 5 + b"\r\n"
        answer = raw_exchange(server, request)
        assert answer.startswith(b"HTTP/1.1 431 ")
        still_echoes(server, factory, chat)


def test_tcp_bytes_at_a_websocket_only_port_close_at_once():
    """pygnetic's own TCP handshake is no HTTP: closed, not kept until the handshake times out."""
    factory, chat = messages()
    with (
        websocket_server(factory, handshake_timeout=60) as server,
        pygnetic.Client(message_factory=factory, adapter="socket") as client,
    ):
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(
            server, client, until=lambda: not connection.connected and connection.close_code
        )
        assert connection.close_code == CloseCode.TRANSPORT_ERROR
        still_echoes(server, factory, chat)


def test_origins_admit_only_the_pages_listed():
    factory, chat = messages()
    with websocket_server(factory, origins=["https://game.example", None]) as server:
        with pygnetic.Client(message_factory=factory, adapter="websocket") as client:
            refused = client.connect(
                "127.0.0.1", server.address[1], origin="https://elsewhere.example"
            )
            assert pump(server, client, until=lambda: refused.close_code is not None)
            assert "403" in refused.close_reason
        with pygnetic.Client(message_factory=factory, adapter="websocket") as client:
            admitted = client.connect(
                "127.0.0.1", server.address[1], origin="https://game.example"
            )
            assert pump(server, client, until=lambda: admitted.connected), admitted.close_reason
        still_echoes(server, factory, chat)  # no Origin header: None is listed


def test_a_text_message_closes_only_its_connection():
    factory, chat = messages()
    with websocket_server(factory) as server:
        with served(server), websocket_connect(f"ws://127.0.0.1:{server.address[1]}/") as peer:
            peer.send("hello as text")
            with pytest.raises(ConnectionClosed) as closed:
                peer.recv(timeout=5)
        assert closed.value.rcvd.code == 1003
        still_echoes(server, factory, chat)


def test_an_oversized_message_closes_only_its_connection():
    factory, chat = messages(max_message_size=1024)
    with websocket_server(factory) as server:
        with served(server), websocket_connect(f"ws://127.0.0.1:{server.address[1]}/") as peer:
            peer.send(b"x" * 100_000)
            with pytest.raises(ConnectionClosed) as closed:
                peer.recv(timeout=5)
        assert closed.value.rcvd.code == 1009  # refused before being held whole
        still_echoes(server, factory, chat)


def test_a_fragmented_hello_is_reassembled_and_answered():
    factory, _ = messages()
    hello = encode_hello(factory)
    pieces = [hello[:5], hello[5:20], hello[20:]]
    with websocket_server(factory) as server:
        with (
            served(server),
            websocket_connect(
                f"ws://127.0.0.1:{server.address[1]}/game", subprotocols=["pygnetic"]
            ) as peer,
        ):
            assert peer.subprotocol == "pygnetic"
            peer.send(pieces)  # an iterable: one message in fragments
            answer = peer.recv(timeout=5)
        assert answer[:3] == b"PGN"
        assert parse_answer(msgpack.unpackb(answer[6:])).code == 0


def test_silent_connections_to_a_shared_port_are_dropped_in_time():
    """Nothing says yet whether they are TCP or WebSocket: the handshake timeout still holds."""
    factory, chat = messages()
    clock = ManualClock()
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        message_factory=factory,
        adapter=("socket", "websocket"),
        handler=EchoRecorder,
        clock=clock,
        handshake_timeout=3,
    )
    with server, socket.create_connection(("127.0.0.1", server.address[1])) as silent:
        silent.setblocking(False)
        pump(server, timeout=0.2)
        with pytest.raises(BlockingIOError):
            silent.recv(1)  # still open
        clock.now += 4
        assert pump(server, until=lambda: closed_by_server(silent))
        still_echoes(server, factory, chat, adapter="socket")


def test_connections_over_the_handshake_limit_are_closed_at_once():
    factory, chat = messages()
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        message_factory=factory,
        adapter=("socket", "websocket"),
        handler=EchoRecorder,
        conn_limit=1,
        max_handshakes_per_address=4,
    )
    with server:
        silent = [socket.create_connection(("127.0.0.1", server.address[1])) for _ in range(6)]
        try:
            for sock in silent:
                sock.setblocking(False)
            assert pump(server, until=lambda: sum(closed_by_server(s) for s in silent) == 2)
            assert not any(closed_by_server(sock) for sock in silent[2:])  # the oldest gave way
        finally:
            for sock in silent:
                sock.close()
        pump(server, timeout=0.2)  # the server reads that they left
        still_echoes(server, factory, chat)


def test_every_player_on_one_port_number():
    """ENet on UDP, TCP and WebSocket on TCP: one number, one set of connections."""
    factory, chat = messages()
    adapters = ("enet", "socket", "websocket") if enet is not None else ("socket", "websocket")
    server = pygnetic.Server(
        "127.0.0.1", 0, message_factory=factory, adapter=adapters, handler=Recorder
    )
    clients = [pygnetic.Client(message_factory=factory, adapter=name) for name in adapters]
    try:
        recorders = []
        for client in clients:
            connection = client.connect("127.0.0.1", server.address[1])
            recorders.append(Recorder())
            connection.add_handler(recorders[-1])
        assert pump(server, *clients, until=lambda: len(server.connections()) == len(clients))
        labels = {"enet": "ENet", "socket": "TCP", "websocket": "WebSocket"}
        assert sorted(c.adapter for c in server.connections()) == sorted(
            labels[name] for name in adapters
        )
        assert server.broadcast(chat, "server", "to everyone") == len(clients)
        for connection in server.connections():  # the seed's way: one call per connection
            connection.net_chat_msg("server", f"to you over {connection.adapter}")
        assert pump(server, *clients, until=lambda: all(len(r.received) == 2 for r in recorders))
        for recorder in recorders:
            assert recorder.received[0] == chat("server", "to everyone")
    finally:
        for client in clients:
            client.close(linger_ms=50)
        server.close()
