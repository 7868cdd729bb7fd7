"""The Redis store: one Redis that several state servers share.

Every server given the same Redis (and the same ``prefix``) sees the same
spaces, variables, grants and accounts. Each check that decides a write (the
space exists, the hash is the expected one, the space or the service has
room) runs in one Lua script together with the write it guards, so Redis
applies the two as one step: of two servers racing a compare-and-swap on one
variable exactly one wins, and no quota is overrun by servers filling it at
once. The scripts (in :mod:`pygnetic.state._redis_scripts`) are registered
once and run with ``EVALSHA``.

A server learns what the others changed from Redis's pub/sub: each script
that changes a variable publishes a notice on the channel
``{prefix}changes``, and one that deletes a space on ``{prefix}deletions``;
:meth:`RedisStore.changed_elsewhere` reads the notices of the other servers,
for the watches of its clients (changes are heard only while there are
some; deletions, which end watches, are always heard).

Durability is Redis's own: a write is answered once it is in Redis's memory.
For the state to survive Redis being killed or the machine losing power,
configure Redis with ``appendonly yes`` and ``appendfsync always`` (every
write on disk before its answer); with ``appendfsync everysec`` (the default
once ``appendonly`` is on) a crash may lose the last second or two of
answered writes, and with only RDB snapshots (``save``) everything since the
last snapshot. Keep ``maxmemory-policy noeviction`` (the default), or Redis
may drop state to make room. Replication to a replica is asynchronous: a failover may lose
writes already answered. The store needs a single Redis (with replicas or
Sentinel if wanted), not Redis Cluster: its scripts touch keys of several
hash slots. Workspaces' queues need Redis 6.2 or later (``ZRANDMEMBER``,
``ZRANGE ... BYSCORE``).

The keys, each behind ``prefix`` (``pygnetic:`` unless given), with the
space's whole key (kind and name, any characters, ':' too) as the rest::

    {prefix}spaces                   set: the key of every space
    {prefix}space:{key}              hash: kind, name, owner, has_owner,
                                     readmode, writemode, persistent
    {prefix}owned:{owner}            set: the keys of the spaces owner owns
    {prefix}data:{key}               hash: variable name -> packed value
    {prefix}hash:{key}               hash: variable name -> its hash
    {prefix}holder:{key}             hash: dictionary key -> its lease's holder
    {prefix}lease:{key}              hash: dictionary key -> when its lease
                                     lapses (Python's repr() of the float)
    {prefix}modes:{key}              hash: queue variable name -> its mode
    {prefix}numbers:{key}            hash: queue variable name -> the number
                                     its last value got
    {prefix}queue:{n}:{key}:{name}   sorted set: the queue variable's values,
                                     scored by number (n: how many bytes
                                     key is in UTF-8, so that a ':' in key
                                     or name cannot make two keys one)
    {prefix}role:authorized:{key}    set: the accounts authorized
    {prefix}role:banned:{key}        set: the accounts banned
    {prefix}accounts                 hash: email -> password record
    {prefix}changes                  pub/sub channel of the notices
    {prefix}deletions                pub/sub channel of deleted spaces

No family name begins another, so no two keys of one store are the same.
Stores sharing one Redis but not their data need prefixes neither of which
begins the other (``a:`` and ``b:``, not ``a:`` and ``a:data:``).

An app's variables and a dictionary's keys are in the data and hash hashes
(a dictionary's leases beside them), a workspace's queue variables in the
modes, numbers and queue keys; a space's ``max_variables`` counts both. Each
method reads and writes its own kind: :meth:`RedisStore.names` lists no
queue variable, :meth:`RedisStore.variables` no app variable.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgpack

from .._defaults import import_optional
from . import _redis_scripts as lua
from ._model import MODES, Entry, Queued, Space, StateLimits, Stored
from ._store import (
    ROLES,
    Store,
    account_exists,
    changed,
    full,
    full_queue,
    has_role,
    lacks_role,
    mode_differs,
    no_space,
    no_value,
    no_value_to_swap,
    space_exists,
)

if TYPE_CHECKING:
    import redis
    from redis.client import PubSub

__all__ = ["RedisStore"]

#: The most notices one :meth:`RedisStore.changed_elsewhere` call reads.
MAX_NOTICES_PER_CALL = 10_000

#: The longest notice read, in bytes; a longer one is skipped unread.
MAX_NOTICE_SIZE = 64 * 1024


def _load_redis() -> Any:
    """Import redis-py, or fail naming what installs it."""
    return import_optional("redis", "redis")


class RedisStore(Store):
    """Keeps the state service's data in Redis, shared by every server given the same one.

    Args:
        url: Redis's URL (``redis://host:port/db``, ``rediss://`` for TLS,
            ``unix:///path/to/socket``), as ``redis.Redis.from_url`` reads
            it; options such as ``?socket_timeout=5`` go in it too.
        prefix: What every key of this store begins with; stores with other
            prefixes on the same Redis keep apart.
        client: A ``redis.Redis`` to use instead of one made from ``url``;
            it must return bytes (``decode_responses=False``) and must not
            retry commands (``Redis.from_url(url)`` does not; ``Redis(host=…)``
            does unless given ``retry=Retry(NoBackoff(), 0)``; neither
            ``retry_on_timeout`` nor ``retry_on_error``, in a ``url`` either):
            a write whose answer was lost would run twice. It is left open by
            :meth:`close`.

    Attributes:
        prefix: As given.

    Raises:
        AdapterUnavailableError: redis-py is not installed.
        ValueError: ``client`` decodes its responses.
    """

    name = "redis"
    shared = True

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "pygnetic:",
        client: redis.Redis | None = None,
    ) -> None:
        redis_py = _load_redis()
        if client is not None and client.get_encoder().decode_responses:
            raise ValueError("the Redis store needs a client made with decode_responses=False")

        self.prefix = prefix
        #: A lost or failing Redis: the server refuses the batch it was serving.
        self.failures = (redis_py.RedisError, OSError)
        self._owns_client = client is None
        self._client: redis.Redis = (
            redis_py.Redis.from_url(url, decode_responses=False, retry=None)
            if client is None
            else client
        )
        if _retries(self._client):
            # A write whose answer was lost would run again: a value stored
            # twice, or one fetched and gone.
            if self._owns_client:
                self._client.close()
            raise ValueError(
                "the Redis store needs a client that does not retry commands: no "
                "retry_on_timeout or retry_on_error, and redis.Redis(..., "
                "retry=Retry(NoBackoff(), 0)) if made by hand (Redis.from_url(url) is fine)"
            )
        self._channel = f"{prefix}changes"
        # Deleted spaces have their own channel: every server hears them,
        # also when it listens to no changes.
        self._deletions = f"{prefix}deletions"
        self._hearing_changes = False
        self._early: list[tuple[str, str]] = []
        self._version: tuple[str, float] | None = None
        # Tells this store's notices from the other servers'.
        self._origin = secrets.token_hex(16)
        self._pubsub: PubSub | None = None
        register = self._client.register_script
        self._put = register(lua.PUT)
        self._remove = register(lua.REMOVE)
        self._create_space = register(lua.CREATE_SPACE)
        self._claim_space = register(lua.CLAIM_SPACE)
        self._delete_space = register(lua.DELETE_SPACE)
        self._grant = register(lua.GRANT)
        self._revoke = register(lua.REVOKE)
        self._add_account = register(lua.ADD_ACCOUNT)
        self._declare = register(lua.DECLARE)
        self._enqueue = register(lua.ENQUEUE)
        self._take = register(lua.TAKE)
        self._delete_variable = register(lua.DELETE_VARIABLE)
        self._variables = register(lua.VARIABLES)
        self._put_leased = register(lua.PUT_LEASED)
        self._remove_leased = register(lua.REMOVE_LEASED)

    def __repr__(self) -> str:
        # Where, without the URL: it may hold a password.
        found = self._client.connection_pool.connection_kwargs
        where = found.get("path") or f"{found.get('host')}:{found.get('port')}"
        return f"<RedisStore {where} db={found.get('db', 0)} prefix={self.prefix!r}>"

    # -- keys ----------------------------------------------------------------------

    def _space_key(self, key: str) -> str:
        return f"{self.prefix}space:{key}"

    def _data_key(self, key: str) -> str:
        return f"{self.prefix}data:{key}"

    def _hash_key(self, key: str) -> str:
        return f"{self.prefix}hash:{key}"

    def _holder_key(self, key: str) -> str:
        return f"{self.prefix}holder:{key}"

    def _lease_key(self, key: str) -> str:
        return f"{self.prefix}lease:{key}"

    def _modes_key(self, key: str) -> str:
        return f"{self.prefix}modes:{key}"

    def _numbers_key(self, key: str) -> str:
        return f"{self.prefix}numbers:{key}"

    def _queue_prefix(self, key: str) -> str:
        """Return what the keys of the queues of space ``key`` begin with.

        The space key's length comes first: without it ``('ws/a', 'b:c')``
        and ``('ws/a:b', 'c')`` would name one key. In bytes, as the Lua
        scripts, which add the variable's name, see it.
        """
        return f"{self.prefix}queue:{len(key.encode())}:{key}:"

    def _queue_key(self, key: str, name: str) -> str:
        return self._queue_prefix(key) + name

    def _role_key(self, role: str, key: str) -> str:
        if role not in ROLES:
            raise ValueError(f"the role must be one of {ROLES}, not {role!r}")
        return f"{self.prefix}role:{role}:{key}"

    def _owned_key(self, owner: str) -> str:
        return f"{self.prefix}owned:{owner}"

    @property
    def _spaces_key(self) -> str:
        return f"{self.prefix}spaces"

    @property
    def _accounts_key(self) -> str:
        return f"{self.prefix}accounts"

    def _notice(self, key: str, name: str | None) -> bytes:
        return msgpack.packb([self._origin, key, name])  # type: ignore[no-any-return]

    # -- spaces --------------------------------------------------------------------

    def create_space(self, space: Space, limits: StateLimits) -> None:
        """Make ``space``; see :meth:`Store.create_space`."""
        key = space.key
        has_owner = space.owner is not None
        owned = self._owned_key(space.owner) if space.owner is not None else self._spaces_key
        status = self._create_space(
            keys=[self._space_key(key), self._spaces_key, owned],
            args=[
                key,
                space.kind,
                space.name,
                space.owner or "",
                _flag(has_owner),
                space.readmode,
                space.writemode,
                _flag(space.persistent),
                limits.max_spaces,
                limits.max_spaces_per_owner,
            ],
        )
        if status == lua.EXISTS:
            raise space_exists(space)
        if status == lua.FULL:
            raise full("the service holds its most spaces", limits.max_spaces)
        if status == lua.OWNER_FULL:
            raise full("the account owns its most spaces", limits.max_spaces_per_owner)
        _check_ok(status)

    def get_space(self, key: str) -> Space | None:
        """Return the space ``key``, or None."""
        return _space(self._client.hgetall(self._space_key(key)))

    def claim_space(
        self, key: str, owner: str, persistent: bool, max_spaces_per_owner: int
    ) -> Space | None:
        """Make ``owner`` the owner of an unowned space; see :meth:`Store.claim_space`."""
        self._claim_space(
            keys=[self._space_key(key), self._owned_key(owner)],
            args=[owner, _flag(persistent), key, max_spaces_per_owner],
        )
        space = self.get_space(key)
        return space if space is not None and space.owner == owner else None

    def delete_space(self, key: str) -> bool:
        """Delete the space ``key`` and everything in it; False if there was none.

        The other servers are told that the space's variables changed.
        """
        status = self._delete_space(
            keys=[
                self._space_key(key),
                self._spaces_key,
                self._modes_key(key),
                self._data_key(key),
                self._hash_key(key),
                self._numbers_key(key),
                self._holder_key(key),
                self._lease_key(key),
                *(self._role_key(role, key) for role in ROLES),
            ],
            args=[
                key,
                f"{self.prefix}owned:",
                self._deletions,
                self._notice(key, None),
                self._queue_prefix(key),
            ],
        )
        return bool(status)

    def spaces(self) -> list[Space]:
        """Return every space, ordered by key."""
        keys = sorted(_text(member) for member in self._client.smembers(self._spaces_key))
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self._space_key(key))
        # A space deleted between the two reads is left out.
        found = (_space(fields) for fields in pipe.execute())
        return [space for space in found if space is not None]

    # -- variables -----------------------------------------------------------------

    def get(self, key: str, name: str) -> Stored | None:
        """Return the value of ``name`` in space ``key``, or None."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hget(self._data_key(key), name)
        pipe.hget(self._hash_key(key), name)
        data, digest = pipe.execute()
        if data is None or digest is None:
            return None
        return Stored(_bytes(data), _text(digest))

    def read(self, key: str, name: str) -> tuple[Space | None, Stored | None]:
        """Return the space ``key`` and the value of ``name`` in it, in one ``MULTI``."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hgetall(self._space_key(key))
        pipe.hget(self._data_key(key), name)
        pipe.hget(self._hash_key(key), name)
        fields, data, digest = pipe.execute()
        space = _space(fields)
        if space is None or data is None or digest is None:
            return space, None
        return space, Stored(_bytes(data), _text(digest))

    def names(self, key: str) -> list[str]:
        """Return the names of the variables of space ``key``, sorted."""
        return sorted(_text(name) for name in self._client.hkeys(self._hash_key(key)))

    def put(
        self, key: str, name: str, value: Stored, expect: str | None, max_variables: int
    ) -> None:
        """Set ``name`` in space ``key``; see :meth:`Store.put`.

        The other servers are told that it changed.
        """
        status = self._put(
            keys=[
                self._space_key(key),
                self._data_key(key),
                self._hash_key(key),
                self._modes_key(key),
            ],
            args=[
                name,
                value.data,
                value.hash,
                _flag(expect is not None),
                expect or "",
                max_variables,
                self._channel,
                self._notice(key, name),
            ],
        )
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.CHANGED:
            raise changed(name, expect)
        if status == lua.NO_VALUE:
            raise no_value_to_swap(expect)
        if status == lua.FULL:
            raise full("the space holds its most keys", max_variables)
        _check_ok(status)

    def remove(self, key: str, name: str, expect: str | None) -> None:
        """Delete ``name`` in space ``key``; see :meth:`Store.remove`.

        The other servers are told that it changed.
        """
        status = self._remove(
            keys=[
                self._space_key(key),
                self._data_key(key),
                self._hash_key(key),
                self._holder_key(key),
                self._lease_key(key),
            ],
            args=[
                name,
                _flag(expect is not None),
                expect or "",
                self._channel,
                self._notice(key, name),
            ],
        )
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.NO_VALUE:
            raise no_value(name)
        if status == lua.CHANGED:
            raise changed(name, expect)
        _check_ok(status)

    # -- workspace variables -------------------------------------------------------

    def declare(self, key: str, name: str, mode: str, max_variables: int) -> None:
        """Make a queue variable unless it exists; see :meth:`Store.declare`.

        The other servers are told when it is made.

        Raises:
            ValueError: ``mode`` is not one of :data:`~pygnetic.state.MODES`.
        """
        if mode not in MODES:
            raise ValueError(f"the mode must be one of {MODES}, not {mode!r}")
        status, *found = self._declare(
            keys=[self._space_key(key), self._hash_key(key), self._modes_key(key)],
            args=[name, mode, max_variables, self._channel, self._notice(key, name)],
        )
        if status == lua.MODE_DIFFERS:
            raise mode_differs(name, _text(found[0]), mode)
        self._check_room(status, key, max_variables)

    def enqueue(
        self, key: str, name: str, data: bytes, max_variables: int, max_values: int
    ) -> None:
        """Store a value in a queue variable; see :meth:`Store.enqueue`.

        The other servers are told that it changed.
        """
        status = self._enqueue(
            keys=[
                self._space_key(key),
                self._hash_key(key),
                self._modes_key(key),
                self._numbers_key(key),
                self._queue_key(key, name),
            ],
            args=[
                name,
                data,
                max_variables,
                max_values,
                self._channel,
                self._notice(key, name),
            ],
        )
        if status == lua.FULL_QUEUE:
            raise full_queue(name, max_values)
        self._check_room(status, key, max_variables)

    def dequeue(self, key: str, name: str) -> Queued | None:
        """Remove and return the value a fetch gets; see :meth:`Store.dequeue`.

        Found and removed in one script, so of servers racing for one value
        exactly one gets it. The other servers are told that it changed.
        """
        return self._pick(key, name, 0, take=True)

    def peek(self, key: str, name: str, after: int = 0) -> Queued | None:
        """Return the value a find gets; see :meth:`Store.peek`.

        A :data:`~pygnetic.state.MULTI` variable gives a random value, or,
        given ``after``, the first above it.
        """
        return self._pick(key, name, after, take=False)

    def _pick(self, key: str, name: str, after: int, *, take: bool) -> Queued | None:
        # A find changes nothing, so it needs no notice to publish.
        found = self._take(
            keys=[self._modes_key(key), self._queue_key(key, name)],
            args=[
                name,
                int(after),
                _flag(take),
                self._channel if take else "",
                self._notice(key, name) if take else b"",
            ],
        )
        if found is None:
            return None
        member = _bytes(found)
        # The member is the number, 8 bytes big-endian, then the data.
        return Queued(int.from_bytes(member[:8], "big"), member[8:])

    def mode(self, key: str, name: str) -> str | None:
        """Return the mode of a queue variable, or None."""
        found = self._client.hget(self._modes_key(key), name)
        return None if found is None else _text(found)

    def delete_variable(self, key: str, name: str) -> bool:
        """Delete a queue variable and its values; False if there was none.

        The other servers are told that it changed.
        """
        deleted = self._delete_variable(
            keys=[self._modes_key(key), self._numbers_key(key), self._queue_key(key, name)],
            args=[name, self._channel, self._notice(key, name)],
        )
        return bool(deleted)

    def variables(self, key: str) -> list[tuple[str, str, int]]:
        """Return ``(name, mode, count)`` of each queue variable of space ``key``.

        Read in one script, so each count is of its variable as listed.
        """
        flat = self._variables(keys=[self._modes_key(key)], args=[self._queue_prefix(key)])
        found = [
            (_text(flat[i]), _text(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)
        ]
        return sorted(found)

    # -- synced dictionaries -------------------------------------------------------

    def put_leased(self, key: str, value: Entry, now: float, max_variables: int) -> Entry | None:
        """Set a key unless another holds its lease; see :meth:`Store.put_leased`.

        The other servers are told when it is written.
        """
        leased = bool(value.lease_until)
        reply = self._put_leased(
            keys=[
                self._space_key(key),
                self._data_key(key),
                self._hash_key(key),
                self._modes_key(key),
                self._holder_key(key),
                self._lease_key(key),
            ],
            args=[
                value.name,
                value.data,
                value.hash,
                value.holder or "",
                _flag(value.holder is not None),
                _flag(leased),
                _float_text(value.lease_until),
                _float_text(now),
                max_variables,
                self._channel,
                self._notice(key, value.name),
            ],
        )
        status = reply[0]
        if status == lua.LEASED:
            return _entry(value.name, reply[1:])
        self._check_room(status, key, max_variables)
        return None

    def remove_leased(self, key: str, name: str, holder: str, now: float) -> Entry:
        """Delete a key unless another holds its lease; see :meth:`Store.remove_leased`.

        The other servers are told when it is deleted.
        """
        reply = self._remove_leased(
            keys=[
                self._space_key(key),
                self._data_key(key),
                self._hash_key(key),
                self._holder_key(key),
                self._lease_key(key),
            ],
            args=[name, holder, _float_text(now), self._channel, self._notice(key, name)],
        )
        status = reply[0]
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.NO_VALUE:
            raise no_value(name)
        if status != lua.LEASED:
            _check_ok(status)
        return _entry(name, reply[1:])

    def entries(self, key: str, after: str, limit: int) -> list[Entry]:
        """Return up to ``limit`` entries of a dictionary named after ``after``, by name.

        Redis does not keep a hash's fields in order: each call reads every
        name of the dictionary (``HKEYS``) and sorts them, O(n log n) for n
        keys, so paging through all of them costs O(n² / limit). Then the
        page's entries, in one ``MULTI``; one deleted in between is left
        out and the next name read instead, so that a page is short only at
        the end.
        """
        if limit < 1:
            return []
        names = sorted(
            name for name in map(_text, self._client.hkeys(self._hash_key(key))) if name > after
        )
        found: list[Entry] = []
        start = 0
        while len(found) < limit and start < len(names):
            page = names[start : start + limit - len(found)]
            start += len(page)
            pipe = self._client.pipeline(transaction=True)
            for family in (self._data_key, self._hash_key, self._holder_key, self._lease_key):
                pipe.hmget(family(key), page)
            data, digests, holders, leases = pipe.execute()
            for fields in zip(page, data, digests, holders, leases, strict=True):
                if fields[1] is not None and fields[2] is not None:
                    found.append(_entry(fields[0], fields[1:]))
        return found

    def _check_room(self, status: object, key: str, max_variables: int) -> None:
        """Raise what a script's answer says when it refused a new variable."""
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.FULL:
            raise full("the space holds its most keys", max_variables)
        _check_ok(status)

    # -- grants --------------------------------------------------------------------

    def grant(self, key: str, role: str, email: str, max_members: int) -> None:
        """Give ``email`` the ``role`` in space ``key``; see :meth:`Store.grant`.

        Raises:
            ValueError: ``role`` is not one of :data:`~pygnetic.state._store.ROLES`.
        """
        status = self._grant(
            keys=[
                self._space_key(key),
                self._role_key(role, key),
                *(self._role_key(each, key) for each in ROLES),
            ],
            args=[email, max_members],
        )
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.EXISTS:
            raise has_role(email, role)
        if status == lua.FULL:
            raise full("the space holds its most grants and bans", max_members)
        _check_ok(status)

    def revoke(self, key: str, role: str, email: str) -> None:
        """Take the ``role`` in space ``key`` from ``email``; see :meth:`Store.revoke`.

        Raises:
            ValueError: ``role`` is not one of :data:`~pygnetic.state._store.ROLES`.
        """
        status = self._revoke(keys=[self._space_key(key), self._role_key(role, key)], args=[email])
        if status == lua.NO_SPACE:
            raise no_space(key)
        if status == lua.NOT_MEMBER:
            raise lacks_role(email, role)
        _check_ok(status)

    def roles(self, key: str, email: str) -> frozenset[str]:
        """Return the roles of ``email`` in space ``key``."""
        pipe = self._client.pipeline(transaction=False)
        for role in ROLES:
            pipe.sismember(self._role_key(role, key), email)
        return frozenset(role for role, has in zip(ROLES, pipe.execute(), strict=True) if has)

    # -- accounts ------------------------------------------------------------------

    def add_account(self, email: str, record: bytes, max_accounts: int) -> None:
        """Create the account ``email``; see :meth:`Store.add_account`."""
        status = self._add_account(keys=[self._accounts_key], args=[email, record, max_accounts])
        if status == lua.EXISTS:
            raise account_exists(email)
        if status == lua.FULL:
            raise full("the service holds its most accounts", max_accounts)
        _check_ok(status)

    def set_account(self, email: str, record: bytes) -> None:
        """Create or replace the account ``email``."""
        self._client.hset(self._accounts_key, email, record)

    def account(self, email: str) -> bytes | None:
        """Return the password record of ``email``, or None."""
        record = self._client.hget(self._accounts_key, email)
        return None if record is None else _bytes(record)

    def delete_account(self, email: str) -> bool:
        """Delete the account ``email``; False if there was none."""
        return bool(self._client.hdel(self._accounts_key, email))

    # -- the server's loop ---------------------------------------------------------

    def changed_elsewhere(self, watching: bool = True) -> list[tuple[str, str]]:
        """Return ``(space key, name)`` of variables other servers changed since the last call.

        Without blocking: what the notices of the other servers (every store
        with the same prefix on the same Redis but this one) say, each pair
        once, in the order they came. A deleted space comes as ``(key, '')``
        (no variable is named ``''``): each of its variables changed.

        The first call starts listening and returns nothing; later calls
        return what changed after it. With ``watching=False`` the store stops
        hearing of variables' changes (a notice read only to be dropped
        costs the server a good part of a write) and reports deleted spaces
        only, which come on their own channel; the next call with
        ``watching=True`` listens to the changes again, from then on. A call
        reads at most :data:`MAX_NOTICES_PER_CALL` notices, leaving the rest
        for the next; a notice that is not well-formed is skipped. Notices
        published while the connection to Redis is down are lost (redis-py
        subscribes again when it reconnects).
        """
        if self._pubsub is None:
            self._pubsub = self._client.pubsub()
            self._subscribe(self._deletions, *([self._channel] if watching else []))
            self._hearing_changes = watching
            return []
        if watching != self._hearing_changes:
            self._hearing_changes = watching
            if watching:
                self._subscribe(self._channel)
            else:
                self._pubsub.unsubscribe(self._channel)
        pubsub = self._pubsub
        changed: dict[tuple[str, str], None] = dict.fromkeys(self._early)
        self._early.clear()
        for _ in range(MAX_NOTICES_PER_CALL):
            message = pubsub.get_message(timeout=0)
            if message is None:
                break
            change = self._change(message)
            if change is not None and (watching or not change[1]):
                changed[change] = None
        return list(changed)

    def _subscribe(self, *channels: str) -> None:
        """Subscribe to ``channels``, and wait until Redis confirms each.

        Until the confirmation, a notice published by another connection
        might be made before Redis has subscribed this one. What arrives
        meanwhile is kept for the next read.
        """
        assert self._pubsub is not None
        pubsub = self._pubsub
        pubsub.subscribe(*channels)
        waiting = set(channels)
        deadline = time.monotonic() + 10
        while waiting and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                continue
            if message.get("type") in ("subscribe", b"subscribe"):
                waiting.discard(_text(message.get("channel", b"")))
            else:
                change = self._change(message)
                if change is not None:
                    self._early.append(change)

    def _change(self, message: dict[str, Any]) -> tuple[str, str] | None:
        """Return what a pub/sub message says changed elsewhere, or None."""
        if message.get("type") not in ("message", b"message"):
            return None
        data = message.get("data")
        if type(data) is not bytes or len(data) > MAX_NOTICE_SIZE:
            return None
        try:
            notice = msgpack.unpackb(data, raw=False, max_bin_len=0, max_ext_len=0)
        except (ValueError, TypeError, msgpack.UnpackException):
            return None
        if type(notice) is not list or len(notice) != 3:
            return None
        origin, key, name = notice
        if type(origin) is not str or type(key) is not str:
            return None
        if name is not None and type(name) is not str:
            return None
        if origin == self._origin:
            return None
        return (key, "" if name is None else name)

    def fileno(self) -> int:
        """Return the file descriptor of the notices' connection, for ``select()``.

        It is readable when notices may be waiting; call
        :meth:`changed_elsewhere` then (it starts listening if it has not).
        Notices already buffered by redis-py do not make it readable, so a
        server should also call :meth:`changed_elsewhere` on its own tick.
        """
        if self._pubsub is None:
            self.changed_elsewhere()
        assert self._pubsub is not None
        connection = self._pubsub.connection
        sock = None if connection is None else connection._sock
        if sock is None:
            raise OSError("the Redis store's notices connection is closed")
        return int(sock.fileno())

    def version(self) -> str:
        """Return ``'redis X.Y.Z'``, the version of the Redis server (asked once a minute)."""
        now = time.monotonic()
        if self._version is None or now >= self._version[1]:
            info = self._client.info("server")
            self._version = (f"redis {_text(info['redis_version'])}", now + 60.0)
        return self._version[0]

    def close(self) -> None:
        """Close the notices' connection, and the client if this store made it."""
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        if self._owns_client:
            self._client.close()


def _retries(client: Any) -> bool:
    """Whether ``client`` may send a command again after a failure (a lost answer)."""
    retry = client.get_retry()
    if retry is not None and getattr(retry, "_retries", 0) > 0:
        return True
    found = client.connection_pool.connection_kwargs
    retry = found.get("retry")
    if retry is not None and getattr(retry, "_retries", 0) > 0:
        return True
    return bool(found.get("retry_on_timeout") or found.get("retry_on_error"))


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _text(value: object) -> str:
    """Return a str Redis gave as bytes (or, from a version of redis-py, as str)."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _bytes(value: object) -> bytes:
    """Return a value Redis gave, which is bytes since the client does not decode."""
    if type(value) is not bytes:
        raise TypeError(f"Redis gave a {type(value).__name__} where bytes were due")
    return value


def _float_text(value: float) -> str:
    """Return ``value`` as a Lua script is given it: repr() reads back exactly."""
    return repr(float(value))


def _entry(name: str, fields: Sequence[object]) -> Entry:
    """Return the entry of data, hash, holder and lease until as Redis gave them."""
    data, digest, holder, lease = fields
    return Entry(
        name,
        _bytes(data),
        _text(digest),
        None if holder is None else _text(holder),
        0.0 if lease is None else float(_text(lease)),
    )


def _check_ok(status: object) -> None:
    if status != lua.OK:
        raise RuntimeError(f"the Redis store's script answered {status!r}")


def _space(fields: Mapping[bytes | str, bytes | str]) -> Space | None:
    """Return the space a ``{prefix}space:{key}`` hash holds, or None if it is empty."""
    if not fields:
        return None
    text = {_text(field): _text(value) for field, value in fields.items()}
    return Space(
        text["name"],
        text["kind"],
        text["owner"] if text["has_owner"] == "1" else None,
        int(text["readmode"]),
        int(text["writemode"]),
        text["persistent"] == "1",
    )
