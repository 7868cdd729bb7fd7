"""Every example in its self-test mode, as real processes over ENet and TCP on 127.0.0.1.

Servers and hosts are started with ``--port 0`` and the port they got is read
from pygnetic's log line ``server listening on HOST:PORT`` on stderr (the lobby
prints ``pygnetic lobby listening on HOST:PORT`` on stdout too), so no port is
ever guessed or fixed. Each
self-test ends with ``selftest ok: sent=N received=M`` only when its peers really
exchanged messages, and exits non-zero otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {
    **os.environ,
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
    "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    "PYTHONUNBUFFERED": "1",
}
START_TIMEOUT = 30  # seconds for a process to start listening
RUN_TIMEOUT = 60  # seconds for a self-test to finish; they take a few
SUMMARY = re.compile(r"^selftest ok: sent=(\d+) received=(\d+)(?: peers=(\d+))?$", re.M)

HAVE_ENET = importlib.util.find_spec("enet") is not None
HAVE_PYGAME = importlib.util.find_spec("pygame") is not None
ADAPTERS = [
    pytest.param(
        "enet", marks=[pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")]
    ),
    "socket",
]


def needs_pygame(test):
    return pytest.mark.pygame(pytest.mark.skipif(not HAVE_PYGAME, reason="no pygame")(test))


class Example:
    """One example running as a subprocess; stdout and stderr are read on threads."""

    def __init__(self, script: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.name = f"{script} {' '.join(args)}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                *([script] if script == "-m" else [str(EXAMPLES / script)]),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()  # from both, as they come
        self.output: list[str] = []
        self.errors: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream, kept), daemon=True)
            for stream, kept in (
                (self.process.stdout, self.output),
                (self.process.stderr, self.errors),
            )
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: Any, kept: list[str]) -> None:
        for line in stream:
            kept.append(line)
            self.lines.put(line)

    def join(self) -> None:
        for reader in self.readers:
            reader.join(5)

    def transcript(self) -> str:
        return (
            f"--- {self.name}: exit {self.process.poll()}\n--- stdout:\n{''.join(self.output)}"
            f"--- stderr:\n{''.join(self.errors)}"
        )

    def port(self) -> int:
        """Wait for the line saying ``listening on HOST:PORT`` and return PORT."""
        deadline = time.monotonic() + START_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            match = re.search(r"listening on \S*:(\d+)", line)
            if match:
                return int(match.group(1))
        pytest.fail(f"no 'listening on' line within {START_TIMEOUT} s\n{self.transcript()}")

    def finish(self) -> tuple[int, int, int | None]:
        """Wait for a successful self-test; return its (sent, received, peers)."""
        try:
            self.process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"still running after {RUN_TIMEOUT} s\n{self.transcript()}")
        self.join()
        assert self.process.returncode == 0, self.transcript()
        match = SUMMARY.search("".join(self.output))
        assert match, self.transcript()
        sent, received, peers = match.groups()
        return int(sent), int(received), None if peers is None else int(peers)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.join()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start():
    """Start examples as subprocesses; whatever is still running at the end is killed."""
    started: list[Example] = []

    def start(script: str, *args: str, env: dict[str, str] | None = None) -> Example:
        example = Example(script, list(args), env)
        started.append(example)
        return example

    yield start
    for example in started:
        example.stop()


def pair(start, adapter, host_script, host_args, guest_script, guest_args, env=None):
    """Start a host on a free port, then a guest that connects to it; return both."""
    common = ["--host", "127.0.0.1", "--adapter", adapter]
    host = start(host_script, *host_args, *common, "--port", "0", env=env)
    guest = start(guest_script, *guest_args, *common, "--port", str(host.port()), env=env)
    return host, guest


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_echo_server_and_client(start, adapter):
    server, client = pair(
        start,
        adapter,
        "echo_server.py",
        ["--selftest", "3000"],
        "echo_client.py",
        ["--selftest", "50"],
    )
    assert client.finish()[:2] == (5, 5)  # a line every 10 frames, each one echoed
    assert server.finish()[:2] == (5, 5)
    # pygnetic's log and the programs' prints, together, say each fact once.
    assert server.transcript().count("listening on") == 1, server.transcript()
    assert server.transcript().count("bye") == 1, server.transcript()  # how the client left
    assert client.transcript().count("connected") == 1, client.transcript()


@needs_pygame
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_chat_host_and_guest(start, adapter):
    host_args, guest_args = ["--host-game", "--selftest", "60"], ["--join", "--selftest", "60"]
    host, guest = pair(start, adapter, "chat.py", host_args, "chat.py", guest_args)
    for example in (guest, host):
        sent, received, _ = example.finish()
        assert sent >= 1, example.transcript()  # lines it typed
        assert received >= 1, example.transcript()  # lines it heard from the other player


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def test_echo_client_finds_the_server_on_the_lan(start):
    lan = ["--lan-port", _free_udp_port()]
    server = start(
        "echo_server.py",
        "--lan",
        "--lan-target",
        "127.0.0.1",
        *lan,
        "--port",
        "0",
        "--adapter",
        "socket",
        "--selftest",
        "3000",
    )
    server.port()
    client = start("echo_client.py", "--lan", *lan, "--adapter", "socket", "--selftest", "50")
    assert client.finish()[:2] == (5, 5)
    assert server.finish()[:2] == (5, 5)
    assert "found echo server at 127.0.0.1:" in client.transcript()


def test_echo_client_finds_the_server_in_a_lobby(start):
    lobby = start("-m", "pygnetic.discovery", "--host", "127.0.0.1", "--port", "0")
    address = f"127.0.0.1:{lobby.port()}"
    server = start(
        "echo_server.py",
        "--lobby",
        address,
        "--port",
        "0",
        "--adapter",
        "socket",
        "--selftest",
        "3000",
    )
    server.port()
    client = start("echo_client.py", "--lobby", address, "--adapter", "socket", "--selftest", "50")
    assert client.finish()[:2] == (5, 5)
    assert server.finish()[:2] == (5, 5)
    assert "found echo server at 127.0.0.1:" in client.transcript()


@needs_pygame
def test_chat_guest_finds_the_host_on_the_lan(start):
    """A guest started without --host joins the chat it hears announced."""
    lan = ["--lan-port", _free_udp_port()]
    host = start(
        "chat.py",
        "--host-game",
        "--selftest",
        "60",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--adapter",
        "socket",
        "--lan-target",
        "127.0.0.1",
        *lan,
    )
    port = host.port()
    guest = start("chat.py", "--join", "--selftest", "60", "--adapter", "socket", *lan)
    for example in (guest, host):
        sent, received, _ = example.finish()
        assert sent >= 1 and received >= 1, example.transcript()
    assert re.search(rf"joining .* at 127\.0\.0\.1:{port}\n", guest.transcript())


@needs_pygame
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_arena_host_and_guest(start, adapter):
    host_args, guest_args = ["--host-game", "--selftest", "60"], ["--join", "--selftest", "60"]
    host, guest = pair(start, adapter, "arena.py", host_args, "arena.py", guest_args)
    for example in (guest, host):
        sent, received, peers = example.finish()
        assert sent >= 1, example.transcript()  # arrow-key changes
        assert received >= 5, example.transcript()  # state, 20 a second
        assert peers == 1, example.transcript()  # it saw the other player's square move


@needs_pygame
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_arena_on_a_simulated_bad_network(start, adapter):
    """One environment variable puts the arena on a 150 ms, 5% loss network, and says so."""
    env = {"PYGNETIC_SIMULATE": "latency=150ms loss=5% seed=3"}
    host_args, guest_args = ["--host-game", "--selftest", "90"], ["--join", "--selftest", "90"]
    host, guest = pair(start, adapter, "arena.py", host_args, "arena.py", guest_args, env)
    for example in (guest, host):
        _, received, peers = example.finish()
        transcript = example.transcript()
        assert peers == 1 and received >= 5, transcript
        warning = "network simulator ON (PYGNETIC_SIMULATE): latency=150ms loss=5% seed=3"
        assert warning in transcript
        report = re.search(r"^simulating .*: (\d+) lost, (\d+) stale, (\d+) resent$",
                           transcript, re.M)  # fmt: skip
        assert report, transcript
    # The host's counts (its server sends state 20 times a second): lost over ENet,
    # resent over TCP, where every message is reliable.
    lost, _, resent = map(int, report.groups())
    assert lost + resent > 0, host.transcript()  # the simulator really did something
    assert host.transcript().count("network simulator ON") == 2  # its server and its client


def test_selftest_fails_without_a_peer(start):
    """A self-test can fail: an echo client with no server to talk to exits 1."""
    with socket.socket() as probe:  # a free port, closed again: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    args = ["--host", "127.0.0.1", "--port", port, "--adapter", "socket", "--selftest", "50"]
    client = start("echo_client.py", *args)
    client.process.wait(RUN_TIMEOUT)
    client.join()
    assert client.process.returncode == 1, client.transcript()
    assert "selftest FAILED: sent=0 received=0" in "".join(client.output), client.transcript()
