"""The state service's messages: its own registry, the same on clients and servers.

Always msgpack with pygame's types, whatever the game itself uses. Every
request has ``request_id`` first and is answered in order, with its answer
or ``refused(request_id, code, reason)``, where ``code`` is the ``code`` of
a :mod:`pygnetic.state` exception (see :data:`ERRORS_BY_CODE`). Values
travel packed, as msgpack bytes (``data``): the service decodes what it is
sent within its limits (a value it refuses is a refusal, not a broken
connection) and keeps the canonical msgpack of the value, which it sends
back with its ``hash``.

``version(request_id)``
    answered with ``text(request_id, text)``
``login(request_id, email, password)``
    answered with ``done(request_id)``
``create_account(request_id, email, password)``
    answered with ``done(request_id)``
``new_space(request_id, kind, name, readmode, writemode, persistent)``
    answered with ``done(request_id)``
``join(request_id, kind, name)``
    answered with ``joined(request_id, readmode, writemode, admin)``
``delete_space(request_id, kind, name)``
    answered with ``done(request_id)``
``get(request_id, kind, space, key, unless_hash)``
    answered with ``value(request_id, data, hash)``
``put(request_id, kind, space, key, data, expect)``
    answered with ``stored(request_id, hash)``
``remove(request_id, kind, space, key)``
    answered with ``done(request_id)``
``member(request_id, kind, space, action, email)``
    answered with ``done(request_id)``
``watch(request_id, kind, space, key)``
    answered with ``value(request_id, data, hash)``
``unwatch(request_id, kind, space, key)``
    answered with ``done(request_id)``

Workspaces (NetWorkSpaces) and synced dictionaries (py2p):

``open_space(request_id, kind, name, own, persistent, create)``
    answered with ``opened(request_id, owned)``
``mktemp(request_id, template)``
    answered with ``text(request_id, name)``
``list_spaces(request_id, kind)``
    answered with ``listing(request_id, rows, more)``:
    ``[name, mine, owner, persistent, variables, names]`` per workspace
``declare(request_id, space, var, mode)``
    answered with ``done(request_id)``
``store(request_id, space, var, data)``
    answered with ``done(request_id)``
``fetch(request_id, space, var, remove, wait_ms, after)``
    answered with ``item(request_id, data, seq)``
``delete_var(request_id, space, var)``
    answered with ``done(request_id)``
``cancel(request_id, fetch_id)``
    answered with ``done(request_id)``, at once (never queued, never
    ``busy``): the fetch ``fetch_id`` of this connection, if it still
    waits or is still queued, is refused with ``aborted``
``list_vars(request_id, space)``
    answered with ``listing(request_id, rows, more)``:
    ``[name, values, fetchers, finders, mode]`` per variable
``identify(request_id, secret)``
    answered with ``text(request_id, holder)``
``dict_put(request_id, space, key, data, lease)``
    answered with ``lease(request_id, ok, hash, holder, until)``
``dict_pop(request_id, space, key)``
    answered with ``popped(request_id, ok, data, holder, until)``
``dict_items(request_id, space, after)``
    answered with ``items(request_id, rows, more)``: ``[key, data, hash]`` per key

``fetch`` takes the value (``remove`` true) or finds it; ``wait_ms`` 0 answers
at once (``data`` None when there is none), -1 waits until a value comes,
more waits that long and refuses with ``timeout``. Answers to waiting
fetches come when their value does, after later requests' answers. ``after``
-1 is a plain fetch; 0 or more an iterator's, which FIFO and SINGLE
variables allow (else ``unsupported``), finding only a value numbered above
it. Deleting the variable or the workspace refuses its waiting fetches with
``aborted``. A workspace's space kind is ``ws``, a dictionary's ``dict``;
``delete_space`` deletes a workspace, and ``watch`` with the key ``''``
watches every key of a dictionary. ``identify`` names the writer of a
connection's ``dict_put``: the holder is a hash of the secret, so that
showing it to others gives nobody the right to write as it. ``dict_put``
with ``lease`` seconds (0: none) is answered with ``ok`` false, and the
holder and expiry (wall-clock seconds) of the lease, when another writer
holds it; so is ``dict_pop``.

``get`` with ``unless_hash`` set refuses with ``unchanged`` when the value
has that hash; ``put`` with ``expect`` set (the empty string for "no value")
refuses with ``update_failed`` unless the value has that hash. ``value`` of
a key with no value carries ``data = None`` (``watch``; ``get`` refuses with
``no_key``). While a key is watched, the service sends
``changed(kind, space, key, data, hash)`` after each change (``data`` None:
deleted). ``member``'s actions are ``authorize``, ``unauthorize``, ``ban``
and ``unban``.
"""

from __future__ import annotations

from ..message import MessageFactory
from ..request import RequestTypes
from ._model import MAX_VALUE_SIZE_LIMIT

__all__ = ["STATE_PORT", "state_messages", "state_requests"]

#: Port a state service listens on unless told otherwise (appstate's default).
STATE_PORT = 8765
#: Network adapter of the state service and its clients unless told otherwise.
STATE_ADAPTER = "socket"
#: Malformed requests after which the service closes a connection.
MAX_INVALID_REQUESTS = 32
#: Requests one connection may have waiting for the service at once.
MAX_PENDING_REQUESTS = 64

#: The state service protocol. Frozen when first used; register nothing in it.
state_messages = MessageFactory("msgpack", max_message_size=MAX_VALUE_SIZE_LIMIT + 64 * 1024)
_register = state_messages.register

VERSION = _register("version", ("request_id",))
LOGIN = _register("login", ("request_id", "email", "password"))
CREATE_ACCOUNT = _register("create_account", ("request_id", "email", "password"))
NEW_SPACE = _register(
    "new_space", ("request_id", "kind", "name", "readmode", "writemode", "persistent")
)
JOIN = _register("join", ("request_id", "kind", "name"))
DELETE_SPACE = _register("delete_space", ("request_id", "kind", "name"))
GET = _register("get", ("request_id", "kind", "space", "key", "unless_hash"))
PUT = _register("put", ("request_id", "kind", "space", "key", "data", "expect"))
REMOVE = _register("remove", ("request_id", "kind", "space", "key"))
MEMBER = _register("member", ("request_id", "kind", "space", "action", "email"))
WATCH = _register("watch", ("request_id", "kind", "space", "key"))
UNWATCH = _register("unwatch", ("request_id", "kind", "space", "key"))

OPEN_SPACE = _register("open_space", ("request_id", "kind", "name", "own", "persistent", "create"))
MKTEMP = _register("mktemp", ("request_id", "template"))
LIST_SPACES = _register("list_spaces", ("request_id", "kind"))
DECLARE = _register("declare", ("request_id", "space", "var", "mode"))
STORE = _register("store", ("request_id", "space", "var", "data"))
FETCH = _register("fetch", ("request_id", "space", "var", "remove", "wait_ms", "after"))
DELETE_VAR = _register("delete_var", ("request_id", "space", "var"))
CANCEL = _register("cancel", ("request_id", "fetch_id"))
LIST_VARS = _register("list_vars", ("request_id", "space"))
IDENTIFY = _register("identify", ("request_id", "secret"))
DICT_PUT = _register("dict_put", ("request_id", "space", "key", "data", "lease"))
DICT_POP = _register("dict_pop", ("request_id", "space", "key"))
DICT_ITEMS = _register("dict_items", ("request_id", "space", "after"))

TEXT = _register("text", ("request_id", "text"))
DONE = _register("done", ("request_id",))
JOINED = _register("joined", ("request_id", "readmode", "writemode", "admin"))
VALUE = _register("value", ("request_id", "data", "hash"))
STORED = _register("stored", ("request_id", "hash"))
CHANGED = _register("changed", ("kind", "space", "key", "data", "hash"))
OPENED = _register("opened", ("request_id", "owned"))
LISTING = _register("listing", ("request_id", "rows", "more"))
ITEM = _register("item", ("request_id", "data", "seq"))
LEASE = _register("lease", ("request_id", "ok", "hash", "holder", "until"))
POPPED = _register("popped", ("request_id", "ok", "data", "holder", "until"))
ITEMS = _register("items", ("request_id", "rows", "more"))

#: Which state messages are requests, and their answers; registers ``refused``.
state_requests = RequestTypes(
    state_messages, max_pending=MAX_PENDING_REQUESTS, max_invalid=MAX_INVALID_REQUESTS
)
REFUSED = state_requests.refusal
#: Every request, with the answer it gets.
ANSWERS = (
    (VERSION, TEXT),
    (LOGIN, DONE),
    (CREATE_ACCOUNT, DONE),
    (NEW_SPACE, DONE),
    (JOIN, JOINED),
    (DELETE_SPACE, DONE),
    (GET, VALUE),
    (PUT, STORED),
    (REMOVE, DONE),
    (MEMBER, DONE),
    (WATCH, VALUE),
    (UNWATCH, DONE),
    (OPEN_SPACE, OPENED),
    (MKTEMP, TEXT),
    (LIST_SPACES, LISTING),
    (DECLARE, DONE),
    (STORE, DONE),
    (FETCH, ITEM),
    (DELETE_VAR, DONE),
    (CANCEL, DONE),
    (LIST_VARS, LISTING),
    (IDENTIFY, TEXT),
    (DICT_PUT, LEASE),
    (DICT_POP, POPPED),
    (DICT_ITEMS, ITEMS),
)
for _request, _answer in ANSWERS:
    state_requests.add(_request, _answer)
#: The requests a client may send.
REQUESTS = frozenset(request for request, _ in ANSWERS)
#: The requests that may write to the store (the others only read).
WRITES = frozenset(
    (
        CREATE_ACCOUNT,
        NEW_SPACE,
        DELETE_SPACE,
        PUT,
        REMOVE,
        MEMBER,
        OPEN_SPACE,
        MKTEMP,
        DECLARE,
        STORE,
        FETCH,
        DELETE_VAR,
        DICT_PUT,
        DICT_POP,
    )
)
#: Bytes of rows one listing or page of items carries at most (the rest: ``more``).
MAX_LISTING_BYTES = 512 * 1024

#: Member actions: (role, True to grant / False to revoke).
MEMBER_ACTIONS = {
    "authorize": ("authorized", True),
    "unauthorize": ("authorized", False),
    "ban": ("banned", True),
    "unban": ("banned", False),
}
