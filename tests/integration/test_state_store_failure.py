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
