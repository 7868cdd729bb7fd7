"""Shared persistent state: a service that every copy of a game talks to.

High scores, a message of the day, player counts, saved worlds: what must
outlive a match lives in a *state service*, a small pygnetic server with a
store behind it. Start one with one command (it needs nothing beyond
pygnetic itself; the data goes to ``pygnetic-state.db``)::

    python -m pygnetic.state                # listening on 127.0.0.1:8765

and use it from a game with appstate's API::

    from pygnetic.state import DistributedState, ANY, ADMIN_ONLY

    state = DistributedState('localhost')
    state.create_account('me@example.com', 'my password')   # once
    state.login('me@example.com', 'my password')
    state.new_app('me+mygame', readmode=ANY, writemode=ANY)   # once; then join()
    state['motd'] = 'Welcome!'
    best = state.apply_op('best', lambda b: max(b, 4200), create=True, defaultvalue=0)

Every call blocks until the answer; each has a ``…_nowait`` form for a game
loop, returning a :class:`StateRequest` completed inside
:meth:`~StateClient.poll`, with a callback and, optionally, a pygame event.
:meth:`DistributedState.watch` tells a client when a key changes.

The service keeps its data in a :class:`SQLiteStore` (the default: one file,
every answered write committed), or in a :class:`RedisStore`, which several
services may share. ``python -m pygnetic.state --help`` lists the options
and the admin commands. See the state topic page for the data model,
permissions, limits and durability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._appstate import DistributedState
from ._client import DEFAULT_TIMEOUT, StateClient, StateRequest
from ._errors import (
    AbortedError,
    AppIdError,
    BusyError,
    DataUnchangedError,
    DeclarationError,
    DuplicateError,
    InvalidAddressError,
    InvalidRequestError,
    LeaseError,
    LoginError,
    NoSuchKeyError,
    PermissionError,
    QuotaError,
    SizeError,
    StateError,
    StateTimeoutError,
    StateUnavailableError,
    UnexpectedError,
    UnjoinedError,
    UnsupportedError,
    UpdateFailedError,
)
from ._model import (
    ADMIN_ONLY,
    ANY,
    AUTHORIZED_ONLY,
    MAX_VALUE_SIZE_LIMIT,
    UNBANNED_ONLY,
    Space,
    StateLimits,
    Stored,
    hash_value,
)
from ._nws import NetWorkSpace, NwsValueIterator
from ._nws_errors import (
    DICT,
    FIFO,
    LIFO,
    MULTI,
    SINGLE,
    STRING,
    V_FETCHERS,
    V_FINDERS,
    V_MODE,
    V_VALUES,
    V_VARIABLE,
    WS_MINE,
    WS_NAME,
    WS_NUMVARS,
    WS_OWNER,
    WS_PERSISTENT,
    WS_VARLIST,
    NwsAbortedException,
    NwsConnectException,
    NwsConnectionDroppedException,
    NwsDeclarationFailedException,
    NwsException,
    NwsNoWorkSpaceException,
    NwsOperationException,
    NwsServerException,
    NwsTimeoutException,
    NwsUnsupportedOperationException,
)
from ._nws_server import NwsServer
from ._protocol import STATE_PORT, state_messages
from ._server import DEFAULT_DATABASE, StateServer
from ._sqlite import SQLiteStore
from ._store import Store
from ._synced import DEFAULT_LEASE, SyncedDict

if TYPE_CHECKING:
    from ._redis import RedisStore

__all__ = [
    "ADMIN_ONLY",
    "ANY",
    "AUTHORIZED_ONLY",
    "DEFAULT_DATABASE",
    "DEFAULT_LEASE",
    "DEFAULT_TIMEOUT",
    "DICT",
    "FIFO",
    "LIFO",
    "MAX_VALUE_SIZE_LIMIT",
    "MULTI",
    "SINGLE",
    "STATE_PORT",
    "STRING",
    "UNBANNED_ONLY",
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
    "AbortedError",
    "AppIdError",
    "BusyError",
    "DataUnchangedError",
    "DeclarationError",
    "DistributedState",
    "DuplicateError",
    "InvalidAddressError",
    "InvalidRequestError",
    "LeaseError",
    "LoginError",
    "NetWorkSpace",
    "NoSuchKeyError",
    "NwsAbortedException",
    "NwsConnectException",
    "NwsConnectionDroppedException",
    "NwsDeclarationFailedException",
    "NwsException",
    "NwsNoWorkSpaceException",
    "NwsOperationException",
    "NwsServer",
    "NwsServerException",
    "NwsTimeoutException",
    "NwsUnsupportedOperationException",
    "NwsValueIterator",
    "PermissionError",
    "QuotaError",
    "RedisStore",
    "SQLiteStore",
    "SizeError",
    "Space",
    "StateClient",
    "StateError",
    "StateLimits",
    "StateRequest",
    "StateServer",
    "StateTimeoutError",
    "StateUnavailableError",
    "Store",
    "Stored",
    "SyncedDict",
    "UnexpectedError",
    "UnjoinedError",
    "UnsupportedError",
    "UpdateFailedError",
    "hash_value",
    "state_messages",
]


def __getattr__(name: str) -> Any:
    # RedisStore imports redis-py, an optional extra: only when asked for.
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
