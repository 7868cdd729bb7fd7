"""One peer flooding a real server cannot starve, stall or disconnect the others."""

import time

import pytest
from raw_peers import RawEnetPeer, RawTcpPeer, enet
from worlds import GoodClientWorld

from pygnetic.limits import RateLimit
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, pump


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


class World(GoodClientWorld):
    """A server that echoes, one good client, and a fake clock that the server's updates move."""

    def __init__(self, adapter):
        self.clock = ManualClock()
        super().__init__(adapter, _factory(), conn_limit=4, clock=self.clock)
        self.longest_update = 0.0
        self.most_per_update = 0

    def update_server(self, attacker_handler=None):
        before = len(attacker_handler.received) if attacker_handler is not None else 0
        started = time.perf_counter()
        self.server.update(1)
        self.longest_update = max(self.longest_update, time.perf_counter() - started)
        self.clock.now += 0.01
        if attacker_handler is not None:
            delivered = len(attacker_handler.received) - before
            self.most_per_update = max(self.most_per_update, delivered)

    def echo_rounds(self, text, attacker_handler=None):
        """Updates of both hosts until the good client hears ``text`` back."""
        before = len(self.recorder.received)
        self.good.net_chat_msg("good", text)
        for rounds in range(1, 200):
            self.client.update(1)
            self.update_server(attacker_handler)
            if len(self.recorder.received) > before:
                return rounds
        raise AssertionError("no echo within 200 rounds")


def _attacker_handler(world, before):
    (handler,) = [h for h in world.server.handlers() if h not in before]
    return handler


def test_a_tcp_flood_is_spread_over_updates_and_rate_limited():
    world = World("socket")
    try:
        before = world.server.handlers()
        attacker = RawTcpPeer(world.port, world.factory, pump=world.update_server)
        assert pump(world.server, until=lambda: len(world.server.handlers()) == 2)
        victim = _attacker_handler(world, before)
        message = world.factory.pack(world.factory.get_by_name("chat_msg")("evil", "flood"))
        flood = message * 200_000  # 3.8 MB of valid messages, each echoed back
        rounds = []

        def between_sends():
            world.update_server(victim)
            if len(rounds) < 20 and victim.connection.connected:
                rounds.append(world.echo_rounds(f"ping {len(rounds)}", victim))

        attacker.send(flood, pump=between_sends)
        for _ in range(1000):  # the kernel took the rest: the server reads it at its pace
            if not victim.connection.connected:
                break
            between_sends()
        assert victim.connection.close_code is CloseCode.RATE_LIMITED
        assert "(rate_limit)" in victim.connection.close_reason
        assert world.most_per_update <= 1000  # the receive budget
        assert rounds and max(rounds) <= 4  # the good client is answered at once throughout
        attacker.close()
        assert world.good.connected
        assert world.echo_rounds("after") <= 4
    finally:
        world.close()


@pytest.mark.skipif(enet is None, reason="no pyenet")
@pytest.mark.parametrize("flag", ["unsequenced", "reliable"])
def test_an_enet_flood_closes_the_flooder_and_no_one_else(flag):
    world = World("enet")
    try:
        before = world.server.handlers()
        attacker = RawEnetPeer(world.port, world.factory)
        for _ in range(200):
            attacker.service(0.005)
            world.update_server()
            if attacker.answer is not None:
                break
        assert attacker.answer.code == 0
        victim = _attacker_handler(world, before)
        message = world.factory.pack(world.factory.get_by_name("chat_msg")("evil", "flood"))
        flags = (
            enet.PACKET_FLAG_UNSEQUENCED if flag == "unsequenced" else enet.PACKET_FLAG_RELIABLE
        )
        rounds = []
        started = world.clock.now
        for burst in range(200):
            for _ in range(250):
                attacker.peer.send(0, enet.Packet(message, flags))
            attacker.host.flush()
            attacker.service(0)
            world.update_server(victim)
            if burst % 10 == 0 and victim.connection.connected:
                rounds.append(world.echo_rounds(f"ping {burst}", victim))
            if not victim.connection.connected:
                break
        if flag == "unsequenced":
            assert victim.connection.close_code is CloseCode.RATE_LIMITED
        else:  # the flooder's own ENet holds back what its window cannot take
            elapsed = world.clock.now - started
            assert victim.connection.close_code is CloseCode.RATE_LIMITED or (
                len(victim.received) / elapsed <= RateLimit().messages_per_second
            )
        assert world.most_per_update <= 1000
        assert world.longest_update < 0.5
        assert rounds and max(rounds) <= 10
        assert world.good.connected
        assert world.echo_rounds("after") <= 10
    finally:
        world.close()
