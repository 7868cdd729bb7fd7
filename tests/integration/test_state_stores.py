"""One contract, both stores: what the state service relies on a store for.

Runs against a real SQLite file and a real redis-server.
"""

import pytest

from pygnetic.state import (
    AppIdError,
    DuplicateError,
    NoSuchKeyError,
    QuotaError,
    SQLiteStore,
    StateLimits,
    UpdateFailedError,
)
from pygnetic.state._model import ABSENT, Space, pack_value
from pygnetic.state._store import AUTHORIZED, BANNED

LIMITS = StateLimits()


def value(v):
    return pack_value(v, LIMITS.max_value_size)


def make_space(store, name="game", owner="admin@example.com", **kwargs):
    space = Space(name, owner=owner, **kwargs)
    store.create_space(space, LIMITS)
    return space


def test_a_space_is_made_once_and_read_back(store):
    space = make_space(store, readmode=2, writemode=3, persistent=False)
    assert store.get_space(space.key) == space
    with pytest.raises(DuplicateError):
        store.create_space(space, LIMITS)
    assert store.get_space("app/other") is None
    assert store.spaces() == [space]


def test_kinds_do_not_collide(store):
    make_space(store, "x")
    store.create_space(Space("x", kind="workspace"), LIMITS)
    assert {s.kind for s in store.spaces()} == {"app", "workspace"}


def test_a_space_without_owner(store):
    space = make_space(store, owner=None)
    assert store.get_space(space.key).owner is None


def test_space_quotas(store):
    limits = StateLimits(max_spaces=3, max_spaces_per_owner=2)
    store.create_space(Space("a", owner="o"), limits)
    store.create_space(Space("b", owner="o"), limits)
    with pytest.raises(QuotaError):
        store.create_space(Space("c", owner="o"), limits)
    store.create_space(Space("c", owner="p"), limits)
    with pytest.raises(QuotaError):
        store.create_space(Space("d", owner="q"), limits)
    assert len(store.spaces()) == 3


def test_put_get_and_names(store):
    space = make_space(store)
    assert store.get(space.key, "score") is None
    stored = value({"Tom": 12})
    store.put(space.key, "score", stored, None, 10)
    assert store.get(space.key, "score") == stored
    store.put(space.key, "motd", value("hello"), None, 10)
    assert store.names(space.key) == ["motd", "score"]


def test_put_into_a_missing_space(store):
    with pytest.raises(AppIdError):
        store.put("app/none", "k", value(1), None, 10)


def test_compare_and_swap(store):
    space = make_space(store)
    one, two = value(1), value(2)
    store.put(space.key, "k", one, ABSENT, 10)
    with pytest.raises(UpdateFailedError):
        store.put(space.key, "k", two, ABSENT, 10)
    with pytest.raises(UpdateFailedError):
        store.put(space.key, "k", two, two.hash, 10)
    assert store.get(space.key, "k") == one
    store.put(space.key, "k", two, one.hash, 10)
    assert store.get(space.key, "k") == two
    with pytest.raises(UpdateFailedError):
        store.put(space.key, "new", one, two.hash, 10)
    assert store.get(space.key, "new") is None


def test_variable_quota_counts_new_names_only(store):
    space = make_space(store)
    store.put(space.key, "a", value(1), None, 2)
    store.put(space.key, "b", value(1), None, 2)
    with pytest.raises(QuotaError):
        store.put(space.key, "c", value(1), None, 2)
    store.put(space.key, "a", value(5), None, 2)
    assert store.get(space.key, "c") is None
    assert store.get(space.key, "a") == value(5)


def test_remove(store):
    space = make_space(store)
    with pytest.raises(NoSuchKeyError):
        store.remove(space.key, "k", None)
    with pytest.raises(AppIdError):
        store.remove("app/none", "k", None)
    store.put(space.key, "k", value(1), None, 10)
    with pytest.raises(UpdateFailedError):
        store.remove(space.key, "k", value(2).hash)
    store.remove(space.key, "k", value(1).hash)
    assert store.get(space.key, "k") is None
    assert store.names(space.key) == []


def test_deleting_a_space_deletes_what_it_holds(store):
    space = make_space(store)
    store.put(space.key, "k", value(1), None, 10)
    store.grant(space.key, BANNED, "x@example.com", 10)
    assert store.delete_space(space.key)
    assert not store.delete_space(space.key)
    assert store.get_space(space.key) is None
    make_space(store)
    assert store.get(space.key, "k") is None
    assert store.roles(space.key, "x@example.com") == frozenset()


def test_grants(store):
    space = make_space(store)
    store.grant(space.key, AUTHORIZED, "a@example.com", 3)
    with pytest.raises(DuplicateError):
        store.grant(space.key, AUTHORIZED, "a@example.com", 3)
    store.grant(space.key, BANNED, "a@example.com", 3)
    assert store.roles(space.key, "a@example.com") == {AUTHORIZED, BANNED}
    store.revoke(space.key, BANNED, "a@example.com")
    with pytest.raises(DuplicateError):
        store.revoke(space.key, BANNED, "a@example.com")
    assert store.roles(space.key, "a@example.com") == {AUTHORIZED}
    store.grant(space.key, BANNED, "b@example.com", 3)
    store.grant(space.key, BANNED, "c@example.com", 3)
    with pytest.raises(QuotaError):
        store.grant(space.key, BANNED, "d@example.com", 3)
    with pytest.raises(AppIdError):
        store.grant("app/none", BANNED, "d@example.com", 3)
    with pytest.raises(AppIdError):
        store.revoke("app/none", BANNED, "d@example.com")


def test_accounts(store):
    assert store.account("a@example.com") is None
    store.add_account("a@example.com", b"record-1", 2)
    with pytest.raises(DuplicateError):
        store.add_account("a@example.com", b"record-2", 2)
    assert store.account("a@example.com") == b"record-1"
    store.add_account("b@example.com", b"record", 2)
    with pytest.raises(QuotaError):
        store.add_account("c@example.com", b"record", 2)
    store.set_account("a@example.com", b"record-3")
    assert store.account("a@example.com") == b"record-3"
    assert store.delete_account("a@example.com")
    assert not store.delete_account("a@example.com")


def test_a_failed_batch_keeps_nothing(store):
    space = make_space(store)
    if store.name == "redis":
        pytest.skip("Redis applies each operation as it is made; batches group nothing")
    with pytest.raises(RuntimeError), store.batch():
        store.put(space.key, "k", value(1), None, 10)
        raise RuntimeError("the disk is full")
    assert store.get(space.key, "k") is None


def test_names_with_separators_stay_apart(store):
    a = make_space(store, "a:b")
    b = make_space(store, "a")
    store.put(a.key, "c", value(1), None, 10)
    store.put(b.key, "b:c", value(2), None, 10)
    assert store.get(a.key, "c") == value(1)
    assert store.get(b.key, "b:c") == value(2)
    assert store.get(a.key, "b:c") is None


def test_sqlite_data_survives_reopening(tmp_path):
    path = tmp_path / "state.db"
    first = SQLiteStore(path)
    make_space(first)
    first.put("app/game", "k", value([1, 2]), None, 10)
    first.close()
    again = SQLiteStore(path)
    assert again.get("app/game", "k") == value([1, 2])
    again.close()


def test_deleting_a_space_gives_its_owner_room_again(store):
    limits = StateLimits(max_spaces_per_owner=1)
    store.create_space(Space("a", owner="o"), limits)
    assert store.delete_space("app/a")
    store.create_space(Space("b", owner="o"), limits)
    with pytest.raises(QuotaError):
        store.create_space(Space("c", owner="o"), limits)


# -- the Redis store: several servers on one Redis ---------------------------------


def changes_until(store, done, timeout=5.0):
    """Collect ``store.changed_elsewhere()`` until ``done(collected)``; fail after ``timeout``."""
    import select
    import time

    seen = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {seen} arrived"
        # Notices already buffered by redis-py do not wake select(): look every 50 ms.
        select.select([store.fileno()], [], [], min(remaining, 0.05))
        seen.extend(store.changed_elsewhere())
    return seen


def test_redis_servers_racing_compare_and_swap_lose_no_increment(redis_stores):
    import contextlib
    import threading

    from pygnetic.state._model import unpack_value

    first, second = redis_stores(), redis_stores()
    space = make_space(first)
    first.put(space.key, "n", value(0), ABSENT, 10)
    failures = []

    def increment(store, times):
        try:
            for _ in range(times):
                while True:
                    current = store.get(space.key, "n")
                    new = value(unpack_value(current.data) + 1)
                    with contextlib.suppress(UpdateFailedError):
                        store.put(space.key, "n", new, current.hash, 10)
                        break
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=increment, args=(s, 200)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert unpack_value(second.get(space.key, "n").data) == 400


def test_redis_servers_racing_for_room_never_overrun_a_quota(redis_stores, redis_url):
    import threading

    import redis

    stores = [redis_stores() for _ in range(4)]
    limits = StateLimits(max_spaces=50, max_accounts=30)
    spaces_made = []
    accounts_made = []

    def fill(index, store):
        for n in range(40):
            try:
                store.create_space(Space(f"s{index}-{n}"), limits)
                spaces_made.append(1)
            except QuotaError:
                pass
            try:
                store.add_account(f"{index}-{n}@example.com", b"record", limits.max_accounts)
                accounts_made.append(1)
            except QuotaError:
                pass

    threads = [threading.Thread(target=fill, args=pair) for pair in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(spaces_made) == 50
    assert len(stores[0].spaces()) == 50
    assert len(accounts_made) == 30
    client = redis.Redis.from_url(redis_url)
    assert client.hlen("pygnetic:accounts") == 30
    client.close()


def test_redis_deleting_a_space_leaves_no_key_behind(redis_stores, redis_url):
    import redis

    store = redis_stores()
    space = make_space(store, "a:b", owner="o:p")
    store.put(space.key, "k", value(1), None, 10)
    store.grant(space.key, AUTHORIZED, "x@example.com", 10)
    store.grant(space.key, BANNED, "y@example.com", 10)
    client = redis.Redis.from_url(redis_url)
    assert len(client.keys("pygnetic:*")) == 7
    assert store.delete_space(space.key)
    assert client.keys("*") == []
    client.close()


def test_redis_servers_hear_of_each_others_changes_not_their_own(redis_stores):
    a, b = redis_stores(), redis_stores()
    space = make_space(a)
    # The first call starts listening.
    assert a.changed_elsewhere() == []
    assert b.changed_elsewhere() == []
    b.put(space.key, "mine", value(1), None, 10)
    a.put(space.key, "k", value(1), None, 10)
    a.put(space.key, "café", value(1), None, 10)
    a.remove(space.key, "k", None)
    assert a.delete_space(space.key)
    # b's own notice came before a's: b has skipped it by the time a's last arrives.
    seen_by_b = changes_until(b, lambda seen: (space.key, "") in seen)
    assert set(seen_by_b) == {(space.key, "k"), (space.key, "café"), (space.key, "")}
    assert b.changed_elsewhere() == []
    make_space(b)
    b.put(space.key, "last", value(2), None, 10)
    seen_by_a = changes_until(a, lambda seen: (space.key, "last") in seen)
    assert set(seen_by_a) == {(space.key, "mine"), (space.key, "last")}


def test_redis_refused_writes_tell_no_one(redis_stores):
    a, b = redis_stores(), redis_stores()
    space = make_space(a)
    b.changed_elsewhere()
    a.put(space.key, "k", value(1), None, 10)
    with pytest.raises(UpdateFailedError):
        a.put(space.key, "k", value(2), ABSENT, 10)
    with pytest.raises(QuotaError):
        a.put(space.key, "other", value(2), None, 1)
    with pytest.raises(NoSuchKeyError):
        a.remove(space.key, "none", None)
    assert not a.delete_space("app/none")
    a.put(space.key, "last", value(1), None, 10)
    seen = changes_until(b, lambda seen: (space.key, "last") in seen)
    assert seen == [(space.key, "k"), (space.key, "last")]


def test_redis_malformed_notices_are_skipped(redis_stores, redis_url):
    import msgpack
    import redis

    from pygnetic.state._redis import MAX_NOTICE_SIZE

    a, b = redis_stores(), redis_stores()
    space = make_space(a)
    b.changed_elsewhere()
    client = redis.Redis.from_url(redis_url)
    for junk in [
        b"",
        b"\xc1",
        b"not msgpack",
        msgpack.packb({"origin": "x"}),
        msgpack.packb(["x", "app/game"]),
        msgpack.packb(["x", "app/game", "k", "extra"]),
        msgpack.packb([1, "app/game", "k"]),
        msgpack.packb(["x", b"app/game", "k"], use_bin_type=True),
        msgpack.packb(["x", "app/game", 5]),
        msgpack.packb(["x", "app/game", "k"]) + b"\x00",
        b"\x93\xa1x\xa2\xff\xfe\xc0",  # a key that is not UTF-8
        b"\x91" * 50_000 + b"\xc0",  # nested too deep
        msgpack.packb(["x", "app/game", "n" * MAX_NOTICE_SIZE]),
    ]:
        assert client.publish("pygnetic:changes", junk) == 1
    client.close()
    a.put(space.key, "k", value(1), None, 10)
    assert changes_until(b, lambda seen: seen) == [(space.key, "k")]


def test_redis_prefixes_keep_stores_apart(redis_stores):
    one = redis_stores(prefix="one:")
    two, two_again = redis_stores(prefix="two:"), redis_stores(prefix="two:")
    for store in (one, two):
        make_space(store)
    two_again.changed_elsewhere()
    one.put("app/game", "k", value(1), None, 10)
    one.add_account("a@example.com", b"one", 10)
    two.put("app/game", "k", value(2), None, 10)
    assert one.get("app/game", "k") == value(1)
    assert two_again.get("app/game", "k") == value(2)
    assert two.account("a@example.com") is None
    assert one.delete_space("app/game")
    assert [s.key for s in two.spaces()] == ["app/game"]
    seen = changes_until(two_again, lambda seen: seen)
    assert seen == [("app/game", "k")]


def test_redis_store_with_a_given_client(redis_url):
    import redis

    from pygnetic.state import RedisStore

    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError):
        RedisStore(client=decoding)
    decoding.close()
    retrying = redis.Redis(unix_socket_path=redis_url.removeprefix("unix://"))
    with pytest.raises(ValueError, match="retry"):
        RedisStore(client=retrying)  # a lost answer would run a write twice
    retrying.close()
    client = redis.Redis.from_url(redis_url)
    store = RedisStore(client=client, prefix="mine:")
    make_space(store)
    assert store.version().startswith("redis ")
    store.close()
    assert client.exists("mine:space:app/game")
    client.close()


def test_redis_store_without_redis_py_names_the_install(monkeypatch):
    import sys

    from pygnetic.errors import AdapterUnavailableError
    from pygnetic.state import RedisStore

    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(AdapterUnavailableError, match=r"pip install redis"):
        RedisStore()


def test_redis_a_server_without_watches_hears_only_deleted_spaces(redis_stores):
    a, b = redis_stores(), redis_stores()
    space = make_space(a)
    assert b.changed_elsewhere(watching=False) == []
    a.put(space.key, "k", value(1), None, 10)
    assert a.delete_space(space.key)
    seen = changes_until_quiet(b, watching=False, done=lambda seen: (space.key, "") in seen)
    assert seen == [(space.key, "")]
    make_space(a)
    assert b.changed_elsewhere(watching=True) == []  # listens to changes again, from now on
    a.put(space.key, "again", value(2), None, 10)
    assert changes_until(b, lambda seen: bool(seen)) == [(space.key, "again")]


def changes_until_quiet(store, watching, done, timeout=5.0):
    import select
    import time

    seen = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"only {seen} arrived"
        select.select([store.fileno()], [], [], 0.05)
        seen.extend(store.changed_elsewhere(watching=watching))
    return seen
