"""What the state service does for one request, given who asks: permissions and limits.

Sans-I/O: :class:`StateService` takes checked arguments, calls its store,
and returns what to answer or raises the :mod:`pygnetic.state` exception to
refuse with. The server (:mod:`pygnetic.state._server`) adds the network,
the queues and the login throttle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .. import __version__
from ._accounts import check_new_password, check_password, make_record
from ._errors import (
    AppIdError,
    DataUnchangedError,
    InvalidRequestError,
    NoSuchKeyError,
    PermissionError,
)
from ._model import (
    ADMIN_ONLY,
    ANY,
    APP,
    AUTHORIZED_ONLY,
    UNBANNED_ONLY,
    Space,
    StateLimits,
    Stored,
    check_access_mode,
    check_name,
    pack_value,
    space_key,
)
from ._protocol import MEMBER_ACTIONS
from ._store import AUTHORIZED, BANNED, Store

__all__ = ["KINDS", "StateService"]

#: Seconds a space read from the store serves requests before it is read again.
SPACE_CACHE_SECONDS = 1.0
#: Most spaces kept so.
SPACE_CACHE_SIZE = 4096

#: The kinds of space clients may name.
KINDS = frozenset((APP, "workspace", "dict"))


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
        clock: Monotonic time source in seconds, for the space cache.

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.limits = limits
        self.open_accounts = open_accounts
        self._clock = clock
        # space key -> (the space, until when it may be used without a look)
        self._spaces: dict[str, tuple[Space, float]] = {}

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
        self.store.add_account(email, make_record(password), self.limits.max_accounts)

    def check_login(self, email: Any, password: Any) -> bool:
        """True if ``email`` has an account and ``password`` is its password."""
        email = self.email(email)
        if type(password) is not str or len(password) > self.limits.max_password_length:
            return False
        return check_password(self.store.account(email), password)

    # -- spaces --------------------------------------------------------------------

    def _space_key(self, kind: Any, name: Any) -> str:
        if kind not in KINDS:
            raise InvalidRequestError("unknown kind of space")
        return space_key(kind, check_name(name, "a space name", self.limits.max_name_length))

    def space(self, kind: Any, name: Any) -> Space:
        """Return the space, or raise :exc:`AppIdError`.

        A space never changes once made, only goes, so it is kept for
        :data:`SPACE_CACHE_SECONDS`: a request then costs the store one
        lookup less. Writes check the space in the store itself, atomically;
        a space deleted through another server may still be read for that
        long, at most.
        """
        key = self._space_key(kind, name)
        now = self._clock()
        cached = self._spaces.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        space = self.store.get_space(key)
        if space is None:
            self._spaces.pop(key, None)
            raise AppIdError(f"there is no {kind} named {name!r}")
        if len(self._spaces) >= SPACE_CACHE_SIZE:
            self._spaces.clear()  # rarely: many spaces in a second
        self._spaces[key] = (space, now + SPACE_CACHE_SECONDS)
        return space

    def forget_space(self, key: str | None = None) -> None:
        """Drop the cached space ``key`` (None: all of them): it was deleted, maybe elsewhere."""
        if key is None:
            self._spaces.clear()
        else:
            self._spaces.pop(key, None)

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
        key = self._space_key(kind, name)
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
        """Delete a space; only its owner may."""
        space = self.space(kind, name)
        if user is None or user != space.owner:
            raise PermissionError(f"only the admin of {name!r} may delete it")
        self.store.delete_space(space.key)
        self.forget_space(space.key)
        return space

    def member(self, user: str | None, kind: Any, name: Any, action: Any, email: Any) -> None:
        """Authorize, unauthorize, ban or unban ``email``; only the owner may."""
        space = self.space(kind, name)
        if action not in MEMBER_ACTIONS:
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

    def _allowed_space(self, user: str | None, kind: Any, name: Any, writing: bool) -> Space:
        space = self.space(kind, name)
        mode = space.writemode if writing else space.readmode
        roles = (
            self.store.roles(space.key, user)
            if user is not None
            and user != space.owner
            and mode in (AUTHORIZED_ONLY, UNBANNED_ONLY)
            else frozenset()
        )
        if not allowed(space, mode, user, roles):
            who = "anonymous users" if user is None else repr(user)
            doing = "write to" if writing else "read"
            raise PermissionError(f"{who} may not {doing} {name!r}")
        return space

    def key(self, key: Any) -> str:
        """Return ``key`` if it can name a variable."""
        return check_name(key, "a key", self.limits.max_name_length)

    def get(self, user: str | None, kind: Any, name: Any, key: Any, unless: Any) -> Stored:
        """Return a key's value; :exc:`DataUnchangedError` if it has the hash ``unless``."""
        space = self._allowed_space(user, kind, name, writing=False)
        stored = self.store.get(space.key, self.key(key))
        if stored is None:
            raise NoSuchKeyError(f"{key!r} has no value")
        if unless is not None and stored.hash == unless:
            raise DataUnchangedError(f"{key!r} has not changed")
        return stored

    def peek(
        self, user: str | None, kind: Any, name: Any, key: Any
    ) -> tuple[Space, Stored | None]:
        """Return the space and a key's value or None, for a watch (read permission)."""
        space = self._allowed_space(user, kind, name, writing=False)
        return space, self.store.get(space.key, self.key(key))

    def put(
        self, user: str | None, kind: Any, name: Any, key: Any, value: Any, expect: Any
    ) -> tuple[Space, Stored]:
        """Store a value; with ``expect``, only if the current one has that hash."""
        space = self._allowed_space(user, kind, name, writing=True)
        key = self.key(key)
        if expect is not None and type(expect) is not str:
            raise InvalidRequestError("expect must be a hash (a str) or None")
        stored = pack_value(value, self.limits.max_value_size)
        self.store.put(space.key, key, stored, expect, self.limits.max_variables)
        return space, stored

    def remove(self, user: str | None, kind: Any, name: Any, key: Any) -> Space:
        """Delete a key's value."""
        space = self._allowed_space(user, kind, name, writing=True)
        self.store.remove(space.key, self.key(key), None)
        return space
