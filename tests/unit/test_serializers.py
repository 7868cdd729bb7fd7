"""Serializers: every representable message round-trips, whole and as a stream."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pygnetic.adapters.serialization import Serializer, load
from pygnetic.errors import MessageError, RemoteMessageTooLargeError
from pygnetic.message import MessageFactory

# Values both msgpack and JSON represent exactly. Sequences are lists because
# both serializers hand sequences back as lists; dict keys are strings for JSON.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
_msgpack_values = st.recursive(
    _scalars | st.binary(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=8) | st.binary(max_size=8) | st.integers(-(2**63), 2**64 - 1),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def _factory(name):
    factory = MessageFactory(name)
    factory.register("empty")
    factory.register("pair", ("left", "right"))
    factory.register("triple", ("a", "b", "c"))
    return factory


def _messages(values):
    return st.one_of(
        st.just(()),
        st.tuples(values, values),
        st.tuples(values, values, values),
    )


def _build(factory, fields):
    name = {0: "empty", 2: "pair", 3: "triple"}[len(fields)]
    return factory.get_by_name(name)(*fields)


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_serializer_implements_the_interface(name):
    serializer = load(name)
    assert isinstance(serializer, Serializer)
    assert serializer.name == name


def test_unknown_serializer_is_a_clear_error():
    with pytest.raises(ValueError, match="msgpack, json"):
        load("pickle")


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(fields=_messages(_msgpack_values))
def test_msgpack_round_trip_whole_and_streamed(fields):
    _check_round_trip(_factory("msgpack"), fields)


@SETTINGS
@given(fields=_messages(_values))
def test_json_round_trip_whole_and_streamed(fields):
    _check_round_trip(_factory("json"), fields)


def _check_round_trip(factory, fields):
    message = _build(factory, fields)
    data = factory.pack(message)
    assert factory.unpack(data) == message
    # Split the stream at every boundary; a second message checks the seam.
    stream = data + data
    for cut in range(len(stream) + 1):
        decoder = factory.new_stream()
        raws = []
        decoder.feed(stream[:cut], raws)
        decoder.feed(stream[cut:], raws)
        assert [factory.from_raw(raw) for raw in raws] == [message, message]


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_stream_fed_byte_by_byte(name):
    factory = _factory(name)
    pair = factory.get_by_name("pair")
    messages = [pair(i, "x" * i) for i in range(50)]
    stream = b"".join(map(factory.pack, messages))
    decoder = factory.new_stream()
    raws = []
    for byte in stream:
        decoder.feed(bytes([byte]), raws)
    assert [factory.from_raw(raw) for raw in raws] == messages


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_stream_refuses_oversized_message_and_keeps_earlier_ones(name):
    factory = MessageFactory(name, max_message_size=200)
    pair = factory.register("pair", ("left", "right"))
    small = factory.pack(pair(1, "ok"))
    big = MessageFactory(name)
    big.register("pair", ("left", "right"))
    oversized = big.pack(big.get_by_name("pair")(2, "x" * 500))
    decoder = factory.new_stream()
    raws = []
    with pytest.raises(RemoteMessageTooLargeError):
        decoder.feed(small + oversized, raws)
    assert [factory.from_raw(raw) for raw in raws] == [pair(1, "ok")]


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_stream_refuses_an_endless_message_without_buffering_it(name):
    factory = MessageFactory(name, max_message_size=1024)
    decoder = factory.new_stream()
    head = b"\xdb\x00\x01\x00\x00" if name == "msgpack" else b'[0,"'
    with pytest.raises(RemoteMessageTooLargeError):
        decoder.feed(head, [])
        for _ in range(100):
            decoder.feed(b"a" * 100, [])


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",
        b"\xdd\xff\xff\xff\xff",
        b"\x91" * 10000 + b"\x00",
        b"\x81\xd6\xff\x00\x00\x00\x01\x02",
        b"\x81\x91\x01\x02",
    ],
    ids=["reserved-byte", "huge-array-header", "deep-nesting", "timestamp-key", "array-key"],
)
def test_hostile_msgpack_is_a_message_error(data):
    serializer = load("msgpack")
    with pytest.raises(MessageError):
        serializer.unpack(data)
    decoder = serializer.stream(1024 * 1024)
    with pytest.raises(MessageError):
        decoder.feed(data, [])


@pytest.mark.parametrize(
    "data",
    [b"[" * 100000 + b"]" * 100000, b"\xff\xfe", b"[1,2", b"nope"],
    ids=["deep-nesting", "bad-utf8", "truncated", "not-json"],
)
def test_hostile_json_is_a_message_error(data):
    serializer = load("json")
    with pytest.raises(MessageError):
        serializer.unpack(data)
    decoder = serializer.stream(1024 * 1024)
    with pytest.raises(MessageError):
        decoder.feed(data + b"\n", [])


def test_json_cannot_pack_bytes():
    factory = _factory("json")
    with pytest.raises(TypeError, match="pair"):
        factory.pack(factory.get_by_name("pair")(b"x", 1))


def test_msgpack_keeps_scalar_dict_keys():
    factory = _factory("msgpack")
    pair = factory.get_by_name("pair")
    scores = {1: "tom", -2: "ann", 2.5: "half", False: "no", None: "nobody", b"k": "bytes"}
    message = pair(scores, {"nested": {7: [1, 2]}})
    assert factory.unpack(factory.pack(message)) == message
    decoder = factory.new_stream()
    raws = []
    decoder.feed(factory.pack(message), raws)
    assert factory.from_raw(raws[0]) == message
