"""One Server per thread: pygnetic's little process-wide state stays consistent."""

import gc
import sys
import threading

import pytest

import pygnetic
import pygnetic.event as event
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.message import MessageFactory

THREADS = 8


@pytest.fixture
def fast_switching():
    """Let threads switch every microsecond, so that races show."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _in_threads(target, count=THREADS):
    """Run ``target(index)`` in ``count`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors = []

    def run(index):
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_threads_enabling_events_at_once_agree_on_the_event_type(fast_switching):
    pygame = pytest.importorskip("pygame")
    pygame.init()
    try:
        for _ in range(300):  # the race is rare: a few rounds in a hundred without the lock
            event.disable()  # the next init() reserves a fresh type
            types = []
            _in_threads(lambda index, types=types: types.append(event.init()))
            assert set(types) == {event.NETWORK}
    finally:
        event.disable()
        pygame.quit()


def test_servers_in_threads_each_dispatch_to_their_own_handlers(fast_switching):
    """Same method names, different signatures, one per thread, while the GC runs."""

    def run(index):
        factory = MessageFactory("msgpack")
        factory.register("chat_msg", ("player", "msg"))
        calls = []
        if index % 2:

            class Handler(pygnetic.Handler):
                def net_chat_msg(self, message, channel):
                    calls.append(channel)

        else:

            class Handler(pygnetic.Handler):
                def net_chat_msg(self, message):
                    calls.append(message.msg)

        network = MemoryNetwork()
        server = pygnetic.Server(
            handler=Handler, message_factory=factory, adapter="memory", network=network
        )
        for _ in range(4):
            client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
            connection = client.connect("memory", server.address[1])
            connection.net_chat_msg("Tom", "hi", channel=index % 2)
            for _ in range(3):
                server.update()
                client.update()
            client.close()
            server.update()
            gc.collect()  # the handler classes of other threads may go meanwhile
        assert calls == ([1] * 4 if index % 2 else ["hi"] * 4)
        server.close()

    _in_threads(run)
