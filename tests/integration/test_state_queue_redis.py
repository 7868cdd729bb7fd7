"""The Redis store's queues and leases when several servers share one Redis.

What the contract suite (test_state_queue_stores.py) cannot show with one
store: races between stores, the notices they hear of each other, and the
keys left in Redis.
"""

import math
import select
import threading
import time

import pytest

from pygnetic.state import AppIdError, NoSuchKeyError, QuotaError, StateLimits
from pygnetic.state._errors import DeclarationError
from pygnetic.state._model import (
    APP,
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
def client(redis_url):
    import redis

    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


def data(v):
    return pack_value(v, LIMITS.max_value_size).data


def entry(name, v, holder, until):
    stored = pack_value(v, LIMITS.max_value_size)
    return Entry(name, stored.data, stored.hash, holder, until)


def make(store, name, kind):
    space = Space(name, kind)
    store.create_space(space, LIMITS)
    return space.key


def changes_until(store, done, timeout=5.0):
    """Collect ``store.changed_elsewhere()`` until ``done(collected)``; fail after ``timeout``."""
    seen = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {seen} arrived"
        # Notices already buffered by redis-py do not wake select(): look every 50 ms.
        select.select([store.fileno()], [], [], min(remaining, 0.05))
        seen.extend(store.changed_elsewhere())
    return seen


def run_threads(target, args_list):
    """Run ``target(*args)`` in a thread per args; re-raise the first failure."""
    failures = []

    def run(*args):
        try:
            target(*args)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]


# -- races ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [FIFO, LIFO, MULTI])
def test_servers_racing_dequeue_get_each_value_exactly_once(redis_stores, mode):
    first, second = redis_stores(), redis_stores()
    ws = make(first, "jobs", WORKSPACE)
    first.declare(ws, "todo", mode, MANY)
    for n in range(1000):
        (first if n % 2 else second).enqueue(ws, "todo", data(n), MANY, 1000)
    got = [[] for _ in range(10)]

    def fetch(index):
        store = (first, second)[index % 2]
        while (item := store.dequeue(ws, "todo")) is not None:
            got[index].append(item)

    run_threads(fetch, [(i,) for i in range(10)])
    fetched = [item for each in got for item in each]
    assert sorted(item.data for item in fetched) == sorted(data(n) for n in range(1000))
    assert sorted(item.seq for item in fetched) == list(range(1, 1001))
    assert first.variables(ws) == [("todo", mode, 0)]
    if mode == FIFO:
        # Each fetcher saw its values in the order they were stored.
        for each in got:
            assert [item.seq for item in each] == sorted(item.seq for item in each)


def test_values_stored_while_servers_fetch_are_each_fetched_once(redis_stores):
    first, second = redis_stores(), redis_stores()
    ws = make(first, "jobs", WORKSPACE)
    stored_all = threading.Event()
    got = []

    def produce(store, start):
        for n in range(start, start + 250):
            store.enqueue(ws, "todo", data(n), MANY, 1000)

    def fetch(store):
        while True:
            item = store.dequeue(ws, "todo")
            if item is not None:
                got.append(item.data)  # list.append is atomic
            elif stored_all.is_set():
                return

    fetchers = [threading.Thread(target=fetch, args=(s,)) for s in (first, second) * 3]
    for thread in fetchers:
        thread.start()
    run_threads(produce, [(first, 0), (second, 250), (first, 500), (second, 750)])
    stored_all.set()
    for thread in fetchers:
        thread.join(60)
    assert sorted(got) == sorted(data(n) for n in range(1000))


def test_max_values_raced_by_two_servers_is_never_overrun(redis_stores, client):
    stores = [redis_stores(), redis_stores()]
    ws = make(stores[0], "jobs", WORKSPACE)
    stored = []

    def fill(index):
        store = stores[index % 2]
        for n in range(60):
            try:
                store.enqueue(ws, "todo", data([index, n]), MANY, 100)
                stored.append(1)
            except QuotaError:
                pass

    run_threads(fill, [(i,) for i in range(8)])
    assert len(stored) == 100
    assert stores[1].variables(ws) == [("todo", FIFO, 100)]
    assert client.zcard("pygnetic:queue:7:ws/jobs:todo") == 100


def test_max_variables_raced_counts_both_kinds_and_is_never_overrun(redis_stores):
    stores = [redis_stores(), redis_stores()]
    ws = make(stores[0], "mixed", WORKSPACE)
    made = []

    def fill(index):
        store = stores[index % 2]
        for n in range(20):
            name = f"{index}-{n}"
            try:
                if n % 3 == 0:
                    store.put(ws, name, pack_value(n, 100), None, 50)
                elif n % 3 == 1:
                    store.enqueue(ws, name, data(n), 50, 10)
                else:
                    store.declare(ws, name, LIFO, 50)
                made.append(name)
            except QuotaError:
                pass

    run_threads(fill, [(i,) for i in range(6)])
    assert len(made) == 50
    assert len(stores[0].names(ws)) + len(stores[0].variables(ws)) == 50


def test_a_space_deleted_while_values_are_stored_leaves_no_key(redis_stores, client):
    first, second = redis_stores(), redis_stores()
    ws = make(first, "jobs", WORKSPACE)
    first.enqueue(ws, "todo", data(0), MANY, 10**6)
    refused = []

    def produce():
        while True:
            try:
                second.enqueue(ws, "todo", data(1), MANY, 10**6)
            except AppIdError:
                refused.append(1)
                return

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.05)
    assert first.delete_space(ws)
    producer.join(10)
    assert refused
    assert client.keys("*") == []


# -- notices ----------------------------------------------------------------------


def test_queue_and_leased_writes_are_heard_refused_ones_are_not(redis_stores):
    a, b = redis_stores(), redis_stores()
    ws, dct, app = (make(a, "s", kind) for kind in (WORKSPACE, DICT, APP))
    assert b.changed_elsewhere() == []  # starts listening
    markers = iter(range(1000))

    def heard(write):
        """What b hears of ``write`` by a, told apart by a marker a writes after it."""
        write()
        marker = (app, f"marker-{next(markers)}")
        a.put(app, marker[1], pack_value(1, 100), None, MANY)
        seen = changes_until(b, lambda seen: marker in seen)
        assert seen[-1] == marker
        return seen[:-1]

    def refused(exc, write):
        def run():
            with pytest.raises(exc):
                write()

        return run

    # Workspaces.
    assert heard(lambda: a.declare(ws, "x", LIFO, MANY)) == [(ws, "x")]
    assert heard(lambda: a.declare(ws, "x", LIFO, MANY)) == []  # there already
    assert heard(refused(DeclarationError, lambda: a.declare(ws, "x", FIFO, MANY))) == []
    assert heard(refused(QuotaError, lambda: a.declare(ws, "new", FIFO, 1))) == []
    assert heard(refused(AppIdError, lambda: a.declare("ws/none", "x", FIFO, MANY))) == []
    assert heard(lambda: a.enqueue(ws, "x", data(1), MANY, 1)) == [(ws, "x")]
    assert heard(refused(QuotaError, lambda: a.enqueue(ws, "x", data(2), MANY, 1))) == []
    assert heard(refused(QuotaError, lambda: a.enqueue(ws, "y", data(2), 1, 10))) == []
    assert heard(refused(AppIdError, lambda: a.enqueue("ws/none", "x", data(1), 9, 9))) == []
    assert heard(lambda: a.peek(ws, "x")) == []
    assert heard(lambda: a.dequeue(ws, "x")) == [(ws, "x")]
    assert heard(lambda: a.dequeue(ws, "x")) == []  # none left
    assert heard(lambda: a.dequeue(ws, "none")) == []
    assert heard(lambda: a.delete_variable(ws, "x")) == [(ws, "x")]
    assert heard(lambda: a.delete_variable(ws, "x")) == []
    # Dictionaries.
    assert heard(lambda: a.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY)) == [(dct, "k")]
    assert heard(lambda: a.put_leased(dct, entry("k", 2, "B", 100.0), 50.0, MANY)) == []
    assert heard(refused(QuotaError, lambda: a.put_leased(dct, entry("n", 1, "A", 0), 0, 1))) == []
    assert heard(lambda: a.remove_leased(dct, "k", "B", 50.0)) == []  # A holds it
    assert heard(lambda: a.remove_leased(dct, "k", "A", 50.0)) == [(dct, "k")]
    assert heard(refused(NoSuchKeyError, lambda: a.remove_leased(dct, "k", "A", 50.0))) == []
    # b's own writes are not told back to it.
    b.enqueue(ws, "mine", data(1), MANY, 10)
    assert heard(lambda: None) == []


def test_a_deleted_workspace_is_heard_as_its_whole_space(redis_stores):
    a, b = redis_stores(), redis_stores()
    ws = make(a, "jobs", WORKSPACE)
    a.enqueue(ws, "x", data(1), MANY, 10)
    b.changed_elsewhere(watching=False)
    assert a.delete_space(ws)
    assert changes_until(b, lambda seen: seen) == [(ws, "")]


# -- keys -------------------------------------------------------------------------


def test_deleting_spaces_leaves_no_queue_or_lease_key_behind(redis_stores, client):
    store = redis_stores()
    ws = make(store, "a:b é", WORKSPACE)
    dct = make(store, "c:d", DICT)
    store.declare(ws, "empty", LIFO, MANY)
    store.declare(ws, "one", SINGLE, MANY)
    store.enqueue(ws, "one", data(1), MANY, 10)
    for n in range(3):
        store.enqueue(ws, "x:y ü", data(n), MANY, 10)
    store.put_leased(dct, entry("k:1", 1, "A", 100.0), 0.0, MANY)
    store.put_leased(dct, entry("k:2", 1, "A", 0.0), 0.0, MANY)
    # The layout the module's docstring tells: 'ws/a:b é' is 9 bytes in UTF-8.
    assert set(client.keys("pygnetic:queue:*")) == {
        "pygnetic:queue:9:ws/a:b é:one".encode(),
        "pygnetic:queue:9:ws/a:b é:x:y ü".encode(),
    }
    assert client.hgetall(f"pygnetic:modes:{ws}") == {
        b"empty": LIFO.encode(),
        b"one": SINGLE.encode(),
        "x:y ü".encode(): FIFO.encode(),
    }
    assert client.hgetall(f"pygnetic:holder:{dct}") == {b"k:1": b"A"}
    assert client.hgetall(f"pygnetic:lease:{dct}") == {b"k:1": b"100.0"}
    assert store.delete_space(ws)
    assert store.delete_space(dct)
    assert client.keys("*") == []


def test_deleted_variables_and_entries_leave_no_key_behind(redis_stores, client):
    store = redis_stores()
    ws = make(store, "jobs", WORKSPACE)
    dct = make(store, "world", DICT)
    before = set(client.keys("*"))
    store.enqueue(ws, "x", data(1), MANY, 10)
    store.declare(ws, "y", MULTI, MANY)
    store.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY)
    assert store.delete_variable(ws, "x")
    assert store.delete_variable(ws, "y")
    store.remove_leased(dct, "k", "A", 0.0)
    assert set(client.keys("*")) == before


def test_remove_takes_a_lease_with_the_key(redis_stores):
    store = redis_stores()
    dct = make(store, "world", DICT)
    store.put_leased(dct, entry("k", 1, "A", 100.0), 0.0, MANY)
    store.remove(dct, "k", None)
    store.put(dct, "k", pack_value(2, 100), None, MANY)
    (got,) = store.entries(dct, "", 10)
    assert (got.holder, got.lease_until) == (None, 0.0)


# -- values -----------------------------------------------------------------------


def test_the_same_data_stored_twice_is_two_values(redis_stores):
    store = redis_stores()
    ws = make(store, "jobs", WORKSPACE)
    for _ in range(3):
        store.enqueue(ws, "x", data("same"), MANY, 10)
    assert store.variables(ws) == [("x", FIFO, 3)]
    assert [store.dequeue(ws, "x").seq for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize(
    "until", [1712345678.123456789, 0.1 + 0.2, 1e-300, 2.0**60 + 2**8, 123456.789e10]
)
def test_lease_times_round_trip_and_compare_exactly(redis_stores, until):
    store = redis_stores()
    dct = make(store, "world", DICT)
    assert store.put_leased(dct, entry("k", 1, "A", until), 0.0, MANY) is None
    (got,) = store.entries(dct, "", 10)
    assert got.lease_until == until
    # Held until the very instant before it lapses, not at it.
    before = math.nextafter(until, -math.inf)
    assert store.put_leased(dct, entry("k", 2, "B", 0.0), before, MANY).lease_until == until
    assert store.remove_leased(dct, "k", "B", before).holder == "A"
    assert store.put_leased(dct, entry("k", 3, "B", 0.0), until, MANY) is None


def test_entries_skip_what_is_deleted_between_reads_and_fill_the_page(redis_stores):
    store = redis_stores()
    dct = make(store, "world", DICT)
    for name in "abcdef":
        store.put_leased(dct, entry(name, name, None, 0.0), 0.0, MANY)
    real_hkeys = store._client.hkeys

    def hkeys_then_delete(key):
        names = real_hkeys(key)
        # Another server deletes two of the first page between the two reads.
        store.remove_leased(dct, "b", "A", 0.0)
        store.remove_leased(dct, "c", "A", 0.0)
        return names

    store._client.hkeys = hkeys_then_delete
    try:
        assert [e.name for e in store.entries(dct, "", 3)] == ["a", "d", "e"]
    finally:
        del store._client.hkeys
    assert [e.name for e in store.entries(dct, "e", 3)] == ["f"]
    assert store.entries(dct, "", 0) == []
