"""When the store fails, the requests of that batch are refused, and the service goes on."""

import sqlite3

import pytest
from state_servers import ServerThread

from pygnetic.state import AppIdError, DistributedState, SQLiteStore, UnexpectedError


def test_a_failing_store_refuses_the_batch_and_keeps_serving(tmp_path, caplog):
    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    with ServerThread(store) as running, DistributedState(running.address) as state:
        state.create_account("admin@example.com", "admin-password")
        state.login("admin@example.com", "admin-password")
        state.new_app("admin+game")
        # A real SQLite failure, as a full disk would give: abort writes of one key.
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER fail BEFORE INSERT ON variables WHEN NEW.name = 'explode' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        with pytest.raises(UnexpectedError, match="store failed"):
            state["explode"] = 1
        state["fine"] = 2
        assert state["fine"] == 2
        with pytest.raises(KeyError):
            state["explode"]
    assert "the store failed" in caplog.text
    store.close()


def test_a_lost_redis_is_refused_and_the_service_goes_on_when_it_is_back(tmp_path):
    from state_servers import run_redis

    from pygnetic.state import RedisStore

    with run_redis(tmp_path) as (url, redis_process):
        store = RedisStore(url)
        with ServerThread(store) as running, DistributedState(running.address) as state:
            state.create_account("admin@example.com", "admin-password")
            state.login("admin@example.com", "admin-password")
            state.new_app("admin+game")
            state["k"] = 1
            redis_process.terminate()
            redis_process.wait(10)
            with pytest.raises(UnexpectedError, match="store failed"):
                state["k"] = 2
            with pytest.raises(UnexpectedError, match="store failed"):
                state["k"]
            assert state.connected  # the service itself never went down
            with run_redis(tmp_path):  # Redis is back (empty: it kept nothing on disk)
                state.version()
                with pytest.raises(AppIdError):
                    state["k"]
                assert running.server.connections()
        store.close()


def test_a_failed_batch_with_a_held_login_refusal_refuses_each_request_once(tmp_path):
    from pygnetic.state import LoginError, StateServer

    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    now = [0.0]
    server = StateServer(store, port=0, clock=lambda: now[0], serve_ms=500)
    address = "{}:{}".format(*server.address)
    clients = [DistributedState(address, blocking=False) for _ in range(2)]
    try:

        def pump(requests):
            for _ in range(500):
                for client in clients:
                    client.poll(0)
                server.update(2)
                if all(r.done for r in requests):
                    return

        pump([clients[0].create_account_nowait("admin@example.com", "admin-password")])
        pump([clients[0].login_nowait("admin@example.com", "admin-password")])
        pump([clients[0].new_app_nowait("admin+game")])
        pump([clients[1].join_nowait("admin+game")])
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER fail BEFORE INSERT ON variables WHEN NEW.name = 'explode' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        # One batch: a failed login (its refusal held back) and a write the store refuses.
        login = clients[0].login_nowait("admin@example.com", "wrong-password")
        write = clients[1].set_nowait("explode", 1)
        for client in clients:
            client.poll(0)
        server.update(50)
        now[0] += 5  # past the login's hold
        pump([login, write])
        assert isinstance(write.error, UnexpectedError)
        assert isinstance(login.error, (UnexpectedError, LoginError))
        server.update(0)  # the held refusal is not sent again: no error out of update()
    finally:
        for client in clients:
            client.close()
        server.close()
        store.close()


def test_a_failed_batch_gives_no_waiting_fetch_a_value_it_took_back(tmp_path):
    """A fetch woken in a batch that fails waits on: the value is back, its answer dropped."""
    from pygnetic.state import NetWorkSpace, NwsOperationException, NwsServer

    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    with ServerThread(store) as running:
        host, port = running.server.address
        waiter, first, second = (NwsServer(host, port, timeout=5) for _ in range(3))
        ws_w = NetWorkSpace("w", server=waiter, persistent=True)
        ws_1, ws_2 = (NetWorkSpace("w", server=s, useUse=True) for s in (first, second))
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER fail BEFORE INSERT ON variables WHEN NEW.name = 'explode' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        rolled_back = 0
        for attempt in range(30):
            name = f"x{attempt}"
            fetching = ws_w.fetch_nowait(name)
            while running.server.waiters.counts(("ws/w", name)) != (1, 0):
                waiter.poll(2)
            with running.paused():  # both stores reach the server in one update: one batch
                storing = ws_1.store_nowait(name, "A")
                exploding = ws_2.store_nowait("explode", 1)
                first.poll(0)
                second.poll(0)
            while not (storing.done and exploding.done):
                first.poll(2)
                second.poll(2)
            assert isinstance(exploding.error, NwsOperationException)
            waiter.poll(20)
            if storing.error is None:  # served in a batch of its own, before the failure
                assert fetching.wait(5) == "A"
                continue
            rolled_back += 1
            # "A" was never stored; the fetch still waits, and gets the next value.
            assert not fetching.done
            assert running.server.waiters.counts(("ws/w", name)) == (1, 0)
            ws_1.store(name, "B")
            assert fetching.wait(5) == "B"
            assert ws_1.fetchTry(name) is None  # no "A" left behind
            if rolled_back >= 3:
                break
        assert rolled_back, "no attempt put both stores in one batch"
        for server in (waiter, first, second):
            server.close()
    store.close()
