"""A gamestate server's clients may send anything: one bad event costs only its sender."""

import logging

import pytest

import pygnetic
from pygnetic import gamestate
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.gamestate import Backend, GameState
from pygnetic.gamestate._events import EVENT, MESSAGES
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, pump


def _backend(network, clock, **server_handlers):
    backend = Backend(
        GameState(foo=0.0, bar=0.5),
        lambda game_state, dt: {"foo": game_state.foo + dt},
        {"SET_BAR": lambda new_bar, game_state, dt: {"bar": new_bar}},
        adapter="memory",
        network=network,
        clock=clock,
    )
    for event_type, handler in server_handlers.items():
        backend.server.register_event_handler(event_type, handler)
    backend.start("memory", 0, interval=0.01)
    return backend


def _raw_client(network, backend):
    """A client speaking the gamestate messages by hand, as a hostile one would."""
    client = pygnetic.Client(message_factory=MESSAGES, adapter="memory", network=network)
    connection = client.connect("memory", backend.server.port)
    return client, connection


def _run(clock, backend, *clients, rounds=20):
    for _ in range(rounds):
        clock.now += 0.01
        backend.update(0)
        for client in clients:
            client.update(0)


@pytest.mark.parametrize(
    "kwargs", [{"evil": 1}, {}], ids=["an unexpected keyword", "a missing argument"]
)
def test_an_event_that_does_not_fit_a_server_handler_closes_only_its_sender(kwargs, caplog):
    network, clock = MemoryNetwork(), ManualClock()
    backend = _backend(network, clock, SET_BAR=lambda new_bar: None)
    try:
        hostile, bad = _raw_client(network, backend)
        honest, good = _raw_client(network, backend)
        _run(clock, backend, hostile, honest)
        assert bad.connected and good.connected
        with caplog.at_level(logging.WARNING, logger="pygnetic"):
            bad.send(EVENT, 0, "SET_BAR", [], kwargs)
            _run(clock, backend, hostile, honest)
        assert bad.close_code is CloseCode.PROTOCOL_ERROR
        assert "do not fit the handler" in bad.close_reason
        assert good.connected and backend.server.host is not None
        before = backend.game_state_store.get_game_state().foo
        _run(clock, backend, honest)
        assert backend.game_state_store.get_game_state().foo > before  # the game goes on
    finally:
        backend.shutdown()


def test_an_event_that_does_not_fit_the_game_loops_handler_is_dropped_and_logged(caplog):
    network, clock = MemoryNetwork(), ManualClock()
    backend = _backend(network, clock)  # no server handler: only the game loop's
    try:
        hostile, bad = _raw_client(network, backend)
        _run(clock, backend, hostile)
        with caplog.at_level(logging.WARNING, logger="pygnetic.gamestate"):
            bad.send(EVENT, 0, "SET_BAR", [], {})
            bad.send(EVENT, 0, "SET_BAR", [2.0], {})
            _run(clock, backend, hostile)
        assert "event dropped" in caplog.text
        state = backend.game_state_store.get_game_state()
        assert state.bar == 2.0 and not state.is_paused()  # the next event still counted
    finally:
        backend.shutdown()


def test_a_client_used_again_takes_the_next_servers_world_not_the_last_ones():
    network = MemoryNetwork()
    client = gamestate.Client(adapter="memory", network=network)

    def serve(state):
        server = gamestate.Server(
            gamestate.GameStateStore(state), adapter="memory", network=network
        )
        server.start(0, "memory")
        return server

    first = serve(GameState(time_order=500, who="A"))
    client.start(first.port, "memory")
    assert pump(first, client, until=lambda: getattr(_state(client), "who", None) == "A")
    client.disconnect()
    first.shutdown()
    second = serve(GameState(time_order=0, who="B"))
    try:
        client.start(second.port, "memory")
        assert pump(second, client, until=lambda: getattr(_state(client), "who", None) == "B")
    finally:
        client.disconnect()
        second.shutdown()


def _state(client):
    with client.access_game_state() as game_state:
        return game_state


def test_a_client_flooding_events_gets_only_its_share_of_the_queue(caplog):
    from pygnetic.gamestate._store import MAX_QUEUED_EVENTS

    network, clock = MemoryNetwork(), ManualClock()
    backend = _backend(network, clock)
    machine = backend.game_state_machine
    try:
        hostile, flood = _raw_client(network, backend)
        honest, good = _raw_client(network, backend)
        _run(clock, backend, hostile, honest)
        for value in range(MAX_QUEUED_EVENTS + 100):
            flood.send(EVENT, 0, "SET_BAR", [float(value)], {})
        good.send(EVENT, 0, "SET_BAR", [-1.0], {})
        hostile.update(0)
        honest.update(0)
        with caplog.at_level(logging.WARNING, logger="pygnetic.gamestate"):
            backend.server.update(0)  # received and queued; no game step yet
        assert len(machine._event_queue) == MAX_QUEUED_EVENTS + 1  # the honest one is in
        assert "dropped" in caplog.text
        _run(clock, backend, hostile, honest, rounds=40)
        assert not machine._event_queue and not machine._queued_from
    finally:
        backend.shutdown()


def test_callbacks_for_events_a_peer_never_acknowledges_stay_bounded():
    from pygnetic.gamestate._events import MAX_PENDING_ACKS

    network, clock = MemoryNetwork(), ManualClock()
    backend = _backend(network, clock)
    try:
        silent, _ = _raw_client(network, backend)  # speaks the messages, acknowledges nothing
        _run(clock, backend, silent)
        (address,) = backend.server.connections
        for number in range(MAX_PENDING_ACKS + 50):
            backend.server.dispatch_event("PING", number, ack_callback=lambda view: None)
        (link,) = backend.server._links.values()
        assert len(link._callbacks) == MAX_PENDING_ACKS
        _run(clock, backend, silent)
        assert backend.server.host is not None and address in backend.server.connections
    finally:
        backend.shutdown()
