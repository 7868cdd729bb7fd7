"""pygnetic.gamestate, PyGaSe's API, over real ENet and TCP on 127.0.0.1.

The seed's documentation, method by method (what the data model's unit test,
tests/unit/test_gamestate_model.py, does not cover), and the seed's two
example programs. Servers and clients run PyGaSe's way, each in a thread,
and the pygame way, ``start()`` then ``update()`` in one loop.
"""

import contextlib
import importlib.util
import logging
import struct
import threading
import time

import pytest

import pygnetic
import pygnetic.event as event
from pygnetic import gamestate
from pygnetic.gamestate import (
    TO_DELETE,
    Backend,
    Client,
    ClientView,
    GameState,
    GameStateMachine,
    GameStateStore,
    GameStateUpdate,
    GameStatus,
    Server,
)
from pygnetic.gamestate._events import Event
from pygnetic.simulate import Conditions
from pygnetic.testing import ManualClock, UdpProxy, pump

HAVE_ENET = importlib.util.find_spec("enet") is not None
ENET = [pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet (pygnetic[enet])")]
ADAPTERS = [pytest.param("enet", marks=ENET), "socket"]
WAIT = 5.0  # seconds any wait for the network may take, at most


def eventually(condition, timeout=WAIT):
    """Poll ``condition`` while other threads work; whether it came true in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


@pytest.fixture
def cleanup():
    """Say what to close or stop; it is done after the test, last first, whatever happened."""
    with contextlib.ExitStack() as stack:
        yield stack.callback


def joined(thread):
    thread.join(WAIT)
    assert not thread.is_alive(), thread


def leave(clients, *pumped):
    """Disconnect ``clients``, each in a thread, while the main thread pumps ``pumped``.

    A peer that nobody pumps cannot take a goodbye: closing a client while
    its server (and the proxy between them) stand still waits out the linger.
    """
    threads = [threading.Thread(target=client.disconnect) for client in clients]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for host in pumped:
            host.update(1)
    for thread in threads:
        joined(thread)


def state_of(client):
    """A copy of the client's game state's attributes, read under its lock."""
    with client.access_game_state() as game_state:
        return dict(vars(game_state))


# -- GameStateStore ----------------------------------------------------------------


def test_the_store_holds_one_state_that_newer_updates_change_in_place():
    initial = GameState(foo=1, players={"ann": 1})
    store = GameStateStore(initial)
    state = store.get_game_state()
    assert state is initial
    store.push_update(GameStateUpdate(1, foo=2, players={"bob": 2}))
    assert (state.foo, state.players, state.time_order) == (2, {"ann": 1, "bob": 2}, 1)
    store.push_update(GameStateUpdate(1, foo=99))  # not newer: cached, not applied
    assert state.foo == 2
    store.push_update(GameStateUpdate(3, players={"ann": TO_DELETE}, bar=TO_DELETE))
    assert state.players == {"bob": 2} and not hasattr(state, "bar")
    assert state.time_order == 3
    cache = store.get_update_cache()
    assert [u.time_order for u in cache] == [0, 1, 1, 3]
    assert cache[2].foo == 99
    cache.clear()  # a copy: the store's cache is its own
    assert len(store.get_update_cache()) == 4


def test_the_state_shares_no_list_or_dict_with_a_cached_update():
    store = GameStateStore(GameState(items=[0]))
    store.push_update(GameStateUpdate(1, items=[1], nested={"list": [5]}))
    state = store.get_game_state()
    state.items.append(2)
    state.nested["list"].append(6)
    cached = store.get_update_cache()[-1]
    assert (cached.items, cached.nested) == ([1], {"list": [5]})


def test_the_update_cache_keeps_the_latest_100_updates_and_a_default_state_is_paused():
    store = GameStateStore()
    assert store.get_game_state().is_paused() and store.get_game_state().time_order == 0
    for time_order in range(1, 151):
        store.push_update(GameStateUpdate(time_order, n=time_order))
    cache = store.get_update_cache()
    assert [u.time_order for u in cache] == list(range(51, 151))
    assert store.get_game_state().n == 150


# -- GameStateMachine --------------------------------------------------------------


class Mover(GameStateMachine):
    def time_step(self, game_state, dt):
        return {"x": game_state.x + game_state.v * dt}


def test_time_steps_come_every_interval_of_the_injected_clock_and_apply_events():
    clock = ManualClock()
    store = GameStateStore(GameState(x=0.0, v=1.0))
    machine = Mover(store, clock=clock)
    seen = []

    def set_v(v, game_state, dt, client_address):
        seen.append((v, game_state.x, dt, client_address))
        return {"v": v}

    machine.register_event_handler("SET_V", set_v)
    machine.start(interval=0.5)
    state = store.get_game_state()
    assert state.game_status == GameStatus.get("Active")
    assert machine.update() is False  # not due yet
    clock.now += 0.5
    assert machine.update() is True
    assert (state.x, machine.game_time) == (0.5, 0.5)
    sent = Event("SET_V", 3.0)
    sent.client_address = ("10.0.0.1", 5)
    machine._push_event(sent)  # what a Server's event wire calls
    clock.now += 2.0  # a stall: one step of the whole time
    assert machine.update() is True
    assert seen == [(3.0, 0.5, 2.0, ("10.0.0.1", 5))]
    assert (state.x, state.v, machine.game_time) == (2.5, 3.0, 2.5)  # time step, then event
    assert machine.update() is False
    assert machine.stop() is True
    assert state.is_paused()
    clock.now += 10
    assert machine.update() is False and machine.game_time == 2.5


def test_the_updates_of_events_in_one_step_merge_key_by_key():
    store = GameStateStore(GameState(players={"cid": 0}, ticks=0))
    machine = GameStateMachine(store, clock=ManualClock())
    machine.time_step = lambda game_state, dt: {"ticks": game_state.ticks + 1}
    machine.register_event_handler("JOIN", lambda name, **_: {"players": {name: 1}})
    machine.register_event_handler("LEAVE", lambda name, **_: {"players": {name: TO_DELETE}})
    for event_type, name in [("JOIN", "ann"), ("JOIN", "bob"), ("LEAVE", "cid")]:
        machine._push_event(Event(event_type, name))
    machine.step(0.02)
    state = store.get_game_state()
    assert (state.players, state.ticks, state.time_order) == ({"ann": 1, "bob": 1}, 1, 1)


def test_a_time_step_is_assigned_or_overridden():
    store = GameStateStore(GameState(n=0))
    machine = GameStateMachine(store, clock=ManualClock())
    with pytest.raises(NotImplementedError, match="time_step"):
        machine.step(0.1)
    machine.time_step = lambda game_state, dt: {"n": game_state.n + 1}
    machine.step(0.1)
    assert store.get_game_state().n == 1


def test_run_game_loop_in_thread_runs_until_stop_and_resumes_where_it_stopped():
    store = GameStateStore(GameState(steps=0))
    machine = GameStateMachine(store)
    machine.time_step = lambda game_state, dt: {"steps": game_state.steps + 1}
    thread = machine.run_game_loop_in_thread(interval=0.005)
    assert isinstance(thread, threading.Thread) and thread.daemon
    assert eventually(lambda: store.get_game_state().steps >= 5)
    assert store.get_game_state().game_status == GameStatus.get("Active")
    assert machine.stop() is True
    joined(thread)
    state = store.get_game_state()
    assert state.game_status == GameStatus.get("Paused")
    steps, game_time = state.steps, machine.game_time
    assert game_time >= 5 * 0.005
    time.sleep(0.03)
    assert (state.steps, machine.game_time) == (steps, game_time)
    thread = machine.run_game_loop_in_thread(interval=0.005)
    assert eventually(lambda: state.steps >= steps + 3)
    assert machine.game_time > game_time
    assert machine.stop() is True
    joined(thread)


def test_stop_says_when_the_game_loop_did_not_stop_in_time():
    store = GameStateStore(GameState(steps=0))
    machine = GameStateMachine(store)
    busy = threading.Event()

    def slow_step(game_state, dt):
        busy.set()
        time.sleep(0.3)
        return {"steps": game_state.steps + 1}

    machine.time_step = slow_step
    thread = machine.run_game_loop_in_thread(interval=0.005)
    assert busy.wait(WAIT)
    assert machine.stop(timeout=0.05) is False  # still in its time step
    assert machine.stop(timeout=WAIT) is True
    joined(thread)
    assert store.get_game_state().is_paused()


# -- the seed's example programs -----------------------------------------------------

# The seed's Backend example, with 'foo' and 'bar' quoted (the seed's bare
# names are a typo, a NameError in PyGaSe too) and port 0 (tests use no fixed
# port). `Backend` is pygnetic's, with the test's adapter (see below).
BACKEND_EXAMPLE = """
# Run a game loop that continuously increments `foo` with velocity `bar`.
Backend(
    initial_gamestate=GameState(foo=0.0, bar=0.5),
    time_step_function=lambda game_state, dt: {'foo': game_state.foo + game_state.bar*dt},
    # Handle client events to reset `foo` and set a new `bar` value.
    event_handlers={
        "RESET_FOO": lambda game_state, dt: {'foo': 0.0},
        "SET_BAR": lambda new_bar, game_state, dt: {'bar': new_bar}
    }
).run(hostname="localhost", port=0)
"""

# The seed's Client example; the port is the one the backend got.
CLIENT_EXAMPLE = """
# Connect a client to the server from the Backend code example
client = Client()
client.connect_in_thread(hostname="localhost", port={port})
# Increase `bar` five times, then reset `foo`
for i in range(5):
    client.dispatch_event("SET_BAR", new_bar=i)
    sleep(1)
client.dispatch_event("RESET_FOO")
"""


def example_names(adapter, backends):
    """The names the examples import from pygase and from time.

    The names are pygnetic.gamestate's own, with the adapter under test
    passed on (a program would leave the default). ``sleep`` sleeps a
    twentieth of the time asked, so that the client example's five seconds
    take a quarter of one; every ``Backend`` made is kept for the test.
    """

    def make_backend(*args, **kwargs):
        backends.append(gamestate.Backend(*args, adapter=adapter, **kwargs))
        return backends[-1]

    return {
        "Backend": make_backend,
        "GameState": gamestate.GameState,
        "Client": lambda: gamestate.Client(adapter=adapter),
        "sleep": lambda seconds: time.sleep(seconds / 20),
    }


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_seed_examples_run_in_threads_the_pygase_way(adapter, cleanup):
    backends = []
    names = example_names(adapter, backends)
    serving = threading.Thread(target=exec, args=(BACKEND_EXAMPLE, names), daemon=True)
    serving.start()
    assert eventually(lambda: backends and backends[0].server.port is not None)
    backend = backends[0]
    cleanup(backend.shutdown)
    received = []
    backend.server.register_event_handler("SET_BAR", lambda new_bar: received.append(new_bar))
    backend.server.register_event_handler("RESET_FOO", lambda: received.append("reset"))

    exec(CLIENT_EXAMPLE.format(port=backend.server.port), names)

    client = names["client"]
    cleanup(client.disconnect)
    client.wait_until(lambda game_state: getattr(game_state, "bar", None) == 4, timeout=WAIT)
    assert eventually(lambda: received == [0, 1, 2, 3, 4, "reset"])
    # foo was reset: a time step's update carries foo=0.0, where it restarted from.
    assert eventually(
        lambda: any(
            getattr(u, "foo", None) == 0.0 for u in backend.game_state_store.get_update_cache()
        )
    )
    store_state = backend.game_state_store.get_game_state()
    assert store_state.game_status == GameStatus.get("Active")
    # The client sees the server's state as it moves on.
    with backend.game_state_store.lock:
        now = store_state.time_order
    client.wait_until(lambda game_state: game_state.time_order > now, timeout=WAIT)
    # The host client (the only one) shuts the whole backend down.
    client.disconnect(shutdown_server=True)
    joined(serving)
    assert backend.server.port is None
    assert store_state.is_paused()  # Backend.run stopped the game loop too


# -- Server and Client, PyGaSe's way: each in a thread --------------------------------


@contextlib.contextmanager
def served(adapter, state, **handlers):
    """A gamestate Server in a thread, and a game loop moving ``state``: ``(server, machine)``."""
    store = GameStateStore(state)
    machine = GameStateMachine(store)
    machine.time_step = lambda game_state, dt: {"ticks": game_state.ticks + 1}
    for event_type, handler in handlers.items():
        machine.register_event_handler(event_type, handler)
    server = Server(store, adapter=adapter)
    looping = machine.run_game_loop_in_thread(interval=0.01)
    serving = server.run_in_thread(port=0, hostname="localhost", event_wire=machine)
    try:
        yield server, machine
    finally:
        machine.stop()
        server.shutdown()
        joined(serving)
        joined(looping)


def connected(adapter, server, cleanup):
    """A client connected in a thread, once its connection is open."""
    client = Client(adapter=adapter)
    thread = client.connect_in_thread(server.port, "localhost")
    cleanup(joined, thread)
    cleanup(client.disconnect)
    assert eventually(lambda: client.connection.connected)
    return client


def chase_join(player_name, game_state, dt):
    """PyGaSe's chase example: players in a dict by int id, positions as tuples."""
    player_id = max(game_state.players.keys()) + 1 if game_state.players else 1
    return {"players": {player_id: {"name": player_name, "position": (0, 0)}}}


def chase_move(player_id, new_position, game_state, dt):
    return {"players": {player_id: {"position": new_position}}}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_pygase_chase_example_pattern_runs_int_ids_tuples_and_keyword_event_types(
    adapter, cleanup
):
    # As PyGaSe's chase example: the state's players dict is keyed by int ids,
    # positions are tuples (lists on the client, as msgpack carries them), and
    # the client names the event type by keyword.
    state = GameState(players={}, ticks=0)
    with served(adapter, state, JOIN=chase_join, MOVE=chase_move) as (server, _):
        client = connected(adapter, server, cleanup)
        # One JOIN per time step: handlers of one step all see the state before it.
        client.dispatch_event("JOIN", "Tom")
        assert client.try_to(lambda gs: gs.players[1]["name"], timeout=WAIT) == "Tom"
        client.dispatch_event("JOIN", "Ann")
        assert client.try_to(lambda gs: gs.players[2]["name"], timeout=WAIT) == "Ann"
        client.dispatch_event(event_type="MOVE", player_id=2, new_position=(30, 40))
        client.wait_until(lambda gs: gs.players[2]["position"] == [30, 40], timeout=WAIT)
        with client.access_game_state() as game_state:
            assert game_state.players[1] == {"name": "Tom", "position": [0, 0]}
            assert game_state.players[2]["name"] == "Ann"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_in_a_thread_knows_its_address_its_clients_and_its_host_client(adapter, cleanup):
    with served(adapter, GameState(ticks=0)) as (server, _):
        assert server.hostname == "localhost"
        assert isinstance(server.port, int) and server.port > 0
        first = connected(adapter, server, cleanup)
        assert eventually(lambda: len(server.connections) == 1)
        [host_address] = server.connections
        assert server.host_client == host_address
        second = connected(adapter, server, cleanup)
        assert eventually(lambda: len(server.connections) == 2)
        for address, view in server.connections.items():
            assert isinstance(view, ClientView) and view.remote_address == address
            assert view.quality == "good" and view.latency >= 0.0
        assert server.host_client == host_address  # the first stays the host
        # Both see the server's state, and it moves on.
        for client in (first, second):
            client.wait_until(lambda game_state: getattr(game_state, "ticks", 0) >= 5, WAIT)
        second.disconnect()
        assert eventually(lambda: len(server.connections) == 1)
        assert list(server.connections) == [host_address]
    assert server.hostname is None and server.port is None


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_two_clients_converge_and_a_late_joiner_gets_everything(adapter, cleanup):
    def join(name, game_state, dt):
        return {"players": {name: {"score": 0}}}

    def score(name, points, game_state, dt):
        return {"players": {name: {"score": points}}}

    def leave(name, game_state, dt):
        return {"players": {name: TO_DELETE}}

    state = GameState(ticks=0, players={})
    players = {"ann": {"score": 0}, "bob": {"score": 10}}
    with served(adapter, state, JOIN=join, SCORE=score, LEAVE=leave) as (server, machine):
        first, second = connected(adapter, server, cleanup), connected(adapter, server, cleanup)
        for name in ("ann", "bob", "cid"):
            first.dispatch_event("JOIN", name)
        first.try_to(lambda game_state: game_state.players["cid"], timeout=WAIT)
        for points in range(1, 11):
            second.dispatch_event("SCORE", "bob", points)
        first.dispatch_event("LEAVE", "cid")
        for client in (first, second):
            client.wait_until(
                lambda game_state: getattr(game_state, "players", None) == players, WAIT
            )
        late = connected(adapter, server, cleanup)
        late.try_to(lambda game_state: game_state.players == players or None, timeout=WAIT)
        assert state_of(late)["game_status"] == GameStatus.get("Active")
        # Stopped, the state stands still; every client ends up with exactly it.
        assert machine.stop() is True
        final = dict(vars(state))
        assert final["ticks"] > 10 and final["game_status"] == GameStatus.get("Paused")
        for client in (first, second, late):
            assert eventually(lambda client=client: state_of(client) == final), client


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_events_go_to_one_client_or_all_and_each_acknowledgement_comes_back(adapter, cleanup):
    with served(adapter, GameState(ticks=0)) as (server, _):
        clients = [connected(adapter, server, cleanup) for _ in range(2)]
        assert eventually(lambda: len(server.connections) == 2)
        got = {0: [], 1: []}
        for number, client in enumerate(clients):
            client.register_event_handler(
                "NEWS", lambda *args, number=number, **kwargs: got[number].append((args, kwargs))
            )
        # Which server-side address is which client: ask each to say hello.
        hello = {}
        server.register_event_handler(
            "HELLO", lambda number, client_address: hello.setdefault(number, client_address)
        )
        acked = []
        for number, client in enumerate(clients):
            client.dispatch_event("HELLO", number, ack_callback=lambda n=number: acked.append(n))
        assert eventually(lambda: sorted(acked) == [0, 1])
        assert set(hello.values()) == set(server.connections)
        views = []
        server.dispatch_event(
            "NEWS", "for one", target_client=hello[1], ack_callback=views.append, extra=1
        )
        server.dispatch_event("NEWS", "for all", ack_callback=views.append)
        assert eventually(lambda: len(got[0]) == 1 and len(got[1]) == 2)
        assert got[0] == [(("for all",), {})]
        assert got[1] == [(("for one",), {"extra": 1}), (("for all",), {})]
        assert eventually(lambda: len(views) == 3)
        assert all(view in server.connections.values() for view in views)
        counts = {
            address: [v.remote_address for v in views].count(address) for address in hello.values()
        }
        assert counts == {hello[0]: 1, hello[1]: 2}  # once per client per event
        # A client that is not there is refused in the caller; the server serves on.
        with pytest.raises(KeyError, match="no client"):
            server.dispatch_event("NEWS", target_client=("192.0.2.1", 9))
        with pytest.raises(TypeError):
            server.dispatch_event("NEWS", target_client="bob")
        server.dispatch_event("NEWS", "still here", target_client=hello[0])
        assert eventually(lambda: len(got[0]) == 2)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_only_the_host_client_shuts_the_server_down(adapter, cleanup, caplog):
    with served(adapter, GameState(ticks=0)) as (server, _):
        host = connected(adapter, server, cleanup)
        assert eventually(lambda: server.host_client is not None)
        guest = connected(adapter, server, cleanup)
        assert eventually(lambda: len(server.connections) == 2)
        with caplog.at_level(logging.WARNING, logger="pygnetic.gamestate"):
            guest.disconnect(shutdown_server=True)
            assert eventually(lambda: len(server.connections) == 1)
        [refused] = [r for r in caplog.records if "shut the server down" in r.getMessage()]
        assert "not the host client" in refused.getMessage()  # it asked, and was refused
        assert server.port is not None
        host.wait_until(lambda game_state: getattr(game_state, "ticks", 0) > 0, timeout=WAIT)
        host.disconnect(shutdown_server=True)
        assert eventually(lambda: server.port is None)


class TickingClock:
    """Each reading is ``step`` seconds after the last one: timeouts pass without waiting."""

    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_wait_until_and_try_to_raise_timeout_error_by_the_clock():
    client = Client(clock=TickingClock(0.25))
    with pytest.raises(TimeoutError, match=r"timeout of 1\.0 s"):
        client.wait_until(lambda game_state: game_state.game_status == 7, timeout=1.0)
    with pytest.raises(TimeoutError, match="timeout of 2"):
        client.try_to(lambda game_state: game_state.never_there, timeout=2)
    with pytest.raises(TimeoutError):
        client.try_to(lambda game_state: {}["missing"], timeout=1)
    with client.access_game_state() as game_state:
        assert game_state.time_order == 0 and game_state.is_paused()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_try_to_waits_for_attributes_and_keys_that_do_not_exist_yet(adapter, cleanup):
    def add(game_state, dt):
        return {"later": {"value": 42}}

    with served(adapter, GameState(ticks=0, later={}), ADD=add) as (server, _):
        client = connected(adapter, server, cleanup)
        failures = []

        def value(game_state):
            try:
                return game_state.later["value"]
            except (AttributeError, KeyError) as exc:
                failures.append(type(exc))
                raise

        timer = threading.Timer(0.1, client.dispatch_event, ("ADD",))
        timer.start()
        cleanup(timer.cancel)
        assert client.try_to(value, timeout=WAIT) == 42
        assert KeyError in failures  # the state was there, the key not yet


# -- the non-blocking way: start(), then update() in one loop --------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_backend_and_clients_in_one_loop(adapter, cleanup):
    backend = Backend(
        GameState(foo=0.0, bar=0.5),
        lambda game_state, dt: {"foo": game_state.foo + game_state.bar * dt},
        {"SET_BAR": lambda new_bar, game_state, dt: {"bar": new_bar}},
        adapter=adapter,
    )
    backend.start("localhost", 0, interval=0.01)
    cleanup(backend.shutdown)
    clients = [Client(adapter=adapter) for _ in range(2)]
    for client in clients:
        client.start(backend.server.port)
        cleanup(client.disconnect)
    cleanup(leave, clients, backend)
    acked = []
    clients[0].dispatch_event("SET_BAR", new_bar=2.0, ack_callback=lambda: acked.append(1))
    assert pump(
        backend,
        *clients,
        until=lambda: all(state_of(c).get("bar") == 2.0 for c in clients),
        timeout=WAIT,
    )
    assert pump(backend, *clients, until=lambda: acked == [1], timeout=WAIT)
    # wait_until without a thread runs the client's update() itself.
    final = backend.game_state_store.get_game_state()
    clients[0].dispatch_event("SET_BAR", new_bar=3.0)
    assert pump(backend, clients[0], until=lambda: final.bar == 3.0, timeout=WAIT)
    backend.update()  # what the last one queued leaves
    clients[1].wait_until(lambda game_state: game_state.bar == 3.0, timeout=WAIT)
    backend.game_state_machine.stop()
    assert final.is_paused() and final.foo > 0
    assert pump(backend, *clients, until=lambda: all(state_of(c) == vars(final) for c in clients))


@pytest.mark.pygame
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_net_state_is_posted_once_per_update_in_which_state_arrived(
    adapter, pygame_events, cleanup
):
    pygame = pygame_events
    backend = Backend(
        GameState(n=0), lambda game_state, dt: {"n": game_state.n + 1}, adapter=adapter
    )
    backend.start("localhost", 0, interval=0.005)
    cleanup(backend.shutdown)
    client, quiet = Client(adapter=adapter), Client(adapter=adapter, events=False)
    for each in (client, quiet):
        each.start(backend.server.port)
        cleanup(each.disconnect)
    cleanup(leave, [client, quiet], backend)
    updates_with_state = updates_without = 0
    deadline = time.monotonic() + WAIT
    while updates_with_state < 20 or updates_without < 5:
        assert time.monotonic() < deadline, (updates_with_state, updates_without)
        backend.update(1)
        quiet.update()
        with client.access_game_state() as game_state:
            before = game_state.time_order
        client.update(1)
        with client.access_game_state() as game_state:
            after = game_state.time_order
        posted = [
            e
            for e in pygame.event.get()
            if e.type == event.NETWORK and e.net_type == event.NET_STATE
        ]
        assert all(e.source is client for e in posted)  # none from the quiet client
        if after != before:
            updates_with_state += 1
            assert len(posted) == 1
            assert posted[0].time_order == after
        else:
            updates_without += 1
            assert posted == []


# -- through loss, over ENet ---------------------------------------------------------

# ENet's commands (enet/protocol.h): fixed size by number, and where the data length is.
_ENET_SIZES = {1: 8, 2: 48, 3: 44, 4: 8, 5: 4, 6: 6, 7: 8, 8: 24, 9: 8, 10: 12, 11: 16, 12: 24}
_ENET_LENGTH_AT = {6: 4, 7: 6, 8: 6, 9: 6, 12: 6}
_ENET_RELIABLE = {6, 8}  # SEND_RELIABLE, SEND_FRAGMENT (reliable fragments)
_ENET_UNRELIABLE = {7, 12}  # SEND_UNRELIABLE, SEND_UNRELIABLE_FRAGMENT
STATE_CHANNEL = 1  # the Replicator's


def enet_commands(datagram):
    """``(command, channel)`` of each command in an ENet datagram (no checksum, no compression)."""
    (peer,) = struct.unpack_from("!H", datagram)
    at = 4 if peer & 0x8000 else 2  # the sent-time field follows the peer id when flagged
    found = []
    while at < len(datagram):
        number, channel = datagram[at] & 0x0F, datagram[at + 1]
        size = _ENET_SIZES[number]
        if number in _ENET_LENGTH_AT:
            size += struct.unpack_from("!H", datagram, at + _ENET_LENGTH_AT[number])[0]
        found.append((number, channel))
        at += size
    assert at == len(datagram), "not an ENet datagram as this parser knows them"
    return found


class StateWatch:
    """A UdpProxy ``drop``: counts the server's state commands, and drops every ``nth``."""

    def __init__(self, nth=None):
        self.nth = nth
        self.unreliable = self.reliable = self.dropped = 0

    def __call__(self, datagram, upward):
        if upward:
            return False
        commands = [n for n, channel in enet_commands(datagram) if channel == STATE_CHANNEL]
        self.reliable += sum(n in _ENET_RELIABLE for n in commands)
        state = sum(n in _ENET_UNRELIABLE for n in commands)
        self.unreliable += state
        if state and self.nth and self.unreliable % self.nth == 0:
            self.dropped += 1
            return True
        return False


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet (pygnetic[enet])")
@pytest.mark.parametrize("loss", ["random 20%", "every 3rd state"])
def test_clients_converge_through_loss_and_state_is_never_sent_reliably(loss, cleanup):
    def join(name, game_state, dt):
        return {"players": {name: game_state.ticks}}

    backend = Backend(
        GameState(ticks=0, players={}),
        lambda game_state, dt: {"ticks": game_state.ticks + 1},
        {"JOIN": join},
        adapter="enet",
    )
    backend.start("127.0.0.1", 0, interval=0.01)
    cleanup(backend.shutdown)
    watch = StateWatch(nth=3 if loss == "every 3rd state" else None)
    proxy = UdpProxy(("127.0.0.1", backend.server.port), drop=watch)
    cleanup(proxy.close)
    clients = [Client(adapter="enet") for _ in range(2)]
    for client in clients:
        client.start(proxy.address[1], "127.0.0.1")
        cleanup(client.disconnect)
    cleanup(leave, clients, backend, proxy)
    hosts = (backend, proxy, *clients)
    assert pump(*hosts, until=lambda: all(state_of(c)["time_order"] for c in clients))
    if loss == "random 20%":  # from now on: the connections opened on a clean link
        proxy.conditions = Conditions(loss=0.2, seed=20)
    for number, client in enumerate(clients):
        client.dispatch_event("JOIN", f"player {number}")
    started = time.monotonic()
    while time.monotonic() - started < 0.6:  # the state changes every 10 ms meanwhile
        pump(*hosts, timeout=0)
    backend.game_state_machine.stop()
    final = backend.game_state_store.get_game_state()

    def converged():
        return all(state_of(c) == vars(final) for c in clients)

    assert pump(*hosts, until=converged, timeout=WAIT)
    assert set(final.players) == {"player 0", "player 1"} and final.ticks > 30
    pump(*hosts, timeout=0.1)  # the last acknowledgements
    backend.server.host.update(0)  # what the server queued leaves, and meets the proxy
    proxy.update(5)
    lost = proxy.stats.dropped if loss == "random 20%" else watch.dropped
    assert lost > 10, proxy.stats
    # Each state message the server sent crossed the proxy once: nothing resent.
    sent = sum(view.sent for view in backend.server.connections.values())
    assert watch.unreliable == sent > 60
    # And none went reliably on the state channel. (Reliable data elsewhere, a
    # ping in a datagram the proxy dropped with a state, may be resent: that is ENet.)
    assert watch.reliable == 0
    proxy.conditions = Conditions()  # the goodbyes need not wait out the loss


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet (pygnetic[enet])")
def test_a_state_larger_than_a_datagram_is_not_sent_reliably_either(cleanup):
    backend = Backend(
        GameState(ticks=0, map="#" * 3000),
        lambda game_state, dt: {"ticks": game_state.ticks + 1},
        adapter="enet",
    )
    backend.start("127.0.0.1", 0, interval=0.01)
    cleanup(backend.shutdown)
    watch = StateWatch()
    proxy = UdpProxy(("127.0.0.1", backend.server.port), drop=watch)
    cleanup(proxy.close)
    client = Client(adapter="enet")
    client.start(proxy.address[1], "127.0.0.1")
    cleanup(client.disconnect)
    cleanup(leave, [client], backend, proxy)
    assert pump(backend, proxy, client, until=lambda: state_of(client).get("ticks", 0) > 3)
    assert state_of(client)["map"] == "#" * 3000
    assert watch.reliable == 0


@pytest.mark.enet
@pytest.mark.skipif(not HAVE_ENET, reason="no pyenet (pygnetic[enet])")
def test_a_client_without_the_state_channel_is_closed_and_the_server_serves_on(cleanup, caplog):
    server = Server(GameStateStore(GameState(x=1)), adapter="enet")
    serving = server.run_in_thread(0, "127.0.0.1")
    cleanup(joined, serving)
    cleanup(server.shutdown)
    good = connected("enet", server, cleanup)
    good.wait_until(lambda game_state: getattr(game_state, "x", None) == 1, timeout=WAIT)
    # A plain pygnetic client on ENet that asked for one channel: state goes on channel 1.
    few = pygnetic.Client(message_factory=gamestate._events.MESSAGES, adapter="enet", channels=1)
    cleanup(few.close)
    with caplog.at_level(logging.WARNING, logger="pygnetic"):
        connection = few.connect("127.0.0.1", server.port)
        assert pump(few, until=lambda: connection.close_code is not None, timeout=WAIT)
    assert "channel 1 does not exist" in caplog.text
    assert serving.is_alive() and server.host is not None and good.connection.connected
