"""When the store fails, the requests of that batch are refused, and the service goes on."""

import sqlite3

import pytest
from state_servers import ServerThread

from pygnetic.state import DistributedState, SQLiteStore, UnexpectedError


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
