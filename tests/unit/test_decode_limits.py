"""What one message may make the receiver build: depth and containers, whole or streamed."""

import time

import pytest

from pygnetic.adapters.serialization.json import JsonSerializer
from pygnetic.adapters.serialization.msgpack import MsgpackSerializer
from pygnetic.errors import MessageError, RemoteMessageTooLargeError

SERIALIZERS = [MsgpackSerializer, JsonSerializer]


def _nested(depth, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _stream_values(serializer, data, max_message_size=4 * 1024 * 1024, chunk=7):
    decoder = serializer.stream(max_message_size)
    out = []
    for start in range(0, len(data), chunk):
        decoder.feed(data[start : start + chunk], out)
    return out


@pytest.mark.parametrize("make", SERIALIZERS)
def test_a_message_nested_max_depth_levels_decodes(make):
    serializer = make()
    message = [0, _nested(32), {"deep": _nested(31)}]  # the innermost at level 32
    data = serializer.pack(message)
    assert serializer.unpack(data) == message
    assert _stream_values(serializer, data) == [message]


@pytest.mark.parametrize("make", SERIALIZERS)
def test_one_level_deeper_is_refused_whole_and_streamed(make):
    serializer = make()
    data = serializer.pack([0, _nested(33)])
    with pytest.raises(MessageError, match=r"nested more than 32 levels deep \(max_depth\)"):
        serializer.unpack(data)
    with pytest.raises(MessageError, match="max_depth"):
        _stream_values(serializer, data)


@pytest.mark.parametrize("make", SERIALIZERS)
def test_the_limits_are_the_serializers_own(make):
    serializer = make(max_depth=2, max_containers=4)
    assert serializer.unpack(serializer.pack([0, [[1]]])) == [0, [[1]]]
    with pytest.raises(MessageError, match="max_depth"):
        serializer.unpack(serializer.pack([0, [[[1]]]]))
    with pytest.raises(MessageError, match=r"more than 4 arrays and maps in one message"):
        serializer.unpack(serializer.pack([0, [], {}, [], []]))
    with pytest.raises(ValueError, match="max_depth"):
        make(max_depth=0)
    with pytest.raises(ValueError, match="max_containers"):
        make(max_containers=True)


@pytest.mark.parametrize("make", SERIALIZERS)
def test_millions_of_empty_arrays_are_refused_before_they_are_built(make):
    serializer = make()
    if make is MsgpackSerializer:
        data = b"\xdd" + (4_000_000).to_bytes(4, "big") + b"\x90" * 4_000_000
    else:
        data = b"[" + b"[]," * 1_400_000 + b"[]]"
    started = time.perf_counter()
    with pytest.raises(MessageError, match=r"more than 65536 arrays and maps in one message"):
        serializer.unpack(data)
    # Building 4 million lists takes over a second here; stopping at 65536 a few ms.
    assert time.perf_counter() - started < 0.5


def test_a_msgpack_array_that_never_ends_is_bounded_in_containers():
    decoder = MsgpackSerializer().stream(4 * 1024 * 1024)
    decoder.feed(b"\xdd" + (4_000_000).to_bytes(4, "big"), [])
    with pytest.raises(MessageError, match="max_containers"):
        for _ in range(100):
            decoder.feed(b"\x90" * 1000, [])


def test_a_msgpack_message_that_never_ends_is_bounded_in_bytes():
    # Few containers, many bytes: a string that never ends is buffered, an
    # array of integers is not, so only the count of bytes fed can see it.
    decoder = MsgpackSerializer().stream(10_000)
    decoder.feed(b"\xdc\x13\x88", [])  # an array of 5000 arrays of 5000 integers
    with pytest.raises(RemoteMessageTooLargeError, match="10000 byte limit"):
        for _ in range(100):
            decoder.feed(b"\xdc\x13\x88" + b"\x01" * 5000, [])


def test_the_container_count_starts_again_with_each_message():
    serializer = MsgpackSerializer(max_containers=4)
    message = [0, [], [], []]
    values = _stream_values(serializer, serializer.pack(message) * 100, chunk=1000)
    assert values == [message] * 100


@pytest.mark.parametrize("make", SERIALIZERS)
def test_decode_errors_stay_short_whatever_the_input(make):
    serializer = make()
    for data in (b"\x93\x00" + b"\xff" * 1_000_000, b'["' + b"\xff" * 1_000_000 + b'"]'):
        with pytest.raises(MessageError) as caught:
            serializer.unpack(data)
        assert len(str(caught.value)) <= 300


def test_a_stream_reports_the_first_fault_however_it_is_cut():
    # Nested 1,030 deep in 1,033 bytes: too large at byte 1,025, too deep for
    # msgpack only at byte 1,027. Whole or byte by byte, the size comes first.
    data = b"\x92\x01" + b"\x91" * 1030 + b"\xc0"
    for chunk in (len(data), 1, 100):
        with pytest.raises(RemoteMessageTooLargeError):
            _stream_values(MsgpackSerializer(), data, max_message_size=1024, chunk=chunk)
