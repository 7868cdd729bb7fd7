"""Wire types: pygame's Vector2, Vector3, Rect, FRect and Color, and a game's own, as fields.

Every value round-trips, with pygame imported and without (as stand-ins), over
msgpack and json, whole and as a stream cut anywhere; a stand-in packs to the
bytes its pygame twin packs to; and a peer's malformed values are refused.
"""

import contextlib
import json
import math
import struct
import subprocess
import sys
from dataclasses import dataclass

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pygnetic
from pygnetic.adapters.network.memory import MemoryNetwork
from pygnetic.adapters.serialization.json import JsonSerializer
from pygnetic.adapters.serialization.msgpack import MsgpackSerializer
from pygnetic.errors import MessageError, PackError, RegistryError
from pygnetic.message import MessageFactory
from pygnetic.protocol import CloseCode
from pygnetic.testing import Recorder
from pygnetic.wire_types import Color, FRect, Rect, Vector2, Vector3, WireTypes

pygame = pytest.importorskip("pygame")  # imported here, so tests choose when it is "absent"

SERIALIZERS = ["msgpack", "json"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STANDINS = {"Vector2": Vector2, "Vector3": Vector3, "Rect": Rect, "FRect": FRect, "Color": Color}


@contextlib.contextmanager
def pygame_absent():
    """As in a program that never imported pygame: received values become stand-ins."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "pygame", None)
        yield


@pytest.fixture
def no_pygame():
    with pygame_absent():
        yield


def _factory(serializer="msgpack", **options):
    factory = MessageFactory(serializer, **options)
    factory.register("move", ("who", "where"))
    return factory


# -- values ---------------------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True)
INT32 = st.integers(-(2**31), 2**31 - 1)
BYTE = st.integers(0, 255)
COMPONENTS = {
    "Vector2": st.tuples(FLOATS, FLOATS),
    "Vector3": st.tuples(FLOATS, FLOATS, FLOATS),
    "Rect": st.tuples(INT32, INT32, INT32, INT32),
    "FRect": st.tuples(FLOATS, FLOATS, FLOATS, FLOATS),
    "Color": st.tuples(BYTE, BYTE, BYTE, BYTE),
}


def _pygame_value(name, components):
    """pygame's value of ``components``; pygame has no FRect, so the stand-in then."""
    cls = getattr(pygame, name, None) or STANDINS[name]
    return cls(*components)


@st.composite
def wire_values(draw, pygame_made):
    name = draw(st.sampled_from(sorted(COMPONENTS)))
    components = draw(COMPONENTS[name])
    if pygame_made and draw(st.booleans()):
        return _pygame_value(name, components)
    return STANDINS[name](*components)


def nested(values):
    return st.recursive(
        values | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=4), children, max_size=4)
        ),
        max_leaves=8,
    )


def _shape(value, serializer):
    """What a received value must match: types by name, floats by their bits.

    JSON's NaN has no sign or payload, so there any NaN matches any other.
    """
    if isinstance(value, (list, tuple)):
        return ["list", [_shape(item, serializer) for item in value]]
    if isinstance(value, dict):
        return ["dict", {key: _shape(item, serializer) for key, item in value.items()}]
    if type(value).__name__ in STANDINS:
        bits = [_bits(c, serializer) if isinstance(c, float) else c for c in value]
        return [type(value).__name__, bits]
    return value


def _bits(number, serializer):
    return "nan" if serializer == "json" and math.isnan(number) else struct.pack(">d", number)


def _classes(value):
    """Every wire value's class in ``value``."""
    if isinstance(value, (list, tuple)):
        return {cls for item in value for cls in _classes(item)}
    if isinstance(value, dict):
        return {cls for item in value.values() for cls in _classes(item)}
    return {type(value)} if type(value).__name__ in STANDINS else set()


def _streamed(factory, data, cuts):
    context = type("Context", (), {})()
    factory.reset_context(context)
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    received = []
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        received += factory.unpack_all(data[start:end], context)
    return received


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("serializer", SERIALIZERS)
@SETTINGS
@given(where=nested(wire_values(pygame_made=True)), cuts=st.lists(st.integers(0, 10**6)))
def test_every_value_arrives_as_pygames_own_type_when_pygame_is_imported(serializer, where, cuts):
    factory = _factory(serializer)
    move = factory.get_by_name("move")
    data = factory.pack(move("Tom", where))
    for received in (factory.unpack(data), *_streamed(factory, data * 2, cuts)):
        assert _shape(received.where, serializer) == _shape(where, serializer)
        for cls in _classes(received.where):
            assert cls is (getattr(pygame, cls.__name__, None) or FRect)
        assert factory.pack(received) == data


@pytest.mark.parametrize("serializer", SERIALIZERS)
@SETTINGS
@given(where=nested(wire_values(pygame_made=True)), cuts=st.lists(st.integers(0, 10**6)))
def test_without_pygame_values_arrive_as_stand_ins_that_pack_to_the_same_bytes(
    serializer, where, cuts
):
    factory = _factory(serializer)
    move = factory.get_by_name("move")
    data = factory.pack(move("Tom", where))  # the sender has pygame
    with pygame_absent():
        for received in (factory.unpack(data), *_streamed(factory, data * 2, cuts)):
            assert _shape(received.where, serializer) == _shape(where, serializer)
            assert _classes(received.where) <= set(STANDINS.values())
            assert factory.pack(received) == data  # a server relays it unchanged


@pytest.mark.parametrize("serializer", SERIALIZERS)
@SETTINGS
@given(name=st.sampled_from(sorted(COMPONENTS)), data=st.data())
def test_a_stand_in_packs_to_exactly_the_bytes_of_its_pygame_twin(serializer, name, data):
    components = data.draw(COMPONENTS[name])
    factory = _factory(serializer)
    move = factory.get_by_name("move")
    standin = STANDINS[name](*components)
    twin = _pygame_value(name, components)
    assert factory.pack(move("a", standin)) == factory.pack(move("a", twin))
    assert factory.pack(move("a", [{"k": standin}])) == factory.pack(move("a", [{"k": twin}]))


def test_a_vector2_is_compact_in_msgpack():
    factory = _factory()
    assert len(factory.serializer.pack(Vector2(1.5, -2.25))) == 18  # fixext 16: two float64
    assert len(factory.serializer.pack(pygame.Vector2(1.5, -2.25))) == 18
    assert len(factory.serializer.pack(Color(1, 2, 3))) == 6
    assert len(factory.serializer.pack(Rect(1, 2, 3, 4))) == 18


def test_the_documented_encodings():
    msgpack_packed = _factory().serializer.pack
    assert msgpack_packed(Vector2(1.0, 2.0)) == b"\xd8\x40" + struct.pack(">dd", 1.0, 2.0)
    assert msgpack_packed(Vector3(1, 2, 3)) == b"\xc7\x18\x41" + struct.pack(">ddd", 1, 2, 3)
    assert msgpack_packed(Rect(-1, 2, 3, 4)) == b"\xd8\x42" + struct.pack(">iiii", -1, 2, 3, 4)
    assert msgpack_packed(FRect(1, 2, 3, 4)) == b"\xc7\x20\x43" + struct.pack(">dddd", 1, 2, 3, 4)
    assert msgpack_packed(Color(1, 2, 3)) == b"\xd6\x44\x01\x02\x03\xff"
    json_packed = _factory("json").serializer.pack
    assert json_packed([Vector2(1, 2)]) == b'[{"$pygnetic":"Vector2","v":[1.0,2.0]}]\n'
    assert json_packed([Color(1, 2, 3)]) == b'[{"$pygnetic":"Color","v":[1,2,3,255]}]\n'
    assert json_packed([Rect(1, 2, 3, 4)]) == b'[{"$pygnetic":"Rect","v":[1,2,3,4]}]\n'


def test_values_that_do_not_fit_their_type_are_the_senders_error():
    factory = _factory()
    move = factory.get_by_name("move")
    with pytest.raises(ValueError, match=r"outside 0\.\.255"):
        Color(256, 0, 0)
    with pytest.raises(OverflowError):
        Rect(2**31, 0, 0, 0)
    mutated = Rect(0, 0, 0, 0)
    mutated.x = 2**40  # stand-ins do not check assignments; packing does
    with pytest.raises(PackError, match="move"):
        factory.pack(move("a", mutated))
    vector = Vector2()
    vector.y = "up"
    with pytest.raises(PackError):
        factory.pack(move("a", vector))


def test_a_subclass_travels_as_its_wire_type(no_pygame):
    class Position(Vector2):
        __slots__ = ()

    factory = _factory()
    received = factory.unpack(factory.pack(factory.get_by_name("move")("a", Position(1, 2))))
    assert type(received.where) is Vector2 and received.where == (1.0, 2.0)


def test_pygame_appearing_later_is_noticed(monkeypatch):
    factory = _factory()
    data = factory.serializer.pack([Vector2(1, 2)])
    monkeypatch.setitem(sys.modules, "pygame", None)
    assert type(factory.serializer.unpack(data)[0]) is Vector2
    monkeypatch.setitem(sys.modules, "pygame", pygame)
    assert type(factory.serializer.unpack(data)[0]) is pygame.Vector2


def test_importing_pygnetic_and_using_wire_types_never_imports_pygame():
    script = """
import sys
from pygnetic.message import MessageFactory
from pygnetic.wire_types import Vector2, Color
for name in ('msgpack', 'json'):
    factory = MessageFactory(name)
    move = factory.register('move', ('where',))
    message = factory.unpack(factory.pack(move([Vector2(1, 2), Color(1, 2, 3)])))
    assert type(message.where[0]) is Vector2, message
assert 'pygame' not in sys.modules, 'pygame was imported'
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


# -- stand-ins ------------------------------------------------------------------------


def test_stand_ins_read_like_pygames_types():
    vector = Vector2(3, 4)
    assert (vector.x, vector.y, vector[1], len(vector), list(vector)) == (3.0, 4.0, 4.0, 2, [3, 4])
    assert vector == (3, 4) and vector == [3, 4] and vector != (4, 3)
    assert vector == pygame.Vector2(3, 4) and pygame.Vector2(3, 4) == vector
    assert repr(vector) == "Vector2(3.0, 4.0)"
    assert Vector2((3, 4)) == vector and Vector2(2) == (2, 2) and Vector2() == (0, 0)
    assert Vector3(1, 2, 3).z == 3.0 and Vector3((1, 2, 3)) == Vector3(1, 2, 3)
    rect = Rect(10, 20, 30, 41)
    assert (rect.left, rect.top, rect.width, rect.height) == (10, 20, 30, 41)
    assert (rect.right, rect.bottom, rect.center, rect.size) == (40, 61, (25, 40), (30, 41))
    assert rect.center == pygame.Rect(10, 20, 30, 41).center
    assert Rect((10, 20), (30, 41)) == rect == pygame.Rect(10, 20, 30, 41)
    rect.width = 2
    assert rect.w == 2 and rect.right == 12
    assert FRect(0, 0, 1, 1).center == (0.5, 0.5)
    color = Color(1, 2, 3)
    assert (color.r, color.g, color.b, color.a) == (1, 2, 3, 255)
    assert color == pygame.Color(1, 2, 3) and Color((1, 2, 3, 4)).a == 4
    for value in (vector, rect, color):
        assert not hasattr(value, "__dict__")
        with pytest.raises(TypeError):
            hash(value)
    assert Vector2(1, 2) != Vector3(1, 2, 0) and Rect(1, 2, 3, 4) != FRect(1, 2, 3, 4)


def test_pygame_accepts_a_stand_in_where_it_takes_a_sequence():
    assert pygame.Vector2(Vector2(1, 2)) == (1, 2)
    assert pygame.Rect(Rect(1, 2, 3, 4)) == (1, 2, 3, 4)
    assert pygame.Color(*Color(1, 2, 3, 4)) == (1, 2, 3, 4)


# -- a peer's malformed values ----------------------------------------------------------

BUILTIN_SIZES = {64: 16, 65: 24, 66: 16, 67: 32, 68: 4}


def _refused(factory, data, match=None):
    """``data`` is refused whole and as a stream, with a MessageError (matching ``match``)."""
    with pytest.raises(MessageError, match=match):
        factory.unpack(data)
    for chunk in (len(data), 7, 1):
        context = type("Context", (), {})()
        factory.reset_context(context)
        with pytest.raises(MessageError, match=match):
            for start in range(0, len(data), chunk):
                factory.unpack_all(data[start : start + chunk], context)


def _with_ext(code, payload):
    """``move('a', <extension>)``, written out (msgpack.ExtType refuses negative codes)."""
    return b"\x93\x00\xa1a\xc7" + bytes([len(payload)]) + struct.pack(">b", code) + payload


@pytest.mark.parametrize("code", sorted(BUILTIN_SIZES))
def test_a_pygame_extension_of_the_wrong_length_is_refused(code):
    factory = _factory()
    size = BUILTIN_SIZES[code]
    for wrong in (0, 1, size - 1, size + 1, 2 * size):
        _refused(factory, _with_ext(code, bytes(wrong)), match="expected")
    assert factory.unpack(_with_ext(code, bytes(size))).where is not None


@pytest.mark.parametrize("code", [0, 1, 63, 69, 127, -2, -128])
def test_an_extension_of_an_unknown_code_is_refused(code):
    _refused(_factory(), _with_ext(code, b"\x00" * 4), match=f"unknown type code {code}")


def test_extensions_arrive_as_before_when_pygame_types_are_off():
    factory = _factory(pygame_types=False)
    assert factory.unpack(_with_ext(64, b"ab")).where == msgpack.ExtType(64, b"ab")
    with pytest.raises(PackError, match="Vector2"):
        factory.pack(factory.get_by_name("move")("a", Vector2()))


@SETTINGS
@given(code=st.integers(-128, 127), payload=st.binary(max_size=40), cut=st.integers(0, 60))
def test_any_extension_is_a_value_or_a_message_error(code, payload, cut):
    factory = _factory()
    data = _with_ext(code, payload)
    try:
        value = factory.unpack(data).where
    except MessageError:
        return
    assert type(value).__name__ in STANDINS or isinstance(value, msgpack.Timestamp)
    context = type("Context", (), {})()
    factory.reset_context(context)
    streamed = factory.unpack_all(data[:cut], context) + factory.unpack_all(data[cut:], context)
    assert _shape(streamed[0].where, "msgpack") == _shape(value, "msgpack")


TAG = "$pygnetic"


@pytest.mark.parametrize(
    "tagged",
    [
        {TAG: "Vector2"},
        {TAG: "Vector2", "v": [1.0, 2.0], "w": 1},
        {TAG: "Vector2", "x": [1.0, 2.0]},
        {TAG: "Vector4", "v": [1.0, 2.0]},
        {TAG: 5, "v": [1.0, 2.0]},
        {TAG: ["Vector2"], "v": [1.0, 2.0]},
        {TAG: "Vector2", "v": [1.0]},
        {TAG: "Vector2", "v": [1.0, 2.0, 3.0]},
        {TAG: "Vector2", "v": {"x": 1.0}},
        {TAG: "Vector2", "v": "1,2"},
        {TAG: "Vector2", "v": [True, 2.0]},
        {TAG: "Vector2", "v": ["1", 2.0]},
        {TAG: "Vector2", "v": [10**400, 2.0]},
        {TAG: "Vector2", "v": [[1.0], 2.0]},
        {TAG: "Vector2", "v": [{TAG: "Vector2", "v": [1, 2]}, 2.0]},
        {TAG: "Rect", "v": [1.5, 2, 3, 4]},
        {TAG: "Rect", "v": [2**31, 2, 3, 4]},
        {TAG: "Rect", "v": [None, 2, 3, 4]},
        {TAG: "Color", "v": [256, 0, 0, 0]},
        {TAG: "Color", "v": [-1, 0, 0, 0]},
        {TAG: "Color", "v": [1, 2, 3]},
    ],
)
def test_a_json_tag_with_wrong_fields_is_refused(tagged):
    factory = _factory("json")
    for where in (tagged, [tagged], {"deep": [tagged]}):
        _refused(factory, json.dumps([0, "a", where]).encode() + b"\n")


def test_a_json_tag_is_read_however_it_is_escaped():
    factory = _factory("json")
    data = b'[0,"a",[{"\\u0024pygnetic":"Vector2","v":[1,2]}]]\n'
    with pygame_absent():
        assert factory.unpack(data).where == [Vector2(1, 2)]
        assert type(factory.unpack(data).where[0]) is Vector2


def test_json_accepts_ints_for_float_components_and_nan():
    factory = _factory("json")
    data = b'[0,"a",{"$pygnetic":"Vector3","v":[1,NaN,-Infinity]}]\n'
    with pygame_absent():
        where = factory.unpack(data).where
    assert where.x == 1.0 and math.isnan(where.y) and where.z == -math.inf


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_dict_of_yours_that_looks_like_a_tag_is_refused_when_sent(serializer):
    factory = _factory(serializer)
    move = factory.get_by_name("move")
    lookalike = {TAG: "Vector2", "v": [1.0, 2.0]}
    for where in (lookalike, [1, {"deep": lookalike}], {"k": [lookalike, Vector2()]}):
        if serializer == "json":
            with pytest.raises(PackError, match="kept for wire types"):
                factory.pack(move("a", where))
        else:  # msgpack has no tags: the dict arrives as a dict
            assert factory.unpack(factory.pack(move("a", where))).where == where
    assert factory.unpack(factory.pack(move(TAG, {"text": f'"{TAG}":'}))).where == {
        "text": f'"{TAG}":'
    }
    off = _factory(serializer, pygame_types=False)
    assert off.unpack(off.pack(off.get_by_name("move")("a", lookalike))).where == lookalike


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_wire_values_count_against_max_containers(serializer):
    cls = MsgpackSerializer if serializer == "msgpack" else JsonSerializer
    small = cls(max_containers=50).with_wire_types(WireTypes())
    factory = MessageFactory(small)
    move = factory.register("move", ("who", "where"))
    assert factory.unpack(factory.pack(move("a", [Color(1, 2, 3)] * 10))).where[9] == (1, 2, 3)
    _refused(factory, factory.pack(move("a", [Color(1, 2, 3)] * 60)), match="max_containers")


def test_a_hostile_extension_closes_only_that_connection():
    factory = _factory()
    network = MemoryNetwork(stream=True, chunk=5)
    server = pygnetic.Server(
        handler=Recorder, message_factory=factory, adapter="memory", network=network
    )
    clients = [
        pygnetic.Client(message_factory=factory, adapter="memory", network=network)
        for _ in range(2)
    ]
    hostile, honest = (client.connect("memory", server.address[1]) for client in clients)
    pygnetic.testing.pump(server, *clients, until=lambda: honest.connected and hostile.connected)
    hostile._link.send(_with_ext(64, b"\x00" * 3), 0, None)
    honest.net_move("Ann", Vector2(1, 2))
    assert pygnetic.testing.pump(server, *clients, until=lambda: not hostile.connected)
    assert hostile.close_code is CloseCode.PROTOCOL_ERROR, hostile.close_reason
    assert "Vector2 extension of 3 bytes" in hostile.close_reason
    (recorder,) = [c.handlers()[0] for c in server.connections()]
    assert recorder.received[0].where == pygame.Vector2(1, 2)


# -- the registry hash, and registration ------------------------------------------------


@dataclass
class Card:
    suit: str
    rank: int


def _card_fields(card):
    return (card.suit, card.rank)


def _digest_of(serializer, *wire_items):
    """The digest as pygnetic computes it: the canonical JSON of the registry, SHA-256."""
    import hashlib

    from pygnetic.protocol import PROTOCOL_VERSION

    parts = [PROTOCOL_VERSION, serializer, [[0, "move", ["who", "where"]]]]
    if wire_items:
        parts.append(list(wire_items))
    canonical = json.dumps(parts, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()[:16]


PYGAME_ITEMS = [
    [64, "Vector2", "dd"],
    [65, "Vector3", "ddd"],
    [66, "Rect", "iiii"],
    [67, "FRect", "dddd"],
    [68, "Color", "BBBB"],
]


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_registry_hash_says_which_wire_types_are_on(serializer):
    on, off = _factory(serializer), _factory(serializer, pygame_types=False)
    assert off.registry_digest() == _digest_of(serializer)  # what pygnetic had without them
    assert on.registry_digest() == _digest_of(serializer, *PYGAME_ITEMS)
    custom = _factory(serializer)
    custom.register_type(Card, 1, _card_fields)
    assert custom.registry_digest() == _digest_of(serializer, [1, "Card", "array"], *PYGAME_ITEMS)
    renamed = _factory(serializer)
    renamed.register_type(Card, 1, _card_fields, name="PlayingCard")
    recoded = _factory(serializer)
    recoded.register_type(Card, 2, _card_fields)
    digests = {f.registry_digest() for f in (on, off, custom, renamed, recoded)}
    assert len(digests) == 5
    later = _factory(serializer)
    later.pygame_types = False
    assert later.registry_digest() == off.registry_digest()


def test_peers_that_disagree_on_wire_types_refuse_each_other():
    network = MemoryNetwork(stream=False)
    server = pygnetic.Server(message_factory=_factory(), adapter="memory", network=network)
    client = pygnetic.Client(
        message_factory=_factory(pygame_types=False), adapter="memory", network=network
    )
    connection = client.connect("memory", server.address[1])
    pygnetic.testing.pump(server, client, until=lambda: connection.close_code is not None)
    assert connection.close_code is CloseCode.REGISTRY_MISMATCH


def test_wire_types_cannot_change_once_frozen():
    factory = _factory()
    factory.set_frozen()
    with pytest.raises(RegistryError, match="frozen"):
        factory.register_type(Card, 1, _card_fields)
    with pytest.raises(RegistryError, match="frozen"):
        factory.pygame_types = False
    with pytest.raises(RegistryError, match="frozen"):
        factory.wire_types.register(Card, 1, _card_fields)
    assert factory.pygame_types and len(factory.wire_types) == 5


class Plain:
    pass


@pytest.mark.parametrize(
    ("cls", "code", "options", "match"),
    [
        (Card, 64, {}, "from 0 to 63"),
        (Card, -1, {}, "from 0 to 63"),
        (Card, 1.0, {}, "from 0 to 63"),
        (Card, 7, {}, "code 7 is taken by Taken"),
        (Card, 1, {"name": "Taken"}, "'Taken' is taken"),
        (Card, 1, {"name": "Vector2"}, "'Vector2' is taken"),
        (Card, 1, {"name": "not a name"}, "identifier"),
        (Plain, 1, {}, "Plain is a wire type already"),
        (Vector2, 1, {}, "Vector2 is a wire type already"),
        (pygame.Rect, 1, {}, "Rect is a wire type already"),
        (type("Pair", (tuple,), {}), 1, {}, "already pack as tuple"),
        (type("Score", (int,), {}), 1, {}, "already pack as int"),
        (msgpack.Timestamp, 1, {}, "already pack as Timestamp"),
        (Card(1, 2), 1, {}, "must be a class"),
        (Card, 1, {"to_fields": 5}, "callables"),
    ],
)
def test_a_bad_registration_is_a_clear_error(cls, code, options, match):
    factory = _factory()
    factory.register_type(Plain, 7, name="Taken")
    with pytest.raises(RegistryError, match=match):
        factory.register_type(cls, code, **options)


def test_a_serializer_without_wire_types_refuses_custom_types_and_ignores_pygames():
    class Bare:
        name = "bare"

        def pack(self, obj):
            return msgpack.packb(obj)

        def unpack(self, data):
            return msgpack.unpackb(data)

        def stream(self, max_message_size):
            raise NotImplementedError

    factory = MessageFactory(Bare())
    factory.register("move", ("who", "where"))
    with pytest.raises(RegistryError, match="bare serializer"):
        factory.register_type(Card, 1, _card_fields)
    assert factory.registry_digest() == _digest_of("bare")


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_type_of_your_own_round_trips(serializer):
    factory = _factory(serializer)
    factory.register_type(Card, 1, _card_fields)
    move = factory.get_by_name("move")

    class Trump(Card):
        pass

    sent = move("Tom", {"hand": [Card("hearts", 12), Card("spades", 1)], "trump": Trump("s", 2)})
    data = factory.pack(sent)
    received = factory.unpack(data)
    assert received.where == {
        "hand": [Card("hearts", 12), Card("spades", 1)],
        "trump": Card("s", 2),
    }
    assert type(received.where["trump"]) is Card
    assert _streamed(factory, data, [3, 9, 20])[0] == received
    assert factory.pack(received) == data


def test_pygnetic_register_type_registers_in_the_default_factory(monkeypatch):
    fresh = MessageFactory()
    monkeypatch.setattr(pygnetic.message, "message_factory", fresh)
    wire = pygnetic.register_type(Card, 3, _card_fields)
    assert fresh.wire_types.codes[3] is wire and wire.name == "Card"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (msgpack.packb(["hearts"]), "fields refused"),  # from_fields: a missing argument
        (msgpack.packb(["hearts", 1, 2]), "fields refused"),
        (msgpack.packb("hearts"), "array of at most 64"),
        (msgpack.packb(["hearts", [1]]), "scalars"),
        (msgpack.packb(["hearts", {"a": 1}]), "max_map_len"),
        (msgpack.packb(["hearts", {}]), "scalars"),
        (msgpack.packb([[[[]]]]), "scalars"),
        (msgpack.packb([[]] * 10), "scalars"),
        (msgpack.packb(list(range(65))), "max_array_len"),
        (msgpack.packb(["a", msgpack.ExtType(1, b"x")]), "max_ext_len"),
        (msgpack.packb(["a", msgpack.ExtType(1, b"")]), "scalars"),
        (b"\x92\xa1a", "undecodable"),
        (b"\x92\xa1a\x01\x02", "undecodable"),  # a byte after the array
        (b"\xdd\xff\xff\xff\xff", "undecodable"),
    ],
)
def test_a_peers_fields_of_your_type_are_refused_when_they_do_not_fit(payload, match):
    factory = _factory()
    factory.register_type(Card, 1, _card_fields)
    _refused(factory, _with_ext(1, payload), match=match)


def test_from_fields_that_refuses_a_peers_fields_is_the_peers_error():
    def strict_card(suit, rank):
        if rank not in range(1, 14):
            raise ValueError(f"no such rank: {rank}")
        return Card(suit, rank)

    for serializer in SERIALIZERS:
        factory = _factory(serializer)
        factory.register_type(Card, 1, _card_fields, strict_card)
        move = factory.get_by_name("move")
        data = factory.pack(move("a", Card("hearts", 99)))  # the sender does not check
        _refused(factory, data, match="Card: fields refused .ValueError: no such rank: 99")


@pytest.mark.parametrize(
    ("to_fields", "match"),
    [
        (lambda card: [card], "None, bool, int, float, str or bytes"),
        (lambda card: "ab", "tuple of at most 64"),
        (lambda card: tuple(range(65)), "tuple of at most 64"),
        (lambda card: (Vector2(),), "None, bool, int, float, str or bytes"),
    ],
)
def test_to_fields_that_gives_no_tuple_of_scalars_is_the_senders_error(to_fields, match):
    factory = _factory()
    factory.register_type(Card, 1, to_fields)
    with pytest.raises(PackError, match=match):
        factory.pack(factory.get_by_name("move")("a", Card("s", 1)))


@pytest.mark.parametrize(
    "text",
    ['[0,{"$pygnetic":"Nope","v":[1]}]', '[0,"\\ud800"]'],
    ids=["a tag", "a lone surrogate"],
)
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32"])
def test_json_is_utf8_only_so_no_other_encoding_hides_a_tag_or_an_escape(text, encoding):
    factory = MessageFactory("json")
    factory.register("m", ("v",))
    with pytest.raises(MessageError, match="undecodable JSON"):
        factory.serializer.unpack(text.encode(encoding))


def test_json_refuses_utf8_encoded_surrogates():
    serializer = JsonSerializer()
    with pytest.raises(MessageError, match="undecodable JSON"):
        serializer.unpack(b'[0,"\xed\xa0\x80"]')


@dataclass(frozen=True)
class _Suit:
    name: str


def test_a_game_type_as_a_dict_key_is_the_senders_error():
    factory = MessageFactory("msgpack")
    hand = factory.register("hand", ("cards",))
    factory.register_type(_Suit, 3, to_fields=lambda suit: (suit.name,))
    with pytest.raises(PackError, match="cannot be a dict key"):
        factory.pack(hand({_Suit("hearts"): 2}))
    data = factory.pack(hand({"hearts": [_Suit("hearts")]}))  # as a value it travels
    assert factory.unpack(data) == hand({"hearts": [_Suit("hearts")]})
