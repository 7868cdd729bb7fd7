"""Discovery descriptions and the LAN wire format: limits, round trips, hostile bytes."""

import contextlib
import logging

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pygnetic.discovery import (
    MAX_GAME_LENGTH,
    MAX_INFO_SIZE,
    MAX_NAME_LENGTH,
    Announcer,
    ServerInfo,
    ServerInfoError,
)
from pygnetic.discovery._info import LogThrottle, validate
from pygnetic.discovery.lan import (
    MAGIC,
    MAX_PACKET_SIZE,
    VERSION,
    decode,
    encode_announcement,
    encode_goodbye,
)
from pygnetic.errors import LocalError, MessageError

GOOD = ("Tom's server", "tanks", 10000, 1, 4, {"map": "forest", "mods": ["a", "b"]})


def packet(*body):
    return MAGIC + bytes((VERSION,)) + msgpack.packb(list(body))


def test_a_good_description_passes():
    validate(*GOOD)


@pytest.mark.parametrize(
    ("index", "value", "words"),
    [
        (0, "x" * (MAX_NAME_LENGTH + 1), "name is 65 characters"),
        (0, "evil\nname", "control characters"),
        (0, b"bytes", "name must be a str"),
        (1, "g" * (MAX_GAME_LENGTH + 1), "game is 33 characters"),
        (2, 0, "port must be an int from 1 to 65535"),
        (2, 70000, "port"),
        (2, True, "port"),
        (3, -1, "players"),
        (4, "4", "max_players"),
        (5, [], "info must be a dict"),
        (5, {1: "x"}, "keys must be str"),
        (5, {"x": {1, 2}}, "values must be"),
        (5, {"a": {"b": {"c": {"d": [1]}}}}, "nested deeper than 4"),
        (5, {"blob": b"x" * MAX_INFO_SIZE}, "over the limit of 1024"),
        (6, "yes", "private must be True or False, not 'yes'"),
        (6, 1, "private must be True or False"),
        (6, None, "private must be True or False"),
    ],
)
def test_each_limit_is_named_in_the_error(index, value, words):
    fields = [*GOOD, False]
    fields[index] = value
    with pytest.raises(ServerInfoError, match=words) as caught:
        validate(*fields)
    assert isinstance(caught.value, LocalError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(MessageError, match=words):
        validate(*fields, error=MessageError)


def test_server_info_is_comparable_and_hashable_by_address():
    one = ServerInfo("a", "10.0.0.1", 10000, 1, 4, {"map": "x"}, "tanks")
    same = ServerInfo("a", "10.0.0.1", 10000, 1, 4, {"map": "x"}, "tanks")
    assert one == same
    assert {one: 1}[same] == 1
    assert one.address == ("10.0.0.1", 10000)
    assert not one.full
    assert ServerInfo("b", "h", 1, 4, 4).full
    assert not one.private
    assert one != ServerInfo("a", "10.0.0.1", 10000, 1, 4, {"map": "x"}, "tanks", True)


def test_announcement_round_trip():
    data = encode_announcement(*GOOD[:5], 0.5, GOOD[5])
    assert data.startswith(b"PGND\x01")
    decoded = decode(data)
    assert not decoded.goodbye
    assert (decoded.name, decoded.game, decoded.port) == GOOD[:3]
    assert (decoded.players, decoded.max_players, decoded.info) == (*GOOD[3:5], GOOD[5])
    assert decoded.interval == 0.5


@pytest.mark.parametrize("private", [True, False])
def test_private_travels_in_the_announcement(private):
    decoded = decode(encode_announcement(*GOOD[:5], 1.0, GOOD[5], private))
    assert decoded.private is private


def test_an_announcement_without_private_is_not_private():
    """What pygnetic sent before ``private`` was added: eight items."""
    decoded = decode(packet(0, "n", "g", 1, 0, 2, 1.0, {}))
    assert (decoded.name, decoded.private) == ("n", False)


def test_goodbye_round_trip():
    decoded = decode(encode_goodbye(10000))
    assert decoded.goodbye
    assert decoded.port == 10000


def test_largest_description_fits_one_datagram():
    info = {"k": "x" * (MAX_INFO_SIZE - 10)}
    validate("\U0001f600" * MAX_NAME_LENGTH, "\U0001f600" * MAX_GAME_LENGTH, 65535, 10, 10, info)
    data = encode_announcement(
        "\U0001f600" * MAX_NAME_LENGTH, "\U0001f600" * MAX_GAME_LENGTH, 65535, 10, 10, 1.0, info
    )
    assert len(data) <= MAX_PACKET_SIZE


def test_extra_trailing_fields_from_newer_versions_are_ignored():
    decoded = decode(packet(0, "n", "g", 1, 0, 2, 1.0, {}, True, "future", 42))
    assert (decoded.name, decoded.private) == ("n", True)


def test_interval_is_clamped():
    assert decode(packet(0, "n", "", 1, 0, 2, 10_000, {})).interval == 60.0
    assert decode(packet(0, "n", "", 1, 0, 2, 1e-9, {})).interval == 0.01


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"PGN",
        b"PGND\x02" + msgpack.packb([0]),  # another version
        b"M-SEARCH * HTTP/1.1\r\n",
    ],
)
def test_foreign_datagrams_are_not_ours(data):
    assert decode(data) is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"PGND\x01", "undecodable"),
        (b"PGND\x01\xc1", "undecodable"),
        (b"PGND\x01" + msgpack.packb({"a": 1}), "not an announcement"),
        (packet(7, 1), "not an announcement"),
        (packet(0, "n"), "announcement has 1 fields"),
        (packet(0, "n", "g", 99999, 0, 2, 1.0, {}), "port"),
        (packet(0, "n", "g", 1, 0, 2, "soon", {}), "interval"),
        (packet(0, "n", "g", 1, 0, 2, -1.0, {}), "interval"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, None), "info must be a dict"),
        (packet(1, "x"), "port"),
        (b"PGND\x01" + b"\x91" * 2000, "byte limit"),
        (b"PGND\x01" + b"\x91" * 1400, "nested|undecodable|not an announcement"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, {"a": b"x" * 1300}), "info encodes to"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, {}, "yes"), "private must be True or False"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, {}, 1), "private must be True or False"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, {}, None), "private must be True or False"),
        (packet(0, "n", "g", 1, 0, 2, 1.0, {}, "x" * 1000), r"not 'x+\.\.\.$"),
    ],
)
def test_malformed_datagrams_raise_message_error(data, words):
    with pytest.raises(MessageError, match=words):
        decode(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_the_magic_are_refused_cleanly(tail):
    with contextlib.suppress(MessageError):
        decode(MAGIC + bytes((VERSION,)) + tail)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.text(max_size=70)
        | st.floats(),
        max_size=10,
    )
)
def test_any_msgpack_array_is_decoded_or_refused_cleanly(body):
    try:
        result = decode(packet(*body))
    except MessageError:
        return
    validate(
        result.name,
        result.game,
        result.port,
        result.players,
        result.max_players,
        {},
        result.private,
    )


def test_announcer_checks_its_description_when_made_and_changed():
    with pytest.raises(ServerInfoError, match="name"):
        Announcer(port=10000, name="x" * 100)
    with pytest.raises(TypeError, match="server or a port"):
        Announcer(name="x")
    with Announcer(port=10000, name="ok", target=("127.0.0.1", 9)) as announcer:
        with pytest.raises(ServerInfoError, match="info"):
            announcer.info = {"x": "y" * 2000}
        assert announcer.info == {}
        announcer.players = -3
        with pytest.raises(ServerInfoError, match="players"):
            announcer.update()
    announcer.close()  # closing twice, with a bad description, is fine


def test_announcer_private_is_checked_and_announced():
    with pytest.raises(ServerInfoError, match="private must be True or False"):
        Announcer(port=10000, private="yes")
    with Announcer(port=10000, name="room", private=True, target=("127.0.0.1", 9)) as announcer:
        assert announcer.private is True
        assert decode(announcer._packet()).private is True
        with pytest.raises(ServerInfoError, match="private"):
            announcer.private = 1
        assert announcer.private is True  # unchanged by the refused value
        announcer.private = False
        assert announcer.description()[-1] is False
        assert decode(announcer._packet()).private is False


def test_log_throttle_holds_back_and_counts(caplog):
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("test.throttle"), period=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.throttle"):
        for _ in range(5):
            throttle(logging.WARNING, "bad %s", "packet")
        now[0] = 10.0
        throttle(logging.WARNING, "bad %s", "packet")
    assert [r.getMessage() for r in caplog.records] == [
        "bad packet",
        "bad packet (and 4 similar line(s) held back)",
    ]
