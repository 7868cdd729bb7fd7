"""Replicator and Replica over the memory transport: real hosts, real connections, no sockets."""

import gc
import logging
import weakref

import pytest

import pygnetic
from pygnetic._delta import DELETE
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.errors import MessageTooLargeError
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode, Delivery
from pygnetic.replication import (
    MIN_THROTTLE,
    Replica,
    Replicator,
    StateTooLargeError,
    register_messages,
)
from pygnetic.testing import ManualClock, Recorder, pump


class World:
    """A memory server, its clients as they join, and what each connection is on the server."""

    def __init__(self, max_message_size=None, clock=None):
        self.network = MemoryNetwork()
        options = {} if max_message_size is None else {"max_message_size": max_message_size}
        self.factory = MessageFactory("msgpack", **options)
        self.messages = register_messages(self.factory)
        self.clock = clock
        self.server = pygnetic.Server(
            handler=Recorder,
            message_factory=self.factory,
            adapter="memory",
            network=self.network,
            conn_limit=8,
            **({} if clock is None else {"clock": clock}),
        )
        self.clients = []

    def join(self):
        """Connect one more client; return its connection and the server's end of it."""
        client = pygnetic.Client(
            message_factory=self.factory, adapter="memory", network=self.network
        )
        self.clients.append(client)
        before = set(self.server.connections())
        connection = client.connect("memory", self.server.address[1])
        assert pump(
            self.server,
            client,
            until=lambda: connection.connected and len(self.server.connections()) > len(before),
        )
        [remote] = set(self.server.connections()) - before
        return connection, remote

    def update(self):
        """One exchange each way: what the server sent arrives, and the answers come back."""
        self.server.update(0)
        for client in self.clients:
            client.update(0)
        self.server.update(0)

    def close(self):
        for client in self.clients:
            client.close()
        self.server.close()


@pytest.fixture
def world():
    made = []

    def make(**options):
        made.append(World(**options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def replicate(world, count, **replicator_options):
    """A replicator on ``world``'s server, and ``count`` clients with replicas."""
    replicator = Replicator(world.messages, **replicator_options)
    replicas = []
    for _ in range(count):
        connection, remote = world.join()
        replica = Replica(world.messages)
        replica.attach(connection)
        replicator.add(remote)
        replicas.append(replica)
    return replicator, replicas


def tick(world, replicator, changes=None):
    if changes is not None:
        replicator.push(changes)
    sent = replicator.send()
    world.update()
    return sent


def test_two_clients_converge_on_every_change(world):
    w = world()
    replicator, replicas = replicate(w, 2, state={"ball": {"x": 0, "y": 0}, "score": [0, 0]})
    steps = [
        {"ball": {"x": 1}},
        {"ball": {"y": 2}, "score": [1, 0]},
        {"ball": "gone"},  # a scalar replaces a dict
        {"ball": {"x": 5}, "paddle": {"left": 3}},  # and a dict replaces it again
        {"paddle": {"left": DELETE}, "score": [1, 1]},
    ]
    for changes in steps:
        tick(w, replicator, changes)
        for replica in replicas:
            assert replica.state == replicator.state
            assert replica.time_order == replicator.time_order
    assert replicator.state == {"ball": {"x": 5}, "score": [1, 1], "paddle": {}}
    assert [view.acked for view in replicator] == [replicator.time_order] * 2
    # Acknowledged clients need nothing more: an idle tick sends nothing.
    assert tick(w, replicator) == 0


def test_only_what_changed_is_sent_after_the_first_state(world):
    w = world()
    updates = []
    replicator, [replica] = replicate(w, 1, state={"big": "x" * 500, "n": 0})
    replica.on_update = lambda replica, *update: updates.append(update)
    tick(w, replicator)
    tick(w, replicator, {"n": 1, "big": "x" * 500})
    assert updates == [([], {"big": "x" * 500, "n": 0}, True), ([], {"n": 1}, False)]


def test_a_late_joiner_gets_the_whole_state_at_once(world):
    w = world()
    replicator, [early] = replicate(w, 1, history=4)
    for number in range(10):
        tick(w, replicator, {f"key{number}": number, "last": number})
    connection, remote = w.join()
    late = Replica(w.messages)
    seen = []
    late.on_update = lambda replica, deletes, sets, whole: seen.append(whole)
    late.attach(connection)
    replicator.add(remote)
    tick(w, replicator)
    assert late.state == replicator.state == early.state
    assert len(late.state) == 11
    assert seen == [True]
    assert late.received == 1


def test_clients_that_acknowledged_the_same_time_order_share_one_packed_message(world):
    w = world()
    replicator, [first, second] = replicate(w, 2, state={"a": 1})
    tick(w, replicator)
    assert replicator.packed == 1  # one whole state for both new clients
    got = []
    for replica in (first, second):
        replica.on_update = lambda replica, *update: got.append(update)
    connection, remote = w.join()
    third = Replica(w.messages)
    third.attach(connection)
    replicator.add(remote)
    ends = [client.connections()[0] for client in w.clients[:2]]
    before = [end.data_received for end in ends]
    assert tick(w, replicator, {"a": 2, "b": {"c": 3}}) == 3
    assert replicator.packed == 2  # the delta since 1, once, and the whole state
    assert got == [([["b"]], {"a": 2, "b": {"c": 3}}, False)] * 2  # "b" is new: deleted, set
    received = [end.data_received - b for end, b in zip(ends, before, strict=True)]
    assert received[0] == received[1] > 0
    assert third.state == first.state == second.state == {"a": 2, "b": {"c": 3}}


def test_clients_too_far_behind_for_a_delta_share_one_whole_state(world):
    w = world()
    replicator, replicas = replicate(w, 3, history=2)
    links = [client.connections()[0]._link for client in w.clients]
    tick(w, replicator, {"t": 1})
    w.network.sever(links[0])  # stays at time order 1
    tick(w, replicator, {"t": 2})
    w.network.sever(links[1])  # stays at 2
    tick(w, replicator, {"t": 3})
    tick(w, replicator, {"t": 4})
    assert [view.acked for view in replicator] == [1, 2, 4]
    assert replicator.log.horizon == 2
    assert tick(w, replicator, {"t": 5}) == 3
    assert replicator.packed == 2  # both below the horizon get the same whole state
    assert replicas[2].state == {"t": 5}


def test_a_state_over_max_message_size_raises_on_the_server_and_sends_nothing(world):
    w = world(max_message_size=128)
    replicator, [replica] = replicate(w, 1, state={"name": "small"})
    tick(w, replicator)
    sent = [view.sent for view in replicator]
    replicator.push({"name": "x" * 200})
    with pytest.raises(StateTooLargeError, match="max_message_size") as raised:
        replicator.send()
    assert isinstance(raised.value, MessageTooLargeError)
    w.update()
    assert [view.sent for view in replicator] == sent
    assert replica.state == {"name": "small"}
    # Kept small again, it flows again.
    replicator.push({"name": "ok"})
    tick(w, replicator)
    assert replica.state == {"name": "ok"}


@pytest.mark.parametrize(
    ("time_order", "base", "deletes", "sets"),
    [
        pytest.param(2, 1, "not a list", {}, id="deletes not a list"),
        pytest.param(2, 1, [], ["not", "a dict"], id="sets not a dict"),
        pytest.param(2, 1, [[]], {}, id="an empty deleted path"),
        pytest.param("2", 1, [], {}, id="time order not an int"),
        pytest.param(2, "1", [], {}, id="base not an int"),
        pytest.param(2, None, [], "whole", id="a whole state not a dict"),
    ],
)
def test_a_malformed_state_closes_only_that_connection_with_a_logged_reason(
    world, caplog, time_order, base, deletes, sets
):
    w = world()
    replica_messages = w.messages
    victims = []
    for _ in range(2):
        connection, remote = w.join()
        replica = Replica(replica_messages)
        replica.attach(connection)
        victims.append((connection, remote, replica))
    state = replica_messages.state
    for _, remote, _ in victims:  # a valid first state, to both
        data, _ = w.factory.encode(state, (0, 1, None, [], {"a": {"b": 1}}))
        remote.send_encoded(data, 1, Delivery.UNRELIABLE_SEQUENCED, None)
    w.update()
    assert all(replica.state == {"a": {"b": 1}} for _, _, replica in victims)
    (hit, hit_remote, hit_replica), (spared, spared_remote, spared_replica) = victims
    data, _ = w.factory.encode(state, (0, time_order, base, deletes, sets))
    with caplog.at_level(logging.WARNING, logger="pygnetic.replication"):
        hit_remote.send_encoded(data, 1, Delivery.UNRELIABLE_SEQUENCED, None)
        pump(w.server, *w.clients, until=lambda: not hit.connected, timeout=2)
    assert not hit.connected
    assert hit.close_code is CloseCode.PROTOCOL_ERROR
    assert spared.connected
    assert any("closing connection" in r.getMessage() for r in caplog.records)
    assert hit_replica.state == {"a": {"b": 1}}  # nothing of it was applied
    pump(w.server, *w.clients, until=lambda: hit_remote.close_code is not None, timeout=2)
    assert hit_remote.close_code is CloseCode.PROTOCOL_ERROR
    assert hit.close_reason == hit_remote.close_reason  # the server is told why
    data, _ = w.factory.encode(state, (0, 2, 1, [], {"a": {"c": 2}}))
    spared_remote.send_encoded(data, 1, Delivery.UNRELIABLE_SEQUENCED, None)
    w.update()
    assert spared_replica.state == {"a": {"b": 1, "c": 2}}


def test_a_deleted_path_that_cannot_be_there_is_ignored_by_the_client(world):
    w = world()
    connection, remote = w.join()
    replica = Replica(w.messages)
    replica.attach(connection)
    state = w.messages.state
    for fields in [(0, 1, None, [], {"a": {"b": 1}}), (0, 2, 1, [[["x"], "b"]], {"c": 1})]:
        data, _ = w.factory.encode(state, fields)
        remote.send_encoded(data, 1, Delivery.UNRELIABLE_SEQUENCED, None)
        w.update()  # raised TypeError out of update() once
    assert replica.state == {"a": {"b": 1}, "c": 1}
    assert connection.connected


def test_a_hostile_acknowledgement_closes_that_client_and_the_others_keep_getting_state(
    world, caplog
):
    w = world()
    replicator, replicas = replicate(w, 3)
    tick(w, replicator, {"a": 1})
    hostile = w.clients[0].connections()[0]
    with caplog.at_level(logging.WARNING, logger="pygnetic.replication"):
        hostile.send(w.messages.ack, 0, "everything", 1, channel=1)
        pump(w.server, *w.clients, until=lambda: not hostile.connected, timeout=2)
    assert hostile.close_code is CloseCode.PROTOCOL_ERROR
    assert "acknowledgement" in hostile.close_reason
    assert any("is not two ints" in r.getMessage() for r in caplog.records)
    tick(w, replicator, {"a": 2})
    assert len(replicator) == 2  # the closed one was dropped by send()
    assert [r.state for r in replicas[1:]] == [{"a": 2}, {"a": 2}]
    assert replicas[0].state == {"a": 1}


def test_an_acknowledgement_of_a_future_time_order_is_capped(world):
    w = world()
    replicator, _ = replicate(w, 1)
    tick(w, replicator, {"a": 1})
    w.clients[0].connections()[0].send(w.messages.ack, 0, 10**9, 10**9, channel=1)
    w.update()
    [view] = replicator
    assert view.acked == replicator.time_order
    assert view.received == view.sent


def test_a_client_that_never_acknowledges_goes_bad_then_good_again_after_the_throttle(world):
    clock = ManualClock()
    w = world(clock=clock)
    replicator, [good] = replicate(w, 1, clock=clock)
    silent_connection, silent_remote = w.join()  # no replica: nothing is acknowledged
    silent = replicator.add(silent_remote)
    [steady] = [view for view in replicator if view is not silent]
    step = 0.05

    def run(ticks):
        """Tick ``ticks`` times; return, per tick, whether the silent client was sent state."""
        sends = []
        for number in range(ticks):
            before = silent.sent
            tick(w, replicator, {"t": clock.now, "n": number})
            sends.append(silent.sent - before)
            clock.now += step
        return sends

    first = run(int(1.5 / step))
    assert silent.quality == "bad" and silent.loss == 1.0
    assert steady.quality == "good" and steady.loss == 0.0
    assert first[:10] == [1] * 10  # every tick while it was good
    assert first[-4:] in ([1, 0, 1, 0], [0, 1, 0, 1])  # every other tick once bad
    assert good.state == replicator.state
    # It starts acknowledging: good again at the next loss measure, every other tick still.
    replica = Replica(w.messages)
    replica.attach(silent_connection)
    became_good = None
    sends = []
    for _ in range(int(4.0 / step)):
        sends += run(1)
        if became_good is None and silent.quality == "good":
            became_good, sends = clock.now, []
        if became_good is not None and sends[-2:] == [1, 1]:
            break
    assert became_good is not None, silent
    assert replica.state == replicator.state
    throttled = len(sends) - 2
    assert throttled * step >= MIN_THROTTLE - step  # not before the throttle time
    assert throttled * step <= MIN_THROTTLE + 3 * step  # and soon after it
    assert set(sends[:throttled]) <= {0, 1} and 0 in sends[:throttled]
    assert run(10) == [1] * 10  # every tick again


def test_closed_connections_are_not_kept_alive_by_replication():
    network = MemoryNetwork()
    factory = MessageFactory("msgpack")
    messages = register_messages(factory)
    server = pygnetic.Server(message_factory=factory, adapter="memory", network=network)
    replicator = Replicator(messages)
    gone = []
    try:
        for _ in range(5):
            client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
            connection = client.connect("memory", server.address[1])
            assert pump(server, client, until=lambda: len(server.connections()) == 1, timeout=2)
            (remote,) = server.connections()
            replicator.add(remote)
            Replica(messages).attach(connection)
            gone += [weakref.ref(remote), weakref.ref(connection)]
            connection.disconnect()
            assert pump(server, client, until=lambda: not server.connections(), timeout=2)
            replicator.send()  # forgets closed clients
            client.close()
            del client, connection, remote
        gc.collect()
        assert len(replicator) == 0
        assert [ref for ref in gone if ref() is not None] == []
    finally:
        server.close()


def test_repeats_of_a_state_that_did_not_move_on_are_no_loss():
    # A round trip longer than a tick: the server resends the same state until
    # the acknowledgement arrives, and the client drops the repeats; none lost.
    clock = ManualClock()
    network = MemoryNetwork()
    factory = MessageFactory("msgpack")
    messages = register_messages(factory)
    options = {"message_factory": factory, "adapter": "memory", "network": network}
    server = pygnetic.Server(clock=clock, simulate="latency=100ms", **options)
    client = pygnetic.Client(clock=clock, simulate="latency=100ms", **options)
    try:
        connection = client.connect("memory", server.address[1])
        for _ in range(200):
            clock.now += 0.01
            server.update(0)
            client.update(0)
            if server.connections():
                break
        (remote,) = server.connections()
        replicator = Replicator(messages, clock=clock)
        view = replicator.add(remote)
        replica = Replica(messages)
        replica.attach(connection)
        for tick in range(300):  # 10 s at 30 Hz; the state changes once a second
            if tick % 30 == 0:
                replicator.push({"score": tick})
            clock.now += 1 / 30
            replicator.send()
            server.update(0)
            client.update(0)
        assert replica.stale > 50  # the repeats came, and were dropped
        assert view.loss < 0.1 and view.quality == "good"
        assert replica.state == {"score": 270}
    finally:
        server.close()
        client.close()
