"""The hand-written floors of the benchmarks refuse what pygnetic refuses.

``benchmarks.impls.hand`` checks each decoded value as pygnetic's receive
path does (a list, a known int type id, the type's field count) and builds a
namedtuple for the handler; ``hand_tcp`` closes a stream that holds anything
else, and both sides check what they send against the same size limit.
"""

import socket
import time

import msgpack
import pytest

from benchmarks import common
from benchmarks.impls import hand, hand_tcp


class _Recorder:
    def __init__(self):
        self.got = []

    def __getattr__(self, name):
        if not name.startswith("net_"):
            raise AttributeError(name)
        return lambda message, **kwargs: self.got.append((name, message, kwargs))


def test_a_valid_message_reaches_its_handler_method_as_a_namedtuple():
    handler = _Recorder()
    assert hand.serve(handler, [common.CHAT, "Tom", "hi"], 0)
    assert hand.serve(handler, [common.PING, 7], 1)
    [(name, chat, kwargs), (_, ping, ping_kwargs)] = handler.got
    assert (name, chat.player, chat.msg, kwargs) == ("net_chat_msg", "Tom", "hi", {"channel": 0})
    assert type(chat) is hand.ChatMsg and ping.seq == 7 and ping_kwargs == {"channel": 1}
    player = _Recorder()
    assert hand.play(player, [common.STATE, *common.state_values(3)], 1)
    assert player.got[0][1] == hand.State(*common.state_values(3))


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"0": 1},
        (common.CHAT, "Tom", "hi"),  # msgpack decodes arrays to lists only
        [common.CHAT, "Tom"],
        [common.CHAT, "Tom", "hi", "extra"],
        [True, 7],  # a bool is no type id, although True == 1
        [1.0, 7],
        ["ping", 7],
        [99, 7],
    ],
)
def test_anything_else_is_refused(raw):
    handler = _Recorder()
    assert not hand.serve(handler, raw, 0)
    assert not hand.play(handler, raw, 0)
    assert handler.got == []


def test_a_valid_message_with_no_method_on_that_side_is_ignored():
    assert hand.serve(_Recorder(), [common.PONG, 1], 0)
    assert hand.play(_Recorder(), [common.CHAT, "Tom", "hi"], 0)


def test_a_send_over_the_limit_raises_before_queueing(monkeypatch):
    client = hand_tcp.Client(None, 1)
    peer = hand_tcp.Peer(socket.socket())
    try:
        monkeypatch.setattr(hand_tcp, "LIMIT", 20)
        client.net_chat_msg(peer, "Tom", "x" * 10)
        with pytest.raises(hand.MessageTooLarge, match="chat_msg packs to 23 bytes"):
            client.net_chat_msg(peer, "Tom", "x" * 16)
        assert len(peer.out) == 17
    finally:
        peer.sock.close()
        client.close()


def _until(condition, *pumps, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        for pump in pumps:
            pump(5)
    return condition()


@pytest.mark.parametrize(
    "data",
    [msgpack.packb([common.CHAT, "Tom"]), b"\xc1", msgpack.packb({"type": 0})],
    ids=["wrong field count", "undecodable", "not an array"],
)
def test_the_tcp_floor_closes_a_stream_of_anything_else(data):
    server = hand_tcp.Server(1)
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        assert _until(lambda: server.clients == 1, server.pump)
        sock.sendall(msgpack.packb([common.CHAT, "Tom", "hi"]) + data)
        assert _until(lambda: server.refused == 1, server.pump)
        assert server.chats == 1 and server.clients == 0
    finally:
        sock.close()
        server.close()


@pytest.mark.enet
def test_the_enet_floor_disconnects_a_peer_that_sends_anything_else():
    enet = pytest.importorskip("enet")
    from benchmarks.impls import hand_enet

    server = hand_enet.Server(1)
    client = enet.Host(None, 1, common.CHANNELS, 0, 0)
    peer = client.connect(enet.Address(b"127.0.0.1", server.port), common.CHANNELS, 0)

    try:
        assert _until(lambda: server.clients == 1, client.service, server.pump)
        for data in (msgpack.packb([common.CHAT, "Tom", "hi"]), msgpack.packb([common.PING])):
            peer.send(0, enet.Packet(data, enet.PACKET_FLAG_RELIABLE))
        client.flush()
        assert _until(lambda: server.refused == 1, client.service, server.pump)
        assert server.chats == 1
        assert _until(lambda: server.clients == 0, client.service, server.pump)
    finally:
        peer.reset()
        client.flush()
        server.close()
