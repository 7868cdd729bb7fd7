"""Players on different Pythons play together: a server in another interpreter, a client here.

Set ``PYGNETIC_OTHER_PYTHON`` to an interpreter that has msgpack and an
``enet`` module (pyenet or pyenet-vladfi, whichever the ``enet`` extra installs
there); it imports pygnetic from this checkout through PYTHONPATH. .ci/run sets
it to a Python 3.13 virtual environment, where the extra installs
pyenet-vladfi, so that a 3.13 server meets this interpreter's client.

The client is a default ``pygnetic.Client()`` every time; the server uses the
default adapter choice, or only TCP, or only ENet.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from raw_peers import enet

import pygnetic
from pygnetic.message import MessageFactory

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("other_python_server.py")
OTHER = os.environ.get("PYGNETIC_OTHER_PYTHON")
DEADLINE = 10.0  # seconds for the whole exchange; the client's own timeout is as long

pytestmark = pytest.mark.skipif(
    not OTHER, reason="PYGNETIC_OTHER_PYTHON does not name another Python interpreter"
)


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


@pytest.fixture(scope="module")
def other_python():
    """The interpreter, checked once: a broken one set on purpose fails rather than skips."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    probe = "import sys, msgpack, enet, pygnetic; print(sys.version.split()[0], pygnetic.__file__)"
    result = subprocess.run(
        [OTHER, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        pytest.fail(f"PYGNETIC_OTHER_PYTHON={OTHER} cannot run the server:\n{result.stderr}")
    version, package = result.stdout.split()
    assert Path(package).resolve() == ROOT / "pygnetic" / "__init__.py", "not this checkout"
    return version, env


@pytest.fixture
def server(other_python, request, tmp_path):
    """Start the echo server in the other interpreter; yield its port; always stop it."""
    _, env = other_python
    stderr = (tmp_path / "server.err").open("w+")
    process = subprocess.Popen(
        [OTHER, str(SERVER), request.param],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()

    def log():
        stderr.seek(0)
        return stderr.read()

    try:
        try:
            port = lines.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"the server printed no port in {DEADLINE} s:\n{log()}")
        if not port.strip().isdigit():
            pytest.fail(f"the server did not start (exit {process.poll()}):\n{log()}")
        yield int(port), log
    finally:
        process.stdin.close()  # the server's signal to stop
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        stderr.close()


class Replies(pygnetic.Handler):
    def __init__(self):
        self.received = []

    def net_chat_msg(self, message, **kwargs):
        self.received.append(message)


@pytest.mark.parametrize(
    "server",
    [
        "default",
        "socket",
        pytest.param("enet", marks=pytest.mark.skipif(enet is None, reason="no enet module here")),
    ],
    indirect=True,
)
def test_a_default_client_here_talks_to_a_server_there(server, other_python):
    port, server_log = server
    client = pygnetic.Client(message_factory=_factory())
    try:
        connection = client.connect("127.0.0.1", port)
        replies = Replies()
        connection.add_handler(replies)
        connection.net_chat_msg("Tom", "hello from Python " + sys.version.split()[0])
        deadline = time.monotonic() + DEADLINE
        while not replies.received and time.monotonic() < deadline:
            client.update(10)
        assert [tuple(message) for message in replies.received] == [
            ("server", "HELLO FROM PYTHON " + sys.version.split()[0].upper())
        ], (
            f"no echo from Python {other_python[0]} within {DEADLINE} s over "
            f"{[module.NAME for module in client.adapters]}: connection {connection.state}, "
            f"close_reason {connection.close_reason!r}; server: {server_log()}"
        )
    finally:
        client.close()
