"""The processes of a replication run: ``python -m benchmarks.replication_peer CONFIG``.

Each peer is a server or a process of clients of one implementation, the module
``benchmarks.replication_<impl>``. CONFIG is one JSON object: ``role``
(``"server"`` or ``"clients"``), ``impl``, ``world`` (a
:class:`~benchmarks.replication_world.Config`), ``clients`` (in the whole run),
and for clients ``port``, ``count`` and ``connect_timeout``; ``cpus``, if
there, are the CPUs the peer runs on.

The peer and the parent talk in JSON lines: commands on the peer's stdin
(``start``, ``stop``, ``quit``; the end of stdin is ``quit``), reports on its
stdout (``port``, ``ready``, ``result``, ``error``). Whatever a library prints
goes to stderr, which the parent keeps to show when a peer fails. The peer
ends with ``os._exit``: a library's own threads do not keep it alive.

Standard library only, like the world: the PyGaSe row runs this module in an
interpreter that has PyGaSe and maybe nothing else. Its implementations have:

* a server side ``ServerSide(world, clients)`` with ``port``, ``ticks`` (the
  ``(time_order, tick_time)`` of every tick so far, written by its game loop)
  and ``pump(seconds)`` (one round of its loop, waiting at most that long),
  or ``pump = None`` when the library runs in threads of its own;
* a clients side ``ClientSide(world, port, count)`` with ``pump(seconds)``
  (drive the clients where they need it and note each new time order each
  one has), ``ready()`` (how many have the whole world), ``arrivals`` (per
  client, ``[time_order, tick_time, when]`` of each time order when first
  seen) and ``counters()`` (bytes and datagrams its sockets received and
  sent, from the start).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from .harness import RunFailed
from .replication_world import Config

MODULE = "benchmarks.replication_peer"


class Control:
    """A peer's side of its two pipes to the parent."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # what anything else prints goes to stderr
        sys.stdout = sys.stderr
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self._commands.put(line.strip())
        self._commands.put("quit")  # the parent is gone

    def poll(self, timeout: float = 0.0) -> str | None:
        """The next command from the parent, waiting up to ``timeout`` seconds for it."""
        try:
            if timeout > 0:
                return self._commands.get(timeout=timeout)
            return self._commands.get_nowait()
        except queue.Empty:
            return None

    def send(self, kind: str, **data) -> None:
        self._out.write(json.dumps({"kind": kind, **data}) + "\n")

    def close(self) -> None:
        self._out.flush()


#: Seconds a server side's pump may wait (for its next tick, or a command).
SERVER_WAIT = 0.05


def serve(control: Control, side) -> None:
    """Report the port; between ``start`` and ``stop``, the CPU time and the ticks."""
    control.send("port", port=side.port)
    pump = side.pump
    started = (time.monotonic(), time.process_time())
    while True:
        command = control.poll(0.0 if pump else 0.05)
        if command == "quit":
            return
        if command == "start":
            started = (time.monotonic(), time.process_time())
        elif command == "stop":
            cpu = time.process_time() - started[1]
            begin, end = started[0], time.monotonic()
            ticks = [list(tick) for tick in list(side.ticks) if begin <= tick[1] <= end]
            control.send("result", seconds=end - begin, cpu=cpu, ticks=ticks)
        if pump:
            # A dedicated server's loop, as the docs give it (backend.update(50)):
            # each row's server waits until its next tick is due, 50 ms at most.
            pump(SERVER_WAIT)


def run_clients(control: Control, side, count: int, connect_timeout: float) -> None:
    """Wait until the clients have the world; between ``start`` and ``stop``, count bytes."""
    deadline = time.monotonic() + connect_timeout
    while side.ready() < count and time.monotonic() < deadline:
        if control.poll() == "quit":
            return
        side.pump(0.005)
    control.send("ready", ready=side.ready(), of=count)
    started = (time.monotonic(), time.process_time(), side.counters())
    while True:
        command = control.poll()
        if command == "quit":
            return
        if command == "start":
            started = (time.monotonic(), time.process_time(), side.counters())
        elif command == "stop":
            counters = side.counters()
            control.send(
                "result",
                seconds=time.monotonic() - started[0],
                cpu=time.process_time() - started[1],
                counters={key: delta(value, started[2][key]) for key, value in counters.items()},
                arrivals=side.arrivals,
            )
        side.pump(0.001)


def delta(now: int, then: int) -> int:
    """``now - then`` of a counter, which ENet keeps in 32 bits."""
    return (now - then) % 2**32


def main(argv: list[str]) -> None:
    config = json.loads(argv[0])
    if config.get("cpus"):  # before any thread: Linux pins threads, new ones inherit it
        os.sched_setaffinity(0, config["cpus"])
    control = Control()
    try:
        world = Config(**config["world"])
        module = importlib.import_module(f"benchmarks.replication_{config['impl']}")
        if config["role"] == "server":
            serve(control, module.ServerSide(world, config["clients"]))
        else:
            side = module.ClientSide(world, config["port"], config["count"])
            run_clients(control, side, config["count"], config["connect_timeout"])
    except BaseException:  # report everything, then end
        control.send("error", traceback=traceback.format_exc())
    finally:
        control.close()
        sys.stderr.flush()
        os._exit(0)


class PeerProcess:
    """The parent's handle on one peer, run by ``python`` (any interpreter)."""

    def __init__(self, name: str, python: str, config: dict, root: str) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [python, "-m", MODULE, json.dumps(config)],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, command: str) -> None:
        try:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        except OSError:  # it already ended; expect() says why
            pass

    def expect(self, kind: str, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RunFailed(f"{self.name}: no {kind!r} in {timeout:g} s{self.tail()}") from None
        if line is None:
            self._lines.put(None)  # for the next expect()
            code = self.process.wait()
            raise RunFailed(f"{self.name} ended ({code}) without {kind!r}{self.tail()}")
        message = json.loads(line)
        if message["kind"] == "error":
            raise RunFailed(f"{self.name} failed:\n{message['traceback']}")
        if message["kind"] != kind:
            raise RunFailed(f"{self.name}: expected {kind!r}, got {message['kind']!r}")
        return message

    def tail(self, size: int = 3000) -> str:
        """The end of what the peer wrote to stderr, for an error message."""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-size:]
        return f"; its stderr ends:\n{text}" if text.strip() else ""

    def stop(self, timeout: float = 5.0) -> None:
        self.send("quit")
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # only our own child, by its handle
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        self._stderr.close()


class Peers:
    """The peers of one row; every one of them is stopped when the block ends."""

    def __init__(self, python: str, root: str) -> None:
        self.python, self.root = python, root
        self.peers: list[PeerProcess] = []

    def start(self, name: str, config: dict) -> PeerProcess:
        peer = PeerProcess(name, self.python, config, self.root)
        self.peers.append(peer)
        return peer

    def __enter__(self) -> Peers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for peer in self.peers:
            peer.send("quit")
        for peer in self.peers:
            peer.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
