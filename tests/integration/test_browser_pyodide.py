"""pygnetic in a real browser: Pyodide in headless Chromium, against a desktop pygnetic Server.

The browser's Python loop is a pygbag game's: ``client.update()`` then
``await asyncio.sleep(0)`` (``browser_helpers.pump``). The server runs here,
with the desktop ``websocket`` adapter, in a background thread.
"""

import textwrap

import pytest

import pygnetic

pytest_plugins = ["browser"]

pytest.importorskip("websockets", reason="the desktop WebSocket adapter needs websockets")

# What the browser registers too: both sides must have the same messages.
MESSAGES = [("chat_msg", ("player", "msg")), ("blob", ("data",))]


def _factory():
    factory = pygnetic.MessageFactory("msgpack")
    for name, fields in MESSAGES:
        factory.register(name, fields)
    return factory


class ChatServer(pygnetic.Handler):
    """Answers each chat message and records it, with the connection it came on."""

    heard: list = []
    ended: list = []

    def on_disconnect(self):
        self.ended.append(self.connection.close_reason)

    def net_chat_msg(self, message, **kwargs):
        self.heard.append((message.player, message.msg))
        self.connection.net_chat_msg("server", f"got {message.msg!r}")

    def net_blob(self, message, **kwargs):
        self.heard.append(("blob", len(message.data)))
        self.connection.net_blob(message.data[::-1])


@pytest.fixture
def server(server_thread):
    """A pygnetic Server on 127.0.0.1 with only the desktop WebSocket adapter.

    It keeps a lost client's session for a few seconds, so that the client can resume it.
    """
    ChatServer.heard, ChatServer.ended = [], []
    return server_thread(
        lambda: pygnetic.Server(
            "127.0.0.1",
            0,
            handler=ChatServer,
            message_factory=_factory(),
            adapter="websocket",
            reconnect_grace=5.0,
        )
    )


# Python run in the browser before each test's own code: a client-side handler
# (no pygame there) and a fresh factory with the server's messages.
PRELUDE = f"""
import asyncio, sys
import pygnetic
from browser_helpers import pump

MESSAGES = {MESSAGES!r}

def factory():
    made = pygnetic.MessageFactory("msgpack")
    for name, fields in MESSAGES:
        made.register(name, tuple(fields))
    return made

class Player(pygnetic.Handler):
    def __init__(self):
        self.connected = False
        self.disconnected = False
        self.resumes = 0
        self.heard = []

    def on_connect(self):
        self.connected = True

    def on_disconnect(self):
        self.disconnected = True

    def on_reconnect(self):
        self.resumes += 1

    def net_chat_msg(self, message, **kwargs):
        self.heard.append([message.player, message.msg])

    def net_blob(self, message, **kwargs):
        self.heard.append(["blob", message.data])

def join(port, **options):  # a client with the server's messages, connecting, and its Player
    client = pygnetic.Client(message_factory=factory(), **options)
    connection = client.connect("127.0.0.1", port)
    player = Player()
    connection.add_handler(player)
    return client, connection, player
"""


def run(pyodide, code, **values):
    """Run the prelude and ``code`` (formatted with ``values``) in the browser; its result."""
    return pyodide.run(PRELUDE + textwrap.dedent(code).format(**values))


def test_pygnetic_imports_in_pyodide_with_websocket_as_its_only_adapter(pyodide):
    result = run(
        pyodide,
        """
        import msgpack
        from pygnetic import _defaults
        result = [sys.platform, pygnetic.__version__, list(_defaults.NETWORK_PREFERENCE),
                  _defaults.network("websocket").__name__, msgpack.Unpacker.__module__,
                  "pygame" in sys.modules]
        """,
    )
    assert result == [
        "emscripten",
        pygnetic.__version__,
        ["websocket"],
        "pygnetic.adapters.network.browser",
        "msgpack.fallback",
        False,
    ]


def test_chat_both_ways_with_the_default_client(pyodide, server):
    # The way a pygbag game does it: the default factory and a default Client.
    result = run(
        pyodide,
        """
        for name, fields in MESSAGES:
            pygnetic.register(name, tuple(fields))
        client = pygnetic.Client()
        connection = client.connect("127.0.0.1", {port})
        player = Player()
        connection.add_handler(player)
        connected = await pump(client, until=lambda: player.connected)
        connection.net_chat_msg("Tom", "hi from the browser")
        answered = await pump(client, until=lambda: player.heard)
        result = [connected, answered, client.adapter.__name__, player.heard]
        connection.disconnect()
        await pump(client, until=lambda: player.disconnected)
        client.close()
        """,
        port=server.address[1],
    )
    assert result == [
        True,
        True,
        "pygnetic.adapters.network.browser",
        [["server", "got 'hi from the browser'"]],
    ]
    assert server.call(lambda _: list(ChatServer.heard)) == [("Tom", "hi from the browser")]


@pytest.mark.parametrize("bridge", ["pyodide", "base64"])
def test_binary_messages_cross_both_ways_whole(pyodide, server, bridge):
    # Every byte value, and more than one 64 KiB WebSocket frame's worth.
    result = run(
        pyodide,
        """
        client, connection, player = join({port}, byte_bridge={bridge!r})
        data = bytes(range(256)) * 1024
        connection.net_blob(data)
        answered = await pump(client, until=lambda: player.heard, timeout=10)
        got = player.heard[0][1] if answered else b""
        result = [answered, type(client._transport._bytes).__name__, len(got),
                  got == data[::-1]]
        client.close()
        """,
        port=server.address[1],
        bridge=bridge,
    )
    assert result == [True, "_Pyodide" if bridge == "pyodide" else "_Base64", 262144, True]
    assert server.call(lambda _: list(ChatServer.heard)) == [("blob", 262144)]


def test_a_lost_websocket_resumes_its_session_and_no_message_is_lost(pyodide, server):
    result = run(
        pyodide,
        """
        client, connection, player = join({port})
        await pump(client, until=lambda: player.connected)
        connection.net_chat_msg("Tom", "before")
        await pump(client, until=lambda: len(player.heard) == 1)
        # The WebSocket drops without pygnetic's goodbye, as when the network goes.
        connection._link.socket.shut(1001, "gone")
        connection.net_chat_msg("Tom", "meanwhile")
        resumed = await pump(client, until=lambda: player.resumes, timeout=10)
        connection.net_chat_msg("Tom", "after")
        answered = await pump(client, until=lambda: len(player.heard) == 3)
        result = [resumed, answered, player.resumes, [msg for _, msg in player.heard]]
        client.close()
        """,
        port=server.address[1],
    )
    assert result == [
        True,
        True,
        1,
        ["got 'before'", "got 'meanwhile'", "got 'after'"],
    ]
    heard = server.call(lambda _: list(ChatServer.heard))
    assert heard == [("Tom", "before"), ("Tom", "meanwhile"), ("Tom", "after")]


def test_the_browser_disconnects_with_a_reason_the_server_reads(pyodide, server):
    result = run(
        pyodide,
        """
        client, connection, player = join({port})
        await pump(client, until=lambda: player.connected)
        connection.disconnect("time for dinner")
        ended = await pump(client, until=lambda: player.disconnected)
        result = [ended, connection.close_code.name, connection.close_reason]
        client.close()
        """,
        port=server.address[1],
    )
    assert result == [True, "NORMAL", "time for dinner"]
    assert server.wait_for(lambda _: list(ChatServer.ended)) == ["time for dinner"]


def test_the_server_disconnects_the_browser_with_a_reason_it_reads(pyodide, server):
    port = server.address[1]
    started = run(
        pyodide,
        """
        client, connection, player = join({port})
        result = await pump(client, until=lambda: player.connected)
        sys.modules["__main__"].kept = (client, connection, player)
        """,
        port=port,
    )
    assert started
    assert server.wait_for(lambda host: host.connections())
    server.call(lambda host: host.connections()[0].disconnect("server is going for dinner"))
    result = run(
        pyodide,
        """
        client, connection, player = sys.modules["__main__"].kept
        ended = await pump(client, until=lambda: player.disconnected)
        result = [ended, connection.close_code.name, connection.close_reason]
        client.close()
        """,
    )
    assert result == [True, "NORMAL", "server is going for dinner"]


def test_a_server_that_is_not_there_is_reported(pyodide, server):
    port = server.address[1]
    server.close()  # the port is free now: nothing listens
    result = run(
        pyodide,
        """
        client, connection, player = join({port})
        ended = await pump(client, until=lambda: player.disconnected)
        result = [ended, connection.close_code.name, connection.close_reason]
        client.close()
        """,
        port=port,
    )
    assert result[:2] == [True, "TRANSPORT_ERROR"]
    assert f"ws://127.0.0.1:{port}/" in result[2]


def test_socket_enet_and_servers_fail_in_the_browser_saying_why(pyodide):
    result = run(
        pyodide,
        """
        said = []
        for adapter in ("socket", "enet"):
            try:
                pygnetic.Client(adapter=adapter)
            except pygnetic.AdapterUnavailableError as exc:
                said.append(str(exc))
        try:
            pygnetic.Server("127.0.0.1", 0)
        except OSError as exc:
            said.append(str(exc))
        result = said
        """,
    )
    assert len(result) == 3
    assert "socket network adapter cannot run in a browser" in result[0]
    assert "enet network adapter cannot run in a browser" in result[1]
    assert "a browser cannot listen for connections" in result[2]


class Relay(pygnetic.Handler):
    """The chat's server: every line goes to every player, whatever carries them."""

    host = None

    def net_chat_msg(self, message, **kwargs):
        Relay.host.broadcast("chat_msg", message.player, message.msg)


def _relay_server():
    try:
        import enet  # noqa: F401

        adapters = ("enet", "socket", "websocket")
    except ImportError:
        adapters = ("socket", "websocket")
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=Relay, message_factory=_factory(), adapter=adapters
    )
    Relay.host = server
    return server


def test_a_browser_and_a_desktop_player_chat_through_one_server(pyodide, server_thread):
    """Python in a browser tab and a desktop client chat through one server, on one port."""
    from pygnetic.testing import Recorder, pump

    server = server_thread(_relay_server)
    port = server.address[1]
    desktop = pygnetic.Client(message_factory=_factory())  # ENet first, as a desktop game
    try:
        connection = desktop.connect("127.0.0.1", port)
        heard = Recorder()
        connection.add_handler(heard)
        assert pump(desktop, until=lambda: connection.connected), connection.close_reason
        started = run(
            pyodide,
            """
            client, connection, player = join({port})
            await pump(client, until=lambda: player.connected)
            connection.net_chat_msg("web player", "hello from the browser")
            result = await pump(client, until=lambda: player.heard)  # the line came round
            sys.modules["__main__"].kept = (client, player)
            """,
            port=port,
        )
        assert started
        assert pump(desktop, until=lambda: heard.received)
        assert [tuple(m) for m in heard.received] == [("web player", "hello from the browser")]
        carried = server.call(lambda host: sorted(c.adapter for c in host.connections()))
        assert carried == sorted([connection.adapter, "WebSocket"])
        connection.net_chat_msg("desktop player", "hello from the desktop")
        desktop.update(0)  # it leaves now
        result = run(
            pyodide,
            """
            client, player = sys.modules["__main__"].kept
            await pump(client, until=lambda: len(player.heard) == 2)
            result = player.heard
            client.close()
            """,
        )
        assert result == [
            ["web player", "hello from the browser"],
            ["desktop player", "hello from the desktop"],
        ]
    finally:
        desktop.close(linger_ms=50)
