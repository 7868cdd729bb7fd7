"""Pulling a client's cable for three seconds: its session resumes, over real ENet and TCP.

A proxy between client and server goes silent (:attr:`UdpProxy.silent
<pygnetic.testing.UdpProxy.silent>`), as a pulled cable does, while an
injected clock makes three seconds pass; both sides notice, the client
reconnects through the proxy once it speaks again, and the test checks
exactly what the documentation promises: every reliable message, sent
before, during or after the outage, arrives once and in order; the server
keeps the same handler and identity; unreliable ones sent meanwhile are lost.
"""

import contextlib
import importlib.util
import socket
import time

import pytest

import pygnetic
from pygnetic.connection import ConnectionState
from pygnetic.handshake import FrameReader, encode_hello, parse_answer
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, Recorder, TcpProxy, UdpProxy

HAVE_ENET = importlib.util.find_spec("enet") is not None
ENET = [pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")]
ADAPTERS = [pytest.param("enet", marks=ENET), "socket"]
PROXIES = {"enet": UdpProxy, "socket": TcpProxy}


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat", ("n",))
    factory.register("state", ("n",), delivery="unreliable_sequenced", channel=1)
    return factory


def _step(clock, hosts, seconds):
    """Let ``seconds`` of the injected clock pass, a quarter at a time, pumping the network."""
    steps = max(1, round(seconds / 0.25))
    for _ in range(steps):
        clock.now += seconds / steps
        for _ in range(3):
            for host in hosts:
                host.update(1)


def _until(hosts, condition, rounds=3000):
    for _ in range(rounds):
        for host in hosts:
            host.update(1)
        if condition():
            return True
    return False


@contextlib.contextmanager
def _players(adapter):
    clock = ManualClock()
    factory = _factory()
    with contextlib.ExitStack() as stack:
        server = pygnetic.Server(
            "127.0.0.1",
            0,
            handler=Recorder,
            message_factory=factory,
            adapter=adapter,
            clock=clock,
            timeout=2.0,
            reconnect_grace=10.0,
            authenticate=lambda credentials, address: credentials["name"],
        )
        stack.callback(server.close, linger_ms=0)
        proxy = stack.enter_context(PROXIES[adapter](server.address, "", clock=clock))
        client = pygnetic.Client(
            message_factory=factory, adapter=adapter, clock=clock, timeout=2.0
        )
        stack.callback(client.close, linger_ms=0)
        connection = client.connect(*proxy.address, credentials={"name": "Tom"})
        mine = Recorder()
        connection.add_handler(mine)
        hosts = (server, client, proxy)
        assert _until(hosts, lambda: connection.connected and server.handlers())
        yield clock, hosts, server, client, proxy, connection, mine


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_pulled_cable_for_three_seconds_resumes_the_session(adapter):
    with _players(adapter) as (clock, hosts, server, _client, proxy, connection, mine):
        server_side = server.connections()[0]
        theirs = server.handlers()[0]
        assert server_side.identity == "Tom" and connection.resumable
        for n in range(3):
            connection.net_chat(n)
            server_side.net_chat(100 + n)
        assert _until(hosts, lambda: len(theirs.received) == 3 and len(mine.received) == 3)

        proxy.silent = True  # the cable is pulled
        for n in range(3, 6):  # in flight: the proxy drops or holds them
            connection.net_chat(n)
            server_side.net_chat(100 + n)
        _step(clock, hosts, 3.0)
        assert connection.state is ConnectionState.RECONNECTING
        assert server_side.state is ConnectionState.RECONNECTING
        assert mine.lost and theirs.lost
        for n in range(6, 8):  # sent while both know the link is down
            connection.net_chat(n)
            connection.net_state(n)  # unreliable: dropped
            server_side.net_chat(100 + n)
        proxy.silent = False  # plugged in again

        resumed = lambda: connection.connected and server_side.connected  # noqa: E731
        for _ in range(40):  # the next try comes within five seconds, then a handshake
            if resumed():
                break
            _step(clock, hosts, 0.25)
        assert resumed(), connection.close_reason
        assert _until(hosts, lambda: len(theirs.received) == 8 and len(mine.received) == 8)
        _step(clock, hosts, 1.0)  # nothing more comes: no copies, no stale state
        assert [m.n for m in theirs.received] == list(range(8))
        assert [type(m).__name__ for m in theirs.received] == ["chat"] * 8
        assert [m.n for m in mine.received] == list(range(100, 108))
        assert server.handlers() == [theirs] and theirs.connection.identity == "Tom"
        assert theirs.resumes == 1 and mine.resumes == 1
        assert theirs.connects == 1 and theirs.disconnects == 0 and mine.disconnects == 0


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")
def test_enet_sending_its_65536th_sequenced_packet_reliably_keeps_the_session_whole():
    """ENet sends a channel's 65536th sequenced packet in a row reliably; both sides count it."""
    clock = ManualClock()
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        message_factory=factory,
        adapter="enet",
        clock=clock,
        reconnect_grace=30,
        rate_limit=None,
        receive_budget=None,
    )
    client = pygnetic.Client(message_factory=factory, adapter="enet", clock=clock)
    with server, client:
        connection = client.connect("127.0.0.1", server.address[1])
        hosts = (server, client)
        assert _until(hosts, lambda: connection.connected and server.connections())
        for n in range(66_000):
            connection.net_state(n)
            if n % 50 == 0:
                client.update()
                server.update()
        connection.net_chat(-1)  # and a reliable one after them
        server_side = server.connections()[0]
        assert _until(hosts, lambda: server_side.messages_received >= 60_000)
        _step(clock, (server, client), 1.0)  # acknowledgements go both ways
        assert connection.connected
        assert connection.resumable and server_side.resumable
        assert connection._session._kept_bytes == 0  # all acknowledged, none miscounted


def _raw_answer(port, hello, pump):
    """Send ``hello`` over a raw TCP socket; the server's answer, read while ``pump`` runs."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(hello)
        sock.settimeout(0.005)
        reader = FrameReader(stream=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pump()
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            payload, _ = reader.feed(chunk)
            if payload is not None:
                return parse_answer(payload)
    raise AssertionError("no answer")


def test_guessed_and_malformed_resumes_are_refused_and_hurt_nobody():
    with _players("socket") as (_, hosts, server, *_):
        factory = server.message_factory
        server_side = server.connections()[0]

        def pump():
            for host in hosts:
                host.update(0)

        guessed = encode_hello(factory, None, b"\x00" * 32, received=[[0, 0]])
        answer = _raw_answer(server.address[1], guessed, pump)
        assert answer.code == CloseCode.SESSION_EXPIRED
        assert "no such session" in answer.reason
        token = server_side._session.token  # the real token, but counts that cannot be
        lying = encode_hello(factory, None, token, received=[[0, 10**9]])
        answer = _raw_answer(server.address[1], lying, pump)
        assert answer.code == CloseCode.PROTOCOL_ERROR
        assert "cannot resume" in answer.reason
        malformed = encode_hello(factory, None, b"\x00" * 32, received="nonsense")
        assert _raw_answer(server.address[1], malformed, pump).code in (
            CloseCode.SESSION_EXPIRED,
            CloseCode.PROTOCOL_ERROR,
        )
        # The session whose token was shown with lying counts is over; nobody else is hurt.
        assert server_side.state is ConnectionState.CLOSED
        assert server.connections() == []
