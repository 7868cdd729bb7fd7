"""Accounts of the state service: salted scrypt records, and slowing down guessing.

A password is never stored: an account keeps a record of the scrypt
parameters, a random 16-byte salt and the 32-byte key scrypt derives, and a
login derives the key again and compares the two in constant time. Deriving
takes tens of milliseconds on purpose; the server counts it in the time it
gives requests per ``update()``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from ._errors import InvalidRequestError

__all__ = ["check_password", "make_record"]

_MAGIC = b"pgs1"
# scrypt's cost: N = 2**14, r = 8, p = 1 asks for 16 MiB and about 30-60 ms,
# the parameters Python's documentation and OWASP give for interactive logins.
_LOG2_N, _R, _P = 14, 8, 1
_SALT, _KEY = 16, 32
_HEADER = struct.Struct(">4sBBB")
#: Shortest password an account may have.
MIN_PASSWORD_LENGTH = 6


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=(128 * r * (1 << log2_n)) + (1 << 22),
        dklen=_KEY,
    )


def check_new_password(password: object, max_length: int) -> str:
    """Return ``password`` if an account may have it.

    Raises:
        InvalidRequestError: It is not a str of ``MIN_PASSWORD_LENGTH`` to
            ``max_length`` characters.
    """
    if type(password) is not str:
        raise InvalidRequestError("a password must be a str")
    if not MIN_PASSWORD_LENGTH <= len(password) <= max_length:
        raise InvalidRequestError(
            f"a password must have {MIN_PASSWORD_LENGTH} to {max_length} characters"
        )
    return password


def make_record(password: str) -> bytes:
    """Return the stored record of ``password``: scrypt parameters, salt, derived key."""
    salt = os.urandom(_SALT)
    return _HEADER.pack(_MAGIC, _LOG2_N, _R, _P) + salt + _derive(password, salt, _LOG2_N, _R, _P)


def check_password(record: bytes | None, password: object) -> bool:
    """True if ``password`` is the one ``record`` was made from.

    With no record (no such account), a key is still derived, so that the
    time taken does not tell which accounts exist.
    """
    if not isinstance(password, str):
        return False
    if record is None or len(record) != _HEADER.size + _SALT + _KEY:
        _derive(password, bytes(_SALT), _LOG2_N, _R, _P)
        return False
    magic, log2_n, r, p = _HEADER.unpack_from(record)
    if magic != _MAGIC or not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        _derive(password, bytes(_SALT), _LOG2_N, _R, _P)
        return False
    salt = record[_HEADER.size : _HEADER.size + _SALT]
    key = record[_HEADER.size + _SALT :]
    return hmac.compare_digest(_derive(password, salt, log2_n, r, p), key)
