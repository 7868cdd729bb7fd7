"""Raw non-blocking TCP (selectors) + msgpack: the by-hand baseline for TCP.

Messages are msgpack arrays ``[type_id, *fields]`` back to back on the stream
(msgpack is self-delimiting), read with one streaming ``msgpack.Unpacker`` per
connection and dispatched on the type id. Writes are buffered per connection
and flushed once per pump; game state is packed once and appended to every
client's buffer.
"""

from __future__ import annotations

import selectors
import socket

import msgpack

from .. import common

CHAT, PING, PONG, STATE, MOVE = common.CHAT, common.PING, common.PONG, common.STATE, common.MOVE
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
RECV_SIZE = 65536


class Peer:
    __slots__ = ("out", "sock", "unpacker", "writing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unpacker = msgpack.Unpacker()
        self.out = bytearray()
        self.writing = False


class _Endpoint:
    """What server and client share: a selector, buffered writes, reads."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.peers: list[Peer] = []
        self.dirty: set[Peer] = set()
        self.pack = msgpack.Packer().pack

    def new_peer(self, sock: socket.socket) -> Peer:
        """The state of a new connection (a subclass may keep more)."""
        return Peer(sock)

    def send(self, peer: Peer, data: bytes) -> None:
        peer.out += data
        self.dirty.add(peer)

    def flush(self) -> None:
        for peer in self.dirty:
            self.write(peer)
        self.dirty.clear()

    def write(self, peer: Peer) -> None:
        if peer.out:
            try:
                sent = peer.sock.send(peer.out)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.drop(peer)
                return
            del peer.out[:sent]
        wanted = bool(peer.out)
        if wanted != peer.writing:
            peer.writing = wanted
            self.selector.modify(peer.sock, READ | WRITE if wanted else READ, peer)

    def received(self, peer: Peer) -> bytes | None:
        """What one read of ``peer`` brought; None if nothing (or it closed: then dropped)."""
        try:
            data = peer.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.drop(peer)
            return None
        return data

    def read(self, peer: Peer) -> None:
        data = self.received(peer)
        if data is None:
            return
        peer.unpacker.feed(data)
        for message in peer.unpacker:
            self.dispatch(peer, message)

    def drop(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers.remove(peer)
            self.dirty.discard(peer)
            self.selector.unregister(peer.sock)
            peer.sock.close()
            self.dropped(peer)

    def dropped(self, peer: Peer) -> None:
        pass

    def dispatch(self, peer: Peer, message) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for peer in list(self.peers):
            self.drop(peer)
        self.selector.close()


def _configure(sock: socket.socket) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Server(_Endpoint):
    def __init__(self, max_clients: int) -> None:
        super().__init__()
        self.listener = common.free_tcp_listener()
        self.port = self.listener.getsockname()[1]
        self.selector.register(self.listener, READ, None)
        self.max_clients = max_clients
        self.chats = self.moves = 0

    @property
    def clients(self) -> int:
        return len(self.peers)

    def pump(self, timeout_ms: int) -> None:
        self.flush()
        for key, mask in self.selector.select(timeout_ms / 1000):
            peer = key.data
            if peer is None:
                self.accept()
                continue
            if mask & WRITE:
                self.write(peer)
            if mask & READ:
                self.read(peer)
        self.flush()

    def accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return
            if len(self.peers) >= self.max_clients:
                sock.close()
                continue
            _configure(sock)
            peer = self.new_peer(sock)
            self.peers.append(peer)
            self.selector.register(sock, READ, peer)

    def dispatch(self, peer: Peer, message) -> None:
        kind = message[0]
        if kind == CHAT:
            self.chats += 1
        elif kind == PING:
            self.send(peer, self.pack((PONG, message[1])))
        elif kind == MOVE:
            self.moves += 1

    def broadcast_state(self, values) -> None:
        data = self.pack((STATE, *values))
        for peer in self.peers:
            self.send(peer, data)

    def close(self) -> None:
        super().close()
        self.listener.close()


class Client(_Endpoint):
    def __init__(self, port: int | None, count: int) -> None:
        super().__init__()
        self.connecting: set[Peer] = set()
        self.count = count
        self.pongs = self.states = 0
        self.last_pong = -1
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        for _ in range(self.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            _configure(sock)
            sock.connect_ex(("127.0.0.1", port))
            peer = self.new_peer(sock)
            peer.writing = True
            self.peers.append(peer)
            self.connecting.add(peer)
            self.selector.register(sock, WRITE, peer)
        self.first = self.peers[0]

    @property
    def connected(self) -> int:
        return len(self.peers) - len(self.connecting)

    def pump(self, timeout_ms: int) -> None:
        self.flush()
        for key, mask in self.selector.select(timeout_ms / 1000):
            peer = key.data
            if mask & WRITE:
                if peer in self.connecting:
                    self.connecting.discard(peer)
                    if peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        self.drop(peer)
                        continue
                self.write(peer)
            if mask & READ:
                self.read(peer)
        self.flush()

    def dispatch(self, peer: Peer, message) -> None:
        kind = message[0]
        if kind == STATE:
            self.states += 1
        elif kind == PONG:
            self.pongs += 1
            self.last_pong = message[1]

    def send_chats(self, n: int) -> None:
        peer = self.first
        out = peer.out
        pack = self.pack
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            out += pack((CHAT, player, msg))
        self.dirty.add(peer)

    def send_ping(self, seq: int) -> None:
        self.send(self.first, self.pack((PING, seq)))

    def send_moves(self) -> None:
        pack, connecting = self.pack, self.connecting
        for peer in self.peers:
            if peer not in connecting:
                self.send(peer, pack((MOVE, 1, -1)))

    def wire(self):
        return common.tcp_wire(self.first.sock)

    def dropped(self, peer: Peer) -> None:
        self.connecting.discard(peer)
