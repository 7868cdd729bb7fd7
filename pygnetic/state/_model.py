"""The data model under every API of the state service, and its limits.

A *space* is one application of appstate, one workspace of NetWorkSpaces or
one synchronised dictionary of py2p. It has a kind, a name, an owner (the
account that made it, or None), a read mode and a write mode, and says
whether it outlives its owner's connection. A space holds *variables*: each
has a name, a mode (:data:`SINGLE` holds one value; the queue modes hold a
sequence), its values, the account holding a lease on it (or None) and the
content hash of its value.

A value is what the service's serializer carries: msgpack, with pygame's
types (see :mod:`pygnetic.wire_types`); never pickle. The service packs it
once, the canonical way, and keeps those bytes: :func:`hash_value` of a value
read back is the hash the service has for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..errors import MessageError, PackError
from ._errors import InvalidRequestError, SizeError

__all__ = [
    "ADMIN_ONLY",
    "ANY",
    "APP",
    "AUTHORIZED_ONLY",
    "FIFO",
    "LIFO",
    "MODES",
    "MULTI",
    "SINGLE",
    "UNBANNED_ONLY",
    "Entry",
    "Queued",
    "Space",
    "StateLimits",
    "Stored",
    "hash_value",
]

#: Read or write mode: anyone, even without logging in.
ANY = 0
#: Read or write mode: only the application's admin (the account that made it).
ADMIN_ONLY = 1
#: Read or write mode: the admin and the accounts it authorized.
AUTHORIZED_ONLY = 2
#: Read or write mode: any logged-in account the admin has not banned.
UNBANNED_ONLY = 3
ACCESS_MODES = (ANY, ADMIN_ONLY, AUTHORIZED_ONLY, UNBANNED_ONLY)

#: Variable mode: one value, replaced by each write (appstate's keys).
SINGLE = "single"
#: Variable mode: values fetched in the order stored.
FIFO = "fifo"
#: Variable mode: values fetched newest first.
LIFO = "lifo"
#: Variable mode: values fetched in no particular order.
MULTI = "multi"
MODES = (SINGLE, FIFO, LIFO, MULTI)

#: Space kind of appstate's applications.
APP = "app"
#: Space kind of NetWorkSpaces' workspaces.
WORKSPACE = "ws"
#: Space kind of py2p's synchronised dictionaries.
DICT = "dict"

#: The hash of "no value": what ``update()`` compares with when a key has none.
ABSENT = ""

#: The largest ``max_value_size`` a service may be given: values travel in one message.
MAX_VALUE_SIZE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class StateLimits:
    """What one state service lets its clients store; every field bounds disk or memory.

    Attributes:
        max_value_size: Bytes of one packed value (appstate's 20 KiB by
            default; at most :data:`MAX_VALUE_SIZE_LIMIT`).
        max_name_length: Characters of a space name, key or account email.
        max_variables: Variables in one space.
        max_spaces: Spaces in the whole store.
        max_spaces_per_owner: Spaces one account may own.
        max_accounts: Accounts in the whole store.
        max_members: Authorizations plus bans in one space.
        max_watches: Keys one connection may watch at once.
        max_password_length: Characters of a password (scrypt reads it all).
        max_values: Values one workspace variable holds at once.
        max_lease: Seconds a synced dictionary's lease may last.
    """

    max_value_size: int = 20 * 1024
    max_name_length: int = 256
    max_variables: int = 10_000
    max_spaces: int = 10_000
    max_spaces_per_owner: int = 100
    max_accounts: int = 100_000
    max_members: int = 10_000
    max_watches: int = 256
    max_password_length: int = 1024
    max_values: int = 100_000
    max_lease: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if type(value) is not int or value < 1:
                raise ValueError(f"StateLimits.{name} must be an int >= 1, not {value!r}")
        if self.max_value_size > MAX_VALUE_SIZE_LIMIT:
            raise ValueError(
                f"max_value_size must be at most {MAX_VALUE_SIZE_LIMIT} bytes "
                f"(values travel in one message), not {self.max_value_size}"
            )


@dataclass(frozen=True)
class Space:
    """One space: an application, a workspace or a synchronised dictionary.

    Attributes:
        name: Its name, unique within its kind.
        kind: :data:`APP`, or the kinds of the other APIs.
        owner: The account that made it (its admin), or None.
        readmode: Who may read (:data:`ANY` …).
        writemode: Who may write.
        persistent: Whether it outlives its owner's connection.
    """

    name: str
    kind: str = APP
    owner: str | None = None
    readmode: int = ANY
    writemode: int = ANY
    persistent: bool = True

    @property
    def key(self) -> str:
        """The store's name for it: kind and name, so that kinds never collide."""
        return space_key(self.kind, self.name)


def space_key(kind: str, name: str) -> str:
    """Return the store's name of the space ``name`` of ``kind``."""
    return f"{kind}/{name}"


@dataclass(frozen=True)
class Queued:
    """One value of a workspace variable: its number and its canonical msgpack bytes.

    Numbers grow with each value stored in the variable and are never
    reused, so that an ``ifind`` iterator can ask for the first value after
    the last it saw.
    """

    seq: int
    data: bytes


@dataclass(frozen=True)
class Entry:
    """A key of a synced dictionary as the store keeps it: value and lease.

    Attributes:
        name: The key.
        data: Its value's canonical msgpack bytes.
        hash: Their hash.
        holder: The writer holding its lease, or None.
        lease_until: When the lease lapses (wall-clock seconds), 0 for none.
    """

    name: str
    data: bytes
    hash: str
    holder: str | None
    lease_until: float


@dataclass(frozen=True)
class Stored:
    """A value as the store keeps it: the canonical msgpack bytes and their hash."""

    data: bytes
    hash: str


_SERIALIZER: list[Any] = []


def _serializer() -> Any:
    # The protocol module imports this one: look it up once, when first needed.
    if not _SERIALIZER:
        from ._protocol import state_messages

        _SERIALIZER.append(state_messages.serializer)
    return _SERIALIZER[0]


def pack_value(value: Any, max_size: int) -> Stored:
    """Pack ``value`` the canonical way; return it with its hash.

    Raises:
        SizeError: The packed value is over ``max_size`` bytes.
        InvalidRequestError: The value cannot be packed.
    """
    try:
        data = _serializer().pack(value)
    except (PackError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(f"the value cannot be stored: {exc}"[:200]) from None
    if len(data) > max_size:
        raise SizeError(f"the value packs to {len(data)} bytes; the limit is {max_size}")
    return Stored(data, _digest(data))


def unpack_value(data: bytes) -> Any:
    """Return the value of stored bytes, decoded within the service's shape limits.

    Raises:
        MessageError: The bytes are not one valid value.
    """
    if type(data) is not bytes:
        raise MessageError(f"a value must arrive as bytes, not {type(data).__name__}")
    return _serializer().unpack(data)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_value(value: Any) -> str:
    """Return the hash the state service keeps for ``value`` (a 32-character hex str).

    For any value read back from the service, it equals the service's own
    hash, so it can be given to ``update()`` and ``get_if_changed()``.

    Raises:
        PackError: The value cannot be packed.
    """
    return _digest(_serializer().pack(value))


def check_name(name: Any, what: str, limit: int) -> str:
    """Return ``name`` if it is a non-empty str of at most ``limit`` characters.

    Raises:
        InvalidRequestError: It is not.
    """
    if type(name) is not str or not name:
        raise InvalidRequestError(f"{what} must be a non-empty str")
    if len(name) > limit:
        raise InvalidRequestError(f"{what} is longer than {limit} characters")
    if not name.isprintable():
        raise InvalidRequestError(f"{what} holds unprintable characters")
    return name


def check_access_mode(mode: Any, what: str) -> int:
    """Return ``mode`` if it is one of :data:`ACCESS_MODES`.

    Raises:
        InvalidRequestError: It is not.
    """
    if type(mode) is not int or mode not in ACCESS_MODES:
        raise InvalidRequestError(
            f"{what} must be one of ANY, ADMIN_ONLY, AUTHORIZED_ONLY, UNBANNED_ONLY (0-3)"
        )
    return mode
