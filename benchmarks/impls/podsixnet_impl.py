"""PodSixNet (asyncore + rencode, messages are dicts with an 'action' key).

Used as its README shows: Channel subclasses with ``Network_<action>`` methods
on the server, ``EndPoint`` connections on the client, ``Pump()`` every frame.
Its pump has no timeout, so the wait between pumps is an ``asyncore.poll`` on
the same socket map (what ``Pump()`` does, with a timeout instead of 0).
"""

from __future__ import annotations

import asyncore
import contextlib
import io

from PodSixNet.Channel import Channel
from PodSixNet.EndPoint import EndPoint
from PodSixNet.Server import Server as PodServer

from .. import common

STATE_KEYS = common.MESSAGES[common.STATE][1]


class Server:
    def __init__(self, max_clients: int) -> None:
        counts = self
        self.chats = self.moves = 0

        class GameChannel(Channel):
            def Network_chat_msg(self, data):
                counts.chats += 1

            def Network_ping(self, data):
                self.Send({"action": "pong", "seq": data["seq"]})

            def Network_move(self, data):
                counts.moves += 1

            def Close(self):
                if self in counts.server.channels:
                    counts.server.channels.remove(self)

        class GameServer(PodServer):
            channelClass = GameChannel

            def handle_accept(self):
                with contextlib.redirect_stdout(io.StringIO()):  # it prints "connection"
                    super().handle_accept()

        self.server = GameServer(localaddr=("127.0.0.1", 0), listeners=1024)
        self.port = self.server.socket.getsockname()[1]

    @property
    def clients(self) -> int:
        return len(self.server.channels)

    def pump(self, timeout_ms: int) -> None:
        server = self.server
        for channel in server.channels:
            channel.Pump()
        asyncore.poll(timeout_ms / 1000, server._map)

    def broadcast_state(self, values) -> None:
        data = {"action": "state", **dict(zip(STATE_KEYS, values, strict=True))}
        for channel in self.server.channels:
            channel.Send(data)

    def close(self) -> None:
        for channel in list(self.server.channels):
            channel.close()
        self.server.close()


class Client:
    def __init__(self, port: int | None, count: int) -> None:
        self.map: dict = {}
        self.count = count
        self.endpoints = []
        self.pongs = self.states = 0
        self.last_pong = -1
        if port is not None:
            self.connect(port)

    def connect(self, port: int) -> None:
        for _ in range(self.count):
            endpoint = EndPoint(("127.0.0.1", port), map=self.map)
            endpoint.DoConnect()
            self.endpoints.append(endpoint)
        self.first = self.endpoints[0]

    @property
    def connected(self) -> int:
        # isConnected: the server's {"action": "connected"} arrived (Network_connected),
        # PodSixNet's "you may send now", which its server sends on accepting.
        return sum(endpoint.isConnected for endpoint in self.endpoints)

    def pump(self, timeout_ms: int) -> None:
        # EndPoint.Pump() plus ConnectionListener.Pump(), with one poll for all endpoints.
        for endpoint in self.endpoints:
            Channel.Pump(endpoint)
            endpoint.queue = []
        asyncore.poll(timeout_ms / 1000, self.map)
        for endpoint in self.endpoints:
            for data in endpoint.GetQueue():
                action = data["action"]
                if action == "state":
                    self.states += 1
                elif action == "pong":
                    self.pongs += 1
                    self.last_pong = data["seq"]

    def send_chats(self, n: int) -> None:
        send = self.first.Send
        player, msg = common.CHAT_ARGS
        for _ in range(n):
            send({"action": "chat_msg", "player": player, "msg": msg})

    def send_ping(self, seq: int) -> None:
        self.first.Send({"action": "ping", "seq": seq})

    def send_moves(self) -> None:
        for endpoint in self.endpoints:
            endpoint.Send({"action": "move", "dx": 1, "dy": -1})

    def wire(self):
        return common.tcp_wire(self.first.socket)

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.close()
