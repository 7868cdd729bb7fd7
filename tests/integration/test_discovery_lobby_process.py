"""A real lobby process (``python -m pygnetic.discovery``) and real TCP clients."""

import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import msgpack
import pytest

import pygnetic
from pygnetic.discovery import LobbyAnnouncer, LobbyBrowser, LobbyError
from pygnetic.discovery.lobby import REGISTER, lobby_messages
from pygnetic.handshake import FrameReader, encode_hello, parse_answer
from pygnetic.message import MessageFactory
from pygnetic.protocol import PING, PONG, CloseCode
from pygnetic.testing import Recorder


class Lobby:
    """A lobby subprocess on 127.0.0.1 and a free port."""

    def __init__(self, tmp_path, *options):
        self.log = tmp_path / "lobby.log"
        command = [sys.executable, "-m", "pygnetic.discovery", "--host", "127.0.0.1"]
        command += ["--port", "0", "--log-level", "INFO", *options]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, env=_env()
            )
        lines = queue.Queue()
        reader = threading.Thread(target=lambda: lines.put(self.process.stdout.readline()))
        reader.daemon = True
        reader.start()
        try:
            line = lines.get(timeout=20)
        except queue.Empty:
            line = ""
        match = re.fullmatch(r"pygnetic lobby listening on 127\.0\.0\.1:(\d+)\n", line)
        if match is None:
            self.stop()
            raise AssertionError(f"lobby did not start: {line!r}\n{self.log.read_text()}")
        self.address = ("127.0.0.1", int(match[1]))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.process.stdout.close()


def _env():
    env = dict(os.environ)
    env.pop("SDL_VIDEODRIVER", None)  # the lobby must not need it
    return env


@pytest.fixture(scope="module")
def lobby(tmp_path_factory):
    lobby = Lobby(tmp_path_factory.mktemp("lobby"), "--ttl", "1.5")
    yield lobby
    assert lobby.stop() == 0


@pytest.fixture
def closing():
    things = []
    yield things
    for thing in things:
        thing.close()


def announcer(lobby, closing, port, **kwargs):
    made = LobbyAnnouncer(port=port, lobby=lobby.address, retry=0.2, **kwargs)
    closing.append(made)
    return made


def pump(*things, until, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for thing in things:
            thing.update(2)
        if until():
            return True
    return False


def listed(lobby, closing, game=None, page=0, page_size=20):
    browser = LobbyBrowser(lobby.address)
    closing.append(browser)
    return browser.get_servers(page, game=game, page_size=page_size).wait()


def test_register_list_and_unregister(lobby, closing):
    tanks = announcer(lobby, closing, 10001, name="Tank wars", game="t1", info={"map": "ice"})
    assert pump(tanks, until=lambda: tanks.registered)
    page = listed(lobby, closing, game="t1")
    (server,) = page.servers
    assert (server.name, server.host, server.port, server.info) == (
        "Tank wars",
        "127.0.0.1",
        10001,
        {"map": "ice"},
    )
    assert (page.page, page.pages, page.total) == (0, 1, 1)
    tanks.close()
    closing.remove(tanks)
    assert pump(until=lambda: not listed(lobby, closing, game="t1").servers)


def test_the_lobby_logs_as_pygnetic_init_does(tmp_path, closing):
    """One format for a lobby's log and its game servers': the time, the level, the line."""
    own = Lobby(tmp_path)
    try:
        listing = announcer(own, closing, 10003, name="Logged")
        assert pump(listing, until=lambda: listing.registered)
    finally:
        assert own.stop() == 0
    stamp = re.compile(r"^\d\d:\d\d:\d\d ", re.M)
    written = stamp.sub("TIME ", own.log.read_text())
    message = f"listed server {listing.server_id} 'Logged' at 127.0.0.1:10003"
    record = logging.makeLogRecord({"msg": message, "levelname": "INFO"})
    expected = logging.Formatter(pygnetic._LOG_FORMAT, "TIME").format(record)
    assert expected in written.splitlines(), written


def test_paging_and_filtering(lobby, closing):
    wanted = [(20000 + n, f"p{n}", "paging") for n in range(7)]
    wanted += [(21000 + n, "o", "other") for n in range(2)]
    made = []
    for port, name, game in wanted:  # one by one: the list is in registration order
        made.append(announcer(lobby, closing, port, name=name, game=game))
        assert pump(*made, until=lambda: made[-1].registered)
    pages = [listed(lobby, closing, game="paging", page=n, page_size=3) for n in range(4)]
    assert [[s.name for s in page.servers] for page in pages] == [
        ["p0", "p1", "p2"],
        ["p3", "p4", "p5"],
        ["p6"],
        [],
    ]
    assert {(page.pages, page.total) for page in pages} == {(3, 7)}
    assert listed(lobby, closing, game="other").total == 2


def test_pinging_keeps_a_listing_which_expires_when_pings_stop(lobby, closing):
    pinger = announcer(lobby, closing, 10002, game="ttl")
    assert pump(pinger, until=lambda: pinger.registered)
    pump(pinger, until=lambda: False, timeout=3.0)  # two ttls
    assert listed(lobby, closing, game="ttl").total == 1
    time.sleep(2.0)  # no pumping: no pings
    assert listed(lobby, closing, game="ttl").total == 0
    assert pump(pinger, until=lambda: listed(lobby, closing, game="ttl").total == 1)


class RawClient:
    """Speaks the lobby protocol by hand, from any loopback address."""

    def __init__(self, lobby, source="127.0.0.1", messages=lobby_messages):
        self.sock = socket.create_connection(lobby.address, timeout=5, source_address=(source, 0))
        self.sock.sendall(encode_hello(messages))
        self.unpacker = msgpack.Unpacker()
        reader = FrameReader(stream=True)
        payload = None
        while payload is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            payload, rest = reader.feed(chunk)
        self.answer = parse_answer(payload)
        self.unpacker.feed(rest)

    def send(self, message_class, *fields):
        self.sock.sendall(lobby_messages.pack(message_class(*fields)))

    def receive(self):
        """Return the next message that is not a keepalive, or None at EOF."""
        while True:
            for raw in self.unpacker:
                if raw[0] not in (PING, PONG):
                    return lobby_messages.from_raw(raw)
            data = self.sock.recv(65536)
            if not data:
                return None
            self.unpacker.feed(data)

    def close(self):
        self.sock.close()


def test_a_private_room_is_listed_as_private(lobby, closing):
    room = announcer(lobby, closing, 10006, name="Locked room", game="rooms", private=True)
    hall = announcer(lobby, closing, 10007, name="Open hall", game="rooms")
    assert pump(room, hall, until=lambda: room.registered and hall.registered)
    page = listed(lobby, closing, game="rooms")
    assert [(s.name, s.private) for s in page.servers] == [
        ("Locked room", True),
        ("Open hall", False),
    ]


def test_registrations_cannot_claim_another_address(lobby, closing):
    victim = announcer(lobby, closing, 10003, name="victim", game="hijack")
    assert pump(victim, until=lambda: victim.registered)
    try:
        attacker = RawClient(lobby, source="127.0.0.2")
    except OSError:
        pytest.skip("cannot connect from 127.0.0.2 here")
    closing.append(attacker)
    attacker.send(REGISTER, 1, "evil", "hijack", 10003, 0, 1, {}, False)
    reply = attacker.receive()
    assert type(reply).__name__ == "registered"
    servers = listed(lobby, closing, game="hijack").servers
    assert sorted((s.name, s.host, s.port) for s in servers) == [
        ("evil", "127.0.0.2", 10003),
        ("victim", "127.0.0.1", 10003),
    ]


def test_bad_input_is_refused_and_never_takes_the_lobby_down(lobby, closing):
    with socket.create_connection(lobby.address, timeout=5) as junk:
        junk.sendall(os.urandom(4096))  # not even a handshake
    other = MessageFactory("msgpack")
    other.register("not_the_lobby", ("x",))
    mismatch = RawClient(lobby, messages=other)
    assert mismatch.answer.code == CloseCode.REGISTRY_MISMATCH
    assert "registry" in mismatch.answer.reason
    mismatch.close()

    raw = RawClient(lobby)
    closing.append(raw)
    raw.send(REGISTER, 1, "big", "", 10004, 0, 1, {"blob": "x" * 5000}, False)
    refused = raw.receive()
    assert (refused.request_id, "info encodes to" in refused.reason) == (1, True)
    raw.send(REGISTER, 2, "neg", "", 10004, -5, 1, {}, False)
    assert "players" in raw.receive().reason
    raw.send(REGISTER, 3, "lock", "", 10004, 0, 1, {}, "x" * 100_000)
    refused = raw.receive()
    assert (refused.request_id, refused.code) == (3, "invalid")
    assert "private must be True or False, not 'xxx" in refused.reason
    assert len(refused.reason) < 200  # the remote value is cut short
    raw.sock.sendall(msgpack.packb([REGISTER._type_id, "too", "few"]))  # wrong field count
    closed = raw.receive()
    assert type(closed).__name__ == "_close"
    assert closed.code == CloseCode.PROTOCOL_ERROR

    huge = RawClient(lobby)
    closing.append(huge)
    huge.sock.sendall(msgpack.packb([REGISTER._type_id, 3, "x" * 400_000, "", 1, 0, 1, {}, False]))
    closed = huge.receive()
    assert closed is None or closed.code == CloseCode.MESSAGE_TOO_LARGE

    assert lobby.process.poll() is None
    page = listed(lobby, closing, page_size=50)  # the lobby still answers
    assert len(page.servers) == page.total  # (the whole list, to check it)
    assert 10004 not in [server.port for server in page.servers]  # and listed nothing refused


def test_limits_come_from_the_command_line(tmp_path, closing):
    small = Lobby(tmp_path, "--max-servers-per-host", "2", "--max-page-size", "1")
    try:
        made = [announcer(small, closing, 30000 + n) for n in range(3)]

        def settled():
            refused = [a for a in made if a.last_error]
            return len(refused) == 1 and sum(a.registered for a in made) == 2

        assert pump(*made, until=settled)
        (refused,) = [a for a in made if not a.registered]
        assert "127.0.0.1 already has 2 servers listed" in refused.last_error
        page = listed(small, closing, page_size=50)
        assert (len(page.servers), page.pages, page.total) == (1, 2, 2)
    finally:
        for thing in closing:
            thing.close()
        closing.clear()
        assert small.stop() == 0


def test_sigterm_closes_connections_with_a_reason(tmp_path):
    doomed = Lobby(tmp_path)
    client = pygnetic.Client(message_factory=lobby_messages, adapter="socket")
    try:
        connection = client.connect(*doomed.address)
        recorder = Recorder()
        connection.add_handler(recorder)
        assert pump(client, until=lambda: connection.connected)
        assert doomed.stop() == 0
        assert pump(client, until=lambda: recorder.disconnects)
        assert connection.close_code is CloseCode.SERVER_CLOSING
        request = LobbyBrowser(doomed.address, timeout=2).get_servers()
        with pytest.raises(LobbyError, match=r"lost lobby|cannot reach lobby"):
            request.wait(5)
    finally:
        client.close()


def test_a_dedicated_lobby_imports_no_pygame():
    code = "import sys, pygnetic.discovery.__main__; print('pygame' in sys.modules)"
    command = [sys.executable, "-c", code]
    output = subprocess.run(command, capture_output=True, text=True, env=_env())
    assert output.stdout.strip() == "False", output.stderr
