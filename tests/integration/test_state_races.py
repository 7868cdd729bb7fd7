"""Clients racing apply_op on one key lose nothing: SQLite, Redis, two servers on one Redis."""

import threading

import pytest
from state_servers import ServerThread

from pygnetic.state import DistributedState, SQLiteStore

CLIENTS = 20
EACH = 20


def _store(kind, request, tmp_path):
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "state.db")
    from pygnetic.state import RedisStore

    return RedisStore(request.getfixturevalue("redis_url"))


def _make_app(address):
    with DistributedState(address) as admin:
        admin.create_account("admin@example.com", "admin-password")
        admin.login("admin@example.com", "admin-password")
        admin.new_app("admin+race")
        admin["count"] = 0


def _race(addresses):
    """CLIENTS clients, each with one apply_op(+1) in flight at a time, EACH times."""
    clients = [DistributedState(addresses[i % len(addresses)]) for i in range(CLIENTS)]
    left = dict.fromkeys(range(CLIENTS), EACH)
    failures = []

    def again(index):
        def done(request):
            if request.error is not None:
                failures.append(request.error)
                left[index] = 0
                return
            left[index] -= 1
            if left[index]:
                clients[index].apply_op_nowait("count", lambda n: n + 1, callback=done)

        clients[index].apply_op_nowait("count", lambda n: n + 1, callback=done)

    for index, client in enumerate(clients):
        client.join("admin+race")
        again(index)
    while any(left.values()):
        for client in clients:
            client.poll(0)
        clients[0].poll(1)
    assert not failures, failures[:3]
    total = clients[-1]["count"]
    for client in clients:
        client.close()
    return total


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_twenty_clients_racing_apply_op_lose_nothing(kind, request, tmp_path):
    store = _store(kind, request, tmp_path)
    with ServerThread(store) as running:
        _make_app(running.address)
        assert _race([running.address]) == CLIENTS * EACH
    store.close()


def test_racing_through_two_servers_sharing_one_redis(redis_url):
    from pygnetic.state import RedisStore

    first, second = RedisStore(redis_url), RedisStore(redis_url)
    with ServerThread(first) as one, ServerThread(second) as two:
        _make_app(one.address)
        assert _race([one.address, two.address]) == CLIENTS * EACH
    first.close()
    second.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_blocking_apply_op_from_threads(kind, request, tmp_path):
    """appstate's promise: N clients each applying +1 a hundred times end at 100 N."""
    store = _store(kind, request, tmp_path)
    threads_n, each = 4, 100
    with ServerThread(store) as running:
        _make_app(running.address)
        errors = []

        def play():
            try:
                with DistributedState(running.address) as state:
                    state.join("admin+race")
                    for _ in range(each):
                        state.apply_op("count", lambda n: n + 1)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=play) for _ in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        with DistributedState(running.address) as state:
            state.join("admin+race")
            assert state["count"] == threads_n * each
    store.close()
