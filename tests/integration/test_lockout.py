"""Attacks that try to lock new players out, against real servers on 127.0.0.1.

Attackers come from 127.0.0.2 and up (Linux routes all of 127/8 to the
loopback, and a socket may bind any of it); the good client from 127.0.0.1.
The server's clock is a :class:`Clock` the test moves, so deadlines pass
without sleeping; ENet and the kernel still run in real time.
"""

import contextlib
import logging
import socket
import time

import msgpack
import pytest
from raw_peers import RawTcpPeer, enet

import pygnetic
from pygnetic._logthrottle import BURST
from pygnetic.connection import ConnectionState
from pygnetic.message import MessageFactory
from pygnetic.protocol import PING, PONG, CloseCode
from pygnetic.server import SPARE_HANDSHAKES
from pygnetic.testing import ManualClock, Recorder, pump

needs_enet = pytest.mark.skipif(enet is None, reason="pyenet is not installed")
EVICTED = "too many connections in handshake"


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


def _server(adapter, clock, **options):
    return pygnetic.Server(
        "127.0.0.1",
        0,
        handler=Recorder,
        message_factory=_factory(),
        adapter=adapter,
        clock=clock,
        **options,
    )


def _idle_tcp(server, source):
    """A TCP connection from ``source`` that never says hello."""
    return socket.create_connection(server.address, timeout=3, source_address=(source, 0))


def _join(server, **pump_options):
    """Connect a good client from 127.0.0.1; return (client, connection) once accepted or not."""
    client = pygnetic.Client(message_factory=_factory(), adapter=server.adapter.NAME)
    connection = client.connect("127.0.0.1", server.address[1])
    connecting = ConnectionState.CONNECTING
    pump(server, client, until=lambda: connection.state is not connecting, **pump_options)
    return client, connection


def _pending_by_address(server):
    counts = {}
    for link in server._handshakes:
        counts[link.address[0]] = counts.get(link.address[0], 0) + 1
    return counts


# -- idle TCP connections --------------------------------------------------------


def test_idle_tcp_connections_from_one_address_hold_only_its_share(caplog):
    caplog.set_level(logging.INFO, logger="pygnetic")
    clock = ManualClock()
    server = _server("socket", clock)  # conn_limit 4: 4 handshakes per address
    idle = []
    try:
        idle = [_idle_tcp(server, "127.0.0.2") for _ in range(16)]
        pump(server, timeout=0.2)
        assert _pending_by_address(server) == {"127.0.0.2": 4}
        for _ in range(5):  # one join after another while the connections stay
            client, connection = _join(server)
            assert connection.connected, connection.close_reason
            client.close(linger_ms=50)
        evicted = [r for r in caplog.records if EVICTED in r.getMessage()]
        assert len(evicted) == BURST  # 12 evictions, the rest held back
    finally:
        for sock in idle:
            sock.close()
        server.close(linger_ms=0)


def test_a_full_table_of_idle_connections_makes_room_for_a_player():
    clock = ManualClock()
    server = _server("socket", clock)
    capacity = server.conn_limit + SPARE_HANDSHAKES
    idle = []
    try:
        for number in range(3 * capacity):  # three addresses, far more than fit
            idle.append(_idle_tcp(server, f"127.0.0.{2 + number % 3}"))
        pump(server, timeout=0.2)
        assert len(server._handshakes) == capacity
        client = pygnetic.Client(message_factory=_factory(), adapter="socket")
        connection = client.connect("127.0.0.1", server.address[1])
        for number in range(50):  # the attack goes on during the join
            idle.append(_idle_tcp(server, f"127.0.0.{2 + number % 3}"))
            server.update(1)
            client.update(1)
        assert pump(server, client, until=lambda: connection.connected)
        assert len(server._handshakes) <= capacity
        assert max(_pending_by_address(server).values()) <= server.conn_limit
        client.close(linger_ms=50)
    finally:
        for sock in idle:
            sock.close()
        server.close(linger_ms=0)


def test_idle_connections_are_dropped_at_the_short_handshake_deadline():
    clock = ManualClock()
    server = _server("socket", clock)
    try:
        idle = [_idle_tcp(server, "127.0.0.2") for _ in range(3)]
        assert pump(server, until=lambda: len(server._handshakes) == 3)
        clock.now += 2.9
        pump(server, timeout=0.05)
        assert len(server._handshakes) == 3
        clock.now += 0.4  # past the default handshake_timeout of 3 s, at the next check
        assert pump(server, until=lambda: not server._handshakes)
        for sock in idle:
            assert sock.recv(1) == b""
            sock.close()
    finally:
        server.close(linger_ms=0)


def test_refusals_are_logged_a_few_times_then_counted(caplog):
    caplog.set_level(logging.INFO, logger="pygnetic")
    clock = ManualClock()
    server = _server("socket", clock)
    try:
        for _ in range(40):
            with _idle_tcp(server, "127.0.0.2") as sock:
                sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
                pump(server, until=lambda: not server._handshakes)
        lines = [r.getMessage() for r in caplog.records if "not a pygnetic peer" in r.getMessage()]
        assert len(lines) == BURST
        clock.now += 10.0  # a new interval: one line says how many were held back
        with _idle_tcp(server, "127.0.0.2") as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            pump(server, until=lambda: not server._handshakes)
        last = [r.getMessage() for r in caplog.records if "not a pygnetic peer" in r.getMessage()]
        assert "35 similar line(s) held back" in last[-1]
    finally:
        server.close(linger_ms=0)


# -- a peer that trickles bytes after its handshake ---------------------------------


def _steps(server, clock, peer, seconds, step):
    """Every half second of ``clock`` for ``seconds``, or until the server has no connection."""
    peer.sock.setblocking(False)
    for _ in range(int(seconds * 2)):
        clock.now += 0.5
        step()
        pump(server, timeout=0.02)
        if not server.connections():
            return


def _admitted_raw_peer(server):
    peer = RawTcpPeer(server.address[1], _factory(), pump=server.update)
    assert pump(server, until=lambda: server.connections())
    return peer, server.handlers()[0]


def test_a_peer_that_trickles_bytes_but_answers_no_ping_is_closed():
    clock = ManualClock()
    server = _server("socket", clock, timeout=4.0)
    try:
        peer, handler = _admitted_raw_peer(server)
        started = clock.now
        peer.send(b"\x92\x00\xda\xff\xff")  # [0, "<65535 characters>"] starts, never ends
        _steps(server, clock, peer, 20, lambda: peer.send(b"x"))
        assert not server.connections()
        assert 4.0 <= clock.now - started <= 5.0
        connection = handler.connection
        assert connection.close_code is CloseCode.TIMEOUT
        assert connection.close_reason == "no answer to pings for 4 s"
        assert connection.data_received > 8  # bytes kept arriving
        peer.close()
    finally:
        server.close(linger_ms=0)


def test_a_peer_that_only_answers_pings_stays():
    clock = ManualClock()
    server = _server("socket", clock, timeout=4.0)
    try:
        peer, _ = _admitted_raw_peer(server)
        unpacker = msgpack.Unpacker()
        unpacker.feed(peer.leftover)

        def answer():
            with contextlib.suppress(BlockingIOError):  # nothing came
                unpacker.feed(peer.sock.recv(65536))
            for kind, *fields in unpacker:
                if kind == PING:
                    peer.send(msgpack.packb([PONG, *fields]))

        _steps(server, clock, peer, 20, answer)
        assert server.connections()
        peer.close()
    finally:
        server.close(linger_ms=0)


def test_a_peer_that_answers_no_ping_but_sends_whole_messages_stays():
    clock = ManualClock()
    server = _server("socket", clock, timeout=4.0)
    try:
        peer, handler = _admitted_raw_peer(server)
        factory = _factory()
        chat = factory.pack(factory.get_by_name("chat_msg")("Tom", "still here"))
        steps = iter(range(1000))
        _steps(server, clock, peer, 20, lambda: next(steps) % 6 or peer.send(chat))  # every 3 s
        assert server.connections()
        assert len(handler.received) >= 6
        peer.close()
    finally:
        server.close(linger_ms=0)


# -- forged ENet connects ------------------------------------------------------------


def _enet_connect_datagram():
    """What pyenet sends to connect: captured by a bare UDP socket posing as a server."""
    from pygnetic.adapters.network.enet import CONNECT_DATA

    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fake.bind(("127.0.0.1", 0))
    fake.settimeout(3)
    try:
        host = enet.Host(None, 1, 8, 0, 0)
        host.connect(enet.Address(b"127.0.0.1", fake.getsockname()[1]), 8, CONNECT_DATA)
        host.flush()
        datagram, _ = fake.recvfrom(2048)
        del host
        return datagram
    finally:
        fake.close()


class Forger:
    """Replays a real ENet connect datagram from many UDP sockets: half-open peers."""

    def __init__(self, port, sources):
        self.datagram = _enet_connect_datagram()
        assert len(self.datagram) == 52
        self.port = port
        self.socks = []
        for source in sources:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((source, 0))  # a port of its own: a new peer for ENet
            self.socks.append(sock)

    def send(self, socks=None):
        for sock in self.socks if socks is None else socks:
            sock.sendto(self.datagram, ("127.0.0.1", self.port))

    def close(self):
        for sock in self.socks:
            sock.close()


def _half_open(server):
    host = server._transport._host
    return sum(peer.state == enet.PEER_STATE_ACKNOWLEDGING_CONNECT for peer in host.peers)


def _look_at_peers(server, clock):
    """Move the clock on to the transport's next look at its peers."""
    clock.now += 0.3
    server.update()


def _fill_with_forgeries(server, forger):
    """Send every forgery; return once ENet has a half-open peer in every slot."""
    forger.send()
    slots = server._transport._host.peerCount
    assert pump(server, until=lambda: _half_open(server) == slots, timeout=3)


@needs_enet
def test_forged_enet_connects_from_many_addresses_are_released_at_the_deadline():
    clock = ManualClock()
    server = _server("enet", clock)
    slots = server._transport._host.peerCount
    forger = Forger(server.address[1], [f"127.0.0.{2 + n}" for n in range(slots + 8)])
    try:
        _fill_with_forgeries(server, forger)
        client, connection = _join(server, timeout=1.0)
        assert not connection.connected  # every slot is taken: ENet ignores the connect
        client.close(linger_ms=0)
        _look_at_peers(server, clock)  # the first look sees them half-open...
        assert _half_open(server) == slots  # (one each: no address holds too many)
        clock.now += 3.0  # ...the first one past handshake_timeout releases them
        server.update()
        assert _half_open(server) == 0
        client, connection = _join(server)
        assert connection.connected, connection.close_reason
        client.close(linger_ms=50)
    finally:
        forger.close()
        server.close(linger_ms=0)


@needs_enet
def test_forged_enet_connects_from_one_address_keep_only_its_share():
    clock = ManualClock()
    server = _server("enet", clock)
    slots = server._transport._host.peerCount
    forger = Forger(server.address[1], ["127.0.0.2"] * (slots + 8))
    try:
        _fill_with_forgeries(server, forger)
        _look_at_peers(server, clock)
        assert _half_open(server) == slots  # not yet: they may be real and quick
        _look_at_peers(server, clock)  # half-open at two looks: 4 (conn_limit) may stay
        assert _half_open(server) == server.conn_limit
        client = pygnetic.Client(message_factory=_factory(), adapter="enet")
        connection = client.connect("127.0.0.1", server.address[1])
        deadline = time.monotonic() + 5
        while not connection.connected and time.monotonic() < deadline:
            forger.send(forger.socks[:2])  # the attack goes on, more slowly
            clock.now += 0.1
            pump(server, client, timeout=0.01)
        assert connection.connected, connection.close_reason
        assert _half_open(server) <= server.conn_limit + 2
        client.close(linger_ms=50)
    finally:
        forger.close()
        server.close(linger_ms=0)


@needs_enet
def test_the_enet_host_has_slots_for_every_handshake_beyond_the_connections():
    server = _server("enet", ManualClock(), conn_limit=6)
    try:
        assert server._transport._host.peerCount >= 2 * 6 + SPARE_HANDSHAKES
    finally:
        server.close(linger_ms=0)
