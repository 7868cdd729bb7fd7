"""What the state service does for one request, given who asks: permissions and limits.

Sans-I/O: :class:`StateService` takes checked arguments, calls its store,
and returns what to answer or raises the :mod:`pygnetic.state` exception to
refuse with. The server (:mod:`pygnetic.state._server`) adds the network,
the queues and the login throttle.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..errors import MessageError
from ._accounts import check_new_password, check_password, make_record
from ._errors import (
    AppIdError,
    DataUnchangedError,
    InvalidRequestError,
    NoSuchKeyError,
    PermissionError,
    SizeError,
)
from ._model import (
    ADMIN_ONLY,
    ANY,
    APP,
    AUTHORIZED_ONLY,
    DICT,
    UNBANNED_ONLY,
    WORKSPACE,
    Space,
    StateLimits,
    Stored,
    check_access_mode,
    check_name,
    pack_value,
    space_key,
    unpack_value,
)
from ._protocol import MEMBER_ACTIONS
from ._store import AUTHORIZED, BANNED, Store, account_exists

__all__ = ["KINDS", "StateService"]

#: The kinds of space clients may name, and the ones of appstate's requests.
KINDS = frozenset((APP, WORKSPACE, DICT))
APPS = frozenset((APP,))
WORKSPACES = frozenset((APP, WORKSPACE))  # the kinds delete_space deletes
WATCHABLE = frozenset((APP, DICT))


def allowed(space: Space, mode: int, user: str | None, roles: frozenset[str]) -> bool:
    """True if ``user`` (None: not logged in), with ``roles`` in ``space``, may act in ``mode``."""
    if mode == ANY:
        return True
    if user is None:
        return False
    if user == space.owner:
        return True
    if mode == ADMIN_ONLY:
        return False
    if mode == AUTHORIZED_ONLY:
        return AUTHORIZED in roles
    return BANNED not in roles  # UNBANNED_ONLY


class StateService:
    """The state service's operations over one store.

    Args:
        store: Where the data lives.
        limits: What clients may store.
        open_accounts: Whether clients may create accounts themselves.

    Attributes:
        store: As given.
        limits: As given.
        open_accounts: As given.
    """

    def __init__(
        self,
        store: Store,
        limits: StateLimits,
        *,
        open_accounts: bool = True,
    ) -> None:
        self.store = store
        self.limits = limits
        self.open_accounts = open_accounts

    def version(self) -> str:
        """Return the service's version line."""
        return f"pygnetic {__version__} state service ({self.store.version()})"

    # -- accounts ------------------------------------------------------------------

    def email(self, email: Any) -> str:
        """Return ``email`` if it can name an account."""
        email = check_name(email, "an email", self.limits.max_name_length)
        if "@" not in email.strip("@"):
            raise InvalidRequestError("an email must hold an @ between two parts")
        return email

    def create_account(self, email: Any, password: Any) -> None:
        """Create an account, if the service lets clients do so."""
        if not self.open_accounts:
            raise PermissionError("this service's accounts are made by its administrator")
        email = self.email(email)
        password = check_new_password(password, self.limits.max_password_length)
        if self.store.account(email) is not None:  # before scrypt's tens of milliseconds
            raise account_exists(email)
        self.store.add_account(email, make_record(password), self.limits.max_accounts)

    def check_login(self, email: Any, password: Any) -> bool:
        """True if ``email`` has an account and ``password`` is its password."""
        email = self.email(email)
        if type(password) is not str or len(password) > self.limits.max_password_length:
            return False
        return check_password(self.store.account(email), password)

    # -- spaces --------------------------------------------------------------------

    def space_key(self, kind: Any, name: Any, kinds: frozenset[str] = APPS) -> str:
        """Return the store's key of a space named ``name`` of ``kind`` (one of ``kinds``)."""
        if type(kind) is not str or kind not in kinds:
            raise InvalidRequestError("unknown kind of space")
        return space_key(kind, check_name(name, "a space name", self.limits.max_name_length))

    def space(self, kind: Any, name: Any, kinds: frozenset[str] = APPS) -> Space:
        """Return the space as the store has it now, or raise :exc:`AppIdError`."""
        space = self.store.get_space(self.space_key(kind, name, kinds))
        if space is None:
            raise AppIdError(f"there is no {kind} named {name!r}")
        return space

    def new_space(
        self,
        user: str | None,
        kind: Any,
        name: Any,
        readmode: Any,
        writemode: Any,
        persistent: Any,
    ) -> Space:
        """Make a space owned by ``user``; apps need a logged-in user."""
        if kind == APP and user is None:
            raise PermissionError("log in before making an application")
        key = self.space_key(kind, name)
        space = Space(
            key.split("/", 1)[1],
            kind,
            user,
            check_access_mode(readmode, "readmode"),
            check_access_mode(writemode, "writemode"),
            bool(persistent),
        )
        self.store.create_space(space, self.limits)
        return space

    def delete_space(self, user: str | None, kind: Any, name: Any) -> Space:
        """Delete a space; only its owner may, but anyone a workspace (as in NetWorkSpaces)."""
        space = self.space(kind, name, WORKSPACES)
        if space.kind != WORKSPACE and (user is None or user != space.owner):
            raise PermissionError(f"only the admin of {name!r} may delete it")
        self.store.delete_space(space.key)
        return space

    def member(self, user: str | None, kind: Any, name: Any, action: Any, email: Any) -> None:
        """Authorize, unauthorize, ban or unban ``email``; only the owner may."""
        space = self.space(kind, name)
        if type(action) is not str or action not in MEMBER_ACTIONS:
            raise InvalidRequestError("the action must be authorize, unauthorize, ban or unban")
        if user is None or user != space.owner:
            raise PermissionError(f"only the admin of {name!r} may {action} users")
        role, grant = MEMBER_ACTIONS[action]
        email = self.email(email)
        if grant:
            self.store.grant(space.key, role, email, self.limits.max_members)
        else:
            self.store.revoke(space.key, role, email)

    # -- variables -----------------------------------------------------------------

    def may(self, space: Space, user: str | None, writing: bool) -> bool:
        """True if ``user`` may read (or write) ``space`` now; asks the store for roles."""
        mode = space.writemode if writing else space.readmode
        roles = (
            self.store.roles(space.key, user)
            if user is not None
            and user != space.owner
            and mode in (AUTHORIZED_ONLY, UNBANNED_ONLY)
            else frozenset()
        )
        return allowed(space, mode, user, roles)

    def _check(
        self, space: Space | None, user: str | None, kind: Any, name: Any, writing: bool
    ) -> Space:
        if space is None:
            raise AppIdError(f"there is no {kind} named {name!r}")
        if not self.may(space, user, writing):
            who = "anonymous users" if user is None else repr(user)
            doing = "write to" if writing else "read"
            raise PermissionError(f"{who} may not {doing} {name!r}")
        return space

    def _allowed_space(self, user: str | None, kind: Any, name: Any, writing: bool) -> Space:
        return self._check(
            self.store.get_space(self.space_key(kind, name)), user, kind, name, writing
        )

    def _read(
        self, user: str | None, kind: Any, name: Any, key: Any, kinds: frozenset[str] = APPS
    ) -> tuple[Space, Stored | None]:
        """The space and a key's value, read together, if ``user`` may read them."""
        space_key = self.space_key(kind, name, kinds)
        if key == "" and kind == DICT:  # a watch of every key: no value of its own
            return self._check(self.store.get_space(space_key), user, kind, name, False), None
        space, stored = self.store.read(space_key, self.key(key))
        return self._check(space, user, kind, name, writing=False), stored

    def key(self, key: Any) -> str:
        """Return ``key`` if it can name a variable."""
        return check_name(key, "a key", self.limits.max_name_length)

    def get(self, user: str | None, kind: Any, name: Any, key: Any, unless: Any) -> Stored:
        """Return a key's value; :exc:`DataUnchangedError` if it has the hash ``unless``."""
        _, stored = self._read(user, kind, name, key)
        if stored is None:
            raise NoSuchKeyError(f"{key!r} has no value")
        if unless is not None and stored.hash == unless:
            raise DataUnchangedError(f"{key!r} has not changed")
        return stored

    def peek(
        self, user: str | None, kind: Any, name: Any, key: Any
    ) -> tuple[Space, Stored | None]:
        """Return the space and a key's value or None, for a watch (read permission).

        A dictionary's key ``''`` stands for all its keys.
        """
        return self._read(user, kind, name, key, WATCHABLE)

    def put(
        self, user: str | None, kind: Any, name: Any, key: Any, data: Any, expect: Any
    ) -> tuple[Space, Stored]:
        """Store a value sent packed; with ``expect``, only if the current one has that hash.

        The value is decoded within the service's limits and packed again the
        canonical way, so that its hash is the one :func:`hash_value` gives.
        """
        space = self._allowed_space(user, kind, name, writing=True)
        key = self.key(key)
        if expect is not None and type(expect) is not str:
            raise InvalidRequestError("expect must be a hash (a str) or None")
        stored = self.value(data)
        self.store.put(space.key, key, stored, expect, self.limits.max_variables)
        return space, stored

    def value(self, data: Any) -> Stored:
        """Return a value sent packed, decoded within the limits and packed the canonical way."""
        if type(data) is bytes and len(data) > self.limits.max_value_size:
            raise SizeError(
                f"the value packs to {len(data)} bytes; the limit is {self.limits.max_value_size}"
            )
        try:
            value = unpack_value(data)
        except MessageError as exc:
            raise InvalidRequestError(f"the value cannot be stored: {exc}"[:200]) from None
        return pack_value(value, self.limits.max_value_size)

    def remove(self, user: str | None, kind: Any, name: Any, key: Any) -> Space:
        """Delete a key's value."""
        space = self._allowed_space(user, kind, name, writing=True)
        self.store.remove(space.key, self.key(key), None)
        return space
