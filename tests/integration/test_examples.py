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

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Wait for a line (on stdout or stderr) matching ``pattern``; return its match."""
        deadline = time.monotonic() + START_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            match = re.search(pattern, line)
            if match:
                return match
        pytest.fail(f"no line matching {pattern!r} within {START_TIMEOUT} s\n{self.transcript()}")

    def port(self) -> int:
        """Wait for the line saying ``listening on HOST:PORT`` and return PORT."""
        return int(self.wait_for(r"listening on \S*:(\d+)").group(1))

    def said(self) -> str:
        """Everything the program wrote, without the command line (which holds passwords)."""
        return "".join(self.output + self.errors)

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


ROOM_PASSWORD, WRONG_PASSWORD = "swordfish-7", "wrong-guess-3"


def room_player(start, name, password, *args):
    return start(
        "private_room.py",
        "--join",
        "--name",
        name,
        "--password",
        password,
        "--selftest",
        "30",
        *args,
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_private_room_lets_in_the_right_password_only(start, adapter):
    common = ["--host", "127.0.0.1", "--adapter", adapter]
    room = start(
        "private_room.py",
        "--host-game",
        "--password",
        ROOM_PASSWORD,
        "--selftest",
        "3000",
        *common,
        "--port",
        "0",
    )
    address = [*common, "--port", str(room.port())]
    eve = room_player(start, "Eve", WRONG_PASSWORD, *address)
    eve.process.wait(RUN_TIMEOUT)
    eve.join()
    assert eve.process.returncode == 1, eve.transcript()
    assert "the room refused you: wrong password\n" in eve.output, eve.transcript()
    tom = room_player(start, "Tom", ROOM_PASSWORD, *address)
    assert tom.finish()[:2] == (3, 3)  # three lines said, each heard back under his name
    assert "in the room as Tom, 1 player(s) here\n" in tom.output
    assert room.finish()[:2] == (4, 3)  # a welcome and three lines out, three lines in
    assert re.search(r"refused 127\.0\.0\.1:\d+: wrong password", room.said()), room.transcript()
    for example in (room, eve, tom):  # credentials are never logged, on either side
        assert ROOM_PASSWORD not in example.said(), example.transcript()
        assert WRONG_PASSWORD not in example.said(), example.transcript()


def test_private_room_is_listed_as_private_in_a_lobby(start):
    lobby = start("-m", "pygnetic.discovery", "--host", "127.0.0.1", "--port", "0")
    address = f"127.0.0.1:{lobby.port()}"
    room = start(
        "private_room.py",
        "--host-game",
        "--room",
        "Tom's room",
        "--lobby",
        address,
        "--password",
        ROOM_PASSWORD,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--adapter",
        "socket",
        "--selftest",
        "3000",
    )
    port = room.port()
    room.wait_for(r"listed in lobby ")  # so that the player's one question finds it
    tom = room_player(start, "Tom", ROOM_PASSWORD, "--lobby", address, "--adapter", "socket")
    assert tom.finish()[:2] == (3, 3)
    assert f"found Tom's room at 127.0.0.1:{port} (private)\n" in tom.output, tom.transcript()
    room.finish()


DOORMAN = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("private_room", sys.argv[1])
room = importlib.util.module_from_spec(spec)
spec.loader.exec_module(room)

class Player:
    identity = "Tom"

class Server:
    players = []
    def connections(self):
        return self.players

door = room.Doorman("swordfish-7")
door.server = Server()
for credentials in [
    None,
    "swordfish-7",
    {"password": 7, "name": "Tom"},
    {"password": "x" * 1_000_000, "name": "Tom"},
    {"password": "swordfish-7"},
    {"password": "swordfish-7", "name": ["Tom"]},
    {"password": "swordfish-7", "name": "T\\nom"},
    {"password": "swordfish-7", "name": "x" * 21},
    {"password": "swordfish-7", "name": "   "},
    {"password": "p\u00e4ssw\u00f6rd", "name": "Tom"},
    {"password": "swordfish-7", "name": " Tom "},
    "taken",
]:
    if credentials == "taken":
        Server.players = [Player()]
        credentials = {"password": "swordfish-7", "name": "Tom"}
    try:
        print("accepted", repr(door(credentials, ("127.0.0.1", 1))))
    except room.Refused as exc:
        print("refused", exc.reason)
"""


def test_private_room_doorman_checks_what_clients_send():
    """The doorman's answers to hostile credentials, run apart: the example registers messages."""
    script = [sys.executable, "-c", DOORMAN, str(EXAMPLES / "private_room.py")]
    result = subprocess.run(
        script, capture_output=True, text=True, env=ENV, cwd=EXAMPLES, timeout=RUN_TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    name_rule = "refused the name must be 1 to 20 printable characters"
    assert result.stdout.splitlines() == [
        "refused this room needs a password",
        "refused this room needs a password",
        "refused the password must be text of 1 to 128 characters",
        "refused the password must be text of 1 to 128 characters",
        name_rule,
        name_rule,
        name_rule,
        name_rule,
        name_rule,
        "refused wrong password",  # not ASCII: compared as bytes, no TypeError
        "accepted 'Tom'",
        "refused someone called Tom is already in the room",
    ]


CHAT_RECONNECT = """
import sys
sys.path.insert(0, sys.argv[1])
import chat  # registers the chat's messages in this fresh process
import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.testing import ManualClock, Recorder

network, clock = MemoryNetwork(), ManualClock()
server = pygnetic.Server(handler=chat.Relay, adapter="memory", network=network, clock=clock,
                         timeout=2.0, reconnect_grace=chat.RECONNECT_GRACE, events=False)
clients = [pygnetic.Client(adapter="memory", network=network, clock=clock, timeout=2.0,
                           events=False, conn_limit=1) for _ in range(2)]
tom, ann = (client.connect("memory", server.address[1]) for client in clients)
heard = Recorder()
ann.add_handler(heard)

def pump(rounds=50, step=0.0):
    for _ in range(rounds):
        clock.now += step
        for host in (server, *clients):
            host.update()

pump()
tom.net_hello("Tom")
ann.net_hello("Ann")
pump()
network.sever(tom._link)  # Tom's cable is pulled for three seconds
listeners = dict(network.listeners)
network.listeners.clear()
pump(12, 0.25)
network.listeners.update(listeners)
pump(40, 0.25)
assert tom.connected, tom.close_reason
tom.net_say("I am back")
pump()
said = [(m.nick, m.text) for m in heard.received if type(m).__name__ == "line"]
notices = [m.text for m in heard.received if type(m).__name__ == "notice"]
print(said, notices)
assert said == [("Tom", "I am back")], said
assert "Tom lost connection..." in notices and "Tom is back" in notices, notices
assert "Tom left" not in notices, notices
print("ok")
"""


@needs_pygame
def test_chat_keeps_a_nickname_across_a_reconnect():
    """The chat host keeps a player's session: after a pulled cable the name is still theirs."""
    result = subprocess.run(
        [sys.executable, "-c", CHAT_RECONNECT, str(EXAMPLES)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")


@needs_pygame
def test_high_score_keeps_the_table_across_a_restart(start):
    """Alone, the game runs its own state service, and restarts it to read the score back."""
    player = start("high_score.py", "--name", "Ann", "--selftest", "120", "--seed", "1")
    sent, received, _ = player.finish()
    assert sent == 1 and received >= 2, player.transcript()  # the empty table, then Ann's
    kept = re.search(r"^a new connection to 127\.0\.0\.1:\d+ finds Ann (\d+): True$",
                     "".join(player.output), re.M)  # fmt: skip
    assert kept and int(kept.group(1)) > 0, player.transcript()


@needs_pygame
def test_high_score_players_share_one_table(start, tmp_path):
    """Two players of one service: a watch tells the one still playing of the other's score."""
    service = start(
        "-m", "pygnetic.state", "--db", str(tmp_path / "state.db"),
        "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    address = f"127.0.0.1:{service.port()}"
    admin = start(
        "high_score.py", "--state", address, "--make-app",
        "--email", "admin@example.com", "--password", ROOM_PASSWORD,
    )  # fmt: skip
    admin.process.wait(RUN_TIMEOUT)
    admin.join()
    assert admin.process.returncode == 0, admin.transcript()
    assert "made the application pygnetic-examples+high-score" in admin.said()
    bob = start("high_score.py", "--state", address, "--name", "Bob", "--selftest", "480")
    bob.wait_for(r"^high scores: \(empty\)$")  # his watch has begun
    ann = start("high_score.py", "--state", address, "--name", "Ann", "--selftest", "30")
    assert ann.finish()[0] == 1
    assert bob.finish()[0] == 1
    said = "".join(bob.output)
    assert "high scores: Ann " in said, bob.transcript()
    assert said.index("high scores: Ann ") < said.index("round over: Bob"), bob.transcript()
    assert re.search(r"^high scores: (Bob \d+, Ann \d+|Ann \d+, Bob \d+)$", said, re.M), said


SET_MOTD = """
import sys
from pygnetic.state import ADMIN_ONLY, ANY, DistributedState

with DistributedState(sys.argv[1]) as state:
    state.create_account("admin@example.com", "a long password")
    state.login("admin@example.com", "a long password")
    state.new_app("pygnetic-examples+chat", readmode=ANY, writemode=ADMIN_ONLY)
    state["motd"] = "Welcome to the chat!"
"""


@needs_pygame
def test_chat_shows_the_message_of_the_day(start, tmp_path):
    """With --state, the chat reads its message of the day from a state service."""
    service = start(
        "-m", "pygnetic.state", "--db", str(tmp_path / "state.db"),
        "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    address = f"127.0.0.1:{service.port()}"
    made = subprocess.run(
        [sys.executable, "-c", SET_MOTD, address],
        capture_output=True, text=True, env=ENV, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    host_args = ["--host-game", "--selftest", "60", "--state", address]
    guest_args = ["--join", "--selftest", "60"]
    host, guest = pair(start, "socket", "chat.py", host_args, "chat.py", guest_args)
    for example in (guest, host):
        sent, received, _ = example.finish()
        assert sent >= 1 and received >= 1, example.transcript()
    assert "message of the day: Welcome to the chat!\n" in host.output, host.transcript()
    assert "message of the day" not in guest.said(), guest.transcript()  # no --state


NO_PYGAME = "raise ImportError('a match-maker must run without pygame')\n"
MATCHED = re.compile(r"^(\w+): matched with (\w+) \(rating \d+\)\n\1: game (\S+), by", re.M)
PAIRED = re.compile(r"^\S+: matched (\w+) \(\d+\) with (\w+) \(\d+\) in game (\S+)$", re.M)


def matchmaking(start, tmp_path, makers, names):
    """A state service, match-makers (without pygame), then players; return what each said.

    Returns the opponent and game each player was told of, the pairs the
    match-makers made ``(first, second, game)``, and the number of matches.
    """
    service = start(
        "-m", "pygnetic.state", "--db", str(tmp_path / "state.db"),
        "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    address = f"127.0.0.1:{service.port()}"
    hidden = tmp_path / "no-pygame"  # a pygame that cannot be imported, first on the path
    hidden.mkdir()
    (hidden / "pygame.py").write_text(NO_PYGAME)
    path = os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")]))
    role = ["--role", "matchmaker", "--state", address, "--selftest", str(len(names))]
    started = [
        start("matchmaking.py", *role, "--name", f"maker{n}", env={"PYTHONPATH": path})
        for n in range(makers)
    ]
    for maker in started:
        maker.wait_for(r": ready, matching players")  # counting matches from now on
    players = {
        name: start("matchmaking.py", "--state", address, "--name", name, "--selftest", "1800")
        for name in names
    }
    told = {}
    for name, player in players.items():
        assert player.finish() == (1, 1, None), player.transcript()
        said = MATCHED.findall("".join(player.output))
        assert len(said) == 1 and said[0][0] == name, player.transcript()
        told[name] = said[0][1:]  # (opponent, game)
    pairs, made = [], 0
    for maker in started:
        sent, received, _ = maker.finish()
        assert received >= 2 * sent, maker.transcript()  # more if it put a player back
        pairs += PAIRED.findall("".join(maker.output))
        made += sent
    return told, pairs, made


def check_matched_once(names, told, pairs, made):
    """Every player in exactly one pair, and told of that pair, the other side too."""
    assert made == len(pairs) == len(names) // 2, pairs
    assert sorted(name for pair in pairs for name in pair[:2]) == sorted(names), pairs
    for first, second, game in pairs:
        assert told[first] == (second, game) and told[second] == (first, game), (pairs, told)
    assert all(told[told[name][0]][0] == name for name in names), told  # A with B iff B with A


@needs_pygame
def test_matchmaking_matches_four_players_once(start, tmp_path):
    """One match-maker and four players: two matches, each player in one, both sides agree."""
    names = ["Ann", "Bob", "Cid", "Dee"]
    check_matched_once(names, *matchmaking(start, tmp_path, 1, names))


@needs_pygame
def test_matchmaking_with_two_match_makers_still_matches_each_player_once(start, tmp_path):
    """Two match-makers fetch from one queue: each player is taken by one of them, once."""
    names = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay"]
    check_matched_once(names, *matchmaking(start, tmp_path, 2, names))


@needs_pygame
def test_matchmaking_drops_a_player_who_left_the_queue(start, tmp_path):
    """Ann queues and gives up before any match-maker runs: Bob and Cid are paired, not her."""
    service = start(
        "-m", "pygnetic.state", "--db", str(tmp_path / "state.db"),
        "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    address = f"127.0.0.1:{service.port()}"
    ann = start("matchmaking.py", "--state", address, "--name", "Ann", "--selftest", "30")
    ann.process.wait(RUN_TIMEOUT)
    ann.join()
    assert ann.process.returncode == 1 and "Ann: left the queue\n" in ann.output, ann.transcript()
    maker = start("matchmaking.py", "--role", "matchmaker", "--state", address, "--selftest", "2")
    maker.wait_for(r": ready, matching players")
    players = [
        start("matchmaking.py", "--state", address, "--name", name, "--selftest", "1800")
        for name in ("Bob", "Cid")
    ]
    for player in players:
        assert player.finish() == (1, 1, None), player.transcript()
    assert maker.finish()[0] == 1
    said = "".join(maker.output)
    assert ": Ann left the queue\n" in said, maker.transcript()
    assert [sorted(pair[:2]) for pair in PAIRED.findall(said)] == [["Bob", "Cid"]], said
