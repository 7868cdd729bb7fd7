"""The state server's workspace requests: NetWorkSpaces' operations on the store.

A workspace is a space of kind :data:`~pygnetic.state._model.WORKSPACE`
whose variables hold value queues. Anyone may use one (NetWorkSpaces has no
accounts); its *owner* is the connection that opened it first (or first
opened it after it was made without one), and a workspace that is not
persistent is purged when its owner's connection ends. Each operation
checks what it is sent, calls the store, and returns what to send once its
batch is committed; a fetch with no value to take may instead leave its
reply with the server's :class:`~pygnetic.state._waiters.Waiters`.
"""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any

from ..request import Reply
from ._errors import (
    AppIdError,
    DuplicateError,
    InvalidRequestError,
    NoSuchKeyError,
    QuotaError,
    UnsupportedError,
)
from ._model import ANY, DICT, LIFO, MODES, MULTI, WORKSPACE, Space, check_name, space_key
from ._outputs import Output, nothing, then
from ._protocol import (
    DECLARE,
    DELETE_VAR,
    FETCH,
    LIST_SPACES,
    LIST_VARS,
    MAX_LISTING_BYTES,
    MKTEMP,
    OPEN_SPACE,
    STORE,
)
from ._waiters import Waiter

if TYPE_CHECKING:
    from ._server import StateHandler, StateServer

__all__ = ["WORKSPACE_OPERATIONS", "purge_owned"]

OPENABLE = (WORKSPACE, DICT)
#: A mktemp template: text around one %d.
_TEMPLATE = re.compile(r"[^%]*%d[^%]*")
#: Names mktemp tries before it gives up.
MKTEMP_TRIES = 1000
#: The longest a fetch may wait, in milliseconds (-1 waits for ever).
MAX_WAIT_MS = 2**31
#: The highest value number (the stores' numbers are 64-bit, Redis's exact to 2**53).
MAX_NUMBER = 2**53
#: Workspaces one listing shows at most (the rest: ``more``).
MAX_LISTED_SPACES = 500


def _workspace_key(server: StateServer, name: Any) -> str:
    """The store key of the workspace ``name`` (which may not exist)."""
    limit = server.limits.max_name_length
    return space_key(WORKSPACE, check_name(name, "a workspace name", limit))


def _workspace(server: StateServer, name: Any) -> tuple[str, Space]:
    """The store key and the space of the workspace ``name``, which must exist."""
    key = _workspace_key(server, name)
    space = server.store.get_space(key)
    if space is None:
        raise AppIdError(f"there is no workspace named {name!r}")
    return key, space


def _variable(server: StateServer, name: Any) -> str:
    return check_name(name, "a variable name", server.limits.max_name_length)


def _flag(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise InvalidRequestError(f"{what} must be true or false")
    return value


def _open_space(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    kind = m.kind
    if type(kind) is not str or kind not in OPENABLE:
        raise InvalidRequestError("only a workspace or a dictionary is opened")
    name = check_name(m.name, "a space name", server.limits.max_name_length)
    own = _flag(m.own, "own") and kind == WORKSPACE
    persistent, create = _flag(m.persistent, "persistent"), _flag(m.create, "create")
    key = space_key(kind, name)
    store = server.store
    space = store.get_space(key)
    if space is None:
        if not create:
            raise AppIdError(f"there is no {_what(kind)} named {name!r}")
        owner = handler.owner_token if own else None
        if owner is None or persistent:  # a space never purged
            _count_unowned(server, handler, now)
        made = Space(name, kind, owner, ANY, ANY, persistent if own else kind == DICT)
        try:
            store.create_space(made, server.limits)
            space = made
        except DuplicateError:  # opened at the same time by another client
            space = store.get_space(key)
            if space is None:
                raise AppIdError(f"the {_what(kind)} {name!r} was deleted meanwhile") from None
    if own and space.owner is None:
        claimed = store.claim_space(
            key, handler.owner_token, persistent, server.limits.max_spaces_per_owner
        )
        if claimed is not None:
            space = claimed
    owned = space.owner == handler.owner_token
    if owned:
        handler.owned.add(key)
    return lambda: reply.answer(owned)


def _count_unowned(server: StateServer, handler: StateHandler, now: float) -> None:
    """Spaces nobody owns, and persistent ones, are never purged: so many a minute an address."""
    address = handler.address_key
    wait = server._new_unowned.wait(address, now)
    if wait > 0:
        raise QuotaError(
            f"too many workspaces or dictionaries made from this address; "
            f"try again in {wait:.0f} s"
        )
    server._new_unowned.failed(address, now)


def _what(kind: str) -> str:
    return "workspace" if kind == WORKSPACE else "dictionary"


def _mktemp(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    template = m.template
    if type(template) is not str or not _TEMPLATE.fullmatch(template):
        raise InvalidRequestError("a template holds one %d and no other %")
    check_name(template, "a template", server.limits.max_name_length - 20)
    _count_unowned(server, handler, now)
    for _ in range(MKTEMP_TRIES):
        server.temp_counter += 1
        name = template % server.temp_counter
        try:
            server.store.create_space(Space(name, WORKSPACE, None, ANY, ANY, False), server.limits)
        except DuplicateError:
            continue
        return lambda: reply.answer(name)
    raise QuotaError(f"no free name after {MKTEMP_TRIES} tries")


def _list_spaces(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    if m.kind != WORKSPACE:
        raise InvalidRequestError("only workspaces are listed")
    rows: list[list[Any]] = []
    size, more = 0, False
    for space in server.store.spaces():
        if space.kind != WORKSPACE:
            continue
        if len(rows) >= MAX_LISTED_SPACES:  # each costs the store a look at its variables
            more = True
            break
        names = [name for name, _, _ in server.store.variables(space.key)]
        row: list[Any] = [
            space.name,
            space.owner is not None and space.owner == handler.owner_token,
            space.owner or "",
            space.persistent,
            len(names),
            ",".join(names),
        ]
        size += _size(space.name) + _size(row[2]) + _size(row[5]) + 16
        if size > MAX_LISTING_BYTES:
            more = True
            break
        rows.append(row)
    return lambda: reply.answer(rows, more)


def _declare(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    key, _ = _workspace(server, m.space)
    if type(m.mode) is not str or m.mode not in MODES:
        raise InvalidRequestError("the mode must be 'fifo', 'lifo', 'multi' or 'single'")
    server.store.declare(key, _variable(server, m.var), m.mode, server.limits.max_variables)
    return lambda: reply.answer()


def _store(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    # No look at the space first: a variable exists only in one, and the
    # store refuses a new variable of a missing space (one round trip less).
    key = _workspace_key(server, m.space)
    name = _variable(server, m.var)
    stored = server.service.value(m.data)
    limits = server.limits
    server.store.enqueue(key, name, stored.data, limits.max_variables, limits.max_values)
    return then(reply.answer, *server.waiters.wake((key, name)))


def _fetch(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    key = _workspace_key(server, m.space)
    name = _variable(server, m.var)
    remove = _flag(m.remove, "remove")
    wait_ms, after = m.wait_ms, m.after
    if type(wait_ms) is not int or not -1 <= wait_ms <= MAX_WAIT_MS:
        raise InvalidRequestError("wait_ms must be -1, 0 or a positive number of milliseconds")
    if type(after) is not int or not -1 <= after <= MAX_NUMBER:
        raise InvalidRequestError("after must be -1 or a value's number")
    store = server.store
    if after >= 0 and store.mode(key, name) in (LIFO, MULTI):
        raise UnsupportedError(
            f"{name!r} is a {store.mode(key, name)} variable: iterators take FIFO and SINGLE ones"
        )
    if wait_ms:
        server._hear_changes()  # before looking: a value stored elsewhere after it wakes us
    after = max(after, 0)
    found = store.dequeue(key, name) if remove else store.peek(key, name, after)
    if found is not None:  # a value lives only in a workspace that exists
        data, seq = found.data, found.seq
        return lambda: reply.answer(data, seq)
    _workspace(server, m.space)  # none: say so if there is no workspace
    if wait_ms == 0:
        return lambda: reply.answer(None, 0)
    deadline = math.inf if wait_ms < 0 else now + wait_ms / 1000
    server.waiters.add(Waiter(handler, reply, (key, name), remove, after, deadline))
    return nothing


def _delete_var(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    key, _ = _workspace(server, m.space)
    name = _variable(server, m.var)
    if not server.store.delete_variable(key, name):
        raise NoSuchKeyError(f"there is no variable {name!r}")
    aborted = server.waiters.abort(key, name, f"{name!r} was deleted")
    return then(reply.answer, *aborted)


def _list_vars(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    key, _ = _workspace(server, m.space)
    rows: list[list[Any]] = []
    size, more = 0, False
    for name, mode, count in server.store.variables(key):
        fetchers, finders = server.waiters.counts((key, name))
        size += _size(name) + 24
        if size > MAX_LISTING_BYTES:
            more = True
            break
        rows.append([name, count, fetchers, finders, mode])
    return lambda: reply.answer(rows, more)


def _size(text: str) -> int:
    """Bytes ``text`` takes on the wire (a character may take four)."""
    return len(text.encode())


def purge_owned(server: StateServer, handler: StateHandler) -> list[Output]:
    """Delete the workspaces a closed connection owned that are not persistent.

    Returns the refusals of what waited on them, and the watchers' notices.
    """
    outputs: list[Output] = []
    owned, handler.owned = sorted(handler.owned), set()
    for key in owned:
        try:
            space = server.store.get_space(key)
            if space is None or space.persistent or space.owner != handler.owner_token:
                continue
            deleted = server.store.delete_space(key)
        except server.store.failures:
            # This one stays (purged at a restart, on SQLite); the others go.
            server.log_throttle.log(
                logging.ERROR, "store failed", "cannot purge a workspace", exc_info=True
            )
            continue
        if deleted:
            outputs += server.waiters.abort(key, None, "the workspace was purged")
            outputs += server.watches.space_deleted(key)
    return outputs


WORKSPACE_OPERATIONS = {
    OPEN_SPACE: _open_space,
    MKTEMP: _mktemp,
    LIST_SPACES: _list_spaces,
    DECLARE: _declare,
    STORE: _store,
    FETCH: _fetch,
    DELETE_VAR: _delete_var,
    LIST_VARS: _list_vars,
}
