"""Resuming a lost connection, over the memory transport with a test clock.

A severed memory link drops everything both ways, like a pulled cable, so
these tests say exactly which messages a resume delivers: every reliable one,
once, in order, whether it was in flight when the link went or sent while it
was down; no unreliable one sent while it was down.
"""

from types import SimpleNamespace

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.connection import ConnectionState
from pygnetic.protocol import CloseCode
from pygnetic.testing import Recorder


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class ServerKeeper(Recorder):
    """The server's handlers, each kept in ``made``."""

    made = []

    def __init__(self):
        super().__init__()
        ServerKeeper.made.append(self)


def _factory():
    factory = pygnetic.MessageFactory()
    chat = factory.register("chat", ("n",))
    state = factory.register("state", ("n",), delivery="unreliable_sequenced", channel=1)
    return factory, chat, state


def _pump(hosts, until, rounds=200):
    for _ in range(rounds):
        for host in hosts:
            host.update()
        if until():
            return True
    return False


def _pair(stream, grace=5.0, **server_options):
    network = MemoryNetwork(stream=stream)
    clock = Clock()
    factory, _chat, _state = _factory()
    ServerKeeper.made = []
    server = pygnetic.Server(
        handler=ServerKeeper,
        message_factory=factory,
        adapter="memory",
        network=network,
        clock=clock,
        timeout=2.0,
        reconnect_grace=grace,
        **server_options,
    )
    client = pygnetic.Client(
        message_factory=factory, adapter="memory", network=network, clock=clock, timeout=2.0
    )
    connection = client.connect("memory", server.address[1])
    recorder = Recorder()
    connection.add_handler(recorder)
    assert _pump([server, client], lambda: connection.connected and ServerKeeper.made[:1])
    return SimpleNamespace(
        network=network,
        clock=clock,
        server=server,
        client=client,
        connection=connection,
        mine=recorder,
        theirs=ServerKeeper.made[0],
    )


def _lose(network, clock, server, client, connection):
    """Sever the link and let both sides notice (no pongs for the timeout)."""
    network.sever(connection._link)
    for _ in range(12):
        clock.now += 0.25
        server.update()
        client.update()


@pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])
def test_every_reliable_message_arrives_once_after_a_resume(stream):
    p = _pair(stream)
    network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, mine, theirs = p.connection, p.mine, p.theirs
    server_side = server.connections()[0]
    for n in range(5):
        connection.net_chat(n)
        server_side.net_chat(100 + n)
    assert _pump([server, client], lambda: len(theirs.received) == 5 and len(mine.received) == 5)
    clock.now += 0.3  # a tick: both sides acknowledge what they have
    server.update()
    client.update()
    network.sever(connection._link)
    listeners = dict(network.listeners)
    network.listeners.clear()  # the server cannot be reached for a while
    for n in range(5, 8):  # in flight when the link goes: lost on the wire
        connection.net_chat(n)
        server_side.net_chat(100 + n)
    server.update()
    client.update()
    for _ in range(12):
        clock.now += 0.25
        server.update()
        client.update()
    assert connection.state is ConnectionState.RECONNECTING
    assert server_side.state is ConnectionState.RECONNECTING
    assert server.connections() == [server_side]  # its place is kept
    for n in range(8, 10):  # sent while down: reliable ones wait, the rest is dropped
        assert connection.net_chat(n)
        assert not connection.net_state(n)
        server_side.net_chat(100 + n)
    network.listeners.update(listeners)
    for _ in range(8):  # the next try is due within a second or so
        clock.now += 0.25
        server.update()
        client.update()
    assert _pump([server, client], lambda: connection.connected and server_side.connected)
    assert _pump([server, client], lambda: len(theirs.received) == 10 and len(mine.received) == 10)
    assert [m.n for m in theirs.received] == list(range(10))
    assert [m.n for m in mine.received] == list(range(100, 110))
    assert server.connections() == [server_side]
    assert theirs.resumes == 1 and mine.resumes == 1
    assert theirs.connects == 1 and theirs.disconnects == 0
    assert len(theirs.lost) == 1 and len(mine.lost) == 1
    assert len(ServerKeeper.made) == 1  # the server made no second handler
    _pump([server, client], lambda: False, rounds=20)  # and nothing comes twice
    assert len(theirs.received) == 10 and len(mine.received) == 10


@pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])
def test_a_second_outage_resumes_too(stream):
    p = _pair(stream)
    network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, _mine, theirs = p.connection, p.mine, p.theirs
    for round_ in range(3):
        connection.net_chat(round_)
        _lose(network, clock, server, client, connection)
        assert _pump([server, client], lambda: connection.connected)
    assert _pump([server, client], lambda: len(theirs.received) == 3)
    assert [m.n for m in theirs.received] == [0, 1, 2]
    assert theirs.resumes == 3


def test_a_server_gives_up_after_its_grace_and_the_client_too():
    p = _pair(False, grace=3)
    network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, mine, theirs = p.connection, p.mine, p.theirs
    server_side = server.connections()[0]
    network.listeners.clear()  # the server can no longer be reached
    _lose(network, clock, server, client, connection)
    assert connection.state is ConnectionState.RECONNECTING
    for _ in range(20):
        clock.now += 0.25
        server.update()
        client.update()
    assert server_side.state is ConnectionState.CLOSED
    assert "did not come back within 3 s" in server_side.close_reason
    assert theirs.disconnects == 1 and theirs.resumes == 0
    assert connection.state is ConnectionState.CLOSED
    assert "could not resume it within 3 s" in connection.close_reason
    assert mine.disconnects == 1
    assert server.connections() == []


def test_a_stale_token_is_refused_with_a_reason():
    p = _pair(False)
    network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, _mine, _theirs = p.connection, p.mine, p.theirs
    server._sessions.clear()  # as if the server restarted
    _lose(network, clock, server, client, connection)
    assert _pump([server, client], lambda: connection.state is ConnectionState.CLOSED)
    assert connection.close_code is CloseCode.SESSION_EXPIRED
    assert "connect again" in connection.close_reason


def test_a_deliberate_disconnect_does_not_resume():
    p = _pair(False)
    _network, _clock, server, client = p.network, p.clock, p.server, p.client
    connection, _mine, theirs = p.connection, p.mine, p.theirs
    connection.disconnect("bye")
    assert _pump([server, client], lambda: theirs.disconnects == 1)
    assert theirs.lost == [] and server.connections() == []


def test_without_grace_a_lost_link_ends_the_connection():
    p = _pair(False, grace=0)
    network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, mine, _theirs = p.connection, p.mine, p.theirs
    assert not connection.resumable
    _lose(network, clock, server, client, connection)
    assert connection.state is ConnectionState.CLOSED
    assert connection.close_code is CloseCode.TIMEOUT
    assert mine.lost == []


def test_a_client_that_does_not_reconnect_gets_no_session():
    network = MemoryNetwork()
    factory, _chat, _state = _factory()
    server = pygnetic.Server(
        message_factory=factory, adapter="memory", network=network, reconnect_grace=5
    )
    client = pygnetic.Client(
        message_factory=factory, adapter="memory", network=network, reconnect=False
    )
    connection = client.connect("memory", server.address[1])
    assert _pump([server, client], lambda: connection.connected and server.connections())
    assert not connection.resumable and not server.connections()[0].resumable


def test_acknowledged_messages_are_not_kept():
    p = _pair(False)
    _network, clock, server, client = p.network, p.clock, p.server, p.client
    connection, _mine, theirs = p.connection, p.mine, p.theirs
    for n in range(50):
        connection.net_chat(n)
    assert _pump([server, client], lambda: len(theirs.received) == 50)
    session = connection._session
    assert session._kept_bytes > 0
    clock.now += 0.3
    _pump([server, client], lambda: session._kept_bytes == 0, rounds=10)
    assert session._kept_bytes == 0


def test_a_peer_cannot_claim_more_than_was_sent():
    from pygnetic._session import Session, SessionError, parse_counts

    session = Session(b"t" * 32, 5.0)
    for n in range(3):
        session.sent(0, bytes([n]), 0)
    session.acknowledged({0: 2})
    with pytest.raises(SessionError):
        session.acknowledged({0: 4})
    with pytest.raises(SessionError):
        session.replay({0: 1})  # fewer than it acknowledged: those are gone
    assert session.replay({0: 2}) == [(b"\x02", 0)]
    for bad in ([[0]], [[0, -1]], [[300, 1]], [[0, 1], [0, 2]], "x", [[True, 1]], [[0, 1.5]]):
        with pytest.raises(SessionError):
            parse_counts(bad)
    with pytest.raises(SessionError):
        parse_counts([[0, 1]] * 257)


def test_a_session_gives_up_rather_than_grow():
    from pygnetic._session import Session

    session = Session(b"t" * 32, 5.0, max_replay_bytes=100)
    session.sent(0, b"x" * 60, 0)
    assert session.resumable
    session.sent(0, b"x" * 60, 0)
    assert not session.resumable and "unacknowledged" in session.why_not
    assert not session.held(b"y", 0)


def test_lying_acknowledgements_end_the_session_not_the_connection():
    p = _pair(False)
    server, client, connection = p.server, p.client, p.connection
    server_side = server.connections()[0]
    server_side.send_encoded(
        server_side.message_factory.pack(server_side.message_factory.Acked([[0, 99]])),
        0,
        pygnetic.Delivery.RELIABLE,
        counted=False,
    )
    assert _pump([server, client], lambda: not connection.resumable)
    assert connection.connected
    assert "acknowledged more messages than were sent" in connection._session.why_not


def test_without_a_session_a_client_reads_packets_the_plain_way():
    network = MemoryNetwork()
    factory, _chat, _state = _factory()
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    connection = client.connect("memory", server.address[1])
    recorder = Recorder()
    connection.add_handler(recorder)
    assert _pump([server, client], lambda: connection.connected and server.connections())
    server.connections()[0].net_chat(1, channel=1)
    assert _pump([server, client], lambda: recorder.received)
    assert recorder.channels == [1]
    assert connection._receiver == connection._receive_packet  # no flags to strip per packet
    assert connection._link.flag_reliable is False
