"""Helpers for testing games and adapters built on pygnetic.

* :func:`pump` runs ``update()`` on several clients and servers until a
  condition holds.
* :class:`Recorder` is a handler that writes down everything it hears.
* :class:`ManualClock` is a clock for ``clock=``: timeouts, rate limits and
  deadlines pass when the test says so, without sleeping.
* :class:`UdpProxy` and :class:`TcpProxy` stand between real peers and make
  their traffic meet loss, delay and a bandwidth cap
  (:mod:`pygnetic.testing.proxy`); :func:`pump` drives them beside the hosts.
* :class:`AdapterConformance` is the behaviour every network adapter must
  show. Subclass it in a test module, naming the adapter, and pytest (or
  unittest) runs the whole suite against it::

      class TestMyAdapter(AdapterConformance):
          adapter = 'my_adapter'

No pytest import is needed: the suite uses plain ``assert``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..client import Client
from ..connection import Connection, ConnectionState
from ..handler import Handler
from ..message import MessageFactory
from ..protocol import CloseCode, Delivery
from ..server import Server
from ._tcp_proxy import TcpProxy
from ._udp_proxy import UdpProxy

__all__ = [
    "AdapterConformance",
    "EchoRecorder",
    "ManualClock",
    "Recorder",
    "TcpProxy",
    "UdpProxy",
    "Updatable",
    "pump",
]


class ManualClock:
    """A monotonic clock that moves only when told: pass it as ``clock=``.

    ``Server(..., clock=clock)``, then ``clock.now += 10`` and one
    ``update()`` makes ten seconds pass for timeouts and rate limits.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The time now, in seconds."""
        return self.now


class Updatable(Protocol):
    """What :func:`pump` drives: a Client, a Server, a proxy: anything with ``update(ms)``."""

    def update(self, timeout: int, /) -> object:
        """Do the work that waits, waiting up to ``timeout`` milliseconds for some."""


def pump(
    *hosts: Updatable,
    until: Callable[[], Any] | None = None,
    timeout: float = 5.0,
    step_ms: int = 1,
) -> bool:
    """Update ``hosts`` in turn until ``until()`` is true or ``timeout`` seconds pass.

    Without ``until`` it pumps for the whole ``timeout``. Returns whether the
    condition was met.
    """
    deadline = time.monotonic() + timeout
    while True:
        for host in hosts:
            host.update(step_ms)
        if until is not None and until():
            return True
        if time.monotonic() >= deadline:
            return until is None


class Recorder(Handler):
    """A handler that records connects, disconnects and every message it receives."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.channels: list[int] = []
        self.connects = 0
        self.disconnects = 0
        #: The reasons ``on_reconnecting`` heard, one per lost link.
        self.lost: list[str] = []
        #: How many times the session resumed (``on_reconnect``).
        self.resumes = 0

    def on_connect(self) -> None:
        """Count the connect."""
        self.connects += 1

    def on_disconnect(self) -> None:
        """Count the disconnect."""
        self.disconnects += 1

    def on_reconnecting(self, reason: str) -> None:
        """Record why the link was lost."""
        self.lost.append(reason)

    def on_reconnect(self) -> None:
        """Count the resume."""
        self.resumes += 1

    def on_receive(self, message: Any, channel: int = 0, **kwargs: Any) -> None:
        """Record ``message`` and the channel it came on."""
        self.received.append(message)
        self.channels.append(channel)


class EchoRecorder(Recorder):
    """A :class:`Recorder` that also sends every message back."""

    def on_receive(self, message: Any, channel: int = 0, **kwargs: Any) -> None:
        """Record ``message`` and echo it."""
        super().on_receive(message, channel)
        self.connection.send(message)


def _messages() -> tuple[MessageFactory, type[Any], type[Any]]:
    factory = MessageFactory("msgpack")
    chat = factory.register("chat_msg", ("player", "msg"))
    blob = factory.register("blob", ("data",))
    return factory, chat, blob


class AdapterConformance:
    """What every network adapter must do; subclass and set :attr:`adapter`.

    Override :meth:`server_options` / :meth:`client_options` to pass adapter
    options, and :attr:`host` for the address to test on.
    """

    adapter: str = "memory"
    #: The server's adapters, when they are not just :attr:`adapter`: say
    #: ``('socket', 'websocket')``, to test clients of a port that serves both.
    server_adapter: str | tuple[str, ...] | None = None
    host: str = "127.0.0.1"
    timeout: float = 10.0
    #: Whether sessions over the adapter resume (see the server's
    #: ``reconnect_grace``); a transport that cannot count what it delivers
    #: reliably (:class:`~pygnetic.adapters.network.Link`) sets it False.
    resumable: bool = True

    def server_options(self) -> dict[str, Any]:
        """Extra keyword arguments for every Server the suite makes."""
        return {}

    def client_options(self) -> dict[str, Any]:
        """Extra keyword arguments for every Client the suite makes."""
        return {}

    # -- helpers -----------------------------------------------------------------

    def make_server(self, factory: MessageFactory, **kwargs: Any) -> Server:
        """Start a server on a free port."""
        options = {"handler": EchoRecorder, "timeout": self.timeout, **kwargs}
        return Server(
            self.host,
            0,
            message_factory=factory,
            adapter=self.server_adapter or self.adapter,
            **options,
            **self.server_options(),
        )

    def make_client(self, factory: MessageFactory, **kwargs: Any) -> Client:
        """Make a client."""
        options = {"timeout": self.timeout, **kwargs}
        return Client(
            message_factory=factory, adapter=self.adapter, **options, **self.client_options()
        )

    def connect(self, client: Client, server: Server) -> tuple[Connection, Recorder]:
        """Connect ``client`` to ``server`` with a Recorder attached."""
        connection = client.connect(self.host, server.address[1])
        recorder = Recorder()
        connection.add_handler(recorder)
        return connection, recorder

    # -- the suite ---------------------------------------------------------------

    def test_echo_in_order(self) -> None:
        """1,000 messages come back complete, in order, and are counted."""
        factory, chat, _ = _messages()
        with self.make_server(factory) as server, self.make_client(factory) as client:
            connection, recorder = self.connect(client, server)
            sent = [chat("Tom", f"message {i}") for i in range(1000)]
            for message in sent:
                assert connection.send(message)
            assert pump(server, client, until=lambda: len(recorder.received) == 1000)
            assert recorder.received == sent
            assert recorder.connects == 1
            assert connection.messages_sent == 1000
            assert connection.messages_received == 1000
            assert connection.data_received >= sum(len(factory.pack(m)) for m in sent)

    def test_many_clients(self) -> None:
        """20 clients at once each get their own echo."""
        factory, chat, _ = _messages()
        with self.make_server(factory, conn_limit=20) as server:
            clients = [self.make_client(factory) for _ in range(20)]
            pairs = [self.connect(client, server) for client in clients]
            for number, (connection, _) in enumerate(pairs):
                connection.net_chat_msg(f"player {number}", "hello")

            def all_echoed() -> bool:
                return all(len(recorder.received) == 1 for _, recorder in pairs)

            assert pump(server, *clients, until=all_echoed)
            for number, (_, recorder) in enumerate(pairs):
                assert recorder.received == [chat(f"player {number}", "hello")]
            assert len(server.connections()) == 20
            for client in clients:
                client.close(linger_ms=50)

    def test_client_disconnect_is_seen_by_server(self) -> None:
        """A client's disconnect reaches the server's handler with its reason."""
        factory, _, _ = _messages()
        with self.make_server(factory) as server, self.make_client(factory) as client:
            connection, recorder = self.connect(client, server)
            # Both sides: over a slow link the server accepts before the client hears so.
            assert pump(
                server, client, until=lambda: server.connections() and connection.connected
            )
            handler = server.handlers()[0]
            connection.disconnect("bye now")
            assert pump(server, client, until=lambda: handler.disconnects == 1)
            assert handler.connection.close_code is CloseCode.NORMAL
            assert handler.connection.close_reason == "bye now"
            assert recorder.disconnects == 1
            assert connection.state is ConnectionState.CLOSED
            assert server.connections() == []

    def test_idle_connection_outlives_its_timeout(self) -> None:
        """With no messages for twice the timeout, both ends stay connected."""
        factory, chat, _ = _messages()
        server = self.make_server(factory, timeout=1.2)
        with server, self.make_client(factory, timeout=1.2) as client:
            connection, recorder = self.connect(client, server)
            assert pump(server, client, until=lambda: len(server.connections()) == 1)
            pump(server, client, timeout=2.5, step_ms=5)
            assert connection.connected, connection.close_reason
            assert server.connections()[0].connected
            connection.net_chat_msg("Tom", "still here")
            assert pump(server, client, until=lambda: len(recorder.received) == 1)
            assert recorder.received == [chat("Tom", "still here")]

    def test_server_disconnect_is_seen_by_client(self) -> None:
        """A server kicking a client reaches the client with the reason."""
        factory, _, _ = _messages()
        with self.make_server(factory) as server, self.make_client(factory) as client:
            connection, recorder = self.connect(client, server)
            assert pump(server, client, until=lambda: len(server.connections()) == 1)
            server.connections()[0].disconnect("kicked")
            assert pump(server, client, until=lambda: recorder.disconnects == 1)
            assert connection.close_reason == "kicked"
            assert not connection.connected

    def test_server_close_is_seen_by_clients(self) -> None:
        """Closing a server ends every client's connection with SERVER_CLOSING."""
        factory, _, _ = _messages()
        server = self.make_server(factory)
        clients = [self.make_client(factory) for _ in range(3)]
        pairs = [self.connect(client, server) for client in clients]
        assert pump(server, *clients, until=lambda: all(c.connected for c, _ in pairs))
        server.close()
        assert pump(*clients, until=lambda: all(r.disconnects == 1 for _, r in pairs))
        for connection, _ in pairs:
            assert connection.close_code is CloseCode.SERVER_CLOSING
        for client in clients:
            client.close(linger_ms=50)  # the server is gone: nobody to wait for

    def test_large_message(self) -> None:
        """A 1 MiB message arrives whole."""
        factory, _, blob = _messages()
        payload = bytes(range(256)) * 4096  # 1 MiB
        with self.make_server(factory) as server, self.make_client(factory) as client:
            connection, recorder = self.connect(client, server)
            connection.net_blob(payload)
            assert pump(server, client, until=lambda: recorder.received, timeout=20)
            assert recorder.received == [blob(payload)]

    def test_unreliable_messages_arrive_on_loopback(self) -> None:
        """Unreliable deliveries arrive on a lossless link."""
        factory, _, _ = _messages()
        with self.make_server(factory) as server, self.make_client(factory) as client:
            connection, recorder = self.connect(client, server)
            assert pump(server, client, until=lambda: connection.connected)
            for delivery in (Delivery.UNRELIABLE_SEQUENCED, Delivery.UNRELIABLE):
                connection.net_chat_msg("Tom", delivery.value, delivery=delivery, channel=1)
            assert pump(server, client, until=lambda: len(recorder.received) == 2)
            received = sorted(message.msg for message in recorder.received)
            assert received == ["unreliable", "unreliable_sequenced"]

    def test_registry_mismatch_is_refused_with_reason(self) -> None:
        """A client with other messages is refused and told why."""
        factory, _, _ = _messages()
        other = MessageFactory("msgpack")
        other.register("chat_msg", ("player", "text"))
        with self.make_server(factory) as server, self.make_client(other) as client:
            connection, recorder = self.connect(client, server)
            assert pump(server, client, until=lambda: recorder.disconnects == 1)
            assert recorder.connects == 0
            assert connection.close_code is CloseCode.REGISTRY_MISMATCH
            assert "registry" in (connection.close_reason or "")
            assert server.connections() == []

    def test_conn_limit_is_enforced_with_reason(self) -> None:
        """A client over conn_limit is refused with SERVER_FULL."""
        factory, _, _ = _messages()
        with self.make_server(factory, conn_limit=1) as server:
            first, second = self.make_client(factory), self.make_client(factory)
            ok, _ = self.connect(first, server)
            assert pump(server, first, until=lambda: ok.connected)
            refused, recorder = self.connect(second, server)
            assert pump(server, first, second, until=lambda: recorder.disconnects == 1)
            assert refused.close_code is CloseCode.SERVER_FULL
            assert ok.connected
            first.close()
            second.close()

    def test_connection_refused_is_reported(self) -> None:
        """Connecting where nobody listens ends the connection with a reason."""
        factory, _, _ = _messages()
        server = self.make_server(factory)
        port = server.address[1]
        server.close()
        with self.make_client(factory, timeout=3.0) as client:
            connection = client.connect(self.host, port)
            recorder = Recorder()
            connection.add_handler(recorder)
            assert pump(client, until=lambda: recorder.disconnects == 1, timeout=8)
            assert connection.close_code in (CloseCode.TRANSPORT_ERROR, CloseCode.TIMEOUT)
            assert recorder.connects == 0

    def test_a_lost_link_is_replaced_and_the_session_resumes(self) -> None:
        """With ``reconnect_grace``, a link that fails is replaced by a new one over the adapter.

        The client's link ends as a failing network ends it (the transport
        reports it closed, without a goodbye); the client reconnects over
        the adapter, the server's handler goes on, and each reliable message
        sent meanwhile arrives once.
        """
        factory, _, _ = _messages()
        with (
            self.make_server(factory, reconnect_grace=30.0) as server,
            self.make_client(factory) as client,
        ):
            connection, recorder = self.connect(client, server)
            assert pump(server, client, until=lambda: connection.connected and server.handlers())
            assert connection.resumable is self.resumable
            if not self.resumable:
                return
            handler = server.handlers()[0]
            link = connection._link
            link.close(CloseCode.TRANSPORT_ERROR)
            connection.transport_closed(CloseCode.TRANSPORT_ERROR, "the network failed")
            assert connection.state is ConnectionState.RECONNECTING
            connection.net_chat_msg("Tom", "sent while reconnecting")
            assert pump(server, client, until=lambda: connection.connected, timeout=20)
            assert connection._link is not link
            connection.net_chat_msg("Tom", "sent after")
            assert pump(server, client, until=lambda: len(recorder.received) == 2)
            assert [m.msg for m in recorder.received] == ["sent while reconnecting", "sent after"]
            assert server.handlers() == [handler]
            assert recorder.disconnects == 0 and recorder.connects == 1
