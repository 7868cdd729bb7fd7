"""Default servers and clients meet: ENet and TCP on one port, ENet first, then TCP.

Real ENet and real sockets on 127.0.0.1. The client's clock is a ManualClock,
so "no answer within 0.5 s" takes no real half second: the test moves time.
"""

import logging
import subprocess
import sys
import textwrap

import pytest

import pygnetic
from pygnetic import ConnectionState, _install
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, Recorder, pump

pytest.importorskip("enet")


class Progress(Recorder):
    """Records what on_connecting hears."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_connecting(self, stage, adapter, status):
        self.steps.append((stage, adapter, status))


@pytest.fixture
def factory():
    factory = MessageFactory("msgpack")
    factory.register("chat_msg", ("player", "msg"))
    return factory


@pytest.fixture
def clock():
    return ManualClock()


def _server(factory, adapter=None):
    return pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter=adapter)


def _client(factory, clock, **options):
    return pygnetic.Client(message_factory=factory, clock=clock, **options)


def _links(host):
    """Links the host's transports still track (ENet's and the socket adapter's own tables)."""
    count = 0
    for transport in host._transports:
        count += len(getattr(transport, "_links", ()))
        count += len(getattr(transport, "links", ()))
    return count


def test_default_client_meets_a_tcp_only_server(factory, clock):
    with _server(factory, "socket") as server, _client(factory, clock) as client:
        connection = client.connect("127.0.0.1", server.address[1])
        progress = Progress()
        connection.add_handler(progress)
        connection.net_chat_msg("Tom", "queued while connecting")
        client.update()
        assert connection.adapter == "ENet"  # what it tries first
        clock.now += 0.5  # ENet gets no answer: TCP is tried too
        assert pump(server, client, until=lambda: connection.connected)
        assert connection.adapter == "TCP"
        assert [step[:2] for step in progress.steps] == [
            ("connecting", "TCP"),
            ("handshake", "TCP"),
        ]
        assert progress.steps[0][2] == (
            f"no ENet answer within 0.5 s; connecting to 127.0.0.1:{server.address[1]} over TCP..."
        )
        assert pump(server, client, until=lambda: server.connections()[0].messages_received)
        assert server.connections()[0].adapter == "TCP"
        assert not client._attempts
        # The sender made before acceptance, over ENet, sends over TCP now.
        connection.net_chat_msg("Tom", "sent once accepted")
        assert pump(server, client, until=lambda: server.connections()[0].messages_received == 2)


def test_default_client_uses_enet_when_the_server_speaks_it(factory, clock):
    with _server(factory) as server, _client(factory, clock) as client:
        assert [module.NAME for module in server.adapters] == ["enet", "socket"]
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.connected)
        assert connection.adapter == "ENet" and server.connections()[0].adapter == "ENet"
        assert _links(client) == 1  # TCP never started


def test_enet_still_wins_when_tcp_is_refused_meanwhile(factory, clock, caplog):
    with _server(factory, "enet") as server, _client(factory, clock) as client:
        connection = client.connect("127.0.0.1", server.address[1])
        clock.now += 0.5  # before ENet could answer: TCP starts, and is refused
        assert pump(server, client, until=lambda: connection.connected)
        assert connection.adapter == "ENet"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_loser_is_closed_before_any_handshake(factory, clock, caplog):
    """Both transports reach a default server; the server sees only one client."""
    with _server(factory) as server, _client(factory, clock, fallback_delay=0) as client:
        connection = client.connect("127.0.0.1", server.address[1])
        client.update()  # fallback_delay 0: TCP starts at once, alongside ENet
        assert pump(server, client, until=lambda: connection.connected)
        assert pump(server, client, timeout=0.3)
        assert len(server.connections()) == 1
        assert connection.state is ConnectionState.OPEN
        assert _links(client) == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_nothing_listening_names_every_adapter_tried(factory, clock, caplog):
    with _server(factory) as server:
        port = server.address[1]
    with _client(factory, clock, timeout=3.0) as client:
        connection = client.connect("127.0.0.1", port)
        recorder = Recorder()
        connection.add_handler(recorder)
        client.update()
        clock.now += 0.5
        assert pump(client, timeout=0.5)  # TCP is refused at once; ENet keeps trying
        assert connection.state is ConnectionState.CONNECTING
        clock.now += 2.5
        client.update()
        assert connection.close_code is CloseCode.TIMEOUT and recorder.disconnects == 1
        reason = connection.close_reason
        assert reason.startswith(f"cannot connect to 127.0.0.1:{port} over ENet or TCP (ENet: ")
        assert "ENet: no answer within 3 s; TCP: " in reason and "refused" in reason
        assert reason.endswith("is a pygnetic server running at that address and port?")
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [reason]  # said once
        assert _links(client) == 0


def test_disconnecting_while_connecting_closes_every_transport(factory, clock):
    with _server(factory, "enet") as server:
        port = server.address[1]
    with _client(factory, clock) as client:
        connection = client.connect("127.0.0.1", port)
        clock.now += 0.5
        client.update()
        assert _links(client) >= 1
        connection.disconnect()
        client.update()
        assert connection.state is ConnectionState.CLOSED
        assert _links(client) == 0 and not client._attempts


def test_connect_options_go_to_the_adapters_that_take_them(factory, clock):
    with _server(factory, "socket") as server, _client(factory, clock) as client:
        with pytest.raises(TypeError, match="enet or socket adapter's connect"):
            client.connect("127.0.0.1", server.address[1], colour="red")
        connection = client.connect("127.0.0.1", server.address[1], channels=2)  # ENet's
        clock.now += 0.5
        assert pump(server, client, until=lambda: connection.connected)
        assert connection.adapter == "TCP"


def test_one_adapter_named_tries_only_that_one(factory, clock):
    with _server(factory, "socket") as server, _client(factory, clock, timeout=2.0) as client:
        connection = client.connect("127.0.0.1", server.address[1], adapter="enet")
        clock.now += 2.5
        client.update()
        assert connection.close_code is CloseCode.TIMEOUT
        assert connection.close_reason.endswith(
            "if the server speaks only TCP, connect over both: Client(adapter=('enet', 'socket'))"
        )


def test_a_client_without_enet_names_the_command_that_adds_it(factory):
    """The issue's case: this Python has no pyenet, the server speaks only ENet."""
    with _server(factory, "enet") as server:
        script = textwrap.dedent(
            f"""
            import sys
            sys.modules['enet'] = None  # as if pyenet were not installed
            import pygnetic
            from pygnetic.testing import pump
            pygnetic.register('chat_msg', ('player', 'msg'))
            client = pygnetic.Client()
            connection = client.connect('127.0.0.1', {server.address[1]})
            assert pump(client, until=lambda: connection.close_reason, timeout=5)
            print(connection.close_reason)
            """
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            pump(server, until=lambda: child.poll() is not None, timeout=10)
            out, err = child.communicate(timeout=5)
        finally:
            child.kill()
    reason = out.decode().strip()
    assert reason.startswith(f"cannot connect to 127.0.0.1:{server.address[1]} over TCP (TCP: ")
    assert "nothing accepts TCP there; if the server speaks only ENet, this Python needs" in reason
    assert reason.endswith(_install.enet_install_command())
    assert err.decode().count("ENet is unavailable") == 1


def test_a_transport_failing_after_disconnect_changes_nothing(factory, clock, caplog):
    with _server(factory, "enet") as server:
        port = server.address[1]  # nothing listens there now, on either transport
    with _client(factory, clock) as client:
        connection = client.connect("127.0.0.1", port)
        clock.now += 0.5
        client.update()  # TCP starts; its refusal is reported by a later poll
        connection.disconnect()
        assert pump(client, timeout=0.3)
        assert connection.state is ConnectionState.CLOSED
        assert connection.close_reason == "disconnected"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert _links(client) == 0 and not client._attempts
