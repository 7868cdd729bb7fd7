"""Hosts under the network simulator, over the in-memory transport and a manual clock."""

import itertools
import logging

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.simulate import Conditions
from pygnetic.testing import ManualClock, Recorder

STEP = 0.005  # seconds of the manual clock per update


def messages():
    factory = MessageFactory()
    chat = factory.register("chat", ("n",))
    position = factory.register("position", ("n",), delivery="unreliable_sequenced", channel=1)
    event = factory.register("event", ("n",), delivery="unreliable", channel=2)
    return factory, chat, position, event


class World:
    """A memory server and one client, both on one manual clock."""

    def __init__(self, client_simulate=None, server_simulate=False, **network_options):
        self.clock = ManualClock()
        self.network = MemoryNetwork(**network_options)
        self.factory, *_ = messages()
        self.recorder = Recorder()
        self.server = pygnetic.Server(
            adapter="memory", network=self.network, message_factory=self.factory,
            clock=self.clock, handler=lambda: self.recorder, simulate=server_simulate,
        )  # fmt: skip
        self.client = pygnetic.Client(
            adapter="memory", network=self.network, message_factory=self.factory,
            clock=self.clock, simulate=client_simulate,
        )  # fmt: skip
        self.connection = self.client.connect("memory", self.server.address[1])
        self.run(until=lambda: self.connection.connected)

    def settle(self):
        """Let everything in flight arrive: the simulator's hold, then the server's read."""
        self.step(1)
        self.step()

    def step(self, seconds=STEP):
        self.clock.now += seconds
        self.server.update()
        self.client.update()

    def run(self, until, limit=60.0):
        deadline = self.clock.now + limit
        while not until():
            assert self.clock.now < deadline, "the condition never held"
            self.step()

    def send_each_step(self, name, count):
        """Send messages ``name`` numbered 0 .. count - 1, one per step; return what arrived."""
        send = getattr(self.connection, f"net_{name}")
        for n in range(count):
            send(n)
            self.step()
        self.settle()
        return self.received(name)

    def received(self, name):
        return [message.n for message in self.recorder.received if type(message).__name__ == name]

    def close(self):
        self.client.close()
        self.server.close()


@pytest.fixture
def world_factory():
    worlds = []

    def make(*args, **kwargs):
        worlds.append(World(*args, **kwargs))
        return worlds[-1]

    yield make
    for world in worlds:
        world.close()


def test_a_message_arrives_after_the_latency_and_not_before(world_factory):
    world = world_factory("latency=100ms")
    world.connection.net_chat(1)
    world.step(0)  # it leaves the connection, into the simulator
    sent_at = world.clock.now
    world.run(until=lambda: world.received("chat"))
    # Not before; after, within the step the server takes to read it and a rounding step.
    assert 0.1 <= world.clock.now - sent_at <= 0.1 + 2 * STEP + 1e-9


def test_reliable_messages_survive_loss_complete_once_and_in_order(world_factory):
    world = world_factory("latency=40ms jitter=10ms loss=20% duplicate=5% reorder=5% seed=1")
    for n in range(2000):
        world.connection.net_chat(n)
        if n % 20 == 0:
            world.step()
    world.run(until=lambda: len(world.received("chat")) >= 2000)
    world.step(5)
    assert world.received("chat") == list(range(2000))
    stats = world.client.simulator.stats
    assert stats.retransmitted > 300  # the losses happened, and cost delays instead
    assert stats.dropped == stats.duplicated == stats.reordered == 0


def test_sequenced_messages_are_lost_but_never_arrive_older_than_a_delivered_one(world_factory):
    world = world_factory("latency=30ms jitter=10ms loss=10% duplicate=5% reorder=10% seed=2")
    arrived = world.send_each_step("position", 3000)
    assert all(a < b for a, b in itertools.pairwise(arrived))
    stats = world.client.simulator.stats
    assert stats.dropped > 0 and stats.reordered > 0 and stats.stale > 0
    # The other packets are reliable: these counts are all the positions'.
    assert len(arrived) == 3000 - stats.dropped - stats.stale


def test_unreliable_messages_may_arrive_out_of_order_but_never_twice(world_factory):
    world = world_factory("latency=30ms loss=10% duplicate=10% reorder=10% seed=3")
    arrived = world.send_each_step("event", 2000)
    stats = world.client.simulator.stats
    # A duplicate is dropped as ENet drops one: the game never sees it.
    assert stats.duplicated > 100
    assert len(arrived) == len(set(arrived)) == 2000 - stats.dropped
    assert arrived != sorted(arrived)


def test_statistics_over_many_packets_match_what_was_configured(world_factory):
    world = world_factory("latency=50ms jitter=10ms loss=5% duplicate=2% reorder=3% seed=4")
    before = world.client.simulator.stats.sent  # the handshake's packets
    total = 10_000
    for n in range(total):
        world.connection.net_event(n)
        if n % 10 == 0:
            world.step()
    world.settle()
    simulator = world.client.simulator
    stats = simulator.stats
    sent = stats.sent - before
    assert sent >= total  # plus any pings
    assert stats.dropped / sent == pytest.approx(0.05, abs=0.01)
    kept = sent - stats.dropped
    assert stats.duplicated / kept == pytest.approx(0.02, abs=0.006)
    assert stats.reordered / kept == pytest.approx(0.03, abs=0.007)
    assert 0.04 <= stats.mean_delay <= 0.06 + 0.05
    in_flight = len(simulator.take_all())  # a ping sent at the very end, say
    assert stats.delivered + in_flight == stats.sent - stats.dropped


def test_the_round_trip_time_shows_both_sides_simulated_delays(world_factory):
    world = world_factory("latency=80ms", server_simulate="latency=40ms", keepalive=True)
    world.run(until=lambda: world.connection.round_trip_time is not None)
    # ENet-like links measure their own round trip; simulated ones ping through the simulator.
    assert world.connection.round_trip_time == pytest.approx(120, abs=3 * STEP * 1000)


def test_a_silent_peer_is_closed_within_the_timeout(world_factory):
    world = world_factory("latency=50ms", keepalive=True)
    link = world.network.listeners[world.server.address[1]].links[0]
    world.network.sever(link)
    silenced = world.clock.now
    world.run(until=lambda: not world.connection.connected)
    assert world.connection.close_code is CloseCode.TIMEOUT
    assert world.client.timeout <= world.clock.now - silenced <= world.client.timeout + 3


def test_what_was_sent_before_a_close_still_arrives_then_the_goodbye(world_factory):
    world = world_factory("latency=200ms")
    for n in range(5):
        world.connection.net_chat(n)
    world.connection.disconnect("bye")
    world.run(until=lambda: world.recorder.disconnects)
    assert world.received("chat") == list(range(5))
    assert world.recorder.connection.close_reason == "bye"


def test_closing_the_host_hands_on_everything_at_once(world_factory):
    world = world_factory("latency=2s")  # within the handshake timeout
    world.connection.net_chat(7)
    world.client.update()
    world.client.close()
    for _ in range(5):
        world.clock.now += STEP
        world.server.update()
    assert world.received("chat") == [7]
    assert world.recorder.disconnects == 1


def test_conditions_may_change_while_the_game_runs(world_factory):
    world = world_factory("latency=300ms")
    world.client.simulator.conditions = Conditions(latency=0.01)
    world.connection.net_chat(1)
    world.step(0)
    sent_at = world.clock.now
    world.run(until=lambda: world.received("chat"))
    assert world.clock.now - sent_at <= 0.01 + STEP


def test_the_environment_variable_turns_it_on_for_every_host_and_says_so(
    monkeypatch, caplog, world_factory
):
    monkeypatch.setenv("PYGNETIC_SIMULATE", "latency=150ms loss=5%")
    with caplog.at_level(logging.WARNING, logger="pygnetic"):
        world = world_factory(server_simulate=None)
    assert world.client.simulator.conditions == Conditions(latency=0.15, loss=0.05)
    assert world.server.simulator.conditions == world.client.simulator.conditions
    lines = [r.getMessage() for r in caplog.records if "simulator ON" in r.getMessage()]
    assert len(lines) == 2
    assert "PYGNETIC_SIMULATE" in lines[0] and "latency=150ms loss=5%" in lines[0]
    assert "turn it off before you ship" in lines[0]


def test_simulate_false_wins_over_the_environment(monkeypatch, world_factory):
    monkeypatch.setenv("PYGNETIC_SIMULATE", "latency=150ms")
    world = world_factory(False, server_simulate=False)
    assert world.client.simulator is None and world.server.simulator is None


def test_a_bad_environment_variable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PYGNETIC_SIMULATE", "latency=150")
    with pytest.raises(ValueError, match="PYGNETIC_SIMULATE: latency='150': give a time"):
        pygnetic.Client(adapter="memory", network=MemoryNetwork())


def test_simulate_takes_conditions_or_text(world_factory):
    with pytest.raises(TypeError, match="simulate takes Conditions, text such as"):
        pygnetic.Client(adapter="memory", network=MemoryNetwork(), simulate=True)
    quiet = pygnetic.Client(adapter="memory", network=MemoryNetwork(), simulate="latency=0ms")
    assert quiet.simulator is None  # nothing to simulate: nothing wraps the transport
    quiet.close()
    world = world_factory(Conditions(latency=0.02, seed=9))
    assert world.client.simulator.conditions.seed == 9
