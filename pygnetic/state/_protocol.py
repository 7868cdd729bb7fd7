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

TEXT = _register("text", ("request_id", "text"))
DONE = _register("done", ("request_id",))
JOINED = _register("joined", ("request_id", "readmode", "writemode", "admin"))
VALUE = _register("value", ("request_id", "data", "hash"))
STORED = _register("stored", ("request_id", "hash"))
CHANGED = _register("changed", ("kind", "space", "key", "data", "hash"))

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
)
for _request, _answer in ANSWERS:
    state_requests.add(_request, _answer)
#: The requests a client may send.
REQUESTS = frozenset(request for request, _ in ANSWERS)
#: The requests that may write to the store (the others only read).
WRITES = frozenset((CREATE_ACCOUNT, NEW_SPACE, DELETE_SPACE, PUT, REMOVE, MEMBER))

#: Member actions: (role, True to grant / False to revoke).
MEMBER_ACTIONS = {
    "authorize": ("authorized", True),
    "unauthorize": ("authorized", False),
    "ban": ("banned", True),
    "unban": ("banned", False),
}
