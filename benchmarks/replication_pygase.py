"""The PyGaSe 0.3.1 row: its server, store and game loop, and its threaded clients.

The program its documentation shows: a ``GameStateStore`` with the world, a
``GameStateMachine`` whose ``time_step`` returns the tick's changes, run with
``run_game_loop_in_thread(interval=1/30)``, a ``Server`` wired to it, and
``Client().connect_in_thread(port, hostname)`` clients, read through
``access_game_state()``. Two things PyGaSe 0.3.1 needs to run this world at
all, both said in the benchmark's output:

* Its datagrams are at most ``Package._max_size`` (2048) bytes. A client's
  first one carries the whole world (about 12 kB for 500 objects), so the
  server's send loop for that client dies of ``OverflowError`` and the client
  never has a state. The limit is raised to the largest UDP payload, in the
  server and in the clients (which read with it).
* Its game loop sleeps ``max(0, interval - dt)`` after a step, with
  ``dt = max(interval, elapsed)``: never. It steps as fast as it can (some
  27,000 steps a second here) and ignores the interval. So ``time_step``
  waits for its tick itself (a sleep in the game loop's own thread, no CPU).

Bytes are counted where the clients' curio sockets return them
(``recv`` and ``sendto``): every UDP datagram's payload, PyGaSe's header
included, as ENet's counters do for the other rows.
"""

from __future__ import annotations

import threading
import time

import curio.io
from pygase import Client, GameState
from pygase.backend import GameStateMachine, GameStateStore, Server
from pygase.connection import Package

from .replication_world import Config, World, clients_ready, note_arrival

#: The largest UDP payload over IPv4, instead of PyGaSe's 2048 bytes.
MAX_DATAGRAM = 65507


def allow_large_datagrams() -> None:
    Package._max_size = MAX_DATAGRAM


class ServerSide:
    pump = None  # PyGaSe runs in threads of its own

    def __init__(self, config: Config, clients: int) -> None:
        allow_large_datagrams()
        self.world = World(config)
        self.ticks: list[tuple[int, float]] = []
        self.interval = 1.0 / config.hz
        self._due: float | None = None
        store = GameStateStore(GameState(tick_time=0.0, objects=self.world.snapshot()))
        machine = GameStateMachine(store)
        machine.time_step = self.time_step
        self.server = Server(store)
        machine.run_game_loop_in_thread(interval=self.interval)
        self.server.run_in_thread(0, "127.0.0.1", machine)
        deadline = time.monotonic() + 10
        while self.server.port is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the PyGaSe server did not start within 10 s")
            time.sleep(0.01)
        self.port = self.server.port

    def time_step(self, game_state: GameState, dt: float) -> dict:
        now = time.monotonic()
        if self._due is None or now - self._due > self.interval:  # first, or late: from now
            self._due = now
        elif now < self._due:
            time.sleep(self._due - now)
        self._due += self.interval
        changes = self.world.step()
        tick_time = time.monotonic()
        # The update this returns is pushed as the next time order.
        self.ticks.append((int(game_state.time_order) + 1, tick_time))
        return {"tick_time": tick_time, "objects": changes}


_COUNTS = {"received": 0, "received_datagrams": 0, "sent": 0, "sent_datagrams": 0}
_COUNTS_LOCK = threading.Lock()


def count_socket_bytes() -> None:
    """Count what every curio socket of this process receives and sends."""
    socket_class = curio.io.Socket
    recv, sendto = socket_class.recv, socket_class.sendto

    async def counted_recv(self, maxsize, flags=0):
        data = await recv(self, maxsize, flags)
        with _COUNTS_LOCK:
            _COUNTS["received"] += len(data)
            _COUNTS["received_datagrams"] += 1
        return data

    async def counted_sendto(self, data, *args):
        sent = await sendto(self, data, *args)
        with _COUNTS_LOCK:
            _COUNTS["sent"] += len(data)
            _COUNTS["sent_datagrams"] += 1
        return sent

    socket_class.recv = counted_recv
    socket_class.sendto = counted_sendto


class ClientSide:
    def __init__(self, config: Config, port: int, count: int) -> None:
        allow_large_datagrams()
        count_socket_bytes()
        self.objects = config.objects
        self.arrivals: list[list[list]] = [[] for _ in range(count)]
        self._last = [0] * count
        self.clients = []
        for _ in range(count):
            client = Client()
            client.connect_in_thread(port, "127.0.0.1")
            self.clients.append(client)

    def pump(self, seconds: float) -> None:
        for i, client in enumerate(self.clients):
            note_arrival(self.arrivals, self._last, i, client)
        time.sleep(seconds)

    def ready(self) -> int:
        return clients_ready(self.clients, self.objects)

    def counters(self) -> dict[str, int]:
        with _COUNTS_LOCK:
            return dict(_COUNTS)
