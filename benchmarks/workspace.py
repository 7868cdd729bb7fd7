"""python -m benchmarks.workspace: a job queue through the state service's workspaces.

A *pair* is one job through a queue: one ``store`` of a small value (a
match request, a 42-byte dict packed) into a FIFO variable and one
``fetch`` that removes it. Per store (SQLite, Redis) and for one client
and for 50: pairs a second through the service (``NetWorkSpace``, the
NetWorkSpaces API of :mod:`pygnetic.state`), next to the same queue made
straight on the bare store in the same run. The floor:

* SQLite: a file of its own in WAL mode with ``synchronous=FULL`` (as the
  store's) holding a ``queue`` table; a store is one committed ``INSERT``,
  a fetch one committed ``DELETE`` of the oldest row (``RETURNING`` its
  data). In process; 50 clients are 50 threads, each with its own
  connection, taking turns for writes on a lock (one writer at a time, as
  SQLite allows, without its busy-wait sleeps), the consumers woken by a
  semaphore the producers release (a bare in-process "blocking fetch").
* Redis: redis-py on the same redis-server as the service's store (a Unix
  socket, no persistence): ``LPUSH`` and ``BRPOP`` on one list, a
  connection per client.

With one client, one ``NwsServer`` connection makes blocking calls, a
``store`` then a ``fetch`` (which gets the value just stored); the floor
does ``LPUSH`` then ``BRPOP`` on one connection, or the ``INSERT`` then
the ``DELETE``.

With 50 clients the queue is a job queue: 25 producers each keep one
``store_nowait`` in flight, and 25 consumers (workers) each keep one
``fetch_nowait`` waiting on the variable, fetching again as soon as it is
answered. That is how a matchmaker or a render farm uses a queue, and it
exercises what a job queue costs the service: fetches that wait, woken by
a store (rather than 50 clients each storing and fetching their own value,
which a waiting fetch would seldom meet). The queue is bounded: a producer
waits while :data:`BACKLOG` jobs are stored and not yet fetched, so a
queue whose producers outrun its workers stays short, as a real one with
back-pressure does (unbounded, it would grow through the cell, and a
faster store would look like a faster queue). The
service's 50 clients are 50 connections driven from this one process with
the ``…_nowait`` forms, woken by a selector over their sockets; the
floor's are 25 pushing and 25 popping threads (``BRPOP`` blocks in Redis;
the SQLite consumers on the semaphore), bounded by a semaphore of
:data:`BACKLOG`.

Rates count the fetches completed in the timed window; the latency is a
job's, from just before its store to the end of its fetch (the job
carries the time it was made), of the jobs made in the window; with 50
clients it is mostly the job's wait in the queue, so it says how full the
queue ran more than how fast the service is. The tables
add the service process's CPU per pair, this process's (the clients'),
redis-server's, and, on Redis, the round trips redis-server served per
pair (its ``total_reads_processed``: a pipeline or a script is one) and
every command it ran (a script's own commands too).

The service runs in its own process (``python -m pygnetic.state``), and
the processes are placed as :class:`benchmarks.state.Placement` says
(``--pin``): one client, everything on one CPU; 50, the servers on one
and this process on the other. Figures are the median of the rounds (each
cell timed for ``--seconds`` after a short warm-up, the cells of a round
interleaved, by :func:`benchmarks.state.run_rounds`). ``--quick`` is a
smoke run of some 11 seconds. Redis rows are skipped, with the reason,
where ``pygnetic.state.RedisStore`` or redis-py cannot be imported or no
``redis-server`` is on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import selectors
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

import pygnetic
from pygnetic.state import NetWorkSpace
from pygnetic.state._client import StateClient

from .state import (
    Cells,
    CpuMeter,
    Placement,
    Timed,
    _cpu,
    _median,
    _rate,
    _share,
    _times,
    _us,
    _workdir,
    each_store,
    now,
    print_end,
    run_rounds,
    run_threads,
    side_summary,
    skipped_stores,
    start_service,
)

STORES = ("sqlite", "redis")
CLIENTS = (1, 50)
SIDES = ("service", "floor")
WORKSPACE = "bench-matchmaking"
VAR = "jobs"
FLOOR_KEY = "floor:jobs"
#: Jobs stored and not yet fetched at most: a producer waits while there are as many.
BACKLOG = 50
#: How long a floor's idle thread waits at a time (for a job, or for room), in seconds.
NAP = 0.05


def job(i: int) -> dict:
    """A job: a match request (42 bytes in msgpack), stamped with when it was made."""
    return {"player": i % 60000, "mode": "duel", "rating": 1500, "t": now()}


@dataclass
class Counted(Timed):
    """A cell's measures with what was counted per pair (round trips, requests)."""

    counts: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        return super().summary() | self.counts


class Tally:
    """Jobs fetched, as the consumers of a cell see them: the rate's and the latency's counts."""

    def __init__(self, first: float, end: float) -> None:
        self.first, self.end = first, end
        self.in_window = self.done = self.errors = 0
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def fetched(self, got: dict) -> None:
        t1 = now()
        with self.lock:
            self.done += 1
            if self.first <= t1 <= self.end:
                self.in_window += 1
                if got["t"] >= self.first:
                    self.latencies.append(t1 - got["t"])

    def failed(self) -> None:
        with self.lock:
            self.errors += 1

    def timed(self, seconds: float, meter: CpuMeter) -> tuple[Timed, int]:
        """The cell's measures, and the jobs fetched in all (the warm-up and the end too)."""
        timed = Timed(self.in_window, seconds, self.latencies, self.errors)
        return meter.fill(timed, self.done), self.done


# -- the floors ----------------------------------------------------------------------

_QUEUE_SCHEMA = "CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)"
_PUSH = "INSERT INTO queue (data) VALUES (?)"
_POP = "DELETE FROM queue WHERE seq = (SELECT min(seq) FROM queue) RETURNING data"

Push = Callable[[int], Any]
Pop = Callable[[], "dict | None"]  # a job, or None when none came in a nap


class SQLiteQueue:
    """Bare sqlite3 on a WAL file with synchronous=FULL: a committed INSERT, a committed DELETE."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = threading.Lock()
        self.items = threading.Semaphore(0)
        self.opened: list[sqlite3.Connection] = []
        db = self.connect()
        db.execute(_QUEUE_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        self.opened.append(db)
        return db

    def make_pair(self, index: int) -> Callable[[int], Any]:
        """One client: the store, then the fetch that takes it back."""
        db = self.connect()

        def pair(i: int) -> None:
            db.execute(_PUSH, (msgpack.packb(job(i)),))
            (data,) = db.execute(_POP).fetchall()[0]  # fetchall: the DELETE runs to its end
            msgpack.unpackb(data)

        return pair

    def make_push(self, index: int) -> Push:
        db = self.connect()

        def push(i: int) -> None:
            data = msgpack.packb(job(i))
            with self.write_lock:
                db.execute(_PUSH, (data,))
            self.items.release()

        return push

    def make_pop(self, index: int) -> Pop:
        db = self.connect()

        def pop() -> dict | None:
            if not self.items.acquire(timeout=NAP):
                return None
            with self.write_lock:
                rows = db.execute(_POP).fetchall()
            return msgpack.unpackb(rows[0][0]) if rows else None

        return pop

    def drain(self) -> None:
        """Empty the queue, and close the cell's connections."""
        db = self.opened[0]
        db.execute("DELETE FROM queue")
        for other in self.opened[1:]:
            other.close()
        del self.opened[1:]
        self.items = threading.Semaphore(0)

    def close(self) -> None:
        for db in self.opened:
            db.close()
        self.opened.clear()


class RedisQueue:
    """Bare redis-py: LPUSH and BRPOP on one list, a connection per client."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis, self.url = redis, url
        self.opened: list[Any] = []
        self.admin = self.connect()

    def connect(self) -> Any:
        client = self.redis.Redis.from_url(self.url)
        client.ping()  # connected now, not inside the timed cell
        self.opened.append(client)
        return client

    def make_pair(self, index: int) -> Callable[[int], Any]:
        client = self.connect()

        def pair(i: int) -> None:
            client.lpush(FLOOR_KEY, msgpack.packb(job(i)))
            _, data = client.brpop([FLOOR_KEY], timeout=10)
            msgpack.unpackb(data)

        return pair

    def make_push(self, index: int) -> Push:
        client = self.connect()
        return lambda i: client.lpush(FLOOR_KEY, msgpack.packb(job(i)))

    def make_pop(self, index: int) -> Pop:
        client = self.connect()

        def pop() -> dict | None:
            got = client.brpop([FLOOR_KEY], timeout=NAP)
            return None if got is None else msgpack.unpackb(got[1])

        return pop

    def drain(self) -> None:
        self.admin.delete(FLOOR_KEY)
        for client in self.opened[1:]:
            client.close()
        del self.opened[1:]

    def close(self) -> None:
        for client in self.opened:
            client.close()
        self.opened.clear()


def run_queue_threads(
    floor: SQLiteQueue | RedisQueue,
    producers: int,
    consumers: int,
    warm: float,
    seconds: float,
    meter: CpuMeter,
) -> tuple[Timed, int]:
    """``producers`` threads storing jobs and ``consumers`` threads fetching them, bounded.

    A producer takes a place of :data:`BACKLOG` before each store; a
    consumer gives one back with each job it fetches.
    """
    room = threading.Semaphore(BACKLOG)
    ready = threading.Barrier(producers + consumers + 1)
    begin = threading.Event()
    start = [0.0]
    tally = Tally(0.0, 0.0)

    def produce(index: int) -> None:
        push = floor.make_push(index)  # its own connection, made in its thread
        ready.wait()
        begin.wait()
        end, i = start[0] + warm + seconds, 0
        while now() < end:
            if not room.acquire(timeout=NAP):
                continue
            try:
                push(i)
            except Exception:
                tally.failed()
                room.release()
            i += 1

    def consume(index: int) -> None:
        pop = floor.make_pop(index)
        ready.wait()
        begin.wait()
        end = start[0] + warm + seconds
        while now() < end:
            try:
                got = pop()
            except Exception:
                tally.failed()
                continue
            if got is not None:
                tally.fetched(got)
                room.release()

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
    threads += [threading.Thread(target=consume, args=(i,)) for i in range(consumers)]
    for each in threads:
        each.start()
    ready.wait()
    with meter:
        start[0] = now()
        tally.first, tally.end = start[0] + warm, start[0] + warm + seconds
        begin.set()
        for each in threads:
            each.join()
    return tally.timed(seconds, meter)


# -- the service ---------------------------------------------------------------------


class Workspaces:
    """The service's clients: ``count`` NwsServer connections, each with the workspace open."""

    def __init__(self, address: str, count: int) -> None:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        self.spaces = [NetWorkSpace(WORKSPACE, host, int(port)) for _ in range(count)]
        self.spaces[0].declare(VAR, "fifo")

    def keepalive(self) -> None:
        for ws in self.spaces:
            ws.poll(0)

    def requests_sent(self) -> int:
        """Requests the clients have sent so far (every connection's messages)."""
        return sum(ws.server.client._connection.messages_sent for ws in self.spaces)

    def close(self) -> None:
        for ws in reversed(self.spaces):  # the owner last: the workspace is purged with it
            ws.close()

    def make_pair(self, index: int) -> Callable[[int], Any]:
        """One client, blocking calls: the store, then the fetch that gets it back."""
        ws = self.spaces[index]

        def pair(i: int) -> None:
            ws.store(VAR, job(i))
            ws.fetch(VAR)

        return pair

    def run_queue(
        self, producers: int, consumers: int, warm: float, seconds: float, meter: CpuMeter
    ) -> tuple[Timed, int]:
        """``producers`` connections storing, ``consumers`` fetching, from this one thread.

        Each producer has one store in flight while fewer than
        :data:`BACKLOG` jobs are stored and not yet fetched (else it waits
        for a fetch); each consumer has one fetch waiting.
        """
        makers = self.spaces[:producers]
        workers = self.spaces[producers : producers + consumers]
        selector = selectors.DefaultSelector()
        for ws in makers + workers:
            selector.register(
                ws.server.client._client._transport.fileno(), selectors.EVENT_READ, ws
            )
        tally = Tally(0.0, 0.0)
        state = {"outstanding": 0, "stores": 0, "fetches": 0, "i": 0}
        waiting: list[int] = []  # producers waiting for room
        flush: set[NetWorkSpace] = set()  # connections with a request to send
        stopping = [False]

        def store(index: int) -> None:
            state["outstanding"] += 1
            state["stores"] += 1
            state["i"] += 1
            ws = makers[index]
            ws.store_nowait(VAR, job(state["i"]), callback=lambda r: stored(index, r))
            flush.add(ws)

        def stored(index: int, request: Any) -> None:
            state["stores"] -= 1
            if request.error is not None:
                state["outstanding"] -= 1
                tally.failed()
            if stopping[0]:
                return
            if state["outstanding"] < BACKLOG:
                store(index)
            else:
                waiting.append(index)

        def fetch(index: int) -> None:
            state["fetches"] += 1
            ws = workers[index]
            ws.fetch_nowait(VAR, callback=lambda r: fetched(index, r))
            flush.add(ws)

        def fetched(index: int, request: Any) -> None:
            state["fetches"] -= 1
            if request.error is not None:
                if not stopping[0]:  # at the end, the fetches left waiting are aborted
                    tally.failed()
                    fetch(index)
                return
            state["outstanding"] -= 1
            tally.fetched(request.result())
            if stopping[0]:
                return
            fetch(index)
            while waiting and state["outstanding"] < BACKLOG:
                store(waiting.pop())

        def settled() -> bool:
            # Every store answered, and no fetch left that a job will answer.
            return not state["stores"] and not (state["fetches"] and state["outstanding"])

        with meter:
            start = now()
            tally.first, tally.end = start + warm, start + warm + seconds
            for index in range(consumers):
                fetch(index)
            for index in range(producers):
                store(index)
            while True:
                while flush:
                    flush.pop().poll(0)
                t = now()
                if t >= tally.end:
                    stopping[0] = True
                    if settled() or t > tally.end + 10:
                        break
                for found, _ in selector.select(0.005):
                    found.data.poll(0)
        selector.close()
        # What is left: jobs no worker took, fetches no job will answer.
        self.spaces[0].deleteVar(VAR)
        give_up = now() + 10
        while state["fetches"] and now() < give_up:
            for ws in workers:
                ws.poll(1)
        tally.errors += state["stores"] + state["fetches"]  # never answered
        return tally.timed(seconds, meter)


class RedisCounter:
    """What redis-server has served so far: its reads (round trips) and its commands."""

    def __init__(self, url: str | None) -> None:
        self.client = None
        if url is not None:
            import redis

            self.client = redis.Redis.from_url(url)

    def snapshot(self) -> tuple[int, int] | None:
        if self.client is None:
            return None
        stats = self.client.info("stats")
        return int(stats["total_reads_processed"]), int(stats["total_commands_processed"])

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class Meter(CpuMeter):
    """A :class:`~benchmarks.state.CpuMeter` that also counts, over the same span, what
    redis-server served and the requests the service's clients sent."""

    def __init__(
        self, others: dict[str, int], redis: RedisCounter, sent: Callable[[], int] | None
    ) -> None:
        super().__init__(others)
        self.redis, self.sent = redis, sent

    def __enter__(self) -> Meter:
        super().__enter__()
        self._redis = self.redis.snapshot()
        self._sent = None if self.sent is None else self.sent()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.redis.snapshot()
        self.served = None
        if after is not None and self._redis is not None:
            self.served = [b - a for a, b in zip(self._redis, after, strict=True)]
        self.requests = None if self.sent is None else self.sent() - self._sent
        super().__exit__(*exc)

    def counts(self, pairs: int) -> dict[str, float]:
        """Per pair: the requests sent to the service, redis-server's round trips and commands."""
        counts: dict[str, float] = {}
        if pairs:
            if self.requests is not None:
                counts["requests_per_pair"] = self.requests / pairs
            if self.served is not None:
                counts["redis_trips_per_pair"] = self.served[0] / pairs
                counts["redis_commands_per_pair"] = self.served[1] / pairs
        return counts


def one_client(
    make_pair: Callable[[int], Callable[[int], Any]], warm: float, seconds: float, meter: CpuMeter
) -> tuple[Timed, int]:
    """One client's pairs back to back (:func:`benchmarks.state.run_threads`), and their count."""
    done = [0]

    def make_op(index: int) -> Callable[[int], Any]:
        pair = make_pair(index)

        def counted(i: int) -> None:
            pair(i)
            done[0] += 1

        return counted

    return run_threads(make_op, 1, warm, seconds, meter), done[0]


# -- the run -------------------------------------------------------------------------


@dataclass
class Config:
    rounds: int
    seconds: float
    warm: float
    stores: tuple[str, ...]
    clients: tuple[int, ...]
    pin: str = "auto"
    backlog: int = BACKLOG


def measure_store(
    store: str,
    config: Config,
    placement: Placement,
    workdir: Path,
    redis_url: str | None,
    pids: dict[str, int],
) -> Cells:
    """Every cell of one store, every round: {("pairs", clients): {side: [round summaries]}}."""
    server, address = start_service(store, workdir, redis_url)
    placement.servers.append(server.pid)
    workspaces = None
    floor: SQLiteQueue | RedisQueue | None = None
    counter = RedisCounter(redis_url if store == "redis" else None)
    try:
        workspaces = clients = Workspaces(address, max(config.clients))
        service_pids = dict(pids, server=server.pid)
        floor = bare = (
            SQLiteQueue(workdir / "floor.db") if store == "sqlite" else RedisQueue(str(redis_url))
        )

        def measure(cell: str, count: int, side: str) -> Timed:
            service = side == "service"
            meter = Meter(
                service_pids if service else pids,
                counter,
                clients.requests_sent if service else None,
            )
            half = count // 2
            if count > 1 and service:
                timed, pairs = clients.run_queue(
                    half, count - half, config.warm, config.seconds, meter
                )
            elif count > 1:
                timed, pairs = run_queue_threads(
                    bare, half, count - half, config.warm, config.seconds, meter
                )
            else:
                made = clients.make_pair if service else bare.make_pair
                timed, pairs = one_client(made, config.warm, config.seconds, meter)
            if not service:
                bare.drain()
            return Counted(**vars(timed), counts=meter.counts(pairs))

        cells = [("pairs", count) for count in config.clients]
        return run_rounds(
            config.rounds, cells, lambda cell, count: list(SIDES), measure, placement,
            clients.keepalive,
        )  # fmt: skip
    finally:
        if workspaces is not None:
            workspaces.close()
        if floor is not None:
            floor.close()
        counter.close()
        server.stop()
        placement.servers.remove(server.pid)  # its pid may be another process's later


def summarize(results: Cells, store: str) -> list[dict]:
    """The rows of one store: each side's medians over the rounds, and the ratio of the rates."""
    rows = []
    for (_, count), sides in results.items():
        row: dict[str, Any] = {"store": store, "clients": count}
        for side, rounds in sides.items():
            row[side] = side_summary(rounds) | {
                "bench_cpu_per_op_us": _cpu(rounds, "cpu_per_op_us", "bench"),
                "requests_per_pair": _median(rounds, "requests_per_pair"),
                "redis_trips_per_pair": _median(rounds, "redis_trips_per_pair"),
                "redis_commands_per_pair": _median(rounds, "redis_commands_per_pair"),
            }
        service, floor = row["service"]["ops_per_s"], row["floor"]["ops_per_s"]
        row["rate_ratio"] = None if not service or not floor else service / floor
        rows.append(row)
    return rows


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _per_pair(rate: float | None) -> float | None:
    return None if not rate else 1e6 / rate


def print_table(rows: list[dict], config: Config) -> None:
    print(
        f"\nMedians of {config.rounds} round(s), {config.seconds:g} s a cell. A pair: one store "
        "of a job and one fetch of it. Latency: a job's, from its store to its fetch, in µs. "
        "× = service / floor, of the pairs a second\n"
    )
    head = (
        f"{'store':<6} {'clients':>7} | {'service/s':>9} {'p50':>6} {'p99':>6} | "
        f"{'floor/s':>9} {'p50':>6} {'p99':>6} | {'× floor':>7} | {'srv µs':>6} {'srv':>4} "
        f"{'bench':>5}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        s, f = row["service"], row["floor"]
        print(
            f"{row['store']:<6} {row['clients']:>7} | {_rate(s['ops_per_s']):>9} "
            f"{_us(s['p50_us']):>6} {_us(s['p99_us']):>6} | {_rate(f['ops_per_s']):>9} "
            f"{_us(f['p50_us']):>6} {_us(f['p99_us']):>6} | {_times(row['rate_ratio']):>7} | "
            f"{_us(s['server_cpu_per_op_us']):>6} {_share(s['server_busy']):>4} "
            f"{_share(s['bench_busy']):>5}"
        )
    print(
        "\nservice/s, floor/s: pairs a second, all clients together. srv µs: CPU of the "
        "service's process per pair; srv, bench: how busy the service's process and this one "
        "(the clients) were in the service's cell, of one CPU."
    )


def print_costs(rows: list[dict]) -> None:
    print("\nWhere a pair's time goes (medians, per pair)\n")
    head = (
        f"{'store':<6} {'clients':>7} {'side':<7} | {'wall µs':>7} | {'server':>6} "
        f"{'bench':>6} {'redis':>6} | {'requests':>8} {'redis trips':>11} {'redis cmds':>10}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        for side in SIDES:
            s = row[side]
            print(
                f"{row['store']:<6} {row['clients']:>7} {side:<7} | "
                f"{_us(_per_pair(s['ops_per_s'])):>7} | {_us(s['server_cpu_per_op_us']):>6} "
                f"{_us(s['bench_cpu_per_op_us']):>6} {_us(s['redis_cpu_per_op_us']):>6} | "
                f"{_count(s['requests_per_pair']):>8} {_count(s['redis_trips_per_pair']):>11} "
                f"{_count(s['redis_commands_per_pair']):>10}"
            )
    print(
        "\nwall µs: 1 / (pairs a second), all clients together. server, bench, redis: CPU µs "
        "per pair of the service's process, of this one (the clients; for the floor, its "
        "whole work), of redis-server. requests: sent to the service per pair. redis trips: "
        "the round trips redis-server served per pair (its reads: a script or a pipeline is "
        "one); redis cmds: the commands it ran, those inside scripts too. Counted over the "
        "whole cell, the warm-up and the end included."
    )


def notes(rows: list[dict], skipped: dict[str, str]) -> list[str]:
    lines = [f"skipped {store}: {why}" for store, why in skipped.items()]
    failed = [
        f"{row['store']} {row['clients']} {side}: {row[side]['errors']}"
        for row in rows
        for side in SIDES
        if row[side]["errors"]
    ]
    if failed:
        lines.append("requests that failed (not counted): " + "; ".join(failed))
    others = sorted(
        r["cpu"]["others"]
        for row in rows
        for side in SIDES
        for r in row[side]["rounds"]
        if "others" in r["cpu"]
    )
    if others:
        lines.append(
            f"Other processes on the machine used a median {others[len(others) // 2]:.0%} and "
            f"at most {others[-1]:.0%} of a CPU during the cells (from /proc/stat: what no "
            "process of this benchmark used, the kernel's own threads included)."
        )
    if any(row["clients"] > 1 for row in rows):
        lines.append(
            "More clients: half are producers, each with one store in flight, half workers, "
            f"each with one fetch waiting; at most {BACKLOG} jobs stored and not yet fetched. "
            "The service serves its connections in rounds and commits a round of writes in "
            "one SQLite transaction; the SQLite floor commits each INSERT and DELETE."
        )
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.workspace",
        description="A job queue through the state service's workspaces (store, fetch) "
        "against the bare stores' queues (SQLite, Redis LPUSH/BRPOP), in one run.",
    )
    parser.add_argument("-r", "--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="seconds timed per cell (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one short round")
    parser.add_argument("--store", action="append", choices=STORES, help="only this store")
    parser.add_argument(
        "--clients",
        type=int,
        action="append",
        help="a client count: 1, or an even number, half producers (default: 1 and 50)",
    )
    parser.add_argument("--dir", type=Path, help="make the files under here (default: /tmp)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--pin",
        choices=("auto", "never"),
        default="auto",
        help="auto (default): one client, every process on one CPU; more, the servers on "
        "one CPU and the clients on the others. never: let them float",
    )
    args = parser.parse_args(argv)
    for count in args.clients or ():
        if count < 1 or (count > 1 and count % 2):
            parser.error(f"--clients {count}: 1, or an even number (half producers)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rounds, seconds, warm = (1, 1.0, 0.1) if args.quick else (args.rounds, args.seconds, 0.2)
    config = Config(
        rounds=rounds,
        seconds=seconds,
        warm=warm,
        stores=tuple(args.store or STORES),
        clients=tuple(sorted(set(args.clients or CLIENTS))),
        pin=args.pin,
    )
    placement = Placement(args.pin)
    skipped = skipped_stores(config.stores)
    job_bytes = len(StateClient._pack(job(1000)))
    print(
        f"pygnetic {pygnetic.__version__} state service's workspaces (python -m pygnetic.state, "
        f"a process of its own) against the bare store's queue; "
        f"{platform.python_implementation()} {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        f"a pair: a store of a {job_bytes}-byte job into a FIFO variable, and a fetch of it. "
        "One client: store then fetch, blocking calls. More: half producers (one store_nowait "
        "in flight each), half workers (one fetch_nowait waiting each), connections driven "
        "from this process; the floor's as that many threads.",
        flush=True,
    )
    print(placement.describe(), flush=True)
    rows: list[dict] = []
    redis_version = None
    started = now()
    with _workdir(args.dir) as workdir:
        pids: dict[str, int] = {}
        with contextlib.closing(
            each_store(config.stores, skipped, workdir, placement, pids)
        ) as stores:
            for store, redis_url, version in stores:
                redis_version = version or redis_version
                began = now()
                results = measure_store(store, config, placement, workdir, redis_url, pids)
                rows += summarize(results, store)
                print(f"measured {store} in {now() - began:.0f} s", flush=True)
    print_table(rows, config)
    print_costs(rows)
    print_end(notes(rows, skipped), started)
    if args.json:
        document = {
            "config": config.__dict__,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "redis": redis_version,
            "cpus": os.cpu_count(),
            "job_bytes": job_bytes,
            "rows": rows,
            "skipped": skipped,
        }
        args.json.write_text(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
