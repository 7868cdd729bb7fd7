"""NetWorkSpaces' exceptions and constants, under the state service's root.

The seed's tree, each also a :class:`~pygnetic.state.StateError`, with two
additions for what pygnetic adds to it (a timeout for ``fetch`` and
``find``, and the end of a blocked call whose variable was deleted)::

    StateError
    └── NwsException
        ├── NwsServerException                 talking to the service failed
        │   ├── NwsConnectException            cannot connect
        │   ├── NwsConnectionDroppedException  the connection ended
        │   └── NwsUnsupportedOperationException  not for this variable (ifind on LIFO)
        └── NwsOperationException              the service refused the operation
            ├── NwsDeclarationFailedException  a mode differs from the variable's
            ├── NwsNoWorkSpaceException        no such workspace
            ├── NwsTimeoutException            (TimeoutError) no value in the time given
            └── NwsAbortedException            a blocked call's variable was deleted
"""

from __future__ import annotations

from ._errors import (
    AbortedError,
    AppIdError,
    DeclarationError,
    StateError,
    StateTimeoutError,
    StateUnavailableError,
    UnsupportedError,
)
from ._model import FIFO, LIFO, MULTI, SINGLE  # the variable modes: the seed's strings

__all__ = [
    "DICT",
    "FIFO",
    "LIFO",
    "MULTI",
    "SINGLE",
    "STRING",
    "V_FETCHERS",
    "V_FINDERS",
    "V_MODE",
    "V_VALUES",
    "V_VARIABLE",
    "WS_MINE",
    "WS_NAME",
    "WS_NUMVARS",
    "WS_OWNER",
    "WS_PERSISTENT",
    "WS_VARLIST",
    "NwsAbortedException",
    "NwsConnectException",
    "NwsConnectionDroppedException",
    "NwsDeclarationFailedException",
    "NwsException",
    "NwsNoWorkSpaceException",
    "NwsOperationException",
    "NwsServerException",
    "NwsTimeoutException",
    "NwsUnsupportedOperationException",
    "nws_error",
]

#: Formats of ``listVars`` and ``listWss``.
STRING = "string"
DICT = "dict"
#: Fields of a ``listVars(format='dict')`` tuple.
V_VARIABLE, V_VALUES, V_FETCHERS, V_FINDERS, V_MODE = range(5)
#: Fields of a ``listWss(format='dict')`` tuple.
WS_NAME, WS_MINE, WS_OWNER, WS_PERSISTENT, WS_NUMVARS, WS_VARLIST = range(6)


class NwsException(StateError):
    """Base class for all exceptions raised by NetWorkSpace and NwsServer."""


class NwsServerException(NwsException):
    """Error communicating with the service."""


class NwsConnectException(NwsServerException):
    """Unable to connect to the service."""


class NwsConnectionDroppedException(NwsServerException):
    """The connection to the service ended; a blocked fetch's value may be lost with it."""


class NwsUnsupportedOperationException(NwsServerException):
    """The service does not do this: an iterator over a LIFO or MULTI variable."""


class NwsOperationException(NwsException):
    """The service refused the operation (a value too big, a full workspace …)."""


class NwsDeclarationFailedException(NwsOperationException):
    """Variable declaration failed: the variable has another mode, which never changes."""


class NwsNoWorkSpaceException(NwsOperationException):
    """No such workspace."""


class NwsTimeoutException(NwsOperationException, TimeoutError):
    """``fetch`` or ``find`` with a timeout: no value came in time."""


class NwsAbortedException(NwsOperationException):
    """A blocked ``fetch`` or ``find`` ended: its variable or workspace was deleted."""


_BY_ERROR: tuple[tuple[type[StateError], type[NwsException]], ...] = (
    (AppIdError, NwsNoWorkSpaceException),
    (DeclarationError, NwsDeclarationFailedException),
    (UnsupportedError, NwsUnsupportedOperationException),
    (StateTimeoutError, NwsTimeoutException),
    (AbortedError, NwsAbortedException),
    (StateUnavailableError, NwsConnectionDroppedException),
)


def nws_error(error: BaseException) -> BaseException:
    """Return the NetWorkSpaces exception for a state service error (others pass through)."""
    if isinstance(error, NwsException) or not isinstance(error, StateError):
        return error
    for state_class, nws_class in _BY_ERROR:
        if isinstance(error, state_class):
            return nws_class(str(error))
    return NwsOperationException(f"{error} ({error.code})")
