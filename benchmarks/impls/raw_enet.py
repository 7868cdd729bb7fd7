"""Raw pyenet + msgpack: what a competent programmer writes without a library.

One reused msgpack Packer, messages as ``[type_id, *fields]`` arrays, decode
every packet and dispatch on its type id; game state goes out with one
``host.broadcast`` of a packet packed once.
"""

from __future__ import annotations

import enet
import msgpack

from .. import common

RELIABLE = enet.PACKET_FLAG_RELIABLE
SEQUENCED = 0  # unreliable sequenced
RECEIVE = enet.EVENT_TYPE_RECEIVE
CONNECT = enet.EVENT_TYPE_CONNECT
DISCONNECT = enet.EVENT_TYPE_DISCONNECT
NONE = enet.EVENT_TYPE_NONE
CHAT, PING, PONG, STATE, MOVE = common.CHAT, common.PING, common.PONG, common.STATE, common.MOVE


class Server:
    def __init__(self, max_clients: int) -> None:
        self.host = enet.Host(
            enet.Address(b"127.0.0.1", 0), max_clients + 8, common.CHANNELS, 0, 0
        )
        self.port = self.host.address.port
        self.peers = set()
        self.chats = self.moves = 0
        self.pack = msgpack.Packer().pack

    @property
    def clients(self) -> int:
        return len(self.peers)

    def pump(self, timeout_ms: int) -> None:
        host = self.host
        unpackb = msgpack.unpackb
        event = host.service(timeout_ms)
        while event.type != NONE:
            if event.type == RECEIVE:
                message = unpackb(event.packet.data)
                kind = message[0]
                if kind == CHAT:
                    self.chats += 1
                elif kind == PING:
                    event.peer.send(0, enet.Packet(self.pack((PONG, message[1])), RELIABLE))
                elif kind == MOVE:
                    self.moves += 1
            elif event.type == CONNECT:
                self.peers.add(event.peer)
            elif event.type == DISCONNECT:
                self.peers.discard(event.peer)
            event = host.service(0)
        host.flush()

    def broadcast_state(self, values) -> None:
        packet = enet.Packet(self.pack((STATE, *values)), SEQUENCED)
        self.host.broadcast(common.STATE_CHANNEL, packet)

    def close(self) -> None:
        for peer in self.peers:
            peer.disconnect_now(0)
        self.host.flush()


class Client:
    def __init__(self, port: int | None, count: int) -> None:
        self.host = enet.Host(None, count, common.CHANNELS, 0, 0)
        self.count = count
        self.peers = []
        self.connected = 0
        self.pongs = self.states = 0
        self.last_pong = -1
        self.pack = msgpack.Packer().pack
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        address = enet.Address(b"127.0.0.1", port)
        self.peers += [self.host.connect(address, common.CHANNELS, 0) for _ in range(self.count)]

    def pump(self, timeout_ms: int) -> None:
        host = self.host
        unpackb = msgpack.unpackb
        event = host.service(timeout_ms)
        while event.type != NONE:
            if event.type == RECEIVE:
                message = unpackb(event.packet.data)
                kind = message[0]
                if kind == STATE:
                    self.states += 1
                elif kind == PONG:
                    self.pongs += 1
                    self.last_pong = message[1]
            elif event.type == CONNECT:
                self.connected += 1
            elif event.type == DISCONNECT:
                self.connected -= 1
            event = host.service(0)
        host.flush()

    def send_chats(self, n: int) -> None:
        send = self.peers[0].send
        player, msg = common.CHAT_ARGS
        pack = self.pack
        Packet = enet.Packet
        for _ in range(n):
            send(0, Packet(pack((CHAT, player, msg)), RELIABLE))

    def send_ping(self, seq: int) -> None:
        self.peers[0].send(0, enet.Packet(self.pack((PING, seq)), RELIABLE))

    def send_moves(self) -> None:
        pack = self.pack
        for peer in self.peers:
            peer.send(0, enet.Packet(pack((MOVE, 1, -1)), RELIABLE))

    def wire(self):
        return common.enet_wire(self.host)

    def close(self) -> None:
        for peer in self.peers:
            peer.disconnect_now(0)
        self.host.flush()
