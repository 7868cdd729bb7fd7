"""A private room over real ENet and TCP: the right password gets in, a wrong one reads why."""

import hmac
import importlib.util
import logging

import pytest

import pygnetic
from pygnetic.handshake import Hello
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import ManualClock, Recorder, pump

HAVE_ENET = importlib.util.find_spec("enet") is not None
ENET = [pytest.mark.enet, pytest.mark.skipif(not HAVE_ENET, reason="no pyenet")]
ADAPTERS = [pytest.param("enet", marks=ENET), "socket"]
PASSWORD = "swordfish-4711"


def room(credentials, address):
    """The room's check: a dict with the password and a player name; the name is the identity."""
    if not isinstance(credentials, dict) or not isinstance(credentials.get("password"), str):
        raise pygnetic.Refused("this room needs a password")
    if not hmac.compare_digest(credentials["password"].encode(), PASSWORD.encode()):
        raise pygnetic.Refused("wrong password")
    return str(credentials.get("name", "?"))[:20]


def _factory():
    factory = MessageFactory("msgpack")
    factory.register("chat", ("text",))
    return factory


def _server(adapter, **options):
    return pygnetic.Server(
        "127.0.0.1", 0, handler=Recorder, message_factory=_factory(), adapter=adapter, **options
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_private_room_lets_in_the_right_password_only(adapter, caplog):
    caplog.set_level(logging.DEBUG)
    with _server(adapter, authenticate=room) as server:
        factory = server.message_factory
        with pygnetic.Client(message_factory=factory, adapter=adapter, conn_limit=2) as client:
            good = client.connect(
                "127.0.0.1", server.address[1], credentials={"password": PASSWORD, "name": "Tom"}
            )
            bad = client.connect(
                "127.0.0.1", server.address[1], credentials={"password": "guess-123", "name": "X"}
            )
            refused = Recorder()
            bad.add_handler(refused)
            assert pump(server, client, until=lambda: good.connected and refused.disconnects)
            assert bad.close_code is CloseCode.REFUSED
            assert bad.close_reason == "wrong password"
            assert [c.identity for c in server.connections()] == ["Tom"]
            assert server.handlers()[0].connection.identity == "Tom"
            assert good.identity is None  # the identity is the server's
    text = caplog.text
    assert "wrong password" in text  # the refusal is logged, with its reason
    assert PASSWORD not in text and "guess-123" not in text  # the credentials never are


def test_no_credentials_reads_why():
    server = _server("socket", authenticate=room)
    client = pygnetic.Client(message_factory=server.message_factory, adapter="socket")
    with server, client:
        connection = client.connect("127.0.0.1", server.address[1])
        assert pump(server, client, until=lambda: connection.close_code is not None)
        assert connection.close_reason == "this room needs a password"


def test_returning_none_refuses_and_a_raising_check_is_the_servers_fault(caplog):
    answers = iter([None, False, ZeroDivisionError("bug")])

    def check(credentials, address):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with _server("socket", authenticate=check) as server:
        factory = server.message_factory
        with pygnetic.Client(message_factory=factory, adapter="socket", conn_limit=3) as client:
            connections = [
                client.connect("127.0.0.1", server.address[1], credentials="pw") for _ in range(3)
            ]
            done = lambda: all(c.close_code is not None for c in connections)  # noqa: E731
            assert pump(server, client, until=done)
    reasons = sorted(c.close_reason for c in connections)
    assert reasons == [
        "authentication failed",
        "authentication failed",
        "the server could not check the credentials",
    ]
    assert "authenticate raised" in caplog.text and "ZeroDivisionError" in caplog.text
    assert server.connections() == []


def test_guessing_is_slowed_down_per_address():
    clock = ManualClock()
    with _server("socket", authenticate=room, max_auth_failures=3, clock=clock) as server:
        factory = server.message_factory
        with pygnetic.Client(message_factory=factory, adapter="socket", conn_limit=5) as client:

            def attempt(password):
                credentials = {"password": password, "name": "Eve"}
                port = server.address[1]
                connection = client.connect("127.0.0.1", port, credentials=credentials)
                assert pump(
                    server,
                    client,
                    until=lambda: connection.connected or connection.close_code is not None,
                )
                return connection

            for guess in ("a", "b", "c"):
                assert attempt(guess).close_reason == "wrong password"
            blocked = attempt(PASSWORD)  # even the right one waits now
            assert blocked.close_code is CloseCode.REFUSED
            assert "too many refused attempts from your address" in blocked.close_reason
            clock.now += 61  # a minute later the address may try again
            assert attempt(PASSWORD).connected


def test_credentials_are_checked_when_connecting():
    with pygnetic.Client(adapter="socket") as client:
        with pytest.raises(ValueError, match="credentials cannot be sent"):
            client.connect("127.0.0.1", 1, credentials={1, 2})
        with pytest.raises(ValueError, match="exceeds"):
            client.connect("127.0.0.1", 1, credentials="x" * 10000)


def test_a_hello_never_shows_its_credentials():
    hello = Hello(b"r" * 16, "msgpack", 1, {"password": PASSWORD}, b"t" * 32)
    assert PASSWORD not in repr(hello) and "ttt" not in repr(hello)
    assert "<hidden>" in repr(hello)
