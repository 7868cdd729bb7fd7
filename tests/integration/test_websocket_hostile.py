"""Hostile and unlucky peers of the WebSocket adapter, TLS and shared ports.

Each closes or times out alone, and the server serves on. Real sockets on
127.0.0.1 (and 127.0.0.2.. as other addresses, Linux), port 0, no sleeps.
"""

import socket
import time

import pytest

pytest.importorskip("websockets", reason="websockets is not installed (pygnetic[websocket])")

from raw_peers import RawWebSocketPeer, closed_by_server
from websockets.frames import Frame, Opcode

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.testing import EchoRecorder, ManualClock, Recorder, pump


def echo_server(factory, adapter="websocket", **options):
    """An echoing server on 127.0.0.1, on a free port."""
    return pygnetic.Server(
        "127.0.0.1", 0, message_factory=factory, adapter=adapter, handler=EchoRecorder, **options
    )


def messages(**options):
    factory = MessageFactory("msgpack", **options)
    chat = factory.register("chat_msg", ("player", "msg"))
    return factory, chat


# -- a peer's WebSocket close ends its connection at once ---------------------------------


@pytest.mark.parametrize("adapter", ["websocket", ("socket", "websocket")])
def test_a_peers_websocket_close_ends_its_connection(adapter):
    """A browser closing its tab sends a close frame (1001) and no goodbye of pygnetic's.

    The server answers the close, ends TCP and tells the core at once: no
    ghost player stays in server.connections() until the ping timeout.
    """
    factory, _ = messages()
    clock = ManualClock()
    with echo_server(factory, adapter, clock=clock) as server:
        peer = RawWebSocketPeer(server.address[1])
        try:
            peer.handshake(server, factory)
            assert pump(server, until=lambda: len(server.connections()) == 1)
            peer.protocol.send_close(1001, "tab closed")
            peer.flush()
            assert pump(server, until=peer.read), "the server did not close the TCP connection"
            assert peer.protocol.close_rcvd is not None  # the server echoed the close
            # The TCP connection is gone on both sides; the core should know.
            assert pump(server, until=lambda: server.connections() == [], timeout=1), (
                "server.connections() still lists the peer that closed"
            )
        finally:
            peer.close()


# -- a request websockets cannot parse frees its handshake place --------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nthis is no header\r\n\r\n",  # no answer: invalid request
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",  # 414: request line too long
    ],
    ids=["invalid-request", "line-too-long"],
)
def test_a_malformed_upgrade_request_is_reported_closed(request_bytes):
    """websockets answers (or not) and ends the stream; the link is reported closed.

    So neither the core's handshake table nor the WebSocket transport keeps
    the dead link (and one of its address's places) until handshake_timeout.
    """
    factory, _ = messages()
    clock = ManualClock()
    with echo_server(factory, clock=clock, handshake_timeout=60) as server:
        with socket.create_connection(("127.0.0.1", server.address[1])) as sock:
            sock.setblocking(False)
            sock.sendall(request_bytes)
            assert pump(server, until=lambda: closed_by_server(sock)), "the server kept it open"
            pump(server, timeout=0.1)
        websocket_transport = server._transports[0]
        assert len(server._handshakes) == 0, "the dead link still holds a handshake place"
        assert websocket_transport._links == {}


# -- silent connections give way to newcomers: a few addresses lock nobody out ------------


def _silent_connections(port, sources, each):
    socks = []
    for source in sources:
        for _ in range(each):
            sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
            sock.setblocking(False)
            socks.append(sock)
    return socks


@pytest.mark.parametrize("adapter", ["socket", ("socket", "websocket")])
def test_silent_connections_from_other_addresses_do_not_lock_a_player_out(adapter):
    """The server's rule: a new link is never turned away for want of room; an old one gives way.

    Over TCP alone the core's handshake table applies it. With a door (or
    TLS) the socket transport's table of connections not yet handed over
    comes first, and applies the same rule: ``max_handshakes`` (conn_limit + 8
    = 12 with the defaults) silent connections from three addresses, renewed
    at will, would otherwise keep everybody else out.
    """
    factory, _ = messages()
    clock = ManualClock()
    with echo_server(factory, adapter, clock=clock, handshake_timeout=60) as server:
        silent = _silent_connections(
            server.address[1], ["127.0.0.2", "127.0.0.3", "127.0.0.4"], each=4
        )
        try:
            pump(server, timeout=0.2)
            with pygnetic.Client(message_factory=factory, adapter="socket", clock=clock) as client:
                connection = client.connect("127.0.0.1", server.address[1])
                assert pump(
                    server,
                    client,
                    until=lambda: connection.connected or connection.close_code is not None,
                ), "neither connected nor refused"
                assert connection.connected, f"locked out: {connection.close_reason}"
        finally:
            for sock in silent:
                sock.close()


# -- pings cost the server bounded time per update() --------------------------------------


def test_a_ping_flood_does_not_take_the_servers_time_from_others():
    """Control frames never reach the core's receive budget: the adapter bounds them.

    Empty masked pings are 6 bytes each: MAX_READS x RECV_SIZE bytes (1 MiB)
    per update would make ~175,000 frames, each parsed and answered in Python.
    """
    factory, _ = messages()
    with echo_server(factory) as server:
        peer = RawWebSocketPeer(server.address[1])
        try:
            peer.handshake(server, factory)
            ping = Frame(Opcode.PING, b"").serialize(mask=True, extensions=[])
            flood = ping * (4 * 1024 * 1024 // len(ping))
            peer.sock.setblocking(True)
            peer.sock.settimeout(0.0)
            sent = 0
            view = memoryview(flood)
            while sent < len(flood):
                try:
                    sent += peer.sock.send(view[sent:])
                except BlockingIOError:
                    break
            assert sent > 1024 * 1024, "the kernel took too little to make the point"
            worst = 0.0
            for _ in range(3):  # CPU time, which a loaded machine does not stretch
                started = time.thread_time()
                server.update(0)
                worst = max(worst, time.thread_time() - started)
            assert worst < 0.05, f"one update() took {worst * 1000:.0f} ms on one peer's pings"
        finally:
            peer.close()


# -- pending_bytes shows what waits under a WebSocket --------------------------------------


def test_pending_bytes_shows_what_a_slow_websocket_peer_has_not_taken():
    factory, _ = messages()
    with echo_server(factory) as server:
        peer = RawWebSocketPeer(server.address[1])
        try:
            peer.handshake(server, factory)
            assert pump(server, until=lambda: len(server.connections()) == 1)
            (connection,) = server.connections()
            for _ in range(200):  # the peer never reads: 20 MB, more than the kernel takes
                connection.net_chat_msg("server", "x" * 100_000)
            server.update(0)
            websocket_link = connection._link
            assert websocket_link.inner.pending_bytes > 0  # the socket link holds plenty
            assert connection.pending_bytes > 0, "Connection.pending_bytes says nothing waits"
        finally:
            peer.close()


# -- IPv6, and a server that never answers the upgrade -----------------------------------


def _has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
@pytest.mark.parametrize("adapter", ["websocket", "socket"])
def test_ipv6_shared_port(adapter):
    factory, _ = messages()
    with (
        pygnetic.Server(
            "::1",
            0,
            message_factory=factory,
            adapter=("socket", "websocket"),
            handler=EchoRecorder,
        ) as server,
        pygnetic.Client(message_factory=factory, adapter=adapter) as client,
    ):
        connection = client.connect("::1", server.address[1])
        recorder = Recorder()
        connection.add_handler(recorder)
        connection.net_chat_msg("Tom", "v6")
        assert pump(server, client, until=lambda: recorder.received), connection.close_reason


def test_a_websocket_client_whose_upgrade_is_never_answered_times_out():
    factory, _ = messages()
    clock = ManualClock()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pygnetic.Client(message_factory=factory, adapter="websocket", clock=clock) as client:
            connection = client.connect("127.0.0.1", listener.getsockname()[1])
            accepted, _ = listener.accept()
            try:
                pump(client, timeout=0.1)
                assert connection.close_code is None
                clock.now += 60
                assert pump(client, until=lambda: connection.close_code is not None)
            finally:
                accepted.close()


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    cert, key, ca = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(cert)
    certificate.private_key_pem.write_to_path(key)
    authority.cert_pem.write_to_path(ca)
    return str(cert), str(key), str(ca)


def test_silent_connections_lock_nobody_out_of_a_tls_server(tls_files):
    """The same lock-out as above, with TLS and no second adapter at all."""
    cert, key, ca = tls_files
    factory, _ = messages()
    clock = ManualClock()
    with echo_server(
        factory, "socket", clock=clock, handshake_timeout=60, tls=(cert, key)
    ) as server:
        silent = _silent_connections(
            server.address[1], ["127.0.0.2", "127.0.0.3", "127.0.0.4"], each=4
        )
        try:
            pump(server, timeout=0.2)
            with pygnetic.Client(message_factory=factory, adapter="socket", clock=clock) as client:
                connection = client.connect("127.0.0.1", server.address[1], tls=ca)
                assert pump(
                    server,
                    client,
                    until=lambda: connection.connected or connection.close_code is not None,
                )
                assert connection.connected, f"locked out: {connection.close_reason}"
        finally:
            for sock in silent:
                sock.close()


@pytest.mark.parametrize("what", ["stall", "eof", "garbage"])
def test_tls_peers_that_stall_or_leave_mid_handshake(tls_files, what):
    cert, key, _ = tls_files
    factory, _ = messages()
    clock = ManualClock()
    with pygnetic.Server(
        "127.0.0.1",
        0,
        message_factory=factory,
        adapter=("socket", "websocket"),
        handler=EchoRecorder,
        clock=clock,
        tls=(cert, key),
    ) as server:
        inner = server._transports[0]
        sock = socket.create_connection(("127.0.0.1", server.address[1]))
        sock.setblocking(False)
        if what == "garbage":
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        else:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello
        pump(server, timeout=0.1)
        if what == "eof":
            sock.close()
            assert pump(server, until=lambda: not inner._admission.pending)
        elif what == "garbage":
            assert pump(server, until=lambda: not inner._admission.pending)
        else:
            assert len(inner._admission.pending) == 1
            clock.now += 4
            assert pump(server, until=lambda: not inner._admission.pending)
        sock.close()
        assert len(inner._selector.get_map()) == 1  # only the listening socket


# -- a fault of the WebSocket layer is final, not a lost link to resume --------------------


def test_a_message_over_the_servers_limit_ends_the_session_instead_of_resuming_forever():
    """Resuming would replay the message the server's WebSocket layer refused (1009), again."""
    from pygnetic.protocol import CloseCode

    def blobs(limit):
        factory = pygnetic.MessageFactory("msgpack", max_message_size=limit)
        factory.register("blob", ("data",))
        return factory

    server = pygnetic.Server(
        "127.0.0.1", 0, adapter="websocket", message_factory=blobs(1000), reconnect_grace=5.0
    )
    client = pygnetic.Client(adapter="websocket", message_factory=blobs(100_000))
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(client, server, until=lambda: connection.connected)
        connection.net_blob(b"x" * 5000)
        assert pump(client, server, until=lambda: connection.state.name == "CLOSED", timeout=3)
        assert connection.close_code is CloseCode.MESSAGE_TOO_LARGE
        assert server.connections() == []
    finally:
        client.close()
        server.close()


# -- fragments count toward max_message_size together ------------------------------------


def test_a_message_in_many_small_fragments_is_bounded_by_max_message_size():
    """Each fragment is small; together they pass the limit: refused before held whole."""
    factory, _ = messages(max_message_size=4096)
    with echo_server(factory) as server:
        peer = RawWebSocketPeer(server.address[1])
        try:
            peer.handshake(server, factory)
            peer.protocol.send_binary(b"x" * 100, fin=False)
            for _ in range(200):  # 20,100 bytes in all, never finished
                peer.protocol.send_continuation(b"x" * 100, fin=False)
            peer.flush(server)
            assert pump(server, until=peer.read), "the server kept the connection open"
            assert peer.protocol.close_rcvd.code == 1009
            assert server.connections() == []
        finally:
            peer.close()
