"""The state service's pieces that need no network: addresses, hashes, limits, rules."""

import builtins

import pytest

import pygnetic.state as state
from pygnetic.request import RequestRefused, RequestTimeout
from pygnetic.state import (
    ADMIN_ONLY,
    ANY,
    AUTHORIZED_ONLY,
    UNBANNED_ONLY,
    InvalidAddressError,
    StateLimits,
    hash_value,
)
from pygnetic.state._accounts import check_password, make_record
from pygnetic.state._client import parse_address, state_error
from pygnetic.state._errors import ERRORS_BY_CODE
from pygnetic.state._model import Space, pack_value, unpack_value
from pygnetic.state._service import allowed
from pygnetic.state._store import AUTHORIZED, BANNED


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost", ("localhost", 8765)),
        ("example.com:9000", ("example.com", 9000)),
        ("10.0.0.1", ("10.0.0.1", 8765)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", 8765)),
        ("::1", ("::1", 8765)),
        (("host", "80"), ("host", 80)),
    ],
)
def test_server_addresses(given, expected):
    assert parse_address(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "host:", "host:x", "host:0", "host:70000", "[::1", 42, ("a",)]
)
def test_bad_server_addresses(bad):
    with pytest.raises(InvalidAddressError):
        parse_address(bad)


def test_hash_value_is_the_hash_of_the_stored_bytes():
    for value in (1, "a", [1, (2, 3)], {"a": b"b"}, None, 1.5):
        stored = pack_value(value, 1024)
        assert hash_value(value) == stored.hash
        assert hash_value(unpack_value(stored.data)) == stored.hash
    assert hash_value([1, 2]) == hash_value((1, 2))
    assert hash_value(1) != hash_value(1.0) != hash_value("1")
    assert len(hash_value("x")) == 32


def test_a_value_over_max_size_is_a_size_error():
    with pytest.raises(state.SizeError):
        pack_value("x" * 100, 50)
    with pytest.raises(state.InvalidRequestError):
        pack_value(object(), 50)


def test_limits_are_checked():
    with pytest.raises(ValueError, match="max_value_size"):
        StateLimits(max_value_size=0)
    with pytest.raises(ValueError, match="at most"):
        StateLimits(max_value_size=2**30)
    with pytest.raises(ValueError, match="max_watches"):
        StateLimits(max_watches=1.5)


def test_the_permission_rules():
    def who(mode):
        space = Space("s", owner="admin", readmode=mode, writemode=mode)
        return {
            name
            for name, user, roles in (
                ("admin", "admin", frozenset()),
                ("authorized", "a", frozenset({AUTHORIZED})),
                ("banned", "b", frozenset({BANNED})),
                ("other", "o", frozenset()),
                ("anonymous", None, frozenset()),
            )
            if allowed(space, mode, user, roles)
        }

    assert who(ANY) == {"admin", "authorized", "banned", "other", "anonymous"}
    assert who(ADMIN_ONLY) == {"admin"}
    assert who(AUTHORIZED_ONLY) == {"admin", "authorized"}
    assert who(UNBANNED_ONLY) == {"admin", "authorized", "other"}


def test_password_records():
    record = make_record("correct horse")
    assert b"correct horse" not in record
    assert check_password(record, "correct horse")
    assert not check_password(record, "correct horsE")
    assert not check_password(None, "anything")
    assert not check_password(record[:-1], "correct horse")
    assert not check_password(record, 12)
    assert make_record("same") != make_record("same")  # salted


def test_the_exceptions_keep_appstates_names_and_builtins():
    for name in ("AppIdError", "DataUnchangedError", "DuplicateError", "InvalidAddressError",
                 "LoginError", "PermissionError", "SizeError", "UnexpectedError",
                 "UnjoinedError", "UpdateFailedError"):  # fmt: skip
        assert issubclass(getattr(state, name), state.StateError)
    assert issubclass(state.PermissionError, builtins.PermissionError)
    assert issubclass(state.NoSuchKeyError, KeyError)
    assert issubclass(state.QuotaError, state.SizeError)
    assert issubclass(state.StateTimeoutError, TimeoutError)
    assert issubclass(state.StateUnavailableError, ConnectionError)
    assert all(cls.code == code for code, cls in ERRORS_BY_CODE.items())


def test_refusals_become_the_matching_exception():
    assert isinstance(state_error(RequestRefused("no", "update_failed")), state.UpdateFailedError)
    assert isinstance(state_error(RequestRefused("no", "no_key")), KeyError)
    assert isinstance(state_error(RequestRefused("no", "made-up")), state.UnexpectedError)
    assert isinstance(state_error(RequestRefused("no", 7)), state.UnexpectedError)
    assert isinstance(state_error(RequestTimeout("late")), state.StateTimeoutError)
    assert str(state_error(RequestRefused("the reason", "size"))) == "the reason"
