"""A peer that vanishes without a goodbye is noticed within the timeout.

SIGKILL ends a process: the kernel closes its TCP sockets at once, but an ENet
peer just goes silent. SIGSTOP freezes it with everything still open, like a
pulled network cable: only pygnetic's keepalive can tell.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raw_peers import enet

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import Recorder, pump

PEER = str(Path(__file__).with_name("peer_process.py"))
TIMEOUT = 1.5
ADAPTERS = [
    "socket",
    pytest.param("enet", marks=pytest.mark.skipif(enet is None, reason="no pyenet")),
]


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


def _spawn(role, adapter, port=0):
    process = subprocess.Popen(
        [sys.executable, PEER, role, adapter, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    return process


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
    process.wait(timeout=10)
    process.stdout.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_server_notices_a_vanished_client(adapter, how):
    server = pygnetic.Server(
        "127.0.0.1",
        0,
        handler=Recorder,
        message_factory=_factory(),
        adapter=adapter,
        timeout=TIMEOUT,
    )
    process = _spawn("client", adapter, server.address[1])
    try:
        assert pump(server, until=lambda: any(h.received for h in server.handlers()), timeout=10)
        handler = server.handlers()[0]
        os.kill(process.pid, how)
        started = time.monotonic()
        assert pump(server, until=lambda: handler.disconnects == 1, timeout=TIMEOUT + 5)
        elapsed = time.monotonic() - started
        assert elapsed < TIMEOUT + 1.0
        assert handler.connection.close_code in (CloseCode.TIMEOUT, CloseCode.TRANSPORT_ERROR)
        assert server.connections() == []
    finally:
        _stop(process)
        server.close(linger_ms=0)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_client_notices_a_frozen_server(adapter):
    process = _spawn("server", adapter)
    client = pygnetic.Client(message_factory=_factory(), adapter=adapter, timeout=TIMEOUT)
    try:
        port = int(process.stdout.readline())
        assert process.stdout.readline().strip() == "READY"
        connection = client.connect("127.0.0.1", port)
        recorder = Recorder()
        connection.add_handler(recorder)
        assert pump(client, until=lambda: connection.connected, timeout=10)
        os.kill(process.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert pump(client, until=lambda: recorder.disconnects == 1, timeout=TIMEOUT + 5)
        assert time.monotonic() - started < TIMEOUT + 1.0
        assert connection.close_code is CloseCode.TIMEOUT
        silence = "nothing received" if adapter == "enet" else "no answer to pings"
        assert silence in connection.close_reason
    finally:
        _stop(process)
        client.close(linger_ms=0)
