"""One host per thread: packing and the memory network share nothing between threads."""

import threading

import pytest

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.adapters.serialization import load
from pygnetic.message import MessageFactory
from pygnetic.testing import Recorder


class Detector:
    """A serializer whose packers notice being used by two threads at once.

    Packing a message whose last field is ``"meet"`` waits until the other
    thread packs one too, so both are inside a pack at the same moment.
    """

    name = "detector"

    def __init__(self, with_packer=True):
        self._msgpack = load("msgpack")
        self.meet = threading.Barrier(2, timeout=5)
        self.pack = self._new_packer()  # shared by whoever calls serializer.pack
        if with_packer:
            self.packer = self._new_packer

    def _new_packer(self):
        busy = []

        def pack(obj):
            if busy:
                self.meet.abort()
                raise AssertionError("one packer used by two threads at once")
            busy.append(True)
            try:
                if obj[-1] == "meet":
                    self.meet.wait()
                return self._msgpack.pack(obj)
            finally:
                busy.pop()

        return pack

    def unpack(self, data):
        return self._msgpack.unpack(data)

    def stream(self, max_message_size):
        return self._msgpack.stream(max_message_size)


def _factory(serializer):
    factory = MessageFactory(serializer)
    factory.register("chat_msg", ("player", "msg"))
    return factory


def _in_two_threads(work):
    """Run ``work(number)`` in two threads at once; return their results, or raise."""
    results, errors = [None, None], []

    def run(number):
        try:
            results[number] = work(number)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    if errors:
        raise errors[0]
    return results


def test_each_thread_packs_with_its_own_packer():
    factory = _factory(Detector())
    chat_msg = factory.get_by_name("chat_msg")
    data = _in_two_threads(lambda number: factory.pack(chat_msg(f"player {number}", "meet")))
    assert [factory.unpack(each) for each in data] == [
        chat_msg("player 0", "meet"),
        chat_msg("player 1", "meet"),
    ]


def test_hosts_in_two_threads_share_a_factory_but_no_packer():
    factory = _factory(Detector())
    chat_msg = factory.get_by_name("chat_msg")

    def host_pair(number):
        network = MemoryNetwork(stream=number == 1)
        server = pygnetic.Server(
            handler=Recorder, message_factory=factory, adapter="memory", network=network
        )
        client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
        connection = client.connect("memory", server.address[1])
        for _ in range(3):
            server.update()
            client.update()
        assert connection.connected
        assert connection.net_chat_msg(f"player {number}", "meet")
        for _ in range(3):
            server.update()
            client.update()
        return server.handlers()[0].received

    assert _in_two_threads(host_pair) == [
        [chat_msg("player 0", "meet")],
        [chat_msg("player 1", "meet")],
    ]


def test_a_serializer_without_packer_is_used_through_pack():
    serializer = Detector(with_packer=False)
    factory = _factory(serializer)
    chat_msg = factory.get_by_name("chat_msg")
    assert factory.packer() is serializer.pack
    network = MemoryNetwork()
    server = pygnetic.Server(
        handler=Recorder, message_factory=factory, adapter="memory", network=network
    )
    client = pygnetic.Client(message_factory=factory, adapter="memory", network=network)
    connection = client.connect("memory", server.address[1])
    connection.net_chat_msg("Tom", "hi")
    for _ in range(3):
        server.update()
        client.update()
    assert server.handlers()[0].received == [chat_msg("Tom", "hi")]
    assert factory.unpack(factory.pack(chat_msg("Tom", "again"))) == chat_msg("Tom", "again")


def test_msgpack_hands_out_a_new_packer_each_time():
    serializer = load("msgpack")
    first, second = serializer.packer(), serializer.packer()
    assert first.__self__ is not second.__self__
    message = (0, "Tom", "Test message")
    assert first(message) == second(message) == serializer.pack(message)
    assert len(serializer.pack(message)) == 19


def test_msgpack_pack_uses_one_packer_per_thread():
    serializer = load("msgpack")
    serializer.pack((0,))  # this thread's
    results = _in_two_threads(lambda number: (serializer.pack((number,)), serializer._local.pack))
    assert [data for data, _ in results] == [b"\x91\x00", b"\x91\x01"]
    packers = [serializer._local.pack, *(pack for _, pack in results)]  # all still alive
    assert len({id(pack.__self__) for pack in packers}) == 3


def test_json_packer_is_its_stateless_pack():
    serializer = load("json")
    assert serializer.packer()((0, "Tom")) == serializer.pack((0, "Tom")) == b'[0,"Tom"]\n'


def test_a_new_default_serializer_drops_the_packers_of_the_old_one():
    factory = MessageFactory()
    factory.use_default_serializer(load("msgpack"))
    factory.packer()
    factory.use_default_serializer(load("json"))
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    assert factory.pack(chat_msg("Tom", "hi")) == b'[0,"Tom","hi"]\n'


@pytest.mark.parametrize("role", ["server", "client"])
def test_memory_transports_need_a_network(role):
    with pytest.raises(TypeError, match=r"network=MemoryNetwork\(\)"):
        if role == "server":
            pygnetic.Server(adapter="memory")
        else:
            pygnetic.Client(adapter="memory")
