"""The JavaScript client (examples/web/pygnetic.js) in headless Chromium, against real servers.

A pygnetic server with the chat's messages listens on one TCP port for both
pygnetic's TCP and WebSocket; a Python client (the desktop player) connects
over TCP, ``examples/web/chat.html`` over WebSocket, and they chat both ways.
The chat's registry is read from ``examples/chat.py`` (with :mod:`ast`, so
that this process's default factory stays empty). The last test runs the
example itself, ``chat.py --host-game --websocket``, with the page.

Skipped, saying why, without Chromium, Playwright, websockets or node_modules
(the harness is ``browser.py``'s, shared with the Pyodide tests).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode

pytest_plugins = ["browser"]

pytest.importorskip("websockets", reason="the desktop WebSocket adapter needs websockets")

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 10_000  # bound on each wait in the browser
SERVER_TIMEOUT = 2.0  # the server pings every 0.5 s, so a ping is answered within a wait


def chat_registry() -> list[tuple[str, tuple[str, ...]]]:
    """The ``pygnetic.register(name, fields)`` calls of examples/chat.py, in order."""
    tree = ast.parse((ROOT / "examples" / "chat.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "register"
        and getattr(node.func.value, "id", None) == "pygnetic"
    ]
    calls.sort(key=lambda node: node.lineno)
    return [tuple(ast.literal_eval(arg) for arg in node.args) for node in calls]  # type: ignore[misc]


class Relay(pygnetic.Handler):
    """The chat host's relay, as chat.py's: notices on hello, lines to everyone else."""

    nick = ""
    ended: list[tuple[str, CloseCode | None, str | None]] = []

    def net_hello(self, message, **kwargs):
        self.nick = str(message.nick)[:20]
        for connection in self.server.connections():
            connection.net_notice(f"{self.nick} joined")

    def net_say(self, message, **kwargs):
        for connection in self.server.connections(exclude=self.connection):
            connection.net_line(self.nick or "?", str(message.text))

    def on_disconnect(self):
        self.ended.append((self.nick, self.connection.close_code, self.connection.close_reason))


class Desktop(pygnetic.Handler):
    """The desktop player's handler: keeps what it hears."""

    def __init__(self):
        super().__init__()
        self.heard = []

    def net_line(self, message, **kwargs):
        self.heard.append((message.nick, message.text))

    def net_notice(self, message, **kwargs):
        self.heard.append(("*", message.text))


@pytest.fixture
def site(web_files):
    return web_files.url


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def factory():
    factory = MessageFactory("msgpack")
    for name, fields in chat_registry():
        factory.register(name, fields)
    return factory


class ChatHost:
    """A chat server on TCP and WebSocket at once, and a desktop player over TCP.

    Made and updated together in the harness's server thread.
    """

    def __init__(self, factory):
        self.server = pygnetic.Server(
            "127.0.0.1",
            0,
            message_factory=factory,
            adapter=("socket", "websocket"),
            handler=Relay,
            events=False,
            timeout=SERVER_TIMEOUT,
        )
        self.address = self.server.address
        self.client = pygnetic.Client(message_factory=factory, adapter="socket", events=False)
        self.desktop = Desktop()
        self.connection = self.client.connect("127.0.0.1", self.address[1])
        self.connection.add_handler(self.desktop)

    def update(self, timeout):
        self.server.update(timeout)
        self.client.update(0)

    def close(self):
        self.client.close()
        self.server.close()


@pytest.fixture
def host(factory, server_thread):
    """The :class:`ChatHost`, pumped in a thread; the desktop player said hello."""
    Relay.ended = []
    host = server_thread(lambda: ChatHost(factory))
    assert host.wait_for(lambda chat: chat.connection.connected)
    host.call(lambda chat: chat.connection.net_hello("Ann"))
    return host


def ws_url(host):
    return f"ws://127.0.0.1:{host.address[1]}"


def open_chat(page, site, host, nick="Cat"):
    page.goto(f"{site}/examples/web/chat.html?server={ws_url(host)}&nick={nick}")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('connected')",
        timeout=WAIT_MS,
    )


def wait_for_line(page, text):
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('#log li')].some((li) => li.textContent == text)",
        arg=text,
        timeout=WAIT_MS,
    )


def browser_connections(chat):
    return [c for c in chat.server.connections() if c.adapter == "WebSocket"]


def test_a_browser_tab_and_a_desktop_player_chat_through_one_server(page, site, host):
    open_chat(page, site, host)
    wait_for_line(page, "* Cat joined")  # the page said hello, the server's notice came back
    page.fill("#text", "hello from the browser")
    page.press("#text", "Enter")
    assert host.wait_for(lambda chat: ("Cat", "hello from the browser") in chat.desktop.heard)
    host.call(lambda chat: chat.connection.net_say("hello from the desktop"))
    wait_for_line(page, "<Ann> hello from the desktop")
    page.evaluate("() => window.chat.client.close('closing the tab')")
    assert host.wait_for(lambda _: Relay.ended)
    assert Relay.ended == [("Cat", CloseCode.NORMAL, "closing the tab")]


def test_the_browser_answers_the_servers_pings(page, site, host):
    open_chat(page, site, host)
    (connection,) = host.call(browser_connections)
    # The server's round trip comes from the pongs the page sends back.
    rtt = host.wait_for(lambda _: connection.round_trip_time is not None, 4 * SERVER_TIMEOUT)
    assert rtt and connection.connected
    # And the page's own pings are answered: it measured a round trip too.
    page.wait_for_function("() => window.chat.client.rtt !== null", timeout=WAIT_MS)


def test_the_digest_javascript_computes_is_pythons(page, site, host, factory):
    open_chat(page, site, host)
    digest = page.evaluate(
        """async (messages) => {
            const { registryDigest } = await import("/examples/web/pygnetic.js");
            const hex = (b) => b.toString(16).padStart(2, "0");
            return Array.from(await registryDigest(messages), hex).join("");
        }""",
        [[name, list(fields)] for name, fields in chat_registry()],
    )
    assert digest == factory.registry_digest().hex()


def test_a_registry_mismatch_is_refused_and_javascript_reads_why(page, site, host):
    open_chat(page, site, host)
    messages = [[name, list(fields)] for name, fields in chat_registry()] + [["extra", ["x"]]]
    refusal = page.evaluate(
        """async ([url, messages]) => {
            const { connect } = await import("/examples/web/pygnetic.js");
            try { await connect(url, { messages }); return null; }
            catch (e) { return { code: e.code, reason: e.reason, ws: e.webSocketCode }; }
        }""",
        [ws_url(host), messages],
    )
    assert refusal is not None, "the server accepted a client with another registry"
    assert refusal["code"] == CloseCode.REGISTRY_MISMATCH
    assert refusal["ws"] == 4000 + CloseCode.REGISTRY_MISMATCH
    assert "client: 5 message(s)" in refusal["reason"], refusal


def test_the_server_closing_reaches_onclose_with_its_reason(page, site, host):
    open_chat(page, site, host)
    (connection,) = host.call(browser_connections)
    host.call(lambda _: connection.disconnect("server says goodbye"))
    wait_for_line(page, "* disconnected: server says goodbye")
    assert page.inner_text("#status") == "disconnected (code 0)"


def test_the_chat_example_hosts_a_browser_player(page, site):
    """chat.py --host-game --websocket: its pygame window and the page chat together."""
    from test_examples import Example

    host = Example(
        "chat.py",
        [
            *("--host-game", "--host", "127.0.0.1", "--port", "0", "--adapter", "socket"),
            *("--websocket", "--nick", "Ann", "--selftest", "30", "--lan-target", "127.0.0.1"),
        ],
    )
    try:
        port = host.port()
        page.goto(f"{site}/examples/web/chat.html?server=ws://127.0.0.1:{port}&nick=Cat")
        wait_for_line(page, "* Cat joined")
        page.fill("#text", "hi from the browser")
        page.press("#text", "Enter")
        wait_for_line(page, "<Ann> hi, welcome to my game!")  # the host's bot typed it
        page.evaluate("() => window.chat.client.close('done')")
        sent, received, _ = host.finish()  # it ends once its guests have left
    finally:
        if host.process.poll() is None:
            host.process.kill()
        host.join()
    assert sent >= 1 and received >= 1, host.transcript()  # received: the browser's line
