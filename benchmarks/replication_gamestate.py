"""The pygnetic row: the same program as PyGaSe's, on ``pygnetic.gamestate``.

The server is a ``Backend`` whose ``time_step`` returns the tick's changes,
started without blocking (``start(hostname, port, interval=1/30)``) and
driven by ``update(timeout_ms)``; the clients are ``Client``\\ s started with
``start(port, hostname)``, all of a process driven by one loop calling each
one's ``update(0)``, read through ``access_game_state()``.

Bytes are counted as for the other rows: the UDP payload of every datagram
the client's ENet host received (``totalReceivedData``, ENet's headers
included), so the row needs its clients on ENet. pygnetic's own
``connection.data_received`` (message bytes, without ENet's headers) is
reported next to it as a cross-check.
"""

from __future__ import annotations

import inspect
import time

from pygnetic.gamestate import Backend, Client, GameState

from .replication_world import Config, World, clients_ready, note_arrival


class ServerSide:
    def __init__(self, config: Config, clients: int) -> None:
        self.world = World(config)
        self.ticks: list[tuple[int, float]] = []
        initial = GameState(tick_time=0.0, objects=self.world.snapshot())
        self.backend = Backend(initial, self.time_step)
        if "interval" not in inspect.signature(self.backend.start).parameters:
            raise RuntimeError("pygnetic.gamestate.Backend.start() takes no interval=")
        self.backend.start("127.0.0.1", 0, interval=1.0 / config.hz)
        self.port = self.backend.server.port

    def time_step(self, game_state: GameState, dt: float) -> dict:
        changes = self.world.step()
        tick_time = time.monotonic()
        # The update this returns is the next time order, as in PyGaSe.
        self.ticks.append((int(game_state.time_order) + 1, tick_time))
        return {"tick_time": tick_time, "objects": changes}

    def pump(self, seconds: float) -> None:
        self.backend.update(int(seconds * 1000))


class ClientSide:
    def __init__(self, config: Config, port: int, count: int) -> None:
        self.objects = config.objects
        self.arrivals: list[list[list]] = [[] for _ in range(count)]
        self._last = [0] * count
        self.clients = [Client() for _ in range(count)]
        for client in self.clients:
            client.start(port, "127.0.0.1")

    def pump(self, seconds: float) -> None:
        new = False
        for i, client in enumerate(self.clients):
            client.update(0)
            new = note_arrival(self.arrivals, self._last, i, client) or new
        if not new:
            time.sleep(seconds)

    def ready(self) -> int:
        return clients_ready(self.clients, self.objects)

    def counters(self) -> dict[str, int]:
        totals = {"received": 0, "received_datagrams": 0, "sent": 0, "sent_datagrams": 0}
        totals["message_bytes"] = 0
        for client in self.clients:
            connection = getattr(client, "connection", None)
            if connection is None:
                continue
            totals["message_bytes"] += connection.data_received
            for key, value in socket_counters(connection).items():
                totals[key] += value
        return totals


def socket_counters(connection) -> dict[str, int]:
    """What the connection's socket received and sent (measurement only: behind the API)."""
    link = connection._link
    link = getattr(link, "inner", link)  # under the network simulator, the real link
    transport = getattr(link, "transport", None)
    host = getattr(transport, "_host", None)
    if host is not None:
        return {
            "received": host.totalReceivedData,
            "received_datagrams": host.totalReceivedPackets,
            "sent": host.totalSentData,
            "sent_datagrams": host.totalSentPackets,
        }
    raise RuntimeError(f"the row counts ENet's bytes; this connection is on {link!r}")
