"""TLS for the stream adapters (TCP, WebSocket): contexts from what the user gives.

A server is given its certificate and key, or an :class:`ssl.SSLContext` made
for it; a client verifies the server by default (the system's certificate
authorities and the host name), and may be given a CA file to trust instead,
as a test or a private game's self-signed certificate needs.
"""

from __future__ import annotations

import ssl
from typing import TypeAlias

__all__ = ["RETRY", "TlsOption", "client_context", "server_context"]

#: What ``tls=`` takes: see :func:`server_context` and :func:`client_context`.
TlsOption: TypeAlias = ssl.SSLContext | tuple[str, str] | str | bool | None

#: What a non-blocking TLS socket raises when it must wait for the network.
RETRY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


def server_context(tls: TlsOption) -> ssl.SSLContext | None:
    """The context a listening transport wraps accepted sockets in, or None for no TLS.

    Args:
        tls: None (no TLS), an :class:`ssl.SSLContext` for the server side, or
            a ``(certfile, keyfile)`` pair of PEM file paths.

    Raises:
        TypeError: ``tls`` is none of these.
        OSError, ssl.SSLError: The files cannot be read or do not match.
    """
    if tls is None or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if isinstance(tls, tuple) and len(tls) == 2 and all(isinstance(p, str) for p in tls):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # A TLS 1.2 peer's renegotiations would cost handshakes at will.
        context.options |= ssl.OP_NO_RENEGOTIATION
        context.load_cert_chain(tls[0], tls[1])
        return context
    raise TypeError(
        "a server's tls= is an ssl.SSLContext or a (certfile, keyfile) pair of paths, "
        f"not {type(tls).__name__}"
    )


def client_context(tls: TlsOption) -> ssl.SSLContext | None:
    """The context a client connects with, or None for no TLS.

    Args:
        tls: None or False (no TLS); True (verify the server against the
            system's certificate authorities); a path to a PEM file of the
            authorities to trust instead; or an :class:`ssl.SSLContext`.

    Raises:
        TypeError: ``tls`` is none of these.
    """
    if tls is None or tls is False:
        return None
    if tls is True:
        return ssl.create_default_context()
    if isinstance(tls, str):
        return ssl.create_default_context(cafile=tls)
    if isinstance(tls, ssl.SSLContext):
        return tls
    raise TypeError(
        f"a client's tls= is True, a CA file path or an ssl.SSLContext, not {type(tls).__name__}"
    )
