"""Fuzzing: whatever bytes arrive, a decoder or a connection keeps its contract.

The contract (see :mod:`pygnetic.adapters.serialization` and :mod:`pygnetic.message`):

* ``serializer.unpack`` and ``MessageFactory.unpack`` return a value or raise
  :exc:`~pygnetic.errors.MessageError`, and nothing else, for any bytes;
* a stream decoder's ``feed`` appends values or raises MessageError, where the
  stream is cut changes nothing, and a message growing past ``max_message_size``
  is refused before it ends, however small the reads;
* a connection that receives bad bytes closes with ``PROTOCOL_ERROR`` or
  ``MESSAGE_TOO_LARGE``; nothing escapes ``update()``, other connections carry on;
* the text of every MessageError is short, however large the input.

Valid messages round-trip, whole and as a stream cut anywhere. Everything runs
under the interpreter's default recursion limit (see :func:`default_recursion_limit`).

The quick run in CI tries the same inputs every time. A release runs a long,
random one (docs/topics/errors-limits.rst, "Fuzzing")::

    PYGNETIC_FUZZ_EXAMPLES=50000 python -m pytest tests/unit/test_fuzz.py -q
"""

import contextlib
import functools
import itertools
import json
import logging
import math
import os
import sys
import types

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pygnetic
from pygnetic.adapters.network import memory
from pygnetic.errors import MessageError, RemoteMessageTooLargeError
from pygnetic.handshake import HEADER, MAGIC, encode_answer, encode_hello
from pygnetic.message import DEFAULT_MAX_MESSAGE_SIZE, MessageFactory
from pygnetic.protocol import PROTOCOL_VERSION, CloseCode, Delivery
from pygnetic.testing import Recorder

# -- running ---------------------------------------------------------------------

#: Examples per test for a release run; unset (0), each test runs its quick count.
LONG_RUN = int(os.environ.get("PYGNETIC_FUZZ_EXAMPLES", "0"))

#: CPython's default recursion limit: what a game's update() runs under.
DEFAULT_RECURSION_LIMIT = 1000

#: Longest text a MessageError may have: it becomes a logged, shown close reason.
MAX_ERROR_TEXT = 1000


def fuzz_settings(quick):
    """Hypothesis settings: ``quick`` examples in CI, ``PYGNETIC_FUZZ_EXAMPLES`` for a release.

    The quick run is derandomized and keeps no example database, so CI tries
    the same inputs on every machine and every run. A long run is random, so
    each release explores new inputs; a failure prints the input and a blob to
    reproduce it.
    """
    return settings(
        max_examples=LONG_RUN or quick,
        derandomize=not LONG_RUN,
        database=None,
        print_blob=bool(LONG_RUN),
        deadline=None,  # a value 5,000 containers deep takes a few ms, legitimately
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextlib.contextmanager
def default_recursion_limit():
    """Run the block under the interpreter's default recursion limit, then restore the test's.

    Hypothesis raises ``sys.getrecursionlimit()`` while a test runs, to leave
    its own machinery room. At the raised limit a value nested a thousand
    containers deep decodes, formats and re-encodes without complaint, where a
    game, at the default limit, gets a RecursionError out of ``update()``:
    finding 1 of issue 11 hid from the first property tests that way.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


class _FormatOnly(logging.Handler):
    """Formats every record, as a game's log would, and keeps none.

    pytest would keep each refusal's warning in memory, which a run of a
    million inputs cannot afford; formatting them still checks that a remote
    value in a log call formats. A failure to format is raised, not hidden.
    """

    def emit(self, record):
        """Format ``record`` and drop it."""
        self.format(record)


@contextlib.contextmanager
def formatted_and_dropped_logs():
    """Send pygnetic's log records to a :class:`_FormatOnly` handler during the block."""
    logger = logging.getLogger("pygnetic")
    handler = _FormatOnly()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.propagate = propagate
        logger.removeHandler(handler)


# -- the factories under test ----------------------------------------------------------

#: Registered type ids (empty, one, pair, triple, chat_msg) and the control ones.
TYPE_IDS = (0, 1, 2, 3, 4, -1, -2, -3)
#: How many fields the message of each type id has.
ARITY = {0: 0, 1: 1, 2: 2, 3: 3, 4: 2, -1: 1, -2: 1, -3: 2}
LIMITS = st.sampled_from([16, 64, 1024, DEFAULT_MAX_MESSAGE_SIZE])


@functools.cache
def make_factory(name, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
    """The factory of the fuzzed registry: messages of 0 to 3 fields, and chat_msg."""
    factory = MessageFactory(name, max_message_size=max_message_size)
    factory.register("empty")
    factory.register("one", ("a",))
    factory.register("pair", ("a", "b"))
    factory.register("triple", ("a", "b", "c"))
    factory.register("chat_msg", ("player", "msg"))
    return factory


def message_classes(factory):
    """The registered message classes of ``factory``."""
    return [factory.get_by_name(name) for name in factory.names()]


# -- valid values and messages ---------------------------------------------------------

INTS = st.integers(-(2**63), 2**64 - 1) | st.sampled_from(
    [-(2**63), -(2**31) - 1, -33, -32, -1, 0, 127, 128, 255, 256, 2**32, 2**63 - 1, 2**64 - 1]
)


def scalars(name):
    """Scalars ``name`` represents exactly; floats include NaN and the infinities."""
    common = st.none() | st.booleans() | INTS | st.floats() | st.text(max_size=20)
    return common | st.binary(max_size=20) if name == "msgpack" else common


def map_keys(name):
    """Dict keys ``name`` accepts: JSON turns every one of them into a string."""
    if name == "msgpack":
        return st.text(max_size=8) | st.binary(max_size=8) | INTS | st.floats() | st.booleans()
    return st.text(max_size=8) | INTS | st.booleans() | st.none()


def nested(leaves, keys, depth):
    """Values holding at most ``depth`` levels of lists, tuples and dicts."""
    if depth == 0:
        return leaves
    inner = nested(leaves, keys, depth - 1)
    return (
        leaves
        | st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=3)
    )


@st.composite
def chains(draw, leaves, keys):
    """A leaf inside 1 to 8 containers, each a one-item list or dict: the deepest valid value."""
    value = draw(leaves)
    for _ in range(draw(st.integers(1, 8))):
        value = [value] if draw(st.booleans()) else {draw(keys): value}
    return value


def field_values(name):
    """Valid field values for ``name``: scalars, and containers nested up to 8 deep."""
    leaves, keys = scalars(name), map_keys(name)
    return nested(leaves, keys, 8) | chains(leaves, keys)


def messages(name):
    """Instances of the messages of ``make_factory(name)``, with valid field values."""
    values = field_values(name)
    return st.sampled_from(message_classes(make_factory(name))).flatmap(
        lambda cls: st.tuples(*[values] * len(cls._fields)).map(lambda fields: cls(*fields))
    )


def packed(name):
    """Valid messages of ``make_factory(name)``, packed."""
    return messages(name).map(make_factory(name).pack)


def _json_key(key):
    if key is None or type(key) is bool:
        return json.dumps(key)
    return str(key)


def as_sent(value, name):
    """What ``name`` makes of ``value``: tuples become lists; JSON makes dict keys strings."""
    kind = type(value)
    if kind in (list, tuple):
        return [as_sent(item, name) for item in value]
    if kind is dict:
        result = {}
        for key, item in value.items():  # colliding keys: the first place, the last value
            result[_json_key(key) if name == "json" else key] = as_sent(item, name)
        return result
    return value


def canonical(value):
    """A form of ``value`` that compares types exactly, and NaN equal to NaN."""
    kind = type(value)
    if kind is float:
        return ("float", "nan" if math.isnan(value) else value.hex())
    if kind in (list, tuple):
        return (kind.__name__, tuple(map(canonical, value)))
    if kind is dict:
        return ("dict", tuple((canonical(k), canonical(v)) for k, v in value.items()))
    return (kind.__name__, value)


def canonical_message(message):
    """A message's class and its canonical fields."""
    return type(message), canonical(list(message))


def fingerprint(name, value):
    """A decoded value as bytes, to compare values of any depth without recursing in Python.

    Each value is packed on its own: msgpack packs exactly as deep as it
    unpacks, so a list of the deepest values would be one level too deep.
    """
    if name == "msgpack":
        return msgpack.packb(value)
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates survive


def fingerprints(name, messages):
    """The class and the field fingerprints of each message."""
    return [(type(m), [fingerprint(name, field) for field in m]) for m in messages]


# -- hostile msgpack ------------------------------------------------------------------

# (fix-form base or None, fix-form maximum, [(marker, length bytes)]) of each family.
STR = (0xA0, 31, [(0xD9, 1), (0xDA, 2), (0xDB, 4)])
BIN = (None, 0, [(0xC4, 1), (0xC5, 2), (0xC6, 4)])
EXT = (None, 0, [(0xC7, 1), (0xC8, 2), (0xC9, 4)])
ARRAY = (0x90, 15, [(0xDC, 2), (0xDD, 4)])
MAP = (0x80, 15, [(0xDE, 2), (0xDF, 4)])
FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
INT_MARKERS = [(0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8), (0xD0, 1), (0xD1, 2), (0xD2, 4)]
INT_MARKERS += [(0xD3, 8), (0xCA, 4), (0xCB, 8)]  # and the two floats

#: Declared lengths and counts: honest small ones, and the limits of each header.
COUNTS = (
    st.integers(0, 40)
    | st.sampled_from([31, 32, 255, 256, 65535, 65536, 2**31 - 1, 2**32 - 1])
    | st.integers(0, 2**32 - 1)
)
#: Nesting depths: around the decoders' 32-level limit, msgpack's 1,024-level
#: stack and CPython's recursion limit of 1,000, and well beyond.
DEPTHS = st.integers(0, 40) | st.integers(990, 1100) | st.integers(0, 5000)
BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"a\x80b"]
CONTENTS = (
    st.binary(max_size=40)
    | st.text(max_size=20).map(str.encode)
    | st.sampled_from(BAD_UTF8)
    | st.sampled_from([4, 8, 12]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    | st.integers(0, 20_000).map(lambda n: b"x" * n)  # long enough to show in an error text
)


@st.composite
def mp_header(draw, family, count):
    """A header of ``family`` announcing ``count`` items or bytes, in any form that holds it."""
    base, fix_max, wide = family
    forms = [(marker, size) for marker, size in wide if count < 256**size]
    if base is not None and count <= fix_max:
        forms.append((base, 0))
    marker, size = draw(st.sampled_from(forms))
    if size == 0:
        return bytes([base + count])
    return bytes([marker]) + count.to_bytes(size, "big")


@st.composite
def mp_blobs(draw):
    """A str, bin or ext value (timestamps included) whose declared length may lie."""
    content = draw(CONTENTS)
    declared = draw(st.just(len(content)) | COUNTS)
    kind = draw(st.sampled_from(["str", "bin", "ext"]))
    if kind != "ext":
        return draw(mp_header(STR if kind == "str" else BIN, declared)) + content
    ext_type = draw(st.just(-1) | st.integers(-128, 127)).to_bytes(1, "big", signed=True)
    if declared in FIXEXT and draw(st.booleans()):
        return bytes([FIXEXT[declared]]) + ext_type + content
    return draw(mp_header(EXT, declared)) + ext_type + content


MP_SCALARS = st.one_of(
    st.sampled_from([b"\xc0", b"\xc2", b"\xc3", b"\xc1", b"\x00", b"\x7f", b"\xe0", b"\xff"]),
    INTS.map(msgpack.packb),
    st.floats().map(msgpack.packb),
    st.sampled_from(INT_MARKERS).flatmap(
        lambda form: st.binary(min_size=form[1], max_size=form[1]).map(
            lambda body: bytes([form[0]]) + body  # any bits: NaN payloads, negative zero
        )
    ),
    mp_blobs(),
)


@st.composite
def mp_containers(draw, children):
    """An array or a map of ``children`` (maps with any keys), whose declared count may lie."""
    items = draw(st.lists(children, max_size=4))
    is_array = draw(st.booleans())
    count = len(items) if is_array else len(items) // 2
    declared = draw(st.just(count) | COUNTS)
    return draw(mp_header(ARRAY if is_array else MAP, declared)) + b"".join(items)


MP_VALUES = st.recursive(MP_SCALARS, mp_containers, max_leaves=10)
MP_DEEP = st.builds(
    lambda head, depth, leaf: head * depth + leaf,
    st.sampled_from(
        [
            b"\x91",  # [[[...]]]
            b"\x81\xc0",  # {nil: {nil: ...}}
            b"\x81\x91",  # {[{[...]: ...}]: ...}, unhashable keys
            b"\xdc\x00\x01",  # wide headers
            b"\xdd\x00\x00\x00\x01",
            b"\xdf\x00\x00\x00\x01\xa0",
            b"\x92\xc0",  # one item short at each level
            b"\xdd\xff\xff\xff\xff",  # 4 billion items announced at each level
        ]
    ),
    DEPTHS,
    MP_SCALARS,
)


#: Valid msgpack of values a handler or a control message may choke on.
MP_VALID = st.one_of(
    st.builds(
        msgpack.Timestamp, st.integers(-(2**63), 2**63 - 1), st.integers(0, 999_999_999)
    ).map(msgpack.packb),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=20)).map(msgpack.packb),
    st.builds(lambda depth, leaf: b"\x91" * depth + leaf, DEPTHS, MP_SCALARS),
    st.integers(0, 20_000).map(lambda n: msgpack.packb("x" * n)),
)


@st.composite
def mp_shaped(draw):
    """A msgpack message of a real type and field count, with hostile fields.

    It reaches a handler, or a ping, pong or close handler of the core.
    """
    type_id = draw(st.sampled_from(TYPE_IDS))
    count = ARITY[type_id]
    fields = draw(st.lists(MP_VALID | MP_VALUES, min_size=count, max_size=count))
    return bytes([ARRAY[0] + count + 1]) + msgpack.packb(type_id) + b"".join(fields)


@st.composite
def mp_misshaped(draw):
    """A msgpack array ``[type_id, *fields]`` with a hostile type id, count or fields."""
    packed_id = draw(st.sampled_from(TYPE_IDS).map(msgpack.packb) | MP_VALUES | MP_DEEP)
    fields = draw(st.lists(MP_VALUES | MP_DEEP | MP_VALID, max_size=4))
    declared = draw(st.just(len(fields) + 1) | COUNTS)
    return draw(mp_header(ARRAY, declared)) + packed_id + b"".join(fields)


# -- hostile JSON ---------------------------------------------------------------------

#: Literals, broken literals, escapes (lone surrogates, NUL) and punctuation.
JSON_TOKENS = ["null", "true", "false", "NaN", "Infinity", "-Infinity", "-0", "1e999", "-1e999"]
JSON_TOKENS += ["01", "1.", ".5", "+1", "0x10", "tru", "nul", "-", "1e", "/*", "\\", "''"]
JSON_TOKENS += ["[", "]", "{", "}", ",", ":"]
JSON_TOKENS += ['"', '"\\', '"\\x"', '"\\u12"', '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"']
JSON_TOKENS += ['"\x00"', '"\t"', "\n", " ", "\ufeff"]
JSON_SCALARS = st.one_of(
    st.sampled_from(JSON_TOKENS),
    st.integers(-(2**70), 2**70).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),  # past 64 bits, past int()'s 4,300 digits
    st.floats().map(json.dumps),
    st.text(max_size=20).map(json.dumps),
    st.text(max_size=20).map(lambda text: f'"{text}"'),  # raw quotes and control characters
    st.integers(0, 20_000).map(lambda n: '"' + "x" * n + '"'),
)


@st.composite
def json_containers(draw, children):
    """A JSON array or object of ``children``, keys of any kind, punctuation maybe broken."""
    items = draw(st.lists(children, max_size=4))
    separator = draw(st.sampled_from([",", ",", ",", ", ", ",,", ""]))
    if draw(st.booleans()):
        return "[" + separator.join(items) + draw(st.sampled_from(["]", "]", "]", "", ",]", "}"]))
    keys = st.text(max_size=4).map(json.dumps) | children  # duplicate and non-string keys
    pairs = [f"{draw(keys)}:{item}" for item in items]
    return "{" + separator.join(pairs) + draw(st.sampled_from(["}", "}", "}", "", "]"]))


JSON_VALUES = st.recursive(JSON_SCALARS, json_containers, max_leaves=10)


@st.composite
def json_deep(draw):
    """A value nested ``DEPTHS`` deep, closed properly, partly or not at all."""
    head = draw(st.sampled_from(["[", '{"a":', '[{"k":', "[0,", "[[],"]))
    depth = draw(DEPTHS)
    closer = {"[": "]", '{"a":': "}", '[{"k":': "}]", "[0,": "]", "[[],": "]"}[head]
    closed = draw(st.sampled_from([depth, depth, 0]) | st.integers(0, depth))
    return head * depth + draw(JSON_SCALARS) + closer * closed


#: Valid JSON of values a handler or a control message may choke on.
JSON_VALID = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1e999", "-1e999", "1e-999"]),
    st.sampled_from(['"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '"\\u2028"', '""']),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.builds(lambda depth, leaf: "[" * depth + leaf + "]" * depth, DEPTHS, st.just("0")),
    st.integers(0, 20_000).map(lambda n: '"' + "x" * n + '"'),
)


@st.composite
def json_shaped(draw):
    """A JSON message of a real type and field count, with hostile fields, as UTF-8.

    It reaches a handler, or a ping, pong or close handler of the core.
    """
    type_id = draw(st.sampled_from(TYPE_IDS))
    count = ARITY[type_id]
    fields = draw(st.lists(JSON_VALID | JSON_VALUES, min_size=count, max_size=count))
    return ("[" + ",".join([str(type_id), *fields]) + "]\n").encode("utf-8", "surrogatepass")


@st.composite
def json_misshaped(draw):
    """A JSON line ``[type_id, *fields]`` with a hostile type id, count or fields."""
    text_id = draw(st.sampled_from(TYPE_IDS).map(str) | JSON_VALUES | json_deep())
    fields = draw(st.lists(JSON_VALUES | json_deep() | JSON_VALID, max_size=4))
    end = draw(st.sampled_from(["]\n", "]\n", "]\n", "]", "\n", "]\r\n", "]\n\n"]))
    return "[" + ",".join([text_id, *fields]) + end


@st.composite
def json_bytes(draw, texts):
    """Texts encoded as UTF-8 (or UTF-16/32, which json detects), maybe with invalid bytes."""
    text = draw(texts)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-32"]))
    data = text.encode(encoding, "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:]
    return data


# -- hostile bytes of either --------------------------------------------------------------


@st.composite
def mutated(draw, valid):
    """Bytes from ``valid`` truncated, bit-flipped, cut into, grown or spliced."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if operation == "truncate":
            del data[at:]
        elif operation == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data += data[at:]  # a second value, or the tail of one spliced on
    return bytes(data)


def hostile(name):
    """Bytes for ``name``'s decoder: random, mutated messages, structured attacks, valid ones."""
    valid = packed(name)
    common = [st.binary(max_size=300), mutated(valid), valid]
    if name == "msgpack":
        return st.one_of(*common, mp_shaped(), mp_misshaped(), MP_VALUES, MP_DEEP)
    return st.one_of(
        *common,
        json_shaped(),
        json_bytes(json_misshaped()),
        json_bytes(JSON_VALUES),
        json_bytes(json_deep()),
    )


def shaped(name):
    """Messages of a real shape with hostile fields: what gets past the decoder to a handler."""
    return mp_shaped() if name == "msgpack" else json_shaped()


def hostile_streams(name):
    """Several messages, hostile or valid, one after the other on a stream."""
    return st.lists(hostile(name) | packed(name), min_size=1, max_size=6).map(b"".join)


#: Slice sizes to cut a stream at, used in turn; 0 feeds an empty slice.
CHUNK_SIZES = st.lists(st.integers(0, 80), min_size=1, max_size=8).map(
    lambda sizes: sizes if any(sizes) else [*sizes, 1]  # some progress
)


def cut(data, sizes):
    """``data`` in slices of ``sizes``, repeated until it is all used."""
    pieces, start = [], 0
    for size in itertools.cycle(sizes):
        if start >= len(data):
            return pieces
        pieces.append(data[start : start + size])
        start += size
    raise AssertionError("unreachable: itertools.cycle never ends")


# -- checks -----------------------------------------------------------------------------


def check_error_text(error):
    """A MessageError's text becomes a close reason to log and show: it must be short."""
    text = str(error)
    assert len(text) <= MAX_ERROR_TEXT, f"{len(text)} characters: {text[:300]}..."


def decode_or_error(decode, data):
    """``(value, None)`` or ``(None, error)``: ``decode`` may raise MessageError, nothing else."""
    try:
        return decode(data), None
    except MessageError as error:
        check_error_text(error)
        return None, error


def feed_all(decoder, pieces, limit=None):
    """Feed ``pieces`` until one raises: ``(values, error or None)``; only MessageError may.

    With ``limit`` (the decoder's ``max_message_size``), also check that it
    refuses a message that grows past the limit before the message ends: it
    may hold the limit plus one read, but a peer must not make it hold more by
    sending an endless message in small reads.
    """
    values, pending, largest = [], 0, 0
    for piece in pieces:
        done = len(values)
        try:
            decoder.feed(piece, values)
        except MessageError as error:  # the decoder must not be fed again
            check_error_text(error)
            return values, error
        largest = max(largest, len(piece))
        # Bytes fed since a value last ended: the unfinished message is at
        # least this, less the read that ended the last value.
        pending = len(piece) if len(values) > done else pending + len(piece)
        if limit is not None:
            # Twice the limit: a decoder may read ahead by a slice of its own.
            assert pending <= 2 * (limit + largest), (
                f"{pending} bytes of an unfinished message accepted, "
                f"max_message_size {limit}, reads of at most {largest} bytes"
            )
    return values, None


def check_unpack(name, data, limit):
    """``data`` decodes, through the serializer and the factory, or is a MessageError."""
    factory = make_factory(name, limit)
    with default_recursion_limit():
        decode_or_error(factory.serializer.unpack, data)
        message, error = decode_or_error(factory.unpack, data)
    if len(data) > limit:
        assert isinstance(error, RemoteMessageTooLargeError)
    if error is None:
        control = [factory.Ping, factory.Pong, factory.Close]
        assert type(message) in [*message_classes(factory), *control]


def check_stream(name, data, sizes, limit):
    """A stream decodes to the same values, or fails, whole and cut into ``sizes``."""
    factory = make_factory(name, limit)
    with default_recursion_limit():
        whole, whole_error = feed_all(factory.new_stream(), [data])
        sliced, sliced_error = feed_all(factory.new_stream(), cut(data, sizes), limit)
    assert [fingerprint(name, v) for v in sliced] == [fingerprint(name, v) for v in whole]
    assert (sliced_error is None) == (whole_error is None), (sliced_error, whole_error)


def check_round_trip(name, message):
    """A valid message comes back equal, NaN for NaN and as the serializer sends it."""
    factory = make_factory(name)
    with default_recursion_limit():
        back = factory.unpack(factory.pack(message))
    expected = type(message)(*as_sent(list(message), name))
    assert canonical_message(back) == canonical_message(expected)


def check_stream_round_trip(name, sent, sizes):
    """Messages packed back to back and cut anywhere decode as unpacking each one does."""
    factory = make_factory(name)
    context = types.SimpleNamespace()
    factory.reset_context(context)
    with default_recursion_limit():
        data = [factory.pack(message) for message in sent]
        one_by_one = [factory.unpack(each) for each in data]
        streamed = []
        for piece in cut(b"".join(data), sizes):
            streamed += factory.unpack_all(piece, context)
    assert list(map(canonical_message, streamed)) == list(map(canonical_message, one_by_one))
    expected = [type(message)(*as_sent(list(message), name)) for message in sent]
    assert list(map(canonical_message, streamed)) == list(map(canonical_message, expected))


# -- the decoders ---------------------------------------------------------------------------

# Classic attacks, tried on every run whatever the generators draw.
DEEP_MSGPACK = b"\x93\x00" + b"\x91" * 1000 + b"\xc0\xc0"
DEEP_JSON = b"[0," + b"[" * 990 + b"]" * 990 + b",1]\n"
LONG_ID_MSGPACK = b"\x92\xda\x4e\x20" + b"x" * 20_000 + b"\xc0"  # a 20,000-character type id
LONG_ID_JSON = b'["' + b"x" * 20_000 + b'",1]\n'
# An array of 64 strings of 40 bytes, 2,691 bytes in all, read one string at a time.
SLOW_MSGPACK = b"\xdc\x00\x40" + (b"\xd9\x28" + b"x" * 40) * 64
HUGE_MSGPACK = [b"\xdd\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff\x00"]


@fuzz_settings(400)
@given(data=hostile("msgpack"), limit=LIMITS)
@example(data=DEEP_MSGPACK, limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(data=LONG_ID_MSGPACK, limit=DEFAULT_MAX_MESSAGE_SIZE)
def test_msgpack_unpack_returns_a_value_or_raises_message_error(data, limit):
    check_unpack("msgpack", data, limit)


@fuzz_settings(400)
@given(data=hostile("json"), limit=LIMITS)
@example(data=DEEP_JSON, limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(data=b"[0," + b"9" * 5000 + b"]", limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(data=LONG_ID_JSON, limit=DEFAULT_MAX_MESSAGE_SIZE)
def test_json_unpack_returns_a_value_or_raises_message_error(data, limit):
    check_unpack("json", data, limit)


@fuzz_settings(250)
@given(data=hostile_streams("msgpack"), sizes=CHUNK_SIZES, limit=LIMITS)
@example(data=b"".join(HUGE_MSGPACK), sizes=[1], limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(data=SLOW_MSGPACK, sizes=[3, *[42] * 64], limit=64)
def test_msgpack_stream_decodes_the_same_however_cut(data, sizes, limit):
    check_stream("msgpack", data, sizes, limit)


@fuzz_settings(250)
@given(data=hostile_streams("json"), sizes=CHUNK_SIZES, limit=LIMITS)
@example(data=b"[" * 100_000 + b"\n", sizes=[4096], limit=DEFAULT_MAX_MESSAGE_SIZE)
def test_json_stream_decodes_the_same_however_cut(data, sizes, limit):
    check_stream("json", data, sizes, limit)


@fuzz_settings(200)
@given(message=messages("msgpack"))
def test_msgpack_messages_round_trip(message):
    check_round_trip("msgpack", message)


@fuzz_settings(200)
@given(message=messages("json"))
def test_json_messages_round_trip(message):
    check_round_trip("json", message)


@fuzz_settings(100)
@given(sent=st.lists(messages("msgpack"), min_size=1, max_size=12), sizes=CHUNK_SIZES)
def test_msgpack_stream_round_trips_however_cut(sent, sizes):
    check_stream_round_trip("msgpack", sent, sizes)


@fuzz_settings(100)
@given(sent=st.lists(messages("json"), min_size=1, max_size=12), sizes=CHUNK_SIZES)
def test_json_stream_round_trips_however_cut(sent, sizes):
    check_stream_round_trip("json", sent, sizes)


# -- connections ----------------------------------------------------------------------------


def fixed_clock():
    """A clock that never moves: no timeouts, and no keepalive pings after the first."""
    return 1000.0


class RawEnd:
    """The far end of memory links without a pygnetic core: the test writes its bytes."""

    def __init__(self):
        self.links = []

    def link_opened(self, link):
        """A client connected to this raw server."""
        self.links.append(link)

    def link_connected(self, link):
        """This raw client's link is up: nothing to do."""

    def link_closed(self, link, code, detail):
        """The host closed the link: the test reads the host's side instead."""


class ServerUnderFire:
    """A server with two clients: a real one (the bystander) and a raw link (the attacker)."""

    def __init__(self, network, factory):
        self.recorders = []
        self.host = pygnetic.Server(
            handler=self._recorder,
            message_factory=factory,
            adapter="memory",
            network=network,
            conn_limit=2,
            clock=fixed_clock,
        )
        port = self.host.address[1]
        self.client = pygnetic.Client(
            message_factory=factory, adapter="memory", network=network, clock=fixed_clock
        )
        self.bystander_side = self.client.connect("memory", port)
        self.raw = memory.Transport(RawEnd(), network=network).connect("memory", port)
        self.greeting = encode_hello(factory)
        self.poke = factory.get_by_name("chat_msg")("T", "ok")

    def _recorder(self):
        recorder = Recorder()
        self.recorders.append(recorder)
        return recorder

    def pump(self):
        """Run the hosts until what was sent has arrived and been answered."""
        for _ in range(3):
            self.host.update()
            self.client.update()

    def send_poke(self):
        """The bystander sends ``poke`` through the public API."""
        self.bystander_side.send(self.poke)

    def _of(self, raw):
        return [
            r for r in self.recorders if (r.connection.address == self.raw.peer.address) == raw
        ]

    def victim(self):
        """The recorder of the server's connection with the raw link, or None."""
        found = self._of(raw=True)
        return found[0] if found else None

    def bystander(self):
        """The recorder of the server's connection with the bystander."""
        (recorder,) = self._of(raw=False)
        return recorder


class ClientUnderFire:
    """A client with two connections to a raw server: the attacker and a bystander."""

    def __init__(self, network, factory):
        end = RawEnd()
        self.server = memory.Transport(end, bind=("", 0), network=network, max_links=2)
        self.host = pygnetic.Client(
            message_factory=factory,
            adapter="memory",
            network=network,
            conn_limit=2,
            clock=fixed_clock,
        )
        self._recorders = []
        for _ in range(2):
            recorder = Recorder()
            self.host.connect("memory", self.server.address[1]).add_handler(recorder)
            self._recorders.append(recorder)
        self.server.poll(0)  # both links open; the client connects and sends hellos
        self.raw, bystander_raw = end.links
        self.greeting = encode_answer(0)
        bystander_raw.send(self.greeting, 0, Delivery.RELIABLE)
        self.poke = factory.get_by_name("chat_msg")("T", "ok")
        self._poke_bytes = factory.pack(self.poke)
        self._bystander_raw = bystander_raw

    def pump(self):
        """Run the client (and the raw server's inbox) until what was sent has arrived."""
        for _ in range(3):
            self.server.poll(0)
            self.host.update()

    def send_poke(self):
        """The raw server sends ``poke`` to the bystander connection."""
        self._bystander_raw.send(self._poke_bytes, 0, Delivery.RELIABLE)

    def victim(self):
        """The recorder of the client's connection that the attacker answers."""
        return self._recorders[0]

    def bystander(self):
        """The recorder of the client's other connection."""
        return self._recorders[1]


#: How a memory stream cuts what a link sends: small pieces, a packet, a TCP read.
CHUNKS = st.integers(1, 64) | st.sampled_from([1500, 65536])
SIDES = pytest.mark.parametrize(
    "side", [ServerUnderFire, ClientUnderFire], ids=["server", "client"]
)
LINKS = pytest.mark.parametrize("stream", [False, True], ids=["packets", "stream"])


def send_raw(scene, pieces, stream, together):
    """The attacker greets, then sends ``pieces``: one packet each, or as one stream.

    On a stream, ``together`` sends the greeting and the pieces in one write,
    so that they reach the core as the bytes that followed the handshake frame.
    """
    raw = scene.raw
    if stream and together:
        raw.send(scene.greeting + b"".join(pieces), 0, Delivery.RELIABLE)
        return
    raw.send(scene.greeting, 0, Delivery.RELIABLE)
    for channel, piece in enumerate(pieces):
        raw.send(piece, channel % raw.channels, Delivery.RELIABLE)


def expected_outcome(factory, pieces, stream):
    """What a connection must make of ``pieces``: ``(messages delivered, how it ends)``.

    The ending is None (still open), ``'peer'`` (a valid close message: the
    peer chose the code) or the :class:`CloseCode` of the receiver's refusal.
    """
    received, fault = [], None
    if stream:
        raws, fault = feed_all(factory.new_stream(), [b"".join(pieces)])
        for raw in raws:
            message, error = decode_or_error(factory.from_raw, raw)
            if error is not None:
                fault = error
                break
            received.append(message)
    else:
        for piece in pieces:
            message, fault = decode_or_error(factory.unpack, piece)
            if fault is not None:
                break
            received.append(message)
    delivered = []
    for message in received:
        if type(message) is factory.Close:
            return delivered, "peer"
        if type(message) not in (factory.Ping, factory.Pong):
            delivered.append(message)
    if fault is None:
        return delivered, None
    too_large = isinstance(fault, RemoteMessageTooLargeError)
    return delivered, CloseCode.MESSAGE_TOO_LARGE if too_large else CloseCode.PROTOCOL_ERROR


def check_connection(name, side, stream, pieces, chunk, together, limit):
    """Hostile bytes close the attacked connection as the decoders say; nothing escapes."""
    factory = make_factory(name, max(limit, 64))  # room for the bystander's message
    scene = side(memory.MemoryNetwork(stream=stream, chunk=chunk), factory)
    with default_recursion_limit(), formatted_and_dropped_logs():
        scene.pump()
        send_raw(scene, pieces, stream, together)
        scene.pump()
        scene.send_poke()
        scene.pump()
        # Under the same recursion limit as the connection, a few frames
        # higher up the stack: whether a value decodes must not depend on
        # where the decoder is called from, so decoders bound nesting themselves.
        delivered, ending = expected_outcome(factory, pieces, stream)
    victim, bystander = scene.victim(), scene.bystander()
    assert fingerprints(name, victim.received) == fingerprints(name, delivered)
    connection = victim.connection
    if ending is None:
        assert connection.connected, (connection.close_code, connection.close_reason)
    elif ending == "peer":
        assert not connection.connected
    else:
        assert (connection.close_code, connection.connected) == (ending, False)
        assert len(connection.close_reason) <= MAX_ERROR_TEXT
    assert bystander.connection.connected
    assert bystander.received == [scene.poke]


#: Control messages that echo or read a hostile value (a ping's stamp comes back
#: in the pong; a pong's stamp is subtracted from the clock).
SURROGATE_PING = b'[-1,"\\ud800"]\n'
HUGE_PONG = b"[-2," + b"9" * 400 + b"]\n"


@SIDES
@LINKS
@fuzz_settings(80)
@given(
    pieces=st.lists(shaped("msgpack") | hostile("msgpack"), min_size=1, max_size=3),
    chunk=CHUNKS,
    together=st.booleans(),
    limit=LIMITS,
)
@example(
    pieces=[DEEP_MSGPACK, b"\x92\xff" + b"\x91" * 1000 + b"\xc0"],
    chunk=7,
    together=False,
    limit=DEFAULT_MAX_MESSAGE_SIZE,
)
def test_msgpack_connection_survives_hostile_bytes(side, stream, pieces, chunk, together, limit):
    check_connection("msgpack", side, stream, pieces, chunk, together, limit)


@SIDES
@LINKS
@fuzz_settings(80)
@given(
    pieces=st.lists(shaped("json") | hostile("json"), min_size=1, max_size=3),
    chunk=CHUNKS,
    together=st.booleans(),
    limit=LIMITS,
)
@example(pieces=[SURROGATE_PING], chunk=7, together=False, limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(pieces=[HUGE_PONG], chunk=7, together=False, limit=DEFAULT_MAX_MESSAGE_SIZE)
@example(pieces=[DEEP_JSON], chunk=7, together=True, limit=DEFAULT_MAX_MESSAGE_SIZE)
def test_json_connection_survives_hostile_bytes(side, stream, pieces, chunk, together, limit):
    check_connection("json", side, stream, pieces, chunk, together, limit)


# -- handshakes -----------------------------------------------------------------------------

HANDSHAKE_FIELDS = (
    "registry",
    "serializer",
    "messages",
    "credentials",
    "session",
    "code",
    "reason",
)
#: Python values msgpack packs, for the fields of a handshake payload.
PLAIN_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | INTS
    | st.floats()
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def handshake_frames(draw):
    """A hello or answer frame whose magic, version, size, payload or tail may be hostile."""
    digest = make_factory("msgpack").registry_digest()  # so that some hellos get past it
    fields = st.sampled_from(HANDSHAKE_FIELDS) | st.text(max_size=4)
    payload = draw(st.dictionaries(fields, st.just(digest) | PLAIN_VALUES, max_size=6))
    body = draw(st.just(msgpack.packb(payload)) | MP_VALUES | MP_DEEP)
    magic = draw(
        st.sampled_from([MAGIC, MAGIC, MAGIC, b"PGM"]) | st.binary(min_size=3, max_size=3)
    )
    version = draw(st.sampled_from([PROTOCOL_VERSION, PROTOCOL_VERSION, 0, 255]))
    size = draw(st.just(len(body)) | st.integers(0, 65535))
    return HEADER.pack(magic, version, size) + body + draw(st.just(b"") | hostile("msgpack"))


GOOD_FRAMES = [encode_hello(make_factory("msgpack")), encode_answer(0), encode_answer(4, "bye")]
FIRST_BYTES = st.one_of(
    st.binary(max_size=40), handshake_frames(), mutated(st.sampled_from(GOOD_FRAMES))
)


@SIDES
@LINKS
@fuzz_settings(60)
@given(first=FIRST_BYTES, chunk=CHUNKS)
def test_a_hostile_handshake_never_escapes_update(side, stream, first, chunk):
    scene = side(memory.MemoryNetwork(stream=stream, chunk=chunk), make_factory("msgpack"))
    with default_recursion_limit(), formatted_and_dropped_logs():
        scene.pump()
        scene.raw.send(first, 0, Delivery.RELIABLE)  # in place of the hello or the answer
        scene.pump()
        scene.send_poke()
        scene.pump()
    victim, bystander = scene.victim(), scene.bystander()
    if victim is not None and victim.connection.close_reason is not None:
        assert len(victim.connection.close_reason) <= MAX_ERROR_TEXT
    assert bystander.connection.connected
    assert bystander.received == [scene.poke]
