"""The browser WebSocket transport's own logic, against a stand-in for its JavaScript helper.

The real thing runs in tests/integration/test_browser_pyodide.py (Chromium and
Pyodide); here a Python object plays the helper's socket, so that each event
order and close code is checked without a browser. Off the browser the
transport uses its base64 byte bridge, which the stand-in decodes.
"""

import base64
import collections

import pytest

from pygnetic.adapters import network as network_adapters
from pygnetic.adapters.network import browser
from pygnetic.adapters.network._websocket_shared import close_code_of, websocket_close
from pygnetic.errors import AdapterUnavailableError
from pygnetic.protocol import CloseCode, Delivery
from pygnetic.testing import ManualClock


class FakeSocket:
    """The JavaScript helper's socket: events queued by the test, taken by poll()."""

    def __init__(self, url, protocols):
        self.url, self.protocols = url, protocols
        self.events = collections.deque()
        self.current = None
        self.written = []
        self.shut_with = None
        self.buffered_amount = 0

    def take(self):
        self.current = self.events.popleft() if self.events else None
        return self.current[0] if self.current else ""

    def code(self):
        return self.current[1]

    def reason(self):
        return self.current[2]

    def dataBase64(self):  # the JavaScript name
        return base64.b64encode(self.current[1]).decode()

    def writeBase64(self, text):  # the JavaScript name
        self.written.append(base64.b64decode(text))

    def buffered(self):
        return self.buffered_amount

    def shut(self, code, reason):
        self.shut_with = (code, reason)


class FakeWindow:
    """The page's global object: ``WebSocket`` and an ``eval`` that yields the helper."""

    WebSocket = object()

    def __init__(self, https=False):
        self.https = https
        self.sockets = []

    def eval(self, source):
        assert source == browser.JS_HELPER
        return self

    def open(self, constructor, url, protocols):
        assert constructor is FakeWindow.WebSocket
        self.sockets.append(FakeSocket(url, protocols))
        return self.sockets[-1]

    def secure(self):
        return self.https


class Listener:
    def __init__(self):
        self.heard = []

    def link_connected(self, link):
        self.heard.append(("connected",))

    def link_closed(self, link, code, detail):
        self.heard.append(("closed", code, detail))


def _open(**options):
    listener, window, clock = Listener(), FakeWindow(), ManualClock()
    transport = browser.Transport(listener, window=window, clock=clock, **options)
    link = transport.connect("127.0.0.1", 9000)
    received = []
    link.receiver = lambda data, channel: received.append((data, channel))
    return transport, link, window.sockets[0], listener, received, clock


def _opened(**options):
    transport, link, socket, listener, received, clock = _open(**options)
    socket.events.append(("open", 0, ""))
    transport.poll(0)
    return transport, link, socket, listener, received, clock


def test_urls():
    assert browser.url_for("example.org", 80, "/", False) == "ws://example.org:80/"
    assert browser.url_for("::1", 9000, "game", True) == "wss://[::1]:9000/game"


@pytest.mark.parametrize("code", list(CloseCode))
def test_close_codes_go_and_come_back_as_every_websocket_transport_sends_them(code):
    ws_code, reason = websocket_close(code)
    assert ws_code == (1000 if code is CloseCode.NORMAL else 4000 + code)
    assert reason == code.name.lower()
    assert close_code_of(4000 + code) is code


def test_other_websocket_shared_carry_no_pygnetic_code():
    assert [close_code_of(c) for c in (1001, 1006, 3999, 4099, 4100)] == [None] * 5


def test_the_websocket_layers_own_codes_read_as_the_protocol_page_says():
    assert close_code_of(1000) is CloseCode.NORMAL
    assert close_code_of(1009) is CloseCode.MESSAGE_TOO_LARGE
    assert close_code_of(1003) is CloseCode.PROTOCOL_ERROR


def test_a_browser_cannot_listen():
    with pytest.raises(OSError, match="a browser cannot listen"):
        browser.Transport(Listener(), bind=("", 0), window=FakeWindow())


def test_off_the_browser_it_says_where_it_runs():
    with pytest.raises(AdapterUnavailableError, match="runs only in a browser"):
        browser.Transport(Listener())


def test_it_offers_the_pygnetic_subprotocol_and_follows_an_https_page():
    window = FakeWindow(https=True)
    transport = browser.Transport(Listener(), window=window)
    transport.connect("example.org", 443, path="/play")
    transport.connect("example.org", 80, tls=False)
    assert [(s.url, s.protocols) for s in window.sockets] == [
        ("wss://example.org:443/play", "pygnetic"),
        ("ws://example.org:80/", "pygnetic"),
    ]


def test_sends_before_the_open_leave_after_it_in_order_then_at_once():
    transport, link, socket, listener, _, _ = _open()
    link.send(b"hello", 0, Delivery.RELIABLE)
    link.send(b"early", 3, Delivery.UNRELIABLE)
    assert socket.written == [] and listener.heard == []
    socket.events.append(("open", 0, ""))
    transport.poll(0)
    assert listener.heard == [("connected",)]
    assert link.send_counted(b"later", 0, Delivery.UNRELIABLE) is True
    assert socket.written == [b"hello", b"early", b"later"]


def test_each_message_reaches_the_receiver_whole_on_channel_0_flagged_once_asked():
    transport, link, socket, _, received, _ = _opened()
    socket.events.extend([("message", b"\x00one", ""), ("error", 0, "")])
    transport.poll(0)
    link.flag_reliable = True
    socket.events.append(("message", bytes(range(256)), ""))
    transport.poll(0)
    assert received == [(b"\x00one", 0), (bytes(range(256)), 0x100)]


def test_a_text_message_closes_the_link_as_a_protocol_error():
    transport, _, socket, listener, received, _ = _opened()
    socket.events.extend([("text", None, ""), ("message", b"after", "")])
    transport.poll(0)
    assert received == []
    assert listener.heard[-1][:2] == ("closed", CloseCode.PROTOCOL_ERROR)
    assert socket.shut_with == (4004, "protocol_error")


def test_our_close_sends_the_code_and_no_report_follows():
    transport, link, socket, listener, _, _ = _opened()
    link.close(CloseCode.NORMAL)
    link.send(b"too late", 0, Delivery.RELIABLE)
    socket.events.append(("close", 1000, "normal"))
    transport.poll(0)
    assert socket.shut_with == (1000, "normal")
    assert socket.written == [] and listener.heard == [("connected",)]


def test_after_a_goodbye_the_server_closes_or_we_do_after_a_while():
    transport, link, socket, listener, _, clock = _opened()
    link.close(CloseCode.SERVER_CLOSING, peer_closed=True)
    transport.poll(0)
    assert socket.shut_with is None
    clock.now += browser.PEER_CLOSE_WAIT
    transport.poll(0)
    assert socket.shut_with == (1000, "normal")
    socket.events.append(("close", 1000, ""))
    transport.poll(0)
    assert listener.heard == [("connected",)]


@pytest.mark.parametrize(
    ("ws_code", "code"),
    [
        (4002, CloseCode.SERVER_FULL),
        (1006, CloseCode.TRANSPORT_ERROR),
        (1009, CloseCode.MESSAGE_TOO_LARGE),  # the server's websockets layer: over its limit
    ],
)
def test_a_server_closing_without_goodbye_is_reported_with_its_code(ws_code, code):
    transport, _, socket, listener, _, _ = _opened()
    socket.events.append(("close", ws_code, "bye"))
    transport.poll(0)
    assert listener.heard[-1] == (
        "closed",
        code,
        f"WebSocket closed by the server ({ws_code}: bye)",
    )


def test_a_connect_that_fails_names_the_url():
    transport, _, socket, listener, _, _ = _open()
    socket.events.extend([("error", 0, ""), ("close", 1006, "")])
    transport.poll(0)
    assert listener.heard == [
        (
            "closed",
            CloseCode.TRANSPORT_ERROR,
            "could not connect to ws://127.0.0.1:9000/ (WebSocket code 1006)",
        )
    ]


def test_a_peer_too_slow_to_take_our_messages_is_dropped():
    transport, link, socket, listener, _, _ = _opened(max_send_buffer=100)
    link.send(b"x" * 50, 0, Delivery.RELIABLE)
    socket.buffered_amount = 101
    transport.flush()
    assert listener.heard[-1][:2] == ("closed", CloseCode.SEND_BUFFER_FULL)
    assert socket.shut_with == (4008, "send_buffer_full")


def test_in_a_browser_websocket_loads_this_module_and_socket_adapters_refuse(monkeypatch):
    monkeypatch.setattr(network_adapters, "IN_BROWSER", True)
    assert network_adapters.load("websocket") is browser
    assert network_adapters.load("memory").NAME == "memory"
    for name in ("socket", "enet"):
        with pytest.raises(AdapterUnavailableError, match=f"the {name} network adapter cannot"):
            network_adapters.load(name)
