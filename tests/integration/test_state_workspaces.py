"""NetWorkSpaces' API, method by method, over a real state server on both stores."""

import io

import pytest
from state_servers import Clock, ServerThread

from pygnetic.state import (
    DICT,
    FIFO,
    LIFO,
    MULTI,
    SINGLE,
    V_FETCHERS,
    V_FINDERS,
    V_MODE,
    V_VALUES,
    WS_MINE,
    WS_NUMVARS,
    WS_PERSISTENT,
    WS_VARLIST,
    NetWorkSpace,
    NwsAbortedException,
    NwsConnectException,
    NwsConnectionDroppedException,
    NwsDeclarationFailedException,
    NwsException,
    NwsNoWorkSpaceException,
    NwsOperationException,
    NwsServer,
    NwsTimeoutException,
    NwsUnsupportedOperationException,
    NwsValueIterator,
    SQLiteStore,
    StateError,
    StateLimits,
)
from pygnetic.wire_types import Vector2


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def running(store, clock):
    limits = StateLimits(max_value_size=1024)
    with ServerThread(store, limits=limits, clock=clock) as running:
        yield running


@pytest.fixture
def connect(running):
    """Make NwsServers on the running service; each is closed after the test."""
    made = []

    def make():
        host, port = running.server.address
        made.append(NwsServer(host, port, timeout=5))
        return made[-1]

    yield make
    for server in made:
        server.close()


def pump_until(done, *servers, limit=2000):
    for _ in range(limit):
        if done():
            return
        for server in servers:
            server.poll(2)
    raise AssertionError("not done in time")


def test_the_seed_module_example(connect):
    server = connect()
    nws = NetWorkSpace("test", server=server)
    nws.store("answer", 42)
    count = nws.fetch("answer")
    assert count == 42
    assert nws.currentWs() == "test" and "test" in str(nws)


def test_the_constructor_makes_its_own_server(running):
    host, port = running.server.address
    with NetWorkSpace("own", serverHost=host, serverPort=port, timeout=5) as nws:
        nws.store("x", 1)
        assert nws.owned and nws.fetchTry("x") == 1


def test_mktemp_then_open_as_the_seed_shows(connect):
    server = connect()
    name = server.mktempWs("example_%d")
    assert name.startswith("example_")
    assert server.mktempWs("example_%d") != name
    listing = server.listWss(format=DICT)
    assert listing[name][WS_MINE] is False  # made, but owned by nobody yet
    workspace = server.openWs(name)
    assert workspace.owned and server.listWss(format=DICT)[name][WS_MINE] is True
    with pytest.raises(NwsOperationException):
        server.mktempWs("no number")
    with pytest.raises(NwsOperationException):
        server.mktempWs("%0999999d")  # no template that makes the server allocate


def test_open_and_use(connect):
    first, second = connect(), connect()
    opened = first.openWs("foo")
    used = second.useWs("foo")
    assert opened.owned and not used.owned
    assert not second.openWs("foo").owned  # owned already
    with pytest.raises(NwsNoWorkSpaceException):
        second.useWs("missing", create=False)
    with pytest.raises(NwsNoWorkSpaceException):
        NetWorkSpace("missing", server=second, create=False)
    assert NetWorkSpace("foo", server=second, useUse=True).owned is False


def test_store_makes_fifo_and_declare_never_changes_a_mode(connect):
    ws = NetWorkSpace("modes", server=connect())
    for n in range(3):
        ws.store("queue", n)
    assert [ws.fetch("queue") for _ in range(3)] == [0, 1, 2]
    with pytest.raises(NwsDeclarationFailedException):
        ws.declare("queue", LIFO)
    ws.declare("stack", LIFO)
    ws.declare("stack", LIFO)
    for n in range(3):
        ws.store("stack", n)
    assert [ws.fetch("stack") for _ in range(3)] == [2, 1, 0]
    ws.declare("one", SINGLE)
    ws.store("one", "a")
    ws.store("one", "b")
    assert ws.find("one") == "b" and ws.fetch("one") == "b" and ws.fetchTry("one") is None
    ws.declare("bag", MULTI)
    for n in range(5):
        ws.store("bag", n)
    assert sorted(ws.fetch("bag") for _ in range(5)) == [0, 1, 2, 3, 4]
    with pytest.raises(NwsDeclarationFailedException):
        ws.declare("new", "FIFO")  # the seed's modes are lower case


def test_try_forms_and_missing(connect):
    ws = NetWorkSpace("try", server=connect())
    assert ws.fetchTry("x") is None and ws.findTry("x", "none") == "none"
    ws.store("x", Vector2(1, 2))
    assert ws.findTry("x") == Vector2(1, 2)
    assert ws.fetchTry("x", "none") == Vector2(1, 2)
    assert ws.fetchTry("x", "none") == "none"


def test_a_blocked_fetch_gets_the_value_stored_by_another_client(connect):
    a, b = connect(), connect()
    ws_a, ws_b = NetWorkSpace("meet", server=a), NetWorkSpace("meet", server=b, useUse=True)
    waiting = ws_b.fetch_nowait("ball")
    finding = ws_b.find_nowait("ball")
    b.poll(20)
    assert not waiting.done and not finding.done
    assert ws_a.listVars(format=DICT) == {}  # no variable yet: fetch waits, makes none
    ws_a.store("ball", "caught")
    pump_until(lambda: waiting.done and finding.done, b)
    assert waiting.result() == "caught" and finding.result() == "caught"
    assert ws_a.fetchTry("ball") is None  # fetched once; the find left nothing more


def test_fetch_and_find_time_out_on_the_servers_clock(connect, clock, running):
    ws = NetWorkSpace("slow", server=connect())
    fetching = ws.fetch_nowait("x", timeout=30)
    finding = ws.find_nowait("x", timeout=30)
    ws.poll(20)
    assert not fetching.done
    clock.now += 31
    pump_until(lambda: fetching.done and finding.done, ws.server)
    assert isinstance(fetching.error, NwsTimeoutException)
    assert isinstance(fetching.error, TimeoutError)
    assert isinstance(finding.error, NwsTimeoutException)
    ws.store("x", 1)  # nobody took it for the fetch that gave up
    assert ws.fetch("x", timeout=5) == 1
    with pytest.raises(ValueError):
        ws.fetch("x", timeout=0)


def test_delete_var_aborts_blocked_callers(connect):
    a, b = connect(), connect()
    ws_a = NetWorkSpace("del", server=a)
    ws_b = NetWorkSpace("del", server=b)
    ws_a.store("other", 1)
    fetching, finding = ws_b.fetch_nowait("x"), ws_b.find_nowait("x")
    b.poll(20)
    ws_a.store("x", 1)  # wakes both: the find sees it, the fetch takes it
    pump_until(lambda: fetching.done and finding.done, b)
    assert fetching.result() == finding.result() == 1
    fetching = ws_b.fetch_nowait("x")
    b.poll(20)
    ws_a.deleteVar("x")
    pump_until(lambda: fetching.done, b)
    assert isinstance(fetching.error, NwsAbortedException)
    with pytest.raises(NwsOperationException):
        ws_a.deleteVar("x")  # gone
    assert ws_a.fetchTry("other") == 1


def test_ifind_never_returns_a_value_twice(connect):
    ws = NetWorkSpace("it", server=connect())
    for n in range(3):
        ws.store("v", n)
    found = ws.ifindTry("v")
    assert isinstance(found, NwsValueIterator) and iter(found) is found
    assert list(found) == [0, 1, 2]
    ws.store("v", 3)
    assert list(found) == []  # stopped: stays stopped until restart()
    found.restart()
    assert list(found) == [3]
    found.reset()
    assert list(found) == [0, 1, 2, 3]
    assert ws.listVars(format=DICT)["v"][V_VALUES] == 4  # finds leave them
    waiting = ws.ifind("v")
    assert [next(waiting) for _ in range(4)] == [0, 1, 2, 3]
    assert list(ws.ifetchTry("v")) == [0, 1, 2, 3]
    assert ws.fetchTry("v") is None


def test_ifind_on_single_sees_each_new_value(connect):
    ws = NetWorkSpace("single", server=connect())
    ws.declare("s", SINGLE)
    ws.store("s", "a")
    found = ws.ifindTry("s")
    assert list(found) == ["a"]
    ws.store("s", "a")  # stored again: a new value, even if equal
    found.restart()
    assert list(found) == ["a"]


def test_iterators_refuse_lifo_and_multi(connect):
    ws = NetWorkSpace("no-it", server=connect())
    ws.declare("stack", LIFO)
    ws.declare("bag", MULTI)
    ws.store("stack", 1)
    ws.store("bag", 1)
    for name in ("stack", "bag"):
        for make in (ws.ifind, ws.ifindTry, ws.ifetch, ws.ifetchTry):
            with pytest.raises(NwsUnsupportedOperationException):
                next(make(name))
    assert ws.fetchTry("stack") == 1  # the value is still there


def test_list_vars_counts_values_and_waiting_callers(connect):
    a, b = connect(), connect()
    ws = NetWorkSpace("list", server=a)
    other = NetWorkSpace("list", server=b)
    ws.declare("jobs", FIFO)
    ws.store("jobs", 1)
    ws.declare("results", LIFO)
    waits = [other.fetch_nowait("results"), other.fetch_nowait("results")]
    waits.append(other.find_nowait("results"))
    b.poll(20)
    pump_until(lambda: ws.listVars(format=DICT)["results"][V_FETCHERS] == 2, a)
    listing = ws.listVars(format=DICT)
    assert listing["jobs"] == ("jobs", 1, 0, 0, FIFO)
    assert listing["results"][V_FINDERS] == 1 and listing["results"][V_MODE] == LIFO
    text = ws.listVars()
    assert text.splitlines()[0].split("\t") == ["jobs", "1", "0", "0", "fifo"]
    assert NetWorkSpace("elsewhere", server=a).listVars("list", format=DICT).keys() == {
        "jobs",
        "results",
    }
    for n in range(2):
        ws.store("results", n)
    pump_until(lambda: all(w.done for w in waits), b)


def test_list_wss(connect):
    a, b = connect(), connect()
    NetWorkSpace("mine", server=a, persistent=True).store("x", 1)
    NetWorkSpace("theirs", server=b)
    listing = a.listWss(format=DICT)
    assert listing["mine"][WS_MINE] and not listing["theirs"][WS_MINE]
    assert listing["mine"][WS_PERSISTENT] and not listing["theirs"][WS_PERSISTENT]
    assert (listing["mine"][WS_NUMVARS], listing["mine"][WS_VARLIST]) == (1, "x")
    lines = a.listWss().splitlines()
    assert [line.split("\t")[0] for line in lines] == [">mine", " theirs"]
    with pytest.raises(ValueError):
        a.listWss(format="xml")


def test_delete_ws(connect):
    a, b = connect(), connect()
    ws = NetWorkSpace("gone", server=a)
    ws.store("x", 1)
    waiting = NetWorkSpace("gone", server=b).fetch_nowait("y")
    b.poll(20)
    b.deleteWs("gone")  # anyone may, as in NetWorkSpaces
    pump_until(lambda: waiting.done, b)
    assert isinstance(waiting.error, NwsAbortedException)
    with pytest.raises(NwsNoWorkSpaceException):
        ws.store("x", 2)
    with pytest.raises(NwsNoWorkSpaceException):
        b.deleteWs("gone")


def test_the_owner_leaving_purges_a_workspace_unless_persistent(connect):
    owner, user = connect(), connect()
    NetWorkSpace("brief", server=owner).store("x", 1)
    NetWorkSpace("lasting", server=owner, persistent=True).store("x", 1)
    used = user.useWs("brief")
    waiting = used.fetch_nowait("never")
    user.poll(20)
    owner.close()
    pump_until(lambda: waiting.done, user)
    assert isinstance(waiting.error, NwsAbortedException)
    names = user.listWss(format=DICT)
    assert "brief" not in names and "lasting" in names
    assert user.useWs("lasting").fetchTry("x") == 1


def test_use_never_takes_ownership(connect):
    user, later = connect(), connect()
    user.useWs("shared").store("x", 1)  # made by a user: owned by nobody
    user.close()
    assert later.useWs("shared", create=False).fetchTry("x") == 1  # not purged
    assert later.openWs("shared").owned  # the first opener takes it


def test_files(connect, tmp_path):
    ws = NetWorkSpace("files", server=connect())
    assert ws.storeFile("f", io.BytesIO(b"hello world"), 5) == 5
    assert ws.storeFile("f", io.BytesIO(b"")) == 0  # nothing read: nothing stored
    path = tmp_path / "text.txt"
    path.write_text("text")
    with open(path) as text:
        assert ws.storeFile("f", text) == 4
    out = io.BytesIO()
    assert ws.findFile("f", out) == 5 and ws.fetchFile("f", out) == 5
    assert ws.findTryFile("f", out) == 4 and ws.fetchTryFile("f", out) == 4
    assert out.getvalue() == b"hellohellotexttext"
    assert ws.fetchTryFile("f", out) == 0
    ws.store("n", 5)
    with pytest.raises(NwsOperationException, match="int"):
        ws.fetchFile("n", out)
    ws.store("g", b"abc")
    assert ws.ifind("g").writeTo(out) == 3


def test_values_the_service_refuses(connect):
    ws = NetWorkSpace("refused", server=connect())
    with pytest.raises(NwsOperationException, match="cannot be sent"):
        ws.store("x", object())
    with pytest.raises(NwsOperationException, match="limit"):
        ws.store("x", b"x" * 2000)  # this service keeps values up to 1 KiB
    assert ws.fetchTry("x") is None


def test_game_loop_forms_call_back_and_post_events(connect, pygame_events):
    from pygnetic import event

    pygame = pygame_events
    ws = NetWorkSpace("loop", server=connect())
    done = []
    stored = ws.store_nowait("x", 7, callback=done.append)
    fetched = ws.fetch_nowait("x", event=True)
    tried = ws.find_try_nowait("y", missing="none")
    seen = []
    for _ in range(2000):
        ws.poll(1)
        seen += [e for e in pygame.event.get() if e.type == event.NETWORK]
        if seen and stored.done and tried.done:
            break
    assert done == [stored] and fetched.result() == 7 and tried.result() == "none"
    assert [(e.net_type, e.request) for e in seen] == [(event.NET_STATE_REQUEST, fetched)]


def test_a_dropped_connection_is_not_made_again(tmp_path):
    service = ServerThread(SQLiteStore(tmp_path / "own.db"))
    host, port = service.server.address
    with NwsServer(host, port, timeout=5) as server:
        ws = NetWorkSpace("drop", server=server)
        waiting = ws.fetch_nowait("x")
        server.poll(20)
        service.close()  # the service goes away
        pump_until(lambda: waiting.done, server)
        assert isinstance(waiting.error, NwsConnectionDroppedException)
        with pytest.raises(NwsConnectionDroppedException):
            ws.store("x", 1)
    service.server.store.close()


def test_connect_failure_and_the_exception_tree():
    with pytest.raises(NwsConnectException):
        NwsServer("127.0.0.1", 1, timeout=2)
    assert issubclass(NwsException, StateError)
    assert issubclass(NwsConnectException, NwsException)


def test_pep8_names_are_the_seeds():
    assert NetWorkSpace.fetch_try is NetWorkSpace.fetchTry
    assert NetWorkSpace.list_vars is NetWorkSpace.listVars
    assert NwsServer.open_ws is NwsServer.openWs
    assert NwsServer.list_wss is NwsServer.listWss


def test_a_cancelled_fetch_takes_no_value(connect, running):
    a, b = connect(), connect()
    ws_a, ws_b = NetWorkSpace("cancel", server=a), NetWorkSpace("cancel", server=b)
    waiting = ws_b.fetch_nowait("x")
    pump_until(lambda: running.server.waiters.counts(("ws/cancel", "x")) == (1, 0), b)
    waiting.cancel()
    assert isinstance(waiting.error, NwsAbortedException)
    pump_until(lambda: not running.server.waiters, b)
    ws_a.store("x", "kept")
    assert ws_a.fetchTry("x") == "kept"


def test_a_value_already_on_its_way_to_a_cancelled_fetch_is_stored_again(connect, running):
    a, b = connect(), connect()
    ws_a, ws_b = NetWorkSpace("race", server=a), NetWorkSpace("race", server=b)
    waiting = ws_b.fetch_nowait("x")
    pump_until(lambda: running.server.waiters.counts(("ws/race", "x")) == (1, 0), b)
    ws_a.store("x", "in flight")  # answered: the value is on its way to b
    waiting.cancel()  # before b reads it
    assert isinstance(waiting.error, NwsAbortedException)
    pump_until(lambda: ws_a.findTry("x") is not None, b, a)  # b stored it again
    assert ws_a.fetchTry("x") == "in flight"


def test_an_interrupted_blocking_fetch_takes_no_value(connect, running):
    a, b = connect(), connect()
    ws_a, ws_b = NetWorkSpace("stop", server=a), NetWorkSpace("stop", server=b)

    class Interrupted(Exception):
        pass

    def interrupt(request):
        raise Interrupted  # as a KeyboardInterrupt would, from inside the wait

    ws_b.store_nowait("other", 1, callback=interrupt)
    with pytest.raises(Interrupted):
        ws_b.fetch("x")
    pump_until(lambda: not running.server.waiters, b)
    ws_a.store("x", "kept")
    assert ws_a.fetchTry("x") == "kept"


def test_cancelled_finds_and_fetches_free_their_places(connect, running):
    from pygnetic.state._protocol import MAX_PENDING_REQUESTS

    server = connect()
    ws = NetWorkSpace("slots", server=server)
    for make in (ws.find_nowait, ws.fetch_nowait):
        waiting = [make("x") for _ in range(MAX_PENDING_REQUESTS)]
        pump_until(lambda: sum(running.server.waiters.counts(("ws/slots", "x"))) > 0, server)
        for request in waiting:  # a cancel is taken at once, even with every place taken
            request.cancel()
        pump_until(lambda: not running.server.waiters, server)
        ws.store("x", 1)  # the connection has its places back
        assert ws.fetchTry("x") == 1


def test_a_value_on_its_way_to_a_fetch_given_up_is_stored_again_before_closing(connect):
    a = connect()
    host, port = a.serverHost, a.serverPort
    b = NwsServer(host, port, timeout=5)
    ws_a, ws_b = NetWorkSpace("close", server=a), NetWorkSpace("close", server=b)
    waiting = ws_b.fetch_nowait("x")
    b.poll(20)
    ws_a.store("x", "in flight")
    waiting.cancel()
    b.close()  # stores it again before it goes
    assert ws_a.fetch("x", timeout=5) == "in flight"
