"""What a game server's log says about its lobby: real TCP on 127.0.0.1, a driven clock.

A lobby that is down stays down for many retries; its owner must read one
line saying so, not one per retry, and must not read "lost" about a lobby that
was never reached.
"""

import importlib.util
import logging
import socket

import pytest

from pygnetic.discovery import LobbyAnnouncer, LobbyBrowser, LobbyServer
from pygnetic.testing import ManualClock, pump

LOBBY_LOG = "pygnetic.discovery.lobby"
RETRY = 5.0
TIMEOUT = 2.0
ADAPTERS = [
    "socket",  # refused at once
    pytest.param(  # no answer: not accepted within TIMEOUT
        "enet",
        marks=[
            pytest.mark.enet,
            pytest.mark.skipif(importlib.util.find_spec("enet") is None, reason="no pyenet"),
        ],
    ),
]


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def closing():
    things = []
    yield things
    for thing in reversed(things):
        thing.close()


@pytest.fixture
def lobby_log(caplog):
    """The announcer's and browser's own lines, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger=LOBBY_LOG)

    def lines(level=logging.WARNING):
        return [
            r.getMessage() for r in caplog.records if r.name == LOBBY_LOG and r.levelno >= level
        ]

    return lines


def free_port(adapter="socket"):
    """A port on 127.0.0.1 nothing listens on (bound, then closed again)."""
    kind = socket.SOCK_STREAM if adapter == "socket" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def announcer(closing, clock, port, adapter="socket"):
    lobby = ("127.0.0.1", port)
    made = LobbyAnnouncer(
        port=10000,
        name="srv",
        lobby=lobby,
        retry=RETRY,
        timeout=TIMEOUT,
        clock=clock,
        adapter=adapter,
    )
    closing.append(made)
    return made


def lobby(closing, clock, port=0, adapter="socket"):
    made = LobbyServer("127.0.0.1", port, clock=clock, adapter=adapter)
    closing.append(made)
    return made


def attempt(clock, listing, *hosts):
    """Let the retry time pass, then pump until the attempt failed; return why."""
    listing.last_error = None
    clock.now += RETRY
    if not pump(listing, *hosts, until=lambda: listing.last_error, timeout=0.2):
        clock.now += TIMEOUT  # nobody answers: the connection gives up waiting
        assert pump(listing, *hosts, until=lambda: listing.last_error, timeout=5)
    return listing.last_error


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_lobby_nobody_runs_is_unreachable_once_not_lost(
    closing, clock, lobby_log, caplog, adapter
):
    port = free_port(adapter)
    listing = announcer(closing, clock, port, adapter)
    errors = [attempt(clock, listing) for _ in range(3)]
    assert all(e.startswith(f"cannot reach lobby 127.0.0.1:{port}: ") for e in errors), errors
    assert lobby_log() == [f"{errors[0]} (retrying every {RETRY:g} s)"]  # not once per retry
    assert len(lobby_log(logging.DEBUG)) == 3  # the repeats, for whoever looks closely
    assert not any("lost lobby" in line for line in lobby_log(logging.DEBUG))
    others = [r for r in caplog.records if r.name != LOBBY_LOG and r.levelno >= logging.INFO]
    assert not others, [r.getMessage() for r in others]  # the core does not say it again

    up = lobby(closing, clock, port, adapter)  # the lobby starts at last: one line says it worked
    clock.now += RETRY
    assert pump(up, listing, until=lambda: listing.registered, timeout=5)
    said = [line for line in lobby_log(logging.INFO) if "in lobby" in line]  # not the lobby's
    assert said == [f"listed in lobby 127.0.0.1:{port} as server {listing.server_id}"]


def test_a_lobby_that_goes_away_is_lost_once_then_unreachable_once(closing, clock, lobby_log):
    up = lobby(closing, clock)
    port = up.address[1]
    listing = announcer(closing, clock, port)
    assert pump(up, listing, until=lambda: listing.registered, timeout=5)
    assert lobby_log() == []

    up.close()  # tells its clients it is closing
    assert pump(listing, until=lambda: listing.last_error, timeout=5)
    lost = listing.last_error
    assert lost.startswith(f"lost lobby 127.0.0.1:{port}: "), lost
    unreachable = [attempt(clock, listing) for _ in range(3)]
    assert all(e.startswith(f"cannot reach lobby 127.0.0.1:{port}: ") for e in unreachable)
    assert lobby_log() == [
        f"{lost} (retrying every {RETRY:g} s)",
        f"{unreachable[0]} (retrying every {RETRY:g} s)",
    ]


def test_a_browser_says_unreachable_or_lost(closing, clock):
    port = free_port()
    nobody = LobbyBrowser(("127.0.0.1", port), clock=clock)
    closing.append(nobody)
    request = nobody.get_servers()
    assert pump(nobody, until=lambda: request.done, timeout=5)
    assert request.error.startswith(f"cannot reach lobby 127.0.0.1:{port}: "), request.error

    up = lobby(closing, clock)
    browser = LobbyBrowser(up.address, clock=clock)
    closing.append(browser)
    first = browser.get_servers()
    assert pump(up, browser, until=lambda: first.done, timeout=5)
    assert first.error is None
    pending = browser.get_servers()
    up.close()  # before it answered
    assert pump(browser, until=lambda: pending.done, timeout=5)
    assert pending.error.startswith(f"lost lobby 127.0.0.1:{up.address[1]}: "), pending.error
