"""LAN discovery over real UDP sockets on the loopback interface."""

import logging
import os
import socket
import threading
import time

import msgpack
import pytest

import pygnetic
import pygnetic.testing
from pygnetic.discovery import MULTICAST_GROUP, Announcer, Browser, ServerInfo, search
from pygnetic.discovery.lan import MAGIC, VERSION, encode_announcement


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Recorder:
    def __init__(self):
        self.calls = []

    def on_server_found(self, server):
        self.calls.append(("found", server))

    def on_server_updated(self, server):
        self.calls.append(("updated", server))

    def on_server_lost(self, server):
        self.calls.append(("lost", server))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pump(*browsers, until, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for browser in browsers:
            browser.update(5)
        if until():
            return True
    return False


def send_raw(port, *datagrams):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, ("127.0.0.1", port))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def browser(clock):
    recorder = Recorder()
    with Browser(0, "127.0.0.1", handler=recorder, clock=clock) as browser:
        browser.recorder = recorder
        yield browser


def announcer_for(browser, **kwargs):
    kwargs.setdefault("port", 10000)
    kwargs.setdefault("name", "LAN game")
    return Announcer(target=("127.0.0.1", browser.address[1]), **kwargs)


class Pumping:
    """Pumps announcers in a thread while the test blocks in search()."""

    def __init__(self, *announcers):
        self.announcers = announcers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for announcer in self.announcers:
                announcer.update()
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()
        for announcer in self.announcers:
            announcer.close()


def test_search_finds_announced_servers_and_filters_by_game():
    port = free_udp_port()
    target = ("127.0.0.1", port)
    tanks = Announcer(port=10001, name="Tanks", game="tanks", target=target, interval=0.05)
    chess = Announcer(
        port=10002, name="Chess", game="chess", info={"rated": True}, max_players=2, target=target
    )
    chess.interval = 0.05
    with Pumping(tanks, chess):
        everything = search(0.4, port, "127.0.0.1")
        only_chess = search(0.4, port, "127.0.0.1", game="chess")
    assert sorted(s.name for s in everything) == ["Chess", "Tanks"]
    assert only_chess == [ServerInfo("Chess", "127.0.0.1", 10002, 0, 2, {"rated": True}, "chess")]


def test_browser_hears_servers_come_change_and_go(browser, clock):
    recorder = browser.recorder
    announcer = announcer_for(browser, players=0, max_players=4, info={"map": "forest"})
    announcer.announce()
    assert pump(browser, until=lambda: recorder.calls)
    (kind, found), *_ = recorder.calls
    assert kind == "found"
    assert found == ServerInfo("LAN game", "127.0.0.1", 10000, 0, 4, {"map": "forest"}, "")
    assert browser.servers == [found]

    announcer.players = 3
    announcer.announce()
    assert pump(browser, until=lambda: len(recorder.calls) == 2)
    assert recorder.calls[1][0] == "updated"
    assert browser.servers[0].players == 3

    announcer.announce()  # nothing changed: no call
    pump(browser, until=lambda: False, timeout=0.1)
    assert len(recorder.calls) == 2

    clock.now += 3 * announcer.interval  # three missed intervals
    browser.update()
    assert recorder.calls[2] == ("lost", recorder.calls[1][1])
    assert browser.servers == []

    announcer.announce()
    assert pump(browser, until=lambda: len(recorder.calls) == 4)
    assert recorder.calls[3][0] == "found"
    announcer.close()  # says goodbye
    assert pump(browser, until=lambda: len(recorder.calls) == 5)
    assert recorder.calls[4][0] == "lost"
    assert browser.servers == []


def test_a_private_room_shows_as_private(browser):
    recorder = browser.recorder
    announcer = announcer_for(browser, name="locked", private=True)
    announcer.announce()
    assert pump(browser, until=lambda: recorder.calls)
    assert recorder.calls[0] == (
        "found",
        ServerInfo("locked", "127.0.0.1", 10000, 0, 0, {}, "", private=True),
    )
    announcer.private = False  # the password was lifted
    announcer.announce()
    assert pump(browser, until=lambda: len(recorder.calls) == 2)
    assert recorder.calls[1][0] == "updated"
    assert browser.servers[0].private is False
    announcer.close()


def test_a_bad_private_from_the_network_is_dropped(browser, caplog):
    header = MAGIC + bytes((VERSION,))
    with caplog.at_level(logging.WARNING, "pygnetic.discovery"):
        send_raw(browser.address[1], header + msgpack.packb([0, "n", "g", 1, 0, 2, 1.0, {}, 1]))
        pump(browser, until=lambda: False, timeout=0.2)
    assert browser.servers == []
    assert "private must be True or False, not 1" in caplog.text
    send_raw(browser.address[1], header + msgpack.packb([0, "n", "g", 1, 0, 2, 1.0, {}, True]))
    assert pump(browser, until=lambda: browser.servers)
    assert browser.servers[0].private is True


def test_update_announces_once_per_interval(browser, clock):
    announcer = announcer_for(browser, interval=2.0, clock=clock)
    sent = []
    announcer._send = sent.append
    for _ in range(3):
        announcer.update()
    clock.now = 1.9
    announcer.update()
    clock.now = 2.0
    announcer.update()
    assert len(sent) == 2


def test_announcer_reads_a_real_server():
    server = pygnetic.Server("127.0.0.1", 0, conn_limit=3, adapter="socket")
    client = pygnetic.Client(adapter="socket")
    try:
        client.connect("127.0.0.1", server.address[1])
        pygnetic.testing.pump(server, client, until=lambda: server.connections())
        with Browser(0, "127.0.0.1") as browser:
            with Announcer(server, "Real", target=("127.0.0.1", browser.address[1])) as announcer:
                announcer.update()
                assert pump(browser, until=lambda: browser.servers)
            (found,) = browser.servers
    finally:
        client.close()
        server.close()
    assert (found.port, found.players, found.max_players) == (server.address[1], 1, 3)


def test_garbage_datagrams_are_dropped_and_logged(browser, caplog):
    port = browser.address[1]
    header = MAGIC + bytes((VERSION,))
    garbage = [
        os.urandom(200),
        header,
        header + os.urandom(100),
        header + b"\x91" * 1000,  # deeply nested arrays
        header + b"x" * 3000,  # over the datagram limit
        header + msgpack.packb([0, "n", "g", 99999, 0, 2, 1.0, {}]),  # bad port
        header + msgpack.packb([0, "n", "g", 1, 0, 2, 1.0, {"k": "v" * 1200}]),  # big info
        header + msgpack.packb([1, "not a port"]),
        b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
    ]
    with caplog.at_level(logging.WARNING, "pygnetic.discovery"):
        send_raw(port, *garbage)
        pump(browser, until=lambda: False, timeout=0.2)
    assert browser.servers == []
    assert "dropped LAN datagram from 127.0.0.1" in caplog.text
    announcer_for(browser).announce()
    assert pump(browser, until=lambda: browser.servers)


def test_a_flood_of_fake_servers_is_bounded(clock, caplog):
    with Browser(0, "127.0.0.1", max_servers_per_host=10, clock=clock) as browser:
        fakes = [encode_announcement("fake", "", 1 + n, 0, 1, 1.0, {}) for n in range(100)]
        with caplog.at_level(logging.WARNING, "pygnetic.discovery"):
            send_raw(browser.address[1], *fakes)
            pump(browser, until=lambda: False, timeout=0.2)
        assert len(browser.servers) == 10
        assert "max_servers_per_host=10 reached" in caplog.text
    with Browser(0, "127.0.0.1", max_servers=5, clock=clock) as browser:
        send_raw(browser.address[1], *fakes)
        pump(browser, until=lambda: False, timeout=0.2)
        assert len(browser.servers) == 5


def test_send_failures_are_logged_not_raised(caplog):
    with (
        caplog.at_level(logging.WARNING, "pygnetic.discovery"),
        Announcer(port=10000, target=("127.0.0.1", 0)) as announcer,
    ):
        announcer.update()
        announcer.announce()
    assert "LAN announcement to 127.0.0.1:0 failed" in caplog.text


def _loopback_reaches_two_sockets(target_host, group=None):
    """Whether this machine delivers one datagram to two sockets sharing a port."""
    port = free_udp_port()
    try:
        listeners = [Browser(port, "", group=group, interface="127.0.0.1") for _ in range(2)]
    except OSError:
        return False
    try:
        with Announcer(port=1, target=(target_host, port), interface="127.0.0.1") as announcer:
            announcer.announce()
            return pump(*listeners, until=lambda: all(b.servers for b in listeners), timeout=0.5)
    finally:
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize(
    ("target", "group"),
    [("127.255.255.255", None), (MULTICAST_GROUP, MULTICAST_GROUP)],
    ids=["loopback broadcast", "multicast"],
)
def test_several_browsers_share_the_discovery_port(target, group):
    if not _loopback_reaches_two_sockets(target, group):
        pytest.skip(f"this machine does not loop {target} back to two sockets")
    port = free_udp_port()
    browsers = [Browser(port, "", group=group, interface="127.0.0.1") for _ in range(3)]
    try:
        announcer = Announcer(
            port=10000, name="shared", target=(target, port), interface="127.0.0.1"
        )
        with announcer:
            announcer.announce()
            assert pump(*browsers, until=lambda: all(b.servers for b in browsers))
        assert {b.servers[0].name for b in browsers} == {"shared"}
    finally:
        for browser in browsers:
            browser.close()


def test_command_line_search_prints_lan_servers(capsys):
    from pygnetic.discovery.__main__ import main

    port = free_udp_port()
    target = ("127.0.0.1", port)
    announcer = Announcer(port=10005, name="Listed", target=target, interval=0.05)
    locked = Announcer(port=10006, name="Locked", target=target, interval=0.05, private=True)
    with Pumping(announcer, locked):
        assert main(["--search-lan", "--seconds", "0.4", "--lan-port", str(port)]) == 0
    output = capsys.readouterr()
    assert "127.0.0.1:10005  Listed  0/0  {}" in output.out
    assert "127.0.0.1:10006  Locked (private)  0/0  {}" in output.out
    assert "2 server(s) found" in output.err
