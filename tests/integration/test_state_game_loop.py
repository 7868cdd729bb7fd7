"""The state service from a game loop: requests completed in poll(), pygame events, watches."""

import socket

import pytest
from state_servers import ServerThread

import pygnetic.event as event
from pygnetic.errors import LocalError
from pygnetic.state import (
    BusyError,
    DistributedState,
    InvalidRequestError,
    NoSuchKeyError,
    SQLiteStore,
    StateTimeoutError,
    StateUnavailableError,
    UnjoinedError,
    hash_value,
)
from pygnetic.state._protocol import MAX_PENDING_REQUESTS


@pytest.fixture
def running(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    with ServerThread(store) as running:
        with DistributedState(running.address) as admin:
            admin.create_account("admin@example.com", "admin-password")
            admin.login("admin@example.com", "admin-password")
            admin.new_app("admin+game")
        yield running
    store.close()


def _loop_until(state, requests, frames=2000):
    for _ in range(frames):
        state.poll(1)
        if all(r.done for r in requests):
            return
    raise AssertionError(f"not done after {frames} frames: {requests}")


def test_nowait_requests_complete_inside_poll_with_callbacks(running):
    state = DistributedState(running.address, blocking=False)
    done = []
    joined = state.join_nowait("admin+game", callback=done.append)
    assert not joined.done
    _loop_until(state, [joined])
    stored = state.set_nowait("best", 4200, callback=done.append)
    read = state.get_nowait("best", callback=done.append)  # answered after the set: in order
    _loop_until(state, [stored, read])
    assert stored.result() == hash_value(4200)
    assert read.result() == 4200
    assert done == [joined, stored, read]
    missing = state.get_nowait("nothing")
    _loop_until(state, [missing])
    assert isinstance(missing.error, NoSuchKeyError)
    with pytest.raises(KeyError):
        missing.result()
    state.close()


def test_a_pending_request_says_so(running):
    with DistributedState(running.address) as state:
        request = state.join_nowait("admin+game")
        with pytest.raises(LocalError):
            request.result()
        assert request.wait(5) is None


def test_unjoined_nowait_fails_at_once(running):
    with DistributedState(running.address) as state:
        request = state.get_nowait("k")
        assert request.done and isinstance(request.error, UnjoinedError)


def test_requests_post_pygame_events(running, pygame_events):
    pygame = pygame_events
    with DistributedState(running.address) as state:
        state.join("admin+game")
        request = state.apply_op_nowait("plays", lambda n: n + 1, True, 0, event=True)
        seen = []
        for _ in range(2000):
            state.poll(1)
            seen += [e for e in pygame.event.get() if e.type == event.NETWORK]
            if seen:
                break
        assert [e.net_type for e in seen] == [event.NET_STATE_REQUEST]
        assert seen[0].request is request and seen[0].source is state
        assert request.result() == 1


def test_watch_tells_of_changes_by_others(running, pygame_events):
    pygame = pygame_events
    with DistributedState(running.address) as watcher, DistributedState(running.address) as writer:
        watcher.join("admin+game")
        writer.join("admin+game")
        writer["motd"] = "hello"
        changes = []
        assert watcher.watch("motd", lambda *change: changes.append(change), event=True) == "hello"
        writer["motd"] = "bye"
        del writer["motd"]
        writer["other"] = 1  # not watched
        for _ in range(2000):
            watcher.poll(1)
            if len(changes) == 2:
                break
        assert changes == [("motd", "bye", hash_value("bye")), ("motd", None, None)]
        events = [e for e in pygame.event.get() if e.type == event.NETWORK]
        assert [(e.net_type, e.key, e.value) for e in events] == [
            (event.NET_STATE_CHANGED, "motd", "bye"),
            (event.NET_STATE_CHANGED, "motd", None),
        ]
        watcher.unwatch("motd")
        writer["motd"] = "again"
        watcher.version()  # a round trip: any change notice would have come before
        assert len(changes) == 2


def test_watch_through_another_server_on_the_same_redis(redis_url):
    from pygnetic.state import RedisStore

    first, second = RedisStore(redis_url), RedisStore(redis_url)
    with (
        ServerThread(first) as one,
        ServerThread(second) as two,
        DistributedState(one.address) as admin,
    ):
        admin.create_account("admin@example.com", "admin-password")
        admin.login("admin@example.com", "admin-password")
        admin.new_app("admin+game")
        changes = []
        admin.watch("motd", lambda *change: changes.append(change))
        with DistributedState(two.address) as writer:
            writer.join("admin+game")
            writer["motd"] = "from the other server"
        for _ in range(5000):
            admin.poll(1)
            if changes:
                break
        assert changes == [("motd", "from the other server", hash_value("from the other server"))]
    first.close()
    second.close()


def test_an_unreachable_service_is_a_clear_error():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(StateUnavailableError, match="cannot reach"):
        DistributedState(f"127.0.0.1:{port}", timeout=5)


def test_a_silent_service_times_out_by_the_injected_clock():
    now = [0.0]

    def clock():
        now[0] += 0.05  # every look at the clock moves it on: no sleeping
        return now[0]

    with socket.socket() as silent:  # accepts TCP, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(StateUnavailableError, match="within 3 s"):
            DistributedState(f"127.0.0.1:{port}", timeout=3, clock=clock)


def test_a_request_times_out_when_the_server_stops_answering(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    running = ServerThread(store)
    now = [0.0]
    state = DistributedState(running.address, timeout=2, clock=lambda: now[0])
    running._stop.set()  # the server stops pumping: nothing answers
    running._thread.join()
    request = state.version_nowait()
    now[0] = 2.5
    state.poll(0)
    assert isinstance(request.error, StateTimeoutError)
    state.close()
    running.server.close()
    store.close()


def test_an_apply_op_function_that_raises_fails_that_call_alone(running):
    with DistributedState(running.address) as state:
        state.join("admin+game")
        state["n"] = 1
        with pytest.raises(ZeroDivisionError):
            state.apply_op("n", lambda n: n / 0)
        assert state.apply_op("n", lambda n: n + 1) == 2


def test_after_the_service_restarts_the_next_call_reconnects_the_session(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    first = ServerThread(store)
    host, port = first.server.address
    state = DistributedState(first.address, timeout=2)
    state.create_account("admin@example.com", "admin-password")
    state.login("admin@example.com", "admin-password")
    state.new_app("admin+game")
    state["motd"] = "before"
    changes = []
    state.watch("motd", lambda *change: changes.append(change))
    first.close()
    store.close()
    failed = 0
    for _ in range(1000):  # calls while the service is down fail, and forget nothing
        try:
            state.version()
        except StateUnavailableError:
            failed += 1
            if failed == 3:
                break
    assert failed == 3 and state.user == "admin@example.com" and state.appid == "admin+game"
    store = SQLiteStore(path)
    # The port the first server had, free again: the client knows only that one.
    with ServerThread(store, host=host, port=port) as second:
        with DistributedState(second.address) as writer:
            writer.join("admin+game")
            writer["motd"] = "while it was away"
        assert state["motd"] == "while it was away"  # joined again
        assert state.reconnects >= 1 and state.admin
        state.authorize("tom@example.com")  # logged in again, as the admin
        # Watching again, and told of the change made while it was away.
        assert changes == [("motd", "while it was away", hash_value("while it was away"))]
        with DistributedState(second.address) as writer:
            writer.join("admin+game")
            writer["motd"] = "after"
        for _ in range(2000):
            state.poll(1)
            if len(changes) == 2:
                break
        assert changes[1] == ("motd", "after", hash_value("after"))
        state.close()
        with pytest.raises(StateUnavailableError, match="closed"):
            state["motd"]
        state.poll()  # after close(): nothing to do, no error
    store.close()


def test_a_request_that_fails_before_sending_is_told_of_in_the_next_poll(running):
    with DistributedState(running.address) as state:
        told = []
        request = state.get_nowait("k", callback=told.append)
        assert request.done and isinstance(request.error, UnjoinedError)
        assert told == []  # not inside get_nowait()
        state.poll()
        assert told == [request]


def test_a_value_that_cannot_travel_is_an_invalid_request(running):
    with DistributedState(running.address) as state:
        state.join("admin+game")
        for value in (object(), 2**70):
            with pytest.raises(InvalidRequestError, match="cannot be sent") as refused:
                state["k"] = value
            assert "request_id" not in str(refused.value)
        with pytest.raises(KeyError):
            state["k"]


def test_too_many_requests_in_flight_are_refused_as_busy(running):
    with DistributedState(running.address) as state:
        state.join("admin+game")
        requests = [state.set_nowait(f"k{i}", i) for i in range(MAX_PENDING_REQUESTS + 40)]
        _loop_until(state, requests)
        errors = {type(r.error) for r in requests if r.error is not None}
        assert errors == {BusyError}
        assert sum(r.error is None for r in requests) >= MAX_PENDING_REQUESTS
