"""Several transports per server, reconnecting at once, and connect options, on 127.0.0.1."""

import socket

import pytest

import pygnetic
from pygnetic.connection import ConnectionState
from pygnetic.message import MessageFactory
from pygnetic.testing import EchoRecorder, Recorder, pump

try:
    import enet
except ImportError:
    enet = None

needs_enet = pytest.mark.skipif(enet is None, reason="pyenet is not installed")
ADAPTERS = ["socket", pytest.param("enet", marks=needs_enet)]


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_client_reconnects_at_once_every_time(adapter):
    """Disconnect, then connect again straight away, 40 times: every connect succeeds."""
    factory = _factory()
    with (
        pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter=adapter) as server,
        pygnetic.Client(message_factory=factory, adapter=adapter) as client,
    ):
        for attempt in range(40):
            connection = client.connect("127.0.0.1", server.address[1])
            opened = pump(server, client, until=lambda c=connection: c.connected, timeout=5)
            assert opened, f"attempt {attempt}: {connection.close_reason}"
            connection.disconnect()

            def closed(c=connection):
                return c.state is ConnectionState.CLOSED and not server.connections()

            assert pump(server, client, until=closed)
        # Let any late ENet disconnect arrive: it must not end the last connection.
        last = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: last.connected)
        pump(server, client, timeout=0.5)
        assert last.connected, last.close_reason


@needs_enet
def test_one_server_serves_enet_and_tcp_clients_on_one_port_number():
    factory = _factory()
    chat_msg = factory.get_by_name("chat_msg")
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=EchoRecorder, message_factory=factory, adapter=("enet", "socket")
    )
    clients = {
        name: pygnetic.Client(message_factory=factory, adapter=name) for name in ("enet", "socket")
    }
    try:
        assert [module.NAME for module in server.adapters] == ["enet", "socket"]
        port = server.address[1]
        # Both transports really hold the port: binding it again fails for each.
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            probe = socket.socket(socket.AF_INET, kind)
            with pytest.raises(OSError):
                probe.bind(("127.0.0.1", port))
            probe.close()
        pairs = {}
        for name, client in clients.items():
            connection = client.connect("127.0.0.1", port)
            recorder = Recorder()
            connection.add_handler(recorder)
            connection.net_chat_msg(name, "hello")
            pairs[name] = (connection, recorder)
        hosts = (server, *clients.values())
        assert pump(*hosts, until=lambda: all(len(r.received) == 1 for _, r in pairs.values()))
        for name, (_, recorder) in pairs.items():
            assert recorder.received == [chat_msg(name, "hello")]
        assert len(server.connections()) == 2
        assert server.broadcast(chat_msg, "server", "to all") == 2
        assert pump(*hosts, until=lambda: all(len(r.received) == 2 for _, r in pairs.values()))
        addresses = sorted(type(c._link).__name__ for c in server.connections())
        assert addresses == ["EnetLink", "SocketLink"]
    finally:
        for client in clients.values():
            client.close(linger_ms=50)
        server.close(linger_ms=50)


@needs_enet
def test_update_waits_on_every_transport_at_once():
    """A TCP message wakes a server that also listens on ENet at once, not after the timeout."""
    import time

    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=EchoRecorder, message_factory=factory, adapter=("enet", "socket")
    )
    client = pygnetic.Client(message_factory=factory, adapter="socket")
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected)
        connection.net_chat_msg("Tom", "wake up")
        client.update()
        started = time.monotonic()
        server.update(2000)
        assert time.monotonic() - started < 1.0
        assert len(server.handlers()[0].received) == 1
    finally:
        client.close(linger_ms=50)
        server.close(linger_ms=50)


@needs_enet
def test_connect_channels_sets_the_enet_channel_count():
    factory = _factory()
    with (
        pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="enet") as server,
        pygnetic.Client(message_factory=factory, adapter="enet") as client,
    ):
        connection = client.connect("127.0.0.1", server.address[1], channels=2)
        assert pump(server, client, until=lambda: connection.connected)
        assert connection._link.channels == 2
        assert server.connections()[0]._link.channels == 2
        connection.net_chat_msg("Tom", "on 1", channel=1)
        with pytest.raises(ValueError, match="channel 2 does not exist"):
            connection.net_chat_msg("Tom", "on 2", channel=2)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_connect_refuses_options_the_adapter_does_not_take(adapter):
    with pygnetic.Client(message_factory=_factory(), adapter=adapter) as client:
        with pytest.raises(TypeError, match=f"the {adapter} adapter's connect.. takes no option"):
            client.connect("127.0.0.1", 1, colour="red")
        with pytest.raises(ValueError, match="no 'websocket' adapter"):
            client.connect("127.0.0.1", 1, adapter="websocket")


def test_a_server_option_no_adapter_takes_is_a_clear_error():
    with pytest.raises(TypeError, match=r"unknown option.*colour.*socket"):
        pygnetic.Server("127.0.0.1", 0, adapter="socket", colour="red")


@needs_enet
def test_the_enet_socket_asks_the_kernel_for_a_flood_sized_buffer():
    """ENet's 256 KiB fill within one slow frame of a flood; then the kernel drops everyone's."""
    import os
    from pathlib import Path

    from pygnetic.adapters.network.enet import RECEIVE_BUFFER

    server = pygnetic.Server("127.0.0.1", 0, adapter="enet", receive_buffer=RECEIVE_BUFFER)
    try:
        descriptor = server._transport._host.socket.fileno()
        with socket.socket(fileno=os.dup(descriptor)) as sock:
            size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        cap = Path("/proc/sys/net/core/rmem_max")
        allowed = int(cap.read_text()) if cap.exists() else RECEIVE_BUFFER
        assert size >= min(RECEIVE_BUFFER, allowed)  # Linux reports twice what it grants
    finally:
        server.close()


@needs_enet
def test_a_poll_that_stops_at_its_event_limit_loses_no_event(monkeypatch):
    """Every reliable message arrives when each poll handles only a few events."""
    from pygnetic.adapters.network import enet as enet_adapter

    monkeypatch.setattr(enet_adapter, "MAX_EVENTS_PER_POLL", 7)
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=Recorder, message_factory=factory, adapter="enet"
    )
    client = pygnetic.Client(message_factory=factory, adapter="enet")
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected)
        for number in range(500):
            connection.net_chat_msg("Tom", str(number))
        client.update()
        (remote,) = server.handlers()
        assert pump(server, client, until=lambda: len(remote.received) == 500)
        assert [message.msg for message in remote.received] == [str(n) for n in range(500)]
    finally:
        client.close(linger_ms=50)
        server.close(linger_ms=50)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_first_send_after_the_peer_left_returns_false(adapter):
    """A closed ENet peer reports 0 channels; a sender made then must not raise."""
    factory = _factory()
    server = pygnetic.Server(
        "127.0.0.1", 0, handler=Recorder, message_factory=factory, adapter=adapter
    )
    client = pygnetic.Client(message_factory=factory, adapter=adapter)
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected)
        (remote,) = server.handlers()
        remote.connection.disconnect("bye")
        assert pump(server, client, until=lambda: not connection.connected)
        pump(server, client, timeout=0.1)
        assert connection.net_chat_msg("Tom", "anyone?") is False
    finally:
        client.close(linger_ms=50)
        server.close(linger_ms=50)
