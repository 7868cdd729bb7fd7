"""A Vector2 goes from a pygame-ce client through a pygame-less server to a pygame client.

Three processes on 127.0.0.1, over TCP: a relay server that cannot import
pygame (pygame_types_peer.py server, in this Python), a client in a Python
with pygame-ce that sends Vector2, FRect, Rect, Color and a nested Vector3
(pygame_types_peer.py send), and a client here, with pygame, that receives
them as pygame's own types and sends them back the same way, to arrive at
the pygame-ce client as pygame-ce's.

Set ``PYGNETIC_PYGAME_CE_PYTHON`` to a Python that has pygame-ce and msgpack;
it imports pygnetic from this checkout through PYTHONPATH. .ci/run makes one.
"""

import os
import queue
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pygame_types_peer import described, factory, plain

import pygnetic
from pygnetic.wire_types import FRect

ROOT = Path(__file__).resolve().parents[2]
PEER = Path(__file__).with_name("pygame_types_peer.py")
CE_PYTHON = os.environ.get("PYGNETIC_PYGAME_CE_PYTHON")
DEADLINE = 20.0

pygame = pytest.importorskip("pygame")
pytestmark = pytest.mark.skipif(
    not CE_PYTHON, reason="PYGNETIC_PYGAME_CE_PYTHON does not name a Python with pygame-ce"
)
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PYGAME_HIDE_SUPPORT_PROMPT="1")


class Peer:
    """A peer process: its output lines in a queue, its stderr kept for failures."""

    def __init__(self, python, *args, tmp_path):
        self.stderr = (tmp_path / f"{args[0]}.err").open("w+")
        self.process = subprocess.Popen(
            [python, str(PEER), *args],
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def line(self):
        try:
            return self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"no line from {self.process.args} in {DEADLINE} s:\n{self.log()}")

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self):
        self.process.stdin.close()  # the peer's signal to stop
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


@pytest.fixture(scope="module")
def ce_python():
    """The pygame-ce interpreter, checked once: a broken one set on purpose fails."""
    probe = "import pygame, pygnetic; print(int(getattr(pygame, 'IS_CE', 0)), pygnetic.__file__)"
    result = subprocess.run(
        [CE_PYTHON, "-c", probe], env=ENV, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        pytest.fail(f"PYGNETIC_PYGAME_CE_PYTHON={CE_PYTHON} cannot run:\n{result.stderr}")
    is_ce, package = result.stdout.split()
    assert is_ce == "1", f"{CE_PYTHON} has pygame, not pygame-ce"
    assert Path(package).resolve() == ROOT / "pygnetic" / "__init__.py", "not this checkout"
    return CE_PYTHON


class Received(pygnetic.Handler):
    def __init__(self):
        self.shapes = []
        self.reports = []

    def net_shapes(self, message, **kwargs):
        self.shapes.append(message)

    def net_report(self, message, **kwargs):
        self.reports.append(message.text)


def _pump(client, condition, what, *peers):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(peer.log() for peer in peers)
            pytest.fail(f"{what} not within {DEADLINE} s:\n{logs}")
        client.update(10)


def _float32(value):
    return struct.unpack(">f", struct.pack(">f", value))[0]


def test_pygame_ce_values_cross_a_server_without_pygame_and_arrive_as_pygames(ce_python, tmp_path):
    assert not getattr(pygame, "IS_CE", False), "this test's own Python must have pygame"
    server = Peer(sys.executable, "server", tmp_path=tmp_path)
    sender = None
    client = pygnetic.Client(message_factory=factory(), adapter="socket")
    try:
        port = int(server.line())
        connection = client.connect("127.0.0.1", port)
        received = Received()
        connection.add_handler(received)
        _pump(client, lambda: connection.connected, "connecting", server)
        sender = Peer(ce_python, "send", str(port), tmp_path=tmp_path)
        _pump(client, lambda: received.shapes, "the pygame-ce client's shapes", server, sender)

        (report,) = received.reports
        assert report == (
            "pygame cannot be imported; received [pygnetic.wire_types.Vector2, "
            "pygnetic.wire_types.FRect, pygnetic.wire_types.Rect, pygnetic.wire_types.Color, "
            "[{up: pygnetic.wire_types.Vector3}, pygnetic.wire_types.Vector2]]"
        )
        (shapes,) = received.shapes
        assert described(list(shapes)) == (
            "[pygame.math.Vector2, pygnetic.wire_types.FRect, pygame.rect.Rect, "
            "pygame.color.Color, [{up: pygame.math.Vector3}, pygame.math.Vector2]]"
        )  # pygame has no FRect: it arrives as the stand-in
        assert shapes.pos == pygame.Vector2(0.1, -2.25) and shapes.pos.x == 0.1
        # pygame-ce's FRect keeps 32-bit floats: what it sent, exactly.
        assert tuple(shapes.box) == (_float32(0.1), 1.25, 3.0, -4.75)
        assert shapes.rect == pygame.Rect(-1, 2, 30, 2**31 - 1)
        assert shapes.color == pygame.Color(10, 20, 30, 40)
        assert plain(shapes.more) == [{"up": (1.0, 2.5, -3.0)}, (float("inf"), 1e300)]
        assert type(shapes.box) is FRect

        connection.send(shapes)  # back through the server, to pygame-ce
        _pump(client, lambda: not sender.lines.empty(), "the pygame-ce client's echo", sender)
        assert sender.line() == "ECHO OK", sender.log()
    finally:
        client.close()
        for peer in (sender, server):
            if peer is not None:
                peer.stop()
