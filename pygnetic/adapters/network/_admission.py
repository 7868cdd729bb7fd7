"""The socket adapter's connections before a listener hears of them: TLS, then the first bytes.

A server with TLS or with doors (another adapter sharing its port) cannot
report an accepted connection at once: TLS must handshake first, and the
first bytes say which listener takes it. Until then no handshake table of
the core's watches the connection, so :class:`Admission` keeps the core's
rules itself (:class:`~pygnetic._handshakes.Handshakes`): a deadline, a
table of ``max_handshakes`` with a share per address, the oldest giving way.
A client's TLS handshake goes through here too, without the table.
"""

from __future__ import annotations

import logging
import selectors
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..._handshakes import Handshakes, address_key
from ..._logthrottle import LogThrottle
from ...protocol import CloseCode
from . import TransportListener
from . import socket as tcp  # a module that imports this one: its names are read at run time

if TYPE_CHECKING:
    from .socket import SocketLink, Transport

__all__ = ["SNIFF_BYTES", "Admission", "Claim"]

#: Bytes a door's claim may look at before the connection goes to pygnetic itself.
SNIFF_BYTES = 8

#: A door's test of a connection's first bytes: True takes it, False leaves
#: it, None needs more bytes (at most :data:`SNIFF_BYTES` are offered).
Claim = Callable[[bytes], "bool | None"]

log = logging.getLogger("pygnetic.socket")
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class Admission:
    """Accepted links on their way to a listener, and every link's TLS handshake.

    Args:
        transport: The socket transport the links are of.
        tls: The server's TLS context, or None.
        timeout: Seconds a link may take to reach a listener.
        max_pending: Links held at once.
        max_per_address: Links held at once from one address (IPv6: /64).
    """

    def __init__(
        self,
        transport: Transport,
        tls: ssl.SSLContext | None,
        *,
        timeout: float,
        max_pending: int,
        max_per_address: int,
    ) -> None:
        self.transport = transport
        self.tls = tls
        self.doors: list[tuple[Claim, TransportListener]] = []
        self.pending: Handshakes = Handshakes(max_pending, max_per_address)
        self.timeout = timeout
        self.refusals = LogThrottle(log)

    @property
    def needed(self) -> bool:
        """Whether accepted links must wait here (TLS, or doors to choose among)."""
        return self.tls is not None or bool(self.doors)

    def admit(self, link: SocketLink) -> None:
        """Hold an accepted ``link`` (an older one gives way if full), then TLS or sniff."""
        key = address_key(link.address[0])
        victim = self.pending.victim(key)
        if victim is not None:
            self.refusals.info("busy", "dropped a connection: too many handshakes under way")
            self.transport.release(victim)
        self.pending.add(link, key, self.transport.clock() + self.timeout)
        if self.tls is not None:
            self.start_tls(link)
        else:
            link.state = tcp.LinkState.SNIFFING
            self.transport.watch(link, _READ)

    def start_tls(self, link: SocketLink) -> None:
        """Wrap ``link``'s socket and start the TLS handshake (either side)."""
        server_side = link.tls is None
        context = self.tls if server_side else link.tls
        assert context is not None
        try:
            link.sock = context.wrap_socket(
                link.sock,
                server_side=server_side,
                server_hostname=None if server_side else link.server_hostname,
                do_handshake_on_connect=False,
            )
        except (OSError, ValueError) as exc:
            self._tls_failed(link, exc)
            return
        link.state = tcp.LinkState.TLS
        self.transport.watch(link, _READ)
        self.continue_tls(link)

    def continue_tls(self, link: SocketLink) -> None:
        """Take the TLS handshake one step on; on success the link opens (or sniffs)."""
        sock = link.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.transport.watch(link, _READ)
            return
        except ssl.SSLWantWriteError:
            self.transport.watch(link, _READ | _WRITE)
            return
        except (OSError, ValueError) as exc:
            self._tls_failed(link, exc)
            return
        self.transport.watch(link, _READ)
        if link.tls is not None:  # client
            link.state = tcp.LinkState.OPEN
            link.listener.link_connected(link)
        elif self.doors:
            link.state = tcp.LinkState.SNIFFING
        else:
            self._open(link, self.transport.listener)

    def _tls_failed(self, link: SocketLink, exc: Exception) -> None:
        if link.tls is not None:  # client: the core hears why
            self.transport.fail(link, CloseCode.TRANSPORT_ERROR, f"TLS failed: {exc}")
            return
        self.refusals.info("tls", "TLS handshake with %s failed: %s", link.address[0], exc)
        self.transport.release(link)

    def sniffed(self, link: SocketLink, data: bytes) -> None:
        """Offer the first bytes to the doors; open the link once one decides."""
        link.sniffed = first = link.sniffed + data
        prefix = first[:SNIFF_BYTES]
        for claim, listener in self.doors:
            taken = claim(prefix)
            if taken:
                self._open(link, listener)
                return
            if taken is None and len(prefix) < SNIFF_BYTES:
                return  # undecided: wait for more
        self._open(link, self.transport.listener)

    def _open(self, link: SocketLink, listener: TransportListener) -> None:
        """Report an accepted ``link`` to ``listener``, with what was read so far."""
        self.pending.pop(link)
        link.state = tcp.LinkState.OPEN
        link.listener = listener
        listener.link_opened(link)
        first, link.sniffed = link.sniffed, b""
        if first and link.state is tcp.LinkState.OPEN:
            link.receiver(first, 0)

    def expire(self) -> None:
        """Drop the links whose time ran out."""
        for link in self.pending.expired(self.transport.clock()):
            self.refusals.info("slow", "dropped %s: no handshake in time", link.address[0])
            self.transport.release(link)
