"""Lobby server and its two clients over the memory transport, with a driven clock."""

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.discovery import (
    LobbyAnnouncer,
    LobbyBrowser,
    LobbyError,
    LobbyLimits,
    LobbyServer,
    ServerInfo,
    ServerInfoError,
)
from pygnetic.discovery.lobby import (
    GET_SERVERS,
    MAX_INVALID_REQUESTS,
    NOT_LISTED,
    PING,
    REFUSED,
    REGISTER,
    REGISTERED,
    SERVER_PAGE,
    UNREGISTER,
    lobby_messages,
)
from pygnetic.protocol import CloseCode
from pygnetic.request import INVALID
from pygnetic.testing import Recorder


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class World:
    """A memory network, a clock and a lobby on it."""

    def __init__(self, **limits):
        self.network = MemoryNetwork()
        self.clock = Clock()
        self.lobby = self.start_lobby(0, **limits)
        self.port = self.lobby.address[1]
        self.closing = []

    def options(self):
        return {"adapter": "memory", "network": self.network, "clock": self.clock}

    def start_lobby(self, port, **limits):
        limits = {"ttl": 9.0, **limits}
        return LobbyServer(port=port, limits=LobbyLimits(**limits), **self.options())

    def announcer(self, server=None, **kwargs):
        kwargs.setdefault("port", None if server else 10000)
        kwargs.setdefault("name", "srv")
        announcer = LobbyAnnouncer(
            server, lobby=("memory", self.port), retry=5.0, **kwargs, **self.options()
        )
        self.closing.append(announcer)
        return announcer

    def browser(self, **kwargs):
        browser = LobbyBrowser(("memory", self.port), **kwargs, **self.options())
        self.closing.append(browser)
        return browser

    def client(self, factory=lobby_messages):
        client = pygnetic.Client(message_factory=factory, **self.options())
        self.closing.append(client)
        return client

    def pump(self, *hosts, until=lambda: False, rounds=20):
        for _ in range(rounds):
            for host in (self.lobby, *hosts):
                host.update()
            if until():
                return True
        return False

    def listed(self, *hosts, game=None):
        request = self.browser().get_servers(game=game)
        self.pump(request._browser, *hosts, until=lambda: request.done)
        assert request.error is None, request.error
        return request.servers


@pytest.fixture
def world():
    world = World()
    yield world
    for thing in world.closing:
        thing.close()
    world.lobby.close()


def test_announcer_registers_and_players_see_it(world):
    announcer = world.announcer(name="Tom's", game="tanks", max_players=8, info={"map": "x"})
    assert world.pump(announcer, until=lambda: announcer.registered)
    assert announcer.ttl == 9.0
    assert announcer.last_error is None
    assert world.listed(announcer, game="tanks") == [
        ServerInfo("Tom's", "memory", 10000, 0, 8, {"map": "x"}, "tanks")
    ]
    assert world.listed(announcer, game="chess") == []


def test_announcer_reads_port_players_and_capacity_from_a_server(world):
    game = pygnetic.Server(port=0, conn_limit=6, **world.options())
    world.closing.append(game)
    announcer = world.announcer(game)
    assert world.pump(game, announcer, until=lambda: announcer.registered)
    (listed,) = world.listed(announcer)
    assert (listed.port, listed.players, listed.max_players) == (game.address[1], 0, 6)
    player = world.client(game.message_factory)
    player.connect("memory", game.address[1])
    assert world.pump(game, player, until=lambda: game.connections())
    world.clock.now += 1.0  # a player count change is sent at most once a second
    world.pump(announcer, rounds=3)
    assert world.listed(announcer)[0].players == 1


def test_pings_keep_the_listing_and_it_expires_without_them(world):
    announcer = world.announcer()
    world.pump(announcer, until=lambda: announcer.registered)
    first_id = announcer.server_id
    for _ in range(30):  # 30 s with a 9 s ttl
        world.clock.now += 1.0
        world.pump(announcer, rounds=2)
    assert len(world.listed(announcer)) == 1
    world.clock.now += 9.0  # the announcer is not pumped: no ping
    world.lobby.update()
    assert world.listed() == []
    world.pump(announcer, until=lambda: announcer.server_id not in (None, first_id), rounds=40)
    assert len(world.listed(announcer)) == 1


def test_changed_info_registers_again_under_the_same_id(world):
    announcer = world.announcer(info={"map": "forest"})
    world.pump(announcer, until=lambda: announcer.registered)
    server_id = announcer.server_id
    announcer.info = {"map": "desert"}
    world.pump(announcer, rounds=4)
    assert world.listed(announcer)[0].info == {"map": "desert"}
    assert announcer.server_id == server_id


def test_a_private_room_is_listed_as_private(world):
    room = world.announcer(name="locked", port=10001, private=True)
    open_room = world.announcer(name="open", port=10002)
    world.pump(room, open_room, until=lambda: room.registered and open_room.registered)
    assert [(s.name, s.private) for s in world.listed(room, open_room)] == [
        ("locked", True),
        ("open", False),
    ]


def test_changing_private_registers_again_under_the_same_id(world):
    announcer = world.announcer()
    world.pump(announcer, until=lambda: announcer.registered)
    server_id = announcer.server_id
    announcer.private = True
    assert world.pump(announcer, until=lambda: world.listed(announcer)[0].private)
    assert announcer.server_id == server_id
    with pytest.raises(ServerInfoError, match="private"):
        announcer.private = "no"


def test_a_bad_private_is_refused_as_invalid_and_lists_nothing(world):
    client = world.client()
    connection = client.connect("memory", world.port)
    recorder = Recorder()
    connection.add_handler(recorder)
    connection.send(REGISTER, 1, "room", "", 10000, 0, 4, {}, "yes")
    connection.send(REGISTER, 2, "room", "", 10000, 0, 4, {}, None)
    world.pump(client, until=lambda: len(recorder.received) == 2)
    assert [(m.request_id, m.code) for m in recorder.received] == [(1, INVALID), (2, INVALID)]
    assert "private must be True or False, not 'yes'" in recorder.received[0].reason
    assert connection.connected
    assert len(world.lobby.registry) == 0


def test_close_unlists_at_once(world):
    announcer = world.announcer()
    world.pump(announcer, until=lambda: announcer.registered)
    world.closing.remove(announcer)
    announcer.close()
    world.pump(rounds=2)
    assert world.listed() == []
    assert len(world.lobby.registry) == 0


def test_refused_registration_is_reported_and_retried(world):
    world.lobby.close()
    world.lobby = world.start_lobby(world.port, max_servers=1)
    first = world.announcer(port=1)
    world.pump(first, until=lambda: first.registered)
    second = world.announcer(port=2)
    world.pump(first, second, until=lambda: second.last_error)
    assert "lobby is full" in second.last_error
    assert not second.registered
    first.close()
    world.clock.now += 5.0  # retry
    assert world.pump(second, until=lambda: second.registered)


def test_announcer_reconnects_when_the_lobby_comes_back(world):
    announcer = world.announcer()
    world.pump(announcer, until=lambda: announcer.registered)
    world.lobby.close()
    world.lobby = world.start_lobby(world.port)
    assert world.pump(announcer, until=lambda: announcer.last_error)
    assert "lost lobby" in announcer.last_error
    assert not announcer.registered
    world.clock.now += 5.0
    assert world.pump(announcer, until=lambda: announcer.registered)
    assert len(world.listed(announcer)) == 1


def test_browser_pages_with_callback_handler_and_return_value(world):
    for number in range(25):
        host = f"10.0.0.{number}"
        world.lobby.registry.register(None, host, f"s{number}", "tanks", 10000, 0, 4, {})

    class Menu:
        pages = []

        def on_server_page(self, request):
            self.pages.append(request)

    menu = Menu()
    seen = []
    browser = world.browser(handler=menu)
    requests = [
        browser.get_servers(page, game="tanks", page_size=10, callback=seen.append)
        for page in range(3)
    ]
    world.pump(browser, until=lambda: all(r.done for r in requests))
    assert seen == menu.pages == requests
    assert [len(r.servers) for r in requests] == [10, 10, 5]
    assert requests[2].result.pages == 3
    assert requests[2].result.total == 25
    assert requests[0].servers[0].name == "s0"


def test_browser_requests_fail_with_a_reason(world):
    nobody = LobbyBrowser(("memory", 1), **world.options())
    world.closing.append(nobody)
    request = nobody.get_servers()
    world.pump(nobody, until=lambda: request.done)
    assert "nothing listens" in request.error
    with pytest.raises(LobbyError, match="nothing listens"):
        request.wait(0.1)


def test_unanswered_requests_time_out(world):
    silent = pygnetic.Server(port=0, message_factory=lobby_messages, **world.options())
    world.closing.append(silent)
    browser = LobbyBrowser(("memory", silent.address[1]), request_timeout=2, **world.options())
    world.closing.append(browser)
    request = browser.get_servers()
    world.pump(silent, browser, rounds=5)
    assert not request.done
    world.clock.now += 2.0
    world.pump(silent, browser, until=lambda: request.done)
    assert request.error == "the lobby did not answer in time"


def test_idle_browser_disconnects_and_reconnects_on_demand(world):
    browser = world.browser(idle_timeout=30)
    request = browser.get_servers()
    world.pump(browser, until=lambda: request.done)
    assert browser.connected
    world.clock.now += 30.0
    world.pump(browser, rounds=3)
    assert not browser.connected
    assert world.lobby.connections() == []
    request = browser.get_servers()
    world.pump(browser, until=lambda: request.done)
    assert request.error is None


def test_malformed_listings_from_a_lobby_are_skipped(world):
    good = ["ok", "", "10.0.0.1", 1, 0, 2, {}, False]

    class BadLobby(pygnetic.Handler):
        def net_get_servers(self, message):
            rows = [
                good,
                ["short"],
                ["x" * 500, "", "h", 1, 0, 2, {}, False],
                "junk",
                [*good[:2], "", *good[3:]],
                [*good[:7], "yes"],  # private must be a bool
                [*good[:7], 1],  # not even 1 for True
                good[:7],  # without private
                [*good, "extra"],
            ]
            self.connection.send(SERVER_PAGE, message.request_id, 0, 1, 9, rows)

    bad = pygnetic.Server(
        port=0, message_factory=lobby_messages, handler=BadLobby, **world.options()
    )
    world.closing.append(bad)
    browser = LobbyBrowser(("memory", bad.address[1]), **world.options())
    world.closing.append(browser)
    request = browser.get_servers()
    world.pump(bad, browser, until=lambda: request.done)
    assert [s.name for s in request.servers] == ["ok"]
    assert request.servers[0].private is False


def test_invalid_requests_are_refused_then_the_connection_closed(world):
    client = world.client()
    connection = client.connect("memory", world.port)
    recorder = Recorder()
    connection.add_handler(recorder)
    connection.send(REGISTER, 1, "x" * 500, "", 1, 0, 1, {}, False)
    connection.send(GET_SERVERS, 2, None, 0, 0)
    connection.send(REGISTERED, 3, 1, 1.0)  # only the lobby sends this
    world.pump(client, until=lambda: len(recorder.received) == 3)
    reasons = [message.reason for message in recorder.received]
    assert "name is 500 characters" in reasons[0]
    assert "page_size" in reasons[1]
    assert "registered is not a request" in reasons[2]
    assert [m.request_id for m in recorder.received] == [1, 2, None]
    assert {m.code for m in recorder.received} == {INVALID}
    invalid = 3
    while invalid < MAX_INVALID_REQUESTS - 1:
        connection.send(GET_SERVERS, "not an int", None, 0, 1)
        invalid += 1
    connection.send(PING, 4, 12345, 0)  # unknown server id: refused, but not invalid
    connection.send(UNREGISTER, 12345)  # never answered
    world.pump(client, until=lambda: len(recorder.received) == invalid + 1)
    assert recorder.received[-1] == REFUSED(
        4, NOT_LISTED, "server 12345 is not listed by this connection"
    )
    assert connection.connected  # one invalid request short of the limit
    connection.send(GET_SERVERS, "not an int", None, 0, 1)
    world.pump(client, until=lambda: recorder.disconnects)
    assert connection.close_reason == "too many invalid requests"
    assert connection.close_code is CloseCode.PROTOCOL_ERROR
    assert len(world.lobby.registry) == 0


def test_a_listing_the_lobby_forgot_is_registered_again(world):
    announcer = world.announcer()
    world.pump(announcer, until=lambda: announcer.registered)
    first_id = announcer.server_id
    world.lobby.registry.unregister(world.lobby.registry.get(first_id).owner, first_id)
    world.clock.now += 3.0  # a ping is due: refused as not listed
    world.pump(announcer, until=lambda: announcer.server_id not in (None, first_id))
    assert len(world.listed(announcer)) == 1
    assert announcer.last_error is None


def test_connections_per_host_are_limited(world):
    world.lobby.close()
    world.lobby = world.start_lobby(world.port, max_connections_per_host=2)
    clients = [world.client() for _ in range(3)]
    connections = [client.connect("memory", world.port) for client in clients]
    world.pump(*clients, rounds=10)
    assert [c.connected for c in connections] == [True, True, False]
    assert "too many lobby connections" in connections[2].close_reason


@pytest.mark.parametrize(
    "reply", [None, ("one", 30.0), (1, -5.0)], ids=["silent", "bad id", "bad ttl"]
)
def test_announcer_recovers_from_a_lobby_that_answers_badly(world, reply):
    class OddLobby(pygnetic.Handler):
        def net_register(self, message):
            if reply is not None:
                self.connection.send(REGISTERED, message.request_id, *reply)

    odd = pygnetic.Server(
        port=0, message_factory=lobby_messages, handler=OddLobby, **world.options()
    )
    world.closing.append(odd)
    announcer = LobbyAnnouncer(
        port=10000, lobby=("memory", odd.address[1]), retry=5.0, timeout=8.0, **world.options()
    )
    world.closing.append(announcer)
    world.pump(odd, announcer, rounds=5)
    if reply is None:
        assert announcer.last_error is None
        world.clock.now += 8.0
        world.pump(odd, announcer, rounds=3)
        assert announcer.last_error == (
            f"lobby memory:{odd.address[1]} did not answer the registration within 8 s"
        )
    else:
        assert announcer.last_error.startswith(f"lobby memory:{odd.address[1]} answered register")
    assert not announcer.registered
    sent = odd.connections()[0].messages_received
    world.clock.now += 5.0  # retry: the announcer asks again rather than stalling
    world.pump(odd, announcer, rounds=3)
    assert odd.connections()[0].messages_received > sent


def test_browser_checks_its_arguments(world):
    browser = world.browser()
    for bad in ({"page": -1}, {"page_size": 0}, {"game": "g" * 100}, {"game": 5}):
        with pytest.raises(ValueError):
            browser.get_servers(**bad)
