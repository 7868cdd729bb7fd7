"""Raw WebSocket (the ``websockets`` library's sans-I/O core) + msgpack: the floor for WebSocket.

The same library pygnetic's WebSocket adapter uses, the same way, by hand:
``ServerProtocol`` / ``ClientProtocol`` over non-blocking sockets and
``selectors``, no asyncio, no threads, no compression (the sans-I/O protocols
negotiate no extension unless given one). Each message is one binary
WebSocket message holding a msgpack array ``[type_id, *fields]``, dispatched
on the type id. Everything else is :mod:`raw_tcp`'s: writes are buffered per
connection and flushed once per pump, game state is packed once (and framed
once) for every client.
"""

from __future__ import annotations

import selectors
import socket

import msgpack
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from .. import common

CHAT, PING, PONG, STATE, MOVE = common.CHAT, common.PING, common.PONG, common.STATE, common.MOVE
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
RECV_SIZE = 65536
OPEN, BINARY = State.OPEN, Opcode.BINARY


class Peer:
    __slots__ = ("out", "protocol", "sock", "writing")

    def __init__(self, sock: socket.socket, protocol: ServerProtocol | ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.out = bytearray()
        self.writing = False


class _Endpoint:
    """What server and client share: a selector, buffered writes, reads."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.peers: list[Peer] = []
        self.dirty: set[Peer] = set()
        self.pack = msgpack.Packer().pack
        self.unpack = msgpack.unpackb

    def send(self, peer: Peer, data: bytes) -> None:
        """Frame ``data`` as one binary message and queue the frame."""
        protocol = peer.protocol
        protocol.send_binary(data)
        for chunk in protocol.data_to_send():
            peer.out += chunk
        self.dirty.add(peer)

    def collect(self, peer: Peer) -> None:
        """Queue what the protocol has to send (a handshake answer, a pong, a close)."""
        for chunk in peer.protocol.data_to_send():
            if chunk:
                peer.out += chunk
        if peer.out:
            self.dirty.add(peer)

    def flush(self) -> None:
        for peer in list(self.dirty):
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

    def read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        protocol = peer.protocol
        if not data:
            protocol.receive_eof()
            self.drop(peer)
            return
        protocol.receive_data(data)
        unpack = self.unpack
        for event in protocol.events_received():
            if type(event) is Frame:
                if event.opcode is BINARY:
                    self.dispatch(peer, unpack(event.data))
            elif isinstance(event, Request):  # server: the upgrade request
                protocol.send_response(protocol.accept(event))
        self.collect(peer)
        if protocol.state is State.CLOSED:
            self.drop(peer)

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
            if peer.protocol.state is OPEN:
                peer.protocol.send_close(1000)
                self.collect(peer)
                self.write(peer)
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
        return sum(peer.protocol.state is OPEN for peer in self.peers)

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
            peer = Peer(sock, ServerProtocol())
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
        # A server's frames are not masked: one frame, the same bytes for every client.
        open_peers = [peer for peer in self.peers if peer.protocol.state is OPEN]
        if not open_peers:
            return
        first = open_peers[0]
        first.protocol.send_binary(self.pack((STATE, *values)))
        frame = b"".join(first.protocol.data_to_send())
        for peer in open_peers:
            peer.out += frame
            self.dirty.add(peer)

    def close(self) -> None:
        super().close()
        self.listener.close()


class Client(_Endpoint):
    def __init__(self, port: int | None, count: int) -> None:
        super().__init__()
        self.connecting: set[Peer] = set()  # TCP not up yet
        self.count = count
        self.pongs = self.states = 0
        self.last_pong = -1
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        uri = parse_uri(f"ws://127.0.0.1:{port}/")
        for _ in range(self.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            _configure(sock)
            sock.connect_ex(("127.0.0.1", port))
            peer = Peer(sock, ClientProtocol(uri))
            peer.writing = True
            self.peers.append(peer)
            self.connecting.add(peer)
            self.selector.register(sock, WRITE, peer)
        self.first = self.peers[0]

    @property
    def connected(self) -> int:
        """Connections whose upgrade the server answered."""
        return sum(peer.protocol.state is OPEN for peer in self.peers)

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
                    protocol = peer.protocol
                    protocol.send_request(protocol.connect())
                    self.collect(peer)
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
        protocol, out, pack = peer.protocol, peer.out, self.pack
        send_binary, data_to_send = protocol.send_binary, protocol.data_to_send
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send_binary(pack((CHAT, player, msg)))
        for chunk in data_to_send():  # the whole batch's frames at once
            out += chunk
        self.dirty.add(peer)

    def send_ping(self, seq: int) -> None:
        self.send(self.first, self.pack((PING, seq)))

    def send_moves(self) -> None:
        pack = self.pack
        for peer in self.peers:
            if peer.protocol.state is OPEN:
                self.send(peer, pack((MOVE, 1, -1)))

    def wire(self):
        return common.tcp_wire(self.first.sock)

    def dropped(self, peer: Peer) -> None:
        self.connecting.discard(peer)
