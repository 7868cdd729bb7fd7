"""``websockets.sync`` + msgpack: the library's own blocking API, a second WebSocket floor.

What a plain Python WebSocket echo server looks like: ``websockets.sync.server.serve``
with a handler thread per connection (``for message in websocket``), and a
``websockets.sync.client.connect`` client (its own reading thread). Compression
is off, as in pygnetic's adapter and :mod:`raw_websocket`. Each message is one
binary WebSocket message holding a msgpack array ``[type_id, *fields]``.

The blocking API has no batching: every ``send`` is its own frame and
``sendall``. The CPU figures count every thread of the process.
"""

from __future__ import annotations

import threading
import time

import msgpack
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from .. import common

CHAT, PING, PONG, STATE, MOVE = common.CHAT, common.PING, common.PONG, common.STATE, common.MOVE


def _sleep(timeout_ms: int) -> None:
    """The threads do the work; the caller's loop wakes every millisecond at most."""
    if timeout_ms > 0:
        time.sleep(min(timeout_ms, 1) / 1000)


class Server:
    def __init__(self, max_clients: int) -> None:
        self.chats = self.moves = 0
        self.max_clients = max_clients
        self.open: list = []
        self.server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.pump = _sleep

    @property
    def clients(self) -> int:
        return len(self.open)

    def _handle(self, websocket) -> None:
        if len(self.open) >= self.max_clients:
            websocket.close()
            return
        self.open.append(websocket)
        unpack, pack, send = msgpack.unpackb, msgpack.Packer().pack, websocket.send
        try:
            for data in websocket:
                message = unpack(data)
                kind = message[0]
                if kind == CHAT:
                    self.chats += 1
                elif kind == PING:
                    send(pack((PONG, message[1])))
                elif kind == MOVE:
                    self.moves += 1
        except ConnectionClosed:
            pass
        finally:
            self.open.remove(websocket)

    def broadcast_state(self, values) -> None:
        data = msgpack.packb((STATE, *values))
        for websocket in list(self.open):
            websocket.send(data)

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


class Client:
    def __init__(self, port: int | None, count: int) -> None:
        self.count = count
        self.websockets: list = []
        self.pongs = self.states = 0
        self.last_pong = -1
        self.pack = msgpack.Packer().pack
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        for _ in range(self.count):
            self.websockets.append(connect(f"ws://127.0.0.1:{port}/", compression=None))
        self.first = self.websockets[0]

    @property
    def connected(self) -> int:
        return len(self.websockets)

    def pump(self, timeout_ms: int) -> None:
        """Take every message that has arrived, waiting up to ``timeout_ms`` for the first."""
        unpack = msgpack.unpackb
        for websocket in self.websockets:
            timeout = timeout_ms / 1000
            while True:
                try:
                    data = websocket.recv(timeout)
                except TimeoutError:
                    break
                timeout = 0
                message = unpack(data)
                kind = message[0]
                if kind == STATE:
                    self.states += 1
                elif kind == PONG:
                    self.pongs += 1
                    self.last_pong = message[1]

    def send_chats(self, n: int) -> None:
        send, pack = self.first.send, self.pack
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send(pack((CHAT, player, msg)))

    def send_ping(self, seq: int) -> None:
        self.first.send(self.pack((PING, seq)))

    def send_moves(self) -> None:
        for websocket in self.websockets:
            websocket.send(self.pack((MOVE, 1, -1)))

    def wire(self):
        return common.tcp_wire(self.first.socket)

    def close(self) -> None:
        for websocket in self.websockets:
            websocket.close()
