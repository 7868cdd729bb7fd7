"""Receive budgets spread a burst over updates, in order; rate limits close a flooding client."""

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.limits import RateLimit, ReceiveBudget
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, Recorder


@pytest.fixture(params=["packets", "stream"])
def network(request):
    return MemoryNetwork(stream=request.param == "stream", chunk=64)


@pytest.fixture
def factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


class World:
    """A memory server with one client; the server's options are the test's."""

    def __init__(self, network, factory, **server_options):
        self.clock = ManualClock()
        self.server = pygnetic.Server(
            handler=Recorder,
            message_factory=factory,
            adapter="memory",
            network=network,
            clock=self.clock,
            **server_options,
        )
        self.client = pygnetic.Client(
            message_factory=factory, adapter="memory", network=network, clock=self.clock
        )
        self.connection = self.client.connect("memory", self.server.address[1])
        for _ in range(4):
            self.server.update()
            self.client.update()
        assert self.connection.connected
        (self.remote,) = self.server.handlers()

    def texts(self):
        return [message.msg for message in self.remote.received]


def test_a_burst_is_spread_over_updates_in_order(network, factory):
    world = World(network, factory, receive_budget=ReceiveBudget(max_messages=100))
    for number in range(250):
        world.connection.net_chat_msg("Tom", str(number))
    world.client.update()
    delivered = []
    for _ in range(4):
        world.server.update()
        delivered.append(len(world.remote.received))
    assert delivered == [100, 200, 250, 250]
    assert world.texts() == [str(number) for number in range(250)]
    assert world.remote.connection.connected


def test_the_byte_budget_counts_too(network, factory):
    world = World(network, factory, receive_budget=ReceiveBudget(max_bytes=2000))
    for number in range(40):
        world.connection.net_chat_msg("Tom", f"{number:03}" + "x" * 97)  # 108 bytes each
    world.client.update()
    world.server.update()
    first = len(world.remote.received)
    assert 10 <= first <= 20  # about 2000 bytes' worth, whatever the chunking
    for _ in range(5):
        world.server.update()
    assert world.texts() == [f"{number:03}" + "x" * 97 for number in range(40)]


def test_a_message_larger_than_the_byte_budget_still_arrives(network, factory):
    world = World(network, factory, receive_budget=ReceiveBudget(max_bytes=100))
    world.connection.net_chat_msg("Tom", "x" * 5000)
    world.client.update()
    for _ in range(100):  # a stream of 64-byte slices takes an update per slice or two
        world.server.update()
    assert world.texts() == ["x" * 5000]


def test_what_waits_beyond_the_bound_closes_a_peer_that_cannot_be_paused(network, factory):
    world = World(network, factory, receive_budget=ReceiveBudget(max_messages=10))
    for number in range(1000):  # 640 may wait: 64 budgets' worth of packets
        world.connection.net_chat_msg("Tom", str(number))
    world.client.update()
    world.server.update()
    connection = world.remote.connection
    assert connection.close_code is CloseCode.RATE_LIMITED
    assert "waiting (receive_budget)" in connection.close_reason
    world.client.update()
    assert world.connection.close_code is CloseCode.RATE_LIMITED  # the client read why


def test_a_client_over_the_rate_limit_is_closed(network, factory):
    world = World(network, factory, rate_limit=RateLimit(messages_per_second=100, burst_seconds=1))
    for _second in range(3):
        for number in range(150):  # 150 a second against 100 allowed
            world.connection.net_chat_msg("Tom", str(number))
        world.client.update()
        world.clock.now += 1.0
        world.server.update()
    connection = world.remote.connection
    assert connection.close_code is CloseCode.RATE_LIMITED
    assert connection.close_reason == "sent faster than 100 messages per second (rate_limit)"


def test_a_client_within_the_rate_limit_keeps_its_connection(network, factory):
    world = World(network, factory, rate_limit=RateLimit(messages_per_second=100, burst_seconds=1))
    for _second in range(10):
        for number in range(90):
            world.connection.net_chat_msg("Tom", str(number))
        world.client.update()
        world.clock.now += 1.0
        world.server.update()
    assert world.remote.connection.connected
    assert len(world.remote.received) == 900


def test_the_limits_check_their_values():
    with pytest.raises(ValueError, match=r"ReceiveBudget\.max_messages must be a number > 0"):
        ReceiveBudget(max_messages=0)
    with pytest.raises(ValueError, match=r"RateLimit\.burst_seconds must be a number > 0"):
        RateLimit(burst_seconds=-1)


def test_the_rate_meter_allows_a_burst_then_the_rate():
    from pygnetic.limits import RateMeter

    meter = RateMeter(RateLimit(messages_per_second=10, bytes_per_second=1000, burst_seconds=2), 0)
    assert meter.over(0.5, 20, 100) is None  # the whole burst at once
    assert meter.over(1.5, 30, 200) is None  # then the rate: 10 more in a second
    assert meter.over(1.6, 40, 300) == "sent faster than 10 messages per second (rate_limit)"
    bytes_meter = RateMeter(RateLimit(bytes_per_second=1000, burst_seconds=1), 0)
    assert bytes_meter.over(1, 1, 1000) is None
    assert bytes_meter.over(1.5, 2, 2000) == "sent faster than 1000 bytes per second (rate_limit)"
