"""A LAN browser posts NET_SERVER_FOUND / NET_SERVER_LOST to pygame's real event queue."""

import time

import pytest

import pygnetic.event
from pygnetic.discovery import Announcer, Browser

pygame = pytest.importorskip("pygame")  # SDL_VIDEODRIVER=dummy comes from conftest.py


@pytest.fixture
def events():
    pygame.init()
    pygnetic.event.init()
    pygame.event.clear()
    try:
        yield
    finally:
        pygnetic.event.disable()
        pygame.quit()


def pump_until_event(browser, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        browser.update(5)
        found = [e for e in pygame.event.get() if e.type == pygnetic.event.NETWORK]
        if found:
            return found
    return []


def test_found_and_lost_are_posted(events):
    with Browser(0, "127.0.0.1") as browser:
        assert browser.events
        announcer = Announcer(
            port=10000, name="Evented", info={"map": "x"}, target=("127.0.0.1", browser.address[1])
        )
        announcer.announce()
        (found,) = pump_until_event(browser)
        assert found.net_type == pygnetic.event.NET_SERVER_FOUND
        assert found.server.name == "Evented"
        assert found.server.address == ("127.0.0.1", 10000)
        assert found.browser is browser
        assert not hasattr(found, "connection")

        announcer.players = 1
        announcer.announce()  # an update posts no event
        browser_updates = []
        browser.handler = type("H", (), {"on_server_updated": browser_updates.append})()
        deadline = time.monotonic() + 2
        while not browser_updates and time.monotonic() < deadline:
            browser.update(5)
        assert browser_updates
        assert [e for e in pygame.event.get() if e.type == pygnetic.event.NETWORK] == []

        announcer.close()
        (lost,) = pump_until_event(browser)
        assert lost.net_type == pygnetic.event.NET_SERVER_LOST
        assert lost.server == browser_updates[0]


def test_nothing_is_posted_when_events_are_off(events):
    with Browser(0, "127.0.0.1", events=False) as browser:
        with Announcer(port=10000, target=("127.0.0.1", browser.address[1])) as announcer:
            announcer.announce()
            deadline = time.monotonic() + 2
            while not browser.servers and time.monotonic() < deadline:
                browser.update(5)
        assert browser.servers
        assert [e for e in pygame.event.get() if e.type == pygnetic.event.NETWORK] == []


def test_browsers_made_before_events_are_enabled_post_nothing():
    with Browser(0, "127.0.0.1") as browser:
        assert not browser.events
