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


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "state.db")
    else:
        from pygnetic.state import RedisStore

        made = RedisStore(request.getfixturevalue("redis_url"))
    yield made
    made.close()


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
