"""The adapter conformance suite over real ENet and real TCP sockets on 127.0.0.1."""

import pytest

from pygnetic.testing import AdapterConformance

try:
    import enet
except ImportError:
    enet = None


@pytest.mark.skipif(enet is None, reason="pyenet is not installed")
class TestEnet(AdapterConformance):
    adapter = "enet"


class TestSocket(AdapterConformance):
    adapter = "socket"


class Simulated:
    """Both sides under the network simulator: no adapter, no upper layer may notice."""

    def server_options(self):
        return {"simulate": "latency=5ms jitter=2ms seed=1"}

    def client_options(self):
        return {"simulate": "latency=3ms jitter=1ms seed=2"}


@pytest.mark.skipif(enet is None, reason="pyenet is not installed")
class TestEnetSimulated(Simulated, TestEnet):
    # A packet the simulator drops never reaches ENet's own count of sequenced
    # packets, so what each side counts would differ: no sessions.
    resumable = False


class TestSocketSimulated(Simulated, TestSocket):
    pass


@pytest.mark.parametrize(
    "adapter",
    ["socket", pytest.param("enet", marks=pytest.mark.skipif(enet is None, reason="no pyenet"))],
)
def test_address_of_a_server_on_every_interface(adapter):
    import pygnetic

    with pygnetic.Server("", 0, adapter=adapter) as server:
        host, port = server.address
        assert host == "0.0.0.0"
        assert port > 0


def test_round_trip_time_is_measured_soon_over_tcp():
    import pygnetic
    from pygnetic.message import MessageFactory
    from pygnetic.testing import pump

    factory = MessageFactory("msgpack")
    with (
        pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter="socket") as server,
        pygnetic.Client(message_factory=factory, adapter="socket") as client,
    ):
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(
            server, client, until=lambda: connection.round_trip_time is not None, timeout=1.0
        )
        assert 0 <= connection.round_trip_time < 1000


try:
    import websockets
except ImportError:
    websockets = None


@pytest.mark.skipif(websockets is None, reason="websockets is not installed")
class TestWebSocket(AdapterConformance):
    adapter = "websocket"


@pytest.mark.skipif(websockets is None, reason="websockets is not installed")
class TestWebSocketSimulated(Simulated, TestWebSocket):
    # Over a packet link the simulator may drop what the peer would count: no sessions.
    resumable = False


@pytest.mark.skipif(websockets is None, reason="websockets is not installed")
class TestWebSocketBesideTcp(TestWebSocket):
    """WebSocket clients of a server that serves TCP on the same port."""

    server_adapter = ("socket", "websocket")


@pytest.mark.skipif(websockets is None, reason="websockets is not installed")
class TestTcpBesideWebSocket(TestSocket):
    """TCP clients of a server that serves WebSocket on the same port."""

    server_adapter = ("websocket", "socket")
