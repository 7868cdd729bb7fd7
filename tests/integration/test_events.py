"""Network events in the real pygame event queue (SDL_VIDEODRIVER=dummy)."""

import subprocess
import sys

import pytest

import pygnetic
import pygnetic.event as event
from pygnetic.errors import EventsError
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import pump

pygame = pytest.importorskip("pygame")
ADAPTERS = ["socket", "enet"]


@pytest.fixture
def pygame_events():
    pygame.init()
    network_type = event.init()
    pygame.event.clear()
    yield network_type
    event.disable()
    pygame.quit()


def _network_events(progress=None):
    """The NETWORK events; NET_CONNECTING ones go to ``progress`` when given, else are dropped."""
    found = [e for e in pygame.event.get() if e.type == event.NETWORK]
    if progress is not None:
        progress.extend(e for e in found if e.net_type == event.NET_CONNECTING)
    return [e for e in found if e.net_type != event.NET_CONNECTING]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_connect_receive_disconnect_events(pygame_events, adapter):
    if adapter == "enet":
        pytest.importorskip("enet")
    factory = MessageFactory("msgpack")
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    server = pygnetic.Server("127.0.0.1", 0, message_factory=factory, adapter=adapter)
    client = pygnetic.Client(message_factory=factory, adapter=adapter)
    assert server.events and client.events
    seen, progress = [], []
    try:
        connection = client.connect("127.0.0.1", server.address[1])
        connection.net_chat_msg("Tom", "Test message")
        assert pump(
            server, client, until=lambda: seen.extend(_network_events(progress)) or len(seen) >= 3
        )
        label = "ENet" if adapter == "enet" else "TCP"
        assert [(e.stage, e.adapter, e.connection) for e in progress] == [
            ("connecting", label, connection),
            ("handshake", label, connection),
        ]
        assert progress[0].status == f"connecting to 127.0.0.1:{server.address[1]} over {label}..."
        by_type = {e.net_type: e for e in seen}
        assert by_type[event.NET_ACCEPTED].connection in server.connections()
        assert by_type[event.NET_CONNECTED].connection is connection
        received = by_type[event.NET_RECEIVED]
        assert received.msg_type is chat_msg
        assert received.message == chat_msg("Tom", "Test message")
        assert received.message.player == "Tom"
        assert received.channel == 0
        connection.disconnect("leaving")
        seen.clear()
        assert pump(server, client, until=lambda: seen.extend(_network_events()) or len(seen) >= 2)
        assert {e.net_type for e in seen} == {event.NET_DISCONNECTED}
        server_side = next(e for e in seen if e.connection is not connection)
        assert server_side.code is CloseCode.NORMAL
        assert server_side.reason == "leaving"
    finally:
        client.close(linger_ms=50)
        server.close(linger_ms=50)


def test_event_val_selects_the_event_type(pygame_events):
    assert event.init(event_val=5) == pygame.USEREVENT + 5
    assert event.NETWORK == pygame.USEREVENT + 5


def test_custom_type_is_reserved_by_default(pygame_events):
    assert pygame_events == event.NETWORK
    assert pygame_events != pygame.USEREVENT
    assert event.init() == pygame_events  # a second init keeps the type


def test_events_need_pygame_initialised():
    pygame.quit()
    with pytest.raises(EventsError, match=r"pygame.init\(\)"):
        event.init()
    with pytest.raises(EventsError):
        pygnetic.init(events=True, logging_lvl=None)
    assert not event.enabled()


def test_queue_full_drops_with_an_error_log(pygame_events, caplog):
    for _ in range(70000):
        event.post(event.NET_CONNECTED, connection=None)
    assert any("event queue full" in r.getMessage() for r in caplog.records)
    pygame.event.clear()


def test_posting_after_pygame_quit_is_a_clear_error(pygame_events):
    pygame.quit()
    with pytest.raises(EventsError, match="shut down"):
        event.post(event.NET_CONNECTED, connection=None)


def test_a_server_without_events_never_imports_pygame():
    script = """
import sys
import pygnetic
pygnetic.init(logging_lvl=None)
chat_msg = pygnetic.register('chat_msg', ('player', 'msg'))
server = pygnetic.Server('127.0.0.1', 0, adapter='socket')
client = pygnetic.Client(adapter='socket')
connection = client.connect('127.0.0.1', server.address[1])
connection.net_chat_msg('Tom', 'hi')
for _ in range(50):
    server.update(1); client.update(1)
server.close(); client.close()
assert 'pygame' not in sys.modules, 'pygame was imported'
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
