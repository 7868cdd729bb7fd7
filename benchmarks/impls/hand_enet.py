"""Raw pyenet + msgpack doing pygnetic's per-message work by hand (see :mod:`.hand`).

The raw row's host, connections and close, with every packet checked,
built into a message and given to the connection's handler, and every
message sent through a ``net_<name>(peer, *fields)`` method that checks its
size. A packet that is no valid message disconnects its peer, as pygnetic
refuses it.
"""

from __future__ import annotations

import enet
import msgpack

from .. import common
from . import hand, raw_enet
from .hand import CHAT, DECODE_ERRORS, LIMIT, MOVE, PING, PONG, STATE, too_large
from .raw_enet import CONNECT, DISCONNECT, NONE, RECEIVE, RELIABLE, SEQUENCED

_Packet = enet.Packet


class Server(raw_enet.Server):
    def __init__(self, max_clients: int) -> None:
        super().__init__(max_clients)
        self.handlers: dict[int, hand.GameHandler] = {}  # by the peer's slot in the host
        self.refused = 0

    def pump(self, timeout_ms: int) -> None:
        host = self.host
        handlers = self.handlers
        unpackb = msgpack.unpackb
        serve = hand.serve
        event = host.service(timeout_ms)
        while event.type != NONE:
            kind = event.type
            if kind == RECEIVE:
                peer = event.peer
                handler = handlers.get(peer.incomingPeerID)
                if handler is not None:  # else one refused, still disconnecting
                    data = event.packet.data
                    try:
                        raw = unpackb(data) if len(data) <= LIMIT else None
                    except DECODE_ERRORS:
                        raw = None
                    if not serve(handler, raw, event.channelID):
                        self.refuse(peer)
            elif kind == CONNECT:
                peer = event.peer
                self.peers.add(peer)
                self.handlers[peer.incomingPeerID] = hand.GameHandler(self, peer)
            elif kind == DISCONNECT:
                peer = event.peer
                self.peers.discard(peer)
                self.handlers.pop(peer.incomingPeerID, None)
            event = host.service(0)
        host.flush()

    def refuse(self, peer) -> None:
        self.refused += 1
        self.handlers.pop(peer.incomingPeerID, None)
        peer.disconnect_later(0)

    def net_pong(self, peer, seq) -> None:
        data = self.pack((PONG, seq))
        if len(data) > LIMIT:
            raise too_large("pong", len(data))
        peer.send(0, _Packet(data, RELIABLE))

    def broadcast_state(self, values) -> None:
        """The state, packed once, to every connection: as ``Server.broadcast`` sends it."""
        data = self.pack((STATE, *values))
        if len(data) > LIMIT:
            raise too_large("state", len(data))
        self.host.broadcast(common.STATE_CHANNEL, _Packet(data, SEQUENCED))


class Client(raw_enet.Client):
    def __init__(self, port: int | None, count: int) -> None:
        self.handlers: dict[int, hand.PlayerHandler] = {}
        self.refused = 0
        super().__init__(port, count)

    def pump(self, timeout_ms: int) -> None:
        host = self.host
        handlers = self.handlers
        unpackb = msgpack.unpackb
        play = hand.play
        event = host.service(timeout_ms)
        while event.type != NONE:
            kind = event.type
            if kind == RECEIVE:
                peer = event.peer
                handler = handlers.get(peer.incomingPeerID)
                if handler is not None:
                    data = event.packet.data
                    try:
                        raw = unpackb(data) if len(data) <= LIMIT else None
                    except DECODE_ERRORS:
                        raw = None
                    if not play(handler, raw, event.channelID):
                        self.refused += 1
                        handlers.pop(peer.incomingPeerID, None)
                        peer.disconnect_later(0)
            elif kind == CONNECT:
                self.connected += 1
                handlers[event.peer.incomingPeerID] = hand.PlayerHandler(self)
            elif kind == DISCONNECT:
                self.connected -= 1
                handlers.pop(event.peer.incomingPeerID, None)
            event = host.service(0)
        host.flush()

    def net_chat_msg(self, peer, player, msg) -> None:
        data = self.pack((CHAT, player, msg))
        if len(data) > LIMIT:
            raise too_large("chat_msg", len(data))
        peer.send(0, _Packet(data, RELIABLE))

    def net_ping(self, peer, seq) -> None:
        data = self.pack((PING, seq))
        if len(data) > LIMIT:
            raise too_large("ping", len(data))
        peer.send(0, _Packet(data, RELIABLE))

    def net_move(self, peer, dx, dy) -> None:
        data = self.pack((MOVE, dx, dy))
        if len(data) > LIMIT:
            raise too_large("move", len(data))
        peer.send(0, _Packet(data, RELIABLE))

    def send_chats(self, n: int) -> None:
        send, peer = self.net_chat_msg, self.peers[0]
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send(peer, player, msg)

    def send_ping(self, seq: int) -> None:
        self.net_ping(self.peers[0], seq)

    def send_moves(self) -> None:
        for peer in self.peers:
            self.net_move(peer, 1, -1)
