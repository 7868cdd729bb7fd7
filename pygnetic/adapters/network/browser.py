"""WebSocket client transport for Python in the browser (Pyodide, pygbag).

In WebAssembly a page has no sockets, only the browser's ``WebSocket``; this
adapter carries pygnetic over it, so a pygbag game uses :class:`~pygnetic.Client`
unchanged. On ``sys.platform == 'emscripten'`` it is what ``adapter='websocket'``
loads, and the only default network adapter; it speaks to the desktop
``websocket`` adapter's server (:mod:`pygnetic.adapters.network.websocket`).
It is client-only: a browser cannot listen, so a ``Server`` refuses to start.

Each pygnetic packet is one binary WebSocket message, both ways: the
handshake first, then each message (``stream`` is False). WebSocket is one
reliable, ordered stream, so every :class:`~pygnetic.protocol.Delivery` is
delivered reliably and channels are not carried (the receiver sees channel
0). Every packet counts as reliable for resumable sessions. The browser keeps
no pings of its own that pygnetic could watch, so the core sends its own
(``keepalive`` is False).

``connect(host, port, path='/', tls=None)`` opens ``ws://host:port/path``,
or ``wss://`` when ``tls`` is true; ``tls=None`` follows the page (``wss``
when it was loaded over https, as browsers require). It offers the
WebSocket subprotocol ``"pygnetic"``.

The game loop drives it: ``client.update()`` then ``await asyncio.sleep(0)``,
the loop a pygbag game has anyway. ``update()`` cannot wait for the network
in a browser (its ``timeout`` is ignored); the browser delivers WebSocket
events while Python yields to it, and the next ``update()`` handles them.

How it talks to JavaScript: one small JavaScript helper, evaluated once per
transport with the page's ``eval``, wraps each ``WebSocket``. Its event
handlers only append to a JavaScript array, which ``poll()`` drains; no
Python function is ever handed to JavaScript, so nothing needs to be kept
alive or destroyed across the bridge, and every call across it passes
numbers and strings, plus bytes. The JavaScript global object is pygbag's
``platform.window`` or else Pyodide's ``js`` module. Bytes cross as typed
arrays where :mod:`pyodide.ffi` exists (``to_js`` one way, ``to_bytes()``
the other), and otherwise as base64 text, which any bridge that passes
strings carries (``byte_bridge='base64'`` forces it).

Known limits: the browser reports no reason for a failed connect (only
WebSocket close code 1006), no round-trip time, and of what waits to be sent
only its ``bufferedAmount``. Tested in headless Chromium under Pyodide, with
both byte bridges; not under pygbag's own runtime, whose bridge was only
read: there ``sys.platform`` is ``'emscripten'`` too, ``platform.window`` is
the page's ``window`` with its ``eval``, and a ``pyodide`` module, when
pygbag provides one, is a stand-in without ``pyodide.ffi.to_js``, so bytes
take the base64 path, which needs only strings and numbers to cross.
"""

from __future__ import annotations

import base64
import enum
import logging
import time
from collections.abc import Callable
from typing import Any

from ..._decoding import remote_text
from ...errors import AdapterUnavailableError
from ...protocol import CloseCode, Delivery
from . import Receiver, TransportListener
from ._websocket_shared import close_code_of, url_for, websocket_close

__all__ = ["JS_HELPER", "LABEL", "NAME", "PEER_CLOSE_WAIT", "BrowserLink", "Transport"]

#: The adapter's name, as given to ``adapter=``: the same as the desktop one's.
NAME = "websocket"
#: What logs and errors call the adapter.
LABEL = "WebSocket"
#: The WebSocket subprotocol offered to the server.
SUBPROTOCOL = "pygnetic"
#: Seconds to wait for a server that said goodbye to close before closing ourselves.
PEER_CLOSE_WAIT = 2.0

log = logging.getLogger("pygnetic.websocket")

#: The JavaScript evaluated once per transport: ``open(WebSocket, url,
#: protocols)`` returns a socket whose methods take and return only numbers,
#: strings and bytes; its events wait in an array until ``take()`` takes them.
#: No method is called ``next``, ``send``, ``close`` or ``throw``: Pyodide would
#: take an object with ``next`` for a JavaScript generator, and its ``send``
#: for the generator's.
JS_HELPER = r"""
(function () {
  "use strict";
  function open(WebSocketClass, url, protocols) {
    // A bridge that cannot hand a JavaScript object back leaves the page's own.
    const Socket = typeof WebSocketClass === "function" ? WebSocketClass : WebSocket;
    const ws = new Socket(url, protocols ? protocols.split(",") : []);
    ws.binaryType = "arraybuffer";
    const events = [];
    let current = null;
    ws.onopen = function () { events.push(["open", null, 0, ""]); };
    ws.onerror = function () { events.push(["error", null, 0, ""]); };
    ws.onclose = function (event) { events.push(["close", null, event.code, event.reason]); };
    ws.onmessage = function (event) {
      const text = typeof event.data === "string";
      events.push([text ? "text" : "message", text ? null : event.data, 0, ""]);
    };
    return {
      take: function () {
        current = events.length ? events.shift() : null;
        return current === null ? "" : current[0];
      },
      data: function () { return current[1]; },
      code: function () { return current[2]; },
      reason: function () { return current[3]; },
      dataBase64: function () {
        const bytes = new Uint8Array(current[1]);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) {
          text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        }
        return btoa(text);
      },
      write: function (bytes) { ws.send(bytes); },
      writeBase64: function (encoded) {
        const text = atob(encoded);
        const bytes = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        ws.send(bytes);
      },
      buffered: function () { return ws.bufferedAmount; },
      protocol: function () { return ws.protocol; },
      shut: function (code, reason) {
        try { ws.close(code, reason); } catch (error) { ws.close(); }
      },
    };
  }
  function secure() {
    return typeof location !== "undefined" && location.protocol === "https:";
  }
  return { open: open, secure: secure };
})()
"""


class LinkState(enum.Enum):
    """Where a :class:`BrowserLink` is in its life."""

    CONNECTING = "connecting"
    OPEN = "open"
    PEER_CLOSING = "peer closing"  # the server said goodbye; waiting for its close
    CLOSED = "closed"  # closed by us; the browser's close event is still to come


class BrowserLink:
    """One browser ``WebSocket`` to a server."""

    stream = False
    #: Any channel number is accepted; WebSocket has a single ordered stream.
    channels = 255
    round_trip_time = None
    keepalive = False  # the core pings: the browser's own pings are not visible
    last_heard = 0
    #: Set by the core: hand each packet over with bit 8 set in its channel
    #: (every WebSocket message comes reliably).
    flag_reliable = False

    def __init__(self, transport: Transport, socket: Any, address: tuple[str, int], url: str):
        self.transport = transport
        self.socket = socket  # the JavaScript helper's socket
        self.address = address
        self.url = url
        self.state = LinkState.CONNECTING
        self.receiver: Receiver = _discard
        self.queued: list[bytes] = []  # sent before the WebSocket opened
        self.deadline = 0.0  # while PEER_CLOSING: when to stop waiting

    @property
    def pending_bytes(self) -> int:
        """Bytes queued in Python or in the browser that have not gone out yet."""
        if self.state is LinkState.CLOSED:
            return 0
        return sum(map(len, self.queued)) + int(self.socket.buffered())

    def send(self, data: bytes, channel: int, delivery: Delivery) -> None:
        """Hand ``data`` to the browser as one binary message; never blocks."""
        if self.state is LinkState.OPEN:
            self.transport.send_now(self, data)
        elif self.state is LinkState.CONNECTING:
            self.queued.append(data)
        # else closing: nothing more goes out

    def send_counted(self, data: bytes, channel: int, delivery: Delivery) -> bool:
        """Send like :meth:`send`; every WebSocket message counts as reliable."""
        self.send(data, channel, delivery)
        return True

    def close(self, code: int, peer_closed: bool = False) -> None:
        """Close the WebSocket after what was sent; or let a server that said goodbye close it."""
        if self.state in (LinkState.CLOSED, LinkState.PEER_CLOSING):
            return
        if peer_closed and self.state is LinkState.OPEN:
            self.state = LinkState.PEER_CLOSING
            self.deadline = self.transport.clock() + PEER_CLOSE_WAIT
            return
        self.shut(code)

    def shut(self, code: int) -> None:
        """Start the WebSocket's closing handshake with ``code``'s WebSocket code."""
        self.state = LinkState.CLOSED
        self.queued = []
        self.socket.shut(*websocket_close(code))


def _discard(data: bytes, channel: int) -> None:
    """Receiver of links the core has not taken over yet."""


def find_window() -> Any:
    """The page's JavaScript global object: pygbag's ``platform.window``, else Pyodide's ``js``.

    Raises:
        AdapterUnavailableError: Not running in a browser.
    """
    import platform

    window = getattr(platform, "window", None)
    if window is not None:
        return window
    try:
        import js  # type: ignore[import-not-found]
    except ImportError as exc:
        raise AdapterUnavailableError(
            "the browser WebSocket adapter runs only in a browser (Pyodide or pygbag); "
            "on a desktop, adapter='websocket' loads the websockets-based adapter"
        ) from exc
    return js


class _Pyodide:
    """Bytes across Pyodide's bridge as typed arrays: one copy each way."""

    def __init__(self) -> None:
        from pyodide.ffi import to_js  # type: ignore[import-not-found]

        self.to_js = to_js

    def send(self, socket: Any, data: bytes) -> None:
        socket.write(self.to_js(data))

    def received(self, socket: Any) -> bytes:
        return bytes(socket.data().to_bytes())


class _Base64:
    """Bytes as base64 text: slower, but any bridge that passes strings carries it."""

    @staticmethod
    def send(socket: Any, data: bytes) -> None:
        socket.writeBase64(base64.b64encode(data).decode("ascii"))

    @staticmethod
    def received(socket: Any) -> bytes:
        return base64.b64decode(str(socket.dataBase64()))


def _byte_bridge(name: str) -> _Pyodide | _Base64:
    if name not in ("auto", "pyodide", "base64"):
        raise ValueError(f"byte_bridge must be 'auto', 'pyodide' or 'base64', not {name!r}")
    if name == "base64":
        return _Base64()
    try:
        return _Pyodide()
    except ImportError:  # pygbag: no pyodide.ffi (or a stand-in without to_js)
        if name == "pyodide":
            raise
        return _Base64()


class Transport:
    """A browser's WebSocket connections to servers; a client only.

    ``byte_bridge`` (an adapter option, ``Client(byte_bridge=...)``) says how
    bytes cross to JavaScript: ``'auto'`` (typed arrays in Pyodide, else
    base64), ``'pyodide'`` or ``'base64'``. ``window`` is the JavaScript
    global object to use (default: found as the module docstring says).

    Raises:
        OSError: ``bind`` was given: a browser cannot listen for connections.
        AdapterUnavailableError: Not running in a browser.
    """

    def __init__(
        self,
        listener: TransportListener,
        *,
        bind: tuple[str, int] | None = None,
        max_links: int = 1,
        channels: int = 1,
        max_message_size: int = 0,
        clock: Callable[[], float] = time.monotonic,
        max_send_buffer: int | None = None,
        byte_bridge: str = "auto",
        window: Any = None,
    ) -> None:
        if bind is not None:
            raise OSError(
                "a browser cannot listen for connections: the WebSocket adapter in "
                "WebAssembly is client-only (run the Server on a desktop or a host, "
                "and connect to it with Client())"
            )
        self._listener = listener
        self.clock = clock
        self.max_send_buffer = max_send_buffer or max(4 * max_message_size, 16 * 1024 * 1024)
        self._bytes = _byte_bridge(byte_bridge)
        self._window = window if window is not None else find_window()
        self._helper: Any = None  # evaluated at the first connect
        self._links: list[BrowserLink] = []
        self._sent: set[BrowserLink] = set()  # sent to since the last look at their buffers
        self.address: tuple[str, int] | None = None

    def connect(
        self, host: str, port: int, *, path: str = "/", tls: bool | None = None
    ) -> BrowserLink:
        """Open a WebSocket to ``ws://host:port/path`` (``wss://`` with TLS); returns at once.

        Args:
            host: Server name or address.
            port: Server port.
            path: The URL's path, for a server behind a proxy that routes by path.
            tls: ``wss://`` when true; None: when the page itself came over https.

        Raises:
            OSError: The browser refused the URL (a bad host, a blocked port).
        """
        helper = self._js_helper()
        secure = bool(helper.secure()) if tls is None else bool(tls)
        url = url_for(host, port, path, secure)
        try:
            socket = helper.open(self._window.WebSocket, url, SUBPROTOCOL)
        except Exception as exc:  # a JavaScript SyntaxError or SecurityError, as a JsException
            raise OSError(f"the browser refused to open {url}: {exc}") from exc
        link = BrowserLink(self, socket, (host, port), url)
        self._links.append(link)
        return link

    def _js_helper(self) -> Any:
        if self._helper is None:
            if getattr(self._window, "WebSocket", None) is None:
                raise AdapterUnavailableError("this JavaScript environment has no WebSocket")
            self._helper = self._window.eval(JS_HELPER)
        return self._helper

    def send_now(self, link: BrowserLink, data: bytes) -> None:
        """Hand ``data`` to ``link``'s WebSocket."""
        self._bytes.send(link.socket, data)
        self._sent.add(link)

    def fileno(self) -> None:
        """None: a browser offers nothing to wait on; ``update()`` never waits."""
        return None

    def poll(self, timeout_ms: int) -> None:
        """Handle what the browser queued since the last poll; never waits.

        A browser delivers WebSocket events only while Python yields to it
        (``await asyncio.sleep(0)``), so waiting here would only delay them.
        """
        now = self.clock()
        for link in list(self._links):
            if link.state is LinkState.PEER_CLOSING and now >= link.deadline:
                link.shut(CloseCode.NORMAL)
            self._drain(link)
        self.flush()

    def _drain(self, link: BrowserLink) -> None:
        socket = link.socket
        while True:
            kind = socket.take()
            if not kind:
                return
            if kind == "message":  # "error" says nothing "close" will not say
                if link.state is LinkState.OPEN:
                    data = self._bytes.received(socket)
                    link.receiver(data, 0x100 if link.flag_reliable else 0)
            elif kind == "open":
                self._opened(link)
            elif kind == "close":
                self._closed(link, int(socket.code()), str(socket.reason()))
                return
            elif kind == "text" and link.state is LinkState.OPEN:
                link.shut(CloseCode.PROTOCOL_ERROR)
                detail = "the server sent a text message; pygnetic speaks binary messages"
                self._listener.link_closed(link, CloseCode.PROTOCOL_ERROR, detail)

    def _opened(self, link: BrowserLink) -> None:
        if link.state is not LinkState.CONNECTING:
            return  # closed by us meanwhile: its close event follows
        link.state = LinkState.OPEN
        queued, link.queued = link.queued, []
        for data in queued:
            self.send_now(link, data)
        self._listener.link_connected(link)

    def _closed(self, link: BrowserLink, ws_code: int, reason: str) -> None:
        state = link.state
        link.state = LinkState.CLOSED
        self._links.remove(link)
        self._sent.discard(link)
        if state in (LinkState.CLOSED, LinkState.PEER_CLOSING):
            return  # ended by us, or after the server's goodbye
        if state is LinkState.CONNECTING:
            detail = f"could not connect to {link.url} (WebSocket code {ws_code})"
            self._listener.link_closed(link, CloseCode.TRANSPORT_ERROR, detail)
            return
        # A pygnetic code with no goodbye before it (a goodbye would have closed the link).
        code = close_code_of(ws_code)
        code = CloseCode.TRANSPORT_ERROR if code is None else code
        said = f": {remote_text(reason)}" if reason else ""
        detail = f"WebSocket closed by the server ({ws_code}{said})"
        self._listener.link_closed(link, code, detail)

    def flush(self) -> None:
        """Nothing waits in Python once open; close links whose browser buffer overflowed."""
        if not self._sent:
            return
        sent, self._sent = self._sent, set()
        for link in sent:
            if link.state is LinkState.OPEN and link.pending_bytes > self.max_send_buffer:
                link.shut(CloseCode.SEND_BUFFER_FULL)
                detail = f"more than {self.max_send_buffer} bytes unsent"
                self._listener.link_closed(link, CloseCode.SEND_BUFFER_FULL, detail)

    def close(self, code: int, linger_ms: int) -> None:
        """Close every WebSocket with ``code``; the browser sends what was queued first."""
        for link in self._links:
            if link.state is not LinkState.CLOSED:
                link.shut(code)
        self._links.clear()
        self._sent.clear()
