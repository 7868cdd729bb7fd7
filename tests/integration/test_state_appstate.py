"""appstate's DistributedState, method by method, over a real state server on both stores."""

import pytest
from state_servers import ServerThread

from pygnetic.state import (
    ADMIN_ONLY,
    ANY,
    AppIdError,
    DataUnchangedError,
    DistributedState,
    DuplicateError,
    InvalidRequestError,
    LoginError,
    NoSuchKeyError,
    PermissionError,
    SizeError,
    StateLimits,
    UnjoinedError,
    UpdateFailedError,
    hash_value,
)
from pygnetic.wire_types import Vector2

ADMIN = ("admin@example.com", "admin-password")


@pytest.fixture
def running(store):
    with ServerThread(store, limits=StateLimits(max_value_size=1024)) as running:
        yield running


@pytest.fixture
def admin(running):
    state = DistributedState(running.address, timeout=5)
    state.create_account(*ADMIN)
    state.login(*ADMIN)
    state.new_app("admin+game", readmode=ANY, writemode=ANY)
    yield state
    state.close()


@pytest.fixture
def other(running, admin):
    state = DistributedState(running.address, timeout=5)
    state.join("admin+game")
    yield state
    state.close()


def test_version_names_the_store(running, store):
    with DistributedState(running.address) as state:
        assert store.name in state.version()
        assert "pygnetic" in state.version()


def test_accounts_and_login(running):
    with DistributedState(running.address) as state:
        state.create_account("tom@example.com", "secret1")
        with pytest.raises(DuplicateError):
            state.create_account("tom@example.com", "another1")
        with pytest.raises(InvalidRequestError):
            state.create_account("not-an-email", "secret1")
        with pytest.raises(InvalidRequestError):
            state.create_account("ann@example.com", "short")
        with pytest.raises(LoginError) as failed:
            state.login("tom@example.com", "wrong-password")
        assert failed.value.reasons
        assert state.user is None
        state.login("tom@example.com", "secret1")
        assert state.user == "tom@example.com"


def test_new_app_needs_a_login_and_a_free_id(running, admin):
    with DistributedState(running.address) as state:
        with pytest.raises(PermissionError):
            state.new_app("anonymous+game")
        with pytest.raises(DuplicateError):
            admin.new_app("admin+game")
    assert admin.appid == "admin+game" and admin.admin
    assert (admin.readmode, admin.writemode) == (ANY, ANY)


def test_join(running, admin):
    with DistributedState(running.address) as state:
        with pytest.raises(AppIdError):
            state.join("nobody+nothing")
        with pytest.raises(UnjoinedError):
            state.join()
        state.join("admin+game")
        assert state.appid == "admin+game" and not state.admin


def test_unjoined_calls_say_so(running):
    with DistributedState(running.address) as state:
        for call in (
            lambda: state["k"],
            lambda: state.__setitem__("k", 1),
            lambda: state.__delitem__("k"),
            lambda: state.update("k", "", 1),
            lambda: state.get_if_changed("k", ""),
            lambda: state.apply_op("k", abs),
            lambda: state.authorize("a@example.com"),
            lambda: state.delete_app(),
        ):
            with pytest.raises(UnjoinedError):
                call()


@pytest.mark.parametrize(
    "value",
    [1, -2**63, 2.5, "text", b"\x00bytes", None, True, [1, [2, [3]]], {"Tom": 12, "Ann": [1, 2]},
     Vector2(1.5, -2)],
)  # fmt: skip
def test_values_read_back_with_the_servers_hash(admin, other, value):
    admin["k"] = value
    read = other["k"]
    assert read == (list(value) if isinstance(value, tuple) else value)
    other.update("k", hash_value(read), "next")  # the hash the server keeps
    assert admin["k"] == "next"


def test_getitem_of_a_key_without_value(admin):
    with pytest.raises(KeyError) as missing:
        admin["never"]
    assert isinstance(missing.value, NoSuchKeyError)


def test_update_is_compare_and_swap(admin, other):
    admin["score"] = 10
    other.update("score", hash_value(10), 11)
    with pytest.raises(UpdateFailedError):
        admin.update("score", hash_value(10), 12)
    assert admin["score"] == 11
    with pytest.raises(UpdateFailedError):
        admin.update("new", hash_value(None), 1)


def test_get_if_changed(admin, other):
    admin["motd"] = "hello"
    with pytest.raises(DataUnchangedError):
        other.get_if_changed("motd", hash_value("hello"))
    admin["motd"] = "bye"
    assert other.get_if_changed("motd", hash_value("hello")) == "bye"


def test_delitem(admin, other):
    admin["k"] = 1
    del other["k"]
    with pytest.raises(KeyError):
        admin["k"]
    with pytest.raises(KeyError):
        del admin["k"]


def test_apply_op(admin):
    with pytest.raises(KeyError):
        admin.apply_op("plays", lambda n: n + 1)
    assert admin.apply_op("plays", lambda n: n + 1, create=True, defaultvalue=0) == 1
    assert admin.apply_op("plays", lambda n: n + 1, create=True, defaultvalue=0) == 2
    admin.apply_op("names", lambda names: [*names, "Tom"], create=True, defaultvalue=[])
    assert admin["names"] == ["Tom"]


def test_a_value_over_the_limit_is_refused_and_nothing_is_stored(admin, other):
    admin["save"] = "small"
    with pytest.raises(SizeError):
        admin["save"] = "x" * 2000
    with pytest.raises(SizeError):
        admin.update("save", hash_value("small"), "x" * 2000)
    with pytest.raises(SizeError):
        admin["other"] = b"x" * 2000
    assert other["save"] == "small"
    with pytest.raises(KeyError):
        other["other"]


def test_grants_are_the_admins(running, admin, other):
    for grant, undo in ((admin.authorize, admin.unauthorize), (admin.ban, admin.unban)):
        grant("tom@example.com")
        with pytest.raises(DuplicateError):
            grant("tom@example.com")
        undo("tom@example.com")
        with pytest.raises(DuplicateError):
            undo("tom@example.com")
    for call in (other.authorize, other.unauthorize, other.ban, other.unban):
        with pytest.raises(PermissionError):
            call("tom@example.com")


def test_delete_app(running, admin, other):
    admin["k"] = 1
    with pytest.raises(PermissionError):
        other.delete_app()
    admin.delete_app()
    assert admin.appid is None
    with pytest.raises(AppIdError):
        other["k"]
    with pytest.raises(AppIdError):
        other.join("admin+game")
    admin.new_app("admin+game", writemode=ADMIN_ONLY)  # the id is free again, and empty
    with pytest.raises(KeyError):
        admin["k"]
