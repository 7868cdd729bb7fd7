"""Raw TCP (selectors) + msgpack doing pygnetic's per-message work by hand (see :mod:`.hand`).

The raw row's sockets, buffered writes and flushes, with a bounded stream
``Unpacker`` per connection, every decoded value checked, built into a
message and given to the connection's handler, and every message sent
through a ``net_<name>(peer, *fields)`` method that checks its size and
appends it to the connection's buffer (flushed once per pump, as the raw
row does). A stream that holds anything but valid messages is closed, as
pygnetic refuses it.
"""

from __future__ import annotations

import socket

import msgpack

from .. import common
from . import hand, raw_tcp
from .hand import CHAT, DECODE_ERRORS, LIMIT, MOVE, PING, PONG, STATE, too_large
from .raw_tcp import RECV_SIZE


class Peer(raw_tcp.Peer):
    __slots__ = ("handler",)

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        # A stream never buffers more than one message of the limit and one read.
        self.unpacker = msgpack.Unpacker(max_buffer_size=LIMIT + RECV_SIZE)
        self.handler = None


class _Checked:
    """Reads that check, build and hand on every message (``receive``: serve or play)."""

    refused = 0

    def read(self, peer: Peer) -> None:
        data = self.received(peer)  # raw_tcp's, mixed in
        if data is None:
            return
        unpacker, handler, receive = peer.unpacker, peer.handler, self.receive
        try:
            unpacker.feed(data)
            for raw in unpacker:
                if not receive(handler, raw, 0):
                    break
            else:
                return
        except DECODE_ERRORS:
            pass
        self.refused += 1
        self.drop(peer)


class Server(_Checked, raw_tcp.Server):
    receive = staticmethod(hand.serve)

    def new_peer(self, sock: socket.socket) -> Peer:
        peer = Peer(sock)
        peer.handler = hand.GameHandler(self, peer)
        return peer

    def net_pong(self, peer: Peer, seq) -> None:
        data = self.pack((PONG, seq))
        if len(data) > LIMIT:
            raise too_large("pong", len(data))
        peer.out += data
        self.dirty.add(peer)

    def broadcast_state(self, values) -> None:
        """The state, packed once, to every connection: as ``Server.broadcast`` sends it."""
        data = self.pack((STATE, *values))
        if len(data) > LIMIT:
            raise too_large("state", len(data))
        dirty = self.dirty
        for peer in self.peers:
            peer.out += data
            dirty.add(peer)


class Client(_Checked, raw_tcp.Client):
    receive = staticmethod(hand.play)

    def new_peer(self, sock: socket.socket) -> Peer:
        peer = Peer(sock)
        peer.handler = hand.PlayerHandler(self)
        return peer

    def net_chat_msg(self, peer: Peer, player, msg) -> None:
        data = self.pack((CHAT, player, msg))
        if len(data) > LIMIT:
            raise too_large("chat_msg", len(data))
        peer.out += data
        self.dirty.add(peer)

    def net_ping(self, peer: Peer, seq) -> None:
        data = self.pack((PING, seq))
        if len(data) > LIMIT:
            raise too_large("ping", len(data))
        peer.out += data
        self.dirty.add(peer)

    def net_move(self, peer: Peer, dx, dy) -> None:
        data = self.pack((MOVE, dx, dy))
        if len(data) > LIMIT:
            raise too_large("move", len(data))
        peer.out += data
        self.dirty.add(peer)

    def send_chats(self, n: int) -> None:
        send, peer = self.net_chat_msg, self.first
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send(peer, player, msg)

    def send_ping(self, seq: int) -> None:
        self.net_ping(self.first, seq)

    def send_moves(self) -> None:
        connecting = self.connecting
        for peer in self.peers:
            if peer not in connecting:
                self.net_move(peer, 1, -1)
