"""The proxies' mechanics, with raw sockets on 127.0.0.1 on either side.

A ManualClock drives the schedule wherever a time is asserted; the bandwidth
test alone uses real time, and asserts only a lower bound on it.
"""

import contextlib
import dataclasses
import logging
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from pygnetic.simulate import Conditions
from pygnetic.testing import ManualClock, TcpProxy, UdpProxy
from pygnetic.testing._tcp_proxy import STREAM_WINDOW

DEADLINE = 5.0  # seconds any wait for the kernel may take, at most


class Sockets:
    """The sockets of one test, closed after it."""

    def __init__(self):
        self.made = []

    def __call__(self, kind=socket.SOCK_DGRAM):
        return self.keep(socket.socket(socket.AF_INET, kind))

    def keep(self, sock):
        self.made.append(sock)
        return sock


@pytest.fixture
def sockets():
    made = Sockets()
    yield made
    for sock in made.made:
        sock.close()


@pytest.fixture
def sink(sockets):
    """A UDP socket on 127.0.0.1 that the proxies forward to."""
    sock = sockets()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@pytest.fixture
def client(sockets):
    sock = sockets()
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def drain(sock):
    """Every datagram waiting at ``sock`` now, as (data, source)."""
    got = []
    while True:
        try:
            got.append(sock.recvfrom(65536))
        except BlockingIOError:
            return got


def _pump_until(proxy, condition, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while not condition():
        proxy.update(1)
        if time.monotonic() > deadline:
            return False
    return True


def wait_readable(sock, timeout=DEADLINE):
    return bool(select.select([sock], [], [], timeout)[0])


def test_a_datagram_waits_for_its_latency_each_way(sink, client):
    clock = ManualClock()
    with UdpProxy(sink.getsockname(), "latency=50ms", clock=clock) as proxy:
        client.sendto(b"ping", proxy.address)
        proxy.update()
        assert proxy.stats.sent == 1 and proxy.held_bytes == 4  # read, and held
        clock.now += 0.049
        proxy.update()
        assert drain(sink) == []
        clock.now += 0.001
        proxy.update()
        [(data, source)] = drain(sink)
        assert data == b"ping"
        assert source != proxy.address  # the session's own socket speaks for the client
        sink.sendto(b"pong", source)
        assert _pump_until(proxy, lambda: proxy.stats.sent == 2)
        clock.now += 0.049
        proxy.update()
        assert drain(client) == []
        clock.now += 0.001
        proxy.update()
        assert drain(client) == [(b"pong", proxy.address)]
        assert proxy.stats.delivered == 2


def _send_through(conditions, sink, client, count=3000):
    """Send ``count`` numbered datagrams through a proxy; return what arrived, and the stats."""
    clock = ManualClock()
    arrived = []
    with UdpProxy(sink.getsockname(), conditions, clock=clock) as proxy:
        for number in range(count):
            client.sendto(number.to_bytes(4, "big"), proxy.address)
            if number % 50 == 49:  # the kernel holds 50 at once; the proxy reads them all
                proxy.update()
                clock.now += 0.01
                arrived += drain(sink)
        clock.now += 1.0
        proxy.update()
        arrived += drain(sink)
        return [int.from_bytes(data, "big") for data, _ in arrived], proxy.stats


def _late(numbers):
    """How many arrived after a datagram sent later than they were."""
    late, highest = 0, -1
    for number in numbers:
        if number < highest:
            late += 1
        highest = max(highest, number)
    return late


def test_loss_duplication_and_reordering_match_their_shares(sink, client):
    conditions = Conditions(latency=0.02, loss=0.1, duplicate=0.05, reorder=0.1, seed=7)
    numbers, stats = _send_through(conditions, sink, client)
    assert stats.sent == 3000
    assert stats.dropped / 3000 == pytest.approx(0.1, abs=0.025)
    kept = 3000 - stats.dropped
    assert stats.duplicated / kept == pytest.approx(0.05, abs=0.02)
    assert stats.reordered / kept == pytest.approx(0.1, abs=0.025)
    # What the sink saw is what the stats say.
    assert len(numbers) == kept + stats.duplicated == stats.delivered
    assert len(set(numbers)) == kept
    assert len(numbers) - len(set(numbers)) == stats.duplicated
    assert stats.reordered * 0.8 <= _late(numbers) <= stats.reordered + stats.duplicated


def test_the_same_seed_makes_the_same_choices(sink, client):
    conditions = Conditions(jitter=0.01, loss=0.1, duplicate=0.05, reorder=0.1, seed=3)
    first, _ = _send_through(conditions, sink, client, count=1000)
    again, _ = _send_through(conditions, sink, client, count=1000)
    conditions = dataclasses.replace(conditions, seed=4)
    other, _ = _send_through(conditions, sink, client, count=1000)
    assert first == again
    assert first != other


def test_jitter_keeps_the_order(sink, client):
    numbers, stats = _send_through(Conditions(latency=0.05, jitter=0.04, seed=1), sink, client)
    assert numbers == list(range(3000))
    assert stats.total_delay > 0


def test_silent_drops_datagrams_either_way_until_it_ends(sink, client):
    clock = ManualClock()
    with UdpProxy(sink.getsockname(), "latency=10ms", clock=clock) as proxy:
        client.sendto(b"before", proxy.address)
        proxy.update()
        proxy.silent = True  # "before" is held, and comes due while silent
        client.sendto(b"during", proxy.address)
        clock.now += 1
        proxy.update()
        assert drain(sink) == []
        assert proxy.silenced == 2
        proxy.silent = False
        client.sendto(b"after", proxy.address)
        proxy.update()
        clock.now += 0.01
        proxy.update()
        [(data, upstream)] = drain(sink)
        assert data == b"after"
        proxy.silent = True
        sink.sendto(b"reply", upstream)
        assert _pump_until(proxy, lambda: proxy.silenced == 3)
        clock.now += 1
        proxy.update()
        assert drain(client) == []


def test_drop_loses_the_datagrams_it_chooses_each_way(sink, client):
    chosen = []

    def drop(data, upward):
        chosen.append((data, upward))
        return data.startswith(b"up-lost" if upward else b"down-lost")

    with UdpProxy(sink.getsockname(), drop=drop) as proxy:
        for data in (b"up-lost 1", b"up-kept", b"down-lost"):
            client.sendto(data, proxy.address)
        assert _pump_until(proxy, lambda: proxy.stats.delivered == 2)
        received = drain(sink)
        assert [data for data, _ in received] == [b"up-kept", b"down-lost"]
        upstream = received[0][1]
        for data in (b"down-lost 2", b"down-kept", b"up-lost"):
            sink.sendto(data, upstream)
        assert _pump_until(proxy, lambda: proxy.stats.delivered == 4)
        assert [data for data, _ in drain(client)] == [b"down-kept", b"up-lost"]
        assert proxy.filtered == 2
        assert proxy.stats.sent == 4  # what was dropped never met the conditions
        assert [upward for _, upward in chosen] == [True] * 3 + [False] * 3
        proxy.drop = None
        client.sendto(b"up-lost 3", proxy.address)
        assert _pump_until(proxy, lambda: proxy.stats.delivered == 5)
        assert proxy.filtered == 2


def test_conditions_change_while_running(sink, client):
    clock = ManualClock()
    with UdpProxy(sink.getsockname(), clock=clock) as proxy:
        proxy.conditions = "loss=100%"
        assert proxy.conditions == Conditions(loss=1.0)
        for _ in range(10):
            client.sendto(b"lost", proxy.address)
        proxy.update()
        proxy.conditions = Conditions()
        client.sendto(b"kept", proxy.address)
        proxy.update()
        assert [data for data, _ in drain(sink)] == [b"kept"]
        assert proxy.stats.dropped == 10
        with pytest.raises(ValueError, match="unknown condition"):
            proxy.conditions = "los=5%"


def test_held_bytes_are_bounded(sink, client):
    clock = ManualClock()
    with UdpProxy(sink.getsockname(), "latency=1s", clock=clock, max_held_bytes=1000) as proxy:
        for _ in range(3):
            client.sendto(bytes(400), proxy.address)
        proxy.update()
        assert proxy.stats.overflowed == 1
        assert proxy.held_bytes == 800
        clock.now += 1
        proxy.update()
        assert len(drain(sink)) == 2
        assert proxy.held_bytes == 0


def test_sessions_are_bounded_and_refusals_logged_once(sink, sockets, caplog):
    clock = ManualClock()
    clients = []
    for _ in range(3):
        sock = sockets()
        sock.bind(("127.0.0.1", 0))
        clients.append(sock)
    with UdpProxy(sink.getsockname(), clock=clock, max_sessions=2) as proxy:
        caplog.set_level(logging.WARNING, logger="pygnetic.testing.proxy")
        for sock in clients:
            for _ in range(5):
                sock.sendto(sock.getsockname()[1].to_bytes(2, "big"), proxy.address)
        proxy.update()
        assert proxy.sessions == 2
        assert proxy.refused == 5
        ports = {int.from_bytes(data, "big") for data, _ in drain(sink)}
        assert ports == {sock.getsockname()[1] for sock in clients[:2]}
        assert len(caplog.records) == 1
        assert "all 2 sessions in use" in caplog.records[0].getMessage()


def test_idle_sessions_end_and_a_client_gets_a_new_one(sink, client):
    clock = ManualClock()
    with UdpProxy(sink.getsockname(), clock=clock, idle_timeout=5.0) as proxy:
        client.sendto(b"one", proxy.address)
        proxy.update()
        [(_, first)] = drain(sink)
        clock.now += 4.0
        proxy.update()
        assert proxy.sessions == 1
        clock.now += 2.0
        proxy.update()
        assert proxy.sessions == 0
        client.sendto(b"two", proxy.address)
        proxy.update()
        [(data, second)] = drain(sink)
        assert data == b"two" and second != first


def test_a_started_proxy_forwards_in_its_own_thread(sink, client):
    with UdpProxy(sink.getsockname(), "latency=5ms").start() as proxy:
        with pytest.raises(RuntimeError, match="own thread"):
            proxy.update()
        client.sendto(b"hello", proxy.address)
        assert wait_readable(sink)
        assert drain(sink)[0][0] == b"hello"
    assert not proxy._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        proxy.update()


def test_the_command_line_proxy_runs_until_interrupted(sink, client):
    command = [sys.executable, "-m", "pygnetic.testing.proxy", "udp"]
    command += [f"127.0.0.1:{sink.getsockname()[1]}", "latency=1ms"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("udp proxy on 127.0.0.1:"), line + process.stderr.read()
        port = int(line.split()[3].rpartition(":")[2])
        client.sendto(b"via the shell", ("127.0.0.1", port))
        assert wait_readable(sink)
        assert drain(sink)[0][0] == b"via the shell"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE) == 0
        assert process.stdout.read().startswith("stopped: Stats(sent=1, delivered=1")
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


# -- TCP -----------------------------------------------------------------------------


@pytest.fixture
def listener(sockets):
    sock = sockets(socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def _connect(proxy, listener, sockets):
    """A client connection through ``proxy``, and the server's end of it."""
    client = sockets(socket.SOCK_STREAM)
    client.connect(proxy.address)
    deadline = time.monotonic() + DEADLINE
    while not select.select([listener], [], [], 0)[0]:
        proxy.update(1)
        assert time.monotonic() < deadline, "the proxy never connected to the server"
    server = sockets.keep(listener.accept()[0])
    for sock in (client, server):
        sock.setblocking(False)
    return client, server


def _read_until(sock, proxy, size, clock=None):
    """Pump ``proxy`` and read ``sock`` until ``size`` bytes or its end arrived."""
    got = bytearray()
    deadline = time.monotonic() + DEADLINE * 4
    while len(got) < size and time.monotonic() < deadline:
        proxy.update(1)
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        if not data:
            break
        got += data
    return bytes(got)


def _received(sock):
    """What ``sock`` has now: bytes, b'' at its end, or None when nothing waits."""
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None


def test_tcp_bytes_wait_for_their_latency_each_way(listener, sockets):
    clock = ManualClock()
    with TcpProxy(listener.getsockname(), "latency=50ms", clock=clock) as proxy:
        client, server = _connect(proxy, listener, sockets)
        client.send(b"0123456789")
        assert _pump_until(proxy, lambda: proxy.held_bytes == 10)
        clock.now += 0.049
        proxy.update()
        assert _received(server) is None
        clock.now += 0.001
        assert _read_until(server, proxy, 10) == b"0123456789"
        server.send(b"back")
        assert _pump_until(proxy, lambda: proxy.held_bytes == 4)
        proxy.update()
        assert _received(client) is None
        clock.now += 0.05
        assert _read_until(client, proxy, 4) == b"back"


def test_tcp_delay_and_bandwidth_keep_order_and_lengths(listener, sockets):
    import random

    up = random.Random(1).randbytes(120_000)
    down = random.Random(2).randbytes(60_000)
    bandwidth = 100_000
    conditions = Conditions(latency=0.02, jitter=0.01, bandwidth=bandwidth, seed=5)
    with TcpProxy(listener.getsockname(), conditions) as proxy:
        client, server = _connect(proxy, listener, sockets)
        started = time.monotonic()
        sent = {client: 0, server: 0}
        got = {client: bytearray(), server: bytearray()}
        data = {client: up, server: down}
        deadline = started + 10 * len(up) / bandwidth
        while len(got[server]) < len(up) or len(got[client]) < len(down):
            assert time.monotonic() < deadline, {len(v) for v in got.values()}
            for sock in (client, server):
                if sent[sock] < len(data[sock]):
                    with contextlib.suppress(BlockingIOError):
                        sent[sock] += sock.send(data[sock][sent[sock] :])
                chunk = _received(sock)
                if chunk:
                    got[sock] += chunk
            proxy.update(1)
        elapsed = time.monotonic() - started
        assert got[server] == up and got[client] == down
        assert elapsed >= len(up) / bandwidth
        assert proxy.stats.sent > 100  # chunks of 10 ms each, not one burst


def test_tcp_silent_holds_bytes_and_lets_them_go_after(listener, sockets):
    with TcpProxy(listener.getsockname()) as proxy:
        client, server = _connect(proxy, listener, sockets)
        client.send(b"first")
        assert _read_until(server, proxy, 5) == b"first"
        proxy.silent = True
        client.send(b"held up")
        server.send(b"held down")
        _pump_until(proxy, lambda: False, timeout=0.2)
        assert _received(server) is None and _received(client) is None
        assert proxy.held_bytes == 0  # not even read: the bytes wait in the kernels
        proxy.silent = False
        assert _read_until(server, proxy, 7) == b"held up"
        assert _read_until(client, proxy, 9) == b"held down"


@pytest.mark.parametrize("refused", ["loss=1%", "duplicate=2%", "reorder=5%"])
def test_tcp_refuses_loss_duplication_and_reordering(listener, refused):
    with pytest.raises(ValueError, match=f"TcpProxy cannot simulate {refused}"):
        TcpProxy(listener.getsockname(), f"latency=10ms {refused}")
    with TcpProxy(listener.getsockname(), "latency=10ms jitter=5ms bandwidth=1mbit") as proxy:
        with pytest.raises(ValueError, match="latency, jitter and bandwidth only"):
            proxy.conditions = refused
        assert proxy.conditions == Conditions(latency=0.01, jitter=0.005, bandwidth=125_000)


def test_tcp_backpressure_slows_a_throttled_sender(listener, sockets):
    offered = bytes(8 * 1024 * 1024)
    with TcpProxy(listener.getsockname(), "bandwidth=20KB/s") as proxy:
        client = sockets(socket.SOCK_STREAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        client.connect(proxy.address)
        assert _pump_until(proxy, lambda: select.select([listener], [], [], 0)[0])
        server = sockets.keep(listener.accept()[0])
        client.setblocking(False)
        server.setblocking(False)
        accepted = received = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                accepted += client.send(offered[accepted : accepted + 65536])
            proxy.update(1)
            received += len(_received(server) or b"")
        # Kernel buffers and the proxy's window, and nothing like the 8 MiB offered.
        assert STREAM_WINDOW < accepted < 1024 * 1024
        assert received < 0.5 * 20_000 + 1024


def test_tcp_end_of_stream_is_passed_on_after_the_bytes(listener, sockets):
    with TcpProxy(listener.getsockname(), "latency=20ms") as proxy:
        client, server = _connect(proxy, listener, sockets)
        client.send(bytes(10_000))
        client.shutdown(socket.SHUT_WR)
        assert _read_until(server, proxy, 20_000) == bytes(10_000)  # then its end
        server.send(b"last words")
        server.shutdown(socket.SHUT_WR)
        assert _read_until(client, proxy, 100) == b"last words"
        assert _pump_until(proxy, lambda: proxy.sessions == 0)


def test_tcp_reset_is_passed_on(listener, sockets):
    with TcpProxy(listener.getsockname()) as proxy:
        client, server = _connect(proxy, listener, sockets)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        client.close()
        with pytest.raises(ConnectionResetError):
            _read_until(server, proxy, 1)
        assert proxy.sessions == 0


def test_tcp_sessions_are_bounded(listener, sockets):
    with TcpProxy(listener.getsockname(), max_sessions=1) as proxy:
        first, server = _connect(proxy, listener, sockets)
        second = sockets(socket.SOCK_STREAM)
        second.connect(proxy.address)
        second.setblocking(False)
        with pytest.raises(ConnectionResetError):
            _read_until(second, proxy, 1)
        assert proxy.refused == 1 and proxy.sessions == 1
        first.send(b"still served")
        assert _read_until(server, proxy, 12) == b"still served"


def test_tcp_a_target_nobody_listens_at_resets_the_client(sockets):
    probe = sockets(socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with TcpProxy(("127.0.0.1", port)) as proxy:
        client = sockets(socket.SOCK_STREAM)
        client.connect(proxy.address)
        client.setblocking(False)
        with pytest.raises(ConnectionResetError):
            _read_until(client, proxy, 1)
        assert proxy.sessions == 0
