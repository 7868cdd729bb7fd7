"""Real ENet and TCP connections through a proxy that loses, delays and throttles.

Each test checks that the proxy really did what the test is about (its
stats), so that a proxy that forwarded everything at once would fail it.
"""

import contextlib
import importlib.util
import itertools
import time

import pytest

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.simulate import Conditions
from pygnetic.testing import ManualClock, Recorder, TcpProxy, UdpProxy, pump

HAVE_ENET = importlib.util.find_spec("enet") is not None


ENET = [pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")]
ADAPTERS = [pytest.param("enet", marks=ENET), "socket"]
PROXIES = {"enet": UdpProxy, "socket": TcpProxy}


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("numbered", ("number", "padding"))
    return factory


@contextlib.contextmanager
def _through_proxy(adapter, conditions, **host_options):
    """A server, a proxy in front of it, and a client connected through the proxy."""
    factory = _factory()
    with contextlib.ExitStack() as stack:
        server = pygnetic.Server(
            "127.0.0.1",
            0,
            handler=Recorder,
            message_factory=factory,
            adapter=adapter,
            rate_limit=None,
            **host_options,
        )
        stack.callback(server.close, linger_ms=0)
        proxy = stack.enter_context(PROXIES[adapter](server.address, conditions))
        client = pygnetic.Client(message_factory=factory, adapter=adapter, **host_options)
        stack.callback(client.close, linger_ms=0)
        connection = client.connect(*proxy.address)
        opened = pump(
            server, client, proxy, until=lambda: server.handlers() and connection.connected
        )
        assert opened, connection.close_reason
        yield server, client, proxy, connection, server.handlers()[0]


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")
@pytest.mark.slow
def test_20000_reliable_messages_arrive_through_loss_delay_and_reordering():
    conditions = Conditions(latency=0.05, loss=0.1, reorder=0.05, seed=20)
    with _through_proxy("enet", conditions) as (server, client, proxy, connection, remote):
        count, batch = 20_000, 100
        started = time.monotonic()
        deadline = started + 120
        sent = 0
        while len(remote.received) < count:
            assert time.monotonic() < deadline, f"{len(remote.received)} of {count} arrived"
            for number in range(sent, min(count, sent + batch)):
                connection.net_numbered(number, "")
            sent = min(count, sent + batch)
            client.update()
            proxy.update(1)
            server.update()
        elapsed = time.monotonic() - started
        print(f"\n20,000 reliable ENet messages through {conditions}: {elapsed:.1f} s")
        print(proxy.stats)
        assert [message.number for message in remote.received] == list(range(count))
        assert proxy.stats.dropped > 50 and proxy.stats.reordered > 20


def _send_spread(connection, hosts, count, delivery):
    """Send ``count`` numbered messages two per update, then let the last ones arrive."""
    for number in range(0, count, 2):
        for n in (number, number + 1):
            connection.net_numbered(n, "x" * 100, delivery=delivery, channel=1)
        for host in hosts:
            host.update(0)
    pump(*hosts, timeout=0.4)  # after the longest delay the conditions give


LOSSY = Conditions(latency=0.02, jitter=0.01, loss=0.1, duplicate=0.05, reorder=0.2, seed=8)


def _measure(numbers, count):
    highest, late = -1, 0
    for number in numbers:
        late += number < highest
        highest = max(highest, number)
    return {
        "sent": count,
        "received": len(numbers),
        "lost": count - len(set(numbers)),
        "duplicates": len(numbers) - len(set(numbers)),
        "out of order": late,
    }


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")
def test_unreliable_sequenced_messages_never_arrive_older_than_one_delivered(record_property):
    with _through_proxy("enet", LOSSY) as (server, client, proxy, connection, remote):
        _send_spread(connection, (client, proxy, server), 1000, "unreliable_sequenced")
        numbers = [message.number for message in remote.received]
        measured = _measure(numbers, 1000)
        print(f"\nunreliable_sequenced over ENet through {LOSSY}: {measured}, {proxy.stats}")
        record_property("unreliable_sequenced", measured)
        assert proxy.stats.dropped and proxy.stats.reordered and proxy.stats.duplicated
        assert 0 < len(numbers) < 1000
        assert all(a < b for a, b in itertools.pairwise(numbers)), "older after newer, or twice"


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")
def test_what_unreliable_messages_meet(record_property):
    """ENet promises nothing of their order: measured for the docs, asserted only intact."""
    with _through_proxy("enet", LOSSY) as (server, client, proxy, connection, remote):
        _send_spread(connection, (client, proxy, server), 1000, "unreliable")
        numbers = [message.number for message in remote.received]
        measured = _measure(numbers, 1000)
        print(f"\nunreliable over ENet through {LOSSY}: {measured}, {proxy.stats}")
        record_property("unreliable", measured)
        assert proxy.stats.dropped and proxy.stats.reordered and proxy.stats.duplicated
        assert 0 < len(numbers) < 1000
        assert set(numbers) <= set(range(1000))
        assert all(message.padding == "x" * 100 for message in remote.received)


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "speaking"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_peer_gone_silent_behind_the_proxy_is_closed_within_the_timeout(adapter, silent):
    """Closed by TIMEOUT a tick after ``timeout``; a peer that speaks on stays, as a control."""
    clock = ManualClock()
    timeout = 2.0
    options = {"clock": clock, "timeout": timeout}
    with _through_proxy(adapter, Conditions(), **options) as opened:
        server, client, proxy, connection, remote = opened
        proxy.silent = silent
        since = clock.now
        step = 0.05  # well under a ping interval: no gap between updates is forgiven
        open_for = None  # seconds into the silence both ends were still open
        while clock.now - since < 2 * timeout:
            clock.now += step
            # ENet's own pings follow real time: these messages are what it would hear.
            connection.net_numbered(0, "from the client")
            remote.connection.net_numbered(1, "from the server")
            for _ in range(3):
                for host in (server, client, proxy):
                    host.update(0)
            if not (connection.connected or remote.connection.connected):
                break
            open_for = clock.now - since
        if not silent:
            assert connection.connected and remote.connection.connected
            everything = lambda: len(remote.received) == connection.messages_sent  # noqa: E731
            assert pump(server, client, proxy, until=everything)
            return
        print(f"\nclosed {open_for:.2f} s into the silence (timeout {timeout} s)")
        assert timeout - step <= open_for < timeout + 0.5
        for end in (connection, remote.connection):
            assert end.close_code is CloseCode.TIMEOUT, end.close_reason
        assert not remote.received  # nothing sent in the silence arrived


def test_the_socket_adapter_through_delay_and_throttling_keeps_every_message_in_order():
    bandwidth = 150_000
    conditions = Conditions(latency=0.03, jitter=0.01, bandwidth=bandwidth, seed=2)
    with _through_proxy("socket", conditions) as (server, client, proxy, connection, remote):
        count = 3000
        before = connection.data_sent
        started = time.monotonic()
        for number in range(count):
            connection.net_numbered(number, "y" * 60)
        hosts = (client, proxy, server)
        assert pump(*hosts, until=lambda: len(remote.received) == count, timeout=30)
        elapsed = time.monotonic() - started
        sent = connection.data_sent - before
        assert [message.number for message in remote.received] == list(range(count))
        assert sent >= count * 60  # the padding alone
        assert elapsed >= sent / bandwidth  # the cap held: no upper bound is asserted
        print(f"\n{count} messages, {sent} bytes over TCP through {conditions}: {elapsed:.2f} s")
