"""Exactly-once fetch: however many clients wait on one variable, each value goes to one.

On a real SQLite file through one server, and through two servers sharing
one real redis-server, where a fetch waiting on one server is served by a
store through the other.
"""

import time

import pytest
from state_servers import ServerThread

from pygnetic.state import NetWorkSpace, NwsServer, SQLiteStore

VALUES = 1000
FETCHERS = 10


def run_fetchers(storing, fetching, values=VALUES):
    """Store ``values`` numbers through ``storing`` while every ``fetching`` space fetches.

    Each fetcher keeps one fetch waiting at a time, the way a worker does.
    Returns what each fetcher got.
    """
    got = [[] for _ in fetching]
    waiting = [ws.fetch_nowait("jobs") for ws in fetching]
    stored = 0
    servers = {ws.server for ws in [storing, *fetching]}
    deadline = time.monotonic() + 60
    while sum(map(len, got)) < values:
        assert time.monotonic() < deadline, f"only {sum(map(len, got))} fetched"
        if stored < values:
            batch = [
                storing.store_nowait("jobs", n) for n in range(stored, min(stored + 50, values))
            ]
            stored += len(batch)
        else:
            batch = []
        for server in servers:
            server.poll(1)
        for index, request in enumerate(waiting):
            if request.done:
                got[index].append(request.result())
                waiting[index] = fetching[index].fetch_nowait("jobs")
        while not all(request.done for request in batch):
            storing.poll(1)
        for request in batch:
            request.result()  # a failed store fails the test
    return got


def check_once(got, values=VALUES):
    everything = [value for each in got for value in each]
    assert sorted(everything) == list(range(values))  # none lost, none twice
    return everything


def test_ten_fetchers_on_sqlite_get_each_value_once(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    with ServerThread(store) as running:
        host, port = running.server.address
        servers = [NwsServer(host, port, timeout=10) for _ in range(FETCHERS + 1)]
        try:
            storing = NetWorkSpace("queue", server=servers[0])
            fetching = [NetWorkSpace("queue", server=s, useUse=True) for s in servers[1:]]
            got = run_fetchers(storing, fetching)
            check_once(got)
            assert sum(1 for each in got if each) > 1  # the work was shared out
            assert storing.fetchTry("jobs") is None
        finally:
            for server in servers:
                server.close()
    store.close()


def redis_servers(redis_url, count=2, **options):
    from pygnetic.state import RedisStore

    stores = [RedisStore(redis_url) for _ in range(count)]
    return stores, [ServerThread(store, **options) for store in stores]


def close_all(stores, services, clients):
    for client in clients:
        client.close()
    for service in services:
        service.close()
    for store in stores:
        store.close()


def test_ten_fetchers_through_two_servers_sharing_redis_get_each_value_once(redis_url):
    stores, services = redis_servers(redis_url)
    clients = []
    try:
        addresses = [service.server.address for service in services]
        clients = [NwsServer(*addresses[n % 2], timeout=10) for n in range(FETCHERS + 1)]
        storing = NetWorkSpace("queue", server=clients[0])  # on the first server
        fetching = [NetWorkSpace("queue", server=c, useUse=True) for c in clients[1:]]
        got = run_fetchers(storing, fetching)
        check_once(got)
        # Fetchers on the second server were served by stores through the first.
        assert sum(len(got[n]) for n in range(0, FETCHERS, 2)) > 0
        assert storing.fetchTry("jobs") is None
    finally:
        close_all(stores, services, clients)


def test_a_fetch_waiting_on_one_server_is_woken_by_a_store_through_another(redis_url):
    # The waiting server's loop waits up to 5 s for network work, and its
    # client is not pumped meanwhile (so sends nothing): an answer within a
    # second means the store's notice itself woke the server (no polling).
    from pygnetic.state import RedisStore

    waiting_store, storing_store = RedisStore(redis_url), RedisStore(redis_url)
    waiting_service = ServerThread(waiting_store, poll_ms=5000)
    storing_service = ServerThread(storing_store)
    clients = []
    try:
        waiter = NwsServer(*waiting_service.server.address, timeout=10)
        storer = NwsServer(*storing_service.server.address, timeout=10)
        clients = [waiter, storer]
        fetching = NetWorkSpace("wake", server=waiter).fetch_nowait("x")
        waiters = waiting_service.server.waiters
        deadline = time.monotonic() + 5
        while not waiters:
            waiter.poll(5)
            assert time.monotonic() < deadline
        other = NetWorkSpace("wake", server=storer, useUse=True)
        started = time.monotonic()
        other.store("x", "hello")
        while waiters:  # answered by the waiting server
            time.sleep(0.002)
            assert time.monotonic() - started < 1.0, "the waiting server did not wake"
        while not fetching.done:
            waiter.poll(5)
        assert fetching.result() == "hello"
    finally:
        close_all([waiting_store, storing_store], [waiting_service, storing_service], clients)


@pytest.mark.parametrize("remove", [True, False])
def test_a_delete_through_another_server_aborts_the_waiting(redis_url, remove):
    from pygnetic.state import NwsAbortedException

    stores, services = redis_servers(redis_url)
    clients = []
    try:
        clients = [NwsServer(*service.server.address, timeout=10) for service in services]
        here = NetWorkSpace("del", server=clients[0])
        there = NetWorkSpace("del", server=clients[1], useUse=True)
        there.store("x", 0)
        there.fetch("x")  # x exists, without a value
        waiting = here.fetch_nowait("x") if remove else here.find_nowait("x")
        for _ in range(3):
            clients[0].poll(20)
        there.deleteVar("x")
        deadline = time.monotonic() + 10
        while not waiting.done:
            clients[0].poll(5)
            assert time.monotonic() < deadline
        assert isinstance(waiting.error, NwsAbortedException)
    finally:
        close_all(stores, services, clients)


def test_a_fetcher_that_leaves_takes_no_value_with_it(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    with ServerThread(store) as running:
        host, port = running.server.address
        leaving, staying = NwsServer(host, port, timeout=10), NwsServer(host, port, timeout=10)
        try:
            NetWorkSpace("q", server=staying, persistent=True)
            left = NetWorkSpace("q", server=leaving, useUse=True).fetch_nowait("x")
            leaving.poll(20)
            leaving.close()
            assert not left.done or left.error is not None
            ws = NetWorkSpace("q", server=staying)
            deadline = time.monotonic() + 5
            while running.server.waiters:  # the server saw the connection end
                staying.poll(5)
                assert time.monotonic() < deadline
            ws.store("x", "kept")
            assert ws.fetch("x", timeout=5) == "kept"
        finally:
            leaving.close()
            staying.close()
    store.close()


def test_a_notice_lost_with_the_notices_connection_delays_a_fetch_a_second_at_most(redis_url):
    import redis

    stores, services = redis_servers(redis_url)
    clients = []
    try:
        clients = [NwsServer(*service.server.address, timeout=10) for service in services]
        waiting = NetWorkSpace("lost", server=clients[0]).fetch_nowait("x")
        while not services[0].server.waiters:
            clients[0].poll(5)
        with services[0].paused():  # the notice is published while the link is down
            killer = redis.Redis.from_url(redis_url)
            killer.client_kill_filter(_type="pubsub")
            killer.close()
            NetWorkSpace("lost", server=clients[1], useUse=True).store("x", "found")
        started = time.monotonic()
        while not waiting.done:
            clients[0].poll(5)
            assert time.monotonic() - started < 5
        assert waiting.result() == "found"
    finally:
        close_all(stores, services, clients)


def test_a_redis_server_nobody_waits_on_does_not_spin(redis_url):
    stores, services = redis_servers(redis_url, poll_ms=1000)
    clients = []
    try:
        clients = [NwsServer(*service.server.address, timeout=10) for service in services]
        ws = NetWorkSpace("spin", server=clients[0])
        waiting = ws.fetch_nowait("x")
        while not services[0].server.waiters:
            clients[0].poll(5)
        NetWorkSpace("spin", server=clients[1], useUse=True).store("x", 1)
        assert waiting.wait(5) == 1
        server = services[0].server
        updates = []
        real_update = server.update
        server.update = lambda ms: (updates.append(ms), real_update(ms))
        started = time.monotonic()
        for n in range(5):  # deletions elsewhere: notices every server hears
            clients[1].useWs(f"brief{n}")
            clients[1].deleteWs(f"brief{n}")
        while time.monotonic() - started < 1.0:
            clients[0].poll(20)
        assert len(updates) < 30, f"{len(updates)} updates in a second while nobody waits"
    finally:
        close_all(stores, services, clients)
