"""What every WebSocket transport shares: a server's URL, pygnetic's close codes both ways.

The desktop adapter (:mod:`~pygnetic.adapters.network.websocket`) and the
browser's (:mod:`~pygnetic.adapters.network.browser`) connect to
:func:`url_for`, close with :func:`websocket_close` and read a peer's close
with :func:`close_code_of`; ``docs/topics/protocol.rst`` tells other clients
the same.
"""

from __future__ import annotations

from ...protocol import CloseCode, close_code

__all__ = ["close_code_of", "url_for", "websocket_close", "websocket_close_code"]

# The WebSocket layer's own closes that carry a pygnetic meaning (RFC 6455, 7.4.1).
_WEBSOCKET_CODES = {
    1000: CloseCode.NORMAL,
    1002: CloseCode.PROTOCOL_ERROR,
    1003: CloseCode.PROTOCOL_ERROR,
    1007: CloseCode.PROTOCOL_ERROR,
    1009: CloseCode.MESSAGE_TOO_LARGE,
}
# A close frame's reason holds 123 bytes of UTF-8 at most.
_MAX_REASON = 123


def websocket_close_code(code: int) -> int:
    """The WebSocket close code that carries pygnetic's ``code``: 1000, or 4000 + ``code``."""
    known = close_code(code)
    return 1000 if known is CloseCode.NORMAL else 4000 + int(known)


def websocket_close(code: int) -> tuple[int, str]:
    """The WebSocket close code and reason (the code's name) for pygnetic's ``code``."""
    known = close_code(code)
    return websocket_close_code(known), known.name.lower()[:_MAX_REASON]


def close_code_of(websocket_code: int | None) -> CloseCode | None:
    """The pygnetic close code a WebSocket close code carries, or None.

    4000 to 4099 carry ``4000 +`` a :class:`~pygnetic.protocol.CloseCode`
    (one this version does not know: None); 1000, 1002, 1003, 1007 and 1009
    are the WebSocket layer's own (normal, protocol errors, too large).
    """
    if websocket_code is None:
        return None
    if 4000 <= websocket_code < 4100:
        try:
            return CloseCode(websocket_code - 4000)
        except ValueError:
            return None
    return _WEBSOCKET_CODES.get(websocket_code)


def url_for(host: str, port: int, path: str, secure: bool) -> str:
    """The WebSocket URL of a server: ``ws://host:port/path`` (IPv6 hosts bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not path.startswith("/"):
        path = "/" + path
    return f"{'wss' if secure else 'ws'}://{host}:{port}{path}"
