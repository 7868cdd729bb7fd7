"""TLS on both stream adapters (TCP, WebSocket) with a throwaway certificate made per test run."""

import ssl

import pytest

trustme = pytest.importorskip("trustme", reason="trustme is not installed (the test extra)")

import pygnetic
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import EchoRecorder, Recorder, pump

try:
    import websockets
except ImportError:
    websockets = None

STREAMS = [
    "socket",
    pytest.param(
        "websocket", marks=pytest.mark.skipif(websockets is None, reason="no websockets")
    ),
]


@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


@pytest.fixture(scope="module")
def certificate(authority):
    return authority.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def files(tmp_path, authority, certificate):
    """The certificate, its key and the authority as the PEM files a server is given."""
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(cert)
    certificate.private_key_pem.write_to_path(key)
    authority.cert_pem.write_to_path(ca)
    return str(cert), str(key), str(ca)


def factory():
    messages = MessageFactory("msgpack")
    messages.register("chat_msg", ("player", "msg"))
    messages.register("blob", ("data",))
    return messages


def tls_server(messages, tls, adapter):
    return pygnetic.Server(
        "127.0.0.1", 0, message_factory=messages, adapter=adapter, handler=EchoRecorder, tls=tls
    )


def connect(client, server, **options):
    connection = client.connect("127.0.0.1", server.address[1], **options)
    recorder = Recorder()
    connection.add_handler(recorder)
    return connection, recorder


@pytest.mark.parametrize("adapter", STREAMS)
def test_messages_cross_tls_both_ways(adapter, files):
    cert, key, ca = files
    messages = factory()
    payload = bytes(range(256)) * 2048  # 512 KiB: many TLS records
    with (
        tls_server(messages, (cert, key), ("socket", "websocket")) as server,
        pygnetic.Client(message_factory=messages, adapter=adapter) as client,
    ):
        connection, recorder = connect(client, server, tls=ca)
        connection.net_chat_msg("Tom", "secret")
        connection.net_blob(payload)
        assert pump(server, client, until=lambda: len(recorder.received) == 2, timeout=10)
        assert recorder.received[0].msg == "secret"
        assert recorder.received[1].data == payload
        labels = {"socket": "TCP", "websocket": "WebSocket"}
        assert [c.adapter for c in server.connections()] == [labels[adapter]]


@pytest.mark.parametrize("adapter", STREAMS)
def test_the_client_verifies_the_server_by_default(adapter, certificate):
    """``tls=True`` trusts the system's authorities only: a throwaway certificate fails."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    messages = factory()
    with (
        tls_server(messages, context, adapter) as server,
        pygnetic.Client(message_factory=messages, adapter=adapter) as client,
    ):
        connection, recorder = connect(client, server, tls=True)
        assert pump(server, client, until=lambda: recorder.disconnects == 1)
        assert connection.close_code == CloseCode.TRANSPORT_ERROR
        assert "certificate verify failed" in connection.close_reason
        assert recorder.connects == 0


@pytest.mark.parametrize("adapter", STREAMS)
def test_a_certificate_for_another_name_is_refused(adapter, authority, files):
    cert, key, _ = files
    context = ssl.create_default_context()
    authority.configure_trust(context)
    messages = factory()
    with (
        tls_server(messages, (cert, key), adapter) as server,
        pygnetic.Client(message_factory=messages, adapter=adapter) as client,
    ):
        connection, recorder = connect(client, server, tls=context, server_hostname="other.test")
        assert pump(server, client, until=lambda: recorder.disconnects == 1)
        assert "certificate" in connection.close_reason


@pytest.mark.parametrize("adapter", STREAMS)
def test_a_plain_client_at_a_tls_port_fails_alone(adapter, files):
    cert, key, ca = files
    messages = factory()
    with tls_server(messages, (cert, key), ("socket", "websocket")) as server:
        with pygnetic.Client(message_factory=messages, adapter=adapter) as plain:
            connection, recorder = connect(plain, server)
            assert pump(server, plain, until=lambda: recorder.disconnects == 1)
            assert recorder.connects == 0
        with pygnetic.Client(message_factory=messages, adapter=adapter) as client:
            connection, recorder = connect(client, server, tls=ca)
            connection.net_chat_msg("Tom", "after the plain one")
            assert pump(server, client, until=lambda: recorder.received)


def test_a_client_tls_default_covers_every_connect(files):
    cert, key, ca = files
    messages = factory()
    with (
        tls_server(messages, (cert, key), "socket") as server,
        pygnetic.Client(message_factory=messages, adapter="socket", tls=ca) as client,
    ):
        connection, recorder = connect(client, server)
        connection.net_chat_msg("Tom", "hi")
        assert pump(server, client, until=lambda: recorder.received), connection.close_reason


@pytest.mark.parametrize("tls", [123, ("cert.pem",), ["cert.pem", "key.pem"]])
def test_a_server_tls_option_of_the_wrong_kind_says_what_it_takes(tls):
    with pytest.raises(TypeError, match=r"SSLContext or a \(certfile, keyfile\) pair"):
        pygnetic.Server("127.0.0.1", 0, adapter="socket", tls=tls)


def test_a_client_tls_option_of_the_wrong_kind_says_what_it_takes():
    with pygnetic.Client(adapter="socket") as client, pytest.raises(TypeError, match="CA file"):
        client.connect("127.0.0.1", 9, tls=1.5)


def test_missing_certificate_files_fail_at_start(tmp_path):
    with pytest.raises(OSError):
        pygnetic.Server(
            "127.0.0.1", 0, adapter="socket", tls=(str(tmp_path / "a"), str(tmp_path / "b"))
        )
