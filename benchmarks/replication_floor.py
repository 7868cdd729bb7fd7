"""The whole-state floor: raw pyenet + msgpack, the whole world to everyone every tick.

What a programmer writes in an afternoon with no replication at all: each
tick the server packs ``[time_order, tick_time, {id: [x, y, vx, vy], ...}]``
of every object once and broadcasts it unreliably (ENet sequenced, its
fragments unreliable too). A client needs no history: each packet is the
whole truth, and a lost one is made good by the next.

Each client is its own ENet host (its own UDP socket), as each PyGaSe client
is; a process of clients waits for any of them in ``select``. Bytes are
ENet's counters (``totalReceivedData``: every UDP datagram's payload, ENet's
headers included).
"""

from __future__ import annotations

import select
import time

import enet
import msgpack

from .replication_world import Config, World

UNRELIABLE = enet.PACKET_FLAG_UNRELIABLE_FRAGMENT  # sequenced, fragments unreliable too
RECEIVE = enet.EVENT_TYPE_RECEIVE
NONE = enet.EVENT_TYPE_NONE
#: Every host is serviced at least this often (ENet's pings, acknowledgements).
SERVICE_ALL = 0.05


class ServerSide:
    def __init__(self, config: Config, clients: int) -> None:
        self.world = World(config)
        self.ticks: list[tuple[int, float]] = []
        self.host = enet.Host(enet.Address(b"127.0.0.1", 0), clients + 8, 1, 0, 0)
        self.port = self.host.address.port
        self.interval = 1.0 / config.hz
        self._due = time.monotonic()
        self._time_order = 0
        self._pack = msgpack.Packer().pack

    def pump(self, seconds: float) -> None:
        host = self.host
        wait = min(seconds, max(0.0, self._due - time.monotonic()))
        event = host.service(int(wait * 1000))
        while event.type != NONE:  # connects and disconnects: nothing to do
            event = host.service(0)
        now = time.monotonic()
        if now >= self._due:
            self._due += self.interval
            if self._due <= now:  # late by a whole tick: skip it rather than catch up
                self._due = now + self.interval
            self.tick()

    def tick(self) -> None:
        self.world.step()
        self._time_order += 1
        tick_time = time.monotonic()
        data = self._pack([self._time_order, tick_time, self.world.objects])
        self.host.broadcast(0, enet.Packet(data, UNRELIABLE))
        self.host.flush()
        self.ticks.append((self._time_order, tick_time))


class ClientSide:
    def __init__(self, config: Config, port: int, count: int) -> None:
        self.objects = config.objects
        address = enet.Address(b"127.0.0.1", port)
        self.hosts = [enet.Host(None, 1, 1, 0, 0) for _ in range(count)]
        for host in self.hosts:
            host.connect(address, 1, 0)
        self._by_fd = {int(host.socket.fileno()): i for i, host in enumerate(self.hosts)}
        self.arrivals: list[list[list]] = [[] for _ in range(count)]
        self._last = [0] * count
        self._whole = [False] * count
        self._next_all = 0.0

    def pump(self, seconds: float) -> None:
        readable, _, _ = select.select(list(self._by_fd), [], [], seconds)
        if time.monotonic() >= self._next_all:
            self._next_all = time.monotonic() + SERVICE_ALL
            readable = list(self._by_fd)
        for fd in readable:
            self._service(self._by_fd[fd])

    def _service(self, i: int) -> None:
        host = self.hosts[i]
        event = host.service(0)
        while event.type != NONE:
            if event.type == RECEIVE:
                time_order, tick_time, objects = msgpack.unpackb(
                    event.packet.data, strict_map_key=False
                )
                if time_order > self._last[i]:
                    self._last[i] = time_order
                    self.arrivals[i].append([time_order, tick_time, time.monotonic()])
                    self._whole[i] = len(objects) == self.objects
            event = host.service(0)

    def ready(self) -> int:
        return sum(self._whole)

    def counters(self) -> dict[str, int]:
        hosts = self.hosts
        return {
            "received": sum(host.totalReceivedData for host in hosts),
            "received_datagrams": sum(host.totalReceivedPackets for host in hosts),
            "sent": sum(host.totalSentData for host in hosts),
            "sent_datagrams": sum(host.totalSentPackets for host in hosts),
        }
