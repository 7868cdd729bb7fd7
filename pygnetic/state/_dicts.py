"""The state server's synced-dictionary requests: py2p's dictionary with its leases.

A dictionary is a space of kind :data:`~pygnetic.state._model.DICT` that
anyone may read and write, made by the first client that opens it. Each key
may carry a lease: the writer that took it (a holder, named by a hash of a
secret its connection gave with ``identify``) alone may change or delete the
key until the lease lapses, by the server's wall clock. Clients keep a
replica of the whole dictionary, current through a watch of the key ``''``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..request import Reply
from ._errors import AppIdError, InvalidRequestError
from ._model import DICT, Entry, Space, check_name, space_key
from ._outputs import Output, then
from ._protocol import DICT_ITEMS, DICT_POP, DICT_PUT, IDENTIFY, MAX_LISTING_BYTES

if TYPE_CHECKING:
    from ._server import StateHandler, StateServer

__all__ = ["DICT_OPERATIONS", "holder_of"]

#: Characters of an ``identify`` secret, fewest and most.
MIN_SECRET, MAX_SECRET = 16, 256
#: Entries one page of ``dict_items`` holds at most.
PAGE_ROWS = 1024


def holder_of(secret: str) -> str:
    """Return the public name of the writer that knows ``secret``."""
    return hashlib.blake2b(secret.encode(), digest_size=12).hexdigest()


def _dictionary(server: StateServer, name: Any) -> tuple[str, Space]:
    key = space_key(DICT, check_name(name, "a dictionary name", server.limits.max_name_length))
    space = server.store.get_space(key)
    if space is None:
        raise AppIdError(f"there is no dictionary named {name!r}")
    return key, space


def _identify(
    server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float
) -> Output:
    secret = m.secret
    if type(secret) is not str or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise InvalidRequestError(f"a secret is a str of {MIN_SECRET} to {MAX_SECRET} characters")
    handler.holder = holder = holder_of(secret)
    return lambda: reply.answer(holder)


def _put(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    key, space = _dictionary(server, m.space)
    name = check_name(m.key, "a key", server.limits.max_name_length)
    lease = m.lease
    if type(lease) not in (int, float) or not 0 <= lease <= server.limits.max_lease:
        raise InvalidRequestError(f"a lease lasts 0 to {server.limits.max_lease} seconds")
    stored = server.service.value(m.data)
    holder = handler.holder
    wall = server.wall_clock()
    until = wall + lease if lease else 0.0
    entry = Entry(name, stored.data, stored.hash, holder, until)
    held = server.store.put_leased(key, entry, wall, server.limits.max_variables)
    if held is not None:
        fields = (False, held.hash, held.holder, held.lease_until)
        return lambda: reply.answer(*fields)
    told = server.watches.tell(space, name, stored)
    return then(lambda: reply.answer(True, stored.hash, holder if until else None, until), told)


def _pop(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    key, space = _dictionary(server, m.space)
    name = check_name(m.key, "a key", server.limits.max_name_length)
    wall = server.wall_clock()
    was = server.store.remove_leased(key, name, handler.holder, wall)
    if was.holder is not None and was.holder != handler.holder and was.lease_until > wall:
        fields = (False, None, was.holder, was.lease_until)
        return lambda: reply.answer(*fields)
    told = server.watches.tell(space, name, None)
    return then(lambda: reply.answer(True, was.data, was.holder, was.lease_until), told)


def _items(server: StateServer, handler: StateHandler, m: Any, reply: Reply, now: float) -> Output:
    key, _ = _dictionary(server, m.space)
    after = m.after
    if type(after) is not str or len(after) > server.limits.max_name_length:
        raise InvalidRequestError("after must be a key, or '' for the first page")
    rows: list[list[Any]] = []
    size, more = 0, False
    # One read of the store per page: on Redis each costs a look at every key.
    page = server.store.entries(key, after, PAGE_ROWS)
    for entry in page:
        size += len(entry.name.encode()) + len(entry.data) + 48
        if size > MAX_LISTING_BYTES and rows:
            more = True
            break
        rows.append([entry.name, entry.data, entry.hash])
    more = more or len(page) == PAGE_ROWS
    return lambda: reply.answer(rows, more)


DICT_OPERATIONS = {
    IDENTIFY: _identify,
    DICT_PUT: _put,
    DICT_POP: _pop,
    DICT_ITEMS: _items,
}
