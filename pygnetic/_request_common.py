"""What both sides of :mod:`pygnetic.request` share: limits, refusal codes and errors.

Also the cleaning of what a peer sends in a refusal. Import these names from
:mod:`pygnetic.request`, which re-exports them.
"""

from __future__ import annotations

from typing import Any

from ._decoding import remote_text
from .errors import PygneticError
from .protocol import MAX_REASON_LENGTH, CloseCode

__all__ = [
    "BUSY",
    "DEFAULT_MAX_INVALID",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "INTERNAL",
    "INVALID",
    "MAX_CODE_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REQUEST_ID",
    "Code",
    "RequestAborted",
    "RequestError",
    "RequestRefused",
    "RequestTimeout",
]

# Limits and refusal codes; pygnetic.request re-exports and documents them.
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_PENDING = 32
DEFAULT_MAX_INVALID = 16
MAX_REQUEST_ID = 2**31 - 1
MAX_CODE_LENGTH = 32

INVALID = "invalid"
BUSY = "busy"
INTERNAL = "internal"

Code = str | int | None
_CODE_RANGE = 2**31


# -- errors ----------------------------------------------------------------------


class RequestError(PygneticError):
    """A request ended without a usable answer.

    Raised as such when the peer answered with a message of the wrong type;
    the subclasses say the other reasons.
    """


class RequestRefused(RequestError):
    """The peer refused the request; raise it in an answering method to refuse.

    Args:
        reason: Short text for people; cut to :data:`MAX_REASON_LENGTH`.
        code: Short token for programs (a str of at most
            :data:`MAX_CODE_LENGTH` characters, or an int), or None.

    Attributes:
        reason: Why, as the peer said it (``str(error)`` is the same).
        code: The peer's code, or None.
    """

    def __init__(self, reason: str, code: Code = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __repr__(self) -> str:
        return f"RequestRefused({self.reason!r}, code={self.code!r})"


class RequestTimeout(RequestError, TimeoutError):
    """No answer arrived before the request's deadline, or before ``wait()`` gave up."""


class RequestAborted(RequestError):
    """The connection closed before the answer arrived.

    Attributes:
        close_code: The connection's :class:`~pygnetic.protocol.CloseCode`.
        close_reason: The connection's ``close_reason``.
    """

    def __init__(
        self, message: str, close_code: CloseCode | None, close_reason: str | None
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.close_reason = close_reason


def _cap(text: Any, limit: int = MAX_REASON_LENGTH) -> str:
    """Return ``text`` as a printable str of at most ``limit`` characters ('' if not a str)."""
    return remote_text(text, limit)


def _code(code: Any) -> Code:
    """Return a received refusal code as kept: a short str, a bounded int, or None."""
    if type(code) is int and -_CODE_RANGE < code < _CODE_RANGE:
        return code
    return _cap(code, MAX_CODE_LENGTH) or None
