"""MessageFactory: registration, lookup, packing, unpacking and their errors."""

import re

import pytest

import pygnetic
from pygnetic.errors import (
    MessageArgumentsError,
    MessageError,
    MessageTooLargeError,
    PackError,
    RegistryError,
    RemoteError,
)
from pygnetic.message import MessageFactory, brief

SERIALIZERS = ["msgpack", "json"]


@pytest.fixture(params=SERIALIZERS)
def factory(request):
    return MessageFactory(request.param)


def test_faq_chat_message_packs_to_19_bytes_with_msgpack():
    factory = MessageFactory("msgpack")
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    data = factory.pack(chat_msg("Tom", "Test message"))
    assert data == b"\x93\x00\xa3Tom\xacTest message"
    assert len(data) == 19


def test_faq_example_through_the_package_shortcuts(monkeypatch):
    fresh = MessageFactory("msgpack")
    monkeypatch.setattr(pygnetic.message, "message_factory", fresh)
    chat_msg = pygnetic.register("chat_msg", ("player", "msg"))
    assert len(pygnetic.message.message_factory.pack(chat_msg("Tom", "Test message"))) == 19


def test_type_ids_follow_registration_order(factory):
    first = factory.register("first")
    second = factory.register("second", ("a",))
    third = factory.register("third", "x, y")
    assert [factory.get_type_id(c) for c in (first, second, third)] == [0, 1, 2]
    assert factory.get_by_type(2) is third
    assert factory.get_by_name("second") is second
    assert factory.get_type_id("third") == 2
    assert third._fields == ("x", "y")
    assert factory.names() == ["first", "second", "third"]


def test_register_returns_a_namedtuple_class(factory):
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    message = chat_msg("Tom", "hi")
    assert isinstance(message, tuple)
    assert message.player == "Tom" and message.msg == "hi"
    assert message == ("Tom", "hi")
    assert repr(message) == "chat_msg(player='Tom', msg='hi')"
    assert chat_msg._make(["a", "b"]).msg == "b"


def test_get_params_returns_the_type_id_and_register_kwargs_as_1_0_did(factory):
    factory.register("chat_msg", ("player", "msg"))
    position = factory.register("position", ("x", "y"), channel=2, delivery="unreliable")
    assert factory.get_params(position) == (1, {"channel": 2, "delivery": "unreliable"})
    assert factory.get_params("position") == (1, {"channel": 2, "delivery": "unreliable"})
    assert factory.get_params("chat_msg") == (0, {})
    factory.get_params(position)[1]["channel"] = 5  # a copy: the registry is unchanged
    assert factory.get_params(position)[1]["channel"] == 2


def test_round_trip(factory):
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    message = chat_msg("Tom", "Test message")
    assert factory.unpack(factory.pack(message)) == message
    assert type(factory.unpack(factory.pack(message))) is chat_msg


def test_unpack_all_reassembles_a_stream(factory):
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    stream = b"".join(factory.pack(chat_msg("Tom", f"m{i}")) for i in range(5))

    class Context:
        pass

    context = Context()
    factory.reset_context(context)
    received = []
    for start in range(0, len(stream), 3):
        received += factory.unpack_all(stream[start : start + 3], context)
    assert received == [chat_msg("Tom", f"m{i}") for i in range(5)]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("not valid", ()),
        ("class", ()),
        ("_private", ()),
        ("", ()),
        ("ok", ("bad field",)),
        ("ok", ("x", "x")),
        ("ok", ("_x",)),
        ("ok", ("def",)),
        ("ok", (1,)),
    ],
)
def test_invalid_names_are_refused(factory, name, fields):
    with pytest.raises(RegistryError):
        factory.register(name, fields)


def test_duplicate_name_is_refused(factory):
    factory.register("chat_msg", ("a",))
    with pytest.raises(RegistryError, match="already registered"):
        factory.register("chat_msg", ("b",))


def test_registering_after_freeze_is_an_error(factory):
    factory.register("chat_msg", ("a",))
    factory.set_frozen()
    assert factory.frozen
    with pytest.raises(RegistryError, match="frozen"):
        factory.register("late")
    assert factory.names() == ["chat_msg"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"priority": 1}, TypeError),  # flags is 1.0's ENet option, accepted
        ({"channel": -1}, ValueError),
        ({"channel": "1"}, ValueError),
        ({"delivery": "sometimes"}, ValueError),
    ],
)
def test_invalid_send_options_are_refused(factory, options, error):
    with pytest.raises(error):
        factory.register("m", ("a",), **options)


def test_lookups_of_unknown_messages_raise_key_error(factory):
    other = MessageFactory().register("elsewhere")
    with pytest.raises(KeyError):
        factory.get_by_name("nope")
    with pytest.raises(KeyError):
        factory.get_by_type(99)
    with pytest.raises(KeyError):
        factory.get_type_id(other)


def test_packing_a_foreign_message_is_an_error(factory):
    foreign = MessageFactory().register("chat_msg", ("a",))
    factory.register("chat_msg", ("a",))
    with pytest.raises(MessageArgumentsError):
        factory.pack(foreign("x"))
    with pytest.raises(MessageArgumentsError):
        factory.pack(("x",))


def test_unserializable_field_names_the_message(factory):
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    with pytest.raises(PackError, match=r"chat_msg\(player, msg\)"):
        factory.pack(chat_msg("Tom", {1, 2}))


def test_oversized_message_is_refused_when_packing():
    factory = MessageFactory("msgpack", max_message_size=100)
    blob = factory.register("blob", ("data",))
    factory.pack(blob(b"x" * 90))
    with pytest.raises(MessageTooLargeError, match="blob"):
        factory.pack(blob(b"x" * 100))


def test_max_message_size_is_fixed_once_frozen(factory):
    factory.max_message_size = 1000
    factory.set_frozen()
    with pytest.raises(RegistryError):
        factory.max_message_size = 2000
    with pytest.raises(ValueError):
        MessageFactory(max_message_size=0)


def _garbage(factory):
    """Pairs of (bytes, expected reason fragment) that are not valid messages."""
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    pack = factory.serializer.pack
    return chat_msg, [
        (pack((7, "a", "b")), "unknown message type id 7"),
        (pack((0, "a")), "has 2 field(s) (player, msg), got 1"),
        (pack((0, "a", "b", "c")), "got 3"),
        (pack(()), "expected an array"),
        (pack("just a string"), "expected an array"),
        (pack({"a": 1}), "expected an array"),
        (pack(([0], "a", "b")), "message type id must be an int, got list [0]"),
        (pack((True, "a", "b")), "message type id must be an int, got bool True"),
        (pack((0.0, "a", "b")), "message type id must be an int, got float 0.0"),
        (b"", "undecodable"),
        (b"\xc1\xc1\xc1", "undecodable"),
        (pack((0, "a", "b")) + b"extra", "undecodable"),
    ]


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_unpacking_garbage_raises_message_error_with_reason(serializer):
    factory = MessageFactory(serializer)
    _, cases = _garbage(factory)
    for data, reason in cases:
        with pytest.raises(MessageError, match=re.escape(reason)):
            factory.unpack(data)


def _two_messages(serializer):
    factory = MessageFactory(serializer)
    chat_msg = factory.register("chat_msg", ("player", "msg"))  # type id 0
    move = factory.register("move", ("x", "y"))  # type id 1
    return factory, chat_msg, move


# Equal to the type ids 0 and 1 for a dict or a list index, but not ints.
NOT_INT_IDS = [False, True, 0.0, 1.0]


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("type_id", NOT_INT_IDS, ids=repr)
def test_a_bool_or_float_is_not_a_type_id(serializer, type_id):
    factory, _, _ = _two_messages(serializer)
    data = factory.serializer.pack((type_id, "a", "b"))
    reason = re.escape(f"message type id must be an int, got {type(type_id).__name__} {type_id!r}")
    with pytest.raises(MessageError, match=reason):
        factory.unpack(data)
    with pytest.raises(MessageError, match=reason):
        factory.from_raw([type_id, "a", "b"])

    class Context:
        pass

    context = Context()
    factory.reset_context(context)
    with pytest.raises(MessageError, match=reason):
        factory.unpack_all(data, context)
    with pytest.raises(KeyError):
        factory.get_by_type(type_id)


def test_int_type_ids_still_decode(factory):
    chat_msg = factory.register("chat_msg", ("player", "msg"))
    move = factory.register("move", ("x", "y"))
    pack = factory.serializer.pack
    assert factory.unpack(pack((0, False, 0.0))) == chat_msg(False, 0.0)
    assert factory.unpack(pack((1, True, 1.0))) == move(True, 1.0)


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "type_id",
    [
        _nested(100_000),
        list(range(1_000_000)),
        "x" * 1_000_000,
        b"\xff" * 1_000_000,
        {str(i): [i] * 10 for i in range(10_000)},
        10**20_000,
    ],
    ids=["deep", "long-list", "long-str", "long-bytes", "big-dict", "huge-int"],
)
def test_the_reason_for_a_hostile_type_id_stays_short(type_id):
    factory, _, _ = _two_messages("msgpack")
    reason = factory.describe_invalid([type_id, "a", "b"])
    assert reason.startswith(("message type id must be an int", "unknown message type id"))
    assert len(reason) <= 120, reason


def test_brief_shows_two_levels_of_scalars_and_names_other_types():
    assert brief({"a": [1, [2, [3]]], "b": None}) == "{'a': [1, [...]], 'b': None}"
    assert brief([True, 1.5, b"x", [], {}, ()]) == "[True, 1.5, b'x', [], ...]"
    assert brief(object()) == "<object>"
    assert brief(-(2**64)) == "-18446744073709551616"
    assert brief(2**200) == "<int of 201 bits>"
    assert brief("x" * 100, limit=10) == "'xxxxxx..."  # 10 characters


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_a_deeply_nested_type_id_off_the_wire_is_a_message_error(serializer):
    factory, _, _ = _two_messages(serializer)
    data = factory.serializer.pack((_nested(900), "a", "b"))  # as deep as both encode
    with pytest.raises(MessageError, match=r"nested more than 32 levels deep \(max_depth\)$"):
        factory.unpack(data)


def test_message_error_is_a_remote_error_and_a_value_error():
    assert issubclass(MessageError, RemoteError)
    assert issubclass(MessageError, ValueError)


def test_unpacking_an_oversized_message_is_refused():
    factory = MessageFactory("msgpack", max_message_size=64)
    blob = factory.register("blob", ("data",))
    big = MessageFactory("msgpack")
    big.register("blob", ("data",))
    data = big.pack(big.get_by_name("blob")(b"x" * 100))
    with pytest.raises(MessageError, match="limit"):
        factory.unpack(data)

    class Context:
        pass

    context = Context()
    factory.reset_context(context)
    assert factory.unpack_all(factory.pack(blob(b"ok")), context) == [blob(b"ok")]
    with pytest.raises(MessageError, match="limit"):
        factory.unpack_all(data, context)


def test_default_factory_serializer_follows_init():
    fresh = MessageFactory()
    fresh.use_default_serializer(pygnetic.adapters.serialization.load("json"))
    assert fresh.serializer.name == "json"
    fixed = MessageFactory("msgpack")
    fixed.use_default_serializer(pygnetic.adapters.serialization.load("json"))
    assert fixed.serializer.name == "msgpack"
