"""Garbage and hostile requests are refused; only the offender's connection ever closes."""

import contextlib
import socket
import time

import msgpack
import pytest
from state_servers import Clock, ServerThread, raw_connection

from pygnetic.request import BUSY, INVALID, RequestError, RequestRefused
from pygnetic.state import (
    ADMIN_ONLY,
    AUTHORIZED_ONLY,
    DistributedState,
    LoginError,
    PermissionError,
    SQLiteStore,
    StateLimits,
)
from pygnetic.state._protocol import (
    GET,
    LOGIN,
    MAX_INVALID_REQUESTS,
    MAX_PENDING_REQUESTS,
    MEMBER,
    NEW_SPACE,
    PUT,
    VALUE,
    WATCH,
)
from pygnetic.state._server import LOGIN_DELAY, MAX_FAILED_LOGINS


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def running(tmp_path, clock):
    store = SQLiteStore(tmp_path / "state.db")
    with ServerThread(store, clock=clock, limits=StateLimits(max_watches=4)) as running:
        with DistributedState(running.address) as admin:
            admin.create_account("admin@example.com", "admin-password")
            admin.login("admin@example.com", "admin-password")
            admin.new_app("admin+game")
            admin["k"] = "kept"
        yield running
    store.close()


@pytest.fixture
def raw(running):
    """A connection that sends state messages by hand, and its requester."""
    with raw_connection(running) as raw:
        yield raw


def _refusal(asker, request, *fields):
    with pytest.raises(RequestRefused) as refused:
        asker.ask(request, *fields).wait(5)
    return refused.value


def _still_served(running):
    with DistributedState(running.address) as state:
        state.join("admin+game")
        assert state["k"] == "kept"


@pytest.mark.parametrize(
    ("request_type", "fields", "says"),
    [
        (GET, ("app", 123, "k", None), "space name"),
        (GET, ("app", "admin+game", "", None), "key"),
        (GET, ("app", "admin+game", "k" * 10_000, None), "longer than"),
        (GET, ("app", "admin+game", "\x00\x1b[2J", None), "unprintable"),
        (GET, ("nonsense", "admin+game", "k", None), "kind"),
        (PUT, ("app", "admin+game", "k", 1, 12), "expect"),
        (NEW_SPACE, ("workspace", "x", 0, 0, True), "kind"),
        (GET, ([1], "admin+game", "k", None), "kind"),
        (MEMBER, ("app", "admin+game", ["ban"], "a@example.com"), "action"),
        (PUT, ("app", "admin+game", "k", 12, None), "cannot be stored"),
        (PUT, ("app", "admin+game", "k", b"\xc1", None), "cannot be stored"),
        (
            PUT,
            ("app", "admin+game", "k", msgpack.packb({(1, 2): "rook"}), None),
            "cannot be stored",
        ),
        (LOGIN, (["not", "an", "email"], "pw"), "email"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(running, raw, request_type, fields, says):
    connection, asker = raw
    refused = _refusal(asker, request_type, *fields)
    assert refused.code == INVALID and says in refused.reason
    assert connection.connected
    _still_served(running)


def test_a_value_the_service_does_not_take_is_refused_and_nothing_is_stored(running, raw):
    connection, asker = raw
    refused = _refusal(asker, PUT, "app", "admin+game", "k", msgpack.packb("x" * 30_000), None)
    assert refused.code == "size"
    assert connection.connected
    _still_served(running)


def test_a_message_that_is_no_request_is_refused(running, raw):
    connection, asker = raw
    connection.send(VALUE, 1, b"", "")
    _refusal(asker, GET, "app", "admin+game", "", None)  # the round trip after it
    assert connection.connected


def test_too_many_invalid_requests_close_only_that_connection(running, raw):
    connection, asker = raw
    requests = [asker.ask(GET, "app", 1, "k", None) for _ in range(MAX_INVALID_REQUESTS)]
    for request in requests:
        with contextlib.suppress(RequestError):  # refused, then aborted: both expected
            request.wait(5)
    for _ in range(200):
        if not connection.connected:
            break
        asker.connection.parent.update(5)
    assert not connection.connected
    assert "invalid" in connection.close_reason
    _still_served(running)


def test_garbage_bytes_close_only_that_connection(running):
    host, port = running.server.address
    with socket.create_connection((host, port), timeout=5) as garbage:
        garbage.sendall(b"\xff" * 64 + b"GET / HTTP/1.1\r\n\r\n" * 10)
        garbage.settimeout(5)
        try:
            while garbage.recv(4096):
                pass
        except OSError:
            pass
    _still_served(running)


def test_a_flood_of_pipelined_requests_is_refused_as_busy(running, raw):
    connection, asker = raw
    requests = [
        asker.ask(GET, "app", "admin+game", "k", None) for _ in range(MAX_PENDING_REQUESTS + 20)
    ]
    codes = []
    for request in requests:
        try:
            request.wait(5)
            codes.append("answered")
        except RequestRefused as refused:
            codes.append(refused.code)
    assert codes.count("answered") >= MAX_PENDING_REQUESTS
    assert BUSY in codes
    assert connection.connected
    _still_served(running)


def test_watches_are_bounded_per_connection(running, raw):
    connection, asker = raw
    for index in range(4):
        asker.ask(WATCH, "app", "admin+game", f"k{index}").wait(5)
    refused = _refusal(asker, WATCH, "app", "admin+game", "k4")
    assert refused.code == "quota" and "watch" in refused.reason
    asker.ask(WATCH, "app", "admin+game", "k0").wait(5)  # watching one again costs nothing
    assert connection.connected


def test_failed_logins_are_slowed_down_then_refused(running, clock):
    with DistributedState(running.address) as state:
        for attempt in range(MAX_FAILED_LOGINS):
            request = state.login_nowait("admin@example.com", "wrong-password")
            for _ in range(20):  # the refusal is held back until the clock passes the delay
                state.poll(2)
            assert not request.done, attempt
            clock.now += LOGIN_DELAY
            with pytest.raises(LoginError, match="wrong email or password"):
                request.wait(5)
        with pytest.raises(LoginError, match="too many failed logins"):
            state.login("admin@example.com", "admin-password")  # even the right password
        clock.now += 61
        state.login("admin@example.com", "admin-password")
        assert state.user == "admin@example.com"


def test_a_held_login_keeps_later_requests_in_order(running, clock):
    with DistributedState(running.address) as state:
        login = state.login_nowait("admin@example.com", "wrong-password")
        version = state.version_nowait()
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            state.poll(5)
        assert not login.done and not version.done
        clock.now += LOGIN_DELAY
        version.wait(5)
        assert login.done and isinstance(login.error, LoginError)


def test_failed_logins_to_one_account_leave_the_others_open(running, clock):
    with DistributedState(running.address) as state:
        state.create_account("tom@example.com", "tom-password")
        for _ in range(MAX_FAILED_LOGINS):
            request = state.login_nowait("admin@example.com", "wrong-password")
            for _ in range(2000):  # the server's clock moves on until the refusal is out
                if request.done:
                    break
                clock.now += LOGIN_DELAY / 4
                state.poll(2)
            assert isinstance(request.error, LoginError)
        with pytest.raises(LoginError, match="too many"):
            state.login("admin@example.com", "admin-password")
        state.login("tom@example.com", "tom-password")
        assert state.user == "tom@example.com"


def test_watches_stop_telling_what_the_watcher_may_no_longer_read(running):
    with DistributedState(running.address) as admin, DistributedState(running.address) as spy:
        admin.login("admin@example.com", "admin-password")
        admin.new_app("admin+club", readmode=AUTHORIZED_ONLY, writemode=ADMIN_ONLY)
        spy.create_account("spy@example.com", "spy-password")
        spy.login("spy@example.com", "spy-password")
        admin.authorize("spy@example.com")
        spy.join("admin+club")
        heard = []
        spy.watch("plan", lambda key, value, digest: heard.append(value))
        admin["plan"] = "public plan"
        admin.version()
        for _ in range(100):
            spy.poll(2)
        admin.unauthorize("spy@example.com")
        admin["plan"] = "secret plan"
        admin.version()
        for _ in range(100):
            spy.poll(2)
        assert heard == ["public plan"]
        with pytest.raises(PermissionError):
            spy["plan"]


def test_a_watch_of_a_deleted_app_can_be_given_up(running):
    with DistributedState(running.address) as admin, DistributedState(running.address) as state:
        admin.login("admin@example.com", "admin-password")
        admin.new_app("admin+brief")
        state.join("admin+brief")
        for index in range(4):
            state.watch(f"k{index}")
        admin.delete_app()
        state.unwatch("k0")  # no AppIdError: the watch goes
        admin.new_app("admin+brief")
        state.join("admin+brief")
        state.watch("again")  # the deleted app's watches no longer count
        assert len(running.server.watches._watchers) == 1


def test_account_making_is_bounded_per_address(running):
    from pygnetic.state import QuotaError
    from pygnetic.state._server import MAX_NEW_ACCOUNTS_PER_ADDRESS

    with DistributedState(running.address) as state:
        # The admin account of the fixture was one already.
        for index in range(MAX_NEW_ACCOUNTS_PER_ADDRESS - 1):
            state.create_account(f"p{index}@example.com", "password")
        with pytest.raises(QuotaError, match="too many accounts"):
            state.create_account("one-more@example.com", "password")
        state.login("p0@example.com", "password")  # logins are not affected


def test_a_password_over_the_limit_is_refused_without_scrypt_reading_it(running, raw, clock):
    connection, asker = raw
    from pygnetic.state._protocol import CREATE_ACCOUNT

    refused = _refusal(asker, CREATE_ACCOUNT, "long@example.com", "x" * 5000)
    assert refused.code == INVALID and "password" in refused.reason
    login = asker.ask(LOGIN, "admin@example.com", "x" * 5000)
    for _ in range(2000):  # a failed login: its refusal comes after the delay
        if login.done:
            break
        clock.now += LOGIN_DELAY / 4
        connection.parent.update(2)
    assert isinstance(login.error, RequestRefused) and login.error.code == "login"
    assert connection.connected


def test_space_and_key_quotas_hold_against_a_client(tmp_path):
    from pygnetic.state import QuotaError

    store = SQLiteStore(tmp_path / "quota.db")
    limits = StateLimits(max_variables=3, max_spaces_per_owner=2)
    with ServerThread(store, limits=limits) as running, DistributedState(running.address) as state:
        state.create_account("greedy@example.com", "password")
        state.login("greedy@example.com", "password")
        state.new_app("greedy+1")
        state.new_app("greedy+2")
        with pytest.raises(QuotaError):
            state.new_app("greedy+3")
        for index in range(3):
            state[f"k{index}"] = index
        with pytest.raises(QuotaError):
            state["k3"] = 3
        state["k0"] = "replacing a key costs nothing"
    store.close()


def test_one_update_serves_requests_for_serve_ms_at_most(tmp_path):
    """Three logins (a scrypt each, tens of ms) against serve_ms=1: one per update()."""
    from pygnetic.state import StateServer

    store = SQLiteStore(tmp_path / "budget.db")
    server = StateServer(store, port=0, serve_ms=1)
    address = "{}:{}".format(*server.address)
    clients = [DistributedState(address, blocking=False) for _ in range(3)]
    try:
        made = clients[0].create_account_nowait("a@example.com", "password")
        for _ in range(500):
            clients[0].poll(0)
            server.update(2)
            if made.done:
                break
        logins = [c.login_nowait("a@example.com", "password") for c in clients]
        for client in clients:
            client.poll(0)
        for _ in range(100):  # until all three requests are queued at the server
            server.update(2)
            if sum(len(h.jobs) for h in _handlers(server)) == 2:
                break
        for client in clients:
            client.poll(0)
        assert sum(login.done for login in logins) == 1
        for _ in range(500):
            for client in clients:
                client.poll(0)
            server.update(2)
            if all(login.done for login in logins):
                break
        assert all(login.error is None for login in logins)
    finally:
        for client in clients:
            client.close()
        server.close()
        store.close()


def _handlers(server):
    return [handler for c in server.connections() for handler in c.handlers()
            if hasattr(handler, "jobs")]  # fmt: skip
