"""python -m benchmarks.state: the state service against its bare stores, in one run.

Per operation (``get``: ``state[key]``; ``set``: ``state[key] = v``;
``update``: ``state.update(key, oldhash, v)``, a compare-and-swap), per store
(SQLite, Redis) and for one client and for 50: requests a second and the
latency of each request (median, p99, mean), next to the same operation made
straight on the bare store, in the same run. The floor:

* SQLite: a file of its own in WAL mode with ``synchronous=FULL`` (as the
  store's), a ``variables`` table keyed by (space, name) like the store's;
  ``get`` is one ``SELECT data, hash`` of a row, ``set`` one committed
  UPSERT, ``update`` a ``BEGIN IMMEDIATE`` transaction that selects the
  hash, compares it and updates the row. In process; 50 clients are 50
  threads, each with its own connection, taking turns for writes on a lock
  (one writer at a time, as SQLite allows, without its busy-wait sleeps).
* Redis: redis-py on the same redis-server as the service's store (a Unix
  socket, no persistence): ``GET``, ``SET`` and a compare-and-swap in a
  small Lua script (``EVALSHA``). 50 clients are 50 threads, one connection
  each.

The service runs in its own process (``python -m pygnetic.state``), so
client and server do not share a GIL. One client makes blocking calls;
50 clients are 50 connections driven from this process with the
``…_nowait`` forms, each with one request in flight, woken by a selector
over the clients' sockets. Each client has a key of its own (every
``update`` succeeds). The application is ``readmode=ANY, writemode=ANY``,
the clients are not logged in. The table adds the server process's CPU per
request and how busy it and this process were: a server near 100% is the
limit, not the client loop. Where the processes run is :class:`Placement`'s
choice (``--pin``).

The goal is the service's latency within 2x of the floor's: the median with
one client; with more, the mean, since the floor's threads take turns on the
GIL and a thread's median is a request inside its turn (see
:func:`run_threads`).

A second table places one client's time: the floor, the service's own work
on the same store in this process without the network (``StateService``
over a store, each request in its own batch, as the server does), and the
whole request over loopback TCP; with, above it, a bare Python echo over
loopback (:mod:`benchmarks.state_peer`) and the service's ``version()``, a
request that reads no data.

Figures are the median of the rounds (each cell timed for ``--seconds``
after a short warm-up, the cells of a round interleaved). ``--quick`` is a
smoke run of some 15 seconds. Redis rows are skipped, with the reason, where
``pygnetic.state.RedisStore`` or redis-py cannot be imported or no
``redis-server`` is on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

import pygnetic
from pygnetic.state import (
    ANY,
    DistributedState,
    SQLiteStore,
    StateLimits,
    hash_value,
    state_messages,
)
from pygnetic.state._model import APP
from pygnetic.state._service import StateService

from .common import percentile

OPS = ("get", "set", "update")
STORES = ("sqlite", "redis")
CLIENTS = (1, 50)
APPID = "bench+state"
EMAIL = "bench@example.com"
PASSWORD = "bench password"
GOAL = 2.0  # the service's latency within 2x of the bare store's
ECHO_BYTES = 60  # about a get request and its answer on the wire
now = time.perf_counter


def value(i: int) -> dict:
    """The value written: a small high-score entry, different each time."""
    return {"name": "Tom", "score": i, "level": 3}


def packed(i: int) -> tuple[bytes, str]:
    """What a program writing ``value(i)`` to the bare store keeps: its bytes and hash."""
    data = msgpack.packb(value(i))
    return data, hashlib.blake2b(data, digest_size=16).hexdigest()


# -- one timed cell ------------------------------------------------------------------


@dataclass
class Timed:
    """What one cell of one round measured."""

    ops: int  # requests completed inside the timed window
    seconds: float
    latencies: list[float]  # seconds, of those requests
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds / wall second
    cpu_per_op: dict[str, float] = field(default_factory=dict)  # process -> CPU µs per request

    def summary(self) -> dict:
        lat = self.latencies
        return {
            "ops_per_s": self.ops / self.seconds,
            "p50_us": statistics.median(lat) * 1e6 if lat else None,
            "p99_us": percentile(lat, 0.99) * 1e6 if lat else None,
            "mean_us": statistics.fmean(lat) * 1e6 if lat else None,
            "errors": self.errors,
            "cpu": self.cpu,
            "cpu_per_op_us": self.cpu_per_op,
        }


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc; 0.0 where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy (Linux's /proc/stat), or None."""
    try:
        with open("/proc/stat") as lines:
            fields = [int(field) for field in lines.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


class CpuMeter:
    """CPU used by this process and by some others (by pid) over a cell.

    ``others`` in the result is what the rest of the machine used meanwhile
    (what no process of this benchmark used), where it can be known.
    """

    def __init__(self, others: dict[str, int]) -> None:
        self.others = others

    def __enter__(self) -> CpuMeter:
        self._wall = now()
        self._self = time.process_time()
        self._start = {name: _proc_cpu(pid) for name, pid in self.others.items()}
        self._machine = _machine_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = now() - self._wall
        used = {"bench": time.process_time() - self._self}
        for name, pid in self.others.items():
            used[name] = _proc_cpu(pid) - self._start[name]
        machine = _machine_busy()
        self.rest = None
        if machine is not None and self._machine is not None:
            self.rest = max(0.0, machine - self._machine - sum(used.values())) / wall
        self.used, self.wall = used, wall

    def fill(self, timed: Timed, completed: int) -> Timed:
        timed.cpu = {name: used / self.wall for name, used in self.used.items()}
        if self.rest is not None:
            timed.cpu["others"] = self.rest
        if completed:
            timed.cpu_per_op = {name: used / completed * 1e6 for name, used in self.used.items()}
        return timed


def run_threads(
    make_op: Callable[[int], Callable[[int], Any]],
    clients: int,
    warm: float,
    seconds: float,
    meter: CpuMeter,
) -> Timed:
    """Each of ``clients`` calls its ``make_op(index)`` in a loop; one client runs right here.

    Counted: requests started after ``warm`` seconds and ended within the
    ``seconds`` after that. A request's latency runs from the end of the
    client's previous one, so that with threads the time one waits for its
    turn (the GIL, the write lock) is counted as the service's clients'
    waiting in its queue is: in both, the mean is clients / (requests/s).
    """
    results: list[tuple[list[float], int, int]] = [([], 0, 0)] * clients
    begin = threading.Event()
    start_at = [0.0]

    def loop(index: int, op: Callable[[int], Any]) -> None:
        begin.wait()
        first = start_at[0] + warm
        end = first + seconds
        latencies: list[float] = []
        errors = done = i = 0
        t0 = now()
        while t0 < end:
            try:
                op(i)
            except Exception:
                errors += 1
            t1 = now()
            i += 1
            done += 1
            if t0 >= first and t1 <= end:
                latencies.append(t1 - t0)
            t0 = t1  # back to back: a thread's wait for its turn between two requests counts
        results[index] = (latencies, errors, done)

    ops = [make_op(index) for index in range(clients)] if clients == 1 else []
    with meter:
        if clients == 1:
            start_at[0] = now()
            begin.set()
            loop(0, ops[0])
        else:
            ready = threading.Barrier(clients + 1)

            def thread(index: int) -> None:
                op = make_op(index)  # its own connection, made in its thread
                ready.wait()
                loop(index, op)

            threads = [threading.Thread(target=thread, args=(i,)) for i in range(clients)]
            for each in threads:
                each.start()
            ready.wait()
            start_at[0] = now()
            begin.set()
            for each in threads:
                each.join()
    latencies = [lat for lats, _, _ in results for lat in lats]
    errors = sum(e for _, e, _ in results)
    completed = sum(d for _, _, d in results)
    return meter.fill(Timed(len(latencies), seconds, latencies, errors), completed)


# -- the floors ----------------------------------------------------------------------

_FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS variables (
    space TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, data BLOB,
    PRIMARY KEY (space, name)
) WITHOUT ROWID;
"""
_UPSERT = (
    "INSERT INTO variables (space, name, hash, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (space, name) DO UPDATE SET hash = excluded.hash, data = excluded.data"
)
SPACE = f"{APP}/{APPID}"


class SQLiteFloor:
    """Bare sqlite3 on a WAL file with synchronous=FULL, doing what the store does per request."""

    def __init__(self, path: Path, clients: int) -> None:
        self.path = path
        self.write_lock = threading.Lock()
        db = self.connect()
        db.executescript(_FLOOR_SCHEMA)
        data, digest = packed(0)
        for index in range(clients):
            db.execute(_UPSERT, (SPACE, key(index), digest, data))
        db.close()
        self.hashes = [digest] * clients

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def make(self, op: str, shared: bool) -> Callable[[int], Callable[[int], Any]]:
        lock = self.write_lock if shared else contextlib.nullcontext()

        def make_op(index: int) -> Callable[[int], Any]:
            db, name = self.connect(), key(index)
            select = "SELECT data, hash FROM variables WHERE space = ? AND name = ?"
            if op == "get":
                return lambda i: db.execute(select, (SPACE, name)).fetchone()
            if op == "set":

                def put(i: int) -> None:
                    data, digest = packed(i)
                    with lock:
                        db.execute(_UPSERT, (SPACE, name, digest, data))
                    self.hashes[index] = digest

                return put

            def cas(i: int) -> None:
                data, digest = packed(i)
                with lock:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        row = db.execute(
                            "SELECT hash FROM variables WHERE space = ? AND name = ?",
                            (SPACE, name),
                        ).fetchone()
                        if row is None or row[0] != self.hashes[index]:
                            raise RuntimeError("the compare-and-swap failed")
                        db.execute(
                            "UPDATE variables SET hash = ?, data = ? WHERE space = ? AND name = ?",
                            (digest, data, SPACE, name),
                        )
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
                    db.execute("COMMIT")
                self.hashes[index] = digest

            return cas

        return make_op


_CAS = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""


class RedisFloor:
    """Bare redis-py: GET, SET and a compare-and-swap in Lua, one connection per client."""

    def __init__(self, url: str, clients: int) -> None:
        import redis

        self.redis, self.url = redis, url
        client = redis.Redis.from_url(url)
        data, digest = packed(0)
        for index in range(clients):
            client.set(f"floor:{key(index)}", data)
            client.set(f"floor:{key(index)}:hash", digest)
        client.close()
        self.hashes = [digest] * clients

    def make(self, op: str, shared: bool) -> Callable[[int], Callable[[int], Any]]:
        def make_op(index: int) -> Callable[[int], Any]:
            client = self.redis.Redis.from_url(self.url)
            name = f"floor:{key(index)}"
            if op == "get":
                return lambda i: client.get(name)
            if op == "set":

                def put(i: int) -> None:
                    client.set(name, packed(i)[0])  # the value alone; its hash key stays

                return put
            script = client.register_script(_CAS)

            def cas(i: int) -> None:
                data, digest = packed(i)
                keys = [name, name + ":hash"]
                if script(keys=keys, args=[self.hashes[index], data, digest]) != 1:
                    raise RuntimeError("the compare-and-swap failed")
                self.hashes[index] = digest

            return cas

        return make_op


def as_sent(v: Any) -> bytes:
    """A value as a client sends it, packed (about a microsecond of the time per request)."""
    return state_messages.serializer.pack(v)


class InProcess:
    """The service's own work in this process: StateService over a store, no network."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.service = StateService(store, StateLimits())
        self.service.new_space(EMAIL, APP, APPID, ANY, ANY, True)
        self.service.put(None, APP, APPID, key(0), as_sent(value(0)), None)
        self.hash = hash_value(value(0))

    def make(self, op: str, shared: bool) -> Callable[[int], Callable[[int], Any]]:
        service, store, name = self.service, self.store, key(0)

        def make_op(index: int) -> Callable[[int], Any]:
            if op == "get":

                def get(i: int) -> None:
                    with store.batch(False):  # a round of reads, as the server serves it
                        service.get(None, APP, APPID, name, None)

                return get
            if op == "set":

                def put(i: int) -> None:
                    with store.batch():
                        _, stored = service.put(None, APP, APPID, name, as_sent(value(i)), None)
                    self.hash = stored.hash

                return put

            def cas(i: int) -> None:
                with store.batch():
                    data = as_sent(value(i))
                    _, stored = service.put(None, APP, APPID, name, data, self.hash)
                self.hash = stored.hash

            return cas

        return make_op


def key(index: int) -> str:
    return f"k{index}"


# -- the service ---------------------------------------------------------------------


def _pythonpath() -> str:
    """The PYTHONPATH that makes a child import this very pygnetic and benchmarks."""
    here = [
        str(Path(pygnetic.__file__).resolve().parent.parent),
        str(Path(__file__).resolve().parent.parent),
    ]
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join(here + ([inherited] if inherited else []))


class Process:
    """A child process started with a line to wait for on its stdout; ended with SIGTERM.

    What it prints after that line (redis-server's log) is copied to ``log``
    by a thread, so that a full pipe never stops it.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        ready: Callable[[str], bool],
    ) -> None:
        self.name = name
        self.log = log
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop())
        env = dict(os.environ, PYTHONPATH=_pythonpath(), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, env=env)
        self.line = self._wait_for(ready, timeout=30.0)
        self._drain = threading.Thread(target=self._copy, daemon=True)
        self._drain.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_for(self, ready: Callable[[str], bool], timeout: float) -> str:
        """Read the child's stdout (unbuffered: no line hides in a buffer) until ``ready``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        deadline = now() + timeout
        pending = b""
        seen: list[str] = []
        try:
            while now() < deadline and selector.select(max(0.0, deadline - now())):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace")
                    seen.append(line)
                    if ready(line):
                        self._log.write(pending)
                        return line.strip()
        finally:
            selector.close()
        self.stop()
        raise RuntimeError(
            f"{self.name} did not start: {chr(10).join(seen)[-500:]}"
            f"{self.log.read_text(errors='replace')[-1500:]}"
        )

    def _copy(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: os.read(self.proc.stdout.fileno(), 65536), b""):
                self._log.write(chunk)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        drain = getattr(self, "_drain", None)
        if drain is not None:
            drain.join(5)  # the pipe has ended with the child
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def start_redis(workdir: Path) -> tuple[Process, str]:
    """A redis-server of our own on a Unix socket in ``workdir``, no persistence."""
    sock = workdir / "redis.sock"
    argv = [
        "redis-server", "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
    ]  # fmt: skip
    server = Process("redis-server", argv, workdir / "redis.log", lambda line: "ready" in line)
    return server, f"unix://{sock}"


def start_service(store: str, workdir: Path, redis_url: str | None) -> tuple[Process, str]:
    argv = [sys.executable, "-m", "pygnetic.state", "--port", "0", "--log-level", "WARNING"]
    if store == "redis":
        argv += ["--redis", str(redis_url)]
    else:
        argv += ["--db", str(workdir / "service.db")]
    server = Process(
        f"the {store} state service",
        argv,
        workdir / f"service-{store}.log",
        lambda line: line.startswith("listening on "),
    )
    return server, server.line.removeprefix("listening on ")


class Clients:
    """The service's clients: ``count`` connections, each with a key of its own."""

    def __init__(self, address: str, count: int) -> None:
        admin = DistributedState(address)
        admin.create_account(EMAIL, PASSWORD)
        admin.login(EMAIL, PASSWORD)
        admin.new_app(APPID, readmode=ANY, writemode=ANY)
        for index in range(count):
            admin[key(index)] = value(0)
        admin.close()
        self.states = []
        for _ in range(count):
            state = DistributedState(address)
            state.join(APPID)
            self.states.append(state)
        self.hashes = [hash_value(value(0))] * count

    def keepalive(self) -> None:
        for state in self.states:
            state.poll(0)

    def close(self) -> None:
        for state in self.states:
            state.close()

    def make(self, op: str, shared: bool) -> Callable[[int], Callable[[int], Any]]:
        """Blocking calls, for the one-client cell."""

        def make_op(index: int) -> Callable[[int], Any]:
            state, name = self.states[index], key(index)
            if op == "version":  # a request with no data: the service's own path
                return lambda i: state.version()
            if op == "get":
                return lambda i: state[name]
            if op == "set":

                def put(i: int) -> None:
                    v = value(i)
                    state[name] = v
                    self.hashes[index] = hash_value(v)

                return put

            def cas(i: int) -> None:
                v = value(i)
                state.update(name, self.hashes[index], v)
                self.hashes[index] = hash_value(v)

            return cas

        return make_op

    def run_many(self, op: str, clients: int, warm: float, seconds: float, meter: CpuMeter):
        """``clients`` connections, one request in flight each, from this one thread."""
        states = self.states[:clients]
        selector = selectors.DefaultSelector()
        spin = []
        for state in states:
            fileno = state._client._transport.fileno()  # the client's own selector
            if fileno is None:
                spin.append(state)
            else:
                selector.register(fileno, selectors.EVENT_READ, state)
        latencies: list[float] = []
        counts = {"errors": 0, "done": 0, "pending": 0}
        window = [0.0, 0.0]
        stopping = [False]

        def issue(index: int, i: int) -> None:
            state, name = states[index], key(index)
            t0 = now()

            def finished(request: Any) -> None:
                t1 = now()
                counts["pending"] -= 1
                counts["done"] += 1
                if request.error is not None:
                    counts["errors"] += 1
                elif op != "get":
                    self.hashes[index] = request.result()
                if t0 >= window[0] and t1 <= window[1]:
                    latencies.append(t1 - t0)
                if not stopping[0]:
                    issue(index, i + 1)

            counts["pending"] += 1
            if op == "get":
                state.get_nowait(name, callback=finished)
            elif op == "set":
                state.set_nowait(name, value(i), callback=finished)
            else:
                state.update_nowait(name, self.hashes[index], value(i), callback=finished)

        with meter:
            start = now()
            window[:] = [start + warm, start + warm + seconds]
            for index in range(clients):
                issue(index, 0)
            for state in states:
                state.poll(0)  # sends the first requests
            while True:
                t = now()
                if t >= window[1]:
                    stopping[0] = True
                    if not counts["pending"] or t > window[1] + 10:
                        break
                for found, _ in selector.select(0.005 if not spin else 0):
                    found.data.poll(0)
                for state in spin:
                    state.poll(0)
        selector.close()
        timed = Timed(len(latencies), seconds, latencies, counts["errors"] + counts["pending"])
        return meter.fill(timed, counts["done"])


def echo_round_trips(workdir: Path, warm: float, seconds: float) -> Timed:
    """Round trips of a request-sized message to a Python echo server in another process."""
    peer = Process(
        "the echo server",
        [sys.executable, "-m", "benchmarks.state_peer"],
        workdir / "echo.log",
        lambda line: line.startswith("listening on "),
    )
    try:
        host, _, port = peer.line.removeprefix("listening on ").rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * ECHO_BYTES

            def make_op(index: int) -> Callable[[int], None]:
                def echo(i: int) -> None:
                    sock.sendall(message)
                    got = 0
                    while got < len(message):
                        got += len(sock.recv(65536))

                return echo

            return run_threads(make_op, 1, warm, seconds, CpuMeter({"echo": peer.pid}))
    finally:
        peer.stop()


# -- the run -------------------------------------------------------------------------


@dataclass
class Config:
    rounds: int
    seconds: float
    warm: float
    ops: tuple[str, ...]
    stores: tuple[str, ...]
    clients: tuple[int, ...]
    pin: str = "auto"


class Placement:
    """Which CPUs the servers (the service, redis-server, the echo) and this process use, per cell.

    ``auto`` (the default): with one client every process runs on one CPU.
    A request is then a chain of steps, one process at a time, and the
    processes take turns on that CPU; pinned apart, each hop waits for the
    other CPU to wake, which on this kind of virtual machine costs more than
    the work (a Python loopback echo: about 30 µs on one CPU, 140 µs across
    two), and left to float the processes land now together, now apart.
    With more clients the servers have one CPU and this process the others,
    so that the two work at once, as a service on a machine of its own
    would (left to float, the scheduler now and then keeps the pair on one
    CPU for seconds, and the rate halves). ``never`` pins nothing, and
    nothing is pinned where the system cannot pin or has one CPU.
    """

    def __init__(self, mode: str) -> None:
        self.servers: list[int] = []
        try:
            cpus: list[int] | None = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = None
        self.all = cpus
        self.pinning = cpus is not None and len(cpus) > 1 and mode != "never"
        if cpus is not None and self.pinning:
            self.server_cpus, self.bench_cpus, self.one = cpus[:1], cpus[1:], cpus[-1:]

    def apply(self, clients: int) -> str:
        """Place the processes for a cell of ``clients``; return how (for the results)."""
        if self.all is None:
            return "floating"
        if not self.pinning:
            servers = bench = self.all
        elif clients == 1:
            servers = bench = self.one
        else:
            servers, bench = self.server_cpus, self.bench_cpus
        for pid in self.servers:
            with contextlib.suppress(OSError):  # it may have ended
                os.sched_setaffinity(pid, servers)
        os.sched_setaffinity(0, bench)  # the threads made from now on too
        if not self.pinning:
            return "floating"
        return f"servers on CPU {_cpus(servers)}, clients on CPU {_cpus(bench)}"

    def describe(self) -> str:
        if not self.pinning:
            return "placement: the processes float over the CPUs"
        return (
            f"placement: one client, every process on CPU {_cpus(self.one)}; more clients, "
            f"the service and redis-server on CPU {_cpus(self.server_cpus)} and this "
            f"process on CPU {_cpus(self.bench_cpus)}"
        )


def _cpus(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def redis_unavailable() -> str | None:
    """Why the Redis rows cannot run here, or None."""
    try:
        from pygnetic.state import RedisStore  # noqa: F401
    except ImportError as exc:
        return f"pygnetic.state.RedisStore cannot be imported ({exc})"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed (python -m pip install redis)"
    if shutil.which("redis-server") is None:
        return "no redis-server on PATH"
    return None


Cells = dict[tuple[str, int], dict[str, list[dict]]]


def run_rounds(
    rounds: int,
    cells: list[tuple[str, int]],
    sides: Callable[[str, int], list[str]],
    measure: Callable[[str, int, str], Timed],
    placement: Placement,
    idle: Callable[[], None],
) -> Cells:
    """Every cell of every round, each of its sides: {(cell, clients): {side: [round summaries]}}.

    The cells of a round are interleaved, and a cell's sides (``sides(cell,
    clients)``) measured in reverse order on odd rounds, so that no side is
    always first; the processes are placed for the cell's clients. ``idle``
    runs before each side and after each round (connections idle while the
    others run), then a garbage collection before the side, so that none
    falls inside it; ``measure(cell, clients, side)`` times it.
    """
    results: Cells = {}
    for round_ in range(rounds):
        for cell, count in cells:
            names = sides(cell, count)
            if round_ % 2:
                names.reverse()  # no side always first
            placed = placement.apply(count)
            for side in names:
                idle()  # the connections idle while the others run
                gc.collect()
                timed = measure(cell, count, side)
                results.setdefault((cell, count), {}).setdefault(side, []).append(
                    timed.summary() | {"placement": placed}
                )
        idle()
    return results


def measure_store(
    store: str,
    config: Config,
    placement: Placement,
    workdir: Path,
    redis_url: str | None,
    pids: dict[str, int],
) -> Cells:
    """Every cell of one store, every round: {(op, clients): {side: [round summaries]}}.

    Sides: ``service``, ``floor``, and with one client ``inprocess``; the op
    ``version`` (one client, the service alone) places the request path.
    """
    most = max(config.clients)
    server, address = start_service(store, workdir, redis_url)
    placement.servers.append(server.pid)
    results: Cells = {}
    clients = None
    inprocess_store: Any = None
    try:
        clients = service_clients = Clients(address, most)
        service_pids = dict(pids, server=server.pid)
        if store == "sqlite":
            floor: Any = SQLiteFloor(workdir / "floor.db", most)
            inprocess_store = SQLiteStore(workdir / "inprocess.db")
        else:
            from pygnetic.state import RedisStore

            floor = RedisFloor(str(redis_url), most)
            inprocess_store = RedisStore(str(redis_url), prefix="inprocess:")
        inprocess = InProcess(inprocess_store)
        cells: list[tuple[str, int]] = [("version", 1)] if 1 in config.clients else []
        cells += [(op, count) for op in config.ops for count in config.clients]
        targets: dict[str, tuple[Any, dict]] = {
            "service": (service_clients, service_pids),
            "floor": (floor, pids),
            "inprocess": (inprocess, pids),
        }

        def sides(op: str, count: int) -> list[str]:
            if op == "version":
                return ["service"]
            return ["service", "floor", "inprocess"] if count == 1 else ["service", "floor"]

        def measure(op: str, count: int, side: str) -> Timed:
            target, meter_pids = targets[side]
            meter = CpuMeter(meter_pids)
            if side == "service" and count > 1:
                return service_clients.run_many(op, count, config.warm, config.seconds, meter)
            make_op = target.make(op, shared=count > 1)
            return run_threads(make_op, count, config.warm, config.seconds, meter)

        results = run_rounds(
            config.rounds, cells, sides, measure, placement, service_clients.keepalive
        )
    finally:
        if clients is not None:
            clients.close()
        if inprocess_store is not None:
            inprocess_store.close()
        server.stop()
    return results


def _median(rounds: list[dict], name: str) -> float | None:
    values = [r[name] for r in rounds if r.get(name) is not None]
    return statistics.median(values) if values else None


def _cpu(rounds: list[dict], name: str, process: str) -> float | None:
    values = [r[name][process] for r in rounds if process in r.get(name, {})]
    return statistics.median(values) if values else None


def side_summary(rounds: list[dict]) -> dict:
    """Medians over the rounds of one side of one cell."""
    return {
        "ops_per_s": _median(rounds, "ops_per_s"),
        "p50_us": _median(rounds, "p50_us"),
        "p99_us": _median(rounds, "p99_us"),
        "mean_us": _median(rounds, "mean_us"),
        "errors": sum(r["errors"] for r in rounds),
        "server_cpu_per_op_us": _cpu(rounds, "cpu_per_op_us", "server"),
        "server_busy": _cpu(rounds, "cpu", "server"),
        "bench_busy": _cpu(rounds, "cpu", "bench"),
        "others_busy": _cpu(rounds, "cpu", "others"),
        "redis_cpu_per_op_us": _cpu(rounds, "cpu_per_op_us", "redis"),
        "rounds": rounds,
    }


def summarize(results: Cells, store: str) -> tuple[list[dict], dict | None]:
    """The rows of one store, and its ``version()`` reference (or None)."""
    rows, version = [], None
    for (op, count), sides in results.items():
        summaries = {side: side_summary(rounds) for side, rounds in sides.items()}
        if op == "version":
            version = summaries["service"]
            continue
        service, floor = summaries["service"], summaries["floor"]
        row: dict[str, Any] = {"op": op, "store": store, "clients": count, **summaries}
        row["p50_ratio"] = _ratio(service["p50_us"], floor["p50_us"])
        row["mean_ratio"] = _ratio(service["mean_us"], floor["mean_us"])
        row["rate_ratio"] = _ratio(service["ops_per_s"], floor["ops_per_s"])
        # One client: the median is the latency; more clients in a closed loop:
        # the mean, which holds the waiting for one's turn (see run_threads).
        measure = row["p50_ratio"] if count == 1 else row["mean_ratio"]
        row["goal_met"] = None if measure is None else measure <= GOAL
        rows.append(row)
    return rows, version


def _ratio(mine: float | None, floor: float | None) -> float | None:
    return None if mine is None or not floor else mine / floor


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


def _us(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}×"


def _share(busy: float | None) -> str:
    return "-" if busy is None else f"{busy:.0%}"


def print_table(rows: list[dict], config: Config) -> None:
    print(
        f"\nMedians of {config.rounds} round(s), {config.seconds:g} s a cell; latency in µs; "
        f"× = service / floor (goal: latency ≤ {GOAL:g}×: the median with 1 client, the "
        "mean with more)\n"
    )
    head = (
        f"{'op':<6} {'store':<6} {'clients':>7} | {'service/s':>9} {'p50':>6} {'p99':>6} "
        f"{'mean':>6} | {'floor/s':>9} {'p50':>6} {'p99':>6} {'mean':>6} | {'p50 ×':>7} "
        f"{'mean ×':>7} {'goal':>6} | {'srv µs':>6} {'srv':>4} {'bench':>5}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        s, f = row["service"], row["floor"]
        goal = {True: "met", False: "missed", None: "-"}[row["goal_met"]]
        print(
            f"{row['op']:<6} {row['store']:<6} {row['clients']:>7} | "
            f"{_rate(s['ops_per_s']):>9} {_us(s['p50_us']):>6} {_us(s['p99_us']):>6} "
            f"{_us(s['mean_us']):>6} | {_rate(f['ops_per_s']):>9} {_us(f['p50_us']):>6} "
            f"{_us(f['p99_us']):>6} {_us(f['mean_us']):>6} | {_times(row['p50_ratio']):>7} "
            f"{_times(row['mean_ratio']):>7} {goal:>6} | {_us(s['server_cpu_per_op_us']):>6} "
            f"{_share(s['server_busy']):>4} {_share(s['bench_busy']):>5}"
        )
    print(
        "\nservice/s, floor/s: requests a second, all clients together. srv µs: CPU of the "
        "service's process per request; srv, bench: how busy the service's process and this "
        "one (the clients) were in the service's cell, of one CPU."
    )


def print_placement(rows: list[dict], versions: dict[str, dict], echo: dict | None) -> None:
    placed = [row for row in rows if "inprocess" in row]
    if not placed:
        return
    print("\nOne client, where a request's time goes (medians, µs)\n")
    if echo is not None:
        print(
            f"loopback echo, Python sockets to another process ({ECHO_BYTES} bytes each way): "
            f"p50 {_us(echo['p50_us'])}, p99 {_us(echo['p99_us'])}"
        )
    for store, version in versions.items():
        print(
            f"{store} service, version() (a request that reads no data): "
            f"p50 {_us(version['p50_us'])}, p99 {_us(version['p99_us'])}, server CPU "
            f"{_us(version['server_cpu_per_op_us'])} µs a request"
        )
    head = (
        f"\n{'op':<6} {'store':<6} | {'floor':>6} {'in process':>10} {'over TCP':>8} | "
        f"{'service work':>12} {'the rest':>8}"
    )
    print(head)
    print("-" * (len(head) - 1))
    for row in placed:
        floor, inproc, service = (row[k]["p50_us"] for k in ("floor", "inprocess", "service"))
        work = None if inproc is None or floor is None else inproc - floor
        rest = None if inproc is None or service is None else service - inproc
        print(
            f"{row['op']:<6} {row['store']:<6} | {_us(floor):>6} {_us(inproc):>10} "
            f"{_us(service):>8} | {_us(work):>12} {_us(rest):>8}"
        )
    print(
        "\nin process: StateService on a store of the same kind in this process, no network, "
        "each request in a batch of its own as the server serves one client (the space's "
        "record is read for every request). service work = in process - floor; the rest = "
        "over TCP - in process: both programs' loops, messages, and the loopback round trip."
    )


def notes(rows: list[dict], skipped: dict[str, str]) -> list[str]:
    lines = [f"skipped {store}: {why}" for store, why in skipped.items()]
    failed = [
        f"{row['op']} {row['store']} {row['clients']} {side}: {row[side]['errors']}"
        for row in rows
        for side in ("service", "floor", "inprocess")
        if side in row and row[side]["errors"]
    ]
    if failed:
        lines.append("requests that failed (not counted): " + "; ".join(failed))
    others = sorted(
        r["cpu"]["others"]
        for row in rows
        for side in ("service", "floor", "inprocess")
        for r in row.get(side, {}).get("rounds", [])
        if "others" in r["cpu"]
    )
    if others:
        lines.append(
            f"Other processes on the machine used a median {others[len(others) // 2]:.0%} and "
            f"at most {others[-1]:.0%} of a CPU during the cells (from /proc/stat: what no "
            "process of this benchmark used, the kernel's own threads included, which do part "
            "of each fsync: SQLite's write cells show 20-40% by themselves here)."
        )
    if any(row["clients"] > 1 for row in rows):
        lines.append(
            "More clients: the service's requests wait in its queue; the floor's threads wait "
            "for their turn on the GIL (each runs a few ms of requests, then waits) or, for "
            "SQLite writes, on the write lock. Their medians are not alike (a floor thread's "
            "median is a request within its turn); their means are: clients ÷ requests/s in "
            "both. The service commits a round of writes (one request of each waiting "
            "client) in one SQLite transaction; the floor commits each write."
        )
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.state",
        description="The state service against its bare stores (SQLite, Redis), in one run.",
    )
    parser.add_argument("-r", "--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="seconds timed per cell (default 1.5)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one short round")
    parser.add_argument("--op", action="append", choices=OPS, help="only this operation")
    parser.add_argument("--store", action="append", choices=STORES, help="only this store")
    parser.add_argument(
        "--clients", type=int, action="append", help="a client count (default: 1 and 50)"
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rounds, seconds, warm = (1, 0.25, 0.05) if args.quick else (args.rounds, args.seconds, 0.2)
    config = Config(
        rounds=rounds,
        seconds=seconds,
        warm=warm,
        ops=tuple(args.op or OPS),
        stores=tuple(args.store or STORES),
        clients=tuple(sorted(set(args.clients or CLIENTS))),
        pin=args.pin,
    )
    placement = Placement(args.pin)
    skipped = skipped_stores(config.stores)
    print(
        f"pygnetic {pygnetic.__version__} state service (python -m pygnetic.state, a process "
        f"of its own) against the bare store; {platform.python_implementation()} "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} "
        f"CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        "service: one client makes blocking calls; more are that many connections driven "
        "from this process with the _nowait forms, one request in flight each, a key each. "
        "floor: the bare store from this process, more clients as that many threads.",
        flush=True,
    )
    print(placement.describe(), flush=True)
    rows: list[dict] = []
    versions: dict[str, dict] = {}
    echo = None
    started = now()
    with _workdir(args.dir) as workdir:
        if 1 in config.clients:
            placement.apply(1)
            echo = echo_round_trips(workdir, warm, seconds).summary()
        pids: dict[str, int] = {}
        with contextlib.closing(
            each_store(config.stores, skipped, workdir, placement, pids)
        ) as stores:
            for store, redis_url, _ in stores:
                began = now()
                store_rows, version = summarize(
                    measure_store(store, config, placement, workdir, redis_url, pids), store
                )
                rows += store_rows
                if version is not None:
                    versions[store] = version
                print(f"measured {store} in {now() - began:.0f} s", flush=True)
    print_table(rows, config)
    print_placement(rows, versions, echo)
    print_end(notes(rows, skipped), started)
    if args.json:
        document = {
            "config": config.__dict__,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "rows": rows,
            "version": versions,
            "echo": echo,
            "skipped": skipped,
        }
        args.json.write_text(json.dumps(document, indent=1))
    return 0


def skipped_stores(stores: tuple[str, ...]) -> dict[str, str]:
    """The stores that cannot be measured on this machine, with why (said at once)."""
    skipped: dict[str, str] = {}
    if "redis" in stores:
        why = redis_unavailable()
        if why is not None:
            skipped["redis"] = why
            print(f"skipping redis: {why}", flush=True)
    return skipped


def each_store(
    stores: tuple[str, ...],
    skipped: dict[str, str],
    workdir: Path,
    placement: Placement,
    pids: dict[str, int],
) -> Iterator[tuple[str, str | None, str | None]]:
    """Yield ``(store, redis URL, redis version)`` for each store to measure, in turn.

    A redis-server runs while Redis's turn lasts (close the iterator to stop
    it early): on a Unix socket in ``workdir``, pinned as a server, its pid
    in ``pids``.
    """
    for store in stores:
        if store in skipped:
            continue
        if store != "redis":
            yield store, None, None
            continue
        redis_server, redis_url = start_redis(workdir)
        placement.servers.append(redis_server.pid)
        pids["redis"] = redis_server.pid
        try:
            version = _redis_version()
            print(f"{version}, on a Unix socket, no persistence", flush=True)
            yield store, redis_url, version
        finally:
            redis_server.stop()
            placement.servers.remove(redis_server.pid)  # its pid may be another's later


def print_end(extra: list[str], started: float) -> None:
    """Print the notes under the tables, and the run's time and load."""
    if extra:
        print()
        for line in extra:
            print(line)
    print(f"\n{now() - started:.0f} s in all, load {os.getloadavg()[0]:.2f} at the end")


def _redis_version() -> str:
    done = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.split(" sha=")[0].strip()


@contextlib.contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pygnetic-state-bench-", dir=given) as made:
        yield Path(made)


if __name__ == "__main__":
    raise SystemExit(main())
