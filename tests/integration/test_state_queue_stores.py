"""The store contract for workspaces' value queues and synced dictionaries' leases.

Both stores, a real SQLite file and a real redis-server, one set of tests.
"""

import pytest

from pygnetic.state import AppIdError, NoSuchKeyError, QuotaError, SQLiteStore, StateLimits
from pygnetic.state._errors import DeclarationError
from pygnetic.state._model import (
    DICT,
    FIFO,
    LIFO,
    MULTI,
    SINGLE,
    WORKSPACE,
    Entry,
    Space,
    pack_value,
)

LIMITS = StateLimits()
MANY = LIMITS.max_variables


@pytest.fixture
def ws(store):
    space = Space("jobs", WORKSPACE, persistent=False)
    store.create_space(space, LIMITS)
    return space.key


@pytest.fixture
def dct(store):
    space = Space("world", DICT)
    store.create_space(space, LIMITS)
    return space.key


def data(v):
    return pack_value(v, LIMITS.max_value_size).data


def drain(store, ws, name):
    got = []
    while (item := store.dequeue(ws, name)) is not None:
        got.append(item.data)
    return got


def test_a_stored_variable_is_fifo_and_fetched_in_order(store, ws):
    for n in range(5):
        store.enqueue(ws, "x", data(n), MANY, 100)
    assert store.mode(ws, "x") == FIFO
    assert store.peek(ws, "x").data == data(0)  # find leaves it
    assert drain(store, ws, "x") == [data(n) for n in range(5)]
    assert store.dequeue(ws, "x") is None
    assert store.mode(ws, "x") == FIFO  # an empty variable stays, with its mode


def test_lifo_is_newest_first(store, ws):
    store.declare(ws, "stack", LIFO, MANY)
    for n in range(4):
        store.enqueue(ws, "stack", data(n), MANY, 100)
    assert store.peek(ws, "stack").data == data(3)
    assert drain(store, ws, "stack") == [data(n) for n in (3, 2, 1, 0)]


def test_multi_gives_each_value_once(store, ws):
    store.declare(ws, "bag", MULTI, MANY)
    for n in range(20):
        store.enqueue(ws, "bag", data(n), MANY, 100)
    got = drain(store, ws, "bag")
    assert sorted(got) == sorted(data(n) for n in range(20))


def test_single_keeps_the_last_value(store, ws):
    store.declare(ws, "one", SINGLE, MANY)
    store.enqueue(ws, "one", data("a"), MANY, 1)
    store.enqueue(ws, "one", data("b"), MANY, 1)  # replaces: never over max_values
    assert store.peek(ws, "one").data == data("b")
    assert drain(store, ws, "one") == [data("b")]


def test_a_mode_never_changes(store, ws):
    store.declare(ws, "x", LIFO, MANY)
    store.declare(ws, "x", LIFO, MANY)  # the same again is fine
    with pytest.raises(DeclarationError, match="lifo"):
        store.declare(ws, "x", FIFO, MANY)
    store.enqueue(ws, "y", data(1), MANY, 100)
    with pytest.raises(DeclarationError):
        store.declare(ws, "y", SINGLE, MANY)


def test_numbers_grow_and_are_never_reused(store, ws):
    store.enqueue(ws, "x", data("a"), MANY, 100)
    first = store.dequeue(ws, "x")
    store.enqueue(ws, "x", data("b"), MANY, 100)
    second = store.peek(ws, "x")
    assert second.seq > first.seq
    store.enqueue(ws, "x", data("c"), MANY, 100)
    assert store.peek(ws, "x", after=second.seq).data == data("c")
    assert store.peek(ws, "x", after=second.seq + 1) is None


def test_single_numbers_tell_a_new_value(store, ws):
    store.declare(ws, "one", SINGLE, MANY)
    store.enqueue(ws, "one", data("a"), MANY, 1)
    seen = store.peek(ws, "one")
    assert store.peek(ws, "one", after=seen.seq) is None
    store.enqueue(ws, "one", data("a"), MANY, 1)  # the same value, stored again
    assert store.peek(ws, "one", after=seen.seq).data == data("a")


def test_quotas(store, ws):
    for n in range(3):
        store.enqueue(ws, "x", data(n), MANY, 3)
    with pytest.raises(QuotaError, match="most values"):
        store.enqueue(ws, "x", data(3), MANY, 3)
    store.dequeue(ws, "x")
    store.enqueue(ws, "x", data(3), MANY, 3)  # room again
    with pytest.raises(QuotaError):
        store.enqueue(ws, "y", data(1), 1, 3)  # a second variable over max_variables
    with pytest.raises(QuotaError):
        store.declare(ws, "z", FIFO, 1)
    assert [name for name, _, _ in store.variables(ws)] == ["x"]


def test_missing_space(store):
    with pytest.raises(AppIdError):
        store.enqueue("ws/none", "x", data(1), MANY, 10)
    with pytest.raises(AppIdError):
        store.declare("ws/none", "x", FIFO, MANY)
    assert store.dequeue("ws/none", "x") is None
    assert store.peek("ws/none", "x") is None
    assert store.mode("ws/none", "x") is None
    assert store.variables("ws/none") == []


def test_listing_and_deleting_variables(store, ws):
    store.declare(ws, "b", LIFO, MANY)
    for n in range(3):
        store.enqueue(ws, "a", data(n), MANY, 10)
    assert store.variables(ws) == [("a", FIFO, 3), ("b", LIFO, 0)]
    assert store.delete_variable(ws, "a") is True
    assert store.delete_variable(ws, "a") is False
    assert store.dequeue(ws, "a") is None
    store.enqueue(ws, "a", data(9), MANY, 10)  # made anew, FIFO, from empty
    assert store.variables(ws) == [("a", FIFO, 1), ("b", LIFO, 0)]


def test_deleting_the_space_deletes_its_queues(store, ws):
    store.enqueue(ws, "x", data(1), MANY, 10)
    assert store.delete_space(ws)
    store.create_space(Space("jobs", WORKSPACE), LIMITS)
    assert store.variables(ws) == []
    assert store.dequeue(ws, "x") is None


def test_queue_names_with_separators_stay_apart(store):
    for name in ("a", "a:b"):
        store.create_space(Space(name, WORKSPACE), LIMITS)
    store.enqueue("ws/a", "b:c", data(1), MANY, 10)
    store.enqueue("ws/a:b", "c", data(2), MANY, 10)
    assert store.dequeue("ws/a:b", "c").data == data(2)
    assert store.dequeue("ws/a", "b:c").data == data(1)


# -- leases -----------------------------------------------------------------------


def entry(name, v, holder, until):
    stored = pack_value(v, LIMITS.max_value_size)
    return Entry(name, stored.data, stored.hash, holder, until)


def test_the_first_writer_holds_the_lease(store, dct):
    assert store.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY) is None
    refused = store.put_leased(dct, entry("k", 2, "B", 100.0), 50.0, MANY)
    assert (refused.holder, refused.lease_until, refused.data) == ("A", 100.0, data(1))
    assert store.put_leased(dct, entry("k", 3, "A", 160.0), 60.0, MANY) is None  # renewed
    assert store.put_leased(dct, entry("k", 4, "B", 200.0), 100.0, MANY).holder == "A"
    # Lapsed: the next writer takes it.
    assert store.put_leased(dct, entry("k", 5, "B", 260.0), 160.0, MANY) is None
    (got,) = store.entries(dct, "", 10)
    assert (got.name, got.data, got.holder, got.lease_until) == ("k", data(5), "B", 260.0)


def test_a_write_without_a_lease(store, dct):
    assert store.put_leased(dct, entry("k", 1, "A", 0.0), 0.0, MANY) is None
    assert store.put_leased(dct, entry("k", 2, "B", 0.0), 0.0, MANY) is None  # no lease held
    (got,) = store.entries(dct, "", 10)
    assert got.holder is None and got.lease_until == 0.0
    store.put_leased(dct, entry("k", 3, "A", 100.0), 0.0, MANY)
    assert store.put_leased(dct, entry("k", 4, "B", 0.0), 10.0, MANY).holder == "A"


def test_removing_leased_keys(store, dct):
    store.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY)
    kept = store.remove_leased(dct, "k", "B", 50.0)
    assert kept.holder == "A"
    assert len(store.entries(dct, "", 10)) == 1
    removed = store.remove_leased(dct, "k", "A", 50.0)
    assert removed.data == data(1)
    assert store.entries(dct, "", 10) == []
    with pytest.raises(NoSuchKeyError):
        store.remove_leased(dct, "k", "A", 50.0)
    with pytest.raises(AppIdError):
        store.remove_leased("dict/none", "k", "A", 50.0)
    store.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY)
    store.remove_leased(dct, "k", "B", 100.0)  # lapsed at 100: anyone may
    assert store.entries(dct, "", 10) == []


def test_entries_page_by_name(store, dct):
    for name in ("c", "a", "b", "d"):
        store.put_leased(dct, entry(name, name, "A", 0.0), 0.0, MANY)
    assert [e.name for e in store.entries(dct, "", 3)] == ["a", "b", "c"]
    assert [e.name for e in store.entries(dct, "c", 3)] == ["d"]


def test_leased_quota_and_missing_space(store, dct):
    store.put_leased(dct, entry("a", 1, "A", 0.0), 0.0, 1)
    with pytest.raises(QuotaError):
        store.put_leased(dct, entry("b", 1, "A", 0.0), 0.0, 1)
    store.put_leased(dct, entry("a", 2, "A", 0.0), 0.0, 1)  # not new
    with pytest.raises(AppIdError):
        store.put_leased("dict/none", entry("a", 1, "A", 0.0), 0.0, MANY)


def test_sqlite_reads_a_part_one_file(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    # What part 1 made: schema 1, without the queue counters.
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE queued; DROP TABLE variables;"
        "CREATE TABLE variables (space TEXT NOT NULL REFERENCES spaces (key) ON DELETE CASCADE,"
        " name TEXT NOT NULL, mode TEXT NOT NULL, holder TEXT, lease_until REAL,"
        " hash TEXT NOT NULL, data BLOB, PRIMARY KEY (space, name)) WITHOUT ROWID;"
        "UPDATE meta SET value = '1' WHERE name = 'schema';"
    )
    db.close()
    store = SQLiteStore(path)
    store.create_space(Space("w", WORKSPACE), LIMITS)
    store.enqueue("ws/w", "x", data(1), MANY, 10)
    assert store.variables("ws/w") == [("x", FIFO, 1)]
    store.close()


def test_claiming_a_space_without_owner(store):
    store.create_space(Space("temp", WORKSPACE, None, persistent=False), LIMITS)
    claimed = store.claim_space("ws/temp", "conn 1", True, 5)
    assert (claimed.owner, claimed.persistent) == ("conn 1", True)
    assert store.claim_space("ws/temp", "conn 2", False, 5) is None  # owned already
    assert store.get_space("ws/temp").owner == "conn 1"
    assert store.claim_space("ws/none", "conn 1", True, 5) is None
    store.create_space(Space("temp2", WORKSPACE, None, persistent=False), LIMITS)
    assert store.claim_space("ws/temp2", "conn 1", True, 1) is None  # owns its most
    assert store.get_space("ws/temp2").owner is None
