"""A TCP peer that stops reading: sends stay cheap, stale state is replaced."""

import time

import msgpack
import pytest
from raw_peers import RawTcpPeer

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.protocol import PING, PONG
from pygnetic.testing import pump


def _factory():
    factory = MessageFactory("msgpack", max_message_size=65536)
    factory.register("blob", ("data",))
    factory.register("position", ("x", "y"), delivery="unreliable_sequenced", channel=1)
    return factory


@pytest.fixture
def stalled():
    """A server, and a raw client that completed the handshake and then reads nothing."""
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, message_factory=factory, adapter="socket", max_send_buffer=64 << 20
    )
    peer = RawTcpPeer(server.address[1], factory, pump=server.update)
    assert peer.answer.code == 0
    assert pump(server, until=lambda: server.connections())
    yield server, server.connections()[0], peer
    peer.close()
    server.close(linger_ms=0)


def _fill(connection, server, until_bytes):
    """Send 1 KiB messages until at least ``until_bytes`` wait in the queue."""
    payload = b"x" * 1024
    while connection.pending_bytes < until_bytes:
        connection.net_blob(payload)
        server.update()


def _cpu_per_send(connection, count):
    payload = b"x" * 1024
    started = time.process_time()
    for _ in range(count):
        connection.net_blob(payload)
    return (time.process_time() - started) / count


def test_a_send_costs_the_same_however_much_is_queued(stalled):
    server, connection, _ = stalled
    _fill(connection, server, 256 * 1024)
    early = _cpu_per_send(connection, 2000)
    _fill(connection, server, 8 << 20)
    late = _cpu_per_send(connection, 2000)
    assert connection.connected
    assert connection.pending_bytes >= 8 << 20
    # Before: each send past 64 KiB joined the whole queue, about 1 ms at 8 MiB.
    assert late < max(10 * early, 20e-6), (early, late)


def test_pending_bytes_grows_while_the_peer_reads_nothing_and_drains_after(stalled):
    server, connection, peer = stalled
    assert connection.pending_bytes == 0
    _fill(connection, server, 1 << 20)
    queued = connection.pending_bytes
    assert queued >= 1 << 20
    received = _read_messages(peer, server, until=lambda: connection.pending_bytes == 0)
    assert sum(1 for m in received if m[0] == 0) == connection.messages_sent


def test_newer_sequenced_state_replaces_the_stale_copy_still_queued(stalled):
    server, connection, peer = stalled
    _fill(connection, server, 512 * 1024)
    before, sent_before = connection.pending_bytes, connection.messages_sent
    for x in range(1000):
        connection.net_position(x, -x)
    position_size = len(
        connection.message_factory.pack(
            connection.message_factory.get_by_name("position")(999, -999)
        )
    )
    assert connection.pending_bytes - before <= position_size + 8
    assert connection.messages_sent == sent_before + 1
    received = _read_messages(peer, server, until=lambda: connection.pending_bytes == 0)
    positions = [m for m in received if m[0] == 1]
    assert positions == [[1, 999, -999]]
    blobs = [m for m in received if m[0] == 0]
    assert len(blobs) == sent_before  # every reliable message arrives, in order, before it
    assert received.index(positions[0]) == len(blobs)


def test_reliable_messages_are_never_replaced(stalled):
    server, connection, peer = stalled
    _fill(connection, server, 512 * 1024)
    sent_before = connection.messages_sent
    for x in range(100):
        connection.net_position(x, 0, delivery="reliable")
    assert connection.messages_sent == sent_before + 100
    received = _read_messages(peer, server, until=lambda: connection.pending_bytes == 0)
    assert [m[1] for m in received if m[0] == 1] == list(range(100))


def _read_messages(peer, server, until, timeout=20.0):
    """Read and decode everything the server sends until ``until()`` and a quiet moment."""
    unpacker = msgpack.Unpacker()
    unpacker.feed(peer.leftover)
    peer.sock.settimeout(0.001)
    messages = []
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 20:
        server.update()
        try:
            chunk = peer.sock.recv(1 << 20)
        except TimeoutError:
            chunk = b""
        unpacker.feed(chunk)
        messages.extend(m for m in unpacker if m[0] not in (PING, PONG))
        quiet = quiet + 1 if not chunk and until() else 0
    return messages


def test_sequenced_state_held_for_a_full_kernel_still_leaves_before_later_messages(stalled):
    server, connection, peer = stalled
    _fill(connection, server, 512 * 1024)
    sent_before = connection.messages_sent
    connection.net_position(1, 1)
    connection.net_position(2, 2)  # replaces the first
    connection.net_blob(b"after")  # sent later: must arrive later
    received = _read_messages(peer, server, until=lambda: connection.pending_bytes == 0)
    tail = received[sent_before:]
    assert tail == [[1, 2, 2], [0, b"after"]]
