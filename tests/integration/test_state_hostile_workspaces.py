"""Hostile workspace and dictionary requests: refused with a reason, bounded, nobody else hurt."""

import pytest
from state_servers import ServerThread, raw_connection

from pygnetic.request import BUSY, INVALID, RequestRefused
from pygnetic.state import NetWorkSpace, NwsOperationException, NwsServer, SQLiteStore, StateLimits
from pygnetic.state._protocol import (
    DECLARE,
    DICT_ITEMS,
    DICT_PUT,
    FETCH,
    IDENTIFY,
    LIST_SPACES,
    MAX_PENDING_REQUESTS,
    MKTEMP,
    OPEN_SPACE,
    STORE,
    WATCH,
)

LIMITS = StateLimits(max_values=3, max_spaces_per_owner=2, max_lease=3600)
# (each test's server is new: its rate limits start afresh)


@pytest.fixture
def running(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    with ServerThread(store, limits=LIMITS) as running:
        host, port = running.server.address
        with NwsServer(host, port) as keeper:
            NetWorkSpace("w", server=keeper, persistent=True).store("k", "kept")
        yield running
    store.close()


@pytest.fixture
def raw(running):
    """A connection that sends state messages by hand, with the dictionary d opened."""
    with raw_connection(running) as (connection, asker):
        asker.ask(OPEN_SPACE, "dict", "d", False, False, True).wait(5)
        yield connection, asker


def still_served(running):
    host, port = running.server.address
    with NwsServer(host, port) as server:
        assert server.useWs("w").findTry("k") == "kept"


@pytest.mark.parametrize(
    ("request_type", "fields", "says"),
    [
        (OPEN_SPACE, ("app", "x", True, False, True), "only a workspace"),
        (OPEN_SPACE, ("ws", "x", "yes", False, True), "own"),
        (OPEN_SPACE, ("ws", "", True, False, True), "space name"),
        (MKTEMP, ("%s",), "template"),
        (MKTEMP, ("%0999999d",), "template"),  # no name the server must allocate a MB for
        (MKTEMP, (5,), "template"),
        (LIST_SPACES, ("app",), "only workspaces"),
        (DECLARE, ("w", "x", "FIFO"), "mode"),
        (DECLARE, ("w", "\x1b[2J", "fifo"), "unprintable"),
        (FETCH, ("w", "k", True, "1", -1), "wait_ms"),
        (FETCH, ("w", "k", True, -5, -1), "wait_ms"),
        (FETCH, ("w", "k", True, 2**40, -1), "wait_ms"),
        (FETCH, ("w", "k", True, 0, -2), "after"),
        (FETCH, ("w", "k", False, -1, 2**64 - 1), "after"),  # no number a store cannot bind
        (FETCH, ("w", "k", 1, 0, -1), "remove"),
        (STORE, ("w", "k", b"\xc1"), "cannot be stored"),
        (STORE, ("w", "k" * 10_000, b"\x01"), "longer than"),
        (IDENTIFY, ("short",), "secret"),
        (IDENTIFY, ("s" * 10_000,), "secret"),
        (DICT_PUT, ("d", "k", b"\x01", -1), "lease"),
        (DICT_PUT, ("d", "k", b"\x01", 1e12), "lease"),
        (DICT_PUT, ("d", "k", b"\x01", "1"), "lease"),
        (DICT_ITEMS, ("d", 5), "after"),
        (WATCH, ("ws", "w", ""), "kind"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(running, raw, request_type, fields, says):
    connection, asker = raw
    with pytest.raises(RequestRefused) as refused:
        asker.ask(request_type, *fields).wait(5)
    assert refused.value.code == INVALID and says in refused.value.reason
    assert connection.connected
    still_served(running)


def test_blocked_fetches_are_bounded_per_connection_and_end_with_it(running, raw):
    connection, asker = raw
    waiting = [asker.ask(FETCH, "w", "none", True, -1, -1) for _ in range(MAX_PENDING_REQUESTS)]
    with pytest.raises(RequestRefused) as refused:
        asker.ask(FETCH, "w", "none", True, -1, -1).wait(5)
    assert refused.value.code == BUSY
    for _ in range(1000):  # the refusal comes at once; the fetches are served meanwhile
        if running.server.waiters.counts(("ws/w", "none")) == (MAX_PENDING_REQUESTS, 0):
            break
        connection.parent.update(2)
    assert running.server.waiters.counts(("ws/w", "none")) == (MAX_PENDING_REQUESTS, 0)
    assert connection.connected and not any(request.done for request in waiting)
    still_served(running)
    connection.parent.close()
    for _ in range(1000):  # the server forgets them with the connection
        if not running.server.waiters:
            break
        asker.poll()
        still_served(running)
    assert not running.server.waiters


def test_value_and_workspace_quotas_hold(running):
    host, port = running.server.address
    with NwsServer(host, port) as server:
        ws = NetWorkSpace("quota", server=server)
        for n in range(3):
            ws.store("q", n)
        with pytest.raises(NwsOperationException, match="most values"):
            ws.store("q", 3)
        ws.declare("s", "single")
        for n in range(10):  # a single variable holds one: never over the quota
            ws.store("s", n)
        NetWorkSpace("second", server=server)
        with pytest.raises(NwsOperationException, match="owns its most"):
            NetWorkSpace("third", server=server)
    still_served(running)


def test_a_listing_of_long_wide_names_fits_one_message(running):
    # 2,500 variables named with 4-byte characters: over a megabyte of names.
    store = running.server.store
    with running.paused():
        for n in range(2500):
            store.declare("ws/w", f"{n:04d}" + "\U0001f600" * 250, "fifo", LIMITS.max_variables)
    host, port = running.server.address
    with NwsServer(host, port) as server:
        listing = server.useWs("w").listVars(format="dict")
        assert 0 < len(listing) < 2500  # cut where the answer is full, and sent
    still_served(running)


def test_workspaces_nobody_owns_are_made_at_a_bounded_rate(running):
    host, port = running.server.address
    with NwsServer(host, port) as server:
        made = 0
        with pytest.raises(NwsOperationException, match="too many"):
            for n in range(200):
                server.useWs(f"unowned{n}")  # never purged: each counts
                made += 1
        assert made == 60 - 1  # the fixture's persistent workspace counted too
        NetWorkSpace("owned", server=server)  # an owned one is purged with its owner
        with pytest.raises(NwsOperationException, match="too many"):
            NetWorkSpace("kept", server=server, persistent=True)  # never purged: counts
    still_served(running)


def test_a_listing_of_workspaces_looks_at_a_bounded_number(running):
    from pygnetic.state import Space
    from pygnetic.state._model import WORKSPACE
    from pygnetic.state._workspaces import MAX_LISTED_SPACES

    store = running.server.store
    with running.paused():
        for n in range(MAX_LISTED_SPACES + 100):
            store.create_space(Space(f"many{n:04d}", WORKSPACE, None, persistent=True), LIMITS)
    host, port = running.server.address
    with NwsServer(host, port) as server:
        assert len(server.listWss(format="dict")) == MAX_LISTED_SPACES
    still_served(running)


def test_claiming_workspaces_keeps_to_the_per_owner_quota(running):
    host, port = running.server.address
    with NwsServer(host, port) as server:
        names = [server.mktempWs("claim_%d") for _ in range(3)]
        owned = [server.openWs(name).owned for name in names]
        assert owned == [True, True, False]  # max_spaces_per_owner is 2 here
    still_served(running)
