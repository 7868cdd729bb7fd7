"""The state service's exceptions: appstate's names, under one root.

Import them from :mod:`pygnetic.state`. The tree::

    PygneticError
    └── StateError                  anything the state service refuses or cannot do
        ├── AppIdError              no application (space) by that id
        ├── DataUnchangedError      get_if_changed(): the value still has that hash
        ├── DeclarationError        a workspace variable has another mode
        ├── DuplicateError          it exists already (an app id, an account, a grant)
        ├── InvalidAddressError     (ValueError) a server address that is not HOST[:PORT]
        ├── LeaseError              (KeyError) a synced dictionary's key leased to another writer
        ├── LoginError              wrong email or password, or login slowed down
        ├── NoSuchKeyError          (KeyError) the key has no value
        ├── PermissionError         (PermissionError) the read or write mode forbids it
        ├── SizeError               (ValueError) a value over max_value_size
        │   └── QuotaError          a space, or the service, is full
        ├── UnjoinedError           no application joined yet
        ├── UnsupportedError        not on this variable (ifind on a LIFO one)
        ├── AbortedError            a blocked fetch or find whose variable was deleted
        ├── UpdateFailedError       update(): the value's hash is not the one given
        ├── InvalidRequestError     (ValueError) a malformed request, or a value that cannot travel
        ├── BusyError               more requests in flight than the service takes from one client
        ├── StateUnavailableError   (ConnectionError) the service cannot be reached or went away
        ├── StateTimeoutError       (TimeoutError) no answer in time
        └── UnexpectedError         the service failed to answer (its log says why)

Each also derives from the built-in in brackets, so appstate programs that
catch ``KeyError`` or the built-in ``PermissionError`` keep working.
"""

from __future__ import annotations

import builtins

from ..errors import PygneticError

__all__ = [
    "AbortedError",
    "AppIdError",
    "BusyError",
    "DataUnchangedError",
    "DeclarationError",
    "DuplicateError",
    "InvalidAddressError",
    "InvalidRequestError",
    "LeaseError",
    "LoginError",
    "NoSuchKeyError",
    "PermissionError",
    "QuotaError",
    "SizeError",
    "StateError",
    "StateTimeoutError",
    "StateUnavailableError",
    "UnexpectedError",
    "UnjoinedError",
    "UnsupportedError",
    "UpdateFailedError",
]


class StateError(PygneticError):
    """Root of the state service's exceptions.

    Attributes:
        code: The short token the service refused with (see :data:`ERRORS_BY_CODE`).
    """

    code = "error"


class AppIdError(StateError):
    """There is no application with that id (never made, or deleted)."""

    code = "app_id"


class DataUnchangedError(StateError):
    """:meth:`~pygnetic.state.DistributedState.get_if_changed`: the value is unchanged."""

    code = "unchanged"


class DeclarationError(StateError):
    """A workspace variable exists with another mode; a mode never changes."""

    code = "declaration"


class UnsupportedError(StateError):
    """The operation is not for this variable (an iterator over a LIFO or MULTI one)."""

    code = "unsupported"


class AbortedError(StateError):
    """A blocked fetch or find ended without a value: its variable or workspace was deleted."""

    code = "aborted"


class DuplicateError(StateError):
    """It exists already: an application id, an account, an authorization or a ban."""

    code = "duplicate"


class InvalidAddressError(StateError, ValueError):
    """A server address that is not ``HOST`` or ``HOST:PORT``."""

    code = "address"


class LeaseError(StateError, KeyError):
    """A write to a key of a synced dictionary whose lease another writer holds.

    py2p raised a bare ``KeyError``; this is one, with who holds the key.

    Attributes:
        key: The key written, or None.
        holder: The public id of the writer holding its lease (its
            :attr:`~pygnetic.state.SyncedDict.id`), or None.
        expires: When the lease lapses, in wall-clock seconds (the service's
            ``time.time()``), or None.
    """

    code = "leased"

    def __init__(
        self,
        *args: object,
        key: str | None = None,
        holder: str | None = None,
        expires: float | None = None,
    ) -> None:
        super().__init__(*args)
        self.key, self.holder, self.expires = key, holder, expires

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; this is a sentence.
        return str(self.args[0]) if self.args else ""


class LoginError(StateError):
    """The login was refused.

    Attributes:
        reasons: Why, as a list of short texts (appstate's attribute).
    """

    code = "login"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.reasons = [str(arg) for arg in args]


class NoSuchKeyError(StateError, KeyError):
    """The key has no value."""

    code = "no_key"

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; this is a sentence.
        return str(self.args[0]) if self.args else ""


class PermissionError(StateError, builtins.PermissionError):
    """The application's read or write mode does not allow this user to do that."""

    code = "permission"


class SizeError(StateError, ValueError):
    """A value whose packed size is over the service's ``max_value_size``."""

    code = "size"


class QuotaError(SizeError):
    """A space holds its most variables or values, or the service its most spaces or accounts."""

    code = "quota"


class UnjoinedError(StateError):
    """The call needs an application, and none has been joined (see ``join``)."""

    code = "unjoined"


class UpdateFailedError(StateError):
    """:meth:`~pygnetic.state.DistributedState.update`: the value's hash differs."""

    code = "update_failed"


class InvalidRequestError(StateError, ValueError):
    """A malformed request (a bad name, field or type), or a value that cannot be packed."""

    code = "invalid"


class BusyError(StateError):
    """More requests were in flight on one connection than the service takes (64).

    Wait for answers before sending more; a game loop rarely needs more
    than a few at once.
    """

    code = "busy"


class StateUnavailableError(StateError, ConnectionError):
    """The state service cannot be reached, or the connection to it ended."""

    code = "unavailable"


class StateTimeoutError(StateError, TimeoutError):
    """No answer from the state service within the timeout."""

    code = "timeout"


class UnexpectedError(StateError):
    """The service failed to answer the request; its log says why."""

    code = "internal"


#: The exception class for each refusal code the service sends.
ERRORS_BY_CODE: dict[str, type[StateError]] = {
    cls.code: cls
    for cls in (
        AbortedError,
        AppIdError,
        DataUnchangedError,
        DeclarationError,
        StateTimeoutError,
        UnsupportedError,
        DuplicateError,
        LoginError,
        NoSuchKeyError,
        PermissionError,
        SizeError,
        QuotaError,
        UnjoinedError,
        UpdateFailedError,
        InvalidRequestError,
        LeaseError,
        BusyError,
        UnexpectedError,
    )
}
