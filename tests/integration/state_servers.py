"""Starting the real services the state tests use: redis-server and the state server."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


@contextlib.contextmanager
def start_redis(folder: Path):
    """Run redis-server on a Unix socket in ``folder``; yield its ``unix://`` URL."""
    with run_redis(folder) as (url, _):
        yield url


@contextlib.contextmanager
def run_redis(folder: Path):
    """Run redis-server on a Unix socket in ``folder``; yield its URL and its process."""
    pytest.importorskip("redis", reason="redis-py is not installed (pip install redis)")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH (.ci/run installs Debian's redis-server)")
    sock = folder / "redis.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(sock, process)
        yield f"unix://{sock}", process
    finally:
        process.terminate()
        process.wait(10)


def _wait_for(sock: Path, process: subprocess.Popen) -> None:
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with status {process.returncode}")
        if sock.exists():
            try:
                redis.Redis(unix_socket_path=str(sock)).ping()
                return
            except redis.ConnectionError:
                pass
        time.sleep(0.02)
    pytest.fail("redis-server did not start within 10 s")


def python() -> str:
    return sys.executable


class ServerThread:
    """A real StateServer on 127.0.0.1, port 0, pumped by a thread of this process.

    Blocking client calls pump only the client, so the server needs a loop of
    its own; a thread is enough, and lets a test hand the server a clock it drives.
    """

    def __init__(self, store, poll_ms=5, **options):
        import threading

        from pygnetic.state import StateServer

        options.setdefault("port", 0)
        self.poll_ms = poll_ms
        self.server = StateServer(store, **options)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                with self._lock:
                    self.server.update(self.poll_ms)
        except BaseException as exc:
            self._failed.append(exc)

    @contextlib.contextmanager
    def paused(self):
        """Hold the server between two updates: what clients send meanwhile is served together."""
        with self._lock:
            yield

    @property
    def address(self) -> str:
        host, port = self.server.address
        return f"{host}:{port}"

    def close(self):
        self._stop.set()
        self._thread.join(10)
        self.server.close()
        if self._failed:
            raise self._failed[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Clock:
    """A clock that moves only when a test moves it (``clock.now += 31``)."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@contextlib.contextmanager
def raw_connection(running):
    """Connect to ``running`` to send state messages by hand; yield the connection and asker."""
    from pygnetic.client import Client
    from pygnetic.request import Requester
    from pygnetic.state._protocol import state_messages, state_requests

    client = Client(1, state_messages, adapter="socket", events=False)
    host, port = running.server.address
    connection = client.connect(host, port)
    asker = Requester(connection, state_requests, timeout=5)
    try:
        while not connection.connected:
            client.update(5)
        yield connection, asker
    finally:
        client.close()
