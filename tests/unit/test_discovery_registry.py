"""The lobby's listings: ownership, updates in place, expiry, limits, pages, filters."""

import pytest

from pygnetic.discovery import LobbyError, LobbyLimits
from pygnetic.discovery._registry import Registry
from pygnetic.errors import MessageError


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def make(clock, **limits):
    return Registry(LobbyLimits(**limits), clock)


def register(registry, owner="A", host="10.0.0.1", port=10000, name="srv", game="tanks", **kw):
    fields = {"players": 0, "max_players": 4, "info": {}, "private": False, **kw}
    return registry.register(
        owner,
        host,
        name,
        game,
        port,
        fields["players"],
        fields["max_players"],
        fields["info"],
        fields["private"],
    )


def names(registry, game=None, page=0, page_size=50):
    servers, _, _ = registry.page(game, page, page_size)
    return [s.name for s in servers]


def test_register_lists_the_server_at_the_connections_host(clock):
    registry = make(clock)
    entry = register(registry, host="10.0.0.1", port=10001, info={"map": "forest"})
    (server,) = registry.page(None, 0, 10)[0]
    assert server.address == ("10.0.0.1", 10001)
    assert server.info == {"map": "forest"}
    assert registry.get(entry.id) is entry


def test_registering_again_updates_in_place_and_takes_ownership(clock):
    registry = make(clock)
    first = register(registry, name="a", port=1)
    register(registry, name="b", port=2)
    again = register(registry, owner="B", name="a2", port=1, game="chess")
    assert again.id == first.id
    assert names(registry) == ["a2", "b"]
    assert names(registry, "chess") == ["a2"]
    assert names(registry, "tanks") == ["b"]
    with pytest.raises(LobbyError):
        registry.ping("A", first.id, 1)
    registry.ping("B", first.id, 1)


def test_same_port_from_another_host_is_another_listing(clock):
    registry = make(clock)
    mine = register(registry, host="10.0.0.1", port=10000, name="mine")
    theirs = register(registry, owner="evil", host="6.6.6.6", port=10000, name="theirs")
    assert mine.id != theirs.id
    assert names(registry) == ["mine", "theirs"]


def test_only_the_owner_may_ping_or_unregister(clock):
    registry = make(clock)
    entry = register(registry)
    with pytest.raises(LobbyError, match="not listed by this connection"):
        registry.ping("B", entry.id, 1)
    with pytest.raises(LobbyError, match="not listed by this connection"):
        registry.unregister("B", entry.id)
    with pytest.raises(LobbyError):
        registry.ping("A", "1", 1)
    registry.unregister("A", entry.id)
    assert len(registry) == 0


def test_private_is_listed_kept_by_pings_and_changed_by_registering(clock):
    registry = make(clock)
    entry = register(registry, private=True)
    register(registry, port=2)
    assert [s.private for s in registry.page(None, 0, 10)[0]] == [True, False]
    registry.ping("A", entry.id, 3)
    (server, _) = registry.page(None, 0, 10)[0]
    assert (server.players, server.private) == (3, True)
    register(registry, private=False)
    assert registry.get(entry.id).server.private is False


def test_listings_expire_unless_pinged(clock):
    registry = make(clock, ttl=10)
    kept = register(registry, name="kept", port=1)
    register(registry, name="dropped", port=2)
    expired = []
    for _ in range(5):
        clock.now += 6
        registry.ping("A", kept.id, 3)
        expired.append([e.server.name for e in registry.expire()])
    assert expired == [[], ["dropped"], [], [], []]  # dropped at 12 s, kept never
    assert names(registry) == ["kept"]
    assert registry.page(None, 0, 5)[0][0].players == 3
    clock.now += 10
    assert [e.server.name for e in registry.expire()] == ["kept"]
    assert len(registry) == 0


def test_disowned_listings_stay_until_they_expire(clock):
    registry = make(clock, ttl=5)
    entry = register(registry)
    registry.disown("A")
    with pytest.raises(LobbyError):
        registry.ping("A", entry.id, 0)
    assert len(registry) == 1
    clock.now = 5
    assert registry.expire() == [entry]


def test_servers_per_host_and_in_all_are_limited(clock):
    registry = make(clock, max_servers=3, max_servers_per_host=2)
    register(registry, port=1)
    register(registry, port=2)
    with pytest.raises(LobbyError, match=r"10\.0\.0\.1 already has 2 servers"):
        register(registry, port=3)
    register(registry, port=1, name="updated")  # an update needs no room
    register(registry, host="10.0.0.2", port=1)
    with pytest.raises(LobbyError, match="lobby is full"):
        register(registry, host="10.0.0.3", port=1)
    clock.now = 100
    registry.expire()
    register(registry, host="10.0.0.3", port=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 200),
        ("port", -1),
        ("players", "many"),
        ("info", {"a": object()}),
        ("private", "yes"),
        ("private", 1),
        ("private", None),
    ],
)
def test_invalid_fields_are_message_errors(clock, field, value):
    registry = make(clock)
    with pytest.raises(MessageError, match=field):
        register(registry, **{field: value})
    assert len(registry) == 0


def test_paging_and_filtering(clock):
    registry = make(clock, max_page_size=4)
    for number in range(10):
        register(
            registry, port=number + 1, name=f"s{number}", game="even" if number % 2 else "odd"
        )
    assert names(registry, page_size=3) == ["s0", "s1", "s2"]
    assert names(registry, page=3, page_size=3) == ["s9"]
    assert names(registry, page=4, page_size=3) == []
    servers, pages, total = registry.page("odd", 1, 2)
    assert [s.name for s in servers] == ["s4", "s6"]
    assert (pages, total) == (3, 5)
    servers, pages, total = registry.page(None, 0, 1000)  # cut to max_page_size
    assert (len(servers), pages, total) == (4, 3, 10)
    assert registry.page("nobody plays this", 0, 5) == ([], 0, 0)
    assert names(registry, game="") == names(registry, game=None)


@pytest.mark.parametrize(
    ("game", "page", "page_size"),
    [
        (5, 0, 10),
        ("g" * 100, 0, 10),
        (None, -1, 10),
        (None, "0", 10),
        (None, 0, 0),
        (None, 0, 1.5),
    ],
)
def test_invalid_page_requests_are_message_errors(clock, game, page, page_size):
    with pytest.raises(MessageError):
        make(clock).page(game, page, page_size)


@pytest.mark.parametrize(
    "limits", [{"ttl": 0}, {"ttl": "30"}, {"max_servers": 0}, {"max_page_size": 1.5}]
)
def test_limits_are_checked(limits):
    with pytest.raises(ValueError):
        LobbyLimits(**limits)
